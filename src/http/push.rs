//! `/api/push`: the server's VAPID public key and the caller's Web Push
//! subscriptions (additions to the contract, documented in
//! docs/protocol-additions.md). Sending is not here (see `crate::push`):
//! this only records where a user's browsers can be reached, and tells
//! them where.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Deserialize;
use warp::http::StatusCode;
use warp::{Filter, Rejection, Reply};

use super::{body, caller, reply};
use crate::app::{App, AuthUser};
use crate::error::ApiError;
use crate::model::Timestamp;
use crate::store::{PushSubscription, Subscribed};

/// Subscriptions one user may hold: a few browsers and devices each, and
/// a bound on what one account can make the server send per message.
pub const MAX_SUBSCRIPTIONS: usize = 10;

/// Longest endpoint accepted; real push services' are a few hundred bytes.
pub const MAX_ENDPOINT_BYTES: usize = 2048;

#[derive(Deserialize)]
struct NewSubscription {
    endpoint: String,
    keys: SubscriptionKeys,
}

#[derive(Deserialize)]
struct SubscriptionKeys {
    p256dh: String,
    auth: String,
}

#[derive(Deserialize)]
struct Endpoint {
    endpoint: String,
}

pub fn routes(app: App) -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone {
    let limit = body::Limits::of(&app.settings);
    let caller = caller(app);
    let key = warp::path!("push" / "key")
        .and(warp::get())
        .and(caller.clone())
        .map(|app: App, _user: AuthUser| {
            warp::reply::json(&serde_json::json!({"publicKey": app.settings.vapid.public_key()}))
        });
    let subscribe = warp::path!("push" / "subscriptions")
        .and(warp::post())
        .and(caller.clone())
        .and(body::json::<NewSubscription>(limit))
        .and_then(|app, user, b| async move { reply(subscribe(app, user, b).await) });
    let unsubscribe = warp::path!("push" / "subscriptions")
        .and(warp::delete())
        .and(caller.clone())
        .and(body::json::<Endpoint>(limit))
        .and_then(|app, user, b| async move { reply(unsubscribe(app, user, b).await) });
    let list = warp::path!("push" / "subscriptions")
        .and(warp::get())
        .and(caller)
        .and_then(|app, user| async move { reply(list(app, user).await) });
    key.or(subscribe).or(unsubscribe).or(list)
}

/// The caller's subscriptions, oldest first: where their notifications
/// go (and, once a push service said one is gone, no longer).
async fn list(app: App, user: AuthUser) -> Result<impl Reply, ApiError> {
    let mut subs = app
        .read(move |store| Ok(store.push_subscriptions(user.id)?))
        .await?;
    subs.sort_by(|a, b| (a.created_at, &a.endpoint).cmp(&(b.created_at, &b.endpoint)));
    let listed: Vec<_> = subs
        .iter()
        .map(|s| serde_json::json!({ "endpoint": s.endpoint, "createdAt": s.created_at }))
        .collect();
    Ok(warp::reply::json(&listed))
}

/// 201 `{endpoint}` once stored, whether the endpoint is new or was
/// stored already (its keys and owner are replaced): a browser that
/// subscribes again gets the same answer.
async fn subscribe(app: App, user: AuthUser, b: NewSubscription) -> Result<impl Reply, ApiError> {
    let endpoint = checked_endpoint(&b.endpoint, app.settings.push_allow_http)?;
    let sub = PushSubscription {
        endpoint: endpoint.clone(),
        user_id: user.id,
        p256dh: checked_key(&b.keys.p256dh, "keys.p256dh", 65)?,
        auth: checked_key(&b.keys.auth, "keys.auth", 16)?,
        created_at: Timestamp::now(),
    };
    settings_change(&app, &user)?;
    let done = app
        .change(move |store| Ok(store.subscribe_push(&sub, MAX_SUBSCRIPTIONS)?))
        .await?;
    if done == Subscribed::Full {
        return Err(ApiError::QuotaExceeded(
            "you have as many push subscriptions as allowed (10); remove one first",
        ));
    }
    Ok(warp::reply::with_status(
        warp::reply::json(&serde_json::json!({ "endpoint": endpoint })),
        StatusCode::CREATED,
    ))
}

