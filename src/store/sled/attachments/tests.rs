use super::*;
use crate::model::{RoomId, UserId};
use crate::store::testing::temp_sled;
use crate::store::{attachment_ids, NewMessage};
use crate::store::{FileCreated, FileRecord, NewFile};

fn file(store: &SledStore, room: RoomId, user: UserId, bytes: &[u8]) -> FileRecord {
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

fn message(room: RoomId, user: UserId) -> NewMessage {
    NewMessage {
        room_id: room,
        user_id: user,
        user: "u".into(),
        message: String::new(),
        timestamp: Timestamp::now(),
        mentions: Vec::new(),
        client_id: None,
    }
}

/// A store with a user and a room of hers.
fn ann_and_her_room() -> (SledStore, tempfile::TempDir, RoomId, UserId) {
    let (store, dir) = temp_sled();
    let user = store
        .create_user("ann", "h", crate::model::Role::User)
        .expect("user");
    let room = store.create_room("r", "", false, user.id).expect("room").id;
    (store, dir, room, user.id)
}

#[test]
fn attachment_lists_are_bounded_and_without_repeats() {
    let ids = |n: usize| (0..n).map(|i| format!("{i:016x}")).collect::<Vec<_>>();
    assert_eq!(attachment_ids(&ids(10)).expect("ten").len(), 10);
    assert!(attachment_ids(&ids(11))
        .expect_err("11")
        .0
        .contains("too many"));
    let twice = vec![ids(1)[0].clone(), ids(1)[0].clone()];
    assert!(attachment_ids(&twice)
        .expect_err("dup")
        .0
        .contains("duplicate"));
    let bad = attachment_ids(&["x".into()]).expect_err("malformed");
    assert!(bad.0.contains("no such file"));
}

#[test]
fn a_batch_attaches_each_file_once_and_goes_on_past_a_refusal() {
    let (store, _dir, room, user) = ann_and_her_room();
    let f = file(&store, room, user, b"one");
    let g = file(&store, room, user, b"two");
    let out = store
        .append_attaching(vec![
            (message(room, user), vec![f.id]),
            (message(room, user), vec![g.id, f.id]),
            (message(room, user), vec![]),
            (message(room, user), vec![g.id]),
        ])
        .expect("append");
    assert_eq!(out.stored.len(), 3);
    assert_eq!(out.refused.len(), 1);
    assert_eq!(out.refused[0].0, 1);
    assert!(out.refused[0].1 .0.contains("already attached"));
    assert!(matches!(out.at(1), Some(Err(_))));
    assert_eq!(out.at(3).and_then(Result::ok), out.stored.get(2));
    let first = &out.stored[0];
    assert_eq!(first.attachments[0].id, f.id);
    // The refused message claimed nothing: g went to the fourth.
    let g_now = store.file(g.id).expect("get").expect("there");
    assert_eq!(g_now.message_id, Some(out.stored[2].id));
    let read = store.message(room, first.id).expect("get").expect("there");
    assert_eq!(read.attachments, first.attachments);
    let edited = store
        .edit_message(room, first.id, "words")
        .expect("edit")
        .expect("there");
    assert_eq!(edited.attachments, first.attachments);
}

#[test]
fn the_sweep_takes_old_unattached_files_and_those_of_a_gone_message_only() {
    let (store, _dir, room, user) = ann_and_her_room();
    let idle = file(&store, room, user, b"idle");
    let kept = file(&store, room, user, b"kept");
    let orphan = file(&store, room, user, b"orphan");
    let out = store
        .append_attaching(vec![
            (message(room, user), vec![kept.id]),
            (message(room, user), vec![orphan.id]),
        ])
        .expect("append");
    assert!(store.sweep_files(Timestamp(0)).expect("sweep").is_empty());
    assert!(store
        .delete_message(room, out.stored[1].id)
        .expect("delete"));
    let far = Timestamp(Timestamp::now().0 + 1000);
    let mut gone = store.sweep_files(far).expect("sweep");
    gone.sort();
    let mut want = vec![idle.sha256, orphan.sha256];
    want.sort();
    assert_eq!(gone, want);
    assert!(store.file(kept.id).expect("get").is_some());
    assert!(store.file(idle.id).expect("get").is_none());
}

#[test]
fn a_deleted_room_refuses_attachments() {
    let (store, _dir, room, user) = ann_and_her_room();
    let f = file(&store, room, user, b"one");
    assert!(store.delete_room(room).expect("delete"));
    let out = store
        .append_attaching(vec![(message(room, user), vec![f.id])])
        .expect("append");
    assert!(out.stored.is_empty());
    assert!(out.refused[0].1 .0.contains("deleted"));
}
