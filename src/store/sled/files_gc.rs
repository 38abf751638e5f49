//! The store's side of `files gc` (`crate::files::gc`): the records of
//! files checked against their rooms and against the three trees derived
//! from them (`file_blobs`, `room_files`, `file_usage`, see `files.rs`),
//! and the repairs.
//!
//! The server keeps running meanwhile, so nothing found by a scan is
//! trusted at the moment of a change: each index repair checks again, in
//! its transaction, that the record still says what the scan saw (records
//! and their index entries change together, in one transaction, so the
//! check is exact). A usage counter is a sum and cannot be checked that
//! way: it is read before and after the scan of the records, a user whose
//! counter moved meanwhile is left for the next run, and the repair adds
//! the difference found to the counter as it is then, so that uploads and
//! deletions since the scan keep counting.

use std::collections::{HashMap, HashSet};

use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::Transactional;

use super::{from_json, keys, SledStore, StoreError};
use crate::files::Sha256;
use crate::model::{FileId, RoomId, UserId};
use crate::store::prelude::*;
use crate::store::{FileAudit, FileRecord, IndexFix, UsageFix};

/// What one record uses, as the scan saw it.
struct Uses {
    sha: Sha256,
    thumb: Option<Sha256>,
    room: RoomId,
}

/// The blob and record of a `file_blobs` key.
fn split_file_blob(key: &[u8]) -> Option<(Sha256, FileId)> {
    let sha: [u8; 32] = key.get(..32)?.try_into().ok()?;
    let id = keys::read_u64(key.get(32..)?)?;
    Some((Sha256(sha), FileId(id)))
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(format!("a {what} key"))
}

impl SledStore {
    /// Scans the records of files and their indexes. Reads only.
    pub(super) fn audit_files(&self) -> Result<FileAudit, StoreError> {
        let before = self.usage_counters()?;
        let mut audit = FileAudit::default();
        let mut uses = HashMap::new();
        let mut totals: HashMap<UserId, u64> = HashMap::new();
        let mut rooms: HashMap<RoomId, bool> = HashMap::new();
        for kv in self.inner.files.iter() {
            let (_, v) = kv?;
            let rec: FileRecord = from_json(&v)?;
            let total = totals.entry(rec.uploader_id).or_default();
            *total = total.saturating_add(rec.size);
            let room_exists = match rooms.get(&rec.room_id) {
                Some(exists) => *exists,
                None => {
                    let exists = self.room(rec.room_id)?.is_some();
                    rooms.insert(rec.room_id, exists);
                    exists
                }
            };
            let used = Uses {
                sha: rec.sha256,
                thumb: rec.thumb_sha256,
                room: rec.room_id,
            };
            uses.insert(rec.id, used);
            if room_exists {
                audit.used.insert(rec.sha256);
                audit.used.extend(rec.thumb_sha256);
                audit.kept.push((rec.id, rec.sha256, rec.thumb_sha256));
            } else {
                audit.orphans.push(rec);
            }
        }
        let after = self.usage_counters()?;
        self.audit_indexes(&uses, &mut audit.index)?;
        let users: HashSet<UserId> = before
            .keys()
            .chain(after.keys())
            .chain(totals.keys())
            .copied()
            .collect();
        for user in users {
            let counted = after.get(&user).copied().unwrap_or(0);
            if before.get(&user).copied().unwrap_or(0) != counted {
                audit.unsettled += 1;
                continue;
            }
            let records = totals.get(&user).copied().unwrap_or(0);
            if counted != records {
                audit.usage.push(UsageFix {
                    user,
                    counted,
                    records,
                });
            }
        }
        Ok(audit)
    }

    /// Every usage counter.
    fn usage_counters(&self) -> Result<HashMap<UserId, u64>, StoreError> {
        let mut out = HashMap::new();
        for kv in self.inner.file_usage.iter() {
            let (k, v) = kv?;
            let user = keys::read_u64(&k).ok_or_else(|| corrupt("file_usage"))?;
            let bytes = keys::read_u64(&v)
                .ok_or_else(|| StoreError::Corrupt("a file usage counter".into()))?;
            out.insert(UserId(user), bytes);
        }
        Ok(out)
    }

