//! What type a file is, judged from its own first bytes, never from the
//! name or the `Content-Type` its uploader gave: only a short allowlist
//! of types is ever served as such, everything else as
//! `application/octet-stream`. HTML, SVG and other markup are at most
//! `text/plain`, so no upload can become a page of this origin.

/// Served as is when nothing better is known: the browser downloads it.
pub const OCTET_STREAM: &str = "application/octet-stream";

/// Plain text: valid UTF-8 without a NUL in the bytes looked at.
pub const TEXT_PLAIN: &str = "text/plain";

/// The types recognised from a file's signature, as `infer` names them,
/// and the type served for each.
const SIGNATURES: &[(&str, &str)] = &[
    ("image/png", "image/png"),
    ("image/jpeg", "image/jpeg"),
    ("image/gif", "image/gif"),
    ("image/webp", "image/webp"),
    ("application/pdf", "application/pdf"),
    ("audio/mpeg", "audio/mpeg"),
    ("audio/ogg", "audio/ogg"),
    ("audio/opus", "audio/ogg"),
    ("audio/x-wav", "audio/wav"),
    ("video/mp4", "video/mp4"),
    ("video/webm", "video/webm"),
    ("application/zip", "application/zip"),
];

/// The type of a file whose first bytes are `head` (up to
/// [`super::blobs::HEAD_BYTES`]); `whole` says whether `head` is the whole
/// file (a cut multi-byte character at its end is then not text).
pub fn sniff(head: &[u8], whole: bool) -> &'static str {
    if let Some(found) = infer::get(head) {
        let served = SIGNATURES
            .iter()
            .find(|(name, _)| *name == found.mime_type())
            .map(|(_, served)| *served);
        // A WebP is a RIFF file; `infer` alone looks only at its tag.
        let riff_ok = served != Some("image/webp") || head.starts_with(b"RIFF");
        if let Some(served) = served.filter(|_| riff_ok) {
            return served;
        }
    }
    if is_text(head, whole) {
        TEXT_PLAIN
    } else {
        OCTET_STREAM
    }
}

/// Whether `head` reads as UTF-8 text without NULs.
fn is_text(head: &[u8], whole: bool) -> bool {
    if head.contains(&0) {
        return false;
    }
    match std::str::from_utf8(head) {
        Ok(_) => true,
        // Only an incomplete character at the cut is forgiven.
        Err(e) => !whole && e.error_len().is_none(),
    }
}

/// Whether a type is shown in the page (images, audio, video) rather than
/// downloaded.
pub fn is_inline(served: &str) -> bool {
    ["image/", "audio/", "video/"]
        .iter()
        .any(|p| served.starts_with(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0";

    #[test]
    fn allowlisted_signatures_are_recognised() {
        assert_eq!(sniff(PNG, true), "image/png");
        assert_eq!(sniff(b"\xff\xd8\xff\xe0\0\x10JFIF\0", true), "image/jpeg");
        assert_eq!(sniff(b"GIF89a\x01\0\x01\0", true), "image/gif");
        assert_eq!(sniff(b"RIFF\x1a\0\0\0WEBPVP8 ", true), "image/webp");
        assert_eq!(
            sniff(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3", true),
            "application/pdf"
        );
        assert_eq!(sniff(b"PK\x03\x04\x14\0\0\0", true), "application/zip");
        assert_eq!(sniff(b"\0\0\0\x18ftypmp42\0\0\0\0", true), "video/mp4");
        assert_eq!(
            sniff(b"\x1a\x45\xdf\xa3\x9fB\x86\x81\x01", true),
            "video/webm"
        );
        assert_eq!(sniff(b"RIFF$\0\0\0WAVEfmt ", true), "audio/wav");
        assert_eq!(sniff(b"OggS\0\x02\0\0\0\0", true), "audio/ogg");
        assert_eq!(sniff(b"ID3\x04\0\0\0\0\0\0", true), "audio/mpeg");
    }

    #[test]
    fn markup_is_never_more_than_text() {
        let html = b"<!DOCTYPE html><html><script>alert(1)</script></html>";
        assert_eq!(sniff(html, true), TEXT_PLAIN);
        let svg = b"<?xml version=\"1.0\"?><svg xmlns=\"http://www.w3.org/2000/svg\"></svg>";
        assert_eq!(sniff(svg, true), TEXT_PLAIN);
        assert!(!is_inline(sniff(svg, true)));
    }

    #[test]
    fn text_and_binary_are_told_apart() {
        assert_eq!(sniff("héllo\n".as_bytes(), true), TEXT_PLAIN);
        assert_eq!(sniff(b"", true), TEXT_PLAIN);
        assert_eq!(sniff(b"a\0b", true), OCTET_STREAM);
        assert_eq!(sniff(b"\xff\xfe\xfd", true), OCTET_STREAM);
        // A character cut by the end of the sniffed bytes is still text...
        let cut = &"aé".as_bytes()[..2];
        assert_eq!(sniff(cut, false), TEXT_PLAIN);
        // ...but not when those bytes are the whole file.
        assert_eq!(sniff(cut, true), OCTET_STREAM);
        // A WebP tag without its RIFF header is not a WebP.
        assert_eq!(sniff(b"\0\0\0\0\0\0\0\0WEBPVP8 ", true), OCTET_STREAM);
    }

    #[test]
    fn only_media_is_inline() {
        assert!(is_inline("image/png") && is_inline("audio/ogg") && is_inline("video/mp4"));
        assert!(
            !is_inline(TEXT_PLAIN) && !is_inline("application/pdf") && !is_inline(OCTET_STREAM)
        );
    }
}
