//! Sliding windows of counted attempts, per key, with the bound on how
//! many keys they hold (see the memory paragraph of the throttle's doc).

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::time::{Duration, Instant};

/// Keys held at most per window: the memory bound (see the module doc).
/// Legitimate traffic holds one key per name or address that failed within
/// the window, far fewer than this.
pub(super) const MAX_KEYS: usize = 32_768;
/// How often expired entries are swept, so memory returns after a flood.
const SWEEP_EVERY: Duration = Duration::from_secs(10);
/// Sweeps while the map is full are at most this frequent, so a flood of
/// new keys cannot turn every request into a scan of the whole map.
const FULL_SWEEP_EVERY: Duration = Duration::from_secs(1);

/// Instants of counted attempts per key, oldest first, each deque at most
/// `limit` long.
pub(super) struct Windows<K> {
    map: HashMap<K, VecDeque<Instant>>,
    last_sweep: Option<Instant>,
}

impl<K> Default for Windows<K> {
    fn default() -> Self {
        Windows {
            map: HashMap::new(),
            last_sweep: None,
        }
    }
}

impl<K: Hash + Eq + Clone> Windows<K> {
    /// Counts one attempt against every key in `keys`, or none of them.
    pub(super) fn admit(
        &mut self,
        keys: &[K],
        limit: usize,
        now: Instant,
        window: Duration,
    ) -> Result<(), u64> {
        let limit = limit.max(1);
        self.sweep_if_due(now, window);
        let mut wait: Option<Duration> = None;
        let mut new_keys = 0;
        for k in keys {
            match self.map.get_mut(k) {
                Some(q) => {
                    expire(q, now, window);
                    if q.len() >= limit {
                        let w = q
                            .front()
                            .map(|t| window.saturating_sub(now.duration_since(*t)))
                            .unwrap_or(window);
                        wait = Some(wait.map_or(w, |x| x.max(w)));
                    }
                }
                None => new_keys += 1,
            }
        }
        if wait.is_none() && self.map.len() + new_keys > MAX_KEYS {
            if self
                .last_sweep
                .is_none_or(|t| now.duration_since(t) >= FULL_SWEEP_EVERY)
            {
                self.sweep(now, window);
            }
            if self.map.len() + new_keys > MAX_KEYS {
                tracing::warn!("authentication throttle full; refusing attempts from new keys");
                wait = Some(SWEEP_EVERY);
            }
        }
        if let Some(w) = wait {
            return Err(w.as_secs_f64().ceil().max(1.0) as u64);
        }
        for k in keys {
            self.map
                .entry(k.clone())
                .or_insert_with(|| VecDeque::with_capacity(limit))
                .push_back(now);
        }
        Ok(())
    }

    /// Removes one attempt counted at `at` for `key`.
    pub(super) fn refund(&mut self, key: &K, at: Instant) {
        if let Some(q) = self.map.get_mut(key) {
            if let Some(i) = q.iter().rposition(|t| *t == at) {
                q.remove(i);
            }
            if q.is_empty() {
                self.map.remove(key);
            }
        }
    }

    fn sweep_if_due(&mut self, now: Instant, window: Duration) {
        if self
            .last_sweep
            .is_none_or(|t| now.duration_since(t) >= SWEEP_EVERY)
        {
            self.sweep(now, window);
        }
    }

    /// Drops every expired instant and every key left with none.
    fn sweep(&mut self, now: Instant, window: Duration) {
        self.map.retain(|_, q| {
            expire(q, now, window);
            !q.is_empty()
        });
        if self.map.capacity() > 2 * self.map.len().max(1024) {
            self.map.shrink_to_fit();
        }
        self.last_sweep = Some(now);
    }
}

fn expire(q: &mut VecDeque<Instant>, now: Instant, window: Duration) {
    while q.front().is_some_and(|t| now.duration_since(*t) >= window) {
        q.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::throttle::LOGIN_WINDOW;

    #[test]
    fn a_full_map_fails_closed_for_new_keys() {
        let mut w: Windows<u32> = Windows::default();
        let now = Instant::now();
        for k in 0..MAX_KEYS as u32 {
            w.admit(&[k], 10, now, LOGIN_WINDOW).expect("admitted");
        }
        assert!(w.admit(&[u32::MAX], 10, now, LOGIN_WINDOW).is_err());
        assert!(w.admit(&[0], 10, now, LOGIN_WINDOW).is_ok(), "known key");
        // Once the window has passed, the sweep makes room.
        let later = now + LOGIN_WINDOW;
        assert!(w.admit(&[u32::MAX], 10, later, LOGIN_WINDOW).is_ok());
        assert_eq!(w.map.len(), 1);
    }
}
