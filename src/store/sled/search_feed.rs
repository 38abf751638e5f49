//! What the search index reads from the store: messages by id range (to
//! catch up), one message's text (to index a new one), and the queue of
//! edited messages.
//!
//! The queue is the `search_edits` tree, keyed like `messages` (room ++
//! message id), values a stamp (see `mark_edited`). An edit marks its message there *before*
//! it replaces the text, so whatever a crash keeps of the edit, the mark
//! is kept too (sled recovers a prefix of the writes); the indexer
//! removes a mark only once the new text is indexed and flushed. A mark
//! without an edit (the crash came between) costs one needless indexing.

use super::messages::split_message_key;
use super::{keys, SledStore, StoreError};
use crate::model::{Message, MessageId, RoomId};
use crate::store::prelude::*;
use crate::store::{EditMark, Indexable, SearchFeed};

fn indexable(key: &[u8], value: &[u8]) -> Result<Indexable, StoreError> {
    let m = super::messages::decode(key, value)?;
    Ok(Indexable {
        room: m.room_id,
        id: m.id,
        author: m.user_id.0,
        text: m.message,
    })
}

impl SearchFeed for SledStore {
    /// Every visible message with an id in `lo..=hi`, in id order, from
    /// all rooms: one range per room.
    fn messages_between(&self, lo: u64, hi: u64) -> Result<Vec<Indexable>, StoreError> {
        let mut out = Vec::new();
        for key in self.inner.rooms.iter().keys() {
            let room =
                keys::read_u64(&key?).ok_or_else(|| StoreError::Corrupt("room key".into()))?;
            let range = keys::pair(room, lo)..=keys::pair(room, hi);
            for kv in self.inner.messages.range(range) {
                let (k, v) = kv?;
                let (_, id) = split_message_key(&k)?;
                if !self.hidden(MessageId(id)) {
                    out.push(indexable(&k, &v)?);
                }
            }
        }
        out.sort_unstable_by_key(|m| m.id);
        Ok(out)
    }

    fn indexable(&self, room: RoomId, id: MessageId) -> Result<Option<Indexable>, StoreError> {
        if self.hidden(id) {
            return Ok(None);
        }
        let key = keys::message(room, id);
        match self.inner.messages.get(key)? {
            Some(v) => Ok(Some(indexable(&key, &v)?)),
            None => Ok(None),
        }
    }

    fn messages_found(&self, wanted: &[(RoomId, MessageId)]) -> Result<Vec<Message>, StoreError> {
        let mut out = Vec::with_capacity(wanted.len());
        for &(room, id) in wanted {
            if let Some(m) = self.message(room, id)? {
                let mut one = [m];
                self.fill_reactions(room, &mut one)?;
                let [m] = one;
                out.push(m);
            }
        }
        Ok(out)
    }

    /// Up to `limit` messages marked as edited, with their marks.
    fn edited_marks(&self, limit: usize) -> Result<Vec<EditMark>, StoreError> {
        let mut out = Vec::new();
        for kv in self.inner.search_edits.iter().take(limit) {
            let (key, stamp) = kv?;
            let (room, id) = split_message_key(&key)?;
            out.push(EditMark {
                room: RoomId(room),
                id: MessageId(id),
                stamp: stamp.to_vec(),
            });
        }
        Ok(out)
    }

    fn forget_edited_marks(&self, done: &[EditMark]) -> Result<(), StoreError> {
        for m in done {
            // Err(_) is "renewed meanwhile": keep it.
            let _ = self.inner.search_edits.compare_and_swap(
                keys::message(m.room, m.id),
                Some(m.stamp.as_slice()),
                None as Option<&[u8]>,
            )?;
        }
        Ok(())
    }
}

impl SledStore {
    /// Marks a message as edited for the index (see the module's doc).
    /// Each mark holds a new stamp, so a mark read before a later edit is
    /// told apart from that edit's.
    pub(super) fn mark_edited(&self, room: RoomId, id: MessageId) -> Result<(), StoreError> {
        let stamp = self.inner.db.generate_id()?;
        self.inner
            .search_edits
            .insert(keys::message(room, id), &stamp.to_be_bytes())?;
        Ok(())
    }
}
