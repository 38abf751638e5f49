//! A throwaway PostgreSQL server for the tests: the unit tests of the
//! store and the integration tests (which include this file) both start
//! theirs here.
//!
//! The server is the machine's own PostgreSQL binaries (`PG_BIN`, else the
//! newest `/usr/lib/postgresql/N/bin`, else `initdb` on the `PATH`); the
//! tests fail, never skip, when there are none. It is initialised in a
//! temporary directory and listens only on a Unix socket there, so
//! neither a port nor another server on the machine matters.
//!
//! PostgreSQL refuses to run as root. As root (CI's containers), the
//! directory is handed to `nobody` and `initdb` and `postgres` run as that
//! user through `setpriv`, which changes the user and then replaces itself
//! with the program (no process between us and the server to outlive us).
//! `setpriv --pdeathsig` also has the kernel kill the server when the
//! thread that started it ends, so a test run that is killed leaves no
//! server behind.
//!
//! One server is shared by the tests of a run ([`shared`]), each with a
//! database of its own; it is stopped and its directory removed when the
//! run exits. A test that stops a server starts its own
//! ([`PgServer::start`]), which is stopped when dropped.
//!
//! Only the standard library, `libc`, `tempfile`, `tokio` and
//! `tokio-postgres` are used here: nothing of the crate, so that the
//! integration tests can compile the file as their own module.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use tokio_postgres::NoTls;

/// The role `initdb` creates and the tests connect as.
const USER: &str = "chatroom";

/// The port names the socket file only: nothing listens on TCP.
const PORT: u16 = 5432;

/// How long a server may take to accept connections once started.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// The runtime every test store runs its queries on.
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("pg-test")
            .enable_all()
            .build()
            .expect("test runtime")
    })
}

/// A running PostgreSQL server in a temporary directory.
pub struct PgServer {
    dir: Option<tempfile::TempDir>,
    child: Option<Child>,
    socket_dir: PathBuf,
    /// Whom the server runs as (when we are root).
    owner: Option<(u32, u32)>,
}

