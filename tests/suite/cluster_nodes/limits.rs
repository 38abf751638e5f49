//! Limits hold for the cluster, not per node: failed logins, and open
//! WebSockets per user.

use super::Cluster;
use crate::common::*;

#[tokio::test]
async fn failed_logins_are_counted_across_nodes() {
    let c = Cluster::start_with(2, &["--login-failures", "3"]);
    register(&c.nodes[0], "ann").await;
    // Three wrong passwords, spread over both nodes, use up the minute.
    for i in 0..3 {
        let (status, body) = login(&c.nodes[i % 2], "ann", "wrong password").await;
        assert_eq!(status, 401, "attempt {i}: {body}");
    }
    for node in &c.nodes {
        let (status, body) = login(node, "ann", "correct horse").await;
        assert_eq!(status, 429, "even the right password waits: {body}");
    }
}

#[tokio::test]
async fn a_user_s_open_websockets_are_capped_across_nodes() {
    let c = Cluster::start_with(2, &["--max-user-connections", "2"]);
    let ann = register(&c.nodes[0], "ann").await;
    let first = Client::connect(&c.nodes[0], &ann).await;
    let _second = Client::connect(&c.nodes[1], &ann).await;
    for node in &c.nodes {
        match Client::try_connect(node, &ann).await {
            Err((status, _)) => assert_eq!(status, 429),
            Ok(_) => panic!("a third connection was admitted"),
        }
    }
    // Closing one frees a place, on any node.
    drop(first);
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        if Client::try_connect(&c.nodes[1], &ann).await.is_ok() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the slot was never freed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
