//! The one shared handle: store, hub, writer, keys, settings and limits.
//! Built once in `serve`, cloned (one `Arc`) into every filter and session.

use std::ops::Deref;
use std::sync::Arc;

use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::auth::{self, Tokens};
use crate::chat::hub::Hub;
use crate::chat::writer::Writer;
use crate::config::Settings;
use crate::error::ApiError;
use crate::model::{Role, Room, RoomId, RoomKind, UserId};
use crate::store::Store;
use crate::throttle::{LoginThrottle, TokenBuckets, WriteLimits};

/// The shared application state.
#[derive(Clone)]
pub struct App(Arc<AppInner>);

/// What the handle holds; every field is itself a cheap handle.
pub struct AppInner {
    pub store: Store,
    pub hub: Hub,
    pub writer: Writer,
    pub tokens: Tokens,
    pub settings: Settings,
    pub login_throttle: LoginThrottle,
    /// Per-user message rate limit; `None` when turned off.
    pub send_limits: Option<TokenBuckets<UserId>>,
    /// Per-user allowances of reaction changes and room edits.
    pub write_limits: WriteLimits,
    pub shutdown: Shutdown,
    /// One permit per open WebSocket.
    pub connections: Arc<Semaphore>,
    /// The bytes of uploaded files.
    pub blobs: crate::files::Blobs,
    /// Signs and checks the links that fetch a file without a token.
    pub file_links: crate::files::links::Signer,
    /// Permits to decode an uploaded image (`http::files::preview`).
    pub image_permits: Arc<Semaphore>,
    /// Whether the data directory's disk is low on space (`crate::disk`).
    pub low_disk: crate::disk::LowDisk,
    /// The full-text index and its thread.
    pub search: crate::search::Search,
    /// Searches running at once at most: each holds its candidates' chunks
    /// and messages, so a burst of queries stays within a bound of memory.
    pub search_permits: Arc<Semaphore>,
    /// How the store and the bus of a cluster's node fare (`/healthz`);
    /// empty on the single binary.
    pub backends: crate::server::Health,
}

impl Deref for App {
    type Target = AppInner;
    fn deref(&self) -> &AppInner {
        &self.0
    }
}

/// The two phases of a graceful stop, and the sessions to wait for.
#[derive(Clone, Default)]
pub struct Shutdown {
    /// Phase one: stop accepting connections and reading client frames.
    pub stop_reading: CancellationToken,
    /// Phase two (after the writer drained): send what is queued, close as
    /// going away ([`Close::GoingAway`](crate::chat::events::Close)).
    pub close_sockets: CancellationToken,
    /// Every WebSocket session task.
    pub sessions: TaskTracker,
}

/// The caller of an authenticated request, as stored now (not as the
/// token claimed).
#[derive(Clone, Debug)]
pub struct AuthUser {
    pub id: UserId,
    pub username: String,
    pub role: Role,
    /// The token version the caller's token carries (equal to the stored
    /// one when it was checked): a later password change bumps the stored
    /// one, so a session can tell it was ended meanwhile.
    pub token_version: u64,
}

impl AuthUser {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }
}

impl App {
    pub fn new(inner: AppInner) -> App {
        App(Arc::new(inner))
    }

    /// Resolves an `Authorization` header value to the stored, enabled user.
    pub async fn authenticate_header(&self, header: Option<&str>) -> Result<AuthUser, ApiError> {
        let token = header
            .and_then(auth::bearer)
            .ok_or(ApiError::Unauthorized)?;
        self.authenticate_token(token).await
    }

    /// Resolves a token to the stored, enabled user, if the token was
    /// issued after the user's last password change. The signature is
    /// checked here (memory only); the user record is read like any other
    /// store work of a request, on the blocking pool.
    pub async fn authenticate_token(&self, token: &str) -> Result<AuthUser, ApiError> {
        let subject = self.tokens.verify_token(token)?;
        let id = subject.id;
        let rec = self
            .read(move |store| Ok(store.user(id)?))
            .await?
            .ok_or(ApiError::Unauthorized)?;
        if rec.disabled || rec.token_version != subject.version {
            return Err(ApiError::Unauthorized);
        }
        Ok(AuthUser {
            id,
            username: rec.username,
            role: rec.role,
            token_version: rec.token_version,
        })
    }

    /// Whether `user`'s session may go on: the account still exists, is
    /// enabled, and its password was not changed since the token was
    /// checked. A WebSocket checks this once registered with the hub, so
    /// that a password change or a disable racing its upgrade (which
    /// closes the user's registered connections) cannot miss it.
    pub fn still_valid(&self, user: &AuthUser) -> bool {
        matches!(
            self.store.user(user.id),
            Ok(Some(rec)) if !rec.disabled && rec.token_version == user.token_version
        )
    }

    /// Runs store work that only reads on the blocking pool, so that a
    /// large scan never holds an async worker that live chat needs. Every
    /// REST handler's store work goes through here or [`App::change`].
    /// Chat sessions are the one deliberate exception: per message they
    /// read single, cache-resident records (a membership) inline, where a
    /// hop to the blocking pool would cost more than the read; their scans
    /// (a catch-up) do run on the blocking pool.
    pub async fn read<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&Store) -> Result<T, ApiError> + Send + 'static,
    {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || f(&store))
            .await
            .map_err(|e| ApiError::Internal(format!("store task: {e}")))?
    }

    /// Runs a change on the blocking pool and flushes it before returning.
    /// The rule "an answer that reports a change is sent only once the
    /// change is on disk" lives here: every REST handler that changes
    /// something goes through this, so a 2xx survives `kill -9`, and the
    /// flush (an fsync) never runs on an async worker.
    pub async fn change<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&Store) -> Result<T, ApiError> + Send + 'static,
    {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || store.change(f))
            .await
            .map_err(|e| ApiError::Internal(format!("store task: {e}")))?
    }

    /// A room the caller may see: public, private with the caller a member
    /// or an admin, or direct with the caller one of its people (admins
    /// included: a direct conversation is nobody else's business). Anything
    /// else is `not_found`, so a private room's existence is never revealed.
    pub async fn visible_room(&self, user: &AuthUser, room_id: &str) -> Result<Room, ApiError> {
        let id: RoomId = room_id.parse().map_err(|_| ApiError::NotFound)?;
        let (user_id, admin) = (user.id, user.is_admin());
        self.read(move |store| {
            let room = store.room(id)?.ok_or(ApiError::NotFound)?;
            if !readable_without_membership(room.kind(), admin)
                && !store.is_member(room.id, user_id)?
            {
                return Err(ApiError::NotFound);
            }
            Ok(room)
        })
        .await
    }
}

/// Whether a room of `kind` may be read by someone who is not a member:
/// anyone for a public room, an admin for a private one, nobody for a
/// direct one. The one statement of who reads what ([`App::visible_room`],
/// and the rooms a search looks in).
pub fn readable_without_membership(kind: RoomKind, admin: bool) -> bool {
    match kind {
        RoomKind::Public => true,
        RoomKind::Private => admin,
        RoomKind::Direct => false,
    }
}
