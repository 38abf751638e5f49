//! The live room list: what a user's connections are told, joined to a
//! room or not, when the rooms that user can see change, so that no
//! client polls `GET /api/rooms`.
//!
//! | event         | when                                   | to |
//! |---------------|----------------------------------------|----|
//! | `roomAdded`   | a room became visible                  | a public room: every connection; a private one: the members concerned |
//! | `roomUpdated` | a visible room's name or description changed | everyone who can see it |
//! | `roomRemoved` | a member left or was removed           | that user's connections |
//! | `roomDeleted` | the room was deleted                   | everyone who could see it |
//!
//! Each announcement runs after its change is durable, on the blocking
//! pool, and in turn with the others ([`Hub::room_list_turn`]): it reads
//! the room as it is now and sends while holding the turn, so the last
//! event a connection gets of a room tells the room's current state even
//! when changes race. A failure to read only loses the event (logged):
//! the change itself was made and answered.

use std::collections::HashSet;

use crate::app::App;
use crate::chat::events;
use crate::chat::hub::Hub;
use crate::chat::registry::Audience;
use crate::model::{NotificationLevel, ReadView, RoomId, RoomView, UserId};
use crate::store::{Store, StoreError};

/// Who is told that a room appeared or changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Viewers {
    /// Everyone who can see the room: every connection for a public room,
    /// the members' connections for a private one.
    All,
    /// These users only (a member just added, the people of a new direct
    /// room), each if it can see the room at the time of sending.
    Only(Vec<UserId>),
}

/// The two events that carry the room object.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Carrying {
    Added,
    Updated,
}

impl App {
    /// `roomAdded {room}` to `viewers`: a room was created, or users were
    /// given access to it.
    pub async fn announce_room(&self, room: RoomId, viewers: Viewers) {
        self.in_turn("roomAdded", move |store, hub| {
            carry_room(store, hub, room, viewers, Carrying::Added)
        })
        .await;
    }

    /// `roomUpdated {room}` to everyone who can see the room: its name or
    /// description changed.
    pub async fn announce_room_update(&self, room: RoomId) {
        self.in_turn("roomUpdated", move |store, hub| {
            carry_room(store, hub, room, Viewers::All, Carrying::Updated)
        })
        .await;
    }

    /// `roomUpdated {room}` to the members of the private `room` but
    /// `changed`, who was added to it or removed from it (and hears
    /// `roomAdded` or `roomRemoved`): a client showing the member list
    /// reads it again. The room object itself is unchanged.
    pub async fn announce_members_changed(&self, room: RoomId, changed: UserId) {
        self.in_turn("roomUpdated", move |store, hub| {
            let mut others = store.members(room)?;
            others.retain(|u| *u != changed);
            carry_room(store, hub, room, Viewers::Only(others), Carrying::Updated)
        })
        .await;
    }

    /// `roomRemoved {roomId}` to every connection of `user`, who is no
    /// longer a member of the private `room`; those that joined it are
    /// unsubscribed. Nothing if `user` was added back meanwhile (that
    /// addition's `roomAdded` stands).
    pub async fn announce_member_removed(&self, room: RoomId, user: UserId) {
        self.in_turn("roomRemoved", move |store, hub| {
            if !store.is_member(room, user)? {
                hub.remove_member(room, user);
            }
            Ok(())
        })
        .await;
    }

    /// `roomDeleted {roomId}` to every connection that joined the room
    /// (each is unsubscribed) and every connection of `audience`, who
    /// could see it: read before the deletion, since the members go with it.
    pub async fn announce_room_deleted(&self, room: RoomId, audience: Audience) {
        self.in_turn("roomDeleted", move |_, hub| {
            hub.delete_room(room, &audience);
            Ok(())
        })
        .await;
    }

    /// Runs one announcement on the blocking pool, in turn with the others.
    async fn in_turn<F>(&self, event: &'static str, f: F)
    where
        F: FnOnce(&Store, &Hub) -> Result<(), StoreError> + Send + 'static,
    {
        let hub = self.hub.clone();
        let done = self
            .read(move |store| {
                let _turn = hub.room_list_turn();
                Ok(f(store, &hub)?)
            })
            .await;
        if let Err(e) = done {
            tracing::warn!(event, error = %e, "a room-list event was not sent");
        }
    }
}

/// Sends `roomAdded` or `roomUpdated` with the room as it is now; nothing
/// if it is gone (its `roomDeleted` went or goes out).
///
/// A public room's object goes to every connection, serialised once and
/// shared, so it carries only fields that are the same for every viewer.
/// For the users of a private room the object is built and serialised per
/// user (a member list is small): fields that differ per viewer belong in
/// that per-user view.
///
/// `roomAdded` carries the viewer's read state, as `GET /api/rooms` does.
/// A public room is added to everyone only when it is created, with no
/// messages yet, so the empty read state (and the default notification
/// level: nobody chose one yet) is everyone's. `roomUpdated`
/// carries none: read state moves with `readUpdated`, and a rename must
/// not cost a read per viewer.
fn carry_room(
    store: &Store,
    hub: &Hub,
    room: RoomId,
    viewers: Viewers,
    event: Carrying,
) -> Result<(), StoreError> {
    let Some(room) = store.room(room)? else {
        return Ok(());
    };
    let online = hub.online_count(room.id);
    let frame = |view: &RoomView| match event {
        Carrying::Added => events::room_added(view),
        Carrying::Updated => events::room_updated(view),
    };
    let users = match viewers {
        Viewers::All if !room.private => {
            // Only a direct room's name depends on the viewer.
            let mut view = RoomView::new(&room, "", online);
            if event == Carrying::Added {
                let level = NotificationLevel::default_for(room.kind());
                view = view.with_read(ReadView::default(), level);
            }
            let shared = frame(&view);
            hub.send(&Audience::Everyone, &shared, &HashSet::new());
            return Ok(());
        }
        Viewers::All => store.members(room.id)?,
        Viewers::Only(users) => users,
    };
    for user in users {
        if room.private && !store.is_member(room.id, user)? {
            continue;
        }
        let Some(record) = store.user(user)? else {
            continue;
        };
        let view = match event {
            Carrying::Added => store.room_view(&room, user, &record.username, online)?,
            Carrying::Updated => RoomView::new(&room, &record.username, online),
        };
        hub.send_to_user(user, &frame(&view), None);
    }
    Ok(())
}
