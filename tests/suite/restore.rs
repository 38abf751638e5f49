//! `restore` refuses inconsistent backups (each kind of inconsistency, with
//! the line that shows it) and leaves the target untouched; over-long lines
//! in a backup or on the admin socket are refused without being held.
//!
//! Each test builds a real backup with `chatroom backup` from a seeded
//! server, corrupts it line by line, and runs `chatroom restore` as a
//! process. Every wait is bounded.

use crate::common;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use common::*;
use serde_json::{json, Value};

/// Longest a command may run before the test fails.
const CMD_WAIT: Duration = Duration::from_secs(60);

/// Runs `chatroom ARGS` (bounded) and returns its output.
fn chatroom(cwd: &Path, args: &[&str]) -> Output {
    let mut cmd = command(cwd);
    cmd.args(args).args(admin_store_args(args));
    run_bounded(cmd, b"", CMD_WAIT).unwrap_or_else(|e| panic!("{e}"))
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
        let lobby = room_id(&s, &alice, "Lobby", false).await;
        let hideout = room_id(&s, &alice, "Hideout", true).await;
        add_member(&s, &alice, &hideout, "bob").await;
        let mut c = Client::joined(&s, &alice, &[&lobby, &hideout]).await;
        for i in 0..6 {
            let room = if i % 2 == 0 { &lobby } else { &hideout };
            c.say(room, &format!("m{i}")).await;
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

    /// Changes the `nth` record of `kind` with `f`; returns its line index.
    fn edited(&mut self, kind: &str, nth: usize, f: impl FnOnce(&mut Value)) -> usize {
        let i = self.find(kind, nth);
        self.edit(i, f);
        i
    }

    /// Inserts a copy of the line of the `nth` record of `kind` at line
    /// index `at`; returns `at`.
    fn copy(&mut self, kind: &str, nth: usize, at: usize) -> usize {
        let copy = self.lines[self.find(kind, nth)].clone();
        self.lines.insert(at, copy);
        at
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
    // The embedded store's database is in the data directory (on
    // PostgreSQL, the restored server's checks below are what count).
    if !common::cluster::on_postgres() {
        assert!(target.join("db").exists());
    }
}

/// One test per row: the seeded backup, changed by the row's closure
/// (which returns the index of the line that shows the fault), is refused
/// in one line naming that line and saying what is wrong.
macro_rules! refusals {
    ($($name:ident: $change:expr => $what:literal;)*) => {
        $(
            #[tokio::test]
            async fn $name() {
                let mut b = Backup::seeded().await;
                let change: fn(&mut Backup) -> usize = $change;
                let i = change(&mut b);
                b.refused_at(i, $what);
            }
        )*
    };
}

/// Rows of [`refusals!`]: the `field` of the `nth` record of `kind` names
/// a user or room the backup does not hold.
macro_rules! dangling_references {
    ($($name:ident: ($kind:literal, $nth:literal, $field:literal);)*) => {
        refusals! {
            $(
                $name: |b| b.edited($kind, $nth, |v| v[$kind][$field] = json!(NO_SUCH_ID))
                    => "not in the backup";
            )*
        }
    };
}

dangling_references! {
    restore_refuses_a_membership_of_a_missing_user: ("member", 0, "user");
    restore_refuses_a_membership_of_a_missing_room: ("member", 0, "room");
    restore_refuses_a_message_in_a_missing_room: ("message", 2, "roomId");
    restore_refuses_a_message_by_a_missing_user: ("message", 1, "userId");
}

refusals! {
    restore_refuses_a_duplicate_user_id: |b| {
        let at = b.copy("user", 0, b.find("user", 1) + 1);
        b.edit(at, |v| v["user"]["record"]["username"] = json!("zed"));
        at
    } => "duplicate user id";
    restore_refuses_a_username_that_differs_only_in_case: |b| {
        let at = b.copy("user", 0, b.find("user", 0) + 1);
        b.edit(at, |v| {
            v["user"]["id"] = json!(NO_SUCH_ID);
            let name = v["user"]["record"]["username"].as_str().expect("name").to_uppercase();
            v["user"]["record"]["username"] = json!(name);
        });
        at
    } => "duplicate username";
    restore_refuses_a_username_the_registration_rules_refuse: |b| {
        b.edited("user", 1, |v| v["user"]["record"]["username"] = json!("no spaces allowed"))
    } => "username must be";
    restore_refuses_a_duplicate_room_id: |b| {
        let at = b.copy("room", 0, b.find("message", 0));
        b.edit(at, |v| v["room"]["name"] = json!("Another name"));
        at
    } => "duplicate room id";
    restore_refuses_a_room_name_that_differs_only_in_case: |b| {
        let at = b.copy("room", 0, b.find("message", 0));
        b.edit(at, |v| {
            v["room"]["id"] = json!(NO_SUCH_ID);
            let name = v["room"]["name"].as_str().expect("name").to_lowercase();
            v["room"]["name"] = json!(name);
        });
        at
    } => "duplicate room name";
    restore_refuses_a_room_name_the_rules_refuse: |b| {
        b.edited("room", 1, |v| v["room"]["name"] = json!("x".repeat(65)))
    } => "room name must be";
    restore_refuses_a_duplicate_membership: |b| {
        b.copy("member", 0, b.find("member", 0) + 1)
    } => "duplicate";
    restore_refuses_a_duplicate_message_in_a_room: |b| {
        b.copy("message", 1, b.find("message", 1) + 1)
    } => "duplicate or out of order";
    // The last message of a room: its room's order stays increasing.
    restore_refuses_a_message_id_that_leaves_no_room_for_new_ones: |b| {
        b.edited("message", 5, |v| v["message"]["id"] = json!("ffffffffffffffff"))
    } => "leaves no room for new messages";
    restore_refuses_counts_that_disagree_with_the_records: |b| {
        let i = b.lines.len() - 1;
        b.edit(i, |v| {
            let n = v["end"]["messages"].as_u64().expect("count");
            v["end"]["messages"] = json!(n + 1);
        });
        i
    } => "the end record counts";
    // A new user, referenced by nothing, among the messages.
    restore_refuses_records_out_of_their_order: |b| {
        let at = b.copy("user", 0, b.find("message", 0));
        b.edit(at, |v| {
            v["user"]["id"] = json!(NO_SUCH_ID);
            v["user"]["record"]["username"] = json!("zed");
        });
        at
    } => "out of place";
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
    let mut cmd = command(tmp.path());
    cmd.args(["restore", "--input", p(&file), "--data-dir", p(&target)]);
    let (status, err, peak) = run_sampling_peak_rss(cmd, CMD_WAIT);
    assert!(!status.success());
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

#[tokio::test]
async fn admin_socket_refuses_an_overlong_request_line_without_growing() {
    let s = Server::start_process();
    let peak_before = proc_kib(s.child.id(), "VmHWM:").expect("VmHWM");
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
    let peak_after = proc_kib(s.child.id(), "VmHWM:").expect("VmHWM");
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
