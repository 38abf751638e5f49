//! The PostgreSQL store's rooms, against a real server.

use crate::model::{Role, RoomId, UserId};
use crate::store::postgres::testing::TestDb;
use crate::store::StoreError;

#[test]
fn rooms_and_memberships_round_trip() {
    let store = TestDb::new().store();
    let owner = store.create_user("ann", "h", Role::User).expect("user").id;
    let public = store
        .create_room("b-Pub", "about b", false, owner)
        .expect("public");
    let private = store
        .create_room("a-priv", "", true, owner)
        .expect("private");
    assert_eq!(store.room(public.id).expect("get"), Some(public.clone()));
    assert_eq!(
        store.room_by_name("B-PUB").expect("by name"),
        Some(public.clone())
    );
    assert!(store.room(RoomId(5)).expect("get").is_none());
    for (name, private) in [("A-PRIV", false), ("b-pub", true)] {
        assert!(matches!(
            store.create_room(name, "", private, UserId(9)),
            Err(StoreError::RoomNameTaken)
        ));
    }
    let names = |u: u64| -> Vec<String> {
        let rooms = store.visible_rooms(UserId(u)).expect("visible");
        rooms.into_iter().map(|r| r.name).collect()
    };
    assert_eq!(names(owner.0), ["a-priv", "b-Pub"]);
    assert_eq!(names(2), ["b-Pub"]);
    assert!(store.add_member(private.id, UserId(2)).expect("add"));
    assert!(!store.add_member(private.id, UserId(2)).expect("add twice"));
    assert!(store.is_member(private.id, UserId(2)).expect("member"));
    assert_eq!(names(2), ["a-priv", "b-Pub"]);
    let mut want = vec![owner, UserId(2)];
    want.sort_unstable();
    assert_eq!(store.members(private.id).expect("members"), want);
    assert!(store.remove_member(private.id, UserId(2)).expect("remove"));
    assert!(!store.remove_member(private.id, UserId(2)).expect("again"));
    assert!(!store.is_member(private.id, UserId(2)).expect("member"));
    assert_eq!(store.all_rooms().expect("all"), [private.clone(), public]);

    assert!(store.delete_room(private.id).expect("delete"));
    assert!(!store.delete_room(private.id).expect("delete again"));
    assert!(store.members(private.id).expect("members").is_empty());
    assert_eq!(names(owner.0), ["b-Pub"]);
    store
        .create_room("A-PRIV", "", false, owner)
        .expect("the name is free again");
}

#[test]
fn concurrent_creators_on_two_nodes_never_exceed_the_quota() {
    let db = TestDb::new();
    let nodes = [db.store(), db.store()];
    let owner = UserId(u64::MAX - 1);
    // A room the owner only belongs to does not count, nor a room of
    // another owner.
    let joined = nodes[0]
        .create_room("joined", "", false, UserId(2))
        .expect("room");
    nodes[0].add_member(joined.id, owner).expect("member");
    let creators: Vec<_> = (0..8)
        .map(|i| {
            let node = nodes[i % 2].clone();
            std::thread::spawn(move || {
                node.create_room_within(&format!("r{i}"), "", i % 3 == 0, owner, Some(3))
            })
        })
        .collect();
    let results: Vec<_> = creators.into_iter().map(|c| c.join()).collect();
    let refused = |r: &std::thread::Result<_>| matches!(r, Ok(Err(StoreError::RoomQuota)));
    let created = results.iter().filter(|r| matches!(r, Ok(Ok(_)))).count();
    let others: Vec<_> = results
        .iter()
        .filter(|r| !refused(r) && !matches!(r, Ok(Ok(_))))
        .collect();
    assert!(others.is_empty(), "{others:?}");
    assert_eq!(created, 3);
    let owned = nodes[1]
        .all_rooms()
        .expect("all")
        .into_iter()
        .filter(|r| r.owner_id == owner)
        .count();
    assert_eq!(owned, 3);
    assert!(matches!(
        nodes[1].create_room_within("more", "", false, owner, Some(3)),
        Err(StoreError::RoomQuota)
    ));
    nodes[1]
        .create_room_within("free", "", false, owner, None)
        .expect("no quota");
}
