//! An export and a backup of a large history through a running server keep
//! its resident memory within the cache bound plus 32 MiB of its idle
//! figure, during the scan and after it.
//!
//! The history is written through the library before the server starts;
//! the server's RSS is read from `/proc`. Memory figures of an unoptimised
//! build say little, so the test runs with `cargo test --release` only.

#![cfg(target_os = "linux")]

use crate::common;

use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chatroom::model::{Role, Timestamp};
use chatroom::store::{NewMessage, Store};
use common::*;

const MESSAGES: usize = 100_000;
const CACHE_MIB: u64 = 8;
const MIB: u64 = 1024 * 1024;

/// The resident set of `pid`, in bytes.
fn rss(pid: u32) -> u64 {
    proc_kib(pid, "VmRSS:").expect("VmRSS line") * 1024
}

/// Writes `MESSAGES` messages of 100 bytes into one room, as the live
/// writer does (batches of 1,000, flushed).
fn fill(dir: &Path) {
    let store = Store::open(dir, 32 * MIB).expect("open store");
    let user = store
        .create_user("filler", "not-a-hash", Role::User)
        .expect("user")
        .id;
    let room = store
        .create_room("big", "a large history", false, user)
        .expect("room");
    let text = "x".repeat(100);
    for _ in 0..MESSAGES / 1000 {
        let batch = (0..1000).map(|_| NewMessage {
            room_id: room.id,
            user_id: user,
            user: "filler".into(),
            message: text.clone(),
            timestamp: Timestamp::now(),
            mentions: Vec::new(),
            client_id: None,
        });
        store.append_batch(batch.collect()).expect("append");
        store.flush().expect("flush");
    }
}

/// Runs `chatroom <args>` against the server's data directory while
/// sampling the server's RSS; returns the largest figure seen during the
/// run and in the two seconds after it.
fn peak_during(server: &Server, args: &[&str]) -> u64 {
    let pid = server.child.id();
    let peak = Arc::new(AtomicU64::new(rss(pid)));
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak, stop) = (peak.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                peak.fetch_max(rss(pid), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(10));
            }
        })
    };
    let started = Instant::now();
    let status = command(&server.dir)
        .args(args)
        .arg("--data-dir")
        .arg(&server.dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .status()
        .expect("run chatroom");
    assert!(status.success(), "chatroom {args:?} failed");
    assert!(started.elapsed() < Duration::from_secs(60));
    std::thread::sleep(Duration::from_secs(2));
    stop.store(true, Ordering::Relaxed);
    sampler.join().expect("sampler");
    peak.load(Ordering::Relaxed)
}

#[test]
#[cfg_attr(debug_assertions, ignore = "measures the memory of the release build")]
fn export_and_backup_stay_within_the_cache_bound() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("data");
    fill(&dir);
    let cache = CACHE_MIB.to_string();
    let mut server = Server::spawn_process(&dir, "127.0.0.1:0", &["--cache-mb", &cache]);
    std::thread::sleep(Duration::from_secs(1));
    let idle = rss(server.child.id());
    let bound = idle + (CACHE_MIB + 32) * MIB;
    let backup = tmp.path().join("backup.jsonl");
    let backup = backup.to_str().expect("utf-8 path");
    for args in [&["export"][..], &["backup", "--output", backup][..]] {
        let peak = peak_during(&server, args);
        let after = rss(server.child.id());
        eprintln!(
            "{args:?}: idle {:.1} MiB, peak {:.1} MiB, after {:.1} MiB, bound {:.1} MiB",
            idle as f64 / MIB as f64,
            peak as f64 / MIB as f64,
            after as f64 / MIB as f64,
            bound as f64 / MIB as f64,
        );
        assert!(peak <= bound, "{args:?}: peak RSS {peak} over {bound}");
        assert!(after <= bound, "{args:?}: RSS after {after} over {bound}");
    }
    server.signal("TERM");
    assert_eq!(server.wait_exit(), Some(0), "server exits cleanly");
}
