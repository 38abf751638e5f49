//! Streaming reads of the whole history for `export`, merged across rooms
//! by time. It reads rooms page by page, so memory stays flat whatever the
//! history's size, and stops at the message cutoff taken when it starts, so
//! it is a consistent prefix of every room's history even while messages
//! keep arriving. The backup and restore are in `backup.rs`.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

use super::{SledStore, StoreError};
use crate::model::{Message, MessageId, Room, RoomId, Timestamp};
use crate::store::prelude::*;
use crate::store::{ExportFile, ExportLine};

/// Messages read per room and step.
pub(super) const PAGE: usize = 512;

struct Cursor {
    room: Room,
    buf: VecDeque<Message>,
    last: Option<MessageId>,
    done: bool,
}

impl Cursor {
    /// The next message below `cutoff` at or after `since`, reading a page when needed.
    fn peek(
        &mut self,
        store: &SledStore,
        cutoff: MessageId,
        since: Option<Timestamp>,
    ) -> Result<Option<&Message>, StoreError> {
        loop {
            while let Some(m) = self.buf.front() {
                if m.id >= cutoff {
                    self.buf.clear();
                    self.done = true;
                    break;
                }
                if since.is_some_and(|s| m.timestamp < s) {
                    self.buf.pop_front();
                    continue;
                }
                break;
            }
            if !self.buf.is_empty() || self.done {
                return Ok(self.buf.front());
            }
            let page = store.page_from(self.room.id, self.last, PAGE)?;
            self.last = page.messages.last().map(|m| m.id).or(self.last);
            self.done = !page.has_more;
            if page.messages.is_empty() {
                self.done = true;
            }
            self.buf.extend(page.messages);
        }
    }
}

impl SledStore {
    /// Calls `each` for every message of `rooms` (all rooms when `None`)
    /// with a timestamp at or after `since`, stored before the call began.
    /// One room: its id order. Several: by timestamp, then room id, then
    /// message id. Returns the number of messages.
    pub(super) fn export<E: From<StoreError>>(
        &self,
        room: Option<RoomId>,
        since: Option<Timestamp>,
        mut each: impl FnMut(&ExportLine<'_>) -> Result<(), E>,
    ) -> Result<u64, E> {
        let cutoff = self.message_cutoff();
        let rooms = match room {
            Some(id) => self.room(id)?.into_iter().collect(),
            None => self.all_rooms()?,
        };
        let mut cursors: Vec<Cursor> = rooms
            .into_iter()
            .map(|room| Cursor {
                room,
                buf: VecDeque::new(),
                last: None,
                done: false,
            })
            .collect();
        let mut heap = BinaryHeap::new();
        for (i, c) in cursors.iter_mut().enumerate() {
            if let Some(m) = c.peek(self, cutoff, since)? {
                heap.push(Reverse((m.timestamp, m.room_id, m.id, i)));
            }
        }
        let mut n = 0;
        while let Some(Reverse((_, _, _, i))) = heap.pop() {
            let c = &mut cursors[i];
            let Some(m) = c.buf.pop_front() else { continue };
            each(&ExportLine {
                id: m.id,
                room_id: m.room_id,
                room: &c.room.name,
                user_id: m.user_id,
                user: &m.user,
                message: &m.message,
                timestamp: m.timestamp,
                attachments: m
                    .attachments
                    .iter()
                    .map(|a| ExportFile {
                        name: &a.name,
                        size: a.size,
                        content_type: &a.content_type,
                    })
                    .collect(),
            })?;
            n += 1;
            if let Some(next) = c.peek(self, cutoff, since)? {
                heap.push(Reverse((next.timestamp, next.room_id, next.id, i)));
            }
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::temp_store;

    #[test]
    fn export_merges_rooms_by_time_and_keeps_room_order() {
        let (store, _dir) = temp_store();
        let (a, _) = crate::store::testing::seed_history(&store);
        let mut all = Vec::new();
        let n = store.export::<StoreError>(None, None, |l| {
            all.push((l.timestamp, l.message.to_owned()));
            Ok(())
        });
        assert_eq!(n.expect("export"), 1200);
        assert!(all.windows(2).all(|w| w[0].0 <= w[1].0));
        let mut one = Vec::new();
        store
            .export::<StoreError>(Some(a.id), Some(Timestamp(2000)), |l| {
                one.push(l.id);
                Ok(())
            })
            .expect("export room");
        assert_eq!(
            one.len(),
            134,
            "room a holds 2 of every 3 of the 200 from timestamp 2000 on"
        );
        assert!(one.windows(2).all(|w| w[0] < w[1]));
    }
}
