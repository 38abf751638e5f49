//! The search index as an operator meets it: it catches up after a crash
//! and rebuilds when deleted, `chatroom reindex` rebuilds it through a
//! running server (which keeps answering meanwhile) or in place on a
//! stopped one, and `GET /api/admin/search` tells how far it is.

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use serde_json::{json, Value};

use crate::common::*;
use crate::search::*;
use crate::search_filters::all_pages;

/// Longest a reindex may take here.
const CMD_WAIT: Duration = Duration::from_secs(120);

/// Longest a restarted server may take to have everything searchable.
const CATCH_UP: Duration = Duration::from_secs(20);

/// `chatroom reindex --data-dir DIR`, bounded.
fn reindex(dir: &Path) -> Output {
    let dir = dir.to_str().expect("utf-8 path");
    run_bounded(
        admin_command(&["reindex", "--data-dir", dir]),
        b"",
        CMD_WAIT,
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

/// The last line of standard error (progress drawn with `\r` counts as
/// lines); the command must have succeeded.
fn summary(out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "reindex failed: {out:?}");
    stderr
        .split(['\n', '\r'])
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .unwrap_or_else(|| panic!("nothing on stderr: {out:?}"))
        .to_owned()
}

/// A summary line says how many messages were indexed.
#[track_caller]
fn assert_summary(out: &Output, messages: usize) {
    let line = summary(out);
    // Digits grouped for reading ("1,501") count as one number.
    let line: String = line
        .chars()
        .filter(|c| !matches!(c, ',' | '_' | '\u{202f}'))
        .collect();
    let numbers: Vec<&str> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter(|n| !n.is_empty())
        .collect();
    assert!(
        numbers.contains(&messages.to_string().as_str()),
        "the summary line should count {messages} messages: {line:?}"
    );
}

/// Sends `n` messages `"{word} {word}{i}"` to `room`, pipelined; their ids.
async fn send_numbered(c: &mut Client, room: &str, word: &str, n: usize) -> Vec<String> {
    let lines: Vec<String> = (0..n).map(|i| format!("{word} {word}{i:04}")).collect();
    let (acks, _) = c.send_pipelined(Some(room), &lines).await;
    acks.iter()
        .map(|f| id_of(&ack_data(f, "sendMessage")))
        .collect()
}

/// How many messages `q` finds, through every page.
async fn count(s: &Server, u: &User, q: &str) -> usize {
    let pages = all_pages(s, u, q, Some("100"), 1000).await;
    pages.iter().map(|p| results(p).len()).sum()
}

/// Waits (bounded by `within`) until `q` finds `n` messages in all.
async fn count_reaches(s: &Server, u: &User, q: &str, n: usize, within: Duration) {
    let deadline = std::time::Instant::now() + within;
    loop {
        let got = count(s, u, q).await;
        if got == n {
            return;
        }
        assert!(
            got < n && std::time::Instant::now() < deadline,
            "{q:?} finds {got} of {n} messages after {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `GET /api/admin/search` as `u`, which must succeed; checks its shape.
pub async fn index_state(s: &Server, u: &User) -> Value {
    let (status, v) = get(s, u, "/api/admin/search").await;
    assert_eq!(status, 200, "{v}");
    let state = v["state"].as_str().unwrap_or_default();
    assert!(
        ["ready", "catching_up", "rebuilding"].contains(&state),
        "state: {v}"
    );
    for key in ["indexedThrough", "newest"] {
        assert!(v[key].is_string() || v[key].is_null(), "{key}: {v}");
    }
    for key in ["behind", "queued"] {
        assert!(v[key].is_u64(), "{key}: {v}");
    }
    v
}

/// Waits until the index is ready and has reached `newest`.
pub async fn ready_through(s: &Server, u: &User, newest: &str) -> Value {
    let want = json!({
        "state": "ready",
        "indexedThrough": newest,
        "newest": newest,
        "behind": 0,
        "queued": 0,
    });
    let deadline = std::time::Instant::now() + POLL;
    loop {
        let v = index_state(s, u).await;
        if v == want {
            return v;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "expected {want}, got {v}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A server process where alice sent `n` numbered messages (see
/// [`send_numbered`]) and a marker, all indexed, then stopped cleanly:
/// the server, alice, the messages' ids.
async fn stopped_after(word: &str, n: usize) -> (Server, User, Vec<String>) {
    let (mut s, [alice], room) = general_on(Server::start_process(), ["alice"]).await;
    let mut a = Client::joined(&s, &alice, &[&room]).await;
    let sent = send_numbered(&mut a, &room, word, n).await;
    settle(&s, &alice, &mut a, &room).await;
    drop(a);
    s.signal("TERM");
    assert_eq!(s.wait_exit(), Some(0));
    (s, alice, sent)
}

#[tokio::test]
async fn messages_acked_before_a_kill_are_found_after_the_restart() {
    let (mut s, [alice], room) = general_on(Server::start_process(), ["alice"]).await;
    let mut a = Client::joined(&s, &alice, &[&room]).await;
    let sent = send_numbered(&mut a, &room, "crashword", 300).await;
    // And an edit, queued in the same transaction as itself.
    let path = format!("/api/rooms/{room}/messages/{}", sent[299]);
    let body = json!({"message": "crashword amended"});
    assert_eq!(request(&s, "PATCH", &alice, &path, Some(body)).await.0, 200);
    s.child.kill().expect("kill -9");
    s.child.wait().expect("reaped");
    drop(a);

    s.respawn();
    count_reaches(&s, &alice, "crashword", 300, CATCH_UP).await;
    for i in [0, 150, 298] {
        let word = format!("crashword{i:04}");
        found(&s, &alice, &word, &format!("crashword {word}")).await;
    }
    let v = found(&s, &alice, "amended", "crashword amended").await;
    assert_eq!(ids(&v), vec![sent[299].clone()], "{v}");
    assert_eq!(
        texts(&search(&s, &alice, "crashword0299").await),
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn a_deleted_index_is_rebuilt_at_the_next_start() {
    let (mut s, alice, sent) = stopped_after("kept", 200).await;
    let index = s.dir.join("search");
    assert!(
        index.is_dir(),
        "the index lives in search/ of the data directory"
    );
    std::fs::remove_dir_all(&index).expect("remove the index");

    s.respawn();
    count_reaches(&s, &alice, "kept", 200, CATCH_UP).await;
    let v = search(&s, &alice, "kept0042").await;
    assert_eq!(texts(&v), vec!["kept kept0042"], "{v}");
    assert_eq!(ids(&v), vec![sent[42].clone()], "{v}");
}

#[tokio::test]
async fn searches_are_answered_while_the_index_catches_up_at_start() {
    let n = 20_000;
    let (mut s, alice, _) = stopped_after("backlog", n).await;
    std::fs::remove_dir_all(s.dir.join("search")).expect("remove the index");
    s.respawn();
    let root = admin(&s, "root").await;

    // Partial answers are fine meanwhile; errors are not.
    let deadline = std::time::Instant::now() + CATCH_UP;
    let mut states = std::collections::BTreeSet::new();
    loop {
        let v = search_ok(&s, &alice, &[("q", "backlog0777")]).await;
        let state = index_state(&s, &root).await;
        states.insert(str_of(&state["state"]));
        if texts(&v) == vec!["backlog backlog0777"] && state["behind"] == 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not caught up within {CATCH_UP:?}: {state}"
        );
    }
    eprintln!("index states while catching up: {states:?}");
    count_reaches(&s, &alice, "backlog", n, POLL).await;
}

#[tokio::test]
async fn messages_sent_during_a_reindex_are_found_after_it() {
    let (s, [alice], room) = general(["alice"]).await;
    let mut a = Client::joined(&s, &alice, &[&room]).await;
    send_numbered(&mut a, &room, "before", 20_000).await;
    settle(&s, &alice, &mut a, &room).await;

    let dir = s.dir.clone();
    let job = tokio::task::spawn_blocking(move || reindex(&dir));
    let mut sent = 0;
    while !job.is_finished() {
        a.say(&room, &format!("meanwhile meanwhile{sent:04}")).await;
        sent += 1;
    }
    summary(&job.await.expect("the reindex thread"));
    eprintln!("{sent} messages sent during the reindex");
    count_reaches(&s, &alice, "meanwhile", sent, POLL).await;
    count_reaches(&s, &alice, "before", 20_000, POLL).await;
}

#[tokio::test]
async fn reindex_through_a_running_server_answers_searches_all_along() {
    let (s, [alice], room) = general(["alice"]).await;
    let root = admin(&s, "root").await;
    let mut a = Client::joined(&s, &alice, &[&room]).await;
    let n = 20_000;
    send_numbered(&mut a, &room, "again", n).await;
    settle(&s, &alice, &mut a, &room).await;

    let dir = s.dir.clone();
    let job = tokio::task::spawn_blocking(move || reindex(&dir));
    let mut during = 0;
    while !job.is_finished() {
        // Answered from the old index until the new one is complete.
        let v = search_ok(&s, &alice, &[("q", "again0777")]).await;
        assert_eq!(texts(&v), vec!["again again0777"], "during the reindex");
        let v = search_ok(&s, &alice, &[("q", "again"), ("limit", "100")]).await;
        assert_eq!(results(&v).len(), 100, "during the reindex: {v}");
        index_state(&s, &root).await;
        during += 1;
    }
    let out = job.await.expect("the reindex thread");
    assert_summary(&out, n + 1);
    eprintln!("{during} rounds of searches during the reindex");

    count_reaches(&s, &alice, "again", n, POLL).await;
    let last = id_of(&a.say(&room, "after the rebuild").await);
    found(&s, &alice, "rebuild", "after the rebuild").await;
    ready_through(&s, &root, &last).await;
}

#[tokio::test]
async fn a_server_killed_during_a_reindex_starts_with_a_whole_index() {
    let (mut s, [alice], room) = general_on(Server::start_process(), ["alice"]).await;
    let root = admin(&s, "root").await;
    let mut a = Client::joined(&s, &alice, &[&room]).await;
    let n = 20_000;
    send_numbered(&mut a, &room, "cut", n).await;
    settle(&s, &alice, &mut a, &room).await;
    drop(a);

    let dir = s.dir.clone();
    let job = tokio::task::spawn_blocking(move || {
        let dir = dir.to_str().expect("utf-8 path").to_owned();
        let cmd = admin_command(&["reindex", "--data-dir", &dir]);
        run_bounded(cmd, b"", Duration::from_secs(30))
    });
    let deadline = std::time::Instant::now() + POLL;
    while index_state(&s, &root).await["state"] != "rebuilding" {
        assert!(
            !job.is_finished() && std::time::Instant::now() < deadline,
            "the reindex never showed"
        );
    }
    s.child.kill().expect("kill -9");
    s.child.wait().expect("reaped");
    let out = job.await.expect("the reindex thread");
    let out = out.unwrap_or_else(|e| panic!("reindex, its server killed: {e}"));
    assert!(!out.status.success(), "a reindex cut short fails: {out:?}");

    s.respawn();
    count_reaches(&s, &alice, "cut", n, CATCH_UP).await;
    let v = search(&s, &alice, "cut12345").await;
    assert_eq!(texts(&v), vec!["cut cut12345"], "{v}");
}

#[tokio::test]
async fn reindex_of_a_stopped_server_rebuilds_in_place() {
    let (mut s, alice, sent) = stopped_after("offline", 250).await;

    let out = reindex(&s.dir);
    assert_summary(&out, 251);
    assert!(s.dir.join("search").is_dir(), "rebuilt in place");
    let out = reindex(&s.dir);
    assert_summary(&out, 251);

    s.respawn();
    count_reaches(&s, &alice, "offline", 250, POLL).await;
    let v = search(&s, &alice, "offline0249").await;
    assert_eq!(ids(&v), vec![sent[249].clone()], "{v}");
}

#[tokio::test]
async fn admins_see_how_far_the_index_is() {
    let (s, [alice], room) = general(["alice"]).await;
    let root = admin(&s, "root").await;
    let v = index_state(&s, &root).await;
    assert_eq!(
        (&v["indexedThrough"], &v["newest"], &v["behind"]),
        (&Value::Null, &Value::Null, &json!(0)),
        "before the first message: {v}"
    );

    let mut a = Client::joined(&s, &alice, &[&room]).await;
    let sent = send_numbered(&mut a, &room, "status", 50).await;
    ready_through(&s, &root, &sent[49]).await;

    let (status, v) = get(&s, &alice, "/api/admin/search").await;
    assert_eq!(
        (status, &v["error"]["code"]),
        (403, &json!("forbidden")),
        "{v}"
    );
    let res = fetch(&s, "/api/admin/search").await;
    assert_eq!(res.status(), 401);
}
