//! Reading a room's history: pages in either direction from a cursor and
//! single messages, each one indexed query on `(room_id, id)`. A page asks
//! for one message more than it returns, to tell whether more lie beyond.

use super::messages::{message, MESSAGE};
use super::{db_count, db_id, PgStore};
use crate::model::{Message, MessageId, RoomId};
use crate::store::{Page, PageAround, StoreError};

/// Which way a page reads from its cursor.
#[derive(Clone, Copy)]
enum Direction {
    /// Ids below the cursor, newest first (handed back oldest first).
    Older,
    /// Ids above the cursor, oldest first.
    Newer,
}

impl PgStore {
    /// One message of a room.
    pub fn message(&self, room: RoomId, id: MessageId) -> Result<Option<Message>, StoreError> {
        // Not yet: a quarantined message reads as none (hidden).
        let Some(id) = stored_id(id.0) else {
            return Ok(None);
        };
        self.run(move |client| async move {
            let sql = format!("SELECT {MESSAGE} FROM messages WHERE room_id = $1 AND id = $2");
            let row = client.query_opt(&sql, &[&db_id(room.0), &id]).await?;
            row.as_ref().map(message).transpose()
        })
    }

    /// The newest `limit` messages of a room.
    pub fn latest(&self, room: RoomId, limit: usize) -> Result<Page, StoreError> {
        self.page(room, i64::MAX, Direction::Older, limit)
    }

    /// The `limit` messages just older than `before`.
    pub fn before(
        &self,
        room: RoomId,
        before: MessageId,
        limit: usize,
    ) -> Result<Page, StoreError> {
        // Every stored id is below 2^63: a larger cursor is past them all.
        let cursor = stored_id(before.0).unwrap_or(i64::MAX);
        self.page(room, cursor, Direction::Older, limit)
    }

    /// The `limit` messages just newer than `after`.
    pub fn after(&self, room: RoomId, after: MessageId, limit: usize) -> Result<Page, StoreError> {
        match stored_id(after.0) {
            Some(cursor) => self.page(room, cursor, Direction::Newer, limit),
            None => Ok(Page::default()),
        }
    }

    /// Up to `limit` messages of `room` on one side of `cursor` (which is
    /// left out), oldest first, and whether more lie beyond them.
    fn page(
        &self,
        room: RoomId,
        cursor: i64,
        direction: Direction,
        limit: usize,
    ) -> Result<Page, StoreError> {
        // Not yet: quarantined messages are left out (visible_range), and
        // each message carries its reactions (with_reactions).
        let (side, order) = match direction {
            Direction::Older => ("<", "DESC"),
            Direction::Newer => (">", "ASC"),
        };
        let wanted = db_count(limit).saturating_add(1);
        let mut messages: Vec<Message> = self.run(move |client| async move {
            let sql = format!(
                "SELECT {MESSAGE} FROM messages WHERE room_id = $1 AND id {side} $2
                 ORDER BY id {order} LIMIT $3"
            );
            let rows = client
                .query(&sql, &[&db_id(room.0), &cursor, &wanted])
                .await?;
            rows.iter().map(message).collect()
        })?;
        let has_more = messages.len() > limit;
        messages.truncate(limit);
        if let Direction::Older = direction {
            messages.reverse();
        }
        Ok(Page { messages, has_more })
    }

    /// The page of `limit` messages (never fewer than `id` itself) centred
    /// on `id`, filled from the newer side where the older runs short and
    /// the other way round; `None` when `room` holds no message `id`.
    pub fn around(
        &self,
        room: RoomId,
        id: MessageId,
        limit: usize,
    ) -> Result<Option<PageAround>, StoreError> {
        let room_left = limit.saturating_sub(1);
        let Some(centre) = self.message(room, id)? else {
            return Ok(None);
        };
        let (older, newer) = (
            self.before(room, id, room_left)?,
            self.after(room, id, room_left)?,
        );
        // The older side keeps up to half of the room left; the newer side
        // takes what that leaves, and the older side what the newer left.
        let older_half = older.messages.len().min(room_left / 2);
        let newer_kept = newer.messages.len().min(room_left - older_half);
        let older_kept = older.messages.len().min(room_left - newer_kept);
        let older_cut = older.messages.len() - older_kept;
        let has_more_before = older.has_more || older_cut > 0;
        let has_more_after = newer.has_more || newer_kept < newer.messages.len();
        let mut messages: Vec<Message> = older.messages.into_iter().skip(older_cut).collect();
        messages.push(centre);
        messages.extend(newer.messages.into_iter().take(newer_kept));
        Ok(Some(PageAround {
            messages,
            has_more_before,
            has_more_after,
        }))
    }
}

/// A message id as stored, or None when it is past every id the counter
/// can give (2^63 and above).
fn stored_id(id: u64) -> Option<i64> {
    i64::try_from(id).ok()
}

#[cfg(test)]
#[path = "history_tests.rs"]
mod tests;
