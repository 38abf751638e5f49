//! Uploaded files' metadata: the `files` tree (one [`FileRecord`] per
//! file), `file_blobs` (which records use which blob, so a blob is removed
//! only once nothing refers to it), `room_files` (a room's files, for its
//! deletion) and `file_usage` (the bytes each user has uploaded, held to
//! the quota). All four change together, in one transaction per change.
//! The bytes themselves are never here: see `crate::files::blobs`.

use sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree};
use sled::Transactional;

use super::{from_json, keys, random_id, to_json, SledStore, StoreError};
use crate::files::Sha256;
use crate::model::{FileId, RoomId, Timestamp, UserId};
use crate::store::{FileCreated, FileRecord, FileStore, NewFile};

type FileTrees = (
    TransactionalTree,
    TransactionalTree,
    TransactionalTree,
    TransactionalTree,
);

/// Why a file transaction stopped.
enum Abort {
    OverQuota,
    SledStore(StoreError),
}

fn abort<T>(e: StoreError) -> Result<T, ConflictableTransactionError<Abort>> {
    Err(ConflictableTransactionError::Abort(Abort::SledStore(e)))
}

/// A user's bytes used, as `file_usage` holds them (absent: none).
fn usage_in(
    usage: &TransactionalTree,
    user: UserId,
) -> Result<u64, ConflictableTransactionError<Abort>> {
    match usage.get(keys::id(user.0))? {
        None => Ok(0),
        Some(v) => match keys::read_u64(&v) {
            Some(n) => Ok(n),
            None => abort(StoreError::Corrupt("a file usage counter".into())),
        },
    }
}

impl FileStore for SledStore {
    /// Records a new file and adds its size to its uploader's usage, in
    /// one transaction, unless that would take the usage past `quota`
    /// bytes (`None`: no quota). Not yet durable: the caller flushes.
    fn create_file(&self, new: NewFile, quota: Option<u64>) -> Result<FileCreated, StoreError> {
        let record = FileRecord {
            id: FileId(random_id()?),
            room_id: new.room_id,
            uploader_id: new.uploader_id,
            name: new.name,
            size: new.size,
            content_type: new.content_type,
            sha256: new.sha256,
            width: None,
            height: None,
            thumb_sha256: None,
            created_at: Timestamp::now(),
            message_id: None,
        };
        let value = to_json(&record)?;
        let res = self
            .file_trees()
            .transaction(|(files, blobs, rooms, usage): &FileTrees| {
                let used = usage_in(usage, record.uploader_id)?;
                let total = used.saturating_add(record.size);
                if quota.is_some_and(|q| total > q) {
                    return Err(ConflictableTransactionError::Abort(Abort::OverQuota));
                }
                files.insert(&keys::id(record.id.0), value.as_slice())?;
                blobs.insert(&keys::file_blob(&record.sha256, record.id)[..], &[])?;
                rooms.insert(&keys::pair(record.room_id.0, record.id.0), &[])?;
                usage.insert(&keys::id(record.uploader_id.0), &keys::id(total))?;
                Ok(())
            });
        match res {
            Ok(()) => Ok(FileCreated::Created(record)),
            Err(TransactionError::Abort(Abort::OverQuota)) => Ok(FileCreated::OverQuota),
            Err(TransactionError::Abort(Abort::SledStore(e))) => Err(e),
            Err(TransactionError::Storage(e)) => Err(e.into()),
        }
    }

    fn file(&self, id: FileId) -> Result<Option<FileRecord>, StoreError> {
        match self.inner.files.get(keys::id(id.0))? {
            None => Ok(None),
            Some(v) => Ok(Some(from_json(&v)?)),
        }
    }

    fn room_files(&self, room: RoomId) -> Result<Vec<FileRecord>, StoreError> {
        let mut out = Vec::new();
        for kv in self.inner.room_files.scan_prefix(keys::id(room.0)) {
            let (k, _) = kv?;
            let (_, file) = keys::split_pair(&k)
                .ok_or_else(|| StoreError::Corrupt("a room_files key".into()))?;
            if let Some(rec) = self.file(FileId(file))? {
                out.push(rec);
            }
        }
        Ok(out)
    }

