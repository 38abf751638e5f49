//! The admin commands (`create-admin`, `export`, `backup`, `restore`) run
//! as real processes, with and without a server on the data directory, and
//! the admin and moderation endpoints (docs/protocol-additions.md).
//!
//! Every wait is bounded: commands are killed after [`CMD_WAIT`], network
//! waits use the helpers' [`WAIT`].

use crate::common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

const PASSWORD: &str = "correct horse";
/// Longest a command may run before the test fails.
const CMD_WAIT: Duration = Duration::from_secs(60);
/// The fields of an export line, exactly.
const EXPORT_FIELDS: &[&str] = &[
    "id",
    "message",
    "room",
    "roomId",
    "timestamp",
    "user",
    "userId",
];

// ---------------------------------------------------------------------------
// running commands

/// What a finished command left behind.
#[derive(Debug)]
struct Out {
    code: Option<i32>,
    stdout: Vec<u8>,
    stderr: String,
}

impl Out {
    fn stdout_text(&self) -> String {
        String::from_utf8(self.stdout.clone()).expect("stdout is UTF-8")
    }

    /// Asserts success and returns self.
    #[track_caller]
    fn ok(self) -> Out {
        assert_eq!(
            self.code,
            Some(0),
            "command failed: stderr {:?}",
            self.stderr
        );
        self
    }

    /// Asserts a non-zero exit (not a clap usage error) with exactly one
    /// line on standard error; returns that line.
    #[track_caller]
    fn one_line_error(&self) -> String {
        assert!(
            matches!(self.code, Some(c) if c != 0),
            "expected a failure, got {:?} (stderr {:?})",
            self.code,
            self.stderr
        );
        let lines: Vec<&str> = self.stderr.lines().filter(|l| !l.is_empty()).collect();
        assert_eq!(
            lines.len(),
            1,
            "expected one line on stderr, got {:?}",
            self.stderr
        );
        lines[0].to_owned()
    }
}

/// `chatroom <args>` with a clean environment (the helpers' one spawner).
fn chatroom(args: &[&str]) -> Command {
    admin_command(args)
}

/// Runs a command to completion (bounded), feeding `stdin`.
fn run(cmd: Command, stdin: Option<&str>) -> Out {
    let out = run_bounded(cmd, stdin.unwrap_or("").as_bytes(), CMD_WAIT)
        .unwrap_or_else(|e| panic!("{e}"));
    Out {
        code: out.status.code(),
        stdout: out.stdout,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// [`run`] off the async threads.
async fn run_async(cmd: Command, stdin: Option<String>) -> Out {
    tokio::task::spawn_blocking(move || run(cmd, stdin.as_deref()))
        .await
        .expect("command thread")
}

fn p(path: &Path) -> &str {
    path.to_str().expect("UTF-8 path")
}

async fn create_admin(dir: &Path, name: &str, stdin: &str) -> Out {
    run_async(
        chatroom(&[
            "create-admin",
            "--username",
            name,
            "--password-stdin",
            "--data-dir",
            p(dir),
        ]),
        Some(stdin.to_owned()),
    )
    .await
}

async fn export(dir: &Path, extra: &[&str]) -> Out {
    let mut args = vec!["export", "--data-dir", p(dir)];
    args.extend_from_slice(extra);
    run_async(chatroom(&args), None).await
}

/// The JSON lines of an export.
fn lines(out: &Out) -> Vec<Value> {
    out.stdout_text()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad line {l:?}: {e}")))
        .collect()
}

/// Asserts each export line has exactly the contract's fields.
#[track_caller]
fn assert_export_fields(lines: &[Value]) {
    for l in lines {
        let mut keys: Vec<&str> = l
            .as_object()
            .expect("line is an object")
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(keys, EXPORT_FIELDS, "fields of {l}");
    }
}

fn field(v: &Value, k: &str) -> String {
    v[k].as_str()
        .unwrap_or_else(|| panic!("{k} missing in {v}"))
        .to_owned()
}

/// The all-rooms export order: timestamp, then room id, then message id
/// (all fixed-width strings, so they compare as text).
fn order_key(l: &Value) -> (String, String, String) {
    (field(l, "timestamp"), field(l, "roomId"), field(l, "id"))
}

// ---------------------------------------------------------------------------
// REST and WebSocket helpers

/// Promotes an existing user to admin with `create-admin` (password kept).
/// Setting the password ends the user's sessions, so it logs in again.
async fn promote(s: &Server, u: &User) -> User {
    create_admin(&s.dir, &u.name, &format!("{PASSWORD}\n"))
        .await
        .ok();
    login_user(s, &u.name, PASSWORD).await
}

/// Sends `n` messages as `u` spread over `rooms` (round robin) through one
/// WebSocket, pipelined `window` at a time. Returns each message's (room
/// index, id), in send order.
async fn seed(
    s: &Server,
    u: &User,
    rooms: &[String],
    n: usize,
    window: usize,
) -> Vec<(usize, String)> {
    let refs: Vec<&str> = rooms.iter().map(String::as_str).collect();
    let mut c = Client::joined(s, u, &refs).await;
    let mut out = Vec::with_capacity(n);
    for window in (0..n).collect::<Vec<_>>().chunks(window) {
        let data = window
            .iter()
            .map(|i| json!({"roomId": rooms[i % rooms.len()], "message": format!("seed {i}")}))
            .collect();
        let (answers, _) = c.send_all(data).await;
        for (i, a) in window.iter().zip(answers) {
            assert_eq!(a["event"], "ack", "message refused: {a}");
            out.push((i % rooms.len(), field(&a["data"], "id")));
        }
    }
    let _ = c.ws.close(None).await;
    out
}

/// A client that sends messages one at a time (each acked before the
/// next) to `rooms` in turn, until `stop` or `max` messages. Counts its
/// acks in `acked` and returns (room index, id) of each.
async fn talker(
    s: &Server,
    u: &User,
    rooms: Vec<String>,
    max: usize,
    pause: Duration,
    stop: Arc<AtomicBool>,
    acked: Arc<AtomicUsize>,
) -> tokio::task::JoinHandle<Vec<(usize, String)>> {
    let refs: Vec<&str> = rooms.iter().map(String::as_str).collect();
    let mut c = Client::joined(s, u, &refs).await;
    tokio::spawn(async move {
        let mut out = Vec::new();
        for i in 0..max {
            if stop.load(Ordering::SeqCst) {
                break;
            }
            let room = i % rooms.len();
            let ack = c.say(&rooms[room], &format!("live {i}")).await;
            out.push((room, field(&ack, "id")));
            acked.fetch_add(1, Ordering::SeqCst);
            if !pause.is_zero() {
                tokio::time::sleep(pause).await;
            }
        }
        out
    })
}

/// Waits (bounded) until `counter` reaches `n`.
async fn wait_for(counter: &AtomicUsize, n: usize) {
    let deadline = Instant::now() + WAIT;
    while counter.load(Ordering::SeqCst) < n {
        assert!(Instant::now() < deadline, "counter stuck at {counter:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// A fresh temporary directory and a not-yet-existing data dir inside it.
fn fresh_dir() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("data");
    (tmp, dir)
}

/// Starts a server on an existing data directory.
fn serve_on(dir: &Path) -> Server {
    Server::spawn(dir, "127.0.0.1:0", &["--message-rate", "0"])
}

/// Stops a server with SIGTERM, waiting (bounded) for a clean exit.
fn stop(s: &mut Server) {
    s.signal("TERM");
    assert_eq!(s.wait_exit(), Some(0), "server exits cleanly");
}

/// Reads the peak RSS of a finished command run under `/usr/bin/time -v`.
fn max_rss_kib(time_stderr: &str) -> Option<u64> {
    time_stderr.lines().find_map(|l| {
        l.trim()
            .strip_prefix("Maximum resident set size (kbytes):")
            .and_then(|v| v.trim().parse().ok())
    })
}

/// Runs `chatroom <args>` and measures its peak RSS in KiB: under
/// `/usr/bin/time -v` when present, else by polling `VmHWM`.
fn run_measured(args: &[&str]) -> (Out, u64, Duration) {
    let time = Path::new("/usr/bin/time");
    let started = Instant::now();
    if time.exists() {
        let mut cmd = clean_command(time, &admin_cwd(args));
        cmd.arg("-v")
            .arg(bin())
            .args(args)
            .args(admin_store_args(args));
        let out = run(cmd, None);
        let elapsed = started.elapsed();
        let rss = max_rss_kib(&out.stderr).expect("time -v reports the maximum RSS");
        return (out, rss, elapsed);
    }
    let (status, stderr, peak) = run_sampling_peak_rss(chatroom(args), CMD_WAIT);
    let out = Out {
        code: status.code(),
        stdout: Vec::new(),
        stderr,
    };
    (out, peak, started.elapsed())
}

// ---------------------------------------------------------------------------
// create-admin

#[tokio::test]
async fn create_admin_without_a_server_creates_an_admin_who_can_log_in() {
    let (_tmp, dir) = fresh_dir();
    let out = create_admin(&dir, "root", "admin password\n").await.ok();
    assert!(
        out.stdout_text().contains("root"),
        "says what it did: {:?}",
        out.stdout_text()
    );
    let s = serve_on(&dir);
    let (status, v) = login(&s, "root", "admin password").await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["user"]["role"], "admin");
    let root = login_user(&s, "ROOT", "admin password").await;
    let (status, users) = get(&s, &root, "/api/admin/users").await;
    assert_eq!(status, 200, "{users}");
    let users = users.as_array().expect("list");
    assert_eq!(users.len(), 1);
    assert_eq!(users[0]["username"], "root");
    assert_eq!(users[0]["role"], "admin");
}

#[tokio::test]
async fn create_admin_with_a_server_running_promotes_the_user_and_resets_its_password() {
    let s = Server::start();
    let bob = register(&s, "bob").await;
    let (status, v) = get(&s, &bob, "/api/admin/users").await;
    assert_eq!(status, 403, "{v}");
    assert_eq!(v["error"]["code"], "forbidden");

    let started = Instant::now();
    let out = create_admin(&s.dir, "bob", "new password\n").await.ok();
    // Through the socket: no wait for the database lock.
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "create-admin took {:?}; did it wait for the lock instead of using admin.sock?",
        started.elapsed()
    );
    assert!(out.stdout_text().contains("bob"), "{:?}", out.stdout_text());

    // The password was reset, which ends the sessions started before.
    let (status, v) = get(&s, &bob, "/api/users/me").await;
    assert_eq!(status, 401, "old token after a reset: {v}");
    // The password given was set.
    assert_eq!(login(&s, "bob", PASSWORD).await.0, 401);
    let (status, v) = login(&s, "bob", "new password").await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["user"]["role"], "admin");
    assert_eq!(v["user"]["id"].as_str(), Some(bob.id.as_str()));

    // A new admin through the socket too.
    create_admin(&s.dir, "carol", "carol password\n").await.ok();
    let (status, v) = login(&s, "carol", "carol password").await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["user"]["role"], "admin");
}

