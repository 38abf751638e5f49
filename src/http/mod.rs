//! The warp routes: one file per resource, composed here with the request
//! log, the security headers and the single error mapping.

mod admin;
mod body;
mod directory;
mod dms;
pub(crate) mod files;
mod members;
mod messages;
mod notifications;
mod push;
mod reactions;
mod reads;
mod rooms;
mod search;
pub mod socketio;
mod users;
pub mod ws;

use std::convert::Infallible;

use serde::Serialize;
use warp::http::header::{HeaderName, HeaderValue};
use warp::http::HeaderMap;
use warp::{Filter, Rejection, Reply};

use crate::app::{App, AuthUser};
use crate::error::{self, ApiError};
use crate::store::Store;

/// The client address of a request, put into its extensions by the server.
#[derive(Clone, Copy, Debug)]
pub struct ClientAddr(pub std::net::SocketAddr);

/// The Content-Security-Policy of every response: scripts, styles and
/// connections only from this origin (ws/wss of the same host included),
/// and never inside a frame.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The OpenAPI 3 description of the REST API, served at `/api/openapi.json`.
/// A test checks it against [`ROUTES`] and against the running server.
pub const OPENAPI: &str = include_str!("../../docs/openapi.json");

/// Every REST route (method, path template in OpenAPI's syntax). The
/// OpenAPI document must describe exactly these.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/healthz"),
    ("GET", "/api/openapi.json"),
    ("POST", "/api/users/register"),
    ("POST", "/api/users/login"),
    ("GET", "/api/users/me"),
    ("POST", "/api/users/me/password"),
    ("GET", "/api/rooms"),
    ("POST", "/api/rooms"),
    ("GET", "/api/rooms/{roomId}"),
    ("PATCH", "/api/rooms/{roomId}"),
    ("DELETE", "/api/rooms/{roomId}"),
    ("GET", "/api/rooms/{roomId}/messages"),
    ("PATCH", "/api/rooms/{roomId}/messages/{messageId}"),
    ("DELETE", "/api/rooms/{roomId}/messages/{messageId}"),
    (
        "PUT",
        "/api/rooms/{roomId}/messages/{messageId}/reactions/{emoji}",
    ),
    (
        "DELETE",
        "/api/rooms/{roomId}/messages/{messageId}/reactions/{emoji}",
    ),
    ("GET", "/api/rooms/{roomId}/online"),
    ("POST", "/api/rooms/{roomId}/read"),
    ("POST", "/api/rooms/{roomId}/members"),
    ("DELETE", "/api/rooms/{roomId}/members/{username}"),
    ("GET", "/api/users"),
    ("POST", "/api/dms"),
    ("GET", "/api/rooms/{roomId}/members"),
    ("POST", "/api/rooms/{roomId}/files"),
    ("POST", "/api/files/links"),
    ("GET", "/api/files/{fileId}"),
    ("GET", "/api/files/{fileId}/thumbnail"),
    ("GET", "/api/admin/users"),
    ("POST", "/api/admin/users"),
    ("POST", "/api/admin/users/{userId}/disable"),
    ("POST", "/api/admin/users/{userId}/enable"),
    ("POST", "/api/admin/users/{userId}/role"),
    ("POST", "/api/admin/users/{userId}/password"),
    ("GET", "/api/push/key"),
    ("POST", "/api/push/subscriptions"),
    ("DELETE", "/api/push/subscriptions"),
    ("GET", "/api/push/subscriptions"),
    ("PUT", "/api/rooms/{roomId}/notifications"),
    ("GET", "/api/search"),
    ("GET", "/api/admin/search"),
];

