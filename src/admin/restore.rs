//! `chatroom restore` and `chatroom migrate`: a checked backup loaded into
//! a new, empty store, the data directory's or a cluster's PostgreSQL
//! database.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use super::commands::{local_blobs, write_backup, Target, COMMAND_CACHE_BYTES};
use super::local::LocalStore;
use super::{ops, socket};
use crate::cli::{MigrateArgs, RestoreArgs};
use crate::files::Blobs;
use crate::store::{BackupCounts, Store, StoreError};

/// `restore`: into a data directory no server holds and no data is in, or
/// into a PostgreSQL database with no data (`--store`). The file is
/// checked whole before anything is written. A load into the data
/// directory that fails midway removes the database it started; one into
/// PostgreSQL is one transaction. Either way a failed restore leaves the
/// store as it was.
pub fn restore(args: RestoreArgs) -> Result<(), String> {
    let dir = &args.data.data_dir;
    if socket::connect(dir).is_some() {
        return Err(format!(
            "a server is running on {}; stop it, and restore into a new, empty data directory",
            dir.display()
        ));
    }
    let input = &args.input;
    let checked = check(input)?;
    let files_dir = args.files.files_dir.as_deref();
    let counts = match args
        .store
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        Some(url) => {
            let store = LocalStore::postgres(url)?;
            let blobs = restore_blobs(dir, files_dir, &checked)?;
            load(&store, blobs.as_ref(), input)?
        }
        None => restore_embedded(dir, files_dir, input)?,
    };
    report(&counts, &dir.display().to_string());
    Ok(())
}

/// The backup at `path`, checked whole; its counts.
fn check(path: &Path) -> Result<BackupCounts, String> {
    Store::check_backup(&mut open(path)?).map_err(|e| format!("{}: {e}", path.display()))
}

fn open(path: &Path) -> Result<BufReader<File>, String> {
    File::open(path)
        .map(|f| BufReader::with_capacity(256 * 1024, f))
        .map_err(|e| format!("cannot open {}: {e}", path.display()))
}

/// Loads the backup at `path` into `store`.
fn load(store: &Store, blobs: Option<&Blobs>, path: &Path) -> Result<BackupCounts, String> {
    store
        .restore_with(blobs, &mut open(path)?)
        .map_err(|e| format!("restore failed: {e}"))
}

/// Where a restore into PostgreSQL writes the files' bytes: `--files-dir`,
/// else the data directory's own `files/` (made if the backup has files).
fn restore_blobs(
    dir: &Path,
    files_dir: Option<&Path>,
    counts: &BackupCounts,
) -> Result<Option<Blobs>, String> {
    if let Some(files) = files_dir {
        return Ok(Some(Blobs::at_shared(files)));
    }
    if counts.files == 0 {
        return Ok(None);
    }
    crate::config::ensure_data_dir(dir).map_err(|e| e.to_string())?;
    local_blobs(dir).map(Some).map_err(|e| e.0)
}

/// A restore into the data directory `dir`.
fn restore_embedded(
    dir: &Path,
    files_dir: Option<&Path>,
    input: &Path,
) -> Result<BackupCounts, String> {
    crate::config::ensure_data_dir(dir).map_err(|e| e.to_string())?;
    let fresh = !dir.join("db").exists();
    let store = Store::open(dir, COMMAND_CACHE_BYTES)
        .map_err(|e| format!("cannot open the database in {}: {e}", dir.display()))?;
    let blobs = match files_dir {
        Some(files) => Ok(Blobs::at_shared(files)),
        None => local_blobs(dir),
    };
    let result = match blobs {
        Ok(blobs) => store.restore_with(Some(&blobs), &mut open(input)?),
        Err(e) => Err(StoreError::Refused(e.0)),
    };
    drop(store);
    result.map_err(|e| {
        if fresh && !matches!(e, StoreError::Refused(_)) {
            let _ = std::fs::remove_dir_all(dir.join("db"));
            if files_dir.is_none() {
                let _ = std::fs::remove_dir_all(dir.join(crate::files::blobs::FILES_DIR));
            }
        }
        format!("restore failed: {e}")
    })
}

/// What a restore loaded, on standard error.
fn report(counts: &BackupCounts, into: &str) {
    eprintln!(
        "restored {} users, {} rooms, {} memberships and {} messages into {into}",
        counts.users, counts.rooms, counts.members, counts.messages,
    );
    if counts.files > 0 {
        eprintln!(
            "restored {} files ({} blobs, every hash checked)",
            counts.files, counts.blobs
        );
    }
}

/// `migrate`: the data directory `--from` (no server running on it, so
/// that nothing it stores afterwards is left behind) into the cluster's
/// new, empty database `--to`. A backup of the directory is written
/// beside its database, checked whole, loaded in one transaction, and
/// removed. The files' bytes stay in the directory's `files/` unless
/// `--files-dir` names the cluster's, where they are copied (each hash
/// checked).
pub fn migrate(args: MigrateArgs) -> Result<(), String> {
    let from = &args.from;
    if socket::connect(from).is_some() {
        return Err(format!(
            "a server is running on {}; stop it first, so that nothing it stores afterwards \
             is left behind",
            from.display()
        ));
    }
    if !from.join("db").exists() {
        return Err(format!("no chatroom data in {}", from.display()));
    }
    let cluster = LocalStore::postgres(&args.to)?;
    let source = Store::open(from, COMMAND_CACHE_BYTES)
        .map_err(|e| format!("cannot open the database in {}: {e}", from.display()))?;
    let backup = from.join(format!("migrate-{}.backup", std::process::id()));
    let result = migrate_through(source, &cluster, &args, &backup);
    let _ = std::fs::remove_file(&backup);
    let counts = result?;
    report(&counts, "the cluster's database");
    let files = match &args.files_dir {
        Some(dir) => dir.clone(),
        None => from.join(crate::files::blobs::FILES_DIR),
    };
    eprintln!(
        "start the nodes with --store and --files-dir {}",
        files.display()
    );
    Ok(())
}

fn migrate_through(
    source: Store,
    cluster: &LocalStore,
    args: &MigrateArgs,
    backup: &Path,
) -> Result<BackupCounts, String> {
    let from = &args.from;
    let target = Target::Local(LocalStore::embedded(source));
    write_backup(target, backup, |store, out| {
        let blobs = local_blobs(from)?;
        ops::backup(store, &blobs, out)
    })
    .map_err(|e| format!("cannot back up {}: {e}", from.display()))?;
    check(backup)?;
    let blobs = match &args.files_dir {
        Some(dir) => Blobs::at_shared(dir),
        None => Blobs::at(from),
    };
    load(cluster, Some(&blobs), backup)
}
