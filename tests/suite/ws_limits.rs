//! WebSocket limits against hostile clients: strikes for binary frames,
//! join/leave flapping (rate limit and bounded presence notices), the
//! per-user connection cap, `joinRoom` with `since` and no `ref`, and a
//! non-text `Authorization` header on the upgrade.

use crate::common;

use std::io::Write;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

/// The server's presence window: one `userJoined`/`userLeft` per user and
/// room per window, at most.
const PRESENCE_WINDOW: Duration = Duration::from_secs(1);

/// Long enough for every deferred presence notice to have gone out.
const SETTLE: Duration = Duration::from_millis(1600);

/// The server's join burst.
const JOIN_BURST: usize = 50;

/// What came back for a pipelined batch of frames.
struct Outcome {
    /// Answers (ack or error) to frames with a ref, in arrival order.
    answers: Vec<Value>,
    /// The close code, if the server closed the connection.
    close: Option<u16>,
}

/// Sends every frame without waiting, reading at the same time, until all
/// `expected` answers arrived or the server closed the connection.
async fn pipeline(c: &mut Client, frames: Vec<Message>, expected: usize) -> Outcome {
    let mut answers = Vec::new();
    let until = tokio::time::Instant::now() + WAIT * 3;
    let (_, ended) = c
        .pipeline(frames, Pace::FLAT_OUT, Some(until), |v| {
            if !v["ref"].is_null() {
                answers.push(v);
            }
            answers.len() < expected
        })
        .await;
    let close = match ended {
        Ended::Done => None,
        Ended::Closed(code) => code,
    };
    Outcome { answers, close }
}

fn join_leave_pairs(room: &str, pairs: usize) -> Vec<Message> {
    (0..pairs)
        .flat_map(|i| {
            [
                json!({"event": "joinRoom", "data": {"roomId": room}, "ref": format!("j{i}")}),
                json!({"event": "leaveRoom", "data": {"roomId": room}, "ref": format!("l{i}")}),
            ]
        })
        .map(|f| Message::text(f.to_string()))
        .collect()
}

/// Bob in his room "general", and alice connected to flap in and out of
/// it: bob, the room, bob's connection (in the room) and alice's.
async fn bob_and_a_flapper(s: &Server) -> (User, String, Client, Client) {
    let a = register(s, "alice").await;
    let b = register(s, "bob").await;
    let room = room_id(s, &b, "general", false).await;
    let bob = Client::joined(s, &b, &[&room]).await;
    let alice = Client::connect(s, &a).await;
    (b, room, bob, alice)
}

/// What bob hears of alice until every deferred notice went out: her
/// presence notices, at least one and no more than `changes` made since
/// `t0` may cause.
async fn alices_notices(bob: &mut Client, t0: Instant, changes: usize) -> Vec<Value> {
    let seen = bob.drain(SETTLE).await;
    let notices: Vec<Value> = presence_of(&seen, "alice").into_iter().cloned().collect();
    let bound = presence_bound(t0.elapsed());
    assert!(
        !notices.is_empty() && notices.len() <= bound,
        "{} presence notices of alice for {changes} changes (bound {bound}): {notices:?}",
        notices.len()
    );
    notices
}

/// `userJoined`/`userLeft` frames about `user` among `frames`.
fn presence_of<'a>(frames: &'a [Value], user: &str) -> Vec<&'a Value> {
    frames
        .iter()
        .filter(|f| f["event"] == "userJoined" || f["event"] == "userLeft")
        .filter(|f| f["data"]["user"] == user)
        .collect()
}

async fn online(s: &Server, u: &User, room: &str) -> Vec<String> {
    let (st, v) = get(s, u, &format!("/api/rooms/{room}/online")).await;
    assert_eq!(st, 200, "online {v}");
    let mut users: Vec<String> = v["users"]
        .as_array()
        .expect("users")
        .iter()
        .map(|u| u.as_str().expect("name").to_owned())
        .collect();
    users.sort();
    users
}

/// The most presence notices one user's changes may cause in one room over
/// `elapsed`: the first at once, then one per window, plus the net change
/// announced when the last window ends.
fn presence_bound(elapsed: Duration) -> usize {
    2 + (elapsed.as_secs_f64() / PRESENCE_WINDOW.as_secs_f64()).ceil() as usize
}

// ---------------------------------------------------------------------
// 1. Binary frames

