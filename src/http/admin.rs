//! `/api/admin/...`: user management for admins (additions to the
//! contract, documented in docs/protocol-additions.md): list and create
//! accounts, disable and enable them, change their role, reset their
//! password.

use serde::Deserialize;
use warp::http::StatusCode;
use warp::{Filter, Rejection, Reply};

use super::{body, caller, reply};
use crate::app::{App, AuthUser};
use crate::auth::CLOSE_CREDENTIALS_CHANGED;
use crate::chat::events::Close;
use crate::error::ApiError;
use crate::model::{Role, UserId, UserRecord};
use crate::validate;

#[derive(Deserialize)]
struct NewUser {
    username: String,
    password: String,
    #[serde(default)]
    role: Option<Role>,
}

#[derive(Deserialize)]
struct RoleChange {
    role: Role,
}

#[derive(Deserialize)]
struct PasswordReset {
    password: String,
}

pub fn routes(app: App) -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone {
    let limit = body::Limits::of(&app.settings);
    let caller = caller(app);

    let users = warp::path!("admin" / "users")
        .and(warp::get())
        .and(caller.clone())
        .and_then(|app, user| async move { reply(list_users(app, user).await) });
    let create_user = warp::path!("admin" / "users")
        .and(warp::post())
        .and(caller.clone())
        .and(body::json::<NewUser>(limit))
        .and_then(|app, user, b| async move { reply(create_user(app, user, b).await) });
    let switch = |action: &'static str, disabled: bool| {
        warp::path!("admin" / "users" / String / ..)
            .and(warp::path(action))
            .and(warp::path::end())
            .and(warp::post())
            .and(caller.clone())
            .and_then(move |id: String, app, user| async move {
                reply(set_disabled(app, user, &id, disabled).await)
            })
    };
    let role = warp::path!("admin" / "users" / String / "role")
        .and(warp::post())
        .and(caller.clone())
        .and(body::json::<RoleChange>(limit))
        .and_then(
            |id: String, app, user, b| async move { reply(set_role(app, user, &id, b).await) },
        );
    let password = warp::path!("admin" / "users" / String / "password")
        .and(warp::post())
        .and(caller.clone())
        .and(body::json::<PasswordReset>(limit))
        .and_then(|id: String, app, user, b| async move {
            reply(reset_password(app, user, &id, b).await)
        });
    users
        .or(create_user)
        .or(switch("disable", true))
        .or(switch("enable", false))
        .or(role)
        .or(password)
}

pub(super) fn require_admin(user: &AuthUser) -> Result<(), ApiError> {
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
    super::users::check_new_account(&app, &b.username, &b.password).await?;
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
    let refuse_self = disabled.then_some("admins cannot disable themselves");
    let target = admin_target(&user, id, refuse_self)?;
    update(&app, target, move |r| r.disabled = disabled).await?;
    if disabled {
        // The account's tokens no longer hold: a policy close.
        app.hub.kill_user(target, Close::Policy);
    }
    Ok(StatusCode::NO_CONTENT)
}

/// The user an admin's action names, once the caller is known to be an
/// admin (403 otherwise). A malformed id is as unknown as a missing one
/// (404); an action on the caller itself is refused with `refuse_self`
/// (400) when there is one.
fn admin_target(
    user: &AuthUser,
    id: &str,
    refuse_self: Option<&'static str>,
) -> Result<UserId, ApiError> {
    require_admin(user)?;
    let target: UserId = id.parse().map_err(|_| ApiError::NotFound)?;
    match refuse_self {
        Some(why) if target == user.id => Err(ApiError::validation(why)),
        _ => Ok(target),
    }
}

/// Changes a user's stored record with `f` and flushes it; an unknown
/// user is `not_found`.
async fn update(
    app: &App,
    target: UserId,
    f: impl Fn(&mut UserRecord) + Send + 'static,
) -> Result<(), ApiError> {
    app.change(move |store| Ok(store.update_user(target, &f)?))
        .await
        .map(drop)
}

/// `POST /api/admin/users/{userId}/role`. Takes effect at once: the role is
/// read from the stored user at each request, and tokens keep working (the
/// role claim they carry is for clients to read). An admin may not demote
/// itself, so a server never loses its last admin by a slip.
async fn set_role(
    app: App,
    user: AuthUser,
    id: &str,
    b: RoleChange,
) -> Result<impl Reply, ApiError> {
    let demotion = b.role != Role::Admin;
    let target = admin_target(
        &user,
        id,
        demotion.then_some("admins cannot demote themselves"),
    )?;
    update(&app, target, move |r| r.role = b.role).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/admin/users/{userId}/password`: a reset, as the user's own
/// password change does it. The new password follows the registration
/// rules; the token version is bumped, so every token issued before stops
/// working, and the user's open WebSockets (both doors) are closed once the
/// change is on disk.
async fn reset_password(
    app: App,
    user: AuthUser,
    id: &str,
    b: PasswordReset,
) -> Result<impl Reply, ApiError> {
    let target = admin_target(&user, id, None)?;
    validate::password(&b.password).map_err(ApiError::Validation)?;
    // Not worth a (slow, queued) hash for a user who does not exist.
    app.read(move |store| Ok(store.user(target)?))
        .await?
        .ok_or(ApiError::NotFound)?;
    let hash = app.tokens.hash(b.password).await?;
    update(&app, target, move |r| r.set_password(&hash)).await?;
    app.hub.kill_user(target, CLOSE_CREDENTIALS_CHANGED);
    Ok(StatusCode::NO_CONTENT)
}
