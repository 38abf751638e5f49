//! Tokens read and forged with `jsonwebtoken`, the library the server
//! itself signs with: the tests build the tokens an attacker would send
//! without a second, hand-written implementation of the cryptography.

use jsonwebtoken::{jws, Algorithm, EncodingKey, Header};
use serde_json::Value;

/// The signature part of a token whose 32 signature bytes are all zero
/// (base64url, no padding).
pub const ZERO_SIGNATURE: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

/// The claims of `token`, read without checking its signature.
pub fn token_claims(token: &str) -> Value {
    jsonwebtoken::dangerous::insecure_decode_claims(token).expect("token claims")
}

/// The header of `token` as JSON, read without checking its signature.
pub fn token_header(token: &str) -> Value {
    let header = jsonwebtoken::decode_header(token).expect("token header");
    serde_json::to_value(header).expect("header as JSON")
}

/// A token for `claims` signed HS256 with `secret`, as a server holding
/// that secret would issue it.
pub fn forge_token(claims: &Value, secret: &[u8]) -> String {
    let key = EncodingKey::from_secret(secret);
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &key).expect("encode token")
}

/// A token of exactly this `header` (whatever algorithm it names) and
/// `claims`, signed HS256 with `secret`: the bytes of an algorithm
/// confusion, which `jsonwebtoken::encode` refuses to make.
pub fn sign_hs256(header: &Value, claims: &Value, secret: &[u8]) -> String {
    let input = format!("{}.{}", b64url_json(header), b64url_json(claims));
    let key = EncodingKey::from_secret(secret);
    let signature = jsonwebtoken::crypto::sign(input.as_bytes(), &key, Algorithm::HS256)
        .expect("HS256 signature");
    format!("{input}.{signature}")
}

/// `value` serialized and base64url-encoded as a token part: the payload
/// of a JWS `jsonwebtoken` builds around it (the key plays no part in it).
pub fn b64url_json(value: &Value) -> String {
    let key = EncodingKey::from_secret(b"payload only");
    jws::encode(&Header::new(Algorithm::HS256), Some(value), &key)
        .expect("encode part")
        .payload
}
