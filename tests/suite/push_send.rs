//! The Web Push sender (docs/protocol-additions.md, "Web Push: sending"),
//! driven from the library against the push service stand-in of
//! `push_stand_in`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chatroom::push::send::{PushSender, SendError, SenderConfig, Urgency, MAX_PAYLOAD};
use p256::elliptic_curve::sec1::ToEncodedPoint;

use crate::common::WAIT;
use crate::push_stand_in::*;

/// A sender for local stand-ins (`http:` allowed), and what it reports
/// gone.
fn sender(config: SenderConfig) -> (PushSender, Arc<Mutex<Vec<String>>>, p256::SecretKey) {
    let key = new_key();
    let gone = Arc::new(Mutex::new(Vec::new()));
    let seen = gone.clone();
    let sender = PushSender::start(&key, config, move |endpoint| {
        seen.lock().expect("gone list").push(endpoint)
    })
    .expect("the sender starts");
    (sender, gone, key)
}

fn test_config() -> SenderConfig {
    let mut config = SenderConfig::new(SUBJECT);
    config.allow_http = true;
    config
}

/// Waits until `done` holds of the sender's counters.
async fn until(sender: &PushSender, done: impl Fn(&chatroom::push::send::PushStats) -> bool) {
    let deadline = Instant::now() + WAIT;
    while !done(&sender.stats()) {
        assert!(Instant::now() < deadline, "stats now {:?}", sender.stats());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_notification_arrives_signed_with_its_headers_and_decrypts() {
    let mut service = PushService::start(201).await;
    let (sender, gone, key) = sender(test_config());
    let browser = Subscription::new();

    let mut urgent = browser.job(&service.endpoint("/push/abc"), br#"{"text":"hi"}"#);
    urgent.urgency = Urgency::High;
    urgent.ttl = Duration::from_secs(3600);
    sender.try_send(urgent).expect("queued");
    let got = service.next().await;
    assert_eq!(
        (got.method.as_str(), got.path.as_str()),
        ("POST", "/push/abc")
    );
    assert_eq!(got.header("content-encoding"), "aes128gcm");
    assert_eq!(got.header("ttl"), "3600");
    assert_eq!(got.header("urgency"), "high");
    check_vapid(
        got.header("authorization"),
        key.public_key().to_encoded_point(false).as_bytes(),
        &format!("http://{}", service.addr),
    );
    assert_eq!(browser.decrypt(&got.body), br#"{"text":"hi"}"#);

    // The defaults, and the largest payload allowed.
    let full = vec![b'z'; MAX_PAYLOAD];
    sender
        .try_send(browser.job(&service.endpoint("/push/abc"), &full))
        .expect("queued");
    let got = service.next().await;
    assert_eq!(got.header("ttl"), "86400", "a day");
    assert_eq!(got.header("urgency"), "normal");
    assert!(
        got.body.len() <= 4096,
        "{} bytes on the wire",
        got.body.len()
    );
    assert_eq!(browser.decrypt(&got.body), full);

    until(&sender, |s| s.sent == 2).await;
    assert!(gone.lock().expect("gone").is_empty());
    sender.shutdown().await;
}

#[tokio::test]
async fn an_endpoint_answered_404_or_410_is_reported_gone() {
    for status in [410, 404] {
        let mut service = PushService::start(status).await;
        let (sender, gone, _) = sender(test_config());
        let endpoint = service.endpoint("/push/expired");
        sender
            .try_send(Subscription::new().job(&endpoint, b"bye"))
            .expect("queued");
        service.next().await;
        until(&sender, |s| s.gone == 1).await;
        assert_eq!(*gone.lock().expect("gone"), vec![endpoint], "{status}");
        assert_eq!(sender.stats().failed, 0);
        sender.shutdown().await;
    }
}

#[tokio::test]
async fn a_failing_or_busy_push_service_is_asked_once_and_not_reported_gone() {
    for status in [503, 429, 400] {
        let mut service = PushService::start(status).await;
        let (sender, gone, _) = sender(test_config());
        sender
            .try_send(Subscription::new().job(&service.endpoint("/p"), b"x"))
            .expect("queued");
        service.next().await;
        until(&sender, |s| s.failed == 1).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(service.received.try_recv().is_err(), "{status}: no retry");
        assert!(gone.lock().expect("gone").is_empty());
        sender.shutdown().await;
    }
}

/// A sender set up by `tune`, and an endpoint at a push service that
/// accepts connections and never answers.
async fn sender_to_hanging(
    tune: impl FnOnce(&mut SenderConfig),
) -> (PushSender, Arc<Mutex<Vec<String>>>, String) {
    let addr = hanging_service().await;
    let mut config = test_config();
    tune(&mut config);
    let (sender, gone, _) = sender(config);
    (sender, gone, format!("http://{addr}/hang"))
}

#[tokio::test]
async fn a_hanging_push_service_never_blocks_try_send_and_is_cut_by_the_timeout() {
    let (sender, gone, endpoint) =
        sender_to_hanging(|c| c.request_timeout = Duration::from_millis(300)).await;
    let started = Instant::now();
    for _ in 0..3 {
        sender
            .try_send(Subscription::new().job(&endpoint, b"x"))
            .expect("queued");
    }
    assert!(
        started.elapsed() < Duration::from_millis(100),
        "{:?}",
        started.elapsed()
    );
    until(&sender, |s| s.failed == 3).await;
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert!(gone.lock().expect("gone").is_empty());
    sender.shutdown().await;
}

#[tokio::test]
async fn a_full_queue_drops_and_counts_and_shutdown_is_prompt() {
    let (sender, _, endpoint) = sender_to_hanging(|c| {
        c.queue = 2;
        c.workers = 1;
        c.shutdown_grace = Duration::from_millis(100);
    })
    .await;
    let browser = Subscription::new();
    let results: Vec<_> = (0..10)
        .map(|_| sender.try_send(browser.job(&endpoint, b"x")))
        .collect();
    let accepted = results.iter().filter(|r| r.is_ok()).count();
    let dropped = results
        .iter()
        .filter(|r| **r == Err(SendError::QueueFull))
        .count();
    assert_eq!(accepted + dropped, 10, "{results:?}");
    assert!(
        (2..=3).contains(&accepted),
        "queue of 2, one in flight: {accepted}"
    );
    assert_eq!(sender.stats().dropped, dropped as u64);

    let started = Instant::now();
    tokio::time::timeout(WAIT, sender.shutdown())
        .await
        .expect("shutdown returns");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        sender.try_send(browser.job(&endpoint, b"x")),
        Err(SendError::Stopped)
    );
}

#[tokio::test]
async fn too_large_payloads_http_and_private_endpoints_without_the_option_are_refused() {
    let (strict, _, _) = sender(SenderConfig::new(SUBJECT));
    let browser = Subscription::new();
    assert_eq!(
        strict.try_send(browser.job("http://127.0.0.1:9/push", b"x")),
        Err(SendError::HttpNotAllowed)
    );
    for private in [
        "https://127.0.0.1:9/push",
        "https://[::1]/p",
        "https://localhost/p",
    ] {
        assert_eq!(
            strict.try_send(browser.job(private, b"x")),
            Err(SendError::PrivateAddress),
            "{private}"
        );
    }
    assert_eq!(
        strict.try_send(browser.job("https://push.example/p", &[0; MAX_PAYLOAD + 1])),
        Err(SendError::TooLarge(MAX_PAYLOAD + 1))
    );
    assert!(matches!(
        PushSender::start(&new_key(), SenderConfig::new("ops@chat.example"), |_| {}),
        Err(chatroom::push::send::StartError::Subject(_))
    ));
    strict.shutdown().await;
}
