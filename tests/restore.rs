//! `restore` refuses inconsistent backups (each kind of inconsistency, with
//! the line that shows it) and leaves the target untouched; over-long lines
//! in a backup or on the admin socket are refused without being held.
//!
//! Each test builds a real backup with `chatroom backup` from a seeded
//! server, corrupts it line by line, and runs `chatroom restore` as a
//! process. Every wait is bounded.

mod common;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

/// Longest a command may run before the test fails.
const CMD_WAIT: Duration = Duration::from_secs(60);

/// Runs `chatroom ARGS` (bounded) and returns its output.
fn chatroom(cwd: &Path, args: &[&str]) -> Output {
    let mut child = command(cwd)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn chatroom");
    let deadline = Instant::now() + CMD_WAIT;
    while child.try_wait().expect("try_wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("chatroom {args:?} did not finish within {CMD_WAIT:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.wait_with_output().expect("output")
}

fn p(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

/// A backup of a small real history, as lines, and where to write more.
struct Backup {
    tmp: tempfile::TempDir,
    lines: Vec<String>,
}

impl Backup {
    /// Two users, a public and a private room (bob a member of it), and
    /// three messages in each room, backed up through the running server.
    async fn seeded() -> Backup {
        let s = Server::start();
        let alice = register(&s, "alice").await;
        register(&s, "bob").await;
        let lobby = create_room(&s, &alice, "Lobby", false).await;
        let hideout = create_room(&s, &alice, "Hideout", true).await;
        let (lobby, hideout) = (
            lobby["id"].as_str().expect("id").to_owned(),
            hideout["id"].as_str().expect("id").to_owned(),
        );
        let res = http()
            .post(s.url(&format!("/api/rooms/{hideout}/members")))
            .bearer_auth(&alice.token)
            .json(&json!({"username": "bob"}))
            .send()
            .await
            .expect("add member");
        assert!(res.status().is_success(), "add member: {}", res.status());
        let mut c = Client::connect(&s, &alice).await;
        for room in [&lobby, &hideout] {
            let ack = c.call("joinRoom", json!({ "roomId": room })).await;
            assert_eq!(ack["event"], "ack", "{ack}");
        }
        for i in 0..6 {
            let room = if i % 2 == 0 { &lobby } else { &hideout };
            let ack = c
                .call(
                    "sendMessage",
                    json!({"roomId": room, "message": format!("m{i}")}),
                )
                .await;
            assert_eq!(ack["event"], "ack", "{ack}");
        }
        let tmp = tempfile::tempdir().expect("tempdir");
        let file = tmp.path().join("chat.backup");
        let out = chatroom(
            tmp.path(),
            &["backup", "--data-dir", p(&s.dir), "--output", p(&file)],
        );
        assert!(out.status.success(), "backup: {out:?}");
        let text = std::fs::read_to_string(&file).expect("read backup");
        Backup {
            tmp,
            lines: text.lines().map(str::to_owned).collect(),
        }
    }

    /// Index of the `nth` line holding a record of `kind`.
    fn find(&self, kind: &str, nth: usize) -> usize {
        self.lines
            .iter()
            .enumerate()
            .filter(|(_, l)| record(l).get(kind).is_some())
            .nth(nth)
            .unwrap_or_else(|| panic!("no {kind} record #{nth}"))
            .0
    }

    /// Changes the record on line index `i` with `f`.
    fn edit(&mut self, i: usize, f: impl FnOnce(&mut Value)) {
        let mut v = record(&self.lines[i]);
        f(&mut v);
        self.lines[i] = v.to_string();
    }

    /// Restores these lines into a new directory; returns the output and
    /// that directory.
    fn restore(&self) -> (Output, PathBuf) {
        let file = self.tmp.path().join("edited.backup");
        std::fs::write(&file, self.lines.join("\n") + "\n").expect("write");
        let target = self.tmp.path().join("restored");
        let out = chatroom(
            self.tmp.path(),
            &["restore", "--input", p(&file), "--data-dir", p(&target)],
        );
        (out, target)
    }

    /// Restores and expects a refusal naming line index `i` (1-based in
    /// the message) and `what`, with the target directory not created.
    fn refused_at(&self, i: usize, what: &str) {
        let (out, target) = self.restore();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "restore accepted it: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
        assert!(
            err.contains(&format!("line {}:", i + 1)),
            "names line {}: {err}",
            i + 1
        );
        assert!(err.contains(what), "says {what:?}: {err}");
        assert!(!target.exists(), "the target was left untouched");
    }
}

fn record(line: &str) -> Value {
    serde_json::from_str(line).expect("json line")
}

const NO_SUCH_ID: &str = "0123456789abcdef";

#[tokio::test]
async fn an_untouched_backup_restores_with_its_counts() {
    let b = Backup::seeded().await;
    let (out, target) = b.restore();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("restored 2 users, 2 rooms, 3 memberships and 6 messages"),
        "{err}"
    );
    assert!(target.join("db").exists());
}

#[tokio::test]
async fn restore_refuses_a_duplicate_user_id() {
    let mut b = Backup::seeded().await;
    let i = b.find("user", 1);
    let first = b.lines[b.find("user", 0)].clone();
    b.lines.insert(i + 1, first);
    b.edit(i + 1, |v| v["user"]["record"]["username"] = json!("zed"));
    b.refused_at(i + 1, "duplicate user id");
}

#[tokio::test]
async fn restore_refuses_a_username_that_differs_only_in_case() {
    let mut b = Backup::seeded().await;
    let i = b.find("user", 0);
    let copy = b.lines[i].clone();
    b.lines.insert(i + 1, copy);
    b.edit(i + 1, |v| {
        v["user"]["id"] = json!(NO_SUCH_ID);
        let name = v["user"]["record"]["username"]
            .as_str()
            .expect("name")
            .to_uppercase();
        v["user"]["record"]["username"] = json!(name);
    });
    b.refused_at(i + 1, "duplicate username");
}

#[tokio::test]
async fn restore_refuses_a_username_the_registration_rules_refuse() {
    let mut b = Backup::seeded().await;
    let i = b.find("user", 1);
    b.edit(i, |v| {
        v["user"]["record"]["username"] = json!("no spaces allowed")
    });
    b.refused_at(i, "username must be");
}

#[tokio::test]
async fn restore_refuses_a_duplicate_room_id() {
    let mut b = Backup::seeded().await;
    let i = b.find("room", 0);
    let copy = b.lines[i].clone();
    let at = b.find("message", 0);
    b.lines.insert(at, copy);
    b.edit(at, |v| v["room"]["name"] = json!("Another name"));
    b.refused_at(at, "duplicate room id");
}

#[tokio::test]
async fn restore_refuses_a_room_name_that_differs_only_in_case() {
    let mut b = Backup::seeded().await;
    let i = b.find("room", 0);
    let copy = b.lines[i].clone();
    let at = b.find("message", 0);
    b.lines.insert(at, copy);
    b.edit(at, |v| {
        v["room"]["id"] = json!(NO_SUCH_ID);
        let name = v["room"]["name"].as_str().expect("name").to_lowercase();
        v["room"]["name"] = json!(name);
    });
    b.refused_at(at, "duplicate room name");
}

#[tokio::test]
async fn restore_refuses_a_room_name_the_rules_refuse() {
    let mut b = Backup::seeded().await;
    let i = b.find("room", 1);
    b.edit(i, |v| v["room"]["name"] = json!("x".repeat(65)));
    b.refused_at(i, "room name must be");
}

#[tokio::test]
async fn restore_refuses_a_membership_of_a_missing_user() {
    let mut b = Backup::seeded().await;
    let i = b.find("member", 0);
    b.edit(i, |v| v["member"]["user"] = json!(NO_SUCH_ID));
    b.refused_at(i, "not in the backup");
}

#[tokio::test]
async fn restore_refuses_a_membership_of_a_missing_room() {
    let mut b = Backup::seeded().await;
    let i = b.find("member", 0);
    b.edit(i, |v| v["member"]["room"] = json!(NO_SUCH_ID));
    b.refused_at(i, "not in the backup");
}

#[tokio::test]
async fn restore_refuses_a_duplicate_membership() {
    let mut b = Backup::seeded().await;
    let i = b.find("member", 0);
    let copy = b.lines[i].clone();
    b.lines.insert(i + 1, copy);
    b.refused_at(i + 1, "duplicate");
}

#[tokio::test]
async fn restore_refuses_a_message_in_a_missing_room() {
    let mut b = Backup::seeded().await;
    let i = b.find("message", 2);
    b.edit(i, |v| v["message"]["roomId"] = json!(NO_SUCH_ID));
    b.refused_at(i, "not in the backup");
}

#[tokio::test]
async fn restore_refuses_a_message_by_a_missing_user() {
    let mut b = Backup::seeded().await;
    let i = b.find("message", 1);
    b.edit(i, |v| v["message"]["userId"] = json!(NO_SUCH_ID));
    b.refused_at(i, "not in the backup");
}

#[tokio::test]
async fn restore_refuses_a_duplicate_message_in_a_room() {
    let mut b = Backup::seeded().await;
    let i = b.find("message", 1);
    let copy = b.lines[i].clone();
    b.lines.insert(i + 1, copy);
    b.refused_at(i + 1, "duplicate or out of order");
}

#[tokio::test]
async fn restore_refuses_a_message_id_used_in_two_rooms() {
    let mut b = Backup::seeded().await;
    // The backup writes room by room: the 4th message is the first of the
    // second room; give it the id of the first room's first message.
    let first = record(&b.lines[b.find("message", 0)]);
    let i = b.find("message", 3);
    assert_ne!(
        record(&b.lines[i])["message"]["roomId"],
        first["message"]["roomId"]
    );
    b.edit(i, |v| v["message"]["id"] = first["message"]["id"].clone());
    b.refused_at(i, "already used in another room");
}

#[tokio::test]
async fn restore_refuses_a_message_id_that_leaves_no_room_for_new_ones() {
    let mut b = Backup::seeded().await;
    // The last message of a room: its room's order stays increasing.
    let i = b.find("message", 5);
    b.edit(i, |v| v["message"]["id"] = json!("ffffffffffffffff"));
    b.refused_at(i, "leaves no room for new messages");
}

#[tokio::test]
async fn restore_refuses_counts_that_disagree_with_the_records() {
    let mut b = Backup::seeded().await;
    let i = b.lines.len() - 1;
    b.edit(i, |v| {
        let n = v["end"]["messages"].as_u64().expect("count");
        v["end"]["messages"] = json!(n + 1);
    });
    b.refused_at(i, "the end record counts");
}

#[tokio::test]
async fn restore_refuses_records_out_of_their_order() {
    let mut b = Backup::seeded().await;
    // A new user, referenced by nothing, among the messages.
    let user = b.lines[b.find("user", 0)].clone();
    let at = b.find("message", 0);
    b.lines.insert(at, user);
    b.edit(at, |v| {
        v["user"]["id"] = json!(NO_SUCH_ID);
        v["user"]["record"]["username"] = json!("zed");
    });
    b.refused_at(at, "out of place");
}

#[tokio::test]
async fn restore_into_a_directory_with_data_is_refused_and_keeps_its_data() {
    let b = Backup::seeded().await;
    let (out, target) = b.restore();
    assert!(out.status.success());
    let (out, _) = b.restore();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("already holds data"), "{err}");
    // Opening the database to look at it lets sled write a snapshot, so
    // the bytes may differ; the data is the same.
    let out = chatroom(b.tmp.path(), &["export", "--data-dir", p(&target)]);
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 6);
}

