//! Reactions on PostgreSQL: order, idempotence, the limit across nodes,
//! missing messages and the lock announcements hold.

use std::sync::mpsc;
use std::time::Duration;

use super::reactions_of;
use crate::model::{MessageId, RoomId, Timestamp, UserId};
use crate::store::postgres::testing::{column, execute, TestDb};
use crate::store::postgres::PgStore;
use crate::store::prelude::*;
use crate::store::{NewMessage, ReactionChange, MAX_DISTINCT_REACTIONS};

/// Appends `n` messages to `room`; their ids.
fn append(store: &PgStore, room: RoomId, n: usize) -> Vec<MessageId> {
    let new: Vec<NewMessage> = (0..n)
        .map(|i| NewMessage {
            room_id: room,
            user_id: UserId(7),
            user: "u".into(),
            message: format!("m{i}"),
            timestamp: Timestamp(1000),
            mentions: Vec::new(),
            client_id: None,
        })
        .collect();
    let stored = store.append_batch(new).expect("append");
    stored.iter().map(|m| m.id).collect()
}

/// A message's reactions as announced: each emoji with its users.
fn emojis(store: &PgStore, room: RoomId, msg: MessageId) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    store
        .announce_reactions(room, msg, &mut |list| {
            out = list
                .iter()
                .map(|r| {
                    assert_eq!(r.count, r.users.len());
                    (r.emoji.clone(), r.users.clone())
                })
                .collect();
        })
        .expect("announce");
    out
}

fn owned(list: &[(&str, &[&str])]) -> Vec<(String, Vec<String>)> {
    list.iter()
        .map(|(e, users)| (e.to_string(), users.iter().map(|u| u.to_string()).collect()))
        .collect()
}

#[test]
fn reactions_group_by_emoji_in_the_order_they_came() {
    let store = TestDb::new().store();
    let room = RoomId(u64::MAX - 3);
    let ids = append(&store, room, 3);
    let m = ids[1];
    for (emoji, user, name) in [("b", 9, "nine"), ("a", 3, "three"), ("b", 2, "two")] {
        let done = store.add_reaction(room, m, emoji, UserId(user), name);
        assert_eq!(done.expect("add"), ReactionChange::Changed);
    }
    let again = store.add_reaction(room, m, "b", UserId(2), "two");
    assert_eq!(again.expect("again"), ReactionChange::Unchanged);
    let want = owned(&[("b", &["nine", "two"]), ("a", &["three"])]);
    assert_eq!(emojis(&store, room, m), want);
    let remove = |emoji: &str, user| store.remove_reaction(room, m, emoji, UserId(user));
    assert_eq!(remove("b", 9).expect("remove"), ReactionChange::Changed);
    assert_eq!(remove("b", 9).expect("again"), ReactionChange::Unchanged);
    // "b" now starts with a later row than "a": it comes second.
    let want = owned(&[("a", &["three"]), ("b", &["two"])]);
    assert_eq!(emojis(&store, room, m), want);
    // Read for several messages at once, in whatever order and repeats.
    let read = store
        .run(move |client| async move {
            reactions_of(
                &client,
                &[(room, ids[2]), (room, m), (room, m), (room, ids[0])],
            )
            .await
        })
        .expect("read");
    assert_eq!(read.len(), 1, "only the message with reactions");
    assert_eq!(read[&(room, m)].len(), 2);
}

