//! What the search index reads: messages by id range (to catch up), one
//! message's text (to index a new one), messages as a search answers
//! them, and the edits.
//!
//! Each node keeps its own search index, so the edits are a feed every
//! process reads from its own [`EditCursor`], by the messages' own
//! `edited_at` (unique per edit of a message: see
//! `MessageStore::edit_message`), not marks the first reader would remove
//! for all. Nothing in the database is written by reading, so there is no
//! race between nodes to guard; the cursor is guarded by a mutex within
//! the process.

use std::collections::HashSet;
use std::sync::MutexGuard;

use tokio_postgres::Row;

use super::history::{fill, stored_id};
use super::messages::{message, HIDDEN_FROM, MESSAGE};
use super::{db_count, db_id, id_of, PgStore};
use crate::model::{Message, MessageId, RoomId};
use crate::store::{EditMark, Indexable, SearchFeed, StoreError};

/// The columns an [`Indexable`] is read from, by [`indexable`].
const INDEXABLE: &str = "room_id, id, user_id, body";

impl SearchFeed for PgStore {
    /// One indexed range of `messages_id_key`, bounded by the ids asked.
    /// As in the embedded store, the messages of a room deleted (whose
    /// history is being removed) are left out.
    fn messages_between(&self, lo: u64, hi: u64) -> Result<Vec<Indexable>, StoreError> {
        let Some(lo) = stored_id(lo) else {
            return Ok(Vec::new());
        };
        let hi = stored_id(hi).unwrap_or(i64::MAX);
        if lo > hi {
            return Ok(Vec::new());
        }
        self.run(move |client| async move {
            let sql = format!(
                "SELECT {INDEXABLE} FROM messages m
                 WHERE id BETWEEN $1 AND $2 AND id < {HIDDEN_FROM}
                   AND EXISTS (SELECT 1 FROM rooms r WHERE r.id = m.room_id)
                 ORDER BY id"
            );
            let rows = client.query(&sql, &[&lo, &hi]).await?;
            rows.iter().map(indexable).collect()
        })
    }

    fn indexable(&self, room: RoomId, id: MessageId) -> Result<Option<Indexable>, StoreError> {
        let Some(id) = stored_id(id.0) else {
            return Ok(None);
        };
        self.run(move |client| async move {
            let sql = format!(
                "SELECT {INDEXABLE} FROM messages
                 WHERE room_id = $1 AND id = $2 AND id < {HIDDEN_FROM}"
            );
            let row = client.query_opt(&sql, &[&db_id(room.0), &id]).await?;
            row.as_ref().map(indexable).transpose()
        })
    }

    /// One query for the whole run of keys: the indexer offers a
    /// batch's keys at a time, and a round trip each would bound the
    /// index to a few thousand messages a second.
    fn indexables(&self, keys: &[(RoomId, MessageId)]) -> Result<Vec<Indexable>, StoreError> {
        let Some((rooms, ids)) = asked(keys) else {
            return Ok(Vec::new());
        };
        self.run(move |client| async move {
            let rows = client
                .query(&in_asked_order(INDEXABLE), &[&rooms, &ids])
                .await?;
            rows.iter().map(indexable).collect()
        })
    }

    /// The messages in the order asked (one asked twice comes twice, as
    /// in the embedded store), with their reactions and attachments.
    fn messages_found(&self, wanted: &[(RoomId, MessageId)]) -> Result<Vec<Message>, StoreError> {
        let Some((rooms, ids)) = asked(wanted) else {
            return Ok(Vec::new());
        };
        self.run(move |client| async move {
            let rows = client
                .query(&in_asked_order(MESSAGE), &[&rooms, &ids])
                .await?;
            let mut found: Vec<Message> = rows.iter().map(message).collect::<Result<_, _>>()?;
            fill(&client, &mut found).await?;
            Ok(found)
        })
    }

    /// Up to `limit` messages edited at or after this process's cursor
    /// and not yet handed out at that `edited_at`, oldest edit first: one
    /// scan of `messages_by_edit` from the cursor, bounded by the limit
    /// plus the few keys remembered within the overlap. Each mark's stamp
    /// is the message's `edited_at` as eight big-endian bytes. Messages
    /// deleted, hidden, or in a room deleted are left out, as in
    /// [`SearchFeed::messages_between`].
    fn edited_marks(&self, limit: usize) -> Result<Vec<EditMark>, StoreError> {
        let (since, skip) = {
            let cursor = self.edit_cursor()?;
            (cursor.since, cursor.handed.clone())
        };
        let fetch = db_count(limit.saturating_add(skip.len()));
        let rows = self.run(move |client| async move {
            let sql = format!(
                "SELECT room_id, id, edited_at FROM messages m
                 WHERE edited_at >= $1 AND id < {HIDDEN_FROM}
                   AND EXISTS (SELECT 1 FROM rooms r WHERE r.id = m.room_id)
                 ORDER BY edited_at, id LIMIT $2"
            );
            Ok(client.query(&sql, &[&since, &fetch]).await?)
        })?;
        let mut marks = Vec::with_capacity(limit.min(rows.len()));
        for r in &rows {
            if marks.len() == limit {
                break;
            }
            let key: EditKey = (
                r.try_get("room_id")?,
                r.try_get("id")?,
                r.try_get("edited_at")?,
            );
            if skip.contains(&key) {
                continue;
            }
            marks.push(EditMark {
                room: RoomId(id_of(key.0)),
                id: MessageId(id_of(key.1)),
                stamp: key.2.to_be_bytes().to_vec(),
            });
        }
        Ok(marks)
    }

