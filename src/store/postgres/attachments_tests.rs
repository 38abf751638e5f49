//! Attaching files to messages in the PostgreSQL store, against a real
//! server.

use std::sync::{Arc, Barrier};

use crate::files::Sha256;
use crate::model::{FileId, Message, MessageId, RoomId, Timestamp, UserId};
use crate::store::postgres::testing::{column, TestDb};
use crate::store::postgres::PgStore;
use crate::store::{
    Appended, FileCreated, FileRecord, FileStore, HistoryStore, MessageStore, NewFile, NewMessage,
    RoomStore,
};

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

/// Every stored message id, in order.
fn stored_ids(store: &PgStore) -> Vec<u64> {
    let ids: Vec<i64> = column(store, "SELECT id FROM messages ORDER BY id");
    ids.into_iter().map(|id| id as u64).collect()
}

/// The stored file of `bytes` that `user` uploaded to `room`.
fn file(store: &PgStore, room: RoomId, user: UserId, bytes: &[u8]) -> FileRecord {
    let new = NewFile {
        room_id: room,
        uploader_id: user,
        name: "a.txt".into(),
        size: bytes.len() as u64,
        content_type: "text/plain".into(),
        sha256: Sha256::of(bytes),
    };
    match store.create_file(new, None).expect("create") {
        FileCreated::Created(rec) => rec,
        FileCreated::OverQuota => panic!("over quota"),
    }
}

#[test]
fn refused_attachments_say_why_and_take_no_id() {
    let store = TestDb::new().store();
    let (ann, bob) = (UserId(1), UserId(2));
    let room = store.create_room("r", "", false, ann).expect("room").id;
    let elsewhere = store.create_room("o", "", false, ann).expect("room").id;
    let f = file(&store, room, ann, b"f");
    let g = file(&store, room, ann, b"g");
    let bobs = file(&store, room, bob, b"h");
    let other = file(&store, elsewhere, ann, b"o");
    let first = store
        .append_batch(vec![sent(room, ann, None)])
        .expect("append")[0]
        .id;
    let out = store
        .append_attaching(vec![
            (sent(room, ann, None), vec![FileId(0xabc)]),
            (sent(room, ann, Some("k")), vec![f.id]),
            (sent(room, ann, None), vec![other.id]),
            (sent(room, ann, None), vec![bobs.id]),
            (sent(room, ann, None), vec![g.id, f.id]),
            (sent(room, ann, None), vec![]),
            (sent(room, ann, None), vec![g.id, g.id]),
            (sent(room, ann, None), vec![g.id]),
        ])
        .expect("append");
    let why: Vec<(usize, String)> = out.refused.iter().map(|(p, r)| (*p, r.0.clone())).collect();
    let want = [
        (0, format!("attachment {}: no such file", FileId(0xabc))),
        (
            2,
            format!("attachment {}: uploaded to another room", other.id),
        ),
        (3, format!("attachment {}: not uploaded by you", bobs.id)),
        (
            4,
            format!("attachment {}: already attached to another message", f.id),
        ),
        (
            6,
            format!("attachment {}: already attached to another message", g.id),
        ),
    ];
    assert_eq!(why, want);
    let ids: Vec<u64> = out.stored.iter().map(|m| m.id.0).collect();
    assert_eq!(ids, (first.0 + 1..first.0 + 4).collect::<Vec<_>>());
    assert_eq!(store.message_cutoff(), MessageId(first.0 + 4));
    assert_eq!(out.at(7).and_then(Result::ok), out.stored.get(2));
    let claimed = |rec: &FileRecord| store.file(rec.id).expect("get").expect("there");
    assert_eq!(claimed(&f).message_id, Some(out.stored[0].id));
    assert_eq!(claimed(&g).message_id, Some(out.stored[2].id));
    assert_eq!(claimed(&other).message_id, None);
    assert_eq!(out.stored[0].attachments[0].id, f.id);
    let read = store.message(room, out.stored[0].id).expect("get");
    assert_eq!(read.as_ref(), Some(&out.stored[0]));
    let found = store.sent_with_client_id(ann, "k").expect("get");
    assert_eq!(found.as_ref(), Some(&out.stored[0]));

    // A file attached by a committed batch, and a deleted room.
    let later = store
        .append_attaching(vec![(sent(room, ann, None), vec![f.id])])
        .expect("append");
    assert!(later.refused[0].1 .0.contains("already attached"));
    let h = file(&store, elsewhere, ann, b"h");
    assert!(store.delete_room(elsewhere).expect("delete"));
    let deleted = store
        .append_attaching(vec![(sent(elsewhere, ann, None), vec![h.id])])
        .expect("append");
    assert_eq!(deleted.refused[0].1 .0, "the room was deleted");
    assert_eq!(store.message_cutoff(), MessageId(first.0 + 4));
}

#[test]
fn attachments_come_back_in_the_order_they_were_listed() {
    let store = TestDb::new().store();
    let ann = UserId(1);
    let room = store.create_room("r", "", false, ann).expect("room").id;
    let files: Vec<FileRecord> = (0..5u8).map(|i| file(&store, room, ann, &[i])).collect();
    let listed: Vec<FileId> = [3, 0, 4, 1, 2].iter().map(|&i| files[i].id).collect();
    let out = store
        .append_attaching(vec![(sent(room, ann, None), listed.clone())])
        .expect("append");
    let m = &out.stored[0];
    let ids = |m: &Message| m.attachments.iter().map(|a| a.id).collect::<Vec<_>>();
    assert_eq!(ids(m), listed);
    let page = store.latest(room, 10).expect("latest");
    assert_eq!(page.messages, vec![m.clone()]);
    let edited = store
        .edit_message(room, m.id, "x")
        .expect("edit")
        .expect("there");
    assert_eq!(ids(&edited), listed);
}

#[test]
fn one_file_named_by_batches_on_two_nodes_goes_to_one_of_them() {
    let db = TestDb::new();
    let nodes = [db.store(), db.store()];
    let ann = UserId(1);
    let room = nodes[0].create_room("r", "", false, ann).expect("room").id;
    for round in 0..15u8 {
        let f = file(&nodes[0], room, ann, &[round]);
        let barrier = Arc::new(Barrier::new(2));
        let runs: Vec<_> = nodes
            .iter()
            .map(|node| {
                let (node, barrier) = (node.clone(), barrier.clone());
                std::thread::spawn(move || {
                    let batch = vec![
                        (sent(room, ann, None), vec![]),
                        (sent(room, ann, None), vec![f.id]),
                        (sent(room, ann, None), vec![]),
                    ];
                    barrier.wait();
                    node.append_attaching(batch).expect("append")
                })
            })
            .collect();
        let outs: Vec<Appended> = runs.into_iter().map(|t| t.join().expect("node")).collect();
        let winners: Vec<&Appended> = outs.iter().filter(|o| o.refused.is_empty()).collect();
        assert_eq!(winners.len(), 1, "round {round}");
        let loser = outs.iter().find(|o| !o.refused.is_empty()).expect("loser");
        assert_eq!(loser.refused[0].0, 1);
        assert!(loser.refused[0].1 .0.contains("already attached"));
        assert_eq!(loser.stored.len(), 2);
        let owner = nodes[1].file(f.id).expect("get").expect("there").message_id;
        assert_eq!(owner, Some(winners[0].stored[1].id), "round {round}");
    }
    let ids = stored_ids(&nodes[0]);
    assert_eq!(ids, (0..15 * 5).collect::<Vec<_>>());
}
