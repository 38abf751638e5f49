//! `/api/dms`: the direct conversation of a set of people, started on first
//! use and found again afterwards (an addition to the contract, documented
//! in docs/protocol-additions.md).

use std::collections::HashSet;

use serde::Deserialize;
use warp::http::StatusCode;
use warp::{Filter, Rejection, Reply};

use super::rooms::{creation_allowance, spend_creation, viewed};
use super::{body, caller, reply};
use crate::app::{App, AuthUser};
use crate::error::ApiError;
use crate::model::{Room, UserId, DIRECT_MAX_OTHERS};
use crate::room_list::Viewers;
use crate::store::Participant;
use crate::throttle::TokenBuckets;
use crate::validate;

#[derive(Deserialize)]
struct NewDirect {
    usernames: Vec<String>,
}

/// What the index holds for a set of people.
enum Found {
    Existing(Room),
    /// No room yet: these are its people, the caller first.
    New(Vec<Participant>),
}

pub fn routes(app: App) -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone {
    let limit = body::Limits::of(&app.settings);
    // Starting conversations is creating rooms: the same hourly allowance
    // (`--room-create-rate`), kept apart from the named rooms' so that
    // neither starves the other. Finding one again is free.
    let rate = creation_allowance(&app);
    warp::path!("dms")
        .and(warp::post())
        .and(caller(app))
        .and(body::json::<NewDirect>(limit))
        .and_then(move |app, user, b| {
            let rate = rate.clone();
            async move { reply(open(app, user, b, rate).await) }
        })
}

/// The other people named: 1 to [`DIRECT_MAX_OTHERS`] well-formed
/// usernames, each once (without regard to case), the caller not among
/// them.
fn others(caller: &AuthUser, names: Vec<String>) -> Result<Vec<String>, ApiError> {
    if names.is_empty() || names.len() > DIRECT_MAX_OTHERS {
        return Err(ApiError::validation(format!(
            "usernames must name 1 to {DIRECT_MAX_OTHERS} other users"
        )));
    }
    let mut seen = HashSet::new();
    for name in &names {
        validate::username(name).map_err(ApiError::Validation)?;
        if name.eq_ignore_ascii_case(&caller.username) {
            return Err(ApiError::validation(
                "usernames lists the other people; you are in the conversation already",
            ));
        }
        if !seen.insert(name.to_ascii_lowercase()) {
            return Err(ApiError::validation(format!(
                "usernames names {name:?} twice"
            )));
        }
    }
    Ok(names)
}

/// `POST /api/dms`: 200 with the conversation of the caller and the people
/// named if it exists, else 201 with the one just started. An unknown or
/// disabled username is 404. Two people starting the same conversation at
/// once get the same room (the store decides in one transaction).
async fn open(
    app: App,
    user: AuthUser,
    b: NewDirect,
    rate: Option<TokenBuckets<UserId>>,
) -> Result<impl Reply, ApiError> {
    let names = others(&user, b.usernames)?;
    let me = Participant {
        id: user.id,
        username: user.username.clone(),
    };
    let found = app
        .read(move |store| {
            let mut people = vec![me];
            for name in &names {
                match store.user_by_name(name)? {
                    Some((id, rec)) if !rec.disabled => people.push(Participant {
                        id,
                        username: rec.username,
                    }),
                    _ => return Err(ApiError::NotFound),
                }
            }
            let ids: Vec<UserId> = people.iter().map(|p| p.id).collect();
            Ok(match store.direct_room(&ids)? {
                Some(room) => Found::Existing(room),
                None => Found::New(people),
            })
        })
        .await?;
    let (room, created) = match found {
        Found::Existing(room) => (room, false),
        Found::New(people) => {
            spend_creation(rate.as_ref(), &user)?;
            let creator = user.id;
            app.change(move |store| Ok(store.open_direct_room(creator, &people)?))
                .await?
        }
    };
    if created {
        // Every participant's connections learn of the room at once.
        let room_id = room.id;
        let people = app.read(move |store| Ok(store.members(room_id)?)).await?;
        app.announce_room(room_id, Viewers::Only(people)).await;
    }
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(warp::reply::with_status(
        viewed(&app, &user, room).await?,
        status,
    ))
}
