//! The arguments of the commands other than `serve`: the admin commands,
//! which talk to a running server or open its data directory themselves.

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};

use super::{DataDirArg, FilesDirArg};

/// The cluster's database, for a command run where no node answers.
#[derive(Debug, Args, Clone, Default)]
pub struct StoreArg {
    /// The cluster's PostgreSQL database (`postgres://…`): used when no
    /// server answers on the data directory's admin socket [default: the
    /// data directory's own database].
    #[arg(long, env = "CHATROOM_STORE", value_name = "URL")]
    pub store: Option<String>,
}

#[derive(Debug, Args)]
pub struct CreateAdminArgs {
    /// Name of the admin account to create or promote.
    #[arg(long, value_name = "NAME")]
    pub username: String,

    /// Read the password from standard input (first line) instead of a no-echo prompt.
    #[arg(long)]
    pub password_stdin: bool,

    #[command(flatten)]
    pub data: DataDirArg,

    #[command(flatten)]
    pub store: StoreArg,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub data: DataDirArg,

    #[command(flatten)]
    pub store: StoreArg,

    /// Only this room, by id or by name (without regard to case).
    #[arg(long, value_name = "NAME_OR_ID")]
    pub room: Option<String>,

    /// Only messages at or after this RFC 3339 time or date (2026-11-24 = its start in UTC).
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,

    /// Output format.
    #[arg(long, value_enum, default_value_t = ExportFormat::Jsonl)]
    pub format: ExportFormat,

    /// Write to this file instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct BackupArgs {
    #[command(flatten)]
    pub data: DataDirArg,

    #[command(flatten)]
    pub store: StoreArg,

    #[command(flatten)]
    pub files: FilesDirArg,

    /// File to write the backup to (replaced only once the backup is complete).
    #[arg(long, value_name = "FILE")]
    pub output: PathBuf,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// Backup file written by `chatroom backup`.
    #[arg(long, value_name = "FILE")]
    pub input: PathBuf,

    #[command(flatten)]
    pub data: DataDirArg,

    /// Restore into this PostgreSQL database (`postgres://…`, new and
    /// empty) instead of the data directory.
    #[arg(long, env = "CHATROOM_STORE", value_name = "URL")]
    pub store: Option<String>,

    #[command(flatten)]
    pub files: FilesDirArg,
}

#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// The data directory of the single server to move (running or not).
    #[arg(long, value_name = "DIR")]
    pub from: PathBuf,

    /// The cluster's PostgreSQL database (`postgres://…`), new and empty.
    #[arg(long, value_name = "URL")]
    pub to: String,

    /// Where the cluster keeps uploaded files (the nodes' --files-dir);
    /// the files are copied there [default: they stay in DIR/files, which
    /// the nodes are then given as --files-dir].
    #[arg(long, value_name = "DIR")]
    pub files_dir: Option<PathBuf>,
}

/// How `export` writes messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// One JSON object per line.
    Jsonl,
    /// One JSON array.
    Json,
}

#[derive(Debug, Args)]
pub struct FilesArgs {
    #[command(subcommand)]
    pub command: FilesCommand,
}

#[derive(Debug, Subcommand)]
pub enum FilesCommand {
    /// Report and remove blobs no record refers to, records of deleted rooms and
    /// leftover temporary files, and repair the files' indexes and usage counters.
    Gc(GcArgs),
}

#[derive(Debug, Args)]
pub struct GcArgs {
    #[command(flatten)]
    pub data: DataDirArg,

    #[command(flatten)]
    pub store: StoreArg,

    #[command(flatten)]
    pub files: FilesDirArg,

    /// Only report what would be removed or repaired; change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct ReindexArgs {
    #[command(flatten)]
    pub data: DataDirArg,

    #[command(flatten)]
    pub store: StoreArg,
}
