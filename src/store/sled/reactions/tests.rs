//! The reactions tree: order, idempotence, limits, deletion.

use super::*;
use crate::store::prelude::*;
use crate::store::testing::{append_messages, temp_sled};
use crate::store::{ReactionChange, MAX_DISTINCT_REACTIONS};

fn emojis(store: &SledStore, room: RoomId, msg: MessageId) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    store
        .announce_reactions(room, msg, &mut |list| {
            out = list
                .iter()
                .map(|r| (r.emoji.clone(), r.users.clone()))
                .collect();
        })
        .expect("read");
    out
}

#[test]
fn reactions_group_by_emoji_in_the_order_they_came() {
    let (store, _dir) = temp_sled();
    let room = RoomId(1);
    let ids = append_messages(&store, room, 3);
    let m = ids[1];
    for (emoji, user, name) in [("b", 9, "nine"), ("a", 3, "three"), ("b", 2, "two")] {
        let done = store
            .add_reaction(room, m, emoji, UserId(user), name)
            .expect("add");
        assert_eq!(done, ReactionChange::Changed);
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    assert_eq!(
        store
            .add_reaction(room, m, "b", UserId(2), "two")
            .expect("again"),
        ReactionChange::Unchanged
    );
    let want = vec![
        ("b".to_owned(), vec!["nine".to_owned(), "two".to_owned()]),
        ("a".to_owned(), vec!["three".to_owned()]),
    ];
    assert_eq!(emojis(&store, room, m), want);
    // Read for a page, the neighbours stay without reactions.
    let page = store.latest(room, 10).expect("page");
    let counts: Vec<usize> = page.messages.iter().map(|m| m.reactions.len()).collect();
    assert_eq!(counts, vec![0, 2, 0]);
    assert_eq!(page.messages[1].reactions[0].count, 2);
    assert_eq!(
        store
            .remove_reaction(room, m, "b", UserId(9))
            .expect("remove"),
        ReactionChange::Changed
    );
    assert_eq!(
        store
            .remove_reaction(room, m, "b", UserId(9))
            .expect("again"),
        ReactionChange::Unchanged
    );
    assert_eq!(emojis(&store, room, m)[1].1, vec!["two".to_owned()]);
}

#[test]
fn at_most_twenty_distinct_reactions_and_none_on_a_missing_message() {
    let (store, _dir) = temp_sled();
    let room = RoomId(1);
    let m = append_messages(&store, room, 1)[0];
    for i in 0..MAX_DISTINCT_REACTIONS {
        let e = format!("e{i}");
        let done = store
            .add_reaction(room, m, &e, UserId(1), "u")
            .expect("add");
        assert_eq!(done, ReactionChange::Changed);
    }
    let add = |e: &str, u: u64| store.add_reaction(room, m, e, UserId(u), "u").expect("add");
    assert_eq!(add("one more", 1), ReactionChange::TooMany);
    assert_eq!(
        add("e7", 2),
        ReactionChange::Changed,
        "an existing one is fine"
    );
    assert_eq!(
        store
            .add_reaction(room, MessageId(m.0 + 1), "x", UserId(1), "u")
            .expect("add"),
        ReactionChange::NoMessage
    );
    assert!(store.delete_message(room, m).expect("delete"));
    assert_eq!(store.inner.reactions.len(), 0, "deleted with the message");
}

#[test]
fn a_deleted_room_takes_its_reactions_along() {
    let (store, _dir) = temp_sled();
    let [gone, kept] =
        ["gone", "kept"].map(|n| store.create_room(n, "", false, UserId(1)).expect("room"));
    for room in [gone.id, kept.id] {
        for m in append_messages(&store, room, 3) {
            store
                .add_reaction(room, m, "x", UserId(1), "u")
                .expect("add");
        }
    }
    assert!(store.delete_room(gone.id).expect("delete"));
    assert_eq!(store.inner.reactions.len(), 3, "the other room's stay");
    let page = store.latest(kept.id, 10).expect("page");
    assert!(page.messages.iter().all(|m| m.reactions.len() == 1));
}
