//! Per-user allowances of the REST writes that each cost a flush
//! (docs/protocol-additions.md, "Write limits"): reaction changes, room
//! edits and file uploads. The allowance holds under concurrent requests, a refusal is 429
//! `rate_limited` with `Retry-After`, one user's spending leaves the others
//! alone, and the allowance refills.

use crate::common;

use std::time::Duration;

use common::*;
use futures_util::future::join_all;
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use serde_json::{json, Value};

const THUMBS: &str = "👍";

/// An answer as these tests look at it: status, `Retry-After`, body.
#[derive(Debug)]
struct Answer {
    status: u16,
    retry_after: Option<u64>,
    body: Value,
}

/// `method path` as `u` with an optional JSON body.
async fn send(s: &Server, u: &User, method: &str, path: &str, body: Option<Value>) -> Answer {
    answer(send_as(s, method, u, path, body).await).await
}

/// The parts of `res` these tests look at.
async fn answer(res: reqwest::Response) -> Answer {
    let retry_after = res
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().expect("ASCII").parse().expect("whole seconds"));
    Answer {
        status: res.status().as_u16(),
        retry_after,
        body: res.json().await.unwrap_or(Value::Null),
    }
}

/// `u` adds (`on`) or removes its reaction `emoji` to `msg`.
async fn react(s: &Server, u: &User, room: &str, msg: &str, emoji: &str, on: bool) -> Answer {
    let emoji = utf8_percent_encode(emoji, NON_ALPHANUMERIC);
    let path = format!("/api/rooms/{room}/messages/{msg}/reactions/{emoji}");
    send(s, u, if on { "PUT" } else { "DELETE" }, &path, None).await
}

/// `u` changes the description of `room` to `text`.
async fn describe(s: &Server, u: &User, room: &str, text: impl Into<String>) -> Answer {
    let text = text.into();
    let body = json!({ "description": text });
    send(s, u, "PATCH", &format!("/api/rooms/{room}"), Some(body)).await
}

/// `u` uploads a small text file named `name` to `room`.
async fn upload(s: &Server, u: &User, room: &str, name: &str) -> Answer {
    let res = http()
        .post(s.url(&format!("/api/rooms/{room}/files")))
        .bearer_auth(&u.token)
        .header("content-type", "text/plain")
        .header("x-filename", name)
        .body(format!("the file {name}"))
        .send()
        .await
        .expect("upload");
    answer(res).await
}

/// Asserts a refusal of the allowance: 429 `rate_limited` in the
/// contract's error shape, with a `Retry-After` of at least 1 and at most
/// `longest` seconds.
#[track_caller]
fn assert_limited(a: &Answer, longest: u64) {
    assert_eq!(a.status, 429, "{a:?}");
    assert_eq!(a.body["error"]["code"], "rate_limited", "{a:?}");
    assert!(a.body["error"]["message"].is_string(), "{a:?}");
    let wait = a
        .retry_after
        .unwrap_or_else(|| panic!("no Retry-After: {a:?}"));
    assert!((1..=longest).contains(&wait), "Retry-After {wait}: {a:?}");
}

/// How many answers have each status, refusals checked on the way.
fn tally(answers: &[Answer], ok: u16, longest: u64) -> (usize, usize) {
    let admitted = answers.iter().filter(|a| a.status == ok).count();
    let refused: Vec<&Answer> = answers.iter().filter(|a| a.status != ok).collect();
    for a in &refused {
        assert_limited(a, longest);
    }
    (admitted, refused.len())
}

/// A server with `args`, alice's public room "general" and a message of
/// hers in it: the server, alice and bob, the room, the message.
async fn a_message(args: &[&str]) -> (Server, [User; 2], String, String) {
    let mut all = vec!["--message-rate", "0"];
    all.extend_from_slice(args);
    let (s, users, room) = general_on(Server::start_with(&all), ["alice", "bob"]).await;
    let mut c = Client::joined(&s, &users[0], &[&room]).await;
    let msg = id_of(&c.say(&room, "react to me").await);
    (s, users, room, msg)
}

