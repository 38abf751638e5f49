//! Command-line definitions: every command, option and its environment
//! variable. Flags win over the environment, which wins over `.env`
//! (loaded into the environment without overriding it), which wins over
//! the defaults.

use clap::{Args, Parser, Subcommand, ValueEnum};

mod cluster;
mod commands;
mod dirs;

pub use cluster::ClusterArgs;
pub use commands::{
    BackupArgs, CreateAdminArgs, ExportArgs, ExportFormat, FilesArgs, FilesCommand, GcArgs,
    MigrateArgs, ReindexArgs, RestoreArgs, StoreArg,
};
pub use dirs::{DataDirArg, FilesDirArg};

/// A self-hosted chat server in one binary.
#[derive(Debug, Parser)]
#[command(name = "chatroom", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

// Parsed once per process: the size of its largest variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the chat server (REST API, WebSocket and web client).
    Serve(ServeArgs),
    /// Create an admin account, or promote an existing user and set its password.
    CreateAdmin(CreateAdminArgs),
    /// Write every stored message (or one room's) as JSON lines or a JSON array.
    Export(ExportArgs),
    /// Write a consistent copy of the whole database to a file, even while the server runs.
    Backup(BackupArgs),
    /// Load a backup into a new, empty data directory (no server running on it).
    Restore(RestoreArgs),
    /// Uploaded files: `files gc` reports and removes what nothing refers to.
    Files(FilesArgs),
    /// Rebuild the search index from the stored messages (also while the server runs).
    Reindex(ReindexArgs),
    /// Move a single server's data directory into a cluster's new, empty
    /// PostgreSQL database (through a checked backup).
    Migrate(MigrateArgs),
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on [env: CHATROOM_BIND; PORT alone means 0.0.0.0:$PORT] [default: 127.0.0.1:3000]
    #[arg(long, value_name = "ADDR")]
    pub bind: Option<String>,

    #[command(flatten)]
    pub data: DataDirArg,

    #[command(flatten)]
    pub cluster: ClusterArgs,

    #[command(flatten)]
    pub files: FilesDirArg,

    /// Secret that signs tokens (default: generated on first start and kept in the data directory).
    // A `Secret`, so that the `Debug` of these arguments never shows it.
    #[arg(long, env = "JWT_SECRET", value_name = "S", hide_env_values = true)]
    pub jwt_secret: Option<crate::config::Secret>,

    /// Messages a second each user may send, refilled continuously; 0 turns the limit off.
    #[arg(
        long,
        env = "CHATROOM_MESSAGE_RATE",
        default_value_t = 5.0,
        value_name = "N"
    )]
    pub message_rate: f64,

    /// Messages a user may send at once before the rate applies.
    #[arg(
        long,
        env = "CHATROOM_MESSAGE_BURST",
        default_value_t = 20,
        value_name = "N"
    )]
    pub message_burst: u32,

    /// Whether anyone may register (`open`) or only admins add users (`closed`).
    #[arg(long, env = "CHATROOM_REGISTRATION", value_enum, default_value_t = Registration::Open)]
    pub registration: Registration,

    /// Another origin whose pages may open the WebSocket (repeatable; the env
    /// variable is comma-separated; the flags replace the env list).
    #[arg(
        long = "allowed-origin",
        env = "CHATROOM_ALLOWED_ORIGINS",
        value_delimiter = ',',
        value_name = "ORIGIN"
    )]
    pub allowed_origins: Vec<String>,

    /// Lifetime of issued tokens, in seconds.
    #[arg(long, env = "CHATROOM_TOKEN_TTL", default_value_t = 7 * 24 * 3600, value_name = "SECONDS")]
    pub token_ttl: u64,

    /// Largest accepted REST request body, in bytes.
    #[arg(long, env = "CHATROOM_BODY_LIMIT", default_value_t = 64 * 1024, value_name = "BYTES")]
    pub body_limit: u64,

    /// Bound of the database's page cache, in MiB.
    #[arg(
        long,
        env = "CHATROOM_CACHE_MB",
        default_value_t = 32,
        value_name = "MIB"
    )]
    pub cache_mb: u64,

    /// Warn (in the log and in `/healthz`) when the filesystem of the data
    /// directory has less than this percentage of its space free; 0 turns
    /// the warning off.
    #[arg(
        long,
        env = "CHATROOM_LOW_DISK_PERCENT",
        value_parser = clap::value_parser!(u8).range(0..=100),
        default_value_t = 5,
        value_name = "PERCENT"
    )]
    pub low_disk_percent: u8,

    /// Behind a reverse proxy: take the client's address from the last
    /// `X-Forwarded-For` entry (for login throttling) instead of the peer.
    #[arg(long, env = "CHATROOM_TRUST_FORWARDED_FOR")]
    pub trust_forwarded_for: bool,

    /// Most WebSocket connections open at once; further upgrades get 429.
    #[arg(
        long,
        env = "CHATROOM_MAX_CONNECTIONS",
        default_value_t = 20_000,
        value_name = "N"
    )]
    pub max_connections: usize,

    /// Open TCP connections at most (HTTP and WebSocket together); 0 means
    /// 90% of the process's descriptor limit (leaving at least 32 free),
    /// which `serve` raises to its hard limit at start.
    #[arg(
        long,
        env = "CHATROOM_MAX_TCP_CONNECTIONS",
        default_value_t = 0,
        value_name = "N"
    )]
    pub max_tcp_connections: usize,

    /// Seconds a connection has to deliver complete request headers, from
    /// being accepted or from the previous response (keep-alive).
    #[arg(
        long,
        env = "CHATROOM_HEADER_TIMEOUT",
        default_value_t = 30,
        value_name = "SECONDS"
    )]
    pub header_timeout: u64,

    /// Seconds a request body has to arrive whole; slower bodies get 408.
    #[arg(
        long,
        env = "CHATROOM_BODY_TIMEOUT",
        default_value_t = 30,
        value_name = "SECONDS"
    )]
    pub body_timeout: u64,

    /// Failed logins verified per minute, per username and per client address.
    #[arg(
        long,
        env = "CHATROOM_LOGIN_FAILURES",
        default_value_t = 10,
        value_name = "N"
    )]
    pub login_failures: u32,

    /// Registrations per client address per hour; 0 turns the limit off.
    #[arg(
        long,
        env = "CHATROOM_REGISTRATION_RATE",
        default_value_t = 10,
        value_name = "N"
    )]
    pub registration_rate: u32,

    /// Password hashes (login, register, password change) that may wait for
    /// a hashing slot; beyond, requests get 503 `busy` at once. A waiter
    /// holds no hashing memory, and logins go ahead of the rest, so the
    /// queue may be long enough for a legitimate burst (a class signing up
    /// at once) at no cost to logins.
    #[arg(
        long,
        env = "CHATROOM_HASH_QUEUE",
        default_value_t = 32,
        value_name = "N"
    )]
    pub hash_queue: usize,

    /// WebSocket connections one user may have open; further upgrades get 429.
    #[arg(
        long,
        env = "CHATROOM_MAX_USER_CONNECTIONS",
        default_value_t = 32,
        value_name = "N"
    )]
    pub max_user_connections: usize,

    /// Rooms one user may own (admins are exempt); 0 means no quota.
    #[arg(
        long,
        env = "CHATROOM_ROOM_QUOTA",
        default_value_t = 100,
        value_name = "N"
    )]
    pub room_quota: usize,

    /// Rooms one user may create per hour (admins are exempt); 0 turns the limit off.
    #[arg(
        long,
        env = "CHATROOM_ROOM_CREATE_RATE",
        default_value_t = 30,
        value_name = "N"
    )]
    pub room_create_rate: u32,

    /// leaveRoom frames (and joinRoom of a room already joined) per second on
    /// one connection, refilled continuously (a burst of 50 is allowed);
    /// joining a room not joined is free; 0 turns the limit off.
    #[arg(
        long,
        env = "CHATROOM_JOIN_RATE",
        default_value_t = 5.0,
        value_name = "N"
    )]
    pub join_rate: f64,

    /// Contact (`mailto:` or `https:`) push services may use to reach the
    /// server's operator [default: mailto:admin@localhost, with a warning].
    #[arg(long, env = "CHATROOM_VAPID_SUBJECT", value_name = "URL")]
    pub vapid_subject: Option<String>,

    /// For tests only: also accept `http:` push endpoints (a local push
    /// service stand-in). Never for production: pushes would travel in clear.
    #[arg(long, hide = true)]
    pub push_allow_http: bool,

    /// For tests only: how long a connection counts as looking at the
    /// rooms it joined after its page was hidden, in milliseconds.
    #[arg(long, hide = true, default_value_t = 30_000)]
    pub push_watch_ms: u64,

    #[command(flatten)]
    pub write_limits: WriteLimitArgs,

    #[command(flatten)]
    pub upload_limits: UploadLimitArgs,

    /// Milliseconds between two Engine.IO pings of a Socket.IO client.
    #[arg(
        long,
        env = "CHATROOM_SOCKETIO_PING_INTERVAL",
        value_parser = clap::value_parser!(u64).range(1..),
        default_value_t = 25_000,
        value_name = "MS"
    )]
    pub socketio_ping_interval: u64,
    /// Milliseconds a Socket.IO client has to answer a ping (a long-polling
    /// client: to poll again) before its session is closed.
    #[arg(
        long,
        env = "CHATROOM_SOCKETIO_PING_TIMEOUT",
        value_parser = clap::value_parser!(u64).range(1..),
        default_value_t = 20_000,
        value_name = "MS"
    )]
    pub socketio_ping_timeout: u64,
}

