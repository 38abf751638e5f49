//! The PostgreSQL store's message writes, against a real server.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::model::{MessageId, RoomId, Timestamp, UserId};
use crate::store::postgres::testing::{column, execute, TestDb};
use crate::store::postgres::PgStore;
use crate::store::{HistoryStore, MessageStore, NewMessage, RoomStore, SearchFeed, StoreError};

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

/// One message of `user` in `room`, with the client key `key`.
fn sent(room: RoomId, user: UserId, key: Option<&str>) -> NewMessage {
    NewMessage {
        room_id: room,
        user_id: user,
        user: format!("u{}", user.0),
        message: "hi".into(),
        timestamp: Timestamp::now(),
        mentions: Vec::new(),
        client_id: key.map(str::to_owned),
    }
}

/// How many rows `sql` (a `SELECT count(*)`) counts.
fn count(store: &PgStore, sql: &'static str) -> i64 {
    column::<i64>(store, sql)[0]
}

#[test]
fn a_client_key_names_its_message_for_a_day_on_every_node() {
    let db = TestDb::new();
    let (a, b) = (db.store(), db.store());
    let room = RoomId(1);
    let m = a
        .append_batch(vec![
            sent(room, UserId(1), Some("k1")),
            sent(room, UserId(1), None),
        ])
        .expect("append")
        .remove(0);
    let found = b.sent_with_client_id(UserId(1), "k1").expect("get");
    assert_eq!(found.map(|f| f.id), Some(m.id));
    assert!(b
        .sent_with_client_id(UserId(2), "k1")
        .expect("get")
        .is_none());
    assert_eq!(b.forget_old_client_ids().expect("forget"), 0);

    let gone = a
        .append_batch(vec![sent(room, UserId(1), Some("k2"))])
        .expect("append")
        .remove(0);
    assert!(b.delete_message(room, gone.id).expect("delete"));
    assert!(a
        .sent_with_client_id(UserId(1), "k2")
        .expect("get")
        .is_none());

    let back = super::CLIENT_ID_KEEP_MS + 1000;
    execute(
        &a,
        format!("UPDATE client_ids SET stored_at = stored_at - {back}"),
    );
    assert!(a
        .sent_with_client_id(UserId(1), "k1")
        .expect("get")
        .is_none());
    assert_eq!(b.forget_old_client_ids().expect("forget"), 2);
    assert_eq!(count(&a, "SELECT count(*) FROM client_ids"), 0);
}

#[test]
fn a_quarantined_batch_is_hidden_from_every_read_on_every_node() {
    let db = TestDb::new();
    let (a, b) = (db.store(), db.store());
    let room = a.create_room("r", "", false, UserId(1)).expect("room").id;
    let kept = a.append_batch(batch(room, 2)).expect("append");
    let cut = a.message_cutoff();
    let lost = a
        .append_batch(vec![sent(room, UserId(1), Some("k"))])
        .expect("append")
        .remove(0);
    // What a restore of a database with hidden messages writes.
    for from in [cut.0 + 7, cut.0] {
        let sql = format!("INSERT INTO quarantine (from_id, reason, at) VALUES ({from}, 't', 0)");
        execute(&a, sql);
    }
    // A failed batch of the writer hides nothing here (it rolled back).
    a.quarantine_from(MessageId(cut.0 + 1), "a failed batch");
    assert_eq!(count(&a, "SELECT count(*) FROM quarantine"), 2);
    let kept_ids: Vec<MessageId> = kept.iter().map(|m| m.id).collect();
    for node in [&a, &b] {
        assert_eq!(node.message(room, lost.id).expect("get"), None);
        assert_eq!(node.latest(room, 10).expect("latest").messages, kept);
        let after = node.after(room, kept[1].id, 10).expect("after");
        assert!(after.messages.is_empty() && !after.has_more);
        let before = node.before(room, MessageId(u64::MAX), 10).expect("before");
        assert_eq!(before.messages, kept);
        assert!(node.around(room, lost.id, 5).expect("around").is_none());
        assert!(node
            .edit_message(room, lost.id, "x")
            .expect("edit")
            .is_none());
        assert!(!node.delete_message(room, lost.id).expect("delete"));
        assert!(node
            .sent_with_client_id(UserId(1), "k")
            .expect("get")
            .is_none());
        let between = node.messages_between(0, u64::MAX).expect("between");
        assert_eq!(between.iter().map(|m| m.id).collect::<Vec<_>>(), kept_ids);
        assert!(node.indexable(room, lost.id).expect("indexable").is_none());
        let found = node
            .messages_found(&[(room, lost.id), (room, kept[0].id)])
            .expect("found");
        assert_eq!(found, vec![kept[0].clone()]);
    }
    assert!(a.edited_marks(10).expect("marks").is_empty());
}

#[test]
fn deleting_a_message_takes_its_reactions_and_its_edit_with_it() {
    let store = TestDb::new().store();
    let room = store
        .create_room("r", "", false, UserId(1))
        .expect("room")
        .id;
    let ids: Vec<MessageId> = store
        .append_batch(batch(room, 2))
        .expect("append")
        .iter()
        .map(|m| m.id)
        .collect();
    let (r, m0, m1) = (room.0 as i64, ids[0].0 as i64, ids[1].0 as i64);
    execute(
        &store,
        format!(
            "INSERT INTO reactions (room_id, message_id, emoji, user_id, username) VALUES
             ({r}, {m0}, 'up', 2, 'bob'), ({r}, {m0}, 'heart', 3, 'cy'),
             ({r}, {m0}, 'up', 4, 'dee'), ({r}, {m1}, 'heart', 2, 'bob')"
        ),
    );
    let edited = store
        .edit_message(room, ids[0], "new")
        .expect("edit")
        .expect("there");
    let seen: Vec<(String, usize, Vec<String>)> = edited
        .reactions
        .into_iter()
        .map(|r| (r.emoji, r.count, r.users))
        .collect();
    let want = vec![
        (
            "up".to_string(),
            2,
            vec!["bob".to_string(), "dee".to_string()],
        ),
        ("heart".to_string(), 1, vec!["cy".to_string()]),
    ];
    assert_eq!(seen, want);
    assert_eq!(store.edited_marks(10).expect("marks").len(), 1);
    assert!(store.delete_message(room, ids[0]).expect("delete"));
    assert!(!store.delete_message(room, ids[0]).expect("again"));
    assert_eq!(count(&store, "SELECT count(*) FROM reactions"), 1);
    assert!(store.edited_marks(10).expect("marks").is_empty());
    assert_eq!(store.message(room, ids[0]).expect("get"), None);
    let left = store.message(room, ids[1]).expect("get").expect("there");
    assert_eq!(left.reactions.len(), 1);
}

#[test]
fn an_edit_on_one_node_racing_a_delete_on_another_never_brings_it_back() {
    let db = TestDb::new();
    let (a, b) = (db.store(), db.store());
    let room = a.create_room("r", "", false, UserId(1)).expect("room").id;
    for round in 0..20 {
        let id = a.append_batch(batch(room, 1)).expect("append")[0].id;
        let editor = {
            let a = a.clone();
            std::thread::spawn(move || {
                for j in 0..10 {
                    a.edit_message(room, id, &format!("e{j}")).expect("edit");
                }
            })
        };
        assert!(b.delete_message(room, id).expect("delete"), "round {round}");
        editor.join().expect("editor");
        assert!(a.message(room, id).expect("get").is_none(), "round {round}");
    }
    assert!(a.edited_marks(10).expect("marks").is_empty());
}
