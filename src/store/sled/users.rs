//! Accounts: the `users` and `usernames` trees.

use sled::transaction::{ConflictableTransactionError, TransactionalTree};
use sled::Transactional;

use super::{from_json, keys, to_json, SledStore, StoreError};
use crate::model::{Role, User, UserId, UserRecord};
use crate::store::UserStore;

impl UserStore for SledStore {
    /// Creates an account. Name uniqueness (case-insensitive) and the record
    /// are written in one transaction, so of two concurrent registrations of
    /// one name exactly one succeeds.
    fn create_user(
        &self,
        username: &str,
        password_hash: &str,
        role: Role,
    ) -> Result<User, StoreError> {
        let t = &self.inner;
        let folded = keys::fold_name(username);
        let (id, record) = crate::store::users::new_user(username, password_hash, role)?;
        let value = to_json(&record)?;
        let res = (&t.users, &t.usernames).transaction(
            |(users, names): &(TransactionalTree, TransactionalTree)| {
                if names.get(&folded)?.is_some() {
                    return Err(ConflictableTransactionError::Abort(
                        StoreError::UsernameTaken,
                    ));
                }
                names.insert(folded.as_slice(), &keys::id(id.0))?;
                users.insert(&keys::id(id.0), value.as_slice())?;
                Ok(())
            },
        );
        match res {
            Ok(()) => Ok(User::from_record(id, &record)),
            Err(sled::transaction::TransactionError::Abort(e)) => Err(e),
            Err(sled::transaction::TransactionError::Storage(e)) => Err(e.into()),
        }
    }

    fn user(&self, id: UserId) -> Result<Option<UserRecord>, StoreError> {
        match self.inner.users.get(keys::id(id.0))? {
            Some(v) => Ok(Some(from_json(&v)?)),
            None => Ok(None),
        }
    }

    fn user_by_name(&self, username: &str) -> Result<Option<(UserId, UserRecord)>, StoreError> {
        let Some(idb) = self.inner.usernames.get(keys::fold_name(username))? else {
            return Ok(None);
        };
        let id = UserId(
            keys::read_u64(&idb).ok_or_else(|| StoreError::Corrupt("username index".into()))?,
        );
        Ok(self.user(id)?.map(|r| (id, r)))
    }

    /// Replaces a user's record with `f(record)`, atomically.
    fn update_user(
        &self,
        id: UserId,
        f: &dyn Fn(&mut UserRecord),
    ) -> Result<UserRecord, StoreError> {
        let key = keys::id(id.0);
        let mut out = None;
        let mut err = None;
        self.inner.users.fetch_and_update(key, |old| {
            let bytes = old?;
            match from_json::<UserRecord>(bytes) {
                Ok(mut rec) => {
                    f(&mut rec);
                    match to_json(&rec) {
                        Ok(v) => {
                            out = Some(rec);
                            Some(v)
                        }
                        Err(e) => {
                            err = Some(e);
                            Some(bytes.to_vec())
                        }
                    }
                }
                Err(e) => {
                    err = Some(e);
                    Some(bytes.to_vec())
                }
            }
        })?;
        if let Some(e) = err {
            return Err(e);
        }
        out.ok_or(StoreError::NotFound)
    }

    /// Up to `limit` enabled users whose name starts with `prefix`, without
    /// regard to case, in the order of their lowercase names: a prefix scan
    /// of the `usernames` index that stops once `limit` are found, so its
    /// cost follows `limit` (plus the disabled accounts it steps over), not
    /// the number of users.
    fn users_with_prefix(
        &self,
        prefix: &str,
        limit: usize,
    ) -> Result<Vec<(UserId, String)>, StoreError> {
        let mut out = Vec::new();
        for kv in self.inner.usernames.scan_prefix(keys::fold_name(prefix)) {
            if out.len() >= limit {
                break;
            }
            let (_, idb) = kv?;
            let id = UserId(
                keys::read_u64(&idb).ok_or_else(|| StoreError::Corrupt("username index".into()))?,
            );
            match self.user(id)? {
                Some(rec) if !rec.disabled => out.push((id, rec.username)),
                _ => {}
            }
        }
        Ok(out)
    }

    fn list_users(&self) -> Result<Vec<User>, StoreError> {
        let mut out = Vec::new();
        for kv in self.inner.users.iter() {
            let (k, v) = kv?;
            let id = keys::read_u64(&k).ok_or_else(|| StoreError::Corrupt("user key".into()))?;
            out.push(User::from_record(UserId(id), &from_json(&v)?));
        }
        out.sort_by_key(|u| u.username.to_lowercase());
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use crate::model::Role;
    use crate::store::sled::StoreError;
    use crate::store::testing::temp_store;

    #[test]
    fn usernames_are_unique_without_regard_to_case() {
        let (store, _dir) = temp_store();
        store.create_user("Alice", "h", Role::User).expect("create");
        assert!(matches!(
            store.create_user("aLICE", "h", Role::User),
            Err(StoreError::UsernameTaken)
        ));
        let (_, rec) = store.user_by_name("ALICE").expect("lookup").expect("found");
        assert_eq!(rec.username, "Alice");
    }

    #[test]
    fn concurrent_registrations_of_one_name_give_one_account() {
        let (store, _dir) = temp_store();
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let s = store.clone();
                std::thread::spawn(move || s.create_user("race", "h", Role::User).is_ok())
            })
            .collect();
        let ok = handles
            .into_iter()
            .map(|h| h.join())
            .filter(|r| matches!(r, Ok(true)))
            .count();
        assert_eq!(ok, 1);
        assert_eq!(store.list_users().expect("list").len(), 1);
    }

    #[test]
    fn the_directory_is_a_bounded_case_insensitive_prefix_scan() {
        let (store, _dir) = temp_store();
        for name in ["Alice", "alfred", "albert", "bob", "ALMA"] {
            store.create_user(name, "h", Role::User).expect("create");
        }
        let (albert, _) = store.user_by_name("albert").expect("get").expect("some");
        store
            .update_user(albert, &|r| r.disabled = true)
            .expect("disable");
        let names = |p: &str, n: usize| {
            store
                .users_with_prefix(p, n)
                .expect("scan")
                .into_iter()
                .map(|(_, name)| name)
                .collect::<Vec<_>>()
        };
        assert_eq!(names("AL", 10), ["alfred", "Alice", "ALMA"]);
        assert_eq!(names("al", 2), ["alfred", "Alice"]);
        assert_eq!(names("", 10), ["alfred", "Alice", "ALMA", "bob"]);
        assert!(names("zed", 10).is_empty());
    }

    #[test]
    fn update_user_changes_the_record() {
        let (store, _dir) = temp_store();
        let u = store.create_user("bob", "h", Role::User).expect("create");
        let rec = store
            .update_user(u.id, &|r| r.role = Role::Admin)
            .expect("update");
        assert_eq!(rec.role, Role::Admin);
        assert_eq!(
            store.user(u.id).expect("get").expect("some").role,
            Role::Admin
        );
    }
}
