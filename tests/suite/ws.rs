//! The WebSocket part of the contract (PROTOCOL.md, "WebSocket" and
//! "Details"), against the real binary.

use crate::common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::*;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::handshake::client::Request;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::Message;

/// How long "nothing more arrives" is watched for.
const QUIET: Duration = Duration::from_millis(300);

// ---------------------------------------------------------------------
// Helpers

/// Asserts an error frame with `code` (and a human message).
#[track_caller]
fn assert_error(f: &Value, code: &str, what: &str) {
    assert_eq!(
        f["event"], "error",
        "{what}: expected error {code}, got {f}"
    );
    assert_eq!(f["data"]["code"], code, "{what}: wrong error code in {f}");
    assert!(
        f["data"]["message"].is_string(),
        "{what}: error without message: {f}"
    );
}

/// `2026-11-24T03:41:10.123Z`
#[track_caller]
fn assert_timestamp(v: &Value) {
    let t = str_of(v);
    let b = t.as_bytes();
    let digits = [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18, 20, 21, 22];
    let ok = b.len() == 24
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && b[19] == b'.'
        && b[23] == b'Z'
        && digits.iter().all(|&i| b[i].is_ascii_digit());
    assert!(ok, "not an RFC 3339 UTC time with milliseconds: {t:?}");
}

/// Like `Client::call`, but keeps the frames that arrived before the answer.
async fn call_keep(c: &mut Client, event: &str, data: Value) -> (Value, Vec<Value>) {
    let r = c.emit(event, data).await;
    let mut others = Vec::new();
    let f = c.answer(&r, &mut others).await;
    (f, others)
}

/// The `receiveMessage` frame of message `id`: among `before` (frames that
/// arrived earlier), or the next one read.
async fn own_copy(c: &mut Client, before: &[Value], id: &Value) -> Value {
    if let Some(f) = before
        .iter()
        .find(|f| f["event"] == "receiveMessage" && f["data"]["id"] == *id)
    {
        return f.clone();
    }
    let f = c.next_event("receiveMessage").await;
    assert_eq!(
        f["data"]["id"], *id,
        "expected the copy of message {id}: {f}"
    );
    f
}

/// After bad input: the connection still accepts a message.
/// Also consumes the connection's own copy of the message, so that the next
/// frame read is the answer to whatever comes next.
async fn still_works(c: &mut Client, room: &str) {
    let r = c
        .emit(
            "sendMessage",
            json!({"roomId": room, "message": "still here"}),
        )
        .await;
    let mut others = Vec::new();
    let f = c.answer(&r, &mut others).await;
    let ack = ack_data(&f, "sendMessage after bad input");
    let mine = |f: &Value| f["event"] == "receiveMessage" && f["data"]["id"] == ack["id"];
    if !others.iter().any(mine) {
        loop {
            let f = c.next().await;
            if mine(&f) {
                break;
            }
            assert_eq!(
                f["event"], "receiveMessage",
                "unexpected frame after bad input: {f}"
            );
        }
    }
}

/// Collects `n` `receiveMessage` data objects, skipping other frames.
async fn receive_n(c: &mut Client, n: usize) -> Vec<Value> {
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        out.push(c.next_event("receiveMessage").await["data"].clone());
    }
    out
}

/// Waits until `c` is quiet for [`QUIET`]: no `receiveMessage` may come.
async fn assert_no_more_messages(c: &mut Client, what: &str) {
    let rest = c.drain(QUIET).await;
    assert!(
        events_named(&rest, "receiveMessage").is_empty(),
        "{what}: {rest:?}"
    );
}

/// The messages (`receiveMessage` data) among `frames`.
fn messages_in(frames: &[Value]) -> Vec<Value> {
    events_named(frames, "receiveMessage")
        .into_iter()
        .map(|f| f["data"].clone())
        .collect()
}

/// The texts of a room's history (its newest page) as `u` sees it.
async fn stored_texts(s: &Server, u: &User, room: &str) -> Vec<String> {
    let (_, h) = get(s, u, &format!("/api/rooms/{room}/messages")).await;
    texts_of(h["messages"].as_array().expect("messages"))
}

/// The texts of messages.
fn texts_of(msgs: &[Value]) -> Vec<String> {
    msgs.iter().map(|m| str_of(&m["message"])).collect()
}

/// The ids acked by `answers` (each must be an ack): the `what` messages.
fn acked_ids(answers: &[Value], what: &str) -> Vec<String> {
    answers
        .iter()
        .enumerate()
        .map(|(i, f)| id_of(&ack_data(f, &format!("{what} {i}"))))
        .collect()
}

/// Alice and bob, each with a connection in alice's room "general": the
/// server, alice, the room, alice's connection and bob's.
async fn both_in_general() -> (Server, User, String, Client, Client) {
    let (s, [a, b], room) = general(["alice", "bob"]).await;
    let ca = Client::joined(&s, &a, &[&room]).await;
    let cb = Client::joined(&s, &b, &[&room]).await;
    (s, a, room, ca, cb)
}

/// Bob sends `n` messages ("{prefix} {i}"), each acked; alice's
/// connection receives them: returns what she received.
async fn bob_says(
    cb: &mut Client,
    ca: &mut Client,
    room: &str,
    prefix: &str,
    n: usize,
) -> Vec<Value> {
    for i in 0..n {
        cb.say(room, &format!("{prefix} {i}")).await;
    }
    receive_n(ca, n).await
}

/// A connection of each of these new users, joined to `room`.
async fn joined_users(s: &Server, names: &[&str], room: &str) -> Vec<Client> {
    let mut out = Vec::new();
    for name in names {
        let u = register(s, name).await;
        out.push(Client::joined(s, &u, &[room]).await);
    }
    out
}

/// A new connection of `u` that joins `room` with `since`: the client,
/// and the messages that came before the join's ack.
async fn resume(s: &Server, u: &User, room: &str, since: &str) -> (Client, Vec<Value>) {
    let mut c = Client::connect(s, u).await;
    let r = c
        .emit("joinRoom", json!({"roomId": room, "since": since}))
        .await;
    let mut before = Vec::new();
    let ack = c.answer(&r, &mut before).await;
    ack_data(&ack, "joinRoom with since");
    (c, messages_in(&before))
}

/// `sendMessage`, `typing` and `leaveRoom` in `room` are each refused as
/// `not_joined` (`when` says in which state).
async fn assert_all_not_joined(c: &mut Client, room: &str, when: &str) {
    for (event, data) in [
        ("sendMessage", json!({"roomId": room, "message": "hi"})),
        ("typing", json!({ "roomId": room })),
        ("leaveRoom", json!({ "roomId": room })),
    ] {
        let f = c.call(event, data).await;
        assert_error(&f, "not_joined", &format!("{event} in {room}{when}"));
    }
}

/// A server, `alice`, and public rooms of hers with these names: the
/// server, alice, the rooms' ids.
async fn alice_with_rooms<const N: usize>(names: [&str; N]) -> (Server, User, [String; N]) {
    let s = Server::start();
    let a = register(&s, "alice").await;
    let mut rooms = Vec::with_capacity(N);
    for name in names {
        rooms.push(room_id(&s, &a, name, false).await);
    }
    let rooms = rooms
        .try_into()
        .unwrap_or_else(|_| unreachable!("one room a name"));
    (s, a, rooms)
}

/// The names in a list of users, sorted.
fn sorted_names(users: &Value) -> Vec<String> {
    let mut names: Vec<String> = users
        .as_array()
        .expect("users")
        .iter()
        .map(str_of)
        .collect();
    names.sort();
    names
}

