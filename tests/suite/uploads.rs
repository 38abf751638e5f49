//! Uploaded files: `POST /api/rooms/{roomId}/files` (raw and multipart),
//! `GET /api/files/{fileId}` (types, headers, ranges, conditional
//! requests), signed links, the size limit and the quota, who may see a
//! file, memory that does not grow with the file, and a crash in the
//! middle of an upload.

use crate::common;

use std::io::Write;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chatroom::files::links::Signer;
use common::*;
use serde_json::{json, Value};
use sha2::Digest;

const MIB: usize = 1024 * 1024;

/// The first bytes of a PNG: all that the type is judged from.
const PNG: &[u8] =
    b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89";

/// `n` bytes that compress badly and repeat rarely.
fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn sha_hex(bytes: &[u8]) -> String {
    chatroom::files::Sha256::of(bytes).to_string()
}

/// `X-Filename` as a client sends it: percent-encoded UTF-8.
fn encoded(name: &str) -> String {
    percent_encoding::utf8_percent_encode(name, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// Uploads `bytes` as the raw body; the status and the JSON answer.
async fn upload_raw(s: &Server, u: &User, room: &str, name: &str, bytes: &[u8]) -> (u16, Value) {
    let res = http()
        .post(s.url(&format!("/api/rooms/{room}/files")))
        .bearer_auth(&u.token)
        .header("content-type", "application/octet-stream")
        .header("x-filename", encoded(name))
        .body(bytes.to_vec())
        .send()
        .await
        .expect("upload");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

const BOUNDARY: &str = "----chatroom-test-boundary-7d2f";

/// A multipart body whose file part (after a small field) holds `bytes`,
/// as a browser's `FormData` sends it, with a `Content-Type` the server
/// must not believe.
fn multipart_body(name: &str, bytes: &[u8]) -> Vec<u8> {
    let mut body = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nignored\r\n\
         --{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\
         Content-Type: text/html\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    body
}

/// Uploads `bytes` as the one file part of a multipart body.
async fn upload_multipart(
    s: &Server,
    u: &User,
    room: &str,
    name: &str,
    bytes: &[u8],
) -> (u16, Value) {
    let res = http()
        .post(s.url(&format!("/api/rooms/{room}/files")))
        .bearer_auth(&u.token)
        .header(
            "content-type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(multipart_body(name, bytes))
        .send()
        .await
        .expect("upload");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// Uploads, which must succeed; the file's id.
async fn uploaded(s: &Server, u: &User, room: &str, name: &str, bytes: &[u8]) -> String {
    let (status, v) = upload_raw(s, u, room, name, bytes).await;
    assert_eq!(status, 201, "upload {name}: {v}");
    id_of(&v)
}

/// `GET path` with `token` (if any) and extra headers.
async fn get_file(
    s: &Server,
    path: &str,
    token: Option<&str>,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let mut req = http().get(s.url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.expect("get file")
}

fn header(res: &reqwest::Response, name: &str) -> String {
    res.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// Every blob file under the data directory's `files/` (not in `tmp`).
fn blobs_on_disk(data: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![data.join("files")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() && p.file_name() != Some("tmp".as_ref()) {
                stack.push(p);
            } else if p.is_file() {
                out.push(p);
            }
        }
    }
    out
}

fn tmp_files(data: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(data.join("files/tmp"))
        .expect("files/tmp")
        .flatten()
        .map(|e| e.path())
        .collect()
}

#[tokio::test]
async fn uploads_round_trip_with_their_hash_and_identical_bytes_are_stored_once() {
    let (s, [alice, bob], room) = general(["alice", "bob"]).await;
    let bytes = noise(700_000, 1);
    let (status, v) = upload_raw(&s, &alice, &room, "dir/data.bin", &bytes).await;
    assert_eq!(status, 201, "{v}");
    assert_eq!(v["name"], "data.bin", "the last path component only");
    assert_eq!(v["size"], bytes.len());
    assert_eq!(v["type"], "application/octet-stream");
    assert_eq!(v["sha256"], sha_hex(&bytes));
    assert!(v.get("width").is_none() && v.get("height").is_none());
    let (status, w) = upload_multipart(&s, &bob, &room, "copy.bin", &bytes).await;
    assert_eq!(status, 201, "{w}");
    assert_eq!(
        (w["name"].clone(), w["sha256"].clone()),
        (json!("copy.bin"), v["sha256"].clone())
    );
    assert_ne!(w["id"], v["id"]);
    assert_eq!(
        blobs_on_disk(&s.dir).len(),
        1,
        "one blob for identical bytes"
    );
    assert!(tmp_files(&s.dir).is_empty());
    for (id, who) in [(id_of(&v), &alice), (id_of(&w), &alice), (id_of(&w), &bob)] {
        let res = get_file(&s, &format!("/api/files/{id}"), Some(&who.token), &[]).await;
        assert_eq!(res.status(), 200);
        assert_eq!(header(&res, "content-length"), bytes.len().to_string());
        assert_eq!(header(&res, "etag"), format!("\"{}\"", sha_hex(&bytes)));
        assert_eq!(
            header(&res, "cache-control"),
            "private, max-age=3600, immutable"
        );
        assert_eq!(header(&res, "accept-ranges"), "bytes");
        let got = res.bytes().await.expect("body");
        assert_eq!(sha_hex(&got), sha_hex(&bytes));
    }
}

#[tokio::test]
async fn ranges_and_conditional_requests_are_answered() {
    let (s, [alice], room) = general(["alice"]).await;
    let text: Vec<u8> = (0..100u8).map(|i| b'a' + i % 26).collect();
    let id = uploaded(&s, &alice, &room, "letters.txt", &text).await;
    let path = format!("/api/files/{id}");
    let tok = Some(alice.token.as_str());
    for (range, from, to) in [
        ("bytes=10-19", 10, 19),
        ("bytes=-5", 95, 99),
        ("bytes=95-500", 95, 99),
    ] {
        let res = get_file(&s, &path, tok, &[("range", range)]).await;
        assert_eq!(res.status(), 206, "{range}");
        assert_eq!(
            header(&res, "content-range"),
            format!("bytes {from}-{to}/100")
        );
        assert_eq!(header(&res, "content-length"), (to - from + 1).to_string());
        assert_eq!(
            res.bytes().await.expect("body").as_ref(),
            &text[from..=to],
            "{range}"
        );
    }
    let res = get_file(&s, &path, tok, &[("range", "bytes=100-")]).await;
    assert_eq!(res.status(), 416);
    assert_eq!(header(&res, "content-range"), "bytes */100");
    let res = get_file(&s, &path, tok, &[("range", "bytes=0-1,5-6")]).await;
    assert_eq!(res.status(), 200, "several ranges: the whole file");
    let etag = format!("\"{}\"", sha_hex(&text));
    let res = get_file(&s, &path, tok, &[("if-none-match", &etag)]).await;
    assert_eq!(res.status(), 304);
    assert_eq!(header(&res, "etag"), etag);
    assert!(res.bytes().await.expect("body").is_empty());
    let res = get_file(&s, &path, tok, &[("if-none-match", "\"other\"")]).await;
    assert_eq!(res.status(), 200);
    let res = get_file(
        &s,
        &path,
        tok,
        &[("range", "bytes=0-9"), ("if-range", "\"stale\"")],
    )
    .await;
    assert_eq!(res.status(), 200, "a stale If-Range: the whole file");
    let res = get_file(
        &s,
        &path,
        tok,
        &[("range", "bytes=0-9"), ("if-range", &etag)],
    )
    .await;
    assert_eq!(res.status(), 206);
}

#[tokio::test]
async fn files_are_served_with_the_type_of_their_bytes_and_never_as_a_page() {
    let (s, [alice], room) = general(["alice"]).await;
    let html = b"<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>";
    let svg = b"<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(1)</script></svg>";
    let cases: [(&str, &[u8], &str, &str); 5] = [
        ("page.html", html, "text/plain; charset=utf-8", "attachment"),
        ("image.svg", svg, "text/plain; charset=utf-8", "attachment"),
        ("photo.png", PNG, "image/png", "inline"),
        (
            "fake.png",
            b"\0\x01\x02 not a picture",
            "application/octet-stream",
            "attachment",
        ),
        (
            "été.pdf",
            b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n",
            "application/pdf",
            "attachment",
        ),
    ];
    for (name, bytes, served, disposition) in cases {
        let id = uploaded(&s, &alice, &room, name, bytes).await;
        let res = get_file(&s, &format!("/api/files/{id}"), Some(&alice.token), &[]).await;
        assert_eq!(res.status(), 200, "{name}");
        assert_eq!(header(&res, "content-type"), served, "{name}");
        let cd = header(&res, "content-disposition");
        assert!(cd.starts_with(disposition), "{name}: {cd}");
        assert!(
            cd.contains(&format!("filename*=UTF-8''{}", name.replace('é', "%C3%A9"))),
            "{name}: {cd}"
        );
        assert_eq!(header(&res, "x-content-type-options"), "nosniff", "{name}");
        assert_eq!(header(&res, "content-security-policy"), "sandbox", "{name}");
    }
    // The client's Content-Type is never believed.
    let (status, v) = upload_multipart(&s, &alice, &room, "x.html", html).await;
    assert_eq!((status, v["type"].clone()), (201, json!("text/plain")));
}

#[tokio::test]
async fn uploads_need_a_valid_name_and_a_room_the_caller_can_see() {
    let s = Server::start();
    let (s, [alice, bob], room) = users_and_room(s, ["alice", "bob"], "hideout", true).await;
    let (status, v) = upload_raw(&s, &bob, &room, "x.txt", b"x").await;
    assert_eq!(
        (status, v["error"]["code"].clone()),
        (404, json!("not_found")),
        "{v}"
    );
    for bad in ["", "a\u{1}b", "..", &"n".repeat(256)] {
        let (status, v) = upload_raw(&s, &alice, &room, bad, b"x").await;
        assert_eq!(
            (status, v["error"]["code"].clone()),
            (400, json!("validation_failed")),
            "{bad:?}: {v}"
        );
    }
    let res = http()
        .post(s.url(&format!("/api/rooms/{room}/files")))
        .bearer_auth(&alice.token)
        .body("no name")
        .send()
        .await
        .expect("post");
    assert_eq!(res.status(), 400, "a raw upload without X-Filename");
    let res = http()
        .post(s.url(&format!("/api/rooms/{room}/files")))
        .header("x-filename", "a.txt")
        .body("no token")
        .send()
        .await
        .expect("post");
    assert_eq!(res.status(), 401);
    assert!(tmp_files(&s.dir).is_empty() && blobs_on_disk(&s.dir).is_empty());
}

/// A signed link's query for `user` to `file`, valid until `exp`, signed
/// with the server's own secret.
fn forged_link(s: &Server, user: &str, file: &str, exp: u64) -> String {
    let secret = std::fs::read_to_string(s.dir.join("jwt-secret")).expect("secret");
    let signer = Signer::new(secret.trim().as_bytes());
    signer.query(
        user.parse().expect("user id"),
        file.parse().expect("file id"),
        exp,
    )
}

#[tokio::test]
async fn files_are_seen_only_with_the_room_and_links_are_bound_to_user_file_and_time() {
    let s = Server::start();
    let (s, [alice, bob], room) = users_and_room(s, ["alice", "bob"], "hideout", true).await;
    let id = uploaded(&s, &alice, &room, "secret.txt", b"for members only").await;
    let path = format!("/api/files/{id}");
    assert_eq!(
        get_file(&s, &path, Some(&bob.token), &[]).await.status(),
        404
    );
    assert_eq!(get_file(&s, &path, None, &[]).await.status(), 401);
    assert_eq!(
        get_file(&s, "/api/files/0123456789abcdef", Some(&alice.token), &[])
            .await
            .status(),
        404
    );
    let ask = json!({"ids": [id, "0123456789abcdef", "junk"]});
    let (status, v) = request(&s, "POST", &alice, "/api/files/links", Some(ask.clone())).await;
    assert_eq!(status, 200, "{v}");
    let links = v["links"].as_object().expect("links");
    assert_eq!(links.len(), 1, "only files the caller can see: {v}");
    let url = links[&id]["url"].as_str().expect("url").to_owned();
    assert!(url.starts_with(&format!("{path}?")), "{url}");
    assert!(links[&id].get("thumbnailUrl").is_none(), "no thumbnail yet");
    let (_, v) = request(&s, "POST", &bob, "/api/files/links", Some(ask)).await;
    assert_eq!(v, json!({"links": {}}), "bob sees none");
    let res = get_file(&s, &url, None, &[]).await;
    assert_eq!(res.status(), 200, "the signed link needs no token");
    assert_eq!(res.text().await.expect("text"), "for members only");
    let now = chatroom::files::links::unix_now();
    let refused = [
        ("tampered", url.replace("sig=", "sig=00")),
        (
            "for another user",
            url.replace(&format!("u={}", alice.id), &format!("u={}", bob.id)),
        ),
        (
            "expired",
            format!("{path}?{}", forged_link(&s, &alice.id, &id, now - 1)),
        ),
        (
            "too far ahead",
            format!("{path}?{}", forged_link(&s, &alice.id, &id, now + 7200)),
        ),
        (
            "for another file",
            format!(
                "/api/files/0123456789abcdef?{}",
                forged_link(&s, &alice.id, &id, now + 60)
            ),
        ),
    ];
    for (what, url) in refused {
        let res = get_file(&s, &url, None, &[]).await;
        assert_eq!(res.status(), 401, "{what}: {url}");
    }
    let bobs = format!("{path}?{}", forged_link(&s, &bob.id, &id, now + 60));
    assert_eq!(
        get_file(&s, &bobs, None, &[]).await.status(),
        404,
        "a genuine link of a non-member"
    );
    let thumb = format!("{path}/thumbnail");
    assert_eq!(
        get_file(&s, &thumb, Some(&alice.token), &[]).await.status(),
        404
    );
}

/// Sends `head` then `body` (from another thread, so that an early answer
/// and close cannot lose the answer) on a raw connection; the answer.
fn raw_exchange(
    addr: &str,
    head: String,
    body: impl FnOnce(&mut TcpStream) + Send + 'static,
) -> (u16, Value) {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.write_all(head.as_bytes()).expect("head");
    let mut writer = stream.try_clone().expect("clone");
    let sender = std::thread::spawn(move || body(&mut writer));
    let (status, _, text) = read_http_response(&mut stream, Duration::from_secs(60));
    let _ = sender.join();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn upload_head(s: &Server, u: &User, room: &str, framing: &str) -> String {
    format!(
        "POST /api/rooms/{room}/files HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\nX-Filename: big.bin\r\n{framing}\r\n\r\n",
        s.addr, u.token
    )
}

#[tokio::test]
async fn files_over_the_limit_are_refused_before_or_while_they_are_read() {
    let s = Server::start_with(&["--max-upload-mb", "1"]);
    let (s, [alice], room) = general_on(s, ["alice"]).await;
    let (status, _) = upload_raw(&s, &alice, &room, "exact.bin", &noise(MIB, 2)).await;
    assert_eq!(status, 201, "exactly the limit");
    let head = upload_head(
        &s,
        &alice,
        &room,
        &format!("Content-Length: {}\r\nExpect: 100-continue", 2 * MIB),
    );
    let started = Instant::now();
    let (status, v) = raw_exchange(&s.addr.clone(), head, |_| {});
    assert_eq!(
        (status, v["error"]["code"].clone()),
        (413, json!("too_large")),
        "{v}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "answered before any byte"
    );
    let big = chunked(&noise(2 * MIB + 1, 3));
    let (status, code) = raw_upload(&s, &alice, &room, "Transfer-Encoding: chunked", big);
    assert_eq!((status, code), (413, json!("too_large")), "chunked");
    assert!(
        tmp_files(&s.dir).is_empty(),
        "the refused upload left nothing"
    );
    assert_eq!(blobs_on_disk(&s.dir).len(), 1);
    assert_eq!(fetch(&s, "/healthz").await.status(), 200);
}

/// The raw request of a chunked body: `data` in chunks of 64 KiB.
fn chunked(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for chunk in data.chunks(64 * 1024) {
        out.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        out.extend_from_slice(chunk);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

/// Sends an upload by hand (the server may answer before reading it all);
/// the status and the error code.
fn raw_upload(s: &Server, u: &User, room: &str, framing: &str, body: Vec<u8>) -> (u16, Value) {
    let head = upload_head(s, u, room, framing);
    let (status, v) = raw_exchange(&s.addr.clone(), head, move |w| {
        let _ = w.write_all(&body);
    });
    (status, v["error"]["code"].clone())
}

#[tokio::test]
async fn the_quota_counts_every_file_of_a_user_before_and_while_reading() {
    let s = Server::start_with(&["--max-upload-mb", "2", "--upload-quota-mb", "1"]);
    let (s, [alice, bob], room) = general_on(s, ["alice", "bob"]).await;
    let part = noise(600 * 1024, 4);
    uploaded(&s, &alice, &room, "one.bin", &part).await;
    let over = (403, json!("quota_exceeded"));
    let declared = format!("Content-Length: {}\r\nExpect: 100-continue", part.len());
    assert_eq!(
        raw_upload(&s, &alice, &room, &declared, Vec::new()),
        over,
        "declared"
    );
    let framing = "Transfer-Encoding: chunked";
    assert_eq!(
        raw_upload(&s, &alice, &room, framing, chunked(&part)),
        over,
        "chunked"
    );
    // A multipart length passes the first check; the count stops it.
    let body = multipart_body("three.bin", &part[..450 * 1024]);
    let framing = format!(
        "Content-Type: multipart/form-data; boundary={BOUNDARY}\r\nContent-Length: {}",
        body.len()
    );
    assert_eq!(
        raw_upload(&s, &alice, &room, &framing, body),
        over,
        "multipart"
    );
    uploaded(&s, &bob, &room, "bobs.bin", &part).await;
    uploaded(&s, &alice, &room, "small.bin", &part[..400 * 1024]).await;
    assert!(tmp_files(&s.dir).is_empty());
}

/// Streams a raw upload of `len` bytes of noise through a raw connection
/// (never holding it whole); the answer and the hash of what was sent.
fn stream_upload(s: &Server, u: &User, room: &str, len: usize) -> (u16, Value, String) {
    let head = upload_head(s, u, room, &format!("Content-Length: {len}"));
    let (tx, rx) = std::sync::mpsc::channel();
    let (status, v) = raw_exchange(&s.addr.clone(), head, move |w| {
        let mut hasher = sha2::Sha256::new();
        let block = noise(256 * 1024, 5);
        let mut left = len;
        let mut i = 0u32;
        while left > 0 {
            let mut piece = block[..left.min(block.len())].to_vec();
            piece[..4].copy_from_slice(&i.to_be_bytes());
            hasher.update(&piece);
            if w.write_all(&piece).is_err() {
                return;
            }
            left -= piece.len();
            i += 1;
        }
        let _ = tx.send(format!("{:x}", hasher.finalize()));
    });
    (
        status,
        v,
        rx.recv_timeout(Duration::from_secs(5)).unwrap_or_default(),
    )
}

#[tokio::test]
#[cfg_attr(debug_assertions, ignore = "measures the memory of the release build")]
async fn a_200_mib_upload_leaves_the_servers_memory_flat() {
    let s = Server::start_process_with(&["--max-upload-mb", "256", "--upload-quota-mb", "0"]);
    let (s, [alice], room) = general_on(s, ["alice"]).await;
    let pid = s.child.id();
    let rss = move || proc_kib(pid, "VmRSS:").expect("VmRSS") as usize * 1024;
    std::thread::sleep(Duration::from_millis(500));
    let idle = rss();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut peak = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                peak = peak.max(rss());
                std::thread::sleep(Duration::from_millis(5));
            }
            peak
        })
    };
    let started = Instant::now();
    let (status, v, sent) = stream_upload(&s, &alice, &room, 200 * MIB);
    let took = started.elapsed();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let peak = sampler.join().expect("sampler");
    assert_eq!(status, 201, "{v}");
    assert_eq!(v["sha256"], sent.as_str());
    eprintln!(
        "200 MiB upload: {:.1} s ({:.0} MiB/s), RSS idle {:.1} MiB, peak {:.1} MiB",
        took.as_secs_f64(),
        200.0 / took.as_secs_f64(),
        idle as f64 / MIB as f64,
        peak as f64 / MIB as f64
    );
    assert!(
        peak < idle + 64 * MIB,
        "peak RSS {peak} over idle {idle} + 64 MiB"
    );
    let res = get_file(
        &s,
        &format!("/api/files/{}", id_of(&v)),
        Some(&alice.token),
        &[],
    )
    .await;
    let mut res = res;
    let mut hasher = sha2::Sha256::new();
    while let Some(chunk) = res.chunk().await.expect("chunk") {
        hasher.update(&chunk);
    }
    assert_eq!(
        format!("{:x}", hasher.finalize()),
        sent,
        "served back whole"
    );
    assert!(rss() < idle + 64 * MIB, "the download kept memory flat too");
}

#[tokio::test]
async fn a_kill_during_an_upload_leaves_no_file_visible_and_one_after_its_answer_keeps_it() {
    let mut s = Server::start_process_with(&["--message-rate", "0"]);
    let alice = register(&s, "alice").await;
    let room = room_id(&s, &alice, "general", false).await;
    let head = upload_head(&s, &alice, &room, &format!("Content-Length: {}", 8 * MIB));
    let mut stream = TcpStream::connect(&s.addr).expect("connect");
    stream.write_all(head.as_bytes()).expect("head");
    stream.write_all(&noise(4 * MIB, 6)).expect("half the body");
    let deadline = Instant::now() + WAIT;
    let partial = loop {
        let sizes: Vec<u64> = tmp_files(&s.dir)
            .iter()
            .filter_map(|p| std::fs::metadata(p).ok())
            .map(|m| m.len())
            .collect();
        if sizes.iter().any(|&n| n >= MIB as u64) {
            break sizes;
        }
        assert!(
            Instant::now() < deadline,
            "the upload never reached the disk"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(partial.len(), 1);
    assert!(
        blobs_on_disk(&s.dir).is_empty(),
        "nothing but the temporary file"
    );
    s.signal("KILL");
    s.wait_exit();
    drop(stream);
    s.respawn();
    assert!(
        tmp_files(&s.dir).is_empty(),
        "the restart removed the partial upload"
    );
    assert!(blobs_on_disk(&s.dir).is_empty());
    let id = uploaded(&s, &alice, &room, "after.txt", b"after the crash").await;
    let res = get_file(&s, &format!("/api/files/{id}"), Some(&alice.token), &[]).await;
    assert_eq!(res.text().await.expect("text"), "after the crash");

    // An answered upload is on disk: `kill -9` right after its 201 keeps
    // its record and its bytes.
    let bytes = noise(300_000, 7);
    let kept = uploaded(&s, &alice, &room, "answered.bin", &bytes).await;
    s.signal("KILL");
    s.wait_exit();
    s.respawn();
    let res = get_file(&s, &format!("/api/files/{kept}"), Some(&alice.token), &[]).await;
    assert_eq!(res.status().as_u16(), 200);
    let body = res.bytes().await.expect("body");
    assert_eq!(sha_hex(&body), sha_hex(&bytes), "the bytes survived");
}

#[tokio::test]
async fn deleting_a_room_deletes_its_files_and_keeps_bytes_shared_with_another() {
    let (s, [alice], room) = general(["alice"]).await;
    let other = room_id(&s, &alice, "other", false).await;
    let shared = noise(10_000, 7);
    let only_here = noise(10_000, 8);
    let gone = uploaded(&s, &alice, &room, "shared.bin", &shared).await;
    uploaded(&s, &alice, &room, "only.bin", &only_here).await;
    let kept = uploaded(&s, &alice, &other, "shared-too.bin", &shared).await;
    assert_eq!(blobs_on_disk(&s.dir).len(), 2);
    let (status, v) = request(&s, "DELETE", &alice, &format!("/api/rooms/{room}"), None).await;
    assert_eq!(status, 204, "{v}");
    let blobs = blobs_on_disk(&s.dir);
    assert_eq!(
        blobs.len(),
        1,
        "only the bytes another room's file uses stay"
    );
    assert!(blobs[0].ends_with(sha_hex(&shared)));
    let path = |id: &str| format!("/api/files/{id}");
    assert_eq!(
        get_file(&s, &path(&gone), Some(&alice.token), &[])
            .await
            .status(),
        404
    );
    let res = get_file(&s, &path(&kept), Some(&alice.token), &[]).await;
    assert_eq!(res.bytes().await.expect("body").as_ref(), shared.as_slice());
}