#[tokio::test]
async fn fifty_concurrent_reaction_toggles_with_a_burst_of_five_admit_exactly_five() {
    // One a minute after the burst: none comes back while the test runs.
    let (s, [alice, bob], room, msg) =
        a_message(&["--reaction-rate", "1", "--reaction-burst", "5"]).await;
    let toggles = (0..50).map(|i| react(&s, &alice, &room, &msg, THUMBS, i % 2 == 0));
    let answers = join_all(toggles).await;
    let (admitted, refused) = tally(&answers, 204, 60);
    assert_eq!((admitted, refused), (5, 45), "{answers:?}");

    // Bob has an allowance of his own, and room edits are another one.
    let a = react(&s, &bob, &room, &msg, THUMBS, true).await;
    assert_eq!(a.status, 204, "{a:?}");
    let a = describe(&s, &alice, &room, "still editable").await;
    assert_eq!(a.status, 200, "{a:?}");
    // Alice's is still spent, whichever way she toggles.
    assert_limited(&react(&s, &alice, &room, &msg, "🎉", true).await, 60);
    assert_limited(&react(&s, &alice, &room, &msg, THUMBS, false).await, 60);
}

#[tokio::test]
async fn concurrent_room_edits_are_held_to_the_allowance_per_user() {
    let (s, [alice, bob], room, _) = a_message(&["--room-edit-rate", "3"]).await;
    let bobs = room_id(&s, &bob, "bob's", false).await;
    let edits = (0..20).map(|i| describe(&s, &alice, &room, format!("take {i}")));
    let answers = join_all(edits).await;
    // Three a minute, a minute's worth at once: one token per 20 s.
    let (admitted, refused) = tally(&answers, 200, 20);
    assert_eq!((admitted, refused), (3, 17), "{answers:?}");

    let a = describe(&s, &bob, &bobs, "mine").await;
    assert_eq!(a.status, 200, "bob is not affected: {a:?}");
    // A refused edit changed nothing: the room holds an admitted one.
    let (_, shown) = get(&s, &alice, &format!("/api/rooms/{room}")).await;
    let kept = str_of(&shown["description"]);
    let admitted: Vec<String> = answers
        .iter()
        .filter(|a| a.status == 200)
        .map(|a| str_of(&a.body["description"]))
        .collect();
    assert!(admitted.contains(&kept), "{kept:?} not in {admitted:?}");
}

#[tokio::test]
async fn a_spent_reaction_allowance_refills_after_retry_after() {
    // Thirty a minute, one at once: a token every two seconds.
    let (s, [alice, _], room, msg) =
        a_message(&["--reaction-rate", "30", "--reaction-burst", "1"]).await;
    assert_eq!(
        react(&s, &alice, &room, &msg, THUMBS, true).await.status,
        204
    );
    let refused = react(&s, &alice, &room, &msg, THUMBS, false).await;
    assert_limited(&refused, 2);
    let wait = refused.retry_after.expect("Retry-After");
    tokio::time::sleep(Duration::from_secs(wait) + Duration::from_millis(100)).await;
    let again = react(&s, &alice, &room, &msg, THUMBS, false).await;
    assert_eq!(again.status, 204, "refilled after {wait} s: {again:?}");
}

#[tokio::test]
async fn the_defaults_leave_a_person_clicking_alone() {
    let (s, [alice, _], room, msg) = a_message(&[]).await;
    // A burst of 30 reaction changes and 20 room edits, one after another.
    for i in 0..30 {
        let a = react(&s, &alice, &room, &msg, THUMBS, i % 2 == 0).await;
        assert_eq!(a.status, 204, "toggle {i}: {a:?}");
    }
    for i in 0..20 {
        let a = describe(&s, &alice, &room, format!("take {i}")).await;
        assert_eq!(a.status, 200, "edit {i}: {a:?}");
    }
}