/// 204 whether or not the caller held the endpoint: the browser wants it
/// gone, and another user's subscription is neither removed nor revealed.
async fn unsubscribe(app: App, user: AuthUser, b: Endpoint) -> Result<impl Reply, ApiError> {
    settings_change(&app, &user)?;
    app.change(move |store| Ok(store.unsubscribe_push(user.id, &b.endpoint)?))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Takes one of the caller's settings changes (`--settings-rate`): each
/// costs a flush of the database.
pub(super) fn settings_change(app: &App, user: &AuthUser) -> Result<(), ApiError> {
    app.write_limits
        .settings(user.id)
        .map_err(|retry_after| ApiError::RateLimited { retry_after })
}

/// An absolute `https:` URL with a host (`http:` too under the test-only
/// flag), at most [`MAX_ENDPOINT_BYTES`].
fn checked_endpoint(endpoint: &str, allow_http: bool) -> Result<String, ApiError> {
    let bad = || {
        ApiError::validation(format!(
            "endpoint must be an absolute https: URL of at most {MAX_ENDPOINT_BYTES} bytes"
        ))
    };
    if endpoint.len() > MAX_ENDPOINT_BYTES {
        return Err(bad());
    }
    let uri: warp::http::Uri = endpoint.parse().map_err(|_| bad())?;
    let scheme_ok = match uri.scheme_str() {
        Some("https") => true,
        Some("http") => allow_http,
        _ => false,
    };
    let host = uri.host().unwrap_or_default();
    if !scheme_ok || host.is_empty() {
        return Err(bad());
    }
    if !allow_http && !crate::push::public_addr::host_allowed(host) {
        return Err(ApiError::validation(
            "endpoint must be a push service on the internet, not a private or local address",
        ));
    }
    Ok(endpoint.to_owned())
}

/// A browser's key as unpadded base64url of `len` bytes (`=` padding is
/// tolerated and dropped); the 65-byte `p256dh` must be an uncompressed
/// point of P-256 (RFC 8291).
fn checked_key(text: &str, field: &str, len: usize) -> Result<String, ApiError> {
    let bad = || {
        let what = if len == 65 {
            "an uncompressed P-256 public key (65 bytes)"
        } else {
            "16 bytes"
        };
        ApiError::validation(format!("{field} must be {what} in base64url"))
    };
    let text = text.trim_end_matches('=');
    let raw = URL_SAFE_NO_PAD.decode(text).map_err(|_| bad())?;
    if raw.len() != len {
        return Err(bad());
    }
    if len == 65 && (raw[0] != 4 || p256::PublicKey::from_sec1_bytes(&raw).is_err()) {
        return Err(bad());
    }
    Ok(text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_absolute_https_urls() {
        assert!(checked_endpoint("https://push.example/abc", false).is_ok());
        assert!(checked_endpoint("http://127.0.0.1:9/abc", true).is_ok());
        let long = format!("https://push.example/{}", "a".repeat(MAX_ENDPOINT_BYTES));
        for bad in [
            "http://push.example/a",
            "/relative",
            "push.example/a",
            "ftp://x/a",
            "https:///a",
            "",
            &long,
        ] {
            assert!(checked_endpoint(bad, false).is_err(), "{bad}");
        }
    }

    #[test]
    fn keys_must_decode_to_their_length_and_a_curve_point() {
        let point = p256::SecretKey::from_slice(&[7u8; 32])
            .expect("scalar")
            .public_key();
        let sec1 = p256::elliptic_curve::sec1::ToEncodedPoint::to_encoded_point(&point, false);
        let good = URL_SAFE_NO_PAD.encode(sec1.as_bytes());
        assert_eq!(checked_key(&good, "k", 65).expect("point"), good);
        let mut off_curve = sec1.as_bytes().to_vec();
        off_curve[64] ^= 1;
        assert!(checked_key(&URL_SAFE_NO_PAD.encode(&off_curve), "k", 65).is_err());
        assert!(checked_key(&URL_SAFE_NO_PAD.encode([1u8; 16]), "a", 16).is_ok());
        assert!(checked_key("AAAAAAAAAAAAAAAAAAAAAA==", "a", 16).is_ok());
        assert!(checked_key(&URL_SAFE_NO_PAD.encode([1u8; 15]), "a", 16).is_err());
        assert!(checked_key("not base64!", "a", 16).is_err());
    }
}
