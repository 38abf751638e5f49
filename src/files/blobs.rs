//! The bytes of uploaded files, content-addressed under
//! `<data-dir>/files/`: a blob is `files/<h[0..2]>/<h[2..4]>/<h>`, `h` the
//! lowercase hex SHA-256 of its bytes, so identical files are stored once
//! and a blob's name proves its content.
//!
//! An upload is streamed into `files/tmp/<random>` and hashed on the way
//! ([`Upload`]), synced, then renamed to its blob path (or dropped when
//! that path exists: the same bytes are there already) and the directory
//! synced ([`Blobs::keep`]). A crash at any point leaves either no blob or
//! a whole one; what is left in `tmp` is removed at the next start. The
//! store never holds file bytes, only records naming blobs.
//!
//! Putting a blob in place and removing one run under a lock of that blob,
//! with the store change that refers to it (or the check that nothing
//! does): a removal can never take the bytes a new record just came to
//! share.
//!
//! # A directory shared by the nodes of a cluster
//!
//! With `--files-dir`, the blobs live in a directory the nodes of a
//! cluster share (a network filesystem), and the lock above is only this
//! process's. Across processes, two rules keep the same promise without a
//! lock: a removal moves the blob aside, asks again whether anything
//! refers to it, and puts it back if something now does; an upload whose
//! bytes were already in place checks, once its record is stored, that
//! they still are, and places its own copy if they are not. Whichever
//! order the two processes' steps take, a record never ends up naming a
//! blob that is gone (a reader may miss the blob for the instant it is
//! aside). Each process writes its uploads in its own directory under
//! `tmp`, so a node starting never removes another's upload in progress.
//!
//! Here: the handle, placing and removing. Beside it: a blob's name
//! ([`Sha256`]), uploads streamed from a request ([`Upload`]) and blobs
//! written from a blocking thread ([`BlobWriter`]).

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

mod sha256;
mod sweep;
mod upload;
mod writer;

pub use sha256::Sha256;
pub use sweep::Found;
pub use upload::{Finished, Upload};
pub use writer::BlobWriter;

/// Directory of the blobs, inside the data directory.
pub const FILES_DIR: &str = "files";

/// Directory of uploads in progress, inside [`FILES_DIR`].
const TMP_DIR: &str = "tmp";

/// Bytes of a file's beginning kept for judging its type.
pub const HEAD_BYTES: usize = 8 * 1024;

/// Locks serialising the placing and removal of blobs; blobs sharing a
/// stripe merely wait for each other briefly.
const STRIPES: usize = 64;

/// The blob store: a cheap, cloneable handle.
#[derive(Clone)]
pub struct Blobs {
    inner: Arc<Inner>,
}

struct Inner {
    root: PathBuf,
    /// Where this process's uploads are written before they are placed:
    /// `tmp` of the root, or in a shared directory `tmp/<a name of this
    /// process's own>`.
    tmp: PathBuf,
    /// Whether other processes place and remove blobs here too.
    shared: bool,
    locks: [Mutex<()>; STRIPES],
}

impl Blobs {
    /// Opens the blobs of `data_dir`, creating their directories, and
    /// removes what interrupted uploads left in `tmp`. Blocking: called
    /// once at start.
    pub fn open(data_dir: &Path) -> io::Result<Blobs> {
        let root = data_dir.join(FILES_DIR);
        let tmp = root.join(TMP_DIR);
        std::fs::create_dir_all(&tmp)?;
        let mut left = 0usize;
        for entry in std::fs::read_dir(&tmp)? {
            let entry = entry?;
            let removed = if entry.file_type()?.is_dir() {
                std::fs::remove_dir_all(entry.path())
            } else {
                std::fs::remove_file(entry.path())
            };
            removed?;
            left += 1;
        }
        if left > 0 {
            tracing::info!(files = left, "removed unfinished uploads");
        }
        Ok(Blobs::with_root(root, false))
    }

