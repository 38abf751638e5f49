//! Direct rooms on PostgreSQL: one room per set of people, whoever opens
//! it and on whichever node, and no room name taken.

use crate::model::{Room, RoomKind, UserId};
use crate::store::postgres::testing::{column, TestDb};
use crate::store::postgres::PgStore;
use crate::store::prelude::*;
use crate::store::{Participant, Viewers};

fn people(names: &[(&str, u64)]) -> Vec<Participant> {
    names
        .iter()
        .map(|(n, id)| Participant {
            id: UserId(*id),
            username: (*n).to_owned(),
        })
        .collect()
}

fn room_count(store: &PgStore) -> usize {
    column::<i64>(store, "SELECT id FROM rooms").len()
}

#[test]
fn one_set_of_people_has_one_room_whoever_starts_it() {
    let store = TestDb::new().store();
    let mut set = people(&[("carol", 3), ("Alice", u64::MAX), ("bob", 1 << 63)]);
    let (room, created) = store.open_direct_room(set[0].id, &set).expect("open");
    assert!(created);
    assert_eq!(room.name, "Alice, bob, carol");
    assert_eq!(room.kind(), RoomKind::Direct);
    assert!(room.private);
    assert_eq!(room.owner_id, UserId(3));
    set.reverse();
    let (again, created) = store.open_direct_room(set[0].id, &set).expect("again");
    assert!(!created);
    assert_eq!(again, room);
    let ids: Vec<UserId> = set.iter().map(|p| p.id).collect();
    assert_eq!(store.direct_room(&ids).expect("lookup"), Some(room.clone()));
    assert_eq!(store.room(room.id).expect("read"), Some(room.clone()));
    let mut sorted = ids.clone();
    sorted.sort_unstable();
    assert_eq!(
        store.room_viewers(&room).expect("viewers"),
        Viewers::Members(sorted)
    );
    // A direct room takes no room name: a real room may have it.
    assert!(store.room_by_name(&room.name).expect("by name").is_none());
    let real = store
        .create_room("alice, BOB, carol", "", false, UserId(3))
        .expect("a room of that name");
    assert_eq!(
        store.room_viewers(&real).expect("viewers"),
        Viewers::Everyone
    );
    // A subset is another conversation.
    let (pair, created) = store.open_direct_room(set[0].id, &set[..2]).expect("pair");
    assert!(created && pair.id != room.id);
    assert_eq!(store.direct_room(&ids[..1]).expect("lookup"), None);
}

#[test]
fn concurrent_starts_on_two_nodes_give_one_room() {
    let db = TestDb::new();
    let nodes = [db.store(), db.store()];
    let set = people(&[("ann", 1), ("ben", 2), ("cat", u64::MAX)]);
    for round in 0..3 {
        let mut set = set.clone();
        set.truncate(2 + round % 2);
        set[0].id = UserId(set[0].id.0 + round as u64 * 10);
        let opens: Vec<_> = (0..8)
            .map(|i| {
                let node = nodes[i % 2].clone();
                let mut set = set.clone();
                let n = set.len();
                set.rotate_left(i % n);
                std::thread::spawn(move || node.open_direct_room(set[0].id, &set).expect("open"))
            })
            .collect();
        let results: Vec<(Room, bool)> = opens
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect();
        assert_eq!(results.iter().filter(|(_, created)| *created).count(), 1);
        assert!(results.iter().all(|(r, _)| *r == results[0].0));
        assert_eq!(room_count(&nodes[0]), round + 1);
    }
}

#[test]
fn an_entry_whose_room_is_gone_is_replaced() {
    let store = TestDb::new().store();
    let set = people(&[("ann", 1), ("ben", 2)]);
    let (old, _) = store.open_direct_room(UserId(1), &set).expect("open");
    crate::store::postgres::testing::execute(
        &store,
        format!("DELETE FROM rooms WHERE id = {}", old.id.0 as i64),
    );
    let (new, created) = store.open_direct_room(UserId(2), &set).expect("again");
    assert!(created && new.id != old.id);
    assert_eq!(
        store.direct_room(&[UserId(2), UserId(1)]).expect("lookup"),
        Some(new)
    );
}
