//! Messages in id order across the nodes of a cluster.
//!
//! Every node writes messages, and each node's batches reach the others
//! on the bus, which keeps one publisher's order but not the order between
//! publishers, and may lose a batch (NATS down, an outbox full). A node
//! with peers therefore hands every batch, its own writer's and the
//! others', through one [`Order`] before its connections see it: a room's
//! messages reach every connection in id order, with no gap and no
//! duplicate, whatever node wrote them.
//!
//! Ids increase in commit order with no holes (`store::postgres`), so a
//! missing id is either still on the bus or lost. The gap filler reads
//! from the store what waited longer than [`GAP_BOUND`]: a gap before a
//! held batch ([`Order::overdue`]), or the tail, when the store's cutoff
//! is past the last id handed on and nothing came for as long (the bus is
//! down and this node writes nothing). An id the store no longer has was
//! deleted meanwhile and is skipped.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{lock, Hub};
use crate::bus::order::Order;
use crate::model::{Message, MessageId};
use crate::store::StoreError;

/// How long a missing id may be waited for on the bus before it is read
/// from the store. Batches from other nodes normally arrive within
/// milliseconds; this bounds the extra delay a lost one costs.
pub const GAP_BOUND: Duration = Duration::from_secs(2);

/// How often the gap filler looks for gaps and at the store's cutoff.
const TICK: Duration = Duration::from_millis(250);

/// Most messages read from the store at once while filling a gap.
const PAGE: usize = 1000;

/// Where the gap filler reads what the bus did not bring. Blocking: it
/// is called on tokio's blocking pool.
pub trait MessageSource: Send + Sync {
    /// The id the next message stored anywhere will get: every id below
    /// it is committed.
    fn cutoff(&self) -> Result<MessageId, StoreError>;

    /// Up to `limit` visible messages with ids in `[from, to)`, from every
    /// room, in id order, each as delivered (reactions, attachments).
    fn range(
        &self,
        from: MessageId,
        to: MessageId,
        limit: usize,
    ) -> Result<Vec<Message>, StoreError>;
}

/// What else sees every message a node with peers hands on, in id order:
/// the search index, which must hold the other nodes' messages too.
pub type Follower = Box<dyn Fn(&[Message]) + Send + Sync>;

/// The order of a hub with peers, and what the filler watches of the tail.
pub(super) struct Sequencer {
    order: Mutex<Order>,
    /// Called with each run of messages as it is handed on, under the
    /// order's lock (so in id order): must not wait.
    follower: std::sync::OnceLock<Follower>,
    /// The id the tail was waiting at and since when, while the store's
    /// cutoff is past it.
    tail: Mutex<Option<(MessageId, Instant)>>,
}

impl Sequencer {
    pub(super) fn new(next: MessageId) -> Sequencer {
        Sequencer {
            order: Mutex::new(Order::new(next)),
            follower: std::sync::OnceLock::new(),
            tail: Mutex::new(None),
        }
    }
}

impl Hub {
    /// Delivers stored messages to this node's connections: at once on a
    /// single node, through the order on a node with peers. Delivery
    /// happens under the order's lock, so two batches let through by two
    /// threads reach the connections in the order they were let through.
    pub(super) fn deliver_in_order(&self, messages: Vec<Message>) {
        match &self.inner.sequencer {
            None => self.deliver(&messages),
            Some(seq) => {
                let mut order = lock(&seq.order);
                let out = order.offer(messages, Instant::now());
                self.hand_on(seq, &out);
            }
        }
    }

    /// Whether this hub has peers: its messages then come in order from
    /// every node, through [`Hub::follow`]'s follower too.
    pub fn is_clustered(&self) -> bool {
        self.inner.sequencer.is_some()
    }

    /// On a hub with peers, calls `follower` with every run of messages
    /// handed on, the node's own and its peers', in id order with no
    /// gap (but for deleted ids). Once; later calls and hubs without
    /// peers ignore it.
    pub fn follow(&self, follower: Follower) {
        if let Some(seq) = &self.inner.sequencer {
            let _ = seq.follower.set(follower);
        }
    }

    /// Delivers `out` and shows it to the follower; under the order's lock.
    fn hand_on(&self, seq: &Sequencer, out: &[Message]) {
        if out.is_empty() {
            return;
        }
        self.deliver(out);
        if let Some(follower) = seq.follower.get() {
            follower(out);
        }
    }

    /// Fills gaps from `source` for as long as the hub lives: what the bus
    /// lost reaches connections at most about [`GAP_BOUND`] plus a read
    /// late. Does nothing on a hub without peers.
    pub fn start_gap_filler(&self, source: Arc<dyn MessageSource>) {
        if self.inner.sequencer.is_none() {
            return;
        }
        let weak = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(TICK);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(inner) = weak.upgrade() else { return };
                let hub = Hub { inner };
                if let Err(e) = hub.fill_once(&source).await {
                    tracing::warn!("cluster: cannot read missed messages from the store: {e}");
                }
            }
        });
    }

    /// One look for a gap, and its filling when one is overdue.
    async fn fill_once(&self, source: &Arc<dyn MessageSource>) -> Result<(), StoreError> {
        let Some(seq) = &self.inner.sequencer else {
            return Ok(());
        };
        let overdue = lock(&seq.order).overdue(GAP_BOUND, Instant::now());
        let gap = match overdue {
            Some(gap) => Some(gap),
            None => self.tail_gap(source).await?,
        };
        let Some((from, to)) = gap else {
            return Ok(());
        };
        let mut from = from;
        while from < to {
            let s = source.clone();
            let page = tokio::task::spawn_blocking(move || s.range(from, to, PAGE))
                .await
                .map_err(|e| StoreError::Postgres(format!("the read stopped: {e}")))??;
            // Every id of [from, upto) the store has is in the page: the
            // others were deleted and will never come.
            let upto = match page.last() {
                Some(last) if page.len() >= PAGE => MessageId(last.id.0 + 1),
                _ => to,
            };
            let mut order = lock(&seq.order);
            let now = Instant::now();
            // Ids the page skips are gone: each message lets the order
            // past the ids before it, then the page's end past the rest.
            let mut out = Vec::new();
            for m in page {
                out.extend(order.skip_to(m.id, now));
                out.extend(order.offer(vec![m], now));
            }
            out.extend(order.skip_to(upto, now));
            self.hand_on(seq, &out);
            drop(order);
            from = upto;
        }
        Ok(())
    }

    /// The tail's gap `[next, cutoff)` once the store's cutoff has been
    /// past the next id for [`GAP_BOUND`] with no progress.
    async fn tail_gap(
        &self,
        source: &Arc<dyn MessageSource>,
    ) -> Result<Option<(MessageId, MessageId)>, StoreError> {
        let Some(seq) = &self.inner.sequencer else {
            return Ok(None);
        };
        let s = source.clone();
        let cutoff = tokio::task::spawn_blocking(move || s.cutoff())
            .await
            .map_err(|e| StoreError::Postgres(format!("the read stopped: {e}")))??;
        let next = lock(&seq.order).next();
        let mut tail = lock(&seq.tail);
        if cutoff <= next {
            *tail = None;
            return Ok(None);
        }
        match *tail {
            Some((at, since)) if at == next => {
                Ok((since.elapsed() >= GAP_BOUND).then_some((next, cutoff)))
            }
            _ => {
                *tail = Some((next, Instant::now()));
                Ok(None)
            }
        }
    }
}

#[cfg(test)]
#[path = "sequence_tests.rs"]
mod tests;
