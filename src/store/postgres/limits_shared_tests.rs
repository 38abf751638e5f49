//! The cluster's limits as their users see them: the authentication
//! throttle and the hub's connection cap, each on two nodes (two stores,
//! two pools) sharing one database.

use std::time::{Duration, Instant};

use super::super::testing::{column, connect, execute, runtime, PgServer, TestDb};
use crate::chat::hub::Hub;
use crate::model::UserId;
use crate::throttle::{AddrKey, LoginThrottle};

const ADDR: AddrKey = AddrKey::V4(0x0a00_0001);

/// Two throttles as two nodes of one cluster would hold them.
fn two_throttles() -> (TestDb, [LoginThrottle; 2]) {
    let db = TestDb::new();
    let nodes = [
        LoginThrottle::shared(db.store()),
        LoginThrottle::shared(db.store()),
    ];
    (db, nodes)
}

#[test]
fn twenty_logins_over_two_nodes_admit_exactly_the_limit() {
    let (_db, nodes) = two_throttles();
    let admitted = runtime().block_on(async {
        let tries: Vec<_> = (0..20)
            .map(|i| {
                let t = nodes[i % 2].clone();
                let addr = AddrKey::V4(0x0a00_0000 + i as u32);
                tokio::spawn(async move { t.admit_login(Some("Bob"), Some(addr), 10).await })
            })
            .collect();
        let mut admitted = 0;
        for t in tries {
            admitted += usize::from(t.await.expect("join").is_ok());
        }
        admitted
    });
    assert_eq!(admitted, 10);
}

#[test]
fn a_refunded_login_frees_its_place_on_every_node() {
    let (_db, [a, b]) = two_throttles();
    runtime().block_on(async {
        let mut last = None;
        for _ in 0..5 {
            last = Some(a.admit_login(Some("bob"), Some(ADDR), 5).await.expect("a"));
        }
        let wait = b.admit_login(Some("BOB"), None, 5).await.expect_err("full");
        assert_eq!(wait, 60, "a minute until the oldest attempt leaves");
        assert!(b.admit_login(Some("carol"), None, 5).await.is_ok());
        a.refund(last.expect("ticket")).await;
        b.admit_login(Some("bob"), None, 5)
            .await
            .expect("room again");
        assert!(a.admit_login(None, Some(ADDR), 5).await.is_ok(), "address");
    });
}

#[test]
fn the_wait_counts_down_with_the_oldest_attempt() {
    let (db, [a, b]) = two_throttles();
    runtime().block_on(async {
        for _ in 0..2 {
            a.admit_login(Some("bob"), None, 2).await.expect("admitted");
        }
        execute(
            &db.store(),
            "UPDATE throttle_hits SET at_ms = at_ms - 50000".into(),
        );
        let wait = b.admit_login(Some("bob"), None, 2).await.expect_err("full");
        assert_eq!(wait, 10);
    });
}

#[test]
fn registrations_are_limited_per_address_over_the_cluster() {
    let (_db, [a, b]) = two_throttles();
    runtime().block_on(async {
        let first = a.admit_registration(Some(ADDR), Some(2)).await.expect("1");
        b.admit_registration(Some(ADDR), Some(2)).await.expect("2");
        let wait = a.admit_registration(Some(ADDR), Some(2)).await;
        assert_eq!(wait.expect_err("full"), 3600);
        a.refund_registration(first).await;
        b.admit_registration(Some(ADDR), Some(2))
            .await
            .expect("refunded");
        assert!(b.admit_registration(Some(ADDR), None).await.is_ok(), "off");
        assert!(b.admit_registration(None, Some(2)).await.is_ok(), "unknown");
    });
}

#[test]
fn an_unreachable_database_refuses_attempts() {
    let mut server = PgServer::start();
    let store = connect(&server.database()).expect("connect");
    let t = LoginThrottle::shared(store);
    server.stop();
    runtime().block_on(async {
        let wait = t.admit_login(Some("bob"), Some(ADDR), 10).await;
        assert_eq!(wait.expect_err("refused"), 5);
        let wait = t.admit_registration(Some(ADDR), Some(10)).await;
        assert_eq!(wait.expect_err("refused"), 5);
    });
}

