//! Rooms and memberships: the `rooms`, `room_names`, `public_rooms`,
//! `members` and `user_rooms` trees. Memberships are kept in both
//! directions so that "members of a room" and "private rooms of a user"
//! are prefix scans; `public_rooms` lists the rooms everyone sees, so that
//! a user's room list reads those and the user's own, never every room.

use std::collections::BTreeMap;

use sled::transaction::{ConflictableTransactionError, TransactionalTree};
use sled::Transactional;

use super::{from_json, keys, to_json, SledStore, StoreError};
use crate::model::{Room, RoomId, UserId};
use crate::store::{RoomEdit, RoomStore};

/// The views of the trees a room's creation changes together.
type Trees5 = (
    TransactionalTree,
    TransactionalTree,
    TransactionalTree,
    TransactionalTree,
    TransactionalTree,
);

/// The views of the trees a room's deletion changes together.
type Trees6 = (
    TransactionalTree,
    TransactionalTree,
    TransactionalTree,
    TransactionalTree,
    TransactionalTree,
    TransactionalTree,
);

impl RoomStore for SledStore {
    /// Creates a room owned by `owner`, who becomes its first member. The
    /// name's uniqueness (case-insensitive, across private rooms too) is
    /// checked and claimed in the same transaction as the room is written,
    /// and a public room enters `public_rooms` in it too (a room's privacy
    /// never changes afterwards).
    fn create_room(
        &self,
        name: &str,
        description: &str,
        private: bool,
        owner: UserId,
    ) -> Result<Room, StoreError> {
        let t = &self.inner;
        let room = crate::store::rooms::new_room(name, description, private, owner)?;
        let folded = keys::fold_name(name);
        let value = to_json(&room)?;
        let trees = (
            &t.rooms,
            &t.room_names,
            &t.public_rooms,
            &t.members,
            &t.user_rooms,
        );
        let res = trees.transaction(|(rooms, names, public, members, user_rooms): &Trees5| {
            if names.get(&folded)?.is_some() {
                return Err(ConflictableTransactionError::Abort(
                    StoreError::RoomNameTaken,
                ));
            }
            names.insert(folded.as_slice(), &keys::id(room.id.0))?;
            rooms.insert(&keys::id(room.id.0), value.as_slice())?;
            if !room.private {
                public.insert(&keys::id(room.id.0), &[])?;
            }
            members.insert(&keys::member(room.id, owner), &[])?;
            user_rooms.insert(&keys::user_room(owner, room.id), &[])?;
            Ok(())
        });
        match res {
            Ok(()) => Ok(room),
            Err(sled::transaction::TransactionError::Abort(e)) => Err(e),
            Err(sled::transaction::TransactionError::Storage(e)) => Err(e.into()),
        }
    }

    /// Creates a room as [`SledStore::create_room`] does, unless `owner`
    /// already owns `quota` rooms (`StoreError::RoomQuota`). Counting and
    /// creating happen under one lock per user, so concurrent creations
    /// never exceed the quota.
    fn create_room_within(
        &self,
        name: &str,
        description: &str,
        private: bool,
        owner: UserId,
        quota: Option<usize>,
    ) -> Result<Room, StoreError> {
        let Some(quota) = quota else {
            return self.create_room(name, description, private, owner);
        };
        let stripe = (owner.0 % self.inner.room_creation.len() as u64) as usize;
        let _serial = self.inner.room_creation[stripe]
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if self.owned_rooms(owner)? >= quota {
            return Err(StoreError::RoomQuota);
        }
        self.create_room(name, description, private, owner)
    }

    fn room(&self, id: RoomId) -> Result<Option<Room>, StoreError> {
        match self.inner.rooms.get(keys::id(id.0))? {
            Some(v) => Ok(Some(from_json(&v)?)),
            None => Ok(None),
        }
    }

    fn room_by_name(&self, name: &str) -> Result<Option<Room>, StoreError> {
        let Some(idb) = self.inner.room_names.get(keys::fold_name(name))? else {
            return Ok(None);
        };
        let id =
            keys::read_u64(&idb).ok_or_else(|| StoreError::Corrupt("room name index".into()))?;
        self.room(RoomId(id))
    }

    fn all_rooms(&self) -> Result<Vec<Room>, StoreError> {
        let mut out = Vec::new();
        for kv in self.inner.rooms.iter() {
            let (_, v) = kv?;
            out.push(from_json::<Room>(&v)?);
        }
        sort_by_name(&mut out);
        Ok(out)
    }

    /// Every public room and every private or direct room `user` belongs
    /// to, sorted by name (case-insensitive). Reads `public_rooms` and the
    /// user's memberships, then each of those rooms once: the cost follows
    /// what the user sees, not how many rooms the server holds. A room
    /// deleted meanwhile is left out.
    fn visible_rooms(&self, user: UserId) -> Result<Vec<Room>, StoreError> {
        // Room id -> whether `user` is a member; a public room the user is
        // in appears once.
        let mut ids = BTreeMap::new();
        for key in self.inner.public_rooms.iter().keys() {
            let id = keys::read_u64(&key?)
                .ok_or_else(|| StoreError::Corrupt("public room key".into()))?;
            ids.insert(id, false);
        }
        for key in self.inner.user_rooms.scan_prefix(keys::id(user.0)).keys() {
            let (_, id) = keys::split_pair(&key?)
                .ok_or_else(|| StoreError::Corrupt("user room key".into()))?;
            ids.insert(id, true);
        }
        let mut out = Vec::with_capacity(ids.len());
        for (id, member) in ids {
            match self.room(RoomId(id))? {
                // The index names public rooms only; a private room is
                // shown to its members whatever the index says.
                Some(room) if member || !room.private => out.push(room),
                _ => {}
            }
        }
        sort_by_name(&mut out);
        Ok(out)
    }

