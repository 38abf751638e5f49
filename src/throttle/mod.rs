//! Rate limits: the authentication throttle (login attempts per username
//! and per client address over a sliding minute, registrations per client
//! address over a sliding hour), the per-user message token bucket, and the
//! per-user allowances of REST writes that each cost a flush
//! ([`WriteLimits`]).
//!
//! The authentication throttle counts an attempt from the moment it is
//! *admitted*, before the password is checked: checking first and counting
//! after would let a burst of concurrent guesses all pass the check before
//! any of them is counted. Admission and counting happen under one lock for
//! every key of the attempt at once; an attempt that turns out to succeed is
//! refunded.
//!
//! On a node of a cluster the authentication throttle counts in the shared
//! PostgreSQL database instead ([`LoginThrottle::shared`], see `shared.rs`),
//! where one transaction under an advisory lock per key does what the lock
//! does here; its operations are `async` for that, and answer at once on
//! the in-process throttle. The paragraphs below are about the latter.
//!
//! Memory is bounded whatever clients send: keys are usernames that pass
//! [`crate::validate::username`] (at most 32 bytes) and client addresses
//! (IPv4, or the /64 network of an IPv6 address, so one host cannot fill the
//! map by rotating its interface id); each key holds at most `limit`
//! instants; at most [`window::MAX_KEYS`] keys are held per window.
//! Expired entries are swept every [`window::SWEEP_EVERY`] and whenever the
//! map is full. When it is still full of live entries, attempts that would
//! need a new key are refused (429): the throttle fails closed, never open.
//!
//! A key costs at most about `190 + 16 × limit` bytes: a hash-table slot of
//! 56 bytes with up to 2× slack for the table's growth, the name's heap copy
//! (≤ 32 bytes plus allocator overhead) and the deque of 16-byte instants.
//! With the default limits (10 logins a minute, 10 registrations an hour)
//! that is ~350 bytes, so the throttle holds at most
//! 2 × 32,768 × 350 B ≈ 22 MiB however it is flooded.

mod bucket;
mod shared;
mod window;
mod writes;

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use bucket::{Bucket, TokenBuckets};
use window::Windows;
pub use writes::{WriteLimits, WriteRates};

use crate::store::postgres::limits::HitTicket;
use crate::store::PgStore;

/// The sliding window of login attempts.
const LOGIN_WINDOW: Duration = Duration::from_secs(60);
/// The sliding window of registrations.
const REGISTRATION_WINDOW: Duration = Duration::from_secs(3600);

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

/// As the shared throttle keys it: an IPv4 address, or an IPv6 /64
/// network in CIDR notation.
impl fmt::Display for AddrKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            AddrKey::V4(a) => write!(f, "{}", Ipv4Addr::from(a)),
            AddrKey::V6Net(n) => write!(f, "{}/64", Ipv6Addr::from(u128::from(n) << 64)),
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

/// As the shared throttle keys it: names and addresses apart, since a
/// name may look like an address.
impl fmt::Display for LoginKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoginKey::Name(n) => write!(f, "name:{n}"),
            LoginKey::Addr(a) => write!(f, "addr:{a}"),
        }
    }
}

/// The authentication throttle. One handle, shared by every request.
///
/// By default ([`LoginThrottle::default`]) it counts in this process
/// alone and answers at once. A node of a cluster counts in the shared
/// database instead ([`LoginThrottle::shared`]), so the limits hold for
/// the cluster as a whole: a client spreading its guesses over the nodes
/// gets no more of them.
#[derive(Clone)]
pub struct LoginThrottle {
    counts: Counts,
}

#[derive(Clone)]
enum Counts {
    Local(Arc<Mutex<State>>),
    Shared(shared::Shared),
}

impl Default for LoginThrottle {
    fn default() -> Self {
        LoginThrottle {
            counts: Counts::Local(Arc::default()),
        }
    }
}

#[derive(Default)]
struct State {
    logins: Windows<LoginKey>,
    registrations: Windows<AddrKey>,
}

/// What an admitted attempt counted, to take back on a refund.
#[derive(Debug)]
enum Counted<K> {
    Local { keys: K, at: Instant },
    Shared(HitTicket),
}

/// An admitted login attempt: counted until [`LoginThrottle::refund`].
#[derive(Debug)]
pub struct LoginTicket(Counted<Vec<LoginKey>>);

/// An admitted registration: counted until [`LoginThrottle::refund_registration`].
#[derive(Debug)]
pub struct RegistrationTicket(Counted<Option<AddrKey>>);

impl LoginThrottle {
    /// A throttle that counts in `pg`, shared by every node that uses the
    /// same database (see [`shared`]).
    pub fn shared(pg: PgStore) -> LoginThrottle {
        LoginThrottle {
            counts: Counts::Shared(shared::Shared::new(pg)),
        }
    }

    /// Admits one login attempt for `username` (only if it is a name that
    /// could exist: pass `None` otherwise, so made-up names are never
    /// stored) from `addr`, and counts it against both keys at once. When
    /// either key already has `limit` attempts within the minute, or the
    /// map is full, nothing is counted and the answer is the seconds to
    /// wait.
    pub async fn admit_login(
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
        match &self.counts {
            Counts::Local(state) => {
                let now = Instant::now();
                let mut state = lock(state);
                let w = &mut state.logins;
                w.admit(&keys, limit as usize, now, LOGIN_WINDOW)?;
                Ok(LoginTicket(Counted::Local { keys, at: now }))
            }
            Counts::Shared(pg) => {
                let keys = keys.iter().map(LoginKey::to_string).collect();
                let ticket = pg.admit(shared::LOGIN, keys, limit, LOGIN_WINDOW).await?;
                Ok(LoginTicket(Counted::Shared(ticket)))
            }
        }
    }

