//! Accounts: the `users` table.

use deadpool_postgres::Object;
use tokio_postgres::Row;

use super::{db_count, db_id, folded, id_of, storable, PgStore};
use crate::model::{Role, User, UserId, UserRecord};
use crate::store::{StoreError, UserStore};

/// How often [`PgStore::update_user`] retries an update that lost a race
/// before it gives up.
const UPDATE_TRIES: usize = 100;

/// The columns a [`UserRecord`] is read from.
const RECORD: &str = "username, role, password_hash, created_at, disabled, token_version";

impl UserStore for PgStore {
    /// Creates an account. The folded name is unique in the table, so of
    /// two concurrent registrations of one name exactly one succeeds, on
    /// whichever node.
    fn create_user(
        &self,
        username: &str,
        password_hash: &str,
        role: Role,
    ) -> Result<User, StoreError> {
        let (id, record) = crate::store::users::new_user(username, password_hash, role)?;
        let rec = record.clone();
        self.run(move |client| async move {
            let sql = "INSERT INTO users (id, revision, username, username_folded, role,
                           password_hash, created_at, disabled, token_version)
                       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";
            write_user(&client, sql, id, 0, &rec).await
        })?;
        Ok(User::from_record(id, &record))
    }

    /// The stored record of a user, if it exists.
    fn user(&self, id: UserId) -> Result<Option<UserRecord>, StoreError> {
        Ok(self.user_with_revision(id)?.map(|(rec, _)| rec))
    }

    /// Looks a user up by name, without regard to case.
    fn user_by_name(&self, username: &str) -> Result<Option<(UserId, UserRecord)>, StoreError> {
        if !storable(username) {
            return Ok(None);
        }
        let name = folded(username);
        self.run(move |client| async move {
            let sql = format!("SELECT id, {RECORD} FROM users WHERE username_folded = $1");
            match client.query_opt(&sql, &[&name]).await? {
                Some(row) => Ok(Some((UserId(id_of(row.try_get("id")?)), record(&row)?))),
                None => Ok(None),
            }
        })
    }

    /// Replaces a user's record with `f(record)`, atomically: the update
    /// replaces the revision it read, and is tried again (with `f` applied
    /// to the newer record) when another update came first. `f` runs on
    /// the calling thread, never inside a transaction.
    fn update_user(
        &self,
        id: UserId,
        f: &dyn Fn(&mut UserRecord),
    ) -> Result<UserRecord, StoreError> {
        for _ in 0..UPDATE_TRIES {
            let Some((mut rec, revision)) = self.user_with_revision(id)? else {
                return Err(StoreError::NotFound);
            };
            f(&mut rec);
            let new = rec.clone();
            let replaced = self.run(move |client| async move {
                let sql = "UPDATE users SET username = $3, username_folded = $4, role = $5,
                               password_hash = $6, created_at = $7, disabled = $8,
                               token_version = $9, revision = revision + 1
                           WHERE id = $1 AND revision = $2";
                Ok(write_user(&client, sql, id, revision, &new).await? == 1)
            })?;
            if replaced {
                return Ok(rec);
            }
        }
        Err(StoreError::Postgres(format!(
            "the user changed {UPDATE_TRIES} times while being updated"
        )))
    }

    /// Up to `limit` enabled users whose name starts with `prefix`, without
    /// regard to case, in the order of their folded names (byte order, as
    /// the embedded store's index).
    fn users_with_prefix(
        &self,
        prefix: &str,
        limit: usize,
    ) -> Result<Vec<(UserId, String)>, StoreError> {
        if !storable(prefix) {
            return Ok(Vec::new());
        }
        let pattern = format!("{}%", like_escaped(&folded(prefix)));
        self.run(move |client| async move {
            let rows = client
                .query(
                    "SELECT id, username FROM users
                     WHERE username_folded LIKE $1 AND NOT disabled
                     ORDER BY username_folded LIMIT $2",
                    &[&pattern, &db_count(limit)],
                )
                .await?;
            rows.iter()
                .map(|row| Ok((UserId(id_of(row.try_get(0)?)), row.try_get(1)?)))
                .collect()
        })
    }

    /// Every user, in id order (as u64: sorted here, see the schema).
    fn list_users(&self) -> Result<Vec<User>, StoreError> {
        let mut users = self.run(|client| async move {
            let sql = format!("SELECT id, {RECORD} FROM users");
            let rows = client.query(&sql, &[]).await?;
            rows.iter()
                .map(|row| {
                    let id = UserId(id_of(row.try_get("id")?));
                    Ok(User::from_record(id, &record(row)?))
                })
                .collect::<Result<Vec<User>, StoreError>>()
        })?;
        // By name, as the embedded store lists them (folded as names
        // are compared, so the order is the same on both).
        users.sort_by_key(|u| u.username.to_lowercase());
        Ok(users)
    }
}

