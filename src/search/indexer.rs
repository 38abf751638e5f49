//! The indexing thread ("chatroom-search") and the writer's way to it.
//!
//! The writer offers each stored batch's keys (room, id: a few bytes per
//! message, never the text) and never waits: a full queue drops the batch
//! and raises `lost`. The thread reads each message's text from the store
//! and indexes it, so the index follows the store in id order and its
//! watermark ("every message up to here is indexed") stays exact. When
//! `lost` is up, or at start, it catches up from the store instead: every
//! message past the watermark, read room by room in windows of ids. So a
//! burst makes the index lag, and it never loses a message.
//!
//! Edits come through the store's queue of marks (`store::search_feed`),
//! looked at on every wake; a rebuild writes a new index beside the
//! current one and then puts it in its place.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::time::{Duration, Instant};

use super::index::{Doc, Gathered, Index, IndexError, BUFFER_MESSAGES};
use crate::memory::release_free_memory;
use crate::model::{Message, MessageId, RoomId};
use crate::push::queue::{LogEvery, LOG_EVERY};
use crate::store::{Indexable, Store, StoreError};

/// Batches of keys waiting for the thread; more are dropped (and read
/// back from the store).
pub const QUEUE: usize = 256;
/// How often the thread wakes with nothing queued: edits are indexed
/// within this.
const WAKE: Duration = Duration::from_millis(250);
/// Ids read from the store per step of a catch-up: bounds the memory one
/// step takes.
const WINDOW: u64 = 8192;
/// Messages in the buffer that an idle thread saves as a segment.
const IDLE_FLUSH_MESSAGES: u64 = 1024;
/// How often an idle thread saves the buffer whatever it holds.
const QUIET_FLUSH: Duration = Duration::from_secs(60);
/// Edited messages indexed per wake.
const EDITS_PER_WAKE: usize = 512;

/// An error while indexing.
#[derive(Debug, thiserror::Error)]
pub enum IndexingError {
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What the index is doing, for `GET /api/admin/search`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Ready = 0,
    CatchingUp = 1,
    Rebuilding = 2,
}

/// How far a rebuild got.
#[derive(Clone, Copy, Debug)]
pub struct Progress {
    /// Messages indexed so far.
    pub messages: u64,
    /// Ids covered so far, of `total`.
    pub done: u64,
    pub total: u64,
}

pub(super) enum Request {
    Keys(Vec<(u64, u64)>),
    /// Rebuild into a new generation, reporting progress; answered with
    /// the messages indexed.
    Rebuild(SyncSender<RebuildEvent>),
    /// Answered once everything offered before it is indexed.
    Barrier(SyncSender<()>),
}

/// What a rebuild reports.
pub enum RebuildEvent {
    Progress(Progress),
    Done(Result<u64, String>),
}

/// Shared between the writer's side, the thread and the status route.
pub(super) struct Shared {
    pub lost: AtomicBool,
    /// The newest id the writer stored, plus one (0: none).
    pub written: AtomicU64,
    /// The first id not yet indexed.
    pub next: AtomicU64,
    pub queued: AtomicUsize,
    pub state: AtomicU8,
}

impl Shared {
    pub fn new(written: u64) -> Shared {
        Shared {
            lost: AtomicBool::new(false),
            written: AtomicU64::new(written),
            next: AtomicU64::new(0),
            queued: AtomicUsize::new(0),
            state: AtomicU8::new(State::CatchingUp as u8),
        }
    }

    pub fn state(&self) -> State {
        match self.state.load(Ordering::Relaxed) {
            0 => State::Ready,
            2 => State::Rebuilding,
            _ => State::CatchingUp,
        }
    }

    fn set(&self, s: State) {
        self.state.store(s as u8, Ordering::Relaxed);
    }
}

/// A stored batch's keys (room, id), taken before its messages go to
/// their senders.
pub struct Keys(Vec<(u64, u64)>);

impl Keys {
    pub fn of(stored: &[Message]) -> Keys {
        Keys(stored.iter().map(|m| (m.room_id.0, m.id.0)).collect())
    }
}

/// Hands a stored batch's keys to the thread; never waits.
pub(super) fn offer(tx: &SyncSender<Request>, shared: &Shared, keys: Keys) {
    let Some(&(_, last)) = keys.0.last() else {
        return;
    };
    shared.written.fetch_max(last + 1, Ordering::Release);
    match tx.try_send(Request::Keys(keys.0)) {
        Ok(()) => {
            shared.queued.fetch_add(1, Ordering::Relaxed);
        }
        Err(TrySendError::Full(_)) => shared.lost.store(true, Ordering::Release),
        Err(TrySendError::Disconnected(_)) => {}
    }
}

