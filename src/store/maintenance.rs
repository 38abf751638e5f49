//! Durability, failure, and the operator's whole-store operations:
//! backup, restore, export and the audit of files' records.

use std::collections::HashSet;
use std::io::{BufRead, Write};

use serde::{Deserialize, Serialize};

use super::{FileRecord, Store, StoreError};
use crate::files::{Blobs, Sha256};
use crate::model::{FileId, MessageId, RoomId, Timestamp, UserId};

/// How many records of each kind a backup holds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupCounts {
    pub users: u64,
    pub rooms: u64,
    pub members: u64,
    pub messages: u64,
    /// Absent from backups written before reactions existed, and from the
    /// summary when there are none.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub reactions: u64,
    /// Read marks (where a user stopped reading a room); older backups
    /// have none.
    #[serde(default)]
    pub reads: u64,
    /// Notification levels users chose; absent when there are none.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub levels: u64,
    /// Uploaded files, and the distinct blobs of their bytes and
    /// thumbnails; absent when there are none.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub files: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub blobs: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// One line of `export`: a message with its room's name.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportLine<'a> {
    pub id: MessageId,
    pub room_id: RoomId,
    pub room: &'a str,
    pub user_id: UserId,
    pub user: &'a str,
    pub message: &'a str,
    pub timestamp: Timestamp,
    /// The files the message attaches; omitted when none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<ExportFile<'a>>,
}

/// An attached file as `export` lists it: what a reader of the history
/// needs to know of it, not where to fetch it.
#[derive(Serialize)]
pub struct ExportFile<'a> {
    pub name: &'a str,
    pub size: u64,
    #[serde(rename = "type")]
    pub content_type: &'a str,
}

/// An entry of an index that disagrees with the records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IndexFix {
    /// A `file_blobs` entry whose record is gone or uses another blob: it
    /// would keep a blob forever.
    StaleBlob(Sha256, FileId),
    /// A record's blob missing from `file_blobs`: its blob could be taken
    /// by the removal of another record sharing it.
    MissingBlob(Sha256, FileId),
    /// A `room_files` entry whose record is gone or in another room.
    StaleRoom(RoomId, FileId),
    /// A record missing from its room's `room_files`: deleting the room
    /// would leave it behind.
    MissingRoom(RoomId, FileId),
}

/// A user's usage counter that disagrees with the sizes of the records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UsageFix {
    pub user: UserId,
    /// What the counter said.
    pub counted: u64,
    /// What the user's records add up to.
    pub records: u64,
}

/// What the store holds about files, checked against itself.
#[derive(Debug, Default)]
pub struct FileAudit {
    /// Blobs referred to by the records that stay.
    pub used: HashSet<Sha256>,
    /// Records whose room no longer exists (an upload that raced the
    /// room's deletion).
    pub orphans: Vec<FileRecord>,
    /// The records that stay (their blobs should be on disk).
    pub kept: Vec<(FileId, Sha256, Option<Sha256>)>,
    pub index: Vec<IndexFix>,
    pub usage: Vec<UsageFix>,
    /// Users whose counter changed while their files were counted.
    pub unsettled: u64,
}

/// What concerns the store as a whole rather than one area of it.
pub trait Maintenance {
    /// Makes every write so far durable: what a caller reports after
    /// `flush` returned survives a crash. Blocking: call it off the async
    /// threads (the message writer runs on its own thread). A failure
    /// marks the store failed ([`Maintenance::write_failure`]).
    fn flush(&self) -> Result<(), StoreError>;

    /// Why the store cannot write, once a write or flush failed; the
    /// server then stops and restarts rather than go on half-written.
    fn write_failure(&self) -> Option<String>;

    /// Once the store failed: whether it would take writes again, so that
    /// a restart is worth it. Blocking.
    fn writable_again(&self) -> bool;

