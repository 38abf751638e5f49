//! The Socket.IO door at the packet level (docs/protocol-additions.md,
//! "Socket.IO door"): its framing, and the bounds it shares with `/ws`.
//! A minimal Engine.IO client speaks to the real server, over WebSocket
//! and over long-polling, so that each test sees exactly what is sent.
//! (tests/socketio/ drives the door with the official JavaScript client.)

use crate::common;

use std::time::Duration;

use common::{create_room, get, http, register, Client, Server, User, WAIT};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

/// Engine.IO's separator of packets in a long-polling payload.
const SEPARATOR: char = '\u{1e}';

/// A Socket.IO connection over an Engine.IO WebSocket session. Engine
/// pings are answered as they arrive; `recv` returns the other messages.
pub(crate) struct Sio {
    ws: common::Ws,
}

impl Sio {
    /// Opens an engine session (no Socket.IO `CONNECT` yet).
    async fn open(s: &Server) -> Sio {
        let url = format!("ws://{}/socket.io/?EIO=4&transport=websocket", s.addr);
        let (ws, _) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(url))
            .await
            .expect("connect in time")
            .expect("connect");
        let mut sio = Sio { ws };
        let open = sio.recv().await.expect("the open packet");
        assert!(open.starts_with("0{"), "the engine's open packet: {open}");
        sio
    }

    /// An engine session joined to the default namespace as `u`.
    pub(crate) async fn connect(s: &Server, u: &User) -> Sio {
        let mut sio = Sio::open(s).await;
        sio.send(&format!("40{}", json!({ "token": u.token })))
            .await;
        let answer = sio.recv().await.expect("the CONNECT answer");
        assert!(answer.starts_with("40{\"sid\":"), "connected: {answer}");
        sio
    }

    async fn send(&mut self, text: &str) {
        tokio::time::timeout(WAIT, self.ws.send(Message::text(text)))
            .await
            .expect("send in time")
            .expect("send");
    }

    /// The next engine message other than a ping; `None` once closed.
    async fn recv(&mut self) -> Option<String> {
        loop {
            let msg = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("a message or the close in time");
            match msg {
                // Best effort: the server may be closing the connection.
                Some(Ok(Message::Text(t))) if t.as_str() == "2" => {
                    let _ = self.ws.send(Message::text("3")).await;
                }
                Some(Ok(Message::Text(t))) => return Some(t.to_string()),
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return None,
                Some(Ok(_)) => continue,
            }
        }
    }

    /// Sends the event `name` with acknowledgement id `id` and returns the
    /// acknowledgement's argument.
    pub(crate) async fn call(&mut self, id: u32, name: &str, data: Value) -> Value {
        self.send(&format!("42{id}{}", json!([name, data]))).await;
        let prefix = format!("43{id}[");
        loop {
            let msg = self.recv().await.expect("the acknowledgement");
            if let Some(rest) = msg.strip_prefix(&prefix) {
                let args: Value = serde_json::from_str(&format!("[{rest}")).expect("ack args");
                return args[0].clone();
            }
        }
    }

    /// The next event: its name and data.
    pub(crate) async fn event(&mut self) -> (String, Value) {
        let msg = self.recv().await.expect("an event");
        let args: Value = serde_json::from_str(msg.strip_prefix("42").expect("an EVENT packet"))
            .expect("event args");
        (
            args[0].as_str().expect("a name").to_owned(),
            args[1].clone(),
        )
    }

    /// Waits (bounded) until the server closes the connection.
    async fn closed(&mut self) -> Vec<String> {
        let mut seen = Vec::new();
        while let Some(m) = self.recv().await {
            seen.push(m);
        }
        seen
    }
}

/// A long-polling session, one request at a time.
struct Polling {
    url: String,
}

