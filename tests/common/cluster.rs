//! The engines of a cluster for the tests: a PostgreSQL server and a
//! NATS server of their own, in temporary directories on loopback (the
//! same code the store's and the bus's unit tests start theirs with), and
//! the `--store` of each test server when the suite runs on PostgreSQL.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

#[path = "../../src/store/postgres/pg_server.rs"]
pub mod pg_server;

#[path = "../../src/bus/nats/testing.rs"]
pub mod nats_server;

pub use nats_server::NatsServer;
pub use pg_server::PgServer;

/// The variable that runs the suite with every server on PostgreSQL
/// (`scripts/test.sh` runs it so once). Read by the tests only: the
/// servers start from a clean environment and are given `--store`.
pub const STORE_VAR: &str = "CHATROOM_TEST_STORE";

/// Whether this run's servers keep their data in PostgreSQL.
pub fn on_postgres() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var(STORE_VAR).is_ok_and(|v| v == "postgres"))
}

/// The `--store` of the server on data directory `dir`, when the suite
/// runs on PostgreSQL: one database per data directory on the run's shared
/// server, made on first use, so that a server restarted on its
/// directory (or an admin command on it) finds its data again.
pub fn store_for(dir: &Path) -> Option<String> {
    if !on_postgres() {
        return None;
    }
    static DATABASES: OnceLock<Mutex<HashMap<PathBuf, String>>> = OnceLock::new();
    let mut known = DATABASES
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    let server = pg_server::shared()
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    let url = known
        .entry(dir.to_owned())
        .or_insert_with(|| server.url(&server.new_database()));
    Some(url.clone())
}

/// `--store URL` for the server on `dir` started with `args`, when the
/// suite runs on PostgreSQL and `args` name no store of their own.
pub fn store_args(dir: &Path, args: &[&str]) -> Vec<String> {
    match store_for(dir) {
        Some(url) if !args.contains(&"--store") => vec!["--store".to_owned(), url],
        _ => Vec::new(),
    }
}

/// A fresh database on the run's shared PostgreSQL, as `--store` takes it.
pub fn fresh_database() -> String {
    let server = pg_server::shared()
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    server.url(&server.new_database())
}
