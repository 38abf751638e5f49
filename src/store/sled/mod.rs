//! The store in sled, in the data directory: the only code that touches
//! sled.
//!
//! Everything persistent (users, rooms, memberships, messages, reactions,
//! files' metadata) lives in typed trees whose key layouts are documented
//! in [`keys`]. Each area's trait is implemented in the module of its
//! name; [`maintenance`] gathers the whole-store operations of the others.
//! Callers speak in domain types; no sled type escapes this module.

mod attachments;
mod backup;
mod client_ids;
mod direct;
mod export;
mod files;
mod files_gc;
mod history;
mod idset;
mod keys;
mod maintenance;
mod messages;
mod notification_levels;
mod push;
mod quarantine;
mod reactions;
mod reads;
mod room_edits;
mod rooms;
mod schema;
mod search_feed;
mod users;

use std::path::Path;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use super::{random_id, StoreError};

pub use backup::MAX_LINE as MAX_BACKUP_LINE;
pub(crate) use backup::{read_backup, FilesRestore};
pub(crate) use reactions::ReactionRecord;

/// The schema this build writes. A data directory with a larger number was
/// written by a newer chatroom and is refused rather than misread; one
/// with a smaller number is upgraded at open ([`schema`]).
///
/// 2: direct rooms, reactions, mentions, read state and the index of
/// public rooms.
pub const SCHEMA_VERSION: u32 = 2;

/// The store in sled: a cheap, cloneable handle to the database.
#[derive(Clone)]
pub struct SledStore {
    inner: Arc<Trees>,
}

struct Trees {
    /// The data directory's lock, held as long as the store is open.
    _lock: std::fs::File,
    db: sled::Db,
    users: sled::Tree,
    usernames: sled::Tree,
    rooms: sled::Tree,
    room_names: sled::Tree,
    public_rooms: sled::Tree,
    members: sled::Tree,
    user_rooms: sled::Tree,
    messages: sled::Tree,
    reactions: sled::Tree,
    direct_rooms: sled::Tree,
    /// Read state and the counters behind it; see [`reads`].
    reads: sled::Tree,
    /// The keys clients gave their messages in the last day; see
    /// [`client_ids`].
    client_ids: sled::Tree,
    /// Uploaded files' records and their indexes; see [`files`].
    files: sled::Tree,
    file_blobs: sled::Tree,
    room_files: sled::Tree,
    file_usage: sled::Tree,
    /// Web Push subscriptions and their index by user; see [`push`].
    push_subs: sled::Tree,
    user_push_subs: sled::Tree,
    /// Serialises subscription changes; see [`push`].
    push_serial: Mutex<()>,
    /// Notification levels users chose; see [`notification_levels`].
    notify_levels: sled::Tree,
    /// Messages edited since the search index last saw them; see
    /// [`search_feed`].
    search_edits: sled::Tree,
    /// The next message id. Only the writer appends, so an in-memory counter
    /// recovered at open (one past the largest stored id) is exact: an id
    /// lost in a crash was never acknowledged nor delivered.
    next_message_id: AtomicU64,
    /// Hides messages whose write failed; see [`quarantine`].
    quarantine: quarantine::Quarantine,
    /// Serialises "count a user's rooms, then create one" per user (striped
    /// by user id, so memory stays fixed), so two concurrent creations at
    /// the quota cannot both pass.
    room_creation: [Mutex<()>; ROOM_CREATION_STRIPES],
    /// Serialises changes to one message's reactions (striped by message
    /// id): see `reactions`.
    reaction_locks: [Mutex<()>; REACTION_STRIPES],
    /// Serialises the changes of a room's read marks; see [`reads`].
    read_serial: [Mutex<()>; reads::READ_STRIPES],
}

/// Locks that serialise room creation; users sharing a stripe merely wait
/// for each other briefly.
const ROOM_CREATION_STRIPES: usize = 64;

/// Locks that serialise reaction changes; messages sharing a stripe merely
/// wait for each other briefly.
const REACTION_STRIPES: usize = 64;

/// File whose exclusive lock marks the process that holds a data directory.
const LOCK_FILE: &str = "lock";

/// Takes the data directory's exclusive lock, or says it is in use. sled
/// locks its own files too, but reports a held lock only as an error
/// message; our own `flock` tells it apart by its kind (`WouldBlock`), so
/// the admin commands know to wait for or talk to the running server.
fn lock_data_dir(dir: &Path) -> Result<std::fs::File, StoreError> {
    use std::os::unix::io::AsRawFd;
    std::fs::create_dir_all(dir).map_err(StoreError::Lock)?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(LOCK_FILE))
        .map_err(StoreError::Lock)?;
    // SAFETY: flock only acts on the descriptor, which `file` owns and
    // keeps open for as long as the lock must be held.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc == 0 {
        return Ok(file);
    }
    let err = std::io::Error::last_os_error();
    if err.kind() == std::io::ErrorKind::WouldBlock {
        return Err(StoreError::Locked {
            path: dir.display().to_string(),
        });
    }
    Err(StoreError::Lock(err))
}

