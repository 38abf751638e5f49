//! Durability and room limits under faults and hostile use: acknowledged
//! REST changes survive `kill -9`, a message whose write failed on a full
//! disk never shows, edits cannot bring back deleted messages, and one user
//! cannot flood the server with rooms.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Stdio;

use common::*;
use serde_json::{json, Value};

const PASSWORD: &str = "correct horse";

/// Makes `u` an admin with `create-admin`, which talks to the running server.
fn promote(s: &Server, u: &User) {
    run_create_admin(s, &u.name, PASSWORD);
}

/// `kill -9` at once, then the same server again on the same data.
fn kill_and_restart(s: &mut Server) {
    s.child.kill().expect("SIGKILL");
    s.child.wait().expect("reaped");
    s.respawn();
}

fn texts(history: &[Value]) -> Vec<String> {
    history.iter().map(|m| str_of(&m["message"])).collect()
}

// ---------------------------------------------------------------------------
// 1. Every acknowledged REST change is on disk before the answer.

/// `request` ("METHOD /path") as `u`, with an optional body, must answer
/// `status`; then `kill -9` at once and the same server again on the same
/// data. Returns the answer.
async fn acked(s: &mut Server, u: &User, request: &str, body: Option<Value>, status: u16) -> Value {
    let (method, path) = request.split_once(' ').expect("METHOD /path");
    let (st, v) = common::request(s, method, u, path, body).await;
    assert_eq!(st, status, "{request}: {v}");
    kill_and_restart(s);
    v
}

/// The status of `GET /api/rooms/{room}` as `u`.
async fn room_status(s: &Server, u: &User, room: &str) -> u16 {
    get(s, u, &format!("/api/rooms/{room}")).await.0
}

#[tokio::test]
async fn every_acknowledged_rest_change_survives_sigkill_right_after_the_answer() {
    let mut s = Server::start_process();
    let root = register(&s, "root").await;
    promote(&s, &root);
    let alice = register(&s, "alice").await;
    let bob = register(&s, "bob").await;

    // Room create.
    let room = str_of(&create_room(&s, &alice, "family", true).await["id"]);
    kill_and_restart(&mut s);
    assert_eq!(
        room_status(&s, &alice, &room).await,
        200,
        "created room lost"
    );

    // Member add.
    let add = format!("POST /api/rooms/{room}/members");
    acked(&mut s, &alice, &add, Some(json!({"username": "bob"})), 204).await;
    assert_eq!(room_status(&s, &bob, &room).await, 200, "added member lost");

    // Member remove.
    let remove = format!("DELETE /api/rooms/{room}/members/bob");
    acked(&mut s, &alice, &remove, None, 204).await;
    let what = "removed member is back";
    assert_eq!(room_status(&s, &bob, &room).await, 404, "{what}");

    // Message edit, then message delete.
    let mut c = Client::joined(&s, &alice, &[&room]).await;
    let first = str_of(&c.say(&room, "first").await["id"]);
    let second = str_of(&c.say(&room, "second").await["id"]);
    drop(c);
    let edit = format!("PATCH /api/rooms/{room}/messages/{first}");
    acked(
        &mut s,
        &alice,
        &edit,
        Some(json!({"message": "first, edited"})),
        200,
    )
    .await;
    let history = texts(&all_messages(&s, &alice, &room).await);
    assert_eq!(history, ["first, edited", "second"], "edit lost");
    let delete = format!("DELETE /api/rooms/{room}/messages/{second}");
    acked(&mut s, &alice, &delete, None, 204).await;
    let history = texts(&all_messages(&s, &alice, &room).await);
    assert_eq!(history, ["first, edited"], "delete lost");

    // Room delete.
    acked(
        &mut s,
        &alice,
        &format!("DELETE /api/rooms/{room}"),
        None,
        204,
    )
    .await;
    let what = "deleted room is back";
    assert_eq!(room_status(&s, &alice, &room).await, 404, "{what}");

    // Admin: add a user, disable, enable.
    let carol = json!({"username": "carol", "password": PASSWORD});
    let v = acked(&mut s, &root, "POST /api/admin/users", Some(carol), 201).await;
    let carol = str_of(&v["id"]);
    assert_eq!(login(&s, "carol").await, 200, "added user lost");
    let disable = format!("POST /api/admin/users/{carol}/disable");
    acked(&mut s, &root, &disable, None, 204).await;
    assert_ne!(login(&s, "carol").await, 200, "disable lost");
    let enable = format!("POST /api/admin/users/{carol}/enable");
    acked(&mut s, &root, &enable, None, 204).await;
    assert_eq!(login(&s, "carol").await, 200, "enable lost");
}

async fn login(s: &Server, name: &str) -> u16 {
    http()
        .post(s.url("/api/users/login"))
        .json(&json!({"username": name, "password": PASSWORD}))
        .send()
        .await
        .expect("login")
        .status()
        .as_u16()
}

// ---------------------------------------------------------------------------
// 2. A message whose write failed never shows, not even after a restart.

/// A small tmpfs, unmounted when dropped.
struct Tmpfs {
    dir: PathBuf,
    _parent: tempfile::TempDir,
}