impl Polling {
    /// The handshake: the status, and the session when there is one.
    async fn open(s: &Server) -> (u16, Option<Polling>) {
        let base = s.url("/socket.io/?EIO=4&transport=polling");
        let res = http().get(&base).send().await.expect("handshake");
        let status = res.status().as_u16();
        if status != 200 {
            return (status, None);
        }
        let body = res.text().await.expect("body");
        let open: Value =
            serde_json::from_str(body.strip_prefix('0').expect("open packet")).expect("open json");
        let sid = open["sid"].as_str().expect("sid");
        let url = format!("{base}&sid={sid}");
        (status, Some(Polling { url }))
    }

    /// One poll: the status and the packets.
    async fn get(&self) -> (u16, Vec<String>) {
        let res = http().get(&self.url).send().await.expect("poll");
        let status = res.status().as_u16();
        let body = res.text().await.expect("body");
        (status, body.split(SEPARATOR).map(str::to_owned).collect())
    }

    /// Polls, answering pings, until a packet for which `wanted` holds.
    async fn until(&self, wanted: impl Fn(&str) -> bool) {
        let mut got = Vec::new();
        while !got.iter().any(|p: &String| wanted(p)) {
            let (status, packets) = self.get().await;
            assert_eq!(status, 200, "{got:?}");
            for p in packets {
                if p == "2" {
                    assert_eq!(self.post(&["3"]).await, 200);
                }
                got.push(p);
            }
        }
    }

    /// Sends packets in one request: its status.
    async fn post(&self, packets: &[&str]) -> u16 {
        let body = packets.join(&SEPARATOR.to_string());
        let res = http()
            .post(&self.url)
            .header("content-type", "text/plain;charset=UTF-8")
            .body(body)
            .send()
            .await
            .expect("post");
        res.status().as_u16()
    }
}

/// Short heartbeats, so that the bounds show within a second.
const FAST_PINGS: [&str; 4] = [
    "--socketio-ping-interval",
    "300",
    "--socketio-ping-timeout",
    "400",
];

/// Alice, connected over Socket.IO and joined to a fresh room: her user,
/// the room's id, her connection and the join's acknowledgement.
async fn alice_in_a_room(s: &Server) -> (User, String, Sio, Value) {
    let alice = register(s, "alice").await;
    let room = create_room(s, &alice, "lobby", false).await;
    let room_id = room["id"].as_str().expect("room id").to_owned();
    let mut a = Sio::connect(s, &alice).await;
    let joined = a.call(0, "joinRoom", json!({ "roomId": room_id })).await;
    (alice, room_id, a, joined)
}

