//! Message history's writes: the `messages` table and the id counter
//! (see the module doc of the store for how ids are taken).

use std::sync::atomic::Ordering;

use futures_util::future::try_join_all;
use tokio_postgres::error::SqlState;
use tokio_postgres::Row;

use super::{db_id, id_of, PgStore};
use crate::model::{Message, MessageId, RoomId, Timestamp, UserId};
use crate::store::{NewMessage, StoreError};

/// The columns a message is read back from, in [`message`]'s terms.
pub(super) const MESSAGE: &str =
    "room_id, id, user_id, username, body, sent_at, edited_at, mentions";

impl PgStore {
    /// Gives each message the next id and writes them all in one
    /// transaction, which takes the ids from `message_counter`: ids
    /// increase in commit order across every node, with no holes. An
    /// exhausted id space (2^63) is an error, never a wrap.
    pub fn append_batch<I>(&self, new: I) -> Result<Vec<Message>, StoreError>
    where
        I: IntoIterator<Item = NewMessage>,
        I::IntoIter: ExactSizeIterator,
    {
        let new: Vec<NewMessage> = new.into_iter().collect();
        if new.is_empty() {
            return Ok(Vec::new());
        }
        // Not yet: each message's client id (client_ids) and the read
        // counters of its room (count_appended).
        let out = self.run(move |mut client| async move {
            let tx = client.transaction().await?;
            let n = i64::try_from(new.len()).unwrap_or(i64::MAX);
            let next: i64 = tx
                .query_one(
                    "UPDATE message_counter SET next = next + $1 RETURNING next",
                    &[&n],
                )
                .await
                .map_err(exhausted)?
                .try_get(0)?;
            let insert = tx
                .prepare_cached(
                    "INSERT INTO messages (room_id, id, user_id, username, body, sent_at,
                         mentions)
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .await?;
            let messages: Vec<Message> = (next - n..)
                .zip(new)
                .map(|(id, m)| m.into_message(MessageId(id_of(id))))
                .collect();
            // Sent together: the client pipelines them on the connection.
            try_join_all(messages.iter().map(|m| {
                let mentions: Vec<i64> = m.mentions.iter().map(|u| db_id(u.0)).collect();
                let insert = &insert;
                let tx = &tx;
                async move {
                    tx.execute(
                        insert,
                        &[
                            &db_id(m.room_id.0),
                            &db_id(m.id.0),
                            &db_id(m.user_id.0),
                            &m.user,
                            &m.message,
                            &m.timestamp.0,
                            &mentions,
                        ],
                    )
                    .await
                }
            }))
            .await?;
            tx.commit().await?;
            Ok((messages, next))
        })?;
        let (messages, next) = out;
        self.inner.cutoff.fetch_max(id_of(next), Ordering::Relaxed);
        Ok(messages)
    }

    /// The id the next appended message will get: every message already
    /// committed has a smaller one, and every batch not yet committed gets
    /// this or larger, so it marks a consistent cut of history.
    ///
    /// The signature has no room for an error: when the database does not
    /// answer, the last cutoff this store knew is returned (an older cut,
    /// still consistent) and the failure logged.
    pub fn message_cutoff(&self) -> MessageId {
        let read = self.run(|client| async move {
            let row = client
                .query_one("SELECT next FROM message_counter", &[])
                .await?;
            Ok(id_of(row.try_get(0)?))
        });
        let cutoff = &self.inner.cutoff;
        match read {
            Ok(next) => MessageId(cutoff.fetch_max(next, Ordering::Relaxed).max(next)),
            Err(e) => {
                tracing::warn!("message cutoff: {e}; using the last one known");
                MessageId(cutoff.load(Ordering::Relaxed))
            }
        }
    }

    /// Replaces a message's text, marking it edited. Returns the new
    /// message, or None when there is none (any more). One `UPDATE`: a
    /// message (or a room) deleted concurrently stays deleted.
    pub fn edit_message(
        &self,
        room: RoomId,
        id: MessageId,
        text: &str,
    ) -> Result<Option<Message>, StoreError> {
        // Not yet: a quarantined message is not edited (hidden), and the
        // search index learns of the edit (mark_edited).
        let text = text.to_owned();
        let edited_at = Timestamp::now().0;
        let edited = self.run(move |client| async move {
            let sql = format!(
                "UPDATE messages SET body = $3, edited_at = $4
                 WHERE room_id = $1 AND id = $2 RETURNING {MESSAGE}"
            );
            let row = client
                .query_opt(&sql, &[&db_id(room.0), &db_id(id.0), &text, &edited_at])
                .await?;
            row.as_ref().map(message).transpose()
        })?;
        // Not yet: the message's reactions (fill_reactions).
        Ok(edited)
    }
}

/// The counter passing 2^63 is the id space exhausted.
fn exhausted(e: tokio_postgres::Error) -> StoreError {
    if e.code() == Some(&SqlState::NUMERIC_VALUE_OUT_OF_RANGE) {
        return StoreError::Refused("message ids are exhausted".into());
    }
    e.into()
}

/// A message read back from the [`MESSAGE`] columns. Reactions and
/// attachments are not stored here yet: both come back empty.
pub(super) fn message(row: &Row) -> Result<Message, StoreError> {
    let mentions: Vec<i64> = row.try_get("mentions")?;
    Ok(Message {
        id: MessageId(id_of(row.try_get("id")?)),
        room_id: RoomId(id_of(row.try_get("room_id")?)),
        user: row.try_get("username")?,
        user_id: UserId(id_of(row.try_get("user_id")?)),
        message: row.try_get("body")?,
        timestamp: Timestamp(row.try_get("sent_at")?),
        edited_at: row.try_get::<_, Option<i64>>("edited_at")?.map(Timestamp),
        reactions: Vec::new(),
        mentions: mentions.into_iter().map(|u| UserId(id_of(u))).collect(),
        attachments: Vec::new(),
    })
}

#[cfg(test)]
#[path = "messages_tests.rs"]
mod tests;
