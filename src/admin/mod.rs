//! Administration while the server runs.
//!
//! sled lets one process open a database, so the admin commands
//! (`create-admin`, `export`, `backup`, `files gc`, `reindex`) cannot simply open the store while
//! `serve` holds it. Instead `serve` listens on a Unix socket inside the
//! data directory (mode 0600: only the data's owner can use it) and runs
//! the same operations on its own store. When no server holds the data
//! directory the commands open the store themselves. Either way the
//! operation is one function over a [`Store`], so the output is the same.
//!
//! The channel speaks lines: the client sends one JSON [`Request`]; the
//! server answers with data lines (each a JSON object, so starting with
//! `{`), then one final line: `d <summary>` on success or `e <message>` on
//! failure. A stream without its final line was cut short.

pub mod commands;
pub mod local;
pub mod ops;
pub mod reindex;
pub mod restore;
pub mod socket;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// File name of the admin socket inside the data directory.
pub const SOCKET_FILE: &str = "admin.sock";

/// The admin socket of a data directory.
pub fn socket_path(data_dir: &Path) -> PathBuf {
    data_dir.join(SOCKET_FILE)
}

/// One admin request.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "camelCase")]
pub enum Request {
    /// Create an admin, or promote a user and set its password.
    #[serde(rename_all = "camelCase")]
    CreateAdmin {
        username: String,
        password_hash: String,
        /// The password itself, so that the server can tell a promotion
        /// that keeps the password (sessions go on) from a reset (sessions
        /// end). The channel is the data owner's alone (mode 0600).
        #[serde(default)]
        password: Option<Password>,
    },
    /// Stream messages as export lines.
    Export {
        room: Option<String>,
        since: Option<i64>,
    },
    /// Stream a backup of the whole database.
    Backup,
    /// Report, and unless `dry_run` remove, what uploads left behind; the
    /// summary is the JSON of a `files::gc::GcReport`.
    #[serde(rename_all = "camelCase")]
    FilesGc { dry_run: bool },
    /// Rebuild the search index; the data lines are its progress
    /// (`reindex::ProgressLine`), the summary the messages indexed.
    Reindex,
}

/// Prefix of the final line of a success.
pub const DONE: &str = "d ";
/// Prefix of the final line of a failure.
pub const FAIL: &str = "e ";

/// A password in transit on the admin channel: its `Debug` never shows it.
#[derive(Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Password(pub String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}