#[tokio::test]
async fn events_and_acknowledgements_are_framed_as_socket_io_packets() {
    let s = Server::start();
    let (_, room_id, mut a, joined) = alice_in_a_room(&s).await;
    assert_eq!(joined["room"]["id"], room_id);
    assert_eq!(joined["users"], json!(["alice"]));

    a.send(&format!(
        "427{}",
        json!(["sendMessage", { "message": "hi" }])
    ))
    .await;
    let (mut ack, mut event) = (None, None);
    while ack.is_none() || event.is_none() {
        let msg = a.recv().await.expect("the ack and the event");
        if let Some(rest) = msg.strip_prefix("437") {
            ack = Some(serde_json::from_str::<Value>(rest).expect("ack args")[0].clone());
        } else {
            let args: Value = serde_json::from_str(msg.strip_prefix("42").expect("an event"))
                .expect("event args");
            assert_eq!(args[0], "receiveMessage", "{msg}");
            event = Some(args[1].clone());
        }
    }
    let (ack, event) = (ack.expect("ack"), event.expect("event"));
    assert_eq!(ack["id"], event["id"], "{ack} {event}");
    assert_eq!(event["message"], "hi");
    assert_eq!(event["user"], "alice");

    // Without an acknowledgement id, a refusal is an `error` event.
    a.send(r#"42["leaveRoom",{"roomId":"nope"}]"#).await;
    let (name, data) = a.event().await;
    assert_eq!(
        (name.as_str(), data["code"].as_str()),
        ("error", Some("not_joined"))
    );
    // With one, the callback gets {error}.
    let refused = a.call(8, "dance", json!({})).await;
    assert_eq!(refused["error"]["code"], "unknown_event", "{refused}");
}

#[tokio::test]
async fn a_namespace_other_than_the_default_is_refused_and_the_default_still_joins() {
    let s = Server::start();
    let alice = register(&s, "alice").await;
    let mut a = Sio::open(&s).await;
    a.send(&format!("40/chat,{}", json!({ "token": alice.token })))
        .await;
    assert_eq!(
        a.recv().await.as_deref(),
        Some(r#"44/chat,{"message":"Invalid namespace"}"#)
    );
    a.send(&format!("40{}", json!({ "token": alice.token })))
        .await;
    let answer = a.recv().await.expect("the CONNECT answer");
    assert!(answer.starts_with("40{\"sid\":"), "{answer}");
}

#[tokio::test]
async fn nothing_but_connect_is_read_before_it_and_a_session_that_never_connects_is_closed() {
    let s = Server::start_with(&FAST_PINGS);
    let alice = register(&s, "alice").await;
    let room = create_room(&s, &alice, "lobby", false).await;
    let mut a = Sio::open(&s).await;
    a.send(&format!(
        "421{}",
        json!(["joinRoom", { "roomId": room["id"] }])
    ))
    .await;
    // Ping interval plus timeout (0.7 s here; 45 s by default) to connect.
    let seen = a.closed().await;
    assert!(
        seen.iter().all(|m| m == "1"),
        "nothing but the engine's close: {seen:?}"
    );
    let (_, online) = get(
        &s,
        &alice,
        &format!("/api/rooms/{}/online", room["id"].as_str().expect("id")),
    )
    .await;
    assert_eq!(online["users"], json!([]));
}

#[tokio::test]
async fn binary_packets_are_refused_and_their_attachments_dropped() {
    let s = Server::start();
    let (alice, room_id, mut a, _) = alice_in_a_room(&s).await;
    let placeholder = json!({"_placeholder": true, "num": 0});
    let args = json!(["sendMessage", { "roomId": room_id, "message": placeholder }]);
    a.send(&format!("451-3{args}")).await;
    a.ws.send(Message::binary(vec![1u8, 2, 3]))
        .await
        .expect("send");
    let msg = a.recv().await.expect("the answer");
    let answer: Value =
        serde_json::from_str(msg.strip_prefix("433").expect("ACK 3")).expect("json");
    assert_eq!(answer[0]["error"]["code"], "invalid_json", "{msg}");

    a.send(&format!("451-{args}")).await;
    a.ws.send(Message::binary(vec![1u8, 2, 3]))
        .await
        .expect("send");
    let (name, data) = a.event().await;
    assert_eq!(
        (name.as_str(), data["code"].as_str()),
        ("error", Some("invalid_json"))
    );

    let sent = a
        .call(4, "sendMessage", json!({ "message": "text only" }))
        .await;
    assert!(sent["id"].is_string(), "the socket still works: {sent}");
    let (_, page) = get(&s, &alice, &format!("/api/rooms/{room_id}/messages")).await;
    assert_eq!(page["messages"].as_array().map(Vec::len), Some(1), "{page}");
}

#[tokio::test]
async fn bad_packets_are_strikes_and_too_many_disconnect_the_client_for_good() {
    let s = Server::start();
    let alice = register(&s, "alice").await;
    let mut a = Sio::connect(&s, &alice).await;
    for _ in 0..60 {
        a.send("42{not an array").await;
    }
    let seen = a.closed().await;
    let errors = seen
        .iter()
        .filter(|m| m.starts_with("42[\"error\""))
        .count();
    assert!(errors > 40, "bad packets are answered: {seen:?}");
    // DISCONNECT, so that the client does not reconnect by itself.
    assert!(seen.contains(&"41".to_owned()), "{seen:?}");
}

#[tokio::test]
async fn a_packet_over_64_kib_closes_its_connection_on_either_transport() {
    let s = Server::start();
    let alice = register(&s, "alice").await;
    let big = json!(["sendMessage", { "message": "x".repeat(70 * 1024) }]).to_string();

    let mut a = Sio::connect(&s, &alice).await;
    // The server may close while the message is still being written.
    let _ = a.ws.send(Message::text(format!("42{big}"))).await;
    let seen = a.closed().await;
    assert!(
        seen.iter().all(|m| m == "1"),
        "closed, not answered: {seen:?}"
    );

    let (_, polling) = Polling::open(&s).await;
    let polling = polling.expect("a session");
    assert_eq!(polling.post(&[&format!("42{big}")]).await, 413);
    let (status, _) = polling.get().await;
    assert_eq!(status, 400, "the session is closed");

    let res = http().get(s.url("/healthz")).send().await.expect("health");
    assert_eq!(res.status(), 200);
    Sio::connect(&s, &alice).await;
}

#[tokio::test]
async fn a_stalled_polling_session_is_closed_after_the_ping_timeout_and_frees_its_place() {
    let mut args = FAST_PINGS.to_vec();
    args.extend(["--max-connections", "1"]);
    let s = Server::start_with(&args);
    let (status, stalled) = Polling::open(&s).await;
    assert_eq!(status, 200);
    let stalled = stalled.expect("a session");
    // The session holds the one place: a second one is refused.
    assert_eq!(Polling::open(&s).await.0, 429);

    // It never polls, so never answers a ping: closed within interval and
    // timeout, and its place is free again.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let (status, next) = Polling::open(&s).await;
        if status == 200 {
            drop(next);
            break;
        }
        assert_eq!(status, 429);
        assert!(tokio::time::Instant::now() < deadline, "still at the cap");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(stalled.get().await.0, 400, "the stalled session is gone");
}

#[tokio::test]
async fn a_stalled_polling_client_leaves_its_rooms() {
    let s = Server::start_with(&FAST_PINGS);
    let alice = register(&s, "alice").await;
    let bob = register(&s, "bob").await;
    let room = create_room(&s, &alice, "lobby", false).await;
    let room_id = room["id"].as_str().expect("room id");
    let mut watcher = Client::connect(&s, &alice).await;
    watcher.call("joinRoom", json!({ "roomId": room_id })).await;

    let (_, bob_polls) = Polling::open(&s).await;
    let bob_polls = bob_polls.expect("a session");
    let connect = format!("40{}", json!({ "token": bob.token }));
    let join = format!("421{}", json!(["joinRoom", { "roomId": room_id }]));
    assert_eq!(bob_polls.post(&[&connect, &join]).await, 200);
    bob_polls.until(|p| p.starts_with("431[")).await;
    let joined = watcher.next_event("userJoined").await;
    assert_eq!(joined["data"]["user"], "bob");
    // Bob stops polling: he is gone within the ping interval and timeout.
    let left = watcher.next_event("userLeft").await;
    assert_eq!(left["data"]["user"], "bob");
}

#[tokio::test]
async fn a_pending_long_poll_does_not_hold_up_the_stop() {
    let mut s = Server::start_process();
    let alice = register(&s, "alice").await;
    let (_, polling) = Polling::open(&s).await;
    let polling = polling.expect("a session");
    let connect = format!("40{}", json!({ "token": alice.token }));
    assert_eq!(polling.post(&[&connect]).await, 200);
    polling.until(|p| p.starts_with("40{")).await;

    // Nothing is queued: this poll waits, until the stop answers it.
    let pending = tokio::spawn(async move { polling.get().await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let stopped = std::time::Instant::now();
    s.signal("TERM");
    let (status, packets) = pending.await.expect("the poll");
    assert_eq!((status, packets), (200, vec!["6".to_owned()]), "a NOOP");
    assert_eq!(s.wait_exit(), Some(0));
    assert!(
        stopped.elapsed() < Duration::from_secs(4),
        "stopped in {:?}, not after the whole HTTP drain",
        stopped.elapsed()
    );
}
