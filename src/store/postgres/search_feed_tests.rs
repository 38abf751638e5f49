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

#[test]
fn a_mark_renewed_by_a_later_edit_outlives_the_forgetting_of_the_older() {
    let db = TestDb::new();
    let (a, b) = (db.store(), db.store());
    let room = RoomId(3);
    let ids = append(&a, room, &["m0", "m1", "m2"]);
    assert!(b.edited_marks(10).expect("marks").is_empty());
    for id in &ids[..2] {
        a.edit_message(room, *id, "edited")
            .expect("edit")
            .expect("there");
    }
    let marks = b.edited_marks(10).expect("marks");
    let marked: Vec<MessageId> = marks.iter().map(|m| m.id).collect();
    assert_eq!(marked, ids[..2]);
    assert_eq!(b.edited_marks(1).expect("one").len(), 1);
    // Edited again on one node after the indexer read the marks on another.
    a.edit_message(room, ids[0], "again")
        .expect("edit")
        .expect("there");
    b.forget_edited_marks(&marks).expect("forget");
    let left = b.edited_marks(10).expect("marks");
    assert_eq!(left.iter().map(|m| m.id).collect::<Vec<_>>(), [ids[0]]);
    assert_ne!(left[0].stamp, marks[0].stamp);
    // A stamp that is not one of ours removes nothing.
    let odd = EditMark {
        room,
        id: ids[0],
        stamp: vec![1, 2, 3],
    };
    b.forget_edited_marks(&[odd]).expect("forget");
    assert_eq!(b.edited_marks(10).expect("marks").len(), 1);
    a.forget_edited_marks(&left).expect("forget");
    assert!(b.edited_marks(10).expect("marks").is_empty());
    assert!(a
        .edit_message(room, MessageId(99), "x")
        .expect("edit")
        .is_none());
    assert!(a.edited_marks(10).expect("marks").is_empty());
}
