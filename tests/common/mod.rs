//! Shared helpers of the integration tests: start a real `chatroom`
//! server (inside the test process, or the binary where a test needs a
//! process) on a free loopback port with a temporary data directory, and
//! talk to it with a real HTTP client and real WebSocket clients.
//!
//! Every wait here is bounded.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Longest any single wait in a test may take.
pub const WAIT: Duration = Duration::from_secs(10);

/// Longest a test waits for an in-process server to stop: past the
/// server's own bounds (5 s for requests, 5 s for sessions to close).
const STOP_WAIT: Duration = Duration::from_secs(20);

/// A running server of a test, stopped when dropped.
///
/// Most tests run it inside the test process ([`Server::start`] and the
/// like): cheaper than a process, and what a test sees is the same. Tests
/// that signal, kill or measure the server, or depend on what only the
/// binary does (its umask), start the binary ([`Server::start_process`]
/// and the like).
pub struct Server {
    /// Where the server runs; the process of those started as one.
    pub child: Running,
    pub addr: String,
    pub dir: PathBuf,
    _tmp: Option<tempfile::TempDir>,
    extra: Vec<String>,
}

/// Variables every test's server sees, in-process or not: limits that
/// would make tests depend on each other's timing or count (registrations
/// per address per hour, rooms created per user per hour, rooms owned per
/// user) are off unless a test turns them on with a flag.
const TEST_ENV: &[(&str, &str)] = &[
    ("CHATROOM_REGISTRATION_RATE", "0"),
    ("CHATROOM_ROOM_CREATE_RATE", "0"),
    ("CHATROOM_ROOM_QUOTA", "0"),
];

/// The path of the built binary.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_chatroom")
}

/// `chatroom` started from a clean environment in `cwd`: nothing of the
/// caller's (`CHATROOM_*`, `JWT_SECRET`, `PORT`, a `.env` in the working
/// directory) can change what a test sees. Only `PATH` is kept, with
/// [`TEST_ENV`], and logs are quiet unless a test asks for more.
///
/// Every spawn of the binary in the tests goes through here (or through
/// [`clean_command`] when the binary runs under a wrapper), so that one
/// place decides what a test's server sees.
pub fn command(cwd: &Path) -> Command {
    let mut cmd = clean_command(bin(), cwd);
    cmd.envs(TEST_ENV.iter().copied());
    cmd
}

/// `program` with the environment cleared but for `PATH` and
/// `RUST_LOG=warn`, run in `cwd`. The server reads `.env` from its working
/// directory and, when there is none, from the nearest parent that has
/// one; a `.env` above `cwd` would leak into the test, so it is refused
/// here with a message rather than silently read.
pub fn clean_command(program: impl AsRef<std::ffi::OsStr>, cwd: &Path) -> Command {
    let mut cmd = Command::new(program);
    cmd.env_clear().current_dir(cwd).env("RUST_LOG", "warn");
    if let Some(path) = std::env::var_os("PATH") {
        cmd.env("PATH", path);
    }
    cmd
}

/// `chatroom ARGS` (an admin command: `create-admin`, `export`, `backup`,
/// `restore`, or a usage error) from a clean environment, run in the
/// parent of its `--data-dir` (a test's temporary directory, like the
/// servers of [`Server::spawn`]) or, without one, in [`empty_dir`].
/// When the suite runs on PostgreSQL, a command that works on a data
/// directory is also given that directory's `--store`
/// ([`cluster::store_for`]), as the directory's server is.
pub fn admin_command(args: &[&str]) -> Command {
    let mut cmd = command(&admin_cwd(args));
    cmd.args(args);
    cmd.args(admin_store_args(args));
    cmd
}

/// The commands that take `--store`.
const STORE_COMMANDS: &[&str] = &[
    "create-admin",
    "export",
    "backup",
    "restore",
    "files",
    "reindex",
];

/// `--store URL` for the admin command `args` when the suite runs on
/// PostgreSQL and `args` name a data directory and no store.
pub fn admin_store_args(args: &[&str]) -> Vec<String> {
    let takes_store = args.first().is_some_and(|c| STORE_COMMANDS.contains(c));
    let dir = args
        .iter()
        .position(|a| *a == "--data-dir")
        .and_then(|i| args.get(i + 1));
    match dir {
        Some(dir) if takes_store && !args.contains(&"--store") => {
            cluster::store_args(Path::new(dir), args)
        }
        _ => Vec::new(),
    }
}

