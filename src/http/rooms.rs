//! `/api/rooms`: list, create, show, delete, online users, members. A
//! room's messages are in `messages.rs`.

use serde::{Deserialize, Serialize};
use warp::http::StatusCode;
use warp::{Filter, Rejection, Reply};

use super::{body, caller, read_json, reply};
use crate::app::{App, AuthUser};
use crate::error::ApiError;
use crate::model::{Room, RoomId, RoomView, UserId};
use crate::store::StoreError;
use crate::throttle::TokenBuckets;
use crate::validate;

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

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Online {
    room_id: RoomId,
    users: Vec<String>,
}

pub fn routes(app: App) -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone {
    let limit = body::Limits::of(&app.settings);
    // One allowance per server, held by the route that spends it.
    let create_rate = app
        .settings
        .room_create_rate
        .map(TokenBuckets::<UserId>::per_hour);
    let caller = caller(app);

    let list = warp::path!("rooms")
        .and(warp::get())
        .and(caller.clone())
        .and_then(|app, user| async move { reply(list(app, user).await) });
    let create = warp::path!("rooms")
        .and(warp::post())
        .and(caller.clone())
        .and(body::json::<NewRoom>(limit))
        .and_then(move |app, user, b| {
            let rate = create_rate.clone();
            async move { reply(create(app, user, b, rate).await) }
        });
    let show = warp::path!("rooms" / String)
        .and(warp::get())
        .and(caller.clone())
        .and_then(|id: String, app: App, user| async move { reply(show(app, user, &id).await) });
    let delete = warp::path!("rooms" / String)
        .and(warp::delete())
        .and(caller.clone())
        .and_then(|id: String, app, user| async move { reply(delete(app, user, &id).await) });
    let online = warp::path!("rooms" / String / "online")
        .and(warp::get())
        .and(caller.clone())
        .and_then(|id: String, app: App, user| async move {
            reply(app.visible_room(&user, &id).await.map(|r| {
                warp::reply::json(&Online {
                    room_id: r.id,
                    users: app.hub.online(r.id),
                })
            }))
        });
    let add_member = warp::path!("rooms" / String / "members")
        .and(warp::post())
        .and(caller.clone())
        .and(body::json::<MemberBody>(limit))
        .and_then(
            |id: String, app, user, b| async move { reply(add_member(app, user, &id, b).await) },
        );
    let remove_member = warp::path!("rooms" / String / "members" / String)
        .and(warp::delete())
        .and(caller)
        .and_then(|id: String, name: String, app, user| async move {
            reply(remove_member(app, user, &id, &name).await)
        });

    list.or(create)
        .or(show)
        .or(delete)
        .or(online)
        .or(add_member)
        .or(remove_member)
}

/// A room as the caller sees it, with the caller's read state.
async fn viewed(app: &App, user: &AuthUser, room: Room) -> Result<warp::reply::Json, ApiError> {
    let online = app.hub.online_count(room.id);
    let viewer = user.id;
    let view = app
        .read(move |store| Ok(store.room_view(&room, viewer, online)?))
        .await?;
    Ok(warp::reply::json(&view))
}

async fn show(app: App, user: AuthUser, id: &str) -> Result<impl Reply, ApiError> {
    let room = app.visible_room(&user, id).await?;
    viewed(&app, &user, room).await
}

/// The room list with the caller's read state of each room, built and
/// serialised on the blocking pool: with many rooms it is large, and live
/// chat needs the async workers. Three reads per room make the read
/// state, whatever the rooms' histories.
async fn list(app: App, user: AuthUser) -> Result<impl Reply, ApiError> {
    let hub = app.hub.clone();
    read_json(&app, move |store| {
        let rooms = store.visible_rooms(user.id)?;
        let views = rooms
            .iter()
            .map(|r| store.room_view(r, user.id, hub.online_count(r.id)))
            .collect::<Result<Vec<RoomView>, _>>()?;
        Ok(views)
    })
    .await
}

/// Creates a room, within the creation rate and the ownership quota
/// (admins are exempt from both).
async fn create(
    app: App,
    user: AuthUser,
    b: NewRoom,
    rate: Option<TokenBuckets<UserId>>,
) -> Result<impl Reply, ApiError> {
    let name = validate::room_name(&b.name)
        .map_err(ApiError::Validation)?
        .to_owned();
    let description = b.description.unwrap_or_default();
    validate::description(&description).map_err(ApiError::Validation)?;
    let admin = user.is_admin();
    if let Some(rate) = rate.filter(|_| !admin) {
        rate.take(&user.id)
            .map_err(|retry_after| ApiError::RateLimited { retry_after })?;
    }
    let quota = app.settings.room_quota.filter(|_| !admin);
    let room = app
        .change(move |store| {
            store
                .create_room_within(&name, &description, b.private, user.id, quota)
                .map_err(|e| match e {
                    StoreError::RoomQuota => {
                        ApiError::QuotaExceeded("you own as many rooms as this server allows")
                    }
                    other => other.into(),
                })
        })
        .await?;
    Ok(warp::reply::with_status(
        viewed(&app, &user, room).await?,
        StatusCode::CREATED,
    ))
}

/// Deletes a room, its messages and members, and unsubscribes everyone
/// from it (`roomDeleted`).
async fn delete(app: App, user: AuthUser, id: &str) -> Result<impl Reply, ApiError> {
    let room = app.visible_room(&user, id).await?;
    if room.owner_id != user.id && !user.is_admin() {
        return Err(ApiError::Forbidden(
            "only the room's owner or an admin can delete it",
        ));
    }
    app.change(move |store| Ok(store.delete_room(room.id)?))
        .await?;
    app.hub.delete_room(room.id);
    Ok(StatusCode::NO_CONTENT)
}

/// The room of a member endpoint: visible to the caller, and private.
async fn private_room(app: &App, user: &AuthUser, id: &str) -> Result<Room, ApiError> {
    let room = app.visible_room(user, id).await?;
    if !room.private {
        return Err(ApiError::validation("public rooms have no member list"));
    }
    Ok(room)
}

async fn add_member(
    app: App,
    user: AuthUser,
    id: &str,
    b: MemberBody,
) -> Result<impl Reply, ApiError> {
    let room = private_room(&app, &user, id).await?;
    if room.owner_id != user.id && !user.is_admin() {
        return Err(ApiError::Forbidden(
            "only the room's owner or an admin can add members",
        ));
    }
    app.change(move |store| {
        let (target, _) = store.user_by_name(&b.username)?.ok_or(ApiError::NotFound)?;
        Ok(store.add_member(room.id, target)?)
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn remove_member(
    app: App,
    user: AuthUser,
    id: &str,
    name: &str,
) -> Result<impl Reply, ApiError> {
    let room = private_room(&app, &user, id).await?;
    let may_remove_others = room.owner_id == user.id || user.is_admin();
    if !may_remove_others && !name.eq_ignore_ascii_case(&user.username) {
        return Err(ApiError::Forbidden(
            "only the room's owner or an admin can remove others",
        ));
    }
    let name = name.to_owned();
    let target = app
        .change(move |store| {
            let (target, _) = store.user_by_name(&name)?.ok_or(ApiError::NotFound)?;
            if target == room.owner_id {
                return Err(ApiError::validation(
                    "the owner cannot be removed from the room",
                ));
            }
            if !store.remove_member(room.id, target)? {
                return Err(ApiError::NotFound);
            }
            Ok(target)
        })
        .await?;
    app.hub.remove_member(room.id, target);
    Ok(StatusCode::NO_CONTENT)
}
