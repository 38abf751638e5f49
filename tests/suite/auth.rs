use crate::common;

// Authentication under hostile input: the login throttle holds however
// guesses are timed, its memory does not grow with what clients send,
// registration is limited and cannot starve logins of the hashing slots,
// and a password change ends every session started before it.

use std::time::{Duration, Instant};

use common::*;
use futures_util::future::join_all;
use serde_json::{json, Value};

const PASSWORD: &str = "correct horse";

/// Held by the tests that load the CPU with hashing (and the one that
/// measures latency under such load), so they do not measure each other.
static HEAVY: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
const NEW_PASSWORD: &str = "battery staple";

/// Status, `Retry-After` and error code of a registration.
async fn try_register(s: &Server, name: &str) -> (u16, Option<u64>, Value) {
    let res = post_credentials(&s.url(""), "/api/users/register", name, PASSWORD).await;
    let status = res.status().as_u16();
    let retry = res
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    (status, retry, res.json().await.unwrap_or(Value::Null))
}

/// `n` registrations at once (`user0`, `user1`, ...): the answers of
/// [`try_register`] and their statuses.
async fn registrations_at_once(s: &Server, n: usize) -> (Vec<(u16, Option<u64>, Value)>, Vec<u16>) {
    let one = |i: usize| async move { try_register(s, &format!("user{i}")).await };
    let answers = join_all((0..n).map(one)).await;
    let statuses = answers.iter().map(|a| a.0).collect();
    (answers, statuses)
}