/// Where [`admin_command`] runs `args`.
pub fn admin_cwd(args: &[&str]) -> PathBuf {
    args.iter()
        .position(|a| *a == "--data-dir")
        .and_then(|i| args.get(i + 1))
        .map(Path::new)
        .filter(|d| d.is_absolute())
        .and_then(Path::parent)
        .map(Path::to_owned)
        .unwrap_or_else(empty_dir)
}

/// An empty directory of the system's temporary directory, the same for
/// every test of a run: the working directory of commands that name no
/// data directory. It must stay without a `.env`.
pub fn empty_dir() -> PathBuf {
    let dir = std::env::temp_dir().join("chatroom-tests-cwd");
    std::fs::create_dir_all(&dir).expect("create the empty working directory");
    assert!(
        !dir.join(".env").exists(),
        "{} must not hold a .env",
        dir.display()
    );
    dir
}

impl Server {
    /// Starts a server with a fresh data directory and the rate limit off.
    pub fn start() -> Server {
        Server::start_with(&["--message-rate", "0"])
    }

    /// Starts a server with a fresh data directory and extra `serve` args.
    pub fn start_with(args: &[&str]) -> Server {
        Server::start_with_env(args, &[])
    }

    /// Starts a server on `dir` and `bind`.
    pub fn spawn(dir: &Path, bind: &str, args: &[&str]) -> Server {
        Server::spawn_with_env(dir, bind, args, &[])
    }

