//! The index, the thread and the queries together, on a real store.

use std::collections::HashSet;

use super::find::{Candidates, Check, Scope};
use super::indexer::rebuild_offline;
use super::query::parse;
use super::{Index, Search};
use crate::model::{MessageId, RoomId, UserId};
use crate::store::testing::{append_stored, append_texts, some_room, temp_store};
use crate::store::Store;

fn say(store: &Store, room: RoomId, user: u64, texts: &[&str]) -> Vec<MessageId> {
    append_texts(store, room, UserId(user), texts)
}

/// The ids a query finds in `rooms`, newest first, checked.
fn find(
    search: &Search,
    store: &Store,
    q: &str,
    rooms: &[RoomId],
    author: Option<u64>,
) -> Vec<u64> {
    let q = parse(q).expect("query");
    let scope = Scope {
        rooms: rooms.iter().map(|r| r.0).collect::<HashSet<_>>(),
        author,
        before: u64::MAX,
        limit: 100,
    };
    let Some(mut c) = Candidates::open(search.index(), &q, &scope).expect("open") else {
        return Vec::new();
    };
    let check = Check::new(&q);
    let mut out = Vec::new();
    while let Some(p) = c.next_match().expect("next") {
        let Some(m) = store
            .message(RoomId(p.room), MessageId(p.id))
            .expect("read")
        else {
            continue;
        };
        if check.highlights(&m.message).is_some() {
            out.push(p.id);
        }
    }
    out
}

#[test]
fn new_messages_edits_and_rebuilds_are_found() {
    let (store, dir) = temp_store();
    let room = some_room(&store);
    let old = say(
        &store,
        room,
        1,
        &["Raspberry pie at five", "the red fox", "東京都に行く"],
    );
    let (search, thread) = Search::start(dir.path(), &store).expect("start");
    search.barrier().expect("barrier");
    assert_eq!(find(&search, &store, "rasp", &[room], None), [old[0].0]);
    assert_eq!(
        find(&search, &store, "\"red fox\"", &[room], None),
        [old[1].0]
    );
    assert_eq!(find(&search, &store, "東京", &[room], None), [old[2].0]);
    assert!(find(&search, &store, "fox", &[RoomId(999)], None).is_empty());

    let stored = append_stored(&store, room, UserId(2), &["another fox, ÉLAN"]);
    search.offer(super::Keys::of(&stored));
    search.barrier().expect("barrier");
    let new = stored[0].id.0;
    assert_eq!(find(&search, &store, "fox", &[room], None), [new, old[1].0]);
    assert_eq!(find(&search, &store, "elan", &[room], None), [new]);
    assert_eq!(find(&search, &store, "fox", &[room], Some(2)), [new]);
    assert_eq!(find(&search, &store, "from:x", &[room], Some(2)), [new]);

    store
        .edit_message(room, old[1], "a grey wolf")
        .expect("edit");
    // The next wake indexes the edit.
    std::thread::sleep(std::time::Duration::from_millis(600));
    search.barrier().expect("barrier");
    assert_eq!(find(&search, &store, "fox", &[room], None), [new]);
    assert_eq!(find(&search, &store, "wolf", &[room], None), [old[1].0]);

    let events = search.rebuild().expect("rebuild");
    let mut done = None;
    while let Ok(e) = events.recv() {
        if let super::RebuildEvent::Done(r) = e {
            done = Some(r.expect("rebuilt"));
        }
    }
    assert_eq!(done, Some(4));
    assert_eq!(find(&search, &store, "wolf", &[room], None), [old[1].0]);
    assert_eq!(find(&search, &store, "fox", &[room], None), [new]);
    drop(search);
    thread.join();
}

#[test]
fn an_offline_rebuild_indexes_every_room_in_id_order() {
    let (store, dir) = temp_store();
    let a = some_room(&store);
    let owner = store.user_by_name("ann").expect("read").expect("ann").0;
    let b = store.create_room("b", "", false, owner).expect("room").id;
    let mut ids = Vec::new();
    for i in 0..3000 {
        let room = if i % 2 == 0 { a } else { b };
        ids.extend(say(&store, room, 1, &[&format!("common word{i}")]));
    }
    let index = Index::open(dir.path()).expect("index");
    let n = rebuild_offline(&index, &store, &mut |_| {}).expect("rebuild");
    assert_eq!(n, 3000);
    drop(index);
    let (search, thread) = Search::start(dir.path(), &store).expect("start");
    search.barrier().expect("barrier");
    let all = find(&search, &store, "common", &[a, b], None);
    let mut want: Vec<u64> = ids.iter().map(|m| m.0).collect();
    want.reverse();
    assert_eq!(all, want);
    assert_eq!(
        find(&search, &store, "word2999", &[a, b], None),
        [ids[2999].0]
    );
    assert_eq!(find(&search, &store, "common", &[b], None).len(), 1500);
    drop(search);
    thread.join();
}

#[test]
fn a_damaged_index_is_rebuilt_not_a_failure_to_start() {
    let (store, dir) = temp_store();
    let room = some_room(&store);
    let ids = say(&store, room, 1, &["kept words"]);
    std::fs::create_dir_all(dir.path().join("search")).expect("dir");
    std::fs::write(dir.path().join("search/manifest.json"), b"{not json").expect("write");
    std::fs::write(dir.path().join("search/seg-3.idx"), b"junk").expect("write");
    let (search, thread) = Search::start(dir.path(), &store).expect("start");
    search.barrier().expect("barrier");
    assert_eq!(find(&search, &store, "kept", &[room], None), [ids[0].0]);
    drop(search);
    thread.join();
}

#[test]
fn batches_dropped_by_a_full_queue_are_read_back_from_the_store() {
    use super::indexer::{offer, step, Shared};
    let (store, dir) = temp_store();
    let room = some_room(&store);
    let index = Index::open(dir.path()).expect("index");
    let shared = Shared::new(store.message_cutoff().0);
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    let mut ids = Vec::new();
    // No thread reads yet: the first batch is queued, the others dropped.
    for i in 0..3 {
        let stored = append_stored(&store, room, UserId(1), &[format!("lost{i} words")]);
        ids.push(stored[0].id.0);
        offer(&tx, &shared, super::Keys::of(&stored));
    }
    assert!(shared.lost.load(std::sync::atomic::Ordering::Acquire));
    // The thread takes what was queued: the first message alone; the
    // raised flag makes it read the others back.
    let Ok(super::indexer::Request::Keys(keys)) = rx.try_recv() else {
        panic!("the first batch was queued");
    };
    assert_eq!(keys.len(), 1);
    step(&index, &store, &shared, &keys).expect("step");
    assert!(!shared.lost.load(std::sync::atomic::Ordering::Acquire));
    let all = index.stream(b"words", u64::MAX).expect("stream");
    let mut found = Vec::new();
    let mut all = all;
    while let Some(p) = all.next_posting().expect("next") {
        found.push(p.id);
    }
    ids.reverse();
    assert_eq!(found, ids);
}
