use std::time::Duration;

use super::super::testing::{column, execute, TestDb};
use super::*;

const MINUTE: Duration = Duration::from_secs(60);

fn keys(ks: &[&str]) -> Vec<String> {
    ks.iter().map(|k| (*k).to_owned()).collect()
}

fn hits(store: &PgStore) -> i64 {
    column::<i64>(store, "SELECT count(*) FROM throttle_hits")[0]
}

#[test]
fn concurrent_hits_on_two_nodes_never_pass_the_limit() {
    let db = TestDb::new();
    let nodes = [db.store(), db.store()];
    let threads: Vec<_> = (0..16)
        .map(|i| {
            let store = nodes[i % 2].clone();
            std::thread::spawn(move || {
                let key = keys(&["name:bob", &format!("addr:10.0.0.{i}")]);
                store.admit_hits("login", &key, 5, MINUTE).expect("admit")
            })
        })
        .collect();
    let admitted = threads
        .into_iter()
        .map(|t| t.join().expect("thread"))
        .filter(Result::is_ok)
        .count();
    assert_eq!(admitted, 5);
    assert_eq!(hits(&nodes[0]), 10, "two keys per admitted attempt");
}

#[test]
fn keys_are_counted_together_or_not_at_all() {
    let store = TestDb::new().store();
    for _ in 0..2 {
        let t = store.admit_hits("login", &keys(&["a"]), 2, MINUTE);
        t.expect("store").expect("admitted");
    }
    let both = store.admit_hits("login", &keys(&["a", "b"]), 2, MINUTE);
    assert!(both.expect("store").is_err());
    let b = column::<i64>(&store, "SELECT count(*) FROM throttle_hits WHERE key = 'b'");
    assert_eq!(b, [0]);
    // Another kind is another window.
    let other = store.admit_hits("registration", &keys(&["a"]), 2, MINUTE);
    assert!(other.expect("store").is_ok());
}

#[test]
fn the_wait_is_until_the_oldest_counted_hit_leaves_the_window() {
    let store = TestDb::new().store();
    for _ in 0..3 {
        let t = store.admit_hits("login", &keys(&["k"]), 3, MINUTE);
        t.expect("store").expect("admitted");
    }
    let wait = store.admit_hits("login", &keys(&["k"]), 3, MINUTE);
    assert_eq!(wait.expect("store").expect_err("full"), 60);
    // The oldest was 45 s ago: room in 15 s.
    execute(
        &store,
        "UPDATE throttle_hits SET at_ms = at_ms - 45000
         WHERE id = (SELECT min(id) FROM throttle_hits)"
            .into(),
    );
    let wait = store.admit_hits("login", &keys(&["k"]), 3, MINUTE);
    assert_eq!(wait.expect("store").expect_err("full"), 15);
    // Once it has left the window, there is room again.
    execute(
        &store,
        "UPDATE throttle_hits SET at_ms = at_ms - 15000
         WHERE at_ms < (SELECT max(at_ms) - 40000 FROM throttle_hits)"
            .into(),
    );
    let again = store.admit_hits("login", &keys(&["k"]), 3, MINUTE);
    assert!(again.expect("store").is_ok());
    assert_eq!(wait_seconds(0), 1);
    assert_eq!(wait_seconds(1001), 2);
}

#[test]
fn a_refund_takes_the_hits_back() {
    let store = TestDb::new().store();
    let first = store.admit_hits("login", &keys(&["k", "a"]), 2, MINUTE);
    let first = first.expect("store").expect("admitted");
    let second = store.admit_hits("login", &keys(&["k", "a"]), 2, MINUTE);
    second.expect("store").expect("admitted");
    store.refund_hits(first).expect("refund");
    assert_eq!(hits(&store), 2);
    let third = store.admit_hits("login", &keys(&["k"]), 2, MINUTE);
    assert!(third.expect("store").is_ok());
    store.refund_hits(HitTicket::default()).expect("nothing");
}

#[test]
fn the_sweep_deletes_old_hits_a_batch_at_a_time() {
    let store = TestDb::new().store();
    execute(
        &store,
        "INSERT INTO throttle_hits (kind, key, at_ms)
         SELECT 'login', 'k' || i, 0 FROM generate_series(1, 1500) i;
         INSERT INTO throttle_hits (kind, key, at_ms) VALUES ('registration', 'r', 0)"
            .into(),
    );
    let fresh = store.admit_hits("login", &keys(&["k"]), 2, MINUTE);
    fresh.expect("store").expect("admitted");
    assert_eq!(
        store.sweep_hits("login", MINUTE).expect("sweep"),
        SWEEP_BATCH
    );
    assert_eq!(store.sweep_hits("login", MINUTE).expect("sweep"), 500);
    assert_eq!(store.sweep_hits("login", MINUTE).expect("sweep"), 0);
    // The fresh hit and the other kind's stay.
    assert_eq!(hits(&store), 2);
}

