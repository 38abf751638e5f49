//! Message history: the `messages` tree, keyed `room ++ message id` so that
//! every history query is a range scan of one room, never a full scan.
//! Here: the stored form and the writes (append, edit, delete); reading
//! pages is in `history.rs`.

use std::sync::atomic::Ordering;

use serde::{Deserialize, Serialize};

use super::attachments::StoredAttachment;
use super::{client_ids, keys, SledStore, StoreError};
use crate::model::{FileId, Message, MessageId, RoomId, Timestamp, UserId};
use crate::store::{Appended, MessageStore, NewMessage};

/// The stored value: the key already holds the room and the id.
#[derive(Serialize, Deserialize)]
struct StoredMessage {
    #[serde(rename = "u")]
    user_id: u64,
    #[serde(rename = "n")]
    user: String,
    #[serde(rename = "m")]
    message: String,
    #[serde(rename = "t")]
    timestamp: i64,
    #[serde(rename = "e", default, skip_serializing_if = "Option::is_none")]
    edited_at: Option<i64>,
    #[serde(rename = "@", default, skip_serializing_if = "Vec::is_empty")]
    mentions: Vec<u64>,
    #[serde(rename = "a", default, skip_serializing_if = "Vec::is_empty")]
    attachments: Vec<StoredAttachment>,
}

/// What the read counters need of a stored message: who wrote it and whom
/// it mentions.
pub(super) struct Authorship {
    pub author: UserId,
    pub mentions: Vec<UserId>,
}

/// [`Authorship`] as stored; decoding only this skips building the text.
#[derive(Deserialize)]
struct StoredAuthorship {
    #[serde(rename = "u")]
    author: u64,
    #[serde(rename = "@", default)]
    mentions: Vec<u64>,
}

pub(super) fn authorship(value: &[u8]) -> Result<Authorship, StoreError> {
    let a: StoredAuthorship = super::from_json(value)?;
    Ok(Authorship {
        author: UserId(a.author),
        mentions: a.mentions.into_iter().map(UserId).collect(),
    })
}

/// The room and message id a message key holds.
pub(super) fn split_message_key(key: &[u8]) -> Result<(u64, u64), StoreError> {
    keys::split_pair(key).ok_or_else(|| StoreError::Corrupt("message key".into()))
}

pub(super) fn decode(key: &[u8], value: &[u8]) -> Result<Message, StoreError> {
    let (room, id) = split_message_key(key)?;
    let v: StoredMessage = super::from_json(value)?;
    Ok(Message {
        id: MessageId(id),
        room_id: RoomId(room),
        user: v.user,
        user_id: UserId(v.user_id),
        message: v.message,
        timestamp: Timestamp(v.timestamp),
        edited_at: v.edited_at.map(Timestamp),
        reactions: Vec::new(),
        mentions: v.mentions.into_iter().map(UserId).collect(),
        attachments: v.attachments.into_iter().map(Into::into).collect(),
    })
}

pub(super) fn encode(m: &Message) -> Result<Vec<u8>, StoreError> {
    super::to_json(&StoredMessage {
        user_id: m.user_id.0,
        user: m.user.clone(),
        message: m.message.clone(),
        timestamp: m.timestamp.0,
        edited_at: m.edited_at.map(|t| t.0),
        mentions: m.mentions.iter().map(|u| u.0).collect(),
        attachments: m.attachments.iter().map(StoredAttachment::from).collect(),
    })
}

/// The largest message id in the tree: the last key of each room's range,
/// visiting one key per room rather than every message.
pub(super) fn max_message_id(tree: &sled::Tree) -> Result<Option<u64>, StoreError> {
    let mut max = None;
    let mut from = [0u8; 16];
    while let Some(kv) = tree.range(from..).next() {
        let (k, _) = kv?;
        let (room, _) = split_message_key(&k)?;
        let end = keys::pair(room, u64::MAX);
        if let Some(last) = tree.range(..=end).next_back() {
            let (lk, _) = last?;
            let (_, id) = split_message_key(&lk)?;
            max = max.max(Some(id));
        }
        match room.checked_add(1) {
            Some(next) => from = keys::pair(next, 0),
            None => break,
        }
    }
    Ok(max)
}

