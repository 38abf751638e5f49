//! The store's side of `files gc` on PostgreSQL.
//!
//! What differs from sled, and why:
//! - There are no index trees to disagree with the records: the files of a
//!   room or of a blob are found through SQL indexes on the `files` table,
//!   which PostgreSQL keeps in step with the rows. The audit therefore
//!   never reports an [`IndexFix`], and [`PgStore::fix_index`] has nothing
//!   to repair.
//! - The records and the usage counters are read in one snapshot, so a
//!   counter is compared with the sum of exactly the records it counted:
//!   no user is ever `unsettled`. The repair still adds the difference to
//!   the counter as it is then (one atomic statement), so uploads and
//!   deletions since the audit keep counting.
//! - [`PgStore::blob_in_use`] asks the `files` table itself (one indexed
//!   statement) rather than an index of blobs.

use std::collections::{HashMap, HashSet};

use super::backup::{each_row, file_of, SNAPSHOT};
use super::{db_id, id_of, PgStore};
use crate::files::Sha256;
use crate::model::{FileId, UserId};
use crate::store::{FileAudit, IndexFix, StoreError, UsageFix};

impl PgStore {
    pub(super) fn audit(&self) -> Result<FileAudit, StoreError> {
        let s = self.session(SNAPSHOT)?;
        let mut audit = FileAudit::default();
        let mut totals: HashMap<UserId, u64> = HashMap::new();
        each_row(
            &s,
            "SELECT f.id, f.room_id, f.uploader_id, f.name, f.size, f.content_type,
                 f.sha256, f.width, f.height, f.thumb_sha256, f.created_at, f.message_id,
                 EXISTS (SELECT 1 FROM rooms r WHERE r.id = f.room_id) AS room_exists
             FROM files f WHERE $1::BIGINT IS NULL OR f.id > $1 ORDER BY f.id LIMIT $2",
            |row| row.try_get("id"),
            |row| {
                let rec = file_of(row)?;
                let total = totals.entry(rec.uploader_id).or_default();
                *total = total.saturating_add(rec.size);
                if row.try_get("room_exists")? {
                    audit.used.insert(rec.sha256);
                    audit.used.extend(rec.thumb_sha256);
                    audit.kept.push((rec.id, rec.sha256, rec.thumb_sha256));
                } else {
                    audit.orphans.push(rec);
                }
                Ok(())
            },
        )?;
        let mut counted: HashMap<UserId, u64> = HashMap::new();
        each_row(
            &s,
            "SELECT user_id, bytes FROM file_usage
             WHERE $1::BIGINT IS NULL OR user_id > $1 ORDER BY user_id LIMIT $2",
            |row| row.try_get("user_id"),
            |row| {
                let bytes: i64 = row.try_get("bytes")?;
                let user = UserId(id_of(row.try_get("user_id")?));
                counted.insert(user, u64::try_from(bytes).unwrap_or(0));
                Ok(())
            },
        )?;
        let users: HashSet<UserId> = counted.keys().chain(totals.keys()).copied().collect();
        for user in users {
            let counted = counted.get(&user).copied().unwrap_or(0);
            let records = totals.get(&user).copied().unwrap_or(0);
            if counted != records {
                audit.usage.push(UsageFix {
                    user,
                    counted,
                    records,
                });
            }
        }
        Ok(audit)
    }

    /// No index to repair (see the module doc): never does anything.
    pub(super) fn fix_index(&self, _fix: IndexFix, _apply: bool) -> Result<bool, StoreError> {
        Ok(false)
    }

    /// Adds the difference the audit found to the counter as it is now,
    /// in one statement, so that a concurrent upload's addition on any
    /// node is neither lost nor counted twice. The counter stays within
    /// 0 and `i64::MAX`.
    pub(super) fn fix_usage(&self, fix: UsageFix) -> Result<(), StoreError> {
        let delta = i128::from(fix.records) - i128::from(fix.counted);
        let delta = i64::try_from(delta).unwrap_or(if delta < 0 { i64::MIN } else { i64::MAX });
        let user = db_id(fix.user.0);
        self.run(move |client| async move {
            client
                .execute(
                    "INSERT INTO file_usage AS u (user_id, bytes) VALUES ($1, GREATEST($2::BIGINT, 0))
                     ON CONFLICT (user_id) DO UPDATE SET bytes =
                         LEAST(GREATEST(u.bytes::NUMERIC + ($2::BIGINT)::NUMERIC, 0),
                               9223372036854775807)::BIGINT",
                    &[&user, &delta],
                )
                .await?;
            Ok(())
        })
    }

    /// Whether `used` holds `sha`, or a record not in `gone` names it (as
    /// its blob or its thumbnail's): one statement on the indexes of both.
    pub(super) fn blob_used(
        &self,
        sha: &Sha256,
        used: &HashSet<Sha256>,
        gone: &HashSet<FileId>,
    ) -> Result<bool, StoreError> {
        if used.contains(sha) {
            return Ok(true);
        }
        let sha = sha.0.to_vec();
        let gone: Vec<i64> = gone.iter().map(|f| db_id(f.0)).collect();
        self.run(move |client| async move {
            let row = client
                .query_one(
                    "SELECT EXISTS (
                         SELECT 1 FROM files
                         WHERE (sha256 = $1 OR thumb_sha256 = $1) AND NOT (id = ANY($2)))",
                    &[&sha, &gone],
                )
                .await?;
            Ok(row.try_get(0)?)
        })
    }
}