fn events_named<'a>(frames: &'a [Value], event: &str) -> Vec<&'a Value> {
    frames.iter().filter(|f| f["event"] == event).collect()
}

fn ids(msgs: &[Value]) -> Vec<String> {
    msgs.iter().map(id_of).collect()
}

#[track_caller]
fn assert_refused(r: Result<Ws, (u16, Value)>, status: u16, code: &str, what: &str) {
    match r {
        Ok(_) => panic!("{what}: upgrade accepted, expected {status} {code}"),
        Err((st, body)) => {
            assert_eq!(st, status, "{what}: status (body {body})");
            assert_eq!(body["error"]["code"], code, "{what}: body {body}");
            assert!(body["error"]["message"].is_string(), "{what}: body {body}");
        }
    }
}

/// Upgrades, then checks the socket really works (a join is acked).
async fn assert_upgrade_works(req: Request, room: &str, what: &str) {
    let ws = match try_upgrade(req).await {
        Ok(ws) => ws,
        Err((st, body)) => panic!("{what}: upgrade refused with {st} {body}"),
    };
    let mut c = Client::from_ws(ws);
    let f = c.call("joinRoom", json!({ "roomId": room })).await;
    ack_data(&f, what);
}

/// GET /online and GET /api/rooms/{id} agree with `expected`.
async fn assert_online(s: &Server, u: &User, room: &str, expected: &[&str], step: &str) {
    let (st, v) = get(s, u, &format!("/api/rooms/{room}/online")).await;
    assert_eq!(st, 200, "{step}: online {v}");
    assert_eq!(v["roomId"], room, "{step}: online {v}");
    let mut want: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
    want.sort();
    let users = sorted_names(&v["users"]);
    assert_eq!(users, want, "{step}: GET /api/rooms/{{id}}/online");
    let (st, r) = get(s, u, &format!("/api/rooms/{room}")).await;
    assert_eq!(st, 200, "{step}: room {r}");
    assert_eq!(
        r["online"],
        expected.len(),
        "{step}: GET /api/rooms/{{id}} online count in {r}"
    );
}

/// A presence frame `{roomId, user}` of `event`.
#[track_caller]
fn assert_presence(f: &Value, event: &str, room: &str, user: &str) {
    assert_eq!(f["event"], event, "{f}");
    assert_eq!(f["data"]["roomId"], room, "{f}");
    assert_eq!(f["data"]["user"], user, "{f}");
}

async fn delete(s: &Server, u: &User, path: &str) -> u16 {
    http()
        .delete(s.url(path))
        .bearer_auth(&u.token)
        .send()
        .await
        .expect("delete")
        .status()
        .as_u16()
}

/// Reads a socket that should be (or get) closed, for at most `bound`:
/// returns the number of `receiveMessage` frames read and the close code
/// if a close frame arrived (None for a reset or a plain end of stream).
/// Stops early, as not closed, once `all` messages were read and nothing
/// more arrives for a second.
async fn read_to_end(ws: &mut Ws, all: usize, bound: Duration) -> (usize, Option<u16>, bool) {
    let deadline = tokio::time::Instant::now() + bound;
    let mut messages = 0;
    loop {
        let wait = if messages >= all {
            deadline.min(tokio::time::Instant::now() + Duration::from_secs(1))
        } else {
            deadline
        };
        let Ok(next) = tokio::time::timeout_at(wait, ws.next()).await else {
            return (messages, None, false);
        };
        match next {
            Some(Ok(Message::Text(t))) => {
                if t.contains("\"receiveMessage\"") {
                    messages += 1;
                }
            }
            Some(Ok(Message::Close(c))) => return (messages, c.map(|c| u16::from(c.code)), true),
            Some(Ok(_)) => {}
            Some(Err(_)) | None => return (messages, None, true),
        }
    }
}

// ---------------------------------------------------------------------
// Upgrade

/// Upgrades as `u` from each `allowed` origin work (a join in `room` is
/// acked); from each `refused` one they are refused with 403 forbidden.
async fn assert_origins(s: &Server, u: &User, room: &str, allowed: &[&str], refused: &[&str]) {
    for origin in allowed {
        let req = ws_request(s, "", Some(&u.token), Some(origin));
        assert_upgrade_works(req, room, &format!("Origin: {origin}")).await;
    }
    for origin in refused {
        let r = try_upgrade(ws_request(s, "", Some(&u.token), Some(origin))).await;
        assert_refused(r, 403, "forbidden", &format!("Origin: {origin}"));
    }
}

#[tokio::test]
async fn upgrade_accepts_bearer_header() {
    let (s, [a], room) = general(["alice"]).await;
    let req = ws_request(&s, "", Some(&a.token), None);
    assert_upgrade_works(req, &room, "Authorization: Bearer").await;
}

#[tokio::test]
async fn upgrade_accepts_token_query_parameter() {
    let (s, [a], room) = general(["alice"]).await;
    let req = ws_request(&s, &format!("?token={}", a.token), None, None);
    assert_upgrade_works(req, &room, "?token=").await;
}

#[tokio::test]
async fn upgrade_without_or_with_bad_token_is_401_with_json_body() {
    let s = Server::start();
    let a = register(&s, "alice").await;
    // A token with a tampered signature.
    let mut forged = a.token.clone();
    let last = forged.pop().expect("char");
    forged.push(if last == 'A' { 'B' } else { 'A' });
    for (query, bearer, what) in [
        ("", None, "no token"),
        ("", Some("not.a.jwt"), "garbage bearer"),
        ("?token=not.a.jwt", None, "garbage ?token="),
        ("?token=", None, "empty ?token="),
        ("", Some(forged.as_str()), "forged bearer"),
    ] {
        let r = try_upgrade(ws_request(&s, query, bearer, None)).await;
        assert_refused(r, 401, "unauthorized", what);
    }
}

#[tokio::test]
async fn upgrade_allows_the_servers_own_origin() {
    let (s, [a], room) = general(["alice"]).await;
    let own = format!("http://{}", s.addr);
    let own_https = format!("https://{}", s.addr);
    assert_origins(&s, &a, &room, &[&own, &own_https], &[]).await;
}

#[tokio::test]
async fn upgrade_refuses_another_origin_with_403() {
    let (s, [a], room) = general(["alice"]).await;
    let subdomain = format!("http://{}.evil.example", s.addr);
    let refused = ["http://evil.example", "http://127.0.0.1:1", &subdomain];
    assert_origins(&s, &a, &room, &[], &refused).await;
}

#[tokio::test]
async fn upgrade_refuses_null_origin_with_403() {
    let (s, [a], room) = general(["alice"]).await;
    assert_origins(&s, &a, &room, &[], &["null"]).await;
}

#[tokio::test]
async fn upgrade_allows_origins_given_with_allowed_origin_flag() {
    let allowed = ["https://chat.example.org", "http://other.example:8080"];
    let s = Server::start_with(&[
        "--message-rate",
        "0",
        "--allowed-origin",
        allowed[0],
        "--allowed-origin",
        allowed[1],
    ]);
    let (s, [a], room) = general_on(s, ["alice"]).await;
    // Not listed: another scheme, a longer host, another port.
    let refused = [
        "http://chat.example.org",
        "https://chat.example.org.evil",
        "http://other.example",
    ];
    assert_origins(&s, &a, &room, &allowed, &refused).await;
}

