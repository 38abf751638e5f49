//! Read state and notification levels on PostgreSQL: counts against
//! marks, the cap, marks that never go back, the lock views are handed
//! out under, and levels.

use std::sync::mpsc;
use std::time::Duration;

use crate::model::{
    MessageId, NotificationLevel, ReadView, Room, RoomId, RoomKind, Timestamp, UserId,
};
use crate::store::postgres::testing::{execute, TestDb};
use crate::store::postgres::PgStore;
use crate::store::prelude::*;
use crate::store::NewMessage;

const ANN: UserId = UserId(u64::MAX - 1);
const BOB: UserId = UserId(2);

fn said(room: RoomId, by: UserId, mentions: &[UserId]) -> NewMessage {
    NewMessage {
        room_id: room,
        user_id: by,
        user: format!("user{}", by.0),
        message: "hi".into(),
        timestamp: Timestamp(1000),
        mentions: mentions.to_vec(),
        client_id: None,
    }
}

fn append(store: &PgStore, new: Vec<NewMessage>) -> Vec<MessageId> {
    let stored = store.append_batch(new).expect("append");
    stored.iter().map(|m| m.id).collect()
}

fn view(last: Option<MessageId>, unread: u64, mentions: u64) -> ReadView {
    ReadView {
        last_read_id: last,
        unread,
        mentions,
    }
}

#[test]
fn counts_follow_the_mark_leave_out_own_messages_and_stop_at_the_cap() {
    let store = TestDb::new().store();
    let room = RoomId(5);
    let ids = append(
        &store,
        vec![
            said(room, BOB, &[]),
            said(room, ANN, &[BOB]),
            said(room, BOB, &[ANN]),
            said(room, BOB, &[]),
            said(room, ANN, &[ANN]),
        ],
    );
    // Another room's messages count there only.
    append(&store, vec![said(RoomId(6), BOB, &[ANN])]);
    let read = |user| store.read_view(room, user).expect("view");
    assert_eq!(
        read(ANN),
        view(None, 3, 1),
        "her own message mentioning her"
    );
    assert_eq!(read(BOB), view(None, 2, 1));
    assert!(store.mark_read(room, ANN, ids[2]).expect("mark"));
    assert_eq!(read(ANN), view(Some(ids[2]), 1, 0));
    assert!(store.mark_read(room, BOB, ids[4]).expect("mark"));
    assert_eq!(read(BOB), view(Some(ids[4]), 0, 0));
    // Hidden messages (the quarantine) count no more.
    execute(
        &store,
        format!(
            "INSERT INTO quarantine (from_id, reason, at) VALUES ({}, 'test', 0)",
            ids[3].0
        ),
    );
    assert_eq!(read(ANN), view(Some(ids[2]), 0, 0));
    execute(&store, "DELETE FROM quarantine".into());
    let many = (0..ReadView::CAP + 5)
        .map(|_| said(room, BOB, &[ANN]))
        .collect();
    let more = append(&store, many);
    assert_eq!(read(ANN), view(Some(ids[2]), ReadView::CAP, ReadView::CAP));
    assert!(store.mark_read(room, ANN, more[10]).expect("mark"));
    let left = ReadView::CAP + 5 - 11;
    assert_eq!(read(ANN), view(Some(more[10]), left, left));
}

#[test]
fn a_mark_never_moves_backwards() {
    let db = TestDb::new();
    let (a, b) = (db.store(), db.store());
    let room = RoomId(1);
    assert!(a.mark_read(room, ANN, MessageId(10)).expect("mark"));
    assert!(!b.mark_read(room, ANN, MessageId(4)).expect("back"));
    assert!(!b.mark_read(room, ANN, MessageId(10)).expect("same"));
    assert!(b.mark_read(room, ANN, MessageId(11)).expect("on"));
    assert_eq!(
        a.read_view(room, ANN).expect("view").last_read_id,
        Some(MessageId(11))
    );
    // Racing marks on two nodes end at the largest.
    let marks: Vec<_> = (0..8u64)
        .map(|t| {
            let node = if t % 2 == 0 { a.clone() } else { b.clone() };
            std::thread::spawn(move || {
                for i in 0..10 {
                    node.mark_read(room, BOB, MessageId(100 + t * 10 + i))
                        .expect("mark");
                }
            })
        })
        .collect();
    for m in marks {
        m.join().expect("thread");
    }
    let last = a.read_view(room, BOB).expect("view").last_read_id;
    assert_eq!(last, Some(MessageId(179)));
}

#[test]
fn a_mark_on_another_node_waits_for_a_view_being_handed_out() {
    let db = TestDb::new();
    let (a, b) = (db.store(), db.store());
    let room = RoomId(1);
    let (tx, rx) = mpsc::channel();
    let mut marker = None;
    let handed = a
        .with_read_view(room, ANN, &mut |v| {
            assert_eq!(v.last_read_id, None);
            let (b, tx) = (b.clone(), tx.clone());
            marker = Some(std::thread::spawn(move || {
                let moved = b.mark_read(room, BOB, MessageId(3)).expect("mark");
                tx.send(moved).expect("send");
            }));
            let early = rx.recv_timeout(Duration::from_millis(300));
            assert!(early.is_err(), "the mark did not wait: {early:?}");
        })
        .expect("view");
    assert_eq!(handed, view(None, 0, 0));
    assert!(rx.recv_timeout(Duration::from_secs(10)).expect("the mark"));
    marker.expect("started").join().expect("thread");
}

#[test]
fn levels_default_by_kind_are_kept_and_listed_by_user_id() {
    let store = TestDb::new().store();
    let room = |kind| Room {
        id: RoomId(9),
        name: "r".into(),
        description: String::new(),
        private: kind != RoomKind::Public,
        owner_id: BOB,
        created_at: 0,
        kind: Some(kind),
    };
    let level = |r: &Room, u| store.notification_level(r, u).expect("level");
    let public = room(RoomKind::Public);
    assert_eq!(level(&public, ANN), NotificationLevel::Mentions);
    assert_eq!(level(&room(RoomKind::Direct), ANN), NotificationLevel::All);
    let set = |u, l| store.set_notification_level(public.id, u, l).expect("set");
    set(ANN, NotificationLevel::All);
    set(BOB, NotificationLevel::All);
    set(BOB, NotificationLevel::None);
    set(UserId(1 << 63), NotificationLevel::Mentions);
    assert_eq!(level(&public, ANN), NotificationLevel::All);
    assert_eq!(level(&public, BOB), NotificationLevel::None);
    assert_eq!(
        store.notification_levels(public.id).expect("levels"),
        vec![
            (BOB, NotificationLevel::None),
            (UserId(1 << 63), NotificationLevel::Mentions),
            (ANN, NotificationLevel::All),
        ]
    );
    assert!(store
        .notification_levels(RoomId(10))
        .expect("levels")
        .is_empty());
}
