//! One room, senders on every node: every connection on every node gets
//! the room's messages in id order, with no gap and no duplicate; a
//! client resumes on another node after its node was killed.

use std::collections::BTreeSet;

use super::{receive, Cluster};
use crate::common::*;

/// Messages each of the three senders sends.
const EACH: usize = 150;

#[tokio::test]
async fn three_senders_on_three_nodes_one_order_everywhere() {
    let c = Cluster::start(3);
    let owner = register(&c.nodes[0], "owner").await;
    let room = id_of(&create_room(&c.nodes[0], &owner, "busy", false).await);
    let mut receivers = Vec::new();
    for (i, node) in c.nodes.iter().enumerate() {
        let u = register(node, &format!("reader{i}")).await;
        receivers.push(Client::joined(node, &u, &[&room]).await);
    }
    let mut senders = Vec::new();
    for (i, node) in c.nodes.iter().enumerate() {
        let u = register(node, &format!("writer{i}")).await;
        let mut client = Client::joined(node, &u, &[&room]).await;
        let room = room.clone();
        senders.push(tokio::spawn(async move {
            let mut acked = Vec::with_capacity(EACH);
            for k in 0..EACH {
                let ack = client.say(&room, &format!("w{i}-{k}")).await;
                acked.push(str_of(&ack["id"]));
            }
            acked
        }));
    }
    let mut acked = BTreeSet::new();
    for s in senders {
        let mine = s.await.expect("sender");
        assert_strictly_increasing(&mine, "one sender's acks");
        acked.extend(mine);
    }
    assert_eq!(acked.len(), 3 * EACH, "every ack a distinct id");
    for (i, r) in receivers.iter_mut().enumerate() {
        let got = receive(r, &room, 3 * EACH).await;
        let ids: Vec<String> = got.iter().map(|(id, _)| id.clone()).collect();
        assert_strictly_increasing(&ids, &format!("node {i}"));
        let seen: BTreeSet<String> = ids.into_iter().collect();
        assert_eq!(seen, acked, "node {i}: exactly the acked messages");
        // Each sender's messages in the order it sent them.
        for w in 0..3 {
            let texts: Vec<&str> = got
                .iter()
                .map(|(_, t)| t.as_str())
                .filter(|t| t.starts_with(&format!("w{w}-")))
                .collect();
            let want: Vec<String> = (0..EACH).map(|k| format!("w{w}-{k}")).collect();
            assert_eq!(texts, want, "node {i}, sender {w}");
        }
    }
    // Ids of the room, with nothing else written, are contiguous.
    let ids: Vec<u64> = acked
        .iter()
        .map(|id| u64::from_str_radix(id, 16).expect("hex id"))
        .collect();
    assert_eq!(ids[ids.len() - 1] - ids[0] + 1, ids.len() as u64, "no hole");
}

#[tokio::test]
async fn after_a_kill_9_a_client_resumes_on_another_node_with_nothing_acked_lost() {
    let mut c = Cluster::start_processes(2);
    let ann = register(&c.nodes[0], "ann").await;
    let room = id_of(&create_room(&c.nodes[0], &ann, "r", false).await);
    let mut sender = Client::joined(&c.nodes[0], &ann, &[&room]).await;
    let first = str_of(&sender.say(&room, "before").await["id"]);
    let mut acked = vec![first.clone()];
    // Send without waiting, then kill the node while acks are in flight:
    // whatever was acked must be found on the other node.
    let mut refs = Vec::new();
    for k in 0..200 {
        let data = serde_json::json!({"roomId": room, "message": format!("m{k}")});
        refs.push(sender.emit("sendMessage", data).await);
    }
    let mut others = Vec::new();
    for r in refs.iter().take(20) {
        let a = sender.answer(r, &mut others).await;
        acked.push(str_of(&ack_data(&a, "send")["id"]));
    }
    c.nodes[0].child.kill().expect("kill -9");
    // Acks that made it out before the kill count too.
    for f in sender.drain(std::time::Duration::from_millis(300)).await {
        if f["event"] == "ack" && f["data"]["id"].is_string() {
            acked.push(str_of(&f["data"]["id"]));
        }
    }
    let mut resumed = Client::connect(&c.nodes[1], &ann).await;
    let ack = resumed
        .call(
            "joinRoom",
            serde_json::json!({"roomId": room, "since": first}),
        )
        .await;
    ack_data(&ack, "resume on node 1");
    let stored: BTreeSet<String> = all_messages(&c.nodes[1], &ann, &room)
        .await
        .iter()
        .map(id_of)
        .collect();
    for id in &acked {
        assert!(stored.contains(id), "acked {id} is stored");
    }
    // The resumed connection is sent what followed `first`, in order.
    let later = stored.iter().filter(|id| **id > first).count();
    let got = receive(&mut resumed, &room, later).await;
    let ids: Vec<String> = got.into_iter().map(|(id, _)| id).collect();
    assert_strictly_increasing(&ids, "resumed");
    assert_eq!(ids.len(), later);
}
