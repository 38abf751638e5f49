//! The password-hashing gate: a few hashes run at once, a bounded number
//! wait, logins wait ahead of everything else, and the rest is refused at
//! once.
//!
//! A semaphore alone queues without bound and in arrival order, so a flood
//! of registrations both grows memory and puts every login behind it. Here
//! a request that finds the queue full gets 503 `busy` with `Retry-After`
//! instead of waiting, a freed slot goes to the oldest waiting login before
//! the oldest waiting anything else, and a login that finds the queue full
//! takes the place of the newest waiting non-login (which gets the 503), so
//! a flood of registrations can delay a login by the hashes already
//! running, never refuse it.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::oneshot;

use super::{Priority, BUSY_RETRY_AFTER};
use crate::error::ApiError;

/// Cheap to clone; one per server.
#[derive(Clone)]
pub struct HashGate {
    inner: Arc<Gate>,
}

struct Gate {
    running_max: usize,
    queue_max: usize,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    running: usize,
    /// One queue per [`Priority`], served in that order. A sender whose
    /// receiver is gone (the request was dropped) is skipped.
    waiting: [VecDeque<oneshot::Sender<()>>; 2],
}

/// A running slot; freed (and handed to the next waiter) when dropped.
pub struct Slot {
    gate: Arc<Gate>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.gate.release();
    }
}

impl HashGate {
    pub fn new(running_max: usize, queue_max: usize) -> Self {
        HashGate {
            inner: Arc::new(Gate {
                running_max: running_max.max(1),
                queue_max,
                state: Mutex::new(State::default()),
            }),
        }
    }

    /// A slot now, or after the waiters ahead; `Busy` at once when
    /// `queue_max` requests already wait.
    pub async fn acquire(&self, priority: Priority) -> Result<Slot, ApiError> {
        let rx = {
            let mut st = self.inner.lock();
            if st.running < self.inner.running_max {
                st.running += 1;
                return Ok(Slot {
                    gate: self.inner.clone(),
                });
            }
            for q in &mut st.waiting {
                q.retain(|tx| !tx.is_closed());
            }
            let waiting: usize = st.waiting.iter().map(VecDeque::len).sum();
            if waiting >= self.inner.queue_max {
                let bumped = priority == Priority::Login
                    && st.waiting[Priority::Other as usize].pop_back().is_some();
                if !bumped {
                    return Err(busy());
                }
            }
            let (tx, rx) = oneshot::channel();
            st.waiting[priority as usize].push_back(tx);
            rx
        };
        let mut wait = Waiting {
            gate: self.inner.clone(),
            rx: Some(rx),
        };
        let handed = match wait.rx.as_mut() {
            Some(rx) => rx.await.is_ok(),
            None => false,
        };
        wait.rx = None;
        if handed {
            Ok(Slot {
                gate: self.inner.clone(),
            })
        } else {
            // Our place was given to a login.
            Err(busy())
        }
    }
}

fn busy() -> ApiError {
    ApiError::Busy {
        retry_after: BUSY_RETRY_AFTER,
    }
}

impl Gate {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Hands the slot to the first live waiter, or frees it.
    fn release(&self) {
        let mut st = self.lock();
        for q in &mut st.waiting {
            while let Some(tx) = q.pop_front() {
                if tx.send(()).is_ok() {
                    return;
                }
            }
        }
        st.running = st.running.saturating_sub(1);
    }
}

/// A waiter's side. If the request is dropped while waiting, and a slot was
/// handed to it in that very moment, the slot is passed on instead of lost.
struct Waiting {
    gate: Arc<Gate>,
    rx: Option<oneshot::Receiver<()>>,
}

impl Drop for Waiting {
    fn drop(&mut self) {
        if let Some(mut rx) = self.rx.take() {
            rx.close();
            if rx.try_recv().is_ok() {
                self.gate.release();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn full_queue_is_refused_and_logins_go_first() {
        let gate = HashGate::new(1, 2);
        let running = gate.acquire(Priority::Other).await.expect("slot");
        let g = gate.clone();
        let other = tokio::spawn(async move { g.acquire(Priority::Other).await.map(|_| "other") });
        tokio::time::sleep(Duration::from_millis(20)).await;
        let g = gate.clone();
        let login = tokio::spawn(async move {
            let s = g.acquire(Priority::Login).await;
            s.map(|_| "login")
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(matches!(
            gate.acquire(Priority::Other).await,
            Err(ApiError::Busy { .. })
        ));
        // A login finding the queue full takes the place of a non-login.
        let g = gate.clone();
        let bumping = tokio::spawn(async move { g.acquire(Priority::Login).await.map(|_| "late") });
        assert!(matches!(
            other.await.expect("join"),
            Err(ApiError::Busy { .. })
        ));
        drop(running);
        assert_eq!(login.await.expect("join").expect("login slot"), "login");
        assert_eq!(bumping.await.expect("join").expect("slot"), "late");
        // Every slot came back.
        let a = gate.acquire(Priority::Other).await.expect("free");
        drop(a);
    }

    #[tokio::test]
    async fn a_dropped_waiter_does_not_lose_the_slot() {
        let gate = HashGate::new(1, 4);
        let running = gate.acquire(Priority::Other).await.expect("slot");
        let g = gate.clone();
        let waiter = tokio::spawn(async move { g.acquire(Priority::Login).await.is_ok() });
        tokio::time::sleep(Duration::from_millis(20)).await;
        waiter.abort();
        let _ = waiter.await;
        drop(running);
        let again = tokio::time::timeout(Duration::from_secs(1), gate.acquire(Priority::Other))
            .await
            .expect("not lost")
            .expect("slot");
        drop(again);
    }
}
