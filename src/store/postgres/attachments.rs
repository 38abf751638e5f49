//! Files attached to messages: the claim of files by the messages of a
//! batch, written in the batch's own transaction (`messages.rs`), and the
//! reading of attachments back with the messages.
//!
//! A file is attached by setting its record's `message_id` (and
//! `attached_place`, its place in the list its sender gave) in the
//! transaction that inserts the message, after [`claim`] checked it under
//! the record's row lock: two messages naming one file, on any nodes,
//! never both get it, and a file the sweep deletes meanwhile is either
//! deleted first (the message is refused) or seen attached by the sweep.
//! The attachments are read from the records (never copied into the
//! message), each message's in its sender's order.

use std::collections::{HashMap, HashSet};

use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::files::size_of;
use super::{db_id, id_of};
use crate::model::{Attachment, FileId, RoomId, UserId};
use crate::store::{AttachRefused, NewMessage, StoreError};

/// The columns an [`Attachment`] is read from, by [`attachment`].
pub(super) const ATTACHMENT: &str =
    "id, name, size, content_type, width, height, thumb_sha256 IS NOT NULL AS thumbnail";

/// Checks and claims, for each message of a batch, the files it attaches,
/// inside the caller's transaction: each file exists, its sender uploaded
/// it to the message's room, and neither an earlier message nor an
/// earlier commit attached it. Returns, in the batch's order, the
/// attachments of each message or why it is refused; the caller writes
/// the accepted ones' `message_id`. The rooms of the messages with files
/// are locked `FOR KEY SHARE` (a deletion of the room waits, or came
/// first and refuses them), and all the files of the batch `FOR UPDATE`,
/// in one statement in id order; another batch that names one of them
/// waits for this commit, then finds it attached.
pub(super) async fn claim(
    tx: &impl GenericClient,
    batch: &[(NewMessage, Vec<FileId>)],
) -> Result<Vec<Result<Vec<Attachment>, AttachRefused>>, StoreError> {
    let with_files = || batch.iter().filter(|(_, files)| !files.is_empty());
    let rooms: Vec<i64> = with_files().map(|(m, _)| db_id(m.room_id.0)).collect();
    let files: Vec<i64> = with_files()
        .flat_map(|(_, files)| files.iter().map(|f| db_id(f.0)))
        .collect();
    let rooms: HashSet<RoomId> = tx
        .query(
            "SELECT id FROM rooms WHERE id = ANY($1) FOR KEY SHARE",
            &[&rooms],
        )
        .await?
        .iter()
        .map(|r| Ok(RoomId(id_of(r.try_get(0)?))))
        .collect::<Result<_, StoreError>>()?;
    let sql = format!(
        "SELECT {ATTACHMENT}, room_id, uploader_id, message_id FROM files
         WHERE id = ANY($1) ORDER BY id FOR UPDATE"
    );
    let mut found: HashMap<FileId, (Attachment, RoomId, UserId, bool)> = HashMap::new();
    for row in tx.query(&sql, &[&files]).await? {
        let a = attachment(&row)?;
        let room = RoomId(id_of(row.try_get("room_id")?));
        let uploader = UserId(id_of(row.try_get("uploader_id")?));
        let attached = row.try_get::<_, Option<i64>>("message_id")?.is_some();
        found.insert(a.id, (a, room, uploader, attached));
    }
    let mut claimed: HashSet<FileId> = HashSet::new();
    let mut out = Vec::with_capacity(batch.len());
    for (m, files) in batch {
        if files.is_empty() {
            out.push(Ok(Vec::new()));
            continue;
        }
        let verdict = if rooms.contains(&m.room_id) {
            check(m, files, &found, &claimed)
        } else {
            Err(AttachRefused("the room was deleted".into()))
        };
        if verdict.is_ok() {
            claimed.extend(files.iter().copied());
        }
        out.push(verdict);
    }
    Ok(out)
}

/// One message's files against their records, as the embedded store
/// checks them (same order, same words).
fn check(
    m: &NewMessage,
    files: &[FileId],
    found: &HashMap<FileId, (Attachment, RoomId, UserId, bool)>,
    claimed: &HashSet<FileId>,
) -> Result<Vec<Attachment>, AttachRefused> {
    let mut mine = HashSet::with_capacity(files.len());
    let mut out = Vec::with_capacity(files.len());
    for id in files {
        let Some((a, room, uploader, attached)) = found.get(id) else {
            return Err(AttachRefused(format!("attachment {id}: no such file")));
        };
        if *uploader != m.user_id {
            return Err(AttachRefused(format!(
                "attachment {id}: not uploaded by you"
            )));
        }
        if *room != m.room_id {
            return Err(AttachRefused(format!(
                "attachment {id}: uploaded to another room"
            )));
        }
        if *attached || claimed.contains(id) || !mine.insert(*id) {
            return Err(AttachRefused(format!(
                "attachment {id}: already attached to another message"
            )));
        }
        out.push(a.clone());
    }
    Ok(out)
}

/// The attachments of the messages `ids`, each message's in the order its
/// sender listed them.
pub(super) async fn attachments_of(
    client: &impl GenericClient,
    ids: &[i64],
) -> Result<HashMap<i64, Vec<Attachment>>, StoreError> {
    let sql = format!(
        "SELECT message_id, {ATTACHMENT} FROM files WHERE message_id = ANY($1)
         ORDER BY message_id, attached_place"
    );
    let mut out: HashMap<i64, Vec<Attachment>> = HashMap::new();
    for row in client.query(&sql, &[&ids]).await? {
        let message: i64 = row.try_get("message_id")?;
        out.entry(message).or_default().push(attachment(&row)?);
    }
    Ok(out)
}

/// Marks the files of `attachments` attached to `message`, each at its
/// place; the caller claimed them ([`claim`]) in this transaction.
pub(super) async fn attach(
    tx: &impl GenericClient,
    message: i64,
    attachments: &[Attachment],
) -> Result<(), StoreError> {
    for (place, a) in attachments.iter().enumerate() {
        let place = i16::try_from(place).unwrap_or(i16::MAX);
        tx.execute(
            "UPDATE files SET message_id = $2, attached_place = $3 WHERE id = $1",
            &[&db_id(a.id.0), &message, &place],
        )
        .await?;
    }
    Ok(())
}

/// An attachment read back from the [`ATTACHMENT`] columns.
pub(super) fn attachment(row: &Row) -> Result<Attachment, StoreError> {
    Ok(Attachment {
        id: FileId(id_of(row.try_get("id")?)),
        name: row.try_get("name")?,
        size: size_of(row.try_get("size")?),
        content_type: row.try_get("content_type")?,
        width: row.try_get::<_, Option<i32>>("width")?.map(|w| w as u32),
        height: row.try_get::<_, Option<i32>>("height")?.map(|h| h as u32),
        thumbnail: row.try_get("thumbnail")?,
    })
}

#[cfg(test)]
#[path = "attachments_tests.rs"]
mod tests;
