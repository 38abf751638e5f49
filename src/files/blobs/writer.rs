//! Blobs written from a blocking thread rather than from a request body:
//! a thumbnail the server made, a blob read back from a backup. They take
//! the path of an upload (a temporary file in `files/tmp`, hashed as it is
//! written, then synced) and [`Blobs::keep`] puts them in place, so a
//! crash leaves no partial blob and identical bytes are stored once.

use std::fs::File;
use std::io::{self, Write};
use std::path::PathBuf;

use sha2::Digest;

use super::{Blobs, Finished, Sha256, HEAD_BYTES};

/// A blob being written on this thread. Dropped before
/// [`BlobWriter::finish`], its temporary file is removed.
pub struct BlobWriter {
    file: File,
    tmp: Option<PathBuf>,
    hasher: sha2::Sha256,
    size: u64,
    head: Vec<u8>,
}

impl Blobs {
    /// Starts a blob written by this thread. Blocking.
    pub fn writer(&self) -> io::Result<BlobWriter> {
        let (tmp, file) = self.new_temp()?;
        Ok(BlobWriter {
            file,
            tmp: Some(tmp),
            hasher: sha2::Sha256::new(),
            size: 0,
            head: Vec::new(),
        })
    }

    /// Stores `bytes` (small: a thumbnail) as a blob, then runs `record`
    /// as [`Blobs::keep`] does. Blocking.
    pub fn keep_bytes<T, E>(
        &self,
        bytes: &[u8],
        record: impl FnOnce(Sha256) -> Result<T, E>,
    ) -> io::Result<Result<T, E>> {
        let mut w = self.writer()?;
        w.write_all(bytes)?;
        let done = w.finish()?;
        let sha = done.sha256;
        self.keep(done, || record(sha))
    }
}

impl BlobWriter {
    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.size
    }

    /// Syncs the file and closes it: ready for [`Blobs::keep`], under the
    /// name its bytes hash to (a caller expecting another checks it).
    pub fn finish(mut self) -> io::Result<Finished> {
        self.file.sync_all()?;
        let tmp = self
            .tmp
            .take()
            .ok_or_else(|| io::Error::other("blob closed"))?;
        Ok(Finished {
            sha256: Sha256(std::mem::take(&mut self.hasher).finalize().into()),
            size: self.size,
            head: std::mem::take(&mut self.head),
            tmp,
        })
    }
}

impl Write for BlobWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = self.file.write(data)?;
        let written = &data[..n];
        self.hasher.update(written);
        let room = HEAD_BYTES.saturating_sub(self.head.len()).min(n);
        self.head.extend_from_slice(&written[..room]);
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        if let Some(tmp) = self.tmp.take() {
            let _ = std::fs::remove_file(tmp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_written_blob_lands_under_its_hash_and_an_abandoned_one_leaves_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let blobs = Blobs::open(dir.path()).expect("open");
        let sha = blobs
            .keep_bytes(b"thumb", Ok::<_, ()>)
            .expect("keep")
            .expect("record");
        assert_eq!(sha, Sha256::of(b"thumb"));
        assert_eq!(std::fs::read(blobs.path(&sha)).expect("blob"), b"thumb");
        let mut w = blobs.writer().expect("writer");
        w.write_all(b"partial").expect("write");
        drop(w);
        let tmp = dir
            .path()
            .join(super::super::FILES_DIR)
            .join(super::super::TMP_DIR);
        assert_eq!(std::fs::read_dir(tmp).expect("tmp").count(), 0);
    }
}