/// The contract: a user promoted by `create-admin` is an admin at once.
/// Given the password it already has, nothing is reset, so the token it
/// holds keeps working and now carries an admin's rights; with and
/// without a server holding the data.
#[tokio::test]
async fn create_admin_with_the_same_password_promotes_the_token_it_holds_at_once() {
    let mut s = Server::start_process();
    let bob = register(&s, "bob").await;
    assert_eq!(get(&s, &bob, "/api/admin/users").await.0, 403);
    let out = create_admin(&s.dir, "bob", &format!("{PASSWORD}\n"))
        .await
        .ok();
    assert!(
        out.stdout_text().contains("unchanged"),
        "{:?}",
        out.stdout_text()
    );
    let (status, v) = get(&s, &bob, "/api/admin/users").await;
    assert_eq!(status, 200, "promoted at once, same token: {v}");
    let (_, me) = get(&s, &bob, "/api/users/me").await;
    assert_eq!(me["role"], "admin");

    // Without a server: the same rule.
    let carol = register(&s, "carol").await;
    s.signal("TERM");
    assert_eq!(s.wait_exit(), Some(0));
    create_admin(&s.dir, "carol", &format!("{PASSWORD}\n"))
        .await
        .ok();
    s.respawn();
    let (status, v) = get(&s, &carol, "/api/admin/users").await;
    assert_eq!(status, 200, "promoted offline, same token: {v}");
}

#[tokio::test]
async fn create_admin_on_an_existing_user_sets_the_new_password() {
    let (_tmp, dir) = fresh_dir();
    create_admin(&dir, "root", "first password\n").await.ok();
    create_admin(&dir, "ROOT", "second password\n").await.ok();
    let s = serve_on(&dir);
    assert_eq!(login(&s, "root", "first password").await.0, 401);
    let root = login_user(&s, "root", "second password").await;
    let (status, users) = get(&s, &root, "/api/admin/users").await;
    assert_eq!(status, 200);
    assert_eq!(
        users.as_array().map(Vec::len),
        Some(1),
        "promoting did not create a second user: {users}"
    );
}

