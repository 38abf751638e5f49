//! The backup: every table a backup holds, read in one snapshot and
//! written in the backup format both stores share
//! (`crate::store::backup_format`), so that a backup of either store
//! restores into the other.
//!
//! The snapshot is one `REPEATABLE READ, READ ONLY` transaction held by a
//! [`Session`](super::session::Session): every query sees the database as
//! it was at the first, so the backup is consistent even while other nodes
//! keep writing, and holds no lock they wait for. Nothing is read whole:
//! users, rooms' members, messages and files are read in pages by key,
//! each page one request of [`PAGE`] rows, so neither memory nor any one
//! request grows with the history.
//!
//! What is left out, as sled leaves it out: push subscriptions (bound to
//! this server's VAPID key), client ids and edit marks (short-lived), the
//! direct rooms' index and the usage counters (made again from the rooms
//! and files at restore), messages that are hidden (`quarantine`) and
//! whatever belongs to a room that no longer exists (rows a deletion has
//! yet to reach). Reactions have no time here: their `at` carries their
//! `seq`, which orders them as the times would.

use std::collections::HashSet;
use std::io::Write;

use tokio_postgres::Row;

use super::session::{Param, Session};
use super::{db_id, id_of, PgStore};
use crate::files::{Blobs, Sha256};
use crate::model::{
    Attachment, FileId, Message, MessageId, NotificationLevel, RoomId, Timestamp, UserId,
};
use crate::store::backup_format::{BackupRecord, BackupWriter, ReactionRecord};
use crate::store::{BackupCounts, FileRecord, StoreError};

// Rows are read back as every other read of the store reads them.
pub(super) use super::messages::message as message_of;
pub(super) use super::rooms::room as room_of;
use super::users::record as user_record;

/// Rows read per request.
pub(super) const PAGE: i64 = 512;

/// How a snapshot's transaction starts. A reader stalled longer than its
/// idle timeout (a backup written to a pipe nobody reads) loses it; a
/// read-only snapshot holds no lock a writer waits for, so it may idle
/// longer than a writing transaction (the connection's default), but not
/// forever, since it holds back the removal of old row versions.
pub(super) const SNAPSHOT: &str = "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY;
     SET LOCAL idle_in_transaction_session_timeout = '10min'";

impl PgStore {
    pub(super) fn backup_to(
        &self,
        blobs: Option<&Blobs>,
        out: &mut dyn Write,
    ) -> Result<BackupCounts, StoreError> {
        let s = self.session(SNAPSHOT)?;
        let hidden = hidden_from(&s)?;
        let mut w = BackupWriter::new(out)?;
        each_row(
            &s,
            "SELECT id, username, role, password_hash, created_at, disabled, token_version
             FROM users WHERE $1::BIGINT IS NULL OR id > $1 ORDER BY id LIMIT $2",
            |row| row.try_get("id"),
            |row| {
                let id = UserId(id_of(row.try_get("id")?));
                w.record(&BackupRecord::User {
                    id,
                    record: user_record(row)?,
                })
            },
        )?;
        let mut rooms = Vec::new();
        each_row(
            &s,
            "SELECT id, name, description, private, kind, owner_id, created_at
             FROM rooms WHERE $1::BIGINT IS NULL OR id > $1 ORDER BY id LIMIT $2",
            |row| row.try_get("id"),
            |row| {
                rooms.push(room_of(row)?);
                Ok(())
            },
        )?;
        for room in &rooms {
            w.record(&BackupRecord::Room(room.clone()))?;
            for user in by_user(
                &s,
                "SELECT user_id FROM members WHERE room_id = $1",
                room.id,
            )? {
                w.record(&BackupRecord::Member {
                    room: room.id,
                    user: user.0,
                })?;
            }
        }
        for room in &rooms {
            let mut after: i64 = -1;
            loop {
                let page = messages_page(&s, room.id, after, hidden)?;
                let Some(last) = page.last() else { break };
                after = db_id(last.id.0);
                let mut reactions = reactions_of(&s, room.id, &page)?.into_iter().peekable();
                for m in &page {
                    w.record(&BackupRecord::Message(m.clone()))?;
                    // Those of a message gone meanwhile are passed over.
                    while let Some(r) = reactions.next_if(|r| r.message <= m.id) {
                        if r.message == m.id {
                            w.record(&BackupRecord::Reaction(r))?;
                        }
                    }
                }
                if (page.len() as i64) < PAGE {
                    break;
                }
            }
        }
        for room in &rooms {
            let sql = "SELECT user_id, last_read_id FROM read_marks WHERE room_id = $1";
            for (user, row) in by_user(&s, sql, room.id)? {
                let last = MessageId(id_of(row.try_get("last_read_id")?));
                w.record(&BackupRecord::Read {
                    room: room.id,
                    user,
                    last,
                })?;
            }
            let sql = "SELECT user_id, level FROM notification_levels WHERE room_id = $1";
            for (user, row) in by_user(&s, sql, room.id)? {
                let level = level_of(row.try_get("level")?)?;
                let room = room.id;
                w.record(&BackupRecord::Level { room, user, level })?;
            }
        }
        if let Some(blobs) = blobs {
            let mut written: HashSet<Sha256> = HashSet::new();
            each_row(
                &s,
                "SELECT f.id, f.room_id, f.uploader_id, f.name, f.size, f.content_type,
                     f.sha256, f.width, f.height, f.thumb_sha256, f.created_at, f.message_id
                 FROM files f JOIN rooms r ON r.id = f.room_id
                 WHERE $1::BIGINT IS NULL OR f.id > $1 ORDER BY f.id LIMIT $2",
                |row| row.try_get("id"),
                |row| {
                    let rec = file_of(row)?;
                    for sha in std::iter::once(rec.sha256).chain(rec.thumb_sha256) {
                        if written.insert(sha) {
                            w.blob(blobs, &sha)?;
                        }
                    }
                    w.record(&BackupRecord::File(Box::new(rec)))
                },
            )?;
        }
        w.finish()
    }
}

