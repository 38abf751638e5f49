//! The REST API against the contract (`PROTOCOL.md`): accounts, tokens,
//! bad input, rooms, history, members, restart, headers and logs.
//!
//! Every test starts its own server, so that per-address login throttling
//! and data never leak from one test into another.

mod common;

use std::collections::HashMap;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use futures_util::StreamExt;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message as WsMessage;

const PASSWORD: &str = "correct horse";

// ---------------------------------------------------------------------------
// helpers

/// Password hashing is slow in a debug build and the machine has two cores:
/// the one test that hashes twenty passwords at once runs alone (write
/// lock), every other test shares (read lock).
static CPU: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

/// A server of one test, holding its share of [`CPU`].
struct Fresh {
    server: Server,
    _cpu: tokio::sync::RwLockReadGuard<'static, ()>,
}

impl std::ops::Deref for Fresh {
    type Target = Server;
    fn deref(&self) -> &Server {
        &self.server
    }
}

impl std::ops::DerefMut for Fresh {
    fn deref_mut(&mut self) -> &mut Server {
        &mut self.server
    }
}

/// A fresh server (fresh data directory, message rate limit off).
async fn start() -> Fresh {
    start_with(&["--message-rate", "0"]).await
}

async fn start_with(args: &[&str]) -> Fresh {
    let cpu = CPU.read().await;
    Fresh {
        server: Server::start_with(args),
        _cpu: cpu,
    }
}

/// A request's status, headers and JSON body (Null when none).
struct Res {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Value,
    text: String,
}

async fn send(req: reqwest::RequestBuilder) -> Res {
    let res = req.send().await.expect("request");
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let text = res.text().await.expect("body");
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Res {
        status,
        headers,
        body,
        text,
    }
}

async fn post(s: &Server, path: &str, token: Option<&str>, body: Value) -> Res {
    let mut req = http().post(s.url(path)).json(&body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    send(req).await
}

/// A POST with a raw body and a JSON content type.
async fn post_raw(s: &Server, path: &str, token: Option<&str>, body: &str) -> Res {
    let mut req = http()
        .post(s.url(path))
        .header("content-type", "application/json")
        .body(body.to_owned());
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    send(req).await
}

async fn get_res(s: &Server, path: &str, token: Option<&str>) -> Res {
    let mut req = http().get(s.url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    send(req).await
}

async fn delete(s: &Server, path: &str, token: &str) -> Res {
    send(http().delete(s.url(path)).bearer_auth(token)).await
}

async fn register_raw(s: &Server, name: &str, password: &str) -> Res {
    post(
        s,
        "/api/users/register",
        None,
        json!({"username": name, "password": password}),
    )
    .await
}

async fn login_raw(s: &Server, name: &str, password: &str) -> Res {
    post(
        s,
        "/api/users/login",
        None,
        json!({"username": name, "password": password}),
    )
    .await
}

/// Asserts the contract's error shape: `{"error": {"code", "message"}}`.
fn assert_error(what: &str, status: u16, body: &Value, want_status: u16, want_code: &str) {
    assert_eq!(status, want_status, "{what}: status (body {body})");
    assert_eq!(
        body["error"]["code"], want_code,
        "{what}: code (body {body})"
    );
    let msg = body["error"]["message"].as_str();
    assert!(
        msg.is_some_and(|m| !m.is_empty()),
        "{what}: error.message must be a non-empty string (body {body})"
    );
}

fn check_error(what: &str, r: &Res, want_status: u16, want_code: &str) {
    assert_error(what, r.status, &r.body, want_status, want_code);
}

/// `2026-11-24T03:41:10.123Z`: RFC 3339 UTC with milliseconds.
fn is_rfc3339_ms(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 24
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 => *c == b':',
            19 => *c == b'.',
            23 => *c == b'Z',
            _ => c.is_ascii_digit(),
        })
}

fn assert_user_object(u: &Value, name: &str) {
    assert!(
        u["id"].as_str().is_some_and(|s| !s.is_empty()),
        "user.id: {u}"
    );
    assert_eq!(u["username"], name, "user.username: {u}");
    assert_eq!(u["role"], "user", "user.role: {u}");
    assert!(
        u["createdAt"].as_str().is_some_and(is_rfc3339_ms),
        "user.createdAt: {u}"
    );
}

fn names(rooms: &Value) -> Vec<String> {
    rooms
        .as_array()
        .expect("array of rooms")
        .iter()
        .map(|r| r["name"].as_str().expect("name").to_owned())
        .collect()
}

fn id_of(v: &Value) -> String {
    v["id"].as_str().expect("id").to_owned()
}

/// Sends messages on a joined connection, pipelined, and waits for every
/// ack; returns the acked ids in sending order.
async fn send_many(c: &mut Client, room: &str, texts: &[String]) -> Vec<String> {
    let mut refs = Vec::with_capacity(texts.len());
    for t in texts {
        refs.push(
            c.emit("sendMessage", json!({"roomId": room, "message": t}))
                .await,
        );
    }
    let mut answers: HashMap<String, Value> = HashMap::new();
    while answers.len() < refs.len() {
        let f = c.next().await;
        if let Some(r) = f["ref"].as_str() {
            answers.insert(r.to_owned(), f);
        }
    }
    refs.iter()
        .map(|r| {
            let a = &answers[r];
            assert_eq!(a["event"], "ack", "sendMessage answer: {a}");
            a["data"]["id"].as_str().expect("ack id").to_owned()
        })
        .collect()
}

async fn join(c: &mut Client, room: &str) {
    let ack = c.call("joinRoom", json!({"roomId": room})).await;
    assert_eq!(ack["event"], "ack", "joinRoom: {ack}");
}

// --- hand-made JWTs: base64url and HMAC-SHA256 with std only ------------------

fn b64url(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for ch in data.chunks(3) {
        let n = match ch.len() {
            3 => (u32::from(ch[0]) << 16) | (u32::from(ch[1]) << 8) | u32::from(ch[2]),
            2 => (u32::from(ch[0]) << 16) | (u32::from(ch[1]) << 8),
            _ => u32::from(ch[0]) << 16,
        };
        let k = ch.len() + 1;
        for i in 0..k {
            out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

fn b64url_decode(s: &str) -> Vec<u8> {
    let val = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'-' => 62,
            b'_' => 63,
            _ => panic!("not base64url: {c}"),
        }
    };
    let mut out = Vec::new();
    for ch in s.as_bytes().chunks(4) {
        let mut n = 0u32;
        for (i, c) in ch.iter().enumerate() {
            n |= val(*c) << (18 - 6 * i);
        }
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..ch.len() - 1]);
    }
    out
}

fn sha256(data: &[u8]) -> [u8; 32] {
    const K: [u32; 64] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
        0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
        0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
        0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
        0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
        0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
        0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
        0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
        0xc67178f2,
    ];
    let mut h: [u32; 8] = [
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
        0x5be0cd19,
    ];
    let mut msg = data.to_vec();
    let bit_len = (data.len() as u64).wrapping_mul(8);
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&bit_len.to_be_bytes());
    for block in msg.chunks(64) {
        let mut w = [0u32; 64];
        for i in 0..16 {
            w[i] = u32::from_be_bytes([
                block[4 * i],
                block[4 * i + 1],
                block[4 * i + 2],
                block[4 * i + 3],
            ]);
        }
        for i in 16..64 {
            let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
            let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16]
                .wrapping_add(s0)
                .wrapping_add(w[i - 7])
                .wrapping_add(s1);
        }
        let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut hh] = h;
        for i in 0..64 {
            let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
            let ch = (e & f) ^ (!e & g);
            let t1 = hh
                .wrapping_add(s1)
                .wrapping_add(ch)
                .wrapping_add(K[i])
                .wrapping_add(w[i]);
            let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
            let maj = (a & b) ^ (a & c) ^ (b & c);
            let t2 = s0.wrapping_add(maj);
            hh = g;
            g = f;
            f = e;
            e = d.wrapping_add(t1);
            d = c;
            c = b;
            b = a;
            a = t1.wrapping_add(t2);
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e, f, g, hh]) {
            *x = x.wrapping_add(y);
        }
    }
    let mut out = [0u8; 32];
    for (i, v) in h.iter().enumerate() {
        out[4 * i..4 * i + 4].copy_from_slice(&v.to_be_bytes());
    }
    out
}

fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..32].copy_from_slice(&sha256(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let mut inner: Vec<u8> = k.iter().map(|b| b ^ 0x36).collect();
    inner.extend_from_slice(msg);
    let mut outer: Vec<u8> = k.iter().map(|b| b ^ 0x5c).collect();
    outer.extend_from_slice(&sha256(&inner));
    sha256(&outer)
}

/// A JWT with the given header and claims, signed HS256 with `key`.
fn jwt(header: &Value, claims: &Value, key: &[u8]) -> String {
    let signing_input = format!(
        "{}.{}",
        b64url(header.to_string().as_bytes()),
        b64url(claims.to_string().as_bytes())
    );
    let sig = hmac_sha256(key, signing_input.as_bytes());
    format!("{signing_input}.{}", b64url(&sig))
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

#[test]
fn jwt_helpers_match_known_vectors() {
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    assert_eq!(
        hex(&sha256(b"abc")),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    assert_eq!(
        hex(&hmac_sha256(
            b"key",
            b"The quick brown fox jumps over the lazy dog"
        )),
        "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
    );
    for s in ["", "a", "ab", "abc", "abcd", "{\"alg\":\"HS256\"}"] {
        assert_eq!(b64url_decode(&b64url(s.as_bytes())), s.as_bytes());
    }
    assert_eq!(b64url(b"\xfb\xff"), "-_8");
}

// ---------------------------------------------------------------------------
// accounts

#[tokio::test]
async fn health_answers_ok() {
    let s = start().await;
    let r = get_res(&s, "/healthz", None).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, json!({"status": "ok"}));
}

#[tokio::test]
async fn register_login_and_me() {
    let s = start().await;
    let r = register_raw(&s, "alice", PASSWORD).await;
    assert_eq!(r.status, 201, "register: {}", r.text);
    let token = r.body["token"].as_str().expect("token").to_owned();
    assert_eq!(token.split('.').count(), 3, "token is a JWT");
    assert_user_object(&r.body["user"], "alice");
    let registered = r.body["user"].clone();

    // The token's claims: sub, name, role, exp.
    let claims: Value =
        serde_json::from_slice(&b64url_decode(token.split('.').nth(1).expect("payload")))
            .expect("claims");
    assert_eq!(claims["sub"], registered["id"], "sub: {claims}");
    assert_eq!(claims["name"], "alice", "name: {claims}");
    assert_eq!(claims["role"], "user", "role: {claims}");
    assert!(
        claims["exp"].as_u64().is_some_and(|e| e > now_secs()),
        "exp: {claims}"
    );

    let r = login_raw(&s, "alice", PASSWORD).await;
    assert_eq!(r.status, 200, "login: {}", r.text);
    assert!(r.body["token"]
        .as_str()
        .is_some_and(|t| t.split('.').count() == 3));
    assert_eq!(r.body["user"], registered);
    let login_token = r.body["token"].as_str().expect("token").to_owned();

    for t in [&token, &login_token] {
        let r = get_res(&s, "/api/users/me", Some(t)).await;
        assert_eq!(r.status, 200, "me: {}", r.text);
        assert_eq!(r.body, registered);
    }
}

#[tokio::test]
async fn username_rules() {
    let s = start().await;
    for bad in [
        "",
        "ab",
        &"a".repeat(33),
        "a b",
        "émile",
        "a/b",
        "bob!",
        "tab\tx",
        "semi;colon",
    ] {
        let r = register_raw(&s, bad, PASSWORD).await;
        check_error(&format!("register {bad:?}"), &r, 400, "validation_failed");
    }
    for good in ["abc", &"Z".repeat(32), "A_b.c-9"] {
        let r = register_raw(&s, good, PASSWORD).await;
        assert_eq!(r.status, 201, "register {good:?}: {}", r.text);
        assert_eq!(r.body["user"]["username"], good);
    }
    // Unique without regard to case.
    for dup in ["ABC", "abc", "a_B.C-9", "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz"] {
        let r = register_raw(&s, dup, PASSWORD).await;
        check_error(
            &format!("register {dup:?} again"),
            &r,
            409,
            "username_taken",
        );
    }
}

#[tokio::test]
async fn password_rules_count_bytes() {
    let s = start().await;
    let cases: [(&str, String, bool); 8] = [
        ("pw7", "1234567".into(), false),
        ("pw8", "12345678".into(), true),
        ("pweeee", "éééé".into(), true),     // 4 characters, 8 bytes
        ("pweee", "ééé".into(), false),      // 6 bytes
        ("pw1024", "x".repeat(1024), true),  // the most
        ("pw1025", "x".repeat(1025), false), // one byte too many
        ("pwe512", "é".repeat(512), true),   // 512 characters, 1024 bytes
        ("pwe513", "é".repeat(513), false),  // 513 characters, 1026 bytes
    ];
    for (name, pw, ok) in cases {
        let r = register_raw(&s, name, &pw).await;
        if ok {
            assert_eq!(
                r.status,
                201,
                "{name}: {} bytes should be accepted: {}",
                pw.len(),
                r.text
            );
            if name == "pweeee" {
                let r = login_raw(&s, name, &pw).await;
                assert_eq!(r.status, 200, "{name}: login with the same password");
            }
        } else {
            check_error(
                &format!("{name}: {} bytes", pw.len()),
                &r,
                400,
                "validation_failed",
            );
        }
    }
}

#[tokio::test]
async fn concurrent_registrations_of_one_name_give_one_account() {
    // Twenty hashes at once starve the other tests' servers of CPU: run alone.
    let _alone = CPU.write().await;
    let s = Server::start();
    // Twenty password hashes at once take a while on two cores in a debug
    // build: a longer (still bounded) timeout than `http()`'s.
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(40))
        .build()
        .expect("client");
    let futs = (0..20).map(|i| {
        // The same name, in several cases: unique without regard to case.
        let name = match i % 3 {
            0 => "racer",
            1 => "Racer",
            _ => "RACER",
        };
        let req = client
            .post(s.url("/api/users/register"))
            .json(&json!({"username": name, "password": PASSWORD}));
        async move { send(req).await }
    });
    let results = futures_util::future::join_all(futs).await;
    let created = results.iter().filter(|r| r.status == 201).count();
    assert_eq!(
        created,
        1,
        "exactly one 201: {:?}",
        results.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    for r in results.iter().filter(|r| r.status != 201) {
        check_error("concurrent duplicate", r, 409, "username_taken");
    }
    let winner = results.iter().find(|r| r.status == 201).expect("winner");
    let name = winner.body["user"]["username"]
        .as_str()
        .expect("name")
        .to_owned();
    let r = login_raw(&s, &name, PASSWORD).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["user"]["id"], winner.body["user"]["id"]);
}

#[tokio::test]
async fn login_failures_look_the_same() {
    let s = start().await;
    register(&s, "alice").await;
    let unknown = login_raw(&s, "nobody", PASSWORD).await;
    let wrong = login_raw(&s, "alice", "wrong password").await;
    check_error("unknown user", &unknown, 401, "invalid_credentials");
    check_error("wrong password", &wrong, 401, "invalid_credentials");
    assert_eq!(
        unknown.text, wrong.text,
        "same body for unknown user and wrong password"
    );
}

/// A client whose connections come from `127.0.0.x`, a distinct client
/// address of the loopback network.
fn client_from(last: u8) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(WAIT)
        .local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 0, last)))
        .build()
        .expect("client")
}

async fn login_from(c: &reqwest::Client, s: &Server, name: &str, password: &str) -> Res {
    send(
        c.post(s.url("/api/users/login"))
            .json(&json!({"username": name, "password": password})),
    )
    .await
}

