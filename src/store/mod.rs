//! Everything persistent: users, rooms, memberships, messages, reactions,
//! read state, files' records, push subscriptions.
//!
//! Callers hold a [`Store`], a cheap handle to whichever implementation
//! runs, and speak in domain types through the traits of each area
//! ([`UserStore`], [`RoomStore`], ...; `use crate::store::prelude::*`).
//! Each trait's documentation is the contract every implementation
//! keeps; [`sled`] is the one that exists, in the data directory.

mod backup_format;
mod direct;
mod error;
mod files;
mod history;
mod maintenance;
mod messages;
pub mod postgres;
mod push;
mod reactions;
mod reads;
mod rooms;
mod search_feed;
mod sled;
mod users;

use std::path::Path;
use std::sync::Arc;

use crate::model::{RoomId, Timestamp};

pub use self::sled::{MAX_BACKUP_LINE, SCHEMA_VERSION};
pub use direct::{DirectStore, Participant, Viewers};
pub use error::StoreError;
pub use files::{FileCreated, FileRecord, FileStore, NewFile};
pub use history::{HistoryStore, Page, PageAround};
pub use maintenance::{
    stop_when_disk_recovers, BackupCounts, ExportFile, ExportLine, FileAudit, IndexFix,
    Maintenance, UsageFix,
};
pub use messages::{
    attachment_ids, Appended, AttachRefused, MessageStore, NewMessage, MAX_ATTACHMENTS,
};
pub use postgres::PgStore;
pub use push::{PushStore, PushSubscription, Subscribed};
pub use reactions::{ReactionChange, ReactionStore, MAX_DISTINCT_REACTIONS};
pub use reads::ReadStore;
pub use rooms::{RoomEdit, RoomStore};
pub use search_feed::{EditMark, Indexable, SearchFeed};
pub use users::UserStore;

/// The traits of every area, for callers to import at once.
pub mod prelude {
    pub use super::{
        DirectStore, FileStore, HistoryStore, Maintenance, MessageStore, PushStore, ReactionStore,
        ReadStore, RoomStore, SearchFeed, Storage, UserStore,
    };
}

/// A whole store: every area. Implemented by whatever implements them all.
pub trait Storage:
    UserStore
    + RoomStore
    + DirectStore
    + MessageStore
    + HistoryStore
    + ReactionStore
    + ReadStore
    + FileStore
    + PushStore
    + SearchFeed
    + Maintenance
    + Send
    + Sync
{
}

impl<T> Storage for T where
    T: UserStore
        + RoomStore
        + DirectStore
        + MessageStore
        + HistoryStore
        + ReactionStore
        + ReadStore
        + FileStore
        + PushStore
        + SearchFeed
        + Maintenance
        + Send
        + Sync
{
}

/// A cheap, cloneable handle to the store. It dereferences to
/// [`Storage`], so the areas' methods are called on it directly.
#[derive(Clone)]
pub struct Store {
    inner: Arc<dyn Storage>,
}

impl std::ops::Deref for Store {
    type Target = dyn Storage;

    fn deref(&self) -> &Self::Target {
        &*self.inner
    }
}

impl Store {
    /// Opens (or creates) the store in the data directory `dir`, with its
    /// cache bounded to `cache_bytes` (see [`sled::SledStore::open`]).
    pub fn open(dir: &Path, cache_bytes: u64) -> Result<Store, StoreError> {
        Ok(Store::new(self::sled::SledStore::open(dir, cache_bytes)?))
    }

    /// A handle to `storage`.
    pub fn new(storage: impl Storage + 'static) -> Store {
        Store {
            inner: Arc::new(storage),
        }
    }

    /// Runs a change and makes it durable before returning, so that
    /// whoever reports the change does so only once it is on disk.
    /// Blocking: the admin operations call it on their own thread; REST
    /// handlers go through `App::change`, the same rule on the blocking pool.
    pub fn change<T, E: From<StoreError>>(
        &self,
        f: impl FnOnce(&Store) -> Result<T, E>,
    ) -> Result<T, E> {
        let out = f(self)?;
        self.flush()?;
        Ok(out)
    }

    /// [`Maintenance::export_lines`] with the caller's own error type: an
    /// error `each` returns stops the export and is returned as it is.
    pub fn export<E: From<StoreError>>(
        &self,
        room: Option<RoomId>,
        since: Option<Timestamp>,
        mut each: impl FnMut(&ExportLine<'_>) -> Result<(), E>,
    ) -> Result<u64, E> {
        let mut stopped = None;
        let counted = self.export_lines(room, since, &mut |line| {
            each(line).map_err(|e| {
                stopped = Some(e);
                StoreError::Refused("the export was stopped".into())
            })
        });
        match stopped {
            Some(e) => Err(e),
            None => Ok(counted?),
        }
    }

    /// Checks a whole backup without writing anything: the format, every
    /// record, and the counts on its last line. The format is the same
    /// whichever store wrote it or will load it.
    pub fn check_backup(input: &mut dyn std::io::BufRead) -> Result<BackupCounts, StoreError> {
        self::sled::SledStore::check_backup(input)
    }
}

#[cfg(test)]
pub(crate) mod testing;

/// A random id: ids of users and rooms are not guessable in sequence.
pub(crate) fn random_id() -> Result<u64, StoreError> {
    let mut b = [0u8; 8];
    getrandom::getrandom(&mut b).map_err(StoreError::Random)?;
    // Keep ids away from 0 so a zeroed key is never a real one.
    Ok(u64::from_be_bytes(b).max(1))
}

/// The case-insensitive uniqueness key of a username or room name, the
/// same in every implementation.
pub(crate) fn fold_name(name: &str) -> String {
    name.to_lowercase()
}
