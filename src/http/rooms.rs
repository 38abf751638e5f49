//! `/api/rooms`: list, create, show, history, online users, members.

use serde::{Deserialize, Serialize};
use warp::http::StatusCode;
use warp::{Filter, Rejection, Reply};

use super::{authenticated, body, reply, with_app};
use crate::app::{App, AuthUser};
use crate::error::ApiError;
use crate::model::{MessageId, Room, RoomId, RoomView};
use crate::validate;

/// Page size when the client names none.
const DEFAULT_LIMIT: usize = 50;
/// Largest page served; larger requests are clamped to it.
const MAX_LIMIT: usize = 200;

#[derive(Deserialize)]
struct NewRoom {
    name: String,
    #[serde(default)]
    private: bool,
    #[serde(default)]
    description: Option<String>,
}

#[derive(Deserialize)]
struct MemberBody {
    username: String,
}

#[derive(Deserialize)]
struct HistoryQuery {
    before: Option<String>,
    after: Option<String>,
    limit: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Online {
    room_id: RoomId,
    users: Vec<String>,
}

pub fn routes(app: App) -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone {
    let limit = body::Limits::of(&app.settings);
    let auth = authenticated(app.clone());
    let state = with_app(app);

    let list = warp::path!("rooms")
        .and(warp::get())
        .and(state.clone())
        .and(auth.clone())
        .and_then(|app, user| async move { reply(list(app, user)) });
    let create = warp::path!("rooms")
        .and(warp::post())
        .and(state.clone())
        .and(auth.clone())
        .and(body::json::<NewRoom>(limit))
        .and_then(|app, user, b| async move { reply(create(app, user, b).await) });
    let show = warp::path!("rooms" / String)
        .and(warp::get())
        .and(state.clone())
        .and(auth.clone())
        .and_then(|id: String, app: App, user| async move {
            reply(app.visible_room(&user, &id).map(|r| json_room(&app, &r)))
        });
    let history = warp::path!("rooms" / String / "messages")
        .and(warp::get())
        .and(state.clone())
        .and(auth.clone())
        .and(warp::query::<HistoryQuery>())
        .and_then(
            |id: String, app, user, q| async move { reply(history(app, user, &id, q).await) },
        );
    let online = warp::path!("rooms" / String / "online")
        .and(warp::get())
        .and(state.clone())
        .and(auth.clone())
        .and_then(|id: String, app: App, user| async move {
            reply(app.visible_room(&user, &id).map(|r| {
                warp::reply::json(&Online {
                    room_id: r.id,
                    users: app.hub.online(r.id),
                })
            }))
        });
    let add_member = warp::path!("rooms" / String / "members")
        .and(warp::post())
        .and(state.clone())
        .and(auth.clone())
        .and(body::json::<MemberBody>(limit))
        .and_then(|id: String, app, user, b| async move { reply(add_member(app, user, &id, b)) });
    let remove_member = warp::path!("rooms" / String / "members" / String)
        .and(warp::delete())
        .and(state)
        .and(auth)
        .and_then(|id: String, name: String, app, user| async move {
            reply(remove_member(app, user, &id, &name))
        });

    list.or(create)
        .or(show)
        .or(history)
        .or(online)
        .or(add_member)
        .or(remove_member)
}

fn json_room(app: &App, room: &Room) -> warp::reply::Json {
    warp::reply::json(&RoomView::new(room, app.hub.online_count(room.id)))
}

fn list(app: App, user: AuthUser) -> Result<impl Reply, ApiError> {
    let rooms = app.store.visible_rooms(user.id)?;
    let views: Vec<RoomView> = rooms
        .iter()
        .map(|r| RoomView::new(r, app.hub.online_count(r.id)))
        .collect();
    Ok(warp::reply::json(&views))
}

async fn create(app: App, user: AuthUser, b: NewRoom) -> Result<impl Reply, ApiError> {
    let name = validate::room_name(&b.name)
        .map_err(ApiError::Validation)?
        .to_owned();
    let description = b.description.unwrap_or_default();
    validate::description(&description).map_err(ApiError::Validation)?;
    let store = app.store.clone();
    let room = tokio::task::spawn_blocking(move || {
        store.create_room(&name, &description, b.private, user.id)
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))??;
    Ok(warp::reply::with_status(
        json_room(&app, &room),
        StatusCode::CREATED,
    ))
}

fn parse_cursor(v: &str) -> Result<MessageId, ApiError> {
    v.parse()
        .map_err(|_| ApiError::validation("before/after must be a message id"))
}

async fn history(
    app: App,
    user: AuthUser,
    id: &str,
    q: HistoryQuery,
) -> Result<impl Reply, ApiError> {
    let room = app.visible_room(&user, id)?;
    let limit = match q.limit.as_deref() {
        None | Some("") => DEFAULT_LIMIT,
        Some(l) => match l.parse::<usize>() {
            Ok(n) if n >= 1 => n.min(MAX_LIMIT),
            _ => {
                return Err(ApiError::validation(
                    "limit must be a whole number from 1 to 200",
                ))
            }
        },
    };
    let before = q
        .before
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(parse_cursor)
        .transpose()?;
    let after = q
        .after
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(parse_cursor)
        .transpose()?;
    let store = app.store.clone();
    let page = tokio::task::spawn_blocking(move || match (before, after) {
        (Some(_), Some(_)) => Err(ApiError::validation("give before or after, not both")),
        (Some(b), None) => Ok(store.before(room.id, b, limit)?),
        (None, Some(a)) => Ok(store.after(room.id, a, limit)?),
        (None, None) => Ok(store.latest(room.id, limit)?),
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))??;
    Ok(warp::reply::json(&page))
}

/// The room of a member endpoint: visible to the caller, and private.
fn private_room(app: &App, user: &AuthUser, id: &str) -> Result<Room, ApiError> {
    let room = app.visible_room(user, id)?;
    if !room.private {
        return Err(ApiError::validation("public rooms have no member list"));
    }
    Ok(room)
}

fn add_member(app: App, user: AuthUser, id: &str, b: MemberBody) -> Result<impl Reply, ApiError> {
    let room = private_room(&app, &user, id)?;
    if room.owner_id != user.id && !user.is_admin() {
        return Err(ApiError::Forbidden(
            "only the room's owner or an admin can add members",
        ));
    }
    let (target, _) = app
        .store
        .user_by_name(&b.username)?
        .ok_or(ApiError::NotFound)?;
    app.store.add_member(room.id, target)?;
    Ok(StatusCode::NO_CONTENT)
}

fn remove_member(app: App, user: AuthUser, id: &str, name: &str) -> Result<impl Reply, ApiError> {
    let room = private_room(&app, &user, id)?;
    let may_remove_others = room.owner_id == user.id || user.is_admin();
    if !may_remove_others && !name.eq_ignore_ascii_case(&user.username) {
        return Err(ApiError::Forbidden(
            "only the room's owner or an admin can remove others",
        ));
    }
    let (target, _) = app.store.user_by_name(name)?.ok_or(ApiError::NotFound)?;
    if target == room.owner_id {
        return Err(ApiError::validation(
            "the owner cannot be removed from the room",
        ));
    }
    if !app.store.remove_member(room.id, target)? {
        return Err(ApiError::NotFound);
    }
    app.hub
        .remove_user_from_room(room.id, Some(target), "roomRemoved");
    Ok(StatusCode::NO_CONTENT)
}