impl Tmpfs {
    /// Mounts one, or says why not (not root, no mount permission).
    fn mount(size: &str) -> Result<Tmpfs, String> {
        let uid = std::process::Command::new("id")
            .arg("-u")
            .output()
            .map_err(|e| format!("id -u: {e}"))?;
        if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
            return Err("not running as root".into());
        }
        let parent = tempfile::tempdir().map_err(|e| e.to_string())?;
        let dir = parent.path().join("mnt");
        std::fs::create_dir(&dir).map_err(|e| e.to_string())?;
        let st = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&dir)
            .stderr(Stdio::null())
            .status()
            .map_err(|e| format!("mount: {e}"))?;
        if !st.success() {
            return Err(format!("mount failed: {st}"));
        }
        Ok(Tmpfs {
            dir,
            _parent: parent,
        })
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.dir)
            .status();
    }
}

/// Fills the file system of `path` to the last byte; returns the filler.
fn fill_disk(dir: &Path) -> PathBuf {
    use std::io::Write;
    let path = dir.join("filler");
    let mut f = std::fs::File::create(&path).expect("filler");
    for chunk in [1 << 20, 4096, 1] {
        let buf = vec![0x55u8; chunk];
        while f.write_all(&buf).is_ok() {}
    }
    let _ = f.sync_all();
    path
}

