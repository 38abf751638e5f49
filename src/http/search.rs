//! `/api/search` (full-text search over the rooms the caller can read)
//! and `/api/admin/search` (how far the index got). Additions to the
//! contract, documented in docs/protocol-additions.md ("Search").

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};
use warp::{Filter, Rejection, Reply};

use super::{caller, query_limit, reply};
use crate::app::{readable_without_membership, App, AuthUser};
use crate::error::ApiError;
use crate::model::{Message, MessageId, Room, RoomId, RoomKind};
use crate::search::query::{self, Query};
use crate::search::{Candidates, Check, Scope, Search, State};
use crate::store::Store;

/// Results per page when the client names none.
const DEFAULT_LIMIT: usize = 20;
/// Most results per page; larger requests are clamped to it.
const MAX_LIMIT: usize = 100;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SearchQuery {
    q: Option<String>,
    room_id: Option<String>,
    before: Option<String>,
    limit: Option<String>,
}

#[derive(Serialize)]
struct Answer {
    results: Vec<Found>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next: Option<MessageId>,
}

#[derive(Serialize)]
struct Found {
    message: Message,
    room: RoomSeen,
    highlights: Vec<[u32; 2]>,
}

#[derive(Serialize, Clone)]
struct RoomSeen {
    id: RoomId,
    name: String,
    kind: RoomKind,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StatusBody {
    state: &'static str,
    indexed_through: Option<MessageId>,
    newest: Option<MessageId>,
    behind: u64,
    queued: usize,
}

pub fn routes(app: App) -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone {
    let caller = caller(app);
    let search = warp::path!("search")
        .and(warp::get())
        .and(caller.clone())
        .and(warp::query::<SearchQuery>())
        .and_then(|app, user, q| async move { reply(search(app, user, q).await) });
    let status = warp::path!("admin" / "search")
        .and(warp::get())
        .and(caller)
        .and_then(|app: App, user: AuthUser| async move { reply(status(&app, &user)) });
    search.or(status)
}

fn status(app: &App, user: &AuthUser) -> Result<impl Reply, ApiError> {
    super::admin::require_admin(user)?;
    let s = app.search.status();
    Ok(warp::reply::json(&StatusBody {
        state: match s.state {
            State::Ready => "ready",
            State::CatchingUp => "catching_up",
            State::Rebuilding => "rebuilding",
        },
        indexed_through: s.indexed_through.map(MessageId),
        newest: s.newest.map(MessageId),
        behind: s.behind,
        queued: s.queued,
    }))
}

async fn search(app: App, user: AuthUser, q: SearchQuery) -> Result<impl Reply, ApiError> {
    let text = q.q.as_deref().unwrap_or("");
    let parsed = query::parse(text).map_err(|e| ApiError::validation(e.to_string()))?;
    let limit = query_limit(q.limit.as_deref(), DEFAULT_LIMIT, MAX_LIMIT)?;
    let before = match q.before.as_deref().filter(|s| !s.is_empty()) {
        Some(b) => {
            b.parse::<MessageId>()
                .map_err(|_| ApiError::validation("before must be a message id"))?
                .0
        }
        None => u64::MAX,
    };
    let only = match q.room_id.as_deref().filter(|s| !s.is_empty()) {
        Some(id) => Some(app.visible_room(&user, id).await?),
        None => None,
    };
    let _permit = app
        .search_permits
        .clone()
        .acquire_owned()
        .await
        .map_err(|_| ApiError::Internal("search permits closed".into()))?;
    let search = app.search.clone();
    let body = app
        .read(move |store| {
            let answer = run(store, &search, &user, &parsed, only, before, limit)?;
            serde_json::to_vec(&answer).map_err(|e| ApiError::Internal(e.to_string()))
        })
        .await?;
    Ok(warp::reply::with_header(
        body,
        "content-type",
        "application/json",
    ))
}

/// The rooms `user` may read now, by id: those they belong to or that are
/// public, and for an admin every private one (the rule of
/// [`readable_without_membership`]).
fn readable(store: &Store, user: &AuthUser) -> Result<HashMap<u64, Room>, ApiError> {
    let mut rooms: HashMap<u64, Room> = store
        .visible_rooms(user.id)?
        .into_iter()
        .map(|r| (r.id.0, r))
        .collect();
    if user.is_admin() {
        for r in store.all_rooms()? {
            if readable_without_membership(r.kind(), true) {
                rooms.entry(r.id.0).or_insert(r);
            }
        }
    }
    Ok(rooms)
}

fn run(
    store: &Store,
    search: &Search,
    user: &AuthUser,
    q: &Query,
    only: Option<Room>,
    before: u64,
    limit: usize,
) -> Result<Answer, ApiError> {
    let nothing = Answer {
        results: Vec::new(),
        next: None,
    };
    let mut rooms = match only {
        Some(r) => HashMap::from([(r.id.0, r)]),
        None => readable(store, user)?,
    };
    if let Some(name) = &q.room {
        let named = store.room_by_name(name)?.map(|r| r.id.0);
        rooms.retain(|id, _| Some(*id) == named);
    }
    let author = match &q.from {
        Some(name) => match store.user_by_name(name)? {
            Some((id, _)) => Some(id.0),
            None => return Ok(nothing),
        },
        None => None,
    };
    if !q.has_words() && author.is_none() && q.room.is_none() {
        return Ok(nothing);
    }
    let scope = Scope {
        rooms: rooms.keys().copied().collect::<HashSet<u64>>(),
        author,
        before,
        limit,
    };
    let gen = search.index();
    let internal = |e: crate::search::IndexError| ApiError::Internal(e.to_string());
    let Some(mut candidates) = Candidates::open(gen, q, &scope).map_err(internal)? else {
        return Ok(nothing);
    };
    let check = Check::new(q);
    let mut results: Vec<Found> = Vec::new();
    // Candidates wait here until enough of them could fill the page, then
    // are read from the store at once: one round trip for a page on a
    // store where each read is one (PostgreSQL), rather than one each.
    let mut pending: Vec<(&Room, MessageId)> = Vec::new();
    let mut next = None;
    loop {
        let Some(c) = candidates.next_match().map_err(internal)? else {
            settle(store, &check, author, user, &mut pending, &mut results)?;
            break;
        };
        if results.len() + pending.len() >= limit {
            settle(store, &check, author, user, &mut pending, &mut results)?;
        }
        // A candidate past a full page: there may be more, from the last
        // result on. Past the check budget: go on from this candidate.
        if let (true, Some(last)) = (results.len() == limit, results.last()) {
            next = Some(last.message.id);
            break;
        }
        if candidates.exhausted() {
            settle(store, &check, author, user, &mut pending, &mut results)?;
            next = match (results.len() == limit, results.last()) {
                (true, Some(last)) => Some(last.message.id),
                _ => Some(MessageId(c.id.saturating_add(1))),
            };
            break;
        }
        if let Some(room) = rooms.get(&c.room) {
            pending.push((room, MessageId(c.id)));
        }
    }
    Ok(Answer { results, next })
}

/// Reads the `pending` candidates (newest first) from the store in one
/// call and adds, in their order, those still there that `check` and the
/// author filter accept; empties `pending`. Never more than the page
/// holds: candidates are only pending while they could fit.
fn settle(
    store: &Store,
    check: &Check<'_>,
    author: Option<u64>,
    user: &AuthUser,
    pending: &mut Vec<(&Room, MessageId)>,
    results: &mut Vec<Found>,
) -> Result<(), ApiError> {
    if pending.is_empty() {
        return Ok(());
    }
    let keys: Vec<(RoomId, MessageId)> = pending.iter().map(|(r, id)| (r.id, *id)).collect();
    let mut found: HashMap<MessageId, Message> = store
        .messages_found(&keys)?
        .into_iter()
        .map(|m| (m.id, m))
        .collect();
    for (room, id) in pending.drain(..) {
        let Some(message) = found.remove(&id) else {
            continue;
        };
        if author.is_some_and(|a| a != message.user_id.0) {
            continue;
        }
        let Some(highlights) = check.highlights(&message.message) else {
            continue;
        };
        results.push(Found {
            message,
            room: RoomSeen {
                id: room.id,
                name: room.name_seen_by(&user.username),
                kind: room.kind(),
            },
            highlights,
        });
    }
    Ok(())
}
