//! The search mode: full-text search over a large history written by
//! `fill_history`. Before the server starts, [`prepare`] rebuilds the index
//! offline (its time is the indexing rate), measures the database and the
//! index on disk and creates an admin; then [`run`] waits for the served
//! index, reads the idle memory and times queries of several kinds over
//! HTTP while sampling the server's memory.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde_json::{json, Value};

use crate::server::{Server, SERVER_ENV};
use crate::stats;
use crate::{sys, SearchArgs};

/// The admin the mode creates (or promotes) to read `/api/admin/search`.
const ADMIN: &str = "bench_search_admin";
const ADMIN_PASSWORD: &str = "bench-password-0123";
/// How long the served index may take to be ready and caught up.
const READY_TIMEOUT: Duration = Duration::from_secs(600);
/// How often the server's memory is sampled during the query burst.
const RSS_SAMPLE: Duration = Duration::from_millis(20);

/// The query classes, chosen from `fill_history --realistic`'s text (a
/// fixed vocabulary with Zipf frequencies; the counts are for 1,000,000
/// messages): a rare generated word (about 100 messages), a mid-frequency
/// one (about 15,000), the most common word, two mid words, a
/// three-letter prefix of many generated words, a phrase, a user filter
/// with a word, and a pair of kanji from its Japanese sentences.
const QUERIES: &[(&str, &str)] = &[
    ("rare", "ontenon"),
    ("mid", "coffee"),
    ("common", "the"),
    ("two_words", "coffee release"),
    ("prefix", "ber"),
    ("phrase", "\"see you\""),
    ("from_user", "from:user3 coffee"),
    ("cjk", "会議"),
];

/// Before the server starts: rebuilds the index, prints the sizes and
/// creates the admin. Returns the data directory the server is to use.
pub fn prepare(args: &SearchArgs) -> Result<PathBuf, String> {
    let Some(binary) = &args.common.spawn else {
        return Err("search needs --spawn PATH (the server binary; it also rebuilds the index and creates the admin)".to_string());
    };
    let dir = std::fs::canonicalize(&args.data_dir)
        .map_err(|e| format!("cannot find {}: {e}", args.data_dir.display()))?;
    println!("mode: search");
    println!("data_dir: {}", dir.display());

    let started = Instant::now();
    let out = chatroom(binary, &dir, &["reindex"], None)?;
    let secs = started.elapsed().as_secs_f64();
    let summary = out.lines().rev().find(|l| l.starts_with("reindexed"));
    let messages: u64 = summary
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| format!("reindex printed no `reindexed N messages` line: {out}"))?;
    println!(
        "index_build: {messages} messages in {secs:.2} s wall = {:.0} messages/s (reindex says: {})",
        messages as f64 / secs.max(0.001),
        summary.unwrap_or("").trim()
    );

    let db = dir_bytes(&dir.join("db"))?;
    let index = dir_bytes(&dir.join("search"))?;
    println!(
        "sizes: db {db} B ({:.1} MiB), search {index} B ({:.1} MiB), search/db {:.3}",
        mib(db),
        mib(index),
        index as f64 / db.max(1) as f64
    );

    chatroom(
        binary,
        &dir,
        &["create-admin", "--username", ADMIN, "--password-stdin"],
        Some(ADMIN_PASSWORD),
    )?;
    Ok(dir)
}

/// `chatroom SUBCOMMAND --data-dir DIR ...` with a clean environment;
/// returns its standard error (where reindex prints its summary).
fn chatroom(
    binary: &Path,
    dir: &Path,
    sub: &[&str],
    stdin: Option<&str>,
) -> Result<String, String> {
    let mut cmd = Command::new(binary);
    cmd.args(sub)
        .arg("--data-dir")
        .arg(dir)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for var in SERVER_ENV {
        cmd.env_remove(var);
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        writeln!(pipe, "{text}").map_err(|e| format!("cannot write to {}: {e}", sub[0]))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("{} failed: {e}", sub[0]))?;
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if !out.status.success() {
        return Err(format!(
            "chatroom {} failed ({}): {stderr}",
            sub[0], out.status
        ));
    }
    Ok(stderr)
}

/// Bytes of the files under `dir`.
fn dir_bytes(dir: &Path) -> Result<u64, String> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    let mut total = 0;
    for e in entries {
        let e = e.map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
        let meta = e
            .metadata()
            .map_err(|err| format!("{}: {err}", e.path().display()))?;
        total += if meta.is_dir() {
            dir_bytes(&e.path())?
        } else {
            meta.len()
        };
    }
    Ok(total)
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// With the server running on the prepared directory.
pub async fn run(server: &Server, args: &SearchArgs) -> Result<(), String> {
    let Some(pid) = server.pid() else {
        return Err("the server's pid is unknown".to_string());
    };
    let client = crate::client::http_client()?;
    let base = server.base_url().to_string();
    let token = login(&client, &base).await?;

    let waited = Instant::now();
    let status = wait_ready(&client, &base, &token).await?;
    println!(
        "index_ready: after {:.1} s, status {status}",
        waited.elapsed().as_secs_f64()
    );

    tokio::time::sleep(Duration::from_secs_f64(args.settle.max(0.0))).await;
    let idle = sys::rss_kib(pid).unwrap_or(0);
    println!(
        "idle_rss: {idle} KiB ({:.1} MiB) after {} s settle",
        idle as f64 / 1024.0,
        args.settle
    );

    let peak = Arc::new(AtomicU64::new(idle));
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = tokio::spawn(sample_rss(pid, peak.clone(), stop.clone()));
    let mut outcome = Ok(());
    for (name, q) in QUERIES {
        if let Err(e) = query_class(&client, &base, &token, name, q, args).await {
            outcome = Err(e);
            break;
        }
    }
    stop.store(true, Ordering::Relaxed);
    let _ = sampler.await;
    let peak = peak.load(Ordering::Relaxed);
    let hwm = sys::status_kib(pid, "VmHWM:").unwrap_or(0);
    println!(
        "query_burst_rss: peak {peak} KiB ({:.1} MiB), idle {idle} KiB, peak - idle {:.1} MiB (VmHWM {:.1} MiB)",
        peak as f64 / 1024.0,
        peak.saturating_sub(idle) as f64 / 1024.0,
        hwm as f64 / 1024.0
    );
    outcome
}

