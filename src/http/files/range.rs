//! The conditional and partial requests a file answers (RFC 9110): one
//! byte range (so that video can seek), `If-Range`, and `If-None-Match`
//! against the file's ETag.

/// The part of a file to send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    /// All of it (200): no range asked, or one this server ignores (another
    /// unit, several ranges, a malformed one, a stale `If-Range`).
    Whole,
    /// Bytes `start..=end` (206).
    Range { start: u64, end: u64 },
    /// A range with none of the file's bytes (416).
    Unsatisfiable,
}

/// The part asked by a `Range` header of a file of `size` bytes.
pub fn requested(range: Option<&str>, size: u64) -> Part {
    let Some(spec) = range.and_then(|r| r.trim().strip_prefix("bytes=")) else {
        return Part::Whole;
    };
    let Some((first, last)) = spec.trim().split_once('-') else {
        return Part::Whole;
    };
    let number = |s: &str| {
        let s = s.trim();
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<u64>().ok())
            .flatten()
    };
    match (number(first), number(last)) {
        // bytes=-N: the last N bytes.
        (None, Some(n)) if first.trim().is_empty() => {
            if n == 0 || size == 0 {
                Part::Unsatisfiable
            } else {
                Part::Range {
                    start: size.saturating_sub(n),
                    end: size - 1,
                }
            }
        }
        (Some(start), None) if last.trim().is_empty() => from(start, u64::MAX, size),
        (Some(start), Some(end)) if start <= end => from(start, end, size),
        _ => Part::Whole,
    }
}

fn from(start: u64, end: u64, size: u64) -> Part {
    if start >= size {
        Part::Unsatisfiable
    } else {
        Part::Range {
            start,
            end: end.min(size - 1),
        }
    }
}

/// Whether an `If-None-Match` (or `If-Range`) value names `etag` (given
/// with its quotes); `W/` is ignored, as the weak comparison wants.
pub fn names_etag(header: &str, etag: &str) -> bool {
    header
        .split(',')
        .map(str::trim)
        .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == etag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_read_as_the_rfc_says() {
        let r = |s: &str| requested(Some(s), 100);
        assert_eq!(requested(None, 100), Part::Whole);
        assert_eq!(r("bytes=0-9"), Part::Range { start: 0, end: 9 });
        assert_eq!(r("bytes=90-"), Part::Range { start: 90, end: 99 });
        assert_eq!(r("bytes=90-500"), Part::Range { start: 90, end: 99 });
        assert_eq!(r("bytes=-10"), Part::Range { start: 90, end: 99 });
        assert_eq!(r("bytes=-500"), Part::Range { start: 0, end: 99 });
        assert_eq!(r("bytes=100-"), Part::Unsatisfiable);
        assert_eq!(r("bytes=-0"), Part::Unsatisfiable);
        assert_eq!(requested(Some("bytes=0-"), 0), Part::Unsatisfiable);
        for ignored in [
            "bytes=5-1",
            "bytes=0-1,5-6",
            "items=0-1",
            "bytes=a-b",
            "bytes=-",
            "bytes=+1-2",
        ] {
            assert_eq!(r(ignored), Part::Whole, "{ignored}");
        }
    }

    #[test]
    fn etags_match_strongly_weakly_or_by_star() {
        let tag = "\"abc\"";
        assert!(names_etag("\"abc\"", tag));
        assert!(names_etag("\"x\", W/\"abc\"", tag));
        assert!(names_etag("*", tag));
        assert!(!names_etag("\"abd\"", tag));
        assert!(!names_etag("abc", tag));
    }
}