    /// Takes back a login attempt that succeeded: successes never count.
    pub async fn refund(&self, ticket: LoginTicket) {
        match (&self.counts, ticket.0) {
            (Counts::Local(state), Counted::Local { keys, at }) => {
                let mut state = lock(state);
                for k in &keys {
                    state.logins.refund(k, at);
                }
            }
            (Counts::Shared(pg), Counted::Shared(ticket)) => pg.refund(ticket).await,
            _ => {}
        }
    }

    /// Admits one registration from `addr` if it has had fewer than `limit`
    /// within the hour, counting it at once; else the seconds to wait.
    /// `limit: None` (the limit is off) or an unknown address admit always.
    pub async fn admit_registration(
        &self,
        addr: Option<AddrKey>,
        limit: Option<u32>,
    ) -> Result<RegistrationTicket, u64> {
        let now = Instant::now();
        let (Some(a), Some(limit)) = (addr, limit) else {
            return Ok(RegistrationTicket(Counted::Local {
                keys: None,
                at: now,
            }));
        };
        match &self.counts {
            Counts::Local(state) => {
                let mut state = lock(state);
                let w = &mut state.registrations;
                w.admit(&[a], limit as usize, now, REGISTRATION_WINDOW)?;
                Ok(RegistrationTicket(Counted::Local {
                    keys: Some(a),
                    at: now,
                }))
            }
            Counts::Shared(pg) => {
                let keys = vec![a.to_string()];
                let kind = shared::REGISTRATION;
                let ticket = pg.admit(kind, keys, limit, REGISTRATION_WINDOW).await?;
                Ok(RegistrationTicket(Counted::Shared(ticket)))
            }
        }
    }

    /// Takes back a registration that did not create an account.
    pub async fn refund_registration(&self, ticket: RegistrationTicket) {
        match (&self.counts, ticket.0) {
            (Counts::Local(state), Counted::Local { keys: Some(k), at }) => {
                lock(state).registrations.refund(&k, at);
            }
            (Counts::Shared(pg), Counted::Shared(ticket)) => pg.refund(ticket).await,
            _ => {}
        }
    }
}

/// Locks a throttle's state; a panic elsewhere while it was held left
/// counts that are still worth keeping.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ADDR: AddrKey = AddrKey::V4(0x7f00_0001);

    #[tokio::test]
    async fn login_attempts_are_counted_on_admission() {
        let t = LoginThrottle::default();
        let mut tickets = Vec::new();
        for _ in 0..10 {
            tickets.push(
                t.admit_login(Some("Bob"), None, 10)
                    .await
                    .expect("admitted"),
            );
        }
        let wait = t
            .admit_login(Some("bob"), None, 10)
            .await
            .expect_err("locked");
        assert!((1..=60).contains(&wait));
        assert!(t.admit_login(Some("alice"), None, 10).await.is_ok());
        drop(tickets);
    }

    #[tokio::test]
    async fn both_keys_are_admitted_together_or_not_at_all() {
        let t = LoginThrottle::default();
        for i in 0..10 {
            t.admit_login(Some(&format!("user{i}")), Some(ADDR), 10)
                .await
                .expect("admitted");
        }
        // The address is full: the name must not be counted either.
        assert!(t.admit_login(Some("carol"), Some(ADDR), 10).await.is_err());
        for _ in 0..10 {
            t.admit_login(Some("carol"), None, 10)
                .await
                .expect("carol untouched");
        }
    }

    #[tokio::test]
    async fn a_refunded_success_does_not_count() {
        let t = LoginThrottle::default();
        for _ in 0..9 {
            t.admit_login(Some("bob"), Some(ADDR), 10)
                .await
                .expect("admitted");
        }
        let ok = t
            .admit_login(Some("bob"), Some(ADDR), 10)
            .await
            .expect("admitted");
        t.refund(ok).await;
        t.admit_login(Some("bob"), Some(ADDR), 10)
            .await
            .expect("room again");
        assert!(t.admit_login(Some("bob"), Some(ADDR), 10).await.is_err());
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
    fn keys_read_as_the_shared_throttle_stores_them() {
        let v6: IpAddr = "2001:db8:1:2::1".parse().expect("ip");
        assert_eq!(AddrKey::from(v6).to_string(), "2001:db8:1:2::/64");
        assert_eq!(ADDR.to_string(), "127.0.0.1");
        let name = LoginKey::Name("bob".into());
        assert_eq!(name.to_string(), "name:bob");
        assert_eq!(LoginKey::Addr(ADDR).to_string(), "addr:127.0.0.1");
    }

    #[tokio::test]
    async fn registrations_are_limited_per_address() {
        let t = LoginThrottle::default();
        let first = t.admit_registration(Some(ADDR), Some(2)).await.expect("1");
        t.admit_registration(Some(ADDR), Some(2)).await.expect("2");
        assert!(t.admit_registration(Some(ADDR), Some(2)).await.is_err());
        t.refund_registration(first).await;
        t.admit_registration(Some(ADDR), Some(2))
            .await
            .expect("refunded");
        assert!(t.admit_registration(Some(ADDR), None).await.is_ok(), "off");
    }
}