/// The thread's body: runs until every sender is gone.
pub(super) fn run(index: &Index, store: &Store, shared: &Shared, rx: Receiver<Request>) {
    if let Err(e) = start(index, store, shared) {
        tracing::error!(error = %e, "the search index could not catch up at start");
        shared.lost.store(true, Ordering::Release);
    }
    let mut flushed = Instant::now();
    // A failing disk fails every step: say so once a minute, not four
    // times a second.
    let failures = LogEvery::new(LOG_EVERY);
    loop {
        let first = match rx.recv_timeout(WAKE) {
            Ok(r) => Some(r),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => break,
        };
        let idle = first.is_none();
        let mut keys = Vec::new();
        let mut barriers = Vec::new();
        let mut rebuilds = Vec::new();
        let mut next_req = first;
        while let Some(req) = next_req.take() {
            match req {
                Request::Keys(k) => {
                    shared.queued.fetch_sub(1, Ordering::Relaxed);
                    keys.extend(k);
                }
                Request::Barrier(done) => barriers.push(done),
                Request::Rebuild(events) => rebuilds.push(events),
            }
            if keys.len() < 65_536 {
                next_req = rx.try_recv().ok();
            }
        }
        let mut outcome = step(index, store, shared, &keys);
        if outcome.is_ok() && flush_due(index, idle, flushed.elapsed()) {
            flushed = Instant::now();
            outcome = index.flush().map_err(Into::into);
            // The buffer and the merge are freed: give the pages back.
            release_free_memory();
        }
        if let Err(e) = outcome {
            if let Some(held) = failures.allow() {
                tracing::error!(error = %e, failures_held_back = held, "indexing messages for search failed; retrying from the store");
            }
            shared.lost.store(true, Ordering::Release);
        }
        for events in rebuilds {
            let outcome = rebuild(index, store, shared, &rx, &events);
            release_free_memory();
            let _ = events.send(RebuildEvent::Done(outcome.map_err(|e| e.to_string())));
        }
        for done in barriers {
            let _ = done.send(());
        }
    }
    if let Err(e) = index.flush() {
        tracing::error!(error = %e, "the search index could not be saved");
    }
}

/// Whether the buffer should become a segment now: when it is full; when
/// the thread is idle and it holds a good number of messages; or, idle,
/// once a minute whatever it holds, so that a quiet server's restart has
/// little to read back and its memory returns to its idle size.
fn flush_due(index: &Index, idle: bool, since: Duration) -> bool {
    let held = index.buffered();
    held >= BUFFER_MESSAGES || (idle && (held >= IDLE_FLUSH_MESSAGES || since >= QUIET_FLUSH))
}

fn start(index: &Index, store: &Store, shared: &Shared) -> Result<(), IndexingError> {
    let next = index.flushed_through().map_or(0, |w| w + 1);
    shared.next.store(next, Ordering::Release);
    catch_up(index, store, shared, &mut |_| {})?;
    index.flush()?;
    release_free_memory();
    shared.set(State::Ready);
    Ok(())
}

/// Indexes what was offered (or catches up when some was lost), then
/// the edits.
pub(super) fn step(
    index: &Index,
    store: &Store,
    shared: &Shared,
    keys: &[(u64, u64)],
) -> Result<(), IndexingError> {
    if shared.lost.swap(false, Ordering::AcqRel) {
        shared.set(State::CatchingUp);
        catch_up(index, store, shared, &mut |_| {})?;
        shared.set(State::Ready);
    } else if !keys.is_empty() {
        let next = shared.next.load(Ordering::Acquire);
        let wanted: Vec<(RoomId, MessageId)> = keys
            .iter()
            .filter(|(_, id)| *id >= next)
            .map(|&(room, id)| (RoomId(room), MessageId(id)))
            .collect();
        if let Some(&(_, last)) = wanted.last() {
            let mut g = Gathered::default();
            for piece in wanted.chunks(WINDOW as usize) {
                for m in store.indexables(piece)? {
                    g.add(&doc(&m));
                }
            }
            g.through(last.0);
            index.add(g);
            shared.next.store(last.0 + 1, Ordering::Release);
        }
    }
    edits(index, store)
}

