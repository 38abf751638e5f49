//! `chatroom files gc [--dry-run]` as a real process: over the admin
//! socket while a server runs, and on the data directory itself once it
//! stopped. Blobs nothing refers to and old temporary files are reported,
//! then removed; referenced files stay downloadable; a blob younger than
//! the grace period is left alone. And the low-disk warning in `/healthz`.
//! (Records of a deleted room cannot be provoked over HTTP: the race is
//! built through the store in `src/files/gc/tests.rs`.)

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, SystemTime};

use crate::thumbnails::upload;
use chatroom::files::Sha256;
use common::*;
use serde_json::Value;

const CMD_WAIT: Duration = Duration::from_secs(60);

fn gc(dir: &Path, dry_run: bool) -> Output {
    let dir = dir.to_str().expect("utf-8 path");
    let mut args = vec!["files", "gc", "--data-dir", dir];
    if dry_run {
        args.push("--dry-run");
    }
    run_bounded(admin_command(&args), b"", CMD_WAIT).unwrap_or_else(|e| panic!("{e}"))
}

/// The report's lines; the command must have succeeded.
fn report(out: &Output) -> Vec<String> {
    assert!(out.status.success(), "files gc: {out:?}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

fn blob_path(dir: &Path, bytes: &[u8]) -> PathBuf {
    let hex = Sha256::of(bytes).to_string();
    dir.join("files").join(&hex[..2]).join(&hex[2..4]).join(hex)
}

/// Writes `bytes` at `path`, modified `age` ago.
fn plant(path: &Path, bytes: &[u8], age: Duration) {
    std::fs::create_dir_all(path.parent().expect("parent")).expect("dirs");
    std::fs::write(path, bytes).expect("write");
    std::fs::File::options()
        .write(true)
        .open(path)
        .and_then(|f| f.set_modified(SystemTime::now() - age))
        .expect("set mtime");
}

const OLD: Duration = Duration::from_secs(2 * 3600);

/// What the tests leave in a data directory: an old orphan blob (2048
/// bytes), a fresh one, and two old temporary files (3 and 4 bytes).
struct Planted {
    orphan: PathBuf,
    fresh: PathBuf,
    temps: [PathBuf; 2],
}

fn plant_leftovers(dir: &Path) -> Planted {
    let orphan_bytes = vec![7u8; 2048];
    let planted = Planted {
        orphan: blob_path(dir, &orphan_bytes),
        fresh: blob_path(dir, b"just renamed into place"),
        temps: [dir.join("files/tmp/a1"), dir.join("files/tmp/b2")],
    };
    plant(&planted.orphan, &orphan_bytes, OLD);
    plant(&planted.fresh, b"just renamed into place", Duration::ZERO);
    plant(&planted.temps[0], b"abc", OLD);
    plant(&planted.temps[1], b"abcd", OLD);
    planted
}

const REMOVED: [&str; 4] = [
    "removed 1 unreferenced blob (2.0 KiB)",
    "removed 0 records of deleted rooms (0 B)",
    "removed 2 temporary files (7 B)",
    "fixed 0 index entries and 0 usage counters",
];

fn check_report(lines: &[String], dry_run: bool) {
    for (got, want) in lines.iter().zip(REMOVED) {
        let want = if dry_run {
            want.replacen("removed", "would remove", 1)
                .replacen("fixed", "would fix", 1)
        } else {
            want.to_owned()
        };
        assert_eq!(got, &want, "{lines:?}");
    }
    assert!(
        lines
            .get(4)
            .is_some_and(|l| l.starts_with("kept 1 file younger than")),
        "the fresh blob is left alone: {lines:?}"
    );
}

async fn download(s: &Server, u: &User, id: &str) -> Vec<u8> {
    let res = http()
        .get(s.url(&format!("/api/files/{id}")))
        .bearer_auth(&u.token)
        .send()
        .await
        .expect("get");
    assert_eq!(res.status(), 200);
    res.bytes().await.expect("body").to_vec()
}

#[tokio::test]
async fn gc_through_a_running_server_reports_then_removes_only_orphans() {
    let (s, [alice], room) = general(["alice"]).await;
    let kept = b"kept: a message's attachment".to_vec();
    let file = upload(&s, &alice, &room, "kept.txt", &kept).await;
    let kept_path = blob_path(&s.dir, &kept);
    let planted = plant_leftovers(&s.dir);

    let out = gc(&s.dir, true);
    check_report(&report(&out), true);
    assert!(planted.orphan.exists() && planted.temps.iter().all(|t| t.exists()));

    check_report(&report(&gc(&s.dir, false)), false);
    assert!(!planted.orphan.exists(), "the orphan blob is gone");
    assert!(!planted.temps.iter().any(|t| t.exists()), "temp files gone");
    assert!(
        planted.fresh.exists(),
        "younger than the grace period: kept"
    );
    assert!(kept_path.exists());
    assert_eq!(download(&s, &alice, &id_of(&file)).await, kept);

    let again = report(&gc(&s.dir, false));
    assert_eq!(again[0], "removed 0 unreferenced blobs (0 B)", "{again:?}");
}

#[tokio::test]
async fn gc_with_the_server_stopped_works_on_the_data_directory() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("data");
    let s = Server::spawn(&dir, "127.0.0.1:0", &["--message-rate", "0"]);
    let (s, [alice], room) = general_on(s, ["alice"]).await;
    let kept = b"kept while stopped".to_vec();
    let file = upload(&s, &alice, &room, "kept.txt", &kept).await;
    drop(s);
    let planted = plant_leftovers(&dir);

    check_report(&report(&gc(&dir, true)), true);
    assert!(planted.orphan.exists() && planted.temps[0].exists());
    check_report(&report(&gc(&dir, false)), false);
    assert!(!planted.orphan.exists() && !planted.temps[1].exists());
    assert!(planted.fresh.exists());

    let s = Server::spawn(&dir, "127.0.0.1:0", &["--message-rate", "0"]);
    let alice = login_user(&s, "alice", "correct horse").await;
    assert_eq!(download(&s, &alice, &id_of(&file)).await, kept);
}

#[test]
fn gc_without_data_fails_with_one_line() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = gc(&tmp.path().join("nothing here"), false);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("no chatroom data"), "{err}");
}

async fn healthz(s: &Server) -> Value {
    let res = http().get(s.url("/healthz")).send().await.expect("get");
    assert_eq!(res.status(), 200);
    res.json().await.expect("json")
}

#[tokio::test]
async fn healthz_says_when_the_disk_is_low() {
    // Every real disk has less than 100% free: low from the first check.
    let s = Server::start_with(&["--message-rate", "0", "--low-disk-percent", "100"]);
    let deadline = std::time::Instant::now() + WAIT;
    let mut body = healthz(&s).await;
    while body.get("lowDisk").is_none() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
        body = healthz(&s).await;
    }
    assert_eq!(body["status"], "ok", "{body}");
    assert_eq!(body["lowDisk"], true, "{body}");

    let off = Server::start_with(&["--message-rate", "0", "--low-disk-percent", "0"]);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let body = healthz(&off).await;
    if crate::common::cluster::on_postgres() {
        // A node on PostgreSQL also reports its store and bus.
        assert_eq!(
            (body["status"].clone(), body.get("lowDisk")),
            ("ok".into(), None),
            "{body}"
        );
    } else {
        assert_eq!(body, serde_json::json!({"status": "ok"}));
    }
}
