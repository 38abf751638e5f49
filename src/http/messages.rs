//! `/api/rooms/{roomId}/messages`: a room's history, and the edit and
//! deletion of one message (additions to the contract, documented in
//! docs/protocol-additions.md), each announced to the room.

use serde::Deserialize;
use warp::http::StatusCode;
use warp::{Filter, Rejection, Reply};

use super::{body, caller, query_limit, read_json, reply};
use crate::app::{App, AuthUser};
use crate::chat::events;
use crate::error::ApiError;
use crate::model::{Message, MessageId, Room};
use crate::store::{Page, PageAround};
use crate::validate;

/// Page size when the client names none.
const DEFAULT_LIMIT: usize = 50;
/// Largest page served; larger requests are clamped to it.
const MAX_LIMIT: usize = 200;

#[derive(Deserialize)]
struct HistoryQuery {
    before: Option<String>,
    after: Option<String>,
    /// The page with this message in the middle (a search result opened
    /// in context).
    around: Option<String>,
    limit: Option<String>,
}

/// A page of history as served: one direction, or both around a message.
#[derive(serde::Serialize)]
#[serde(untagged)]
enum History {
    Page(Page),
    Around(PageAround),
}

#[derive(Deserialize)]
struct Edit {
    message: String,
}

pub fn routes(app: App) -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone {
    let limit = body::Limits::of(&app.settings);
    let caller = caller(app);

    let history = warp::path!("rooms" / String / "messages")
        .and(warp::get())
        .and(caller.clone())
        .and(warp::query::<HistoryQuery>())
        .and_then(
            |id: String, app, user, q| async move { reply(history(app, user, &id, q).await) },
        );
    let message = warp::path!("rooms" / String / "messages" / String);
    let edit = message
        .and(warp::patch())
        .and(caller.clone())
        .and(body::json::<Edit>(limit))
        .and_then(|room: String, id: String, app, user, b| async move {
            reply(edit(app, user, &room, &id, b).await)
        });
    let delete =
        message.and(warp::delete()).and(caller).and_then(
            |room: String, id: String, app, user| async move {
                reply(delete(app, user, &room, &id).await)
            },
        );
    history.or(edit).or(delete)
}

/// A `before`, `after` or `around` cursor; empty is the same as absent.
fn cursor(v: Option<&str>) -> Result<Option<MessageId>, ApiError> {
    v.filter(|s| !s.is_empty())
        .map(|v| {
            v.parse()
                .map_err(|_| ApiError::validation("before/after/around must be a message id"))
        })
        .transpose()
}

async fn history(
    app: App,
    user: AuthUser,
    id: &str,
    q: HistoryQuery,
) -> Result<impl Reply, ApiError> {
    let room = app.visible_room(&user, id).await?;
    let limit = query_limit(q.limit.as_deref(), DEFAULT_LIMIT, MAX_LIMIT)?;
    let before = cursor(q.before.as_deref())?;
    let after = cursor(q.after.as_deref())?;
    let around = cursor(q.around.as_deref())?;
    if [before, after, around].iter().flatten().count() > 1 {
        return Err(ApiError::validation(
            "give one of before, after and around, not more",
        ));
    }
    read_json(&app, move |store| {
        Ok(match (before, after, around) {
            (Some(b), _, _) => History::Page(store.before(room.id, b, limit)?),
            (_, Some(a), _) => History::Page(store.after(room.id, a, limit)?),
            (_, _, Some(m)) => {
                History::Around(store.around(room.id, m, limit)?.ok_or(ApiError::NotFound)?)
            }
            (None, None, None) => History::Page(store.latest(room.id, limit)?),
        })
    })
    .await
}

/// A message of a room the caller can see; `not_found` otherwise.
async fn find_message(
    app: &App,
    user: &AuthUser,
    room: &str,
    id: &str,
) -> Result<(Room, Message), ApiError> {
    let room = app.visible_room(user, room).await?;
    let id: MessageId = id.parse().map_err(|_| ApiError::NotFound)?;
    let room_id = room.id;
    let msg = app
        .read(move |store| Ok(store.message(room_id, id)?))
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok((room, msg))
}

async fn delete(app: App, user: AuthUser, room: &str, id: &str) -> Result<impl Reply, ApiError> {
    let (room, msg) = find_message(&app, &user, room, id).await?;
    // Whoever started a direct conversation has no say over the others' words.
    let owner = room.owner_id == user.id && !room.is_direct();
    if msg.user_id != user.id && !owner && !user.is_admin() {
        return Err(ApiError::Forbidden(
            "only the author, the room's owner or an admin can delete a message",
        ));
    }
    let (room_id, msg_id) = (room.id, msg.id);
    let files: Vec<_> = msg.attachments.iter().map(|a| a.id).collect();
    // The message and then its files' records, flushed together; their
    // bytes go once that is on disk and nothing else refers to them.
    let unused = app
        .change(move |store| {
            if !store.delete_message(room_id, msg_id)? {
                return Ok(None);
            }
            Ok(Some(store.delete_files(&files)?))
        })
        .await?;
    let Some(unused) = unused else {
        // Deleted meanwhile: that deletion answered and announced it.
        return Err(ApiError::NotFound);
    };
    super::files::remove_blobs(&app, unused).await;
    app.hub
        .broadcast(room.id, events::message_deleted(room.id, msg.id));
    Ok(StatusCode::NO_CONTENT)
}

async fn edit(
    app: App,
    user: AuthUser,
    room: &str,
    id: &str,
    b: Edit,
) -> Result<impl Reply, ApiError> {
    let (room, msg) = find_message(&app, &user, room, id).await?;
    if msg.user_id != user.id {
        return Err(ApiError::Forbidden("only the author can edit a message"));
    }
    validate::message_text(&b.message, !msg.attachments.is_empty())
        .map_err(ApiError::Validation)?;
    let (room_id, msg_id) = (room.id, msg.id);
    let edited = app
        .change(move |store| {
            store
                .edit_message(room_id, msg_id, &b.message)?
                .ok_or(ApiError::NotFound)
        })
        .await?;
    app.hub.broadcast(room.id, events::message_edited(&edited));
    Ok(warp::reply::json(&edited))
}