#[tokio::test]
async fn create_admin_rejects_bad_usernames_and_short_passwords() {
    let (_tmp, dir) = fresh_dir();
    for (name, pw) in [
        ("ab", "long enough password\n"),
        ("bad name!", "long enough password\n"),
        (&"x".repeat(33) as &str, "long enough password\n"),
        ("goodname", "short\n"),
        ("goodname", "\n"),
    ] {
        let out = create_admin(&dir, name, pw).await;
        let line = out.one_line_error();
        assert!(
            line.contains("username") || line.contains("password"),
            "{name:?}/{pw:?}: says what is wrong: {line}"
        );
    }
    // Nothing was created.
    if dir.join("db").exists() {
        let out = export(&dir, &[]).await.ok();
        assert!(out.stdout.is_empty());
    }
}

#[tokio::test]
async fn create_admin_password_stdin_reads_the_first_line() {
    let (_tmp, dir) = fresh_dir();
    create_admin(&dir, "root", "first line pw\nsecond line\n")
        .await
        .ok();
    create_admin(&dir, "winuser", "crlf password\r\nmore\r\n")
        .await
        .ok();
    create_admin(&dir, "noeol", "no newline at end").await.ok();
    let s = serve_on(&dir);
    assert_eq!(login(&s, "root", "first line pw").await.0, 200);
    assert_eq!(login(&s, "root", "first line pw\nsecond line").await.0, 401);
    assert_eq!(login(&s, "winuser", "crlf password").await.0, 200);
    assert_eq!(login(&s, "noeol", "no newline at end").await.0, 200);
}

// ---------------------------------------------------------------------------
// export

/// A server with two users, a public and a private room, and messages
/// interleaved between them (several per millisecond, so the tie-breaks
/// of the export order matter). Returns (server, alice, public id, private id).
async fn chat_history() -> (Server, User, String, String) {
    let s = Server::start_process();
    let alice = register(&s, "alice").await;
    let bob = register(&s, "bob").await;
    let general = id_of(&create_room(&s, &alice, "General", false).await);
    let secret = id_of(&create_room(&s, &alice, "Secret", true).await);
    let mut ca = Client::joined(&s, &alice, &[&general, &secret]).await;
    let mut cb = Client::joined(&s, &bob, &[&general]).await;
    for round in 0..3 {
        for room in [&general, &secret] {
            let texts: Vec<String> = (0..20).map(|i| format!("{round}-{i} ünï \"q\"")).collect();
            let (acks, _) = ca.send_pipelined(Some(room), &texts).await;
            assert!(acks.iter().all(|a| a["event"] == "ack"));
        }
        let (acks, _) = cb
            .send_pipelined(Some(&general), &[format!("bob {round}")])
            .await;
        assert_eq!(acks[0]["event"], "ack");
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
    (s, alice, general, secret)
}

#[tokio::test]
async fn export_with_and_without_a_server_gives_the_same_output() {
    let (mut s, _alice, general, secret) = chat_history().await;
    let running_jsonl = export(&s.dir, &[]).await.ok();
    let running_json = export(&s.dir, &["--format", "json"]).await.ok();
    assert!(running_jsonl.stderr.is_empty(), "{}", running_jsonl.stderr);
    stop(&mut s);
    let local_jsonl = export(&s.dir, &[]).await.ok();
    let local_json = export(&s.dir, &["--format", "json"]).await.ok();
    assert_eq!(running_jsonl.stdout_text(), local_jsonl.stdout_text());
    assert_eq!(running_json.stdout_text(), local_json.stdout_text());

    let ls = lines(&running_jsonl);
    assert_eq!(ls.len(), 123);
    assert_export_fields(&ls);
    let array: Value =
        serde_json::from_slice(&running_json.stdout).expect("--format json is one JSON document");
    assert_eq!(
        array,
        Value::Array(ls.clone()),
        "json and jsonl hold the same objects"
    );
    // Order: timestamp, then room id, then message id.
    let keys: Vec<_> = ls.iter().map(order_key).collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted, "all-rooms export order");
    let names: HashMap<String, String> = ls
        .iter()
        .map(|l| (field(l, "roomId"), field(l, "room")))
        .collect();
    assert_eq!(names[&general], "General");
    assert_eq!(names[&secret], "Secret");
    assert!(ls.iter().any(|l| l["message"] == "0-0 ünï \"q\""));
    assert!(ls.iter().any(|l| l["user"] == "bob"));

    // An empty selection is an empty array in json.
    let none = export(&s.dir, &["--format", "json", "--since", "2999-01-01"])
        .await
        .ok();
    assert_eq!(
        serde_json::from_slice::<Value>(&none.stdout).expect("json"),
        json!([])
    );
}

#[tokio::test]
async fn export_room_by_id_or_by_name_in_any_case() {
    let (s, alice, general, secret) = chat_history().await;
    let by_id = export(&s.dir, &["--room", &secret]).await.ok();
    let by_name = export(&s.dir, &["--room", "sEcReT"]).await.ok();
    assert_eq!(by_id.stdout, by_name.stdout);
    let ls = lines(&by_id);
    assert_eq!(ls.len(), 60);
    assert_export_fields(&ls);
    assert!(ls
        .iter()
        .all(|l| field(l, "roomId") == secret && l["room"] == "Secret"));
    let ids: Vec<String> = ls.iter().map(id_of).collect();
    let history: Vec<String> = all_messages(&s, &alice, &secret)
        .await
        .iter()
        .map(id_of)
        .collect();
    assert_eq!(ids, history, "one room: that room's order, every message");

    let general_lines = lines(&export(&s.dir, &["--room", "general"]).await.ok());
    assert_eq!(general_lines.len(), 63);
    assert!(general_lines.iter().all(|l| field(l, "roomId") == general));

    // Unknown rooms: one line, non-zero, nothing on stdout.
    for bad in ["nosuchroom", "00000000000000ff", ""] {
        let out = export(&s.dir, &["--room", bad]).await;
        out.one_line_error();
        assert!(out.stdout.is_empty(), "{bad:?}: no output");
    }
}

