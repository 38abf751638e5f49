//! Calling back into the caller while a transaction holds a lock.
//!
//! Some contracts ask for a value to be handed on *while* nothing can
//! change it: an announcement of a message's reactions, a read state
//! handed to a user's connections. Across nodes, "nothing can change it"
//! is a lock of PostgreSQL's, held by a transaction; the hand-off is the
//! caller's closure, which is neither `Send` nor `'static` and so cannot
//! run in the query's task. The task therefore sends what it read to the
//! calling thread and waits, lock held, until the caller's closure has
//! run; then it commits, which releases the lock.

use std::future::Future;
use std::sync::mpsc::{sync_channel, RecvTimeoutError, SyncSender};
use std::time::Duration;

use deadpool_postgres::Object;
use tokio::runtime::{Handle, RuntimeFlavor};
use tokio::sync::oneshot;

use super::{PgStore, OP_TIMEOUT};
use crate::store::StoreError;

/// What the task tells the calling thread.
enum Step<T> {
    /// The value to hand on, read under the lock.
    Read(T),
    /// The task ended: without a value (`Ok`), or failing.
    Ended(Result<(), StoreError>),
}

/// The task's side of the hand-off.
pub(super) struct Handoff<T> {
    to_caller: SyncSender<Step<T>>,
    done: oneshot::Receiver<()>,
}

impl<T> Handoff<T> {
    /// Sends `value` to the caller and waits until the caller's closure
    /// has run (or the caller gave up): keep the lock held meanwhile.
    pub(super) async fn hand(self, value: T) {
        // The channel holds one step and nothing was sent before, so this
        // never blocks the runtime's thread.
        if self.to_caller.try_send(Step::Read(value)).is_ok() {
            let _ = self.done.await;
        }
    }
}

impl PgStore {
    /// Runs `op` on a connection of the pool, as [`PgStore::run`] does;
    /// when `op` hands a value over ([`Handoff::hand`]), calls `f` with it
    /// on this thread while `op` waits, and returns the value. `None` when
    /// `op` ended without handing anything over. `op` should take its
    /// lock in a transaction and commit after the hand-off.
    ///
    /// The whole of `op`, the hand-off included, is cut after
    /// [`OP_TIMEOUT`]: a closure that took that long would find the lock
    /// released behind it (the transaction rolls back), so `f` must be
    /// quick (a send into a queue).
    pub(super) fn run_holding<T, F, Op>(
        &self,
        op: Op,
        f: &mut dyn FnMut(&T),
    ) -> Result<Option<T>, StoreError>
    where
        Op: FnOnce(Object, Handoff<T>) -> F + Send + 'static,
        F: Future<Output = Result<(), StoreError>> + Send + 'static,
        T: Send + 'static,
    {
        let pool = self.inner.pool.clone();
        let (to_caller, from_task) = sync_channel(1);
        let (done, done_rx) = oneshot::channel();
        let ended = to_caller.clone();
        let handoff = Handoff {
            to_caller,
            done: done_rx,
        };
        let task = async move { op(pool.get().await?, handoff).await };
        self.inner.handle.spawn(async move {
            let out = match tokio::time::timeout(OP_TIMEOUT, task).await {
                Ok(out) => out,
                Err(_) => Err(StoreError::Postgres(format!(
                    "PostgreSQL gave no answer within {} s",
                    OP_TIMEOUT.as_secs()
                ))),
            };
            // After a hand-off the caller no longer listens: nothing to tell.
            let _ = ended.try_send(Step::Ended(out));
        });
        let wait = || from_task.recv_timeout(OP_TIMEOUT + Duration::from_secs(1));
        // As in `run`: on a worker, let another thread take its queue.
        let step = match Handle::try_current().map(|h| h.runtime_flavor()) {
            Ok(RuntimeFlavor::MultiThread) => tokio::task::block_in_place(wait),
            _ => wait(),
        };
        match step {
            Ok(Step::Read(value)) => {
                f(&value);
                let _ = done.send(());
                Ok(Some(value))
            }
            Ok(Step::Ended(out)) => out.map(|()| None),
            Err(RecvTimeoutError::Timeout) => Err(StoreError::Postgres(
                "the query's task never ran: was the store called on a current-thread \
                 runtime's own thread? (call it on the blocking pool)"
                    .into(),
            )),
            Err(RecvTimeoutError::Disconnected) => Err(StoreError::Postgres(
                "the async runtime is shutting down".into(),
            )),
        }
    }
}

/// An id as the second key of a two-key advisory lock: its two halves
/// folded into 32 bits (ids that share a key merely wait for each other).
pub(super) fn lock_key(id: u64) -> i32 {
    ((id >> 32) ^ id) as u32 as i32
}

/// The messages a statement may see: ids below the first one the
/// quarantine hides (`quarantine_from`), all when it hides none. The
/// quarantine's key is its `from_id`, so this is one index lookup.
pub(super) const VISIBLE_BELOW: &str =
    "COALESCE((SELECT min(from_id) FROM quarantine), 9223372036854775807)";