fn count(statuses: &[u16], status: u16) -> usize {
    statuses.iter().filter(|s| **s == status).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_wrong_logins_are_checked_at_most_ten_times() {
    let s = Server::start();
    register(&s, "bob").await;
    let statuses: Vec<u16> = join_all((0..150).map(|i| {
        let s = &s;
        async move { login(s, "bob", &format!("wrong guess {i}")).await.0 }
    }))
    .await;
    let failed = count(&statuses, 401);
    assert!(
        (1..=10).contains(&failed),
        "{failed} wrong passwords were checked: {statuses:?}"
    );
    assert_eq!(count(&statuses, 429), 150 - failed, "{statuses:?}");
    // Locked for the right password too, as the contract says.
    assert_eq!(login(&s, "bob", PASSWORD).await.0, 429);
}

#[tokio::test]
async fn a_successful_login_does_not_count_against_the_throttle() {
    let s = Server::start();
    register(&s, "bob").await;
    for _ in 0..9 {
        assert_eq!(login(&s, "bob", "wrong password").await.0, 401);
    }
    let (status, v) = login(&s, "bob", PASSWORD).await;
    assert_eq!(status, 200, "{v}");
    // The success was refunded: one more failure fits in the window.
    assert_eq!(login(&s, "bob", "wrong password").await.0, 401);
    assert_eq!(login(&s, "bob", "wrong password").await.0, 429);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_guesses_with_one_right_password_stay_within_the_limit() {
    let s = Server::start();
    register(&s, "bob").await;
    let mut futures: Vec<_> = (0..150)
        .map(|i| {
            let s = &s;
            Box::pin(async move { login(s, "bob", &format!("wrong guess {i}")).await.0 })
                as std::pin::Pin<Box<dyn std::future::Future<Output = u16> + Send>>
        })
        .collect();
    futures.insert(75, Box::pin(async { login(&s, "bob", PASSWORD).await.0 }));
    let statuses = join_all(futures).await;
    let right = statuses[75];
    assert!([200, 429].contains(&right), "right password: {right}");
    let wrong: Vec<u16> = statuses
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 75)
        .map(|(_, s)| *s)
        .collect();
    assert!(count(&wrong, 401) <= 10, "{wrong:?}");
    assert_eq!(count(&wrong, 401) + count(&wrong, 429), 150, "{wrong:?}");
}

fn rss_kib(pid: u32) -> u64 {
    proc_kib(pid, "VmRSS:").expect("VmRSS")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn impossible_usernames_get_401_and_cost_no_memory() {
    let _heavy = HEAVY.lock().await;
    // The address limit is raised so that every attempt reaches the check.
    let s = Server::start_process_with(&["--message-rate", "0", "--login-failures", "100000"]);
    let pid = s.child.id();
    let attempt = |i: usize| {
        let s = &s;
        async move {
            let name = format!("{i:05}{}", "x".repeat(60 * 1024));
            let (status, v) = login(s, &name, "whatever password").await;
            assert_eq!(status, 401, "{v}");
            assert_eq!(v["error"]["code"], "invalid_credentials");
        }
    };
    // Warm up (allocator arenas, hashing memory), then measure.
    for batch in (0..40).collect::<Vec<_>>().chunks(8) {
        join_all(batch.iter().map(|i| attempt(*i))).await;
    }
    let before = rss_kib(pid);
    let started = Instant::now();
    for batch in (40..340).collect::<Vec<_>>().chunks(8) {
        join_all(batch.iter().map(|i| attempt(*i))).await;
    }
    let after = rss_kib(pid);
    eprintln!(
        "300 logins with 60 KiB names: RSS {before} KiB -> {after} KiB in {:?}",
        started.elapsed()
    );
    // Kept as keys, 300 such names would hold ~18 MiB.
    assert!(
        after < before + 6 * 1024,
        "RSS grew from {before} KiB to {after} KiB"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn registrations_beyond_the_rate_get_429_with_retry_after() {
    let s = Server::start_with(&["--message-rate", "0", "--registration-rate", "3"]);
    let (answers, statuses) = registrations_at_once(&s, 20).await;
    assert_eq!(count(&statuses, 201), 3, "{statuses:?}");
    assert_eq!(count(&statuses, 429), 17, "{statuses:?}");
    for (status, retry, v) in &answers {
        if *status == 429 {
            assert_eq!(v["error"]["code"], "rate_limited");
            let retry = retry.expect("Retry-After");
            assert!((1..=3600).contains(&retry), "Retry-After {retry}");
        }
    }
    // A registration that creates nothing is not counted.
    let s = Server::start_with(&["--message-rate", "0", "--registration-rate", "1"]);
    register(&s, "taken").await;
    assert_eq!(try_register(&s, "taken").await.0, 409);
    assert_eq!(try_register(&s, "other").await.0, 429);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_hash_queue_answers_503_busy_at_once() {
    let s = Server::start_with(&["--message-rate", "0", "--hash-queue", "1"]);
    let (answers, statuses) = registrations_at_once(&s, 40).await;
    assert!(count(&statuses, 201) >= 3, "{statuses:?}");
    assert!(count(&statuses, 503) >= 1, "{statuses:?}");
    assert_eq!(
        count(&statuses, 201) + count(&statuses, 503),
        40,
        "{statuses:?}"
    );
    for (status, retry, v) in &answers {
        if *status == 503 {
            assert_eq!(v["error"]["code"], "busy");
            assert!(retry.is_some_and(|r| r >= 1), "Retry-After");
        }
    }
}

/// Floods registration from one address (100 requests in flight, 300 in
/// all) while another user logs in; the login must take under a second and
/// every flood request must be answered (201, 429 or 503), none hang.
async fn login_during_a_registration_flood(args: &[&str]) {
    let _heavy = HEAVY.lock().await;
    let s = Server::start_with(args);
    register(&s, "victim").await;
    let flood = async {
        let mut statuses = Vec::new();
        for round in 0..3 {
            let batch = join_all((0..100).map(|i| {
                let s = &s;
                async move { try_register(s, &format!("flood{round}x{i}")).await.0 }
            }))
            .await;
            statuses.extend(batch);
        }
        statuses
    };
    let victim = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let mut worst = Duration::ZERO;
        for _ in 0..3 {
            let started = Instant::now();
            let (status, v) = login(&s, "victim", PASSWORD).await;
            assert_eq!(status, 200, "{v}");
            worst = worst.max(started.elapsed());
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        worst
    };
    let (statuses, worst) = tokio::time::timeout(WAIT * 3, async { tokio::join!(flood, victim) })
        .await
        .expect("flood answered in time");
    eprintln!(
        "{args:?}: slowest login {worst:?}; flood: {} created, {} 429, {} 503",
        count(&statuses, 201),
        count(&statuses, 429),
        count(&statuses, 503)
    );
    assert!(
        statuses.iter().all(|s| [201, 429, 503].contains(s)),
        "{statuses:?}"
    );
    assert!(
        worst < Duration::from_secs(1),
        "a login took {worst:?} during the flood"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn logins_stay_fast_during_a_registration_flood_with_the_rate_limit() {
    login_during_a_registration_flood(&["--message-rate", "0", "--registration-rate", "10"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn logins_stay_fast_during_a_registration_flood_without_the_rate_limit() {
    login_during_a_registration_flood(&["--message-rate", "0"]).await;
}

async fn change_password(s: &Server, u: &User, current: &str, new: &str) -> (u16, Value) {
    let body = json!({"currentPassword": current, "newPassword": new});
    request(s, "POST", u, "/api/users/me/password", Some(body)).await
}

#[tokio::test]
async fn changing_the_password_ends_every_session_started_before() {
    let s = Server::start_process();
    let alice = register(&s, "alice").await;
    let (status, v) = change_password(&s, &alice, "wrong password", NEW_PASSWORD).await;
    assert_eq!(status, 401, "{v}");
    assert_eq!(v["error"]["code"], "invalid_credentials");
    let (status, v) = change_password(&s, &alice, PASSWORD, "short").await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["error"]["code"], "validation_failed");
    // Nothing changed so far.
    assert_eq!(get(&s, &alice, "/api/users/me").await.0, 200);

    let mut ws = Client::connect(&s, &alice).await;
    let (status, v) = change_password(&s, &alice, PASSWORD, NEW_PASSWORD).await;
    assert_eq!(status, 204, "{v}");
    assert_eq!(ws.close_code().await, Some(1008));
    let (status, v) = get(&s, &alice, "/api/users/me").await;
    assert_eq!(status, 401, "old token after the change: {v}");
    assert_eq!(login(&s, "alice", PASSWORD).await.0, 401);
    let (status, v) = login(&s, "alice", NEW_PASSWORD).await;
    assert_eq!(status, 200, "{v}");
    let fresh = User {
        token: v["token"].as_str().expect("token").to_owned(),
        ..alice.clone()
    };
    assert_eq!(get(&s, &fresh, "/api/users/me").await.0, 200);
    // And it survives a restart (the 204 came after the flush).
    let mut s = s;
    s.child.kill().expect("kill -9");
    let _ = s.child.wait();
    s.respawn();
    assert_eq!(get(&s, &alice, "/api/users/me").await.0, 401);
    assert_eq!(get(&s, &fresh, "/api/users/me").await.0, 200);
}

/// A WebSocket whose upgrade races the password change is closed too: it
/// is checked once registered, and the change closes what is registered.
#[tokio::test]
async fn websockets_opened_while_the_password_changes_are_all_closed() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let s = Server::start();
    let alice = register(&s, "alice").await;
    let connect = |s: &Server, token: String| {
        let mut req = format!("ws://{}/ws", s.addr)
            .into_client_request()
            .expect("request");
        req.headers_mut().insert(
            "authorization",
            format!("Bearer {token}").parse().expect("header"),
        );
        async move {
            tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(req))
                .await
                .expect("upgrade answered in time")
                .ok()
                .map(|(ws, _)| Client::from_ws(ws))
        }
    };
    let opening: Vec<_> = (0..30).map(|_| connect(&s, alice.token.clone())).collect();
    let (opened, (status, v)) = tokio::join!(
        join_all(opening),
        change_password(&s, &alice, PASSWORD, NEW_PASSWORD)
    );
    assert_eq!(status, 204, "{v}");
    for mut ws in opened.into_iter().flatten() {
        assert_eq!(
            ws.close_code().await,
            Some(1008),
            "a session outlived the change"
        );
    }
}

#[tokio::test]
async fn wrong_current_passwords_count_against_the_login_throttle() {
    let s = Server::start();
    let alice = register(&s, "alice").await;
    for _ in 0..10 {
        assert_eq!(
            change_password(&s, &alice, "wrong password", NEW_PASSWORD)
                .await
                .0,
            401
        );
    }
    assert_eq!(
        change_password(&s, &alice, PASSWORD, NEW_PASSWORD).await.0,
        429
    );
    assert_eq!(login(&s, "alice", PASSWORD).await.0, 429);
}

#[tokio::test]
async fn an_answered_registration_survives_kill_9() {
    let mut s = Server::start_process();
    register(&s, "durable").await;
    s.child.kill().expect("kill -9");
    let _ = s.child.wait();
    s.respawn();
    assert_eq!(login(&s, "durable", PASSWORD).await.0, 200);
}

#[tokio::test]
async fn create_admin_reset_through_a_running_server_ends_sessions() {
    let s = Server::start();
    let bob = register(&s, "bob").await;
    let mut ws = Client::connect(&s, &bob).await;
    run_create_admin(&s, "bob", NEW_PASSWORD);
    assert_eq!(ws.close_code().await, Some(1008));
    assert_eq!(get(&s, &bob, "/api/users/me").await.0, 401);
    let (status, v) = login(&s, "bob", NEW_PASSWORD).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["user"]["role"], "admin");
}