/// The connections counted for `user` per node, as stored.
fn counts(store: &PgStore) -> Vec<i32> {
    column(store, "SELECT n FROM user_connections ORDER BY node")
}

#[test]
fn concurrent_connections_on_two_nodes_never_pass_the_cap() {
    let db = TestDb::new();
    let nodes = [db.store(), db.store()];
    for (i, s) in nodes.iter().enumerate() {
        s.node_alive(i as u64 + 1).expect("alive");
    }
    let threads: Vec<_> = (0..6)
        .map(|i| {
            let store = nodes[i % 2].clone();
            std::thread::spawn(move || store.admit_connection(i as u64 % 2 + 1, 7, 3))
        })
        .collect();
    let admitted = threads
        .into_iter()
        .map(|t| t.join().expect("thread").expect("admit"))
        .filter(|ok| *ok)
        .count();
    assert_eq!(admitted, 3);
    assert_eq!(counts(&nodes[0]).iter().sum::<i32>(), 3);
    assert!(
        nodes[0].admit_connection(3, 8, 3).expect("admit"),
        "another user"
    );
}

#[test]
fn a_release_frees_a_slot_and_an_empty_row_goes() {
    let store = TestDb::new().store();
    store.node_alive(1).expect("alive");
    assert!(store.admit_connection(1, 7, 2).expect("admit"));
    assert!(store.admit_connection(1, 7, 2).expect("admit"));
    assert!(!store.admit_connection(1, 7, 2).expect("admit"));
    store.release_connection(1, 7).expect("release");
    assert_eq!(counts(&store), [1]);
    assert!(store.admit_connection(1, 7, 2).expect("admit"));
    store.release_connection(1, 7).expect("release");
    store.release_connection(1, 7).expect("release");
    assert_eq!(counts(&store), Vec::<i32>::new());
    // A release with nothing counted changes nothing.
    store.release_connection(1, 7).expect("release");
    assert_eq!(counts(&store), Vec::<i32>::new());
}

#[test]
fn a_silent_node_stops_counting_and_is_forgotten() {
    let db = TestDb::new();
    let (a, b) = (db.store(), db.store());
    a.node_alive(1).expect("alive");
    b.node_alive(2).expect("alive");
    assert!(a.admit_connection(1, 7, 2).expect("admit"));
    assert!(a.admit_connection(1, 7, 2).expect("admit"));
    assert!(!b.admit_connection(2, 7, 2).expect("admit"));
    // Node 1 stopped saying it is alive 31 s ago.
    execute(
        &a,
        "UPDATE cluster_nodes SET seen_at = seen_at - 31000 WHERE node = 1".into(),
    );
    assert!(b.admit_connection(2, 7, 2).expect("admit"));
    // Not yet forgotten after a minute; forgotten after ten.
    assert_eq!(
        b.forget_dead_nodes(Duration::from_secs(60))
            .expect("forget"),
        0
    );
    execute(
        &a,
        "UPDATE cluster_nodes SET seen_at = seen_at - 600000 WHERE node = 1".into(),
    );
    assert_eq!(
        b.forget_dead_nodes(Duration::from_secs(60))
            .expect("forget"),
        1
    );
    assert_eq!(counts(&a), [1], "only node 2's row is left");
    // A node that stops cleanly is forgotten at once.
    b.forget_node(2).expect("forget");
    assert_eq!(counts(&a), Vec::<i32>::new());
}

#[test]
fn a_node_counts_from_its_first_admission() {
    let db = TestDb::new();
    let (a, b) = (db.store(), db.store());
    assert!(a.admit_connection(1, 7, 1).expect("admit"));
    assert!(
        !b.admit_connection(2, 7, 1).expect("admit"),
        "node 1 counts"
    );
    assert_eq!(column::<i64>(&a, "SELECT node FROM cluster_nodes"), [1]);
}

#[test]
fn lock_ids_are_stable_and_kind_apart() {
    assert_eq!(lock_id("", ""), 0xaf63_bd4c_8601_b7df_u64 as i64);
    assert_ne!(lock_id("login", "a"), lock_id("registration", "a"));
    assert_ne!(lock_id("ab", "c"), lock_id("a", "bc"));
}

#[test]
fn a_key_with_a_nul_character_is_counted_under_its_hash() {
    let store = TestDb::new().store();
    let keys = ["user:\0".to_owned()];
    let window = Duration::from_secs(60);
    let first = store.admit_hits("login", &keys, 1, window).expect("first");
    assert!(first.is_ok(), "the first attempt is admitted");
    let second = store.admit_hits("login", &keys, 1, window).expect("second");
    assert!(second.is_err(), "the second waits: the key was counted");
}