/// The first hidden message id of the snapshot (`i64::MAX` when none is).
pub(super) fn hidden_from(s: &Session) -> Result<i64, StoreError> {
    let rows = s.query("SELECT min(from_id) FROM quarantine", Vec::new())?;
    let first: Option<i64> = match rows.first() {
        Some(row) => row.try_get(0)?,
        None => None,
    };
    Ok(first.unwrap_or(i64::MAX))
}

/// Calls `each` for every row of `sql`, a query that takes the key of the
/// last row of the page before (`$1`, NULL at first) and the page's size
/// (`$2`), ordered by that key, which `key` reads from a row.
pub(super) fn each_row(
    s: &Session,
    sql: &'static str,
    key: impl Fn(&Row) -> Result<i64, tokio_postgres::Error>,
    mut each: impl FnMut(&Row) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    let mut after: Option<i64> = None;
    loop {
        let rows = s.query(sql, vec![Box::new(after), Box::new(PAGE)])?;
        for row in &rows {
            each(row)?;
        }
        match rows.last() {
            Some(last) if rows.len() as i64 == PAGE => after = Some(key(last)?),
            _ => return Ok(()),
        }
    }
}

/// The rows `sql` (which takes a room id and returns `user_id` first)
/// returns for `room`, in the order of their users as u64 (the backup's
/// order, and sled's key order).
fn by_user(s: &Session, sql: &'static str, room: RoomId) -> Result<Vec<(UserId, Row)>, StoreError> {
    let rows = s.query(sql, vec![Box::new(db_id(room.0))])?;
    let mut out = rows
        .into_iter()
        .map(|row| Ok((UserId(id_of(row.try_get(0)?)), row)))
        .collect::<Result<Vec<_>, StoreError>>()?;
    out.sort_by_key(|(u, _)| u.0);
    Ok(out)
}

/// Up to [`PAGE`] visible messages of `room` after the id `after`, with
/// their attachments.
pub(super) fn messages_page(
    s: &Session,
    room: RoomId,
    after: i64,
    hidden: i64,
) -> Result<Vec<Message>, StoreError> {
    let params =
        |v: [i64; 4]| -> Vec<Param> { v.into_iter().map(|x| Box::new(x) as Param).collect() };
    let rows = s.query(
        "SELECT room_id, id, user_id, username, body, sent_at, edited_at, mentions
         FROM messages WHERE room_id = $1 AND id > $2 AND id < $3 ORDER BY id LIMIT $4",
        params([db_id(room.0), after, hidden, PAGE]),
    )?;
    let mut page = rows.iter().map(message_of).collect::<Result<Vec<_>, _>>()?;
    let (Some(first), Some(last)) = (page.first(), page.last()) else {
        return Ok(page);
    };
    let files = s.query(
        "SELECT id, room_id, uploader_id, name, size, content_type, sha256, width, height,
             thumb_sha256, created_at, message_id
         FROM files WHERE message_id BETWEEN $2 AND $3 AND room_id = $1
         ORDER BY message_id, created_at, id",
        vec![
            Box::new(db_id(room.0)),
            Box::new(db_id(first.id.0)),
            Box::new(db_id(last.id.0)),
        ],
    )?;
    let mut files = files
        .iter()
        .map(file_of)
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .peekable();
    for m in &mut page {
        while let Some(f) = files.next_if(|f| f.message_id.is_some_and(|id| id <= m.id)) {
            if f.message_id == Some(m.id) {
                m.attachments.push(attachment_of(&f));
            }
        }
    }
    Ok(page)
}