/// The per-user allowances of REST writes that each cost a flush (see
/// [`crate::throttle::WriteLimits`]).
#[derive(Debug, Args, Clone)]
pub struct WriteLimitArgs {
    /// Reaction changes (add or remove) per minute per user, refilled
    /// continuously; 0 turns the limit off.
    #[arg(
        long,
        env = "CHATROOM_REACTION_RATE",
        default_value_t = 60,
        value_name = "N"
    )]
    pub reaction_rate: u32,

    /// Reaction changes a user may make at once before the rate applies.
    #[arg(
        long,
        env = "CHATROOM_REACTION_BURST",
        default_value_t = 30,
        value_name = "N"
    )]
    pub reaction_burst: u32,

    /// Room edits (rename, description) per minute per user, refilled
    /// continuously, a minute's worth at once; 0 turns the limit off.
    #[arg(
        long,
        env = "CHATROOM_ROOM_EDIT_RATE",
        default_value_t = 20,
        value_name = "N"
    )]
    pub room_edit_rate: u32,

    /// File uploads per minute per user, refilled continuously, a minute's
    /// worth at once; 0 turns the limit off.
    #[arg(
        long,
        env = "CHATROOM_UPLOAD_RATE",
        default_value_t = 60,
        value_name = "N"
    )]
    pub upload_rate: u32,

    /// Settings changes (push subscriptions, notification levels) per
    /// minute per user, refilled continuously, a minute's worth at once;
    /// 0 turns the limit off.
    #[arg(
        long,
        env = "CHATROOM_SETTINGS_RATE",
        default_value_t = 60,
        value_name = "N"
    )]
    pub settings_rate: u32,
}

