//! The store on PostgreSQL: what several chatroom processes share when
//! they serve one site as a cluster.
//!
//! Relational tables (`migrations/`), one per kind of record: `users`,
//! `rooms`, `members`, `messages`, and the one-row `message_counter`.
//! There are no foreign keys, on purpose: the embedded store keeps a
//! membership or a message whose room went meanwhile (a batch written as
//! the room is deleted) rather than failing the whole batch, and so does
//! this one; deleting a room removes what belongs to it explicitly.
//!
//! # Message ids
//!
//! Ids are global and increase in acceptance order, so a room's history is
//! totally ordered and a reader that has seen id `n` knows that a larger
//! id it sees later is newer. With several writers (one per node), ids
//! must moreover increase in *commit* order with no holes: another node
//! that sees id `n + 2` without `n + 1` then knows it missed one. A batch
//! is therefore one transaction that first runs
//! `UPDATE message_counter SET next = next + n RETURNING next`, inserts its
//! messages with the `n` ids just below the returned value, and commits.
//! The counter's row lock is held until the commit, so writers take ids
//! one batch at a time, in the order they commit; a batch that rolls back
//! gives its ids back, since the counter rolls back with it.
//!
//! # Blocking
//!
//! The methods are synchronous, like the embedded store's: callers run
//! them on tokio's blocking pool (`App::read`, `App::change`), on the
//! message writer's own thread, or in admin commands. Each query runs as a
//! task spawned on the runtime whose [`Handle`] the store holds, and the
//! calling thread waits for its answer on a channel, for a bounded time.
//! `Handle::block_on` was the other choice; it panics when called on a
//! runtime's own thread, and there is no public way to tell such a thread
//! from one of the blocking pool beforehand. Waiting on a channel never
//! panics. On a worker of a multi-threaded runtime the wait goes through
//! `block_in_place` (which, on any other thread, only runs it), so the
//! worker's queue, where the query's task may sit, moves to another
//! thread meanwhile: it works, but keeps that worker's thread, so don't.
//! On the thread of a current-thread runtime the task cannot run while
//! the thread waits, and `block_in_place` would panic there: the call
//! fails with [`StoreError::Postgres`] after [`OP_TIMEOUT`] instead.
//!
//! # Bounds
//!
//! Connections come from a pool of [`connect::POOL_SIZE`]; a connection is
//! made within [`connect::CONNECT_TIMEOUT`], every statement is cut by the
//! server after [`connect::STATEMENT_TIMEOUT`], and every call as a whole
//! fails after [`OP_TIMEOUT`] whatever the network does, so a PostgreSQL
//! that is down or unreachable gives an error quickly, never a hang.

mod attachments;
mod audit;
mod backup;
mod cluster_feed;
mod connect;
mod direct;
mod export;
mod files;
mod held;
mod history;
pub mod limits;
mod maintenance;
mod messages;
mod migrate;
mod push;
mod reactions;
mod reads;
mod restore;
mod rooms;
mod search_feed;
mod session;
mod users;

#[cfg(test)]
mod pg_server;
#[cfg(test)]
mod testing;

use std::future::Future;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Object, Pool};
use tokio::runtime::{Handle, RuntimeFlavor};
use tokio_postgres::error::SqlState;

use super::StoreError;

pub use migrate::PG_SCHEMA_VERSION;

/// The longest any one call may take, waiting for a connection included.
pub const OP_TIMEOUT: Duration = Duration::from_secs(15);

/// A cheap, cloneable handle to a PostgreSQL database.
#[derive(Clone)]
pub struct PgStore {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Pool,
    handle: Handle,
    /// The last message cutoff read or written: what
    /// [`PgStore::message_cutoff`] answers when the database does not.
    cutoff: AtomicU64,
    /// Whether anyone subscribed to push, as last learnt.
    push_flag: push::PushFlag,
    /// This process's place in the feed of edits for its search index.
    edit_cursor: std::sync::Mutex<search_feed::EditCursor>,
}

