//! Reactions (docs/protocol-additions.md, "Reactions"): `PUT` and `DELETE
//! /api/rooms/{roomId}/messages/{messageId}/reactions/{emoji}`, the
//! `reactions` of the message object wherever it is served, and
//! `reactionsUpdated` on both doors; concurrent toggles, limits, 404s, and
//! a backup's round trip.

use crate::common;
use crate::socketio::Sio;

use std::path::Path;
use std::time::Duration;

use common::*;
use futures_util::future::join_all;
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use serde_json::{json, Value};

const THUMBS: &str = "👍";
const PARTY: &str = "🎉";
const NO_SUCH_ID: &str = "0123456789abcdef";

/// The reaction path of a message, the emoji percent-encoded as a client
/// must send it.
fn reaction_path(room: &str, msg: &str, emoji: &str) -> String {
    let emoji = utf8_percent_encode(emoji, NON_ALPHANUMERIC);
    format!("/api/rooms/{room}/messages/{msg}/reactions/{emoji}")
}

/// `u` adds (`on`) or removes its reaction: the status and the answer.
async fn react(s: &Server, u: &User, room: &str, msg: &str, emoji: &str, on: bool) -> (u16, Value) {
    let method = if on { "PUT" } else { "DELETE" };
    request(s, method, u, &reaction_path(room, msg, emoji), None).await
}

/// Like [`react`], which must answer 204.
async fn toggle(s: &Server, u: &User, room: &str, msg: &str, emoji: &str, on: bool) {
    let (status, body) = react(s, u, room, msg, emoji, on).await;
    assert_eq!(status, 204, "{} {emoji} on={on}: {body}", u.name);
}

/// A message of a room as the history serves it.
async fn served(s: &Server, u: &User, room: &str, msg: &str) -> Value {
    let (status, page) = get(s, u, &format!("/api/rooms/{room}/messages?limit=200")).await;
    assert_eq!(status, 200, "{page}");
    page["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .find(|m| m["id"] == msg)
        .unwrap_or_else(|| panic!("message {msg} in the history: {page}"))
        .clone()
}

/// Asserts a 4xx answer with its contract code.
#[track_caller]
fn refused(answer: (u16, Value), status: u16, code: &str, what: &str) {
    assert_eq!(answer.0, status, "{what}: {}", answer.1);
    assert_eq!(answer.1["error"]["code"], code, "{what}: {}", answer.1);
}

/// Each reaction's users by emoji, for comparisons that do not depend on
/// the order concurrent requests happened to take; checks each count.
fn by_emoji(reactions: &Value) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = reactions
        .as_array()
        .expect("reactions")
        .iter()
        .map(|r| {
            let mut users: Vec<String> = r["users"]
                .as_array()
                .expect("users")
                .iter()
                .map(str_of)
                .collect();
            assert_eq!(r["count"], users.len(), "count of {r}");
            users.sort();
            (str_of(&r["emoji"]), users)
        })
        .collect();
    out.sort();
    out
}

fn names(range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("user{i:02}")).collect()
}

#[tokio::test]
async fn twenty_users_toggling_at_once_end_with_the_right_counts() {
    let (s, [owner], room) = general(["owner"]).await;
    let mut users = Vec::new();
    for name in names(0..20) {
        users.push(register(&s, &name).await);
    }
    let mut watcher = Client::joined(&s, &owner, &[&room]).await;
    let msg = id_of(&watcher.say(&room, "react to me").await);
    let (s, room, msg) = (&s, room.as_str(), msg.as_str());

    // Everyone adds both at once.
    let adds = users
        .iter()
        .flat_map(|u| [THUMBS, PARTY].map(|e| toggle(s, u, room, msg, e, true)));
    join_all(adds).await;
    // Then, at once: the first ten take their thumbs back while the others
    // add theirs again, and the first five take their party back while the
    // next five add it again.
    let mut round = Vec::new();
    for (i, u) in users.iter().enumerate() {
        round.push(toggle(s, u, room, msg, THUMBS, i >= 10));
        if i < 10 {
            round.push(toggle(s, u, room, msg, PARTY, i >= 5));
        }
    }
    join_all(round).await;

    let reactions = served(s, &owner, room, msg).await["reactions"].clone();
    assert_eq!(
        by_emoji(&reactions),
        vec![
            (PARTY.to_owned(), names(5..20)),
            (THUMBS.to_owned(), names(10..20)),
        ]
    );
    // Every change was announced before its answer; the last announcement
    // holds them all, in the order the history serves them.
    let frames = watcher.drain(Duration::from_millis(500)).await;
    let last = frames
        .iter()
        .rev()
        .find(|f| f["event"] == "reactionsUpdated")
        .expect("reactionsUpdated frames");
    assert_eq!(
        last["data"],
        json!({"roomId": room, "id": msg, "reactions": reactions})
    );
}

