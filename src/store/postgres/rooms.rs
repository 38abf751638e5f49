//! Rooms and memberships: the `rooms` and `members` tables.

use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::{db_id, folded, id_of, storable, PgStore};
use crate::model::{Room, RoomId, RoomKind, UserId};
use crate::store::{RoomEdit, RoomStore, StoreError};

/// The class of the advisory locks that serialise one owner's room
/// creations (the key is the owner).
const QUOTA_LOCK_CLASS: i32 = 0x726f_6f6d;

/// Messages a room's deletion removes per statement, so that a long
/// history never meets the statement timeout.
const DELETE_BATCH: i64 = 4096;

/// The columns a [`Room`] is read from, by [`room`]; `kind` is NULL for
/// a room whose kind follows from its `private` flag.
const ROOM: &str = "id, name, description, private, kind, owner_id, created_at";

impl RoomStore for PgStore {
    /// Creates a room owned by `owner`, who becomes its first member, in
    /// one transaction. The folded name is unique in the table, across
    /// private rooms too.
    fn create_room(
        &self,
        name: &str,
        description: &str,
        private: bool,
        owner: UserId,
    ) -> Result<Room, StoreError> {
        self.create_room_within(name, description, private, owner, None)
    }

    /// [`PgStore::create_room`] with a limit: `StoreError::RoomQuota` when
    /// `owner` owns `quota` rooms already (direct rooms and rooms the owner
    /// has left do not count). One transaction counts and creates, under
    /// an advisory lock of the owner's, so that creations on all nodes at
    /// once still stop at the quota.
    fn create_room_within(
        &self,
        name: &str,
        description: &str,
        private: bool,
        owner: UserId,
        quota: Option<usize>,
    ) -> Result<Room, StoreError> {
        let room = crate::store::rooms::new_room(name, description, private, owner)?;
        let new = room.clone();
        self.run(move |mut client| async move {
            let tx = client.transaction().await?;
            if let Some(quota) = quota {
                tx.execute(
                    "SELECT pg_advisory_xact_lock($1, $2)",
                    &[&QUOTA_LOCK_CLASS, &lock_key(owner)],
                )
                .await?;
                let owned: i64 = tx
                    .query_one(
                        "SELECT count(*) FROM rooms r
                         JOIN members m ON m.room_id = r.id AND m.user_id = r.owner_id
                         WHERE r.owner_id = $1 AND r.kind IS DISTINCT FROM 'direct'",
                        &[&db_id(owner.0)],
                    )
                    .await?
                    .try_get(0)?;
                if usize::try_from(owned).unwrap_or(usize::MAX) >= quota {
                    return Err(StoreError::RoomQuota);
                }
            }
            insert_room(&tx, &new).await?;
            tx.commit().await?;
            Ok(())
        })?;
        Ok(room)
    }

    /// A room by id.
    fn room(&self, id: RoomId) -> Result<Option<Room>, StoreError> {
        self.run(move |client| async move {
            let sql = format!("SELECT {ROOM} FROM rooms WHERE id = $1");
            let row = client.query_opt(&sql, &[&db_id(id.0)]).await?;
            row.as_ref().map(room).transpose()
        })
    }

    /// A room by name, without regard to case.
    fn room_by_name(&self, name: &str) -> Result<Option<Room>, StoreError> {
        if !storable(name) {
            return Ok(None);
        }
        let name = folded(name);
        self.run(move |client| async move {
            let sql = format!("SELECT {ROOM} FROM rooms WHERE name_folded = $1");
            let row = client.query_opt(&sql, &[&name]).await?;
            row.as_ref().map(room).transpose()
        })
    }

    /// Every room, sorted by name (case-insensitive), then id.
    fn all_rooms(&self) -> Result<Vec<Room>, StoreError> {
        self.rooms_where("TRUE", None)
    }

    /// Every public room and every private or direct room `user` belongs
    /// to, sorted by name (case-insensitive), then id.
    fn visible_rooms(&self, user: UserId) -> Result<Vec<Room>, StoreError> {
        self.rooms_where(
            "NOT private OR EXISTS
                (SELECT 1 FROM members m WHERE m.room_id = rooms.id AND m.user_id = $1)",
            Some(user),
        )
    }

