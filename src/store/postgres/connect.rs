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
            }),
        };
        store.run(|mut client| async move { migrate::apply(&mut client).await })?;
        store.message_cutoff();
        Ok(store)
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
}
