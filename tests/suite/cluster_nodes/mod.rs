//! Several nodes on one PostgreSQL and one NATS behave as one chatroom:
//! chat across nodes, one room's order with senders on every node,
//! resume on another node after a `kill -9`, presence when a node dies,
//! limits across nodes, and PostgreSQL or NATS going away under load.
//!
//! Each test starts its own NATS and its own database on the run's
//! PostgreSQL (or its own PostgreSQL, to stop it), in temporary
//! directories on loopback.

mod failures;
mod limits;
mod operations;
mod order;

use std::path::PathBuf;

use serde_json::Value;

use crate::common::cluster::{fresh_database, NatsServer};
use crate::common::*;

/// Nodes of one cluster, and what they run on.
pub struct Cluster {
    pub nodes: Vec<Server>,
    pub nats: NatsServer,
    pub store: String,
    tmp: tempfile::TempDir,
    /// More arguments every node gets.
    extra: Vec<String>,
}

impl Cluster {
    /// `n` nodes started inside the test process, on a fresh database and
    /// a NATS of their own.
    pub fn start(n: usize) -> Cluster {
        Cluster::start_on(n, fresh_database(), false)
    }

    /// `n` nodes as processes (to kill them), on a fresh database.
    pub fn start_processes(n: usize) -> Cluster {
        Cluster::start_on(n, fresh_database(), true)
    }

    /// `n` nodes inside the test process, each also given `extra` args.
    pub fn start_with(n: usize, extra: &[&str]) -> Cluster {
        let mut c = Cluster::start_on(0, fresh_database(), false);
        c.extra = extra.iter().map(|s| s.to_string()).collect();
        for _ in 0..n {
            c.add_node(false);
        }
        c
    }

    /// `n` nodes on `store`, as processes or inside the test process.
    pub fn start_on(n: usize, store: String, processes: bool) -> Cluster {
        let nats = NatsServer::start();
        let tmp = tempfile::tempdir().expect("tempdir");
        let mut cluster = Cluster {
            nodes: Vec::new(),
            nats,
            store,
            tmp,
            extra: Vec::new(),
        };
        for _ in 0..n {
            cluster.add_node(processes);
        }
        cluster
    }

    /// The arguments of every node: the shared store and bus, no message
    /// rate limit (tests send in bursts).
    pub fn args(&self) -> Vec<String> {
        [
            "--message-rate",
            "0",
            "--store",
            &self.store,
            "--bus",
            &self.nats.url(),
        ]
        .map(str::to_owned)
        .into_iter()
        .chain(self.extra.iter().cloned())
        .collect()
    }

    /// Starts one more node, with a data directory of its own.
    pub fn add_node(&mut self, process: bool) -> &Server {
        let dir: PathBuf = self.tmp.path().join(format!("node{}", self.nodes.len()));
        let args = self.args();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let node = match process {
            true => Server::spawn_process(&dir, "127.0.0.1:0", &args),
            false => Server::spawn(&dir, "127.0.0.1:0", &args),
        };
        self.nodes.push(node);
        self.nodes.last().expect("just pushed")
    }
}

/// The `receiveMessage` frames of `room` a client is sent until it has
/// `n` (each wait bounded): their ids and texts.
pub async fn receive(c: &mut Client, room: &str, n: usize) -> Vec<(String, String)> {
    let mut got = Vec::with_capacity(n);
    while got.len() < n {
        let f = c.next_event("receiveMessage").await;
        let m = &f["data"];
        if m["roomId"] == room {
            got.push((str_of(&m["id"]), str_of(&m["message"])));
        }
    }
    got
}

/// The usernames a `joinRoom` ack lists as online.
pub fn online(ack: &Value) -> Vec<String> {
    let mut users: Vec<String> = ack["users"]
        .as_array()
        .expect("users")
        .iter()
        .map(str_of)
        .collect();
    users.sort();
    users
}

#[tokio::test]
async fn a_message_sent_on_one_node_reaches_every_node_and_tokens_work_everywhere() {
    let c = Cluster::start(3);
    let (n0, n1, n2) = (&c.nodes[0], &c.nodes[1], &c.nodes[2]);
    let ann = register(n0, "ann").await;
    let bob = register(n1, "bob").await;
    // Names are unique across nodes.
    let again = post_credentials(&n2.url(""), "/api/users/register", "ANN", "pw-pw-pw-pw").await;
    assert_eq!(again.status(), 409);
    let room = id_of(&create_room(n0, &ann, "general", false).await);
    // A token signed by one node is good on another.
    let mut on1 = Client::connect(n1, &ann).await;
    let mut bob2 = Client::connect(n2, &bob).await;
    ack_data(
        &on1.call("joinRoom", serde_json::json!({"roomId": room}))
            .await,
        "join on 1",
    );
    let ack = bob2.join(&room).await;
    // Presence is the union over nodes.
    assert_eq!(online(&ack), ["ann", "bob"], "{ack}");
    let mut ann0 = Client::joined(n0, &ann, &[&room]).await;
    let sent = ann0.say(&room, "hello from node 0").await;
    let want = (str_of(&sent["id"]), "hello from node 0".to_owned());
    assert_eq!(
        receive(&mut on1, &room, 1).await,
        std::slice::from_ref(&want)
    );
    assert_eq!(receive(&mut bob2, &room, 1).await, [want]);
    // History and `since` answer the same on every node.
    let history = all_messages(n2, &bob, &room).await;
    assert_eq!(history.len(), 1);
    let health: Value = fetch(n1, "/healthz").await.json().await.expect("json");
    assert_eq!(health["status"], "ok", "{health}");
    assert_eq!(health["store"]["kind"], "postgres", "{health}");
    assert_eq!(health["bus"]["kind"], "nats", "{health}");
    assert_eq!(health["bus"]["connected"], true, "{health}");
}
