//! Push subscriptions on PostgreSQL: per endpoint, limited per user
//! across nodes, moving between users, and the flag of whether anyone
//! subscribed.

use std::time::{Duration, Instant};

use super::PUSH_FLAG_REFRESH;
use crate::model::{Timestamp, UserId};
use crate::store::postgres::testing::TestDb;
use crate::store::prelude::*;
use crate::store::{PushSubscription, Subscribed};

fn sub(user: u64, endpoint: &str) -> PushSubscription {
    PushSubscription {
        endpoint: endpoint.into(),
        user_id: UserId(user),
        p256dh: format!("k{user}"),
        auth: "a".into(),
        created_at: Timestamp(1),
    }
}

fn e(i: usize) -> String {
    format!("https://push.example/{i}")
}

#[test]
fn subscriptions_are_per_endpoint_limited_and_move_between_users() {
    let store = TestDb::new().store();
    let put = |user, i| {
        store
            .subscribe_push(&sub(user, &e(i)), 3)
            .expect("subscribe")
    };
    for i in 0..3 {
        assert_eq!(put(1, i), Subscribed::Created);
    }
    assert_eq!(put(1, 3), Subscribed::Full);
    // The same endpoint again is an update, even at the limit.
    assert_eq!(put(1, 0), Subscribed::Updated);
    assert_eq!(put(u64::MAX, 0), Subscribed::Updated);
    let of = |user| store.push_subscriptions(UserId(user)).expect("list");
    assert_eq!(of(1), vec![sub(1, &e(1)), sub(1, &e(2))]);
    assert_eq!(of(u64::MAX), vec![sub(u64::MAX, &e(0))]);
    assert_eq!(
        store.push_subscription(&e(0)).expect("read"),
        Some(sub(u64::MAX, &e(0)))
    );
    assert!(!store.unsubscribe_push(UserId(1), &e(0)).expect("not hers"));
    assert!(store
        .unsubscribe_push(UserId(u64::MAX), &e(0))
        .expect("his"));
    assert!(store.delete_push_subscription(&e(1)).expect("gone"));
    assert!(!store.delete_push_subscription(&e(1)).expect("already"));
    assert_eq!(
        store
            .delete_user_push_subscriptions(UserId(1))
            .expect("all"),
        1
    );
    assert!(store.push_subscription(&e(2)).expect("read").is_none());
    assert!(of(1).is_empty());
}

#[test]
fn the_limit_holds_for_subscriptions_on_two_nodes_at_once() {
    let db = TestDb::new();
    let nodes = [db.store(), db.store()];
    // Endpoints 100.. belong to another user and move over meanwhile.
    for i in 100..104 {
        nodes[0]
            .subscribe_push(&sub(2, &e(i)), 10)
            .expect("other's");
    }
    let subscribers: Vec<_> = (0..8usize)
        .map(|t| {
            let node = nodes[t % 2].clone();
            std::thread::spawn(move || {
                let endpoint = if t < 4 { e(100 + t) } else { e(t) };
                node.subscribe_push(&sub(1, &endpoint), 3)
                    .expect("subscribe")
            })
        })
        .collect();
    let results: Vec<Subscribed> = subscribers
        .into_iter()
        .map(|s| s.join().expect("thread"))
        .collect();
    let taken = results.iter().filter(|r| **r != Subscribed::Full).count();
    assert_eq!(taken, 3, "{results:?}");
    assert_eq!(
        nodes[1].push_subscriptions(UserId(1)).expect("list").len(),
        3
    );
    let others = nodes[1].push_subscriptions(UserId(2)).expect("list").len();
    assert_eq!(
        others + 3,
        4 + results
            .iter()
            .filter(|r| **r == Subscribed::Created)
            .count()
    );
}

#[test]
fn the_flag_is_set_at_once_here_and_soon_on_other_nodes() {
    let db = TestDb::new();
    let (a, b) = (db.store(), db.store());
    assert!(!a.has_push_subscriptions());
    assert!(!b.has_push_subscriptions());
    a.subscribe_push(&sub(1, &e(0)), 3).expect("subscribe");
    assert!(
        a.has_push_subscriptions(),
        "at once on the node that stored it"
    );
    let deadline = Instant::now() + PUSH_FLAG_REFRESH + Duration::from_secs(2);
    while !b.has_push_subscriptions() {
        assert!(Instant::now() < deadline, "never seen on the other node");
        std::thread::sleep(Duration::from_millis(50));
    }
    a.delete_push_subscription(&e(0)).expect("delete");
    let deadline = Instant::now() + PUSH_FLAG_REFRESH + Duration::from_secs(2);
    while a.has_push_subscriptions() {
        assert!(Instant::now() < deadline, "the flag never went down");
        std::thread::sleep(Duration::from_millis(50));
    }
}
