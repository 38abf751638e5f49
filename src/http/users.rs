//! `/api/users`: register, login, me.

use serde::{Deserialize, Serialize};
use warp::http::StatusCode;
use warp::{Filter, Rejection, Reply};

use super::{authenticated, body, reply, with_app, ClientAddr};
use crate::app::{App, AuthUser};
use crate::error::ApiError;
use crate::model::{Role, User};
use crate::validate;

#[derive(Deserialize)]
struct Credentials {
    username: String,
    password: String,
}

#[derive(Serialize)]
struct TokenReply {
    token: String,
    user: User,
}

pub fn routes(app: App) -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone {
    let limit = body::Limits::of(&app.settings);
    let register = warp::path!("users" / "register")
        .and(warp::post())
        .and(with_app(app.clone()))
        .and(body::json::<Credentials>(limit))
        .and_then(|app, c| async move { reply(register(app, c).await) });
    let login = warp::path!("users" / "login")
        .and(warp::post())
        .and(with_app(app.clone()))
        .and(warp::ext::optional::<ClientAddr>())
        .and(warp::header::optional::<String>("x-forwarded-for"))
        .and(body::json::<Credentials>(limit))
        .and_then(
            |app: App, addr: Option<ClientAddr>, fwd: Option<String>, c| async move {
                let client = client_ip(&app, addr, fwd.as_deref());
                reply(login(app, client, c).await)
            },
        );
    let me = warp::path!("users" / "me")
        .and(warp::get())
        .and(with_app(app.clone()))
        .and(authenticated(app))
        .and_then(|app, user| async move { reply(me(app, user)) });
    register.or(login).or(me)
}

async fn register(app: App, c: Credentials) -> Result<impl Reply, ApiError> {
    if !app.settings.registration_open {
        return Err(ApiError::RegistrationClosed);
    }
    validate::username(&c.username).map_err(ApiError::Validation)?;
    validate::password(&c.password).map_err(ApiError::Validation)?;
    if app.store.user_by_name(&c.username)?.is_some() {
        return Err(ApiError::UsernameTaken);
    }
    let hash = app.tokens.hash(c.password).await?;
    let store = app.store.clone();
    let user =
        tokio::task::spawn_blocking(move || store.create_user(&c.username, &hash, Role::User))
            .await
            .map_err(|e| ApiError::Internal(e.to_string()))??;
    let token = app.tokens.issue(user.id, &user.username, user.role)?;
    Ok(warp::reply::with_status(
        warp::reply::json(&TokenReply { token, user }),
        StatusCode::CREATED,
    ))
}

/// The client's address for throttling: the peer, or behind a trusted
/// proxy the last `X-Forwarded-For` entry (the one that proxy appended).
fn client_ip(app: &App, peer: Option<ClientAddr>, forwarded: Option<&str>) -> Option<String> {
    if app.settings.trust_forwarded_for {
        if let Some(last) = forwarded.and_then(|f| f.rsplit(',').next()).map(str::trim) {
            if !last.is_empty() {
                return Some(last.to_owned());
            }
        }
    }
    peer.map(|a| a.0.ip().to_string())
}

async fn login(app: App, client: Option<String>, c: Credentials) -> Result<impl Reply, ApiError> {
    let name_key = format!("user:{}", c.username.to_lowercase());
    let addr_key = client.map(|ip| format!("addr:{ip}"));
    let throttled = [Some(&name_key), addr_key.as_ref()]
        .into_iter()
        .flatten()
        .filter_map(|k| app.login_throttle.retry_after(k))
        .max();
    if let Some(retry_after) = throttled {
        return Err(ApiError::RateLimited { retry_after });
    }
    let found = app.store.user_by_name(&c.username)?;
    // Unknown users are checked against a decoy hash so that both failures
    // take the same time and give the same answer.
    let stored = found.as_ref().map(|(_, r)| r.password_hash.clone());
    let ok = app.tokens.verify(stored, c.password).await?;
    let Some((id, rec)) = found.filter(|_| ok) else {
        app.login_throttle.record_failure(&name_key);
        if let Some(k) = &addr_key {
            app.login_throttle.record_failure(k);
        }
        return Err(ApiError::InvalidCredentials);
    };
    if rec.disabled {
        return Err(ApiError::Forbidden("this account is disabled"));
    }
    let token = app.tokens.issue(id, &rec.username, rec.role)?;
    Ok(warp::reply::json(&TokenReply {
        token,
        user: User::from_record(id, &rec),
    }))
}

fn me(app: App, user: AuthUser) -> Result<impl Reply, ApiError> {
    let rec = app.store.user(user.id)?.ok_or(ApiError::Unauthorized)?;
    Ok(warp::reply::json(&User::from_record(user.id, &rec)))
}
