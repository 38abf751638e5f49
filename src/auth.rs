//! Passwords (argon2id) and tokens (HS256 JWT).
//!
//! Hashing costs tens of milliseconds by design, so it always runs on the
//! blocking pool: a burst of logins must never stall live chat.

mod gate;

use std::sync::Arc;
use std::time::Duration;

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::{Algorithm, Argon2, Params, Version};
use jsonwebtoken::{DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::model::{Role, UserId};
use gate::{HashGate, Slot};

/// OWASP's minimum for argon2id: 19 MiB of memory, 2 passes, 1 lane.
const ARGON2_M_KIB: u32 = 19 * 1024;
const ARGON2_T: u32 = 2;
const ARGON2_P: u32 = 1;

/// Password hashes computed at once, at most.
const MAX_CONCURRENT_HASHES: usize = 2;
/// `Retry-After` of a 503 `busy` when the hashing queue is full: a full
/// queue drains in well under a second.
const BUSY_RETRY_AFTER: u64 = 1;

/// How the WebSockets of a user whose password changed are closed: their
/// tokens no longer hold, a policy close.
pub const CLOSE_CREDENTIALS_CHANGED: crate::chat::events::Close =
    crate::chat::events::Close::Policy;

fn hasher() -> Result<Argon2<'static>, ApiError> {
    let params = Params::new(ARGON2_M_KIB, ARGON2_T, ARGON2_P, None)
        .map_err(|e| ApiError::Internal(format!("argon2 params: {e}")))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Runs hashing work on the blocking pool. The slot moves along, so it is
/// freed when the work is done even if the request was dropped meanwhile.
async fn in_slot<T, F>(slot: Slot, task: &'static str, work: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, ApiError> + Send + 'static,
{
    tokio::task::spawn_blocking(move || {
        let _slot = slot;
        work()
    })
    .await
    .map_err(|e| ApiError::Internal(format!("{task} task: {e}")))?
}

/// Hashes a password on the calling thread (for commands that are not async).
pub fn hash_password_blocking(password: &str) -> Result<String, ApiError> {
    let salt = SaltString::generate(&mut OsRng);
    hasher()?
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| ApiError::Internal(format!("hash: {e}")))
}

/// Whether `password` is the one `hash` was made from, on the calling
/// thread. A malformed hash matches nothing.
fn check_password(hash: &str, password: &str) -> Result<bool, ApiError> {
    let Ok(parsed) = PasswordHash::new(hash) else {
        return Ok(false);
    };
    Ok(hasher()?
        .verify_password(password.as_bytes(), &parsed)
        .is_ok())
}

/// [`check_password`] for commands and the admin channel, which run off
/// the async workers.
pub fn password_matches_blocking(hash: &str, password: &str) -> bool {
    check_password(hash, password).unwrap_or(false)
}

/// The claims of a chatroom token.
#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub name: String,
    pub role: Role,
    pub iat: u64,
    pub exp: u64,
    /// The user's `token_version` when the token was issued: a password
    /// change bumps the stored one, so every older token stops verifying.
    /// Tokens issued before versions existed carry none and count as 0.
    #[serde(default)]
    pub ver: u64,
}

/// What a verified token says: whose it is and which token version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Subject {
    pub id: UserId,
    pub version: u64,
}

/// Whose turn it is when a hashing slot frees: logins first, so that a
/// flood of registrations or password changes never delays a user logging
/// in by more than the hashes already running.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Priority {
    Login = 0,
    Other = 1,
}

/// Signing and verification keys plus the fixed validation rules.
#[derive(Clone)]
pub struct Tokens {
    inner: Arc<TokenKeys>,
}

struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl: Duration,
    /// A hash of a random password, checked against when the username is
    /// unknown so that both failures take the same time.
    decoy_hash: String,
    /// Hashes running at once. Each takes 19 MiB and a core for tens of
    /// milliseconds; a burst of logins queues here instead of taking every
    /// core from live chat and every blocking thread's worth of memory.
    hashing: HashGate,
}

impl Tokens {
    /// Builds the keys. HS256 is pinned and `exp` required, so a token with
    /// `alg: none` or another algorithm, or without expiry, never verifies.
    /// At most `hash_queue` hashings wait for one of the running slots;
    /// beyond that they are refused at once with 503 `busy`.
    pub fn new(secret: &[u8], ttl: Duration, hash_queue: usize) -> Result<Tokens, ApiError> {
        let mut validation = Validation::new(jsonwebtoken::Algorithm::HS256);
        validation.set_required_spec_claims(&["exp", "sub"]);
        validation.leeway = 0;
        let mut decoy = [0u8; 16];
        getrandom::getrandom(&mut decoy)
            .map_err(|e| ApiError::Internal(format!("no randomness from the OS: {e}")))?;
        let decoy_hash = hash_password_blocking(&format!("{decoy:?}"))?;
        Ok(Tokens {
            inner: Arc::new(TokenKeys {
                encoding: EncodingKey::from_secret(secret),
                decoding: DecodingKey::from_secret(secret),
                validation,
                ttl,
                decoy_hash,
                hashing: HashGate::new(MAX_CONCURRENT_HASHES, hash_queue),
            }),
        })
    }

