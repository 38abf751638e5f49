//! Connections and requests under misbehaving clients: silent and slow
//! sockets are closed after bounded timeouts, open connections are capped
//! below the descriptor limit, only HTTP/1.1 is spoken, and refusals of
//! oversized heads, bad tokens and the static files' encoding follow the
//! contract.

use crate::common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{read_http_response, read_until_close, ServeProcess, Server, WAIT};
use serde_json::Value;

// --- helpers ------------------------------------------------------------

fn connect(addr: &str) -> TcpStream {
    let s = TcpStream::connect(addr).expect("connect");
    s.set_nodelay(true).expect("nodelay");
    s
}

/// Reads (and drops) whatever arrives until the peer closes; returns how
/// long that took, or `None` if the socket is still open after `limit`.
fn time_to_close(stream: &mut TcpStream, limit: Duration) -> Option<Duration> {
    read_until_close(stream, limit).1
}

/// Everything the peer sends until it closes (bounded by [`WAIT`]).
fn read_to_close(stream: &mut TcpStream) -> Vec<u8> {
    match read_until_close(stream, WAIT) {
        (out, Some(_)) => out,
        (out, None) => panic!(
            "connection still open after {WAIT:?}; got {:?}",
            String::from_utf8_lossy(&out)
        ),
    }
}

/// One HTTP response: status, lower-cased head, body.
struct Res {
    status: u16,
    head: String,
    body: String,
}

impl Res {
    fn header(&self, name: &str) -> Option<String> {
        let prefix = format!("{}:", name.to_ascii_lowercase());
        self.head
            .lines()
            .find_map(|l| l.strip_prefix(&prefix).map(|v| v.trim().to_owned()))
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}\n{}", self.body, self.head))
    }
}

/// Reads one response (Content-Length bodies) within `limit`; the head
/// lowercased, so header names compare without regard to case.
fn read_response(stream: &mut TcpStream, limit: Duration) -> Res {
    let (status, head, body) = read_http_response(stream, limit);
    Res {
        status,
        head: head.to_ascii_lowercase(),
        body,
    }
}

/// Sends `request` on a fresh connection and reads the response.
fn exchange(addr: &str, request: &[u8]) -> Res {
    let mut s = connect(addr);
    s.write_all(request).expect("write");
    read_response(&mut s, WAIT)
}

/// A refusal: `status`, the contract's error body with `code`, and the
/// security headers.
fn assert_refusal(r: &Res, status: u16, code: &str) {
    assert_eq!(r.status, status, "{}", r.body);
    assert_eq!(r.json()["error"]["code"], code);
    assert_security_headers(r);
}

fn assert_security_headers(r: &Res) {
    for h in [
        "content-security-policy",
        "x-content-type-options",
        "referrer-policy",
        "x-frame-options",
    ] {
        assert!(r.header(h).is_some(), "{h} missing in:\n{}", r.head);
    }
}

/// A server process started by hand: a descriptor limit set before it
/// runs, and its standard error collected.
struct Proc {
    serve: ServeProcess,
    stderr: Arc<Mutex<Vec<String>>>,
    _tmp: tempfile::TempDir,
}

