//! The REST API against the contract (`PROTOCOL.md`): accounts, tokens,
//! bad input, rooms, history, members, restart, headers and logs.
//!
//! Every test starts its own server, so that per-address login throttling
//! and data never leak from one test into another.

use crate::common;

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::process::Stdio;
use std::time::Duration;

use common::*;
use serde_json::{json, Value};

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

/// A fresh server with these users registered, in this order.
async fn with_users<const N: usize>(names: [&str; N]) -> (Fresh, [User; N]) {
    let s = start().await;
    let users = register_all(&s, names).await;
    (s, users)
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

/// The body of a registration or a login.
fn credentials(name: &str, password: &str) -> Value {
    json!({"username": name, "password": password})
}

async fn register_raw(s: &Server, name: &str, password: &str) -> Res {
    post(s, "/api/users/register", None, credentials(name, password)).await
}

async fn login_raw(s: &Server, name: &str, password: &str) -> Res {
    post(s, "/api/users/login", None, credentials(name, password)).await
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

/// Sends messages on a joined connection, pipelined, and waits for every
/// ack; returns the acked ids in sending order.
async fn send_many(c: &mut Client, room: &str, texts: &[String]) -> Vec<String> {
    let (answers, _) = c.send_pipelined(Some(room), texts).await;
    answers
        .iter()
        .map(|a| {
            assert_eq!(a["event"], "ack", "sendMessage answer: {a}");
            a["data"]["id"].as_str().expect("ack id").to_owned()
        })
        .collect()
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

#[test]
fn jwt_helpers_match_known_vectors() {
    // Computed apart: base64url('{"alg":"HS256"}') "." base64url('{}'),
    // then its HMAC-SHA256 with the key "key".
    assert_eq!(
        sign_hs256(&json!({"alg": "HS256"}), &json!({}), b"key"),
        "eyJhbGciOiJIUzI1NiJ9.e30.FOOB1UqKAhjxqs3lV7BidJ12zFAsIGq1erQfNyaFf80"
    );
    assert_eq!(
        b64url_json(&json!({"alg": "none", "typ": "JWT"})),
        "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0"
    );
    let claims = json!({"sub": "0000000000000001", "name": "alice", "exp": 1});
    let token = forge_token(&claims, b"key");
    assert_eq!(token_claims(&token), claims);
    assert_eq!(token_header(&token)["alg"], "HS256");
}

// ---------------------------------------------------------------------------
// accounts

#[tokio::test]
async fn health_answers_ok() {
    let s = start().await;
    let r = get_res(&s, "/healthz", None).await;
    assert_eq!(r.status, 200);
    if crate::common::cluster::on_postgres() {
        // A node on the shared store also reports it (an addition).
        assert_eq!(r.body["status"], "ok", "{}", r.body);
        assert_eq!(r.body["store"]["kind"], "postgres", "{}", r.body);
    } else {
        assert_eq!(r.body, json!({"status": "ok"}));
    }
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
    let claims = token_claims(&token);
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
            .json(&credentials(name, password)),
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
    let (s, [alice, _bob]) = with_users(["alice", "bob"]).await;
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
    let req = http().post(s.url("/api/users/login"));
    let req = req.header("x-forwarded-for", forwarded_for);
    send(req.json(&credentials(name, password))).await
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

/// Alice, the owner of a private room, and the path of its members.
async fn with_private_room(s: &Server) -> (User, String) {
    let alice = register(s, "alice").await;
    let room = room_id(s, &alice, "priv", true).await;
    (alice, format!("/api/rooms/{room}/members"))
}

#[tokio::test]
async fn malformed_json_is_invalid_json() {
    let s = start().await;
    let (alice, members) = with_private_room(&s).await;
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
    let (alice, members) = with_private_room(&s).await;
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
    let (s, [alice]) = with_users(["alice"]).await;
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

/// Sends `head` on a raw connection, then the `body` pieces from another
/// thread (so that a server answering early, and closing, cannot make this
/// side lose its answer), and asserts a 413 `payload_too_large`, after
/// which the server is still healthy.
async fn assert_raw_413(s: &Server, what: &str, head: &str, body: Vec<Vec<u8>>) {
    let mut stream = std::net::TcpStream::connect(&s.addr).expect("connect");
    stream.write_all(head.as_bytes()).expect("write head");
    let mut writer = stream.try_clone().expect("clone");
    let sender = std::thread::spawn(move || {
        for piece in body {
            if writer.write_all(&piece).is_err() {
                return;
            }
        }
    });
    let (status, head, body) = read_http_response(&mut stream, WAIT);
    let _ = sender.join();
    let body: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    assert_error(
        &format!("{what} ({head})"),
        status,
        &body,
        413,
        "payload_too_large",
    );
    drop(stream);
    let r = get_res(s, "/healthz", None).await;
    assert_eq!(r.status, 200, "still healthy");
}

#[tokio::test]
async fn oversized_chunked_body_is_413() {
    let s = start().await;
    let head = format!(
        "POST /api/users/register HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
        s.addr
    );
    let chunk = " ".repeat(4096);
    let mut body = vec![b"d\r\n{\"username\": \r\n".to_vec()];
    body.extend((0..20).map(|_| format!("{:x}\r\n{chunk}\r\n", chunk.len()).into_bytes()));
    body.push(b"1a\r\n\"x\", \"password\": \"y\"}      \r\n0\r\n\r\n".to_vec());
    assert_raw_413(&s, "chunked 80 KiB body", &head, body).await;
}

#[tokio::test]
async fn oversized_body_with_expect_continue_is_413_before_the_body() {
    let s = start().await;
    let head = format!(
        "POST /api/users/register HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nExpect: 100-continue\r\n\r\n",
        s.addr,
        100 * 1024
    );
    // No body is sent: the answer must come without it, and not be 100.
    assert_raw_413(&s, "Expect: 100-continue", &head, Vec::new()).await;
}

// ---------------------------------------------------------------------------
// tokens

const KNOWN_SECRET: &str = "integration-test-secret-0123456789abcdef";

#[tokio::test]
async fn missing_and_malformed_tokens_are_unauthorized() {
    let (s, [alice]) = with_users(["alice"]).await;
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
    let mut parts: Vec<&str> = alice.token.split('.').collect();
    parts[2] = ZERO_SIGNATURE;
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
    let real_header = token_header(&alice.token);
    let claims = token_claims(&alice.token);
    assert_eq!(
        real_header["alg"], "HS256",
        "tokens are HS256: {real_header}"
    );

    // Control: the same claims signed here with the server's secret work,
    // so the refusals below are about the key and the algorithm only.
    let control = forge_token(&claims, KNOWN_SECRET.as_bytes());
    let r = get_res(&s, "/api/users/me", Some(&control)).await;
    assert_eq!(r.status, 200, "a correctly signed token: {}", r.text);

    let secret = KNOWN_SECRET.as_bytes();
    let mut refused = Vec::new();

    // Signed with another key.
    let other = b"another-secret-another-secret-another";
    refused.push((
        "token signed with another key".to_owned(),
        forge_token(&claims, other),
    ));

    // alg: none with the real payload, with and without a signature.
    let payload = alice.token.split('.').nth(1).expect("payload");
    let sig = alice.token.split('.').nth(2).expect("sig");
    for header in [
        json!({"alg": "none", "typ": "JWT"}),
        json!({"alg": "None"}),
        json!({"alg": "NONE", "typ": "JWT"}),
    ] {
        let h = b64url_json(&header);
        for t in [
            format!("{h}.{payload}."),
            format!("{h}.{payload}"),
            format!("{h}.{payload}.{sig}"),
        ] {
            refused.push((format!("alg none token {t}"), t));
        }
    }

    // Another algorithm named in the header (the HS256 signature is over it).
    let hs384 = json!({"alg": "HS384", "typ": "JWT"});
    refused.push((
        "alg HS384 header".to_owned(),
        sign_hs256(&hs384, &claims, secret),
    ));

    // Expired, correctly signed.
    let mut expired = claims.clone();
    expired["iat"] = json!(now_secs() - 3600);
    expired["exp"] = json!(now_secs() - 60);
    refused.push(("expired token".to_owned(), forge_token(&expired, secret)));

    // Without exp at all.
    let mut no_exp = claims.clone();
    no_exp.as_object_mut().expect("object").remove("exp");
    refused.push(("token without exp".to_owned(), forge_token(&no_exp, secret)));

    // Correctly signed, for a user that does not exist.
    let mut ghost = claims.clone();
    ghost["sub"] = json!(if claims["sub"] == "0000000000000001" {
        "0000000000000002"
    } else {
        "0000000000000001"
    });
    ghost["name"] = json!("ghost");
    let what = "token of a user that does not exist".to_owned();
    refused.push((what, forge_token(&ghost, secret)));

    for (what, token) in &refused {
        let r = get_res(&s, "/api/users/me", Some(token)).await;
        check_error(what, &r, 401, "unauthorized");
    }
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

/// `POST /api/rooms` as `u` with `body`, whatever the answer.
async fn create_room_raw(s: &Server, u: &User, body: Value) -> Res {
    post(s, "/api/rooms", Some(&u.token), body).await
}

#[tokio::test]
async fn create_rooms_public_and_private() {
    let (s, [alice]) = with_users(["alice"]).await;
    let r = create_room_raw(
        &s,
        &alice,
        json!({"name": "general", "description": "Talk about anything"}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_room_object(&r.body, "general", false, &alice);
    assert_eq!(r.body["description"], "Talk about anything");
    assert_eq!(r.body["online"], 0);

    let r = create_room_raw(&s, &alice, json!({"name": "secret", "private": true})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_room_object(&r.body, "secret", true, &alice);
    assert_eq!(r.body["description"], "");
    let (status, shown) = get(&s, &alice, &format!("/api/rooms/{}", id_of(&r.body))).await;
    assert_eq!(status, 200);
    assert_eq!(shown, r.body, "GET of the room equals the created room");

    let r = create_room_raw(&s, &alice, json!({"name": "open", "private": false})).await;
    assert_eq!(r.status, 201);
    assert_eq!(r.body["private"], false);
}

#[tokio::test]
async fn room_name_and_description_rules() {
    let (s, [alice]) = with_users(["alice"]).await;
    let create = |body: Value| create_room_raw(&s, &alice, body);
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
    let (s, [alice, bob]) = with_users(["alice", "bob"]).await;
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
            let r = create_room_raw(&s, who, json!({"name": name, "private": private})).await;
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
    let (s, [alice, bob]) = with_users(["alice", "bob"]).await;
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
    let (s, [alice, bob]) = with_users(["alice", "bob"]).await;
    let sid = room_id(&s, &alice, "secret", true).await;
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
    let (s, [alice]) = with_users(["alice"]).await;
    let rid = room_id(&s, &alice, "general", false).await;
    let oid = room_id(&s, &alice, "other", false).await;

    let (status, body) = get(&s, &alice, &format!("/api/rooms/{rid}/messages")).await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"messages": [], "hasMore": false}),
        "empty room"
    );

    let mut c = Client::connect(&s, &alice).await;
    c.join(&oid).await;
    send_many(&mut c, &oid, &["elsewhere".to_owned()]).await;
    c.join(&rid).await;
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
        let first = id_of(&p["messages"][0]);
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
    let (s, [alice]) = with_users(["alice"]).await;
    let rid = room_id(&s, &alice, "general", false).await;
    let (status, body) = get(&s, &alice, &format!("/api/rooms/{rid}/online")).await;
    assert_eq!(status, 200);
    assert_eq!(body, json!({"roomId": rid, "users": []}));

    let mut c = Client::connect(&s, &alice).await;
    c.join(&rid).await;
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
    // olga: owner, mike: member, nina: outsider.
    let (s, [olga, mike, nina]) = with_users(["olga", "mike", "nina"]).await;
    let p = room_id(&s, &olga, "private", true).await;
    let q = room_id(&s, &olga, "public", false).await;
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

    // Refusals, none of which changes anything: (who, room, member, the
    // status and code expected).
    for (who, room, name, status, code) in [
        (&olga, &p, "nobody", 404, "not_found"), // an unknown username
        (&mike, &p, "nina", 403, "forbidden"),   // a member, not the owner
        (&nina, &p, "nina", 404, "not_found"),   // a non-member, itself
        (&nina, &p, "mike", 404, "not_found"),   // a non-member, another
        (&olga, &q, "mike", 400, "validation_failed"), // a public room
    ] {
        let r = add(who, room, name).await;
        check_error(&format!("{} adds {name}", who.name), &r, status, code);
    }
    for (who, room, name, status, code) in [
        (&mike, &p, "olga", 403, "forbidden"), // a member, not the owner
        (&nina, &p, "nina", 404, "not_found"), // a non-member, itself
        (&nina, &p, "mike", 404, "not_found"), // a non-member, a member
        (&nina, &p, "olga", 404, "not_found"), // a non-member, the owner
        (&nina, &p, "nobody", 404, "not_found"), // a non-member, unknown
        (&olga, &q, "mike", 400, "validation_failed"), // a public room
        (&olga, &p, "nina", 404, "not_found"), // not a member
        (&olga, &p, "nobody", 404, "not_found"), // an unknown user
        (&olga, &p, "olga", 400, "validation_failed"), // the owner, not even by itself
    ] {
        let r = remove(who, room, name).await;
        check_error(&format!("{} removes {name}", who.name), &r, status, code);
    }
    // A non-member gets 404 from every endpoint under the room.
    for path in ["", "/messages", "/online"] {
        let r = get_res(&s, &format!("/api/rooms/{p}{path}"), Some(&nina.token)).await;
        check_error(&format!("non-member GET {path}"), &r, 404, "not_found");
    }
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
    let (s, [olga, mike]) = with_users(["olga", "mike"]).await;
    let p = room_id(&s, &olga, "private", true).await;
    add_member(&s, &olga, &p, "mike").await;

    let mut co = Client::connect(&s, &olga).await;
    let mut cm = Client::connect(&s, &mike).await;
    co.join(&p).await;
    cm.join(&p).await;
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

/// The answer to a GET of each path, as each user in turn.
async fn every_answer(s: &Server, users: &[&User], paths: &[String]) -> Vec<(u16, Value)> {
    let mut out = Vec::new();
    for u in users {
        for path in paths {
            out.push(get(s, u, path).await);
        }
    }
    out
}

#[tokio::test]
async fn restart_keeps_all_data() {
    let mut s = Fresh {
        _cpu: CPU.read().await,
        server: Server::start_process(),
    };
    let [alice, bob] = register_all(&s, ["alice", "bob"]).await;
    let public = room_id(&s, &alice, "general", false).await;
    let private = room_id(&s, &alice, "secret", true).await;
    add_member(&s, &alice, &private, "bob").await;
    {
        let mut c = Client::connect(&s, &alice).await;
        c.join(&public).await;
        send_many(&mut c, &public, &expected(0..7)).await;
        c.join(&private).await;
        send_many(&mut c, &private, &["psst".to_owned()]).await;
    }
    let paths = [
        "/api/users/me".to_owned(),
        "/api/rooms".to_owned(),
        format!("/api/rooms/{public}/messages"),
        format!("/api/rooms/{private}/messages"),
    ];
    let before = every_answer(&s, &[&alice, &bob], &paths).await;

    // Stop with SIGTERM and start again on the same data directory. (Not
    // `Server::restart()`: its respawn closes the server's stdout, and the
    // server then dies of EPIPE printing its listening line.)
    s.signal("TERM");
    assert_eq!(s.wait_exit(), Some(0), "SIGTERM exits 0");
    let old = s;
    let s = Server::spawn(&old.server.dir, "127.0.0.1:0", &["--message-rate", "0"]);

    let after = every_answer(&s, &[&alice, &bob], &paths).await;
    for (b, a) in before.iter().zip(&after) {
        assert_eq!(a.0, 200, "after restart: {}", a.1);
        assert_eq!(without_online(&a.1), without_online(&b.1));
    }
    assert_eq!(texts(&after[2].1), expected(0..7));
    // Login still works, and new messages go after the old ones.
    let r = login_raw(&s, "bob", PASSWORD).await;
    assert_eq!(r.status, 200);
    let mut c = Client::connect(&s, &alice).await;
    c.join(&public).await;
    send_many(&mut c, &public, &["after restart".to_owned()]).await;
    let (_, p) = get(&s, &alice, &format!("/api/rooms/{public}/messages")).await;
    let mut want = expected(0..7);
    want.push("after restart".into());
    assert_eq!(texts(&p), want);
}

#[tokio::test]
async fn security_headers_on_api_and_web_client() {
    let (s, [alice]) = with_users(["alice"]).await;
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
    let mut cmd = common::command(tmp.path());
    cmd.arg("serve")
        .args(["--bind", "127.0.0.1:0", "--message-rate", "0"])
        .arg("--data-dir")
        .arg(tmp.path().join("data"))
        .env("RUST_LOG", "debug")
        .stderr(Stdio::from(log));
    let mut server = ServeProcess::start(cmd);
    let addr = server.addr.clone();
    let url = |p: &str| format!("http://{addr}{p}");
    let account = |path: &str, password: &str| {
        let req = http().post(url(path));
        send(req.json(&credentials("logger", password)))
    };

    let password = "Sup3r-Secret-Passw0rd-xyzzy";
    let wrong = "Wr0ng-Passw0rd-plugh";
    let r = account("/api/users/register", password).await;
    assert_eq!(r.status, 201);
    let t1 = r.body["token"].as_str().expect("token").to_owned();
    let r = account("/api/users/login", password).await;
    assert_eq!(r.status, 200);
    let t2 = r.body["token"].as_str().expect("token").to_owned();
    let r = account("/api/users/login", wrong).await;
    assert_eq!(r.status, 401);
    let r = send(http().get(url("/api/users/me")).bearer_auth(&t1)).await;
    assert_eq!(r.status, 200);
    let req = http().post(url("/api/rooms")).bearer_auth(&t1);
    let r = send(req.json(&json!({"name": "logs"}))).await;
    assert_eq!(r.status, 201);
    let rid = id_of(&r.body);
    // The WebSocket with the token in the query string, as browsers do.
    let (ws, _) = tokio::time::timeout(
        WAIT,
        tokio_tungstenite::connect_async(format!("ws://{addr}/ws?token={t2}")),
    )
    .await
    .expect("connect in time")
    .expect("connect");
    let mut c = Client::from_ws(ws);
    c.join(&rid).await;
    let ack = c.call("sendMessage", json!({"message": "hello"})).await;
    assert_eq!(ack["event"], "ack", "{ack}");
    // A refused upgrade with a bad query token, too.
    let bad = format!("{t2}x");
    assert!(
        tokio_tungstenite::connect_async(format!("ws://{addr}/ws?token={bad}"))
            .await
            .is_err()
    );
    drop(c);
    tokio::time::sleep(Duration::from_millis(100)).await;
    server.signal("TERM");
    assert_eq!(server.wait_exit(WAIT), Some(0));
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
