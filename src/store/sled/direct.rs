//! Direct rooms, and who sees a room.
//!
//! A direct room is the conversation of one fixed set of people. The
//! `direct_rooms` tree maps the set ([`keys::direct`]) to its room, and the
//! lookup and the creation happen in one transaction with the room and its
//! memberships, so that however many people start the same conversation at
//! once, in whatever order they name each other, there is one room.

use sled::transaction::{ConflictableTransactionError, TransactionalTree};
use sled::Transactional;

use super::{from_json, keys, random_id, to_json, SledStore, StoreError};
use crate::model::{Room, RoomId, RoomKind, Timestamp, UserId, DIRECT_NAME_SEPARATOR};
use crate::store::prelude::*;
use crate::store::{DirectStore, Participant, Viewers};

type Trees = (
    TransactionalTree,
    TransactionalTree,
    TransactionalTree,
    TransactionalTree,
);

impl DirectStore for SledStore {
    /// The direct room of exactly `people` (the caller among them), and
    /// whether this call created it (then `creator` owns it). Not yet
    /// durable: the caller flushes (`App::change`).
    fn open_direct_room(
        &self,
        creator: UserId,
        people: &[Participant],
    ) -> Result<(Room, bool), StoreError> {
        let t = &self.inner;
        let ids: Vec<UserId> = people.iter().map(|p| p.id).collect();
        let key = keys::direct(&ids);
        let mut names: Vec<&str> = people.iter().map(|p| p.username.as_str()).collect();
        names.sort_by_key(|n| n.to_lowercase());
        let room = Room {
            id: RoomId(random_id()?),
            name: names.join(DIRECT_NAME_SEPARATOR),
            description: String::new(),
            private: true,
            owner_id: creator,
            created_at: Timestamp::now().0,
            kind: Some(RoomKind::Direct),
        };
        let value = to_json(&room)?;
        let res = (&t.direct_rooms, &t.rooms, &t.members, &t.user_rooms).transaction(
            |(index, rooms, members, user_rooms): &Trees| {
                if let Some(id) = index.get(&key)? {
                    // An entry whose room is gone (never left behind by
                    // this code) is replaced rather than trusted.
                    if let Some(existing) = rooms.get(id)? {
                        let existing = from_json::<Room>(&existing)
                            .map_err(ConflictableTransactionError::Abort)?;
                        return Ok((existing, false));
                    }
                }
                index.insert(key.as_slice(), &keys::id(room.id.0))?;
                rooms.insert(&keys::id(room.id.0), value.as_slice())?;
                for user in &ids {
                    members.insert(&keys::member(room.id, *user), &[])?;
                    user_rooms.insert(&keys::user_room(*user, room.id), &[])?;
                }
                Ok((room.clone(), true))
            },
        );
        match res {
            Ok(out) => Ok(out),
            Err(sled::transaction::TransactionError::Abort(e)) => Err(e),
            Err(sled::transaction::TransactionError::Storage(e)) => Err(e.into()),
        }
    }

    fn direct_room(&self, people: &[UserId]) -> Result<Option<Room>, StoreError> {
        match self.inner.direct_rooms.get(keys::direct(people))? {
            Some(id) => {
                let id = keys::read_u64(&id)
                    .ok_or_else(|| StoreError::Corrupt("direct room index".into()))?;
                self.room(RoomId(id))
            }
            None => Ok(None),
        }
    }

    fn room_viewers(&self, room: &Room) -> Result<Viewers, StoreError> {
        if room.kind() == RoomKind::Public {
            return Ok(Viewers::Everyone);
        }
        Ok(Viewers::Members(self.members(room.id)?))
    }
}

impl SledStore {
    /// Writes the index entry of every direct room from its memberships:
    /// a restore writes rooms and memberships, and the index follows
    /// from them.
    pub(super) fn rebuild_direct_index(&self) -> Result<(), StoreError> {
        for kv in self.inner.rooms.iter() {
            let (k, v) = kv?;
            if !from_json::<Room>(&v)?.is_direct() {
                continue;
            }
            let id = keys::read_u64(&k).ok_or_else(|| StoreError::Corrupt("room key".into()))?;
            let members = self.members(RoomId(id))?;
            self.inner
                .direct_rooms
                .insert(keys::direct(&members), &keys::id(id))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Role;
    use crate::store::prelude::*;
    use crate::store::testing::temp_sled;

    fn people(store: &SledStore, names: &[&str]) -> Vec<Participant> {
        names
            .iter()
            .map(|n| Participant {
                id: store.create_user(n, "h", Role::User).expect("user").id,
                username: (*n).to_owned(),
            })
            .collect()
    }

    #[test]
    fn one_set_of_people_has_one_room_whoever_starts_it() {
        let (store, _dir) = temp_sled();
        let mut set = people(&store, &["carol", "Alice", "bob"]);
        let (room, created) = store.open_direct_room(set[0].id, &set).expect("open");
        assert!(created);
        assert_eq!(room.name, "Alice, bob, carol");
        assert_eq!(room.kind(), RoomKind::Direct);
        set.reverse();
        let (again, created) = store.open_direct_room(set[0].id, &set).expect("again");
        assert!(!created);
        assert_eq!(again, room);
        let ids: Vec<UserId> = set.iter().map(|p| p.id).collect();
        assert_eq!(store.direct_room(&ids).expect("lookup"), Some(room.clone()));
        assert_eq!(
            store.room_viewers(&room).expect("viewers"),
            Viewers::Members(store.members(room.id).expect("members"))
        );
        // A direct room takes no room name and is not a room its creator owns.
        assert!(store.room_by_name(&room.name).expect("by name").is_none());
        assert_eq!(store.owned_rooms(set[2].id).expect("owned"), 0);
        // A subset is another conversation.
        let (pair, created) = store.open_direct_room(set[0].id, &set[..2]).expect("pair");
        assert!(created && pair.id != room.id);
        // Deleting it frees the set.
        assert!(store.delete_room(room.id).expect("delete"));
        assert_eq!(store.direct_room(&ids).expect("lookup"), None);
    }

    #[test]
    fn concurrent_starts_of_one_conversation_give_one_room() {
        let (store, _dir) = temp_sled();
        let set = people(&store, &["ann", "ben", "cat"]);
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let (s, mut set) = (store.clone(), set.clone());
                set.rotate_left(i % 3);
                std::thread::spawn(move || s.open_direct_room(set[0].id, &set).expect("open"))
            })
            .collect();
        let results: Vec<(Room, bool)> = handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect();
        assert_eq!(results.iter().filter(|(_, created)| *created).count(), 1);
        assert!(results.iter().all(|(r, _)| r.id == results[0].0.id));
        let rooms = store.all_rooms().expect("rooms");
        assert_eq!(rooms.len(), 1);
    }
}