/// The reactions to the messages of `page` (consecutive messages of
/// `room`), in the backup's order: by message, emoji, then user as u64.
fn reactions_of(
    s: &Session,
    room: RoomId,
    page: &[Message],
) -> Result<Vec<ReactionRecord>, StoreError> {
    let (Some(first), Some(last)) = (page.first(), page.last()) else {
        return Ok(Vec::new());
    };
    let rows = s.query(
        "SELECT message_id, emoji, user_id, seq FROM reactions
         WHERE room_id = $1 AND message_id BETWEEN $2 AND $3",
        vec![
            Box::new(db_id(room.0)),
            Box::new(db_id(first.id.0)),
            Box::new(db_id(last.id.0)),
        ],
    )?;
    let mut out = rows
        .iter()
        .map(|row| {
            Ok(ReactionRecord {
                room,
                message: MessageId(id_of(row.try_get("message_id")?)),
                emoji: row.try_get("emoji")?,
                user: UserId(id_of(row.try_get("user_id")?)),
                at: Timestamp(row.try_get("seq")?),
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    out.sort_by(|a, b| (a.message, &a.emoji, a.user.0).cmp(&(b.message, &b.emoji, b.user.0)));
    Ok(out)
}

pub(super) fn file_of(row: &Row) -> Result<FileRecord, StoreError> {
    let sha = |v: &[u8]| -> Result<Sha256, StoreError> {
        let b: [u8; 32] = v
            .try_into()
            .map_err(|_| StoreError::Corrupt("a file's hash is not 32 bytes".into()))?;
        Ok(Sha256(b))
    };
    let dim = |v: Option<i32>| v.and_then(|v| u32::try_from(v).ok());
    let size: i64 = row.try_get("size")?;
    Ok(FileRecord {
        id: FileId(id_of(row.try_get("id")?)),
        room_id: RoomId(id_of(row.try_get("room_id")?)),
        uploader_id: UserId(id_of(row.try_get("uploader_id")?)),
        name: row.try_get("name")?,
        size: u64::try_from(size).unwrap_or(0),
        content_type: row.try_get("content_type")?,
        sha256: sha(row.try_get("sha256")?)?,
        width: dim(row.try_get("width")?),
        height: dim(row.try_get("height")?),
        thumb_sha256: row
            .try_get::<_, Option<&[u8]>>("thumb_sha256")?
            .map(sha)
            .transpose()?,
        created_at: Timestamp(row.try_get("created_at")?),
        message_id: row
            .try_get::<_, Option<i64>>("message_id")?
            .map(|m| MessageId(id_of(m))),
    })
}

/// A file as a message lists it.
pub(super) fn attachment_of(f: &FileRecord) -> Attachment {
    Attachment {
        id: f.id,
        name: f.name.clone(),
        size: f.size,
        content_type: f.content_type.clone(),
        width: f.width,
        height: f.height,
        thumbnail: f.thumb_sha256.is_some(),
    }
}

fn level_of(word: &str) -> Result<NotificationLevel, StoreError> {
    match word {
        "all" => Ok(NotificationLevel::All),
        "mentions" => Ok(NotificationLevel::Mentions),
        "none" => Ok(NotificationLevel::None),
        other => Err(StoreError::Corrupt(format!("notification level {other:?}"))),
    }
}

/// How a level is stored.
pub(super) fn level_word(level: NotificationLevel) -> &'static str {
    match level {
        NotificationLevel::All => "all",
        NotificationLevel::Mentions => "mentions",
        NotificationLevel::None => "none",
    }
}
