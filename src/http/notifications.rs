//! `PUT /api/rooms/{roomId}/notifications`: the caller's notification
//! level in a room (an addition to the contract, documented in
//! docs/protocol-additions.md). Anyone who can see the room may set their
//! own; the room object they are shown carries it as `notifications`.

use serde::Deserialize;
use warp::{Filter, Rejection, Reply};

use super::{body, caller, reply};
use crate::app::{App, AuthUser};
use crate::error::ApiError;
use crate::model::NotificationLevel;

#[derive(Deserialize)]
struct LevelBody {
    level: String,
}

pub fn routes(app: App) -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone {
    let limit = body::Limits::of(&app.settings);
    warp::path!("rooms" / String / "notifications")
        .and(warp::put())
        .and(caller(app))
        .and(body::json::<LevelBody>(limit))
        .and_then(|id: String, app, user, b| async move { reply(set(app, user, &id, b).await) })
}

/// 200 with the room as the caller now sees it, once the level is
/// durable; a room the caller cannot see is 404.
async fn set(app: App, user: AuthUser, room: &str, b: LevelBody) -> Result<impl Reply, ApiError> {
    let level = NotificationLevel::parse(&b.level)
        .ok_or_else(|| ApiError::validation("level must be \"all\", \"mentions\" or \"none\""))?;
    let room = app.visible_room(&user, room).await?;
    super::push::settings_change(&app, &user)?;
    let (id, who) = (room.id, user.id);
    app.change(move |store| Ok(store.set_notification_level(id, who, level)?))
        .await?;
    super::rooms::viewed(&app, &user, room).await
}
