//! Rate limits: the authentication throttle (login attempts per username
//! and per client address over a sliding minute, registrations per client
//! address over a sliding hour) and the per-user message token bucket.
//!
//! The authentication throttle counts an attempt from the moment it is
//! *admitted*, before the password is checked: checking first and counting
//! after would let a burst of concurrent guesses all pass the check before
//! any of them is counted. Admission and counting happen under one lock for
//! every key of the attempt at once; an attempt that turns out to succeed is
//! refunded.
//!
//! Memory is bounded whatever clients send: keys are usernames that pass
//! [`crate::validate::username`] (at most 32 bytes) and client addresses
//! (IPv4, or the /64 network of an IPv6 address, so one host cannot fill the
//! map by rotating its interface id); each key holds at most `limit`
//! instants; at most [`MAX_KEYS`] keys are held per window. Expired entries
//! are swept every [`SWEEP_EVERY`] and whenever the map is full. When it is
//! still full of live entries, attempts that would need a new key are
//! refused (429): the throttle fails closed, never open.
//!
//! A key costs at most about `190 + 16 × limit` bytes: a hash-table slot of
//! 56 bytes with up to 2× slack for the table's growth, the name's heap copy
//! (≤ 32 bytes plus allocator overhead) and the deque of 16-byte instants.
//! With the default limits (10 logins a minute, 10 registrations an hour)
//! that is ~350 bytes, so the throttle holds at most
//! 2 × 32,768 × 350 B ≈ 22 MiB however it is flooded.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The sliding window of login attempts.
pub const LOGIN_WINDOW: Duration = Duration::from_secs(60);
/// The sliding window of registrations.
pub const REGISTRATION_WINDOW: Duration = Duration::from_secs(3600);
/// Keys held at most per window: the memory bound (see the module doc).
/// Legitimate traffic holds one key per name or address that failed within
/// the window, far fewer than this.
pub const MAX_KEYS: usize = 32_768;
/// How often expired entries are swept, so memory returns after a flood.
const SWEEP_EVERY: Duration = Duration::from_secs(10);
/// Sweeps while the map is full are at most this frequent, so a flood of
/// new keys cannot turn every request into a scan of the whole map.
const FULL_SWEEP_EVERY: Duration = Duration::from_secs(1);

/// A client address as the throttle keys it: IPv4 whole (IPv4-mapped IPv6
/// too), IPv6 by its /64 network (one host or LAN usually has a whole /64).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AddrKey {
    V4(u32),
    V6Net(u64),
}

impl From<IpAddr> for AddrKey {
    fn from(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(v4) => AddrKey::V4(u32::from(v4)),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => AddrKey::V4(u32::from(v4)),
                None => AddrKey::V6Net((u128::from(v6) >> 64) as u64),
            },
        }
    }
}

/// A key of the login window.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum LoginKey {
    /// A valid username, lowercased (the throttle ignores case, as the
    /// store does).
    Name(Box<str>),
    Addr(AddrKey),
}

/// The authentication throttle. One handle, shared by every request.
#[derive(Clone, Default)]
pub struct LoginThrottle {
    state: Arc<Mutex<State>>,
}

#[derive(Default)]
struct State {
    logins: Windows<LoginKey>,
    registrations: Windows<AddrKey>,
}

/// An admitted login attempt: counted until [`LoginThrottle::refund`].
#[derive(Debug)]
pub struct LoginTicket {
    keys: Vec<LoginKey>,
    at: Instant,
}

/// An admitted registration: counted until [`LoginThrottle::refund_registration`].
#[derive(Debug)]
pub struct RegistrationTicket {
    key: Option<AddrKey>,
    at: Instant,
}

impl LoginThrottle {
    /// Admits one login attempt for `username` (only if it is a name that
    /// could exist: pass `None` otherwise, so made-up names are never
    /// stored) from `addr`, and counts it against both keys at once. When
    /// either key already has `limit` attempts within the minute, or the
    /// map is full, nothing is counted and the answer is the seconds to
    /// wait.
    pub fn admit_login(
        &self,
        username: Option<&str>,
        addr: Option<AddrKey>,
        limit: u32,
    ) -> Result<LoginTicket, u64> {
        let mut keys = Vec::with_capacity(2);
        if let Some(name) = username {
            keys.push(LoginKey::Name(name.to_ascii_lowercase().into_boxed_str()));
        }
        if let Some(a) = addr {
            keys.push(LoginKey::Addr(a));
        }
        let now = Instant::now();
        let mut state = lock(&self.state);
        let w = &mut state.logins;
        w.admit(&keys, limit as usize, now, LOGIN_WINDOW)?;
        Ok(LoginTicket { keys, at: now })
    }

