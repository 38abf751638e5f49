//! The group-commit message writer.
//!
//! One thread owns every message write. It takes everything that queued up
//! while the previous flush ran (up to [`MAX_BATCH`]), gives the messages
//! their ids, writes them, flushes once, hands the stored batch to the hub
//! (and to the push feed, which never waits) and only then completes each
//! sender's reply (the ack); after the acks, it hands the batch's keys to
//! the search index (`search::indexer`). One fsync thus serves a whole
//! batch, ids follow acceptance order, and nothing is
//! delivered or acknowledged that is not on disk.
//!
//! Other writes that must be durable before they are answered without
//! paying a flush each (a read mark) ask for a [`Writer::sync`]: it is
//! answered after the next flush, which a batch of messages shares.
//!
//! A message that carries a `clientId` its user already sent within a day
//! is not stored again: its sender is answered with the stored message,
//! and nobody else hears of it (see `store::client_ids`). The writer is
//! the one place that can check and store a key without a race.
//!
//! A message that attaches files is written with them in one
//! transaction, or refused (`invalid_attachment`) while the rest of its
//! batch goes on (see `store::attachments`): the writer is the one
//! place that decides, in order, which of two messages gets a file.
//!
//! A batch whose write or flush fails is quarantined (hidden now, deleted
//! at the next start; see `store::quarantine`), and from then on the
//! writer refuses every message without writing: sled cannot write again
//! in this process, and ids past the failure stay hidden.

use std::collections::HashMap;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};

use super::hub::Hub;
use crate::model::{FileId, Message, RoomId, Timestamp, UserId};
use crate::push::notify::PushFeed;
use crate::search::{Keys, Search};
use crate::store::{Appended, AttachRefused, NewMessage, Store};

/// Most messages written under one flush.
pub const MAX_BATCH: usize = 4096;

/// Capacity of the writer's queue; senders wait (backpressure) when it is full.
pub const QUEUE: usize = 16_384;

/// How often the writer forgets the client ids older than a day.
const FORGET_EVERY: Duration = Duration::from_secs(60 * 60);

/// What a sender learns of its message.
pub type Reply = Result<Message, NotSent>;

/// Why a message was not sent; nothing of it was stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotSent {
    /// See [`WriteFailed`].
    Failed,
    /// Its attachments were refused.
    Refused(AttachRefused),
}

/// The store could not make a message durable; nothing was acknowledged or
/// delivered.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the message could not be stored")]
pub struct WriteFailed;

enum Request {
    Append(Outgoing, oneshot::Sender<Reply>),
    /// Answered once everything queued before it is stored and delivered.
    Barrier(oneshot::Sender<()>),
    /// Answered once a flush after it made every earlier write durable.
    Sync(oneshot::Sender<Result<(), WriteFailed>>),
}

/// A message as a session hands it over: everything but its time and id,
/// which the writer gives it in acceptance order, in one place.
#[derive(Clone, Debug)]
pub struct Outgoing {
    pub room_id: RoomId,
    pub user_id: UserId,
    pub user: String,
    pub message: String,
    /// The users `message` mentions, resolved by the session.
    pub mentions: Vec<UserId>,
    /// The client's key for the message: a second message of the same
    /// user with the same key within a day is not stored again.
    pub client_id: Option<String>,
    /// The files it attaches, checked by the writer as it stores them.
    pub attachments: Vec<FileId>,
}

impl Outgoing {
    fn stamped(self, timestamp: Timestamp) -> (NewMessage, Vec<FileId>) {
        let new = NewMessage {
            room_id: self.room_id,
            user_id: self.user_id,
            user: self.user,
            message: self.message,
            timestamp,
            mentions: self.mentions,
            client_id: self.client_id,
        };
        (new, self.attachments)
    }
}

/// Handle for submitting messages.
#[derive(Clone)]
pub struct Writer {
    tx: mpsc::Sender<Request>,
}

/// Owns the writer thread; joining it waits for the queue to drain.
pub struct WriterThread {
    handle: JoinHandle<()>,
}