    fn file_usage(&self, user: UserId) -> Result<u64, StoreError> {
        Ok(self
            .inner
            .file_usage
            .get(keys::id(user.0))?
            .and_then(|v| keys::read_u64(&v))
            .unwrap_or(0))
    }

    fn blob_referenced(&self, sha: &Sha256) -> Result<bool, StoreError> {
        Ok(self
            .inner
            .file_blobs
            .scan_prefix(sha.0)
            .next()
            .transpose()?
            .is_some())
    }

    /// Deletes the records of `ids` (those that exist) and gives their
    /// uploaders their bytes back, in one transaction. Returns the blobs
    /// that no record refers to any more: the caller removes them from
    /// disk once this change is durable (`Blobs::remove_unreferenced`,
    /// which asks again under the blob's lock). Not yet durable.
    fn delete_files(&self, ids: &[FileId]) -> Result<Vec<Sha256>, StoreError> {
        self.delete_files_where(ids, |_| true)
    }

    /// Records an image's dimensions and its thumbnail's blob (indexed
    /// like the file's own, so it is removed with the last record using
    /// it). False when the file is gone. Not yet durable.
    fn set_file_image(
        &self,
        id: FileId,
        width: u32,
        height: u32,
        thumb: Option<Sha256>,
    ) -> Result<bool, StoreError> {
        let t = &self.inner;
        let res = (&t.files, &t.file_blobs).transaction(|(files, blobs)| {
            let Some(v) = files.get(keys::id(id.0))? else {
                return Ok(false);
            };
            let mut rec: FileRecord = match from_json(&v) {
                Ok(rec) => rec,
                Err(e) => return abort(e),
            };
            if let Some(old) = rec.thumb_sha256 {
                blobs.remove(&keys::file_blob(&old, id)[..])?;
            }
            if let Some(new) = thumb {
                blobs.insert(&keys::file_blob(&new, id)[..], &[])?;
            }
            (rec.width, rec.height, rec.thumb_sha256) = (Some(width), Some(height), thumb);
            match to_json(&rec) {
                Ok(value) => files.insert(&keys::id(id.0), value)?,
                Err(e) => return abort(e),
            };
            Ok(true)
        });
        match res {
            Ok(found) => Ok(found),
            Err(TransactionError::Abort(Abort::SledStore(e))) => Err(e),
            Err(TransactionError::Abort(Abort::OverQuota)) => Ok(false),
            Err(TransactionError::Storage(e)) => Err(e.into()),
        }
    }

    fn sweep_files(&self, cutoff: Timestamp) -> Result<Vec<Sha256>, StoreError> {
        SledStore::sweep_files(self, cutoff)
    }
}

impl SledStore {
    /// The four trees of files, in the order the transactions take them.
    fn file_trees(&self) -> (&sled::Tree, &sled::Tree, &sled::Tree, &sled::Tree) {
        let t = &self.inner;
        (&t.files, &t.file_blobs, &t.room_files, &t.file_usage)
    }

