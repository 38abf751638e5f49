//! Rooms: names unique across kinds, the quota, who sees what, the
//! index of public rooms.

use crate::model::{Room, UserId};
use crate::store::prelude::*;
use crate::store::sled::keys;
use crate::store::sled::{SledStore, StoreError};
use crate::store::testing::temp_sled;

/// A fresh store holding one room.
fn store_with_room(name: &str, private: bool, owner: UserId) -> (SledStore, tempfile::TempDir) {
    let (store, dir) = temp_sled();
    store.create_room(name, "", private, owner).expect("create");
    (store, dir)
}

#[test]
fn concurrent_creations_never_exceed_the_quota() {
    let (store, _dir) = store_with_room("joined", false, UserId(2));
    let joined = store.room_by_name("joined").expect("get").expect("some");
    store.add_member(joined.id, UserId(1)).expect("member");
    let handles: Vec<_> = (0..16)
        .map(|i| {
            let s = store.clone();
            std::thread::spawn(move || {
                s.create_room_within(&format!("r{i}"), "", false, UserId(1), Some(5))
            })
        })
        .collect();
    let mut created = 0;
    for h in handles {
        match h.join().expect("thread") {
            Ok(_) => created += 1,
            Err(StoreError::RoomQuota) => {}
            Err(e) => panic!("unexpected {e}"),
        }
    }
    // A room the user only belongs to does not count.
    assert_eq!(created, 5);
    assert_eq!(store.owned_rooms(UserId(1)).expect("count"), 5);
    assert!(store
        .create_room_within("free", "", false, UserId(1), None)
        .is_ok());
}

#[test]
fn room_names_are_unique_across_private_rooms_too() {
    let (store, _dir) = store_with_room("Secret", true, UserId(1));
    assert!(matches!(
        store.create_room("SECRET", "", false, UserId(2)),
        Err(StoreError::RoomNameTaken)
    ));
}

/// A fresh store with a public and a private room of user 1.
fn public_and_private(public: &str, private: &str) -> (SledStore, tempfile::TempDir, [Room; 2]) {
    let (store, dir) = temp_sled();
    let rooms = [(public, false), (private, true)].map(|(name, private)| {
        store
            .create_room(name, "", private, UserId(1))
            .expect("create")
    });
    (store, dir, rooms)
}

#[test]
fn private_rooms_are_visible_to_members_only() {
    let (store, _dir, [public, private]) = public_and_private("b-public", "a-private");
    let ids = |u| {
        store
            .visible_rooms(UserId(u))
            .expect("list")
            .into_iter()
            .map(|r| r.id)
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(1), vec![private.id, public.id]);
    assert_eq!(ids(2), vec![public.id]);
    assert!(store.add_member(private.id, UserId(2)).expect("add"));
    assert!(!store.add_member(private.id, UserId(2)).expect("add twice"));
    assert_eq!(ids(2), vec![private.id, public.id]);
    assert_eq!(
        store.members(private.id).expect("members"),
        vec![UserId(1), UserId(2)]
    );
    assert!(store.remove_member(private.id, UserId(2)).expect("remove"));
    assert!(!store
        .remove_member(private.id, UserId(2))
        .expect("remove again"));
    assert_eq!(ids(2), vec![public.id]);
    assert!(store.delete_room(private.id).expect("delete"));
    assert!(!store.delete_room(private.id).expect("delete again"));
    assert_eq!(ids(1), vec![public.id]);
    assert!(store.members(private.id).expect("members").is_empty());
    store
        .create_room("A-PRIVATE", "", false, UserId(1))
        .expect("name is free again");
}

#[test]
fn the_public_index_follows_creations_and_deletions() {
    let (store, _dir, [public, _]) = public_and_private("pub", "priv");
    let index = || {
        let keys = store.inner.public_rooms.iter().keys();
        keys.map(|k| k.expect("key").to_vec()).collect::<Vec<_>>()
    };
    assert_eq!(index(), vec![keys::id(public.id.0).to_vec()]);
    // An entry whose room is gone (never left by the store) is passed over.
    store
        .inner
        .public_rooms
        .insert(keys::id(7), &[])
        .expect("stale");
    let names = |u| {
        let rooms = store.visible_rooms(UserId(u)).expect("list");
        rooms.into_iter().map(|r| r.name).collect::<Vec<_>>()
    };
    assert_eq!(names(2), ["pub"]);
    assert_eq!(names(1), ["priv", "pub"]);
    assert!(store.delete_room(public.id).expect("delete"));
    assert_eq!(index(), vec![keys::id(7).to_vec()]);
    assert!(names(2).is_empty());
}
