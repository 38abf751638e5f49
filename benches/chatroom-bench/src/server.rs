//! The server under test: either one already running (`--url`) or one this
//! generator starts on a fresh temporary data directory (`--spawn`) and
//! stops at the end.

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStdout, Command};
use tokio::task::JoinHandle;

use crate::sys::{self, Pinning};
use crate::Common;

/// How long a spawned server may take to print its listening line (it may
/// generate a secret and create its store first).
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a spawned server may take to drain and exit after SIGTERM before
/// it is killed.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(15);
/// What the server prints on standard output once it accepts connections;
/// the URL follows.
const LISTENING_PREFIX: &str = "chatroom listening on ";
/// Limits of the spawned server that a load of few users with many
/// connections would hit, turned off: the per-user message rate, the
/// registrations per address and hour, and the connections per user.
const SERVER_ARGS: &[&str] = &[
    "--message-rate",
    "0",
    "--registration-rate",
    "0",
    "--max-user-connections",
    "1000000",
];
/// Environment variables that would change the spawned server's settings
/// behind the generator's back (see the contract's option table).
pub const SERVER_ENV: &[&str] = &[
    "CHATROOM_BIND",
    "PORT",
    "CHATROOM_DATA_DIR",
    "JWT_SECRET",
    "CHATROOM_MESSAGE_RATE",
    "CHATROOM_MESSAGE_BURST",
    "CHATROOM_REGISTRATION",
    "CHATROOM_ALLOWED_ORIGINS",
];

/// A server the generator talks to.
pub struct Server {
    base_url: String,
    pid: Option<u32>,
    pinning: Option<Pinning>,
    spawned: Option<Spawned>,
}

/// What only a spawned server has.
struct Spawned {
    child: Child,
    work_dir: PathBuf,
    keep_data: bool,
    /// Reads the rest of the server's standard output so it never blocks on
    /// a full pipe.
    stdout_drain: JoinHandle<()>,
}

impl Server {
    /// Attaches to `--url` or spawns `--spawn`.
    pub async fn start(common: &Common, pinning: Option<Pinning>) -> Result<Server, String> {
        match (&common.url, &common.spawn) {
            (Some(url), None) => Ok(Server {
                base_url: normalize_base_url(url)?,
                pid: common.server_pid,
                pinning,
                spawned: None,
            }),
            (None, Some(path)) => spawn(path, common, pinning).await,
            _ => Err("give either --url URL (a running server) or --spawn PATH".to_string()),
        }
    }

    /// `http://host:port` without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The server's resident memory in KiB, when its PID is known.
    pub fn rss_kib(&self) -> Option<u64> {
        self.pid.and_then(sys::rss_kib)
    }

    pub fn pid(&self) -> Option<u32> {
        self.pid
    }

    pub fn print_config(&self) {
        println!("server_url: {}", self.base_url);
        match &self.spawned {
            Some(s) => {
                println!("server: spawned, pid {}", self.pid.unwrap_or(0));
                println!("server_work_dir: {}", s.work_dir.display());
            }
            None => match self.pid {
                Some(pid) => println!("server: external, pid {pid}"),
                None => println!("server: external, pid unknown (memory not measured)"),
            },
        }
        match self.pinning {
            Some(p) if self.spawned.is_some() => println!(
                "pinning: server on CPU {}, generator on CPU {}",
                p.server_cpu, p.generator_cpu
            ),
            Some(p) => println!(
                "pinning: generator on CPU {} (pin the external server yourself, e.g. taskset -c {})",
                p.generator_cpu, p.server_cpu
            ),
            None => println!("pinning: none"),
        }
    }

    /// Stops a spawned server (SIGTERM, then SIGKILL after a grace period)
    /// and removes its data unless asked to keep it. No-op for `--url`.
    pub async fn stop(&mut self) {
        let Some(mut s) = self.spawned.take() else {
            return;
        };
        let status = terminate(&mut s.child).await;
        s.stdout_drain.abort();
        match status {
            Some(st) => eprintln!("server exited: {st}"),
            None => eprintln!("server did not exit after SIGTERM; killed"),
        }
        if s.keep_data {
            eprintln!("server data kept in {}", s.work_dir.display());
        } else if let Err(e) = std::fs::remove_dir_all(&s.work_dir) {
            eprintln!("warning: cannot remove {}: {e}", s.work_dir.display());
        }
    }
}

