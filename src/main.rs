//! `chatroom`: parse the command line, set up logging, dispatch.

use std::process::ExitCode;

use clap::Parser;

use chatroom::admin::commands as admin;
use chatroom::cli::{self, Cli, Command};
use chatroom::{config, server};

/// glibc raises its mmap threshold after a large block is freed, after which
/// argon2's 19 MiB working memory comes from the heap and is kept by each
/// thread's arena: a few hundred logins would hold hundreds of MiB. A fixed
/// threshold keeps such blocks mmapped, so they go back to the OS at once.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
///
/// glibc also gives each new thread its own arena (up to 8 per core), and
/// the blocking pool's threads come and go: memory an export or a backup
/// freed in one arena is not reused by the next thread's. Two arenas keep
/// the footprint after such scans near the idle figure.
fn tune_allocator() {
    const MMAP_THRESHOLD: libc::c_int = 128 * 1024;
    const ARENA_MAX: libc::c_int = 2;
    // SAFETY: mallopt only sets allocator parameters; called before any
    // other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
        libc::mallopt(libc::M_ARENA_MAX, ARENA_MAX);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn tune_allocator() {}

/// Files and sockets this process creates (database files, the secret, the
/// admin socket, backups and exports, which hold every private message)
/// are for the data's owner alone, from the moment they exist: a mode
/// narrowed after creation would leave a moment when others could open them.
const UMASK: libc::mode_t = 0o077;

fn main() -> ExitCode {
    tune_allocator();
    // SAFETY: umask only sets the process's file creation mask.
    unsafe {
        libc::umask(UMASK);
    }
    // `.env` fills in what the environment lacks; real variables win.
    // An unreadable `.env` (say, in another user's home) is skipped with a
    // warning rather than stopping an admin command run from there.
    // Only the working directory's own `.env`: dotenvy's `dotenv()` would
    // also climb to a parent directory's, which nobody asked for.
    if let Err(e) = dotenvy::from_path(".env") {
        if !e.not_found() {
            eprintln!("chatroom: warning: ignoring .env in the working directory: {e}");
        }
    }
    let cli = Cli::parse();
    init_tracing();
    let result = match cli.command {
        Command::Serve(args) => serve(args),
        Command::CreateAdmin(args) => admin::create_admin(args),
        Command::Export(args) => admin::export(args),
        Command::Backup(args) => admin::backup(args),
        Command::Restore(args) => chatroom::admin::restore::restore(args),
        Command::Files(files) => match files.command {
            cli::FilesCommand::Gc(args) => admin::files_gc(args),
        },
        Command::Reindex(args) => chatroom::admin::reindex::reindex(args),
        Command::Migrate(args) => chatroom::admin::restore::migrate(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("chatroom: error: {}", one_line(&msg));
            ExitCode::FAILURE
        }
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .init();
}

fn serve(args: cli::ServeArgs) -> Result<(), String> {
    let settings = config::Settings::resolve(args).map_err(|e| e.to_string())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime
        .block_on(async {
            let listener = server::bind(settings.bind).await?;
            let ready = server::open(settings, listener).await?;
            announce(ready.local_addr());
            server::run(ready, Box::pin(server::signal())).await
        })
        .map_err(|e| e.to_string())
}

/// The one line on standard output, for scripts and tests to find the
/// address (port 0 picks a free one). Printed once the server is ready,
/// so that admin commands run after it reach the server. A closed stdout
/// is not an error.
fn announce(local: std::net::SocketAddr) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "chatroom listening on http://{local}").and_then(|()| out.flush());
}

/// An error as one line of plain text: a message may quote bytes of a file
/// or a client (a restore line, a name), and their newlines or terminal
/// escapes must not break the "one line on stderr" promise.
fn one_line(msg: &str) -> String {
    msg.chars()
        .flat_map(|c| {
            let escaped: Vec<char> = if c.is_control() {
                c.escape_default().collect()
            } else {
                vec![c]
            };
            escaped
        })
        .collect()
}
