//! Direct rooms, and who sees a room: the `direct_rooms` table, which
//! maps a set of people to their room.
//!
//! A direct room is a `rooms` row of kind `direct` (private, as in the
//! model) with a `members` row per participant. Its name is the
//! participants' usernames, as the embedded store writes it, but it
//! claims no room name: its `name_folded` is [`direct_name_key`], which
//! no room name can be (room names are trimmed, and it begins with a
//! tab), so a direct room never takes a name from a real room nor answers
//! a lookup by name. A restore writes the same.
//!
//! # Concurrent starts
//!
//! Opening inserts the index entry with `ON CONFLICT DO NOTHING` and, in
//! the same transaction, the room: of two nodes starting one
//! conversation, the second's insert waits for the first's transaction
//! and then finds its entry, which it reads back (a new statement sees
//! the other's commit, room included). Both get the one room.

use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::{db_id, id_of, PgStore};
use crate::model::{Room, RoomId, RoomKind, UserId, DIRECT_NAME_SEPARATOR};
use crate::store::{DirectStore, Participant, StoreError, Viewers};

/// What direct room `room` holds in `rooms.name_folded`, which is unique:
/// a tab, which a (trimmed) room name never begins with, and its id.
pub(super) fn direct_name_key(room: RoomId) -> String {
    format!("\tdirect {room}")
}

/// How many times an open tries again when the entry it met vanished
/// before it could lock it (the room was being deleted).
const OPEN_ATTEMPTS: usize = 3;

/// The columns a direct room is read from, by [`direct_room_of`].
const DIRECT_ROOM: &str = "r.id, r.name, r.description, r.owner_id, r.created_at";

impl DirectStore for PgStore {
    /// The direct room of exactly `people`, created (owned by `creator`)
    /// when it was not there; see the module doc for concurrent starts.
    /// Durable on return.
    fn open_direct_room(
        &self,
        creator: UserId,
        people: &[Participant],
    ) -> Result<(Room, bool), StoreError> {
        let ids: Vec<UserId> = people.iter().map(|p| p.id).collect();
        let key = people_key(&ids);
        let mut names: Vec<&str> = people.iter().map(|p| p.username.as_str()).collect();
        names.sort_by_key(|n| n.to_lowercase());
        let name = names.join(DIRECT_NAME_SEPARATOR);
        let mut room = crate::store::rooms::new_room(&name, "", true, creator)?;
        room.kind = Some(RoomKind::Direct);
        let members: Vec<i64> = ids.iter().map(|u| db_id(u.0)).collect();
        self.run(move |mut client| async move {
            let tx = client.transaction().await?;
            for _ in 0..OPEN_ATTEMPTS {
                let claimed = tx
                    .query_opt(
                        "INSERT INTO direct_rooms (people, room_id) VALUES ($1, $2)
                         ON CONFLICT (people) DO NOTHING RETURNING 1",
                        &[&key, &db_id(room.id.0)],
                    )
                    .await?;
                if claimed.is_none() {
                    let sql = format!(
                        "SELECT d.room_id, {DIRECT_ROOM} FROM direct_rooms d
                         LEFT JOIN rooms r ON r.id = d.room_id
                         WHERE d.people = $1 FOR UPDATE OF d"
                    );
                    let Some(row) = tx.query_opt(&sql, &[&key]).await? else {
                        // Deleted between our insert and this read: again.
                        continue;
                    };
                    if row.try_get::<_, Option<i64>>("id")?.is_some() {
                        let existing = direct_room_of(&row)?;
                        tx.commit().await?;
                        return Ok((existing, false));
                    }
                    // An entry whose room is gone is replaced, not trusted.
                    tx.execute(
                        "UPDATE direct_rooms SET room_id = $2 WHERE people = $1",
                        &[&key, &db_id(room.id.0)],
                    )
                    .await?;
                }
                insert_direct_room(&tx, &room, &members).await?;
                tx.commit().await?;
                return Ok((room, true));
            }
            Err(StoreError::Postgres(
                "the direct room kept vanishing while it was opened".into(),
            ))
        })
    }

    /// The direct room of exactly `people`, in any order, if started.
    fn direct_room(&self, people: &[UserId]) -> Result<Option<Room>, StoreError> {
        let key = people_key(people);
        self.run(move |client| async move {
            let sql = format!(
                "SELECT {DIRECT_ROOM} FROM direct_rooms d JOIN rooms r ON r.id = d.room_id
                 WHERE d.people = $1"
            );
            let row = client.query_opt(&sql, &[&key]).await?;
            row.as_ref().map(direct_room_of).transpose()
        })
    }

    /// Everyone for a public room; otherwise its members in user-id order
    /// (as a u64, so sorted here).
    fn room_viewers(&self, room: &Room) -> Result<Viewers, StoreError> {
        if room.kind() == RoomKind::Public {
            return Ok(Viewers::Everyone);
        }
        let id = room.id;
        let mut members: Vec<UserId> = self.run(move |client| async move {
            let rows = client
                .query(
                    "SELECT user_id FROM members WHERE room_id = $1",
                    &[&db_id(id.0)],
                )
                .await?;
            rows.iter()
                .map(|r| Ok(UserId(id_of(r.try_get(0)?))))
                .collect()
        })?;
        members.sort_unstable();
        Ok(Viewers::Members(members))
    }
}

/// The key of a set of people in `direct_rooms`: their ids sorted as u64,
/// without repeats, in fixed-width hex joined by commas, so that any
/// order of the same people gives the same key.
pub(super) fn people_key(people: &[UserId]) -> String {
    let mut ids: Vec<u64> = people.iter().map(|u| u.0).collect();
    ids.sort_unstable();
    ids.dedup();
    let hex: Vec<String> = ids.iter().map(|id| format!("{id:016x}")).collect();
    hex.join(",")
}

/// Writes a direct room's row and its members' rows.
async fn insert_direct_room(
    client: &impl GenericClient,
    room: &Room,
    members: &[i64],
) -> Result<(), StoreError> {
    client
        .execute(
            "INSERT INTO rooms (id, name, name_folded, description, private, kind,
                 owner_id, created_at)
             VALUES ($1, $2, $3, $4, TRUE, 'direct', $5, $6)",
            &[
                &db_id(room.id.0),
                &room.name,
                &direct_name_key(room.id),
                &room.description,
                &db_id(room.owner_id.0),
                &room.created_at,
            ],
        )
        .await?;
    client
        .execute(
            "INSERT INTO members (room_id, user_id) SELECT $1, unnest($2::BIGINT[])
             ON CONFLICT DO NOTHING",
            &[&db_id(room.id.0), &members],
        )
        .await?;
    Ok(())
}

/// A direct room read from the [`DIRECT_ROOM`] columns.
fn direct_room_of(row: &Row) -> Result<Room, StoreError> {
    Ok(Room {
        id: RoomId(id_of(row.try_get("id")?)),
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        private: true,
        owner_id: UserId(id_of(row.try_get("owner_id")?)),
        created_at: row.try_get("created_at")?,
        kind: Some(RoomKind::Direct),
    })
}

#[cfg(test)]
#[path = "direct_tests.rs"]
mod tests;