/// Peak RSS in KiB of `chatroom ARGS`, read from `/proc` while it runs.
fn peak_rss_kib(cwd: &Path, args: &[&str]) -> (Output, u64) {
    let mut child = command(cwd)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let status_path = format!("/proc/{}/status", child.id());
    let mut peak = 0;
    let deadline = Instant::now() + CMD_WAIT;
    loop {
        if let Ok(st) = std::fs::read_to_string(&status_path) {
            if let Some(kib) = vm_kib(&st, "VmHWM:") {
                peak = peak.max(kib);
            }
        }
        if child.try_wait().expect("try_wait").is_some() {
            break;
        }
        assert!(Instant::now() < deadline, "command did not finish in time");
        std::thread::sleep(Duration::from_millis(2));
    }
    (child.wait_with_output().expect("output"), peak)
}

fn vm_kib(status: &str, field: &str) -> Option<u64> {
    status.lines().find_map(|l| {
        l.strip_prefix(field)
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    })
}

#[test]
fn restore_refuses_an_overlong_line_without_holding_it() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = tmp.path().join("huge.backup");
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&file).expect("create"));
        writeln!(
            f,
            r#"{{"header":{{"format":"chatroom-backup","schema":1}}}}"#
        )
        .expect("w");
        let chunk = vec![b'x'; 1 << 20];
        for _ in 0..48 {
            f.write_all(&chunk).expect("write");
        }
        f.write_all(b"\n").expect("write");
    }
    let target = tmp.path().join("restored");
    let (out, peak) = peak_rss_kib(
        tmp.path(),
        &["restore", "--input", p(&file), "--data-dir", p(&target)],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("line 2:") && err.contains("longer than"),
        "{err}"
    );
    assert!(!target.exists());
    eprintln!("restore of a 48 MiB line: peak RSS {peak} KiB");
    assert!(
        peak < 32 * 1024,
        "peak RSS {peak} KiB while refusing a 48 MiB line"
    );
}