#[tokio::test]
async fn upgrade_allows_origins_from_env_comma_separated_spaces_ignored() {
    let list = " https://one.example , https://two.example:8443 ";
    let s = Server::start_with_env(
        &["--message-rate", "0"],
        &[("CHATROOM_ALLOWED_ORIGINS", list)],
    );
    let (s, [a], room) = general_on(s, ["alice"]).await;
    let allowed = ["https://one.example", "https://two.example:8443"];
    assert_origins(&s, &a, &room, &allowed, &["https://three.example"]).await;
}

#[tokio::test]
async fn allowed_origin_flag_replaces_the_environments_list() {
    let s = Server::start_with_env(
        &[
            "--message-rate",
            "0",
            "--allowed-origin",
            "https://flag.example",
        ],
        &[("CHATROOM_ALLOWED_ORIGINS", "https://env.example")],
    );
    let (s, [a], room) = general_on(s, ["alice"]).await;
    let (flag, env) = (["https://flag.example"], ["https://env.example"]);
    assert_origins(&s, &a, &room, &flag, &env).await;
}

// ---------------------------------------------------------------------
// Events and their answers

#[tokio::test]
async fn join_room_ack_has_room_and_users() {
    let (s, [a, b], room) = general(["alice", "bob"]).await;
    let mut cb = Client::connect(&s, &b).await;
    let d = cb.join(&room).await;
    assert_eq!(d["users"], json!(["bob"]), "{d}");
    let mut ca = Client::connect(&s, &a).await;
    let d = ca.join(&room).await;
    let r = &d["room"];
    assert_eq!(r["id"], room, "{d}");
    assert_eq!(r["name"], "general", "{d}");
    assert_eq!(r["private"], false, "{d}");
    assert_eq!(r["ownerId"], a.id, "{d}");
    assert!(r["description"].is_string(), "{d}");
    assert_timestamp(&r["createdAt"]);
    assert_eq!(r["online"], 2, "{d}");
    assert_eq!(sorted_names(&d["users"]), vec!["alice", "bob"], "{d}");
}

/// The ack's data of `event` with `{roomId}` from a connection in the room.
async fn ack_in_general(event: &str) -> Value {
    let (s, [a], room) = general(["alice"]).await;
    let mut c = Client::joined(&s, &a, &[&room]).await;
    let f = c.call(event, json!({ "roomId": room })).await;
    ack_data(&f, event)
}

#[tokio::test]
async fn leave_room_ack_is_empty_object() {
    assert_eq!(ack_in_general("leaveRoom").await, json!({}));
}

#[tokio::test]
async fn typing_ack_is_empty_object() {
    assert_eq!(ack_in_general("typing").await, json!({}));
}

#[tokio::test]
async fn send_message_ack_has_id_and_timestamp() {
    let (s, [a], room) = general(["alice"]).await;
    let mut c = Client::joined(&s, &a, &[&room]).await;
    let d = c.say(&room, "hello").await;
    assert!(d["id"].is_string() && !str_of(&d["id"]).is_empty(), "{d}");
    assert_timestamp(&d["timestamp"]);
    let (_, h) = get(&s, &a, &format!("/api/rooms/{room}/messages")).await;
    assert_eq!(h["messages"][0]["id"], d["id"], "{h}");
    assert_eq!(h["messages"][0]["timestamp"], d["timestamp"], "{h}");
}

#[tokio::test]
async fn every_ref_is_answered_exactly_once() {
    let (s, [a], room) = general(["alice"]).await;
    let other = room_id(&s, &a, "other", false).await;
    let mut c = Client::connect(&s, &a).await;
    // [ref, frame, expected answer: "ack" or an error code], all sent at once.
    let script = json!([
        ["join", {"event": "joinRoom", "data": {"roomId": room}}, "ack"],
        ["send", {"event": "sendMessage", "data": {"roomId": room, "message": "one"}}, "ack"],
        ["send-current", {"event": "sendMessage", "data": {"message": "two"}}, "ack"],
        ["typing", {"event": "typing", "data": {"roomId": room}}, "ack"],
        ["unknown", {"event": "dance", "data": {}}, "unknown_event"],
        ["invalid", {"event": "sendMessage", "data": {"roomId": room, "message": 7}}, "validation_failed"],
        ["not-joined", {"event": "sendMessage", "data": {"roomId": other, "message": "x"}}, "not_joined"],
        ["not-found", {"event": "joinRoom", "data": {"roomId": "0000000000009999"}}, "not_found"],
        ["leave", {"event": "leaveRoom", "data": {"roomId": room}}, "ack"],
        ["left", {"event": "sendMessage", "data": {"roomId": room, "message": "x"}}, "not_joined"],
    ]);
    let script: Vec<(&str, Value, &str)> = script
        .as_array()
        .expect("script")
        .iter()
        .map(|row| {
            let r = row[0].as_str().expect("ref");
            let mut frame = row[1].clone();
            frame["ref"] = json!(r);
            (r, frame, row[2].as_str().expect("answer"))
        })
        .collect();
    for (_, frame, _) in &script {
        c.send_raw(&frame.to_string()).await;
    }
    let mut frames = Vec::new();
    let deadline = Instant::now() + WAIT;
    while frames
        .iter()
        .filter(|f: &&Value| f.get("ref").is_some())
        .count()
        < script.len()
        && Instant::now() < deadline
    {
        frames.push(c.next().await);
    }
    frames.extend(c.drain(Duration::from_millis(500)).await);
    let mut by_ref: HashMap<String, Vec<&Value>> = HashMap::new();
    for f in &frames {
        if let Some(r) = f.get("ref") {
            by_ref.entry(str_of(r)).or_default().push(f);
        }
    }
    for (r, _, want) in &script {
        let got = by_ref.remove(*r).unwrap_or_default();
        assert_eq!(
            got.len(),
            1,
            "ref {r:?} must be answered exactly once, got {got:?}"
        );
        if *want == "ack" {
            ack_data(got[0], r);
        } else {
            assert_error(got[0], want, r);
        }
    }
    assert!(by_ref.is_empty(), "answers to refs never sent: {by_ref:?}");
}

#[tokio::test]
async fn send_message_without_room_id_goes_to_the_room_joined_last() {
    let (s, a, [first, second]) = alice_with_rooms(["first", "second"]).await;
    let mut c = Client::joined(&s, &a, &[&first, &second]).await;
    let (f, before) = call_keep(&mut c, "sendMessage", json!({"message": "to the second"})).await;
    let ack = ack_data(&f, "sendMessage without roomId");
    let m = own_copy(&mut c, &before, &ack["id"]).await;
    assert_eq!(m["data"]["roomId"], second, "{m}");
    // Joining the first again makes it the last joined.
    c.join(&first).await;
    let (f, before) = call_keep(&mut c, "sendMessage", json!({"message": "to the first"})).await;
    let ack = ack_data(&f, "sendMessage without roomId after re-join");
    let m = own_copy(&mut c, &before, &ack["id"]).await;
    assert_eq!(m["data"]["roomId"], first, "{m}");
    assert_eq!(stored_texts(&s, &a, &first).await, vec!["to the first"]);
    assert_eq!(stored_texts(&s, &a, &second).await, vec!["to the second"]);
}

