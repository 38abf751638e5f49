//! Reactions: the `reactions` table, one row per message, emoji and user.
//!
//! Order, as served: a message's reactions by the earliest row still
//! standing in each, each reaction's users by when they chose it. `seq`
//! (an identity column) is that order; the embedded store orders by a
//! time instead, and breaks its ties by key.
//!
//! # Races
//!
//! A change and an announcement of a message's reactions run in a
//! transaction that first locks the message's row (`SELECT ... FOR
//! UPDATE`), on whichever node:
//!
//! - adders of new emojis count the distinct ones and insert one at a
//!   time, so together they never pass [`MAX_DISTINCT_REACTIONS`];
//! - a message's deletion locks the same row: a reaction added first is
//!   there for the deletion to remove with the message, and one added
//!   after finds no message. A reaction never outlives its message;
//! - announcements of one message read and hand over their reading one at
//!   a time, in the order of their reads (see `held.rs`).
//!
//! A removal needs no lock: one statement removes the row if the message
//! is there, and an announcement read after its commit holds it.

use std::collections::HashMap;

use deadpool_postgres::GenericClient;

use super::held::VISIBLE_BELOW;
use super::{db_id, id_of, PgStore};
use crate::model::{MessageId, Reaction, RoomId, UserId};
use crate::store::{ReactionChange, ReactionStore, StoreError, MAX_DISTINCT_REACTIONS};

/// Locks a visible message's row until the transaction ends; no row when
/// there is no such message (any more).
fn lock_message_sql() -> String {
    format!(
        "SELECT 1 FROM messages WHERE room_id = $1 AND id = $2 AND id < {VISIBLE_BELOW}
         FOR UPDATE"
    )
}

impl ReactionStore for PgStore {
    /// Adds `user`'s reaction `emoji` to a message, in one transaction
    /// under the message's row lock (see the module doc). Durable on
    /// return.
    fn add_reaction(
        &self,
        room: RoomId,
        msg: MessageId,
        emoji: &str,
        user: UserId,
        username: &str,
    ) -> Result<ReactionChange, StoreError> {
        let Ok(msg_id) = i64::try_from(msg.0) else {
            return Ok(ReactionChange::NoMessage);
        };
        let (emoji, username) = (emoji.to_owned(), username.to_owned());
        self.run(move |mut client| async move {
            let tx = client.transaction().await?;
            let room_id = db_id(room.0);
            let lock = lock_message_sql();
            if tx.query_opt(&lock, &[&room_id, &msg_id]).await?.is_none() {
                return Ok(ReactionChange::NoMessage);
            }
            // One row per distinct emoji: at most the limit's worth.
            let known = tx
                .query(
                    "SELECT emoji, bool_or(user_id = $3) FROM reactions
                     WHERE room_id = $1 AND message_id = $2 GROUP BY emoji",
                    &[&room_id, &msg_id, &db_id(user.0)],
                )
                .await?;
            let mut has_emoji = false;
            for row in &known {
                if row.try_get::<_, &str>(0)? == emoji {
                    if row.try_get::<_, bool>(1)? {
                        return Ok(ReactionChange::Unchanged);
                    }
                    has_emoji = true;
                }
            }
            if !has_emoji && known.len() >= MAX_DISTINCT_REACTIONS {
                return Ok(ReactionChange::TooMany);
            }
            tx.execute(
                "INSERT INTO reactions (room_id, message_id, emoji, user_id, username)
                 VALUES ($1, $2, $3, $4, $5)",
                &[&room_id, &msg_id, &emoji, &db_id(user.0), &username],
            )
            .await?;
            tx.commit().await?;
            Ok(ReactionChange::Changed)
        })
    }

