//! Messages from several nodes, back in id order.
//!
//! In a cluster every node writes messages, and ids increase in commit
//! order with no holes (see `store::postgres`). Each node's batches reach
//! the others on the bus, which keeps a publisher's order but not the
//! order between publishers, and may lose a batch. [`Order`] takes the
//! batches as they come, hands on what continues the ids already handed
//! on, and holds the rest. A gap held for longer than a bound was lost on
//! the way (an id past it was committed, so it was committed too): the
//! caller reads it from the store ([`Order::overdue`]) and offers what it
//! read like any other batch.
//!
//! What is held is bounded ([`MAX_HELD`] messages): past it, the oldest gap
//! is reported overdue at once, so memory stays flat while the bus is
//! faster than the store.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::model::{Message, MessageId};

/// Most messages held while waiting for a gap to fill.
pub const MAX_HELD: usize = 65_536;

/// Puts the messages of several writers back in id order.
#[derive(Debug)]
pub struct Order {
    /// The id the next message handed on must have.
    next: u64,
    /// Batches that came early, by the id of their first message.
    held: BTreeMap<u64, Vec<Message>>,
    held_count: usize,
    /// Since when the current gap has been waiting.
    waiting_since: Option<Instant>,
}

impl Order {
    /// Starts after everything below `next` (the store's cutoff when the
    /// node started: older messages are history, read by `since`).
    pub fn new(next: MessageId) -> Order {
        Order {
            next: next.0,
            held: BTreeMap::new(),
            held_count: 0,
            waiting_since: None,
        }
    }

    /// The id the next message handed on must have.
    pub fn next(&self) -> MessageId {
        MessageId(self.next)
    }

    /// Takes a batch (ids ascending) and returns what can be delivered now,
    /// in id order: this batch and any held ones it lets through. Messages
    /// already handed on are dropped (a batch read from the store may
    /// overlap one that arrived meanwhile).
    pub fn offer(&mut self, batch: Vec<Message>, now: Instant) -> Vec<Message> {
        let fresh: Vec<Message> = batch.into_iter().filter(|m| m.id.0 >= self.next).collect();
        if let Some(first) = fresh.first() {
            self.held_count += fresh.len();
            self.held.entry(first.id.0).or_default().extend(fresh);
        }
        let mut out = Vec::new();
        while let Some(entry) = self.held.first_entry() {
            if *entry.key() > self.next {
                break;
            }
            let batch = entry.remove();
            self.held_count -= batch.len();
            for m in batch {
                if m.id.0 == self.next {
                    self.next += 1;
                    out.push(m);
                } else if m.id.0 > self.next {
                    // A hole inside a batch: keep the rest for later.
                    self.held_count += 1;
                    self.held.entry(m.id.0).or_default().push(m);
                }
            }
        }
        self.waiting_since = match (self.held.is_empty(), self.waiting_since) {
            (true, _) => None,
            (false, None) => Some(now),
            (false, Some(t)) if out.is_empty() => Some(t),
            (false, Some(_)) => Some(now),
        };
        out
    }

    /// The ids to read from the store, `[from, to)`, when a gap has waited
    /// longer than `bound` (or too much is held): the bus lost them.
    pub fn overdue(&self, bound: Duration, now: Instant) -> Option<(MessageId, MessageId)> {
        let since = self.waiting_since?;
        let (first_held, _) = self.held.first_key_value()?;
        let late = now.duration_since(since) >= bound || self.held_count > MAX_HELD;
        late.then_some((MessageId(self.next), MessageId(*first_held)))
    }

    /// Skips ahead to `next` when ids below it will never come (the store
    /// has none of them): hands on what that lets through.
    pub fn skip_to(&mut self, next: MessageId, now: Instant) -> Vec<Message> {
        self.next = self.next.max(next.0);
        self.offer(Vec::new(), now)
    }

    /// Number of messages held.
    pub fn held(&self) -> usize {
        self.held_count
    }
}

#[cfg(test)]
mod tests;