fn check_rate_limited(what: &str, r: &Res) {
    check_error(what, r, 429, "rate_limited");
    let ra = r
        .headers
        .get("retry-after")
        .unwrap_or_else(|| panic!("{what}: Retry-After header missing"));
    let secs: u64 = ra
        .to_str()
        .expect("ascii")
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("{what}: Retry-After {ra:?} is whole seconds"));
    assert!((1..=60).contains(&secs), "{what}: Retry-After {secs}");
}

#[tokio::test]
async fn login_throttling_per_username_and_per_address() {
    let s = start().await;
    let alice = register(&s, "alice").await;
    register(&s, "bob").await;
    let from_a = client_from(2);
    let from_b = client_from(3);

    // Ten failures for alice (the name's case does not matter), from address A.
    for i in 0..10 {
        let name = if i % 2 == 0 { "alice" } else { "ALICE" };
        let r = login_from(&from_a, &s, name, "wrong password").await;
        check_error(&format!("failure {i}"), &r, 401, "invalid_credentials");
    }
    // The next attempt is refused, even with the right password.
    let r = login_from(&from_a, &s, "alice", PASSWORD).await;
    check_rate_limited("alice from A, right password", &r);
    // From another address too: the username is locked.
    let r = login_from(&from_b, &s, "Alice", PASSWORD).await;
    check_rate_limited("alice from B, right password", &r);
    // Another username from a clean address is unaffected.
    let r = login_from(&from_b, &s, "bob", PASSWORD).await;
    assert_eq!(r.status, 200, "bob from B: {}", r.text);
    // Address A is locked for every username.
    let r = login_from(&from_a, &s, "bob", PASSWORD).await;
    check_rate_limited("bob from A", &r);
    // Other endpoints are not affected.
    let r = send(from_a.get(s.url("/api/users/me")).bearer_auth(&alice.token)).await;
    assert_eq!(r.status, 200, "me from A: {}", r.text);
    let r = send(from_a.get(s.url("/healthz"))).await;
    assert_eq!(r.status, 200);
}

