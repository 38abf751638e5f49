//! The files of a backup: each file record (`{"file": {...}}`) follows the
//! blobs it names (its bytes and its thumbnail's), each blob written once
//! as `{"blob": {"sha256", "size"}}` and then its bytes in order, base64
//! in lines of at most [`CHUNK`] bytes (`{"blobData": {"sha256",
//! "offset", "data"}}`), so every line stays far under the backup's
//! `MAX_LINE` and neither side ever holds a whole file.
//!
//! A restore checks every blob's bytes against its name (a mismatch
//! refuses the whole restore and names the blob) and refuses a record
//! whose blob is not complete in the file before it; the blobs are then
//! written through the blob store (temporary file, synced, renamed), so a
//! restored directory looks exactly like one that received the uploads.

use std::collections::{HashMap, HashSet};

use base64::Engine;
use sha2::Digest;

use super::super::{keys, to_json, SledStore, StoreError};
use crate::files::blobs::{BlobWriter, Blobs};
use crate::files::Sha256;
use crate::store::backup_format::{b64, BackupRecord, BackupWriter, BlobData, BlobHead, CHUNK};
use crate::store::FileRecord;

/// Writes every file record, each after the blobs it needs (those not
/// written yet).
pub(super) fn write_files(
    store: &SledStore,
    blobs: &Blobs,
    w: &mut BackupWriter<'_>,
) -> Result<(), StoreError> {
    let mut written: HashSet<Sha256> = HashSet::new();
    for kv in store.inner.files.iter() {
        let (_, v) = kv?;
        let rec: FileRecord = super::super::from_json(&v)?;
        for sha in std::iter::once(rec.sha256).chain(rec.thumb_sha256) {
            if written.insert(sha) {
                w.blob(blobs, &sha)?;
            }
        }
        w.record(&BackupRecord::File(Box::new(rec)))?;
    }
    Ok(())
}

/// The blob whose bytes are being read.
struct Current {
    sha256: Sha256,
    size: u64,
    next: u64,
    hasher: sha2::Sha256,
}

/// What the files section must agree with, built as it is read: the
/// blobs complete so far (ids, never bytes), the blob being read, the
/// file ids seen.
#[derive(Default)]
pub(super) struct FilesCheck {
    complete: HashSet<Sha256>,
    current: Option<Current>,
    files: HashSet<u64>,
}

impl FilesCheck {
    pub(super) fn blob(&mut self, head: &BlobHead) -> Result<(), String> {
        self.no_partial_blob()?;
        if self.complete.contains(&head.sha256) {
            return Err(format!("blob {} appears twice", head.sha256));
        }
        self.current = Some(Current {
            sha256: head.sha256,
            size: head.size,
            next: 0,
            hasher: sha2::Sha256::new(),
        });
        self.finish_if_whole()
    }

    /// Checks a piece of the current blob; its decoded bytes.
    pub(super) fn data(&mut self, d: &BlobData) -> Result<Vec<u8>, String> {
        let Some(cur) = self.current.as_mut().filter(|c| c.sha256 == d.sha256) else {
            return Err(format!("bytes of blob {} without its blob line", d.sha256));
        };
        if d.offset != cur.next {
            return Err(format!(
                "bytes of blob {} at offset {} where {} was expected",
                d.sha256, d.offset, cur.next
            ));
        }
        let bytes = b64()
            .decode(&d.data)
            .map_err(|e| format!("bytes of blob {} are not base64: {e}", d.sha256))?;
        if bytes.is_empty() || bytes.len() > CHUNK || cur.next + bytes.len() as u64 > cur.size {
            return Err(format!(
                "bytes of blob {} at offset {} do not fit its size of {}",
                d.sha256, d.offset, cur.size
            ));
        }
        cur.hasher.update(&bytes);
        cur.next += bytes.len() as u64;
        self.finish_if_whole()?;
        Ok(bytes)
    }

    /// Once the current blob has all its bytes: their hash must be its name.
    fn finish_if_whole(&mut self) -> Result<(), String> {
        let Some(cur) = self.current.take_if(|c| c.next == c.size) else {
            return Ok(());
        };
        let got = Sha256(cur.hasher.finalize().into());
        if got != cur.sha256 {
            return Err(format!(
                "blob {} is damaged: its bytes hash to {got}",
                cur.sha256
            ));
        }
        self.complete.insert(cur.sha256);
        Ok(())
    }

    fn no_partial_blob(&self) -> Result<(), String> {
        match &self.current {
            Some(cur) => Err(format!(
                "blob {} is cut short ({} of {} bytes)",
                cur.sha256, cur.next, cur.size
            )),
            None => Ok(()),
        }
    }