#[tokio::test]
async fn a_rate_of_zero_turns_the_limits_off() {
    let (s, [alice, _], room, msg) =
        a_message(&["--reaction-rate", "0", "--room-edit-rate", "0"]).await;
    let toggles = (0..60).map(|i| react(&s, &alice, &room, &msg, THUMBS, i % 2 == 0));
    let (admitted, _) = tally(&join_all(toggles).await, 204, 60);
    assert_eq!(admitted, 60);
    let edits = (0..30).map(|i| describe(&s, &alice, &room, format!("take {i}")));
    let (admitted, _) = tally(&join_all(edits).await, 200, 60);
    assert_eq!(admitted, 30);
}

#[tokio::test]
async fn concurrent_uploads_are_held_to_the_allowance_per_user() {
    let (s, [alice, bob], room, _) = a_message(&["--upload-rate", "3"]).await;
    let names: Vec<String> = (0..20).map(|i| format!("f{i}.txt")).collect();
    let uploads = names.iter().map(|n| upload(&s, &alice, &room, n));
    let answers = join_all(uploads).await;
    // Three a minute, a minute's worth at once: one token per 20 s.
    let (admitted, refused) = tally(&answers, 201, 20);
    assert_eq!((admitted, refused), (3, 17), "{answers:?}");
    let a = upload(&s, &bob, &room, "bobs.txt").await;
    assert_eq!(a.status, 201, "bob is not affected: {a:?}");
    // The admitted ones are stored and served.
    for a in answers.iter().filter(|a| a.status == 201) {
        let id = str_of(&a.body["id"]);
        let (status, _) = get(&s, &alice, &format!("/api/files/{id}")).await;
        assert_eq!(status, 200, "{a:?}");
    }
}

#[tokio::test]
async fn concurrent_settings_changes_are_held_to_the_allowance_per_user() {
    let (s, [alice, bob], room, _) = a_message(&["--settings-rate", "3"]).await;
    let path = format!("/api/rooms/{room}/notifications");
    let levels = ["all", "mentions", "none"];
    let changes = (0..20).map(|i| {
        let body = json!({ "level": levels[i % 3] });
        send(&s, &alice, "PUT", &path, Some(body))
    });
    let answers = join_all(changes).await;
    // Three a minute, a minute's worth at once: one token per 20 s.
    let (admitted, refused) = tally(&answers, 200, 20);
    assert_eq!((admitted, refused), (3, 17), "{answers:?}");
    // Push subscription changes draw on the same allowance, which is spent.
    let sub = json!({ "endpoint": "https://push.example/x" });
    let a = send(&s, &alice, "DELETE", "/api/push/subscriptions", Some(sub)).await;
    assert_limited(&a, 20);
    let a = send(&s, &bob, "PUT", &path, Some(json!({ "level": "none" }))).await;
    assert_eq!(a.status, 200, "bob is not affected: {a:?}");
}

#[test]
fn the_limits_are_read_from_flags_and_the_environment() {
    use chatroom::cli::serve_args;
    use chatroom::config::Settings;
    let args = serve_args(&[], &[]).expect("defaults");
    let w = &args.write_limits;
    assert_eq!(
        (
            w.reaction_rate,
            w.reaction_burst,
            w.room_edit_rate,
            w.upload_rate
        ),
        (60, 30, 20, 60)
    );
    let env = [
        ("CHATROOM_REACTION_RATE", "7"),
        ("CHATROOM_REACTION_BURST", "3"),
        ("CHATROOM_ROOM_EDIT_RATE", "0"),
        ("CHATROOM_UPLOAD_RATE", "5"),
    ];
    let args = serve_args(&[], &env).expect("environment");
    let w = &args.write_limits;
    assert_eq!(
        (
            w.reaction_rate,
            w.reaction_burst,
            w.room_edit_rate,
            w.upload_rate
        ),
        (7, 3, 0, 5)
    );
    let args = serve_args(&["--reaction-rate", "9"], &env).expect("flag over env");
    assert_eq!(args.write_limits.reaction_rate, 9);
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let data = data.to_str().expect("UTF-8 path");
    let zero = serve_args(&["--data-dir", data, "--reaction-burst", "0"], &[]).expect("parsed");
    let refused = Settings::resolve_with(zero, |_| None).expect_err("a burst of 0");
    assert!(refused.0.contains("--reaction-burst"), "{refused}");
}