#[tokio::test]
async fn binary_frames_count_as_strikes_and_close_with_1008() {
    let s = Server::start();
    let a = register(&s, "alice").await;
    let mut c = Client::connect(&s, &a).await;
    let frames: Vec<Message> = (0..80)
        .map(|i| Message::binary(format!("{{\"event\":\"typing\",\"ref\":\"b{i}\"}}").into_bytes()))
        .collect();
    // Binary frames carry no ref the server reads: count error frames.
    let mut errors = 0;
    let (_, ended) = c
        .pipeline(frames, Pace::FLAT_OUT, None, |v| {
            assert_eq!(v["data"]["code"], "invalid_json", "{v}");
            errors += 1;
            true
        })
        .await;
    let Ended::Closed(code) = ended else {
        unreachable!("the reader reads to the close")
    };
    assert_eq!(code, Some(1008), "close code after {errors} binary frames");
    assert!(
        (50..=51).contains(&errors),
        "the strike limit is 50: closed after {errors} errors"
    );
}

// ---------------------------------------------------------------------
// 2. Join/leave flapping

#[tokio::test]
async fn join_leave_flapping_is_rate_limited_beyond_the_burst_and_presence_stays_bounded() {
    let s = Server::start();
    let (b, room, mut bob, mut alice) = bob_and_a_flapper(&s).await;

    let pairs = 150;
    let t0 = Instant::now();
    let out = pipeline(&mut alice, join_leave_pairs(&room, pairs), 2 * pairs).await;
    let elapsed = t0.elapsed();

    // Leaves (and joins of a room already joined) are charged: 50 pairs
    // pass at once, then the refill of 5 a second.
    let refill = 2 * (5.0 * elapsed.as_secs_f64()).ceil() as usize;
    let acks = out.answers.iter().filter(|f| f["event"] == "ack").count();
    let errors: Vec<&Value> = out
        .answers
        .iter()
        .filter(|f| f["event"] == "error")
        .collect();
    assert!(
        acks >= 2 * JOIN_BURST,
        "the burst of {JOIN_BURST} pairs passes: {acks} acks"
    );
    assert!(
        acks <= 2 * JOIN_BURST + 1 + refill,
        "{acks} acks in {elapsed:?}, beyond the burst and rate"
    );
    assert!(!errors.is_empty(), "no rate_limited error");
    for e in &errors {
        assert_eq!(e["data"]["code"], "rate_limited", "{e}");
    }
    let limited_leaves = errors
        .iter()
        .filter(|e| e["ref"].as_str().is_some_and(|r| r.starts_with('l')))
        .count();
    let limited_joins = errors.len() - limited_leaves;
    assert!(
        limited_leaves > 0 && limited_joins > 0,
        "both joins and leaves are limited: {limited_joins} joins, {limited_leaves} leaves"
    );
    // rate_limited is a strike: the flapper is closed with 1008.
    assert_eq!(out.close, Some(1008), "after {} answers", out.answers.len());

    // Bob heard a bounded number of notices, and the last says alice left.
    let notices = alices_notices(&mut bob, t0, 2 * pairs).await;
    assert_eq!(
        notices.last().map(|f| &f["event"]),
        Some(&json!("userLeft"))
    );
    assert_eq!(online(&s, &b, &room).await, vec!["bob"]);
}

#[tokio::test]
async fn flapping_with_the_join_rate_off_still_sends_others_one_notice_a_window() {
    let s = Server::start_with(&["--message-rate", "0", "--join-rate", "0"]);
    let (b, room, mut bob, mut alice) = bob_and_a_flapper(&s).await;

    let pairs = 1000;
    let mut frames = join_leave_pairs(&room, pairs);
    frames.push(Message::text(
        json!({"event": "joinRoom", "data": {"roomId": room}, "ref": "last"}).to_string(),
    ));
    let t0 = Instant::now();
    let out = pipeline(&mut alice, frames, 2 * pairs + 1).await;
    assert_eq!(out.close, None);
    assert!(
        out.answers.iter().all(|f| f["event"] == "ack"),
        "with the limit off every frame is acked"
    );

    // Alice ends in the room: bob's view ends with userJoined.
    let notices = alices_notices(&mut bob, t0, 2 * pairs + 1).await;
    assert_eq!(
        notices.last().map(|f| &f["event"]),
        Some(&json!("userJoined"))
    );
    assert_eq!(online(&s, &b, &room).await, vec!["alice", "bob"]);

    // After a quiet window a change is announced again, and the views agree.
    let f = alice.call("leaveRoom", json!({ "roomId": room })).await;
    assert_eq!(f["event"], "ack", "{f}");
    let f = bob.next_event("userLeft").await;
    assert_eq!(f["data"]["user"], "alice", "{f}");
    assert_eq!(online(&s, &b, &room).await, vec!["bob"]);
}

// ---------------------------------------------------------------------
// 3. Connections per user