#[tokio::test]
async fn events_for_a_room_not_joined_are_not_joined() {
    let (s, a, [joined, other]) = alice_with_rooms(["joined", "other"]).await;
    let missing = "0000000000009999";
    let mut c = Client::connect(&s, &a).await;

    // No room joined at all.
    let f = c.call("sendMessage", json!({"message": "hi"})).await;
    let what = "sendMessage without roomId, nothing joined";
    assert_error(&f, "not_joined", what);
    for room in [other.as_str(), missing, "nonsense"] {
        assert_all_not_joined(&mut c, room, ", nothing joined").await;
    }

    // Another room joined.
    c.join(&joined).await;
    for room in [other.as_str(), missing] {
        assert_all_not_joined(&mut c, room, "").await;
    }
    let (_, h) = get(&s, &a, &format!("/api/rooms/{other}/messages")).await;
    assert_eq!(
        h["messages"],
        json!([]),
        "nothing was stored in the room not joined"
    );
    still_works(&mut c, &joined).await;
}

#[tokio::test]
async fn join_unknown_room_is_not_found() {
    let (s, [a], room) = general(["alice"]).await;
    let mut c = Client::connect(&s, &a).await;
    for bad in ["0000000000009999", "nonsense", ""] {
        let f = c.call("joinRoom", json!({ "roomId": bad })).await;
        assert_error(&f, "not_found", &format!("joinRoom {bad:?}"));
    }
    c.join(&room).await;
}

#[tokio::test]
async fn join_private_room_as_non_member_is_not_found() {
    let (s, [a, b], secret) =
        users_and_room(Server::start(), ["alice", "bob"], "secret", true).await;
    let mut cb = Client::connect(&s, &b).await;
    let f = cb.call("joinRoom", json!({ "roomId": secret })).await;
    assert_error(&f, "not_found", "private room, not a member");
    let f = cb.send_message(&secret, "x").await;
    assert_error(&f, "not_joined", "sendMessage after the refused join");
    // The owner can join it.
    Client::joined(&s, &a, &[&secret]).await;
}

#[tokio::test]
async fn receive_message_reaches_every_connection_in_the_room_including_the_senders() {
    let (s, [a, b, c], room) = general(["alice", "bob", "carol"]).await;
    let elsewhere = room_id(&s, &a, "elsewhere", false).await;
    let mut a1 = Client::joined(&s, &a, &[&room]).await;
    let mut a2 = Client::joined(&s, &a, &[&room]).await;
    let mut b1 = Client::joined(&s, &b, &[&room]).await;
    let mut c1 = Client::joined(&s, &c, &[&elsewhere]).await;
    let (f, before) = call_keep(
        &mut a1,
        "sendMessage",
        json!({"roomId": room, "message": "hello, world"}),
    )
    .await;
    let ack = ack_data(&f, "sendMessage");
    for (name, cl) in [
        ("sender", &mut a1),
        ("sender's 2nd connection", &mut a2),
        ("bob", &mut b1),
    ] {
        let before = if name == "sender" {
            before.as_slice()
        } else {
            &[]
        };
        let f = own_copy(cl, before, &ack["id"]).await;
        let m = &f["data"];
        assert_eq!(m["id"], ack["id"], "{name}: {f}");
        assert_eq!(m["roomId"], room, "{name}: {f}");
        assert_eq!(m["user"], "alice", "{name}: {f}");
        assert_eq!(m["userId"], a.id, "{name}: {f}");
        assert_eq!(m["message"], "hello, world", "{name}: {f}");
        assert_eq!(m["timestamp"], ack["timestamp"], "{name}: {f}");
        assert!(
            f.get("ref").is_none(),
            "{name}: receiveMessage carries no ref: {f}"
        );
    }
    for (name, cl) in [
        ("sender", &mut a1),
        ("sender's 2nd connection", &mut a2),
        ("bob", &mut b1),
        ("carol elsewhere", &mut c1),
    ] {
        assert_no_more_messages(cl, name).await;
    }
}

// ---------------------------------------------------------------------
// Presence

