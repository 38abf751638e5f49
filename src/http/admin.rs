//! `/api/admin/...`: user management for admins (additions to the
//! contract, documented in docs/protocol-additions.md).

use serde::Deserialize;
use warp::http::StatusCode;
use warp::{Filter, Rejection, Reply};

use super::{body, caller, reply};
use crate::app::{App, AuthUser};
use crate::chat::events::Close;
use crate::error::ApiError;
use crate::model::{Role, UserId};

#[derive(Deserialize)]
struct NewUser {
    username: String,
    password: String,
    #[serde(default)]
    role: Option<Role>,
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
    users
        .or(create_user)
        .or(switch("disable", true))
        .or(switch("enable", false))
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
