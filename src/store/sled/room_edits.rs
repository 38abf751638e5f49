//! Renaming a room and changing its description: the `rooms` record and
//! the `room_names` index change in one transaction.

use sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree};
use sled::Transactional;

use super::{from_json, keys, to_json, SledStore, StoreError};
use crate::model::{Room, RoomId};
use crate::store::RoomEdit;

impl SledStore {
    /// Applies `edit` to a room. Returns the room as it now is, and whether
    /// anything changed. A new name is checked and claimed in the
    /// lowercase index, and the old one freed, in the same transaction as
    /// the record is written: of two renames racing to one name, one wins
    /// and the other gets `RoomNameTaken`. A name differing only in case
    /// from the current one keeps its index entry. `NotFound` when the
    /// room is gone. Not yet durable: the caller flushes (`App::change`).
    pub(super) fn edit_room(
        &self,
        id: RoomId,
        edit: &RoomEdit,
    ) -> Result<(Room, bool), StoreError> {
        let t = &self.inner;
        let key = keys::id(id.0);
        let res = (&t.rooms, &t.room_names).transaction(
            |(rooms, names): &(TransactionalTree, TransactionalTree)| {
                let abort = ConflictableTransactionError::Abort;
                let stored = rooms.get(key)?.ok_or(abort(StoreError::NotFound))?;
                let mut room: Room = from_json(&stored).map_err(abort)?;
                let before = room.clone();
                if let Some(name) = &edit.name {
                    let (old, new) = (keys::fold_name(&room.name), keys::fold_name(name));
                    if old != new {
                        if names.get(&new)?.is_some() {
                            return Err(abort(StoreError::RoomNameTaken));
                        }
                        names.remove(old)?;
                        names.insert(new, &key)?;
                    }
                    room.name.clone_from(name);
                }
                if let Some(description) = &edit.description {
                    room.description.clone_from(description);
                }
                let changed = room != before;
                if changed {
                    rooms.insert(&key, to_json(&room).map_err(abort)?)?;
                }
                Ok((room, changed))
            },
        );
        match res {
            Ok(out) => Ok(out),
            Err(TransactionError::Abort(e)) => Err(e),
            Err(TransactionError::Storage(e)) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::RoomEdit;
    use crate::model::{RoomId, UserId};
    use crate::store::sled::StoreError;
    use crate::store::testing::temp_store;

    fn rename(to: &str) -> RoomEdit {
        RoomEdit {
            name: Some(to.into()),
            description: None,
        }
    }

    #[test]
    fn a_rename_moves_the_name_index_and_keeps_case_changes_in_place() {
        let (store, _dir) = temp_store();
        let a = store.create_room("alpha", "", false, UserId(1)).expect("a");
        store.create_room("beta", "", true, UserId(2)).expect("b");
        assert!(matches!(
            store.edit_room(a.id, &rename("BETA")),
            Err(StoreError::RoomNameTaken)
        ));
        let (room, changed) = store.edit_room(a.id, &rename("ALPHA")).expect("case");
        assert!(changed);
        assert_eq!(room.name, "ALPHA");
        assert_eq!(store.room_by_name("alpha").expect("get"), Some(room));
        store.edit_room(a.id, &rename("gamma")).expect("rename");
        assert_eq!(store.room_by_name("alpha").expect("get"), None, "freed");
        assert_eq!(
            store.room_by_name("Gamma").expect("get").map(|r| r.id),
            Some(a.id)
        );
        store
            .create_room("Alpha", "", false, UserId(1))
            .expect("reuse");
        let same = RoomEdit {
            name: Some("gamma".into()),
            description: Some(String::new()),
        };
        assert!(!store.edit_room(a.id, &same).expect("same").1, "no change");
        assert!(matches!(
            store.edit_room(RoomId(42), &RoomEdit::default()),
            Err(StoreError::NotFound)
        ));
    }

    #[test]
    fn of_concurrent_renames_to_one_name_exactly_one_wins() {
        let (store, _dir) = temp_store();
        let rooms: Vec<_> = (0..8)
            .map(|i| {
                store
                    .create_room(&format!("r{i}"), "", false, UserId(1))
                    .expect("create")
            })
            .collect();
        let handles: Vec<_> = rooms
            .iter()
            .map(|r| {
                let (s, id) = (store.clone(), r.id);
                std::thread::spawn(move || s.edit_room(id, &rename("Prize")))
            })
            .collect();
        let won = handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .filter(|r| match r {
                Ok(_) => true,
                Err(StoreError::RoomNameTaken) => false,
                Err(e) => panic!("unexpected {e}"),
            })
            .count();
        assert_eq!(won, 1);
        let winner = store.room_by_name("prize").expect("get").expect("some");
        let names: Vec<String> = store
            .all_rooms()
            .expect("all")
            .into_iter()
            .map(|r| r.name)
            .collect();
        assert_eq!(names.iter().filter(|n| *n == "Prize").count(), 1);
        assert_eq!(winner.name, "Prize");
    }
}
