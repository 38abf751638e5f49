//! Helpers of the store's tests and of other modules' tests that need
//! a store with data in it. Those that fill a store take a handle or
//! any implementation ([`Fill`]), so the contract's tests can run on each.

use super::sled::SledStore;
use super::{Storage, Store};

/// What the helpers fill: a [`Store`] handle, or an implementation.
pub trait Fill {
    fn storage(&self) -> &dyn Storage;
}

impl Fill for Store {
    fn storage(&self) -> &dyn Storage {
        &**self
    }
}

impl<T: Storage> Fill for T {
    fn storage(&self) -> &dyn Storage {
        self
    }
}

/// A file of `bytes` to record in `room`, uploaded by user 4.
pub fn new_file(room: crate::model::RoomId, bytes: &[u8]) -> super::NewFile {
    super::NewFile {
        room_id: room,
        uploader_id: crate::model::UserId(4),
        name: "a.bin".into(),
        size: bytes.len() as u64,
        content_type: "application/octet-stream".into(),
        sha256: crate::files::Sha256::of(bytes),
    }
}

/// A room "r" of a user "ann", for what needs a room that exists.
pub fn some_room(store: &impl Fill) -> crate::model::RoomId {
    let store = store.storage();
    let owner = store
        .create_user("ann", "hash", crate::model::Role::User)
        .expect("user");
    store
        .create_room("r", "", false, owner.id)
        .expect("room")
        .id
}

/// A store in a fresh temporary directory that lives as long as the guard.
pub fn temp_store() -> (Store, tempfile::TempDir) {
    let (store, dir) = temp_sled();
    (Store::new(store), dir)
}

/// [`temp_store`] for tests of the sled implementation itself.
pub fn temp_sled() -> (SledStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SledStore::open(dir.path(), 8 << 20).expect("open store");
    (store, dir)
}

/// Appends `n` messages to `room` in one batch; returns their ids.
pub fn append_messages(
    store: &impl Fill,
    room: crate::model::RoomId,
    n: usize,
) -> Vec<crate::model::MessageId> {
    let texts: Vec<String> = (0..n).map(|i| format!("m{i}")).collect();
    append_texts(store, room, crate::model::UserId(7), &texts)
}

/// Appends one message by `user` per text to `room` in one batch;
/// returns their ids.
pub fn append_texts(
    store: &impl Fill,
    room: crate::model::RoomId,
    user: crate::model::UserId,
    texts: &[impl AsRef<str>],
) -> Vec<crate::model::MessageId> {
    append_stored(store, room, user, texts)
        .into_iter()
        .map(|m| m.id)
        .collect()
}

/// [`append_texts`], returning the stored messages.
pub fn append_stored(
    store: &impl Fill,
    room: crate::model::RoomId,
    user: crate::model::UserId,
    texts: &[impl AsRef<str>],
) -> Vec<crate::model::Message> {
    let new = texts
        .iter()
        .map(|t| super::NewMessage {
            room_id: room,
            user_id: user,
            user: "u".into(),
            message: t.as_ref().to_owned(),
            timestamp: crate::model::Timestamp::now(),
            mentions: Vec::new(),
            client_id: None,
        })
        .collect::<Vec<_>>();
    store.storage().append_batch(new).expect("append")
}

/// A user "ann", a public room "a" and a private room "b" of hers, and
/// 1200 messages: every third in "b", timestamps 1000 to 2199.
pub fn seed_history(store: &impl Fill) -> (crate::model::Room, crate::model::Room) {
    use crate::model::{Role, Timestamp};
    let store = store.storage();
    let u = store.create_user("ann", "hash", Role::User).expect("user");
    let a = store.create_room("a", "", false, u.id).expect("room");
    let b = store.create_room("b", "", true, u.id).expect("room");
    for i in 0..1200 {
        let room = if i % 3 == 0 { b.id } else { a.id };
        let m = super::NewMessage {
            room_id: room,
            user_id: u.id,
            user: "ann".into(),
            message: format!("m{i}"),
            timestamp: Timestamp(1000 + i),
            mentions: Vec::new(),
            client_id: None,
        };
        store.append_batch(vec![m]).expect("append");
    }
    (a, b)
}
