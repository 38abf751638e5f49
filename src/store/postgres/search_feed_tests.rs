//! The PostgreSQL store's search feed, against a real server.

use crate::model::{MessageId, RoomId, Timestamp, UserId};
use crate::store::postgres::testing::{execute, TestDb};
use crate::store::{EditMark, MessageStore, NewMessage, RoomStore, SearchFeed};

/// One message in `room` per text, in one batch; their ids.
fn append(store: &impl MessageStore, room: RoomId, texts: &[&str]) -> Vec<MessageId> {
    let new = texts
        .iter()
        .map(|t| NewMessage {
            room_id: room,
            user_id: UserId(room.0 + 100),
            user: "u".into(),
            message: (*t).to_owned(),
            timestamp: Timestamp(1),
            mentions: Vec::new(),
            client_id: None,
        })
        .collect();
    let stored = store.append_batch(new).expect("append");
    stored.into_iter().map(|m| m.id).collect()
}

#[test]
fn messages_come_by_id_range_across_rooms() {
    let store = TestDb::new().store();
    let a = store
        .create_room("a", "", false, UserId(1))
        .expect("room")
        .id;
    let b = store
        .create_room("b", "", false, UserId(1))
        .expect("room")
        .id;
    let gone = RoomId(4242);
    let x = append(&store, a, &["a0", "a1"]);
    let y = append(&store, b, &["b0"]);
    let z = append(&store, gone, &["g0"]);
    let w = append(&store, a, &["a2"]);
    let all = store.messages_between(0, u64::MAX).expect("between");
    let seen: Vec<(RoomId, MessageId, u64, &str)> = all
        .iter()
        .map(|m| (m.room, m.id, m.author, m.text.as_str()))
        .collect();
    let want = vec![
        (a, x[0], a.0 + 100, "a0"),
        (a, x[1], a.0 + 100, "a1"),
        (b, y[0], b.0 + 100, "b0"),
        (a, w[0], a.0 + 100, "a2"),
    ];
    assert_eq!(seen, want);
    let some = store.messages_between(x[1].0, y[0].0).expect("between");
    assert_eq!(some.iter().map(|m| m.id).collect::<Vec<_>>(), [x[1], y[0]]);
    assert!(store.messages_between(5, 4).expect("empty").is_empty());
    assert!(store
        .messages_between(1 << 63, u64::MAX)
        .expect("past")
        .is_empty());
    let one = store.indexable(gone, z[0]).expect("one").expect("there");
    assert_eq!((one.room, one.id, one.text.as_str()), (gone, z[0], "g0"));
    assert!(store.indexable(a, z[0]).expect("other room").is_none());
    assert!(store
        .indexable(a, MessageId(u64::MAX))
        .expect("past")
        .is_none());
}

#[test]
fn indexables_come_in_one_read_in_the_order_asked_without_those_gone() {
    let store = TestDb::new().store();
    let a = store
        .create_room("a", "", false, UserId(1))
        .expect("room")
        .id;
    let x = append(&store, a, &["a0", "a1", "a2"]);
    let asked = [
        (a, x[2]),
        (RoomId(7), x[1]),
        (a, x[0]),
        (a, MessageId(u64::MAX)),
        (a, x[1]),
    ];
    let got: Vec<(MessageId, String)> = store
        .indexables(&asked)
        .expect("indexables")
        .into_iter()
        .map(|m| (m.id, m.text))
        .collect();
    let want = [(x[2], "a2"), (x[0], "a0"), (x[1], "a1")].map(|(id, t)| (id, t.to_owned()));
    assert_eq!(got, want);
    assert!(store.indexables(&[]).expect("none").is_empty());
}

#[test]
fn found_messages_come_in_the_order_asked_with_their_reactions() {
    let store = TestDb::new().store();
    let room = RoomId(3);
    let ids = append(&store, room, &["m0", "m1", "m2"]);
    let m1 = ids[1].0;
    execute(
        &store,
        format!(
            "INSERT INTO reactions (room_id, message_id, emoji, user_id, username)
             VALUES (3, {m1}, 'up', 1, 'ann')"
        ),
    );
    let asked = [
        (room, ids[2]),
        (room, MessageId(99)),
        (RoomId(4), ids[0]),
        (room, ids[1]),
        (room, ids[2]),
        (room, MessageId(u64::MAX)),
    ];
    let found = store.messages_found(&asked).expect("found");
    let seen: Vec<(MessageId, usize)> = found.iter().map(|m| (m.id, m.reactions.len())).collect();
    assert_eq!(seen, [(ids[2], 0), (ids[1], 1), (ids[2], 0)]);
    assert_eq!(found[1].reactions[0].users, ["ann"]);
    assert!(store.messages_found(&[]).expect("none").is_empty());
}

/// The ids `marks` name, in their order.
fn marked(marks: &[EditMark]) -> Vec<MessageId> {
    marks.iter().map(|m| m.id).collect()
}