fn doc(m: &Indexable) -> Doc<'_> {
    Doc {
        id: m.id.0,
        room: m.room.0,
        author: m.author,
        text: &m.text,
    }
}

/// Indexes the current text of messages marked as edited, saves the
/// index, and only then forgets the marks.
fn edits(index: &Index, store: &Store) -> Result<(), IndexingError> {
    let marks = store.edited_marks(EDITS_PER_WAKE)?;
    if marks.is_empty() {
        return Ok(());
    }
    let mut g = Gathered::default();
    for m in &marks {
        if let Some(text) = store.indexable(m.room, m.id)? {
            g.add_edited(&doc(&text));
        }
    }
    index.add(g);
    index.flush()?;
    store.forget_edited_marks(&marks)?;
    Ok(())
}

/// Indexes every stored message from `shared.next` to what the writer
/// has stored, in windows; `progress` hears of each window.
fn catch_up(
    index: &Index,
    store: &Store,
    shared: &Shared,
    progress: &mut dyn FnMut(Progress),
) -> Result<u64, IndexingError> {
    let mut messages = 0u64;
    let started = shared.next.load(Ordering::Acquire);
    loop {
        let next = shared.next.load(Ordering::Acquire);
        let end = shared.written.load(Ordering::Acquire);
        if next >= end {
            return Ok(messages);
        }
        let hi = end.min(next.saturating_add(WINDOW)) - 1;
        let found = store.messages_between(next, hi)?;
        let mut g = Gathered::default();
        for m in &found {
            g.add(&doc(m));
        }
        messages += found.len() as u64;
        g.through(hi);
        index.add(g);
        if index.buffered() >= BUFFER_MESSAGES {
            index.flush()?;
        }
        shared.next.store(hi + 1, Ordering::Release);
        progress(Progress {
            messages,
            done: hi + 1 - started,
            total: end - started,
        });
    }
}

/// Builds a new index from the whole store while searches read the
/// current one, then puts it in its place.
fn rebuild(
    index: &Index,
    store: &Store,
    shared: &Shared,
    rx: &Receiver<Request>,
    events: &SyncSender<RebuildEvent>,
) -> Result<u64, IndexingError> {
    shared.set(State::Rebuilding);
    let outcome = rebuild_into(index, store, shared, (rx, events));
    shared.set(State::Ready);
    outcome
}

fn rebuild_into(
    index: &Index,
    store: &Store,
    shared: &Shared,
    (rx, events): (&Receiver<Request>, &SyncSender<RebuildEvent>),
) -> Result<u64, IndexingError> {
    // The current index is kept up to date until the switch: save what
    // its buffer holds, so that a failed rebuild loses nothing.
    index.flush()?;
    let scratch = index.scratch();
    let old_next = shared.next.swap(0, Ordering::AcqRel);
    let mut last_report = Instant::now();
    let mut report = |p: Progress| {
        if last_report.elapsed() >= Duration::from_millis(200) {
            last_report = Instant::now();
            let _ = events.try_send(RebuildEvent::Progress(p));
        }
    };
    let mut messages = match catch_up(&scratch, store, shared, &mut report) {
        Ok(n) => n,
        Err(e) => {
            shared.next.store(old_next, Ordering::Release);
            shared.lost.store(true, Ordering::Release);
            return Err(e);
        }
    };
    // What was offered meanwhile is in the store: drop the keys and read
    // it back.
    let mut barriers = Vec::new();
    while let Ok(req) = rx.try_recv() {
        match req {
            Request::Keys(_) => {
                shared.queued.fetch_sub(1, Ordering::Relaxed);
            }
            Request::Barrier(done) => barriers.push(done),
            Request::Rebuild(other) => {
                let _ = other.send(RebuildEvent::Done(Err(
                    "a rebuild was already running; it covers this one".into(),
                )));
            }
        }
    }
    shared.lost.store(false, Ordering::Release);
    messages += catch_up(&scratch, store, shared, &mut |_| {})?;
    index.replace_with(scratch)?;
    for done in barriers {
        let _ = done.send(());
    }
    Ok(messages)
}

/// `chatroom reindex` without a server: rebuild in this process.
pub fn rebuild_offline(
    index: &Index,
    store: &Store,
    progress: &mut dyn FnMut(Progress),
) -> Result<u64, IndexingError> {
    let shared = Shared::new(store.message_cutoff().0);
    let scratch = index.scratch();
    let messages = catch_up(&scratch, store, &shared, progress)?;
    index.replace_with(scratch)?;
    Ok(messages)
}