#[tokio::test]
async fn export_since_a_date_or_an_rfc3339_time() {
    let (s, _alice, _general, _secret) = chat_history().await;
    let all = lines(&export(&s.dir, &[]).await.ok());
    let first_date = s_ts(&all[0])[..10].to_owned();
    for since in ["2000-01-01", &first_date, "2000-01-01T00:00:00Z"] {
        let got = lines(&export(&s.dir, &["--since", since]).await.ok());
        assert_eq!(got, all, "--since {since} keeps everything");
    }
    let none = export(&s.dir, &["--since", "2999-01-01"]).await.ok();
    assert!(none.stdout.is_empty());

    // At or after an exact time: pick a timestamp in the middle.
    let mid = s_ts(&all[all.len() / 2]);
    let expected: Vec<Value> = all.iter().filter(|l| s_ts(l) >= mid).cloned().collect();
    assert!(expected.len() < all.len() && !expected.is_empty());
    let got = lines(&export(&s.dir, &["--since", &mid]).await.ok());
    assert_eq!(got, expected, "--since {mid}");
    // The same instant written with an offset.
    let offset = format!("{}+00:00", mid.trim_end_matches('Z'));
    let got = lines(&export(&s.dir, &["--since", &offset]).await.ok());
    assert_eq!(got, expected, "--since {offset}");

    for bad in ["yesterday", "2026-13-01", "12:00", "2026-11-24T25:00:00Z"] {
        let out = export(&s.dir, &["--since", bad]).await;
        let line = out.one_line_error();
        assert!(line.contains("--since"), "{bad}: {line}");
        assert!(out.stdout.is_empty());
    }
}

fn s_ts(l: &Value) -> String {
    field(l, "timestamp")
}

#[tokio::test]
async fn export_output_writes_the_file() {
    let (mut s, _alice, _general, _secret) = chat_history().await;
    let tmp = tempfile::tempdir().expect("tempdir");
    let stdout = export(&s.dir, &[]).await.ok();
    let file = tmp.path().join("export.jsonl");
    let out = export(&s.dir, &["--output", p(&file)]).await.ok();
    assert!(out.stdout.is_empty(), "nothing on stdout with --output");
    assert_eq!(std::fs::read(&file).expect("file"), stdout.stdout);
    // Without a server, as a JSON array, replacing the file.
    stop(&mut s);
    let out = export(&s.dir, &["--output", p(&file), "--format", "json"])
        .await
        .ok();
    assert!(out.stdout.is_empty());
    let v: Value = serde_json::from_slice(&std::fs::read(&file).expect("file")).expect("json");
    assert_eq!(v.as_array().map(Vec::len), Some(123));
    // A failed export does not leave a file behind.
    let bad = tmp.path().join("bad.jsonl");
    export(&s.dir, &["--output", p(&bad), "--room", "nosuchroom"])
        .await
        .one_line_error();
    assert!(!bad.exists(), "no file left by a failed export");
}

#[tokio::test]
async fn export_of_a_missing_data_dir_is_an_error() {
    let (_tmp, dir) = fresh_dir();
    let out = export(&dir, &[]).await;
    let line = out.one_line_error();
    assert!(line.contains("data"), "{line}");
    assert!(!dir.exists(), "export does not create a data directory");
}

/// Seeds 100,000 messages, then exports them (server running) while a
/// client keeps sending: nothing missing or twice, room order, a prefix of
/// each room, and the export process's memory flat.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_of_100k_messages_while_sending_is_a_complete_prefix_in_flat_memory() {
    const N: usize = 100_000;
    const LIVE: usize = 500;
    let mut s = Server::start_process();
    let seeder = register(&s, "seeder").await;
    let talker_user = register(&s, "talker").await;
    let mut rooms = Vec::new();
    for name in ["alpha", "beta", "gamma", "delta"] {
        rooms.push(id_of(&create_room(&s, &seeder, name, false).await));
    }
    let t = Instant::now();
    let seeded = seed(&s, &seeder, &rooms, N, 500).await;
    let seed_time = t.elapsed();
    println!(
        "seeded {N} messages in {:.1} s ({:.0} messages/s)",
        seed_time.as_secs_f64(),
        N as f64 / seed_time.as_secs_f64()
    );

    let acked = Arc::new(AtomicUsize::new(0));
    let live = talker(
        &s,
        &talker_user,
        rooms.clone(),
        LIVE,
        Duration::from_millis(1),
        Arc::new(AtomicBool::new(false)),
        acked.clone(),
    )
    .await;
    wait_for(&acked, 10).await;
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = tmp.path().join("export.jsonl");
    let args: Vec<String> = ["export", "--data-dir", p(&s.dir), "--output", p(&file)]
        .iter()
        .map(|a| a.to_string())
        .collect();
    let acked_before = acked.load(Ordering::SeqCst);
    let (out, rss_kib, elapsed) = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run_measured(&args)
    })
    .await
    .expect("export thread");
    let acked_after = acked.load(Ordering::SeqCst);
    assert_eq!(out.code, Some(0), "export failed: {}", out.stderr);
    let live = tokio::time::timeout(Duration::from_secs(30), live)
        .await
        .expect("talker finished in time")
        .expect("talker");
    assert_eq!(live.len(), LIVE);

    let text = std::fs::read_to_string(&file).expect("export file");
    let exported: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    println!(
        "exported {} messages in {:.2} s ({:.0} messages/s), peak RSS of the export process {:.1} MiB; \
         {} live messages acked while it ran",
        exported.len(),
        elapsed.as_secs_f64(),
        exported.len() as f64 / elapsed.as_secs_f64(),
        rss_kib as f64 / 1024.0,
        acked_after - acked_before
    );

    // Nothing twice; every seeded (and every earlier acked) message present;
    // nothing that was never acked.
    let mut room_of: HashMap<String, usize> = HashMap::new();
    for (r, id) in seeded.iter().chain(live.iter()) {
        assert!(
            room_of.insert(id.clone(), *r).is_none(),
            "id {id} acked twice"
        );
    }
    let mut seen = HashSet::new();
    for l in &exported {
        let id = id_of(l);
        assert!(seen.insert(id.clone()), "{id} exported twice");
        let r = *room_of
            .get(&id)
            .unwrap_or_else(|| panic!("exported a message never acked: {l}"));
        assert_eq!(field(l, "roomId"), rooms[r], "room of {id}");
    }
    let missing = seeded.iter().filter(|(_, id)| !seen.contains(id)).count();
    assert_eq!(missing, 0, "seeded messages missing from the export");
    for (_, id) in &live[..acked_before.min(live.len())] {
        assert!(seen.contains(id), "{id} was acked before the export began");
    }
    assert_export_fields(&exported[..10]);

    // Order across rooms, then per room order and prefix.
    let keys: Vec<_> = exported.iter().map(order_key).collect();
    assert!(
        keys.windows(2).all(|w| w[0] < w[1]),
        "all-rooms export order"
    );
    let mut per_room: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for l in &exported {
        per_room
            .entry(field(l, "roomId"))
            .or_default()
            .push(id_of(l));
    }
    for (r, room) in rooms.iter().enumerate() {
        let ids = per_room.get(room).cloned().unwrap_or_default();
        assert!(
            ids.windows(2).all(|w| w[0] < w[1]),
            "room {room} in id order"
        );
        let max = ids.last().expect("room has messages").clone();
        let all_below: Vec<&String> = seeded
            .iter()
            .chain(live.iter())
            .filter(|(rr, id)| *rr == r && *id <= max)
            .map(|(_, id)| id)
            .collect();
        assert_eq!(
            all_below.len(),
            ids.len(),
            "room {room}: the export is a prefix (every message up to its last exported one)"
        );
    }
    assert!(
        rss_kib < 64 * 1024,
        "export's peak RSS {rss_kib} KiB is over 64 MiB"
    );

    // The same without a server: the command opens the store itself, and
    // now sees every acked message.
    stop(&mut s);
    let file2 = tmp.path().join("export-local.jsonl");
    let args: Vec<String> = ["export", "--data-dir", p(&s.dir), "--output", p(&file2)]
        .iter()
        .map(|a| a.to_string())
        .collect();
    let (out, rss_kib, elapsed) = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run_measured(&args)
    })
    .await
    .expect("export thread");
    assert_eq!(out.code, Some(0), "export failed: {}", out.stderr);
    let n = std::fs::read_to_string(&file2)
        .expect("export file")
        .lines()
        .count();
    println!(
        "exported {n} messages without a server in {:.2} s ({:.0} messages/s), peak RSS {:.1} MiB",
        elapsed.as_secs_f64(),
        n as f64 / elapsed.as_secs_f64(),
        rss_kib as f64 / 1024.0
    );
    assert_eq!(n, N + LIVE, "every acked message");
    assert!(
        rss_kib < 64 * 1024,
        "export's peak RSS without a server {rss_kib} KiB is over 64 MiB"
    );
}