    /// Takes back a login attempt that succeeded: successes never count.
    pub fn refund(&self, ticket: LoginTicket) {
        let mut state = lock(&self.state);
        for k in &ticket.keys {
            state.logins.refund(k, ticket.at);
        }
    }

    /// Admits one registration from `addr` if it has had fewer than `limit`
    /// within the hour, counting it at once; else the seconds to wait.
    /// `limit: None` (the limit is off) or an unknown address admit always.
    pub fn admit_registration(
        &self,
        addr: Option<AddrKey>,
        limit: Option<u32>,
    ) -> Result<RegistrationTicket, u64> {
        let now = Instant::now();
        let (Some(a), Some(limit)) = (addr, limit) else {
            return Ok(RegistrationTicket { key: None, at: now });
        };
        let mut state = lock(&self.state);
        state
            .registrations
            .admit(&[a], limit as usize, now, REGISTRATION_WINDOW)?;
        Ok(RegistrationTicket {
            key: Some(a),
            at: now,
        })
    }

    /// Takes back a registration that did not create an account.
    pub fn refund_registration(&self, ticket: RegistrationTicket) {
        if let Some(k) = ticket.key {
            lock(&self.state).registrations.refund(&k, ticket.at);
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Instants of counted attempts per key, oldest first, each deque at most
/// `limit` long.
struct Windows<K> {
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
    fn admit(
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
    fn refund(&mut self, key: &K, at: Instant) {
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

impl<K: std::hash::Hash + Eq + Clone> TokenBuckets<K> {
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
        let mut map = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
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

    const ADDR: AddrKey = AddrKey::V4(0x7f00_0001);

    #[test]
    fn login_attempts_are_counted_on_admission() {
        let t = LoginThrottle::default();
        let tickets: Vec<_> = (0..10)
            .map(|_| t.admit_login(Some("Bob"), None, 10).expect("admitted"))
            .collect();
        let wait = t.admit_login(Some("bob"), None, 10).expect_err("locked");
        assert!((1..=60).contains(&wait));
        assert!(t.admit_login(Some("alice"), None, 10).is_ok());
        drop(tickets);
    }

    #[test]
    fn both_keys_are_admitted_together_or_not_at_all() {
        let t = LoginThrottle::default();
        for i in 0..10 {
            t.admit_login(Some(&format!("user{i}")), Some(ADDR), 10)
                .expect("admitted");
        }
        // The address is full: the name must not be counted either.
        assert!(t.admit_login(Some("carol"), Some(ADDR), 10).is_err());
        for _ in 0..10 {
            t.admit_login(Some("carol"), None, 10)
                .expect("carol untouched");
        }
    }

    #[test]
    fn a_refunded_success_does_not_count() {
        let t = LoginThrottle::default();
        for _ in 0..9 {
            t.admit_login(Some("bob"), Some(ADDR), 10)
                .expect("admitted");
        }
        let ok = t
            .admit_login(Some("bob"), Some(ADDR), 10)
            .expect("admitted");
        t.refund(ok);
        t.admit_login(Some("bob"), Some(ADDR), 10)
            .expect("room again");
        assert!(t.admit_login(Some("bob"), Some(ADDR), 10).is_err());
    }

    #[test]
    fn ipv6_addresses_are_keyed_by_their_64_network() {
        let a: IpAddr = "2001:db8:1:2::1".parse().expect("ip");
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().expect("ip");
        let c: IpAddr = "2001:db8:1:3::1".parse().expect("ip");
        let m: IpAddr = "::ffff:10.0.0.1".parse().expect("ip");
        assert_eq!(AddrKey::from(a), AddrKey::from(b));
        assert_ne!(AddrKey::from(a), AddrKey::from(c));
        assert_eq!(
            AddrKey::from(m),
            AddrKey::from("10.0.0.1".parse::<IpAddr>().expect("ip"))
        );
    }

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

    #[test]
    fn registrations_are_limited_per_address() {
        let t = LoginThrottle::default();
        let first = t.admit_registration(Some(ADDR), Some(2)).expect("1");
        t.admit_registration(Some(ADDR), Some(2)).expect("2");
        assert!(t.admit_registration(Some(ADDR), Some(2)).is_err());
        t.refund_registration(first);
        t.admit_registration(Some(ADDR), Some(2)).expect("refunded");
        assert!(t.admit_registration(Some(ADDR), None).is_ok(), "off");
    }

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