    /// [`SledStore::delete_files`] for the records of `ids` that `doomed`
    /// (asked inside the transaction) picks.
    pub(super) fn delete_files_where(
        &self,
        ids: &[FileId],
        doomed: impl Fn(&FileRecord) -> bool,
    ) -> Result<Vec<Sha256>, StoreError> {
        let res = self
            .file_trees()
            .transaction(|(files, blobs, rooms, usage): &FileTrees| {
                let mut gone = Vec::new();
                for id in ids {
                    let Some(v) = files.get(keys::id(id.0))? else {
                        continue;
                    };
                    let rec: FileRecord = match from_json(&v) {
                        Ok(rec) => rec,
                        Err(e) => return abort(e),
                    };
                    if !doomed(&rec) {
                        continue;
                    }
                    files.remove(&keys::id(id.0))?;
                    rooms.remove(&keys::pair(rec.room_id.0, id.0))?;
                    for sha in std::iter::once(rec.sha256).chain(rec.thumb_sha256) {
                        blobs.remove(&keys::file_blob(&sha, rec.id)[..])?;
                        gone.push(sha);
                    }
                    let used = usage_in(usage, rec.uploader_id)?.saturating_sub(rec.size);
                    usage.insert(&keys::id(rec.uploader_id.0), &keys::id(used))?;
                }
                Ok(gone)
            });
        let mut gone = match res {
            Ok(gone) => gone,
            Err(TransactionError::Abort(Abort::SledStore(e))) => return Err(e),
            Err(TransactionError::Abort(Abort::OverQuota)) => Vec::new(),
            Err(TransactionError::Storage(e)) => return Err(e.into()),
        };
        gone.sort_unstable();
        gone.dedup();
        let mut unreferenced = Vec::with_capacity(gone.len());
        for sha in gone {
            if !self.blob_referenced(&sha)? {
                unreferenced.push(sha);
            }
        }
        Ok(unreferenced)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::temp_store;

    fn new_file(user: u64, bytes: &[u8]) -> NewFile {
        NewFile {
            room_id: RoomId(5),
            uploader_id: UserId(user),
            name: "a.txt".into(),
            size: bytes.len() as u64,
            content_type: "text/plain".into(),
            sha256: Sha256::of(bytes),
        }
    }

    fn created(r: FileCreated) -> FileRecord {
        match r {
            FileCreated::Created(rec) => rec,
            FileCreated::OverQuota => panic!("over quota"),
        }
    }

    #[test]
    fn a_blob_is_unreferenced_only_when_its_last_record_goes() {
        let (store, _dir) = temp_store();
        let a = created(store.create_file(new_file(1, b"same"), None).expect("a"));
        let b = created(store.create_file(new_file(2, b"same"), None).expect("b"));
        assert_eq!(store.file(a.id).expect("get"), Some(a.clone()));
        assert_eq!(store.room_files(RoomId(5)).expect("list").len(), 2);
        assert_eq!(store.file_usage(UserId(1)).expect("usage"), 4);
        assert_eq!(store.delete_files(&[a.id]).expect("delete"), vec![]);
        assert!(store.blob_referenced(&a.sha256).expect("ref"));
        assert_eq!(store.file_usage(UserId(1)).expect("usage"), 0);
        assert_eq!(
            store.delete_files(&[b.id, b.id]).expect("delete"),
            vec![b.sha256]
        );
        assert!(!store.blob_referenced(&b.sha256).expect("ref"));
        assert_eq!(store.file(b.id).expect("get"), None);
        assert!(store.room_files(RoomId(5)).expect("list").is_empty());
    }

    #[test]
    fn the_quota_holds_across_files() {
        let (store, _dir) = temp_store();
        let first = created(
            store
                .create_file(new_file(1, b"12345"), Some(8))
                .expect("first"),
        );
        let over = store
            .create_file(new_file(1, b"6789"), Some(8))
            .expect("second");
        assert_eq!(over, FileCreated::OverQuota);
        assert_eq!(store.file_usage(UserId(1)).expect("usage"), 5);
        created(
            store
                .create_file(new_file(2, b"6789"), Some(8))
                .expect("other user"),
        );
        store.delete_files(&[first.id]).expect("delete");
        created(
            store
                .create_file(new_file(1, b"6789"), Some(8))
                .expect("after delete"),
        );
    }

    #[test]
    fn a_thumbnail_blob_is_counted_like_the_file() {
        let (store, _dir) = temp_store();
        let a = created(store.create_file(new_file(1, b"img"), None).expect("a"));
        let thumb = Sha256::of(b"thumb");
        assert!(store
            .set_file_image(a.id, 640, 480, Some(thumb))
            .expect("set"));
        let rec = store.file(a.id).expect("get").expect("there");
        assert_eq!(
            (rec.width, rec.height, rec.thumb_sha256),
            (Some(640), Some(480), Some(thumb))
        );
        assert!(store.blob_referenced(&thumb).expect("ref"));
        let mut gone = store.delete_files(&[a.id]).expect("delete");
        gone.sort();
        let mut want = vec![a.sha256, thumb];
        want.sort();
        assert_eq!(gone, want);
        assert!(!store.set_file_image(a.id, 1, 1, None).expect("gone"));
    }
}
