//! `/socket.io/`: the HTTP side of the Socket.IO door.
//!
//! Every request under the path passes the checks of `/ws` before the
//! engine sees it: the `Origin` (a foreign page is refused 403, on the
//! polling requests as on the WebSocket handshake), and for a request that
//! opens an engine session, shutdown and the `--max-connections` cap,
//! whose permit the session then holds (long-polling sessions count like
//! sockets). Credentials and the per-user cap are checked when the client
//! joins the namespace ([`AppGate`]). Other paths go to the warp routes.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use engineioxide::config::EngineIoConfig;
use engineioxide::service::EngineIoService;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use tower_service::Service;
use warp::http::header::{self, HeaderMap, HeaderValue};
use warp::http::{Method, Request, StatusCode};
use warp::hyper::body::Bytes;
use warp::reply::Response;

use super::ws::{origin_allowed, query_token, session_handles};
use crate::app::App;
use crate::chat::session::{Caller, MAX_MESSAGE_BYTES};
use crate::chat::socketio::{self, Admitted, Gate, Handler, Refused};
use crate::error::ApiError;

/// Where the door is mounted: the Socket.IO client's default path.
pub const PATH: &str = "/socket.io";

/// Packets the engine may hold for one client before a send waits: two of
/// the session's write batches, plus room for its pings.
const ENGINE_BUFFER: usize = 2 * 256 + 16;

/// tungstenite's read buffer on this door. A client's packets are events
/// of a few hundred bytes; a larger one still arrives (the buffer grows
/// for it). An eighth of `/ws`'s 4 KiB, because the engine's own tasks and
/// buffers make an idle Socket.IO connection dearer than a `/ws` one, and
/// the budget is 24 KiB each.
const READ_BUFFER_BYTES: usize = 512;

/// How long a pending long-poll may still wait once the server stops:
/// enough for the acks of messages being stored to go out in it. After
/// that it is answered with a NOOP, so that the stop does not wait on it
/// for the whole HTTP drain; the client cannot poll again (the listener is
/// closed) and resumes with `since` when it reconnects.
const LONG_POLL_GRACE: Duration = Duration::from_secs(1);

/// Engine.IO's NOOP packet: a long-poll answered with nothing in it.
const NOOP: &str = "6";