#[test]
fn concurrent_adders_on_two_nodes_stay_within_the_limit() {
    let db = TestDb::new();
    let nodes = [db.store(), db.store()];
    let room = RoomId(1);
    let m = append(&nodes[0], room, 1)[0];
    let adders: Vec<_> = (0..8u64)
        .map(|t| {
            let node = nodes[(t % 2) as usize].clone();
            std::thread::spawn(move || {
                (0..6)
                    .map(|i| {
                        let emoji = format!("e{t}-{i}");
                        node.add_reaction(room, m, &emoji, UserId(t), &format!("u{t}"))
                            .expect("add")
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let results: Vec<ReactionChange> = adders
        .into_iter()
        .flat_map(|a| a.join().expect("thread"))
        .collect();
    let changed = results
        .iter()
        .filter(|r| **r == ReactionChange::Changed)
        .count();
    assert_eq!(changed, MAX_DISTINCT_REACTIONS);
    assert!(results
        .iter()
        .all(|r| matches!(r, ReactionChange::Changed | ReactionChange::TooMany)));
    let stored = emojis(&nodes[1], room, m);
    assert_eq!(stored.len(), MAX_DISTINCT_REACTIONS);
    // Each adder's emojis come in the order it added them.
    for t in 0..8 {
        let mine: Vec<&String> = stored
            .iter()
            .map(|(e, _)| e)
            .filter(|e| e.starts_with(&format!("e{t}-")))
            .collect();
        let want: Vec<String> = (0..mine.len()).map(|i| format!("e{t}-{i}")).collect();
        assert!(mine.iter().zip(&want).all(|(a, b)| *a == b), "{mine:?}");
    }
    // An emoji already there takes no new place.
    let (e, _) = &stored[0];
    let more = nodes[0].add_reaction(room, m, e, UserId(99), "late");
    assert_eq!(more.expect("add"), ReactionChange::Changed);
}

#[test]
fn a_missing_deleted_or_hidden_message_takes_no_reaction_and_announces_nothing() {
    let store = TestDb::new().store();
    let room = RoomId(1);
    let ids = append(&store, room, 2);
    let (gone, hidden) = (ids[0], ids[1]);
    store
        .add_reaction(room, gone, "x", UserId(1), "u")
        .expect("add");
    execute(
        &store,
        format!(
            "BEGIN; DELETE FROM messages WHERE id = {g}; \
             DELETE FROM reactions WHERE message_id = {g}; COMMIT",
            g = gone.0
        ),
    );
    execute(
        &store,
        format!(
            "INSERT INTO quarantine (from_id, reason, at) VALUES ({}, 'test', 0)",
            hidden.0
        ),
    );
    let missing = [gone, hidden, MessageId(hidden.0 + 1), MessageId(u64::MAX)];
    for m in missing {
        let add = store.add_reaction(room, m, "x", UserId(1), "u");
        assert_eq!(add.expect("add"), ReactionChange::NoMessage, "{m:?}");
        let remove = store.remove_reaction(room, m, "x", UserId(1));
        assert_eq!(remove.expect("remove"), ReactionChange::NoMessage, "{m:?}");
        let mut called = false;
        store
            .announce_reactions(room, m, &mut |_| called = true)
            .expect("announce");
        assert!(!called, "{m:?}");
    }
    assert!(column::<i64>(&store, "SELECT message_id FROM reactions").is_empty());
}

#[test]
fn a_change_on_another_node_waits_for_an_announcement_in_progress() {
    let db = TestDb::new();
    let (a, b) = (db.store(), db.store());
    let room = RoomId(1);
    let m = append(&a, room, 1)[0];
    let (tx, rx) = mpsc::channel();
    let mut adder = None;
    a.announce_reactions(room, m, &mut |list| {
        assert!(list.is_empty());
        let (b, tx) = (b.clone(), tx.clone());
        adder = Some(std::thread::spawn(move || {
            let done = b.add_reaction(room, m, "x", UserId(1), "u").expect("add");
            tx.send(done).expect("send");
        }));
        let early = rx.recv_timeout(Duration::from_millis(300));
        assert!(early.is_err(), "the add did not wait: {early:?}");
    })
    .expect("announce");
    let added = rx.recv_timeout(Duration::from_secs(10)).expect("the add");
    assert_eq!(added, ReactionChange::Changed);
    adder.expect("started").join().expect("thread");
    assert_eq!(emojis(&a, room, m), owned(&[("x", &["u"])]));
}

#[test]
fn a_reaction_never_outlives_a_message_deleted_concurrently() {
    let db = TestDb::new();
    let nodes = [db.store(), db.store()];
    let room = RoomId(1);
    for _ in 0..5 {
        let m = append(&nodes[0], room, 1)[0];
        let adders: Vec<_> = (0..4u64)
            .map(|t| {
                let node = nodes[(t % 2) as usize].clone();
                std::thread::spawn(move || {
                    for i in 0..5 {
                        let emoji = format!("e{t}{i}");
                        node.add_reaction(room, m, &emoji, UserId(t), "u")
                            .expect("add");
                    }
                })
            })
            .collect();
        // A deletion as the message store makes one: the message, then
        // its reactions, in one transaction.
        execute(
            &nodes[1],
            format!(
                "BEGIN; DELETE FROM messages WHERE room_id = 1 AND id = {m}; \
                 DELETE FROM reactions WHERE room_id = 1 AND message_id = {m}; COMMIT",
                m = m.0
            ),
        );
        for a in adders {
            a.join().expect("thread");
        }
    }
    assert!(column::<i64>(&nodes[0], "SELECT message_id FROM reactions").is_empty());
}
