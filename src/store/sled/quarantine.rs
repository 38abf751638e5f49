//! What happens when the disk refuses a write.
//!
//! sled 0.34 keeps the first IO error of its log as a "global error": from
//! then on every write and flush of that process fails, and only reopening
//! the database clears it. A batch of messages whose write or flush failed
//! may nevertheless sit in sled's memory (readable at once) and partly on
//! disk (readable after a restart). Neither may ever show: the sender was
//! told `internal`.
//!
//! So, at open, the store pre-allocates a small quarantine file in the data
//! directory, fully written, so that rewriting it later needs no new blocks
//! even on a full disk. When a batch fails, the store
//!
//! 1. hides every message id from the batch's first on (the writer stores
//!    nothing after a failure, so the hidden ids are exactly the failed
//!    ones): every read path clamps its range below that mark;
//! 2. records the mark in the quarantine file (`pwrite` + `fdatasync` into
//!    the allocated block);
//! 3. reports itself failed, for `/healthz` and for the server, which exits
//!    non-zero once the disk takes writes again so that a supervisor
//!    restarts it on a fresh sled.
//!
//! At the next open, before anything is read, the store deletes every
//! message at or past a recorded mark, flushes, and only then clears the
//! file. If that flush fails (the disk is still full) the open fails and
//! the mark stays for the next attempt.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use super::{keys, SledStore, StoreError};
use crate::model::MessageId;

/// File name of the quarantine record, next to sled's `db` directory.
pub const FILE: &str = "quarantine";

/// The size of the file: one block, so the record always fits in space
/// that is already allocated.
const SIZE: usize = 4096;

/// Tags a record, so a zeroed (or foreign) file means "nothing quarantined".
const MAGIC: &[u8; 8] = b"CRQUAR01";

/// Bytes written to check that the disk takes writes again.
const PROBE_BYTES: usize = 1 << 20;

/// No message is hidden.
const NONE: u64 = u64::MAX;

/// The quarantine state of an open store.
pub(super) struct Quarantine {
    /// Messages with an id at or past this are hidden from every read.
    hide_from: AtomicU64,
    /// The open, pre-allocated file (None for a store that could not make
    /// one: it still hides in memory).
    file: Mutex<Option<File>>,
    /// Why the store cannot write, once it could not.
    failure: Mutex<Option<String>>,
    dir: PathBuf,
}

impl Quarantine {
    /// Applies a mark left by a previous run to `messages` (and has
    /// `forget_counts` forget their counts, in the same flush), then
    /// prepares the file for this one.
    pub(super) fn open(
        dir: &Path,
        db: &sled::Db,
        messages: &sled::Tree,
        forget_counts: impl FnOnce(u64) -> Result<(), StoreError>,
    ) -> Result<Quarantine, StoreError> {
        let path = dir.join(FILE);
        let io = |e: std::io::Error| StoreError::Quarantine(format!("{}: {e}", path.display()));
        if let Some(mark) = read_mark(&path).map_err(io)? {
            let removed = delete_from(messages, mark)?;
            forget_counts(mark)?;
            db.flush()?;
            tracing::warn!(
                from = mark,
                removed,
                "removed messages whose write had failed before the last stop"
            );
        }
        let file = prepare(&path).map_err(io)?;
        Ok(Quarantine {
            hide_from: AtomicU64::new(NONE),
            file: Mutex::new(Some(file)),
            failure: Mutex::new(None),
            dir: dir.to_owned(),
        })
    }

    /// The first hidden id (`u64::MAX` when none is hidden).
    pub(super) fn hide_from(&self) -> u64 {
        self.hide_from.load(Ordering::Acquire)
    }

    fn fail(&self, reason: String) {
        let mut f = self.failure.lock().unwrap_or_else(|p| p.into_inner());
        if f.is_none() {
            *f = Some(reason);
        }
    }
}

/// Reads the mark of a previous run, if the file holds one.
fn read_mark(path: &Path) -> std::io::Result<Option<u64>> {
    let mut buf = Vec::with_capacity(SIZE);
    match File::open(path) {
        Ok(f) => {
            f.take(SIZE as u64).read_to_end(&mut buf)?;
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    }
    Ok(decode(&buf))
}

/// A record: magic, the mark, and its complement (a torn write shows).
fn encode(mark: u64) -> [u8; 24] {
    let mut r = [0u8; 24];
    r[..8].copy_from_slice(MAGIC);
    r[8..16].copy_from_slice(&mark.to_be_bytes());
    r[16..].copy_from_slice(&(!mark).to_be_bytes());
    r
}

fn decode(buf: &[u8]) -> Option<u64> {
    if buf.len() < 24 || &buf[..8] != MAGIC {
        return None;
    }
    let mark = keys::read_u64(&buf[8..16])?;
    let check = keys::read_u64(&buf[16..24])?;
    (check == !mark).then_some(mark)
}

/// Writes the file whole (zeros: no mark) and makes it and its name durable.
fn prepare(path: &Path) -> std::io::Result<File> {
    let mut f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)?;
    f.write_all(&[0u8; SIZE])?;
    f.sync_all()?;
    if let Some(parent) = path.parent() {
        File::open(parent)?.sync_all()?;
    }
    Ok(f)
}