/// Whether `path` is the door's.
fn is_ours(path: &str) -> bool {
    path.strip_prefix(PATH)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// The server's request handling: the Socket.IO door, in front of the
/// warp routes (`inner`).
#[derive(Clone)]
pub struct Door<S> {
    app: App,
    engine: EngineIoService<Handler>,
    inner: S,
}

impl<S> Door<S>
where
    S: Service<Request<Incoming>, Response = warp::reply::Response, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send,
{
    pub fn new(app: App, inner: S) -> Door<S> {
        let settings = socketio::Settings {
            ping_interval: app.settings.socketio_ping_interval,
            ping_timeout: app.settings.socketio_ping_timeout,
        };
        let config = EngineIoConfig::builder()
            .req_path(PATH)
            .ping_interval(settings.ping_interval)
            .ping_timeout(settings.ping_timeout)
            .max_payload(MAX_MESSAGE_BYTES as u64)
            .ws_max_message_size(MAX_MESSAGE_BYTES)
            .ws_max_frame_size(MAX_MESSAGE_BYTES)
            .ws_read_buffer_size(READ_BUFFER_BYTES)
            .max_buffer_size(ENGINE_BUFFER)
            .build();
        let handler = Handler::new(
            session_handles(&app),
            Arc::new(AppGate(app.clone())),
            app.shutdown.sessions.clone(),
            &settings,
        );
        let engine = EngineIoService::with_config(Arc::new(handler), config);
        Door { app, engine, inner }
    }

    /// Answers one request.
    pub async fn call(&self, req: Request<Incoming>) -> Result<Response, Infallible> {
        if !is_ours(req.uri().path()) {
            return self.inner.clone().call(req).await;
        }
        let started = Instant::now();
        let (method, path) = (req.method().clone(), req.uri().path().to_owned());
        let mut res = match self.checked(req).await {
            Ok(res) => res,
            Err(e) => e.into_response(),
        };
        res.headers_mut().extend(super::security_headers());
        tracing::info!(
            target: "chatroom::http",
            method = %method,
            path = %path,
            status = res.status().as_u16(),
            latency_ms = format_args!("{:.2}", started.elapsed().as_secs_f64() * 1000.0),
        );
        Ok(res)
    }

    async fn checked(&self, mut req: Request<Incoming>) -> Result<Response, ApiError> {
        let cors = self.cors(req.headers())?;
        if req.method() == Method::OPTIONS {
            let mut res = Response::new(Bytes::new().into());
            *res.status_mut() = StatusCode::NO_CONTENT;
            res.headers_mut().extend(preflight(req.headers(), cors));
            return Ok(res);
        }
        let query = req.uri().query().unwrap_or("");
        let has = |param: &str| query.split('&').any(|kv| kv.starts_with(param));
        let opens_session = req.method() == Method::GET && !has("sid=");
        let long_poll = req.method() == Method::GET && has("sid=") && has("transport=polling");
        if opens_session {
            if self.app.shutdown.stop_reading.is_cancelled() {
                return Err(ApiError::Busy { retry_after: 5 });
            }
            let Ok(permit) = self.app.connections.clone().try_acquire_owned() else {
                return Err(ApiError::RateLimited { retry_after: 5 });
            };
            req.extensions_mut().insert(socketio::Permit::new(permit));
            detach_head(&mut req);
        }
        let mut engine = self.engine.clone();
        let res = if req.method() == Method::POST {
            // A polling POST's body arrives whole in time, as any body.
            tokio::time::timeout(self.app.settings.body_timeout, engine.call(req))
                .await
                .map_err(|_| ApiError::RequestTimeout)?
        } else if long_poll {
            // Dropping a long-poll that is still waiting loses no packet:
            // the engine takes packets from its buffer only once it answers.
            let stopped = async {
                self.app.shutdown.stop_reading.cancelled().await;
                tokio::time::sleep(LONG_POLL_GRACE).await;
            };
            tokio::select! {
                res = engine.call(req) => res,
                _ = stopped => {
                    let mut res = Response::new(NOOP.into());
                    res.headers_mut().insert(
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("text/plain; charset=UTF-8"),
                    );
                    res.headers_mut().extend(cors);
                    return Ok(res);
                }
            }
        } else {
            engine.call(req).await
        };
        let Ok(res) = res;
        // The engine's own answers are whole in memory (an empty one for
        // the WebSocket handshake): collecting them takes one poll.
        let (mut parts, body) = res.into_parts();
        let Ok(body) = body.collect().await;
        parts.headers.extend(cors);
        Ok(Response::from_parts(parts, body.to_bytes().into()))
    }

    /// The `Origin` check of `/ws`; for an allowed page, the CORS headers
    /// its long-polling requests need (the WebSocket needs none).
    fn cors(&self, headers: &HeaderMap) -> Result<HeaderMap, ApiError> {
        let mut cors = HeaderMap::new();
        let Some(origin) = headers.get(header::ORIGIN) else {
            return Ok(cors);
        };
        let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
        let allowed = origin
            .to_str()
            .is_ok_and(|o| origin_allowed(o, host, &self.app.settings.allowed_origins));
        if !allowed {
            return Err(ApiError::Forbidden(
                "this page's origin may not connect to Socket.IO here",
            ));
        }
        cors.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
        cors.insert(
            header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
        cors.insert(header::VARY, HeaderValue::from_static("Origin"));
        Ok(cors)
    }
}

/// The request heads the engine and the [`AppGate`] read of a session's
/// handshake request, which the engine keeps for the session's life.
const KEPT_HEADERS: [header::HeaderName; 2] = [header::AUTHORIZATION, header::SEC_WEBSOCKET_KEY];

/// Replaces the URI and headers of a session's handshake request with
/// owned copies of what is read later, and nothing else. hyper's are
/// slices of the connection's 8 KiB read buffer: kept by the engine, they
/// would keep that buffer for as long as the session lives, a third of
/// an idle connection's memory.
fn detach_head(req: &mut Request<Incoming>) {
    let mut kept = HeaderMap::new();
    for name in KEPT_HEADERS {
        if let Some(v) = req.headers().get(&name) {
            if let Ok(v) = HeaderValue::from_bytes(v.as_bytes()) {
                kept.insert(name, v);
            }
        }
    }
    *req.headers_mut() = kept;
    if let Ok(uri) = warp::http::Uri::try_from(req.uri().to_string()) {
        *req.uri_mut() = uri;
    }
}

/// The answer to a CORS preflight (a polling request with `extraHeaders`).
fn preflight(headers: &HeaderMap, mut cors: HeaderMap) -> HeaderMap {
    cors.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST"),
    );
    if let Some(asked) = headers.get(header::ACCESS_CONTROL_REQUEST_HEADERS) {
        cors.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, asked.clone());
    }
    cors.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("600"),
    );
    cors
}

/// Admits a `CONNECT` as `/ws` admits an upgrade: the token (from the
/// packet's `auth`, else `Authorization: Bearer` or `?token=` of the
/// engine's handshake request) of an existing, enabled user whose
/// password has not changed since, under `--max-user-connections`.
struct AppGate(App);

impl Gate for AppGate {
    fn admit<'a>(
        &'a self,
        token: Option<&'a str>,
        handshake: &'a hyper::http::request::Parts,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<Admitted, Refused>> + Send + 'a>>
    {
        Box::pin(async move {
            let app = &self.0;
            let header = handshake
                .headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(crate::auth::bearer);
            let query = handshake.uri.query().and_then(query_token);
            let token = token.or(header).or(query).ok_or(Refused::Unauthorized)?;
            let user = app
                .authenticate_token(token)
                .await
                .map_err(|_| Refused::Unauthorized)?;
            let slot = app
                .hub
                .admit_everywhere(user.id, app.settings.max_user_connections)
                .await
                .ok_or(Refused::TooMany)?;
            let caller = Caller {
                id: user.id,
                username: user.username.clone(),
            };
            let app = app.clone();
            Ok(Admitted {
                caller,
                slot,
                still_valid: Box::new(move || app.still_valid(&user)),
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_door_is_the_socket_io_path_and_below() {
        assert!(is_ours("/socket.io"));
        assert!(is_ours("/socket.io/"));
        assert!(!is_ours("/socket.io.js"));
        assert!(!is_ours("/api/socket.io/"));
    }
}
