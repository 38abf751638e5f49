//! The authentication throttle of a cluster: attempts counted in the
//! shared PostgreSQL database ([`PgStore::admit_hits`]), so every node
//! sees every other's. The store's calls block; they run on tokio's
//! blocking pool.
//!
//! When the database does not answer, attempts are refused as rate
//! limited for [`FAIL_CLOSED_WAIT`]: a throttle that let attempts through
//! whenever the database was slow or away would be one an attacker could
//! switch off by loading it. A refund that fails is logged and dropped:
//! the attempt then stays counted, which errs on the same side.
//!
//! Old hits are swept by the nodes themselves, at most every
//! [`SWEEP_EVERY`] per kind and node, in the blocking call of an
//! admission that found a sweep due, after its answer is known.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::lock;
use crate::store::postgres::limits::{HitTicket, SWEEP_BATCH};
use crate::store::PgStore;

/// The kind of the login window's hits.
pub(super) const LOGIN: &str = "login";
/// The kind of the registration window's hits.
pub(super) const REGISTRATION: &str = "registration";

/// The wait told to a client whose attempt could not be counted: short,
/// since the fault is ours, and long enough not to invite a retry storm.
const FAIL_CLOSED_WAIT: u64 = 5;

/// How often one node sweeps one kind's old hits.
const SWEEP_EVERY: Duration = Duration::from_secs(10);

/// Batches one sweep deletes at most ([`SWEEP_BATCH`] rows each), so a
/// sweep that is far behind delays its admission's answer boundedly.
const SWEEP_ROUNDS: usize = 10;

/// The database, and when this node last swept each kind.
#[derive(Clone)]
pub(super) struct Shared {
    pg: PgStore,
    swept: Arc<Mutex<HashMap<&'static str, Instant>>>,
}

impl Shared {
    pub(super) fn new(pg: PgStore) -> Shared {
        Shared {
            pg,
            swept: Arc::default(),
        }
    }

    /// Counts one attempt against every key of `keys` in the window
    /// `kind`, or refuses with the seconds to wait; refuses too (with
    /// [`FAIL_CLOSED_WAIT`]) when the database cannot say.
    pub(super) async fn admit(
        &self,
        kind: &'static str,
        keys: Vec<String>,
        limit: u32,
        window: Duration,
    ) -> Result<HitTicket, u64> {
        let sweep = self.sweep_due(kind);
        let pg = self.pg.clone();
        let job = move || {
            let answer = pg.admit_hits(kind, &keys, limit, window);
            if sweep {
                sweep_hits(&pg, kind, window);
            }
            answer
        };
        match tokio::task::spawn_blocking(job).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(e)) => {
                tracing::error!(error = %e, kind, "throttle: cannot count an attempt; refused");
                Err(FAIL_CLOSED_WAIT)
            }
            Err(e) => {
                tracing::error!(error = %e, kind, "throttle: the count did not finish; refused");
                Err(FAIL_CLOSED_WAIT)
            }
        }
    }

    /// Takes back the attempts of `ticket`.
    pub(super) async fn refund(&self, ticket: HitTicket) {
        let pg = self.pg.clone();
        match tokio::task::spawn_blocking(move || pg.refund_hits(ticket)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "throttle: a refund failed; it stays counted"),
            Err(e) => tracing::warn!(error = %e, "throttle: a refund did not finish"),
        }
    }

    /// Whether this node should sweep `kind` now; if so, it is recorded as
    /// swept, so concurrent admissions do not all sweep.
    fn sweep_due(&self, kind: &'static str) -> bool {
        let now = Instant::now();
        let mut swept = lock(&self.swept);
        let due = swept
            .get(kind)
            .is_none_or(|t| now.duration_since(*t) >= SWEEP_EVERY);
        if due {
            swept.insert(kind, now);
        }
        due
    }
}

/// Deletes `kind`'s hits that have left `window`, a batch at a time, for
/// [`SWEEP_ROUNDS`] batches at most. A failure is only logged: the next
/// sweep takes what this one left.
fn sweep_hits(pg: &PgStore, kind: &str, window: Duration) {
    for _ in 0..SWEEP_ROUNDS {
        match pg.sweep_hits(kind, window) {
            Ok(n) if n >= SWEEP_BATCH => continue,
            Ok(_) => return,
            Err(e) => {
                tracing::warn!(error = %e, kind, "throttle: sweeping old attempts failed");
                return;
            }
        }
    }
}
