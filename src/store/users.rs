//! Accounts: what a user store must hold and answer.

use super::{random_id, StoreError};
use crate::model::{Role, Timestamp, User, UserId, UserRecord};

/// A new account as every store creates it: a random id, made now,
/// enabled, its tokens at their first version.
pub(crate) fn new_user(
    username: &str,
    password_hash: &str,
    role: Role,
) -> Result<(UserId, UserRecord), StoreError> {
    let record = UserRecord {
        username: username.to_owned(),
        role,
        password_hash: password_hash.to_owned(),
        created_at: Timestamp::now().0,
        disabled: false,
        token_version: 0,
    };
    Ok((UserId(random_id()?), record))
}

/// Users' accounts and the index of their names.
pub trait UserStore {
    /// Creates an account. Names are unique without regard to case: of two
    /// concurrent registrations of one name exactly one succeeds, the other
    /// gets `UsernameTaken`.
    fn create_user(
        &self,
        username: &str,
        password_hash: &str,
        role: Role,
    ) -> Result<User, StoreError>;

    /// The stored record of a user, if it exists.
    fn user(&self, id: UserId) -> Result<Option<UserRecord>, StoreError>;

    /// Looks a user up by name, without regard to case.
    fn user_by_name(&self, username: &str) -> Result<Option<(UserId, UserRecord)>, StoreError>;

    /// Replaces a user's record with `f(record)`, atomically: a concurrent
    /// update is never lost (`f` may run more than once). `NotFound` when
    /// there is no such user.
    fn update_user(
        &self,
        id: UserId,
        f: &dyn Fn(&mut UserRecord),
    ) -> Result<UserRecord, StoreError>;

    /// Up to `limit` enabled users whose name starts with `prefix`, without
    /// regard to case, in the order of their lowercase names. Its cost must
    /// follow `limit`, not the number of users (the directory calls it as
    /// one types).
    fn users_with_prefix(
        &self,
        prefix: &str,
        limit: usize,
    ) -> Result<Vec<(UserId, String)>, StoreError>;

    /// Every user, by name (compared folded, as names are).
    fn list_users(&self) -> Result<Vec<User>, StoreError>;
}