impl Proc {
    fn start(args: &[&str], nofile: Option<u64>) -> Proc {
        let tmp = tempfile::tempdir().expect("tempdir");
        let mut cmd = common::command(tmp.path());
        cmd.args(["serve", "--bind", "127.0.0.1:0", "--data-dir"])
            .arg(tmp.path().join("data"))
            .args(args)
            .stderr(Stdio::piped());
        if let Some(n) = nofile {
            use std::os::unix::process::CommandExt;
            // SAFETY: setrlimit is async-signal-safe and touches only the
            // child about to exec.
            unsafe {
                cmd.pre_exec(move || {
                    let lim = libc::rlimit {
                        rlim_cur: n,
                        rlim_max: n,
                    };
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        let mut serve = ServeProcess::start(cmd);
        let stderr = serve.child.stderr.take().expect("stderr");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().expect("lock").push(line);
            }
        });
        Proc {
            serve,
            stderr: lines,
            _tmp: tmp,
        }
    }

    fn addr(&self) -> &str {
        &self.serve.addr
    }

    fn log_lines_with(&self, text: &str) -> usize {
        self.stderr
            .lock()
            .expect("lock")
            .iter()
            .filter(|l| l.contains(text))
            .count()
    }
}

const HEALTHZ: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";

// --- 1. silent connections, keep-alive, HTTP/2 ---------------------------

#[test]
fn silent_connections_are_closed_after_the_header_timeout() {
    let s = Server::start_with(&["--header-timeout", "1"]);
    let mut socks: Vec<TcpStream> = (0..20).map(|_| connect(&s.addr)).collect();
    let start = Instant::now();
    for sock in &mut socks {
        let left = Duration::from_secs(6).saturating_sub(start.elapsed());
        assert!(
            time_to_close(sock, left).is_some(),
            "a silent connection is still open after {:?}",
            start.elapsed()
        );
    }
    assert!(
        start.elapsed() >= Duration::from_millis(800),
        "closed too early"
    );
}

#[test]
fn partial_http2_preface_is_closed_after_the_header_timeout() {
    let s = Server::start_with(&["--header-timeout", "1"]);
    let mut sock = connect(&s.addr);
    sock.write_all(b"PRI * HTTP/2.0\r\n").expect("write");
    // Closed at once (hyper refuses the `HTTP/2.0` request line) or at
    // the latest when the header timeout runs out.
    time_to_close(&mut sock, Duration::from_secs(6))
        .expect("connection with a partial HTTP/2 preface closed");
}

#[test]
fn partial_request_head_is_closed_after_the_header_timeout() {
    let s = Server::start_with(&["--header-timeout", "1"]);
    let mut sock = connect(&s.addr);
    sock.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .expect("write");
    let took = time_to_close(&mut sock, Duration::from_secs(6))
        .expect("connection with half a request head closed");
    assert!(took >= Duration::from_millis(800), "closed after {took:?}");
}

#[test]
fn idle_keep_alive_connection_is_closed_after_the_header_timeout() {
    let s = Server::start_with(&["--header-timeout", "1"]);
    let mut sock = connect(&s.addr);
    // Two requests on one connection: keep-alive works...
    for _ in 0..2 {
        sock.write_all(HEALTHZ).expect("write");
        let r = read_response(&mut sock, WAIT);
        assert_eq!(r.status, 200);
        assert_ne!(r.header("connection").as_deref(), Some("close"));
    }
    // ...and the idle gap after the last response is bounded too.
    let took = time_to_close(&mut sock, Duration::from_secs(6))
        .expect("idle keep-alive connection closed");
    assert!(took >= Duration::from_millis(700), "closed after {took:?}");
}

#[test]
fn http2_prior_knowledge_is_refused() {
    let s = Server::start();
    let mut sock = connect(&s.addr);
    // The client preface, then an empty SETTINGS frame.
    sock.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        .expect("write");
    // An HTTP/2 server would answer with its own SETTINGS frame; this one
    // closes the connection without a byte.
    let got = read_to_close(&mut sock);
    assert!(got.is_empty(), "answered: {got:?}");
}

// --- 1. the connection cap -------------------------------------------------

#[test]
fn connections_over_the_descriptor_cap_wait_and_healthz_answers_once_timeouts_free_slots() {
    // 64 descriptors: the cap is 32 connections.
    let p = Proc::start(&["--header-timeout", "1"], Some(64));
    let silent: Vec<TcpStream> = (0..60).map(|_| connect(p.addr())).collect();
    std::thread::sleep(Duration::from_millis(300));
    let start = Instant::now();
    let r = exchange_within(p.addr(), HEALTHZ, Duration::from_secs(8));
    assert_eq!(r.status, 200, "{}", r.body);
    let took = start.elapsed();
    // And the server is still healthy afterwards.
    assert_eq!(exchange(p.addr(), HEALTHZ).status, 200);
    assert_eq!(
        p.log_lines_with("accept failed"),
        0,
        "the cap should keep accept from running out of descriptors"
    );
    assert!(p.log_lines_with("TCP connection limit reached") >= 1);
    drop(silent);
    eprintln!("healthz behind 60 silent sockets (cap 32) answered in {took:?}");
}

fn exchange_within(addr: &str, request: &[u8], limit: Duration) -> Res {
    let mut s = connect(addr);
    s.write_all(request).expect("write");
    read_response(&mut s, limit)
}

#[test]
fn connection_limit_warning_is_logged_at_most_once_a_second() {
    let p = Proc::start(
        &["--header-timeout", "1", "--max-tcp-connections", "20"],
        None,
    );
    // 50 new silent connections a second for 4 s against 20 slots freed
    // once a second: the cap is hit over and over.
    let start = Instant::now();
    let mut socks = Vec::new();
    while start.elapsed() < Duration::from_secs(4) {
        socks.push(connect(p.addr()));
        std::thread::sleep(Duration::from_millis(20));
    }
    let secs = start.elapsed().as_secs_f64();
    std::thread::sleep(Duration::from_millis(200));
    let n = p.log_lines_with("TCP connection limit reached");
    assert!(n >= 1, "the cap being reached is logged");
    assert!(
        (n as f64) <= secs + 2.0,
        "{n} warnings in {secs:.1} s: more than one a second"
    );
    eprintln!(
        "{n} cap warnings in {secs:.1} s with {} connections",
        socks.len()
    );
}

#[tokio::test]
async fn websocket_keeps_its_connection_slot_after_the_upgrade() {
    let s = Server::start_with(&[
        "--message-rate",
        "0",
        "--header-timeout",
        "1",
        "--max-tcp-connections",
        "2",
    ]);
    let u = common::register(&s, "alice").await;
    // Let the registration's keep-alive connection time out.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let a = common::Client::connect(&s, &u).await;
    let mut b = common::Client::connect(&s, &u).await;
    let addr = s.addr.clone();
    let waiting = std::thread::spawn(move || {
        let mut sock = connect(&addr);
        sock.write_all(HEALTHZ).expect("write");
        let start = Instant::now();
        let r = read_response(&mut sock, WAIT);
        (r.status, start.elapsed())
    });
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        !waiting.is_finished(),
        "a third connection was served while two WebSockets held both slots"
    );
    b.ws.close(None).await.expect("close");
    let _ = b.close_code().await;
    drop(b);
    let (status, took) = tokio::task::spawn_blocking(move || waiting.join().expect("thread"))
        .await
        .expect("join");
    assert_eq!(status, 200);
    assert!(
        took >= Duration::from_millis(1400),
        "answered after {took:?}"
    );
    drop(a);
}

