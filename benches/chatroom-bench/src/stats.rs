//! What one connection observed, and the sum over all of them.
//!
//! Each connection task owns its counters and histograms outright (no
//! locks on the hot path); they are merged once, after the run.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use hdrhistogram::Histogram;

/// Latencies are recorded in microseconds, up to this (one minute); longer
/// ones are clamped to it.
const MAX_LATENCY_US: u64 = 60_000_000;
/// Significant figures of the histograms: 1% resolution keeps one histogram
/// per connection small (a few tens of KiB), which matters at 1000+
/// connections.
const SIGFIG: u8 = 2;

/// A latency histogram in microseconds.
pub fn latency_histogram() -> Histogram<u64> {
    // The bounds are constants that hdrhistogram accepts.
    Histogram::new_with_bounds(1, MAX_LATENCY_US, SIGFIG).unwrap_or_else(|_| unreachable!())
}

/// How a connection ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    /// Still open when the generator stopped reading.
    Open,
    /// The server sent a close frame with this code (0: no code).
    ClosedByServer(u16),
    /// The connection ended without a close frame, or failed.
    Dropped,
}

/// Everything one connection observed.
pub struct ConnStats {
    /// `receiveMessage` frames received, ours or not.
    pub deliveries: u64,
    /// End-to-end latency of our messages (send time embedded in the text).
    pub latency: Histogram<u64>,
    /// Per sender: messages of that sender received.
    pub received: Vec<u64>,
    /// Per sender: highest sequence number received, or -1.
    last_seq: Vec<i64>,
    /// Messages whose sequence number was not above the last one seen from
    /// the same sender (reordered or duplicated).
    pub out_of_order: u64,
    /// Sequence numbers skipped over (a later one arrived first).
    pub gaps: u64,
    /// `receiveMessage` frames that were not ours or not parsable.
    pub foreign: u64,
    /// `error` frames by code.
    pub errors: BTreeMap<String, u64>,
    pub ending: Ending,
    /// Why the connection ended without a close frame, if it did.
    pub drop_reason: Option<String>,
    /// Nanoseconds since the run's start of the last delivery.
    pub last_delivery_ns: u64,
    /// Sender side (zero for pure receivers).
    pub sent: u64,
    pub acked: u64,
    /// Sends answered by an `error` frame.
    pub refused: u64,
    pub ack_latency: Histogram<u64>,
    pub last_ack_ns: u64,
    /// Nanoseconds since the run's start when this sender stopped sending.
    pub send_stop_ns: u64,
}

impl ConnStats {
    pub fn new(senders: usize) -> ConnStats {
        ConnStats {
            deliveries: 0,
            latency: latency_histogram(),
            received: vec![0; senders],
            last_seq: vec![-1; senders],
            out_of_order: 0,
            gaps: 0,
            foreign: 0,
            errors: BTreeMap::new(),
            ending: Ending::Open,
            drop_reason: None,
            last_delivery_ns: 0,
            sent: 0,
            acked: 0,
            refused: 0,
            ack_latency: latency_histogram(),
            last_ack_ns: 0,
            send_stop_ns: 0,
        }
    }

    /// Records one of our messages; returns the new count received from
    /// that sender, or `None` if the sender index is unknown.
    pub fn on_message(
        &mut self,
        sender: usize,
        seq: u64,
        sent_ns: u64,
        now_ns: u64,
    ) -> Option<u64> {
        let last = self.last_seq.get_mut(sender)?;
        let seq = i64::try_from(seq).unwrap_or(i64::MAX);
        if seq <= *last {
            self.out_of_order += 1;
        } else {
            self.gaps += (seq - *last - 1) as u64;
            *last = seq;
        }
        self.latency
            .saturating_record(now_ns.saturating_sub(sent_ns) / 1_000);
        let count = &mut self.received[sender];
        *count += 1;
        Some(*count)
    }

    pub fn on_error(&mut self, code: &str) {
        *self.errors.entry(code.to_string()).or_insert(0) += 1;
    }
}

/// Live counters for the progress line, shared by all connection tasks.
#[derive(Default)]
pub struct Progress {
    pub acks: AtomicU64,
    pub deliveries: AtomicU64,
    pub closed: AtomicU64,
}

