//! Opening the store: the pool of connections, its bounds, and the
//! migrations every open applies.
//!
//! Connections are made without TLS (`NoTls`): the database is expected
//! on loopback, on a Unix socket, or on a network the operator trusts,
//! and TLS would bring a TLS stack into the build for that one use. An
//! address that asks for TLS (`sslmode=require`) is refused when the
//! first connection is made.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio::runtime::Handle;
use tokio_postgres::NoTls;

use super::{migrate, Inner, PgStore};
use crate::store::MessageStore;
use crate::store::StoreError;

/// Connections one process keeps at most. The writer takes one per
/// batch, and each blocking-pool call one for its duration; more would
/// only queue inside PostgreSQL instead of here.
pub const POOL_SIZE: usize = 8;

/// How long making a connection may take, and how long a call waits for
/// one of the pool's.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The server cuts any one statement after this long (waits for a lock
/// included), so a stuck statement frees its connection.
pub const STATEMENT_TIMEOUT: Duration = Duration::from_secs(5);

/// A session left inside a transaction (its process stopped mid-way)
/// holds its locks at most this long, the message counter's included.
pub const IDLE_IN_TRANSACTION_TIMEOUT: Duration = Duration::from_secs(15);

impl PgStore {
    /// Connects to the database at `address` (a `postgres://` URL or
    /// `key=value` pairs) and brings its schema up to this build's,
    /// refusing a newer one. `handle` is the runtime the queries run on;
    /// this call blocks like every other (see the module doc).
    pub fn connect(address: &str, handle: Handle) -> Result<PgStore, StoreError> {
        let config = bounded_config(address)?;
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(CONNECT_TIMEOUT))
            .create_timeout(Some(CONNECT_TIMEOUT))
            .recycle_timeout(Some(CONNECT_TIMEOUT))
            .build()
            .map_err(|e| StoreError::Postgres(format!("cannot build the pool: {e}")))?;
        let store = PgStore {
            inner: Arc::new(Inner {
                pool,
                handle,
                cutoff: AtomicU64::new(0),
                push_flag: Default::default(),
                edit_cursor: Default::default(),
            }),
        };
        store.run(|mut client| async move { migrate::apply(&mut client).await })?;
        store.message_cutoff();
        Ok(store)
    }
}

impl PgStore {
    /// Whether the database answers now: one round trip on a pooled
    /// connection, bounded like every call. Blocking.
    pub fn ping(&self) -> Result<(), StoreError> {
        self.run(|client| async move {
            client.simple_query("SELECT 1").await?;
            Ok(())
        })
    }

    /// The key every node shares under `name`: the one stored, or `fresh`
    /// when none is, stored by the same statement. Of nodes starting at
    /// once, the first insert wins and every node reads its key back.
    /// Blocking.
    pub fn shared_key(&self, name: &str, fresh: Vec<u8>) -> Result<Vec<u8>, StoreError> {
        let name = name.to_owned();
        self.run(move |client| async move {
            client
                .execute(
                    "INSERT INTO server_keys (name, value) VALUES ($1, $2)
                     ON CONFLICT (name) DO NOTHING",
                    &[&name, &fresh],
                )
                .await?;
            let row = client
                .query_one("SELECT value FROM server_keys WHERE name = $1", &[&name])
                .await?;
            Ok(row.try_get(0)?)
        })
    }
}

/// The parsed address with this store's bounds added: the connect timeout
/// (unless the address sets one) and the server-side timeouts.
fn bounded_config(address: &str) -> Result<tokio_postgres::Config, StoreError> {
    let mut config: tokio_postgres::Config = address
        .parse()
        .map_err(|e| StoreError::Postgres(format!("not a PostgreSQL address: {e}")))?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    let options = format!(
        "{} -c statement_timeout={} -c idle_in_transaction_session_timeout={}",
        config.get_options().unwrap_or_default(),
        STATEMENT_TIMEOUT.as_millis(),
        IDLE_IN_TRANSACTION_TIMEOUT.as_millis(),
    );
    config.options(options.trim_start());
    if config.get_application_name().is_none() {
        config.application_name("chatroom");
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bounds_are_added_to_an_address() {
        let c = bounded_config("postgres://u@localhost/db?options=-c%20search_path%3Dx")
            .expect("parse");
        assert_eq!(c.get_connect_timeout(), Some(&CONNECT_TIMEOUT));
        let options = c.get_options().expect("options");
        assert!(options.starts_with("-c search_path=x -c statement_timeout=5000"));
        assert!(options.ends_with("idle_in_transaction_session_timeout=15000"));
        assert!(bounded_config("postgres://[bad").is_err());
    }

    #[test]
    fn nodes_starting_at_once_share_one_key() {
        let db = crate::store::postgres::testing::TestDb::new();
        let starts: Vec<_> = (0..4u8)
            .map(|i| {
                let node = db.store();
                std::thread::spawn(move || node.shared_key("jwt", vec![i; 32]))
            })
            .collect();
        let keys: Vec<Vec<u8>> = starts
            .into_iter()
            .map(|s| s.join().expect("thread").expect("key"))
            .collect();
        assert!(
            keys.iter().all(|k| k == &keys[0] && k.len() == 32),
            "{keys:?}"
        );
        let again = db.store().shared_key("jwt", vec![9; 32]).expect("key");
        assert_eq!(again, keys[0]);
        assert_ne!(
            db.store().shared_key("vapid", vec![7]).expect("other"),
            keys[0]
        );
        db.store().ping().expect("ping");
    }
}
