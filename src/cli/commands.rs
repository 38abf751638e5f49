//! The arguments of the commands other than `serve`: the admin commands,
//! which talk to a running server or open its data directory themselves.

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};

use super::DataDirArg;

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
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub data: DataDirArg,

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

    /// Only report what would be removed or repaired; change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct ReindexArgs {
    #[command(flatten)]
    pub data: DataDirArg,
}
