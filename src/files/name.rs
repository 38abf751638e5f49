//! A file's name: what an uploader may give (the last component of a path,
//! no control characters, bounded), and how it is given back in
//! `Content-Disposition` (RFC 6266, with the RFC 5987 `filename*` for
//! names beyond ASCII).

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// Longest name kept, in bytes of UTF-8 (what file systems allow).
pub const MAX_NAME_BYTES: usize = 255;

/// RFC 5987 `attr-char`s stay as they are; everything else is encoded.
const ATTR_CHAR: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'!')
    .remove(b'#')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b'-')
    .remove(b'.')
    .remove(b'^')
    .remove(b'_')
    .remove(b'`')
    .remove(b'|')
    .remove(b'~');

/// The name to keep for an uploaded file called `raw`: its last path
/// component (after `/` or `\`), trimmed. Refused (with the reason) when
/// that is empty, `.` or `..`, holds a control character, or is longer
/// than [`MAX_NAME_BYTES`].
pub fn clean(raw: &str) -> Result<String, String> {
    let last = raw.rsplit(['/', '\\']).next().unwrap_or(raw).trim();
    if last.is_empty() || last == "." || last == ".." {
        return Err("a file needs a name".into());
    }
    if last.chars().any(char::is_control) {
        return Err("a file name may not hold control characters".into());
    }
    if last.len() > MAX_NAME_BYTES {
        return Err(format!(
            "a file name is at most {MAX_NAME_BYTES} bytes of UTF-8"
        ));
    }
    Ok(last.to_owned())
}

/// The `Content-Disposition` value for a file called `name`: `inline` (shown
/// in the page) or `attachment` (downloaded), with an ASCII `filename` for
/// old clients and the exact name in `filename*`.
pub fn content_disposition(inline: bool, name: &str) -> String {
    let kind = if inline { "inline" } else { "attachment" };
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let exact = utf8_percent_encode(name, ATTR_CHAR);
    format!("{kind}; filename=\"{ascii}\"; filename*=UTF-8''{exact}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_keep_their_last_component_only() {
        assert_eq!(
            clean("C:\\Users\\ann\\photo.jpg").as_deref(),
            Ok("photo.jpg")
        );
        assert_eq!(clean("../../etc/passwd").as_deref(), Ok("passwd"));
        assert_eq!(clean("  notes.txt ").as_deref(), Ok("notes.txt"));
        assert_eq!(clean("été 2026.png").as_deref(), Ok("été 2026.png"));
        for bad in ["", "dir/", "..", "a/..", "a\nb", "tab\there", "x\u{7f}"] {
            assert!(clean(bad).is_err(), "{bad:?}");
        }
        assert!(clean(&"x".repeat(MAX_NAME_BYTES)).is_ok());
        assert!(clean(&"x".repeat(MAX_NAME_BYTES + 1)).is_err());
    }

    #[test]
    fn dispositions_quote_safely_and_keep_the_exact_name() {
        assert_eq!(
            content_disposition(false, "a \"b\".txt"),
            "attachment; filename=\"a _b_.txt\"; filename*=UTF-8''a%20%22b%22.txt"
        );
        assert_eq!(
            content_disposition(true, "été.png"),
            "inline; filename=\"_t_.png\"; filename*=UTF-8''%C3%A9t%C3%A9.png"
        );
    }
}