    /// The entries of `file_blobs` and `room_files` that `uses` (the
    /// records) disagree with, both ways.
    fn audit_indexes(
        &self,
        uses: &HashMap<FileId, Uses>,
        out: &mut Vec<IndexFix>,
    ) -> Result<(), StoreError> {
        let mut blob_keys = HashSet::new();
        for kv in self.inner.file_blobs.iter() {
            let (k, _) = kv?;
            let (sha, id) = split_file_blob(&k).ok_or_else(|| corrupt("file_blobs"))?;
            blob_keys.insert((sha, id));
            let known = uses
                .get(&id)
                .is_some_and(|u| u.sha == sha || u.thumb == Some(sha));
            if !known {
                out.push(IndexFix::StaleBlob(sha, id));
            }
        }
        let mut room_keys = HashSet::new();
        for kv in self.inner.room_files.iter() {
            let (k, _) = kv?;
            let (room, id) = keys::split_pair(&k).ok_or_else(|| corrupt("room_files"))?;
            let (room, id) = (RoomId(room), FileId(id));
            room_keys.insert((room, id));
            if uses.get(&id).is_none_or(|u| u.room != room) {
                out.push(IndexFix::StaleRoom(room, id));
            }
        }
        for (id, u) in uses {
            for sha in std::iter::once(u.sha).chain(u.thumb) {
                if !blob_keys.contains(&(sha, *id)) {
                    out.push(IndexFix::MissingBlob(sha, *id));
                }
            }
            if !room_keys.contains(&(u.room, *id)) {
                out.push(IndexFix::MissingRoom(u.room, *id));
            }
        }
        Ok(())
    }

    /// Repairs one index entry if the record still disagrees with it
    /// (`apply` false: only checks). Returns whether it did (or would).
    /// Not yet durable: the caller flushes.
    pub(super) fn fix_file_index(&self, fix: IndexFix, apply: bool) -> Result<bool, StoreError> {
        let t = &self.inner;
        let index = match fix {
            IndexFix::StaleBlob(..) | IndexFix::MissingBlob(..) => &t.file_blobs,
            IndexFix::StaleRoom(..) | IndexFix::MissingRoom(..) => &t.room_files,
        };
        let res = (&t.files, index).transaction(|(files, index)| {
            let rec: Option<FileRecord> = match files.get(keys::id(file_of(fix).0))? {
                None => None,
                Some(v) => Some(from_json(&v).map_err(ConflictableTransactionError::Abort)?),
            };
            let (key, wanted): (Vec<u8>, bool) = match fix {
                IndexFix::StaleBlob(sha, id) | IndexFix::MissingBlob(sha, id) => (
                    keys::file_blob(&sha, id).to_vec(),
                    rec.as_ref()
                        .is_some_and(|r| r.sha256 == sha || r.thumb_sha256 == Some(sha)),
                ),
                IndexFix::StaleRoom(room, id) | IndexFix::MissingRoom(room, id) => (
                    keys::pair(room.0, id.0).to_vec(),
                    rec.as_ref().is_some_and(|r| r.room_id == room),
                ),
            };
            let present = index.get(&key)?.is_some();
            if present == wanted {
                return Ok(false);
            }
            if apply && wanted {
                index.insert(key, &[])?;
            } else if apply {
                index.remove(key)?;
            }
            Ok(true)
        });
        match res {
            Ok(done) => Ok(done),
            Err(TransactionError::Abort(e)) => Err(e),
            Err(TransactionError::Storage(e)) => Err(e.into()),
        }
    }

    /// Corrects a usage counter by the difference the audit found, added
    /// to the counter as it is now. Not yet durable: the caller flushes.
    pub(super) fn fix_file_usage(&self, fix: UsageFix) -> Result<(), StoreError> {
        let key = keys::id(fix.user.0);
        self.inner.file_usage.fetch_and_update(key, |old| {
            let now = old.and_then(keys::read_u64).unwrap_or(0);
            let fixed = if fix.records >= fix.counted {
                now.saturating_add(fix.records - fix.counted)
            } else {
                now.saturating_sub(fix.counted - fix.records)
            };
            Some(keys::id(fixed).to_vec())
        })?;
        Ok(())
    }