// ---------------------------------------------------------------------------
// backup and restore

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_during_load_restores_users_rooms_and_a_prefix_of_history() {
    let s = Server::start();
    let alice = register(&s, "alice").await;
    let bob = register(&s, "bob").await;
    let carol = register(&s, "carol").await;
    let lobby = id_of(&create_room(&s, &alice, "Lobby", false).await);
    let hideout = id_of(&create_room(&s, &alice, "Hideout", true).await);
    add_member(&s, &alice, &hideout, "bob").await;
    let rooms = vec![lobby.clone(), hideout.clone()];
    let seeded = seed(&s, &alice, &rooms, 3000, 200).await;

    let stop_flag = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(AtomicUsize::new(0));
    let live = talker(
        &s,
        &bob,
        rooms.clone(),
        100_000,
        Duration::ZERO,
        stop_flag.clone(),
        acked.clone(),
    )
    .await;
    wait_for(&acked, 20).await;
    let acked_before = acked.load(Ordering::SeqCst);
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = tmp.path().join("chat.backup");
    let out = run_async(
        chatroom(&["backup", "--data-dir", p(&s.dir), "--output", p(&file)]),
        None,
    )
    .await
    .ok();
    let during = acked.load(Ordering::SeqCst) - acked_before;
    stop_flag.store(true, Ordering::SeqCst);
    let live = tokio::time::timeout(Duration::from_secs(30), live)
        .await
        .expect("talker stopped in time")
        .expect("talker");
    println!(
        "backup: {} ({during} messages acked while it ran)",
        out.stderr.trim()
    );
    assert_eq!(
        out.stderr.lines().count(),
        1,
        "one line of summary: {:?}",
        out.stderr
    );
    assert!(out.stdout.is_empty());
    assert!(file.exists());
    assert!(
        std::fs::read_dir(tmp.path()).expect("dir").count() == 1,
        "no temporary file left next to the backup"
    );

    let new_dir = tmp.path().join("restored");
    let out = run_async(
        chatroom(&["restore", "--input", p(&file), "--data-dir", p(&new_dir)]),
        None,
    )
    .await
    .ok();
    assert_eq!(out.stderr.lines().count(), 1, "{:?}", out.stderr);
    let r = serve_on(&new_dir);

    // Same users (same ids, roles, passwords).
    for u in [&alice, &bob, &carol] {
        let (status, v) = login(&r, &u.name, PASSWORD).await;
        assert_eq!(
            status, 200,
            "{} logs in on the restored server: {v}",
            u.name
        );
        assert_eq!(v["user"]["id"].as_str(), Some(u.id.as_str()));
        assert_eq!(v["user"]["role"], "user");
    }
    assert_eq!(login(&r, "alice", "wrong password").await.0, 401);
    let ra = login_user(&r, "alice", PASSWORD).await;
    let rb = login_user(&r, "bob", PASSWORD).await;
    let rc = login_user(&r, "carol", PASSWORD).await;

    // Same rooms for each user (the online count aside, and the unread
    // counts: the backup holds a prefix of the history).
    let strip = |v: Value| -> Vec<Value> {
        v.as_array()
            .expect("rooms")
            .iter()
            .map(|room| {
                let mut room = room.clone();
                let fields = room.as_object_mut().expect("room");
                for live in ["online", "unread", "mentions"] {
                    fields.remove(live);
                }
                room
            })
            .collect()
    };
    for (orig, restored) in [(&alice, &ra), (&bob, &rb), (&carol, &rc)] {
        let (_, a) = get(&s, orig, "/api/rooms").await;
        let (_, b) = get(&r, restored, "/api/rooms").await;
        assert_eq!(strip(a), strip(b), "rooms of {}", orig.name);
    }
    let (_, carol_rooms) = get(&r, &rc, "/api/rooms").await;
    assert_eq!(
        carol_rooms.as_array().map(Vec::len),
        Some(1),
        "carol sees only the public room"
    );

    // Each room's history: a prefix of the original's, holding everything
    // acked before the backup began.
    let mut restored_ids = HashSet::new();
    for (i, room) in rooms.iter().enumerate() {
        let orig = all_messages(&s, &alice, room).await;
        let back = all_messages(&r, &ra, room).await;
        assert!(back.len() <= orig.len());
        assert_eq!(
            back[..],
            orig[..back.len()],
            "room {room}: restored history is a prefix"
        );
        let seeded_here = seeded.iter().filter(|(r, _)| *r == i).count();
        assert!(
            back.len() >= seeded_here,
            "room {room}: {} < {seeded_here}",
            back.len()
        );
        restored_ids.extend(back.iter().map(id_of));
    }
    for (_, id) in &live[..acked_before] {
        assert!(
            restored_ids.contains(id),
            "{id} was acked before the backup began"
        );
    }

    // New messages on the restored server get ids after the restored ones.
    let max = restored_ids.iter().max().expect("ids").clone();
    let mut c = Client::joined(&r, &ra, &[&lobby]).await;
    let ack = c.send_message(&lobby, "after restore").await;
    assert_eq!(ack["event"], "ack", "{ack}");
    assert!(
        field(&ack["data"], "id") > max,
        "ids keep increasing after a restore"
    );
}