    /// Checks a file record against the blobs before it and the users and
    /// rooms of the backup.
    pub(super) fn file(
        &mut self,
        rec: &FileRecord,
        users: &HashSet<u64>,
        rooms: &HashSet<u64>,
    ) -> Result<(), String> {
        self.no_partial_blob()?;
        let what = format!("file {} ({:?})", rec.id, rec.name);
        for sha in std::iter::once(rec.sha256).chain(rec.thumb_sha256) {
            if !self.complete.contains(&sha) {
                return Err(format!(
                    "{what} needs blob {sha}, which is not before it in the backup"
                ));
            }
        }
        if !rooms.contains(&rec.room_id.0) {
            return Err(format!(
                "{what} is in room {}, which is not in the backup",
                rec.room_id
            ));
        }
        if !users.contains(&rec.uploader_id.0) {
            return Err(format!(
                "{what} was uploaded by user {}, who is not in the backup",
                rec.uploader_id
            ));
        }
        if !self.files.insert(rec.id.0) {
            return Err(format!("duplicate file id {}", rec.id));
        }
        Ok(())
    }

    /// At the end record: no blob left half read.
    pub(super) fn finish(&self) -> Result<(), String> {
        self.no_partial_blob()
    }
}

/// The restore's side: blobs written through the blob store as their
/// bytes come, records stored with their indexes.
pub(crate) struct FilesRestore<'a> {
    blobs: &'a Blobs,
    writing: Option<(Sha256, u64, BlobWriter)>,
}

impl<'a> FilesRestore<'a> {
    pub(crate) fn new(blobs: &'a Blobs) -> Self {
        FilesRestore {
            blobs,
            writing: None,
        }
    }

    pub(crate) fn blob(&mut self, head: &BlobHead) -> Result<(), StoreError> {
        let w = self.blobs.writer().map_err(|e| files_dir(&e))?;
        self.writing = Some((head.sha256, head.size, w));
        if head.size == 0 {
            self.place()?;
        }
        Ok(())
    }

    /// Writes checked bytes of the current blob; places it once whole.
    pub(crate) fn data(&mut self, bytes: &[u8]) -> Result<(), StoreError> {
        use std::io::Write;
        let Some((_, size, w)) = self.writing.as_mut() else {
            return Err(StoreError::Corrupt("blob bytes without a blob".into()));
        };
        w.write_all(bytes).map_err(|e| files_dir(&e))?;
        let done = w.written() >= *size;
        if done {
            self.place()?;
        }
        Ok(())
    }

    fn place(&mut self) -> Result<(), StoreError> {
        let Some((sha, _, w)) = self.writing.take() else {
            return Ok(());
        };
        let done = w.finish().map_err(|e| files_dir(&e))?;
        if done.sha256 != sha {
            return Err(StoreError::BadBackup(format!(
                "blob {sha} is damaged: its bytes hash to {} (the file changed since it was checked)",
                done.sha256
            )));
        }
        self.blobs
            .keep(done, || Ok::<_, StoreError>(()))
            .map_err(|e| files_dir(&e))?
    }
}

/// The restore's files side, which a backup with files needs.
pub(crate) fn needed<'a, 'b>(
    files: &'a mut Option<FilesRestore<'b>>,
) -> Result<&'a mut FilesRestore<'b>, StoreError> {
    files.as_mut().ok_or_else(|| {
        StoreError::Refused("the backup holds files, but no files directory was given".into())
    })
}

fn files_dir(e: &std::io::Error) -> StoreError {
    StoreError::Refused(format!("cannot write to the files directory: {e}"))
}

impl SledStore {
    /// Stores a restored file record with its indexes.
    pub(super) fn restore_file(&self, rec: &FileRecord) -> Result<(), StoreError> {
        let t = &self.inner;
        t.files.insert(keys::id(rec.id.0), to_json(rec)?)?;
        for sha in std::iter::once(rec.sha256).chain(rec.thumb_sha256) {
            t.file_blobs
                .insert(&keys::file_blob(&sha, rec.id)[..], &[])?;
        }
        t.room_files
            .insert(keys::pair(rec.room_id.0, rec.id.0), &[])?;
        Ok(())
    }

    /// Sets the usage counters the restored records add up to.
    pub(super) fn restore_usage(&self, usage: &HashMap<u64, u64>) -> Result<(), StoreError> {
        for (user, bytes) in usage {
            self.inner
                .file_usage
                .insert(keys::id(*user), &keys::id(*bytes))?;
        }
        Ok(())
    }
}
