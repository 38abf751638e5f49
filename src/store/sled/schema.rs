//! The data directory's schema version, and the upgrade of an older one.
//!
//! `meta` holds the version of the schema the directory was written in. A
//! newer one is refused before anything is written, so an older chatroom
//! never misreads what a newer one wrote. An older one is upgraded at
//! open, before anything is served: what the new schema holds that follows
//! from the data (the indexes of public rooms and of direct rooms) is
//! built again from the rooms and made durable, and only then is the new
//! version written and flushed. A crash before that last flush leaves the
//! old version on disk, and the next open builds the indexes again from
//! nothing; a crash after it finds them whole. The read counters need no
//! step here: every open brings them up to the history
//! (`reads/recount.rs`), counting a room never counted whole.
//!
//! An upgrade is one way: once the new version is written, an older
//! chatroom refuses the directory. A backup taken before is the way back.

use super::{SledStore, StoreError, SCHEMA_VERSION};

const SCHEMA_KEY: &[u8] = b"schema_version";

/// The version `meta` holds, None for a new directory; a newer one than
/// this build's is refused.
pub(super) fn stored_version(meta: &sled::Tree) -> Result<Option<u32>, StoreError> {
    let Some(v) = meta.get(SCHEMA_KEY)? else {
        return Ok(None);
    };
    let found = <[u8; 4]>::try_from(v.as_ref())
        .map(u32::from_be_bytes)
        .map_err(|_| StoreError::Corrupt("schema version".into()))?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::NewerSchema { found });
    }
    Ok(Some(found))
}

impl SledStore {
    /// Brings a directory found at `found` (see [`stored_version`]) to this
    /// build's schema; a new directory is written at it. Blocking.
    pub(super) fn settle_schema(
        &self,
        meta: &sled::Tree,
        found: Option<u32>,
    ) -> Result<(), StoreError> {
        if found == Some(SCHEMA_VERSION) {
            return Ok(());
        }
        if let Some(from) = found {
            tracing::info!(
                from,
                to = SCHEMA_VERSION,
                "upgrading the data directory's schema; older chatroom builds will refuse it afterwards"
            );
        }
        // Built whole (nothing of an attempt a crash cut short is trusted),
        // and durable before the version says they exist.
        self.rebuild_public_index()?;
        self.inner.direct_rooms.clear()?;
        self.rebuild_direct_index()?;
        self.inner.db.flush()?;
        meta.insert(SCHEMA_KEY, &SCHEMA_VERSION.to_be_bytes())?;
        self.inner.db.flush()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Role, Room, RoomId, UserId};
    use crate::store::prelude::*;
    use crate::store::sled::{keys, reopen};
    use crate::store::testing::temp_sled;
    use crate::store::Maintenance;
    use crate::store::Participant;

    /// The version `store`'s directory holds.
    fn version(store: &SledStore) -> Option<u32> {
        let meta = store.inner.db.open_tree("meta").expect("meta");
        stored_version(&meta).expect("version")
    }

    /// The ids `public_rooms` lists.
    fn public_index(store: &SledStore) -> Vec<RoomId> {
        store
            .inner
            .public_rooms
            .iter()
            .keys()
            .map(|k| RoomId(keys::read_u64(&k.expect("key")).expect("id")))
            .collect()
    }

    /// The names of the rooms `user` sees, in the order given.
    fn seen(store: &SledStore, user: UserId) -> Vec<String> {
        let rooms = store.visible_rooms(user).expect("list");
        rooms.into_iter().map(|r| r.name).collect()
    }

    /// Four users; a public room "b-pub" and a private "a-priv" of the
    /// first (the second a member of it), and a direct room of the first
    /// and the third: the users and the public room.
    fn rooms_of_three(store: &SledStore) -> ([UserId; 4], Room) {
        let users = ["ann", "bea", "cid", "dee"]
            .map(|n| store.create_user(n, "h", Role::User).expect("user").id);
        let public = store
            .create_room("b-pub", "", false, users[0])
            .expect("public");
        let private = store
            .create_room("a-priv", "", true, users[0])
            .expect("private");
        store.add_member(private.id, users[1]).expect("member");
        let pair = [(users[0], "ann"), (users[2], "cid")].map(|(id, name)| Participant {
            id,
            username: name.into(),
        });
        store.open_direct_room(users[0], &pair).expect("direct");
        (users, public)
    }

    /// What each user of [`rooms_of_three`] sees.
    fn assert_seen_as_created(store: &SledStore, users: [UserId; 4]) {
        assert_eq!(seen(store, users[0]), ["a-priv", "ann, cid", "b-pub"]);
        assert_eq!(seen(store, users[1]), ["a-priv", "b-pub"]);
        assert_eq!(seen(store, users[2]), ["ann, cid", "b-pub"]);
        assert_eq!(seen(store, users[3]), ["b-pub"]);
    }

    #[test]
    fn a_new_directory_is_written_at_this_schema() {
        let (store, _dir) = temp_sled();
        assert_eq!(version(&store), Some(SCHEMA_VERSION));
        let (users, public) = rooms_of_three(&store);
        assert_eq!(public_index(&store), [public.id]);
        assert_seen_as_created(&store, users);
    }

    #[test]
    fn a_schema_1_directory_is_upgraded_with_its_indexes_built() {
        let (store, dir) = temp_sled();
        let (users, public) = rooms_of_three(&store);
        // What schema 1 left: no index of public or direct rooms. An entry
        // of a room that is gone stands for an upgrade a crash cut short.
        let meta = store.inner.db.open_tree("meta").expect("meta");
        meta.insert(SCHEMA_KEY, &1u32.to_be_bytes()).expect("v1");
        store.inner.public_rooms.clear().expect("clear");
        store.inner.direct_rooms.clear().expect("clear");
        store
            .inner
            .public_rooms
            .insert(keys::id(999), &[])
            .expect("stale");
        store.flush().expect("flush");
        drop((meta, store));

        let store = reopen(dir.path(), 8 << 20);
        assert_eq!(version(&store), Some(2));
        assert_eq!(public_index(&store), [public.id]);
        assert!(store
            .direct_room(&[users[2], users[0]])
            .expect("lookup")
            .is_some());
        assert_seen_as_created(&store, users);
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let newer = SCHEMA_VERSION + 1;
        {
            let db = sled::open(dir.path().join("db")).expect("sled");
            let meta = db.open_tree("meta").expect("meta");
            meta.insert(SCHEMA_KEY, &newer.to_be_bytes())
                .expect("insert");
            db.flush().expect("flush");
        }
        match SledStore::open(dir.path(), 1 << 20) {
            Err(StoreError::NewerSchema { found }) => assert_eq!(found, newer),
            other => panic!("expected NewerSchema, got {:?}", other.map(|_| ())),
        }
    }

    #[test]
    fn a_schema_1_backup_restores_with_the_index_built() {
        let (store, _dir) = temp_sled();
        let (users, public) = rooms_of_three(&store);
        let mut buf = Vec::new();
        store.backup(&mut buf).expect("backup");
        let text = String::from_utf8(buf).expect("utf8");
        let header = format!("\"schema\":{SCHEMA_VERSION}");
        assert!(text.lines().next().expect("header").contains(&header));
        let old = text.replacen(&header, "\"schema\":1", 1);
        let (fresh, _d2) = temp_sled();
        fresh.restore(&mut old.as_bytes()).expect("restore");
        assert_eq!(public_index(&fresh), [public.id]);
        assert_seen_as_created(&fresh, users);
    }
}
