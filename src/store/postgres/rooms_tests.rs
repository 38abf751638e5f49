//! The PostgreSQL store's rooms, against a real server.

use crate::model::{Role, RoomId, UserId};
use crate::store::postgres::testing::{column, execute, TestDb};
use crate::store::StoreError;
use crate::store::{RoomEdit, RoomStore, UserStore};

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

#[test]
fn renames_race_to_one_name_on_two_nodes_and_free_the_old_one() {
    let db = TestDb::new();
    let nodes = [db.store(), db.store()];
    let a = nodes[0]
        .create_room("alpha", "", false, UserId(1))
        .expect("a");
    let b = nodes[0]
        .create_room("beta", "", true, UserId(2))
        .expect("b");
    let rename = |to: &str| RoomEdit {
        name: Some(to.into()),
        description: None,
    };
    // A case change keeps the name; an edit that changes nothing says so.
    let (room, changed) = nodes[1].edit_room(a.id, &rename("Alpha")).expect("case");
    assert!(changed && room.name == "Alpha");
    let (_, changed) = nodes[1].edit_room(a.id, &rename("Alpha")).expect("same");
    assert!(!changed);
    let racers: Vec<_> = [a.id, b.id]
        .into_iter()
        .enumerate()
        .map(|(i, id)| {
            let node = nodes[i].clone();
            std::thread::spawn(move || node.edit_room(id, &rename("GAMMA")))
        })
        .collect();
    let results: Vec<_> = racers
        .into_iter()
        .map(|r| r.join().expect("join"))
        .collect();
    let won = results.iter().filter(|r| r.is_ok()).count();
    let lost = results
        .iter()
        .filter(|r| matches!(r, Err(StoreError::RoomNameTaken)))
        .count();
    assert_eq!((won, lost), (1, 1), "{results:?}");
    let winner = results.iter().flatten().next().expect("winner").0.id;
    let freed = if winner == a.id { "alpha" } else { "beta" };
    assert_eq!(
        nodes[0].room_by_name("gamma").expect("get").map(|r| r.id),
        Some(winner)
    );
    assert!(nodes[0].room_by_name(freed).expect("get").is_none());
    nodes[0]
        .create_room(freed, "", false, UserId(3))
        .expect("the old name is free");
    let description = RoomEdit {
        name: None,
        description: Some("about".into()),
    };
    let (room, changed) = nodes[0].edit_room(winner, &description).expect("edit");
    assert!(changed && room.description == "about" && room.name == "GAMMA");
    assert!(matches!(
        nodes[0].edit_room(RoomId(77), &description),
        Err(StoreError::NotFound)
    ));
}

#[test]
fn deleting_a_room_takes_what_hangs_on_it() {
    let db = TestDb::new();
    let store = db.store();
    let room = store.create_room("r", "", false, UserId(1)).expect("room");
    let other = store.create_room("o", "", false, UserId(1)).expect("other");
    let tables = [
        "reactions (room_id, message_id, emoji, user_id, username) VALUES ({r}, 1, 'x', 1, 'u')",
        "read_marks (room_id, user_id, last_read_id) VALUES ({r}, 1, 1)",
        "notification_levels (room_id, user_id, level) VALUES ({r}, 1, 'none')",
        "direct_rooms (people, room_id) VALUES ('k{r}', {r})",
    ];
    for id in [room.id, other.id] {
        for t in tables {
            let values = t.replace("{r}", &(id.0 as i64).to_string());
            execute(&store, format!("INSERT INTO {values}"));
        }
    }
    assert!(store.delete_room(room.id).expect("delete"));
    for table in [
        "reactions",
        "read_marks",
        "notification_levels",
        "direct_rooms",
    ] {
        let rooms: Vec<i64> = column(&store, leak(format!("SELECT room_id FROM {table}")));
        assert_eq!(rooms, [other.id.0 as i64], "{table}");
    }
}

/// A query text for [`column`], which takes a `'static` one.
fn leak(sql: String) -> &'static str {
    Box::leak(sql.into_boxed_str())
}
