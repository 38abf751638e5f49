//! A push service stand-in for the tests of Web Push: it receives what
//! the server sends and checks it as a push service and a browser would,
//! the VAPID token against the server's public key and the payload
//! decrypted with the subscription's private key (RFC 8291, implemented
//! here apart from the server's own library).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aes_gcm::aead::Aead;
use aes_gcm::{Aes128Gcm, KeyInit, Nonce};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use bytes::Bytes;
use chatroom::push::send::PushJob;
use hkdf::Hkdf;
use http_body_util::{BodyExt, Full};
use hyper::{HeaderMap, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use p256::ecdsa::signature::Verifier;
use p256::elliptic_curve::sec1::ToEncodedPoint;
use serde_json::{json, Value};
use sha2::Sha256;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use crate::common::WAIT;

pub const SUBJECT: &str = "mailto:ops@chat.example";

pub fn random<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    getrandom::getrandom(&mut bytes).expect("random bytes");
    bytes
}

pub fn new_key() -> p256::SecretKey {
    p256::SecretKey::from_slice(&random::<32>()).expect("a P-256 key")
}

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A browser's subscription: its key pair and authentication secret.
pub struct Subscription {
    pub key: p256::SecretKey,
    pub auth: [u8; 16],
}

impl Subscription {
    pub fn new() -> Subscription {
        Subscription {
            key: new_key(),
            auth: random(),
        }
    }

    /// What a browser posts to `/api/push/subscriptions`.
    pub fn body(&self, endpoint: &str) -> Value {
        let point = self.key.public_key().to_encoded_point(false);
        json!({
            "endpoint": endpoint,
            "keys": { "p256dh": b64(point.as_bytes()), "auth": b64(&self.auth) },
        })
    }

    pub fn job(&self, endpoint: &str, payload: &[u8]) -> PushJob {
        let point = self.key.public_key().to_encoded_point(false);
        PushJob::new(
            endpoint,
            &b64(point.as_bytes()),
            &b64(&self.auth),
            payload.to_vec(),
        )
    }

    /// What the browser does with an `aes128gcm` body (RFC 8291 3.4 and
    /// RFC 8188 2): the keys from ECDH and HKDF, then one AES-GCM record.
    pub fn decrypt(&self, body: &[u8]) -> Vec<u8> {
        let salt = &body[..16];
        let record_size = u32::from_be_bytes(body[16..20].try_into().expect("4 bytes")) as usize;
        let id_len = body[20] as usize;
        let sender_public = &body[21..21 + id_len];
        let record = &body[21 + id_len..];
        assert!(record.len() <= record_size, "a single record");

        let theirs = p256::PublicKey::from_sec1_bytes(sender_public).expect("sender's key");
        let shared = p256::ecdh::diffie_hellman(self.key.to_nonzero_scalar(), theirs.as_affine());
        let mut info = b"WebPush: info\0".to_vec();
        info.extend_from_slice(self.key.public_key().to_encoded_point(false).as_bytes());
        info.extend_from_slice(sender_public);
        let mut ikm = [0u8; 32];
        Hkdf::<Sha256>::new(Some(&self.auth), shared.raw_secret_bytes())
            .expand(&info, &mut ikm)
            .expect("ikm");
        let prk = Hkdf::<Sha256>::new(Some(salt), &ikm);
        let (mut cek, mut nonce) = ([0u8; 16], [0u8; 12]);
        prk.expand(b"Content-Encoding: aes128gcm\0", &mut cek)
            .expect("cek");
        prk.expand(b"Content-Encoding: nonce\0", &mut nonce)
            .expect("nonce");
        let plain = Aes128Gcm::new(&cek.into())
            .decrypt(&Nonce::from(nonce), record)
            .expect("the record decrypts");
        let end = plain.iter().rposition(|&b| b != 0).expect("a delimiter");
        assert_eq!(plain[end], 2, "the last record's delimiter");
        plain[..end].to_vec()
    }
}

/// A request as the stand-in received it.
pub struct Received {
    pub path: String,
    pub method: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Received {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("no {name} header"))
    }
}

/// A push service that answers every request with `status` and hands
/// what it received to the test.
pub struct PushService {
    pub addr: SocketAddr,
    pub received: mpsc::UnboundedReceiver<Received>,
}

impl PushService {
    pub async fn start(status: u16) -> PushService {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (tx, received) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let tx = tx.clone();
                let service =
                    hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                        let tx = tx.clone();
                        async move {
                            let (parts, body) = req.into_parts();
                            let body = body
                                .collect()
                                .await
                                .map(|b| b.to_bytes())
                                .unwrap_or_default();
                            let _ = tx.send(Received {
                                path: parts.uri.path().to_string(),
                                method: parts.method.to_string(),
                                headers: parts.headers,
                                body,
                            });
                            let mut response = Response::new(Full::new(Bytes::new()));
                            *response.status_mut() = StatusCode::from_u16(status).expect("status");
                            Ok::<_, Infallible>(response)
                        }
                    });
                tokio::spawn(
                    hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service),
                );
            }
        });
        PushService { addr, received }
    }

    pub fn endpoint(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// What arrives until nothing has for `quiet`.
    pub async fn drain(&mut self, quiet: Duration) -> Vec<Received> {
        let mut out = Vec::new();
        while let Ok(Some(r)) = tokio::time::timeout(quiet, self.received.recv()).await {
            out.push(r);
        }
        out
    }

    pub async fn next(&mut self) -> Received {
        tokio::time::timeout(WAIT, self.received.recv())
            .await
            .expect("a push request in time")
            .expect("the stand-in runs")
    }
}

/// A push service that accepts connections and never answers.
pub async fn hanging_service() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    addr
}

/// Checks `Authorization: vapid t=<JWT>, k=<key>` as a push service does:
/// the key is the server's, the ES256 signature verifies with it, and the
/// claims name the endpoint's origin, the subject and a near expiry.
pub fn check_vapid(authorization: &str, server_key: &[u8], origin: &str) {
    let (token, k) = authorization
        .strip_prefix("vapid t=")
        .and_then(|rest| rest.split_once(", k="))
        .unwrap_or_else(|| panic!("not a VAPID header: {authorization}"));
    let point = URL_SAFE_NO_PAD.decode(k).expect("k is base64url");
    assert_eq!(point, server_key, "k is the server's public key");

    let (signed, signature) = token.rsplit_once('.').expect("a signature");
    let verifier = p256::ecdsa::VerifyingKey::from_sec1_bytes(&point).expect("key");
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .expect("base64url signature");
    let signature = p256::ecdsa::Signature::from_slice(&signature).expect("r and s");
    verifier
        .verify(signed.as_bytes(), &signature)
        .expect("the ES256 signature verifies");

    let part = |i: usize| -> serde_json::Value {
        let text = signed.split('.').nth(i).expect("part");
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(text).expect("base64url")).expect("json")
    };
    assert_eq!(part(0)["alg"], "ES256");
    let claims = part(1);
    assert_eq!(claims["aud"], origin);
    assert_eq!(claims["sub"], SUBJECT);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let exp = claims["exp"].as_u64().expect("exp");
    assert!(exp > now && exp <= now + 24 * 3600, "exp {exp} now {now}");
}