// --- 2. request bodies -----------------------------------------------------

#[test]
fn slow_body_gets_408_and_the_connection_is_closed() {
    let s = Server::start_with(&["--body-timeout", "1"]);
    let mut sock = connect(&s.addr);
    sock.write_all(
        b"POST /api/users/register HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 60\r\n\r\n{\"use",
    )
    .expect("write");
    // One byte every 300 ms: never complete within the timeout.
    let mut trickle = sock.try_clone().expect("clone");
    let writer = std::thread::spawn(move || {
        for _ in 0..40 {
            std::thread::sleep(Duration::from_millis(300));
            if trickle.write_all(b" ").is_err() {
                return;
            }
        }
    });
    let start = Instant::now();
    let r = read_response(&mut sock, Duration::from_secs(6));
    let took = start.elapsed();
    assert_eq!(r.status, 408, "{}", r.body);
    assert_eq!(r.json()["error"]["code"], "request_timeout");
    assert_eq!(r.header("connection").as_deref(), Some("close"));
    assert_security_headers(&r);
    assert!(
        took >= Duration::from_millis(700),
        "answered after {took:?}"
    );
    assert!(
        time_to_close(&mut sock, Duration::from_secs(5)).is_some(),
        "connection closed after the 408"
    );
    let _ = sock.shutdown(std::net::Shutdown::Both);
    writer.join().expect("writer");
}

// --- 3. refusals of oversized heads --------------------------------------

/// `GET target` with `headers` (each ending in CRLF) after `Host`.
fn get_request(target: &str, headers: &str) -> String {
    format!("GET {target} HTTP/1.1\r\nHost: x\r\n{headers}\r\n")
}

/// `n` short header fields.
fn many_headers(n: usize) -> String {
    (0..n).map(|i| format!("X-H{i}: v\r\n")).collect()
}

#[test]
fn oversized_headers_get_431_with_the_error_body_and_security_headers() {
    let s = Server::start();
    let big = format!("X-Big: {}\r\n", "a".repeat(40 * 1024));
    for headers in [big, many_headers(150)] {
        let r = exchange(&s.addr, get_request("/healthz", &headers).as_bytes());
        assert_refusal(&r, 431, "headers_too_large");
    }
}

