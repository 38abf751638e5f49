//! `/api/rooms/{roomId}/messages/{messageId}/reactions/{emoji}`: the
//! caller's reaction to a message, added (`PUT`) or removed (`DELETE`),
//! both idempotent (additions to the contract, documented in
//! docs/protocol-additions.md). A change is announced to the room with
//! `reactionsUpdated` once it is on disk.

use warp::http::StatusCode;
use warp::{Filter, Rejection, Reply};

use super::{caller, reply};
use crate::app::{App, AuthUser};
use crate::chat::events;
use crate::error::ApiError;
use crate::model::{MessageId, RoomId};
use crate::store::{ReactionChange, MAX_DISTINCT_REACTIONS};
use crate::validate;

pub fn routes(app: App) -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone {
    let caller = caller(app);
    let reaction = warp::path!("rooms" / String / "messages" / String / "reactions" / String);
    let add = reaction.and(warp::put()).and(caller.clone()).and_then(
        |room: String, msg: String, emoji: String, app, user| async move {
            reply(react(app, user, &room, &msg, &emoji, true).await)
        },
    );
    let remove = reaction.and(warp::delete()).and(caller).and_then(
        |room: String, msg: String, emoji: String, app, user| async move {
            reply(react(app, user, &room, &msg, &emoji, false).await)
        },
    );
    add.or(remove)
}

/// The reaction named by a path segment: percent-decoded (warp hands
/// segments over as sent), then held to the rules of a reaction.
fn reaction_of(segment: &str) -> Result<String, ApiError> {
    let emoji = percent_encoding::percent_decode_str(segment)
        .decode_utf8()
        .map_err(|_| ApiError::validation("a reaction must be UTF-8, percent-encoded"))?;
    validate::reaction(&emoji).map_err(ApiError::Validation)?;
    Ok(emoji.into_owned())
}

/// Adds (`add`) or removes the caller's reaction. The room must be one the
/// caller can see and the message one of its messages (404 otherwise,
/// whatever the reaction); nothing to change is still 204. A well-formed
/// request takes one token of the caller's reaction allowance (429 once
/// none is left): each costs a flush, changed or not.
async fn react(
    app: App,
    user: AuthUser,
    room: &str,
    msg: &str,
    emoji: &str,
    add: bool,
) -> Result<impl Reply, ApiError> {
    let room = app.visible_room(&user, room).await?.id;
    let msg: MessageId = msg.parse().map_err(|_| ApiError::NotFound)?;
    let emoji = reaction_of(emoji)?;
    app.write_limits
        .reaction(user.id)
        .map_err(|retry_after| ApiError::RateLimited { retry_after })?;
    let change = app
        .change(move |store| {
            Ok(if add {
                store.add_reaction(room, msg, &emoji, user.id, &user.username)?
            } else {
                store.remove_reaction(room, msg, &emoji, user.id)?
            })
        })
        .await?;
    match change {
        ReactionChange::Changed => announce(&app, room, msg).await,
        ReactionChange::Unchanged => {}
        ReactionChange::NoMessage => return Err(ApiError::NotFound),
        ReactionChange::TooMany => {
            return Err(ApiError::validation(format!(
                "a message carries at most {MAX_DISTINCT_REACTIONS} distinct reactions"
            )))
        }
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Sends the message's reactions as they now stand to everyone in the
/// room. The change is already on disk and answered for; a failure to
/// read them back is logged, and the next change announces them again.
async fn announce(app: &App, room: RoomId, msg: MessageId) {
    let hub = app.hub.clone();
    let sent = app
        .read(move |store| {
            Ok(store.announce_reactions(room, msg, &mut |list| {
                hub.broadcast(room, events::reactions_updated(room, msg, list));
            })?)
        })
        .await;
    if let Err(e) = sent {
        tracing::error!(error = %e, "announcing reactions failed");
    }
}
