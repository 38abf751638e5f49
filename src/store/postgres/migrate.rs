//! The schema's versions: SQL migrations built into the binary, applied
//! at connect.
//!
//! Each migration runs in a transaction of its own that first takes
//! [`MIGRATION_LOCK`] (`pg_advisory_xact_lock`), so nodes starting at once
//! apply each migration once, one after the other, and a failed one
//! leaves nothing behind. `schema_version` records every version applied.
//! A database that records a version newer than this build knows was
//! written by a newer chatroom and is refused untouched, as the embedded
//! store refuses a newer data directory.

use deadpool_postgres::Object;

use crate::store::StoreError;

/// One migration: its version (the number its file begins with) and its
/// SQL.
struct Migration {
    version: i32,
    name: &'static str,
    sql: &'static str,
}

/// Every migration, in order; the last one's version is this build's.
const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "core",
        sql: include_str!("migrations/001_core.sql"),
    },
    Migration {
        version: 2,
        name: "rest",
        sql: include_str!("migrations/002_rest.sql"),
    },
    Migration {
        version: 3,
        name: "social",
        sql: include_str!("migrations/003_social.sql"),
    },
    Migration {
        version: 4,
        name: "messages",
        sql: include_str!("migrations/004_messages.sql"),
    },
    Migration {
        version: 6,
        name: "limits",
        sql: include_str!("migrations/006_limits.sql"),
    },
    Migration {
        version: 7,
        name: "edit_feed",
        sql: include_str!("migrations/007_edit_feed.sql"),
    },
];

/// The schema version this build writes.
pub const PG_SCHEMA_VERSION: i32 = 7;

/// The advisory lock migrations run under: one number for chatroom's
/// schema in this database ("chatroom" in ASCII, cut to 63 bits).
const MIGRATION_LOCK: i64 = 0x6368_6174_726f_6f6d;

const CREATE_VERSION_TABLE: &str = "CREATE TABLE IF NOT EXISTS schema_version (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
)";

/// Applies every migration the database lacks, or refuses a newer one.
pub(super) async fn apply(client: &mut Object) -> Result<(), StoreError> {
    for m in MIGRATIONS {
        let tx = client.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await?;
        tx.batch_execute(CREATE_VERSION_TABLE).await?;
        let found: Option<i32> = tx
            .query_one("SELECT max(version) FROM schema_version", &[])
            .await?
            .try_get(0)?;
        let found = found.unwrap_or(0);
        if found > PG_SCHEMA_VERSION {
            return Err(newer(found));
        }
        if found < m.version {
            tx.batch_execute(m.sql).await?;
            tx.execute(
                "INSERT INTO schema_version (version, name) VALUES ($1, $2)",
                &[&m.version, &m.name],
            )
            .await?;
        }
        tx.commit().await?;
    }
    Ok(())
}

fn newer(found: i32) -> StoreError {
    StoreError::Postgres(format!(
        "the database was written by a newer chatroom (schema {found}, this build \
         knows {PG_SCHEMA_VERSION}); upgrade chatroom"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::postgres::testing::{column, execute, TestDb};
    use crate::store::postgres::PgStore;

    #[test]
    fn the_last_migration_is_this_builds_version() {
        let last = MIGRATIONS.last().map(|m| m.version);
        assert_eq!(last, Some(PG_SCHEMA_VERSION));
        assert!(MIGRATIONS.windows(2).all(|w| w[0].version < w[1].version));
    }

    /// The versions `schema_version` records.
    fn versions(store: &PgStore) -> Vec<i32> {
        column(store, "SELECT version FROM schema_version ORDER BY version")
    }

    #[test]
    fn migrations_apply_once_and_a_newer_schema_is_refused() {
        let db = TestDb::new();
        let first = db.store();
        let second = db.store();
        let all: Vec<i32> = MIGRATIONS.iter().map(|m| m.version).collect();
        assert_eq!(versions(&first), all);
        assert_eq!(versions(&second), all);
        let newer = PG_SCHEMA_VERSION + 1;
        let sql = format!("INSERT INTO schema_version (version, name) VALUES ({newer}, 'next')");
        execute(&first, sql);
        match db.try_store() {
            Err(StoreError::Postgres(e)) => {
                assert!(
                    e.contains(&format!("newer chatroom (schema {newer}")),
                    "{e}"
                )
            }
            other => panic!("expected a refusal, got {:?}", other.map(|_| ())),
        }
    }

    #[test]
    fn nodes_starting_at_once_apply_the_schema_once() {
        let db = TestDb::new();
        let starts: Vec<_> = (0..4)
            .map(|_| {
                let db = db.clone();
                std::thread::spawn(move || db.try_store().map(|_| ()))
            })
            .collect();
        for s in starts {
            s.join().expect("thread").expect("connect");
        }
        let all: Vec<i32> = MIGRATIONS.iter().map(|m| m.version).collect();
        assert_eq!(versions(&db.store()), all);
    }
}