    /// Whether `user` is a member of `room`.
    fn is_member(&self, room: RoomId, user: UserId) -> Result<bool, StoreError> {
        self.membership(
            "SELECT 1 FROM members WHERE room_id = $1 AND user_id = $2",
            room,
            user,
        )
    }

    /// Adds a member; adding an existing member changes nothing. Returns
    /// whether `user` was not a member before.
    fn add_member(&self, room: RoomId, user: UserId) -> Result<bool, StoreError> {
        self.membership(
            "INSERT INTO members (room_id, user_id) VALUES ($1, $2)
             ON CONFLICT DO NOTHING RETURNING 1",
            room,
            user,
        )
    }

    /// Removes a member. Returns whether it was one.
    fn remove_member(&self, room: RoomId, user: UserId) -> Result<bool, StoreError> {
        self.membership(
            "DELETE FROM members WHERE room_id = $1 AND user_id = $2 RETURNING 1",
            room,
            user,
        )
    }

    /// Deletes a room with its memberships, its whole history and what
    /// hangs on it. Returns whether it existed. The room, its memberships
    /// and its entry among direct rooms go in one transaction (its name is
    /// free from then on); its history after it, in batches, so that a
    /// long one never meets the statement timeout; then the reactions,
    /// read marks, levels and edit marks. Reactions go after the messages:
    /// a reaction is added under its message's row lock, so one added
    /// while the room went is either deleted here or finds no message.
    fn delete_room(&self, id: RoomId) -> Result<bool, StoreError> {
        let existed = self.run(move |mut client| async move {
            let tx = client.transaction().await?;
            let room = db_id(id.0);
            let gone = tx
                .query_opt("DELETE FROM rooms WHERE id = $1 RETURNING kind", &[&room])
                .await?;
            if gone.is_none() {
                return Ok(false);
            }
            tx.execute("DELETE FROM members WHERE room_id = $1", &[&room])
                .await?;
            tx.execute("DELETE FROM direct_rooms WHERE room_id = $1", &[&room])
                .await?;
            tx.commit().await?;
            Ok(true)
        })?;
        if !existed {
            return Ok(false);
        }
        while self.delete_some_messages(id)? > 0 {}
        self.run(move |client| async move {
            let room = db_id(id.0);
            for table in ["reactions", "read_marks", "notification_levels"] {
                let sql = format!("DELETE FROM {table} WHERE room_id = $1");
                client.execute(&sql, &[&room]).await?;
            }
            Ok(())
        })?;
        Ok(true)
    }

    /// The members of a room, in user-id order.
    fn members(&self, room: RoomId) -> Result<Vec<UserId>, StoreError> {
        let mut members: Vec<UserId> = self.run(move |client| async move {
            let rows = client
                .query(
                    "SELECT user_id FROM members WHERE room_id = $1",
                    &[&db_id(room.0)],
                )
                .await?;
            rows.iter()
                .map(|r| Ok(UserId(id_of(r.try_get(0)?))))
                .collect()
        })?;
        members.sort_unstable();
        Ok(members)
    }

    /// Applies `edit` in one transaction that locks the room's row: the
    /// new name is claimed by the unique folded name (a rename racing to
    /// the same name on another node gets `RoomNameTaken`), the old one
    /// freed by the same update.
    fn edit_room(&self, id: RoomId, edit: &RoomEdit) -> Result<(Room, bool), StoreError> {
        let edit = edit.clone();
        self.run(move |mut client| async move {
            let tx = client.transaction().await?;
            let sql = format!("SELECT {ROOM} FROM rooms WHERE id = $1 FOR UPDATE");
            let row = tx.query_opt(&sql, &[&db_id(id.0)]).await?;
            let before = row
                .as_ref()
                .map(room)
                .transpose()?
                .ok_or(StoreError::NotFound)?;
            let mut after = before.clone();
            if let Some(name) = &edit.name {
                after.name.clone_from(name);
            }
            if let Some(description) = &edit.description {
                after.description.clone_from(description);
            }
            let changed = after != before;
            if changed {
                tx.execute(
                    "UPDATE rooms SET name = $2, name_folded = $3, description = $4
                     WHERE id = $1",
                    &[
                        &db_id(id.0),
                        &after.name,
                        &folded(&after.name),
                        &after.description,
                    ],
                )
                .await?;
            }
            tx.commit().await?;
            Ok((after, changed))
        })
    }
}

