//! Raw TCP: what a test reads from a socket it wrote bytes to by hand,
//! for the requests no HTTP client would send. Every read is bounded.

use std::io::{ErrorKind, Read};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// How long one read waits before the deadline is looked at again.
const READ_SLICE: Duration = Duration::from_millis(100);

/// One read from a socket with a read timeout: `Some(n)` bytes (0 when the
/// peer closed), None when nothing came within the timeout.
fn read_or_idle(stream: &mut TcpStream, buf: &mut [u8]) -> std::io::Result<Option<usize>> {
    match stream.read(buf) {
        Ok(n) => Ok(Some(n)),
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Reads one HTTP response (status line, headers, Content-Length body) or
/// fails when none arrives whole before EOF or the deadline. The head keeps
/// its case.
pub fn read_http_response(stream: &mut TcpStream, limit: Duration) -> (u16, String, String) {
    stream.set_read_timeout(Some(READ_SLICE)).expect("timeout");
    let deadline = Instant::now() + limit;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_string();
            let len = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                })
                .unwrap_or(0);
            if buf.len() >= end + 4 + len {
                let status = head
                    .split_whitespace()
                    .nth(1)
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0);
                let body = String::from_utf8_lossy(&buf[end + 4..end + 4 + len]).to_string();
                return (status, head, body);
            }
        }
        let got = |buf: &[u8]| String::from_utf8_lossy(buf).into_owned();
        assert!(
            Instant::now() < deadline,
            "no complete response in time; got {:?}",
            got(&buf)
        );
        match read_or_idle(stream, &mut chunk) {
            Ok(Some(0)) => panic!(
                "connection closed before a complete response; got {:?}",
                got(&buf)
            ),
            Ok(Some(n)) => buf.extend_from_slice(&chunk[..n]),
            Ok(None) => {}
            Err(e) => panic!("read failed ({e}); got {:?}", got(&buf)),
        }
    }
}

/// Reads (and keeps) whatever arrives until the peer closes or resets the
/// connection, for at most `limit`: what arrived, and how long until the
/// end (None if the socket is still open after `limit`).
pub fn read_until_close(stream: &mut TcpStream, limit: Duration) -> (Vec<u8>, Option<Duration>) {
    stream.set_read_timeout(Some(READ_SLICE)).expect("timeout");
    let start = Instant::now();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while start.elapsed() < limit {
        match read_or_idle(stream, &mut buf) {
            Ok(Some(0)) | Err(_) => return (out, Some(start.elapsed())),
            Ok(Some(n)) => out.extend_from_slice(&buf[..n]),
            Ok(None) => {}
        }
    }
    (out, None)
}