/// A login carrying `X-Forwarded-For` as a reverse proxy would send it.
async fn login_forwarded(s: &Server, forwarded_for: &str, name: &str, password: &str) -> Res {
    send(
        http()
            .post(s.url("/api/users/login"))
            .header("x-forwarded-for", forwarded_for)
            .json(&json!({"username": name, "password": password})),
    )
    .await
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_forwarded_address_is_throttled() {
    let s = Server::start_with(&["--message-rate", "0", "--trust-forwarded-for"]);
    register(&s, "alice").await;
    register(&s, "bob").await;
    register(&s, "carol").await;
    // Ten failures from one client behind the proxy, spread over two names
    // so that no username reaches its own limit.
    for i in 0..10 {
        let name = if i % 2 == 0 { "alice" } else { "bob" };
        let r = login_forwarded(&s, "198.51.100.7, 203.0.113.9", name, "wrong password").await;
        check_error(&format!("failure {i}"), &r, 401, "invalid_credentials");
    }
    // That client (the last, proxy-appended entry) is locked out...
    let r = login_forwarded(&s, "10.9.9.9, 203.0.113.9", "carol", PASSWORD).await;
    check_rate_limited("the same client", &r);
    // ...while another client behind the same proxy is not.
    let r = login_forwarded(&s, "203.0.113.10", "carol", PASSWORD).await;
    assert_eq!(r.status, 200, "another client: {}", r.text);
}

#[tokio::test]
async fn without_trust_the_forwarded_header_is_ignored() {
    let s = start().await;
    register(&s, "alice").await;
    register(&s, "bob").await;
    for i in 0..10 {
        let name = if i % 2 == 0 { "alice" } else { "bob" };
        let r = login_forwarded(&s, &format!("203.0.113.{i}"), name, "wrong password").await;
        check_error(&format!("failure {i}"), &r, 401, "invalid_credentials");
    }
    // Every attempt came from 127.0.0.1, whatever the header claimed.
    let r = login_forwarded(&s, "198.51.100.1", "alice", PASSWORD).await;
    check_rate_limited("a forged header does not escape the limit", &r);
}

#[tokio::test]
async fn registration_closed_refuses_register() {
    let s = start_with(&["--message-rate", "0", "--registration", "closed"]).await;
    let r = register_raw(&s, "alice", PASSWORD).await;
    check_error("register while closed", &r, 403, "registration_closed");
    let r = get_res(&s, "/healthz", None).await;
    assert_eq!(r.status, 200);
}

// ---------------------------------------------------------------------------
// bad input

#[tokio::test]
async fn malformed_json_is_invalid_json() {
    let s = start().await;
    let alice = register(&s, "alice").await;
    let room = create_room(&s, &alice, "priv", true).await;
    let members = format!("/api/rooms/{}/members", id_of(&room));
    for path in [
        "/api/users/register",
        "/api/users/login",
        "/api/rooms",
        members.as_str(),
    ] {
        for body in [
            "{",
            "not json",
            "{\"username\": \"x\",}",
            "",
            "{\"username\": \"abc\", \"password\": \"12345678\"",
        ] {
            let r = post_raw(&s, path, Some(&alice.token), body).await;
            check_error(&format!("POST {path} {body:?}"), &r, 400, "invalid_json");
        }
    }
}

#[tokio::test]
async fn wrong_shapes_are_validation_failed() {
    let s = start().await;
    let alice = register(&s, "alice").await;
    let room = create_room(&s, &alice, "priv", true).await;
    let members = format!("/api/rooms/{}/members", id_of(&room));
    let account_bodies = [
        "{}",
        "{\"username\": \"abcdef\"}",
        "{\"password\": \"12345678\"}",
        "{\"username\": 5, \"password\": \"12345678\"}",
        "{\"username\": \"abcdef\", \"password\": 12345678}",
        "{\"username\": null, \"password\": \"12345678\"}",
        "[]",
        // Not an object, though its values are in the fields' order.
        "[\"abcdef\", \"12345678\"]",
        "\"abcdef\"",
        "42",
        "null",
        "true",
    ];
    let mut cases: Vec<(String, Option<&str>, String)> = Vec::new();
    for path in ["/api/users/register", "/api/users/login"] {
        for body in account_bodies {
            cases.push((path.to_owned(), None, body.to_owned()));
        }
    }
    for body in [
        "{}",
        "{\"name\": 5}",
        "{\"name\": \"x\", \"private\": \"yes\"}",
        "{\"name\": \"x\", \"description\": 7}",
        "[]",
        "[\"arrayroom\"]",
        "[\"arrayroom2\", true, \"d\"]",
        "\"x\"",
        "null",
    ] {
        cases.push(("/api/rooms".to_owned(), Some(&alice.token), body.to_owned()));
    }
    for body in ["{}", "{\"username\": 5}", "[]", "[\"alice\"]", "\"alice\""] {
        cases.push((members.clone(), Some(&alice.token), body.to_owned()));
    }
    // Every case is tried; the failures are listed together.
    let mut failures = Vec::new();
    for (path, token, body) in &cases {
        let r = post_raw(&s, path, *token, body).await;
        if r.status != 400 || r.body["error"]["code"] != "validation_failed" {
            failures.push(format!(
                "POST {path} {body} -> {} {} (expected 400 validation_failed)",
                r.status, r.text
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A body of exactly `len` bytes: a register request padded with spaces.
fn padded_register_body(len: usize) -> String {
    let mut b = json!({"username": "padded", "password": PASSWORD}).to_string();
    assert!(b.len() <= len);
    b.push_str(&" ".repeat(len - b.len()));
    b
}

#[tokio::test]
async fn oversized_body_with_content_length_is_413() {
    let s = start().await;
    let alice = register(&s, "alice").await;
    // 64 KiB exactly is not over the limit.
    let r = post_raw(
        &s,
        "/api/users/register",
        None,
        &padded_register_body(64 * 1024),
    )
    .await;
    assert_eq!(r.status, 201, "a body of exactly 64 KiB: {}", r.text);

    let big = padded_register_body(64 * 1024 + 1);
    let r = post_raw(&s, "/api/users/register", None, &big).await;
    check_error("register, 64 KiB + 1", &r, 413, "payload_too_large");
    let big_room = format!(
        "{{\"name\": \"big\", \"description\": \"{}\"}}",
        "x".repeat(100 * 1024)
    );
    let r = post_raw(&s, "/api/rooms", Some(&alice.token), &big_room).await;
    check_error("create room, 100 KiB", &r, 413, "payload_too_large");
    let r = get_res(&s, "/healthz", None).await;
    assert_eq!(r.status, 200, "still healthy");
    let r = get_res(&s, "/api/users/me", Some(&alice.token)).await;
    assert_eq!(r.status, 200, "still serving");
}

#[tokio::test]
async fn oversized_chunked_body_is_413() {
    let s = start().await;
    let mut stream = std::net::TcpStream::connect(&s.addr).expect("connect");
    let head = format!(
        "POST /api/users/register HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
        s.addr
    );
    stream.write_all(head.as_bytes()).expect("write head");
    // The body goes out from another thread, so that a server answering
    // early (and closing) cannot make this side lose its answer.
    let mut writer = stream.try_clone().expect("clone");
    let sender = std::thread::spawn(move || {
        let _ = writer.write_all(b"d\r\n{\"username\": \r\n");
        let chunk = " ".repeat(4096);
        for _ in 0..20 {
            if writer
                .write_all(format!("{:x}\r\n{chunk}\r\n", chunk.len()).as_bytes())
                .is_err()
            {
                return;
            }
        }
        let _ = writer.write_all(b"1a\r\n\"x\", \"password\": \"y\"}      \r\n0\r\n\r\n");
    });
    let (status, head, body) = read_http_response(&mut stream, WAIT);
    let _ = sender.join();
    let body: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    assert_error(
        &format!("chunked 80 KiB body ({head})"),
        status,
        &body,
        413,
        "payload_too_large",
    );
    drop(stream);
    let r = get_res(&s, "/healthz", None).await;
    assert_eq!(r.status, 200, "still healthy");
}

#[tokio::test]
async fn oversized_body_with_expect_continue_is_413_before_the_body() {
    let s = start().await;
    let mut stream = std::net::TcpStream::connect(&s.addr).expect("connect");
    let head = format!(
        "POST /api/users/register HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nExpect: 100-continue\r\n\r\n",
        s.addr,
        100 * 1024
    );
    stream.write_all(head.as_bytes()).expect("write head");
    // No body is sent: the answer must come without it, and not be 100.
    let (status, head, body) = read_http_response(&mut stream, WAIT);
    let body: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    assert_error(
        &format!("Expect: 100-continue ({head})"),
        status,
        &body,
        413,
        "payload_too_large",
    );
    drop(stream);
    let r = get_res(&s, "/healthz", None).await;
    assert_eq!(r.status, 200, "still healthy");
}

// ---------------------------------------------------------------------------
// tokens

const KNOWN_SECRET: &str = "integration-test-secret-0123456789abcdef";

#[tokio::test]
async fn missing_and_malformed_tokens_are_unauthorized() {
    let s = start().await;
    let alice = register(&s, "alice").await;
    let r = get_res(&s, "/api/users/me", None).await;
    check_error("no Authorization", &r, 401, "unauthorized");
    for header in [
        "Bearer garbage",
        "Bearer ",
        "Bearer a.b.c",
        "Basic YWxpY2U6cGFzc3dvcmQ=",
        alice.token.as_str(),
        "Bearer",
    ] {
        let r = send(
            http()
                .get(s.url("/api/users/me"))
                .header("authorization", header),
        )
        .await;
        check_error(
            &format!("Authorization: {header:?}"),
            &r,
            401,
            "unauthorized",
        );
    }
    // A real token with its signature tampered with.
    let mut tampered = alice.token.clone();
    let last = tampered.pop().expect("char");
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    let mut parts: Vec<String> = alice.token.split('.').map(str::to_owned).collect();
    parts[2] = b64url(&[0u8; 32]);
    let zeroed = parts.join(".");
    for t in [tampered, zeroed] {
        let r = get_res(&s, "/api/users/me", Some(&t)).await;
        check_error(&format!("tampered token {t}"), &r, 401, "unauthorized");
    }
    // Other authenticated endpoints answer alike.
    for path in [
        "/api/rooms",
        "/api/rooms/0000000000000001",
        "/api/rooms/0000000000000001/messages",
    ] {
        let r = get_res(&s, path, Some("garbage")).await;
        check_error(
            &format!("GET {path} with a bad token"),
            &r,
            401,
            "unauthorized",
        );
    }
    let r = post(&s, "/api/rooms", None, json!({"name": "x"})).await;
    check_error("POST /api/rooms without a token", &r, 401, "unauthorized");
}

#[tokio::test]
async fn forged_tokens_are_unauthorized() {
    let s = start_with(&["--message-rate", "0", "--jwt-secret", KNOWN_SECRET]).await;
    let alice = register(&s, "alice").await;
    let real_header: Value = serde_json::from_slice(&b64url_decode(
        alice.token.split('.').next().expect("header"),
    ))
    .expect("header");
    let claims: Value = serde_json::from_slice(&b64url_decode(
        alice.token.split('.').nth(1).expect("payload"),
    ))
    .expect("claims");
    assert_eq!(
        real_header["alg"], "HS256",
        "tokens are HS256: {real_header}"
    );

    // Control: the same claims signed by hand with the server's secret work,
    // so the refusals below are about the key and the algorithm only.
    let hs256 = json!({"alg": "HS256", "typ": "JWT"});
    let control = jwt(&hs256, &claims, KNOWN_SECRET.as_bytes());
    let r = get_res(&s, "/api/users/me", Some(&control)).await;
    assert_eq!(r.status, 200, "a correctly signed token: {}", r.text);

    // Signed with another key.
    let other = jwt(&hs256, &claims, b"another-secret-another-secret-another");
    let r = get_res(&s, "/api/users/me", Some(&other)).await;
    check_error("token signed with another key", &r, 401, "unauthorized");

    // alg: none with the real payload, with and without a signature.
    let payload = alice.token.split('.').nth(1).expect("payload");
    for header in [
        json!({"alg": "none", "typ": "JWT"}),
        json!({"alg": "None"}),
        json!({"alg": "NONE", "typ": "JWT"}),
    ] {
        let h = b64url(header.to_string().as_bytes());
        let sig = alice.token.split('.').nth(2).expect("sig");
        for t in [
            format!("{h}.{payload}."),
            format!("{h}.{payload}"),
            format!("{h}.{payload}.{sig}"),
        ] {
            let r = get_res(&s, "/api/users/me", Some(&t)).await;
            check_error(&format!("alg none token {t}"), &r, 401, "unauthorized");
        }
    }

    // Another algorithm named in the header (the HS256 signature is over it).
    let hs384 = jwt(
        &json!({"alg": "HS384", "typ": "JWT"}),
        &claims,
        KNOWN_SECRET.as_bytes(),
    );
    let r = get_res(&s, "/api/users/me", Some(&hs384)).await;
    check_error("alg HS384 header", &r, 401, "unauthorized");

    // Expired, correctly signed.
    let mut expired = claims.clone();
    expired["iat"] = json!(now_secs() - 3600);
    expired["exp"] = json!(now_secs() - 60);
    let r = get_res(
        &s,
        "/api/users/me",
        Some(&jwt(&hs256, &expired, KNOWN_SECRET.as_bytes())),
    )
    .await;
    check_error("expired token", &r, 401, "unauthorized");

    // Without exp at all.
    let mut no_exp = claims.clone();
    no_exp.as_object_mut().expect("object").remove("exp");
    let r = get_res(
        &s,
        "/api/users/me",
        Some(&jwt(&hs256, &no_exp, KNOWN_SECRET.as_bytes())),
    )
    .await;
    check_error("token without exp", &r, 401, "unauthorized");

    // Correctly signed, for a user that does not exist.
    let mut ghost = claims.clone();
    ghost["sub"] = json!(if claims["sub"] == "0000000000000001" {
        "0000000000000002"
    } else {
        "0000000000000001"
    });
    ghost["name"] = json!("ghost");
    let r = get_res(
        &s,
        "/api/users/me",
        Some(&jwt(&hs256, &ghost, KNOWN_SECRET.as_bytes())),
    )
    .await;
    check_error(
        "token of a user that does not exist",
        &r,
        401,
        "unauthorized",
    );
}

#[tokio::test]
async fn expired_tokens_are_unauthorized() {
    let s = start_with(&["--message-rate", "0", "--token-ttl", "1"]).await;
    let alice = register(&s, "alice").await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let r = get_res(&s, "/api/users/me", Some(&alice.token)).await;
    check_error("token after its ttl", &r, 401, "unauthorized");
    // A fresh login gives a working token again.
    let r = login_raw(&s, "alice", PASSWORD).await;
    assert_eq!(r.status, 200);
    let t = r.body["token"].as_str().expect("token");
    let r = get_res(&s, "/api/users/me", Some(t)).await;
    assert_eq!(r.status, 200);
}

// ---------------------------------------------------------------------------
// rooms

fn assert_room_object(r: &Value, name: &str, private: bool, owner: &User) {
    assert!(
        r["id"].as_str().is_some_and(|s| !s.is_empty()),
        "room.id: {r}"
    );
    assert_eq!(r["name"], name, "room.name: {r}");
    assert!(r["description"].is_string(), "room.description: {r}");
    assert_eq!(r["private"], private, "room.private: {r}");
    assert_eq!(r["ownerId"], owner.id.as_str(), "room.ownerId: {r}");
    assert!(
        r["createdAt"].as_str().is_some_and(is_rfc3339_ms),
        "room.createdAt: {r}"
    );
    assert!(r["online"].is_u64(), "room.online: {r}");
}

#[tokio::test]
async fn create_rooms_public_and_private() {
    let s = start().await;
    let alice = register(&s, "alice").await;
    let r = post(
        &s,
        "/api/rooms",
        Some(&alice.token),
        json!({"name": "general", "description": "Talk about anything"}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_room_object(&r.body, "general", false, &alice);
    assert_eq!(r.body["description"], "Talk about anything");
    assert_eq!(r.body["online"], 0);

    let r = post(
        &s,
        "/api/rooms",
        Some(&alice.token),
        json!({"name": "secret", "private": true}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_room_object(&r.body, "secret", true, &alice);
    assert_eq!(r.body["description"], "");
    let (status, shown) = get(&s, &alice, &format!("/api/rooms/{}", id_of(&r.body))).await;
    assert_eq!(status, 200);
    assert_eq!(shown, r.body, "GET of the room equals the created room");

    let r = post(
        &s,
        "/api/rooms",
        Some(&alice.token),
        json!({"name": "open", "private": false}),
    )
    .await;
    assert_eq!(r.status, 201);
    assert_eq!(r.body["private"], false);
}

#[tokio::test]
async fn room_name_and_description_rules() {
    let s = start().await;
    let alice = register(&s, "alice").await;
    let create = |body: Value| {
        let s = &s;
        let t = alice.token.clone();
        async move { post(s, "/api/rooms", Some(&t), body).await }
    };
    // Trimmed.
    let r = create(json!({"name": "  spaced out \t\n"})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["name"], "spaced out");
    // 1 to 64 characters after trimming, counting characters.
    for (name, ok) in [
        (String::new(), false),
        ("   ".to_owned(), false),
        ("x".to_owned(), true),
        ("é".repeat(64), true),
        (format!("  {}  ", "ü".repeat(64)), true),
        ("é".repeat(65), false),
        ("y".repeat(65), false),
    ] {
        let r = create(json!({"name": name})).await;
        if ok {
            assert_eq!(r.status, 201, "name {name:?}: {}", r.text);
            assert_eq!(r.body["name"], name.trim());
        } else {
            check_error(&format!("name {name:?}"), &r, 400, "validation_failed");
        }
    }
    // Descriptions: at most 512 characters.
    for (i, (desc, ok)) in [
        ("é".repeat(512), true),
        ("a".repeat(512), true),
        ("é".repeat(513), false),
        ("a".repeat(513), false),
    ]
    .into_iter()
    .enumerate()
    {
        let r = create(json!({"name": format!("desc{i}"), "description": desc})).await;
        if ok {
            assert_eq!(
                r.status,
                201,
                "description of {} chars: {}",
                desc.chars().count(),
                r.text
            );
            assert_eq!(r.body["description"], desc);
        } else {
            check_error(
                &format!("description of {} chars", desc.chars().count()),
                &r,
                400,
                "validation_failed",
            );
        }
    }
}

#[tokio::test]
async fn room_names_are_unique_without_regard_to_case() {
    let s = start().await;
    let alice = register(&s, "alice").await;
    let bob = register(&s, "bob").await;
    create_room(&s, &alice, "General", false).await;
    create_room(&s, &alice, "Secret", true).await;
    for (who, name) in [
        (&alice, "general"),
        (&bob, "GENERAL"),
        (&bob, "  general  "),
        (&alice, "SECRET"),
        (&bob, "secret"),
        (&bob, "sEcReT"),
    ] {
        for private in [false, true] {
            let r = post(
                &s,
                "/api/rooms",
                Some(&who.token),
                json!({"name": name, "private": private}),
            )
            .await;
            check_error(
                &format!("{} creates {name:?} (private {private})", who.name),
                &r,
                409,
                "room_name_taken",
            );
        }
    }
    // bob still cannot see alice's private room.
    let (_, rooms) = get(&s, &bob, "/api/rooms").await;
    assert_eq!(names(&rooms), vec!["General"]);
}

#[tokio::test]
async fn room_list_shows_public_rooms_and_own_private_rooms_by_name() {
    let s = start().await;
    let alice = register(&s, "alice").await;
    let bob = register(&s, "bob").await;
    create_room(&s, &alice, "charlie", false).await;
    create_room(&s, &bob, "echo", true).await;
    create_room(&s, &alice, "alpha", true).await;
    create_room(&s, &bob, "delta", false).await;
    create_room(&s, &alice, "bravo", false).await;
    let (status, rooms) = get(&s, &alice, "/api/rooms").await;
    assert_eq!(status, 200);
    assert_eq!(names(&rooms), vec!["alpha", "bravo", "charlie", "delta"]);
    for r in rooms.as_array().expect("array") {
        let owner = if r["name"] == "delta" { &bob } else { &alice };
        assert_room_object(
            r,
            r["name"].as_str().expect("name"),
            r["name"] == "alpha",
            owner,
        );
    }
    let (_, rooms) = get(&s, &bob, "/api/rooms").await;
    assert_eq!(names(&rooms), vec!["bravo", "charlie", "delta", "echo"]);
}

#[tokio::test]
async fn private_and_unknown_rooms_are_not_found() {
    let s = start().await;
    let alice = register(&s, "alice").await;
    let bob = register(&s, "bob").await;
    let secret = create_room(&s, &alice, "secret", true).await;
    let sid = id_of(&secret);
    let (status, _) = get(&s, &alice, &format!("/api/rooms/{sid}")).await;
    assert_eq!(status, 200);
    let (status, body) = get(&s, &bob, &format!("/api/rooms/{sid}")).await;
    assert_error(
        "non-member GET private room",
        status,
        &body,
        404,
        "not_found",
    );
    for id in [
        "ffffffffffffffff",
        "0000000000000000",
        "nope",
        "FFFFFFFFFFFFFFFF",
        "123",
        "%20",
    ] {
        let (status, body) = get(&s, &alice, &format!("/api/rooms/{id}")).await;
        assert_error(
            &format!("GET /api/rooms/{id}"),
            status,
            &body,
            404,
            "not_found",
        );
        let (status, body) = get(&s, &alice, &format!("/api/rooms/{id}/messages")).await;
        assert_error(
            &format!("GET /api/rooms/{id}/messages"),
            status,
            &body,
            404,
            "not_found",
        );
        let (status, body) = get(&s, &alice, &format!("/api/rooms/{id}/online")).await;
        assert_error(
            &format!("GET /api/rooms/{id}/online"),
            status,
            &body,
            404,
            "not_found",
        );
    }
}

// ---------------------------------------------------------------------------
// history

const SEEDED: usize = 210;

fn texts(r: &Value) -> Vec<String> {
    r["messages"]
        .as_array()
        .expect("messages array")
        .iter()
        .map(|m| m["message"].as_str().expect("text").to_owned())
        .collect()
}

fn expected(range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("m{i:03}")).collect()
}

#[tokio::test]
async fn message_history_pages() {
    let s = start().await;
    let alice = register(&s, "alice").await;
    let room = create_room(&s, &alice, "general", false).await;
    let rid = id_of(&room);
    let other = create_room(&s, &alice, "other", false).await;
    let oid = id_of(&other);

    let (status, body) = get(&s, &alice, &format!("/api/rooms/{rid}/messages")).await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"messages": [], "hasMore": false}),
        "empty room"
    );

    let mut c = Client::connect(&s, &alice).await;
    join(&mut c, &oid).await;
    send_many(&mut c, &oid, &["elsewhere".to_owned()]).await;
    join(&mut c, &rid).await;
    let all = expected(0..SEEDED);
    let ids = send_many(&mut c, &rid, &all).await;
    send_many(&mut c, &oid, &["elsewhere again".to_owned()]).await;

    let page = |q: String| {
        let s = &s;
        let alice = &alice;
        let rid = rid.clone();
        async move {
            let (status, body) = get(s, alice, &format!("/api/rooms/{rid}/messages{q}")).await;
            assert_eq!(status, 200, "messages{q}: {body}");
            body
        }
    };

    // Default: the newest 50, oldest first, more older ones exist.
    let p = page(String::new()).await;
    assert_eq!(texts(&p), expected(SEEDED - 50..SEEDED));
    assert_eq!(p["hasMore"], true);
    let msgs = p["messages"].as_array().expect("messages");
    for (m, id) in msgs.iter().zip(&ids[SEEDED - 50..]) {
        assert_eq!(&m["id"], id.as_str(), "message id equals the acked id");
        assert_eq!(m["roomId"], rid.as_str());
        assert_eq!(m["user"], "alice");
        assert_eq!(m["userId"], alice.id.as_str());
        assert!(
            m["timestamp"].as_str().is_some_and(is_rfc3339_ms),
            "timestamp: {m}"
        );
    }

    // limit.
    let p = page("?limit=10".into()).await;
    assert_eq!(texts(&p), expected(SEEDED - 10..SEEDED));
    assert_eq!(p["hasMore"], true);
    let p = page("?limit=1".into()).await;
    assert_eq!(texts(&p), expected(SEEDED - 1..SEEDED));
    let p = page("?limit=200".into()).await;
    assert_eq!(texts(&p), expected(SEEDED - 200..SEEDED));
    assert_eq!(p["hasMore"], true);
    // Over 200 is clamped to 200.
    for l in ["201", "1000", "999999"] {
        let p = page(format!("?limit={l}")).await;
        assert_eq!(texts(&p), expected(SEEDED - 200..SEEDED), "limit={l}");
        assert_eq!(p["hasMore"], true, "limit={l}");
    }

    // before: the limit messages just older, oldest first.
    let p = page(format!("?before={}&limit=30", ids[100])).await;
    assert_eq!(texts(&p), expected(70..100));
    assert_eq!(p["hasMore"], true);
    let p = page(format!("?before={}&limit=30", ids[30])).await;
    assert_eq!(texts(&p), expected(0..30));
    assert_eq!(p["hasMore"], false, "nothing older than the first message");
    let p = page(format!("?before={}&limit=30", ids[20])).await;
    assert_eq!(texts(&p), expected(0..20));
    assert_eq!(p["hasMore"], false);
    let p = page(format!("?before={}", ids[0])).await;
    assert_eq!(texts(&p), Vec::<String>::new());
    assert_eq!(p["hasMore"], false);
    let p = page(format!("?before={}", ids[120])).await;
    assert_eq!(
        texts(&p),
        expected(70..120),
        "before with the default limit"
    );
    assert_eq!(p["hasMore"], true);

    // after: the limit messages just newer, oldest first.
    let p = page(format!("?after={}&limit=30", ids[100])).await;
    assert_eq!(texts(&p), expected(101..131));
    assert_eq!(p["hasMore"], true);
    let p = page(format!("?after={}&limit=30", ids[SEEDED - 31])).await;
    assert_eq!(texts(&p), expected(SEEDED - 30..SEEDED));
    assert_eq!(p["hasMore"], false, "nothing newer than the last message");
    let p = page(format!("?after={}&limit=30", ids[SEEDED - 11])).await;
    assert_eq!(texts(&p), expected(SEEDED - 10..SEEDED));
    assert_eq!(p["hasMore"], false);
    let p = page(format!("?after={}", ids[SEEDED - 1])).await;
    assert_eq!(texts(&p), Vec::<String>::new());
    assert_eq!(p["hasMore"], false);
    let p = page(format!("?after={}", ids[0])).await;
    assert_eq!(texts(&p), expected(1..51), "after with the default limit");
    assert_eq!(p["hasMore"], true);
    let p = page(format!("?after={}&limit=500", ids[0])).await;
    assert_eq!(texts(&p), expected(1..201), "after, clamped to 200");
    assert_eq!(p["hasMore"], true);

    // Walking backwards page by page yields everything once.
    let mut seen: Vec<String> = Vec::new();
    let mut q = "?limit=64".to_owned();
    loop {
        let p = page(q.clone()).await;
        let mut t = texts(&p);
        t.extend(seen);
        seen = t;
        if p["hasMore"] == false {
            break;
        }
        let first = p["messages"][0]["id"].as_str().expect("id").to_owned();
        q = format!("?limit=64&before={first}");
    }
    assert_eq!(seen, all);

    // Bad parameters.
    for q in [
        "?limit=0",
        "?limit=abc",
        "?limit=-1",
        "?limit=1.5",
        "?before=garbage",
        "?after=garbage",
        "?before=zzzzzzzzzzzzzzzz&limit=5",
    ] {
        let (status, body) = get(&s, &alice, &format!("/api/rooms/{rid}/messages{q}")).await;
        assert_error(
            &format!("messages{q}"),
            status,
            &body,
            400,
            "validation_failed",
        );
    }
}

#[tokio::test]
async fn online_users_of_a_room() {
    let s = start().await;
    let alice = register(&s, "alice").await;
    let room = create_room(&s, &alice, "general", false).await;
    let rid = id_of(&room);
    let (status, body) = get(&s, &alice, &format!("/api/rooms/{rid}/online")).await;
    assert_eq!(status, 200);
    assert_eq!(body, json!({"roomId": rid, "users": []}));

    let mut c = Client::connect(&s, &alice).await;
    join(&mut c, &rid).await;
    let (status, body) = get(&s, &alice, &format!("/api/rooms/{rid}/online")).await;
    assert_eq!(status, 200);
    assert_eq!(body, json!({"roomId": rid, "users": ["alice"]}));
    let (_, shown) = get(&s, &alice, &format!("/api/rooms/{rid}")).await;
    assert_eq!(
        shown["online"], 1,
        "room.online counts users online in it: {shown}"
    );

    let ack = c.call("leaveRoom", json!({"roomId": rid})).await;
    assert_eq!(ack["event"], "ack");
    let (_, body) = get(&s, &alice, &format!("/api/rooms/{rid}/online")).await;
    assert_eq!(body, json!({"roomId": rid, "users": []}));
}

// ---------------------------------------------------------------------------
// members

#[tokio::test]
async fn member_endpoints_follow_the_rules() {
    let s = start().await;
    let olga = register(&s, "olga").await; // owner
    let mike = register(&s, "mike").await; // member
    let nina = register(&s, "nina").await; // outsider
    let p = id_of(&create_room(&s, &olga, "private", true).await);
    let q = id_of(&create_room(&s, &olga, "public", false).await);
    let add = |who: &User, room: &str, name: &str| {
        let s = &s;
        let t = who.token.clone();
        let path = format!("/api/rooms/{room}/members");
        let name = name.to_owned();
        async move { post(s, &path, Some(&t), json!({"username": name})).await }
    };
    let remove = |who: &User, room: &str, name: &str| {
        let s = &s;
        let t = who.token.clone();
        let path = format!("/api/rooms/{room}/members/{name}");
        async move { delete(s, &path, &t).await }
    };

    // The owner adds a member: 204; again: 204, nothing changes.
    let r = add(&olga, &p, "mike").await;
    assert_eq!(r.status, 204, "owner adds mike: {}", r.text);
    assert!(r.text.is_empty(), "204 has no body");
    let r = add(&olga, &p, "mike").await;
    assert_eq!(r.status, 204, "owner adds mike again: {}", r.text);
    let (_, rooms) = get(&s, &mike, "/api/rooms").await;
    assert_eq!(
        names(&rooms),
        vec!["private", "public"],
        "the member now sees the room"
    );
    let (status, _) = get(&s, &mike, &format!("/api/rooms/{p}")).await;
    assert_eq!(status, 200);

    // Unknown username.
    let r = add(&olga, &p, "nobody").await;
    check_error("add unknown user", &r, 404, "not_found");
    // A member who is not the owner may not add or remove others.
    let r = add(&mike, &p, "nina").await;
    check_error("member adds someone", &r, 403, "forbidden");
    let r = remove(&mike, &p, "olga").await;
    check_error("member removes the owner", &r, 403, "forbidden");

    // A non-member gets 404 from every endpoint under the room.
    for (what, r) in [
        (
            "GET room",
            get_res(&s, &format!("/api/rooms/{p}"), Some(&nina.token)).await,
        ),
        (
            "GET messages",
            get_res(&s, &format!("/api/rooms/{p}/messages"), Some(&nina.token)).await,
        ),
        (
            "GET online",
            get_res(&s, &format!("/api/rooms/{p}/online"), Some(&nina.token)).await,
        ),
        ("POST members self", add(&nina, &p, "nina").await),
        ("POST members other", add(&nina, &p, "mike").await),
        ("DELETE members self", remove(&nina, &p, "nina").await),
        ("DELETE members member", remove(&nina, &p, "mike").await),
        ("DELETE members owner", remove(&nina, &p, "olga").await),
        ("DELETE members unknown", remove(&nina, &p, "nobody").await),
    ] {
        check_error(&format!("non-member {what}"), &r, 404, "not_found");
    }

    // Public rooms have no member list.
    let r = add(&olga, &q, "mike").await;
    check_error("add to a public room", &r, 400, "validation_failed");
    let r = remove(&olga, &q, "mike").await;
    check_error("remove from a public room", &r, 400, "validation_failed");

    // Removing a non-member (or an unknown user): 404.
    let r = remove(&olga, &p, "nina").await;
    check_error("remove a non-member", &r, 404, "not_found");
    let r = remove(&olga, &p, "nobody").await;
    check_error("remove an unknown user", &r, 404, "not_found");
    // The owner cannot be removed, not even by itself.
    let r = remove(&olga, &p, "olga").await;
    check_error("owner removes itself", &r, 400, "validation_failed");
    let (status, _) = get(&s, &olga, &format!("/api/rooms/{p}")).await;
    assert_eq!(status, 200, "the owner is still a member");

    // A member may remove itself.
    let r = remove(&mike, &p, "mike").await;
    assert_eq!(r.status, 204, "mike leaves: {}", r.text);
    let (status, body) = get(&s, &mike, &format!("/api/rooms/{p}")).await;
    assert_error("former member GET room", status, &body, 404, "not_found");
    let (_, rooms) = get(&s, &mike, "/api/rooms").await;
    assert_eq!(names(&rooms), vec!["public"]);
    let r = remove(&olga, &p, "mike").await;
    check_error("remove the former member again", &r, 404, "not_found");

    // The owner adds and removes: the removed member loses the room.
    assert_eq!(
        add(&olga, &p, "NINA").await.status,
        204,
        "usernames without regard to case"
    );
    let (_, rooms) = get(&s, &nina, "/api/rooms").await;
    assert_eq!(names(&rooms), vec!["private", "public"]);
    let r = remove(&olga, &p, "nina").await;
    assert_eq!(r.status, 204, "owner removes nina: {}", r.text);
    let (_, rooms) = get(&s, &nina, "/api/rooms").await;
    assert_eq!(names(&rooms), vec!["public"]);
}

#[tokio::test]
async fn removed_member_gets_room_removed_and_no_more_messages() {
    let s = start().await;
    let olga = register(&s, "olga").await;
    let mike = register(&s, "mike").await;
    let p = id_of(&create_room(&s, &olga, "private", true).await);
    let r = post(
        &s,
        &format!("/api/rooms/{p}/members"),
        Some(&olga.token),
        json!({"username": "mike"}),
    )
    .await;
    assert_eq!(r.status, 204);

    let mut co = Client::connect(&s, &olga).await;
    let mut cm = Client::connect(&s, &mike).await;
    join(&mut co, &p).await;
    join(&mut cm, &p).await;
    send_many(&mut co, &p, &["before removal".to_owned()]).await;
    let f = cm.next_event("receiveMessage").await;
    assert_eq!(f["data"]["message"], "before removal");

    let r = delete(&s, &format!("/api/rooms/{p}/members/mike"), &olga.token).await;
    assert_eq!(r.status, 204);
    let f = cm.next_event("roomRemoved").await;
    assert_eq!(f, json!({"event": "roomRemoved", "data": {"roomId": p}}));

    send_many(&mut co, &p, &["after removal".to_owned()]).await;
    let rest = cm.drain(Duration::from_millis(500)).await;
    assert!(
        !rest
            .iter()
            .any(|f| f["event"] == "receiveMessage" || f["event"] == "typing"),
        "the removed member got frames of the room: {rest:?}"
    );
    // The connection stays usable; a new join is refused.
    let ans = cm.call("joinRoom", json!({"roomId": p})).await;
    assert_eq!(ans["event"], "error", "{ans}");
    assert_eq!(ans["data"]["code"], "not_found", "{ans}");
}

// ---------------------------------------------------------------------------
// restart, headers, logs

fn without_online(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(a) = v.as_array_mut() {
        for r in a {
            r.as_object_mut().expect("room").remove("online");
        }
    } else if let Some(o) = v.as_object_mut() {
        o.remove("online");
    }
    v
}

#[tokio::test]
async fn restart_keeps_all_data() {
    let mut s = Fresh {
        _cpu: CPU.read().await,
        server: Server::start_process(),
    };
    let alice = register(&s, "alice").await;
    let bob = register(&s, "bob").await;
    let public = id_of(&create_room(&s, &alice, "general", false).await);
    let private = id_of(&create_room(&s, &alice, "secret", true).await);
    let r = post(
        &s,
        &format!("/api/rooms/{private}/members"),
        Some(&alice.token),
        json!({"username": "bob"}),
    )
    .await;
    assert_eq!(r.status, 204);
    {
        let mut c = Client::connect(&s, &alice).await;
        join(&mut c, &public).await;
        send_many(&mut c, &public, &expected(0..7)).await;
        join(&mut c, &private).await;
        send_many(&mut c, &private, &["psst".to_owned()]).await;
    }
    let mut before = Vec::new();
    for u in [&alice, &bob] {
        for path in [
            "/api/users/me".to_owned(),
            "/api/rooms".to_owned(),
            format!("/api/rooms/{public}/messages"),
            format!("/api/rooms/{private}/messages"),
        ] {
            before.push(get(&s, u, &path).await);
        }
    }

    // Stop with SIGTERM and start again on the same data directory. (Not
    // `Server::restart()`: its respawn closes the server's stdout, and the
    // server then dies of EPIPE printing its listening line.)
    s.signal("TERM");
    assert_eq!(s.wait_exit(), Some(0), "SIGTERM exits 0");
    let old = s;
    let s = Server::spawn(&old.server.dir, "127.0.0.1:0", &["--message-rate", "0"]);

    let mut after = Vec::new();
    for u in [&alice, &bob] {
        for path in [
            "/api/users/me".to_owned(),
            "/api/rooms".to_owned(),
            format!("/api/rooms/{public}/messages"),
            format!("/api/rooms/{private}/messages"),
        ] {
            after.push(get(&s, u, &path).await);
        }
    }
    for (b, a) in before.iter().zip(&after) {
        assert_eq!(a.0, 200, "after restart: {}", a.1);
        assert_eq!(without_online(&a.1), without_online(&b.1));
    }
    assert_eq!(texts(&after[2].1), expected(0..7));
    // Login still works, and new messages go after the old ones.
    let r = login_raw(&s, "bob", PASSWORD).await;
    assert_eq!(r.status, 200);
    let mut c = Client::connect(&s, &alice).await;
    join(&mut c, &public).await;
    send_many(&mut c, &public, &["after restart".to_owned()]).await;
    let (_, p) = get(&s, &alice, &format!("/api/rooms/{public}/messages")).await;
    let mut want = expected(0..7);
    want.push("after restart".into());
    assert_eq!(texts(&p), want);
}

#[tokio::test]
async fn security_headers_on_api_and_web_client() {
    let s = start().await;
    let alice = register(&s, "alice").await;
    let responses = [
        ("GET /", get_res(&s, "/", None).await),
        ("GET /healthz", get_res(&s, "/healthz", None).await),
        (
            "GET /api/users/me",
            get_res(&s, "/api/users/me", Some(&alice.token)).await,
        ),
        (
            "GET /api/rooms",
            get_res(&s, "/api/rooms", Some(&alice.token)).await,
        ),
        (
            "GET /api/users/me without token",
            get_res(&s, "/api/users/me", None).await,
        ),
        (
            "POST /api/users/login bad",
            login_raw(&s, "alice", "wrong password").await,
        ),
        (
            "GET unknown path",
            get_res(&s, "/api/nothing-here", Some(&alice.token)).await,
        ),
    ];
    assert_eq!(responses[0].1.status, 200, "the web client is served at /");
    for (what, r) in &responses {
        let h = |name: &str| {
            r.headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        assert!(
            h("content-security-policy").is_some_and(|v| !v.trim().is_empty()),
            "{what}: Content-Security-Policy missing"
        );
        assert_eq!(
            h("x-content-type-options").as_deref(),
            Some("nosniff"),
            "{what}: X-Content-Type-Options"
        );
        assert_eq!(
            h("referrer-policy").as_deref(),
            Some("no-referrer"),
            "{what}: Referrer-Policy"
        );
    }
}

#[tokio::test]
async fn logs_never_contain_tokens_or_passwords() {
    let _cpu = CPU.read().await;
    let tmp = tempfile::tempdir().expect("tempdir");
    let log_path = tmp.path().join("stderr.log");
    let log = std::fs::File::create(&log_path).expect("log file");
    let mut child = common::command(tmp.path())
        .arg("serve")
        .args(["--bind", "127.0.0.1:0", "--message-rate", "0"])
        .arg("--data-dir")
        .arg(tmp.path().join("data"))
        .env("RUST_LOG", "debug")
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log))
        .spawn()
        .expect("spawn");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stdout));
        if let Some(Ok(line)) = lines.next() {
            let _ = tx.send(line);
        }
        for _ in lines {}
    });
    let line = rx.recv_timeout(WAIT).expect("listening line");
    let addr = line
        .strip_prefix("chatroom listening on http://")
        .expect("listening line")
        .trim()
        .to_owned();
    let url = |p: &str| format!("http://{addr}{p}");

    let password = "Sup3r-Secret-Passw0rd-xyzzy";
    let wrong = "Wr0ng-Passw0rd-plugh";
    let r = send(
        http()
            .post(url("/api/users/register"))
            .json(&json!({"username": "logger", "password": password})),
    )
    .await;
    assert_eq!(r.status, 201);
    let t1 = r.body["token"].as_str().expect("token").to_owned();
    let r = send(
        http()
            .post(url("/api/users/login"))
            .json(&json!({"username": "logger", "password": password})),
    )
    .await;
    assert_eq!(r.status, 200);
    let t2 = r.body["token"].as_str().expect("token").to_owned();
    let r = send(
        http()
            .post(url("/api/users/login"))
            .json(&json!({"username": "logger", "password": wrong})),
    )
    .await;
    assert_eq!(r.status, 401);
    let r = send(http().get(url("/api/users/me")).bearer_auth(&t1)).await;
    assert_eq!(r.status, 200);
    let r = send(
        http()
            .post(url("/api/rooms"))
            .bearer_auth(&t1)
            .json(&json!({"name": "logs"})),
    )
    .await;
    assert_eq!(r.status, 201);
    let rid = r.body["id"].as_str().expect("id").to_owned();
    // The WebSocket with the token in the query string, as browsers do.
    let (mut ws, _) = tokio::time::timeout(
        WAIT,
        tokio_tungstenite::connect_async(format!("ws://{addr}/ws?token={t2}")),
    )
    .await
    .expect("connect in time")
    .expect("connect");
    use futures_util::SinkExt;
    ws.send(WsMessage::text(
        json!({"event": "joinRoom", "data": {"roomId": rid}, "ref": "j"}).to_string(),
    ))
    .await
    .expect("send");
    ws.send(WsMessage::text(
        json!({"event": "sendMessage", "data": {"message": "hello"}, "ref": "m"}).to_string(),
    ))
    .await
    .expect("send");
    let mut acks = 0;
    while acks < 2 {
        let m = tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("frame in time")
            .expect("open")
            .expect("frame");
        if let WsMessage::Text(t) = m {
            let f: Value = serde_json::from_str(&t).expect("json");
            if f["ref"] == "j" || f["ref"] == "m" {
                assert_eq!(f["event"], "ack", "{f}");
                acks += 1;
            }
        }
    }
    // A refused upgrade with a bad query token, too.
    let bad = format!("{t2}x");
    assert!(
        tokio_tungstenite::connect_async(format!("ws://{addr}/ws?token={bad}"))
            .await
            .is_err()
    );
    drop(ws);
    tokio::time::sleep(Duration::from_millis(100)).await;

    let status = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .expect("kill");
    assert!(status.success());
    let deadline = Instant::now() + WAIT;
    let code = loop {
        if let Some(st) = child.try_wait().expect("try_wait") {
            break st.code();
        }
        assert!(Instant::now() < deadline, "server did not stop");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(code, Some(0));
    let log = std::fs::read_to_string(&log_path).expect("log");
    assert!(
        log.contains("/api/users/login"),
        "the debug log has request lines at all:\n{log}"
    );
    for (what, secret) in [("password", password), ("wrong password", wrong)] {
        assert!(!log.contains(secret), "the log contains the {what}:\n{log}");
    }
    for (what, t) in [
        ("register token", &t1),
        ("login token", &t2),
        ("bad token", &bad),
    ] {
        let sig = t.rsplit('.').next().expect("sig");
        assert!(
            !log.contains(sig),
            "the log contains the {what} (its signature):\n{log}"
        );
        let payload = t.split('.').nth(1).expect("payload");
        assert!(
            !log.contains(payload),
            "the log contains the {what} (its payload):\n{log}"
        );
    }
}
