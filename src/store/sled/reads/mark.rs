//! Setting a mark: a user read a room up to a message.
//!
//! The mark keeps the counts of the messages up to it, so that unread
//! counts are "now minus mark". Those counts depend only on the messages
//! up to the mark, which nothing changes while the room's `read_serial`
//! stripe is held (appends only add later ids; deletions take the stripe).
//! They are taken by reading whichever is shorter: the messages from the
//! previous mark up to the new one (added to the previous mark's counts),
//! or those from the new mark to the last counted message (taken from the
//! tallies). Both scans advance in step and the first to end gives the
//! answer, so marking read the newest message of a long unread history
//! costs nothing, and a user's scans from its marks forward add up, over
//! the user's life in the room, to at most the room's history once.

use sled::transaction::TransactionalTree;

use super::{outcome, tx_get, Counts, Mark, RoomTally};
use crate::model::{MessageId, RoomId, UserId};
use crate::store::sled::keys::{self, ReadKind};
use crate::store::sled::messages::authorship;
use crate::store::sled::{SledStore, StoreError};

/// What a mark is set against: the room's tally, the user's counts now
/// and the user's mark, read at one instant.
struct Snapshot {
    tally: RoomTally,
    now: Counts,
    mark: Option<Mark>,
}

impl SledStore {
    /// Marks `room` read by `user` up to the message `id`, unless the mark
    /// is there or past it already: read state never moves backwards.
    /// Returns whether it moved. Not yet durable: the caller has it
    /// flushed (the writer's group commit does, see `Writer::sync`).
    pub(super) fn mark_read(
        &self,
        room: RoomId,
        user: UserId,
        id: MessageId,
    ) -> Result<bool, StoreError> {
        let _serial = self.read_serial(room);
        let snap = self.snapshot(room, user)?;
        if snap.mark.is_some_and(|m| m.last >= id.0) {
            return Ok(false);
        }
        let upto = self.counts_upto(room, user, id, &snap)?;
        let mark = Mark { last: id.0, upto };
        self.inner.reads.insert(
            keys::read(room, user, ReadKind::Mark),
            crate::store::sled::to_json(&mark)?,
        )?;
        Ok(true)
    }

    /// The tally, the user's counts and mark, in one transaction: the
    /// writer counts a batch into the tallies in one transaction too, so
    /// they agree with each other and with the history up to `through`.
    fn snapshot(&self, room: RoomId, user: UserId) -> Result<Snapshot, StoreError> {
        let (tally, mine, mark) =
            outcome(self.inner.reads.transaction(|t: &TransactionalTree| {
                let tally: Option<RoomTally> = tx_get(t, &keys::id(room.0))?;
                let mine: Option<Counts> = tx_get(t, &keys::read(room, user, ReadKind::Tally))?;
                let mark: Option<Mark> = tx_get(t, &keys::read(room, user, ReadKind::Mark))?;
                Ok((tally, mine, mark))
            }))?;
        let tally = tally.unwrap_or_default();
        let now = Counts {
            live: tally.live,
            ..mine.unwrap_or_default()
        };
        Ok(Snapshot { tally, now, mark })
    }

    /// The counts of the messages of `room` up to `id`, as `user` sees
    /// them: forwards from the previous mark, or backwards from the last
    /// counted message, whichever ends first.
    fn counts_upto(
        &self,
        room: RoomId,
        user: UserId,
        id: MessageId,
        snap: &Snapshot,
    ) -> Result<Counts, StoreError> {
        let messages = &self.inner.messages;
        let (from, base) = match snap.mark {
            // The mark is below `id`, so `last + 1` does not overflow.
            Some(m) => (m.last + 1, m.upto),
            None => (0, Counts::default()),
        };
        let mut forward =
            messages.range(keys::message(room, MessageId(from))..=keys::message(room, id));
        // Backwards only where the tallies counted `id` already.
        if snap.tally.through == Some(id.0) {
            return Ok(snap.now);
        }
        let mut backward = snap.tally.through.filter(|t| *t > id.0).map(|to| {
            // `to` is above `id`, so `id + 1` does not overflow.
            let (after, to) = (MessageId(id.0 + 1), MessageId(to));
            messages
                .range(keys::message(room, after)..=keys::message(room, to))
                .rev()
        });
        let (mut ahead, mut behind) = (Counts::default(), Counts::default());
        loop {
            match forward.next() {
                None => return Ok(base.plus(ahead)),
                Some(kv) => ahead.step(user, &authorship(&kv?.1)?, true),
            }
            if let Some(scan) = backward.as_mut() {
                match scan.next() {
                    None => return Ok(snap.now.minus(behind)),
                    Some(kv) => behind.step(user, &authorship(&kv?.1)?, true),
                }
            }
        }
    }
}
