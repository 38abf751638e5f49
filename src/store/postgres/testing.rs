//! Fresh databases for the store's tests, on the shared throwaway server
//! of [`pg_server`](super::pg_server), and small helpers to look at them.

use super::pg_server::shared;
pub use super::pg_server::{runtime, PgServer};
use super::PgStore;
use crate::store::StoreError;

/// A fresh database on the shared server.
#[derive(Clone)]
pub struct TestDb {
    address: String,
}

impl TestDb {
    pub fn new() -> TestDb {
        let server = shared().lock().expect("shared server");
        TestDb {
            address: server.database(),
        }
    }

    /// A new store on this database, as one more node would open it.
    pub fn store(&self) -> PgStore {
        self.try_store().expect("connect")
    }

    pub fn try_store(&self) -> Result<PgStore, StoreError> {
        connect(&self.address)
    }
}

/// Opens a store at `address` on the tests' runtime.
pub fn connect(address: &str) -> Result<PgStore, StoreError> {
    PgStore::connect(address, runtime().handle().clone())
}

/// Runs `sql` (statements without parameters) on `store`'s database.
pub fn execute(store: &PgStore, sql: String) {
    store
        .run(move |client| async move { Ok(client.batch_execute(&sql).await?) })
        .expect("execute");
}

/// The first column of every row `sql` returns on `store`'s database.
pub fn column<T>(store: &PgStore, sql: &'static str) -> Vec<T>
where
    T: for<'a> tokio_postgres::types::FromSql<'a> + Send + 'static,
{
    store
        .run(move |client| async move {
            let rows = client.query(sql, &[]).await?;
            rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
        })
        .expect("query")
}
