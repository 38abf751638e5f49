//! Per-key hourly allowances that tell the caller when to come back, for
//! actions that are cheap to ask for but leave something behind (a room).

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The window an allowance refills over.
const HOUR: Duration = Duration::from_secs(3600);

/// Keys tracked at most; beyond, keys whose bucket is full again (they
/// would start fresh anyway) are dropped, so memory stays bounded.
const MAX_KEYS: usize = 100_000;

/// `per_hour` actions per key: a token bucket of that size refilled
/// continuously over an hour. Taking a token is one step under a lock, so
/// concurrent requests can never together exceed the allowance.
#[derive(Clone)]
pub struct Hourly<K> {
    per_hour: f64,
    buckets: Arc<Mutex<HashMap<K, (f64, Instant)>>>,
}

impl<K: Hash + Eq + Clone> Hourly<K> {
    pub fn new(per_hour: u32) -> Self {
        Hourly {
            per_hour: f64::from(per_hour.max(1)),
            buckets: Arc::default(),
        }
    }

    /// Takes one action for `key`, or says in how many seconds one is free.
    pub fn take(&self, key: &K) -> Result<(), u64> {
        let now = Instant::now();
        let rate = self.per_hour / HOUR.as_secs_f64();
        let mut map = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_KEYS && !map.contains_key(key) {
            let full = self.per_hour / rate;
            map.retain(|_, (_, t)| now.duration_since(*t).as_secs_f64() < full);
        }
        let (tokens, last) = map.entry(key.clone()).or_insert((self.per_hour, now));
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * rate).min(self.per_hour);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - *tokens) / rate).ceil().max(1.0) as u64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_the_hourly_number_then_says_when() {
        let h = Hourly::new(2);
        assert!(h.take(&1).is_ok());
        assert!(h.take(&1).is_ok());
        let wait = h.take(&1).expect_err("third in the hour");
        assert!((1..=1800).contains(&wait), "{wait}");
        assert!(h.take(&2).is_ok());
    }
}