/// A server with a little data, and a backup of it.
async fn backed_up() -> (Server, tempfile::TempDir, PathBuf) {
    let s = Server::start();
    let alice = register(&s, "alice").await;
    let room = id_of(&create_room(&s, &alice, "Lobby", false).await);
    seed(&s, &alice, &[room], 50, 50).await;
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = tmp.path().join("chat.backup");
    run_async(
        chatroom(&["backup", "--data-dir", p(&s.dir), "--output", p(&file)]),
        None,
    )
    .await
    .ok();
    (s, tmp, file)
}

async fn restore(input: &Path, dir: &Path) -> Out {
    run_async(
        chatroom(&["restore", "--input", p(input), "--data-dir", p(dir)]),
        None,
    )
    .await
}

#[tokio::test]
async fn restore_refuses_a_non_empty_directory() {
    let (_s, tmp, file) = backed_up().await;
    let dir = tmp.path().join("restored");
    restore(&file, &dir).await.ok();
    let line = restore(&file, &dir).await.one_line_error();
    assert!(line.contains("empty"), "{line}");
    // The first restore is intact.
    let r = serve_on(&dir);
    assert_eq!(login(&r, "alice", PASSWORD).await.0, 200);
}

#[tokio::test]
async fn restore_refuses_a_directory_a_server_runs_on() {
    let (s, _tmp, file) = backed_up().await;
    let line = restore(&file, &s.dir).await.one_line_error();
    assert!(line.contains("running"), "{line}");
    // The server and its data are unharmed.
    assert_eq!(login(&s, "alice", PASSWORD).await.0, 200);
    assert_eq!(lines(&export(&s.dir, &[]).await.ok()).len(), 50);
}

/// Damaged variants of a good backup file: (what, bytes).
fn damaged(file: &Path) -> Vec<(&'static str, Vec<u8>)> {
    let full = std::fs::read(file).expect("backup");
    let text = String::from_utf8(full.clone()).expect("backup is text");
    let body = text.trim_end_matches('\n');
    let without_last_line = body[..body.rfind('\n').expect("several lines") + 1].to_owned();
    vec![
        ("the last line missing", without_last_line.into_bytes()),
        ("cut mid-line", full[..full.len() / 2].to_vec()),
        ("cut one byte short", full[..full.len() - 2].to_vec()),
        ("empty", Vec::new()),
        ("not a backup", b"{\"hello\": 1}\n".to_vec()),
    ]
}

#[tokio::test]
async fn restore_refuses_a_truncated_or_foreign_backup() {
    let (_s, tmp, file) = backed_up().await;
    for (what, bytes) in damaged(&file) {
        let bad = tmp.path().join("bad.backup");
        std::fs::write(&bad, &bytes).expect("write");
        let dir = tmp.path().join(format!("dir-{}", what.replace(' ', "-")));
        let line = restore(&bad, &dir).await.one_line_error();
        println!("{what}: {line}");
    }
    let missing = restore(&tmp.path().join("nope.backup"), &tmp.path().join("d")).await;
    let line = missing.one_line_error();
    assert!(line.contains("nope.backup"), "{line}");
}

#[tokio::test]
async fn a_refused_restore_leaves_the_directory_empty() {
    let (_s, tmp, file) = backed_up().await;
    let mut left_behind = Vec::new();
    for (what, bytes) in damaged(&file) {
        let bad = tmp.path().join("bad.backup");
        std::fs::write(&bad, &bytes).expect("write");
        let dir = tmp.path().join(format!("dir-{}", what.replace(' ', "-")));
        restore(&bad, &dir).await.one_line_error();
        // Nothing of the refused file was loaded: the directory takes the
        // good backup.
        let out = restore(&file, &dir).await;
        if out.code != Some(0) {
            left_behind.push(format!("{what}: {}", out.stderr.trim()));
        }
    }
    assert!(
        left_behind.is_empty(),
        "after a refused restore, restoring the good backup into the same directory fails:\n{}",
        left_behind.join("\n")
    );
}

// ---------------------------------------------------------------------------
// a stale admin socket

#[tokio::test]
async fn after_sigkill_the_stale_socket_does_not_block_commands_or_a_new_server() {
    let mut s = Server::start_process();
    let alice = register(&s, "alice").await;
    let room = id_of(&create_room(&s, &alice, "Lobby", false).await);
    seed(&s, &alice, std::slice::from_ref(&room), 10, 10).await;
    s.signal("KILL");
    s.wait_exit();
    assert!(
        s.dir.join("admin.sock").exists(),
        "a killed server leaves its socket file"
    );
    let started = Instant::now();
    let out = export(&s.dir, &[]).await.ok();
    assert_eq!(lines(&out).len(), 10);
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "export does not wait on a dead socket ({:?})",
        started.elapsed()
    );
    create_admin(&s.dir, "root", "root password\n").await.ok();
    let r = serve_on(&s.dir);
    assert_eq!(login(&r, "alice", PASSWORD).await.0, 200);
    assert_eq!(
        login(&r, "root", "root password").await.1["user"]["role"],
        "admin"
    );
    // The new server's socket answers.
    let out = export(&r.dir, &[]).await.ok();
    assert_eq!(lines(&out).len(), 10);
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(r.dir.join("admin.sock"))
            .expect("socket")
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600, "admin.sock is mode 0600");
}

// ---------------------------------------------------------------------------
// admin powers over REST

/// A server with an admin `root` (promoted by create-admin) and users.
async fn with_admin() -> (Server, User) {
    let s = Server::start();
    let root = register(&s, "root").await;
    let root = promote(&s, &root).await;
    (s, root)
}

