//! The keys clients give their messages (`sendMessage`'s `clientId`), kept
//! for a day, so that a message sent again after a lost ack (a dropped
//! connection, a reload, a restart of the server) is stored once.
//!
//! Only the message writer reads and writes them, one batch after another,
//! so a key looked up and then written cannot race another sender of the
//! same key; the writer also catches the same key twice within one batch.
//! An entry is written with its message, made durable by the same flush.
//! It names the message, and is only believed while that message exists:
//! a message hidden by the quarantine, or deleted, is no answer.

use serde::{Deserialize, Serialize};

use super::{from_json, keys, to_json, SledStore, StoreError};
use crate::model::{Message, MessageId, RoomId, Timestamp, UserId};
use crate::store::prelude::*;

/// How long a key is remembered.
pub const KEEP_MS: i64 = 24 * 60 * 60 * 1000;

/// What a key names: the message stored under it, and when.
#[derive(Serialize, Deserialize)]
struct Entry {
    room: u64,
    id: u64,
    at: i64,
}

/// The key and value of `user`'s `client_id` for the message `id`, stored now.
pub(super) fn entry(
    user: UserId,
    client_id: &str,
    room: RoomId,
    id: MessageId,
) -> Result<(Vec<u8>, Vec<u8>), StoreError> {
    let value = to_json(&Entry {
        room: room.0,
        id: id.0,
        at: Timestamp::now().0,
    })?;
    Ok((keys::client_id(user, client_id), value))
}

impl SledStore {
    /// The message `user` already sent with `client_id` in the last day,
    /// if it still exists.
    pub(super) fn sent_with_client_id(
        &self,
        user: UserId,
        client_id: &str,
    ) -> Result<Option<Message>, StoreError> {
        let Some(v) = self
            .inner
            .client_ids
            .get(keys::client_id(user, client_id))?
        else {
            return Ok(None);
        };
        let e: Entry = from_json(&v)?;
        if Timestamp::now().0.saturating_sub(e.at) > KEEP_MS {
            return Ok(None);
        }
        self.message(RoomId(e.room), MessageId(e.id))
    }

    /// Forgets the keys older than a day. Not durable by itself: a key
    /// that comes back after a crash is forgotten at the next call.
    pub(super) fn forget_old_client_ids(&self) -> Result<usize, StoreError> {
        let now = Timestamp::now().0;
        let mut batch = sled::Batch::default();
        let mut n = 0;
        for kv in self.inner.client_ids.iter() {
            let (k, v) = kv?;
            // An entry that does not read is of no use either.
            let old = from_json::<Entry>(&v).map_or(true, |e| now.saturating_sub(e.at) > KEEP_MS);
            if old {
                batch.remove(k);
                n += 1;
            }
        }
        self.inner.client_ids.apply_batch(batch)?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::NewMessage;

    /// Backdates every key of `store` by `ms`.
    fn age_client_ids(store: &SledStore, ms: i64) {
        for (k, v) in store.inner.client_ids.iter().flatten() {
            let mut e: Entry = from_json(&v).expect("entry");
            e.at -= ms;
            store
                .inner
                .client_ids
                .insert(k, to_json(&e).expect("json"))
                .expect("insert");
        }
    }

    fn send(store: &SledStore, text: &str, client_id: Option<&str>) -> Message {
        let m = NewMessage {
            room_id: RoomId(1),
            user_id: UserId(1),
            user: "u".into(),
            message: text.into(),
            timestamp: Timestamp::now(),
            mentions: Vec::new(),
            client_id: client_id.map(str::to_owned),
        };
        store.append_batch(vec![m]).expect("append").remove(0)
    }

    #[test]
    fn a_key_names_its_message_for_a_day_and_is_then_forgotten() {
        let dir = tempfile::tempdir().expect("dir");
        let store = SledStore::open(dir.path(), 1 << 20).expect("open");
        let m = send(&store, "hi", Some("k1"));
        send(&store, "no key", None);
        let found = store.sent_with_client_id(UserId(1), "k1").expect("get");
        assert_eq!(found.map(|f| f.id), Some(m.id));
        assert!(store
            .sent_with_client_id(UserId(2), "k1")
            .expect("get")
            .is_none());
        assert_eq!(store.forget_old_client_ids().expect("forget"), 0);

        age_client_ids(&store, KEEP_MS + 1);
        assert!(store
            .sent_with_client_id(UserId(1), "k1")
            .expect("get")
            .is_none());
        assert_eq!(store.forget_old_client_ids().expect("forget"), 1);
    }

    #[test]
    fn a_deleted_message_is_no_answer() {
        let dir = tempfile::tempdir().expect("dir");
        let store = SledStore::open(dir.path(), 1 << 20).expect("open");
        let m = send(&store, "hi", Some("k"));
        assert!(store.delete_message(m.room_id, m.id).expect("delete"));
        assert!(store
            .sent_with_client_id(UserId(1), "k")
            .expect("get")
            .is_none());
    }
}
