//! Rate limits: failed-login throttling (sliding minute, per username and
//! per client address) and the per-user message token bucket.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Failures allowed per key within [`LOGIN_WINDOW`] before attempts get 429.
pub const LOGIN_MAX_FAILURES: usize = 10;
/// The sliding window of failed logins.
pub const LOGIN_WINDOW: Duration = Duration::from_secs(60);
/// Keys tracked at most, so a flood of made-up names cannot grow memory
/// without bound; the stalest keys are dropped first.
const LOGIN_MAX_KEYS: usize = 100_000;

/// Counts failed logins per key over a sliding minute.
#[derive(Clone, Default)]
pub struct LoginThrottle {
    failures: Arc<Mutex<HashMap<String, VecDeque<Instant>>>>,
}

impl LoginThrottle {
    /// If `key` is locked out, the seconds until the window has room again.
    pub fn retry_after(&self, key: &str) -> Option<u64> {
        let now = Instant::now();
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let q = map.get_mut(key)?;
        while q
            .front()
            .is_some_and(|t| now.duration_since(*t) >= LOGIN_WINDOW)
        {
            q.pop_front();
        }
        if q.len() < LOGIN_MAX_FAILURES {
            if q.is_empty() {
                map.remove(key);
            }
            return None;
        }
        let oldest = *q.front()?;
        let wait = LOGIN_WINDOW.saturating_sub(now.duration_since(oldest));
        Some(wait.as_secs_f64().ceil().max(1.0) as u64)
    }

    /// Records one failure for `key`.
    pub fn record_failure(&self, key: &str) {
        let now = Instant::now();
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= LOGIN_MAX_KEYS && !map.contains_key(key) {
            map.retain(|_, q| {
                q.back()
                    .is_some_and(|t| now.duration_since(*t) < LOGIN_WINDOW)
            });
            if map.len() >= LOGIN_MAX_KEYS {
                return;
            }
        }
        let q = map.entry(key.to_owned()).or_default();
        q.push_back(now);
        while q.len() > LOGIN_MAX_FAILURES {
            q.pop_front();
        }
    }
}

/// A token bucket per key: `burst` tokens, refilled at `rate` a second.
#[derive(Clone)]
pub struct TokenBuckets<K> {
    rate: f64,
    burst: f64,
    buckets: Arc<Mutex<HashMap<K, (f64, Instant)>>>,
}

impl<K: std::hash::Hash + Eq + Clone> TokenBuckets<K> {
    pub fn new(rate: f64, burst: u32) -> Self {
        TokenBuckets {
            rate,
            burst: f64::from(burst.max(1)),
            buckets: Arc::default(),
        }
    }

    /// Takes one token for `key`; false when the bucket is empty.
    pub fn try_take(&self, key: &K) -> bool {
        let now = Instant::now();
        let mut map = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() > 100_000 {
            let full = self.burst / self.rate;
            map.retain(|_, (_, t)| now.duration_since(*t).as_secs_f64() < full);
        }
        let (tokens, last) = map.entry(key.clone()).or_insert((self.burst, now));
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * self.rate).min(self.burst);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_throttle_locks_after_ten_failures() {
        let t = LoginThrottle::default();
        for _ in 0..LOGIN_MAX_FAILURES {
            assert_eq!(t.retry_after("bob"), None);
            t.record_failure("bob");
        }
        let wait = t.retry_after("bob").expect("locked");
        assert!((1..=60).contains(&wait));
        assert_eq!(t.retry_after("alice"), None);
    }

    #[test]
    fn bucket_allows_burst_then_rate() {
        let b = TokenBuckets::new(5.0, 3);
        assert!(b.try_take(&1));
        assert!(b.try_take(&1));
        assert!(b.try_take(&1));
        assert!(!b.try_take(&1));
        assert!(b.try_take(&2));
        std::thread::sleep(Duration::from_millis(250));
        assert!(b.try_take(&1));
    }
}
