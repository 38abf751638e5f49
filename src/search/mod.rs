//! Full-text search over the message history.
//!
//! An inverted index of our own, in files beside the store (`index.rs`),
//! rather than a search engine crate: the queries a chat needs (words, a
//! prefix, phrases, by person, by room, newest first) are intersections
//! of lists sorted by message id, which immutable segment files serve
//! with a few positioned reads, so the index adds nothing to the binary
//! but its own code and keeps no cache of its own (the OS's page cache
//! serves it).
//!
//! - `tokens.rs` cuts text into terms (folding case and accents, pairs of
//!   CJK characters), the same way for messages and queries;
//! - `gather.rs` takes a message's terms (its words, author and room);
//! - `postings.rs` is the byte form of the lists, `segment.rs` a file of
//!   them, `index.rs` the segments, the buffer and the manifest, and
//!   `stream.rs` reads one term's messages across them, newest first;
//! - `indexer.rs` is the thread that follows the store;
//! - `query.rs` reads a query, `find.rs` runs it and checks each
//!   candidate against the message's current text.

pub mod find;
pub mod gather;
pub mod index;
pub mod indexer;
pub mod postings;
pub mod query;
pub mod segment;
pub mod stream;
pub mod tokens;

use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;

pub use find::{Candidates, Check, Scope};
pub use index::{Index, IndexError};
pub use indexer::{Keys, Progress, RebuildEvent, State};

use crate::store::Store;
use indexer::{Request, Shared};

/// The server's handle to the index and its thread.
#[derive(Clone)]
pub struct Search {
    inner: Arc<Inner>,
}

struct Inner {
    index: Arc<Index>,
    tx: SyncSender<Request>,
    shared: Arc<Shared>,
}

/// Owns the indexing thread; it ends once every [`Search`] is dropped.
pub struct SearchThread(JoinHandle<()>);

impl SearchThread {
    pub fn join(self) {
        if self.0.join().is_err() {
            tracing::error!("the search thread panicked");
        }
    }
}

/// Where the index is and how far it got, for `GET /api/admin/search`.
#[derive(Clone, Copy, Debug)]
pub struct Status {
    pub state: State,
    /// Every message up to this id is indexed.
    pub indexed_through: Option<u64>,
    /// The newest stored message.
    pub newest: Option<u64>,
    /// Ids stored and not yet indexed.
    pub behind: u64,
    /// Batches queued for the thread.
    pub queued: usize,
}

impl Search {
    /// Opens the index of `data_dir` and starts the thread, which first
    /// catches up with what the store holds beyond the index.
    pub fn start(data_dir: &Path, store: &Store) -> Result<(Search, SearchThread), String> {
        let index = match Index::open(data_dir) {
            Ok(index) => index,
            // Derived data: a damaged index is rebuilt, it never keeps
            // the server from starting.
            Err(e) => {
                tracing::warn!(error = %e, "the search index is damaged; rebuilding it");
                let _ = std::fs::remove_dir_all(data_dir.join("search"));
                Index::open(data_dir).map_err(|e| format!("cannot open the search index: {e}"))?
            }
        };
        let index = Arc::new(index);
        let shared = Arc::new(Shared::new(store.message_cutoff().0));
        let (tx, rx) = sync_channel(indexer::QUEUE);
        let (t_index, t_store, t_shared) = (index.clone(), store.clone(), shared.clone());
        let handle = std::thread::Builder::new()
            .name("chatroom-search".into())
            .spawn(move || indexer::run(&t_index, &t_store, &t_shared, rx))
            .map_err(|e| format!("cannot start the search thread: {e}"))?;
        let inner = Inner { index, tx, shared };
        Ok((
            Search {
                inner: Arc::new(inner),
            },
            SearchThread(handle),
        ))
    }

    /// Hands a stored batch's keys ([`Keys::of`]) to the thread; never
    /// waits. The writer calls it once the senders have their acks.
    pub fn offer(&self, keys: Keys) {
        indexer::offer(&self.inner.tx, &self.inner.shared, keys);
    }

    /// The index searches read.
    pub fn index(&self) -> &Index {
        &self.inner.index
    }

    pub fn status(&self) -> Status {
        let s = &self.inner.shared;
        let next = s.next.load(Ordering::Acquire);
        let written = s.written.load(Ordering::Acquire);
        Status {
            state: s.state(),
            indexed_through: next.checked_sub(1),
            newest: written.checked_sub(1),
            behind: written.saturating_sub(next),
            queued: s.queued.load(Ordering::Relaxed),
        }
    }

    /// Starts a rebuild; its progress and end come on the receiver.
    /// Blocking (the queue may be full): call it off the async threads.
    pub fn rebuild(&self) -> Result<Receiver<RebuildEvent>, String> {
        let (events, rx) = sync_channel(16);
        self.inner
            .tx
            .send(Request::Rebuild(events))
            .map_err(|_| "the search thread has stopped".to_string())?;
        Ok(rx)
    }

    /// Resolves once everything offered before is indexed. Blocking.
    pub fn barrier(&self) -> Result<(), String> {
        let (done, rx) = sync_channel(1);
        self.inner
            .tx
            .send(Request::Barrier(done))
            .map_err(|_| "the search thread has stopped".to_string())?;
        rx.recv()
            .map_err(|_| "the search thread has stopped".to_string())
    }

    /// Bytes the index takes on disk.
    pub fn size_on_disk(&self) -> u64 {
        self.inner.index.size_on_disk()
    }
}

#[cfg(test)]
mod tests;
