//! Read state: where each user stopped reading each room, and the counters
//! that answer "how many unread, how many mention me" without reading a
//! room's history.
//!
//! Three records of the `reads` tree (layouts in [`keys`]) hold it:
//!
//! - a room's [`RoomTally`]: how many messages it holds now (`live`), and
//!   the id of the last appended message counted (`through`);
//! - a user's tally in a room ([`Counts`]): how many of the room's
//!   messages are the user's own, and how many of the others mention them;
//! - a user's [`Mark`]: the last message read, and the same three counts
//!   taken over the messages up to it.
//!
//! Unread messages are then "now" minus "up to the mark": three reads per
//! room, whatever the history's length. The appended messages are counted
//! in the same call that appends them (one transaction per batch of the
//! writer); a deletion uncounts its message in the tallies and in every
//! mark past it, in one transaction with the removal, so counts go down
//! when messages go; a mark's counts are taken when it is set
//! (`reads/mark.rs`); and an open brings counts that a crash left behind
//! their history up to it (`reads/recount.rs`).
//!
//! Marks change only under their room's stripe of `read_serial` (setting
//! one, deleting a message, deleting the room), so a deletion never misses
//! a mark being set, and views handed out under it come in commit order.

mod mark;
mod recount;

use std::collections::HashMap;
use std::sync::MutexGuard;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sled::transaction::{
    ConflictableTransactionError, TransactionError, TransactionResult, TransactionalTree,
};
use sled::Transactional;

use super::keys::{self, ReadKind};
use super::messages::{authorship, Authorship};
use super::{from_json, to_json, SledStore, StoreError};
use crate::model::{Message, MessageId, NotificationLevel, ReadView, Room, RoomId, UserId};
use crate::store::ReadStore;

pub(super) use recount::forget_counted_from;

/// A room's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct RoomTally {
    /// Messages the room holds.
    #[serde(rename = "n", default)]
    live: u64,
    /// The last appended message counted; an open counts those after it.
    #[serde(rename = "t", default)]
    through: Option<u64>,
}

/// Counts of a room's messages as one user sees them: `live` every message
/// (a user's tally counts there the messages that involve the user, and
/// nothing reads it), `own` the user's own, `mentioned` the others' that
/// mention the user.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Counts {
    #[serde(rename = "n", default)]
    live: u64,
    #[serde(rename = "o", default)]
    own: u64,
    #[serde(rename = "m", default)]
    mentioned: u64,
}

impl Counts {
    /// Counts one message in (`up`) or out, as `user` sees it.
    fn step(&mut self, user: UserId, who: &Authorship, up: bool) {
        let change = |n: &mut u64| *n = if up { *n + 1 } else { n.saturating_sub(1) };
        change(&mut self.live);
        if who.author == user {
            change(&mut self.own);
        } else if who.mentions.contains(&user) {
            change(&mut self.mentioned);
        }
    }

    fn plus(self, o: Counts) -> Counts {
        Counts {
            live: self.live + o.live,
            own: self.own + o.own,
            mentioned: self.mentioned + o.mentioned,
        }
    }

    fn minus(self, o: Counts) -> Counts {
        Counts {
            live: self.live.saturating_sub(o.live),
            own: self.own.saturating_sub(o.own),
            mentioned: self.mentioned.saturating_sub(o.mentioned),
        }
    }
}

/// Where a user stopped reading a room, and the counts up to there.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Mark {
    #[serde(rename = "l")]
    last: u64,
    #[serde(rename = "c", default)]
    upto: Counts,
}

/// The users whose tallies a message changes: its author and whom it
/// mentions (distinct, as the writer stores them).
fn involved(who: &Authorship) -> impl Iterator<Item = UserId> + '_ {
    std::iter::once(who.author).chain(who.mentions.iter().copied().filter(|u| *u != who.author))
}

/// The view of a user's counts `now` (room-wide `live`, the user's own
/// and mentions) against the user's mark.
fn view(now: Counts, mark: Option<Mark>) -> ReadView {
    let after = now.minus(mark.map(|m| m.upto).unwrap_or_default());
    ReadView {
        last_read_id: mark.map(|m| MessageId(m.last)),
        unread: after.live.saturating_sub(after.own).min(ReadView::CAP),
        mentions: after.mentioned.min(ReadView::CAP),
    }
}

/// Counts to add to the tallies: what a batch of appended messages (or
/// the tail of a history an open counts again) brings.
#[derive(Default)]
struct Additions {
    rooms: HashMap<RoomId, RoomTally>,
    users: HashMap<(RoomId, UserId), Counts>,
}