#[tokio::test]
async fn a_users_33rd_websocket_is_refused_with_429_and_closing_one_frees_a_slot() {
    let s = Server::start();
    let a = register(&s, "alice").await;
    let b = register(&s, "bob").await;
    let mut open = Vec::new();
    for i in 0..32 {
        match Client::try_connect(&s, &a).await {
            Ok(c) => open.push(c),
            Err(e) => panic!("connection {} refused: {e:?}", i + 1),
        }
    }
    match Client::try_connect(&s, &a).await {
        Ok(_) => panic!("a 33rd connection was accepted"),
        Err((st, body)) => {
            assert_eq!(st, 429, "{body}");
            assert_eq!(body["error"]["code"], "rate_limited", "{body}");
        }
    }
    // Another user is not affected.
    let _bob = Client::try_connect(&s, &b).await.expect("bob connects");

    // Closing one frees its slot (once the server saw the close).
    let mut first = open.remove(0);
    first.ws.close(None).await.expect("close");
    let deadline = Instant::now() + WAIT;
    let again = loop {
        match Client::try_connect(&s, &a).await {
            Ok(c) => break c,
            Err((429, _)) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await
            }
            Err(e) => panic!("no slot freed: {e:?}"),
        }
    };
    open.push(again);
    assert!(
        Client::try_connect(&s, &a).await.is_err(),
        "the cap holds again"
    );
}

#[tokio::test]
async fn concurrent_upgrades_of_one_user_never_exceed_the_cap() {
    let s = Server::start_with(&["--message-rate", "0", "--max-user-connections", "5"]);
    let a = register(&s, "alice").await;
    let attempts = (0..40).map(|_| Client::try_connect(&s, &a));
    let results = futures_util::future::join_all(attempts).await;
    let mut open = Vec::new();
    for r in results {
        match r {
            Ok(c) => open.push(c),
            Err((st, body)) => {
                assert_eq!(st, 429, "{body}");
                assert_eq!(body["error"]["code"], "rate_limited", "{body}");
            }
        }
    }
    assert_eq!(open.len(), 5, "open connections of one user");
    // Every admitted connection works.
    for c in &mut open {
        let f = c.call("typing", json!({"roomId": "1"})).await;
        assert_eq!(f["data"]["code"], "not_joined", "{f}");
    }
}

// ---------------------------------------------------------------------
// 4. joinRoom with since and no ref

#[tokio::test]
async fn join_with_since_and_no_ref_gets_no_ack_but_the_missed_messages() {
    let (s, [a], room) = general(["alice"]).await;
    let mut c = Client::joined(&s, &a, &[&room]).await;
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(c.say(&room, &format!("m{i}")).await["id"].clone());
    }

    let mut late = Client::connect(&s, &a).await;
    late.send_raw(
        &json!({"event": "joinRoom", "data": {"roomId": room, "since": ids[0]}}).to_string(),
    )
    .await;
    // A frame with a ref after it: everything before its answer is what the
    // join produced.
    let r = late.emit("typing", json!({ "roomId": room })).await;
    let mut before = Vec::new();
    let answer = late.answer(&r, &mut before).await;
    assert_eq!(answer["event"], "ack", "joined: typing is acked: {answer}");
    assert!(
        before.iter().all(|f| f["event"] != "ack"),
        "no ack for a joinRoom without ref: {before:?}"
    );
    let got: Vec<Value> = before
        .iter()
        .filter(|f| f["event"] == "receiveMessage")
        .map(|f| f["data"]["id"].clone())
        .collect();
    assert_eq!(got, ids[1..].to_vec(), "the missed messages, in order");
}

// ---------------------------------------------------------------------
// 5. Authorization that is not text

#[tokio::test]
async fn upgrade_with_a_non_utf8_authorization_header_is_401() {
    let s = Server::start();
    let mut tcp = std::net::TcpStream::connect(&s.addr).expect("connect");
    let mut req = Vec::new();
    req.extend_from_slice(b"GET /ws HTTP/1.1\r\nHost: ");
    req.extend_from_slice(s.addr.as_bytes());
    req.extend_from_slice(
        b"\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nAuthorization: Bearer \xff\xfe\xe9t\r\n\r\n",
    );
    tcp.write_all(&req).expect("write");
    let (_, head, body) = read_http_response(&mut tcp, WAIT);
    assert!(
        head.starts_with("HTTP/1.1 401"),
        "expected 401, got: {head}"
    );
    // The body is the contract's JSON error.
    let v: Value = serde_json::from_str(&body).expect("json body");
    assert_eq!(v["error"]["code"], "unauthorized", "{v}");
}
