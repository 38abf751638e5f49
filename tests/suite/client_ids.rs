//! `sendMessage`'s `clientId` (docs/protocol-additions.md, "Sending a
//! message once"): a message sent again with the same key by the same
//! user, after a lost ack, a reconnect or a restart, is stored once and
//! acknowledged with the first one's id and time, on both doors.

use crate::common;
use crate::socketio::Sio;

use common::*;
use serde_json::{json, Value};

/// `sendMessage` of `text` with `key` in `room` on `c`: the answer.
async fn send_keyed(c: &mut Client, room: &str, text: &str, key: &str) -> Value {
    c.call(
        "sendMessage",
        json!({ "roomId": room, "message": text, "clientId": key }),
    )
    .await
}

/// The (id, timestamp) of a `sendMessage` ack.
fn sent(answer: &Value) -> (Value, Value) {
    let data = ack_data(answer, "sendMessage");
    (data["id"].clone(), data["timestamp"].clone())
}

#[tokio::test]
async fn a_key_sent_again_is_stored_once_and_acked_as_the_first() {
    let (s, [ann, bob], general) = general(["ann", "bob"]).await;
    let mut a = Client::joined(&s, &ann, &[&general]).await;
    let mut b = Client::joined(&s, &bob, &[&general]).await;

    let first = sent(&send_keyed(&mut a, &general, "hello", "k-1").await);
    let again = sent(&send_keyed(&mut a, &general, "hello", "k-1").await);
    assert_eq!(first, again);
    // Over a new connection (the first one dropped before its ack).
    drop(a);
    let mut a2 = Client::joined(&s, &ann, &[&general]).await;
    assert_eq!(
        sent(&send_keyed(&mut a2, &general, "hello", "k-1").await),
        first
    );
    // Another key, and the same key of another user, are new messages.
    let other = sent(&send_keyed(&mut a2, &general, "hello", "k-2").await);
    assert_ne!(other.0, first.0);
    let bobs = sent(&send_keyed(&mut b, &general, "hello", "k-1").await);
    assert_ne!(bobs.0, first.0);

    let ids: Vec<Value> = all_messages(&s, &bob, &general)
        .await
        .iter()
        .map(|m| m["id"].clone())
        .collect();
    assert_eq!(ids, [first.0.clone(), other.0, bobs.0]);
    // Bob heard Ann's first message once.
    let heard: Vec<Value> = b
        .drain(std::time::Duration::from_millis(300))
        .await
        .into_iter()
        .filter(|f| f["event"] == "receiveMessage" && f["data"]["id"] == first.0)
        .collect();
    assert!(heard.len() <= 1, "{heard:?}");
}

#[tokio::test]
async fn the_same_key_sent_at_once_on_two_connections_is_stored_once() {
    let (s, [ann], general) = general(["ann"]).await;
    let mut conns = Vec::new();
    for _ in 0..4 {
        conns.push(Client::joined(&s, &ann, &[&general]).await);
    }
    let mut refs = Vec::new();
    for c in &mut conns {
        refs.push(
            c.emit(
                "sendMessage",
                json!({ "roomId": general, "message": "once", "clientId": "same" }),
            )
            .await,
        );
    }
    let mut acks = Vec::new();
    for (c, r) in conns.iter_mut().zip(&refs) {
        acks.push(sent(&c.answer(r, &mut Vec::new()).await));
    }
    assert!(acks.iter().all(|a| *a == acks[0]), "{acks:?}");
    assert_eq!(all_messages(&s, &ann, &general).await.len(), 1);
}

#[tokio::test]
async fn a_bad_key_is_refused() {
    let (s, [ann], general) = general(["ann"]).await;
    let mut a = Client::joined(&s, &ann, &[&general]).await;
    for bad in [json!(""), json!("x".repeat(65)), json!("a\u{7}b"), json!(5)] {
        let answer = a
            .call(
                "sendMessage",
                json!({ "roomId": general, "message": "hi", "clientId": bad }),
            )
            .await;
        let code = &answer["data"]["code"];
        assert!(
            code == "validation_failed" || code == "invalid_json",
            "{bad}: {answer}"
        );
    }
    sent(&send_keyed(&mut a, &general, "hi", &"é".repeat(64)).await);
    assert_eq!(all_messages(&s, &ann, &general).await.len(), 1);
}

#[tokio::test]
async fn a_key_is_remembered_across_a_kill() {
    let (mut s, [ann], general) = general_on(Server::start_process(), ["ann"]).await;
    let mut a = Client::joined(&s, &ann, &[&general]).await;
    let first = sent(&send_keyed(&mut a, &general, "survives", "k").await);
    drop(a);
    s.child.kill().expect("SIGKILL");
    s.child.wait().expect("reaped");
    s.respawn();
    let mut a = Client::joined(&s, &ann, &[&general]).await;
    assert_eq!(
        sent(&send_keyed(&mut a, &general, "survives", "k").await),
        first
    );
    assert_eq!(all_messages(&s, &ann, &general).await.len(), 1);
}

#[tokio::test]
async fn socket_io_keys_work_the_same() {
    let (s, [ann], general) = general(["ann"]).await;
    let mut a = Sio::connect(&s, &ann).await;
    a.call(1, "joinRoom", json!({ "roomId": general })).await;
    let data = json!({ "roomId": general, "message": "hi", "clientId": "sio" });
    let first = a.call(2, "sendMessage", data.clone()).await;
    assert!(first["id"].is_string(), "{first}");
    let again = a.call(3, "sendMessage", data).await;
    assert_eq!(
        (&again["id"], &again["timestamp"]),
        (&first["id"], &first["timestamp"])
    );
    assert_eq!(all_messages(&s, &ann, &general).await.len(), 1);
}