/// The bounds of uploaded files (see [`crate::config::UploadLimits`]).
#[derive(Debug, Args, Clone)]
pub struct UploadLimitArgs {
    /// Largest file a user may upload, in MiB.
    #[arg(
        long,
        env = "CHATROOM_MAX_UPLOAD_MB",
        default_value_t = 25,
        value_name = "MIB"
    )]
    pub max_upload_mb: u64,

    /// MiB of files one user may have stored in all; 0 means no quota.
    #[arg(
        long,
        env = "CHATROOM_UPLOAD_QUOTA_MB",
        default_value_t = 1024,
        value_name = "MIB"
    )]
    pub upload_quota_mb: u64,

    /// Hours an uploaded file may stay unattached to any message before
    /// it is removed (checked at start and every hour); 0 removes them
    /// at the next check.
    #[arg(
        long,
        env = "CHATROOM_UNATTACHED_FILE_HOURS",
        default_value_t = 24,
        value_name = "HOURS"
    )]
    pub unattached_file_hours: u64,
}

/// `serve`'s arguments from `args` (what follows `chatroom serve`) with
/// `env` as the whole environment, for a server started inside another
/// program (the integration tests): the caller's own variables must not
/// change what it runs with. A variable of `env` counts as clap's `env`
/// would, below a flag and above the default (clap keeps defaults only as
/// `'static` strings, hence the values' lifetime).
pub fn serve_args(args: &[&str], env: &[(&str, &'static str)]) -> Result<ServeArgs, clap::Error> {
    use clap::FromArgMatches;
    let command = ServeArgs::augment_args(clap::Command::new("serve")).mut_args(|arg| {
        let value = arg
            .get_env()
            .and_then(|name| env.iter().find(|(k, _)| name == *k))
            .map(|(_, v)| *v);
        let arg = arg.env(None);
        match value {
            Some(v) => arg.default_value(v),
            None => arg,
        }
    });
    let matches =
        command.try_get_matches_from(std::iter::once("serve").chain(args.iter().copied()))?;
    ServeArgs::from_arg_matches(&matches)
}

/// Whether self-registration is allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Registration {
    Open,
    Closed,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn serve_args_take_the_given_environment_below_the_flags() {
        let env = [
            ("CHATROOM_ROOM_QUOTA", "0"),
            (
                "CHATROOM_ALLOWED_ORIGINS",
                "https://a.example,https://b.example",
            ),
            ("CHATROOM_TRUST_FORWARDED_FOR", "true"),
        ];
        let args = serve_args(&[], &env).expect("parse");
        assert_eq!(args.room_quota, 0);
        assert_eq!(
            args.allowed_origins,
            ["https://a.example", "https://b.example"]
        );
        assert!(args.trust_forwarded_for);
        let args = serve_args(&["--room-quota", "3"], &env).expect("parse");
        assert_eq!(args.room_quota, 3, "a flag wins over the environment");
        let args = serve_args(&[], &[]).expect("parse");
        assert_ne!(args.room_quota, 0, "the default without the variable");
        assert!(!args.trust_forwarded_for);
    }
}