    /// Issues a token for a user whose stored `token_version` is `version`.
    pub fn issue(
        &self,
        id: UserId,
        name: &str,
        role: Role,
        version: u64,
    ) -> Result<String, ApiError> {
        let now = now_secs();
        let claims = Claims {
            sub: id.to_string(),
            name: name.to_owned(),
            role,
            iat: now,
            exp: now + self.inner.ttl.as_secs(),
            ver: version,
        };
        jsonwebtoken::encode(
            &Header::new(jsonwebtoken::Algorithm::HS256),
            &claims,
            &self.inner.encoding,
        )
        .map_err(|e| ApiError::Internal(format!("sign token: {e}")))
    }

    /// Verifies a token's signature, algorithm and expiry; returns its
    /// subject. Whether that user still exists, is enabled and still has
    /// this token version is the caller's check.
    pub fn verify_token(&self, token: &str) -> Result<Subject, ApiError> {
        let data =
            jsonwebtoken::decode::<Claims>(token, &self.inner.decoding, &self.inner.validation)
                .map_err(|_| ApiError::Unauthorized)?;
        let id = data
            .claims
            .sub
            .parse()
            .map_err(|_| ApiError::Unauthorized)?;
        Ok(Subject {
            id,
            version: data.claims.ver,
        })
    }

    /// Hashes a new password, off the async threads, a few at a time,
    /// after logins (503 `busy` when the queue is full).
    pub async fn hash(&self, password: String) -> Result<String, ApiError> {
        let slot = self.inner.hashing.acquire(Priority::Other).await?;
        in_slot(slot, "hash", move || hash_password_blocking(&password)).await
    }

    /// Checks a password against a stored hash, or against the decoy hash
    /// when there is none (unknown user), so both cases cost the same.
    /// 503 `busy` when the hashing queue is full.
    pub async fn verify(
        &self,
        stored: Option<String>,
        password: String,
        priority: Priority,
    ) -> Result<bool, ApiError> {
        let slot = self.inner.hashing.acquire(priority).await?;
        let known = stored.is_some();
        let hash = stored.unwrap_or_else(|| self.inner.decoy_hash.clone());
        let matches = in_slot(slot, "verify", move || check_password(&hash, &password)).await?;
        Ok(matches && known)
    }
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Extracts the token of an `Authorization: Bearer` header value.
pub fn bearer(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    /// Keys for `secret`: tokens live a minute, four hashings may queue.
    fn tokens(secret: &[u8]) -> Tokens {
        Tokens::new(secret, Duration::from_secs(60), 4).expect("keys")
    }

    #[test]
    fn tokens_round_trip_and_reject_forgeries() {
        let t = tokens(SECRET);
        let tok = t.issue(UserId(5), "ann", Role::User, 3).expect("issue");
        assert_eq!(
            t.verify_token(&tok).expect("verify"),
            Subject {
                id: UserId(5),
                version: 3
            }
        );

        let other = tokens(b"another-secret-another-secret-xx");
        assert!(other.verify_token(&tok).is_err(), "another key");

        // alg: none with the same claims
        let parts: Vec<&str> = tok.split('.').collect();
        let none_header = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0";
        assert!(
            t.verify_token(&format!("{none_header}.{}.", parts[1]))
                .is_err(),
            "alg none"
        );
        assert!(t.verify_token("garbage").is_err());
    }

    #[test]
    fn expired_tokens_are_refused() {
        let t = tokens(SECRET);
        let claims = Claims {
            sub: UserId(1).to_string(),
            name: "a".into(),
            role: Role::User,
            iat: 1,
            exp: 2,
            ver: 0,
        };
        let tok = jsonwebtoken::encode(
            &Header::default(),
            &claims,
            &EncodingKey::from_secret(SECRET),
        )
        .expect("encode");
        assert!(t.verify_token(&tok).is_err());
    }

    #[test]
    fn bearer_header_parsing() {
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("bearer  abc "), Some("abc"));
        assert_eq!(bearer("Basic abc"), None);
        assert_eq!(bearer("Bearer "), None);
    }
}
