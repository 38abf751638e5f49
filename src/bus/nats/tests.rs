//! The NATS bus against a real `nats-server`.

use std::time::Duration;

use tokio::sync::mpsc;

use super::testing::NatsServer;
use super::*;
use crate::chat::conn::Outbound;
use crate::chat::hub::tests::{conn, message, text};
use crate::model::{RoomId, UserId};

/// One node: its bus and its hub, applying the other nodes' acts.
async fn node(url: &str) -> (Arc<NatsBus>, Hub) {
    let (bus, inbound) = NatsBus::connect(url).await.expect("connect");
    let hub = Hub::with_bus(bus.clone());
    tokio::spawn(inbound.run(hub.clone()));
    (bus, hub)
}

/// The next frames queued for a connection, waiting at most 10 s.
async fn next(rx: &mut mpsc::Receiver<Outbound>) -> String {
    let item = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("a frame within 10 s")
        .expect("queue open");
    text(item)
}

/// Waits (at most 20 s) until the bus says it is connected.
async fn until_connected(bus: &NatsBus) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !bus.connected() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no reconnect within 20 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Two nodes with a connection each (ann on the first, bob on the
/// second) joined to `room`, their own join notices read.
struct Pair {
    a: Hub,
    b: Hub,
    bus_a: Arc<NatsBus>,
    bus_b: Arc<NatsBus>,
    ann_rx: mpsc::Receiver<Outbound>,
    bob_rx: mpsc::Receiver<Outbound>,
}

async fn pair(url: &str, room: RoomId, queue: usize) -> Pair {
    let (bus_a, a) = node(url).await;
    let (bus_b, b) = node(url).await;
    let (ann, mut ann_rx) = conn(&a, 1, "ann", queue);
    let (bob, bob_rx) = conn(&b, 2, "bob", queue);
    // Presence is the union over nodes: once b knows ann is in, bob's
    // join lists her, and ann is told bob came.
    a.join(room, &ann);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while b.online(room).is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "ann's presence never reached b"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(b.join(room, &bob), vec!["ann", "bob"]);
    let joined = next(&mut ann_rx).await;
    assert!(
        joined.contains("userJoined") && joined.contains("bob"),
        "{joined}"
    );
    Pair {
        a,
        b,
        bus_a,
        bus_b,
        ann_rx,
        bob_rx,
    }
}

#[tokio::test]
async fn acts_of_each_node_reach_the_others_connections_and_never_come_back() {
    let nats = NatsServer::start();
    let room = RoomId(9);
    let Pair {
        a,
        b,
        mut ann_rx,
        mut bob_rx,
        ..
    } = pair(&nats.url(), room, 64).await;

    a.publish(&[message(1, room)]);
    assert!(next(&mut ann_rx).await.contains("m1"), "here");
    assert!(next(&mut bob_rx).await.contains("m1"), "there");
    b.publish(&[message(2, room)]);
    assert!(next(&mut bob_rx).await.contains("m2"));
    assert!(next(&mut ann_rx).await.contains("m2"));

    b.send_to_user(UserId(1), &"for ann".into(), None);
    assert_eq!(next(&mut ann_rx).await, "for ann");
    // Nothing came back to the node that acted.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(ann_rx.try_recv().is_err(), "no echo");
    assert!(bob_rx.try_recv().is_err(), "no echo");
}

#[tokio::test]
async fn a_batch_larger_than_a_nats_payload_arrives_whole_and_in_order() {
    let nats = NatsServer::start();
    let room = RoomId(3);
    let Pair { a, mut bob_rx, .. } = pair(&nats.url(), room, 4096).await;
    // 2,000 messages of 1,000 characters: about 2.3 MB, over the 1 MB the
    // server accepts in one payload by default.
    let batch: Vec<_> = (1..=2000)
        .map(|i| {
            let mut m = message(i, room);
            m.message = format!("{i:04}:{}", "x".repeat(995));
            m
        })
        .collect();
    a.publish(&batch);
    let mut seen = Vec::new();
    while seen.len() < batch.len() {
        let frames = next(&mut bob_rx).await;
        seen.extend(frames.match_indices("\"message\":\"").map(|(at, _)| {
            let start = at + "\"message\":\"".len();
            frames[start..start + 4].parse::<u64>().expect("number")
        }));
    }
    assert_eq!(seen, (1..=2000).collect::<Vec<u64>>());
}

#[tokio::test]
async fn a_node_keeps_going_while_nats_is_down_and_fans_out_again_after() {
    let mut nats = NatsServer::start();
    let port = nats.port;
    let room = RoomId(5);
    let Pair {
        a,
        bus_a,
        bus_b,
        mut ann_rx,
        mut bob_rx,
        ..
    } = pair(&nats.url(), room, 2048).await;

    nats.stop();
    // Sharing never waits: a thousand acts with NATS gone return at once,
    // and this node's own connections still get everything.
    let started = std::time::Instant::now();
    for i in 1..=1000 {
        a.publish(&[message(i, room)]);
    }
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    for i in 1..=1000 {
        assert!(next(&mut ann_rx).await.contains(&format!("\"m{i}\"")));
    }

    let _nats = NatsServer::start_on(port);
    until_connected(&bus_a).await;
    until_connected(&bus_b).await;
    // What was published while NATS was down is lost to the other node
    // (its clients catch up from the store); what follows arrives.
    while bob_rx.try_recv().is_ok() {}
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        a.publish(&[message(5000, room)]);
        let got = tokio::time::timeout(Duration::from_millis(500), bob_rx.recv()).await;
        if got
            .ok()
            .flatten()
            .is_some_and(|item| text(item).contains("m5000"))
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no fan-out after NATS returned"
        );
    }
}

#[tokio::test]
async fn a_bad_url_or_an_absent_server_is_refused_quickly() {
    let started = std::time::Instant::now();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let err = NatsBus::connect(&format!("nats://127.0.0.1:{port}"))
        .await
        .err()
        .expect("nobody listens");
    assert!(err.to_string().contains("cannot connect to NATS"), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    assert!(NatsBus::connect("nats://").await.is_err());
}