impl PgStore {
    /// A user's record and its revision (what an update must replace).
    fn user_with_revision(&self, id: UserId) -> Result<Option<(UserRecord, i64)>, StoreError> {
        self.run(move |client| async move {
            let sql = format!("SELECT {RECORD}, revision FROM users WHERE id = $1");
            match client.query_opt(&sql, &[&db_id(id.0)]).await? {
                Some(row) => Ok(Some((record(&row)?, row.try_get("revision")?))),
                None => Ok(None),
            }
        })
    }
}

/// Runs `sql` (an insert or an update of one user) with the user's id,
/// a revision and the record's columns as its parameters, in the table's
/// order; returns how many rows it wrote.
async fn write_user(
    client: &Object,
    sql: &str,
    id: UserId,
    revision: i64,
    rec: &UserRecord,
) -> Result<u64, StoreError> {
    let written = client
        .execute(
            sql,
            &[
                &db_id(id.0),
                &revision,
                &rec.username,
                &folded(&rec.username),
                &role_word(rec.role),
                &rec.password_hash,
                &rec.created_at,
                &rec.disabled,
                &db_id(rec.token_version),
            ],
        )
        .await?;
    Ok(written)
}

/// `text` with LIKE's wildcards and escape character taken literally.
fn like_escaped(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn role_word(role: Role) -> &'static str {
    match role {
        Role::User => "user",
        Role::Admin => "admin",
    }
}

pub(super) fn record(row: &Row) -> Result<UserRecord, StoreError> {
    let role = match row.try_get::<_, &str>("role")? {
        "user" => Role::User,
        "admin" => Role::Admin,
        other => return Err(StoreError::Corrupt(format!("user role {other:?}"))),
    };
    Ok(UserRecord {
        username: row.try_get("username")?,
        role,
        password_hash: row.try_get("password_hash")?,
        created_at: row.try_get("created_at")?,
        disabled: row.try_get("disabled")?,
        token_version: id_of(row.try_get("token_version")?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::postgres::testing::TestDb;
    use crate::store::RoomStore;

    #[test]
    fn a_name_with_a_nul_character_finds_nothing_rather_than_failing() {
        let store = TestDb::new().store();
        store.create_user("ann", "h", Role::User).expect("create");
        store
            .create_room("general", "", false, UserId(1))
            .expect("room");
        assert!(store.user_by_name("\0").expect("user").is_none());
        assert!(store.user_by_name("ann\0").expect("user").is_none());
        assert!(store
            .users_with_prefix("a\0", 5)
            .expect("prefix")
            .is_empty());
        assert!(store.room_by_name("general\0").expect("room").is_none());
    }

    #[test]
    fn accounts_are_created_found_updated_and_listed() {
        let store = TestDb::new().store();
        let names = ["Alice", "alfred", "al_x", "bob", "ALMA", "albert"];
        for name in names {
            store.create_user(name, "h", Role::User).expect("create");
        }
        assert!(matches!(
            store.create_user("aLICE", "h", Role::User),
            Err(StoreError::UsernameTaken)
        ));
        let (albert, rec) = store.user_by_name("ALBERT").expect("get").expect("some");
        assert_eq!(rec.username, "albert");
        let rec = store
            .update_user(albert, &|r| {
                r.disabled = true;
                r.set_password("h2");
            })
            .expect("update");
        assert_eq!((rec.disabled, rec.token_version), (true, 1));
        let stored = store.user(albert).expect("get").expect("some");
        assert_eq!(
            (stored.password_hash.as_str(), stored.disabled),
            ("h2", true)
        );
        assert!(matches!(
            store.update_user(UserId(3), &|_| {}),
            Err(StoreError::NotFound)
        ));
        assert!(store.user(UserId(3)).expect("get").is_none());
        let found = |p: &str, n: usize| -> Vec<String> {
            let users = store.users_with_prefix(p, n).expect("scan");
            users.into_iter().map(|(_, name)| name).collect()
        };
        assert_eq!(found("AL", 10), ["al_x", "alfred", "Alice", "ALMA"]);
        assert_eq!(found("al_", 10), ["al_x"]);
        assert_eq!(found("al", 2), ["al_x", "alfred"]);
        assert!(found("%", 10).is_empty());
        let users = store.list_users().expect("list");
        assert_eq!(users.len(), names.len());
        // By name, as the embedded store and `GET /api/admin/users` list them.
        let listed: Vec<String> = users.iter().map(|u| u.username.to_lowercase()).collect();
        let mut sorted = listed.clone();
        sorted.sort();
        assert_eq!(listed, sorted);
    }

    #[test]
    fn concurrent_updates_are_all_kept() {
        let store = TestDb::new().store();
        let id = store
            .create_user("ann", "h", Role::User)
            .expect("create")
            .id;
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let s = store.clone();
                std::thread::spawn(move || {
                    for _ in 0..10 {
                        s.update_user(id, &|r| r.token_version += 1)
                            .expect("update");
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("thread");
        }
        assert_eq!(
            store.user(id).expect("get").expect("some").token_version,
            40
        );
    }
}
