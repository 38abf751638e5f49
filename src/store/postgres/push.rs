//! Web Push subscriptions: the `push_subscriptions` table, by endpoint,
//! indexed by user.
//!
//! An endpoint belongs to one user at a time: subscribing an endpoint
//! another user holds moves it. A subscription's transaction first takes
//! its user's advisory lock ([`PUSH_LOCK_CLASS`], held until commit), on
//! every node, so that "count the user's subscriptions, then add one"
//! cannot pass the limit twice. Removals take no lock: they never bring
//! a user nearer the limit.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio_postgres::Row;

use super::held::lock_key;
use super::{db_id, id_of, PgStore};
use crate::model::{Timestamp, UserId};
use crate::store::{PushStore, PushSubscription, StoreError, Subscribed};

/// The class of the advisory locks that serialise one user's
/// subscriptions (the key is the user): "push" in ASCII.
const PUSH_LOCK_CLASS: i32 = 0x7075_7368;

/// How long an answer of [`PushStore::has_push_subscriptions`] is reused
/// before the database is asked again: the most a subscription made on
/// another node may stay unseen here (this node's own are seen at once).
pub(super) const PUSH_FLAG_REFRESH: Duration = Duration::from_secs(1);

/// How many times a subscription is tried again when its endpoint
/// vanished between the insert that met it and the update of it.
const SUBSCRIBE_ATTEMPTS: usize = 3;

/// What this process last learnt of whether anyone subscribed, and when.
/// Asked for every batch of messages, so it is read from memory and
/// refreshed from the database at most once per [`PUSH_FLAG_REFRESH`].
#[derive(Default)]
pub(super) struct PushFlag {
    known: Mutex<Option<(bool, Instant)>>,
}

impl PushFlag {
    /// The flag, if learnt within [`PUSH_FLAG_REFRESH`].
    fn fresh(&self) -> Option<bool> {
        let known = self.known.lock().unwrap_or_else(|p| p.into_inner());
        known
            .filter(|(_, at)| at.elapsed() < PUSH_FLAG_REFRESH)
            .map(|(v, _)| v)
    }

    /// The flag as last learnt, however old.
    fn last(&self) -> Option<bool> {
        let known = self.known.lock().unwrap_or_else(|p| p.into_inner());
        known.map(|(v, _)| v)
    }

    fn set(&self, value: bool) {
        let mut known = self.known.lock().unwrap_or_else(|p| p.into_inner());
        *known = Some((value, Instant::now()));
    }
}

const SUBSCRIPTION: &str = "endpoint, user_id, p256dh, auth, created_at";