impl MessageStore for SledStore {
    /// Gives each message the next id and writes them all in one batch,
    /// then counts them for the read state (`reads.rs`). Not yet durable:
    /// the caller flushes (once for many batches) before acknowledging. Ids increase across restarts, crashes and restores
    /// (the counter resumes past the largest stored id).
    /// An exhausted id space is an error, never a wrap to 0 (which would
    /// overwrite the oldest messages).
    fn append_batch(&self, new: Vec<NewMessage>) -> Result<Vec<Message>, StoreError> {
        let new = new.into_iter();
        let ids = self.reserve_ids(new.len())?;
        let mut batch = sled::Batch::default();
        let mut keyed = sled::Batch::default();
        let mut out = Vec::with_capacity(new.len());
        for (id, n) in ids.zip(new) {
            if let Some(client_id) = &n.client_id {
                let (k, v) = client_ids::entry(n.user_id, client_id, n.room_id, MessageId(id))?;
                keyed.insert(k, v);
            }
            let m = n.into_message(MessageId(id));
            batch.insert(&keys::message(m.room_id, m.id), encode(&m)?);
            out.push(m);
        }
        self.inner.messages.apply_batch(batch)?;
        self.inner.client_ids.apply_batch(keyed)?;
        self.count_appended(&out)?;
        Ok(out)
    }

    /// The id the next appended message will get: every message already
    /// stored has a smaller one, so it marks a consistent cut of history.
    fn message_cutoff(&self) -> MessageId {
        MessageId(self.inner.next_message_id.load(Ordering::Relaxed))
    }

    /// Replaces a message's text, marking it edited. Returns the new
    /// message, or None when there is none (any more).
    ///
    /// Atomic against deletion: the new value replaces exactly the value
    /// read (compare-and-swap), retried when the message changed meanwhile;
    /// an edit never writes a key that is gone, so a message (or a room)
    /// deleted concurrently stays deleted.
    fn edit_message(
        &self,
        room: RoomId,
        id: MessageId,
        text: &str,
    ) -> Result<Option<Message>, StoreError> {
        if self.hidden(id) {
            return Ok(None);
        }
        let key = keys::message(room, id);
        // Before the text changes: see `search_feed`.
        self.mark_edited(room, id)?;
        loop {
            let Some(old) = self.inner.messages.get(key)? else {
                return Ok(None);
            };
            let mut m = decode(&key, &old)?;
            m.message = text.to_owned();
            m.edited_at = Some(Timestamp::now());
            let swapped =
                self.inner
                    .messages
                    .compare_and_swap(key, Some(&old), Some(encode(&m)?))?;
            if swapped.is_ok() {
                self.fill_reactions(room, std::slice::from_mut(&mut m))?;
                return Ok(Some(m));
            }
        }
    }

    fn append_attaching(
        &self,
        new: Vec<(NewMessage, Vec<FileId>)>,
    ) -> Result<Appended, StoreError> {
        SledStore::append_attaching(self, new)
    }

    fn quarantine_from(&self, first: MessageId, reason: &str) {
        SledStore::quarantine_from(self, first, reason)
    }

    fn delete_message(&self, room: RoomId, id: MessageId) -> Result<bool, StoreError> {
        SledStore::delete_message(self, room, id)
    }

    fn sent_with_client_id(
        &self,
        user: UserId,
        client_id: &str,
    ) -> Result<Option<Message>, StoreError> {
        SledStore::sent_with_client_id(self, user, client_id)
    }

    fn forget_old_client_ids(&self) -> Result<usize, StoreError> {
        SledStore::forget_old_client_ids(self)
    }
}

