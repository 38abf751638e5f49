//! VAPID (RFC 8292): the signed token that tells a push service which
//! application server sends, so that it accepts the request and can reach
//! the operator (the subject) when something goes wrong.
//!
//! jsonwebtoken, which already signs the server's session tokens, signs it
//! (ES256): one JWT implementation in the binary rather than two.
//!
//! A signature costs about as much as encrypting the payload, and every
//! notification to one push service (there are a handful: each browser
//! vendor runs one) may carry the same token: each origin's token is kept
//! and used again for [`REUSE_SECS`], while it has hours left.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hyper::Uri;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::pkcs8::EncodePrivateKey;
use serde::Serialize;

use super::send::StartError;

/// How long a token is valid. RFC 8292 allows at most 24 hours; half of
/// that leaves room for a push service whose clock is ahead of ours.
pub(crate) const TOKEN_LIFETIME_SECS: u64 = 12 * 60 * 60;

/// How long one origin's token is used again: well inside its lifetime.
pub(crate) const REUSE_SECS: u64 = 60 * 60;

/// Origins whose tokens are kept; past it the cache starts over (only an
/// odd server would see that many push services).
const KEPT_ORIGINS: usize = 64;

/// The server's VAPID identity: its signing key, its public key as push
/// services expect it, and the operator's contact.
pub(crate) struct Vapid {
    key: EncodingKey,
    /// The uncompressed public point, base64url: the header's `k=`.
    public_key: String,
    subject: String,
    /// Origin -> (when signed, the header value).
    signed: std::sync::Mutex<std::collections::HashMap<String, (u64, String)>>,
}

#[derive(Serialize)]
struct Claims<'a> {
    aud: &'a str,
    exp: u64,
    sub: &'a str,
}

impl Vapid {
    /// Takes the key pair and the contact, which must be a `mailto:` or an
    /// `https:` URI (push services may refuse anything else).
    pub(crate) fn new(secret: &p256::SecretKey, subject: &str) -> Result<Vapid, StartError> {
        if !(subject.starts_with("mailto:") || subject.starts_with("https:")) {
            return Err(StartError::Subject(subject.to_string()));
        }
        let der = secret
            .to_pkcs8_der()
            .map_err(|e| StartError::Key(e.to_string()))?;
        let point = secret.public_key().to_encoded_point(false);
        Ok(Vapid {
            key: EncodingKey::from_ec_der(der.as_bytes()),
            public_key: URL_SAFE_NO_PAD.encode(point.as_bytes()),
            subject: subject.to_string(),
            signed: std::sync::Mutex::default(),
        })
    }

    /// The `Authorization` header value for a request to `endpoint` at
    /// `now` (seconds since the epoch): `vapid t=<JWT>, k=<public key>`.
    /// The token of a request made within [`REUSE_SECS`] to the same
    /// origin is used again.
    pub(crate) fn authorization(&self, endpoint: &Uri, now: u64) -> Result<String, String> {
        let aud = origin(endpoint).ok_or("endpoint without scheme or host")?;
        let mut signed = self.signed.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((at, header)) = signed.get(&aud) {
            if now >= *at && now - *at < REUSE_SECS {
                return Ok(header.clone());
            }
        }
        let claims = Claims {
            aud: &aud,
            exp: now + TOKEN_LIFETIME_SECS,
            sub: &self.subject,
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::ES256), &claims, &self.key)
            .map_err(|e| format!("cannot sign the VAPID token: {e}"))?;
        let header = format!("vapid t={token}, k={}", self.public_key);
        if signed.len() >= KEPT_ORIGINS {
            signed.clear();
        }
        signed.insert(aud, (now, header.clone()));
        Ok(header)
    }
}

/// The origin of `uri` as RFC 6454 serialises it (the token's audience):
/// scheme, host, and the port only when it is not the scheme's default.
pub(crate) fn origin(uri: &Uri) -> Option<String> {
    let scheme = uri.scheme_str()?;
    let host = uri.host()?;
    let default = match scheme {
        "https" => Some(443),
        "http" => Some(80),
        _ => None,
    };
    Some(match uri.port_u16() {
        Some(port) if Some(port) != default => format!("{scheme}://{host}:{port}"),
        _ => format!("{scheme}://{host}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(s: &str) -> Uri {
        s.parse().expect("uri")
    }

    #[test]
    fn the_origin_keeps_only_a_port_that_is_not_the_default() {
        for (endpoint, expected) in [
            (
                "https://fcm.googleapis.com/fcm/send/abc",
                "https://fcm.googleapis.com",
            ),
            ("https://push.example:443/x", "https://push.example"),
            ("https://push.example:8443/x", "https://push.example:8443"),
            ("http://127.0.0.1:9000/x", "http://127.0.0.1:9000"),
        ] {
            assert_eq!(origin(&uri(endpoint)).as_deref(), Some(expected));
        }
        assert_eq!(origin(&uri("/relative")), None);
    }

    #[test]
    fn the_subject_must_be_a_mail_address_or_an_https_page() {
        let key = p256::SecretKey::from_slice(&[7u8; 32]).expect("key");
        assert!(Vapid::new(&key, "mailto:admin@example.org").is_ok());
        assert!(Vapid::new(&key, "https://chat.example.org/contact").is_ok());
        assert!(matches!(
            Vapid::new(&key, "admin@example.org"),
            Err(StartError::Subject(_))
        ));
    }

    #[test]
    fn the_header_carries_a_token_and_the_public_key() {
        let key = p256::SecretKey::from_slice(&[7u8; 32]).expect("key");
        let vapid = Vapid::new(&key, "mailto:a@b.c").expect("vapid");
        let header = vapid
            .authorization(&uri("https://push.example/x"), 1_000)
            .expect("header");
        let (t, k) = header
            .strip_prefix("vapid t=")
            .and_then(|rest| rest.split_once(", k="))
            .expect("shape");
        assert_eq!(t.split('.').count(), 3, "a JWS compact token");
        let point = URL_SAFE_NO_PAD.decode(k).expect("base64url");
        assert_eq!(point.len(), 65, "an uncompressed P-256 point");
        assert_eq!(point[0], 4);
    }

    #[test]
    fn a_token_is_reused_per_origin_for_an_hour_then_signed_anew() {
        let key = p256::SecretKey::from_slice(&[7u8; 32]).expect("key");
        let vapid = Vapid::new(&key, "mailto:a@b.c").expect("vapid");
        let at = |endpoint: &str, now| vapid.authorization(&uri(endpoint), now).expect("header");
        let first = at("https://push.example/a", 1_000);
        assert_eq!(at("https://push.example/b", 1_000 + REUSE_SECS - 1), first);
        assert_ne!(at("https://other.example/a", 1_000), first, "per origin");
        assert_ne!(at("https://push.example/a", 1_000 + REUSE_SECS), first);
    }
}
