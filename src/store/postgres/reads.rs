//! Read state and notification levels: the `read_marks` and
//! `notification_levels` tables.
//!
//! A mark is the last message a user read in a room. Unread and mention
//! counts are not kept as counters here: they are counted from the
//! messages after the mark, up to [`ReadView::CAP`] each (`LIMIT` in a
//! subquery), so a badge never costs a long history's scan, and a
//! deleted, appended or quarantined message counts as it is now without
//! any bookkeeping. What they count matches the embedded store: unread
//! are the visible messages after the mark that are not the user's own;
//! mentions, those of them whose `mentions` hold the user.
//!
//! # Cost
//!
//! Each count reads the room's messages after the mark in id order, on
//! the primary key, until it has counted [`ReadView::CAP`]: the rows it
//! reads past are the user's own (for both counts) and, for mentions,
//! messages that mention others. The mention count reads an index of the
//! messages that mention anyone (`003_social.sql`), so messages without
//! mentions cost it nothing.
//!
//! # Order of marks and views
//!
//! Setting a mark and handing out a view of one room take the room's
//! advisory lock ([`READ_LOCK_CLASS`], a `pg_advisory_xact_lock` held
//! until commit), on every node: a view is handed to the caller's closure
//! while no mark of the room can change, so views handed out this way
//! come in the order the marks were set.

use deadpool_postgres::GenericClient;

use super::held::{lock_key, VISIBLE_BELOW};
use super::{db_id, id_of, PgStore};
use crate::model::{MessageId, NotificationLevel, ReadView, Room, RoomId, UserId};
use crate::store::{ReadStore, StoreError};

/// The class of the advisory locks under which a room's marks change
/// (the key is the room): "read" in ASCII.
const READ_LOCK_CLASS: i32 = 0x7265_6164;

impl ReadStore for PgStore {
    /// `user`'s read state in `room`: one statement, whose cost follows
    /// at most [`ReadView::CAP`] messages (see the module doc).
    fn read_view(&self, room: RoomId, user: UserId) -> Result<ReadView, StoreError> {
        self.run(move |client| async move { read_view(&client, room, user).await })
    }

    /// Hands `user`'s read state in `room` to `f` in a transaction that
    /// holds the room's lock, the one [`ReadStore::mark_read`] takes on
    /// every node; returns it.
    fn with_read_view(
        &self,
        room: RoomId,
        user: UserId,
        f: &mut dyn FnMut(&ReadView),
    ) -> Result<ReadView, StoreError> {
        let held = self.run_holding(
            move |mut client, handoff| async move {
                let tx = client.transaction().await?;
                lock_room(&tx, room).await?;
                handoff.hand(read_view(&tx, room, user).await?).await;
                tx.commit().await?;
                Ok(())
            },
            f,
        )?;
        held.ok_or_else(|| StoreError::Postgres("the read state was not read".into()))
    }

    /// Moves the mark forward, never back: one upsert whose update only
    /// applies to a smaller mark, under the room's lock. Returns whether
    /// it moved. Durable on return. An id past 2^63 (which names no
    /// message) marks everything read, as 2^63 - 1.
    fn mark_read(&self, room: RoomId, user: UserId, id: MessageId) -> Result<bool, StoreError> {
        let last = i64::try_from(id.0).unwrap_or(i64::MAX);
        self.run(move |mut client| async move {
            let tx = client.transaction().await?;
            lock_room(&tx, room).await?;
            let moved = tx
                .query_opt(
                    "INSERT INTO read_marks (room_id, user_id, last_read_id) VALUES ($1, $2, $3)
                     ON CONFLICT (room_id, user_id) DO UPDATE
                         SET last_read_id = EXCLUDED.last_read_id
                         WHERE read_marks.last_read_id < EXCLUDED.last_read_id
                     RETURNING 1",
                    &[&db_id(room.0), &db_id(user.0), &last],
                )
                .await?
                .is_some();
            tx.commit().await?;
            Ok(moved)
        })
    }