impl SledStore {
    /// Takes the next `n` message ids from the counter.
    pub(super) fn reserve_ids(&self, n: usize) -> Result<std::ops::Range<u64>, StoreError> {
        let wanted = u64::try_from(n).unwrap_or(u64::MAX);
        let first = self
            .inner
            .next_message_id
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |next| {
                next.checked_add(wanted)
            })
            .map_err(|_| StoreError::Refused("message ids are exhausted".into()))?;
        // fetch_update checked that `first + wanted` does not overflow.
        Ok(first..first + wanted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::prelude::*;
    use crate::store::testing::{append_messages, temp_sled};

    /// How many messages of `room` a read returns.
    fn visible_count(store: &SledStore, room: RoomId) -> usize {
        store
            .latest(room, usize::MAX)
            .expect("latest")
            .messages
            .len()
    }

    #[test]
    fn ids_increase_across_batches() {
        let (store, _dir) = temp_sled();
        let first = append_messages(&store, RoomId(1), 3);
        let second = append_messages(&store, RoomId(1), 3);
        let all: Vec<_> = first.into_iter().chain(second).collect();
        assert!(all.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn ids_resume_past_the_largest_after_reopen() {
        let dir = tempfile::tempdir().expect("tempdir");
        let before = {
            let store = SledStore::open(dir.path(), 1 << 20).expect("open");
            append_messages(&store, RoomId(5), 3);
            append_messages(&store, RoomId(2), 2).pop().expect("id")
        };
        let store = crate::store::sled::reopen(dir.path(), 1 << 20);
        let after = append_messages(&store, RoomId(9), 1)[0];
        assert!(after > before);
    }

    #[test]
    fn an_exhausted_id_space_is_an_error_not_a_wrap() {
        let (store, _dir) = temp_sled();
        store
            .inner
            .next_message_id
            .store(u64::MAX - 1, Ordering::Relaxed);
        assert_eq!(
            append_messages(&store, RoomId(1), 1),
            vec![MessageId(u64::MAX - 1)]
        );
        let new = NewMessage {
            room_id: RoomId(1),
            user_id: UserId(7),
            user: "u".into(),
            message: "m".into(),
            timestamp: Timestamp::now(),
            mentions: Vec::new(),
            client_id: None,
        };
        assert!(store.append_batch(vec![new.clone(), new]).is_err());
        assert_eq!(store.message_cutoff(), MessageId(u64::MAX - 1 + 1));
        assert_eq!(visible_count(&store, RoomId(1)), 1);
    }

    #[test]
    fn edits_and_deletes() {
        let (store, _dir) = temp_sled();
        let ids = append_messages(&store, RoomId(1), 2);
        let edited = store
            .edit_message(RoomId(1), ids[0], "new")
            .expect("edit")
            .expect("some");
        assert_eq!(edited.message, "new");
        assert!(edited.edited_at.is_some());
        assert!(store.delete_message(RoomId(1), ids[1]).expect("delete"));
        assert!(!store
            .delete_message(RoomId(1), ids[1])
            .expect("delete again"));
        assert_eq!(visible_count(&store, RoomId(1)), 1);
    }

    #[test]
    fn an_edit_racing_a_delete_never_brings_the_message_back() {
        let (store, _dir) = temp_sled();
        for round in 0..200 {
            let id = append_messages(&store, RoomId(1), 1)[0];
            let editors: Vec<_> = (0..3)
                .map(|i| {
                    let s = store.clone();
                    std::thread::spawn(move || {
                        for j in 0..20 {
                            let _ = s
                                .edit_message(RoomId(1), id, &format!("e{i}.{j}"))
                                .expect("edit");
                        }
                    })
                })
                .collect();
            let deleter = {
                let s = store.clone();
                std::thread::spawn(move || s.delete_message(RoomId(1), id).expect("delete"))
            };
            assert!(deleter.join().expect("deleter"), "round {round}");
            for e in editors {
                e.join().expect("editor");
            }
            assert!(
                store.message(RoomId(1), id).expect("get").is_none(),
                "round {round}: the deleted message came back"
            );
            assert!(store
                .edit_message(RoomId(1), id, "late")
                .expect("edit")
                .is_none());
        }
    }
}