    /// Removes `user`'s reaction `emoji` from a message: one statement,
    /// which also tells whether the message is there. Durable on return.
    fn remove_reaction(
        &self,
        room: RoomId,
        msg: MessageId,
        emoji: &str,
        user: UserId,
    ) -> Result<ReactionChange, StoreError> {
        let Ok(msg_id) = i64::try_from(msg.0) else {
            return Ok(ReactionChange::NoMessage);
        };
        let emoji = emoji.to_owned();
        self.run(move |client| async move {
            let sql = format!(
                "WITH m AS (SELECT 1 FROM messages
                            WHERE room_id = $1 AND id = $2 AND id < {VISIBLE_BELOW}),
                 gone AS (DELETE FROM reactions
                          WHERE room_id = $1 AND message_id = $2 AND emoji = $3
                            AND user_id = $4 AND EXISTS (SELECT 1 FROM m)
                          RETURNING 1)
                 SELECT EXISTS (SELECT 1 FROM m), EXISTS (SELECT 1 FROM gone)"
            );
            let row = client
                .query_one(&sql, &[&db_id(room.0), &msg_id, &emoji, &db_id(user.0)])
                .await?;
            Ok(match (row.try_get(0)?, row.try_get(1)?) {
                (false, _) => ReactionChange::NoMessage,
                (true, true) => ReactionChange::Changed,
                (true, false) => ReactionChange::Unchanged,
            })
        })
    }

    /// Reads a message's reactions and hands them to `announce` while the
    /// message's row stays locked (see the module doc), unless the message
    /// is gone. The lock is held until `announce` returns, so readers of
    /// one message, on any node, announce in the order they read.
    fn announce_reactions(
        &self,
        room: RoomId,
        msg: MessageId,
        announce: &mut dyn FnMut(&[Reaction]),
    ) -> Result<(), StoreError> {
        let Ok(msg_id) = i64::try_from(msg.0) else {
            return Ok(());
        };
        let mut hand = |list: &Vec<Reaction>| announce(list);
        self.run_holding(
            move |mut client, handoff| async move {
                let tx = client.transaction().await?;
                let lock = lock_message_sql();
                let found = tx.query_opt(&lock, &[&db_id(room.0), &msg_id]).await?;
                if found.is_none() {
                    return Ok(());
                }
                let mut read = reactions_of(&tx, &[(room, msg)]).await?;
                handoff
                    .hand(read.remove(&(room, msg)).unwrap_or_default())
                    .await;
                tx.commit().await?;
                Ok(())
            },
            &mut hand,
        )?;
        Ok(())
    }
}

/// The reactions to each of `wanted` (messages by room and id), in the
/// order served (see the module doc); a message without any is left out
/// of the map. One indexed query whatever the number of messages: what
/// a page of history or an edited message is filled from. Run it on the
/// transaction or connection the messages were read with, so both come
/// from one moment where that matters.
pub(super) async fn reactions_of(
    client: &impl GenericClient,
    wanted: &[(RoomId, MessageId)],
) -> Result<HashMap<(RoomId, MessageId), Vec<Reaction>>, StoreError> {
    let mut out: HashMap<(RoomId, MessageId), Vec<Reaction>> = HashMap::new();
    // Ids past 2^63 name no stored message.
    // Each once: a message named twice would have its rows read twice.
    let mut pairs: Vec<(i64, i64)> = wanted
        .iter()
        .filter_map(|(r, m)| Some((db_id(r.0), i64::try_from(m.0).ok()?)))
        .collect();
    pairs.sort_unstable();
    pairs.dedup();
    let (rooms, msgs): (Vec<i64>, Vec<i64>) = pairs.into_iter().unzip();
    if rooms.is_empty() {
        return Ok(out);
    }
    let rows = client
        .query(
            "SELECT r.room_id, r.message_id, r.emoji, r.username
             FROM reactions r
             JOIN unnest($1::BIGINT[], $2::BIGINT[]) AS w (room_id, message_id)
               ON r.room_id = w.room_id AND r.message_id = w.message_id
             ORDER BY r.seq",
            &[&rooms, &msgs],
        )
        .await?;
    for row in &rows {
        let key = (
            RoomId(id_of(row.try_get(0)?)),
            MessageId(id_of(row.try_get(1)?)),
        );
        let emoji: &str = row.try_get(2)?;
        let username: String = row.try_get(3)?;
        let list = out.entry(key).or_default();
        // Rows come in `seq` order: an emoji first met starts its group.
        match list.iter_mut().find(|r| r.emoji == emoji) {
            Some(r) => {
                r.count += 1;
                r.users.push(username);
            }
            None => list.push(Reaction {
                emoji: emoji.to_owned(),
                count: 1,
                users: vec![username],
            }),
        }
    }
    Ok(out)
}

#[cfg(test)]
#[path = "reactions_tests.rs"]
mod tests;
