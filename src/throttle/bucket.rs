//! Token buckets: the one refill rule of every limit that allows a burst
//! and then a steady rate.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One token bucket: `burst` tokens, refilled continuously at `rate` a
/// second. The one refill rule of every limit of this kind (messages per
/// user, rooms per user and hour, joins per connection).
#[derive(Clone, Copy, Debug)]
pub struct Bucket {
    tokens: f64,
    last: Instant,
}

impl Bucket {
    /// A full bucket.
    pub fn full(burst: f64) -> Bucket {
        Bucket {
            tokens: burst,
            last: Instant::now(),
        }
    }

    /// Takes one token, or says in how many seconds (at least 1) one is there.
    pub fn take(&mut self, rate: f64, burst: f64) -> Result<(), u64> {
        let now = Instant::now();
        self.tokens = (self.tokens + now.duration_since(self.last).as_secs_f64() * rate).min(burst);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - self.tokens) / rate).ceil().max(1.0) as u64)
        }
    }
}

/// Keys a [`TokenBuckets`] tracks before it drops the ones that are full
/// again (they would start fresh anyway), so memory stays bounded.
const MAX_BUCKETS: usize = 100_000;

/// A [`Bucket`] per key. Taking a token is one step under a lock, so
/// concurrent requests can never together exceed the allowance.
#[derive(Clone)]
pub struct TokenBuckets<K> {
    rate: f64,
    burst: f64,
    buckets: Arc<Mutex<HashMap<K, Bucket>>>,
}

impl<K: Hash + Eq + Clone> TokenBuckets<K> {
    /// `rate` tokens a second per key, at most `burst` (at least 1) saved up.
    pub fn new(rate: f64, burst: u32) -> Self {
        TokenBuckets {
            rate,
            burst: f64::from(burst.max(1)),
            buckets: Arc::default(),
        }
    }

    /// `per_hour` actions per key, refilled continuously over an hour.
    pub fn per_hour(per_hour: u32) -> Self {
        let n = per_hour.max(1);
        TokenBuckets::new(f64::from(n) / 3600.0, n)
    }

    /// Takes one token for `key`, or says in how many seconds one is there.
    pub fn take(&self, key: &K) -> Result<(), u64> {
        let mut map = super::lock(&self.buckets);
        if map.len() >= MAX_BUCKETS && !map.contains_key(key) {
            let full = Duration::from_secs_f64(self.burst / self.rate);
            map.retain(|_, b| b.last.elapsed() < full);
        }
        map.entry(key.clone())
            .or_insert_with(|| Bucket::full(self.burst))
            .take(self.rate, self.burst)
    }

    /// Takes one token for `key`; false when the bucket is empty.
    pub fn try_take(&self, key: &K) -> bool {
        self.take(key).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hourly_buckets_allow_the_number_then_say_when() {
        let h = TokenBuckets::per_hour(2);
        assert!(h.take(&1).is_ok());
        assert!(h.take(&1).is_ok());
        let wait = h.take(&1).expect_err("third in the hour");
        assert!((1..=1800).contains(&wait), "{wait}");
        assert!(h.take(&2).is_ok());
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