impl PgStore {
    /// Runs `op` on the runtime with a connection of the pool and waits
    /// for its result, for [`OP_TIMEOUT`] at most; see the module doc.
    fn run<T, F, Op>(&self, op: Op) -> Result<T, StoreError>
    where
        Op: FnOnce(Object) -> F + Send + 'static,
        F: Future<Output = Result<T, StoreError>> + Send + 'static,
        T: Send + 'static,
    {
        let pool = self.inner.pool.clone();
        let task = async move { op(pool.get().await?).await };
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.inner.handle.spawn(async move {
            let out = match tokio::time::timeout(OP_TIMEOUT, task).await {
                Ok(out) => out,
                Err(_) => Err(StoreError::Postgres(format!(
                    "PostgreSQL gave no answer within {} s",
                    OP_TIMEOUT.as_secs()
                ))),
            };
            // The caller may have given up already; nothing to tell then.
            let _ = tx.send(out);
        });
        let wait = || rx.recv_timeout(OP_TIMEOUT + Duration::from_secs(1));
        let answer = match Handle::try_current().map(|h| h.runtime_flavor()) {
            // On a worker, the task may sit in the worker's own queue, which
            // no other thread takes from while the worker waits: hand the
            // worker's queue to another thread for the wait. Elsewhere
            // (the blocking pool, a thread of our own) this only calls
            // `wait`.
            Ok(RuntimeFlavor::MultiThread) => tokio::task::block_in_place(wait),
            _ => wait(),
        };
        match answer {
            Ok(out) => out,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => Err(StoreError::Postgres(
                "the query's task never ran: was the store called on a current-thread \
                 runtime's own thread? (call it on the blocking pool)"
                    .into(),
            )),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => Err(StoreError::Postgres(
                "the async runtime is shutting down".into(),
            )),
        }
    }
}

/// A u64 id as stored: its bit pattern in a BIGINT.
fn db_id(id: u64) -> i64 {
    id as i64
}

/// A stored BIGINT id back as the u64 it holds.
fn id_of(v: i64) -> u64 {
    v as u64
}

/// Whether PostgreSQL's text can hold `text`: not when it has a NUL
/// character, which no stored name has (validation refuses it), so a
/// lookup by such a name finds nothing rather than failing.
fn storable(text: &str) -> bool {
    !text.contains('\0')
}

/// A name as its uniqueness is judged: folded as the embedded store folds
/// it.
fn folded(name: &str) -> String {
    super::fold_name(name)
}

/// A count or limit of ours as a BIGINT parameter; past `i64::MAX` is
/// "no limit" for every query here.
fn db_count(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl From<tokio_postgres::Error> for StoreError {
    /// A name taken (a unique constraint on a folded name) is the error the
    /// embedded store gives; anything else carries PostgreSQL's words.
    fn from(e: tokio_postgres::Error) -> Self {
        if let Some(db) = e.as_db_error() {
            if db.code() == &SqlState::UNIQUE_VIOLATION {
                match db.constraint() {
                    Some("users_username_key") => return StoreError::UsernameTaken,
                    Some("rooms_name_key") => return StoreError::RoomNameTaken,
                    _ => {}
                }
            }
        }
        StoreError::Postgres(e.to_string())
    }
}

impl From<deadpool_postgres::PoolError> for StoreError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        StoreError::Postgres(format!("no connection to PostgreSQL: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::testing::{connect, runtime, PgServer, TestDb};
    use crate::model::{Role, UserId};
    use crate::store::UserStore;

    #[test]
    fn the_blocking_pool_and_a_runtime_worker_may_both_call_it() {
        let store = TestDb::new().store();
        let s = store.clone();
        let blocking = runtime().spawn_blocking(move || s.create_user("ann", "h", Role::User));
        let ann = runtime().block_on(blocking).expect("join").expect("create");
        let s = store.clone();
        // Wasteful on a worker (it waits there), but neither a panic nor a
        // deadlock on a multi-threaded runtime.
        let on_worker = runtime().spawn(async move { s.user(ann.id) });
        let found = runtime().block_on(on_worker).expect("join").expect("read");
        assert_eq!(found.map(|r| r.username).as_deref(), Some("ann"));
        crate::store::Maintenance::flush(&store).expect("flush");
    }

    #[test]
    fn a_stopped_server_gives_an_error_quickly() {
        let mut server = PgServer::start();
        let address = server.database();
        let store = connect(&address).expect("connect");
        assert!(store.user(UserId(1)).expect("read").is_none());
        server.stop();
        let bound = Duration::from_secs(10);
        for what in ["the connection it had", "a new connection"] {
            let start = Instant::now();
            let res = store.user(UserId(1));
            assert!(res.is_err(), "{what}: {res:?}");
            assert!(start.elapsed() < bound, "{what}: {:?}", start.elapsed());
        }
        let start = Instant::now();
        assert!(connect(&address).is_err());
        assert!(start.elapsed() < bound, "connecting: {:?}", start.elapsed());
    }
}
