//! The counters against a plain count of the history, through appends,
//! marks, deletions, recounts and a backup.

use super::*;
use crate::model::Timestamp;
use crate::store::prelude::*;
use crate::store::testing::temp_sled;
use crate::store::Maintenance;
use crate::store::NewMessage;

const USERS: [UserId; 3] = [UserId(1), UserId(2), UserId(3)];
const ROOM: RoomId = RoomId(10);

/// A small deterministic generator (xorshift), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn append(store: &SledStore, room: RoomId, author: UserId, mentions: Vec<UserId>) -> MessageId {
    let m = NewMessage {
        room_id: room,
        user_id: author,
        user: "u".into(),
        message: "m".into(),
        timestamp: Timestamp::now(),
        mentions,
        client_id: None,
    };
    store.append_batch(vec![m]).expect("append")[0].id
}

/// The read state of `user` counted from the history itself.
fn counted(store: &SledStore, room: RoomId, user: UserId) -> ReadView {
    let mark = store.mark(room, user).expect("mark").map(|m| m.last);
    let after: Vec<Message> = store
        .latest(room, usize::MAX)
        .expect("history")
        .messages
        .into_iter()
        .filter(|m| mark.is_none_or(|l| m.id.0 > l) && m.user_id != user)
        .collect();
    let mentions = after.iter().filter(|m| m.mentions.contains(&user)).count();
    ReadView {
        last_read_id: mark.map(MessageId),
        unread: (after.len() as u64).min(ReadView::CAP),
        mentions: (mentions as u64).min(ReadView::CAP),
    }
}

#[track_caller]
fn assert_agree(store: &SledStore, what: &str) {
    assert_agree_in(store, ROOM, what);
}

#[track_caller]
fn assert_agree_in(store: &SledStore, room: RoomId, what: &str) {
    for user in USERS {
        let view = store.read_view(room, user).expect("view");
        assert_eq!(view, counted(store, room, user), "{what}: user {user}");
    }
}

#[test]
fn counters_agree_with_the_history_through_marks_and_deletions() {
    let (store, _dir) = temp_sled();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut ids = Vec::new();
    for step in 0..600 {
        match rng.below(10) {
            0..=5 => {
                let author = USERS[rng.below(3) as usize];
                let mentions = USERS.into_iter().filter(|_| rng.below(4) == 0).collect();
                ids.push(append(&store, ROOM, author, mentions));
            }
            6..=8 if !ids.is_empty() => {
                let user = USERS[rng.below(3) as usize];
                let id = ids[rng.below(ids.len() as u64) as usize];
                let before = store.mark(ROOM, user).expect("mark");
                let moved = store.mark_read(ROOM, user, id).expect("mark read");
                assert_eq!(moved, before.is_none_or(|m| m.last < id.0), "step {step}");
                if !moved {
                    assert_eq!(store.mark(ROOM, user).expect("mark"), before, "never back");
                }
            }
            _ if !ids.is_empty() => {
                let id = ids.remove(rng.below(ids.len() as u64) as usize);
                assert!(store.delete_message(ROOM, id).expect("delete"));
            }
            _ => {}
        }
        assert_agree(&store, &format!("step {step}"));
    }
}

#[test]
fn marking_the_newest_of_a_long_history_reads_nothing_of_it() {
    let (store, _dir) = temp_sled();
    let batch = (0..3000).map(|i| NewMessage {
        room_id: ROOM,
        user_id: USERS[i % 2],
        user: "u".into(),
        message: "m".into(),
        timestamp: Timestamp::now(),
        mentions: vec![USERS[2]],
        client_id: None,
    });
    let ids = store
        .append_batch(batch.collect::<Vec<_>>())
        .expect("append");
    let view = store.read_view(ROOM, USERS[2]).expect("view");
    assert_eq!((view.unread, view.mentions), (ReadView::CAP, ReadView::CAP));
    assert_eq!(
        store.read_view(ROOM, USERS[0]).expect("view").unread,
        ReadView::CAP
    );
    let last = ids.last().expect("ids").id;
    assert!(store.mark_read(ROOM, USERS[0], last).expect("mark"));
    assert!(store.mark_read(ROOM, USERS[1], ids[1000].id).expect("mark"));
    assert_agree(&store, "after marks");
}

