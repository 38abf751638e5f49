//! A store an admin command opens itself, when no server answers on the
//! data directory's admin socket: the data directory's own database, or a
//! cluster's PostgreSQL database (`--store`).

use std::ops::Deref;

use tokio::runtime::Runtime;

use crate::cli::{ClusterArgs, StoreArg};
use crate::config::{Backends, StoreChoice};
use crate::store::{PgStore, Store};

/// Worker threads of a command's runtime: the PostgreSQL store runs each
/// query as a task, and a command runs one operation at a time.
const COMMAND_WORKERS: usize = 2;

/// A store opened by this process, with what it needs to run.
pub struct LocalStore {
    store: Store,
    /// The runtime the PostgreSQL store's queries run on. Declared after
    /// the store, so dropped after it: the store's connections are tasks
    /// of this runtime.
    _runtime: Option<Runtime>,
}

impl Deref for LocalStore {
    type Target = Store;

    fn deref(&self) -> &Store {
        &self.store
    }
}

impl LocalStore {
    /// The data directory's own database, opened by the caller.
    pub fn embedded(store: Store) -> LocalStore {
        LocalStore {
            store,
            _runtime: None,
        }
    }

    /// The PostgreSQL database at `url`, on a small runtime of this
    /// command's own. Its migrations run as at a node's start, so a
    /// database too new for this binary is refused in the same words.
    pub fn postgres(url: &str) -> Result<LocalStore, String> {
        let address = postgres_address(url)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(COMMAND_WORKERS)
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the runtime: {e}"))?;
        let pg = PgStore::connect(address.expose(), runtime.handle().clone())
            .map_err(|e| format!("cannot open the database at {address}: {e}"))?;
        Ok(LocalStore {
            store: Store::new(pg),
            _runtime: Some(runtime),
        })
    }
}

/// `--store`'s value, when one was given (an empty one counts as none, as
/// for `serve`).
pub fn store_url(arg: &StoreArg) -> Option<&str> {
    arg.store
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// `url` checked as `serve --store` checks it; the error never shows a
/// password.
fn postgres_address(url: &str) -> Result<crate::config::Address, String> {
    let args = ClusterArgs {
        store: Some(url.to_owned()),
        bus: None,
    };
    match Backends::resolve(&args).map_err(|e| e.to_string())?.store {
        StoreChoice::Postgres(address) => Ok(address),
        StoreChoice::Embedded => Err("--store needs a PostgreSQL address".into()),
    }
}
