//! `/api/rooms/{roomId}/read`: the caller read the room up to a message
//! (an addition to the contract, documented in docs/protocol-additions.md).
//! The same as `markRead` on a WebSocket; every connection of the caller
//! gets `readUpdated` when the mark moved.

use serde::Deserialize;
use warp::http::StatusCode;
use warp::{Filter, Rejection, Reply};

use super::{body, caller, reply};
use crate::app::{App, AuthUser};
use crate::chat::reads::Reads;
use crate::error::ApiError;
use crate::model::MessageId;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MarkBody {
    message_id: String,
}

pub fn routes(app: App) -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone {
    let limit = body::Limits::of(&app.settings);
    warp::path!("rooms" / String / "read")
        .and(warp::post())
        .and(caller(app))
        .and(body::json::<MarkBody>(limit))
        .and_then(|id: String, app, user, b| async move { reply(mark(app, user, &id, b).await) })
}

/// Answered 204 once the mark is durable; a message not past the mark
/// changes nothing and is answered 204 too.
async fn mark(app: App, user: AuthUser, room: &str, b: MarkBody) -> Result<impl Reply, ApiError> {
    let room = app.visible_room(&user, room).await?.id;
    let not_of_room = || ApiError::validation("messageId must be the id of a message of this room");
    let id: MessageId = b.message_id.parse().map_err(|_| not_of_room())?;
    app.read(move |store| Ok(store.message(room, id)?))
        .await?
        .ok_or_else(not_of_room)?;
    let reads = Reads {
        store: app.store.clone(),
        writer: app.writer.clone(),
        hub: app.hub.clone(),
    };
    reads
        .mark(user.id, room, id, None)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(StatusCode::NO_CONTENT)
}