impl SledStore {
    /// Opens (or creates) the database in `dir` with a page cache bounded to
    /// `cache_bytes`: sled's default of 1 GiB would let a home server's
    /// memory grow with its history.
    ///
    /// sled is given half of `cache_bytes`: it counts the serialized size
    /// of the pages it keeps, while the decoded nodes and the allocator's
    /// overhead take about 1.2 times that on the heap, and a full scan (an
    /// export or a backup) leaves a further 25-35 MiB behind whatever the
    /// cache size and the history's length. With half, the heap the cache
    /// really takes stays within the bound, and a scan leaves the process
    /// within the bound plus 32 MiB of its idle size.
    pub fn open(dir: &Path, cache_bytes: u64) -> Result<SledStore, StoreError> {
        let lock = lock_data_dir(dir)?;
        let db = sled::Config::new()
            .path(dir.join("db"))
            .cache_capacity(sled_cache_capacity(cache_bytes))
            .open()?;
        let meta = db.open_tree("meta")?;
        // Before anything is written: a newer schema is refused untouched.
        let found = schema::stored_version(&meta)?;
        let messages = db.open_tree("messages")?;
        let rooms = db.open_tree("rooms")?;
        let reads = db.open_tree("reads")?;
        // Before anything reads history: drop what a failed write left,
        // and the counts of it.
        let quarantine = quarantine::Quarantine::open(dir, &db, &messages, |mark| {
            reads::forget_counted_from(&rooms, &reads, mark)
        })?;
        let next = match messages::max_message_id(&messages)? {
            None => 0,
            Some(max) => max.checked_add(1).ok_or_else(|| {
                StoreError::Corrupt("the largest message id leaves no room for new ones".into())
            })?,
        };
        let trees = Trees {
            _lock: lock,
            users: db.open_tree("users")?,
            usernames: db.open_tree("usernames")?,
            rooms,
            room_names: db.open_tree("room_names")?,
            public_rooms: db.open_tree("public_rooms")?,
            members: db.open_tree("members")?,
            user_rooms: db.open_tree("user_rooms")?,
            messages,
            reactions: db.open_tree("reactions")?,
            direct_rooms: db.open_tree("direct_rooms")?,
            next_message_id: AtomicU64::new(next),
            quarantine,
            room_creation: std::array::from_fn(|_| Mutex::new(())),
            reaction_locks: std::array::from_fn(|_| Mutex::new(())),
            reads,
            client_ids: db.open_tree("client_ids")?,
            files: db.open_tree("files")?,
            file_blobs: db.open_tree("file_blobs")?,
            room_files: db.open_tree("room_files")?,
            file_usage: db.open_tree("file_usage")?,
            push_subs: db.open_tree("push_subs")?,
            user_push_subs: db.open_tree("user_push_subs")?,
            push_serial: Mutex::new(()),
            notify_levels: db.open_tree("notify_levels")?,
            search_edits: db.open_tree("search_edits")?,
            read_serial: std::array::from_fn(|_| Mutex::new(())),
            db,
        };
        let store = SledStore {
            inner: Arc::new(trees),
        };
        store.settle_schema(&meta, found)?;
        store.settle_reads()?;
        store.forget_old_client_ids()?;
        store.inner.db.flush()?;
        Ok(store)
    }

    /// Makes every write so far durable. Blocking: call it off the async
    /// threads (the message writer runs on its own thread). A failure
    /// marks the store failed: sled refuses every later write.
    pub(super) fn flush(&self) -> Result<(), StoreError> {
        if let Err(e) = self.inner.db.flush() {
            self.record_failure(format!("the database could not flush: {e}"));
            return Err(e.into());
        }
        Ok(())
    }
}

/// The capacity handed to sled for an operator's cache bound: see
/// [`SledStore::open`].
fn sled_cache_capacity(cache_bytes: u64) -> u64 {
    cache_bytes / 2
}

/// Encodes a record of ours; failing is a bug here, not damaged data.
fn to_json<T: serde::Serialize>(v: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(v).map_err(StoreError::Encode)
}

/// Decodes stored bytes; failing means the data on disk is damaged.
fn from_json<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// Opens `dir` again in a test, once the last handle was dropped. sled's
/// background threads may keep its file lock for a moment after that (a
/// loaded machine makes the moment longer), so a held lock is retried for
/// a bounded time.
#[cfg(test)]
pub(crate) fn reopen(dir: &Path, cache_bytes: u64) -> SledStore {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        match SledStore::open(dir, cache_bytes) {
            Ok(store) => return store,
            Err(e)
                if std::time::Instant::now() < deadline
                    && e.to_string().contains("could not acquire lock") =>
            {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(e) => panic!("reopen: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reopens_an_existing_store() {
        let dir = tempfile::tempdir().expect("tempdir");
        drop(SledStore::open(dir.path(), 1 << 20).expect("first open"));
        reopen(dir.path(), 1 << 20);
    }
}
