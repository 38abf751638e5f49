//! Signed file links: what lets an `<img>` or a `<video>` fetch a file
//! without the account token in its URL. A link is
//! `?exp=<unix seconds>&sig=<hex>&u=<user id>` where `sig` is the
//! HMAC-SHA256, keyed with the server's secret, of
//! `file|{userId}|{fileId}|{exp}`: it proves that the server gave this
//! user this file until `exp`, and nothing else. It is refused once
//! expired, for another user or file, when altered, and when it claims
//! to live longer than [`LINK_LIFETIME`] (the server never signs such).
//! Whoever holds a link still needs to see the file's room when using it.

use hmac::{Hmac, Mac};

use crate::model::{FileId, UserId};

/// How long a signed link is valid, in seconds.
pub const LINK_LIFETIME: u64 = 3600;

type HmacSha256 = Hmac<sha2::Sha256>;

/// Signs and checks file links with one secret.
#[derive(Clone)]
pub struct Signer {
    mac: HmacSha256,
}

/// The query parameters of a signed link.
#[derive(Clone, Debug, Default, serde::Deserialize)]
pub struct LinkQuery {
    pub exp: Option<String>,
    pub sig: Option<String>,
    pub u: Option<String>,
}

impl LinkQuery {
    /// Whether the request carries a link at all (any of its parameters).
    pub fn is_present(&self) -> bool {
        self.exp.is_some() || self.sig.is_some() || self.u.is_some()
    }
}

impl Signer {
    /// A signer keyed with `secret` (the server's token secret: the message
    /// signed here, `file|...`, can never be a token's signing input,
    /// which holds no `|`).
    pub fn new(secret: &[u8]) -> Signer {
        // HMAC takes a key of any length; this cannot fail.
        let mac = HmacSha256::new_from_slice(secret)
            .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
        Signer { mac }
    }

    fn mac_of(&self, user: UserId, file: FileId, exp: u64) -> HmacSha256 {
        let mut mac = self.mac.clone();
        mac.update(format!("file|{user}|{file}|{exp}").as_bytes());
        mac
    }

    /// The query string (without `?`) of a link for `user` to `file`,
    /// valid until `exp` (unix seconds).
    pub fn query(&self, user: UserId, file: FileId, exp: u64) -> String {
        let sig: String = self
            .mac_of(user, file, exp)
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        format!("exp={exp}&sig={sig}&u={user}")
    }

    /// The user a link to `file` was given to, if it is genuine and valid
    /// at `now` (unix seconds).
    pub fn verify(&self, q: &LinkQuery, file: FileId, now: u64) -> Option<UserId> {
        let exp: u64 = q.exp.as_deref()?.parse().ok()?;
        if exp < now || exp > now + LINK_LIFETIME {
            return None;
        }
        let user: UserId = q.u.as_deref()?.parse().ok()?;
        let sig = decode_hex(q.sig.as_deref()?)?;
        self.mac_of(user, file, exp).verify_slice(&sig).ok()?;
        Some(user)
    }
}

/// Bytes from lowercase or uppercase hex.
fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}

/// The current time in unix seconds.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(query: &str) -> LinkQuery {
        let mut q = LinkQuery::default();
        for pair in query.split('&') {
            let (k, v) = pair.split_once('=').expect("pair");
            match k {
                "exp" => q.exp = Some(v.to_owned()),
                "sig" => q.sig = Some(v.to_owned()),
                "u" => q.u = Some(v.to_owned()),
                _ => {}
            }
        }
        q
    }

    #[test]
    fn a_link_is_bound_to_its_user_file_and_time() {
        let signer = Signer::new(b"secret");
        let (ann, bob, file) = (UserId(1), UserId(2), FileId(9));
        let now = 1_000_000;
        let q = parse(&signer.query(ann, file, now + 60));
        assert_eq!(signer.verify(&q, file, now), Some(ann));
        assert_eq!(signer.verify(&q, FileId(10), now), None, "another file");
        assert_eq!(signer.verify(&q, file, now + 61), None, "expired");
        let mut other = q.clone();
        other.u = Some(bob.to_string());
        assert_eq!(signer.verify(&other, file, now), None, "another user");
        let mut later = q.clone();
        later.exp = Some((now + 120).to_string());
        assert_eq!(signer.verify(&later, file, now), None, "altered expiry");
        let far = parse(&signer.query(ann, file, now + LINK_LIFETIME + 1));
        assert_eq!(signer.verify(&far, file, now), None, "too far ahead");
        let q2 = parse(&Signer::new(b"other").query(ann, file, now + 60));
        assert_eq!(signer.verify(&q2, file, now), None, "another secret");
        assert_eq!(signer.verify(&LinkQuery::default(), file, now), None);
    }
}
