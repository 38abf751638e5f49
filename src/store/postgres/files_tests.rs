//! The PostgreSQL store's files' records, against a real server.

use std::sync::{Arc, Barrier};

use crate::files::Sha256;
use crate::model::{MessageId, RoomId, Timestamp, UserId};
use crate::store::postgres::testing::TestDb;
use crate::store::postgres::PgStore;
use crate::store::{
    FileCreated, FileRecord, FileStore, MessageStore, NewFile, NewMessage, RoomStore,
};

fn new_file(user: u64, bytes: &[u8]) -> NewFile {
    NewFile {
        room_id: RoomId(5),
        uploader_id: UserId(user),
        name: "a.txt".into(),
        size: bytes.len() as u64,
        content_type: "text/plain".into(),
        sha256: Sha256::of(bytes),
    }
}

fn created(r: FileCreated) -> FileRecord {
    match r {
        FileCreated::Created(rec) => rec,
        FileCreated::OverQuota => panic!("over quota"),
    }
}

#[test]
fn a_blob_is_unreferenced_only_when_its_last_record_goes() {
    let store = TestDb::new().store();
    let a = created(store.create_file(new_file(1, b"same"), None).expect("a"));
    let b = created(store.create_file(new_file(2, b"same"), None).expect("b"));
    let c = created(store.create_file(new_file(2, b"other"), None).expect("c"));
    assert_eq!(store.file(a.id).expect("get"), Some(a.clone()));
    let listed: Vec<u64> = store
        .room_files(RoomId(5))
        .expect("list")
        .iter()
        .map(|f| f.id.0)
        .collect();
    let mut sorted = vec![a.id.0, b.id.0, c.id.0];
    sorted.sort_unstable();
    assert_eq!(listed, sorted, "oldest id first, as u64");
    assert_eq!(store.file_usage(UserId(1)).expect("usage"), 4);
    assert_eq!(store.delete_files(&[a.id]).expect("delete"), vec![]);
    assert!(store.blob_referenced(&a.sha256).expect("ref"));
    assert_eq!(store.file_usage(UserId(1)).expect("usage"), 0);
    assert_eq!(
        store.delete_files(&[b.id, b.id]).expect("delete"),
        vec![b.sha256]
    );
    assert!(!store.blob_referenced(&b.sha256).expect("ref"));
    assert_eq!(store.file(b.id).expect("get"), None);
    assert_eq!(store.file_usage(UserId(2)).expect("usage"), 5);
    assert_eq!(store.room_files(RoomId(5)).expect("list"), vec![c]);
    assert!(store.delete_files(&[]).expect("nothing").is_empty());
}

#[test]
fn the_quota_holds_across_files() {
    let store = TestDb::new().store();
    let first = created(
        store
            .create_file(new_file(1, b"12345"), Some(8))
            .expect("first"),
    );
    let over = store
        .create_file(new_file(1, b"6789"), Some(8))
        .expect("second");
    assert_eq!(over, FileCreated::OverQuota);
    let too_big = store
        .create_file(new_file(3, b"123456789"), Some(8))
        .expect("big");
    assert_eq!(too_big, FileCreated::OverQuota);
    assert_eq!(store.file_usage(UserId(1)).expect("usage"), 5);
    assert_eq!(store.file_usage(UserId(3)).expect("usage"), 0);
    created(
        store
            .create_file(new_file(2, b"6789"), Some(8))
            .expect("other user"),
    );
    store.delete_files(&[first.id]).expect("delete");
    created(
        store
            .create_file(new_file(1, b"6789"), Some(8))
            .expect("after delete"),
    );
    created(
        store
            .create_file(new_file(1, b"abcd"), Some(8))
            .expect("to the quota"),
    );
    created(
        store
            .create_file(new_file(1, b"e"), None)
            .expect("no quota"),
    );
    assert_eq!(store.file_usage(UserId(1)).expect("usage"), 9);
}

#[test]
fn eight_uploaders_on_two_nodes_stop_at_the_quota_together() {
    let db = TestDb::new();
    let nodes = [db.store(), db.store()];
    let barrier = Arc::new(Barrier::new(8));
    let uploads: Vec<_> = (0..8u8)
        .map(|t| {
            let node = nodes[usize::from(t % 2)].clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                (0..6u8)
                    .filter(|i| {
                        let made = node.create_file(new_file(1, &[t, *i]), Some(30));
                        matches!(made.expect("create"), FileCreated::Created(_))
                    })
                    .count()
            })
        })
        .collect();
    let made: usize = uploads
        .into_iter()
        .map(|u| u.join().expect("uploader"))
        .sum();
    assert_eq!(made, 15);
    assert_eq!(nodes[1].file_usage(UserId(1)).expect("usage"), 30);
    assert_eq!(nodes[0].room_files(RoomId(5)).expect("list").len(), 15);
}