    /// Opens the blobs of `root`, a directory other processes (the nodes
    /// of a cluster) use too: this process's uploads go to a directory of
    /// its own under `tmp`, made here. What other processes left in `tmp`
    /// is theirs, in progress or not: `files gc` removes it once old.
    /// Empty directories of processes long gone are removed. Blocking:
    /// called once at start.
    pub fn open_shared(root: &Path) -> io::Result<Blobs> {
        let tmp_root = root.join(TMP_DIR);
        std::fs::create_dir_all(&tmp_root)?;
        for entry in std::fs::read_dir(&tmp_root)? {
            let entry = entry?;
            let stale = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > STALE_TMP);
            if stale && entry.file_type()?.is_dir() {
                // Fails, and so keeps it, when anything is inside.
                let _ = std::fs::remove_dir(entry.path());
            }
        }
        let mut blobs = Blobs::with_root(root.to_path_buf(), true);
        let own = tmp_root.join(format!("node-{}", random_hex()?));
        std::fs::create_dir(&own)?;
        if let Some(inner) = Arc::get_mut(&mut blobs.inner) {
            inner.tmp = own;
        }
        Ok(blobs)
    }

    /// The blobs a server uses: those of `files_dir` (`--files-dir`,
    /// shared) when given, else the data directory's own.
    pub fn open_in(data_dir: &Path, files_dir: Option<&Path>) -> io::Result<Blobs> {
        match files_dir {
            Some(dir) => Blobs::open_shared(dir),
            None => Blobs::open(data_dir),
        }
    }

    fn with_root(root: PathBuf, shared: bool) -> Blobs {
        Blobs {
            inner: Arc::new(Inner {
                tmp: root.join(TMP_DIR),
                root,
                shared,
                locks: std::array::from_fn(|_| Mutex::new(())),
            }),
        }
    }

    /// A new file for an upload in this process's temporary directory,
    /// made again if `files gc` removed it meanwhile.
    fn new_temp(&self) -> io::Result<(PathBuf, std::fs::File)> {
        let path = self.inner.tmp.join(random_hex()?);
        let create = || {
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
        };
        let file = match create() {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                std::fs::create_dir_all(&self.inner.tmp)?;
                create()?
            }
            other => other?,
        };
        Ok((path, file))
    }

    /// Where the blob `sha` is (or would be) on disk.
    pub fn path(&self, sha: &Sha256) -> PathBuf {
        let hex = sha.to_string();
        self.inner.root.join(&hex[..2]).join(&hex[2..4]).join(hex)
    }

    /// The lock of the blob `sha`.
    fn lock(&self, sha: &Sha256) -> MutexGuard<'_, ()> {
        let stripe = usize::from(sha.0[0]) % STRIPES;
        self.inner.locks[stripe]
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Puts a finished upload at its blob path (unless the same bytes are
    /// there already), then runs `record`, the durable store change that
    /// refers to the blob, while no removal of the blob can run. When
    /// `record` fails, a blob this call created is removed again; the
    /// outer error is the disk's, the inner one `record`'s.
    /// Blocking: run it off the async threads.
    pub fn keep<T, E>(
        &self,
        done: Finished,
        record: impl FnOnce() -> Result<T, E>,
    ) -> io::Result<Result<T, E>> {
        let _serial = self.lock(&done.sha256);
        let dest = self.path(&done.sha256);
        if dest.exists() {
            let recorded = record();
            // Another process may have moved the bytes aside before the
            // record was stored (see the module doc): put this copy there.
            if self.inner.shared && recorded.is_ok() && !dest.exists() {
                place(&done.tmp, &dest, &self.inner.root)?;
            }
            return Ok(recorded);
        }
        place(&done.tmp, &dest, &self.inner.root)?;
        Ok(record().inspect_err(|_| {
            // In a shared directory another process may have come to use
            // the bytes meanwhile: `files gc` removes them if not.
            if !self.inner.shared {
                if let Err(e) = std::fs::remove_file(&dest) {
                    tracing::warn!(path = %dest.display(), error = %e, "cannot remove a blob");
                }
            }
        }))
    }

    /// Removes each of `candidates` that `referenced` (asked under the
    /// blob's lock) says nothing refers to any more. Call it once the
    /// store change that dropped the references is on disk. Failures are
    /// logged: a blob left behind wastes space, nothing more.
    /// Blocking: run it off the async threads.
    pub fn remove_unreferenced<E: fmt::Display>(
        &self,
        candidates: &[Sha256],
        referenced: impl Fn(&Sha256) -> Result<bool, E>,
    ) {
        for sha in candidates {
            let _serial = self.lock(sha);
            match self.remove_checked(sha, &referenced) {
                Ok(_) => {}
                Err(Checked::Disk(e)) => {
                    tracing::warn!(blob = %sha, error = %e, "cannot remove a blob")
                }
                Err(Checked::Asked(e)) => {
                    tracing::warn!(blob = %sha, error = %e, "cannot tell whether a blob is used")
                }
            }
        }
    }

    /// Removes the blob `sha` unless `in_use` says a record refers to it;
    /// whether it was removed (or was gone). In a shared directory the
    /// blob is first moved aside and `in_use` asked again, to put it back
    /// if a record came to use it meanwhile (see the module doc). Call it
    /// holding the blob's lock.
    fn remove_checked<E>(
        &self,
        sha: &Sha256,
        in_use: impl Fn(&Sha256) -> Result<bool, E>,
    ) -> Result<bool, Checked<E>> {
        if in_use(sha).map_err(Checked::Asked)? {
            return Ok(false);
        }
        let path = self.path(sha);
        if !self.inner.shared {
            return match std::fs::remove_file(&path) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => Err(Checked::Disk(e)),
                _ => Ok(true),
            };
        }
        let aside = self.inner.tmp.join(format!("removing-{sha}"));
        match std::fs::rename(&path, &aside) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(true),
            Err(e) => return Err(Checked::Disk(e)),
            Ok(()) => {}
        }
        let again = in_use(sha);
        if matches!(again, Ok(false)) {
            std::fs::remove_file(&aside).map_err(Checked::Disk)?;
            return Ok(true);
        }
        // Used after all, or not known: back in place (a copy another
        // process placed meanwhile holds the same bytes).
        std::fs::rename(&aside, &path).map_err(Checked::Disk)?;
        again.map(|_| false).map_err(Checked::Asked)
    }
}

