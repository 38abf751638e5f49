//! Message writes: the `messages` table and the id counter (see the module
//! doc of the store for how ids are taken), written with the keys clients
//! gave the messages (`client_ids`) and the files they attach; edits,
//! which the search index finds by `edited_at`; deletions; and the
//! quarantine, which hides messages whose write failed.

use std::sync::atomic::Ordering;

use deadpool_postgres::GenericClient;
use futures_util::future::try_join_all;
use tokio_postgres::error::SqlState;
use tokio_postgres::Row;

use super::attachments::{attach, claim};
use super::history::{fill, stored_id};
use super::{db_id, id_of, PgStore};
use crate::model::{Attachment, FileId, Message, MessageId, RoomId, Timestamp, UserId};
use crate::store::{Appended, MessageStore, NewMessage, StoreError};

/// The columns a message is read back from, in [`message`]'s terms.
pub(super) const MESSAGE: &str =
    "room_id, id, user_id, username, body, sent_at, edited_at, mentions";

/// The first message id the quarantine hides, as an SQL expression
/// (`2^63 - 1`, past every id, when none is hidden). Every read of
/// messages says `id < {HIDDEN_FROM}`; it is an uncorrelated subquery,
/// run once per statement on the quarantine's primary key. Read from the
/// table each time, not remembered: a batch hidden by one node is hidden
/// on every node at once.
pub(super) const HIDDEN_FROM: &str =
    "(SELECT coalesce(min(from_id), 9223372036854775807) FROM quarantine)";

/// How long a client's key for its message is remembered: a day, as in
/// the embedded store.
const CLIENT_ID_KEEP_MS: i64 = 24 * 60 * 60 * 1000;

impl MessageStore for PgStore {
    /// Gives each message the next id and writes them all, with their
    /// client keys, in one transaction, which takes the ids from
    /// `message_counter`: ids increase in commit order across every node,
    /// with no holes. An exhausted id space (2^63) is an error, never a
    /// wrap. Durable when it returns.
    fn append_batch(&self, new: Vec<NewMessage>) -> Result<Vec<Message>, StoreError> {
        if new.is_empty() {
            return Ok(Vec::new());
        }
        let (stored, next) = self.run(move |mut client| async move {
            let tx = client.transaction().await?;
            let accepted = new.into_iter().map(|m| (m, Vec::new())).collect();
            let out = write_batch(&tx, accepted).await?;
            tx.commit().await?;
            Ok(out)
        })?;
        self.inner.cutoff.fetch_max(id_of(next), Ordering::Relaxed);
        Ok(stored)
    }

    /// One transaction checks and claims the files (see [`claim`] for its
    /// locks), then takes ids from the counter for the accepted messages
    /// only, so a refused message takes no id and the ids stay contiguous;
    /// the files' `message_id` is written with the messages.
    fn append_attaching(
        &self,
        new: Vec<(NewMessage, Vec<FileId>)>,
    ) -> Result<Appended, StoreError> {
        if new.iter().all(|(_, files)| files.is_empty()) {
            let stored = self.append_batch(new.into_iter().map(|(m, _)| m).collect())?;
            return Ok(Appended {
                stored,
                refused: Vec::new(),
            });
        }
        let (out, next) = self.run(move |mut client| async move {
            let tx = client.transaction().await?;
            let verdicts = claim(&tx, &new).await?;
            let mut accepted = Vec::with_capacity(new.len());
            let mut refused = Vec::new();
            for (place, ((m, _), verdict)) in new.into_iter().zip(verdicts).enumerate() {
                match verdict {
                    Ok(attachments) => accepted.push((m, attachments)),
                    Err(why) => refused.push((place, why)),
                }
            }
            let (stored, next) = write_batch(&tx, accepted).await?;
            tx.commit().await?;
            Ok((Appended { stored, refused }, next))
        })?;
        self.inner.cutoff.fetch_max(id_of(next), Ordering::Relaxed);
        Ok(out)
    }