#[test]
fn two_nodes_deleting_the_last_two_records_of_a_blob_give_it_back_once() {
    let db = TestDb::new();
    let nodes = [db.store(), db.store()];
    for round in 0..20u8 {
        let bytes = [round];
        let a = created(nodes[0].create_file(new_file(1, &bytes), None).expect("a"));
        let b = created(nodes[1].create_file(new_file(2, &bytes), None).expect("b"));
        let barrier = Arc::new(Barrier::new(2));
        let deletions: Vec<_> = [(nodes[0].clone(), a.id), (nodes[1].clone(), b.id)]
            .into_iter()
            .map(|(node, id)| {
                let barrier = barrier.clone();
                std::thread::spawn(move || {
                    barrier.wait();
                    node.delete_files(&[id]).expect("delete")
                })
            })
            .collect();
        let gone: Vec<Sha256> = deletions
            .into_iter()
            .flat_map(|d| d.join().expect("deletion"))
            .collect();
        assert_eq!(gone, vec![a.sha256], "round {round}");
    }
    assert_eq!(nodes[0].file_usage(UserId(1)).expect("usage"), 0);
}

#[test]
fn a_thumbnail_blob_is_counted_like_the_file() {
    let store = TestDb::new().store();
    let a = created(store.create_file(new_file(1, b"img"), None).expect("a"));
    let thumb = Sha256::of(b"thumb");
    assert!(store
        .set_file_image(a.id, 640, 480, Some(thumb))
        .expect("set"));
    let rec = store.file(a.id).expect("get").expect("there");
    assert_eq!(
        (rec.width, rec.height, rec.thumb_sha256),
        (Some(640), Some(480), Some(thumb))
    );
    assert!(store.blob_referenced(&thumb).expect("ref"));
    let mut want = vec![a.sha256, thumb];
    want.sort();
    assert_eq!(store.delete_files(&[a.id]).expect("delete"), want);
    assert!(!store.set_file_image(a.id, 1, 1, None).expect("gone"));
}

/// A message of user 4 in `room`.
fn message(room: RoomId) -> NewMessage {
    NewMessage {
        room_id: room,
        user_id: UserId(4),
        user: "u".into(),
        message: String::new(),
        timestamp: Timestamp::now(),
        mentions: Vec::new(),
        client_id: None,
    }
}

/// A file of user 4 in `room`.
fn file_in(store: &PgStore, room: RoomId, bytes: &[u8]) -> FileRecord {
    let new = crate::store::testing::new_file(room, bytes);
    created(store.create_file(new, None).expect("create"))
}

#[test]
fn the_sweep_takes_old_unattached_files_and_those_of_a_gone_message_only() {
    let store = TestDb::new().store();
    let room = store
        .create_room("r", "", false, UserId(4))
        .expect("room")
        .id;
    let idle = file_in(&store, room, b"idle");
    let kept = file_in(&store, room, b"kept");
    let orphan = file_in(&store, room, b"orphan");
    let out = store
        .append_attaching(vec![
            (message(room), vec![kept.id]),
            (message(room), vec![orphan.id]),
        ])
        .expect("append");
    assert!(store.sweep_files(Timestamp(0)).expect("sweep").is_empty());
    assert!(store
        .delete_message(room, out.stored[1].id)
        .expect("delete"));
    let far = Timestamp(Timestamp::now().0 + 1000);
    let mut want = vec![idle.sha256, orphan.sha256];
    want.sort();
    assert_eq!(store.sweep_files(far).expect("sweep"), want);
    assert!(store.file(kept.id).expect("get").is_some());
    assert!(store.file(idle.id).expect("get").is_none());
    assert_eq!(store.file_usage(UserId(4)).expect("usage"), 4);
}

#[test]
fn a_file_attached_while_another_node_sweeps_is_kept() {
    let db = TestDb::new();
    let (writer, sweeper) = (db.store(), db.store());
    let room = writer
        .create_room("r", "", false, UserId(4))
        .expect("room")
        .id;
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sweeps = {
        let done = done.clone();
        std::thread::spawn(move || {
            let far = Timestamp(Timestamp::now().0 + 60_000);
            let mut swept = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                swept += sweeper.sweep_files(far).expect("sweep").len();
            }
            swept
        })
    };
    // Each file is attached right after its upload: the sweep, which
    // takes every unattached file, races each attachment.
    let mut attached: Vec<(MessageId, FileRecord)> = Vec::new();
    let uploads = 60u8;
    for i in 0..uploads {
        let f = file_in(&writer, room, &[i]);
        let out = writer
            .append_attaching(vec![(message(room), vec![f.id])])
            .expect("append");
        match out.stored.first() {
            Some(m) => attached.push((m.id, f)),
            None => assert!(out.refused[0].1 .0.contains("no such file")),
        }
    }
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let swept = sweeps.join().expect("sweeper");
    assert_eq!(swept + attached.len(), usize::from(uploads));
    for (id, f) in &attached {
        let now = writer.file(f.id).expect("get").expect("kept");
        assert_eq!(now.message_id, Some(*id));
    }
    assert!(writer.sweep_files(Timestamp(0)).expect("sweep").is_empty());
}