impl PushStore for PgStore {
    /// Stores `sub` in one transaction under its user's lock (see the
    /// module doc). Durable on return.
    fn subscribe_push(&self, sub: &PushSubscription, max: usize) -> Result<Subscribed, StoreError> {
        let s = sub.clone();
        let done = self.run(move |mut client| async move {
            let tx = client.transaction().await?;
            let user = db_id(s.user_id.0);
            tx.execute(
                "SELECT pg_advisory_xact_lock($1, $2)",
                &[&PUSH_LOCK_CLASS, &lock_key(s.user_id.0)],
            )
            .await?;
            // The user's own subscriptions change only under the lock we
            // hold; an endpoint moving in from another user is one of
            // them only once it is here.
            let row = tx
                .query_one(
                    "SELECT count(*), bool_or(endpoint = $2) FROM push_subscriptions
                     WHERE user_id = $1",
                    &[&user, &s.endpoint],
                )
                .await?;
            let (count, already_mine): (i64, Option<bool>) = (row.try_get(0)?, row.try_get(1)?);
            if !already_mine.unwrap_or(false) && usize::try_from(count).unwrap_or(usize::MAX) >= max
            {
                return Ok(Subscribed::Full);
            }
            let params: [&(dyn tokio_postgres::types::ToSql + Sync); 5] =
                [&s.endpoint, &user, &s.p256dh, &s.auth, &s.created_at.0];
            for _ in 0..SUBSCRIBE_ATTEMPTS {
                let created = tx
                    .query_opt(
                        "INSERT INTO push_subscriptions (endpoint, user_id, p256dh, auth,
                             created_at)
                         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (endpoint) DO NOTHING
                         RETURNING 1",
                        &params,
                    )
                    .await?;
                let done = match created {
                    Some(_) => Subscribed::Created,
                    None => {
                        let updated = tx
                            .execute(
                                "UPDATE push_subscriptions
                                 SET user_id = $2, p256dh = $3, auth = $4, created_at = $5
                                 WHERE endpoint = $1",
                                &params,
                            )
                            .await?;
                        if updated == 0 {
                            // Removed since our insert met it: insert again.
                            continue;
                        }
                        Subscribed::Updated
                    }
                };
                tx.commit().await?;
                return Ok(done);
            }
            Err(StoreError::Postgres(
                "the push subscription kept vanishing while it was stored".into(),
            ))
        })?;
        if done != Subscribed::Full {
            self.inner.push_flag.set(true);
        }
        Ok(done)
    }

    /// Removes `endpoint` if `user` holds it: one statement.
    fn unsubscribe_push(&self, user: UserId, endpoint: &str) -> Result<bool, StoreError> {
        // No stored endpoint holds a NUL character (it is not a URL's).
        if !super::storable(endpoint) {
            return Ok(false);
        }
        let endpoint = endpoint.to_owned();
        self.run(move |client| async move {
            let n = client
                .execute(
                    "DELETE FROM push_subscriptions WHERE endpoint = $1 AND user_id = $2",
                    &[&endpoint, &db_id(user.0)],
                )
                .await?;
            Ok(n > 0)
        })
    }

    /// Removes `endpoint` whoever holds it: one statement.
    fn delete_push_subscription(&self, endpoint: &str) -> Result<bool, StoreError> {
        // No stored endpoint holds a NUL character (it is not a URL's).
        if !super::storable(endpoint) {
            return Ok(false);
        }
        let endpoint = endpoint.to_owned();
        self.run(move |client| async move {
            let n = client
                .execute(
                    "DELETE FROM push_subscriptions WHERE endpoint = $1",
                    &[&endpoint],
                )
                .await?;
            Ok(n > 0)
        })
    }

    fn push_subscription(&self, endpoint: &str) -> Result<Option<PushSubscription>, StoreError> {
        // No stored endpoint holds a NUL character (it is not a URL's).
        if !super::storable(endpoint) {
            return Ok(None);
        }
        let endpoint = endpoint.to_owned();
        self.run(move |client| async move {
            let sql = format!("SELECT {SUBSCRIPTION} FROM push_subscriptions WHERE endpoint = $1");
            let row = client.query_opt(&sql, &[&endpoint]).await?;
            row.as_ref().map(subscription).transpose()
        })
    }

    /// Whether anyone subscribed, from memory: the database is asked
    /// (`SELECT EXISTS`) at most once per [`PUSH_FLAG_REFRESH`], and a
    /// subscription made through this store sets the flag at once. So a
    /// subscription made on another node is seen here within that time,
    /// and after the last one is removed a few batches may still look
    /// for whom to notify, and find nobody. When the database does not
    /// answer, the last answer stands (true if there was none: a look
    /// too many costs less than a notification missed).
    fn has_push_subscriptions(&self) -> bool {
        let flag = &self.inner.push_flag;
        if let Some(v) = flag.fresh() {
            return v;
        }
        let read = self.run(|client| async move {
            let row = client
                .query_one("SELECT EXISTS (SELECT 1 FROM push_subscriptions)", &[])
                .await?;
            Ok(row.try_get::<_, bool>(0)?)
        });
        match read {
            Ok(v) => {
                flag.set(v);
                v
            }
            Err(e) => {
                tracing::warn!("whether anyone subscribed to push: {e}");
                flag.last().unwrap_or(true)
            }
        }
    }

    /// Every subscription of `user`, by endpoint.
    fn push_subscriptions(&self, user: UserId) -> Result<Vec<PushSubscription>, StoreError> {
        self.run(move |client| async move {
            let sql = format!(
                "SELECT {SUBSCRIPTION} FROM push_subscriptions WHERE user_id = $1
                 ORDER BY endpoint"
            );
            let rows = client.query(&sql, &[&db_id(user.0)]).await?;
            rows.iter().map(subscription).collect()
        })
    }

    /// Removes every subscription of `user`: one statement.
    fn delete_user_push_subscriptions(&self, user: UserId) -> Result<usize, StoreError> {
        self.run(move |client| async move {
            let n = client
                .execute(
                    "DELETE FROM push_subscriptions WHERE user_id = $1",
                    &[&db_id(user.0)],
                )
                .await?;
            Ok(usize::try_from(n).unwrap_or(usize::MAX))
        })
    }
}

fn subscription(row: &Row) -> Result<PushSubscription, StoreError> {
    Ok(PushSubscription {
        endpoint: row.try_get("endpoint")?,
        user_id: UserId(id_of(row.try_get("user_id")?)),
        p256dh: row.try_get("p256dh")?,
        auth: row.try_get("auth")?,
        created_at: Timestamp(row.try_get("created_at")?),
    })
}

#[cfg(test)]
#[path = "push_tests.rs"]
mod tests;