    /// Starts a server on `dir` and `bind` inside the test process, with
    /// `args` and `envs` (over [`TEST_ENV`]) as its whole command line and
    /// environment: the test process's own variables and `.env` are never
    /// read.
    pub fn spawn_with_env(
        dir: &Path,
        bind: &str,
        args: &[&str],
        envs: &[(&str, &'static str)],
    ) -> Server {
        let data_dir = dir.to_str().expect("UTF-8 data directory");
        // A test that names its own store (a cluster's) keeps it.
        let store = match args.contains(&"--store") {
            true => None,
            false => cluster::store_for(dir),
        };
        let mut argv = vec!["--bind", bind, "--data-dir", data_dir];
        if let Some(store) = &store {
            argv.extend(["--store", store.as_str()]);
        }
        argv.extend_from_slice(args);
        let env: Vec<(&str, &'static str)> = envs.iter().chain(TEST_ENV).copied().collect();
        let serve = chatroom::cli::serve_args(&argv, &env).expect("serve arguments");
        let settings = chatroom::config::Settings::resolve_with(serve, |name| {
            env.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        })
        .expect("serve settings");
        let (server, addr) = InProcess::start(settings);
        Server {
            child: Running::InProcess(server),
            addr: addr.to_string(),
            dir: dir.to_owned(),
            _tmp: None,
            extra: args.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// Starts the binary with a fresh data directory and the rate limit off.
    pub fn start_process() -> Server {
        Server::start_process_with(&["--message-rate", "0"])
    }

    /// Starts the binary with a fresh data directory and extra `serve` args.
    pub fn start_process_with(args: &[&str]) -> Server {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("data");
        let mut s = Server::spawn_process(&dir, "127.0.0.1:0", args);
        s._tmp = Some(tmp);
        s
    }

    /// Starts the binary on `dir` and `bind`, and reads the address it prints.
    pub fn spawn_process(dir: &Path, bind: &str, args: &[&str]) -> Server {
        let mut cmd = command(dir.parent().unwrap_or(dir));
        cmd.arg("serve")
            .arg("--bind")
            .arg(bind)
            .arg("--data-dir")
            .arg(dir)
            .args(cluster::store_args(dir, args))
            .args(args);
        cmd.stdout(Stdio::piped()).stderr(Stdio::inherit());
        let mut child = cmd.spawn().expect("spawn chatroom");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            if let Some(Ok(line)) = lines.next() {
                let _ = tx.send(line);
            }
            for _ in lines {}
        });
        let line = rx
            .recv_timeout(WAIT)
            .expect("server printed its address in time");
        let addr = line
            .strip_prefix("chatroom listening on http://")
            .expect("listening line")
            .trim()
            .to_owned();
        Server {
            child: Running::Process(child),
            addr,
            dir: dir.to_owned(),
            _tmp: None,
            extra: args.iter().map(|s| s.to_string()).collect(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Sends a signal to the server process.
    pub fn signal(&self, sig: &str) {
        process::send_signal(self.child.id(), sig);
    }

    /// Waits (bounded) for the process to exit; returns its exit code.
    pub fn wait_exit(&mut self) -> Option<i32> {
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            if let Some(st) = self.child.try_wait().expect("try_wait") {
                return st.code();
            }
            assert!(
                std::time::Instant::now() < deadline,
                "server did not exit in time"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops the server process with SIGTERM and starts it again on the
    /// same address and data directory.
    pub fn restart(&mut self) {
        self.signal("TERM");
        assert_eq!(self.wait_exit(), Some(0));
        self.respawn();
    }

    /// Starts the (exited) server process again on the same address and
    /// data directory.
    pub fn respawn(&mut self) {
        assert!(matches!(self.child, Running::Process(_)), "{NO_PROCESS}");
        let extra: Vec<&str> = self.extra.iter().map(String::as_str).collect();
        let addr = self.addr.clone();
        let deadline = std::time::Instant::now() + WAIT;
        let fresh = loop {
            // The port may linger briefly; retry the bind within the bound.
            let mut cmd = command(self.dir.parent().unwrap_or(&self.dir));
            cmd.arg("serve")
                .arg("--bind")
                .arg(&addr)
                .arg("--data-dir")
                .arg(&self.dir)
                .args(cluster::store_args(&self.dir, &extra))
                .args(&extra);
            // stdout stays writable (not a pipe closed below): the server
            // prints its address there, and a failed print ends it.
            cmd.stdout(Stdio::null()).stderr(Stdio::null());
            let mut child = cmd.spawn().expect("spawn");
            std::thread::sleep(Duration::from_millis(200));
            if child.try_wait().expect("try_wait").is_none() {
                break child;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "could not restart on {addr}"
            );
        };
        self.child = Running::Process(fresh);
        let deadline = std::time::Instant::now() + WAIT;
        while std::net::TcpStream::connect(&self.addr).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "restarted server is not listening"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // An in-process server stops when its `InProcess` drops.
        if let Running::Process(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Where a test's server runs. The process methods are those of
/// [`std::process::Child`]; they panic for a server started in-process,
/// which has no process of its own.
pub enum Running {
    InProcess(InProcess),
    Process(Child),
}

impl Running {
    /// The server's process; a test that needs one must start it as one.
    fn process(&mut self) -> &mut Child {
        match self {
            Running::Process(child) => child,
            Running::InProcess(_) => panic!("{NO_PROCESS}"),
        }
    }

    pub fn id(&self) -> u32 {
        match self {
            Running::Process(child) => child.id(),
            Running::InProcess(_) => panic!("{NO_PROCESS}"),
        }
    }

    pub fn kill(&mut self) -> std::io::Result<()> {
        self.process().kill()
    }

    pub fn wait(&mut self) -> std::io::Result<ExitStatus> {
        self.process().wait()
    }

    pub fn try_wait(&mut self) -> std::io::Result<Option<ExitStatus>> {
        self.process().try_wait()
    }
}

/// Why a process method fails on a server started in-process.
const NO_PROCESS: &str =
    "this server runs inside the test process; start it with Server::start_process or Server::spawn_process";

/// A server on a thread of the test process, with a runtime of its own:
/// tests run on current-thread runtimes, and some block them. Dropping it
/// stops the server as a signal stops the binary, and waits (bounded)
/// until the data directory's lock and the admin socket are released.
pub struct InProcess {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    /// Ends with the server's run, once its runtime (and every task
    /// holding the store) is gone.
    thread: Option<std::thread::JoinHandle<Result<(), String>>>,
}

impl InProcess {
    /// Binds, opens and runs a server with `settings`; returns once it is
    /// ready (as the binary prints its listening line) or panics when it
    /// cannot start.
    fn start(settings: chatroom::config::Settings) -> (InProcess, SocketAddr) {
        use chatroom::server;
        let (ready_tx, ready) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let serve = move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .expect("server runtime");
            let result = runtime.block_on(async move {
                let opened = match server::bind(settings.bind).await {
                    Ok(listener) => server::open(settings, listener).await,
                    Err(e) => Err(e),
                };
                let opened = match opened {
                    Ok(opened) => opened,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e.to_string()));
                        return Err(e.to_string());
                    }
                };
                let _ = ready_tx.send(Ok(opened.local_addr()));
                let shutdown = async move {
                    let _ = stopped.await;
                };
                server::run(opened, Box::pin(shutdown))
                    .await
                    .map_err(|e| e.to_string())
            });
            drop(runtime);
            result
        };
        let thread = std::thread::Builder::new()
            .name("chatroom-server".into())
            .spawn(serve)
            .expect("spawn the server thread");
        let addr = match ready.recv_timeout(WAIT) {
            Ok(Ok(addr)) => addr,
            Ok(Err(e)) => panic!("the server did not start: {e}"),
            Err(e) => panic!("the server did not start in time: {e}"),
        };
        let server = InProcess {
            stop: Some(stop),
            thread: Some(thread),
        };
        (server, addr)
    }
}

impl Drop for InProcess {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let Some(thread) = self.thread.take() else {
            return;
        };
        let deadline = std::time::Instant::now() + STOP_WAIT;
        while !thread.is_finished() {
            if std::time::Instant::now() > deadline {
                eprintln!("the server did not stop within {STOP_WAIT:?}");
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        match thread.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("the server stopped with an error: {e}"),
            Err(_) => eprintln!("the server thread panicked"),
        }
    }
}

/// An HTTP client with a bounded timeout.
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(WAIT)
        .build()
        .expect("client")
}

/// A registered user: its token and id.
#[derive(Clone, Debug)]
pub struct User {
    pub name: String,
    pub token: String,
    pub id: String,
}

/// Registers a user and returns its token.
pub async fn register(s: &Server, name: &str) -> User {
    register_at(&s.url(""), name).await
}

/// Logs in; the status and the JSON body (Null when there is none).
pub async fn login(s: &Server, name: &str, password: &str) -> (u16, Value) {
    let res = post_credentials(&s.url(""), "/api/users/login", name, password).await;
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// Logs in, which must succeed; the user with its fresh token.
pub async fn login_user(s: &Server, name: &str, password: &str) -> User {
    let (status, v) = login(s, name, password).await;
    assert_eq!(status, 200, "login {name}: {v}");
    User::from_answer(name, &v)
}

/// Runs `chatroom create-admin --password-stdin` on the server's data
/// directory (through its admin socket while it runs), bounded, and
/// requires success. Returns what it printed.
pub fn run_create_admin(s: &Server, name: &str, password: &str) -> std::process::Output {
    let mut cmd = command(s.dir.parent().unwrap_or(&s.dir));
    cmd.args(["create-admin", "--username", name, "--password-stdin"])
        .arg("--data-dir")
        .arg(&s.dir)
        .args(cluster::store_args(&s.dir, &[]));
    let stdin = format!("{password}\n");
    let out = run_bounded(cmd, stdin.as_bytes(), Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("create-admin: {e}"));
    assert!(
        out.status.success(),
        "create-admin failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Creates a room and returns its JSON.
pub async fn create_room(s: &Server, u: &User, name: &str, private: bool) -> Value {
    let res = http()
        .post(s.url("/api/rooms"))
        .bearer_auth(&u.token)
        .json(&json!({"name": name, "private": private}))
        .send()
        .await
        .expect("create room");
    assert_eq!(res.status(), 201, "create room {name}");
    res.json().await.expect("json")
}

/// A GET with a token; returns status and JSON (Null when no body).
pub async fn get(s: &Server, u: &User, path: &str) -> (u16, Value) {
    request(s, "GET", u, path, None).await
}

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A WebSocket client speaking the contract's frames.
pub struct Client {
    pub ws: Ws,
    next_ref: u64,
}

impl Client {
    /// Connects with `Authorization: Bearer`.
    pub async fn connect(s: &Server, u: &User) -> Client {
        Client::try_connect(s, u)
            .await
            .unwrap_or_else(|(st, body)| panic!("upgrade of {} refused: {st} {body}", u.name))
    }

    /// Sends a raw text frame.
    pub async fn send_raw(&mut self, text: &str) {
        tokio::time::timeout(WAIT, self.ws.send(Message::text(text)))
            .await
            .expect("send in time")
            .expect("send");
    }

    /// Sends an event with a fresh ref; returns the ref.
    pub async fn emit(&mut self, event: &str, data: Value) -> String {
        self.next_ref += 1;
        let r = format!("r{}", self.next_ref);
        self.send_raw(&json!({"event": event, "data": data, "ref": r}).to_string())
            .await;
        r
    }

    /// The next JSON frame (ping/pong skipped); panics on close or timeout.
    pub async fn next(&mut self) -> Value {
        loop {
            let msg = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("frame in time")
                .expect("open")
                .expect("frame");
            match msg {
                Message::Text(t) => return serde_json::from_str(&t).expect("json frame"),
                Message::Close(c) => panic!("closed: {c:?}"),
                _ => continue,
            }
        }
    }

    /// Waits for the answer to `r`, collecting other frames into `others`.
    pub async fn answer(&mut self, r: &str, others: &mut Vec<Value>) -> Value {
        loop {
            let f = self.next().await;
            if f["ref"] == r {
                return f;
            }
            others.push(f);
        }
    }

    /// Sends an event and returns its answer (ack or error), dropping other frames.
    pub async fn call(&mut self, event: &str, data: Value) -> Value {
        let r = self.emit(event, data).await;
        self.answer(&r, &mut Vec::new()).await
    }

    /// Waits for the next frame of a given event, skipping others.
    pub async fn next_event(&mut self, event: &str) -> Value {
        loop {
            let f = self.next().await;
            if f["event"] == event {
                return f;
            }
        }
    }

    /// Waits for the close frame and returns its code.
    pub async fn close_code(&mut self) -> Option<u16> {
        loop {
            match tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("close in time")
            {
                Some(Ok(Message::Close(c))) => return c.map(|c| u16::from(c.code)),
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return None,
            }
        }
    }

    /// Waits until no frame arrives for `quiet`; returns what arrived.
    pub async fn drain(&mut self, quiet: Duration) -> Vec<Value> {
        let mut out = Vec::new();
        while let Ok(Some(Ok(m))) = tokio::time::timeout(quiet, self.ws.next()).await {
            if let Message::Text(t) = m {
                out.push(serde_json::from_str(&t).expect("json"));
            }
        }
        out
    }
}

// ---------------------------------------------------------------------
// Helpers added for tests/suite/ws.rs and tests/suite/durability.rs.

impl Server {
    /// Starts a server with a fresh data directory, extra `serve` args and
    /// extra environment variables (e.g. `CHATROOM_ALLOWED_ORIGINS`).
    pub fn start_with_env(args: &[&str], envs: &[(&str, &'static str)]) -> Server {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("data");
        let mut s = Server::spawn_with_env(&dir, "127.0.0.1:0", args, envs);
        s._tmp = Some(tmp);
        s
    }
}

impl Client {
    /// Wraps an already upgraded WebSocket.
    pub fn from_ws(ws: Ws) -> Client {
        Client { ws, next_ref: 0 }
    }
}

/// Every message of a room through the REST history: pages backwards
/// (`before=`) to the oldest, then forwards (`after=`, limit 200) from it,
/// and checks that both walks agree. Oldest first.
pub async fn all_messages(s: &Server, u: &User, room: &str) -> Vec<Value> {
    let page_of = |v: &Value| -> (Vec<Value>, bool) {
        (
            v["messages"].as_array().expect("messages").clone(),
            v["hasMore"].as_bool().expect("hasMore"),
        )
    };
    let mut back: Vec<Value> = Vec::new();
    let mut path = format!("/api/rooms/{room}/messages?limit=200");
    for _ in 0..10_000 {
        let (status, v) = get(s, u, &path).await;
        assert_eq!(status, 200, "GET {path}: {v}");
        let (msgs, more) = page_of(&v);
        let oldest = msgs
            .first()
            .map(|m| m["id"].as_str().expect("id").to_owned());
        back.splice(0..0, msgs);
        match (more, oldest) {
            (true, Some(o)) => path = format!("/api/rooms/{room}/messages?limit=200&before={o}"),
            _ => break,
        }
    }
    let Some(first) = back.first().cloned() else {
        return back;
    };
    let mut fwd = vec![first.clone()];
    let mut cursor = first["id"].as_str().expect("id").to_owned();
    for _ in 0..10_000 {
        let path = format!("/api/rooms/{room}/messages?limit=200&after={cursor}");
        let (status, v) = get(s, u, &path).await;
        assert_eq!(status, 200, "GET {path}: {v}");
        let (msgs, more) = page_of(&v);
        if let Some(last) = msgs.last() {
            cursor = last["id"].as_str().expect("id").to_owned();
        }
        let empty = msgs.is_empty();
        fwd.extend(msgs);
        if !more || empty {
            break;
        }
    }
    let ids = |v: &[Value]| v.iter().map(|m| m["id"].clone()).collect::<Vec<_>>();
    assert_eq!(
        ids(&fwd),
        ids(&back),
        "history paged forwards (after=) and backwards (before=) disagree"
    );
    fwd
}

// ---------------------------------------------------------------------
// More shared helpers, one module for each thing they hold.

mod api;
mod chat;
pub mod cluster;
mod pipeline;
mod process;
mod raw;
mod tokens;
mod upgrade;

// Each test file uses some of them.
#[allow(unused_imports)]
pub use api::*;
#[allow(unused_imports)]
pub use chat::*;
#[allow(unused_imports)]
pub use pipeline::*;
#[allow(unused_imports)]
pub use process::*;
#[allow(unused_imports)]
pub use raw::*;
#[allow(unused_imports)]
pub use tokens::*;
#[allow(unused_imports)]
pub use upgrade::*;
