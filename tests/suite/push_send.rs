//! The Web Push sender (docs/protocol-additions.md, "Web Push: sending"),
//! driven from the library against a push service stand-in started here:
//! what arrives is checked as a push service and a browser would, the
//! VAPID token against the server's public key and the payload decrypted
//! with the subscription's private key (RFC 8291, implemented here apart
//! from the sender's own library).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aes_gcm::aead::Aead;
use aes_gcm::{Aes128Gcm, KeyInit, Nonce};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use bytes::Bytes;
use chatroom::push::send::{PushJob, PushSender, SendError, SenderConfig, Urgency, MAX_PAYLOAD};
use hkdf::Hkdf;
use http_body_util::{BodyExt, Full};
use hyper::{HeaderMap, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use p256::ecdsa::signature::Verifier;
use p256::elliptic_curve::sec1::ToEncodedPoint;
use sha2::Sha256;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

const SUBJECT: &str = "mailto:ops@chat.example";

/// Longest a test waits for something that should happen.
const WAIT: Duration = Duration::from_secs(10);

fn random<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    getrandom::getrandom(&mut bytes).expect("random bytes");
    bytes
}

fn new_key() -> p256::SecretKey {
    p256::SecretKey::from_slice(&random::<32>()).expect("a P-256 key")
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A browser's subscription: its key pair and authentication secret.
struct Subscription {
    key: p256::SecretKey,
    auth: [u8; 16],
}

impl Subscription {
    fn new() -> Subscription {
        Subscription {
            key: new_key(),
            auth: random(),
        }
    }

    fn job(&self, endpoint: &str, payload: &[u8]) -> PushJob {
        let point = self.key.public_key().to_encoded_point(false);
        PushJob::new(
            endpoint,
            &b64(point.as_bytes()),
            &b64(&self.auth),
            payload.to_vec(),
        )
    }

    /// What the browser does with an `aes128gcm` body (RFC 8291 3.4 and
    /// RFC 8188 2): the keys from ECDH and HKDF, then one AES-GCM record.
    fn decrypt(&self, body: &[u8]) -> Vec<u8> {
        let salt = &body[..16];
        let record_size = u32::from_be_bytes(body[16..20].try_into().expect("4 bytes")) as usize;
        let id_len = body[20] as usize;
        let sender_public = &body[21..21 + id_len];
        let record = &body[21 + id_len..];
        assert!(record.len() <= record_size, "a single record");

        let theirs = p256::PublicKey::from_sec1_bytes(sender_public).expect("sender's key");
        let shared = p256::ecdh::diffie_hellman(self.key.to_nonzero_scalar(), theirs.as_affine());
        let mut info = b"WebPush: info\0".to_vec();
        info.extend_from_slice(self.key.public_key().to_encoded_point(false).as_bytes());
        info.extend_from_slice(sender_public);
        let mut ikm = [0u8; 32];
        Hkdf::<Sha256>::new(Some(&self.auth), shared.raw_secret_bytes())
            .expand(&info, &mut ikm)
            .expect("ikm");
        let prk = Hkdf::<Sha256>::new(Some(salt), &ikm);
        let (mut cek, mut nonce) = ([0u8; 16], [0u8; 12]);
        prk.expand(b"Content-Encoding: aes128gcm\0", &mut cek)
            .expect("cek");
        prk.expand(b"Content-Encoding: nonce\0", &mut nonce)
            .expect("nonce");
        let plain = Aes128Gcm::new(&cek.into())
            .decrypt(&Nonce::from(nonce), record)
            .expect("the record decrypts");
        let end = plain.iter().rposition(|&b| b != 0).expect("a delimiter");
        assert_eq!(plain[end], 2, "the last record's delimiter");
        plain[..end].to_vec()
    }
}

/// A request as the stand-in received it.
struct Received {
    path: String,
    method: String,
    headers: HeaderMap,
    body: Bytes,
}

impl Received {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("no {name} header"))
    }
}

/// A push service that answers every request with `status` and hands
/// what it received to the test.
struct PushService {
    addr: SocketAddr,
    received: mpsc::UnboundedReceiver<Received>,
}

impl PushService {
    async fn start(status: u16) -> PushService {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (tx, received) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let tx = tx.clone();
                let service =
                    hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                        let tx = tx.clone();
                        async move {
                            let (parts, body) = req.into_parts();
                            let body = body
                                .collect()
                                .await
                                .map(|b| b.to_bytes())
                                .unwrap_or_default();
                            let _ = tx.send(Received {
                                path: parts.uri.path().to_string(),
                                method: parts.method.to_string(),
                                headers: parts.headers,
                                body,
                            });
                            let mut response = Response::new(Full::new(Bytes::new()));
                            *response.status_mut() = StatusCode::from_u16(status).expect("status");
                            Ok::<_, Infallible>(response)
                        }
                    });
                tokio::spawn(
                    hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service),
                );
            }
        });
        PushService { addr, received }
    }

    fn endpoint(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    async fn next(&mut self) -> Received {
        tokio::time::timeout(WAIT, self.received.recv())
            .await
            .expect("a push request in time")
            .expect("the stand-in runs")
    }
}

/// A push service that accepts connections and never answers.
async fn hanging_service() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    addr
}

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

/// Checks `Authorization: vapid t=<JWT>, k=<key>` as a push service does:
/// the key is the server's, the ES256 signature verifies with it, and the
/// claims name the endpoint's origin, the subject and a near expiry.
fn check_vapid(authorization: &str, server_key: &p256::SecretKey, origin: &str) {
    let (token, k) = authorization
        .strip_prefix("vapid t=")
        .and_then(|rest| rest.split_once(", k="))
        .unwrap_or_else(|| panic!("not a VAPID header: {authorization}"));
    let point = URL_SAFE_NO_PAD.decode(k).expect("k is base64url");
    let expected = server_key.public_key().to_encoded_point(false);
    assert_eq!(point, expected.as_bytes(), "k is the server's public key");

    let (signed, signature) = token.rsplit_once('.').expect("a signature");
    let verifier = p256::ecdsa::VerifyingKey::from_sec1_bytes(&point).expect("key");
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .expect("base64url signature");
    let signature = p256::ecdsa::Signature::from_slice(&signature).expect("r and s");
    verifier
        .verify(signed.as_bytes(), &signature)
        .expect("the ES256 signature verifies");

    let part = |i: usize| -> serde_json::Value {
        let text = signed.split('.').nth(i).expect("part");
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(text).expect("base64url")).expect("json")
    };
    assert_eq!(part(0)["alg"], "ES256");
    let claims = part(1);
    assert_eq!(claims["aud"], origin);
    assert_eq!(claims["sub"], SUBJECT);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let exp = claims["exp"].as_u64().expect("exp");
    assert!(exp > now && exp <= now + 24 * 3600, "exp {exp} now {now}");
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
        &key,
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
async fn too_large_payloads_and_http_endpoints_without_the_option_are_refused() {
    let (strict, _, _) = sender(SenderConfig::new(SUBJECT));
    let browser = Subscription::new();
    assert_eq!(
        strict.try_send(browser.job("http://127.0.0.1:9/push", b"x")),
        Err(SendError::HttpNotAllowed)
    );
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
