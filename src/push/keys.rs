//! The server's VAPID identity (RFC 8292): a P-256 key pair generated on
//! first start and kept in the data directory with mode 0600, like the
//! JWT secret, and the contact (`--vapid-subject`) push services may use.
//!
//! Browsers bind every subscription to the public key they were given
//! (`GET /api/push/key`): a new key silently orphans them all. So a key
//! file that does not read back is an error at start, never a reason to
//! make a new one.

use std::path::Path;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use p256::ecdsa::SigningKey;

use crate::config::ConfigError;

/// Name of the key file inside the data directory: the private scalar,
/// 32 bytes as unpadded base64url (the form web-push tools print).
pub const KEY_FILE: &str = "vapid-private-key";

/// The subject used when none is configured; push services may refuse it,
/// so `serve` warns at start.
pub const DEFAULT_SUBJECT: &str = "mailto:admin@localhost";

/// The server's VAPID key pair. Its `Debug` never shows the private key.
#[derive(Clone)]
pub struct VapidKeys {
    signing: SigningKey,
    public: String,
}

impl std::fmt::Debug for VapidKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VapidKeys")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

impl VapidKeys {
    fn new(signing: SigningKey) -> VapidKeys {
        let point = signing.verifying_key().to_encoded_point(false);
        let public = URL_SAFE_NO_PAD.encode(point.as_bytes());
        VapidKeys { signing, public }
    }

    /// The key that signs each push request's VAPID JWT (ES256).
    pub fn signing_key(&self) -> &SigningKey {
        &self.signing
    }

    /// The public key as browsers want it for `applicationServerKey`: the
    /// 65-byte uncompressed point, unpadded base64url.
    pub fn public_key(&self) -> &str {
        &self.public
    }

    /// Reads the key of `dir`, or creates one (mode 0600) if there is none.
    pub fn load_or_create(dir: &Path) -> Result<VapidKeys, ConfigError> {
        let path = dir.join(KEY_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => return parse(&text).map(VapidKeys::new).map_err(|why| {
                ConfigError(format!("the VAPID key file {} is corrupt ({why}); restore it from a copy, or delete it to make a new one (every push subscription then stops working)", path.display()))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(ConfigError(format!("cannot read {}: {e}", path.display()))),
        }
        let mut raw = [0u8; 32];
        let signing = loop {
            getrandom::getrandom(&mut raw)
                .map_err(|e| ConfigError(format!("no randomness from the OS: {e}")))?;
            // All but a 2^-128 fraction of 32-byte strings are valid scalars.
            if let Ok(k) = SigningKey::from_slice(&raw) {
                break k;
            }
        };
        raw.fill(0);
        let text = URL_SAFE_NO_PAD.encode(signing.to_bytes());
        crate::config::write_new_private(&path, text.as_bytes())?;
        Ok(VapidKeys::new(signing))
    }
}

impl VapidKeys {
    /// The private key as a key file holds it (unpadded base64url), to
    /// share it with the other nodes of a cluster through their store.
    pub fn to_text(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.signing.to_bytes())
    }

    /// The keys whose private key is `text`, as [`VapidKeys::to_text`]
    /// writes it.
    pub fn from_text(text: &str) -> Result<VapidKeys, String> {
        parse(text)
            .map(VapidKeys::new)
            .map_err(|why| format!("the shared VAPID key is corrupt ({why})"))
    }
}

/// The private key a key file holds, or why it holds none.
fn parse(text: &str) -> Result<SigningKey, &'static str> {
    let raw = URL_SAFE_NO_PAD
        .decode(text.trim())
        .map_err(|_| "not base64url")?;
    if raw.len() != 32 {
        return Err("not 32 bytes");
    }
    SigningKey::from_slice(&raw).map_err(|_| "not a P-256 private key")
}

/// The `--vapid-subject`: a `mailto:` or `https:` contact for the
/// operators of push services (RFC 8292, section 2.1); the default when
/// none is given ([`warn_if_default`] says so once the server started).
pub fn subject(given: Option<&str>) -> Result<String, ConfigError> {
    let Some(s) = given.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(DEFAULT_SUBJECT.to_owned());
    };
    let ok =
        |p: &str| s.len() > p.len() && s.get(..p.len()).is_some_and(|h| h.eq_ignore_ascii_case(p));
    if !(ok("mailto:") || ok("https://")) || s.chars().any(char::is_whitespace) {
        return Err(ConfigError(format!(
            "--vapid-subject {s:?} must be a contact such as mailto:admin@example.org or https://example.org"
        )));
    }
    Ok(s.to_owned())
}

/// Logs a warning when `subject` is the default: push services may
/// refuse, or be unable to reach, `admin@localhost`. Called once the
/// server started, so that a start that fails says only why.
pub fn warn_if_default(subject: &str) {
    if subject == DEFAULT_SUBJECT {
        tracing::warn!(
            "no --vapid-subject given: push services see {DEFAULT_SUBJECT}; set a contact (mailto: or https:) they can reach"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn key_is_generated_once_with_mode_0600() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = VapidKeys::load_or_create(dir.path()).expect("create");
        let b = VapidKeys::load_or_create(dir.path()).expect("reload");
        assert_eq!(a.public_key(), b.public_key());
        assert_eq!(a.signing_key(), b.signing_key());
        let point = URL_SAFE_NO_PAD.decode(a.public_key()).expect("base64url");
        assert_eq!((point.len(), point[0]), (65, 4));
        let meta = std::fs::metadata(dir.path().join(KEY_FILE)).expect("meta");
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert!(!format!("{a:?}").contains(&URL_SAFE_NO_PAD.encode(a.signing_key().to_bytes())));
    }

    #[test]
    fn a_corrupt_key_file_is_an_error_and_is_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(KEY_FILE);
        for bad in ["not base64!", "AAAA", &URL_SAFE_NO_PAD.encode([0u8; 32])] {
            std::fs::write(&path, bad).expect("write");
            let err = VapidKeys::load_or_create(dir.path()).expect_err("refused");
            assert!(err.0.contains("corrupt") && !err.0.contains('\n'), "{err}");
            assert_eq!(std::fs::read_to_string(&path).expect("kept"), bad);
        }
    }

    #[test]
    fn subjects_are_mailto_or_https() {
        assert_eq!(subject(None).expect("default"), DEFAULT_SUBJECT);
        assert_eq!(subject(Some(" ")).expect("default"), DEFAULT_SUBJECT);
        for good in ["mailto:ops@example.org", "https://example.org/contact"] {
            assert_eq!(subject(Some(good)).expect(good), good);
        }
        for bad in [
            "http://example.org",
            "ops@example.org",
            "mailto:",
            "https://a b",
        ] {
            assert!(subject(Some(bad)).is_err(), "{bad}");
        }
    }
}