#[tokio::test]
async fn admin_users_lists_users_for_admins_only() {
    let (s, root) = with_admin().await;
    let bob = register(&s, "bob").await;
    let (status, v) = get(&s, &root, "/api/admin/users").await;
    assert_eq!(status, 200, "{v}");
    let users = v.as_array().expect("list");
    let names: Vec<&str> = users
        .iter()
        .map(|u| u["username"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["bob", "root"], "every user, by name");
    for u in users {
        for k in ["id", "username", "role", "createdAt"] {
            assert!(u.get(k).is_some(), "{k} in {u}");
        }
        assert!(u.get("password_hash").is_none() && u.get("passwordHash").is_none());
        assert!(
            u.get("disabled").is_none(),
            "disabled shown only when true: {u}"
        );
    }
    let (status, v) = get(&s, &bob, "/api/admin/users").await;
    assert_eq!(status, 403);
    assert_eq!(v["error"]["code"], "forbidden");
    assert_eq!(fetch(&s, "/api/admin/users").await.status(), 401);
}

#[tokio::test]
async fn with_registration_closed_admins_still_add_users() {
    let (dir_guard, dir) = fresh_dir();
    create_admin(&dir, "root", &format!("{PASSWORD}\n"))
        .await
        .ok();
    let s = Server::spawn(&dir, "127.0.0.1:0", &["--registration", "closed"]);
    let (status, v) = login(&s, "root", PASSWORD).await;
    assert_eq!(status, 200, "{v}");
    let root = User::from_answer("root", &v);
    // Self-registration is closed...
    let res = http()
        .post(s.url("/api/users/register"))
        .json(&json!({"username": "bob", "password": PASSWORD}))
        .send()
        .await
        .expect("register");
    assert_eq!(res.status(), 403);
    // ...but an admin adds the account, and its owner logs in.
    let body = json!({"username": "bob", "password": PASSWORD});
    let (status, v) = request(&s, "POST", &root, "/api/admin/users", Some(body.clone())).await;
    assert_eq!(status, 201, "{v}");
    assert_eq!(v["username"], "bob");
    assert_eq!(v["role"], "user");
    let (status, v) = login(&s, "BOB", PASSWORD).await;
    assert_eq!(status, 200, "{v}");
    let bob = User::from_answer("bob", &v);
    // A second admin on request; names stay unique; the rules apply.
    let (status, v) = request(
        &s,
        "POST",
        &root,
        "/api/admin/users",
        Some(json!({"username": "carol", "password": PASSWORD, "role": "admin"})),
    )
    .await;
    assert_eq!((status, v["role"].as_str()), (201, Some("admin")), "{v}");
    let (status, v) = request(&s, "POST", &root, "/api/admin/users", Some(body)).await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (409, Some("username_taken"))
    );
    for bad in [
        json!({"username": "x", "password": PASSWORD}),
        json!({"username": "dave", "password": "short"}),
        json!({"username": "dave", "password": PASSWORD, "role": "root"}),
        json!(["dave", PASSWORD]),
    ] {
        let (status, v) = request(&s, "POST", &root, "/api/admin/users", Some(bad.clone())).await;
        assert_eq!(
            (status, v["error"]["code"].as_str()),
            (400, Some("validation_failed")),
            "{bad}"
        );
    }
    // Only admins may add users.
    let body = json!({"username": "eve", "password": PASSWORD});
    let (status, v) = request(&s, "POST", &bob, "/api/admin/users", Some(body)).await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (403, Some("forbidden"))
    );
    drop(s);
    drop(dir_guard);
}

#[tokio::test]
async fn disabling_a_user_revokes_its_token_and_closes_its_socket_at_once() {
    let (s, root) = with_admin().await;
    let bob = register(&s, "bob").await;
    let carol = register(&s, "carol").await;
    let room = id_of(&create_room(&s, &root, "Lobby", false).await);
    let mut cb = Client::joined(&s, &bob, &[&room]).await;

    // Only admins; not oneself; unknown ids are 404.
    let (st, v) = user_action(&s, &carol, &bob.id, "disable").await;
    assert_eq!((st, v["error"]["code"].as_str()), (403, Some("forbidden")));
    let (st, _) = user_action(&s, &root, &root.id, "disable").await;
    assert_eq!(st, 400, "an admin cannot disable itself");
    for unknown in ["00000000000fffff", "nonsense"] {
        let (st, _) = user_action(&s, &root, unknown, "disable").await;
        assert_eq!(st, 404, "{unknown}");
    }

    let (st, v) = user_action(&s, &root, &bob.id, "disable").await;
    assert_eq!(st, 204, "{v}");
    let (st, v) = get(&s, &bob, "/api/users/me").await;
    assert_eq!(st, 401, "the token stops working at once: {v}");
    assert_eq!(v["error"]["code"], "unauthorized");
    let code = cb.close_code().await;
    assert_eq!(code, Some(1008), "the open WebSocket is closed");
    let (st, v) = login(&s, "bob", PASSWORD).await;
    assert_eq!(st, 403, "a disabled account cannot log in: {v}");
    match Client::try_connect(&s, &bob).await {
        Err((status, _)) => assert_eq!(status, 401),
        Ok(_) => panic!("a disabled user's upgrade is refused with 401"),
    }
    let (_, users) = get(&s, &root, "/api/admin/users").await;
    let b = users
        .as_array()
        .expect("list")
        .iter()
        .find(|u| u["username"] == "bob")
        .expect("bob listed")
        .clone();
    assert_eq!(b["disabled"], true);

    let (st, v) = user_action(&s, &root, &bob.id, "enable").await;
    assert_eq!(st, 204, "{v}");
    let (st, _) = get(&s, &bob, "/api/users/me").await;
    assert_eq!(st, 200, "the old token works again");
    assert_eq!(login(&s, "bob", PASSWORD).await.0, 200);
    let mut cb = Client::joined(&s, &bob, &[&room]).await;
    let ack = cb.send_message(&room, "back").await;
    assert_eq!(ack["event"], "ack");
    let (st, _) = user_action(&s, &carol, &bob.id, "enable").await;
    assert_eq!(st, 403);
}

/// A room owned by `olga` with messages by `alice`, `mallory` a bystander
/// member, `root` an admin, and a watcher connection in the room.
struct Moderation {
    s: Server,
    root: User,
    olga: User,
    alice: User,
    mallory: User,
    room: String,
    ids: Vec<String>,
    watcher: Client,
}

async fn moderation() -> Moderation {
    let (s, root) = with_admin().await;
    let olga = register(&s, "olga").await;
    let alice = register(&s, "alice").await;
    let mallory = register(&s, "mallory").await;
    let room = id_of(&create_room(&s, &olga, "Moderated", false).await);
    let mut ca = Client::joined(&s, &alice, &[&room]).await;
    let texts: Vec<String> = (0..5).map(|i| format!("message {i}")).collect();
    let (acks, _) = ca.send_pipelined(Some(&room), &texts).await;
    let ids = acks.iter().map(s_data_id).collect();
    let mut watcher = Client::joined(&s, &mallory, &[&room]).await;
    watcher.drain(Duration::from_millis(100)).await;
    Moderation {
        s,
        root,
        olga,
        alice,
        mallory,
        room,
        ids,
        watcher,
    }
}

