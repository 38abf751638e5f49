//! PostgreSQL's [`Maintenance`]: each operation is done by the module that
//! knows its tables (backup, restore, export, audit), the long ones on a
//! [`Session`](super::session::Session) of their own.
//!
//! Failure is not the embedded store's: PostgreSQL being unreachable, or
//! refusing a write, is an error of that one call, and the next call tries
//! again on a fresh connection. Nothing in this process is left broken by
//! it, so there is never a failed store that a restart would mend:
//! [`Maintenance::write_failure`] is always `None`.

use std::collections::HashSet;
use std::io::{BufRead, Write};

use super::PgStore;
use crate::files::{Blobs, Sha256};
use crate::model::{FileId, RoomId, Timestamp};
use crate::store::{
    BackupCounts, ExportLine, FileAudit, IndexFix, Maintenance, StoreError, UsageFix,
};

impl Maintenance for PgStore {
    /// Nothing to do: every write here has committed, durably, before its
    /// call returned. Kept so that the message writer's "write batches,
    /// then flush once, then acknowledge" reads the same on either store.
    fn flush(&self) -> Result<(), StoreError> {
        Ok(())
    }

    /// Never failed (see the module doc).
    fn write_failure(&self) -> Option<String> {
        None
    }

    fn writable_again(&self) -> bool {
        true
    }

    fn backup_with(
        &self,
        blobs: Option<&Blobs>,
        out: &mut dyn Write,
    ) -> Result<BackupCounts, StoreError> {
        self.backup_to(blobs, out)
    }

    fn restore_with(
        &self,
        blobs: Option<&Blobs>,
        input: &mut dyn BufRead,
    ) -> Result<BackupCounts, StoreError> {
        self.restore_from(blobs, input)
    }

    fn export_lines(
        &self,
        room: Option<RoomId>,
        since: Option<Timestamp>,
        each: &mut dyn FnMut(&ExportLine<'_>) -> Result<(), StoreError>,
    ) -> Result<u64, StoreError> {
        self.export_from(room, since, each)
    }

    fn audit_files(&self) -> Result<FileAudit, StoreError> {
        self.audit()
    }

    fn fix_file_index(&self, fix: IndexFix, apply: bool) -> Result<bool, StoreError> {
        self.fix_index(fix, apply)
    }

    fn fix_file_usage(&self, fix: UsageFix) -> Result<(), StoreError> {
        self.fix_usage(fix)
    }

    fn blob_in_use(
        &self,
        sha: &Sha256,
        used: &HashSet<Sha256>,
        gone: &HashSet<FileId>,
    ) -> Result<bool, StoreError> {
        self.blob_used(sha, used, gone)
    }
}

#[cfg(test)]
#[path = "maintenance_tests.rs"]
mod tests;
