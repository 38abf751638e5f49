//! Moderation and administration over REST (additions to the contract,
//! documented in docs/protocol-additions.md): user management for admins,
//! message edits and deletions, room deletion.

use serde::Deserialize;
use warp::http::StatusCode;
use warp::{Filter, Rejection, Reply};

use super::{authenticated, body, reply, with_app};
use crate::app::{App, AuthUser};
use crate::chat::events::{self, Close};
use crate::error::ApiError;
use crate::model::{MessageId, Role, UserId};
use crate::validate;

#[derive(Deserialize)]
struct NewUser {
    username: String,
    password: String,
    #[serde(default)]
    role: Option<Role>,
}

#[derive(Deserialize)]
struct Edit {
    message: String,
}

pub fn routes(app: App) -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone {
    let limit = body::Limits::of(&app.settings);
    let auth = authenticated(app.clone());
    let state = with_app(app);

    let users = warp::path!("admin" / "users")
        .and(warp::get())
        .and(state.clone())
        .and(auth.clone())
        .and_then(|app, user| async move { reply(list_users(app, user).await) });
    let create_user = warp::path!("admin" / "users")
        .and(warp::post())
        .and(state.clone())
        .and(auth.clone())
        .and(body::json::<NewUser>(limit))
        .and_then(|app, user, b| async move { reply(create_user(app, user, b).await) });
    let disable = warp::path!("admin" / "users" / String / "disable")
        .and(warp::post())
        .and(state.clone())
        .and(auth.clone())
        .and_then(|id: String, app, user| async move {
            reply(set_disabled(app, user, &id, true).await)
        });
    let enable = warp::path!("admin" / "users" / String / "enable")
        .and(warp::post())
        .and(state.clone())
        .and(auth.clone())
        .and_then(|id: String, app, user| async move {
            reply(set_disabled(app, user, &id, false).await)
        });
    let delete_room = warp::path!("rooms" / String)
        .and(warp::delete())
        .and(state.clone())
        .and(auth.clone())
        .and_then(|id: String, app, user| async move { reply(delete_room(app, user, &id).await) });
    let delete_message = warp::path!("rooms" / String / "messages" / String)
        .and(warp::delete())
        .and(state.clone())
        .and(auth.clone())
        .and_then(|room: String, id: String, app, user| async move {
            reply(delete_message(app, user, &room, &id).await)
        });
    let edit_message = warp::path!("rooms" / String / "messages" / String)
        .and(warp::patch())
        .and(state)
        .and(auth)
        .and(body::json::<Edit>(limit))
        .and_then(|room: String, id: String, app, user, b| async move {
            reply(edit_message(app, user, &room, &id, b).await)
        });
    users
        .or(create_user)
        .or(disable)
        .or(enable)
        .or(delete_room)
        .or(delete_message)
        .or(edit_message)
}

fn require_admin(user: &AuthUser) -> Result<(), ApiError> {
    if user.is_admin() {
        Ok(())
    } else {
        Err(ApiError::Forbidden("only admins can do this"))
    }
}

async fn list_users(app: App, user: AuthUser) -> Result<impl Reply, ApiError> {
    require_admin(&user)?;
    let users = app.read(|store| Ok(store.list_users()?)).await?;
    Ok(warp::reply::json(&users))
}

/// Adds an account: how users join a server whose registration is closed.
async fn create_user(app: App, user: AuthUser, b: NewUser) -> Result<impl Reply, ApiError> {
    require_admin(&user)?;
    validate::username(&b.username).map_err(ApiError::Validation)?;
    validate::password(&b.password).map_err(ApiError::Validation)?;
    if app.store.user_by_name(&b.username)?.is_some() {
        return Err(ApiError::UsernameTaken);
    }
    let hash = app.tokens.hash(b.password).await?;
    let role = b.role.unwrap_or(Role::User);
    let created = app
        .change(move |store| Ok(store.create_user(&b.username, &hash, role)?))
        .await?;
    Ok(warp::reply::with_status(
        warp::reply::json(&created),
        StatusCode::CREATED,
    ))
}

async fn set_disabled(
    app: App,
    user: AuthUser,
    id: &str,
    disabled: bool,
) -> Result<impl Reply, ApiError> {
    require_admin(&user)?;
    let target: UserId = id.parse().map_err(|_| ApiError::NotFound)?;
    if target == user.id && disabled {
        return Err(ApiError::validation("admins cannot disable themselves"));
    }
    app.change(move |store| {
        store.user(target)?.ok_or(ApiError::NotFound)?;
        Ok(store.update_user(target, |r| r.disabled = disabled)?)
    })
    .await?;
    if disabled {
        // The account's tokens no longer hold: a policy close.
        app.hub.kill_user(target, Close::Policy);
    }
    Ok(StatusCode::NO_CONTENT)
}

async fn delete_room(app: App, user: AuthUser, id: &str) -> Result<impl Reply, ApiError> {
    let room = app.visible_room(&user, id)?;
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

fn find_message(
    app: &App,
    user: &AuthUser,
    room: &str,
    id: &str,
) -> Result<(crate::model::Room, crate::model::Message), ApiError> {
    let room = app.visible_room(user, room)?;
    let id: MessageId = id.parse().map_err(|_| ApiError::NotFound)?;
    let msg = app.store.message(room.id, id)?.ok_or(ApiError::NotFound)?;
    Ok((room, msg))
}

async fn delete_message(
    app: App,
    user: AuthUser,
    room: &str,
    id: &str,
) -> Result<impl Reply, ApiError> {
    let (room, msg) = find_message(&app, &user, room, id)?;
    if msg.user_id != user.id && room.owner_id != user.id && !user.is_admin() {
        return Err(ApiError::Forbidden(
            "only the author, the room's owner or an admin can delete a message",
        ));
    }
    let (room_id, msg_id) = (room.id, msg.id);
    let existed = app
        .change(move |store| Ok(store.delete_message(room_id, msg_id)?))
        .await?;
    if !existed {
        // Deleted meanwhile: that deletion answered and announced it.
        return Err(ApiError::NotFound);
    }
    app.hub
        .broadcast(room.id, events::message_deleted(room.id, msg.id));
    Ok(StatusCode::NO_CONTENT)
}

async fn edit_message(
    app: App,
    user: AuthUser,
    room: &str,
    id: &str,
    b: Edit,
) -> Result<impl Reply, ApiError> {
    let (room, msg) = find_message(&app, &user, room, id)?;
    if msg.user_id != user.id {
        return Err(ApiError::Forbidden("only the author can edit a message"));
    }
    validate::message(&b.message).map_err(ApiError::Validation)?;
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
