//! Reading lines of a bounded length. A line longer than its bound is
//! refused after one byte past the bound, never held whole, so a peer or a
//! file of one endless line costs no more memory than the longest line
//! allowed.

use std::io::{self, BufRead, Read};

/// What [`read_line`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    /// A line is in the buffer (with its `\n`, unless the input ended first).
    Read,
    /// The input had ended; the buffer is empty.
    End,
    /// The line is longer than the bound; the buffer holds only its start.
    TooLong,
}

/// Reads the next line into `buf` (cleared first), at most `max` bytes.
pub fn read_line<R: BufRead + ?Sized>(
    input: &mut R,
    buf: &mut Vec<u8>,
    max: usize,
) -> io::Result<Line> {
    buf.clear();
    let n = input.take(max as u64 + 1).read_until(b'\n', buf)?;
    Ok(if n == 0 {
        Line::End
    } else if buf.len() > max {
        Line::TooLong
    } else {
        Line::Read
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_past_the_bound_are_refused_without_reading_on() {
        let mut input: &[u8] = b"short\ntoo long a line\nnext\n";
        let mut buf = Vec::new();
        assert_eq!(
            read_line(&mut input, &mut buf, 8).expect("read"),
            Line::Read
        );
        assert_eq!(buf, b"short\n");
        assert_eq!(
            read_line(&mut input, &mut buf, 8).expect("read"),
            Line::TooLong
        );
        assert_eq!(buf.len(), 9);
        assert_eq!(input, b"a line\nnext\n", "one byte past the bound, no more");
        let mut rest: &[u8] = b"";
        assert_eq!(read_line(&mut rest, &mut buf, 8).expect("read"), Line::End);
        assert!(buf.is_empty());
    }
}
