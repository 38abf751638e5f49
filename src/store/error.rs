//! The one error type of the storage layer, whichever implementation runs.

use super::SCHEMA_VERSION;

/// Errors of the storage layer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage error: {0}")]
    Sled(#[from] ::sled::Error),
    #[error("cannot lock the data directory: {0}")]
    Lock(std::io::Error),
    #[error("transaction failed: {0}")]
    Transaction(String),
    /// Bytes on disk that do not decode: damaged data, never our own bug.
    #[error("a stored record is corrupt: {0}")]
    Corrupt(String),
    /// One of our own types failed to serialise: a bug, not damaged data.
    #[error("cannot encode a record: {0}")]
    Encode(serde_json::Error),
    /// The OS gave no randomness for a new id.
    #[error("no randomness from the OS: {0}")]
    Random(getrandom::Error),
    /// The backup's output refused a write (a full disk, a closed pipe).
    #[error("writing the backup: {0}")]
    BackupOutput(std::io::Error),
    #[error("the data directory {path} is in use by another chatroom process; stop it first, or use the admin commands which talk to it")]
    Locked { path: String },
    #[error("the data directory was written by a newer chatroom (schema {found}, this build knows {SCHEMA_VERSION}); upgrade chatroom")]
    NewerSchema { found: u32 },
    #[error("username is already taken")]
    UsernameTaken,
    #[error("room name is already taken")]
    RoomNameTaken,
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    Refused(String),
    #[error("the backup file is not usable: {0}")]
    BadBackup(String),
    #[error("the user owns as many rooms as allowed")]
    RoomQuota,
    #[error("quarantine file: {0}")]
    Quarantine(String),
    /// PostgreSQL refused or failed a request, or could not be reached
    /// in time (`postgres`).
    #[error("PostgreSQL: {0}")]
    Postgres(String),
}

impl<E: std::fmt::Display> From<::sled::transaction::TransactionError<E>> for StoreError {
    fn from(e: ::sled::transaction::TransactionError<E>) -> Self {
        StoreError::Transaction(e.to_string())
    }
}
