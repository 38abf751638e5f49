//! What the orphan sweep (`crate::files::gc`) needs of the blob store:
//! the blobs and temporary files on disk with their size and age, and the
//! removal of a blob under its lock, so that the check "nothing refers to
//! it" and the removal cannot interleave with an upload placing the same
//! bytes and recording them ([`Blobs::keep`] holds that lock from the
//! rename until its record is written).

use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::{Blobs, Sha256, FILES_DIR, TMP_DIR};

/// A file found on disk: a blob, or a temporary file of an upload.
#[derive(Clone, Debug)]
pub struct Found<T> {
    pub what: T,
    pub size: u64,
    pub modified: SystemTime,
}

impl Blobs {
    /// The blobs of a data directory without the tidying of
    /// [`Blobs::open`]: nothing is created or removed, so that a report
    /// (`files gc --dry-run`) changes nothing. Only for a data directory
    /// no server holds: blobs opened twice do not share their locks.
    pub fn at(data_dir: &Path) -> Blobs {
        Blobs::with_root(data_dir.join(FILES_DIR), false)
    }

    /// [`Blobs::at`] or [`Blobs::at_shared`], as `--files-dir` says.
    pub fn at_in(data_dir: &Path, files_dir: Option<&Path>) -> Blobs {
        match files_dir {
            Some(dir) => Blobs::at_shared(dir),
            None => Blobs::at(data_dir),
        }
    }

    /// The blobs of `root`, a directory the nodes of a cluster share
    /// (`--files-dir`), without tidying: nothing is created or removed.
    pub fn at_shared(root: &Path) -> Blobs {
        Blobs::with_root(root.to_path_buf(), true)
    }

    /// Every blob on disk: each file at `<h[0..2]>/<h[2..4]>/<h>` whose
    /// name is a digest in its place. Anything else there is not ours to
    /// judge and is left alone. Blocking.
    pub fn list(&self) -> io::Result<Vec<Found<Sha256>>> {
        let mut out = Vec::new();
        for first in dir_entries(&self.inner.root)? {
            let name = first.file_name();
            let Some(a) = name.to_str().filter(|n| is_shard(n)) else {
                continue;
            };
            for second in dir_entries(&first.path())? {
                let name = second.file_name();
                let Some(b) = name.to_str().filter(|n| is_shard(n)) else {
                    continue;
                };
                for blob in dir_entries(&second.path())? {
                    let name = blob.file_name();
                    let Some(sha) = name.to_str().and_then(Sha256::parse) else {
                        continue;
                    };
                    let hex = sha.to_string();
                    if hex[..2] != *a || hex[2..4] != *b {
                        continue;
                    }
                    if let Some((size, modified)) = file_meta(&blob)? {
                        out.push(Found {
                            what: sha,
                            size,
                            modified,
                        });
                    }
                }
            }
        }
        Ok(out)
    }

    /// Every entry of `files/tmp`: uploads in progress, or left by a
    /// crash. In a shared directory, the files inside each process's own
    /// directory there (and the directories themselves once empty).
    /// Blocking.
    pub fn temp_files(&self) -> io::Result<Vec<Found<PathBuf>>> {
        let mut out = Vec::new();
        for entry in dir_entries(&self.inner.root.join(TMP_DIR))? {
            let Some(found) = temp_entry(&entry)? else {
                continue;
            };
            if self.inner.shared && found.size == 0 && entry.path().is_dir() {
                let before = out.len();
                for inner in dir_entries(&entry.path())? {
                    out.extend(temp_entry(&inner)?);
                }
                // Another process's directory is in use while it holds
                // anything, and this process's own always is.
                if out.len() > before || entry.path() == self.inner.tmp {
                    continue;
                }
            }
            out.push(found);
        }
        Ok(out)
    }

    /// Removes one entry of `files/tmp` (a directory with its contents).
    /// One already gone counts as removed. Blocking.
    pub fn remove_temp(&self, path: &Path) -> io::Result<()> {
        let removed = if path.is_dir() {
            std::fs::remove_dir_all(path)
        } else {
            std::fs::remove_file(path)
        };
        match removed {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Removes the blob `sha` unless `in_use` (asked under the blob's
    /// lock) says a record refers to it; `remove` false only asks. Returns
    /// whether it is (or would be) removed. Its directories go with it
    /// when they are left empty. Blocking.
    pub fn remove_unused<E: From<io::Error>>(
        &self,
        sha: &Sha256,
        remove: bool,
        in_use: impl Fn(&Sha256) -> Result<bool, E>,
    ) -> Result<bool, E> {
        let _serial = self.lock(sha);
        if !remove {
            return Ok(!in_use(sha)?);
        }
        let removed = match self.remove_checked(sha, in_use) {
            Ok(removed) => removed,
            Err(super::Checked::Disk(e)) => return Err(e.into()),
            Err(super::Checked::Asked(e)) => return Err(e),
        };
        // Every blob under these directories shares this lock (it is
        // chosen by the first byte, which names the outer one), so no
        // upload of this process is placing a blob in them now; another
        // process's might, in a shared directory: left there. Not empty:
        // left.
        if !removed || self.inner.shared {
            return Ok(removed);
        }
        let path = self.path(sha);
        let mut dir = path.parent();
        while let Some(d) = dir.filter(|d| *d != self.inner.root) {
            if std::fs::remove_dir(d).is_err() {
                break;
            }
            dir = d.parent();
        }
        Ok(true)
    }
}

/// A `tmp` entry with its size and age; `None` when it went meanwhile.
fn temp_entry(entry: &std::fs::DirEntry) -> io::Result<Option<Found<PathBuf>>> {
    let meta = match entry.metadata() {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    Ok(Some(Found {
        what: entry.path(),
        size: if meta.is_file() { meta.len() } else { 0 },
        modified: meta.modified()?,
    }))
}

/// Two lowercase hex digits: the name of a blob directory.
fn is_shard(name: &str) -> bool {
    name.len() == 2 && name.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The entries of a directory; a directory that does not exist has none.
fn dir_entries(dir: &Path) -> io::Result<Vec<std::fs::DirEntry>> {
    match std::fs::read_dir(dir) {
        Ok(entries) => entries.collect(),
        Err(e)
            if e.kind() == io::ErrorKind::NotFound || e.kind() == io::ErrorKind::NotADirectory =>
        {
            Ok(Vec::new())
        }
        Err(e) => Err(e),
    }
}

/// Size and modification time of a regular file (`None`: not one, or
/// gone meanwhile).
fn file_meta(entry: &std::fs::DirEntry) -> io::Result<Option<(u64, SystemTime)>> {
    match entry.metadata() {
        Ok(m) if m.is_file() => Ok(Some((m.len(), m.modified()?))),
        Ok(_) => Ok(None),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}
