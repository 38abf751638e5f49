//! The PostgreSQL store's message writes, against a real server.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::model::{MessageId, RoomId, Timestamp, UserId};
use crate::store::postgres::testing::{column, execute, TestDb};
use crate::store::postgres::PgStore;
use crate::store::RoomStore;
use crate::store::{NewMessage, StoreError};

/// `n` messages for `room`.
fn batch(room: RoomId, n: usize) -> Vec<NewMessage> {
    (0..n)
        .map(|i| NewMessage {
            room_id: room,
            user_id: UserId(7),
            user: "u".into(),
            message: format!("m{i}"),
            timestamp: Timestamp(1000),
            mentions: vec![UserId(u64::MAX), UserId(3)],
            client_id: None,
        })
        .collect()
}

/// Every stored message id, in order, as one snapshot sees them.
fn stored_ids(store: &PgStore) -> Vec<u64> {
    let ids: Vec<i64> = column(store, "SELECT id FROM messages ORDER BY id");
    ids.into_iter().map(|id| id as u64).collect()
}

#[test]
fn writers_on_three_nodes_get_contiguous_ids_in_commit_order() {
    let db = TestDb::new();
    let observer = db.store();
    let done = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..3u64)
        .map(|w| {
            let node = db.store();
            std::thread::spawn(move || {
                (0..25)
                    .map(|i| {
                        let n = 1 + (i + w as usize) % 4;
                        let stored = node.append_batch(batch(RoomId(w), n)).expect("append");
                        stored.iter().map(|m| m.id.0).collect::<Vec<_>>()
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    // Whatever moment a reader looks at, the committed ids have no hole:
    // a batch never commits before one with smaller ids.
    let watcher = {
        let done = done.clone();
        std::thread::spawn(move || {
            let mut looks = 0;
            while !done.load(Ordering::Relaxed) || looks == 0 {
                let ids = stored_ids(&observer);
                assert!(
                    ids.iter().copied().eq(0..ids.len() as u64),
                    "a hole among {ids:?}"
                );
                looks += 1;
            }
            looks
        })
    };
    let mut all = Vec::new();
    for w in writers {
        let batches = w.join().expect("writer");
        for b in &batches {
            assert!(b.windows(2).all(|p| p[1] == p[0] + 1), "batch {b:?}");
        }
        assert!(batches.windows(2).all(|p| p[0].last() < p[1].first()));
        all.extend(batches.into_iter().flatten());
    }
    done.store(true, Ordering::Relaxed);
    assert!(watcher.join().expect("watcher") > 0);
    all.sort_unstable();
    let total = all.len() as u64;
    assert!(all.into_iter().eq(0..total));
    assert_eq!(stored_ids(&db.store()), (0..total).collect::<Vec<_>>());
    assert_eq!(db.store().message_cutoff(), MessageId(total));
}

#[test]
fn edits_replace_the_text_of_a_message_that_still_exists() {
    let store = TestDb::new().store();
    assert!(store.append_batch(Vec::new()).expect("empty").is_empty());
    let room = store.create_room("r", "", false, UserId(1)).expect("room");
    let stored = store.append_batch(batch(room.id, 2)).expect("append");
    assert_eq!(
        store.message(room.id, stored[0].id).expect("get"),
        Some(stored[0].clone())
    );
    let edited = store
        .edit_message(room.id, stored[0].id, "new")
        .expect("edit")
        .expect("some");
    assert_eq!(edited.message, "new");
    assert!(edited.edited_at.is_some());
    assert_eq!(edited.mentions, stored[0].mentions);
    assert_eq!(
        store.message(room.id, stored[0].id).expect("get"),
        Some(edited)
    );
    assert!(store
        .edit_message(RoomId(room.id.0 ^ 1), stored[1].id, "x")
        .expect("edit")
        .is_none());
    assert!(store.delete_room(room.id).expect("delete"));
    assert!(store
        .edit_message(room.id, stored[1].id, "x")
        .expect("edit")
        .is_none());
    assert!(store
        .latest(room.id, 10)
        .expect("latest")
        .messages
        .is_empty());
}

#[test]
fn an_exhausted_id_space_is_an_error_not_a_wrap() {
    let store = TestDb::new().store();
    let last = i64::MAX - 1;
    execute(&store, format!("UPDATE message_counter SET next = {last}"));
    let one = store.append_batch(batch(RoomId(1), 1)).expect("append");
    assert_eq!(one[0].id, MessageId(last as u64));
    assert!(matches!(
        store.append_batch(batch(RoomId(1), 2)),
        Err(StoreError::Refused(_))
    ));
    assert_eq!(store.message_cutoff(), MessageId(i64::MAX as u64));
    assert_eq!(store.latest(RoomId(1), 10).expect("latest").messages, one);
    let err = store.append_batch(batch(RoomId(1), 1));
    assert!(matches!(err, Err(StoreError::Refused(_))), "{err:?}");
}
