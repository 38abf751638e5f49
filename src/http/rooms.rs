//! `/api/rooms`: list, create, show, edit, delete, online users, members.
//! A room's messages are in `messages.rs`. Every change to who sees which
//! room, and how it reads, is announced on the live room list
//! ([`crate::room_list`]).

use serde::{Deserialize, Serialize};
use warp::http::StatusCode;
use warp::{Filter, Rejection, Reply};

use super::{body, caller, read_json, reply};
use crate::app::{App, AuthUser};
use crate::chat::registry::Audience;
use crate::error::ApiError;
use crate::model::{Room, RoomId, RoomKind, RoomView, UserId};
use crate::room_list::Viewers;
use crate::store::{RoomEdit, StoreError};
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

/// The body of `PATCH /api/rooms/{id}`: what to change; an absent (or
/// null) field stays as it is.
#[derive(Deserialize)]
struct RoomPatch {
    #[serde(default)]
    name: Option<String>,
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
    let create_rate = creation_allowance(&app);
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
    let edit = warp::path!("rooms" / String)
        .and(warp::patch())
        .and(caller.clone())
        .and(body::json::<RoomPatch>(limit))
        .and_then(|id: String, app, user, b| async move { reply(edit(app, user, &id, b).await) });
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
        .or(edit)
        .or(delete)
        .or(online)
        .or(add_member)
        .or(remove_member)
}

/// The hourly allowance of room creations per user (`--room-create-rate`),
/// if any. One per server and per route that spends it, held by the route.
pub(super) fn creation_allowance(app: &App) -> Option<TokenBuckets<UserId>> {
    app.settings
        .room_create_rate
        .map(TokenBuckets::<UserId>::per_hour)
}

/// Takes one creation from `rate` for `user` (admins are exempt), or 429.
pub(super) fn spend_creation(
    rate: Option<&TokenBuckets<UserId>>,
    user: &AuthUser,
) -> Result<(), ApiError> {
    match rate {
        Some(rate) if !user.is_admin() => rate
            .take(&user.id)
            .map_err(|retry_after| ApiError::RateLimited { retry_after }),
        _ => Ok(()),
    }
}

/// A room as the caller sees it, with the caller's read state.
pub(super) async fn viewed(
    app: &App,
    user: &AuthUser,
    room: Room,
) -> Result<warp::reply::Json, ApiError> {
    let online = app.hub.online_count(room.id);
    let (viewer, name) = (user.id, user.username.clone());
    let view = app
        .read(move |store| Ok(store.room_view(&room, viewer, &name, online)?))
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
        let mut views = rooms
            .iter()
            .map(|r| store.room_view(r, user.id, &user.username, hub.online_count(r.id)))
            .collect::<Result<Vec<RoomView>, _>>()?;
        // By name as the caller sees it (a direct room's depends on who asks).
        views.sort_by_cached_key(|v| (v.name.to_lowercase(), v.id));
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
    spend_creation(rate.as_ref(), &user)?;
    let quota = app.settings.room_quota.filter(|_| !user.is_admin());
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
    app.announce_room(room.id, Viewers::All).await;
    Ok(warp::reply::with_status(
        viewed(&app, &user, room).await?,
        StatusCode::CREATED,
    ))
}

/// Renames a room or changes its description: the owner or an admin.
/// Everyone who can see the room is told (`roomUpdated`) if it changed.
async fn edit(app: App, user: AuthUser, id: &str, b: RoomPatch) -> Result<impl Reply, ApiError> {
    let room = app.visible_room(&user, id).await?;
    if room.owner_id != user.id && !user.is_admin() {
        return Err(ApiError::Forbidden(
            "only the room's owner or an admin can change it",
        ));
    }
    if room.is_direct() {
        return Err(ApiError::validation(
            "a direct room's name is its people's names; it has no settings",
        ));
    }
    let name = b
        .name
        .as_deref()
        .map(validate::room_name)
        .transpose()
        .map_err(ApiError::Validation)?
        .map(str::to_owned);
    if let Some(d) = &b.description {
        validate::description(d).map_err(ApiError::Validation)?;
    }
    app.write_limits
        .room_edit(user.id)
        .map_err(|retry_after| ApiError::RateLimited { retry_after })?;
    let change = RoomEdit {
        name,
        description: b.description,
    };
    let (room, changed) = app
        .change(move |store| Ok(store.edit_room(room.id, &change)?))
        .await?;
    if changed {
        app.announce_room_update(room.id).await;
    }
    viewed(&app, &user, room).await
}

/// Deletes a room, its messages and members, and unsubscribes everyone
/// from it (`roomDeleted`).
async fn delete(app: App, user: AuthUser, id: &str) -> Result<impl Reply, ApiError> {
    let room = app.visible_room(&user, id).await?;
    if room.is_direct() {
        return Err(ApiError::validation(
            "a direct conversation belongs to all its people and cannot be deleted",
        ));
    }
    if room.owner_id != user.id && !user.is_admin() {
        return Err(ApiError::Forbidden(
            "only the room's owner or an admin can delete it",
        ));
    }
    let (audience, unused) = app
        .change(move |store| {
            let audience = if room.private {
                Audience::Users(store.members(room.id)?)
            } else {
                Audience::Everyone
            };
            store.delete_room(room.id)?;
            let files: Vec<_> = store.room_files(room.id)?.iter().map(|f| f.id).collect();
            Ok((audience, store.delete_files(&files)?))
        })
        .await?;
    super::files::remove_blobs(&app, unused).await;
    app.announce_room_deleted(room.id, audience).await;
    Ok(StatusCode::NO_CONTENT)
}

/// The room of a member change: visible to the caller, and private (a
/// direct room's people are fixed).
async fn private_room(app: &App, user: &AuthUser, id: &str) -> Result<Room, ApiError> {
    let room = app.visible_room(user, id).await?;
    match room.kind() {
        RoomKind::Private => Ok(room),
        RoomKind::Public => Err(ApiError::validation("public rooms have no member list")),
        RoomKind::Direct => Err(ApiError::validation(
            "the people of a direct conversation are fixed; start another one",
        )),
    }
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
    let (target, added) = app
        .change(move |store| {
            let (target, _) = store.user_by_name(&b.username)?.ok_or(ApiError::NotFound)?;
            Ok((target, store.add_member(room.id, target)?))
        })
        .await?;
    if added {
        app.announce_room(room.id, Viewers::Only(vec![target]))
            .await;
        app.announce_members_changed(room.id, target).await;
    }
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
    app.announce_member_removed(room.id, target).await;
    app.announce_members_changed(room.id, target).await;
    Ok(StatusCode::NO_CONTENT)
}
