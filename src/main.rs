//! `chatroom`: parse the command line, set up logging, dispatch.

use std::process::ExitCode;

use clap::Parser;

use chatroom::admin::commands as admin;
use chatroom::cli::{self, Cli, Command};
use chatroom::{config, server};

fn main() -> ExitCode {
    // `.env` fills in what the environment lacks; real variables win.
    // An unreadable `.env` (say, in another user's home) is skipped with a
    // warning rather than stopping an admin command run from there.
    if let Err(e) = dotenvy::dotenv() {
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
        Command::Restore(args) => admin::restore(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("chatroom: error: {msg}");
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
        .block_on(server::run(settings))
        .map_err(|e| e.to_string())
}