impl Additions {
    fn add(&mut self, room: RoomId, id: u64, who: &Authorship) {
        let r = self.rooms.entry(room).or_default();
        r.live += 1;
        r.through = r.through.max(Some(id));
        for user in involved(who) {
            self.users
                .entry((room, user))
                .or_default()
                .step(user, who, true);
        }
    }
}

type TxResult<T> = Result<T, ConflictableTransactionError<StoreError>>;

fn abort(e: StoreError) -> ConflictableTransactionError<StoreError> {
    ConflictableTransactionError::Abort(e)
}

fn tx_get<T: DeserializeOwned>(t: &TransactionalTree, key: &[u8]) -> TxResult<Option<T>> {
    match t.get(key)? {
        Some(v) => from_json(&v).map(Some).map_err(abort),
        None => Ok(None),
    }
}

fn tx_put<T: Serialize>(t: &TransactionalTree, key: &[u8], value: &T) -> TxResult<()> {
    t.insert(key, to_json(value).map_err(abort)?)?;
    Ok(())
}

/// A transaction's outcome, its own errors kept as they are.
fn outcome<T>(r: TransactionResult<T, StoreError>) -> Result<T, StoreError> {
    r.map_err(|e| match e {
        TransactionError::Abort(e) => e,
        TransactionError::Storage(e) => e.into(),
    })
}

fn get<T: DeserializeOwned>(tree: &sled::Tree, key: &[u8]) -> Result<Option<T>, StoreError> {
    match tree.get(key)? {
        Some(v) => Ok(Some(from_json(&v)?)),
        None => Ok(None),
    }
}

/// Stripes of `read_serial`: rooms sharing one merely wait for each other.
pub(super) const READ_STRIPES: usize = 64;

impl ReadStore for SledStore {
    /// `user`'s read state in `room`: three reads, whatever the history.
    fn read_view(&self, room: RoomId, user: UserId) -> Result<ReadView, StoreError> {
        let (_, now) = self.counts_now(room, user)?;
        Ok(view(now, self.mark(room, user)?))
    }

    /// Hands `user`'s read state in `room` to `f` while no mark of the
    /// room can change: what several callers hand out this way (to the
    /// user's connections) comes in the order the marks were set.
    fn with_read_view(
        &self,
        room: RoomId,
        user: UserId,
        f: &mut dyn FnMut(&ReadView),
    ) -> Result<ReadView, StoreError> {
        let _serial = self.read_serial(room);
        let view = self.read_view(room, user)?;
        f(&view);
        Ok(view)
    }

    fn mark_read(&self, room: RoomId, user: UserId, id: MessageId) -> Result<bool, StoreError> {
        SledStore::mark_read(self, room, user, id)
    }

    fn notification_level(
        &self,
        room: &Room,
        user: UserId,
    ) -> Result<NotificationLevel, StoreError> {
        SledStore::notification_level(self, room, user)
    }

    fn set_notification_level(
        &self,
        room: RoomId,
        user: UserId,
        level: NotificationLevel,
    ) -> Result<(), StoreError> {
        SledStore::set_notification_level(self, room, user, level)
    }

    fn notification_levels(
        &self,
        room: RoomId,
    ) -> Result<Vec<(UserId, NotificationLevel)>, StoreError> {
        SledStore::notification_levels(self, room)
    }
}

impl SledStore {
    /// The lock under which marks of `room` change.
    fn read_serial(&self, room: RoomId) -> MutexGuard<'_, ()> {
        let stripe = (room.0 % READ_STRIPES as u64) as usize;
        self.inner.read_serial[stripe]
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Counts appended messages into their rooms' tallies, in one
    /// transaction: a crash leaves all of a batch counted or none of it
    /// (and an open counts what is missing).
    pub(super) fn count_appended(&self, stored: &[Message]) -> Result<(), StoreError> {
        let mut adds = Additions::default();
        for m in stored {
            let who = Authorship {
                author: m.user_id,
                mentions: m.mentions.clone(),
            };
            adds.add(m.room_id, m.id.0, &who);
        }
        self.add_up(&adds)
    }

    fn add_up(&self, adds: &Additions) -> Result<(), StoreError> {
        if adds.rooms.is_empty() {
            return Ok(());
        }
        outcome(self.inner.reads.transaction(|t| {
            for (room, add) in &adds.rooms {
                let key = keys::id(room.0);
                let mut tally: RoomTally = tx_get(t, &key)?.unwrap_or_default();
                tally.live += add.live;
                tally.through = tally.through.max(add.through);
                tx_put(t, &key, &tally)?;
            }
            for ((room, user), add) in &adds.users {
                let key = keys::read(*room, *user, ReadKind::Tally);
                let mine: Counts = tx_get(t, &key)?.unwrap_or_default();
                tx_put(t, &key, &mine.plus(*add))?;
            }
            Ok(())
        }))
    }

