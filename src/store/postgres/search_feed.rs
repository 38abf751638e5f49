//! What the search index reads: messages by id range (to catch up), one
//! message's text (to index a new one), messages as a search answers
//! them, and the marks of edits (`edit_marks`).
//!
//! An edit writes its text and renews its mark in one transaction
//! (`MessageStore::edit_message`), each mark with a new stamp from the
//! sequence `edit_stamps`; the indexer removes a mark only if its stamp is
//! still the one it read, in one `DELETE` whose `WHERE` names the stamp,
//! so a mark an edit renewed meanwhile, on any node, stays.

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
        let (rooms, ids): (Vec<i64>, Vec<i64>) = keys
            .iter()
            .filter_map(|(room, id)| Some((db_id(room.0), stored_id(id.0)?)))
            .unzip();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        self.run(move |client| async move {
            let sql = format!(
                "SELECT {INDEXABLE} FROM messages
                 JOIN unnest($1::BIGINT[], $2::BIGINT[]) WITH ORDINALITY
                   AS w(want_room, want_id, place)
                   ON room_id = w.want_room AND id = w.want_id
                 WHERE id < {HIDDEN_FROM}
                 ORDER BY w.place"
            );
            let rows = client.query(&sql, &[&rooms, &ids]).await?;
            rows.iter().map(indexable).collect()
        })
    }

    /// The messages in the order asked (one asked twice comes twice, as
    /// in the embedded store), with their reactions and attachments.
    fn messages_found(&self, wanted: &[(RoomId, MessageId)]) -> Result<Vec<Message>, StoreError> {
        let (rooms, ids): (Vec<i64>, Vec<i64>) = wanted
            .iter()
            .filter_map(|(room, id)| Some((db_id(room.0), stored_id(id.0)?)))
            .unzip();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        self.run(move |client| async move {
            let sql = format!(
                "SELECT {MESSAGE} FROM messages
                 JOIN unnest($1::BIGINT[], $2::BIGINT[]) WITH ORDINALITY
                   AS w(want_room, want_id, place)
                   ON room_id = w.want_room AND id = w.want_id
                 WHERE id < {HIDDEN_FROM}
                 ORDER BY w.place"
            );
            let rows = client.query(&sql, &[&rooms, &ids]).await?;
            let mut found: Vec<Message> = rows.iter().map(message).collect::<Result<_, _>>()?;
            fill(&client, &mut found).await?;
            Ok(found)
        })
    }

    /// Up to `limit` marks in key order (an index scan, bounded by the
    /// limit); each stamp as its eight big-endian bytes.
    fn edited_marks(&self, limit: usize) -> Result<Vec<EditMark>, StoreError> {
        self.run(move |client| async move {
            let rows = client
                .query(
                    "SELECT room_id, message_id, stamp FROM edit_marks
                     ORDER BY room_id, message_id LIMIT $1",
                    &[&db_count(limit)],
                )
                .await?;
            rows.iter()
                .map(|r| {
                    Ok(EditMark {
                        room: RoomId(id_of(r.try_get("room_id")?)),
                        id: MessageId(id_of(r.try_get("message_id")?)),
                        stamp: r.try_get::<_, i64>("stamp")?.to_be_bytes().to_vec(),
                    })
                })
                .collect()
        })
    }

    /// One `DELETE` of the marks whose stamps are still those read; a mark
    /// whose stamp does not read (not one of ours) is kept.
    fn forget_edited_marks(&self, done: &[EditMark]) -> Result<(), StoreError> {
        let mut rooms = Vec::with_capacity(done.len());
        let mut ids = Vec::with_capacity(done.len());
        let mut stamps = Vec::with_capacity(done.len());
        for m in done {
            let (Some(id), Ok(stamp)) = (stored_id(m.id.0), <[u8; 8]>::try_from(&m.stamp[..]))
            else {
                continue;
            };
            rooms.push(db_id(m.room.0));
            ids.push(id);
            stamps.push(i64::from_be_bytes(stamp));
        }
        if ids.is_empty() {
            return Ok(());
        }
        self.run(move |client| async move {
            client
                .execute(
                    "DELETE FROM edit_marks e
                     USING unnest($1::BIGINT[], $2::BIGINT[], $3::BIGINT[])
                       AS d(room_id, message_id, stamp)
                     WHERE e.room_id = d.room_id AND e.message_id = d.message_id
                       AND e.stamp = d.stamp",
                    &[&rooms, &ids, &stamps],
                )
                .await?;
            Ok(())
        })
    }
}

/// An [`Indexable`] read back from the [`INDEXABLE`] columns.
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