/// Alice and bob in alice's room "general", where alice said two things:
/// the server, the two of them, the room's id, the ids of the messages.
async fn two_messages() -> (Server, [User; 2], String, [String; 2]) {
    let (s, users, room) = general(["alice", "bob"]).await;
    let mut a = Client::joined(&s, &users[0], &[&room]).await;
    let first = id_of(&a.say(&room, "first").await);
    let second = id_of(&a.say(&room, "second").await);
    (s, users, room, [first, second])
}

#[tokio::test]
async fn reactions_are_idempotent_and_travel_with_the_message() {
    let (s, [alice, bob], room, [first, msg]) = two_messages().await;

    for _ in 0..2 {
        toggle(&s, &bob, &room, &msg, THUMBS, true).await;
    }
    tokio::time::sleep(Duration::from_millis(5)).await;
    toggle(&s, &alice, &room, &msg, "+1", true).await;
    toggle(&s, &alice, &room, &msg, THUMBS, true).await;
    // By the earliest reaction, then each emoji's users as they came.
    let want = json!([
        {"emoji": THUMBS, "count": 2, "users": ["bob", "alice"]},
        {"emoji": "+1", "count": 1, "users": ["alice"]},
    ]);
    assert_eq!(served(&s, &bob, &room, &msg).await["reactions"], want);
    assert!(served(&s, &bob, &room, &first)
        .await
        .get("reactions")
        .is_none());

    // A catch-up after `first` carries them.
    let mut b = Client::connect(&s, &bob).await;
    b.emit("joinRoom", json!({"roomId": room, "since": first}))
        .await;
    let caught = b.next_event("receiveMessage").await;
    assert_eq!(caught["data"]["id"], msg);
    assert_eq!(caught["data"]["reactions"], want);

    // So do the answer to an edit and its announcement.
    let path = format!("/api/rooms/{room}/messages/{msg}");
    let (status, edited) =
        request(&s, "PATCH", &alice, &path, Some(json!({"message": "2nd"}))).await;
    assert_eq!(status, 200, "{edited}");
    assert_eq!(edited["reactions"], want);
    let announced = b.next_event("messageEdited").await;
    assert_eq!(announced["data"]["reactions"], want);

    // Removing twice, or what was never there, is 204 as well.
    for _ in 0..2 {
        toggle(&s, &bob, &room, &msg, THUMBS, false).await;
    }
    toggle(&s, &bob, &room, &msg, "never", false).await;
    toggle(&s, &alice, &room, &msg, THUMBS, false).await;
    toggle(&s, &alice, &room, &msg, "+1", false).await;
    let m = served(&s, &bob, &room, &msg).await;
    assert!(m.get("reactions").is_none(), "omitted when empty: {m}");
}

#[tokio::test]
async fn reactions_are_short_tokens_and_a_message_holds_twenty_at_most() {
    let (s, [alice, bob], room) = general(["alice", "bob"]).await;
    let mut a = Client::joined(&s, &alice, &[&room]).await;
    let msg = id_of(&a.say(&room, "hello").await);

    let longest = "x".repeat(32);
    toggle(&s, &alice, &room, &msg, &longest, true).await;
    for bad in ["y".repeat(33), "a b".into(), "tab\t".into(), "\u{7}".into()] {
        for on in [true, false] {
            let answer = react(&s, &alice, &room, &msg, &bad, on).await;
            refused(
                answer,
                400,
                "validation_failed",
                &format!("{bad:?} on={on}"),
            );
        }
    }
    let not_utf8 = format!("/api/rooms/{room}/messages/{msg}/reactions/%FF");
    let answer = request(&s, "PUT", &alice, &not_utf8, None).await;
    refused(
        answer,
        400,
        "validation_failed",
        "a reaction that is not UTF-8",
    );

    for i in 1..20 {
        toggle(&s, &alice, &room, &msg, &format!("r{i}"), true).await;
    }
    let answer = react(&s, &bob, &room, &msg, "r20", true).await;
    refused(answer, 400, "validation_failed", "a 21st distinct reaction");
    // One of the twenty is still open to everyone.
    toggle(&s, &bob, &room, &msg, "r1", true).await;
    // Once one of them is gone, a new one fits.
    toggle(&s, &alice, &room, &msg, "r2", false).await;
    toggle(&s, &bob, &room, &msg, "r20", true).await;
    let reactions = served(&s, &alice, &room, &msg).await["reactions"].clone();
    assert_eq!(reactions.as_array().map(Vec::len), Some(20), "{reactions}");
}

