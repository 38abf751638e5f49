//! `GET /ws`: authenticate, check `Origin`, then upgrade.
//!
//! warp's own `ws()` filter neither checks `Origin` nor lets us size
//! tungstenite's read buffer, so the upgrade is finished here: hyper leaves
//! its upgrade handle ([`OnUpgrade`]) in the extensions of a request that
//! asks for one, and this route builds the socket with
//! [`session::socket_config`].

use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::WebSocketStream;
use warp::http::{header, Response, StatusCode};
use warp::hyper::body::Bytes;
use warp::{Filter, Rejection, Reply};

use super::with_app;
use crate::app::App;
use crate::chat::session;
use crate::config::normalize_origin;
use crate::error::ApiError;

/// The request headers the upgrade looks at.
struct Upgrade {
    authorization: Option<String>,
    query: Option<String>,
    origin: Option<String>,
    host: Option<String>,
    upgrade: Option<String>,
    version: Option<String>,
    key: Option<String>,
}

pub fn route(app: App) -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone {
    // Read as bytes: a header that is not text is no credential (401),
    // not a malformed request (warp's typed header would answer 400).
    let authorization = warp::header::headers_cloned().map(|h: warp::http::HeaderMap| {
        h.get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    });
    let headers = authorization
        .and(
            warp::query::raw()
                .map(Some)
                .or(warp::any().map(|| None))
                .unify(),
        )
        .and(warp::header::optional::<String>("origin"))
        .and(warp::header::optional::<String>("host"))
        .and(warp::header::optional::<String>("upgrade"))
        .and(warp::header::optional::<String>("sec-websocket-version"))
        .and(warp::header::optional::<String>("sec-websocket-key"))
        .map(
            |authorization, query, origin, host, upgrade, version, key| Upgrade {
                authorization,
                query,
                origin,
                host,
                upgrade,
                version,
                key,
            },
        );
    warp::path!("ws")
        .and(warp::get())
        .and(with_app(app))
        .and(headers)
        .and(warp::ext::optional::<OnUpgrade>())
        .and_then(
            |app: App, h: Upgrade, on_upgrade: Option<OnUpgrade>| async move {
                upgrade(app, h, on_upgrade)
                    .await
                    .map_err(warp::reject::custom)
            },
        )
}

/// The token of `?token=` (JWTs are URL-safe, so no decoding is needed).
pub(super) fn query_token(query: &str) -> Option<&str> {
    query
        .split('&')
        .find_map(|kv| kv.strip_prefix("token="))
        .filter(|t| !t.is_empty())
}

/// Whether a browser page of `origin` may connect: its own origin (the
/// `Host` it talks to), or one configured as allowed.
pub fn origin_allowed(origin: &str, host: Option<&str>, allowed: &[String]) -> bool {
    let origin = origin.trim();
    let own = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
        .or_else(|| origin.strip_prefix("HTTP://"))
        .or_else(|| origin.strip_prefix("HTTPS://"));
    if let (Some(hostport), Some(host)) = (own, host) {
        if hostport.eq_ignore_ascii_case(host.trim()) {
            return true;
        }
    }
    let norm = normalize_origin(origin);
    allowed.contains(&norm)
}

async fn upgrade(
    app: App,
    h: Upgrade,
    on_upgrade: Option<OnUpgrade>,
) -> Result<Response<warp::hyper::body::Bytes>, ApiError> {
    let token = match h.authorization.as_deref().and_then(crate::auth::bearer) {
        Some(t) => Some(t.to_owned()),
        None => h.query.as_deref().and_then(query_token).map(str::to_owned),
    };
    let user = app
        .authenticate_token(token.as_deref().ok_or(ApiError::Unauthorized)?)
        .await?;
    if let Some(origin) = &h.origin {
        if !origin_allowed(origin, h.host.as_deref(), &app.settings.allowed_origins) {
            return Err(ApiError::Forbidden(
                "this page's origin may not open a WebSocket here",
            ));
        }
    }
    if !h
        .upgrade
        .as_deref()
        .is_some_and(|u| u.eq_ignore_ascii_case("websocket"))
        || h.version.as_deref() != Some("13")
    {
        return Err(ApiError::validation(
            "expected a WebSocket upgrade (version 13)",
        ));
    }
    let key = h
        .key
        .ok_or_else(|| ApiError::validation("missing Sec-WebSocket-Key"))?;
    let on_upgrade =
        on_upgrade.ok_or_else(|| ApiError::validation("this connection cannot be upgraded"))?;
    if app.shutdown.stop_reading.is_cancelled() {
        return Err(ApiError::Internal("shutting down".into()));
    }
    // Counted here, before the upgrade completes, so that concurrent
    // upgrades of one user cannot all pass; freed when the task ends.
    let cap = app.settings.max_user_connections;
    let Some(slot) = app.hub.admit_everywhere(user.id, cap).await else {
        return Err(ApiError::RateLimited { retry_after: 5 });
    };
    let Ok(permit) = app.connections.clone().try_acquire_owned() else {
        return Err(ApiError::RateLimited { retry_after: 5 });
    };
    let handles = session_handles(&app);
    let caller = session::Caller {
        id: user.id,
        username: user.username.clone(),
    };
    let tracker = app.shutdown.sessions.clone();
    tracker.spawn(async move {
        let _permit = permit;
        let _slot = slot;
        match on_upgrade.await {
            Ok(upgraded) => {
                let ws = WebSocketStream::from_raw_socket(
                    TokioIo::new(upgraded),
                    Role::Server,
                    Some(session::socket_config()),
                )
                .await;
                session::run(handles, ws, caller, move || app.still_valid(&user)).await;
            }
            Err(e) => tracing::debug!(error = %e, "websocket upgrade failed"),
        }
    });
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(header::CONNECTION, "upgrade")
        .header(header::UPGRADE, "websocket")
        .header(
            header::SEC_WEBSOCKET_ACCEPT,
            derive_accept_key(key.as_bytes()),
        )
        .body(Bytes::new())
        .map_err(|e| ApiError::Internal(e.to_string()))
}

/// What a session uses of the server.
pub(super) fn session_handles(app: &App) -> session::Handles {
    session::Handles {
        store: app.store.clone(),
        hub: app.hub.clone(),
        writer: app.writer.clone(),
        send_limits: app.send_limits.clone(),
        join_rate: app.settings.join_rate,
        stop_reading: app.shutdown.stop_reading.clone(),
        close_sockets: app.shutdown.close_sockets.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins() {
        let allowed = vec!["https://chat.example.org".to_owned()];
        assert!(origin_allowed(
            "http://127.0.0.1:3000",
            Some("127.0.0.1:3000"),
            &[]
        ));
        assert!(origin_allowed(
            "https://LOCALHOST:3000",
            Some("localhost:3000"),
            &[]
        ));
        assert!(!origin_allowed(
            "http://evil.example",
            Some("127.0.0.1:3000"),
            &[]
        ));
        assert!(!origin_allowed("null", Some("127.0.0.1:3000"), &[]));
        assert!(origin_allowed(
            "https://Chat.Example.org",
            Some("127.0.0.1:3000"),
            &allowed
        ));
        assert!(!origin_allowed(
            "https://chat.example.org.evil",
            Some("127.0.0.1:3000"),
            &allowed
        ));
    }

    #[test]
    fn token_from_query() {
        assert_eq!(query_token("a=1&token=abc.def"), Some("abc.def"));
        assert_eq!(query_token("token="), None);
        assert_eq!(query_token("x=1"), None);
    }
}