    /// Remembers the marks as handed out and moves the cursor up to the
    /// newest of them less [`EDIT_OVERLAP_MS`]; no round trip. A mark
    /// whose stamp does not read (not one of ours) is ignored.
    fn forget_edited_marks(&self, done: &[EditMark]) -> Result<(), StoreError> {
        let mut cursor = self.edit_cursor()?;
        let mut newest = None;
        for m in done {
            let (Some(id), Ok(stamp)) = (stored_id(m.id.0), <[u8; 8]>::try_from(&m.stamp[..]))
            else {
                continue;
            };
            let at = i64::from_be_bytes(stamp);
            cursor.handed.insert((db_id(m.room.0), id, at));
            newest = newest.max(Some(at));
        }
        if let Some(newest) = newest {
            let since = cursor.since.max(newest.saturating_sub(EDIT_OVERLAP_MS));
            cursor.since = since;
            cursor.handed.retain(|&(_, _, at)| at >= since);
        }
        Ok(())
    }
}

/// A message's edit as the cursor remembers it: room, id and `edited_at`
/// as stored.
type EditKey = (i64, i64, i64);

/// How far behind the newest edit handed out the cursor stays, in
/// milliseconds. `edited_at` is the editing node's clock, taken before its
/// transaction commits, so an edit may become visible after one with a
/// later `edited_at` has been handed out: its commit is bounded by the
/// store's 15 s `OP_TIMEOUT`, and nodes' clocks (kept by NTP) differ by far
/// less than the rest of a minute. An edit later still than that would be
/// missed by the index until a `reindex`.
const EDIT_OVERLAP_MS: i64 = 60_000;

/// One process's place in the feed of edits: its own, so every node's
/// index takes in every edit once, whichever node read it first. It
/// starts at nothing, so a node's first wakes after it starts re-index
/// every message ever edited once, paged by the limit asked: correct
/// after any downtime, at the cost of that one pass.
#[derive(Default)]
pub(super) struct EditCursor {
    /// The `edited_at` the next read starts from.
    since: i64,
    /// The edits handed out at or after `since`, not to hand out again.
    handed: HashSet<EditKey>,
}

impl PgStore {
    /// The cursor, locked: held only while it is read or moved, never
    /// across a round trip.
    fn edit_cursor(&self) -> Result<MutexGuard<'_, EditCursor>, StoreError> {
        self.inner
            .edit_cursor
            .lock()
            .map_err(|_| StoreError::Postgres("the edit cursor was poisoned".into()))
    }
}

/// An [`Indexable`] read back from the [`INDEXABLE`] columns.
/// The rooms and ids of `keys` as query parameters, leaving out ids no
/// row can have; `None` when none is left.
fn asked(keys: &[(RoomId, MessageId)]) -> Option<(Vec<i64>, Vec<i64>)> {
    let (rooms, ids): (Vec<i64>, Vec<i64>) = keys
        .iter()
        .filter_map(|(room, id)| Some((db_id(room.0), stored_id(id.0)?)))
        .unzip();
    (!ids.is_empty()).then_some((rooms, ids))
}

/// The visible messages of the keys [`asked`] gives (`$1` rooms, `$2`
/// ids), as `columns`, in the order asked.
fn in_asked_order(columns: &str) -> String {
    format!(
        "SELECT {columns} FROM messages
         JOIN unnest($1::BIGINT[], $2::BIGINT[]) WITH ORDINALITY
           AS w(want_room, want_id, place)
           ON room_id = w.want_room AND id = w.want_id
         WHERE id < {HIDDEN_FROM}
         ORDER BY w.place"
    )
}

fn indexable(row: &Row) -> Result<Indexable, StoreError> {
    Ok(Indexable {
        room: RoomId(id_of(row.try_get("room_id")?)),
        id: MessageId(id_of(row.try_get("id")?)),
        author: id_of(row.try_get("user_id")?),
        text: row.try_get("body")?,
    })
}

#[cfg(test)]
#[path = "search_feed_tests.rs"]
mod tests;
