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

use std::fmt;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use sha2::Digest;

mod writer;
pub use writer::BlobWriter;

/// Directory of the blobs, inside the data directory.
pub const FILES_DIR: &str = "files";

/// Directory of uploads in progress, inside [`FILES_DIR`].
const TMP_DIR: &str = "tmp";

/// Bytes gathered before they are hashed and written (on the blocking
/// pool): large enough that the hop costs little, small enough that an
/// upload's memory does not depend on its size.
const WRITE_CHUNK: usize = 256 * 1024;

/// Bytes of a file's beginning kept for judging its type.
pub const HEAD_BYTES: usize = 8 * 1024;

/// Locks serialising the placing and removal of blobs; blobs sharing a
/// stripe merely wait for each other briefly.
const STRIPES: usize = 64;

/// A SHA-256 digest: the name of a blob, written as 64 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sha256(pub [u8; 32]);

impl Sha256 {
    /// Parses 64 lowercase hex digits.
    pub fn parse(hex: &str) -> Option<Sha256> {
        if hex.len() != 64 || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
        }
        Some(Sha256(out))
    }

    /// The digest of `bytes`, for tests and small data.
    pub fn of(bytes: &[u8]) -> Sha256 {
        Sha256(sha2::Sha256::digest(bytes).into())
    }
}

impl fmt::Display for Sha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for Sha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sha256({self})")
    }
}

impl serde::Serialize for Sha256 {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Sha256 {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Sha256::parse(&s).ok_or_else(|| serde::de::Error::custom("not a SHA-256 in hex"))
    }
}

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
        Ok(Blobs {
            inner: Arc::new(Inner {
                root,
                locks: std::array::from_fn(|_| Mutex::new(())),
            }),
        })
    }

    /// Where the blob `sha` is (or would be) on disk.
    pub fn path(&self, sha: &Sha256) -> PathBuf {
        let hex = sha.to_string();
        self.inner.root.join(&hex[..2]).join(&hex[2..4]).join(hex)
    }

    /// Opens the blob `sha` for reading.
    pub async fn open_read(&self, sha: &Sha256) -> io::Result<tokio::fs::File> {
        tokio::fs::File::open(self.path(sha)).await
    }

    /// Starts an upload into a new temporary file.
    pub async fn upload(&self) -> io::Result<Upload> {
        let mut name = [0u8; 16];
        getrandom::getrandom(&mut name).map_err(io::Error::other)?;
        let name: String = name.iter().map(|b| format!("{b:02x}")).collect();
        let path = self.inner.root.join(TMP_DIR).join(name);
        let file = {
            let path = path.clone();
            blocking(move || {
                std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(path)
            })
            .await?
        };
        Ok(Upload {
            file: Some(file),
            tmp: Some(path),
            hasher: sha2::Sha256::new(),
            size: 0,
            head: Vec::new(),
            pending: Vec::new(),
        })
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

/// Runs blocking file work on the blocking pool.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| io::Error::other(format!("file task: {e}")))?
}

/// An upload in progress: bytes are hashed and written as they come, a
/// bounded amount at a time. Dropped before [`Upload::finish`], its
/// temporary file is removed.
pub struct Upload {
    file: Option<std::fs::File>,
    tmp: Option<PathBuf>,
    hasher: sha2::Sha256,
    size: u64,
    head: Vec<u8>,
    pending: Vec<u8>,
}

impl Upload {
    /// Bytes received so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Takes the next bytes of the file.
    pub async fn write(&mut self, data: &[u8]) -> io::Result<()> {
        let room = HEAD_BYTES.saturating_sub(self.head.len()).min(data.len());
        self.head.extend_from_slice(&data[..room]);
        self.size += data.len() as u64;
        self.pending.extend_from_slice(data);
        if self.pending.len() >= WRITE_CHUNK {
            self.write_pending().await?;
        }
        Ok(())
    }

    /// Hashes and writes what is pending, on the blocking pool.
    async fn write_pending(&mut self) -> io::Result<()> {
        let mut file = self
            .file
            .take()
            .ok_or_else(|| io::Error::other("upload closed"))?;
        let mut hasher = std::mem::take(&mut self.hasher);
        let data = std::mem::take(&mut self.pending);
        let (file, hasher, mut data) = blocking(move || {
            hasher.update(&data);
            file.write_all(&data)?;
            Ok((file, hasher, data))
        })
        .await?;
        data.clear();
        self.pending = data;
        self.file = Some(file);
        self.hasher = hasher;
        Ok(())
    }

    /// Writes the rest, syncs the file and closes it: the upload is
    /// complete, ready for [`Blobs::keep`].
    pub async fn finish(mut self) -> io::Result<Finished> {
        self.write_pending().await?;
        let file = self
            .file
            .take()
            .ok_or_else(|| io::Error::other("upload closed"))?;
        blocking(move || file.sync_all()).await?;
        let tmp = self
            .tmp
            .take()
            .ok_or_else(|| io::Error::other("upload closed"))?;
        Ok(Finished {
            sha256: Sha256(std::mem::take(&mut self.hasher).finalize().into()),
            size: self.size,
            head: std::mem::take(&mut self.head),
            tmp,
        })
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        if let Some(tmp) = self.tmp.take() {
            let _ = std::fs::remove_file(tmp);
        }
    }
}

/// A complete upload not yet in place. Dropped without
/// [`Blobs::keep`], its temporary file is removed.
pub struct Finished {
    pub sha256: Sha256,
    pub size: u64,
    /// The file's first bytes (up to [`HEAD_BYTES`]), for its type.
    pub head: Vec<u8>,
    tmp: PathBuf,
}

impl Drop for Finished {
    fn drop(&mut self) {
        // Gone already when the blob was placed.
        let _ = std::fs::remove_file(&self.tmp);
    }
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

    #[test]
    fn digests_round_trip_as_hex() {
        let sha = Sha256::of(b"abc");
        let hex = sha.to_string();
        assert_eq!(
            hex,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(Sha256::parse(&hex), Some(sha));
        assert_eq!(Sha256::parse(&hex.to_uppercase()), None);
        assert_eq!(Sha256::parse(&hex[1..]), None);
    }
}
