//! The backup format, the same whichever store writes or loads it: the
//! line types ([`BackupRecord`]), their limits, and the writer both stores
//! go through ([`BackupWriter`]), which counts what it writes so that the
//! end record always agrees with the lines before it.
//!
//! A backup is JSON lines in a fixed order: the header, every user, every
//! room each followed by its memberships (in user id order), every message
//! (room by room, each room's in id order) each followed by its reactions
//! (in emoji, then user id order), every read mark and notification level,
//! every uploaded file each after the blobs it names, and an end record
//! with the counts. The checks a restore applies to it are sled's
//! (`read_backup`), shared by both stores.

use std::io::{Read, Write};

use base64::Engine;
use serde::{Deserialize, Serialize};

use super::{BackupCounts, FileRecord, StoreError};
use crate::files::{Blobs, Sha256};
use crate::model::{Message, MessageId, NotificationLevel, Room, RoomId, UserId, UserRecord};

pub(crate) use super::sled::{read_backup, FilesRestore, ReactionRecord};

/// Longest line a backup may hold. The longest real one, a message of 4000
/// characters each escaped as `\uXXXX`, is under 30 KiB; a longer line is
/// not a backup this program wrote, and is refused without being held.
pub const MAX_LINE: usize = 1024 * 1024;

/// Largest message id a backup may hold. Restored ids carry on from the
/// largest one, so an id near `u64::MAX` would leave no ids for new
/// messages; this bound leaves at least 2^63.
pub(crate) const MAX_MESSAGE_ID: u64 = (1 << 63) - 1;

pub(crate) const BACKUP_FORMAT: &str = "chatroom-backup";

/// Bytes of a blob on one line, before base64 (a third more after).
pub(crate) const CHUNK: usize = 256 * 1024;

/// One line of a backup.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) enum BackupRecord {
    Header {
        format: String,
        schema: u32,
    },
    User {
        id: UserId,
        record: UserRecord,
    },
    Room(Room),
    Member {
        room: RoomId,
        user: UserId,
    },
    Message(Message),
    /// On the lines after its message's.
    Reaction(ReactionRecord),
    /// Where `user` stopped reading `room`; its counts are made again.
    Read {
        room: RoomId,
        user: UserId,
        last: MessageId,
    },
    /// The level `user` chose in `room`, among the read marks.
    Level {
        room: RoomId,
        user: UserId,
        level: NotificationLevel,
    },
    /// A blob's hash and size; its bytes follow in `blobData` lines.
    Blob(BlobHead),
    BlobData(BlobData),
    /// An uploaded file's record, after the blobs it names.
    File(Box<FileRecord>),
    End(BackupCounts),
}

/// A blob's announcement, before its bytes.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct BlobHead {
    pub sha256: Sha256,
    pub size: u64,
}

/// A piece of a blob's bytes.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct BlobData {
    pub sha256: Sha256,
    pub offset: u64,
    /// Standard base64, with padding.
    pub data: String,
}

pub(crate) fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

/// Writes a backup's lines and counts them: the header when made, the end
/// record with the counts at [`BackupWriter::finish`].
pub(crate) struct BackupWriter<'a> {
    out: &'a mut dyn Write,
    counts: BackupCounts,
}

impl<'a> BackupWriter<'a> {
    /// Writes the header.
    pub(crate) fn new(out: &'a mut dyn Write) -> Result<Self, StoreError> {
        let mut w = BackupWriter {
            out,
            counts: BackupCounts::default(),
        };
        w.line(&BackupRecord::Header {
            format: BACKUP_FORMAT.into(),
            schema: super::SCHEMA_VERSION,
        })?;
        Ok(w)
    }

    /// Writes one record and counts it.
    pub(crate) fn record(&mut self, rec: &BackupRecord) -> Result<(), StoreError> {
        self.line(rec)?;
        let c = &mut self.counts;
        match rec {
            BackupRecord::User { .. } => c.users += 1,
            BackupRecord::Room(_) => c.rooms += 1,
            BackupRecord::Member { .. } => c.members += 1,
            BackupRecord::Message(_) => c.messages += 1,
            BackupRecord::Reaction(_) => c.reactions += 1,
            BackupRecord::Read { .. } => c.reads += 1,
            BackupRecord::Level { .. } => c.levels += 1,
            BackupRecord::Blob(_) => c.blobs += 1,
            BackupRecord::File(_) => c.files += 1,
            BackupRecord::Header { .. } | BackupRecord::BlobData(_) | BackupRecord::End(_) => {}
        }
        Ok(())
    }

    fn line(&mut self, rec: &BackupRecord) -> Result<(), StoreError> {
        let mut v = serde_json::to_vec(rec).map_err(StoreError::Encode)?;
        v.push(b'\n');
        self.out.write_all(&v).map_err(StoreError::BackupOutput)
    }

    /// Writes the blob `sha` of `blobs`: its head, then its bytes in
    /// lines of at most [`CHUNK`] bytes, so that neither side ever holds a
    /// whole file.
    pub(crate) fn blob(&mut self, blobs: &Blobs, sha: &Sha256) -> Result<(), StoreError> {
        let unreadable = |e: std::io::Error| {
            StoreError::Refused(format!("the blob {sha} cannot be read ({e}); run `chatroom files gc --dry-run` to list what is missing"))
        };
        let mut file = std::fs::File::open(blobs.path(sha)).map_err(unreadable)?;
        let size = file.metadata().map_err(unreadable)?.len();
        self.record(&BackupRecord::Blob(BlobHead { sha256: *sha, size }))?;
        let mut buf = vec![0u8; CHUNK];
        let mut offset = 0u64;
        while offset < size {
            let want = usize::try_from(size - offset).map_or(CHUNK, |left| left.min(CHUNK));
            file.read_exact(&mut buf[..want]).map_err(unreadable)?;
            self.record(&BackupRecord::BlobData(BlobData {
                sha256: *sha,
                offset,
                data: b64().encode(&buf[..want]),
            }))?;
            offset += want as u64;
        }
        Ok(())
    }

    /// Writes the end record and flushes; the counts.
    pub(crate) fn finish(mut self) -> Result<BackupCounts, StoreError> {
        let counts = self.counts.clone();
        self.line(&BackupRecord::End(counts.clone()))?;
        self.out.flush().map_err(StoreError::BackupOutput)?;
        Ok(counts)
    }
}