impl WriterThread {
    /// Waits for the thread, which ends once every [`Writer`] is dropped
    /// and the queue is drained.
    pub fn join(self) {
        if self.handle.join().is_err() {
            tracing::error!("the message writer thread panicked");
        }
    }
}

impl Writer {
    /// Starts the writer thread, which hands each stored batch to the hub
    /// and then to `push` and `search`.
    pub fn start(
        store: Store,
        hub: Hub,
        push: PushFeed,
        search: Search,
    ) -> std::io::Result<(Writer, WriterThread)> {
        let (tx, rx) = mpsc::channel(QUEUE);
        let handle = std::thread::Builder::new()
            .name("chatroom-writer".into())
            .spawn(move || run(store, hub, push, search, rx))?;
        Ok((Writer { tx }, WriterThread { handle }))
    }

    /// Queues a message. The returned receiver completes once it is durable
    /// and delivered to the hub, or failed.
    pub async fn submit(&self, msg: Outgoing) -> Result<oneshot::Receiver<Reply>, WriteFailed> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Request::Append(msg, reply))
            .await
            .map_err(|_| WriteFailed)?;
        Ok(rx)
    }

    /// Resolves once every write made before this call (by anyone, on any
    /// tree) is durable: after the writer's next flush, which it shares
    /// with the messages queued meanwhile, so that many such calls cost
    /// one fsync, and none when messages flow anyway.
    pub async fn sync(&self) -> Result<(), WriteFailed> {
        let (done, rx) = oneshot::channel();
        self.tx
            .send(Request::Sync(done))
            .await
            .map_err(|_| WriteFailed)?;
        rx.await.unwrap_or(Err(WriteFailed))
    }

    /// Resolves once everything queued before this call is stored and delivered.
    pub async fn barrier(&self) {
        let (done, rx) = oneshot::channel();
        if self.tx.send(Request::Barrier(done)).await.is_ok() {
            let _ = rx.await;
        }
    }
}

/// Writes and flushes one batch; on failure hides it for good.
fn store_batch(
    store: &Store,
    batch: std::vec::Drain<'_, (NewMessage, Vec<FileId>)>,
) -> Result<Appended, ()> {
    if store.write_failure().is_some() {
        return Err(());
    }
    // Every id of this batch is at least this (only the writer appends).
    let first = store.message_cutoff();
    store
        .append_attaching(batch.collect())
        .and_then(|stored| store.flush().map(|()| stored))
        .map_err(|e| {
            tracing::error!(error = %e, "storing a batch of messages failed");
            store.quarantine_from(first, &e.to_string());
        })
}

/// A flush for syncs in a round without messages.
fn flush_alone(store: &Store) -> Result<(), WriteFailed> {
    if store.write_failure().is_some() {
        return Err(WriteFailed);
    }
    store.flush().map_err(|e| {
        tracing::error!(error = %e, "flushing for a sync failed");
        WriteFailed
    })
}

/// The messages of one batch that repeat a client id: those already
/// stored are answered at once; those repeating one of the batch wait for
/// it.
#[derive(Default)]
struct Repeats {
    /// (user, client id) of the batch's new messages, and their place.
    in_batch: HashMap<(UserId, String), usize>,
    /// Replies owed the message at a place in the batch.
    waiting: Vec<(usize, oneshot::Sender<Reply>)>,
}

impl Repeats {
    /// Takes `m` if its client id was used before: answers it, or holds
    /// its reply until the batch is stored. Gives it back otherwise.
    fn take(
        &mut self,
        store: &Store,
        m: Outgoing,
        reply: oneshot::Sender<Reply>,
        next_place: usize,
    ) -> Option<(Outgoing, oneshot::Sender<Reply>)> {
        let Some(client_id) = &m.client_id else {
            return Some((m, reply));
        };
        let key = (m.user_id, client_id.clone());
        if let Some(&place) = self.in_batch.get(&key) {
            self.waiting.push((place, reply));
            return None;
        }
        match store.sent_with_client_id(m.user_id, client_id) {
            Ok(Some(stored)) => {
                let _ = reply.send(Ok(stored));
                None
            }
            Ok(None) => {
                self.in_batch.insert(key, next_place);
                Some((m, reply))
            }
            Err(e) => {
                tracing::error!(error = %e, "reading a client id failed");
                let _ = reply.send(Err(NotSent::Failed));
                None
            }
        }
    }