    /// Whether a record that stays refers to the blob `sha`: one the
    /// audit found (`used`), or one indexed since (a record created after
    /// the audit comes with its `file_blobs` entry). The records of
    /// `gone` (about to be removed) do not count. Ask it under the blob's
    /// lock (`Blobs::remove_unused`).
    pub(super) fn blob_in_use(
        &self,
        sha: &Sha256,
        used: &HashSet<Sha256>,
        gone: &HashSet<FileId>,
    ) -> Result<bool, StoreError> {
        if used.contains(sha) {
            return Ok(true);
        }
        for kv in self.inner.file_blobs.scan_prefix(sha.0) {
            let (k, _) = kv?;
            let Some((_, id)) = split_file_blob(&k).filter(|(s, _)| s == sha) else {
                continue;
            };
            if gone.contains(&id) {
                continue;
            }
            if let Some(rec) = self.file(id)? {
                if rec.sha256 == *sha || rec.thumb_sha256 == Some(*sha) {
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }
}

/// The record an index repair is about.
fn file_of(fix: IndexFix) -> FileId {
    match fix {
        IndexFix::StaleBlob(_, id)
        | IndexFix::MissingBlob(_, id)
        | IndexFix::StaleRoom(_, id)
        | IndexFix::MissingRoom(_, id) => id,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::{new_file, some_room, temp_sled};
    use crate::store::FileCreated;

    fn file_in(store: &SledStore, room: RoomId, bytes: &[u8]) -> FileRecord {
        match store
            .create_file(new_file(room, bytes), None)
            .expect("create")
        {
            FileCreated::Created(rec) => rec,
            FileCreated::OverQuota => panic!("over quota"),
        }
    }

    #[test]
    fn indexes_and_counters_that_disagree_with_the_records_are_found_and_repaired() {
        let (store, _dir) = temp_sled();
        let room = some_room(&store);
        let a = file_in(&store, room, b"aaaa");
        let b = file_in(&store, room, b"bb");
        let t = &store.inner;
        let ghost = Sha256::of(b"ghost");
        t.file_blobs
            .remove(&keys::file_blob(&a.sha256, a.id)[..])
            .expect("drop");
        t.file_blobs
            .insert(&keys::file_blob(&ghost, b.id)[..], &[])
            .expect("add");
        t.room_files
            .remove(keys::pair(room.0, b.id.0))
            .expect("drop");
        t.room_files
            .insert(keys::pair(room.0, 77), &[])
            .expect("add");
        t.file_usage
            .insert(keys::id(4), &keys::id(100))
            .expect("usage");

        let audit = store.audit_files().expect("audit");
        let mut index = audit.index.clone();
        index.sort_by_key(|f| format!("{f:?}"));
        let mut want = vec![
            IndexFix::MissingBlob(a.sha256, a.id),
            IndexFix::StaleBlob(ghost, b.id),
            IndexFix::MissingRoom(room, b.id),
            IndexFix::StaleRoom(room, FileId(77)),
        ];
        want.sort_by_key(|f| format!("{f:?}"));
        assert_eq!(index, want);
        let fix = UsageFix {
            user: UserId(4),
            counted: 100,
            records: 6,
        };
        assert_eq!(audit.usage, vec![fix]);
        assert!(audit.orphans.is_empty());
        assert!(audit.used.contains(&a.sha256) && !audit.used.contains(&ghost));

        for f in &audit.index {
            assert!(store.fix_file_index(*f, false).expect("check"), "{f:?}");
        }
        assert_eq!(
            store.audit_files().expect("again").index.len(),
            4,
            "only checked"
        );
        for f in &audit.index {
            assert!(store.fix_file_index(*f, true).expect("fix"), "{f:?}");
            assert!(!store.fix_file_index(*f, true).expect("twice"), "{f:?}");
        }
        // An upload since the audit keeps counting.
        file_in(&store, room, b"c");
        store.fix_file_usage(fix).expect("usage");
        assert_eq!(store.file_usage(UserId(4)).expect("usage"), 7);
        let clean = store.audit_files().expect("clean");
        assert!(
            clean.index.is_empty() && clean.usage.is_empty(),
            "{clean:?}"
        );
        assert!(store.blob_referenced(&a.sha256).expect("ref"));
        assert!(!store.blob_referenced(&ghost).expect("ref"));
        assert_eq!(store.room_files(room).expect("list").len(), 3);
    }

    #[test]
    fn a_blob_is_in_use_through_a_record_indexed_after_the_audit_but_not_through_one_going() {
        let (store, _dir) = temp_sled();
        let audit = store.audit_files().expect("audit");
        let later = file_in(&store, RoomId(1), b"later");
        let none = HashSet::new();
        assert!(store
            .blob_in_use(&later.sha256, &audit.used, &none)
            .expect("in use"));
        let going = HashSet::from([later.id]);
        assert!(!store
            .blob_in_use(&later.sha256, &audit.used, &going)
            .expect("in use"));
    }
}
