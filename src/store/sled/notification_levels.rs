//! Each user's notification level per room (see
//! [`NotificationLevel`]): stored only once a user chose one; a room
//! without an entry for a user has its kind's default.
//!
//! Keys are room first (`room id ++ user id`), so that the levels of a
//! room's people are one prefix scan (what a sender reads per message)
//! and go with the room in one sweep when it is deleted.

use super::{keys, SledStore, StoreError};
use crate::model::{NotificationLevel, Room, RoomId, UserId};

/// A stored level's bytes: its wire word.
fn decode(bytes: &[u8]) -> Result<NotificationLevel, StoreError> {
    std::str::from_utf8(bytes)
        .ok()
        .and_then(NotificationLevel::parse)
        .ok_or_else(|| StoreError::Corrupt("a notification level".into()))
}

impl SledStore {
    /// `user`'s level in `room`: the one chosen, or the room kind's default.
    pub(super) fn notification_level(
        &self,
        room: &Room,
        user: UserId,
    ) -> Result<NotificationLevel, StoreError> {
        match self
            .inner
            .notify_levels
            .get(keys::pair(room.id.0, user.0))?
        {
            Some(v) => decode(&v),
            None => Ok(NotificationLevel::default_for(room.kind())),
        }
    }

    /// Records `user`'s level in `room`. Not yet durable: the caller
    /// flushes (`App::change`).
    pub(super) fn set_notification_level(
        &self,
        room: RoomId,
        user: UserId,
        level: NotificationLevel,
    ) -> Result<(), StoreError> {
        self.inner
            .notify_levels
            .insert(keys::pair(room.0, user.0), level.as_str().as_bytes())?;
        Ok(())
    }

    /// The levels chosen in `room`, by user id; users not listed have the
    /// room kind's default.
    pub(super) fn notification_levels(
        &self,
        room: RoomId,
    ) -> Result<Vec<(UserId, NotificationLevel)>, StoreError> {
        let mut out = Vec::new();
        for kv in self.inner.notify_levels.scan_prefix(keys::id(room.0)) {
            let (k, v) = kv?;
            let (_, user) = keys::split_pair(&k)
                .ok_or_else(|| StoreError::Corrupt("a notification level's key".into()))?;
            out.push((UserId(user), decode(&v)?));
        }
        Ok(out)
    }

    /// Drops every level of a deleted room.
    pub(super) fn forget_notification_levels(&self, room: RoomId) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        for k in self
            .inner
            .notify_levels
            .scan_prefix(keys::id(room.0))
            .keys()
        {
            batch.remove(k?);
        }
        self.inner.notify_levels.apply_batch(batch)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::model::{NotificationLevel, UserId};
    use crate::store::testing::{some_room, temp_store};

    #[test]
    fn levels_default_by_kind_are_kept_and_go_with_the_room() {
        let (store, _dir) = temp_store();
        let id = some_room(&store);
        let room = store.room(id).expect("read").expect("room");
        let (ann, bea) = (room.owner_id, UserId(99));
        assert_eq!(
            store.notification_level(&room, ann).expect("level"),
            NotificationLevel::Mentions
        );
        store
            .set_notification_level(id, bea, NotificationLevel::None)
            .expect("set");
        assert_eq!(
            store.notification_level(&room, bea).expect("level"),
            NotificationLevel::None
        );
        assert_eq!(
            store.notification_levels(id).expect("levels"),
            vec![(bea, NotificationLevel::None)]
        );
        assert!(store.delete_room(id).expect("delete"));
        assert!(store.notification_levels(id).expect("levels").is_empty());
    }
}
