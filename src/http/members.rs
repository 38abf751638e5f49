//! `GET /api/rooms/{roomId}/members`: who is in a private or direct room,
//! for anyone who can see it (an addition to the contract, documented in
//! docs/protocol-additions.md). Adding and removing members are in
//! `rooms.rs`.

use serde::Serialize;
use warp::{Filter, Rejection, Reply};

use super::{caller, read_json, reply};
use crate::app::{App, AuthUser};
use crate::error::ApiError;
use crate::model::{RoomKind, UserId};

/// A member's place in the room.
#[derive(Serialize, Clone, Copy, PartialEq, Eq, Debug)]
#[serde(rename_all = "lowercase")]
enum MemberRole {
    /// The owner of a private room. A direct room has none: whoever
    /// started it has no more say in it than the others.
    Owner,
    Member,
}

#[derive(Serialize)]
struct Member {
    id: UserId,
    username: String,
    role: MemberRole,
}

pub fn routes(app: App) -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone {
    warp::path!("rooms" / String / "members")
        .and(warp::get())
        .and(caller(app))
        .and_then(|id: String, app, user| async move { reply(members(app, user, &id).await) })
}

/// The members of a room the caller can see, by name (without regard to
/// case); a public room has no member list (400).
async fn members(app: App, user: AuthUser, id: &str) -> Result<impl Reply, ApiError> {
    let room = app.visible_room(&user, id).await?;
    if room.kind() == RoomKind::Public {
        return Err(ApiError::validation("public rooms have no member list"));
    }
    read_json(&app, move |store| {
        let mut out = Vec::new();
        for id in store.members(room.id)? {
            // A membership without its user (never left by this code) is
            // skipped rather than failing the list.
            let Some(rec) = store.user(id)? else { continue };
            let owner = id == room.owner_id && !room.is_direct();
            out.push(Member {
                id,
                username: rec.username,
                role: if owner {
                    MemberRole::Owner
                } else {
                    MemberRole::Member
                },
            });
        }
        out.sort_by_cached_key(|m| m.username.to_lowercase());
        Ok(out)
    })
    .await
}