impl Progress {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// The sum over all connections.
pub struct Summary {
    pub connections: usize,
    pub deliveries: u64,
    pub latency: Histogram<u64>,
    pub ack_latency: Histogram<u64>,
    pub sent: u64,
    pub acked: u64,
    pub refused: u64,
    /// Acked messages some still-open connection never received.
    pub lost: u64,
    /// Acked messages missing on connections the server closed.
    pub missed_by_closed: u64,
    pub out_of_order: u64,
    pub gaps: u64,
    pub foreign: u64,
    pub errors: BTreeMap<String, u64>,
    /// Close codes sent by the server, with how many connections got each.
    pub closed_by_server: BTreeMap<u16, u64>,
    pub dropped: u64,
    /// Why the first dropped connection ended.
    pub first_drop_reason: Option<String>,
    pub last_delivery_ns: u64,
    pub last_ack_ns: u64,
    /// When the last sender stopped sending (nanoseconds since the start).
    pub send_stop_ns: u64,
}

impl Summary {
    /// Merges all connections. `acked_per_sender[s]` is the number of
    /// messages sender `s` got acked: every connection should have received
    /// that many from it.
    pub fn merge(all: &[ConnStats], acked_per_sender: &[u64]) -> Summary {
        let mut s = Summary {
            connections: all.len(),
            deliveries: 0,
            latency: latency_histogram(),
            ack_latency: latency_histogram(),
            sent: 0,
            acked: 0,
            refused: 0,
            lost: 0,
            missed_by_closed: 0,
            out_of_order: 0,
            gaps: 0,
            foreign: 0,
            errors: BTreeMap::new(),
            closed_by_server: BTreeMap::new(),
            dropped: 0,
            first_drop_reason: None,
            last_delivery_ns: 0,
            last_ack_ns: 0,
            send_stop_ns: 0,
        };
        for c in all {
            s.deliveries += c.deliveries;
            // Same bounds everywhere, so adding cannot fail.
            let _ = s.latency.add(&c.latency);
            let _ = s.ack_latency.add(&c.ack_latency);
            s.sent += c.sent;
            s.acked += c.acked;
            s.refused += c.refused;
            s.out_of_order += c.out_of_order;
            s.gaps += c.gaps;
            s.foreign += c.foreign;
            for (code, n) in &c.errors {
                *s.errors.entry(code.clone()).or_insert(0) += n;
            }
            let missing: u64 = acked_per_sender
                .iter()
                .zip(&c.received)
                .map(|(acked, got)| acked.saturating_sub(*got))
                .sum();
            match c.ending {
                Ending::Open => s.lost += missing,
                Ending::ClosedByServer(code) => {
                    *s.closed_by_server.entry(code).or_insert(0) += 1;
                    s.missed_by_closed += missing;
                }
                Ending::Dropped => {
                    s.dropped += 1;
                    if s.first_drop_reason.is_none() {
                        s.first_drop_reason.clone_from(&c.drop_reason);
                    }
                    s.missed_by_closed += missing;
                }
            }
            s.last_delivery_ns = s.last_delivery_ns.max(c.last_delivery_ns);
            s.last_ack_ns = s.last_ack_ns.max(c.last_ack_ns);
            s.send_stop_ns = s.send_stop_ns.max(c.send_stop_ns);
        }
        s
    }
}

/// `value` microseconds as milliseconds with three decimals.
pub fn ms(us: u64) -> String {
    format!("{:.3}", us as f64 / 1000.0)
}

/// Prints `p50`, `p99` and `max` of a latency histogram under `name`.
pub fn print_latency(name: &str, h: &Histogram<u64>) {
    if h.is_empty() {
        println!("{name}_p50_ms: n/a");
        println!("{name}_p99_ms: n/a");
        println!("{name}_max_ms: n/a");
        return;
    }
    println!("{name}_p50_ms: {}", ms(h.value_at_quantile(0.50)));
    println!("{name}_p99_ms: {}", ms(h.value_at_quantile(0.99)));
    println!("{name}_max_ms: {}", ms(h.max()));
}

/// `a=1, b=2`, or `none`.
pub fn format_counts<K: std::fmt::Display>(map: &BTreeMap<K, u64>) -> String {
    if map.is_empty() {
        return "none".to_string();
    }
    map.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_order_messages_leave_no_gap_and_count_per_sender() {
        let mut c = ConnStats::new(2);
        assert_eq!(c.on_message(0, 0, 0, 1_000_000), Some(1));
        assert_eq!(c.on_message(0, 1, 0, 2_000_000), Some(2));
        assert_eq!(c.on_message(1, 0, 0, 3_000_000), Some(1));
        assert_eq!((c.out_of_order, c.gaps), (0, 0));
        assert_eq!(c.latency.len(), 3);
    }

    #[test]
    fn reordered_and_skipped_messages_are_counted() {
        let mut c = ConnStats::new(1);
        c.on_message(0, 0, 0, 0);
        c.on_message(0, 3, 0, 0);
        c.on_message(0, 2, 0, 0);
        assert_eq!(c.gaps, 2);
        assert_eq!(c.out_of_order, 1);
        assert_eq!(c.on_message(5, 0, 0, 0), None);
    }

    #[test]
    fn lost_counts_only_open_connections() {
        let mut open = ConnStats::new(1);
        open.on_message(0, 0, 0, 0);
        let mut closed = ConnStats::new(1);
        closed.ending = Ending::ClosedByServer(1013);
        let s = Summary::merge(&[open, closed], &[3]);
        assert_eq!(s.lost, 2);
        assert_eq!(s.missed_by_closed, 3);
        assert_eq!(s.closed_by_server.get(&1013), Some(&1));
    }
}
