//! Limits shared by the nodes of a cluster: the authentication throttle's
//! counted attempts (`throttle_hits`) and the open WebSockets per user
//! (`cluster_nodes`, `user_connections`).
//!
//! A single process guards these with a mutex; across processes the
//! check and the count must still be one step, or two nodes checking at
//! once would both see room for the last attempt. Each admission is
//! therefore one transaction that first takes a transaction-scoped
//! advisory lock (`pg_advisory_xact_lock`) per key it counts against,
//! then reads the count and writes. A row lock cannot serve: the rows to
//! count may not exist yet (a key's first attempt, a user's first
//! connection on this node), and `SELECT ... FOR UPDATE` locks nothing
//! that is absent. Under `READ COMMITTED` every statement after the lock
//! sees what the previous holder committed, since the lock is released
//! only after that commit. Keys are locked in ascending order of their
//! lock numbers, so two admissions that share keys never wait for each
//! other in a cycle.
//!
//! Times are the database's clock (`clock_timestamp()`, read after the
//! locks), so nodes whose clocks disagree still agree on the window.

use std::time::Duration;

use super::{db_count, db_id, PgStore};
use crate::store::StoreError;

/// How long a node that stopped saying it is alive still counts: six of
/// its heartbeats (every 5 s), so a node that is merely slow for a while
/// is not mistaken for a dead one, and a dead node's connections stop
/// counting half a minute after it died.
pub const NODE_EXPIRY: Duration = Duration::from_secs(30);

/// Rows one sweep of old hits deletes at most, so a sweep is a short
/// statement however far behind it is; the next sweep takes the rest.
pub const SWEEP_BATCH: usize = 1000;

/// The database's clock now, in milliseconds since the Unix epoch.
const NOW_MS: &str = "SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint";

/// The lock kind of a user's connection count.
const CONNECTIONS: &str = "connections";

/// Attempts counted by [`PgStore::admit_hits`], taken back by
/// [`PgStore::refund_hits`]: the ids of their rows.
#[derive(Debug, Default)]
pub struct HitTicket {
    ids: Vec<i64>,
}

impl PgStore {
    /// Counts one attempt against every key of `keys` in the window
    /// `kind`, or against none of them: when any key already has `limit`
    /// attempts (at least 1) within `window`, nothing is counted and the
    /// answer is the seconds until that key's oldest counted attempt
    /// leaves the window (the longest such wait over the keys, at least
    /// 1), as the in-process throttle answers. Atomic across nodes: see
    /// the module doc.
    pub fn admit_hits(
        &self,
        kind: &str,
        keys: &[String],
        limit: u32,
        window: Duration,
    ) -> Result<Result<HitTicket, u64>, StoreError> {
        let kind = kind.to_owned();
        let keys: Vec<String> = keys.iter().map(|k| stored_key(&kind, k)).collect();
        let limit = i64::from(limit.max(1));
        let window_ms = millis(window);
        self.run(move |mut client| async move {
            let mut locks: Vec<i64> = keys.iter().map(|k| lock_id(&kind, k)).collect();
            locks.sort_unstable();
            locks.dedup();
            let tx = client.transaction().await?;
            for l in &locks {
                tx.execute("SELECT pg_advisory_xact_lock($1)", &[l]).await?;
            }
            let now: i64 = tx.query_one(NOW_MS, &[]).await?.try_get(0)?;
            let recent = tx
                .prepare_cached(
                    "SELECT at_ms FROM throttle_hits
                     WHERE kind = $1 AND key = $2 AND at_ms > $3
                     ORDER BY at_ms DESC LIMIT $4",
                )
                .await?;
            let mut wait_ms: Option<i64> = None;
            for key in &keys {
                let rows = tx
                    .query(&recent, &[&kind, key, &(now - window_ms), &limit])
                    .await?;
                if db_count(rows.len()) < limit {
                    continue;
                }
                // Room comes back when the oldest of the `limit` newest
                // attempts leaves the window.
                let Some(oldest) = rows.last() else { continue };
                let oldest: i64 = oldest.try_get(0)?;
                let w = oldest + window_ms - now;
                wait_ms = Some(wait_ms.map_or(w, |x| x.max(w)));
            }
            if let Some(w) = wait_ms {
                tx.rollback().await?;
                return Ok(Err(wait_seconds(w)));
            }
            let insert = tx
                .prepare_cached(
                    "INSERT INTO throttle_hits (kind, key, at_ms) VALUES ($1, $2, $3)
                     RETURNING id",
                )
                .await?;
            let mut ids = Vec::with_capacity(keys.len());
            for key in &keys {
                let row = tx.query_one(&insert, &[&kind, key, &now]).await?;
                ids.push(row.try_get(0)?);
            }
            tx.commit().await?;
            Ok(Ok(HitTicket { ids }))
        })
    }