#[test]
fn an_open_counts_what_a_stop_left_uncounted() {
    let (store, dir) = temp_sled();
    let room = store
        .create_room("r", "", false, USERS[0])
        .expect("room")
        .id;
    let first = append(&store, room, USERS[0], vec![USERS[1]]);
    append(&store, room, USERS[1], vec![]);
    store.mark_read(room, USERS[1], first).expect("mark");
    // A batch written but not counted (a stop in between), and a room
    // whose counts were forgotten (the quarantine, or older data).
    let next = store.message_cutoff();
    let stray = Message {
        id: next,
        room_id: room,
        user: "u".into(),
        user_id: USERS[2],
        message: "m".into(),
        timestamp: Timestamp::now(),
        edited_at: None,
        reactions: Vec::new(),
        mentions: vec![USERS[0]],
        attachments: Vec::new(),
    };
    let value = crate::store::sled::messages::encode(&stray).expect("encode");
    store
        .inner
        .messages
        .insert(keys::message(room, next), value)
        .expect("insert");
    let other = store
        .create_room("other", "", false, USERS[0])
        .expect("room");
    append(&store, other.id, USERS[2], vec![USERS[0]]);
    store
        .inner
        .reads
        .remove(keys::id(other.id.0))
        .expect("forget");
    store.flush().expect("flush");
    drop(store);
    let store = crate::store::sled::reopen(dir.path(), 8 << 20);
    assert_agree_in(&store, room, "reopened");
    assert_eq!(store.read_view(room, USERS[0]).expect("view").mentions, 1);
    assert_agree_in(&store, other.id, "recounted");
    let view = store.read_view(other.id, USERS[0]).expect("view");
    assert_eq!((view.unread, view.mentions), (1, 1));
}

#[test]
fn a_backup_restores_marks_and_counts() {
    let (store, _dir) = temp_sled();
    let u = store
        .create_user("ann", "h", crate::model::Role::User)
        .expect("user");
    let b = store
        .create_user("bob", "h", crate::model::Role::User)
        .expect("user");
    let room = store.create_room("r", "", false, u.id).expect("room");
    let first = append(&store, room.id, u.id, vec![b.id]);
    append(&store, room.id, u.id, vec![b.id]);
    append(&store, room.id, b.id, vec![]);
    store.mark_read(room.id, b.id, first).expect("mark");
    let mut buf = Vec::new();
    let counts = store.backup(&mut buf).expect("backup");
    assert_eq!(counts.reads, 1);
    let (fresh, _d2) = temp_sled();
    fresh.restore(&mut buf.as_slice()).expect("restore");
    for user in [u.id, b.id] {
        assert_eq!(
            fresh.read_view(room.id, user).expect("view"),
            store.read_view(room.id, user).expect("view")
        );
    }
    let view = fresh.read_view(room.id, b.id).expect("view");
    assert_eq!(
        (view.last_read_id, view.unread, view.mentions),
        (Some(first), 1, 1)
    );
}

#[test]
fn a_deleted_room_leaves_no_read_state() {
    let (store, _dir) = temp_sled();
    let room = store.create_room("r", "", false, USERS[0]).expect("room");
    let id = append(&store, room.id, USERS[0], vec![USERS[1]]);
    store.mark_read(room.id, USERS[1], id).expect("mark");
    assert!(store.delete_room(room.id).expect("delete"));
    assert_eq!(
        store.inner.reads.scan_prefix(keys::id(room.id.0)).count(),
        0
    );
}

#[test]
fn the_quarantine_forgets_the_counts_of_rooms_that_counted_dropped_messages() {
    let (store, _dir) = temp_sled();
    let old = store.create_room("old", "", false, USERS[0]).expect("room");
    let new = store.create_room("new", "", false, USERS[0]).expect("room");
    append(&store, old.id, USERS[0], vec![]);
    let dropped = append(&store, new.id, USERS[0], vec![]);
    let t = &store.inner;
    forget_counted_from(&t.rooms, &t.reads, dropped.0).expect("forget");
    let tally = |room: RoomId| get::<RoomTally>(&t.reads, &keys::id(room.0)).expect("get");
    assert!(tally(old.id).is_some(), "counted nothing dropped");
    assert!(tally(new.id).is_none(), "counted a dropped message");
}
