//! One transaction that outlives a single call: what the backup, the
//! export and the audit read from (one snapshot of the whole database) and
//! what the restore writes into (everything or nothing).
//!
//! [`PgStore::run`] gives each call [`OP_TIMEOUT`] as a whole, which a
//! backup of a large history cannot meet, and a transaction cannot be
//! carried from one `run` to the next. So a [`Session`] is a task on the
//! runtime that holds one connection and one open transaction, and runs
//! the statements the calling thread sends it, one request at a time: the
//! caller sends a request, waits for its answer (for [`OP_TIMEOUT`] at
//! most, as `run` does), and only then sends the next, so memory is
//! bounded by one request's rows. Between requests the caller does its own
//! work (writing a page of the backup, reading the next lines of a
//! restore); the server ends the transaction when the caller stalls for
//! longer than the transaction's idle timeout. Dropping the session
//! without [`Session::commit`] rolls the transaction back.

use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender};
use std::time::Duration;

use futures_util::future::try_join_all;
use tokio::runtime::{Handle, RuntimeFlavor};
use tokio::sync::mpsc::{unbounded_channel, UnboundedSender};
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

use super::{PgStore, OP_TIMEOUT};
use crate::store::StoreError;

/// A parameter of a statement sent to a session.
pub(super) type Param = Box<dyn ToSql + Send + Sync>;

/// A statement and its parameters.
pub(super) struct Stmt {
    pub sql: &'static str,
    pub params: Vec<Param>,
}

impl Stmt {
    pub(super) fn new(sql: &'static str, params: Vec<Param>) -> Stmt {
        Stmt { sql, params }
    }
}

/// Statements to run in order, and whether to commit after them.
struct Request {
    stmts: Vec<Stmt>,
    commit: bool,
    reply: SyncSender<Result<Vec<Vec<Row>>, StoreError>>,
}

/// A transaction held open on the runtime; see the module doc.
pub(super) struct Session {
    requests: UnboundedSender<Request>,
}

impl PgStore {
    /// Opens a session whose transaction first runs `begin` (the
    /// `SET TRANSACTION` and `SET LOCAL` statements that make it what the
    /// caller needs).
    pub(super) fn session(&self, begin: &'static str) -> Result<Session, StoreError> {
        // The caller waits for each answer before it asks again, so the
        // queue never holds more than one request.
        let (requests, mut rx) = unbounded_channel::<Request>();
        let (ready, ready_rx) = sync_channel(1);
        let pool = self.inner.pool.clone();
        self.inner.handle.spawn(async move {
            // The pool waits at most its own timeouts for a connection.
            let mut client = match pool.get().await {
                Ok(c) => c,
                Err(e) => {
                    let _ = ready.send(Err(e.into()));
                    return;
                }
            };
            let tx = match client.transaction().await {
                Ok(tx) => tx,
                Err(e) => {
                    let _ = ready.send(Err(e.into()));
                    return;
                }
            };
            if let Err(e) = tx.batch_execute(begin).await {
                let _ = ready.send(Err(e.into()));
                return;
            }
            let _ = ready.send(Ok(()));
            while let Some(req) = rx.recv().await {
                let params: Vec<Vec<&(dyn ToSql + Sync)>> = req
                    .stmts
                    .iter()
                    .map(|s| {
                        s.params
                            .iter()
                            .map(|p| p.as_ref() as &(dyn ToSql + Sync))
                            .collect()
                    })
                    .collect();
                // Sent together: the client pipelines them, in order.
                let all = try_join_all(
                    req.stmts
                        .iter()
                        .zip(&params)
                        .map(|(s, p)| tx.query(s.sql, &p[..])),
                );
                let ran = match tokio::time::timeout(OP_TIMEOUT, all).await {
                    Ok(ran) => ran.map_err(StoreError::from),
                    Err(_) => Err(no_answer()),
                };
                match ran {
                    Ok(rows) if req.commit => {
                        let _ = req
                            .reply
                            .send(tx.commit().await.map(|_| rows).map_err(Into::into));
                        return;
                    }
                    Ok(rows) => {
                        let _ = req.reply.send(Ok(rows));
                    }
                    Err(e) => {
                        // The transaction is aborted: nothing more to run.
                        let _ = req.reply.send(Err(e));
                        return;
                    }
                }
            }
        });
        wait(&ready_rx)?;
        Ok(Session { requests })
    }
}

impl Session {
    /// Runs one query; its rows.
    pub(super) fn query(
        &self,
        sql: &'static str,
        params: Vec<Param>,
    ) -> Result<Vec<Row>, StoreError> {
        let mut rows = self.send(vec![Stmt::new(sql, params)], false)?;
        Ok(rows.pop().unwrap_or_default())
    }

    /// Runs statements in order, pipelined.
    pub(super) fn execute(&self, stmts: Vec<Stmt>) -> Result<(), StoreError> {
        if stmts.is_empty() {
            return Ok(());
        }
        self.send(stmts, false).map(drop)
    }

    /// Runs the last statements and commits.
    pub(super) fn commit(self, stmts: Vec<Stmt>) -> Result<(), StoreError> {
        self.send(stmts, true).map(drop)
    }

    fn send(&self, stmts: Vec<Stmt>, commit: bool) -> Result<Vec<Vec<Row>>, StoreError> {
        let (reply, rx) = sync_channel(1);
        let req = Request {
            stmts,
            commit,
            reply,
        };
        self.requests.send(req).map_err(|_| {
            StoreError::Postgres("the transaction ended after an earlier error".into())
        })?;
        wait(&rx)
    }
}

/// Waits for a session's answer as [`PgStore::run`] waits for its task's,
/// for the same bound.
fn wait<T>(rx: &Receiver<Result<T, StoreError>>) -> Result<T, StoreError> {
    let wait = || rx.recv_timeout(OP_TIMEOUT + Duration::from_secs(1));
    let answer = match Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(RuntimeFlavor::MultiThread) => tokio::task::block_in_place(wait),
        _ => wait(),
    };
    match answer {
        Ok(out) => out,
        Err(RecvTimeoutError::Timeout) => Err(no_answer()),
        Err(RecvTimeoutError::Disconnected) => Err(StoreError::Postgres(
            "the transaction ended (the runtime is shutting down, or the connection failed)".into(),
        )),
    }
}

fn no_answer() -> StoreError {
    StoreError::Postgres(format!(
        "PostgreSQL gave no answer within {} s",
        OP_TIMEOUT.as_secs()
    ))
}