    /// Takes back the attempts of `ticket` (an attempt that succeeded).
    /// One statement; rows a sweep removed meanwhile are simply gone.
    pub fn refund_hits(&self, ticket: HitTicket) -> Result<(), StoreError> {
        if ticket.ids.is_empty() {
            return Ok(());
        }
        self.run(move |client| async move {
            client
                .execute(
                    "DELETE FROM throttle_hits WHERE id = ANY($1)",
                    &[&ticket.ids],
                )
                .await?;
            Ok(())
        })
    }

    /// Deletes at most [`SWEEP_BATCH`] hits of `kind` older than
    /// `older_than` (the window's length: older ones no longer count),
    /// oldest first through the age index, so its cost is the rows it
    /// deletes, not the table. Per kind, since each window has its own
    /// length. Answers how many it deleted: [`SWEEP_BATCH`] means there
    /// may be more.
    pub fn sweep_hits(&self, kind: &str, older_than: Duration) -> Result<usize, StoreError> {
        let kind = kind.to_owned();
        let age = millis(older_than);
        let batch = db_count(SWEEP_BATCH);
        self.run(move |client| async move {
            let n = client
                .execute(
                    &format!(
                        "DELETE FROM throttle_hits WHERE id IN (
                             SELECT id FROM throttle_hits
                             WHERE kind = $1 AND at_ms <= ({NOW_MS}) - $2
                             ORDER BY at_ms LIMIT $3)"
                    ),
                    &[&kind, &age, &batch],
                )
                .await?;
            Ok(usize::try_from(n).unwrap_or(usize::MAX))
        })
    }

    /// Records that `node` is alive now: its connections count for
    /// [`NODE_EXPIRY`] from now. One atomic upsert.
    pub fn node_alive(&self, node: u64) -> Result<(), StoreError> {
        self.run(move |client| async move {
            client
                .execute(
                    &format!(
                        "INSERT INTO cluster_nodes (node, seen_at) VALUES ($1, ({NOW_MS}))
                         ON CONFLICT (node) DO UPDATE SET seen_at = EXCLUDED.seen_at"
                    ),
                    &[&db_id(node)],
                )
                .await?;
            Ok(())
        })
    }

    /// Counts one more open connection of `user` on `node` if the user
    /// has fewer than `cap` open over the cluster: the connections of
    /// `node` itself and of every node seen alive within [`NODE_EXPIRY`].
    /// Checked and counted under the user's advisory lock (see the module
    /// doc), so concurrent admissions on several nodes never pass the cap.
    pub fn admit_connection(&self, node: u64, user: u64, cap: usize) -> Result<bool, StoreError> {
        let cap = db_count(cap);
        let expiry = millis(NODE_EXPIRY);
        self.run(move |mut client| async move {
            let tx = client.transaction().await?;
            let lock = lock_id(CONNECTIONS, &user.to_string());
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&lock])
                .await?;
            let now: i64 = tx.query_one(NOW_MS, &[]).await?.try_get(0)?;
            // A node counts from its first admission, before its first
            // heartbeat; an existing row is left alone (and unlocked).
            tx.execute(
                "INSERT INTO cluster_nodes (node, seen_at) VALUES ($1, $2)
                 ON CONFLICT (node) DO NOTHING",
                &[&db_id(node), &now],
            )
            .await?;
            let open: i64 = tx
                .query_one(
                    "SELECT coalesce(sum(c.n), 0)::bigint FROM user_connections c
                     WHERE c.user_id = $1 AND (c.node = $2 OR EXISTS (
                         SELECT 1 FROM cluster_nodes s
                         WHERE s.node = c.node AND s.seen_at > $3))",
                    &[&db_id(user), &db_id(node), &(now - expiry)],
                )
                .await?
                .try_get(0)?;
            if open >= cap {
                tx.rollback().await?;
                return Ok(false);
            }
            tx.execute(
                "INSERT INTO user_connections (node, user_id, n) VALUES ($1, $2, 1)
                 ON CONFLICT (node, user_id) DO UPDATE SET n = user_connections.n + 1",
                &[&db_id(node), &db_id(user)],
            )
            .await?;
            tx.commit().await?;
            Ok(true)
        })
    }

    /// Counts one connection of `user` on `node` fewer, deleting the row
    /// at 0. Under the user's advisory lock, as admissions are, so the
    /// decrement and the deletion of an emptied row cannot interleave
    /// with an admission's increment.
    pub fn release_connection(&self, node: u64, user: u64) -> Result<(), StoreError> {
        self.run(move |mut client| async move {
            let tx = client.transaction().await?;
            let lock = lock_id(CONNECTIONS, &user.to_string());
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&lock])
                .await?;
            let (node, user) = (db_id(node), db_id(user));
            tx.execute(
                "UPDATE user_connections SET n = n - 1
                 WHERE node = $1 AND user_id = $2 AND n > 0",
                &[&node, &user],
            )
            .await?;
            tx.execute(
                "DELETE FROM user_connections WHERE node = $1 AND user_id = $2 AND n = 0",
                &[&node, &user],
            )
            .await?;
            tx.commit().await?;
            Ok(())
        })
    }

    /// Deletes what is known of `node`: its connections no longer count.
    /// For a node that stops cleanly, so its users need not wait
    /// [`NODE_EXPIRY`] for their slots.
    pub fn forget_node(&self, node: u64) -> Result<(), StoreError> {
        self.run(move |mut client| async move {
            let tx = client.transaction().await?;
            let node = db_id(node);
            tx.execute("DELETE FROM user_connections WHERE node = $1", &[&node])
                .await?;
            tx.execute("DELETE FROM cluster_nodes WHERE node = $1", &[&node])
                .await?;
            tx.commit().await?;
            Ok(())
        })
    }

    /// Deletes the nodes not seen for `older_than` (much longer than
    /// [`NODE_EXPIRY`]: their connections stopped counting long ago) and
    /// their connections (every connection row without its node's row).
    /// Its cost follows the open connections of the cluster, not the
    /// history. Answers how many nodes it forgot.
    pub fn forget_dead_nodes(&self, older_than: Duration) -> Result<u64, StoreError> {
        let age = millis(older_than.max(NODE_EXPIRY));
        self.run(move |mut client| async move {
            let tx = client.transaction().await?;
            let dead = tx
                .execute(
                    &format!("DELETE FROM cluster_nodes WHERE seen_at <= ({NOW_MS}) - $1"),
                    &[&age],
                )
                .await?;
            tx.execute(
                "DELETE FROM user_connections c WHERE NOT EXISTS (
                     SELECT 1 FROM cluster_nodes s WHERE s.node = c.node)",
                &[],
            )
            .await?;
            tx.commit().await?;
            Ok(dead)
        })
    }
}

/// `key` as a row can hold it: a key with a NUL character (a name a
/// client sent, which PostgreSQL's text cannot hold) is counted under its
/// hash instead.
fn stored_key(kind: &str, key: &str) -> String {
    match super::storable(key) {
        true => key.to_owned(),
        false => format!("\u{fffd}{:016x}", lock_id(kind, key)),
    }
}

/// The advisory lock of `key` in the window `kind`: a 64-bit FNV-1a hash,
/// the same on every node and every build. Two keys that collide only
/// wait for each other; they are still counted apart.
fn lock_id(kind: &str, key: &str) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in kind.bytes().chain([0]).chain(key.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h as i64
}

/// A duration in whole milliseconds, as a BIGINT.
fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// A wait in milliseconds as the whole seconds a client is told: rounded
/// up, at least 1.
fn wait_seconds(ms: i64) -> u64 {
    u64::try_from(ms.max(1)).map_or(1, |ms| ms.div_ceil(1000))
}

#[cfg(test)]
#[path = "limits_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "limits_shared_tests.rs"]
mod shared_tests;