#[tokio::test]
async fn presence_counts_users_not_connections() {
    let (s, [a, b], room) = general(["alice", "bob"]).await;
    let mut a1 = Client::connect(&s, &a).await;
    let mut a2 = Client::connect(&s, &a).await;
    let mut b1 = Client::connect(&s, &b).await;
    assert_online(&s, &a, &room, &[], "nobody joined").await;

    let d = b1.join(&room).await;
    assert_eq!(d["users"], json!(["bob"]));
    assert_online(&s, &a, &room, &["bob"], "bob joined").await;

    a1.join(&room).await;
    assert_presence(&b1.next().await, "userJoined", &room, "alice");
    assert_online(
        &s,
        &a,
        &room,
        &["alice", "bob"],
        "alice's 1st connection joined",
    )
    .await;

    let d = a2.join(&room).await;
    assert_eq!(sorted_names(&d["users"]), vec!["alice", "bob"]);
    for (who, c) in [("bob", &mut b1), ("a1", &mut a1)] {
        let got = c.drain(QUIET).await;
        assert!(
            events_named(&got, "userJoined").is_empty(),
            "{who}: no userJoined for alice's 2nd connection: {got:?}"
        );
    }
    assert_online(
        &s,
        &a,
        &room,
        &["alice", "bob"],
        "alice's 2nd connection joined",
    )
    .await;

    // One of alice's two connections leaves: nobody is told.
    let f = a1.call("leaveRoom", json!({ "roomId": room })).await;
    ack_data(&f, "leaveRoom");
    for (who, c) in [("bob", &mut b1), ("a2", &mut a2)] {
        let got = c.drain(QUIET).await;
        assert!(
            events_named(&got, "userLeft").is_empty(),
            "{who}: no userLeft while alice has a connection: {got:?}"
        );
    }
    assert_online(&s, &a, &room, &["alice", "bob"], "a1 left, a2 still in").await;

    // Her last connection closes its socket: userLeft.
    a2.ws.close(None).await.expect("close");
    assert_presence(&b1.next().await, "userLeft", &room, "alice");
    assert_online(&s, &a, &room, &["bob"], "a2 closed").await;
    let got = a1.drain(QUIET).await;
    assert!(
        got.is_empty(),
        "a1 left the room, it hears nothing of it: {got:?}"
    );

    // Again, with the last connection leaving by leaveRoom.
    a1.join(&room).await;
    assert_presence(&b1.next().await, "userJoined", &room, "alice");
    assert_online(&s, &a, &room, &["alice", "bob"], "a1 joined again").await;
    let f = a1.call("leaveRoom", json!({ "roomId": room })).await;
    ack_data(&f, "leaveRoom");
    assert_presence(&b1.next().await, "userLeft", &room, "alice");
    assert_online(&s, &a, &room, &["bob"], "a1 left again").await;

    // Bob's socket closes: the room is empty.
    b1.ws.close(None).await.expect("close");
    let deadline = Instant::now() + WAIT;
    loop {
        let (_, v) = get(&s, &a, &format!("/api/rooms/{room}/online")).await;
        if v["users"] == json!([]) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "bob is still online after closing: {v}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_online(&s, &a, &room, &[], "bob closed").await;
}

// ---------------------------------------------------------------------
// Typing

#[tokio::test]
async fn typing_is_relayed_to_other_users_at_most_once_per_second() {
    let (s, [a, b], room) = general(["alice", "bob"]).await;
    let room2 = room_id(&s, &a, "second", false).await;
    let mut b1 = Client::joined(&s, &b, &[&room, &room2]).await;
    let mut a1 = Client::joined(&s, &a, &[&room, &room2]).await;
    let mut a2 = Client::joined(&s, &a, &[&room]).await;
    b1.drain(QUIET).await;

    // Frames that arrive while a connection waits for its answers are kept.
    let (mut ga1, mut ga2, mut gb) = (Vec::new(), Vec::new(), Vec::new());
    // Five quick notices from alice (two connections) in one room, one in another room.
    let t0 = Instant::now();
    for which in [1, 1, 2, 1, 2] {
        let (c, got) = if which == 1 {
            (&mut a1, &mut ga1)
        } else {
            (&mut a2, &mut ga2)
        };
        let r = c.emit("typing", json!({ "roomId": room })).await;
        let f = c.answer(&r, got).await;
        assert_eq!(ack_data(&f, "typing"), json!({}));
    }
    let r = a1.emit("typing", json!({ "roomId": room2 })).await;
    ack_data(&a1.answer(&r, &mut ga1).await, "typing in the 2nd room");
    // Bob's own notice goes to alice's connections, not back to bob.
    let r = b1.emit("typing", json!({ "roomId": room })).await;
    ack_data(&b1.answer(&r, &mut gb).await, "bob typing");
    let (more_b, more_a1, more_a2) =
        tokio::join!(b1.drain(QUIET), a1.drain(QUIET), a2.drain(QUIET));
    gb.extend(more_b);
    ga1.extend(more_a1);
    ga2.extend(more_a2);
    assert!(
        t0.elapsed() < Duration::from_millis(950),
        "the test itself was too slow: {:?}",
        t0.elapsed()
    );

    let tb = events_named(&gb, "typing");
    assert_eq!(tb.len(), 2, "bob sees alice typing once per room: {gb:?}");
    assert_presence(tb[0], "typing", &room, "alice");
    assert_presence(tb[1], "typing", &room2, "alice");
    for (who, got) in [("a1", &ga1), ("a2", &ga2)] {
        let t = events_named(got, "typing");
        assert_eq!(
            t.len(),
            1,
            "{who} sees bob typing once and never alice's own: {got:?}"
        );
        assert_presence(t[0], "typing", &room, "bob");
    }

    // After the second is over, the next notice passes again.
    tokio::time::sleep(
        (t0 + Duration::from_millis(1100)).saturating_duration_since(Instant::now()),
    )
    .await;
    let mut ga2 = Vec::new();
    let r = a2.emit("typing", json!({ "roomId": room })).await;
    ack_data(&a2.answer(&r, &mut ga2).await, "typing after 1.1 s");
    let (gb, ga1, more_a2) = tokio::join!(b1.drain(QUIET), a1.drain(QUIET), a2.drain(QUIET));
    ga2.extend(more_a2);
    let tb = events_named(&gb, "typing");
    assert_eq!(tb.len(), 1, "bob sees the notice sent after 1.1 s: {gb:?}");
    assert_presence(tb[0], "typing", &room, "alice");
    assert!(
        events_named(&ga1, "typing").is_empty(),
        "not echoed to the typist's other connection: {ga1:?}"
    );
    assert!(
        events_named(&ga2, "typing").is_empty(),
        "not echoed to the typist: {ga2:?}"
    );
}

// ---------------------------------------------------------------------
// Bad input

async fn bad_input_setup(s: &Server) -> (Client, String) {
    let a = register(s, "alice").await;
    let room = room_id(s, &a, "general", false).await;
    let mut c = Client::connect(s, &a).await;
    c.join(&room).await;
    (c, room)
}

/// Sends `text` as a raw frame: the answer is an error with `code`, after
/// which the connection still works. Returns the error frame.
async fn refused_then_works(c: &mut Client, room: &str, text: &str, code: &str) -> Value {
    c.send_raw(text).await;
    let f = c.next().await;
    assert_error(&f, code, &format!("frame {text:?}"));
    still_works(c, room).await;
    f
}

/// The history of `room` (as a new user sees it) holds no message `text`.
async fn assert_not_stored(s: &Server, room: &str, text: &str, what: &str) {
    let stored = stored_texts(s, &register(s, "bob").await, room).await;
    assert!(!stored.iter().any(|t| t == text), "{what}: {stored:?}");
}

#[tokio::test]
async fn non_json_text_is_invalid_json() {
    let s = Server::start();
    let (mut c, room) = bad_input_setup(&s).await;
    for text in ["hello", "{", "{\"event\": \"sendMessage\",", ""] {
        refused_then_works(&mut c, &room, text, "invalid_json").await;
    }
}

#[tokio::test]
async fn json_that_is_not_an_object_is_invalid_json() {
    let s = Server::start();
    let (mut c, room) = bad_input_setup(&s).await;
    let frames = [
        "[1]".to_owned(),
        "\"x\"".to_owned(),
        "5".to_owned(),
        "null".to_owned(),
        "true".to_owned(),
        // An array shaped like a frame's fields is still not an object.
        json!(["sendMessage", {"roomId": room, "message": "positional"}, "arr"]).to_string(),
    ];
    for text in &frames {
        refused_then_works(&mut c, &room, text, "invalid_json").await;
    }
    assert_not_stored(&s, &room, "positional", "an array frame was acted upon").await;
}

#[tokio::test]
async fn unknown_event_is_unknown_event() {
    let s = Server::start();
    let (mut c, room) = bad_input_setup(&s).await;
    let r = c.emit("dance", json!({ "roomId": room })).await;
    let f = c.answer(&r, &mut Vec::new()).await;
    assert_error(&f, "unknown_event", "event dance");
    still_works(&mut c, &room).await;
    // Without a ref, still an error frame.
    c.send_raw(&json!({"event": "receiveMessage", "data": {}}).to_string())
        .await;
    assert_error(
        &c.next().await,
        "unknown_event",
        "server-to-client event sent by a client",
    );
    still_works(&mut c, &room).await;
}

#[tokio::test]
async fn missing_or_mistyped_data_is_validation_failed() {
    let s = Server::start();
    let (mut c, room) = bad_input_setup(&s).await;
    let cases: Vec<(&str, Value)> = vec![
        ("sendMessage", Value::Null),
        ("joinRoom", Value::Null),
        ("leaveRoom", Value::Null),
        ("typing", Value::Null),
        ("sendMessage", json!("hello")),
        ("joinRoom", json!({})),
        ("joinRoom", json!({"roomId": 5})),
        ("sendMessage", json!({"roomId": 5, "message": "x"})),
        ("sendMessage", json!({"roomId": room, "message": 7})),
        ("sendMessage", json!({"roomId": room})),
        ("sendMessage", json!({"roomId": room, "message": null})),
        ("typing", json!({"roomId": 5})),
        ("leaveRoom", json!({})),
    ];
    for (event, data) in cases {
        let mut frame = json!({"event": event, "ref": "v"});
        if !data.is_null() {
            frame["data"] = data.clone();
        }
        let f = refused_then_works(&mut c, &room, &frame.to_string(), "validation_failed").await;
        assert_eq!(f["ref"], "v", "{f}");
    }
}

#[tokio::test]
async fn data_that_is_not_an_object_is_validation_failed() {
    let s = Server::start();
    let (mut c, room) = bad_input_setup(&s).await;
    // An array in the order of the fields is still not an object.
    let cases = [
        ("sendMessage", json!([room, "positional data"])),
        ("sendMessage", json!(5)),
        ("joinRoom", json!([room])),
        ("typing", json!([room])),
    ];
    for (event, data) in cases {
        let frame = json!({"event": event, "data": data, "ref": "d"});
        refused_then_works(&mut c, &room, &frame.to_string(), "validation_failed").await;
    }
    assert_not_stored(&s, &room, "positional data", "array data was acted upon").await;
}

#[tokio::test]
async fn message_length_is_counted_in_characters() {
    let s = Server::start();
    let (mut c, room) = bad_input_setup(&s).await;
    for (text, ok) in [
        ("é".repeat(4000), true),
        ("😀".repeat(4000), true),
        ("a".repeat(4000), true),
        ("é".repeat(4001), false),
        ("a".repeat(4001), false),
    ] {
        let what = format!(
            "{} × {:?}",
            text.chars().count(),
            text.chars().next().expect("char")
        );
        let (f, before) = call_keep(
            &mut c,
            "sendMessage",
            json!({"roomId": room, "message": text}),
        )
        .await;
        if ok {
            let ack = ack_data(&f, &what);
            let m = own_copy(&mut c, &before, &ack["id"]).await;
            assert_eq!(m["data"]["message"], json!(text), "{what}: text changed");
        } else {
            assert_error(&f, "validation_failed", &what);
            still_works(&mut c, &room).await;
        }
    }
}

#[tokio::test]
async fn empty_or_whitespace_only_message_is_validation_failed() {
    let s = Server::start();
    let (mut c, room) = bad_input_setup(&s).await;
    for text in ["", " ", "   \n\t  ", "\r\n"] {
        let f = c.send_message(&room, text).await;
        assert_error(&f, "validation_failed", &format!("message {text:?}"));
        still_works(&mut c, &room).await;
    }
}

#[tokio::test]
async fn binary_frame_is_invalid_json() {
    let s = Server::start();
    let (mut c, room) = bad_input_setup(&s).await;
    let frame = json!({"event": "sendMessage", "data": {"roomId": room, "message": "binary"}, "ref": "bin"});
    c.ws.send(Message::binary(frame.to_string().into_bytes()))
        .await
        .expect("send binary");
    let f = c.next().await;
    assert_error(&f, "invalid_json", "binary frame");
    still_works(&mut c, &room).await;
}

#[tokio::test]
async fn text_frame_over_64_kib_closes_with_1009_and_others_keep_working() {
    let (s, a, room, mut ca, mut cb) = both_in_general().await;

    // Exactly 64 KiB is not over the limit: an ordinary answer.
    let frame_of = |len: usize| {
        let head = format!(
            r#"{{"event":"sendMessage","ref":"big","data":{{"roomId":"{room}","message":""#
        );
        let tail = r#""}}"#;
        let text = format!("{head}{}{tail}", "a".repeat(len - head.len() - tail.len()));
        assert_eq!(text.len(), len);
        text
    };
    ca.send_raw(&frame_of(64 * 1024)).await;
    let f = ca.answer("big", &mut Vec::new()).await;
    assert_error(
        &f,
        "validation_failed",
        "a 64 KiB frame with a 65,000-character message",
    );
    still_works(&mut ca, &room).await;

    // One byte more closes the connection with 1009.
    ca.send_raw(&frame_of(64 * 1024 + 1)).await;
    assert_eq!(
        ca.close_code().await,
        Some(1009),
        "a text frame of 64 KiB + 1 byte"
    );

    // The server and the other client are fine.
    still_works(&mut cb, &room).await;
    let mut again = Client::joined(&s, &a, &[&room]).await;
    still_works(&mut again, &room).await;
    let (st, _) = get(&s, &a, "/healthz").await;
    assert_eq!(st, 200);
}

/// Sends one text message as two frames: `first`, then `rest`.
async fn send_in_two_fragments(c: &mut Client, first: &str, rest: &str) {
    for (part, opcode, fin) in [(first, Data::Text, false), (rest, Data::Continue, true)] {
        let frame = Frame::message(part.as_bytes().to_vec(), OpCode::Data(opcode), fin);
        c.ws.feed(Message::Frame(frame)).await.expect("send");
    }
    c.ws.flush().await.expect("flush");
}

#[tokio::test]
async fn fragmented_message_over_64_kib_closes_with_1009() {
    let (s, [a], room) = general(["alice"]).await;
    let mut c = Client::joined(&s, &a, &[&room]).await;

    // Fragments of a small frame are put together.
    let text = json!({"event": "sendMessage", "ref": "frag", "data": {"roomId": room, "message": "in two parts"}}).to_string();
    let (x, y) = text.split_at(text.len() / 2);
    send_in_two_fragments(&mut c, x, y).await;
    let f = c.answer("frag", &mut Vec::new()).await;
    ack_data(&f, "a fragmented sendMessage");

    // Two fragments of 40,000 bytes each: each under the limit, together over.
    let part = "a".repeat(40_000);
    send_in_two_fragments(&mut c, &part, &part).await;
    assert_eq!(
        c.close_code().await,
        Some(1009),
        "fragments counted together"
    );
    let (st, _) = get(&s, &a, "/healthz").await;
    assert_eq!(st, 200);
}

// ---------------------------------------------------------------------
// Rate limit

fn rate_limited_server() -> Server {
    Server::start_with(&["--message-rate", "1", "--message-burst", "3"])
}

#[tokio::test]
async fn rate_limit_allows_the_burst_then_answers_rate_limited() {
    let s = rate_limited_server();
    let (mut c, room) = bad_input_setup(&s).await;
    for i in 0..3 {
        let f = c.send_message(&room, &format!("burst {i}")).await;
        ack_data(&f, &format!("message {} of the burst", i + 1));
    }
    let f = c.send_message(&room, "one too many").await;
    assert_error(&f, "rate_limited", "4th message at once");
    // The rate refills continuously: after 1.1 s one more passes.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let f = c.send_message(&room, "later").await;
    ack_data(&f, "a message 1.1 s later");
}

#[tokio::test]
async fn rate_limit_is_per_user_across_connections() {
    let (s, [a, b], room) = general_on(rate_limited_server(), ["alice", "bob"]).await;
    let mut a1 = Client::connect(&s, &a).await;
    let mut a2 = Client::connect(&s, &a).await;
    let mut b1 = Client::connect(&s, &b).await;
    for c in [&mut a1, &mut a2, &mut b1] {
        c.join(&room).await;
    }
    for which in [1, 2, 1] {
        let c = if which == 1 { &mut a1 } else { &mut a2 };
        ack_data(&c.send_message(&room, "hi").await, "alice's burst");
    }
    let f = a2.send_message(&room, "hi").await;
    assert_error(
        &f,
        "rate_limited",
        "alice's 4th message on her 2nd connection",
    );
    ack_data(
        &b1.send_message(&room, "hi").await,
        "bob is not limited by alice",
    );
}

#[tokio::test]
async fn sustained_rate_limit_abuse_is_closed_with_1008() {
    let s = rate_limited_server();
    let (c, room) = bad_input_setup(&s).await;
    let mut ws = c.ws;
    let mut sent = 0;
    for i in 0..100 {
        let f = json!({"event": "sendMessage", "ref": format!("a{i}"), "data": {"roomId": room, "message": "spam"}});
        if ws.feed(Message::text(f.to_string())).await.is_err() {
            break;
        }
        sent += 1;
    }
    let _ = ws.flush().await;
    assert!(sent > 60, "could only send {sent} frames");
    // Everything was sent before anything is read: then what came back,
    // up to the close.
    let until = tokio::time::Instant::now() + WAIT;
    let (mut acks, mut limited) = (0, 0);
    let ended = read_frames(&mut ws, Some(until), |v| {
        match (v["event"].as_str(), v["data"]["code"].as_str()) {
            (Some("ack"), _) => acks += 1,
            (Some("error"), Some("rate_limited")) => limited += 1,
            _ => {}
        }
        true
    })
    .await;
    let Ended::Closed(code) = ended else {
        unreachable!("the reader reads to the close")
    };
    assert_eq!(
        code,
        Some(1008),
        "close code after {acks} acks and {limited} rate_limited errors"
    );
    assert!(acks <= 4, "the burst is 3: {acks} acks");
    assert!(
        limited >= 1,
        "some rate_limited errors come before the close"
    );
}

// ---------------------------------------------------------------------
// Ordering

#[tokio::test]
async fn messages_of_one_sender_reach_every_receiver_in_order() {
    const N: usize = 200;
    let (s, [a], room) = general(["alice"]).await;
    let mut sender = Client::joined(&s, &a, &[&room]).await;
    let mut receivers = joined_users(&s, &["bob", "carol", "dave"], &room).await;
    let texts: Vec<String> = (0..N).map(|i| format!("message {i}")).collect();
    let (answers, others) = sender.send_pipelined(Some(&room), &texts).await;
    let acked = acked_ids(&answers, "message");
    assert_strictly_increasing(&acked, "ack ids in send order");

    let mut own: Vec<Value> = messages_in(&others);
    own.extend(receive_n(&mut sender, N - own.len()).await);
    let mut seen = vec![("sender", own)];
    for (name, c) in ["bob", "carol", "dave"]
        .into_iter()
        .zip(receivers.iter_mut())
    {
        seen.push((name, receive_n(c, N).await));
    }
    for (name, msgs) in &seen {
        assert_eq!(
            ids(msgs),
            acked,
            "{name}: receiveMessage ids equal the ack ids, in order"
        );
        assert_eq!(texts_of(msgs), texts, "{name}: texts in send order");
    }
    for c in receivers.iter_mut().chain(std::iter::once(&mut sender)) {
        assert_no_more_messages(c, "no duplicates").await;
    }
}

#[tokio::test]
async fn two_interleaving_senders_give_every_receiver_the_same_order() {
    const N: usize = 100;
    let (s, _, room, mut ca, mut cb) = both_in_general().await;
    let mut receivers = joined_users(&s, &["carol", "dave"], &room).await;
    let ta: Vec<String> = (0..N).map(|i| format!("a{i}")).collect();
    let tb: Vec<String> = (0..N).map(|i| format!("b{i}")).collect();
    let ((ans_a, oth_a), (ans_b, oth_b)) = tokio::join!(
        ca.send_pipelined(Some(&room), &ta),
        cb.send_pipelined(Some(&room), &tb)
    );
    let ack_a = acked_ids(&ans_a, "alice's");
    let ack_b = acked_ids(&ans_b, "bob's");
    assert_strictly_increasing(&ack_a, "alice's acks");
    assert_strictly_increasing(&ack_b, "bob's acks");

    let mut seen: Vec<(&str, Vec<Value>)> = Vec::new();
    for (name, c, others) in [("alice", &mut ca, oth_a), ("bob", &mut cb, oth_b)] {
        let mut own: Vec<Value> = messages_in(&others);
        own.extend(receive_n(c, 2 * N - own.len()).await);
        seen.push((name, own));
    }
    for (name, c) in ["carol", "dave"].into_iter().zip(receivers.iter_mut()) {
        seen.push((name, receive_n(c, 2 * N).await));
    }
    let reference = ids(&seen[0].1);
    assert_strictly_increasing(&reference, "alice's view");
    for (name, msgs) in &seen {
        assert_eq!(
            ids(msgs),
            reference,
            "{name} sees the same total order as alice"
        );
    }
    let of = |prefix: char| -> (Vec<String>, Vec<String>) {
        seen[0]
            .1
            .iter()
            .filter(|m| str_of(&m["message"]).starts_with(prefix))
            .map(|m| (id_of(m), str_of(&m["message"])))
            .unzip()
    };
    let (ids_a, texts_a) = of('a');
    let (ids_b, texts_b) = of('b');
    assert_eq!(ids_a, ack_a, "alice's messages carry her ack ids");
    assert_eq!(ids_b, ack_b, "bob's messages carry his ack ids");
    assert_eq!(texts_a, ta);
    assert_eq!(texts_b, tb);
}

// ---------------------------------------------------------------------
// Resume

#[tokio::test]
async fn resume_with_since_sends_exactly_the_missed_messages_then_live_ones() {
    let (s, a, room, mut ca, mut cb) = both_in_general().await;
    let got = bob_says(&mut cb, &mut ca, &room, "before", 5).await;
    let last_seen = id_of(got.last().expect("five"));
    ca.ws.close(None).await.expect("close");
    drop(ca);

    let missed: Vec<String> = (0..30).map(|i| format!("missed {i}")).collect();
    let (answers, _) = cb.send_pipelined(Some(&room), &missed).await;
    let missed_ids = acked_ids(&answers, "missed");

    let (mut ca, mut caught) = resume(&s, &a, &room, &last_seen).await;
    assert!(
        caught.len() <= 30,
        "more than the missed messages: {caught:?}"
    );
    caught.extend(receive_n(&mut ca, 30 - caught.len()).await);
    assert_eq!(
        ids(&caught),
        missed_ids,
        "the catch-up is exactly the missed messages, in order"
    );
    assert_eq!(texts_of(&caught), missed);

    let live: Vec<String> = (0..5).map(|i| format!("live {i}")).collect();
    let (answers, _) = cb.send_pipelined(Some(&room), &live).await;
    let live_ids = acked_ids(&answers, "live");
    let got = receive_n(&mut ca, 5).await;
    assert_eq!(ids(&got), live_ids, "then the live messages");
    assert_no_more_messages(&mut ca, "no duplicate").await;
}

#[tokio::test]
async fn resume_while_others_keep_sending_has_no_gap_and_no_duplicate() {
    const LIVE: usize = 300;
    let (s, a, room, mut ca, mut cb) = both_in_general().await;
    let early = bob_says(&mut cb, &mut ca, &room, "early", 10).await;
    let since = id_of(&early[2]);
    drop(ca);

    // Bob keeps sending in the background, in small pipelined groups.
    let (started_tx, started_rx) = tokio::sync::oneshot::channel();
    let room_b = room.clone();
    let sender = tokio::spawn(async move {
        let mut started = Some(started_tx);
        let mut acked = Vec::new();
        for chunk in 0..LIVE / 10 {
            let texts: Vec<String> = (0..10)
                .map(|i| format!("live {}", chunk * 10 + i))
                .collect();
            let (answers, _) = cb.send_pipelined(Some(&room_b), &texts).await;
            acked.extend(acked_ids(&answers, "live"));
            if chunk == 2 {
                if let Some(tx) = started.take() {
                    let _ = tx.send(());
                }
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        acked
    });
    started_rx.await.expect("sender started");
    let (mut ca, mut got) = resume(&s, &a, &room, &since).await;
    let acked = sender.await.expect("sender task");
    let last = acked.last().expect("acks").clone();
    while got.last().map(id_of) != Some(last.clone()) {
        let m = ca.next_event("receiveMessage").await["data"].clone();
        assert!(
            got.len() < 10 + LIVE,
            "more messages than were sent; last {m}"
        );
        got.push(m);
    }
    assert_no_more_messages(&mut ca, "nothing after the last message").await;

    let history = all_messages(&s, &a, &room).await;
    assert_eq!(history.len(), 10 + LIVE);
    let pos = history
        .iter()
        .position(|m| id_of(m) == since)
        .expect("since in history");
    let want = ids(&history[pos + 1..]);
    let have = ids(&got);
    let mut dedup = have.clone();
    dedup.sort();
    dedup.dedup();
    assert_eq!(dedup.len(), have.len(), "duplicates in the resumed stream");
    assert_eq!(
        have, want,
        "the resumed client sees every message after since exactly once, in order"
    );
}

#[tokio::test]
async fn resume_since_an_unknown_or_foreign_id_is_validation_failed_and_not_subscribed() {
    let (s, [a, b], room) = general(["alice", "bob"]).await;
    let other = room_id(&s, &a, "other", false).await;
    let mut cb = Client::joined(&s, &b, &[&room, &other]).await;
    let mut own_ids = Vec::new();
    for i in 0..2 {
        own_ids.push(id_of(&cb.say(&room, &format!("here {i}")).await));
    }
    let mut foreign = String::new();
    for i in 0..5 {
        foreign = id_of(&cb.say(&other, &format!("there {i}")).await);
    }
    assert!(
        !own_ids.contains(&foreign),
        "test setup: the foreign id must not also be one of this room's"
    );

    let mut ca = Client::connect(&s, &a).await;
    for since in [foreign.as_str(), "ffffffffffffffff", "nonsense", ""] {
        let f = ca
            .call("joinRoom", json!({"roomId": room, "since": since}))
            .await;
        assert_error(&f, "validation_failed", &format!("since {since:?}"));
        let f = ca.send_message(&room, "x").await;
        assert_error(
            &f,
            "not_joined",
            &format!("sendMessage after the refused join with since {since:?}"),
        );
        let f = ca.call("sendMessage", json!({ "message": "x" })).await;
        assert_error(
            &f,
            "not_joined",
            &format!("sendMessage without roomId after since {since:?}"),
        );
    }
    let f = ca
        .call("joinRoom", json!({"roomId": room, "since": 5}))
        .await;
    assert_error(&f, "validation_failed", "since of the wrong type");
    assert_online(&s, &a, &room, &["bob"], "alice was never subscribed").await;
    cb.say(&room, "not for alice").await;
    assert_no_more_messages(&mut ca, "not subscribed").await;
}

#[tokio::test]
async fn resume_since_the_newest_id_sends_no_history() {
    let (s, [a, b], room) = general(["alice", "bob"]).await;
    let mut cb = Client::joined(&s, &b, &[&room]).await;
    let mut newest = String::new();
    for i in 0..3 {
        newest = id_of(&cb.say(&room, &format!("m{i}")).await);
    }
    let mut ca = Client::connect(&s, &a).await;
    let f = ca
        .call("joinRoom", json!({"roomId": room, "since": newest}))
        .await;
    ack_data(&f, "joinRoom since the newest");
    assert_no_more_messages(&mut ca, "no history").await;
    let ack = cb.say(&room, "live").await;
    let m = ca.next_event("receiveMessage").await;
    assert_eq!(m["data"]["id"], ack["id"]);
    assert_no_more_messages(&mut ca, "once").await;
}

// ---------------------------------------------------------------------
// Slow consumers

#[tokio::test]
async fn a_slow_consumer_is_closed_without_holding_up_the_room() {
    const N: usize = 12_000;
    let (s, [a], room) = general(["alice"]).await;
    let mut sender = Client::joined(&s, &a, &[&room]).await;
    let slow_user = register(&s, "slowpoke").await;
    let mut slow = Client::joined(&s, &slow_user, &[&room]).await;
    let mut fast = Vec::new();
    for name in ["bob", "carol"] {
        let u = register(&s, name).await;
        let mut c = Client::connect(&s, &u).await;
        c.join(&room).await;
        fast.push(tokio::spawn(async move {
            // Only the ids and the first characters are kept.
            let mut seen = Vec::with_capacity(N);
            while seen.len() < N {
                let f = c.next_event("receiveMessage").await;
                seen.push((
                    id_of(&f["data"]),
                    str_of(&f["data"]["message"])[..5].to_owned(),
                ));
            }
            seen
        }));
    }
    // From here on the slow client is not read: 12,000 messages of 3,000
    // characters (about 37 MB, more than the server's per-connection bound
    // plus the kernel's socket buffers) are sent to it.
    let pad = "x".repeat(2995);
    let texts: Vec<String> = (0..N).map(|i| format!("{i:05}{pad}")).collect();
    // The sender sends in windows of 200, as a real client does: a client
    // that floods without reading its own echoes is itself a slow consumer.
    let mut answers = Vec::with_capacity(N);
    for chunk in texts.chunks(200) {
        answers.extend(sender.send_pipelined(Some(&room), chunk).await.0);
    }
    let acked = acked_ids(&answers, "message");
    assert_strictly_increasing(&acked, "ack ids");
    let want: Vec<(String, String)> = acked
        .iter()
        .cloned()
        .zip(texts.iter().map(|t| t[..5].to_owned()))
        .collect();
    for (name, task) in ["bob", "carol"].into_iter().zip(fast) {
        let seen = task
            .await
            .unwrap_or_else(|e| panic!("{name}'s reader failed: {e}"));
        assert!(seen == want, "{name} received every message in order");
    }
    // The slow client was closed: 1013, or a reset if the close frame could
    // not be written. Reading it now must not find every message waiting.
    let (read, code, ended) = read_to_end(&mut slow.ws, N, WAIT).await;
    assert!(
        read < N,
        "the slow client was not closed: the server kept all {N} messages (about {} MB) for it, \
         and it received them once it read again (ended: {ended}, close code {code:?})",
        N * 3100 / 1_000_000
    );
    assert!(ended, "the slow client's connection neither delivered everything nor ended ({read} messages read)");
    assert!(
        code.is_none() || code == Some(1013),
        "slow client closed with {code:?}, expected 1013"
    );
    let (_, v) = get(&s, &a, &format!("/api/rooms/{room}/online")).await;
    assert!(
        !v["users"]
            .as_array()
            .expect("users")
            .contains(&json!("slowpoke")),
        "the slow client is gone: {v}"
    );
}

// ---------------------------------------------------------------------
// Private rooms

#[tokio::test]
async fn member_removed_from_a_private_room_gets_room_removed_and_nothing_more() {
    let (s, [a, b], secret) =
        users_and_room(Server::start(), ["alice", "bob"], "secret", true).await;
    add_member(&s, &a, &secret, "bob").await;
    let mut ca = Client::joined(&s, &a, &[&secret]).await;
    let mut cb = Client::joined(&s, &b, &[&secret]).await;
    assert_presence(&ca.next().await, "userJoined", &secret, "bob");
    ca.say(&secret, "before").await;
    assert_eq!(
        cb.next_event("receiveMessage").await["data"]["message"],
        "before"
    );

    assert_eq!(
        delete(&s, &a, &format!("/api/rooms/{secret}/members/bob")).await,
        204
    );
    let f = cb.next().await;
    assert_eq!(f["event"], "roomRemoved", "{f}");
    assert_eq!(f["data"]["roomId"], secret, "{f}");
    assert_presence(&ca.next_event("userLeft").await, "userLeft", &secret, "bob");
    assert_online(&s, &a, &secret, &["alice"], "bob removed").await;

    ca.say(&secret, "after").await;
    assert_no_more_messages(&mut cb, "no message after the removal").await;
    let f = cb.send_message(&secret, "let me in").await;
    assert_error(&f, "not_joined", "sendMessage to the room removed from");
    let f = cb
        .call("sendMessage", json!({ "message": "let me in" }))
        .await;
    assert_error(
        &f,
        "not_joined",
        "sendMessage without roomId to the room removed from",
    );
    let f = cb.call("joinRoom", json!({ "roomId": secret })).await;
    assert_error(&f, "not_found", "joinRoom after removal");
}