    /// The level chosen, or the room kind's default.
    fn notification_level(
        &self,
        room: &Room,
        user: UserId,
    ) -> Result<NotificationLevel, StoreError> {
        let id = room.id;
        let chosen: Option<String> = self.run(move |client| async move {
            let row = client
                .query_opt(
                    "SELECT level FROM notification_levels WHERE room_id = $1 AND user_id = $2",
                    &[&db_id(id.0), &db_id(user.0)],
                )
                .await?;
            Ok(row.map(|r| r.try_get::<_, String>(0)).transpose()?)
        })?;
        match chosen {
            Some(word) => level(&word),
            None => Ok(NotificationLevel::default_for(room.kind())),
        }
    }

    /// Records the level: one upsert. Durable on return.
    fn set_notification_level(
        &self,
        room: RoomId,
        user: UserId,
        level: NotificationLevel,
    ) -> Result<(), StoreError> {
        self.run(move |client| async move {
            client
                .execute(
                    "INSERT INTO notification_levels (room_id, user_id, level) VALUES ($1, $2, $3)
                     ON CONFLICT (room_id, user_id) DO UPDATE SET level = EXCLUDED.level",
                    &[&db_id(room.0), &db_id(user.0), &level.as_str()],
                )
                .await?;
            Ok(())
        })
    }

    /// The levels chosen in `room`, by user id as a u64 (sorted here: SQL
    /// would order the BIGINT bit patterns as signed numbers).
    fn notification_levels(
        &self,
        room: RoomId,
    ) -> Result<Vec<(UserId, NotificationLevel)>, StoreError> {
        let mut levels: Vec<(UserId, NotificationLevel)> = self.run(move |client| async move {
            let rows = client
                .query(
                    "SELECT user_id, level FROM notification_levels WHERE room_id = $1",
                    &[&db_id(room.0)],
                )
                .await?;
            rows.iter()
                .map(|r| Ok((UserId(id_of(r.try_get(0)?)), level(r.try_get(1)?)?)))
                .collect()
        })?;
        levels.sort_unstable_by_key(|(user, _)| *user);
        Ok(levels)
    }
}

/// Takes `room`'s read lock until the transaction ends.
async fn lock_room(client: &impl GenericClient, room: RoomId) -> Result<(), StoreError> {
    client
        .execute(
            "SELECT pg_advisory_xact_lock($1, $2)",
            &[&READ_LOCK_CLASS, &lock_key(room.0)],
        )
        .await?;
    Ok(())
}

/// `user`'s mark in `room` and the counts after it, in one statement (so
/// from one snapshot). Each count stops at [`ReadView::CAP`].
async fn read_view(
    client: &impl GenericClient,
    room: RoomId,
    user: UserId,
) -> Result<ReadView, StoreError> {
    let sql = format!(
        "SELECT s.last_read_id,
            (SELECT count(*) FROM (
                SELECT 1 FROM messages
                WHERE room_id = $1 AND id > s.after AND id < s.visible_below
                  AND user_id <> $2
                ORDER BY id LIMIT $3) AS u),
            (SELECT count(*) FROM (
                SELECT 1 FROM messages
                WHERE room_id = $1 AND id > s.after AND id < s.visible_below
                  AND cardinality(mentions) > 0 AND user_id <> $2 AND $2 = ANY (mentions)
                ORDER BY id LIMIT $3) AS m)
         FROM (SELECT mark.last_read_id,
                      coalesce(mark.last_read_id, -1) AS after,
                      {VISIBLE_BELOW} AS visible_below
               FROM (SELECT (SELECT last_read_id FROM read_marks
                             WHERE room_id = $1 AND user_id = $2) AS last_read_id) AS mark
              ) AS s"
    );
    let cap = i64::try_from(ReadView::CAP).unwrap_or(i64::MAX);
    let row = client
        .query_one(&sql, &[&db_id(room.0), &db_id(user.0), &cap])
        .await?;
    let count = |i: usize| -> Result<u64, StoreError> {
        let n: i64 = row.try_get(i)?;
        Ok(u64::try_from(n).unwrap_or(0).min(ReadView::CAP))
    };
    Ok(ReadView {
        last_read_id: row
            .try_get::<_, Option<i64>>(0)?
            .map(|id| MessageId(id_of(id))),
        unread: count(1)?,
        mentions: count(2)?,
    })
}

/// A stored level's word.
fn level(word: &str) -> Result<NotificationLevel, StoreError> {
    NotificationLevel::parse(word)
        .ok_or_else(|| StoreError::Corrupt(format!("notification level {word:?}")))
}

#[cfg(test)]
#[path = "reads_tests.rs"]
mod tests;
