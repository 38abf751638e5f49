//! Counting a history again, where the counters cannot be trusted to
//! match it: at open, after a crash between a batch's write and its
//! counting (the tail after `through` is counted), for a data directory
//! written before read state existed, or after the quarantine removed
//! messages that had been counted (the whole room is counted again); and
//! after a restore, which brings marks but no counts.

use std::collections::HashMap;

use super::{get, involved, Additions, Counts, Mark, RoomTally};
use crate::model::{MessageId, RoomId, UserId};
use crate::store::sled::keys::{self, ReadKind};
use crate::store::sled::messages::{authorship, split_message_key};
use crate::store::sled::{to_json, SledStore, StoreError};

/// At the quarantine's removal of every message from `mark` on: forgets
/// the tally of each room that counted one of them, so that the open
/// counts the room again. Part of the removal's own flush.
pub(in crate::store) fn forget_counted_from(
    rooms: &sled::Tree,
    reads: &sled::Tree,
    mark: u64,
) -> Result<(), StoreError> {
    for k in rooms.iter().keys() {
        let k = k?;
        let tally: Option<RoomTally> = get(reads, &k)?;
        if tally.is_some_and(|t| t.through.is_some_and(|t| t >= mark)) {
            reads.remove(&k)?;
        }
    }
    Ok(())
}

impl SledStore {
    /// Brings every room's counters up to its history. At a normal open
    /// that is one look per room; a room never counted (older data, or
    /// forgotten by the quarantine) is counted whole, once.
    pub(in crate::store) fn settle_reads(&self) -> Result<(), StoreError> {
        for k in self.inner.rooms.iter().keys() {
            let k = k?;
            let room =
                RoomId(keys::read_u64(&k).ok_or_else(|| StoreError::Corrupt("room key".into()))?);
            let Some(last) = self.last_message_id(room)? else {
                continue;
            };
            match get::<RoomTally>(&self.inner.reads, &k)? {
                None => {
                    tracing::info!(room = %room, "counting a room's messages for read state");
                    self.recount(room)?
                }
                Some(t) => match t.through {
                    Some(through) if through >= last => {}
                    // Past `through`, so `through + 1` does not overflow.
                    through => self.count_tail(room, through.map_or(0, |t| t + 1))?,
                },
            }
        }
        Ok(())
    }

    /// Counts every room again, marks included: after a restore.
    pub(in crate::store) fn recount_all(&self) -> Result<(), StoreError> {
        for k in self.inner.rooms.iter().keys() {
            let k = k?;
            let id = keys::read_u64(&k).ok_or_else(|| StoreError::Corrupt("room key".into()))?;
            self.recount(RoomId(id))?;
        }
        Ok(())
    }

    fn last_message_id(&self, room: RoomId) -> Result<Option<u64>, StoreError> {
        match self
            .inner
            .messages
            .scan_prefix(keys::id(room.0))
            .next_back()
        {
            Some(kv) => Ok(Some(split_message_key(&kv?.0)?.1)),
            None => Ok(None),
        }
    }

    /// Adds the messages of `room` from id `from` on to its tallies.
    fn count_tail(&self, room: RoomId, from: u64) -> Result<(), StoreError> {
        let mut adds = Additions::default();
        let end = keys::message(room, MessageId(u64::MAX));
        for kv in self
            .inner
            .messages
            .range(keys::message(room, MessageId(from))..=end)
        {
            let (k, v) = kv?;
            adds.add(room, split_message_key(&k)?.1, &authorship(&v)?);
        }
        tracing::info!(room = %room, messages = adds.rooms.get(&room).map_or(0, |r| r.live), "counted messages a stop left uncounted");
        self.add_up(&adds)
    }

    /// Counts `room` whole: its tally, every user's tally and every mark's
    /// counts, in one pass over its history, written in one batch.
    fn recount(&self, room: RoomId) -> Result<(), StoreError> {
        let _serial = self.read_serial(room);
        let mut marks = self.marks(room)?;
        marks.sort_by_key(|(_, m)| m.last);
        let mut tally = RoomTally::default();
        let mut users: HashMap<UserId, Counts> = HashMap::new();
        let mut done: Vec<(UserId, Mark)> = Vec::with_capacity(marks.len());
        let mut pending = marks.into_iter().peekable();
        let upto = |tally: &RoomTally, users: &HashMap<UserId, Counts>, user, last| Mark {
            last,
            upto: Counts {
                live: tally.live,
                ..users.get(&user).copied().unwrap_or_default()
            },
        };
        for kv in self.inner.messages.scan_prefix(keys::id(room.0)) {
            let (k, v) = kv?;
            let id = split_message_key(&k)?.1;
            while let Some((user, m)) = pending.next_if(|(_, m)| m.last < id) {
                done.push((user, upto(&tally, &users, user, m.last)));
            }
            let who = authorship(&v)?;
            tally.live += 1;
            tally.through = Some(id);
            for user in involved(&who) {
                users.entry(user).or_default().step(user, &who, true);
            }
        }
        for (user, m) in pending {
            done.push((user, upto(&tally, &users, user, m.last)));
        }
        let mut batch = sled::Batch::default();
        for k in self.inner.reads.scan_prefix(keys::id(room.0)).keys() {
            batch.remove(k?);
        }
        for (user, counts) in &users {
            batch.insert(&keys::read(room, *user, ReadKind::Tally), to_json(counts)?);
        }
        for (user, mark) in &done {
            batch.insert(&keys::read(room, *user, ReadKind::Mark), to_json(mark)?);
        }
        batch.insert(&keys::id(room.0), to_json(&tally)?);
        self.inner.reads.apply_batch(batch)?;
        Ok(())
    }
}