/// Removes every message whose id is `mark` or more, room by room.
fn delete_from(messages: &sled::Tree, mark: u64) -> Result<usize, StoreError> {
    let mut removed = 0;
    let mut from = [0u8; 16];
    while let Some(kv) = messages.range(from..).next() {
        let (k, _) = kv?;
        let (room, _) = super::messages::split_message_key(&k)?;
        let mut batch = sled::Batch::default();
        for key in messages
            .range(keys::pair(room, mark)..=keys::pair(room, u64::MAX))
            .keys()
        {
            batch.remove(key?);
            removed += 1;
        }
        messages.apply_batch(batch)?;
        match room.checked_add(1) {
            Some(next) => from = keys::pair(next, 0),
            None => break,
        }
    }
    Ok(removed)
}

impl SledStore {
    /// Hides, now and after any restart, every message from `first` on:
    /// the batch starting there could not be made durable. Marks the store
    /// failed. Blocking (an fdatasync): the writer's thread calls it.
    pub(super) fn quarantine_from(&self, first: MessageId, reason: &str) {
        let q = &self.inner.quarantine;
        q.hide_from.fetch_min(first.0, Ordering::AcqRel);
        q.fail(format!("the database could not store messages: {reason}"));
        let mark = q.hide_from();
        let file = q.file.lock().unwrap_or_else(|p| p.into_inner());
        let written = match file.as_ref() {
            Some(f) => f
                .write_all_at(&encode(mark), 0)
                .and_then(|()| f.sync_data()),
            None => Err(std::io::Error::other("no quarantine file")),
        };
        if let Err(e) = written {
            // Hidden for this run still; a restart might show the batch if
            // sled had written part of it. Said loudly for the operator.
            tracing::error!(error = %e, from = mark, "cannot record failed messages in the quarantine file");
        }
    }

    /// Marks the store failed without hiding anything (a flush of another
    /// change failed).
    pub(super) fn record_failure(&self, reason: String) {
        self.inner.quarantine.fail(reason);
    }

    /// Why the store cannot write, once a write or flush failed. sled does
    /// not recover from that within a process: the server restarts.
    pub(super) fn write_failure(&self) -> Option<String> {
        self.inner
            .quarantine
            .failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Whether the data directory takes a write and an fsync of a
    /// megabyte now: the sign that a restart can open the database again.
    /// Blocking.
    pub(super) fn disk_writable(&self) -> bool {
        let path = self.inner.quarantine.dir.join(".write-probe");
        let ok = File::create(&path)
            .and_then(|mut f| {
                f.write_all(&vec![0u8; PROBE_BYTES])?;
                f.sync_all()
            })
            .is_ok();
        let _ = std::fs::remove_file(&path);
        ok
    }

    /// The largest id a read may return, below the quarantine mark.
    pub(super) fn visible_max(&self) -> Option<u64> {
        self.inner.quarantine.hide_from().checked_sub(1)
    }

    /// Whether `id` is hidden because its write failed.
    pub(super) fn hidden(&self, id: MessageId) -> bool {
        self.visible_max().is_none_or(|max| id.0 > max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{RoomId, Timestamp, UserId};
    use crate::store::prelude::*;
    use crate::store::NewMessage;

    fn one(store: &SledStore, text: &str) -> crate::model::Message {
        store
            .append_batch(vec![NewMessage {
                room_id: RoomId(3),
                user_id: UserId(1),
                user: "u".into(),
                message: text.into(),
                timestamp: Timestamp::now(),
                mentions: Vec::new(),
                client_id: None,
            }])
            .expect("append")
            .remove(0)
    }

    #[test]
    fn records_round_trip_and_torn_ones_are_ignored() {
        assert_eq!(decode(&encode(42)), Some(42));
        let mut torn = encode(42);
        torn[20] ^= 1;
        assert_eq!(decode(&torn), None);
        assert_eq!(decode(&[0u8; SIZE]), None);
    }

    #[test]
    fn a_quarantined_message_is_hidden_and_deleted_at_the_next_open() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (kept, lost) = {
            let store = SledStore::open(dir.path(), 1 << 20).expect("open");
            let kept = one(&store, "kept");
            let cut = store.message_cutoff();
            let lost = one(&store, "lost");
            store.flush().expect("flush");
            store.quarantine_from(cut, "test");
            assert!(store.write_failure().is_some());
            assert_eq!(store.message(lost.room_id, lost.id).expect("get"), None);
            let page = store.latest(lost.room_id, 10).expect("latest");
            assert_eq!(page.messages.len(), 1);
            assert_eq!(
                store
                    .after(lost.room_id, kept.id, 10)
                    .expect("after")
                    .messages
                    .len(),
                0
            );
            (kept, lost)
        };
        let store = crate::store::sled::reopen(dir.path(), 1 << 20);
        assert!(store.write_failure().is_none());
        assert!(store.message(kept.room_id, kept.id).expect("get").is_some());
        assert_eq!(store.message(lost.room_id, lost.id).expect("get"), None);
        let again = one(&store, "after");
        assert_eq!(
            store
                .latest(again.room_id, 10)
                .expect("latest")
                .messages
                .len(),
            2
        );
        drop(store);
        // The mark was cleared: a third open keeps the new message.
        let store = crate::store::sled::reopen(dir.path(), 1 << 20);
        assert!(store
            .message(again.room_id, again.id)
            .expect("get")
            .is_some());
    }
}
