//! What one TCP connection may hold and for how long: the cap on open
//! connections, the descriptor limit it is derived from, and the hyper
//! settings that bound a connection's silence.
//!
//! A connection takes a slot of the cap when it is accepted and gives it
//! back when its socket closes, WebSocket or not: the slot lives in the IO
//! object itself ([`Held`]), which hyper hands over to the WebSocket on
//! upgrade.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use hyper_util::rt::TokioTimer;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::OwnedSemaphorePermit;

use crate::config::Settings;

/// Share of the descriptor limit TCP connections may use when
/// `--max-tcp-connections` is 0; the rest is for the database files, the
/// admin socket and the process's own descriptors.
const TCP_SHARE_PERCENT: u64 = 90;

/// Descriptors always left for the rest when the cap is derived from the
/// limit: a started server already holds about 15 (standard streams, the
/// runtime's poller, the listener, the admin socket, the database), and
/// admin commands and backups open more. 10% alone is too little under a
/// small limit.
const RESERVED_DESCRIPTORS: u64 = 32;

/// Largest request head (request line and headers) hyper reads. Heads up
/// to this size reach our own checks ([`crate::http::MAX_HEADER_BYTES`]) and
/// get the contract's error body; larger ones get hyper's bare 431.
const MAX_HEAD_BUFFER: usize = 64 * 1024;

/// Most header fields hyper parses. Above [`crate::http::MAX_HEADER_FIELDS`]
/// and up to this, our check answers with the contract's body.
const MAX_HEADER_FIELDS_PARSED: usize = 200;

/// The HTTP/1.1 connection settings: no HTTP/2 (hyper's version sniffing
/// waits for first bytes without any timeout), and request heads must
/// arrive within `header_timeout` of the accept or of the previous
/// response.
pub fn http1(settings: &Settings) -> hyper::server::conn::http1::Builder {
    let mut b = hyper::server::conn::http1::Builder::new();
    b.timer(TokioTimer::new())
        .header_read_timeout(settings.header_timeout)
        .max_buf_size(MAX_HEAD_BUFFER)
        .max_headers(MAX_HEADER_FIELDS_PARSED);
    b
}

/// Raises the soft descriptor limit to the hard one (a server wants every
/// descriptor it is allowed) and returns the soft limit now in force, or
/// `None` when it cannot be read.
pub fn raise_descriptor_limit() -> Option<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct given.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return None;
    }
    if lim.rlim_cur < lim.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: lim.rlim_max,
            rlim_max: lim.rlim_max,
        };
        // SAFETY: as above.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            lim.rlim_cur = lim.rlim_max;
        } else {
            tracing::warn!(
                soft = lim.rlim_cur,
                hard = lim.rlim_max,
                "cannot raise the descriptor limit"
            );
        }
    }
    Some(lim.rlim_cur)
}

/// The cap on open TCP connections: the setting, or when it is 0 a share
/// of the descriptor limit that leaves [`RESERVED_DESCRIPTORS`] free (an
/// infinite limit does not bound it).
pub fn tcp_cap(setting: usize, descriptors: Option<u64>) -> usize {
    if setting > 0 {
        return setting;
    }
    match descriptors {
        Some(n) if n != libc::RLIM_INFINITY => {
            let share = (n.saturating_mul(TCP_SHARE_PERCENT) / 100)
                .min(n.saturating_sub(RESERVED_DESCRIPTORS));
            usize::try_from(share).unwrap_or(usize::MAX).max(1)
        }
        _ => usize::MAX >> 4,
    }
}

/// A rate limit for a log line: true at most once per `period`, so a
/// condition that lasts (cap reached, descriptors exhausted) is reported
/// without a line per refused accept.
pub struct Every {
    period: Duration,
    last: Option<Instant>,
}

impl Every {
    pub fn new(period: Duration) -> Every {
        Every { period, last: None }
    }

    pub fn ready(&mut self) -> bool {
        let now = Instant::now();
        if self
            .last
            .is_some_and(|t| now.duration_since(t) < self.period)
        {
            return false;
        }
        self.last = Some(now);
        true
    }
}

/// An IO object holding a slot of the connection cap as long as it lives,
/// through an upgrade to WebSocket too.
pub struct Held<T> {
    io: T,
    _slot: OwnedSemaphorePermit,
}

impl<T> Held<T> {
    pub fn new(io: T, slot: OwnedSemaphorePermit) -> Held<T> {
        Held { io, _slot: slot }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Held<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Held<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cap_is_the_setting_or_a_share_of_descriptors() {
        assert_eq!(tcp_cap(7, Some(1000)), 7);
        assert_eq!(tcp_cap(0, Some(1000)), 900);
        assert_eq!(tcp_cap(0, Some(256)), 224);
        assert_eq!(tcp_cap(0, Some(64)), 32);
        assert_eq!(tcp_cap(0, Some(1)), 1);
        assert!(tcp_cap(0, None) > 1_000_000);
    }

    #[test]
    fn every_fires_once_per_period() {
        let mut e = Every::new(Duration::from_secs(60));
        assert!(e.ready());
        assert!(!e.ready());
    }
}