/// Why [`Blobs::remove_checked`] failed.
enum Checked<E> {
    Disk(io::Error),
    Asked(E),
}

/// How long an empty upload directory of another process stays in a
/// shared `tmp`: a process that made it so long ago has surely stopped.
const STALE_TMP: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// 32 random hex digits: a name nobody else picks.
fn random_hex() -> io::Result<String> {
    let mut name = [0u8; 16];
    getrandom::getrandom(&mut name).map_err(io::Error::other)?;
    Ok(name.iter().map(|b| format!("{b:02x}")).collect())
}

/// Renames `tmp` to `dest`, creating its directories, and syncs every
/// directory whose entries changed, so the blob survives a crash.
fn place(tmp: &Path, dest: &Path, root: &Path) -> io::Result<()> {
    let parent = dest.parent().unwrap_or(root);
    let mut synced = vec![parent.to_path_buf()];
    let mut dir = parent;
    while !dir.exists() && dir != root {
        dir = dir.parent().unwrap_or(root);
        synced.push(dir.to_path_buf());
    }
    std::fs::create_dir_all(parent)?;
    std::fs::rename(tmp, dest)?;
    for d in synced {
        std::fs::File::open(d)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
#[path = "blobs/shared_tests.rs"]
mod shared_tests;

#[cfg(test)]
mod tests {
    use super::*;

    async fn upload(blobs: &Blobs, bytes: &[u8]) -> Finished {
        let mut up = blobs.upload().await.expect("upload");
        for piece in bytes.chunks(100_000) {
            up.write(piece).await.expect("write");
        }
        up.finish().await.expect("finish")
    }

    fn tmp_entries(dir: &Path) -> usize {
        std::fs::read_dir(dir.join(FILES_DIR).join(TMP_DIR))
            .expect("tmp")
            .count()
    }

    #[tokio::test]
    async fn identical_bytes_are_stored_once_under_their_hash() {
        let dir = tempfile::tempdir().expect("tempdir");
        let blobs = Blobs::open(dir.path()).expect("open");
        let bytes: Vec<u8> = (0..700_000u32).map(|i| (i % 251) as u8).collect();
        let a = upload(&blobs, &bytes).await;
        assert_eq!(a.sha256, Sha256::of(&bytes));
        assert_eq!(a.size, bytes.len() as u64);
        assert_eq!(a.head, &bytes[..HEAD_BYTES]);
        let sha = a.sha256;
        blobs
            .keep(a, || Ok::<_, ()>(()))
            .expect("keep")
            .expect("record");
        let b = upload(&blobs, &bytes).await;
        blobs
            .keep(b, || Ok::<_, ()>(()))
            .expect("keep")
            .expect("record");
        let path = blobs.path(&sha);
        assert!(path.starts_with(dir.path().join("files")));
        assert_eq!(std::fs::read(&path).expect("blob"), bytes);
        assert_eq!(tmp_entries(dir.path()), 0, "no temporary file left");
        blobs.remove_unreferenced(&[sha], |_| Ok::<_, io::Error>(true));
        assert!(path.exists(), "a referenced blob stays");
        blobs.remove_unreferenced(&[sha], |_| Ok::<_, io::Error>(false));
        assert!(!path.exists(), "an unreferenced blob goes");
    }

    #[tokio::test]
    async fn a_failed_record_or_an_abandoned_upload_leaves_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let blobs = Blobs::open(dir.path()).expect("open");
        let done = upload(&blobs, b"hello").await;
        let sha = done.sha256;
        let r = blobs.keep(done, || Err::<(), _>("quota")).expect("keep");
        assert_eq!(r, Err("quota"));
        assert!(!blobs.path(&sha).exists());
        let mut up = blobs.upload().await.expect("upload");
        up.write(b"partial").await.expect("write");
        assert_eq!(tmp_entries(dir.path()), 1);
        drop(up);
        assert_eq!(tmp_entries(dir.path()), 0);
    }

    #[tokio::test]
    async fn leftovers_of_a_crash_are_removed_at_open() {
        let dir = tempfile::tempdir().expect("tempdir");
        drop(Blobs::open(dir.path()).expect("open"));
        std::fs::write(dir.path().join("files/tmp/left"), b"x").expect("write");
        Blobs::open(dir.path()).expect("reopen");
        assert_eq!(tmp_entries(dir.path()), 0);
    }
}
