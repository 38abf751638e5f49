//! The admin operations themselves, over a [`Store`]: run by the server for
//! a socket client, or by the command when no server holds the data.

use std::io::Write;

use crate::files::Blobs;
use crate::model::{Role, RoomId, Timestamp, UserId};
use crate::store::{Store, StoreError};

/// An admin operation's failure, phrased for the person at the shell.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct OpError(pub String);

impl From<StoreError> for OpError {
    fn from(e: StoreError) -> Self {
        OpError(e.to_string())
    }
}

impl From<std::io::Error> for OpError {
    fn from(e: std::io::Error) -> Self {
        OpError(format!("cannot write the output: {e}"))
    }
}

/// What `create-admin` did.
pub struct AdminCreated {
    /// For the operator.
    pub summary: String,
    /// An existing user whose password was reset: every token issued to it
    /// before no longer verifies, and a running server must close its
    /// WebSockets.
    pub reset: Option<UserId>,
}

/// Creates `username` as an admin, or promotes the existing user, sets its
/// password and enables it. Returns what was done, for the operator, and
/// whose password was reset. Setting a new password on an existing user
/// is a password change: it bumps the user's token version, so sessions
/// started with the old password end. Given the password it already has
/// (`password` matches the stored hash), it only promotes and enables: the
/// contract says a promoted user is an admin at once, with the token it
/// holds.
pub fn create_admin(
    store: &Store,
    username: &str,
    password_hash: &str,
    password: Option<&str>,
) -> Result<AdminCreated, OpError> {
    store.change(|store| match store.user_by_name(username)? {
        Some((id, rec)) => {
            let unchanged = password
                .is_some_and(|p| crate::auth::password_matches_blocking(&rec.password_hash, p));
            store.update_user(id, &|r| {
                r.role = Role::Admin;
                r.disabled = false;
                if !unchanged {
                    r.set_password(password_hash);
                }
            })?;
            let (password, reset) = if unchanged {
                ("its password is unchanged", None)
            } else {
                ("its password was set and its sessions ended", Some(id))
            };
            Ok(AdminCreated {
                summary: format!("{} is now an admin; {password}", rec.username),
                reset,
            })
        }
        None => {
            let user = store.create_user(username, password_hash, Role::Admin)?;
            Ok(AdminCreated {
                summary: format!("created admin {} (id {})", user.username, user.id),
                reset: None,
            })
        }
    })
}

/// Finds a room by id or by name (without regard to case).
pub fn find_room(store: &Store, name_or_id: &str) -> Result<RoomId, OpError> {
    if let Ok(id) = name_or_id.parse::<RoomId>() {
        if let Some(room) = store.room(id)? {
            return Ok(room.id);
        }
    }
    match store.room_by_name(name_or_id)? {
        Some(room) => Ok(room.id),
        None => Err(OpError(format!(
            "no room named or with id {name_or_id:?}; list rooms with GET /api/rooms"
        ))),
    }
}

/// Writes every selected message as one JSON line each. Returns the count.
pub fn export(
    store: &Store,
    room: Option<&str>,
    since: Option<Timestamp>,
    out: &mut dyn Write,
) -> Result<u64, OpError> {
    let room = room.map(|r| find_room(store, r)).transpose()?;
    store.export::<OpError>(room, since, |line| {
        serde_json::to_writer(&mut *out, line).map_err(|e| OpError(e.to_string()))?;
        out.write_all(b"\n")?;
        Ok(())
    })
}

/// Writes a backup of the whole database and the files of `blobs` to
/// `out`. Returns the counts as a JSON object, the summary the command
/// prints.
pub fn backup(store: &Store, blobs: &Blobs, out: &mut dyn Write) -> Result<String, OpError> {
    let counts = store.backup_with(Some(blobs), out)?;
    serde_json::to_string(&counts).map_err(|e| OpError(format!("cannot encode the counts: {e}")))
}

/// Runs `files gc` over the store and blobs of the process holding them.
/// Returns the report as JSON, the summary the command prints.
pub fn files_gc(store: &Store, blobs: &Blobs, dry_run: bool) -> Result<String, OpError> {
    let report = crate::files::gc::run(store, blobs, dry_run)
        .map_err(|e| OpError(format!("files gc: {e}")))?;
    serde_json::to_string(&report).map_err(|e| OpError(format!("cannot encode the report: {e}")))
}