    /// Answers the held replies with the stored batch (or its failure).
    fn settle(&mut self, stored: Result<&Appended, WriteFailed>) {
        self.in_batch.clear();
        for (place, reply) in self.waiting.drain(..) {
            let answer = match stored.map(|batch| batch.at(place)) {
                Ok(Some(Ok(m))) => Ok(m.clone()),
                Ok(Some(Err(why))) => Err(NotSent::Refused(why.clone())),
                Ok(None) | Err(WriteFailed) => Err(NotSent::Failed),
            };
            let _ = reply.send(answer);
        }
    }
}

/// Answers each sender of a stored batch, in order: its message, or why
/// its attachments were refused.
fn answer_batch(replies: impl Iterator<Item = oneshot::Sender<Reply>>, appended: Appended) {
    let mut refused = appended.refused.into_iter().peekable();
    let mut stored = appended.stored.into_iter();
    for (place, reply) in replies.enumerate() {
        let answer = match refused.next_if(|(p, _)| *p == place) {
            Some((_, why)) => Err(NotSent::Refused(why)),
            None => stored.next().ok_or(NotSent::Failed),
        };
        let _ = reply.send(answer);
    }
}

fn run(store: Store, hub: Hub, push: PushFeed, search: Search, mut rx: mpsc::Receiver<Request>) {
    let mut news = Vec::with_capacity(MAX_BATCH);
    let mut replies = Vec::with_capacity(MAX_BATCH);
    let mut barriers = Vec::new();
    let mut syncs = Vec::new();
    let mut repeats = Repeats::default();
    let mut forgot = Instant::now();
    while let Some(first) = rx.blocking_recv() {
        let mut next = Some(first);
        while let Some(req) = next.take() {
            match req {
                Request::Append(m, reply) => {
                    if let Some((m, reply)) = repeats.take(&store, m, reply, news.len()) {
                        news.push(m.stamped(Timestamp::now()));
                        replies.push(reply);
                    }
                }
                Request::Barrier(done) => barriers.push(done),
                Request::Sync(done) => syncs.push(done),
            }
            if news.len() < MAX_BATCH {
                next = rx.try_recv().ok();
            }
        }
        // Whether this round flushed, and how that went.
        let mut flushed = None;
        if !news.is_empty() {
            // Drained, not taken: the buffer keeps its capacity for the
            // next batch.
            match store_batch(&store, news.drain(..)) {
                Ok(appended) => {
                    flushed = Some(Ok(()));
                    hub.publish(&appended.stored);
                    push.offer(&appended.stored);
                    let keys = Keys::of(&appended.stored);
                    repeats.settle(Ok(&appended));
                    answer_batch(replies.drain(..), appended);
                    // Indexing is no part of the ack. A node with peers
                    // indexes what its hub hands on in order instead,
                    // its peers' messages with its own (`Hub::follow`).
                    if !hub.is_clustered() {
                        search.offer(keys);
                    }
                }
                Err(()) => {
                    flushed = Some(Err(WriteFailed));
                    repeats.settle(Err(WriteFailed));
                    for reply in replies.drain(..) {
                        let _ = reply.send(Err(NotSent::Failed));
                    }
                }
            }
        }
        if forgot.elapsed() >= FORGET_EVERY {
            forgot = Instant::now();
            if let Err(e) = store.forget_old_client_ids() {
                tracing::warn!(error = %e, "forgetting old client ids failed");
            }
        }
        if !syncs.is_empty() {
            let outcome = flushed.unwrap_or_else(|| flush_alone(&store));
            for done in syncs.drain(..) {
                let _ = done.send(outcome);
            }
        }
        for done in barriers.drain(..) {
            let _ = done.send(());
        }
    }
    if let Err(e) = store.flush() {
        tracing::error!(error = %e, "final flush failed");
    }
}
