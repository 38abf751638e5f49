//! `chatroom-bench`: a load generator that drives a real `chatroom` server
//! over loopback sockets and prints what it measured, one `name: value` a
//! line.
//!
//! `main` only parses the command line, prepares the process (file limit,
//! CPU pinning), builds the runtime, starts or attaches to the server and
//! dispatches to a mode; the modes live in `load` (throughput, latency,
//! durable), `idle` and `search` (which also rebuilds the index before the
//! server starts).

mod client;
mod idle;
mod load;
mod push;
mod receivers;
mod search;
mod server;
mod stats;
mod sys;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

/// Default number of receiving connections: enough to make fan-out, not the
/// single writer, the interesting cost.
const DEFAULT_CONNECTIONS: usize = 1000;
/// Default number of sending connections in throughput and latency modes.
const DEFAULT_SENDERS: usize = 10;
/// Default number of sending connections in durable mode: many writers, so
/// the server's group commit has something to group.
const DEFAULT_DURABLE_SENDERS: usize = 50;
/// Default total send rate of the latency mode, messages a second: low enough
/// that queues stay empty and latency is the path's, not a backlog's.
const DEFAULT_LATENCY_RATE: f64 = 20.0;

#[derive(Parser)]
#[command(
    name = "chatroom-bench",
    version,
    about = "Load generator for the chatroom server (real server, real loopback sockets)"
)]
struct Cli {
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Subcommand)]
enum Mode {
    /// C receiving connections in one room, S senders each keeping a window
    /// of unacknowledged messages in flight (or paced with --rate).
    Throughput(LoadArgs),
    /// Like throughput, but paced at a low total rate (default 20 msgs/s) to
    /// measure end-to-end latency without queueing.
    Latency(LoadArgs),
    /// S sender connections in one room and no other receivers: acks/s (every
    /// ack means the message is on disk) and ack latency.
    Durable(DurableArgs),
    /// Server memory per idle authenticated WebSocket connection.
    Idle(IdleArgs),
    /// Full-text search over a large history: index build rate, index
    /// size, idle memory, query latency by kind of query and memory under
    /// queries.
    Search(SearchArgs),
}

/// How to reach the server and how to set up connections; shared by every
/// mode.
#[derive(Args, Clone, Debug)]
pub struct Common {
    /// Base URL of a running server, e.g. http://127.0.0.1:3000.
    #[arg(long, conflicts_with = "spawn")]
    pub url: Option<String>,
    /// Path of a `chatroom` binary to start with a fresh temporary data
    /// directory (`serve --bind 127.0.0.1:0 --message-rate 0`) and stop at
    /// the end.
    #[arg(long, value_name = "PATH")]
    pub spawn: Option<PathBuf>,
    /// PID of the server given with --url, to read its memory (VmRSS).
    #[arg(long, value_name = "PID", conflicts_with = "spawn")]
    pub server_pid: Option<u32>,
    /// Pin the spawned server to the first allowed CPU and this generator to
    /// the second, so neither steals the other's core.
    #[arg(long)]
    pub pin: bool,
    /// File for the spawned server's log (its standard error); discarded if
    /// not given.
    #[arg(long, value_name = "FILE")]
    pub server_log: Option<PathBuf>,
    /// Keep the spawned server's temporary data directory (its path is
    /// printed).
    #[arg(long)]
    pub keep_data: bool,
    /// Connect through the Socket.IO door (`/socket.io/`, Engine.IO over a
    /// WebSocket, as `io(url, {transports: ['websocket']})` does) instead of
    /// `/ws`; also how the Node reference server is driven.
    #[arg(long)]
    pub socketio: bool,
    /// Arguments a spawned server gets besides the usual ones (set by a
    /// mode, not on the command line).
    #[arg(skip)]
    pub server_args: Vec<String>,
    /// Data directory for a spawned server instead of a fresh temporary one
    /// (set by a mode, not on the command line); never removed.
    #[arg(skip)]
    pub data_dir: Option<PathBuf>,
    /// WebSocket connections being opened (and joined) at the same time.
    #[arg(long, default_value_t = 64, value_name = "N")]
    pub connect_concurrency: usize,
    /// Seconds allowed to open and join one connection.
    #[arg(long, default_value_t = 10.0, value_name = "SECS")]
    pub connect_timeout: f64,
}

impl Common {
    pub fn connect_timeout(&self) -> Duration {
        Duration::from_secs_f64(self.connect_timeout.max(0.1))
    }

    /// The server's door the connections use.
    pub fn door(&self) -> client::Door {
        if self.socketio {
            client::Door::SocketIo
        } else {
            client::Door::Ws
        }
    }
}

/// Total send rate: a number of messages a second, or no pacing at all (each
/// sender then keeps its window full).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Rate {
    Unlimited,
    PerSecond(f64),
}

impl std::fmt::Display for Rate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Rate::Unlimited => write!(f, "unlimited"),
            Rate::PerSecond(r) => write!(f, "{r} msgs/s total"),
        }
    }
}