/// Every route of the server, with logging, headers and error mapping.
pub fn routes(app: App) -> impl Filter<Extract = (impl Reply,), Error = Infallible> + Clone {
    let health = warp::path!("healthz")
        .and(warp::get())
        .and(with_app(app.clone()))
        .map(|app: App| health(&app));
    let api = users::routes(app.clone())
        .or(rooms::routes(app.clone()))
        .or(messages::routes(app.clone()))
        .or(reactions::routes(app.clone()))
        .or(reads::routes(app.clone()))
        .or(admin::routes(app.clone()))
        .or(directory::routes(app.clone()))
        .or(dms::routes(app.clone()))
        .or(members::routes(app.clone()))
        .or(files::routes(app.clone()))
        .or(push::routes(app.clone()))
        .or(notifications::routes(app.clone()).or(search::routes(app.clone())));
    let openapi = warp::path!("openapi.json")
        .and(warp::get())
        .map(|| warp::reply::with_header(OPENAPI, "content-type", "application/json"));
    let api = warp::path("api").and(openapi.or(api));
    health
        .or(api)
        .or(ws::route(app))
        .or(crate::web::routes())
        .recover(error::recover)
        .map(with_security_headers)
        .with(warp::log::custom(log_request))
}

/// Longest request target (path and query) served; longer ones get 414
/// with the contract's body. Far above any URL the API or the client makes.
pub const MAX_URI_BYTES: usize = 8 * 1024;

/// Largest header section (names, values and their separators) served;
/// larger ones get 431 with the contract's body. Heads beyond hyper's own
/// read buffer (64 KiB) are refused by hyper, without a body.
pub const MAX_HEADER_BYTES: usize = 32 * 1024;

/// Most header fields a request may carry; more get 431 with the contract's
/// body (up to 200, where hyper's own bare refusal takes over).
pub const MAX_HEADER_FIELDS: usize = 100;

/// The answer to a request whose head is too large, before any route sees
/// it: hyper's own limits are set above ours so that such requests reach
/// this check and get the contract's error body and the usual headers.
pub fn refuse_oversized_head<B>(req: &warp::http::Request<B>) -> Option<warp::reply::Response> {
    let uri = req.uri();
    let uri_len = uri.path_and_query().map_or(0, |p| p.as_str().len())
        + uri.authority().map_or(0, |a| a.as_str().len());
    let err = if uri_len > MAX_URI_BYTES {
        ApiError::UriTooLong {
            limit: MAX_URI_BYTES,
        }
    } else if req.headers().len() > MAX_HEADER_FIELDS
        || req
            .headers()
            .iter()
            .map(|(k, v)| k.as_str().len() + v.len() + 4)
            .sum::<usize>()
            > MAX_HEADER_BYTES
    {
        ApiError::HeadersTooLarge {
            limit: MAX_HEADER_BYTES,
        }
    } else {
        return None;
    };
    let mut res = err.into_response();
    res.headers_mut().extend(security_headers());
    Some(res)
}

/// `{"status":"ok"}`, or 503 `{"status":"unavailable","reason"}` while the
/// store cannot write, so that a load balancer or monitor sees the failure
/// even though reads still work.
fn health(app: &App) -> warp::reply::Response {
    // A node of a cluster also reports its store and its bus, and is
    // unavailable (so a load balancer passes it by) while PostgreSQL
    // does not answer. The single binary's body stays the contract's.
    if let Some((up, mut fields)) = app.backends.report() {
        let status = if up { "ok" } else { "unavailable" };
        fields["status"] = serde_json::json!(status);
        if app.low_disk.is_low() {
            fields["lowDisk"] = serde_json::json!(true);
        }
        let code = match up {
            true => warp::http::StatusCode::OK,
            false => warp::http::StatusCode::SERVICE_UNAVAILABLE,
        };
        return warp::reply::with_status(warp::reply::json(&fields), code).into_response();
    }
    match app.store.write_failure() {
        // `lowDisk` only while the disk is low: the contract's body is
        // unchanged otherwise.
        None if app.low_disk.is_low() => {
            warp::reply::json(&serde_json::json!({"status": "ok", "lowDisk": true})).into_response()
        }
        None => warp::reply::json(&serde_json::json!({"status": "ok"})).into_response(),
        Some(reason) => warp::reply::with_status(
            warp::reply::json(&serde_json::json!({"status": "unavailable", "reason": reason})),
            warp::http::StatusCode::SERVICE_UNAVAILABLE,
        )
        .into_response(),
    }
}

