//! The sweep of files never attached to a message: an upload that no
//! message took within `--unattached-file-hours` (24 by default) is
//! removed, its record and then, once nothing refers to them, its bytes.
//! It also removes the files of a message that is gone without them (one
//! whose write failed, removed at the next start).
//!
//! It runs at start and then every hour, on the blocking pool: a scan of
//! every file record and an fsync have no place on an async worker, and
//! the message writer's thread keeps to messages.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::Blobs;
use crate::model::Timestamp;
use crate::store::{Store, StoreError};

/// How often the sweep runs after the first, at start.
pub const EVERY: Duration = Duration::from_secs(60 * 60);

/// The cutoff for files created `age` before `now`.
fn cutoff(now: Timestamp, age: Duration) -> Timestamp {
    let ms = i64::try_from(age.as_millis()).unwrap_or(i64::MAX);
    Timestamp(now.0.saturating_sub(ms))
}

/// One sweep: removes the records of files unattached for longer than
/// `age`, flushes, then removes the blobs nothing refers to any more.
/// Returns how many blobs it removed or found unused. Blocking.
pub fn sweep_once(store: &Store, blobs: &Blobs, age: Duration) -> Result<usize, StoreError> {
    if store.write_failure().is_some() {
        return Ok(0);
    }
    let unused = store.sweep_files(cutoff(Timestamp::now(), age))?;
    if unused.is_empty() {
        return Ok(0);
    }
    store.flush()?;
    blobs.remove_unreferenced(&unused, |sha| store.blob_referenced(sha));
    Ok(unused.len())
}

/// Sweeps at once and then every [`EVERY`] until `stop`; a sweep under
/// way when `stop` comes is finished first.
pub async fn run(store: Store, blobs: Blobs, age: Duration, stop: CancellationToken) {
    loop {
        let (s, b) = (store.clone(), blobs.clone());
        match tokio::task::spawn_blocking(move || sweep_once(&s, &b, age)).await {
            Ok(Ok(0)) => {}
            Ok(Ok(n)) => tracing::info!(blobs = n, "removed files never attached to a message"),
            Ok(Err(e)) => tracing::warn!(error = %e, "sweeping unattached files failed"),
            Err(e) => tracing::warn!(error = %e, "the sweep of unattached files stopped"),
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(EVERY) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cutoff_is_the_age_before_now_and_never_wraps() {
        let now = Timestamp(10_000_000);
        assert_eq!(cutoff(now, Duration::from_secs(3600)), Timestamp(6_400_000));
        assert_eq!(cutoff(now, Duration::ZERO), now);
        assert_eq!(cutoff(now, Duration::MAX), Timestamp(10_000_000 - i64::MAX));
    }
}