impl PgServer {
    /// Initialises a cluster and starts a server on it, waiting (boundedly)
    /// until it accepts connections. Panics, saying what to install, when
    /// the PostgreSQL binaries are missing.
    pub fn start() -> PgServer {
        let bin = bin_dir();
        let dir = tempfile::Builder::new()
            .prefix("pg")
            .tempdir()
            .expect("tempdir");
        let owner = unprivileged_owner();
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid)).expect("chown");
        }
        let data = dir.path().join("data");
        let init = as_owner(&bin.join("initdb"), owner)
            .arg("-D")
            .arg(&data)
            .args(["-A", "trust", "-U", USER, "-E", "UTF8", "--locale=C"])
            .args(["--no-sync", "--no-instructions"])
            .output()
            .expect("run initdb");
        assert!(
            init.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&init.stderr)
        );
        let mut server = PgServer {
            socket_dir: dir.path().to_owned(),
            dir: Some(dir),
            child: None,
            owner,
        };
        server.resume();
        server
    }

    /// Starts the server (again, after [`PgServer::pause`]) on its data,
    /// and waits until it accepts connections.
    pub fn resume(&mut self) {
        assert!(self.child.is_none(), "the server runs already");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.socket_dir.join("log"))
            .expect("log file");
        let child = as_owner(&bin_dir().join("postgres"), self.owner)
            .arg("-D")
            .arg(self.socket_dir.join("data"))
            .arg("-k")
            .arg(&self.socket_dir)
            .args(["-c", "listen_addresses=", "-p", &PORT.to_string()])
            // No fsync (the machine does not crash under a test), but every
            // commit's WAL is written before the commit returns, so a
            // server killed and started again keeps what it acknowledged.
            .args(["-c", "fsync=off", "-c", "synchronous_commit=on"])
            .args(["-c", "full_page_writes=off", "-c", "max_connections=200"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log file"))
            .stderr(log)
            .spawn()
            .expect("start postgres");
        self.child = Some(child);
        self.wait_until_ready();
    }

    /// The address of database `db` as a URL (the socket's directory
    /// percent-encoded as its host), as `--store` takes it.
    // The integration tests' form of the address; the store's own tests
    // use `address`.
    #[allow(dead_code)]
    pub fn url(&self, db: &str) -> String {
        let host: String = self
            .socket_dir
            .to_string_lossy()
            .bytes()
            .map(|b| match b {
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect();
        format!("postgres://{USER}@{host}:{PORT}/{db}")
    }

    /// The address of database `db` on this server.
    pub fn address(&self, db: &str) -> String {
        format!(
            "host={} port={PORT} user={USER} dbname={db}",
            self.socket_dir.display()
        )
    }

    /// Runs `sql` in the server's `postgres` database.
    pub fn execute(&self, sql: &str) -> Result<(), tokio_postgres::Error> {
        let address = self.address("postgres");
        let sql = sql.to_owned();
        // On a thread of its own: the caller may be a runtime's thread (an
        // async test), where blocking on another runtime panics.
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    runtime().block_on(async move {
                        let (client, connection) = tokio_postgres::connect(&address, NoTls).await?;
                        tokio::spawn(connection);
                        client.batch_execute(&sql).await
                    })
                })
                .join()
                .expect("the statement's thread")
        })
    }

    /// A new empty database on this server, and its address.
    pub fn database(&self) -> String {
        self.address(&self.new_database())
    }

    /// A new empty database on this server, and its name.
    pub fn new_database(&self) -> String {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let name = format!("t{}", NEXT.fetch_add(1, Ordering::Relaxed));
        self.execute(&format!("CREATE DATABASE {name}"))
            .expect("create database");
        name
    }

    fn wait_until_ready(&mut self) {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    panic!("postgres exited ({status}): {}", self.log());
                }
            }
            if self.execute("SELECT 1").is_ok() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "postgres did not accept connections within {START_TIMEOUT:?}: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.socket_dir.join("log")).unwrap_or_default()
    }

    /// Stops the server at once (an immediate shutdown, as a crash or a
    /// lost machine would) and waits for it, boundedly; then removes its
    /// directory.
    pub fn stop(&mut self) {
        self.pause();
        self.dir.take();
    }

    /// Stops the server at once, as [`PgServer::stop`], keeping its data
    /// for [`PgServer::resume`].
    pub fn pause(&mut self) {
        if let Some(mut child) = self.child.take() {
            let pid = i32::try_from(child.id()).expect("pid");
            // SAFETY: signals our own child process, which we have not yet
            // waited for, so the pid cannot name another process.
            unsafe { libc::kill(pid, libc::SIGQUIT) };
            let deadline = Instant::now() + Duration::from_secs(10);
            while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The server the tests of this run share, started by the first.
pub fn shared() -> &'static Mutex<PgServer> {
    static SHARED: OnceLock<Mutex<PgServer>> = OnceLock::new();
    extern "C" fn stop_shared() {
        if let Some(server) = SHARED.get() {
            if let Ok(mut server) = server.lock() {
                server.stop();
            }
        }
    }
    SHARED.get_or_init(|| {
        // Started from a thread that lives as long as the run, since the
        // server is killed when the thread that started it ends.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("pg-shared".into())
            .spawn(move || {
                let _ = tx.send(PgServer::start());
                loop {
                    std::thread::park();
                }
            })
            .expect("spawn");
        let server = rx
            .recv()
            .expect("the shared PostgreSQL did not start: see the panic above");
        // SAFETY: registers a function without arguments that only stops
        // the server, run once by `exit` after the tests.
        unsafe { libc::atexit(stop_shared) };
        Mutex::new(server)
    })
}

/// Where the PostgreSQL binaries are; panics saying what to install.
fn bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("PG_BIN") {
        return dir.into();
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return bin;
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .find(|p| p.join("initdb").exists() && p.join("postgres").exists())
    });
    on_path.unwrap_or_else(|| {
        panic!(
            "the PostgreSQL store's tests need a PostgreSQL server's binaries (initdb, \
             postgres) and found none: install postgresql (Debian: apt-get install \
             postgresql), or set PG_BIN to the directory that holds them"
        )
    })
}

/// The user and group to run PostgreSQL as when we are root (it refuses
/// to run as root): `nobody`'s. None when we are not root.
fn unprivileged_owner() -> Option<(u32, u32)> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return None;
    }
    let id = |flag: &str| -> u32 {
        let out = Command::new("id")
            .args([flag, "nobody"])
            .output()
            .expect("run id");
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .expect("nobody's id")
    };
    Some((id("-u"), id("-g")))
}

/// `program` run through `setpriv`: as `owner` when given, and killed
/// when the thread that starts it ends.
fn as_owner(program: &Path, owner: Option<(u32, u32)>) -> Command {
    let mut c = Command::new("setpriv");
    if let Some((uid, gid)) = owner {
        c.arg(format!("--reuid={uid}"))
            .arg(format!("--regid={gid}"))
            .arg("--clear-groups");
    }
    c.arg("--pdeathsig=KILL").arg("--").arg(program);
    c
}