/// Current and peak RSS of a process, in KiB.
fn rss_of(pid: u32) -> (u64, u64) {
    let st = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    (
        vm_kib(&st, "VmRSS:").expect("VmRSS"),
        vm_kib(&st, "VmHWM:").expect("VmHWM"),
    )
}

#[tokio::test]
async fn admin_socket_refuses_an_overlong_request_line_without_growing() {
    let s = Server::start_process();
    let (_, peak_before) = rss_of(s.child.id());
    let stream = UnixStream::connect(s.dir.join("admin.sock")).expect("connect");
    stream.set_read_timeout(Some(WAIT)).expect("read timeout");
    let writer = {
        let mut w = stream.try_clone().expect("clone");
        std::thread::spawn(move || {
            let chunk = vec![b'x'; 1 << 20];
            // The server stops reading after its cap: a write then fails.
            for _ in 0..50 {
                if w.write_all(&chunk).is_err() {
                    return;
                }
            }
            let _ = w.write_all(b"\n");
        })
    };
    let mut reply = Vec::new();
    // The server closes with our bytes unread: the read may end in an
    // error after the answer; what arrived is what counts.
    let _ = (&stream).read_to_end(&mut reply);
    writer.join().expect("writer");
    let reply = String::from_utf8_lossy(&reply);
    assert!(
        reply.starts_with("e ") && reply.contains("longer than 64 KiB"),
        "{reply:?}"
    );
    let (_, peak_after) = rss_of(s.child.id());
    eprintln!("server peak RSS {peak_before} KiB before, {peak_after} KiB after a 50 MiB line");
    assert!(
        peak_after < peak_before + 16 * 1024,
        "the server grew from {peak_before} to {peak_after} KiB"
    );
    // The channel still serves a well-formed request.
    let out = chatroom(
        s.dir.parent().expect("parent"),
        &["export", "--data-dir", p(&s.dir)],
    );
    assert!(out.status.success(), "{out:?}");
}
