//! The low-disk warning: when the filesystem holding the data directory
//! has less than a share of its space free (`--low-disk-percent`, 5 by
//! default), the server logs a warning once, and an info line once the
//! space is back; `/healthz` carries `"lowDisk": true` meanwhile. Uploads
//! fill a disk far faster than messages, and a full disk stops every
//! write (see `store/quarantine.rs`): the warning comes while there is
//! still time to act.
//!
//! The check runs every [`CHECK_EVERY`] on the blocking pool (a `statvfs`
//! may wait on a slow or network filesystem). Deciding what to say is
//! [`Crossing`], a pure state machine.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// Time between two checks of the free space.
pub const CHECK_EVERY: Duration = Duration::from_secs(60);

/// Percentage points above the threshold the free space must reach again
/// before the warning ends: a disk hovering at the threshold does not log
/// at every check.
const HYSTERESIS: f64 = 0.5;

/// What a new reading of the free space calls for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// Free space fell below the threshold: warn.
    BecameLow,
    /// Free space is back above it: say so.
    Recovered,
    /// Nothing to say.
    Same,
}

/// Whether the disk is low, from one reading to the next.
#[derive(Clone, Copy, Debug)]
pub struct Crossing {
    threshold: f64,
    low: bool,
}

impl Crossing {
    /// Starts as "not low", so that a disk already low at start is
    /// warned about at the first reading.
    pub fn new(threshold_percent: u8) -> Crossing {
        Crossing {
            threshold: f64::from(threshold_percent),
            low: false,
        }
    }

    /// Takes a reading (free space in percent of the filesystem).
    pub fn observe(&mut self, free_percent: f64) -> Change {
        if !self.low && free_percent < self.threshold {
            self.low = true;
            Change::BecameLow
        } else if self.low && free_percent >= self.threshold + HYSTERESIS {
            self.low = false;
            Change::Recovered
        } else {
            Change::Same
        }
    }

    pub fn is_low(&self) -> bool {
        self.low
    }
}

/// Whether the disk is low now, shared with `/healthz`: a cheap handle.
#[derive(Clone, Debug, Default)]
pub struct LowDisk(Arc<AtomicBool>);

impl LowDisk {
    pub fn is_low(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// Free space of the filesystem holding `path`, in percent of its size,
/// counting only what an unprivileged process may use (`f_bavail`).
/// Blocking.
///
/// `libc` rather than a crate with a safe wrapper (`rustix`, `fs2`): it is
/// already a dependency of the server (the data directory's lock, the
/// umask), while those are in the lock file only as dependencies of test
/// tools, and would add crates to the server's build for one call.
pub fn free_percent(path: &Path) -> std::io::Result<f64> {
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| std::io::Error::other("a path with a NUL byte"))?;
    // SAFETY: an all-zero statvfs is a valid value of this plain C struct.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c_path` is a NUL-terminated string and `st` a writable
    // statvfs, both alive for the call; statvfs writes only into `st`.
    let rc = unsafe { libc::statvfs(c_path.as_ptr(), &mut st) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    if st.f_blocks == 0 {
        return Ok(100.0);
    }
    Ok(st.f_bavail as f64 * 100.0 / st.f_blocks as f64)
}

/// Checks the free space of `data_dir` now and every [`CHECK_EVERY`]
/// until `stop`, logging each crossing and keeping `state` current.
pub async fn watch(
    data_dir: PathBuf,
    threshold_percent: u8,
    state: LowDisk,
    stop: CancellationToken,
) {
    let mut crossing = Crossing::new(threshold_percent);
    let mut unreadable = false;
    loop {
        let dir = data_dir.clone();
        let reading = tokio::task::spawn_blocking(move || free_percent(&dir)).await;
        match reading {
            Ok(Ok(free)) => {
                unreadable = false;
                match crossing.observe(free) {
                    Change::BecameLow => tracing::warn!(
                        free_percent = format!("{free:.1}"),
                        threshold_percent,
                        data_dir = %data_dir.display(),
                        "low disk space: uploads and messages will fail when it runs out"
                    ),
                    Change::Recovered => tracing::info!(
                        free_percent = format!("{free:.1}"),
                        "disk space is back above the warning threshold"
                    ),
                    Change::Same => {}
                }
                state.0.store(crossing.is_low(), Ordering::Relaxed);
            }
            Ok(Err(e)) if !unreadable => {
                unreadable = true;
                tracing::warn!(error = %e, "cannot read the free disk space");
            }
            Ok(Err(_)) => {}
            Err(e) => tracing::warn!(error = %e, "disk check task failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(CHECK_EVERY) => {}
            _ = stop.cancelled() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_crossing_is_told_once_and_hovering_at_the_threshold_is_quiet() {
        let mut c = Crossing::new(5);
        assert_eq!(c.observe(40.0), Change::Same, "plenty at start: silence");
        assert_eq!(c.observe(4.9), Change::BecameLow);
        assert!(c.is_low());
        assert_eq!(c.observe(3.0), Change::Same, "once per crossing");
        assert_eq!(c.observe(5.2), Change::Same, "within the hysteresis");
        assert!(c.is_low());
        assert_eq!(c.observe(5.5), Change::Recovered);
        assert!(!c.is_low());
        assert_eq!(
            c.observe(5.0),
            Change::Same,
            "at the threshold is not below"
        );
        assert_eq!(c.observe(4.0), Change::BecameLow);
    }

    #[test]
    fn a_disk_low_at_start_is_told_at_the_first_reading() {
        let mut c = Crossing::new(5);
        assert_eq!(c.observe(1.0), Change::BecameLow);
        let mut all = Crossing::new(100);
        assert_eq!(all.observe(99.9), Change::BecameLow);
    }

    #[test]
    fn the_free_space_of_a_real_directory_is_a_percentage() {
        let dir = tempfile::tempdir().expect("tempdir");
        let free = free_percent(dir.path()).expect("statvfs");
        assert!((0.0..=100.0).contains(&free), "{free}");
        assert!(free_percent(&dir.path().join("missing")).is_err());
    }
}
