//! A node dies, PostgreSQL goes away, NATS goes away: what stays true.

use std::time::{Duration, Instant};

use super::{online, receive, Cluster};
use crate::common::cluster::{NatsServer, PgServer};
use crate::common::*;

#[tokio::test]
async fn a_killed_node_s_users_leave_the_others_lists_within_30_s() {
    let mut c = Cluster::start_processes(2);
    let ann = register(&c.nodes[0], "ann").await;
    let bob = register(&c.nodes[1], "bob").await;
    let room = id_of(&create_room(&c.nodes[0], &ann, "r", false).await);
    let _ann0 = Client::joined(&c.nodes[0], &ann, &[&room]).await;
    let mut bob1 = Client::connect(&c.nodes[1], &bob).await;
    let ack = bob1.join(&room).await;
    assert_eq!(online(&ack), ["ann", "bob"], "{ack}");
    c.nodes[0].child.kill().expect("kill -9");
    let killed = Instant::now();
    let deadline = killed + Duration::from_secs(35);
    loop {
        assert!(Instant::now() < deadline, "ann still online after 35 s");
        let f = tokio::time::timeout(Duration::from_secs(1), bob1.next()).await;
        let Ok(f) = f else { continue };
        if f["event"] == "userLeft" && f["data"]["user"] == "ann" {
            break;
        }
    }
    assert!(
        killed.elapsed() <= Duration::from_secs(30),
        "{:?}",
        killed.elapsed()
    );
    let (status, room_now) = get(&c.nodes[1], &bob, &format!("/api/rooms/{room}")).await;
    assert_eq!(status, 200);
    assert_eq!(room_now["online"], 1, "{room_now}");
}

#[tokio::test]
async fn with_postgres_gone_sends_fail_quickly_and_nothing_unstored_is_acked() {
    let mut pg = PgServer::start();
    let store = pg.url(&pg.new_database());
    let c = Cluster::start_on(2, store, false);
    let ann = register(&c.nodes[0], "ann").await;
    let room = id_of(&create_room(&c.nodes[0], &ann, "r", false).await);
    let mut sender = Client::joined(&c.nodes[0], &ann, &[&room]).await;
    let mut acked = vec![str_of(&sender.say(&room, "before").await["id"])];
    pg.pause();
    // A send while the database is away is answered, with an error,
    // within the store's bound, and never acknowledged.
    let started = Instant::now();
    let answer = sender.send_message(&room, "while away").await;
    assert_eq!(answer["event"], "error", "{answer}");
    assert_eq!(answer["data"]["code"], "internal", "{answer}");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    let health: serde_json::Value = fetch(&c.nodes[0], "/healthz")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(health["store"]["kind"], "postgres", "{health}");
    pg.resume();
    // The node recovers by itself.
    let deadline = Instant::now() + Duration::from_secs(30);
    let again = loop {
        let a = sender.send_message(&room, "after").await;
        if a["event"] == "ack" {
            break a;
        }
        assert!(Instant::now() < deadline, "no recovery: {a}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    acked.push(str_of(&again["data"]["id"]));
    let stored: Vec<String> = all_messages(&c.nodes[1], &ann, &room)
        .await
        .iter()
        .map(id_of)
        .collect();
    for id in &acked {
        assert!(stored.contains(id), "acked {id} stored: {stored:?}");
    }
    let texts: Vec<String> = all_messages(&c.nodes[1], &ann, &room)
        .await
        .iter()
        .map(|m| str_of(&m["message"]))
        .collect();
    assert!(!texts.contains(&"while away".to_owned()), "{texts:?}");
}

#[tokio::test]
async fn with_nats_gone_messages_are_acked_and_reach_other_nodes_from_the_store() {
    let mut c = Cluster::start(2);
    let ann = register(&c.nodes[0], "ann").await;
    let bob = register(&c.nodes[1], "bob").await;
    let room = id_of(&create_room(&c.nodes[0], &ann, "r", false).await);
    let mut ann0 = Client::joined(&c.nodes[0], &ann, &[&room]).await;
    let mut bob1 = Client::joined(&c.nodes[1], &bob, &[&room]).await;
    ann0.say(&room, "first").await;
    assert_eq!(receive(&mut bob1, &room, 1).await[0].1, "first");
    let port = c.nats.port;
    c.nats.stop();
    let started = Instant::now();
    let mut sent = Vec::new();
    for k in 0..50 {
        sent.push(str_of(&ann0.say(&room, &format!("down{k}")).await["id"]));
    }
    // The other node's client is sent them from the store, in order,
    // within the bound of the catch-up (docs/cluster.md).
    let got = receive(&mut bob1, &room, 50).await;
    let ids: Vec<String> = got.into_iter().map(|(id, _)| id).collect();
    assert_eq!(ids, sent);
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    let health: serde_json::Value = fetch(&c.nodes[1], "/healthz")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(health["bus"]["connected"], false, "{health}");
    // NATS comes back: live fan-out resumes.
    c.nats = NatsServer::start_on(port);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let f = fetch(&c.nodes[0], "/healthz")
            .await
            .json::<serde_json::Value>()
            .await
            .expect("json");
        if f["bus"]["connected"] == true {
            break;
        }
        assert!(Instant::now() < deadline, "the bus did not come back");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let id = str_of(&ann0.say(&room, "back").await["id"]);
    assert_eq!(receive(&mut bob1, &room, 1).await[0].0, id);
}
