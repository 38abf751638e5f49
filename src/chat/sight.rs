//! Whether a connection's page is being looked at, as its client says
//! with `presence {visible}`: what decides that a new message needs no
//! push notification, because its reader has the room in front of them.
//!
//! A connection counts as looking from the moment it opens until its
//! client says it is hidden, and for a while after ([`Sight::seen_within`]):
//! a client that never speaks of visibility (the contract's clients, the
//! original API's) shows the messages it receives, and someone who just
//! switched tabs saw the last ones.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// One connection's visibility; shared by the session (which sets it) and
/// the hub's room entries (read by the push notifier).
#[derive(Debug, Default)]
pub struct Sight {
    /// 0 while visible; otherwise 1 + the milliseconds from [`origin`] to
    /// the moment it was hidden. One word, so reading it needs no lock.
    hidden_at: AtomicU64,
}

/// The process's reference instant for [`Sight`]'s stamps.
fn origin() -> Instant {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    *ORIGIN.get_or_init(Instant::now)
}

fn now_stamp() -> u64 {
    u64::try_from(origin().elapsed().as_millis()).unwrap_or(u64::MAX - 1) + 1
}

impl Sight {
    /// Records what the client said. Saying "hidden" again keeps the time
    /// it was first hidden: repeating it does not make the page fresher.
    pub fn set(&self, visible: bool) {
        if visible {
            self.hidden_at.store(0, Ordering::Relaxed);
        } else {
            let _ = self.hidden_at.compare_exchange(
                0,
                now_stamp(),
                Ordering::Relaxed,
                Ordering::Relaxed,
            );
        }
    }

    /// Whether the page is visible, or was within the last `window`.
    pub fn seen_within(&self, window: Duration) -> bool {
        match self.hidden_at.load(Ordering::Relaxed) {
            0 => true,
            hidden => {
                let since = now_stamp().saturating_sub(hidden);
                u128::from(since) < window.as_millis()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn visible_until_hidden_then_for_the_window() {
        let s = Sight::default();
        assert!(s.seen_within(Duration::ZERO), "looking from the start");
        s.set(false);
        assert!(s.seen_within(Duration::from_secs(30)), "just hidden");
        std::thread::sleep(Duration::from_millis(20));
        assert!(
            !s.seen_within(Duration::from_millis(10)),
            "hidden long enough"
        );
        s.set(false);
        assert!(
            !s.seen_within(Duration::from_millis(10)),
            "saying hidden again does not refresh it"
        );
        s.set(true);
        assert!(s.seen_within(Duration::ZERO));
    }
}
