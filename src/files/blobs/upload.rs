//! Uploads streamed from a request body: bytes are hashed and written to a
//! temporary file in `files/tmp` a bounded amount at a time, on the
//! blocking pool, so an upload's memory does not depend on its size. A
//! [`Finished`] upload is synced and waits for [`Blobs::keep`] to put it
//! at its blob path.

use std::io::{self, Write};
use std::path::PathBuf;

use sha2::Digest;

use super::{Blobs, Sha256, HEAD_BYTES};

/// Bytes gathered before they are hashed and written (on the blocking
/// pool): large enough that the hop costs little, small enough that an
/// upload's memory does not depend on its size.
const WRITE_CHUNK: usize = 256 * 1024;

impl Blobs {
    /// Opens the blob `sha` for reading.
    pub async fn open_read(&self, sha: &Sha256) -> io::Result<tokio::fs::File> {
        tokio::fs::File::open(self.path(sha)).await
    }

    /// Starts an upload into a new temporary file.
    pub async fn upload(&self) -> io::Result<Upload> {
        let blobs = self.clone();
        let (path, file) = blocking(move || blobs.new_temp()).await?;
        Ok(Upload {
            file: Some(file),
            tmp: Some(path),
            hasher: sha2::Sha256::new(),
            size: 0,
            head: Vec::new(),
            pending: Vec::new(),
        })
    }
}

/// Runs blocking file work on the blocking pool.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| io::Error::other(format!("file task: {e}")))?
}

/// An upload in progress: bytes are hashed and written as they come, a
/// bounded amount at a time. Dropped before [`Upload::finish`], its
/// temporary file is removed.
pub struct Upload {
    file: Option<std::fs::File>,
    tmp: Option<PathBuf>,
    hasher: sha2::Sha256,
    size: u64,
    head: Vec<u8>,
    pending: Vec<u8>,
}

impl Upload {
    /// Bytes received so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Takes the next bytes of the file.
    pub async fn write(&mut self, data: &[u8]) -> io::Result<()> {
        let room = HEAD_BYTES.saturating_sub(self.head.len()).min(data.len());
        self.head.extend_from_slice(&data[..room]);
        self.size += data.len() as u64;
        self.pending.extend_from_slice(data);
        if self.pending.len() >= WRITE_CHUNK {
            self.write_pending().await?;
        }
        Ok(())
    }

    /// Hashes and writes what is pending, on the blocking pool.
    async fn write_pending(&mut self) -> io::Result<()> {
        let mut file = self
            .file
            .take()
            .ok_or_else(|| io::Error::other("upload closed"))?;
        let mut hasher = std::mem::take(&mut self.hasher);
        let data = std::mem::take(&mut self.pending);
        let (file, hasher, mut data) = blocking(move || {
            hasher.update(&data);
            file.write_all(&data)?;
            Ok((file, hasher, data))
        })
        .await?;
        data.clear();
        self.pending = data;
        self.file = Some(file);
        self.hasher = hasher;
        Ok(())
    }

    /// Writes the rest, syncs the file and closes it: the upload is
    /// complete, ready for [`Blobs::keep`].
    pub async fn finish(mut self) -> io::Result<Finished> {
        self.write_pending().await?;
        let file = self
            .file
            .take()
            .ok_or_else(|| io::Error::other("upload closed"))?;
        blocking(move || file.sync_all()).await?;
        let tmp = self
            .tmp
            .take()
            .ok_or_else(|| io::Error::other("upload closed"))?;
        Ok(Finished {
            sha256: Sha256(std::mem::take(&mut self.hasher).finalize().into()),
            size: self.size,
            head: std::mem::take(&mut self.head),
            tmp,
        })
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        if let Some(tmp) = self.tmp.take() {
            let _ = std::fs::remove_file(tmp);
        }
    }
}

/// A complete upload not yet in place. Dropped without
/// [`Blobs::keep`], its temporary file is removed.
pub struct Finished {
    pub sha256: Sha256,
    pub size: u64,
    /// The file's first bytes (up to [`HEAD_BYTES`]), for its type.
    pub head: Vec<u8>,
    pub(super) tmp: PathBuf,
}

impl Drop for Finished {
    fn drop(&mut self) {
        // Gone already when the blob was placed.
        let _ = std::fs::remove_file(&self.tmp);
    }
}