#[tokio::test]
async fn reactions_need_a_visible_room_and_a_message_of_it() {
    let (s, [alice, bob], room) = general(["alice", "bob"]).await;
    let hideout = room_id(&s, &alice, "hideout", true).await;
    let mut a = Client::joined(&s, &alice, &[&room, &hideout]).await;
    let msg = id_of(&a.say(&room, "public").await);
    let secret = id_of(&a.say(&hideout, "private").await);
    let gone = id_of(&a.say(&room, "deleted soon").await);
    let path = format!("/api/rooms/{room}/messages/{gone}");
    assert_eq!(request(&s, "DELETE", &alice, &path, None).await.0, 204);

    let cases: [(&str, &str, &str); 7] = [
        (NO_SUCH_ID, &msg, "an unknown room"),
        ("nope", &msg, "a malformed room id"),
        (&hideout, &secret, "a private room bob is not in"),
        (&room, NO_SUCH_ID, "an unknown message"),
        (&room, "nope", "a malformed message id"),
        (&room, &secret, "a message of another room"),
        (&room, &gone, "a deleted message"),
    ];
    for (r, m, what) in cases {
        for on in [true, false] {
            let answer = react(&s, &bob, r, m, THUMBS, on).await;
            refused(answer, 404, "not_found", &format!("{what}, on={on}"));
        }
    }
    add_member(&s, &alice, &hideout, "bob").await;
    toggle(&s, &bob, &hideout, &secret, THUMBS, true).await;
}

#[tokio::test]
async fn reactions_updated_reaches_the_room_on_both_doors() {
    let (s, [alice, bob, carol], room) = general(["alice", "bob", "carol"]).await;
    let mut a = Client::joined(&s, &alice, &[&room]).await;
    let msg = id_of(&a.say(&room, "react").await);
    let mut b = Client::joined(&s, &bob, &[&room]).await;
    let mut c = Sio::connect(&s, &carol).await;
    let joined = c.call(0, "joinRoom", json!({ "roomId": room })).await;
    assert_eq!(joined["room"]["id"], room, "{joined}");

    let expect = |reactions: Value| json!({"roomId": room, "id": msg, "reactions": reactions});
    toggle(&s, &alice, &room, &msg, PARTY, true).await;
    let added = expect(json!([{"emoji": PARTY, "count": 1, "users": ["alice"]}]));
    assert_eq!(b.next_event("reactionsUpdated").await["data"], added);
    assert_eq!(sio_event(&mut c, "reactionsUpdated").await, added);

    toggle(&s, &alice, &room, &msg, PARTY, false).await;
    let removed = expect(json!([]));
    assert_eq!(b.next_event("reactionsUpdated").await["data"], removed);
    assert_eq!(sio_event(&mut c, "reactionsUpdated").await, removed);
}

/// The data of the next Socket.IO event named `name`, others skipped.
async fn sio_event(c: &mut Sio, name: &str) -> Value {
    loop {
        let (event, data) = c.event().await;
        if event == name {
            return data;
        }
    }
}

/// Runs an admin command (bounded), which must succeed; its standard error.
fn admin(args: &[&str]) -> String {
    let out = run_bounded(admin_command(args), b"", Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{args:?}: {err}");
    err
}

fn p(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

#[tokio::test]
async fn a_backup_carries_reactions_through_restore() {
    let (s, [alice, bob], room, [first, second]) = two_messages().await;
    toggle(&s, &bob, &room, &first, THUMBS, true).await;
    toggle(&s, &alice, &room, &first, THUMBS, true).await;
    toggle(&s, &alice, &room, &second, PARTY, true).await;
    let before = all_messages(&s, &alice, &room).await;

    let tmp = tempfile::tempdir().expect("tempdir");
    let file = tmp.path().join("chat.backup");
    let summary = admin(&["backup", "--data-dir", p(&s.dir), "--output", p(&file)]);
    assert!(summary.contains("\"reactions\":3"), "{summary}");
    let restored_dir = tmp.path().join("restored");
    admin(&[
        "restore",
        "--input",
        p(&file),
        "--data-dir",
        p(&restored_dir),
    ]);
    drop(s);

    let r = Server::spawn(&restored_dir, "127.0.0.1:0", &[]);
    let alice = login_user(&r, "alice", "correct horse").await;
    let bob = login_user(&r, "bob", "correct horse").await;
    assert_eq!(all_messages(&r, &alice, &room).await, before);
    // The restored reactions are live ones: they can be taken back.
    toggle(&r, &bob, &room, &first, THUMBS, false).await;
    assert_eq!(
        served(&r, &alice, &room, &first).await["reactions"],
        json!([{"emoji": THUMBS, "count": 1, "users": ["alice"]}])
    );
}