fn parse_rate(s: &str) -> Result<Rate, String> {
    if s.eq_ignore_ascii_case("unlimited") {
        return Ok(Rate::Unlimited);
    }
    match s.parse::<f64>() {
        Ok(r) if r.is_finite() && r > 0.0 => Ok(Rate::PerSecond(r)),
        _ => Err(format!(
            "`{s}` is not a rate: give messages a second (> 0) or `unlimited`"
        )),
    }
}

/// Options of the throughput and latency modes.
#[derive(Args, Clone, Debug)]
pub struct LoadArgs {
    /// Receiving connections in the room (besides the senders).
    #[arg(long, default_value_t = DEFAULT_CONNECTIONS, value_name = "C")]
    pub connections: usize,
    /// Sending connections, one user each (also members of the room).
    #[arg(long, default_value_t = DEFAULT_SENDERS, value_name = "S")]
    pub senders: usize,
    /// Seconds of sending.
    #[arg(long, default_value_t = 10.0, value_name = "SECS")]
    pub duration: f64,
    /// Total messages a second over all senders, or `unlimited` (default:
    /// unlimited for throughput, 20 for latency).
    #[arg(long, value_parser = parse_rate, value_name = "RATE")]
    pub rate: Option<Rate>,
    /// Unacknowledged messages each sender may have in flight.
    #[arg(long, default_value_t = 32, value_name = "N")]
    pub window: usize,
    /// Users that share the receiving connections (registering costs one
    /// argon2 hash each, so few users hold many connections).
    #[arg(long, default_value_t = 10, value_name = "N")]
    pub receiver_users: usize,
    /// Length of each message text in bytes.
    #[arg(long, default_value_t = 100, value_name = "BYTES")]
    pub payload: usize,
    /// Seconds to wait after the sending stops for outstanding acks and
    /// deliveries before counting what is missing as lost.
    #[arg(long, default_value_t = 10.0, value_name = "SECS")]
    pub drain: f64,
    /// Base URL of a second node of the same cluster (same PostgreSQL and
    /// NATS as the --url node) for the receiving connections; users, room
    /// and senders stay on the --url node, so every delivery crosses
    /// between the nodes.
    #[arg(long, value_name = "URL", conflicts_with = "spawn")]
    pub receivers_url: Option<String>,
    /// PID of the --receivers-url node, to read its memory (VmRSS) and CPU
    /// time.
    #[arg(long, value_name = "PID", requires = "receivers_url")]
    pub receivers_pid: Option<u32>,
    #[command(flatten)]
    pub common: Common,
}

/// Options of the durable mode.
#[derive(Args, Clone, Debug)]
pub struct DurableArgs {
    /// Sending connections, one user each, all in one room.
    #[arg(long, default_value_t = DEFAULT_DURABLE_SENDERS, value_name = "S")]
    pub senders: usize,
    /// Seconds of sending.
    #[arg(long, default_value_t = 10.0, value_name = "SECS")]
    pub duration: f64,
    /// Total messages a second over all senders, or `unlimited` (default).
    #[arg(long, value_parser = parse_rate, value_name = "RATE")]
    pub rate: Option<Rate>,
    /// Unacknowledged messages each sender may have in flight.
    #[arg(long, default_value_t = 32, value_name = "N")]
    pub window: usize,
    /// Length of each message text in bytes.
    #[arg(long, default_value_t = 100, value_name = "BYTES")]
    pub payload: usize,
    /// Seconds to wait after the sending stops for outstanding acks.
    #[arg(long, default_value_t = 10.0, value_name = "SECS")]
    pub drain: f64,
    /// Web Push while sending: `ok` (a push service stand-in that answers
    /// at once) or `hanging` (one that never answers), each notified of
    /// every message for each of --push-subscribers users; `none` (the
    /// default) for the baseline. A spawned server gets
    /// `--push-allow-http` for the local stand-in.
    #[arg(long, value_enum, default_value_t = push::PushMode::None)]
    pub push: push::PushMode,
    /// Users notified of every message with --push.
    #[arg(long, default_value_t = 10, value_name = "N")]
    pub push_subscribers: usize,
    #[command(flatten)]
    pub common: Common,
}

/// Options of the idle mode.
#[derive(Args, Clone, Debug)]
pub struct IdleArgs {
    /// Idle WebSocket connections to open.
    #[arg(long, default_value_t = DEFAULT_CONNECTIONS, value_name = "C")]
    pub connections: usize,
    /// Also join every connection to one room.
    #[arg(long)]
    pub join: bool,
    /// Users that share the connections. One by default: every password
    /// hash leaves the server's allocator with memory that later
    /// allocations may reuse without growing the RSS, which would hide part
    /// of the connections' cost.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub users: usize,
    /// Seconds to let the server settle before reading its memory again.
    #[arg(long, default_value_t = 3.0, value_name = "SECS")]
    pub settle: f64,
    #[command(flatten)]
    pub common: Common,
}