/// `url` as `http://host:port` without a trailing slash; anything but
/// plain HTTP is refused (the generator does not speak TLS).
pub fn normalize_base_url(url: &str) -> Result<String, String> {
    let url = url.trim().trim_end_matches('/');
    if !url.starts_with("http://") {
        return Err(format!(
            "--url must be an http:// URL (the generator does not speak TLS): {url}"
        ));
    }
    Ok(url.to_string())
}

async fn spawn(path: &Path, common: &Common, pinning: Option<Pinning>) -> Result<Server, String> {
    // The server runs in its own working directory (so it reads no `.env` of
    // ours), hence the binary's path must not be relative to ours.
    let binary = std::fs::canonicalize(path)
        .map_err(|e| format!("cannot find the server binary {}: {e}", path.display()))?;
    let work_dir = unique_work_dir();
    let data_dir = common
        .data_dir
        .clone()
        .unwrap_or_else(|| work_dir.join("data"));
    std::fs::create_dir_all(&data_dir)
        .map_err(|e| format!("cannot create {}: {e}", data_dir.display()))?;
    std::fs::create_dir_all(&work_dir)
        .map_err(|e| format!("cannot create {}: {e}", work_dir.display()))?;

    let stderr = match &common.server_log {
        Some(log) => Stdio::from(
            std::fs::File::create(log)
                .map_err(|e| format!("cannot create the server log {}: {e}", log.display()))?,
        ),
        None => Stdio::null(),
    };

    let mut cmd = Command::new(&binary);
    cmd.arg("serve")
        .arg("--bind")
        .arg("127.0.0.1:0")
        .arg("--data-dir")
        .arg(&data_dir)
        .args(SERVER_ARGS)
        .args(&common.server_args)
        .current_dir(&work_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .kill_on_drop(true);
    for var in SERVER_ENV {
        cmd.env_remove(var);
    }
    if let Some(p) = pinning {
        let cpu = p.server_cpu;
        // SAFETY: the closure runs between fork and exec and makes a single
        // system call (sched_setaffinity), which is async-signal-safe.
        unsafe {
            cmd.pre_exec(move || sys::pin_current_thread(cpu));
        }
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
    let pid = child.id();
    let Some(stdout) = child.stdout.take() else {
        return Err("the server's standard output was not captured".to_string());
    };
    let mut lines = BufReader::new(stdout).lines();

    let base_url =
        match tokio::time::timeout(STARTUP_TIMEOUT, read_listening_line(&mut lines)).await {
            Ok(Ok(url)) => url,
            Ok(Err(e)) => {
                let status = terminate(&mut child).await;
                let _ = std::fs::remove_dir_all(&work_dir);
                return Err(format!("{e} (server exit: {status:?}); see --server-log"));
            }
            Err(_) => {
                terminate(&mut child).await;
                let _ = std::fs::remove_dir_all(&work_dir);
                return Err(format!(
                    "the server printed no `{}URL` line within {}s",
                    LISTENING_PREFIX.trim_end(),
                    STARTUP_TIMEOUT.as_secs()
                ));
            }
        };
    let stdout_drain =
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });

    Ok(Server {
        base_url: normalize_base_url(&base_url)?,
        pid,
        pinning,
        spawned: Some(Spawned {
            child,
            work_dir,
            keep_data: common.keep_data,
            stdout_drain,
        }),
    })
}

async fn read_listening_line(
    lines: &mut tokio::io::Lines<BufReader<ChildStdout>>,
) -> Result<String, String> {
    loop {
        match lines.next_line().await {
            Ok(Some(line)) => {
                if let Some(idx) = line.find(LISTENING_PREFIX) {
                    return Ok(line[idx + LISTENING_PREFIX.len()..].trim().to_string());
                }
            }
            Ok(None) => return Err("the server closed its output before listening".to_string()),
            Err(e) => return Err(format!("cannot read the server's output: {e}")),
        }
    }
}

/// SIGTERM, wait, then SIGKILL. Returns the exit status if it exited by
/// itself.
async fn terminate(child: &mut Child) -> Option<ExitStatus> {
    if let Ok(Some(status)) = child.try_wait() {
        return Some(status);
    }
    if let Some(pid) = child.id() {
        let _ = sys::sigterm(pid);
    }
    match tokio::time::timeout(SHUTDOWN_TIMEOUT, child.wait()).await {
        Ok(Ok(status)) => Some(status),
        _ => {
            let _ = child.kill().await;
            None
        }
    }
}

/// A new directory under the system's temporary directory, unique to this
/// run.
fn unique_work_dir() -> PathBuf {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    std::env::temp_dir().join(format!("chatroom-bench-{}-{nanos:x}", std::process::id()))
}
