//! `chatroom files gc`: finds, reports and (unless asked only to report)
//! removes what uploaded files leave behind, and repairs the indexes of
//! their records:
//!
//! 1. indexes (`file_blobs`, `room_files`) and usage counters that
//!    disagree with the records are repaired (`store/files_gc.rs`);
//! 2. records whose room no longer exists (an upload that raced the
//!    room's deletion) are removed;
//! 3. blobs no remaining record refers to, as its file or its thumbnail,
//!    are removed;
//! 4. leftovers in `files/tmp` are removed.
//!
//! An upload renames its blob into place and writes its record while
//! holding the blob's lock ([`Blobs::keep`]), and the check "nothing
//! refers to it" runs under the same lock ([`Blobs::remove_unused`]):
//! a blob whose record is about to be written cannot be taken. On top of
//! that, blobs and temporary files modified less than [`GRACE`] ago are
//! left alone, so an upload still writing its temporary file, or a blob
//! placed by any other way, is never touched while it may be in use.
//!
//! Records not yet attached to a message are not orphans here: their
//! sweep is the uploads' own, after a day.

use std::collections::HashSet;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use super::{Blobs, Sha256};
use crate::model::FileId;
use crate::store::{Store, StoreError};

/// Blobs and temporary files younger than this are never removed: far
/// longer than an upload may take (its body must arrive within the body
/// timeout), so one in flight is never mistaken for a leftover.
pub const GRACE: Duration = Duration::from_secs(3600);

/// A gc's failure, for the operator.
#[derive(Debug, thiserror::Error)]
pub enum GcError {
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("in the files directory: {0}")]
    Disk(#[from] std::io::Error),
}

/// How many, and how many bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    pub count: u64,
    pub bytes: u64,
}

impl Tally {
    fn add(&mut self, bytes: u64) {
        self.count += 1;
        self.bytes = self.bytes.saturating_add(bytes);
    }
}

/// What a gc removed (or, for a dry run, would remove). Crosses the admin
/// socket as JSON.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GcReport {
    pub dry_run: bool,
    pub blobs: Tally,
    pub records: Tally,
    pub temp_files: Tally,
    pub index_entries: u64,
    pub usage_counters: u64,
    /// Blobs and temporary files left alone for being younger than [`GRACE`].
    pub recent: u64,
    /// Records whose bytes (or thumbnail) are not on disk: nothing gc can
    /// bring back.
    pub missing: u64,
    /// Usage counters that changed while counted, left for another run.
    pub unsettled: u64,
}

/// Runs a gc over a store and its blobs; `dry_run` only reports.
/// Blocking: run it off the async threads.
pub fn run(store: &Store, blobs: &Blobs, dry_run: bool) -> Result<GcReport, GcError> {
    run_with(store, blobs, dry_run, GRACE)
}

/// [`run`] with another grace period (the tests use none).
pub fn run_with(
    store: &Store,
    blobs: &Blobs,
    dry_run: bool,
    grace: Duration,
) -> Result<GcReport, GcError> {
    let apply = !dry_run;
    let mut report = GcReport {
        dry_run,
        ..GcReport::default()
    };
    let audit = store.audit_files()?;
    report.unsettled = audit.unsettled;
    for fix in &audit.index {
        if store.fix_file_index(*fix, apply)? {
            report.index_entries += 1;
        }
    }
    for fix in &audit.usage {
        if apply {
            store.fix_file_usage(*fix)?;
        }
        report.usage_counters += 1;
    }
    let gone: HashSet<FileId> = audit.orphans.iter().map(|r| r.id).collect();
    for rec in &audit.orphans {
        report.records.add(rec.size);
    }
    if apply {
        let ids: Vec<FileId> = gone.iter().copied().collect();
        // The blobs they free are removed below, with the others.
        store.change(|s| s.delete_files(&ids))?;
    }
    // Blobs the removed records used are certainly not in flight: no
    // grace for them (the check under the lock still holds).
    let freed: HashSet<Sha256> = audit
        .orphans
        .iter()
        .flat_map(|r| std::iter::once(r.sha256).chain(r.thumb_sha256))
        .filter(|sha| !audit.used.contains(sha))
        .collect();
    let young = |t: SystemTime| t.elapsed().map_or(true, |age| age < grace);
    for blob in blobs.list()? {
        if audit.used.contains(&blob.what) {
            continue;
        }
        if young(blob.modified) && !freed.contains(&blob.what) {
            report.recent += 1;
            continue;
        }
        let removed = blobs.remove_unused(&blob.what, apply, |sha| {
            Ok::<_, GcError>(store.blob_in_use(sha, &audit.used, &gone)?)
        })?;
        if removed {
            report.blobs.add(blob.size);
        }
    }
    for tmp in blobs.temp_files()? {
        if young(tmp.modified) {
            report.recent += 1;
            continue;
        }
        if apply {
            blobs.remove_temp(&tmp.what)?;
        }
        report.temp_files.add(tmp.size);
    }
    for (_, sha, thumb) in &audit.kept {
        let lost = std::iter::once(sha)
            .chain(thumb)
            .any(|s| !blobs.path(s).exists());
        if lost {
            report.missing += 1;
        }
    }
    if apply {
        store.flush()?;
    }
    Ok(report)
}

impl GcReport {
    /// The report for the operator, one line per kind.
    pub fn lines(&self) -> Vec<String> {
        let (remove, fix) = if self.dry_run {
            ("would remove", "would fix")
        } else {
            ("removed", "fixed")
        };
        let removed = |t: Tally, one: &str, many: &str| {
            format!(
                "{remove} {} ({})",
                plural(t.count, one, many),
                human_bytes(t.bytes)
            )
        };
        let mut out = vec![
            removed(self.blobs, "unreferenced blob", "unreferenced blobs"),
            removed(
                self.records,
                "record of a deleted room",
                "records of deleted rooms",
            ),
            removed(self.temp_files, "temporary file", "temporary files"),
            format!(
                "{fix} {} and {}",
                plural(self.index_entries, "index entry", "index entries"),
                plural(self.usage_counters, "usage counter", "usage counters")
            ),
        ];
        if self.recent > 0 {
            out.push(format!(
                "kept {} younger than {} minutes (an upload may be using them)",
                plural(self.recent, "file", "files"),
                GRACE.as_secs() / 60
            ));
        }
        if self.missing > 0 {
            out.push(format!(
                "found {} whose bytes are missing from the files directory (restore them from a backup)",
                plural(self.missing, "record", "records")
            ));
        }
        if self.unsettled > 0 {
            out.push(format!(
                "left {} that changed while counted; run gc again",
                plural(self.unsettled, "usage counter", "usage counters")
            ));
        }
        out
    }
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Bytes for a person: `512 B`, `1.2 MiB`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests;