    /// The id the next appended message will get: every message already
    /// committed has a smaller one, and every batch not yet committed gets
    /// this or larger, so it marks a consistent cut of history.
    ///
    /// The signature has no room for an error: when the database does not
    /// answer, the last cutoff this store knew is returned (an older cut,
    /// still consistent) and the failure logged.
    fn message_cutoff(&self) -> MessageId {
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

    /// Nothing to hide: a batch that failed here rolled back whole (its
    /// ids given back with the counter), or, when the connection broke
    /// during the commit, committed whole without being acknowledged,
    /// which a client's resend with its `clientId` finds. Hiding every id
    /// from `first` on, as the embedded store must, would hide every later
    /// message of every node for good after one lost connection. The
    /// store is not failed either: the next batch tries again. Logged for
    /// the operator. (`quarantine` is still honoured by every read: a
    /// restored database may carry hidden ids.)
    fn quarantine_from(&self, first: MessageId, reason: &str) {
        tracing::error!(
            first = first.0,
            reason,
            "a batch of messages was not stored (PostgreSQL rolled it back); its senders were told"
        );
    }

    /// One `UPDATE` of a visible message replaces its text (a message or
    /// a room deleted concurrently stays deleted: the row is gone, or
    /// locked by the deletion until it is). `edited_at` is this node's
    /// clock, but always past the message's previous edit (the row is
    /// locked by the `UPDATE`): each edit of a message gets an `edited_at`
    /// of its own, by which every node's search index tells it from the
    /// one before (see the store's search feed), even when two nodes'
    /// clocks differ or two edits fall in one millisecond.
    fn edit_message(
        &self,
        room: RoomId,
        id: MessageId,
        text: &str,
    ) -> Result<Option<Message>, StoreError> {
        let Some(id) = stored_id(id.0) else {
            return Ok(None);
        };
        let text = text.to_owned();
        let edited_at = Timestamp::now().0;
        self.run(move |mut client| async move {
            let tx = client.transaction().await?;
            let sql = format!(
                "UPDATE messages SET body = $3,
                   edited_at = greatest($4, coalesce(edited_at, 0) + 1)
                 WHERE room_id = $1 AND id = $2 AND id < {HIDDEN_FROM} RETURNING {MESSAGE}"
            );
            let row = tx
                .query_opt(&sql, &[&db_id(room.0), &id, &text, &edited_at])
                .await?;
            let Some(row) = row else {
                return Ok(None);
            };
            let mut edited = [message(&row)?];
            fill(&tx, &mut edited).await?;
            tx.commit().await?;
            let [m] = edited;
            Ok(Some(m))
        })
    }

    /// Deletes a visible message with its reactions in
    /// one transaction that first locks the message's row (`FOR UPDATE`):
    /// a reaction added concurrently locks the same row, so it either
    /// committed before (and is deleted here) or finds the message gone.
    /// The files it attached are left to the sweep, as in the embedded
    /// store. Read counts are computed by query, so nothing is uncounted.
    fn delete_message(&self, room: RoomId, id: MessageId) -> Result<bool, StoreError> {
        let Some(id) = stored_id(id.0) else {
            return Ok(false);
        };
        self.run(move |mut client| async move {
            let tx = client.transaction().await?;
            let room = db_id(room.0);
            let sql = format!(
                "SELECT 1 FROM messages WHERE room_id = $1 AND id = $2 AND id < {HIDDEN_FROM}
                 FOR UPDATE OF messages"
            );
            if tx.query_opt(&sql, &[&room, &id]).await?.is_none() {
                return Ok(false);
            }
            for sql in [
                "DELETE FROM reactions WHERE room_id = $1 AND message_id = $2",
                "DELETE FROM messages WHERE room_id = $1 AND id = $2",
            ] {
                tx.execute(sql, &[&room, &id]).await?;
            }
            tx.commit().await?;
            Ok(true)
        })
    }

    /// The message the key names, if the key is less than a day old and
    /// the message is still there and visible.
    fn sent_with_client_id(
        &self,
        user: UserId,
        client_id: &str,
    ) -> Result<Option<Message>, StoreError> {
        let client_id = client_id.to_owned();
        let since = Timestamp::now().0.saturating_sub(CLIENT_ID_KEEP_MS);
        self.run(move |client| async move {
            let sql = format!(
                "SELECT {MESSAGE} FROM messages
                 WHERE (room_id, id) = (SELECT room_id, message_id FROM client_ids
                                        WHERE user_id = $1 AND client_id = $2
                                          AND stored_at >= $3)
                   AND id < {HIDDEN_FROM}"
            );
            let row = client
                .query_opt(&sql, &[&db_id(user.0), &client_id, &since])
                .await?;
            let mut found: Vec<Message> = row.iter().map(message).collect::<Result<_, _>>()?;
            fill(&client, &mut found).await?;
            Ok(found.pop())
        })
    }

    /// One `DELETE` on the index of keys by age.
    fn forget_old_client_ids(&self) -> Result<usize, StoreError> {
        let before = Timestamp::now().0.saturating_sub(CLIENT_ID_KEEP_MS);
        self.run(move |client| async move {
            let n = client
                .execute("DELETE FROM client_ids WHERE stored_at < $1", &[&before])
                .await?;
            Ok(usize::try_from(n).unwrap_or(usize::MAX))
        })
    }
}

/// Writes `accepted` (messages with the attachments they claimed) in the
/// caller's transaction: takes their ids from the counter (holding its
/// row lock until the commit), inserts them and their client keys, and
/// marks their files attached. Returns them as stored, and the counter's
/// new value.
async fn write_batch(
    tx: &impl GenericClient,
    accepted: Vec<(NewMessage, Vec<Attachment>)>,
) -> Result<(Vec<Message>, i64), StoreError> {
    if accepted.is_empty() {
        return Ok((Vec::new(), 0));
    }
    let n = i64::try_from(accepted.len()).unwrap_or(i64::MAX);
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
            "INSERT INTO messages (room_id, id, user_id, username, body, sent_at, mentions)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .await?;
    let keyed = tx
        .prepare_cached(
            "INSERT INTO client_ids (user_id, client_id, room_id, message_id, stored_at)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (user_id, client_id) DO UPDATE SET room_id = EXCLUDED.room_id,
                 message_id = EXCLUDED.message_id, stored_at = EXCLUDED.stored_at",
        )
        .await?;
    let now = Timestamp::now().0;
    let mut keys = Vec::new();
    let mut messages = Vec::with_capacity(accepted.len());
    for (id, (new, attachments)) in (next - n..).zip(accepted) {
        if let Some(key) = &new.client_id {
            keys.push((new.user_id, key.clone(), new.room_id, id));
        }
        let mut m = new.into_message(MessageId(id_of(id)));
        m.attachments = attachments;
        messages.push(m);
    }
    // Sent together: the client pipelines them on the connection.
    try_join_all(messages.iter().map(|m| {
        let mentions: Vec<i64> = m.mentions.iter().map(|u| db_id(u.0)).collect();
        let insert = &insert;
        async move {
            let params: [&(dyn tokio_postgres::types::ToSql + Sync); 7] = [
                &db_id(m.room_id.0),
                &db_id(m.id.0),
                &db_id(m.user_id.0),
                &m.user,
                &m.message,
                &m.timestamp.0,
                &mentions,
            ];
            tx.execute(insert, &params).await
        }
    }))
    .await?;
    // In batch order: a key sent twice in one batch names the later one.
    for (user, key, room, id) in &keys {
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 5] =
            [&db_id(user.0), key, &db_id(room.0), id, &now];
        tx.execute(&keyed, &params).await?;
    }
    for m in messages.iter().filter(|m| !m.attachments.is_empty()) {
        attach(tx, db_id(m.id.0), &m.attachments).await?;
    }
    Ok((messages, next))
}

/// The counter passing 2^63 is the id space exhausted.
fn exhausted(e: tokio_postgres::Error) -> StoreError {
    if e.code() == Some(&SqlState::NUMERIC_VALUE_OUT_OF_RANGE) {
        return StoreError::Refused("message ids are exhausted".into());
    }
    e.into()
}

/// A message read back from the [`MESSAGE`] columns, without its
/// reactions and attachments (see `history::fill`).
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