async fn healthz(s: &Server) -> (u16, Value) {
    let res = fetch(s, "/healthz").await;
    let st = res.status().as_u16();
    (st, res.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_message_whose_write_failed_on_a_full_disk_never_shows_even_after_restart() {
    let fs = match Tmpfs::mount("48m") {
        Ok(fs) => fs,
        Err(why) => {
            println!("skipped: needs a tmpfs ({why})");
            return;
        }
    };
    let dir = fs.dir.join("data");
    let mut s = Server::spawn_process(&dir, "127.0.0.1:0", &["--message-rate", "0"]);
    let alice = register(&s, "alice").await;
    let room = str_of(&create_room(&s, &alice, "general", false).await["id"]);
    let mut c = Client::joined(&s, &alice, &[&room]).await;
    let ok = c.send_message(&room, "before the disk filled").await;
    assert_eq!(ok["event"], "ack", "{ok}");

    let filler = fill_disk(&fs.dir);
    // Large messages until one cannot be stored; those acked before it are
    // durable and stay.
    let pad = "x".repeat(3900);
    let mut acked = vec!["before the disk filled".to_owned()];
    let mut failed = None;
    for i in 0..2000 {
        let text = format!("{i} {pad}");
        let f = c.send_message(&room, &text).await;
        if f["event"] == "ack" {
            acked.push(text);
        } else {
            assert_eq!(f["event"], "error", "{f}");
            assert_eq!(f["data"]["code"], "internal", "{f}");
            failed = Some(text);
            break;
        }
    }
    let failed = failed.expect("a send failed on the full disk");
    let history = texts(&all_messages(&s, &alice, &room).await);
    assert!(
        !history.contains(&failed),
        "the failed message is in the history"
    );
    let (st, v) = healthz(&s).await;
    assert_eq!(st, 503, "healthz while the store cannot write: {v}");
    assert_eq!(v["status"], "unavailable", "{v}");
    assert!(v["reason"].as_str().is_some_and(|r| !r.is_empty()), "{v}");
    let later = c.send_message(&room, "still full").await;
    assert_eq!(later["data"]["code"], "internal", "{later}");
    drop(c);

    // Space comes back: the server stops with a failure status, for its
    // supervisor to restart it.
    std::fs::remove_file(&filler).expect("free the space");
    let code = s.wait_exit();
    assert!(
        code.is_some_and(|c| c != 0),
        "exit status after recovering space: {code:?}"
    );
    s.respawn();
    let (st, v) = healthz(&s).await;
    assert_eq!(st, 200, "{v}");
    let history = texts(&all_messages(&s, &alice, &room).await);
    assert!(
        !history.contains(&failed) && !history.iter().any(|t| t == "still full"),
        "a failed message is back after the restart"
    );
    assert_eq!(history, acked, "acknowledged messages after the restart");
    let mut c = Client::joined(&s, &alice, &[&room]).await;
    let f = c.send_message(&room, "after the restart").await;
    assert_eq!(f["event"], "ack", "{f}");
    let history = texts(&all_messages(&s, &alice, &room).await);
    assert_eq!(
        history.last().map(String::as_str),
        Some("after the restart")
    );
    drop(c);
    drop(s);
    drop(fs);
}

// ---------------------------------------------------------------------------
// 3. An edit racing a delete never brings the message back.

#[tokio::test]
async fn edits_racing_deletes_never_bring_a_deleted_message_back() {
    const N: usize = 30;
    let s = Server::start();
    let alice = register(&s, "alice").await;
    let room = str_of(&create_room(&s, &alice, "general", false).await["id"]);
    let mut c = Client::joined(&s, &alice, &[&room]).await;
    let mut ids = Vec::new();
    for i in 0..N {
        let f = c.send_message(&room, &format!("m{i}")).await;
        ids.push(str_of(&f["data"]["id"]));
    }
    drop(c);
    let mut tasks = Vec::new();
    for id in &ids {
        for k in 0..4 {
            let (url, token) = (
                s.url(&format!("/api/rooms/{room}/messages/{id}")),
                alice.token.clone(),
            );
            tasks.push(tokio::spawn(async move {
                let req = if k == 2 {
                    http().delete(url)
                } else {
                    http()
                        .patch(url)
                        .json(&json!({"message": format!("edit {k}")}))
                };
                let st = req.bearer_auth(token).send().await.expect("send").status();
                assert!(
                    [200, 204, 404].contains(&st.as_u16()),
                    "unexpected status {st}"
                );
            }));
        }
    }
    for t in tasks {
        t.await.expect("task");
    }
    let history = all_messages(&s, &alice, &room).await;
    assert!(
        history.is_empty(),
        "deleted messages came back: {:?}",
        texts(&history)
    );
    for id in &ids {
        let (st, _) = request(
            &s,
            "PATCH",
            &alice,
            &format!("/api/rooms/{room}/messages/{id}"),
            Some(json!({"message": "late"})),
        )
        .await;
        assert_eq!(st, 404);
    }
}

// ---------------------------------------------------------------------------
// 4. Rooms per user: a quota and a creation rate.

async fn try_create(s: &Server, u: &User, name: &str) -> reqwest::Response {
    let req = http().post(s.url("/api/rooms")).bearer_auth(&u.token);
    req.json(&json!({"name": name}))
        .send()
        .await
        .expect("request")
}

async fn error_code(res: reqwest::Response) -> (u16, String) {
    let st = res.status().as_u16();
    let v: Value = res.json().await.unwrap_or(Value::Null);
    (st, v["error"]["code"].as_str().unwrap_or("").to_owned())
}

/// A user `alice`, and `root`, an admin.
async fn alice_and_an_admin(s: &Server) -> (User, User) {
    let alice = register(s, "alice").await;
    let root = register(s, "root").await;
    promote(s, &root);
    (alice, root)
}

#[tokio::test]
async fn the_room_quota_answers_403_beyond_it_and_admins_are_exempt() {
    let s = Server::start_with(&["--room-quota", "3", "--room-create-rate", "0"]);
    let (alice, root) = alice_and_an_admin(&s).await;
    for i in 0..3 {
        create_room(&s, &alice, &format!("a{i}"), i == 1).await;
    }
    let (st, code) = error_code(try_create(&s, &alice, "a3").await).await;
    assert_eq!((st, code.as_str()), (403, "quota_exceeded"));
    // Rooms one merely belongs to do not count; deleting one frees a slot.
    let (st, rooms) = get(&s, &alice, "/api/rooms").await;
    assert_eq!(st, 200);
    let a0 = rooms
        .as_array()
        .expect("list")
        .iter()
        .find(|r| r["name"] == "a0")
        .map(|r| str_of(&r["id"]))
        .expect("a0");
    let (st, _) = request(&s, "DELETE", &alice, &format!("/api/rooms/{a0}"), None).await;
    assert_eq!(st, 204);
    create_room(&s, &alice, "a4", false).await;
    for i in 0..5 {
        create_room(&s, &root, &format!("r{i}"), false).await;
    }
}

#[tokio::test]
async fn concurrent_room_creations_never_exceed_the_quota() {
    let s = Server::start_with(&["--room-quota", "3", "--room-create-rate", "0"]);
    let alice = register(&s, "alice").await;
    let tasks: Vec<_> = (0..12)
        .map(|i| {
            let (url, token) = (s.url("/api/rooms"), alice.token.clone());
            tokio::spawn(async move {
                http()
                    .post(url)
                    .bearer_auth(token)
                    .json(&json!({"name": format!("c{i}")}))
                    .send()
                    .await
                    .expect("create")
                    .status()
                    .as_u16()
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.expect("task"));
    }
    assert_eq!(
        statuses.iter().filter(|&&st| st == 201).count(),
        3,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|&st| st == 201 || st == 403),
        "{statuses:?}"
    );
    let (_, rooms) = get(&s, &alice, "/api/rooms").await;
    assert_eq!(rooms.as_array().expect("list").len(), 3);
}

#[tokio::test]
async fn room_creation_beyond_the_hourly_rate_answers_429_with_retry_after() {
    let s = Server::start_with(&["--room-create-rate", "2", "--room-quota", "0"]);
    let (alice, root) = alice_and_an_admin(&s).await;
    create_room(&s, &alice, "one", false).await;
    create_room(&s, &alice, "two", false).await;
    let res = try_create(&s, &alice, "three").await;
    let retry: u64 = res
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After");
    assert!((1..=3600).contains(&retry), "Retry-After {retry}");
    let (st, code) = error_code(res).await;
    assert_eq!((st, code.as_str()), (429, "rate_limited"));
    // Another user has its own allowance; admins have none.
    let bob = register(&s, "bob").await;
    create_room(&s, &bob, "bobs", false).await;
    for i in 0..4 {
        create_room(&s, &root, &format!("admin{i}"), false).await;
    }
}
