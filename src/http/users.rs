//! `/api/users`: register, login, me, and the caller's password change.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use warp::http::StatusCode;
use warp::{Filter, Rejection, Reply};

use super::{authenticated, body, reply, with_app, ClientAddr};
use crate::app::{App, AuthUser};
use crate::auth::{Priority, CLOSE_CREDENTIALS_CHANGED};
use crate::error::ApiError;
use crate::model::{Role, User, UserId, UserRecord};
use crate::throttle::AddrKey;
use crate::validate;

#[derive(Deserialize)]
struct Credentials {
    username: String,
    password: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PasswordChange {
    current_password: String,
    new_password: String,
}

#[derive(Serialize)]
struct TokenReply {
    token: String,
    user: User,
}

pub fn routes(app: App) -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone {
    let limit = body::Limits::of(&app.settings);
    // Register and login take the same input: credentials from a client
    // whose address the throttle keys.
    let credentials = with_app(app.clone())
        .and(client_addr(app.clone()))
        .and(body::json::<Credentials>(limit));
    let register = warp::path!("users" / "register")
        .and(warp::post())
        .and(credentials.clone())
        .and_then(|app, client, c| async move { reply(register(app, client, c).await) });
    let login = warp::path!("users" / "login")
        .and(warp::post())
        .and(credentials)
        .and_then(|app, client, c| async move { reply(login(app, client, c).await) });
    let me = warp::path!("users" / "me")
        .and(warp::get())
        .and(with_app(app.clone()))
        .and(authenticated(app.clone()))
        .and_then(|app, user| async move { reply(me(app, user).await) });
    let password = warp::path!("users" / "me" / "password")
        .and(warp::post())
        .and(with_app(app.clone()))
        .and(authenticated(app.clone()))
        .and(client_addr(app))
        .and(body::json::<PasswordChange>(limit))
        .and_then(|app, user, client, c| async move {
            reply(change_password(app, user, client, c).await)
        });
    register.or(login).or(me).or(password)
}

/// The client's address for throttling: the peer, or behind a trusted
/// proxy the last `X-Forwarded-For` entry (the one that proxy appended)
/// when it is an address. Keyed as the throttle keys it, so an arbitrary
/// header value is never stored.
fn client_addr(app: App) -> impl Filter<Extract = (Option<AddrKey>,), Error = Rejection> + Clone {
    warp::ext::optional::<ClientAddr>()
        .and(warp::header::optional::<String>("x-forwarded-for"))
        .map(move |peer: Option<ClientAddr>, forwarded: Option<String>| {
            if app.settings.trust_forwarded_for {
                let last = forwarded
                    .as_deref()
                    .and_then(|f| f.rsplit(',').next())
                    .and_then(|s| s.trim().parse::<IpAddr>().ok());
                if let Some(ip) = last {
                    return Some(ip.into());
                }
            }
            peer.map(|a| AddrKey::from(a.0.ip()))
        })
}

/// The checks of a new account's name and password, before any hashing:
/// both valid, and the name not taken. Registration and an admin's
/// `POST /api/admin/users` ask the same.
pub async fn check_new_account(app: &App, username: &str, password: &str) -> Result<(), ApiError> {
    validate::username(username).map_err(ApiError::Validation)?;
    validate::password(password).map_err(ApiError::Validation)?;
    let name = username.to_owned();
    if app
        .read(move |s| Ok(s.user_by_name(&name)?))
        .await?
        .is_some()
    {
        return Err(ApiError::UsernameTaken);
    }
    Ok(())
}

/// Registration: the name's rules, then a place in the per-address limit,
/// then the (slow, queued) hash, then the account, flushed before the 201.
/// A registration that creates nothing is not counted.
async fn register(
    app: App,
    client: Option<AddrKey>,
    c: Credentials,
) -> Result<impl Reply, ApiError> {
    if !app.settings.registration_open {
        return Err(ApiError::RegistrationClosed);
    }
    check_new_account(&app, &c.username, &c.password).await?;
    let ticket = app
        .login_throttle
        .admit_registration(client, app.settings.registration_rate)
        .await
        .map_err(|retry_after| ApiError::RateLimited { retry_after })?;
    let created = async {
        let hash = app.tokens.hash(c.password).await?;
        let username = c.username;
        app.change(move |s| Ok(s.create_user(&username, &hash, Role::User)?))
            .await
    }
    .await;
    let user = match created {
        Ok(u) => u,
        Err(e) => {
            app.login_throttle.refund_registration(ticket).await;
            return Err(e);
        }
    };
    let token = app.tokens.issue(user.id, &user.username, user.role, 0)?;
    Ok(warp::reply::with_status(
        warp::reply::json(&TokenReply { token, user }),
        StatusCode::CREATED,
    ))
}

/// Login. The attempt is counted against the name and the address before
/// the password is checked, and refunded only if it succeeds, so however
/// guesses are timed at most `login_failures` a minute are ever checked.
/// A name that cannot exist is not a throttle key, but costs the same
/// hash and gets the same answer as an unknown one.
async fn login(app: App, client: Option<AddrKey>, c: Credentials) -> Result<impl Reply, ApiError> {
    let valid_name = validate::username(&c.username).is_ok();
    let ticket = app
        .login_throttle
        .admit_login(
            valid_name.then_some(c.username.as_str()),
            client,
            app.settings.login_failures,
        )
        .await
        .map_err(|retry_after| ApiError::RateLimited { retry_after })?;
    let found = if valid_name {
        let name = c.username;
        app.read(move |s| Ok(s.user_by_name(&name)?)).await?
    } else {
        None
    };
    // Unknown users are checked against a decoy hash so that both failures
    // take the same time and give the same answer.
    let stored = found.as_ref().map(|(_, r)| r.password_hash.clone());
    let ok = app
        .tokens
        .verify(stored, c.password, Priority::Login)
        .await?;
    let Some((id, rec)) = found.filter(|_| ok) else {
        return Err(ApiError::InvalidCredentials);
    };
    app.login_throttle.refund(ticket).await;
    if rec.disabled {
        return Err(ApiError::Forbidden("this account is disabled"));
    }
    let token = app
        .tokens
        .issue(id, &rec.username, rec.role, rec.token_version)?;
    Ok(warp::reply::json(&TokenReply {
        token,
        user: User::from_record(id, &rec),
    }))
}

async fn me(app: App, user: AuthUser) -> Result<impl Reply, ApiError> {
    let rec = stored_record(&app, user.id).await?;
    Ok(warp::reply::json(&User::from_record(user.id, &rec)))
}

/// The caller's record as stored now; gone (deleted meanwhile) is
/// `unauthorized`, as for a token that names no one.
async fn stored_record(app: &App, id: UserId) -> Result<UserRecord, ApiError> {
    app.read(move |s| Ok(s.user(id)?))
        .await?
        .ok_or(ApiError::Unauthorized)
}

/// `POST /api/users/me/password`. The current password is checked like a
/// login (and counted against the same throttle), the new one is stored
/// with the token version bumped, flushed, and only then answered 204;
/// every token issued before is refused from then on and the user's open
/// WebSockets are closed.
async fn change_password(
    app: App,
    user: AuthUser,
    client: Option<AddrKey>,
    c: PasswordChange,
) -> Result<impl Reply, ApiError> {
    validate::password(&c.new_password).map_err(ApiError::Validation)?;
    let ticket = app
        .login_throttle
        .admit_login(Some(&user.username), client, app.settings.login_failures)
        .await
        .map_err(|retry_after| ApiError::RateLimited { retry_after })?;
    let id = user.id;
    let rec = stored_record(&app, id).await?;
    let ok = app
        .tokens
        .verify(Some(rec.password_hash), c.current_password, Priority::Other)
        .await?;
    if !ok {
        return Err(ApiError::InvalidCredentials);
    }
    app.login_throttle.refund(ticket).await;
    let hash = app.tokens.hash(c.new_password).await?;
    app.change(move |s| {
        s.update_user(id, &|r| r.set_password(&hash))?;
        Ok(())
    })
    .await?;
    app.hub.kill_user(id, CLOSE_CREDENTIALS_CHANGED);
    Ok(StatusCode::NO_CONTENT)
}