/// Options of the search mode.
#[derive(Args, Clone, Debug)]
pub struct SearchArgs {
    /// Data directory filled by the `fill_history` example with
    /// `--realistic` text (`cargo run --release --example fill_history --
    /// DIR 1000000 --rooms 100 --realistic`); the queries are chosen from
    /// that text. Its index is rebuilt (`chatroom reindex`, server stopped)
    /// and an admin is added.
    #[arg(long, value_name = "DIR")]
    pub data_dir: PathBuf,
    /// Requests of each kind of query.
    #[arg(long, default_value_t = 500, value_name = "N")]
    pub requests: usize,
    /// Concurrent keep-alive HTTP clients sending the queries.
    #[arg(long, default_value_t = 8, value_name = "N")]
    pub clients: usize,
    /// Seconds to let the server settle before reading its idle memory.
    #[arg(long, default_value_t = 3.0, value_name = "SECS")]
    pub settle: f64,
    #[command(flatten)]
    pub common: Common,
}

impl Mode {
    fn common(&self) -> &Common {
        match self {
            Mode::Throughput(a) | Mode::Latency(a) => &a.common,
            Mode::Durable(a) => &a.common,
            Mode::Idle(a) => &a.common,
            Mode::Search(a) => &a.common,
        }
    }

    /// Connections the generator will hold open at once, for the file limit.
    fn sockets_needed(&self) -> usize {
        match self {
            Mode::Throughput(a) | Mode::Latency(a) => a.connections + a.senders,
            Mode::Durable(a) => a.senders,
            Mode::Idle(a) => a.connections,
            Mode::Search(a) => a.clients,
        }
    }
}

/// One-minute load average above which the run warns that other processes
/// compete for the CPUs (the generator itself has not started yet).
const BUSY_LOADAVG: f64 = 1.0;

/// File descriptors kept free besides one per connection (HTTP client,
/// runtime, the server's pipes).
const SPARE_FDS: usize = 64;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut common = cli.mode.common().clone();
    if let Mode::Durable(a) = &cli.mode {
        if a.push != push::PushMode::None {
            common.server_args.push("--push-allow-http".to_string());
        }
    }

    if let Mode::Search(a) = &cli.mode {
        // The index is rebuilt with the server stopped, before it starts.
        match search::prepare(a) {
            Ok(dir) => common.data_dir = Some(dir),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        }
    }

    // Raised before the server is spawned so that it inherits the limit too.
    let nofile = sys::raise_nofile_limit();
    let needed = (cli.mode.sockets_needed() + SPARE_FDS) as u64;
    if nofile < needed {
        eprintln!(
            "warning: open-file limit is {nofile} but about {needed} are needed; \
             run `ulimit -n {needed}` (as root or after raising the hard limit) and retry"
        );
    }

    let cpus = match sys::allowed_cpus() {
        Ok(cpus) => cpus,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let pinning = if common.pin {
        if cpus.len() < 2 {
            eprintln!("error: --pin needs two CPUs, this process may use {cpus:?}");
            return ExitCode::FAILURE;
        }
        // Pin the main thread before the runtime exists: every thread the
        // runtime starts inherits the mask.
        if let Err(e) = sys::pin_current_thread(cpus[1]) {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
        Some(sys::Pinning {
            server_cpu: cpus[0],
            generator_cpu: cpus[1],
        })
    } else {
        None
    };
    let workers = if pinning.is_some() {
        1
    } else {
        cpus.len().max(1)
    };

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };

    let result = runtime.block_on(async move {
        let mut server = server::Server::start(&common, pinning).await?;
        if let Some((one_minute, all)) = sys::loadavg() {
            println!("machine_loadavg: {all}");
            if one_minute > BUSY_LOADAVG {
                eprintln!(
                    "warning: the machine is busy (load average {all}); \
                     other processes share the CPUs and the figures will be noisy"
                );
            }
        }
        println!("nofile_limit: {nofile}");
        println!("generator_threads: {workers}");
        server.print_config();
        let outcome = tokio::select! {
            r = run_mode(cli.mode, &server) => r,
            _ = tokio::signal::ctrl_c() => Err("interrupted".to_string()),
        };
        server.stop().await;
        outcome
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run_mode(mode: Mode, server: &server::Server) -> Result<(), String> {
    match mode {
        Mode::Throughput(a) => {
            let rate = a.rate.unwrap_or(Rate::Unlimited);
            load::run(server, load::Plan::from_load("throughput", &a, rate)).await
        }
        Mode::Latency(a) => {
            let rate = a.rate.unwrap_or(Rate::PerSecond(DEFAULT_LATENCY_RATE));
            load::run(server, load::Plan::from_load("latency", &a, rate)).await
        }
        Mode::Durable(a) => load::run(server, load::Plan::from_durable(&a)).await,
        Mode::Idle(a) => idle::run(server, &a).await,
        Mode::Search(a) => search::run(server, &a).await,
    }
}
