//! Reading a room's history: pages in either direction from a cursor and
//! single messages, each one indexed query on `(room_id, id)`. A page asks
//! for one message more than it returns, to tell whether more lie beyond.
//! Every read leaves out the messages the quarantine hides
//! ([`HIDDEN_FROM`]), and every message served carries its reactions and
//! attachments ([`fill`]), read on the same connection right after it.

use deadpool_postgres::GenericClient;
use futures_util::future::try_join;

use super::attachments::attachments_of;
use super::messages::{message, HIDDEN_FROM, MESSAGE};
use super::reactions::reactions_of;
use super::{db_count, db_id, PgStore};
use crate::model::{Message, MessageId, RoomId};
use crate::store::{HistoryStore, Page, PageAround, StoreError};

/// Which way a page reads from its cursor.
#[derive(Clone, Copy)]
enum Direction {
    /// Ids below the cursor, newest first (handed back oldest first).
    Older,
    /// Ids above the cursor, oldest first.
    Newer,
}

impl HistoryStore for PgStore {
    fn message(&self, room: RoomId, id: MessageId) -> Result<Option<Message>, StoreError> {
        let Some(id) = stored_id(id.0) else {
            return Ok(None);
        };
        self.run(move |client| async move {
            let sql = format!(
                "SELECT {MESSAGE} FROM messages
                 WHERE room_id = $1 AND id = $2 AND id < {HIDDEN_FROM}"
            );
            let row = client.query_opt(&sql, &[&db_id(room.0), &id]).await?;
            let mut found: Vec<Message> = row.iter().map(message).collect::<Result<_, _>>()?;
            fill(&client, &mut found).await?;
            Ok(found.pop())
        })
    }

    fn latest(&self, room: RoomId, limit: usize) -> Result<Page, StoreError> {
        self.page(room, i64::MAX, Direction::Older, limit)
    }

    fn before(&self, room: RoomId, before: MessageId, limit: usize) -> Result<Page, StoreError> {
        // Every stored id is below 2^63: a larger cursor is past them all.
        let cursor = stored_id(before.0).unwrap_or(i64::MAX);
        self.page(room, cursor, Direction::Older, limit)
    }

    fn after(&self, room: RoomId, after: MessageId, limit: usize) -> Result<Page, StoreError> {
        match stored_id(after.0) {
            Some(cursor) => self.page(room, cursor, Direction::Newer, limit),
            None => Ok(Page::default()),
        }
    }

    /// The page of `limit` messages (never fewer than `id` itself) centred
    /// on `id`, filled from the newer side where the older runs short and
    /// the other way round; `None` when `room` holds no message `id`.
    fn around(
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

impl PgStore {
    /// Up to `limit` visible messages of `room` on one side of `cursor`
    /// (which is left out), oldest first, and whether more lie beyond.
    fn page(
        &self,
        room: RoomId,
        cursor: i64,
        direction: Direction,
        limit: usize,
    ) -> Result<Page, StoreError> {
        let (side, order) = match direction {
            Direction::Older => ("<", "DESC"),
            Direction::Newer => (">", "ASC"),
        };
        let wanted = db_count(limit).saturating_add(1);
        self.run(move |client| async move {
            let sql = format!(
                "SELECT {MESSAGE} FROM messages
                 WHERE room_id = $1 AND id {side} $2 AND id < {HIDDEN_FROM}
                 ORDER BY id {order} LIMIT $3"
            );
            let rows = client
                .query(&sql, &[&db_id(room.0), &cursor, &wanted])
                .await?;
            let mut messages: Vec<Message> = rows.iter().map(message).collect::<Result<_, _>>()?;
            let has_more = messages.len() > limit;
            messages.truncate(limit);
            if let Direction::Older = direction {
                messages.reverse();
            }
            fill(&client, &mut messages).await?;
            Ok(Page { messages, has_more })
        })
    }
}

/// Fills in the reactions and attachments of `messages`: two queries
/// for all of them, sent together.
pub(super) async fn fill(
    client: &impl GenericClient,
    messages: &mut [Message],
) -> Result<(), StoreError> {
    if messages.is_empty() {
        return Ok(());
    }
    let keys: Vec<(RoomId, MessageId)> = messages.iter().map(|m| (m.room_id, m.id)).collect();
    let ids: Vec<i64> = keys.iter().map(|(_, id)| db_id(id.0)).collect();
    let (mut reactions, mut attachments) =
        try_join(reactions_of(client, &keys), attachments_of(client, &ids)).await?;
    for m in messages {
        m.reactions = reactions.remove(&(m.room_id, m.id)).unwrap_or_default();
        m.attachments = attachments.remove(&db_id(m.id.0)).unwrap_or_default();
    }
    Ok(())
}

/// A message id as stored, or None when it is past every id the counter
/// can give (2^63 and above).
pub(super) fn stored_id(id: u64) -> Option<i64> {
    i64::try_from(id).ok()
}

#[cfg(test)]
#[path = "history_tests.rs"]
mod tests;