    fn is_member(&self, room: RoomId, user: UserId) -> Result<bool, StoreError> {
        Ok(self.inner.members.contains_key(keys::member(room, user))?)
    }

    fn add_member(&self, room: RoomId, user: UserId) -> Result<bool, StoreError> {
        let t = &self.inner;
        let added = (&t.members, &t.user_rooms).transaction(
            |(members, user_rooms): &(TransactionalTree, TransactionalTree)| {
                let was = members.insert(&keys::member(room, user), &[])?.is_some();
                user_rooms.insert(&keys::user_room(user, room), &[])?;
                Ok::<bool, ConflictableTransactionError<StoreError>>(!was)
            },
        )?;
        Ok(added)
    }

    fn remove_member(&self, room: RoomId, user: UserId) -> Result<bool, StoreError> {
        let t = &self.inner;
        let was = (&t.members, &t.user_rooms).transaction(
            |(members, user_rooms): &(TransactionalTree, TransactionalTree)| {
                let was = members.remove(&keys::member(room, user))?.is_some();
                user_rooms.remove(&keys::user_room(user, room))?;
                Ok::<bool, ConflictableTransactionError<StoreError>>(was)
            },
        )?;
        Ok(was)
    }

    /// Deletes a room with its memberships, its whole history and its
    /// reactions (after the messages: see [`SledStore::add_reaction`]). Returns
    /// whether it existed. History goes in batches, so a large room does
    /// not need its keys in memory at once. Not yet durable: the caller
    /// flushes (`App::change`).
    fn delete_room(&self, id: RoomId) -> Result<bool, StoreError> {
        let t = &self.inner;
        let members = self.members(id)?;
        let direct_key = keys::direct(&members);
        // The record is read inside the transaction: the name it frees is
        // the one the room holds now, even if a rename raced the delete. A
        // direct room holds no room name; its index entry goes instead.
        let existed = (
            &t.rooms,
            &t.room_names,
            &t.public_rooms,
            &t.members,
            &t.user_rooms,
            &t.direct_rooms,
        )
            .transaction(|(rooms, names, public, m, ur, index): &Trees6| {
                let Some(stored) = rooms.remove(&keys::id(id.0))? else {
                    return Ok(false);
                };
                public.remove(&keys::id(id.0))?;
                let room: Room = from_json(&stored).map_err(ConflictableTransactionError::Abort)?;
                if room.is_direct() {
                    index.remove(direct_key.as_slice())?;
                } else {
                    names.remove(keys::fold_name(&room.name))?;
                }
                for user in &members {
                    m.remove(&keys::member(id, *user))?;
                    ur.remove(&keys::user_room(*user, id))?;
                }
                Ok(true)
            });
        match existed {
            Ok(true) => {}
            Ok(false) => return Ok(false),
            Err(sled::transaction::TransactionError::Abort(e)) => return Err(e),
            Err(sled::transaction::TransactionError::Storage(e)) => return Err(e.into()),
        }
        loop {
            let mut batch = sled::Batch::default();
            let mut n = 0;
            for kv in t.messages.scan_prefix(keys::id(id.0)).keys().take(4096) {
                batch.remove(kv?);
                n += 1;
            }
            if n == 0 {
                break;
            }
            t.messages.apply_batch(batch)?;
        }
        self.remove_reactions(&keys::id(id.0))?;
        self.forget_reads(id)?;
        self.forget_notification_levels(id)?;
        Ok(true)
    }

    fn members(&self, room: RoomId) -> Result<Vec<UserId>, StoreError> {
        let mut out = Vec::new();
        for kv in self.inner.members.scan_prefix(keys::id(room.0)) {
            let (k, _) = kv?;
            let (_, user) =
                keys::split_pair(&k).ok_or_else(|| StoreError::Corrupt("member key".into()))?;
            out.push(UserId(user));
        }
        Ok(out)
    }

    fn edit_room(&self, id: RoomId, edit: &RoomEdit) -> Result<(Room, bool), StoreError> {
        SledStore::edit_room(self, id, edit)
    }
}

impl SledStore {
    /// How many rooms `owner` owns: its memberships (the `user_rooms`
    /// prefix, an owner is always a member) whose room names it as owner.
    /// A direct room is nobody's to own: starting one is not creating a
    /// room of one's own.
    pub(super) fn owned_rooms(&self, owner: UserId) -> Result<usize, StoreError> {
        let mut n = 0;
        for key in self.inner.user_rooms.scan_prefix(keys::id(owner.0)).keys() {
            let key = key?;
            let (_, room) = keys::split_pair(&key)
                .ok_or_else(|| StoreError::Corrupt("user room key".into()))?;
            if self
                .room(RoomId(room))?
                .is_some_and(|r| r.owner_id == owner && !r.is_direct())
            {
                n += 1;
            }
        }
        Ok(n)
    }

    /// Writes `public_rooms` again from the rooms themselves: after a
    /// restore, which writes rooms only, and when a data directory of an
    /// older schema is upgraded. Whatever the tree held goes first, so
    /// running it again (after a crash) gives the same index.
    pub(super) fn rebuild_public_index(&self) -> Result<(), StoreError> {
        let t = &self.inner;
        t.public_rooms.clear()?;
        for kv in t.rooms.iter() {
            let (k, v) = kv?;
            if !from_json::<Room>(&v)?.private {
                t.public_rooms.insert(k, &[])?;
            }
        }
        Ok(())
    }
}

/// Sorts rooms by name without regard to case, then by id: the order of
/// every room list the store hands out.
fn sort_by_name(rooms: &mut [Room]) {
    rooms.sort_by_cached_key(|r| (r.name.to_lowercase(), r.id));
}

#[cfg(test)]
mod tests;