    /// `user`'s counts now: the room's messages, the user's own, and the
    /// others' that mention the user.
    fn counts_now(&self, room: RoomId, user: UserId) -> Result<(RoomTally, Counts), StoreError> {
        let r = &self.inner.reads;
        let tally: RoomTally = get(r, &keys::id(room.0))?.unwrap_or_default();
        let mine: Counts = get(r, &keys::read(room, user, ReadKind::Tally))?.unwrap_or_default();
        Ok((
            tally,
            Counts {
                live: tally.live,
                ..mine
            },
        ))
    }

    fn mark(&self, room: RoomId, user: UserId) -> Result<Option<Mark>, StoreError> {
        get(&self.inner.reads, &keys::read(room, user, ReadKind::Mark))
    }

    /// Every mark of a room: who, and where.
    fn marks(&self, room: RoomId) -> Result<Vec<(UserId, Mark)>, StoreError> {
        let mut out = Vec::new();
        for kv in self.inner.reads.scan_prefix(keys::id(room.0)) {
            let (k, v) = kv?;
            if let Some((user, ReadKind::Mark)) = keys::split_read(&k) {
                out.push((user, from_json(&v)?));
            }
        }
        Ok(out)
    }

    /// Where each user stopped reading `room`, for a backup.
    pub(super) fn read_marks(&self, room: RoomId) -> Result<Vec<(UserId, MessageId)>, StoreError> {
        Ok(self
            .marks(room)?
            .into_iter()
            .map(|(u, m)| (u, MessageId(m.last)))
            .collect())
    }

    /// Sets a mark read from a backup; its counts are taken when the
    /// restore counts every room ([`SledStore::recount_all`]).
    pub(super) fn restore_mark(
        &self,
        room: RoomId,
        user: UserId,
        last: MessageId,
    ) -> Result<(), StoreError> {
        let mark = Mark {
            last: last.0,
            upto: Counts::default(),
        };
        let key = keys::read(room, user, ReadKind::Mark);
        self.inner.reads.insert(key, to_json(&mark)?)?;
        Ok(())
    }

    /// Deletes one message and its reactions. Returns whether it existed.
    /// The removal and its uncounting (the room's tally, its author's and
    /// mentioned users' tallies, every mark at or past it) are one
    /// transaction; the reactions go after the message (see
    /// [`SledStore::add_reaction`]).
    pub(super) fn delete_message(&self, room: RoomId, id: MessageId) -> Result<bool, StoreError> {
        if self.hidden(id) {
            return Ok(false);
        }
        let _serial = self.read_serial(room);
        let marks: Vec<UserId> = self.marks(room)?.into_iter().map(|(u, _)| u).collect();
        let key = keys::message(room, id);
        let t = &self.inner;
        let existed = outcome((&t.messages, &t.reads).transaction(
            |(messages, reads): &(TransactionalTree, TransactionalTree)| {
                let Some(old) = messages.remove(&key)? else {
                    return Ok(false);
                };
                let who = authorship(&old).map_err(abort)?;
                let room_key = keys::id(room.0);
                let mut tally: RoomTally = tx_get(reads, &room_key)?.unwrap_or_default();
                tally.live = tally.live.saturating_sub(1);
                tx_put(reads, &room_key, &tally)?;
                for user in involved(&who) {
                    let key = keys::read(room, user, ReadKind::Tally);
                    let mut mine: Counts = tx_get(reads, &key)?.unwrap_or_default();
                    mine.step(user, &who, false);
                    tx_put(reads, &key, &mine)?;
                }
                for user in &marks {
                    let key = keys::read(room, *user, ReadKind::Mark);
                    if let Some(mut mark) = tx_get::<Mark>(reads, &key)? {
                        if mark.last >= id.0 {
                            mark.upto.step(*user, &who, false);
                            tx_put(reads, &key, &mark)?;
                        }
                    }
                }
                Ok(true)
            },
        ))?;
        self.remove_reactions(&key)?;
        Ok(existed)
    }

    /// Forgets a deleted room's read state. Not yet durable.
    pub(super) fn forget_reads(&self, room: RoomId) -> Result<(), StoreError> {
        let _serial = self.read_serial(room);
        let mut batch = sled::Batch::default();
        for k in self.inner.reads.scan_prefix(keys::id(room.0)).keys() {
            batch.remove(k?);
        }
        self.inner.reads.apply_batch(batch)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