async fn login(client: &reqwest::Client, base: &str) -> Result<String, String> {
    let url = format!("{base}/api/users/login");
    let resp = client
        .post(&url)
        .json(&json!({ "username": ADMIN, "password": ADMIN_PASSWORD }))
        .send()
        .await
        .map_err(|e| format!("POST {url}: {e}"))?;
    let body: Value = body_of(resp, 200, "login").await?;
    body["token"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("login: no token in {body}"))
}

async fn body_of(resp: reqwest::Response, want: u16, what: &str) -> Result<Value, String> {
    let status = resp.status().as_u16();
    let text = resp.text().await.map_err(|e| format!("{what}: {e}"))?;
    if status != want {
        return Err(format!("{what}: expected {want}, got {status}: {text}"));
    }
    serde_json::from_str(&text).map_err(|e| format!("{what}: bad body {text:?}: {e}"))
}

/// Polls `/api/admin/search` until the index is ready with nothing behind;
/// returns the last answer.
async fn wait_ready(client: &reqwest::Client, base: &str, token: &str) -> Result<Value, String> {
    let url = format!("{base}/api/admin/search");
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        let resp = client
            .get(&url)
            .bearer_auth(token)
            .send()
            .await
            .map_err(|e| format!("GET {url}: {e}"))?;
        let body = body_of(resp, 200, "admin search status").await?;
        if body["state"] == "ready" && body["behind"] == 0 {
            return Ok(body);
        }
        if Instant::now() > deadline {
            return Err(format!(
                "the index is not ready after {} s: {body}",
                READY_TIMEOUT.as_secs()
            ));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Keeps the largest VmRSS seen in `peak` until `stop`.
async fn sample_rss(pid: u32, peak: Arc<AtomicU64>, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::Relaxed) {
        if let Some(kib) = sys::rss_kib(pid) {
            peak.fetch_max(kib, Ordering::Relaxed);
        }
        tokio::time::sleep(RSS_SAMPLE).await;
    }
}

/// One query class: a first request to count its results, then
/// `--requests` requests from `--clients` concurrent keep-alive clients.
async fn query_class(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    name: &str,
    q: &str,
    args: &SearchArgs,
) -> Result<(), String> {
    let url = reqwest::Url::parse_with_params(
        &format!("{base}/api/search"),
        &[("q", q), ("limit", "20")],
    )
    .map_err(|e| format!("bad URL: {e}"))?;
    let resp = client
        .get(url.clone())
        .bearer_auth(token)
        .send()
        .await
        .map_err(|e| format!("GET {url}: {e}"))?;
    let body = body_of(resp, 200, name).await?;
    let found = body["results"].as_array().map_or(0, Vec::len);
    if found == 0 {
        eprintln!("warning: query {name} ({q}) found nothing; its figures time an empty answer");
    }

    let next = Arc::new(AtomicUsize::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..args.clients.max(1))
        .map(|_| {
            let (client, url, token) = (client.clone(), url.clone(), token.to_string());
            let (next, errors, total) = (next.clone(), errors.clone(), args.requests);
            tokio::spawn(async move {
                let mut h = stats::latency_histogram();
                while next.fetch_add(1, Ordering::Relaxed) < total {
                    let t = Instant::now();
                    let ok = match client.get(url.clone()).bearer_auth(&token).send().await {
                        Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
                        Err(_) => false,
                    };
                    if ok {
                        let _ = h.record(t.elapsed().as_micros() as u64);
                    } else {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
                h
            })
        })
        .collect();
    let mut all: Histogram<u64> = stats::latency_histogram();
    for t in tasks {
        let h = t.await.map_err(|e| format!("query task: {e}"))?;
        all.add(&h).map_err(|e| format!("histogram: {e}"))?;
    }
    let secs = started.elapsed().as_secs_f64();
    let p = |q: f64| stats::ms(all.value_at_quantile(q));
    println!(
        "query_{name}: q={q:?} results={found} requests={} clients={} errors={} p50_ms={} p99_ms={} max_ms={} per_s={:.0}",
        all.len(),
        args.clients.max(1),
        errors.load(Ordering::Relaxed),
        p(0.50),
        p(0.99),
        stats::ms(all.max()),
        all.len() as f64 / secs.max(0.001)
    );
    Ok(())
}