#[test]
fn long_uri_gets_414_with_the_error_body_and_security_headers() {
    let s = Server::start();
    let long = format!("/api/rooms?x={}", "a".repeat(10 * 1024));
    let r = exchange(&s.addr, get_request(&long, "").as_bytes());
    assert_refusal(&r, 414, "uri_too_long");
}

#[test]
fn heads_with_more_fields_than_hyper_parses_get_a_bare_431_and_are_closed() {
    // The documented exception: hyper refuses these itself, without the
    // contract's body.
    let s = Server::start();
    let mut sock = connect(&s.addr);
    sock.write_all(get_request("/healthz", &many_headers(250)).as_bytes())
        .expect("write");
    let got = read_to_close(&mut sock);
    assert!(
        got.starts_with(b"HTTP/1.1 431 "),
        "{:?}",
        String::from_utf8_lossy(&got)
    );
}

// --- 4. Authorization that is not UTF-8 ---------------------------------

#[test]
fn non_utf8_authorization_is_401() {
    let s = Server::start();
    let r = exchange(
        &s.addr,
        b"GET /api/users/me HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \xff\xfe\xfd\r\n\r\n",
    );
    assert_refusal(&r, 401, "unauthorized");
}

// --- 5. static files and Accept-Encoding ---------------------------------

#[tokio::test]
async fn static_files_are_gzipped_only_when_the_client_accepts_gzip() {
    let s = Server::start();
    let get = |enc: Option<&'static str>| {
        let url = s.url("/");
        async move {
            let mut req = common::http().get(url);
            if let Some(e) = enc {
                req = req.header("accept-encoding", e);
            }
            let res = req.send().await.expect("get /");
            assert_eq!(res.status(), 200);
            let h = res.headers().clone();
            let body = res.bytes().await.expect("body");
            (h, body)
        }
    };
    for enc in [None, Some("identity"), Some("gzip;q=0"), Some("br, *;q=0")] {
        let (h, body) = get(enc).await;
        assert!(h.get("content-encoding").is_none(), "{enc:?}: {h:?}");
        assert_eq!(
            h.get("vary").map(|v| v.as_bytes()),
            Some(&b"Accept-Encoding"[..])
        );
        assert!(
            String::from_utf8_lossy(&body)
                .to_ascii_lowercase()
                .contains("<html"),
            "{enc:?}: not the plain page"
        );
    }
    for enc in ["gzip", "gzip, deflate, br", "br;q=1, gzip;q=0.5", "*"] {
        let (h, body) = get(Some(enc)).await;
        assert_eq!(
            h.get("content-encoding").map(|v| v.as_bytes()),
            Some(&b"gzip"[..]),
            "{enc}: {h:?}"
        );
        assert_eq!(
            h.get("vary").map(|v| v.as_bytes()),
            Some(&b"Accept-Encoding"[..])
        );
        assert_eq!(&body[..2], &[0x1f, 0x8b], "{enc}: gzip magic");
    }
}

#[tokio::test]
async fn the_service_worker_names_this_build_and_its_files() {
    let s = Server::start();
    let res = common::http()
        .get(s.url("/sw.js"))
        .send()
        .await
        .expect("get /sw.js");
    assert_eq!(res.status(), 200);
    let h = res.headers().clone();
    let ctype = h
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    assert!(ctype.contains("javascript"), "{ctype}");
    assert!(h.get("content-security-policy").is_some());
    let etag = h
        .get("etag")
        .expect("etag")
        .to_str()
        .expect("ascii")
        .to_owned();
    let body = res.text().await.expect("body");
    assert!(!body.contains("__CHATROOM_"), "placeholders left: {body}");
    // The build id is the ETag, so a new build is a new script.
    let build = etag.trim_matches('"');
    assert_eq!(build.len(), 16, "{etag}");
    assert!(body.contains(&format!("const BUILD = '{build}';")));
    for file in [
        "\"index.html\"",
        "\"style.css\"",
        "\"js/app.js\"",
        "\"favicon.svg\"",
    ] {
        assert!(body.contains(file), "{file} missing from the file list");
    }
    assert!(!body.contains("\"sw.js\""), "the worker lists itself");

    let again = common::http()
        .get(s.url("/sw.js"))
        .header("if-none-match", etag.as_str())
        .send()
        .await
        .expect("revalidate /sw.js");
    assert_eq!(again.status(), 304);
}
