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
        Ok(Blobs::with_root(root))
    }

    fn with_root(root: PathBuf) -> Blobs {
        Blobs {
            inner: Arc::new(Inner {
                root,
                locks: std::array::from_fn(|_| Mutex::new(())),
            }),
        }
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
        let created = if dest.exists() {
            false
        } else {
            place(&done.tmp, &dest, &self.inner.root)?;
            true
        };
        Ok(record().inspect_err(|_| {
            if created {
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
            match referenced(sha) {
                Ok(true) => {}
                Ok(false) => match std::fs::remove_file(self.path(sha)) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => tracing::warn!(blob = %sha, error = %e, "cannot remove a blob"),
                },
                Err(e) => {
                    tracing::warn!(blob = %sha, error = %e, "cannot tell whether a blob is used")
                }
            }
        }
    }
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
