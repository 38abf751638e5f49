//! The warp routes: one file per resource, composed here with the request
//! log, the security headers and the single error mapping.

mod admin;
mod body;
mod rooms;
mod users;
pub mod ws;

use std::convert::Infallible;

use warp::http::header::{HeaderName, HeaderValue};
use warp::http::HeaderMap;
use warp::{Filter, Rejection, Reply};

use crate::app::{App, AuthUser};
use crate::error::{self, ApiError};

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
    ("DELETE", "/api/rooms/{roomId}"),
    ("GET", "/api/rooms/{roomId}/messages"),
    ("PATCH", "/api/rooms/{roomId}/messages/{messageId}"),
    ("DELETE", "/api/rooms/{roomId}/messages/{messageId}"),
    ("GET", "/api/rooms/{roomId}/online"),
    ("POST", "/api/rooms/{roomId}/members"),
    ("DELETE", "/api/rooms/{roomId}/members/{username}"),
    ("GET", "/api/admin/users"),
    ("POST", "/api/admin/users"),
    ("POST", "/api/admin/users/{userId}/disable"),
    ("POST", "/api/admin/users/{userId}/enable"),
];

/// Every route of the server, with logging, headers and error mapping.
pub fn routes(app: App) -> impl Filter<Extract = (impl Reply,), Error = Infallible> + Clone {
    let health = warp::path!("healthz")
        .and(warp::get())
        .map(|| warp::reply::json(&serde_json::json!({"status": "ok"})));
    let api = users::routes(app.clone())
        .or(rooms::routes(app.clone()))
        .or(admin::routes(app.clone()));
    let openapi = warp::path!("openapi.json")
        .and(warp::get())
        .map(|| warp::reply::with_header(OPENAPI, "content-type", "application/json"));
    let api = warp::path("api").and(openapi.or(api));
    health
        .or(api)
        .or(ws::route(app))
        .or(crate::web::routes())
        .recover(error::recover)
        .with(warp::reply::with::headers(security_headers()))
        .with(warp::log::custom(log_request))
}

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
pub fn authenticated(app: App) -> impl Filter<Extract = (AuthUser,), Error = Rejection> + Clone {
    warp::header::optional::<String>("authorization").and_then(move |h: Option<String>| {
        let app = app.clone();
        async move {
            app.authenticate_header(h.as_deref())
                .map_err(warp::reject::custom)
        }
    })
}

/// Turns a handler's result into a reply, errors into rejections.
pub fn reply<T: Reply>(r: Result<T, ApiError>) -> Result<T, Rejection> {
    r.map_err(warp::reject::custom)
}