/// The headers every answer carries, errors included.
fn security_headers() -> HeaderMap {
    let mut h = HeaderMap::new();
    let mut set = |k: &'static str, v: &'static str| {
        h.insert(HeaderName::from_static(k), HeaderValue::from_static(v));
    };
    set("content-security-policy", CSP);
    set("x-content-type-options", "nosniff");
    set("referrer-policy", "no-referrer");
    set("x-frame-options", "DENY");
    h
}

/// Adds the headers every answer carries, keeping any a route set itself
/// (a file's stricter `Content-Security-Policy: sandbox`).
fn with_security_headers(reply: impl Reply) -> warp::reply::Response {
    let mut res = reply.into_response();
    for (name, value) in security_headers() {
        if let Some(name) = name {
            res.headers_mut().entry(name).or_insert(value);
        }
    }
    res
}

/// One line per request. `path()` has no query string, so a `?token=`
/// never reaches the log.
fn log_request(info: warp::log::Info<'_>) {
    tracing::info!(
        target: "chatroom::http",
        method = %info.method(),
        path = %info.path(),
        status = info.status().as_u16(),
        latency_ms = format_args!("{:.2}", info.elapsed().as_secs_f64() * 1000.0),
    );
}

/// Injects the shared state.
pub fn with_app(app: App) -> impl Filter<Extract = (App,), Error = Infallible> + Clone {
    warp::any().map(move || app.clone())
}

/// Requires `Authorization: Bearer <token>` of an existing, enabled user.
///
/// The header is taken as raw bytes: one that is not UTF-8 cannot hold a
/// token, so it is a bad token (401), not a malformed request (400).
pub fn authenticated(app: App) -> impl Filter<Extract = (AuthUser,), Error = Rejection> + Clone {
    warp::header::headers_cloned().and_then(move |headers: HeaderMap| {
        let app = app.clone();
        async move {
            let header = match headers.get(warp::http::header::AUTHORIZATION) {
                None => None,
                Some(v) => Some(
                    v.to_str()
                        .map_err(|_| warp::reject::custom(ApiError::Unauthorized))?,
                ),
            };
            app.authenticate_header(header)
                .await
                .map_err(warp::reject::custom)
        }
    })
}

/// A JSON answer read and serialised on the blocking pool: a long room
/// list or history page never holds an async worker that live chat needs.
pub async fn read_json<T, F>(app: &App, f: F) -> Result<impl Reply, ApiError>
where
    T: Serialize,
    F: FnOnce(&Store) -> Result<T, ApiError> + Send + 'static,
{
    let body = app
        .read(move |store| {
            serde_json::to_vec(&f(store)?).map_err(|e| ApiError::Internal(e.to_string()))
        })
        .await?;
    Ok(warp::reply::with_header(
        body,
        "content-type",
        "application/json",
    ))
}

/// The shared state and the authenticated caller, in that order: what
/// nearly every handler takes after its path parameters.
pub fn caller(app: App) -> impl Filter<Extract = (App, AuthUser), Error = Rejection> + Clone {
    with_app(app.clone()).and(authenticated(app))
}

/// A `limit` query parameter: absent or empty is `default`, a whole number
/// from 1 up is clamped to `max`, anything else is 400.
pub fn query_limit(v: Option<&str>, default: usize, max: usize) -> Result<usize, ApiError> {
    match v {
        None | Some("") => Ok(default),
        Some(l) => match l.parse::<usize>() {
            Ok(n) if n >= 1 => Ok(n.min(max)),
            _ => Err(ApiError::validation(format!(
                "limit must be a whole number from 1 to {max}"
            ))),
        },
    }
}

/// Turns a handler's result into a reply, errors into rejections.
pub fn reply<T: Reply>(r: Result<T, ApiError>) -> Result<T, Rejection> {
    r.map_err(warp::reject::custom)
}
