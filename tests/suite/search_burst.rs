//! A burst of messages from several clients at once: the indexing thread
//! falls behind (its queue overflows and it reads the store back), and
//! still every message is found, within a bound.

use std::time::{Duration, Instant};

use futures_util::future::join_all;

use crate::common::*;
use crate::search::*;
use crate::search_filters::all_pages;
use crate::search_index::{index_state, ready_through};

const CLIENTS: usize = 4;
const EACH: usize = 500;

/// How long the whole burst may take to become searchable here.
const WITHIN: Duration = Duration::from_secs(60);

#[tokio::test]
async fn every_message_of_a_burst_is_found() {
    let s = Server::start();
    let root = admin(&s, "root").await;
    let names = ["alice", "bob", "carol", "dave"];
    let users = register_all(&s, names).await;
    let room = room_id(&s, &users[0], "general", false).await;
    let mut clients = Vec::new();
    for u in &users {
        clients.push(Client::joined(&s, u, &[&room]).await);
    }

    let started = Instant::now();
    let sends = clients.iter_mut().enumerate().map(|(k, c)| {
        let lines: Vec<String> = (0..EACH)
            .map(|i| format!("flood burst{:04}", k * EACH + i))
            .collect();
        let room = room.clone();
        async move {
            let (acks, _) = c.send_pipelined(Some(&room), &lines).await;
            acks.iter()
                .map(|f| id_of(&ack_data(f, "sendMessage in the burst")))
                .max()
                .expect("acks")
        }
    });
    // Meanwhile the admin's view of the index keeps its shape; what it
    // went through is printed (how far it lagged depends on the machine).
    let sending = std::cell::Cell::new(true);
    let watch = async {
        let mut seen = std::collections::BTreeSet::new();
        let mut most_behind = 0;
        while sending.get() {
            let v = index_state(&s, &root).await;
            seen.insert(str_of(&v["state"]));
            most_behind = most_behind.max(v["behind"].as_u64().unwrap_or(0));
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        (seen, most_behind)
    };
    let sends = async {
        let newest = join_all(sends).await.into_iter().max();
        sending.set(false);
        newest.expect("clients")
    };
    let (newest, (seen, most_behind)) = tokio::join!(sends, watch);
    eprintln!("index states during the burst: {seen:?}, at most {most_behind} behind");
    let total = CLIENTS * EACH;
    eprintln!("{total} messages acked in {:?}", started.elapsed());

    // Every client's last message, then the count through every page.
    let deadline = started + WITHIN;
    for k in 0..CLIENTS {
        let word = format!("burst{:04}", k * EACH + EACH - 1);
        let left = deadline.saturating_duration_since(Instant::now());
        eventually_within(&s, &users[0], &[("q", &word)], left, |v| {
            texts(v) == vec![format!("flood {word}")]
        })
        .await;
    }
    let found = loop {
        let pages = all_pages(&s, &users[1], "flood", Some("100"), 40).await;
        let n: usize = pages.iter().map(|p| results(p).len()).sum();
        if n == total || Instant::now() > deadline {
            break n;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(found, total, "messages of the burst found");
    eprintln!(
        "all searchable {:?} after the burst began",
        started.elapsed()
    );

    for i in [0, 1, 499, 500, 777, 1000, 1234, 1500, 1998, 1999] {
        let word = format!("burst{i:04}");
        let v = search(&s, &users[2], &word).await;
        assert_eq!(texts(&v), vec![format!("flood {word}")], "{v}");
    }
    ready_through(&s, &root, &newest).await;
}
