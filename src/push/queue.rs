//! The push sender's bounded queue, its pool of outgoing requests, and
//! what it counts: a notification is best effort, so when push services
//! are slow the queue drops and counts instead of growing, and failures
//! are logged a line a minute instead of once each.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// Longest quiet time between two lines about the same trouble.
pub const LOG_EVERY: Duration = Duration::from_secs(60);

/// What became of the notifications handed to the sender so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PushStats {
    /// Accepted by the push service (2xx).
    pub sent: u64,
    /// Answered 404 or 410: the subscription is gone.
    pub gone: u64,
    /// Refused otherwise, unreachable, or cut by the timeout.
    pub failed: u64,
    /// Not sent: the queue was full, or the sender stopped with it queued.
    pub dropped: u64,
}

/// The live counters behind [`PushStats`].
#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) sent: AtomicU64,
    pub(crate) gone: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) dropped: AtomicU64,
}

impl Counters {
    pub(crate) fn add(counter: &AtomicU64) -> u64 {
        counter.fetch_add(1, Ordering::Relaxed) + 1
    }

    pub(crate) fn snapshot(&self) -> PushStats {
        PushStats {
            sent: self.sent.load(Ordering::Relaxed),
            gone: self.gone.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
        }
    }
}

/// Lets a kind of log line through at most once per period, and tells
/// how many were held back meanwhile.
pub(crate) struct LogEvery {
    period: Duration,
    /// When a line was last let through, and how many were held since.
    state: Mutex<(Option<Instant>, u64)>,
}

impl LogEvery {
    pub(crate) fn new(period: Duration) -> LogEvery {
        LogEvery {
            period,
            state: Mutex::new((None, 0)),
        }
    }

    /// `Some(held back since the last line)` when a line may be written.
    pub(crate) fn allow(&self) -> Option<u64> {
        self.allow_at(Instant::now())
    }

    fn allow_at(&self, now: Instant) -> Option<u64> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match state.0 {
            Some(last) if now.duration_since(last) < self.period => {
                state.1 += 1;
                None
            }
            _ => {
                let held = state.1;
                *state = (Some(now), 0);
                Some(held)
            }
        }
    }
}

/// How the pool runs: how many requests at once, and how long those in
/// flight may finish once the sender stops.
pub(crate) struct Pool {
    pub(crate) workers: usize,
    pub(crate) grace: Duration,
}

/// Takes jobs from `jobs` while fewer than `pool.workers` are in flight,
/// each handled by `handle` on a task of its own, until `stop` is
/// cancelled or every sender of `jobs` is gone. Then jobs still queued are
/// dropped (counted in `dropped`), and those in flight get `pool.grace` to
/// finish before they are cut.
pub(crate) async fn run<T, F, Fut>(
    mut jobs: mpsc::Receiver<T>,
    pool: Pool,
    stop: CancellationToken,
    counters: Arc<Counters>,
    handle: F,
) where
    T: Send + 'static,
    F: Fn(T) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let permits = Arc::new(Semaphore::new(pool.workers.max(1)));
    let mut in_flight = JoinSet::new();
    loop {
        let permit = tokio::select! {
            biased;
            _ = stop.cancelled() => break,
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
        };
        let job = tokio::select! {
            biased;
            _ = stop.cancelled() => break,
            job = jobs.recv() => match job {
                Some(job) => job,
                None => break,
            },
        };
        while in_flight.try_join_next().is_some() {}
        let work = handle(job);
        in_flight.spawn(async move {
            work.await;
            drop(permit);
        });
    }
    jobs.close();
    let mut left = 0u64;
    while jobs.try_recv().is_ok() {
        left += 1;
    }
    if left > 0 {
        counters.dropped.fetch_add(left, Ordering::Relaxed);
        tracing::info!(
            dropped = left,
            "push sender stopped with notifications queued"
        );
    }
    let drained = tokio::time::timeout(pool.grace, async {
        while in_flight.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::info!(
            cut = in_flight.len(),
            "push requests still in flight at shutdown were cut"
        );
        in_flight.abort_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_at_most_once_a_period_telling_how_many_were_held() {
        let every = LogEvery::new(Duration::from_secs(60));
        let t0 = Instant::now();
        assert_eq!(every.allow_at(t0), Some(0), "the first line passes");
        assert_eq!(every.allow_at(t0 + Duration::from_secs(1)), None);
        assert_eq!(every.allow_at(t0 + Duration::from_secs(59)), None);
        assert_eq!(every.allow_at(t0 + Duration::from_secs(60)), Some(2));
        assert_eq!(every.allow_at(t0 + Duration::from_secs(61)), None);
        assert_eq!(every.allow_at(t0 + Duration::from_secs(200)), Some(1));
    }

    #[tokio::test]
    async fn no_more_than_the_pool_at_once_and_every_job_handled() {
        let (tx, rx) = mpsc::channel(16);
        let busy = Arc::new(AtomicU64::new(0));
        let most = Arc::new(AtomicU64::new(0));
        let done = Arc::new(AtomicU64::new(0));
        let (b, m, d) = (busy.clone(), most.clone(), done.clone());
        let pool = Pool {
            workers: 2,
            grace: Duration::from_secs(5),
        };
        let task = tokio::spawn(run(
            rx,
            pool,
            CancellationToken::new(),
            Arc::default(),
            move |_: u32| {
                let (b, m, d) = (b.clone(), m.clone(), d.clone());
                async move {
                    let now = b.fetch_add(1, Ordering::SeqCst) + 1;
                    m.fetch_max(now, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    b.fetch_sub(1, Ordering::SeqCst);
                    d.fetch_add(1, Ordering::SeqCst);
                }
            },
        ));
        for i in 0..8 {
            tx.send(i).await.expect("queued");
        }
        drop(tx);
        tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .expect("finished")
            .expect("no panic");
        assert_eq!(done.load(Ordering::SeqCst), 8);
        assert_eq!(most.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_stop_drops_what_is_queued_and_cuts_what_hangs_after_the_grace() {
        let (tx, rx) = mpsc::channel(16);
        let counters = Arc::new(Counters::default());
        let stop = CancellationToken::new();
        let pool = Pool {
            workers: 1,
            grace: Duration::from_millis(50),
        };
        let task = tokio::spawn(run(rx, pool, stop.clone(), counters.clone(), |_: u32| {
            std::future::pending::<()>()
        }));
        for i in 0..4 {
            tx.send(i).await.expect("queued");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        let started = Instant::now();
        stop.cancel();
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .expect("stopped within the bound")
            .expect("no panic");
        assert!(started.elapsed() < Duration::from_secs(2));
        assert_eq!(
            counters.snapshot().dropped,
            3,
            "one in flight, three queued"
        );
    }
}