    /// Writes a backup of a store whose files are not at hand (tests):
    /// [`Maintenance::backup_with`] without its files section.
    fn backup(&self, out: &mut dyn Write) -> Result<BackupCounts, StoreError> {
        self.backup_with(None, out)
    }

    /// Writes a complete, consistent copy of the store as JSON lines (the
    /// backup format, the same whichever store wrote it), with the files
    /// of `blobs` when given. The last line counts the records, so a
    /// truncated file is detected at restore.
    fn backup_with(
        &self,
        blobs: Option<&Blobs>,
        out: &mut dyn Write,
    ) -> Result<BackupCounts, StoreError>;

    /// [`Maintenance::restore_with`] without a files directory: a backup
    /// with files is refused.
    fn restore(&self, input: &mut dyn BufRead) -> Result<BackupCounts, StoreError> {
        self.restore_with(None, input)
    }

    /// Loads a backup into this store, which must be empty. Every record is
    /// checked again before it is written (the file may have changed since
    /// [`Store::check_backup`](super::Store::check_backup)); the caller
    /// removes a store a failed load started. Indexes are rebuilt from the
    /// records, and blobs written through `blobs`.
    fn restore_with(
        &self,
        blobs: Option<&Blobs>,
        input: &mut dyn BufRead,
    ) -> Result<BackupCounts, StoreError>;

    /// Calls `each` for every message of `room` (all rooms when `None`)
    /// with a timestamp at or after `since`, stored before the call began,
    /// and stops at the first error `each` returns. One room: its id
    /// order. Several: by timestamp, then room id, then message id.
    /// Returns the number of messages. Callers use
    /// [`Store::export`](super::Store::export), which carries their own
    /// error type through.
    fn export_lines(
        &self,
        room: Option<RoomId>,
        since: Option<Timestamp>,
        each: &mut dyn FnMut(&ExportLine<'_>) -> Result<(), StoreError>,
    ) -> Result<u64, StoreError>;

    /// Scans the records of files and their indexes. Reads only.
    fn audit_files(&self) -> Result<FileAudit, StoreError>;

    /// Repairs one index entry if the record still disagrees with it
    /// (`apply` false: only checks). Returns whether it did (or would).
    /// Not yet durable: the caller flushes.
    fn fix_file_index(&self, fix: IndexFix, apply: bool) -> Result<bool, StoreError>;

    /// Corrects a usage counter by the difference the audit found, added
    /// to the counter as it is now. Not yet durable: the caller flushes.
    fn fix_file_usage(&self, fix: UsageFix) -> Result<(), StoreError>;

    /// Whether a record that stays refers to the blob `sha`: one the
    /// audit found (`used`), or one created since. The records of `gone`
    /// (about to be removed) do not count. Asked under the blob's lock
    /// (`Blobs::remove_unused`), so a record created after this answer
    /// finds the blob still there or writes it again.
    fn blob_in_use(
        &self,
        sha: &Sha256,
        used: &HashSet<Sha256>,
        gone: &HashSet<FileId>,
    ) -> Result<bool, StoreError>;
}

/// How often a failed store checks whether the disk takes writes again.
const PROBE_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// Once `store` has failed, waits until the disk takes writes again and
/// then cancels `stop`: the server shuts down and exits non-zero, and a
/// supervisor's restart reopens the store (sled cannot recover in place)
/// and removes the quarantined messages. Until then the server keeps serving
/// reads, and `/healthz` reports the failure.
pub async fn stop_when_disk_recovers(store: Store, stop: tokio_util::sync::CancellationToken) {
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(PROBE_EVERY) => {}
        }
        if store.write_failure().is_none() {
            continue;
        }
        let probe = store.clone();
        if let Ok(true) = tokio::task::spawn_blocking(move || probe.writable_again()).await {
            tracing::error!(
                "the disk takes writes again; stopping so that a restart reopens the database"
            );
            stop.cancel();
            return;
        }
    }
}
