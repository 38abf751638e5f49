//! sled's [`Maintenance`]: each operation is done by the module that
//! knows its trees (backup, export, files_gc, quarantine).

use std::collections::HashSet;
use std::io::{BufRead, Write};

use super::SledStore;
use crate::files::{Blobs, Sha256};
use crate::model::{FileId, RoomId, Timestamp};
use crate::store::{
    BackupCounts, ExportLine, FileAudit, IndexFix, Maintenance, StoreError, UsageFix,
};

impl Maintenance for SledStore {
    fn flush(&self) -> Result<(), StoreError> {
        SledStore::flush(self)
    }

    fn write_failure(&self) -> Option<String> {
        SledStore::write_failure(self)
    }

    fn writable_again(&self) -> bool {
        self.disk_writable()
    }

    fn backup_with(
        &self,
        blobs: Option<&Blobs>,
        out: &mut dyn Write,
    ) -> Result<BackupCounts, StoreError> {
        SledStore::backup_with(self, blobs, out)
    }

    fn restore_with(
        &self,
        blobs: Option<&Blobs>,
        input: &mut dyn BufRead,
    ) -> Result<BackupCounts, StoreError> {
        SledStore::restore_with(self, blobs, input)
    }

    fn export_lines(
        &self,
        room: Option<RoomId>,
        since: Option<Timestamp>,
        each: &mut dyn FnMut(&ExportLine<'_>) -> Result<(), StoreError>,
    ) -> Result<u64, StoreError> {
        SledStore::export(self, room, since, each)
    }

    fn audit_files(&self) -> Result<FileAudit, StoreError> {
        SledStore::audit_files(self)
    }

    fn fix_file_index(&self, fix: IndexFix, apply: bool) -> Result<bool, StoreError> {
        SledStore::fix_file_index(self, fix, apply)
    }

    fn fix_file_usage(&self, fix: UsageFix) -> Result<(), StoreError> {
        SledStore::fix_file_usage(self, fix)
    }

    fn blob_in_use(
        &self,
        sha: &Sha256,
        used: &HashSet<Sha256>,
        gone: &HashSet<FileId>,
    ) -> Result<bool, StoreError> {
        SledStore::blob_in_use(self, sha, used, gone)
    }
}
