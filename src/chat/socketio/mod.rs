//! The Socket.IO door: clients written for the original Node Chatroom API
//! (`io(url, {auth: {token}})`) connect unchanged, beside `/ws`.
//!
//! Engine.IO (long-polling, WebSocket, the upgrade between them, pings,
//! session ids, payload limits) is the `engineioxide` crate's; this module
//! is the thin Socket.IO layer over it. The engine opens a session and
//! calls [`Handler`]; each session gets one task ([`connect::run`]) that
//! waits for the client's `CONNECT` to the default namespace, admits it
//! through the [`Gate`] (token, per-user cap), answers with the socket id,
//! and then runs the very session of `/ws` ([`session::serve`]) with a
//! [`Link`] as its wire: the same state, rules, hub queue and shutdown
//! phases, only the framing differs ([`crate::chat::events::socketio`]).

mod connect;
mod link;
pub mod packet;

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use engineioxide::handler::EngineIoHandler;
use engineioxide::{DisconnectReason, Str};
use tokio::sync::OwnedSemaphorePermit;
use tokio_util::task::TaskTracker;

use super::hub::UserSlot;
use super::session::{self, Caller};
pub use link::{EngineSocket, Inbox};

/// Who may join the default namespace: credentials to a user, and the
/// per-user connection cap. Implemented where the accounts are known.
pub trait Gate: Send + Sync + 'static {
    /// Admits the user of `token` (from the `CONNECT` packet's `auth`), or
    /// failing that of the credentials in the engine's handshake request.
    /// The answer comes later: checking a token reads the user's record
    /// on the blocking pool.
    fn admit<'a>(
        &'a self,
        token: Option<&'a str>,
        handshake: &'a hyper::http::request::Parts,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<Admitted, Refused>> + Send + 'a>>;
}

/// A user admitted to the namespace.
pub struct Admitted {
    pub caller: Caller,
    /// The user's connection slot, held for the session's life.
    pub slot: UserSlot,
    /// Whether the caller's credentials still hold (asked once the
    /// connection is registered with the hub, as on `/ws`).
    pub still_valid: Box<dyn FnOnce() -> bool + Send>,
}

/// Why a `CONNECT` is refused.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// No token, or a bad, expired or revoked one, or a disabled user.
    Unauthorized,
    /// The user is at `--max-user-connections`.
    TooMany,
}

/// The `--max-connections` permit of an engine session, put into its
/// handshake request's extensions (which the engine keeps) before the
/// engine sees the request, and taken by the session's task.
#[derive(Clone, Default)]
pub struct Permit(Arc<Mutex<Option<OwnedSemaphorePermit>>>);

impl Permit {
    pub fn new(permit: OwnedSemaphorePermit) -> Permit {
        Permit(Arc::new(Mutex::new(Some(permit))))
    }

    fn take(&self) -> Option<OwnedSemaphorePermit> {
        self.0.lock().ok()?.take()
    }
}

/// The engine's settings that this door decides.
pub struct Settings {
    /// Engine.IO's ping interval; with the timeout, also the time a new
    /// session has to join the namespace (Socket.IO's `connectTimeout`,
    /// 45 s with the defaults).
    pub ping_interval: Duration,
    pub ping_timeout: Duration,
}

/// The engine's handler: one task per engine session, owned by the
/// server's session tracker so that shutdown waits for it.
pub struct Handler {
    handles: session::Handles,
    gate: Arc<dyn Gate>,
    tracker: TaskTracker,
    connect_timeout: Duration,
}

impl Handler {
    pub fn new(
        handles: session::Handles,
        gate: Arc<dyn Gate>,
        tracker: TaskTracker,
        settings: &Settings,
    ) -> Handler {
        Handler {
            handles,
            gate,
            tracker,
            connect_timeout: settings.ping_interval + settings.ping_timeout,
        }
    }
}

impl fmt::Debug for Handler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("socketio::Handler").finish_non_exhaustive()
    }
}

impl EngineIoHandler for Handler {
    type Data = Inbox;

    fn on_connect(self: Arc<Self>, socket: Arc<EngineSocket>) {
        let permit = socket
            .req_parts
            .extensions
            .get::<Permit>()
            .and_then(Permit::take);
        let tracker = self.tracker.clone();
        tracker.spawn(connect::run(self, socket, permit));
    }

    fn on_disconnect(&self, socket: Arc<EngineSocket>, _reason: DisconnectReason) {
        socket.data.close();
    }

    fn on_message(self: &Arc<Self>, msg: Str, socket: Arc<EngineSocket>) {
        socket.data.push(msg, &socket);
    }

    /// Binary attachments follow a binary packet, which is refused: they
    /// are dropped.
    fn on_binary(self: &Arc<Self>, _data: Bytes, _socket: Arc<EngineSocket>) {}
}
