//! `GET /api/users`: the user directory that pickers complete names from
//! (an addition to the contract, documented in docs/protocol-additions.md).
//! The other `/api/users/...` routes are in `users.rs`.

use serde::{Deserialize, Serialize};
use warp::{Filter, Rejection, Reply};

use super::{caller, query_limit, read_json, reply};
use crate::app::{App, AuthUser};
use crate::error::ApiError;
use crate::model::UserId;

/// Entries when the client names no limit.
const DEFAULT_LIMIT: usize = 20;
/// Most entries served; larger limits are clamped to it. A picker shows a
/// handful; the bound keeps each answer a short scan.
const MAX_LIMIT: usize = 50;

#[derive(Deserialize)]
struct DirectoryQuery {
    q: Option<String>,
    limit: Option<String>,
}

/// One entry: no role, no dates, nothing a picker does not need.
#[derive(Serialize)]
struct Entry {
    id: UserId,
    username: String,
}

pub fn routes(app: App) -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone {
    warp::path!("users")
        .and(warp::get())
        .and(caller(app))
        .and(warp::query::<DirectoryQuery>())
        .and_then(|app, user, q| async move { reply(directory(app, user, q).await) })
}

/// Enabled users whose name starts with `q` (without regard to case; all
/// of them without `q`), by name, at most `limit`. Any signed-in user may
/// ask.
async fn directory(app: App, _user: AuthUser, q: DirectoryQuery) -> Result<impl Reply, ApiError> {
    let limit = query_limit(q.limit.as_deref(), DEFAULT_LIMIT, MAX_LIMIT)?;
    let prefix = q.q.unwrap_or_default();
    read_json(&app, move |store| {
        Ok(store
            .users_with_prefix(&prefix, limit)?
            .into_iter()
            .map(|(id, username)| Entry { id, username })
            .collect::<Vec<Entry>>())
    })
    .await
}