impl Moderation {
    /// `DELETE path` as `who`.
    async fn delete(&self, who: &User, path: &str) -> (u16, Value) {
        request(&self.s, "DELETE", who, path, None).await
    }

    /// `PATCH path` with `body` as `who`.
    async fn patch(&self, who: &User, path: &str, body: Value) -> (u16, Value) {
        request(&self.s, "PATCH", who, path, Some(body)).await
    }
}

fn s_data_id(ack: &Value) -> String {
    assert_eq!(ack["event"], "ack", "{ack}");
    field(&ack["data"], "id")
}

#[tokio::test]
async fn messages_are_deleted_by_admin_owner_or_author_only() {
    let mut m = moderation().await;
    let path = |i: usize| format!("/api/rooms/{}/messages/{}", m.room, m.ids[i]);
    let (st, v) = m.delete(&m.mallory, &path(0)).await;
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (403, Some("forbidden")),
        "{v}"
    );
    for (i, who) in [(0, &m.alice), (1, &m.olga), (2, &m.root)] {
        let (st, v) = m.delete(who, &path(i)).await;
        assert_eq!(st, 204, "{} deletes: {v}", who.name);
        let f = m.watcher.next_event("messageDeleted").await;
        assert_eq!(f["data"], json!({"roomId": m.room, "id": m.ids[i]}), "{f}");
    }
    let (st, _) = m.delete(&m.alice, &path(0)).await;
    assert_eq!(st, 404, "already deleted");
    let (st, _) = m
        .delete(&m.root, &format!("/api/rooms/{}/messages/nonsense", m.room))
        .await;
    assert_eq!(st, 404);
    let left: Vec<String> = all_messages(&m.s, &m.alice, &m.room)
        .await
        .iter()
        .map(id_of)
        .collect();
    assert_eq!(
        left,
        m.ids[3..].to_vec(),
        "the history lost exactly the deleted ones"
    );
    let out = lines(&export(&m.s.dir, &["--room", &m.room]).await.ok());
    assert_eq!(out.len(), 2, "export no longer has them either");
}

#[tokio::test]
async fn messages_are_edited_by_their_author_only() {
    let mut m = moderation().await;
    let path = format!("/api/rooms/{}/messages/{}", m.room, m.ids[0]);
    for who in [&m.mallory, &m.olga, &m.root] {
        let (st, v) = m.patch(who, &path, json!({"message": "hacked"})).await;
        assert_eq!(st, 403, "{} may not edit: {v}", who.name);
        assert_eq!(v["error"]["code"], "forbidden");
    }
    let (st, v) = m.patch(&m.alice, &path, json!({"message": "   "})).await;
    assert_eq!(st, 400, "{v}");
    let (st, v) = m.patch(&m.alice, &path, json!({"text": "x"})).await;
    assert_eq!(st, 400, "{v}");
    let (st, edited) = m
        .patch(&m.alice, &path, json!({"message": "fixed typo"}))
        .await;
    assert_eq!(st, 200, "{edited}");
    assert_eq!(edited["message"], "fixed typo");
    assert_eq!(edited["id"], m.ids[0].as_str());
    assert_eq!(edited["roomId"], m.room.as_str());
    assert_eq!(edited["userId"], m.alice.id.as_str());
    assert!(edited["editedAt"].is_string(), "{edited}");
    assert!(edited["editedAt"].as_str() >= edited["timestamp"].as_str());
    let f = m.watcher.next_event("messageEdited").await;
    assert_eq!(f["data"], edited, "clients receive the edited message");
    let history = all_messages(&m.s, &m.alice, &m.room).await;
    assert_eq!(history[0], edited, "history shows the edit");
    assert!(history[1].get("editedAt").is_none());
    let (st, _) = m
        .patch(
            &m.alice,
            &format!("/api/rooms/{}/messages/00000000000fffff", m.room),
            json!({"message": "x"}),
        )
        .await;
    assert_eq!(st, 404);
}

#[tokio::test]
async fn rooms_are_deleted_by_admin_or_owner_only() {
    let mut m = moderation().await;
    let (st, v) = m
        .delete(&m.mallory, &format!("/api/rooms/{}", m.room))
        .await;
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (403, Some("forbidden")),
        "{v}"
    );
    let (st, v) = m.delete(&m.olga, &format!("/api/rooms/{}", m.room)).await;
    assert_eq!(st, 204, "the owner deletes: {v}");
    let f = m.watcher.next_event("roomDeleted").await;
    assert_eq!(f["data"], json!({"roomId": m.room}));
    // Unsubscribed: sending there is refused.
    let ack = m.watcher.send_message(&m.room, "hello?").await;
    assert_eq!(ack["event"], "error", "{ack}");
    let (st, _) = get(&m.s, &m.olga, &format!("/api/rooms/{}", m.room)).await;
    assert_eq!(st, 404);
    let (_, list) = get(&m.s, &m.olga, "/api/rooms").await;
    assert!(
        !list
            .as_array()
            .expect("list")
            .iter()
            .any(|r| r["id"] == m.room.as_str()),
        "gone from the list: {list}"
    );
    let again = create_room(&m.s, &m.alice, "MODERATED", false).await;
    assert_ne!(again["id"], m.room.as_str(), "the name can be reused");
    assert!(
        lines(&export(&m.s.dir, &[]).await.ok())
            .iter()
            .all(|l| l["roomId"] != m.room.as_str()),
        "its history is gone"
    );

    // An admin deletes someone else's room, private ones included.
    let private = id_of(&create_room(&m.s, &m.alice, "Private", true).await);
    let (st, _) = m.delete(&m.mallory, &format!("/api/rooms/{private}")).await;
    assert_eq!(st, 404, "a private room stays hidden from non-members");
    let (st, v) = m.delete(&m.root, &format!("/api/rooms/{private}")).await;
    assert_eq!(st, 204, "an admin deletes: {v}");
    let (st, _) = m.delete(&m.root, &format!("/api/rooms/{private}")).await;
    assert_eq!(st, 404);
}

// ---------------------------------------------------------------------------
// bad arguments

#[test]
fn bad_arguments_are_usage_errors_with_status_2() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let d = p(tmp.path());
    for args in [
        vec!["export", "--data-dir", d, "--bogus"],
        vec!["export", "--data-dir", d, "--format", "xml"],
        vec!["restore", "--data-dir", d],
        vec!["backup", "--data-dir", d],
        vec!["create-admin", "--data-dir", d],
        vec!["frobnicate"],
    ] {
        let out = run(chatroom(&args), None);
        assert_eq!(out.code, Some(2), "{args:?}: {}", out.stderr);
        assert!(!out.stderr.is_empty());
    }
}