#[test]
fn every_node_sees_every_edit_once_and_a_later_edit_again() {
    let db = TestDb::new();
    let (a, b) = (db.store(), db.store());
    let room = a.create_room("r", "", false, UserId(1)).expect("room").id;
    let ids = append(&a, room, &["m0", "m1", "m2"]);
    assert!(a.edited_marks(10).expect("marks").is_empty());
    assert!(b.edited_marks(10).expect("marks").is_empty());
    for id in &ids[..2] {
        a.edit_message(room, *id, "edited")
            .expect("edit")
            .expect("there");
    }
    let on_a = a.edited_marks(10).expect("marks");
    let on_b = b.edited_marks(10).expect("marks");
    assert_eq!(marked(&on_a), ids[..2]);
    assert_eq!(marked(&on_b), ids[..2]);
    assert_eq!(marked(&a.edited_marks(1).expect("one")), ids[..1]);
    // One node's index took them in: the other's still has them to take.
    a.forget_edited_marks(&on_a).expect("forget");
    assert!(a.edited_marks(10).expect("marks").is_empty());
    assert_eq!(marked(&b.edited_marks(10).expect("marks")), ids[..2]);
    // Edited again, on the other node: both hand it out once more.
    std::thread::sleep(std::time::Duration::from_millis(5));
    b.edit_message(room, ids[0], "again")
        .expect("edit")
        .expect("there");
    let again = a.edited_marks(10).expect("marks");
    assert_eq!(marked(&again), [ids[0]]);
    assert_ne!(again[0].stamp, on_a[0].stamp);
    assert_eq!(
        marked(&b.edited_marks(10).expect("marks")),
        [ids[1], ids[0]]
    );
    // A stamp that is not one of ours moves nothing.
    let odd = EditMark {
        room,
        id: ids[0],
        stamp: vec![1, 2, 3],
    };
    a.forget_edited_marks(&[odd]).expect("forget");
    assert_eq!(marked(&a.edited_marks(10).expect("marks")), [ids[0]]);
    a.forget_edited_marks(&again).expect("forget");
    assert!(a.edited_marks(10).expect("marks").is_empty());
    let left = b.edited_marks(10).expect("marks");
    b.forget_edited_marks(&left).expect("forget");
    assert!(b.edited_marks(10).expect("marks").is_empty());
    assert!(a
        .edit_message(room, MessageId(99), "x")
        .expect("edit")
        .is_none());
    assert!(a.edited_marks(10).expect("marks").is_empty());
    // A node started later sees every message edited, once, in the order
    // of their last edits.
    let c = db.store();
    let all = c.edited_marks(10).expect("marks");
    assert_eq!(marked(&all), [ids[1], ids[0]]);
    c.forget_edited_marks(&all).expect("forget");
    assert!(c.edited_marks(10).expect("marks").is_empty());
}

#[test]
fn two_edits_of_a_message_in_one_millisecond_are_told_apart() {
    let store = TestDb::new().store();
    let room = store
        .create_room("r", "", false, UserId(1))
        .expect("room")
        .id;
    let id = append(&store, room, &["m0"])[0];
    let mut seen = Vec::new();
    for text in ["one", "two", "three"] {
        let m = store
            .edit_message(room, id, text)
            .expect("edit")
            .expect("there");
        let marks = store.edited_marks(10).expect("marks");
        assert_eq!(marked(&marks), [id], "{text}");
        store.forget_edited_marks(&marks).expect("forget");
        seen.push(m.edited_at.expect("edited").0);
    }
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "{seen:?}");
}

#[test]
fn edits_of_messages_or_rooms_gone_are_not_handed_out() {
    let store = TestDb::new().store();
    let room = store
        .create_room("r", "", false, UserId(1))
        .expect("room")
        .id;
    let other = store
        .create_room("o", "", false, UserId(1))
        .expect("room")
        .id;
    let ids = append(&store, room, &["m0", "m1"]);
    let elsewhere = append(&store, other, &["o0"]);
    for (r, id) in [(room, ids[0]), (room, ids[1]), (other, elsewhere[0])] {
        store
            .edit_message(r, id, "new")
            .expect("edit")
            .expect("there");
    }
    assert_eq!(store.edited_marks(10).expect("marks").len(), 3);
    assert!(store.delete_message(room, ids[0]).expect("delete"));
    assert!(store.delete_room(other).expect("delete room"));
    assert_eq!(marked(&store.edited_marks(10).expect("marks")), [ids[1]]);
}

#[test]
fn paging_with_a_small_limit_hands_out_every_edit_once() {
    let db = TestDb::new();
    let (a, b) = (db.store(), db.store());
    let room = a.create_room("r", "", false, UserId(1)).expect("room").id;
    let ids = append(&a, room, &["0", "1", "2", "3", "4", "5", "6"]);
    for id in &ids {
        a.edit_message(room, *id, "new")
            .expect("edit")
            .expect("there");
    }
    for (node, limit) in [(&a, 2), (&b, 3)] {
        let mut got = Vec::new();
        for _ in 0..ids.len() {
            let marks = node.edited_marks(limit).expect("marks");
            assert!(marks.len() <= limit);
            if marks.is_empty() {
                break;
            }
            got.extend(marked(&marks));
            node.forget_edited_marks(&marks).expect("forget");
        }
        got.sort();
        assert_eq!(got, ids, "limit {limit}");
    }
}

#[test]
fn an_edit_committed_late_within_the_overlap_is_still_handed_out() {
    let store = TestDb::new().store();
    let room = store
        .create_room("r", "", false, UserId(1))
        .expect("room")
        .id;
    let ids = append(&store, room, &["m0", "m1"]);
    let first = store
        .edit_message(room, ids[0], "new")
        .expect("edit")
        .expect("there");
    let marks = store.edited_marks(10).expect("marks");
    store.forget_edited_marks(&marks).expect("forget");
    // An edit stamped 30 s before the one handed out, on a node whose
    // clock is behind or whose commit was slow, becomes visible only now.
    let late = first.edited_at.expect("edited").0 - 30_000;
    let id = ids[1].0 as i64;
    execute(
        &store,
        format!("UPDATE messages SET body = 'late', edited_at = {late} WHERE id = {id}"),
    );
    assert_eq!(marked(&store.edited_marks(10).expect("marks")), [ids[1]]);
}