/// Two hubs as two nodes of one cluster, each counting in its own store.
fn two_hubs() -> (TestDb, [Hub; 2]) {
    let db = TestDb::new();
    let hubs = [Hub::default(), Hub::default()];
    for h in &hubs {
        assert!(h.set_shared_slots(db.store()));
    }
    assert!(!hubs[0].set_shared_slots(db.store()), "set once");
    (db, hubs)
}

/// The connections the database counts.
fn counted(db: &TestDb) -> i64 {
    column::<i64>(
        &db.store(),
        "SELECT coalesce(sum(n), 0)::bigint FROM user_connections",
    )[0]
}

/// Waits (boundedly) until the database counts `n` connections: a
/// release is given back on the blocking pool, after the slot's drop.
fn wait_for_count(db: &TestDb, n: i64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while counted(db) != n {
        assert!(Instant::now() < deadline, "never counted {n}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn six_connections_over_two_nodes_admit_exactly_the_cap() {
    let (db, hubs) = two_hubs();
    let user = UserId(7);
    let slots = runtime().block_on(async {
        let tries: Vec<_> = (0..6)
            .map(|i| {
                let hub = hubs[i % 2].clone();
                tokio::spawn(async move { hub.admit_everywhere(user, 3).await })
            })
            .collect();
        let mut slots = Vec::new();
        for t in tries {
            slots.extend(t.await.expect("join"));
        }
        slots
    });
    assert_eq!(slots.len(), 3);
    assert_eq!(counted(&db), 3);
    let [a, b] = &hubs;
    runtime().block_on(async {
        assert!(a.admit_everywhere(user, 3).await.is_none());
        assert!(b.admit_everywhere(UserId(8), 3).await.is_some());
    });
    wait_for_count(&db, 3);
    // A release frees one slot, for either node.
    let mut slots = slots;
    slots.pop();
    wait_for_count(&db, 2);
    let fourth = runtime().block_on(b.admit_everywhere(user, 3));
    assert!(fourth.is_some());
    assert!(runtime().block_on(a.admit_everywhere(user, 3)).is_none());
    drop(fourth);
    drop(slots);
    wait_for_count(&db, 0);
}

#[test]
fn a_node_whose_heartbeat_stopped_no_longer_counts() {
    let (db, [a, b]) = two_hubs();
    let user = UserId(7);
    runtime().block_on(async {
        // Only b beats; a is counted from its first admission.
        b.start_slot_heartbeat();
        let held = [
            a.admit_everywhere(user, 2).await,
            a.admit_everywhere(user, 2).await,
        ];
        assert!(held.iter().all(Option::is_some));
        assert!(b.admit_everywhere(user, 2).await.is_none());
        let nodes = column::<i64>(&db.store(), "SELECT node FROM cluster_nodes");
        assert_eq!(nodes.len(), 2, "b's heartbeat and a's admission");
        // Node a was last heard of 31 s ago.
        execute(
            &db.store(),
            "UPDATE cluster_nodes SET seen_at = seen_at - 31000
             WHERE node IN (SELECT node FROM user_connections)"
                .into(),
        );
        assert!(b.admit_everywhere(user, 2).await.is_some());
        drop(held);
    });
}

#[test]
fn a_node_that_stops_cleanly_gives_its_connections_back() {
    let (_db, [a, b]) = two_hubs();
    let user = UserId(7);
    runtime().block_on(async {
        let held = a.admit_everywhere(user, 1).await.expect("admitted");
        assert!(b.admit_everywhere(user, 1).await.is_none());
        a.forget_shared_slots().await;
        assert!(b.admit_everywhere(user, 1).await.is_some());
        drop(held);
    });
}

#[test]
fn a_single_node_hub_needs_no_database() {
    let hub = Hub::default();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let first = hub.admit_everywhere(UserId(1), 1).await.expect("first");
        assert!(hub.admit_everywhere(UserId(1), 1).await.is_none());
        drop(first);
        assert!(hub.admit_everywhere(UserId(1), 1).await.is_some());
    });
}