impl PgStore {
    /// The rooms `filter` admits (`$1` is `user`, when given), in the order
    /// of every room list: by folded name, then by id as a u64 (which SQL
    /// cannot order: see the schema).
    fn rooms_where(
        &self,
        filter: &'static str,
        user: Option<UserId>,
    ) -> Result<Vec<Room>, StoreError> {
        let mut rooms: Vec<Room> = self.run(move |client| async move {
            let sql = format!("SELECT {ROOM} FROM rooms WHERE {filter}");
            let rows = match user {
                Some(user) => client.query(&sql, &[&db_id(user.0)]).await?,
                None => client.query(&sql, &[]).await?,
            };
            rows.iter().map(room).collect()
        })?;
        rooms.sort_by_cached_key(|r| (folded(&r.name), r.id));
        Ok(rooms)
    }

    /// Whether `sql`, given a room and a user, returned a row.
    fn membership(
        &self,
        sql: &'static str,
        room: RoomId,
        user: UserId,
    ) -> Result<bool, StoreError> {
        self.run(move |client| async move {
            let row = client
                .query_opt(sql, &[&db_id(room.0), &db_id(user.0)])
                .await?;
            Ok(row.is_some())
        })
    }

    /// Deletes up to [`DELETE_BATCH`] messages of a room; returns how many.
    fn delete_some_messages(&self, id: RoomId) -> Result<u64, StoreError> {
        self.run(move |client| async move {
            let n = client
                .execute(
                    "DELETE FROM messages WHERE room_id = $1 AND id IN
                        (SELECT id FROM messages WHERE room_id = $1 LIMIT $2)",
                    &[&db_id(id.0), &DELETE_BATCH],
                )
                .await?;
            Ok(n)
        })
    }
}

/// Writes a new room and its owner's membership; a name taken is
/// `RoomNameTaken`.
async fn insert_room(client: &impl GenericClient, room: &Room) -> Result<(), StoreError> {
    client
        .execute(
            "INSERT INTO rooms (id, name, name_folded, description, private, kind,
                 owner_id, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            &[
                &db_id(room.id.0),
                &room.name,
                &folded(&room.name),
                &room.description,
                &room.private,
                &room.kind.map(kind_word),
                &db_id(room.owner_id.0),
                &room.created_at,
            ],
        )
        .await?;
    client
        .execute(
            "INSERT INTO members (room_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            &[&db_id(room.id.0), &db_id(room.owner_id.0)],
        )
        .await?;
    Ok(())
}

/// The key of an owner's quota lock: the id's two halves folded into the
/// lock's 32 bits (owners that share a key merely wait for each other).
fn lock_key(owner: UserId) -> i32 {
    ((owner.0 >> 32) ^ owner.0) as u32 as i32
}

fn kind_word(kind: RoomKind) -> &'static str {
    match kind {
        RoomKind::Public => "public",
        RoomKind::Private => "private",
        RoomKind::Direct => "direct",
    }
}

pub(super) fn room(row: &Row) -> Result<Room, StoreError> {
    let kind = match row.try_get::<_, Option<&str>>("kind")? {
        None => None,
        Some("public") => Some(RoomKind::Public),
        Some("private") => Some(RoomKind::Private),
        Some("direct") => Some(RoomKind::Direct),
        Some(other) => return Err(StoreError::Corrupt(format!("room kind {other:?}"))),
    };
    Ok(Room {
        id: RoomId(id_of(row.try_get("id")?)),
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        private: row.try_get("private")?,
        owner_id: UserId(id_of(row.try_get("owner_id")?)),
        created_at: row.try_get("created_at")?,
        kind,
    })
}

#[cfg(test)]
#[path = "rooms_tests.rs"]
mod tests;
