//! What the hub does to many connections at once, and how other nodes
//! hear of it.
//!
//! Each public method acts on this process's connections and then, when
//! the bus may have peers, shares the same act as a [`Fanout`];
//! [`Hub::apply`] is where another node's act arrives. Connection ids are
//! a process's own, so the connections a method leaves out (`except`, the
//! one whose request is being answered) are left out only here: another
//! node has none of them.

use std::collections::HashSet;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio_tungstenite::tungstenite::Utf8Bytes;

use super::{lock, Hub, NodeId, RoomUsers};
use crate::chat::conn::{ConnId, Delivery, Outbound};
use crate::chat::events::{self, Close};
use crate::chat::presence::Settle;
use crate::chat::registry::Audience;
use crate::model::{Message, RoomId, UserId};

/// One act of a hub on connections, as the bus carries it to other nodes.
/// Frames travel as the text every connection of a node is sent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "act", rename_all = "camelCase")]
pub enum Fanout {
    /// Stored messages, in id order: [`Hub::publish`].
    Messages { messages: Vec<Message> },
    /// [`Hub::broadcast`].
    Broadcast { room: RoomId, frame: String },
    /// [`Hub::typing`], once the sender's node let it through.
    Typing {
        room: RoomId,
        user: UserId,
        username: String,
    },
    /// [`Hub::remove_member`].
    RemoveMember { room: RoomId, user: UserId },
    /// [`Hub::delete_room`].
    DeleteRoom { room: RoomId, audience: Audience },
    /// [`Hub::send`].
    Send { audience: Audience, frame: String },
    /// [`Hub::send_to_user`].
    SendToUser { user: UserId, frame: String },
    /// [`Hub::kill_user`].
    KillUser { user: UserId, close: Close },
    /// A user came online in a room on `node`, or went offline there: the
    /// node's change number `version` (see [`nodes`](super::nodes)).
    Presence {
        node: NodeId,
        version: u64,
        room: RoomId,
        user: UserId,
        username: String,
        online: bool,
    },
    /// `node` is alive; its last presence change is number `version`.
    Alive { node: NodeId, version: u64 },
    /// Asks `node` for a [`Fanout::Snapshot`].
    Resync { node: NodeId },
    /// Every user of `node` in every room, as of change number `version`.
    Snapshot {
        node: NodeId,
        version: u64,
        rooms: Vec<RoomUsers>,
    },
}

impl Hub {
    /// Applies another node's act to this node's connections.
    pub fn apply(&self, event: Fanout) {
        let none = HashSet::new();
        match event {
            Fanout::Messages { messages } => self.deliver_in_order(messages),
            Fanout::Broadcast { room, frame } => self.broadcast_here(room, &frame.into()),
            Fanout::Typing {
                room,
                user,
                username,
            } => {
                if let Some(state) = self.room(room) {
                    lock(&state).broadcast(&events::typing(room, &username), Some(user));
                }
            }
            Fanout::RemoveMember { room, user } => self.remove_member_here(room, user),
            Fanout::DeleteRoom { room, audience } => self.delete_room_here(room, &audience),
            Fanout::Send { audience, frame } => self.send_here(&audience, &frame.into(), &none),
            Fanout::SendToUser { user, frame } => {
                lock(&self.inner.conns).send_to_user(user, &frame.into(), &none)
            }
            Fanout::KillUser { user, close } => lock(&self.inner.conns).kill_user(user, close),
            Fanout::Presence {
                node,
                version,
                room,
                user,
                username,
                online,
            } => self.remote_presence(node, version, room, user, &username, online),
            Fanout::Alive { node, version } => self.alive(node, version),
            Fanout::Resync { node } => self.resync(node),
            Fanout::Snapshot {
                node,
                version,
                rooms,
            } => self.snapshot(node, version, rooms),
        }
    }

    /// Hands an act to the other nodes, if any may listen; `event` is only
    /// built then.
    fn share(&self, event: impl FnOnce() -> Fanout) {
        if self.inner.bus.has_peers() {
            self.inner.bus.share(event());
        }
    }

    /// Relays a typing notice to the room's other users, at most once per
    /// [`TYPING_INTERVAL`](crate::chat::presence::TYPING_INTERVAL) per user.
    pub fn typing(&self, room: RoomId, user: UserId, username: &str) {
        let Some(state) = self.room(room) else { return };
        let mut st = lock(&state);
        if !st.typing_due(user) {
            return;
        }
        st.broadcast(&events::typing(room, username), Some(user));
        drop(st);
        self.share(|| Fanout::Typing {
            room,
            user,
            username: username.to_owned(),
        });
    }

    /// Delivers stored messages, in the order given (the writer's id
    /// order); with peers, in id order with theirs (`sequence`).
    pub fn publish(&self, messages: &[Message]) {
        if self.inner.sequencer.is_some() {
            self.deliver_in_order(messages.to_vec());
        } else {
            self.deliver(messages);
        }
        self.share(|| Fanout::Messages {
            messages: messages.to_vec(),
        });
    }

    /// Offers stored messages to this node's connections of their rooms.
    pub(super) fn deliver(&self, messages: &[Message]) {
        for batch in messages.chunk_by(|a, b| a.room_id == b.room_id) {
            let room = batch[0].room_id;
            let Some(state) = self.room(room) else {
                continue;
            };
            let frames: Arc<[Delivery]> = batch
                .iter()
                .map(|m| Delivery::new(m.id, events::receive_message(m)))
                .collect();
            let bytes = frames.iter().map(|d| d.frame.len()).sum();
            let st = lock(&state);
            for c in st.conns() {
                c.offer(Outbound::Messages {
                    room,
                    frames: frames.clone(),
                    bytes,
                });
            }
        }
    }

    /// Sends one frame to every connection subscribed to a room.
    pub fn broadcast(&self, room: RoomId, frame: Utf8Bytes) {
        self.broadcast_here(room, &frame);
        self.share(|| Fanout::Broadcast {
            room,
            frame: frame.to_string(),
        });
    }

    fn broadcast_here(&self, room: RoomId, frame: &Utf8Bytes) {
        if let Some(state) = self.room(room) {
            lock(&state).broadcast(frame, None);
        }
    }

    /// Unsubscribes every connection of `user` from a private room it was
    /// removed from, and tells each of its connections with `roomRemoved`,
    /// those that did not join the room too.
    pub fn remove_member(&self, room: RoomId, user: UserId) {
        self.remove_member_here(room, user);
        self.share(|| Fanout::RemoveMember { room, user });
    }

    fn remove_member_here(&self, room: RoomId, user: UserId) {
        let frame = events::room_removed(room);
        let told = self.evict(room, Some(user), &frame);
        lock(&self.inner.conns).send_to_user(user, &frame, &told);
    }

    /// Unsubscribes every connection from a deleted room, and tells with
    /// `roomDeleted` each of them and every connection of `audience`
    /// (those who could see the room), once.
    pub fn delete_room(&self, room: RoomId, audience: &Audience) {
        self.delete_room_here(room, audience);
        self.share(|| Fanout::DeleteRoom {
            room,
            audience: audience.clone(),
        });
    }

    fn delete_room_here(&self, room: RoomId, audience: &Audience) {
        let frame = events::room_deleted(room);
        let told = self.evict(room, None, &frame);
        self.send_here(audience, &frame, &told);
    }

    /// Offers one shared frame to every connection of `audience` but those
    /// in `except`.
    pub fn send(&self, audience: &Audience, frame: &Utf8Bytes, except: &HashSet<ConnId>) {
        self.send_here(audience, frame, except);
        self.share(|| Fanout::Send {
            audience: audience.clone(),
            frame: frame.to_string(),
        });
    }

    fn send_here(&self, audience: &Audience, frame: &Utf8Bytes, except: &HashSet<ConnId>) {
        let conns = lock(&self.inner.conns);
        match audience {
            Audience::Everyone => conns.send_to_all(frame, except),
            Audience::Users(users) => {
                for user in users {
                    conns.send_to_user(*user, frame, except);
                }
            }
        }
    }

    /// Offers `frame` to every connection of `user`, joined to a room or
    /// not, but `except` (the one whose request this answers, if any).
    pub fn send_to_user(&self, user: UserId, frame: &Utf8Bytes, except: Option<ConnId>) {
        let except: HashSet<ConnId> = except.into_iter().collect();
        lock(&self.inner.conns).send_to_user(user, frame, &except);
        self.share(|| Fanout::SendToUser {
            user,
            frame: frame.to_string(),
        });
    }

    /// Unsubscribes the connections of `user` (of everyone for `None`)
    /// from `room`, telling each with `frame`. Returns the connections told.
    fn evict(&self, room: RoomId, user: Option<UserId>, frame: &Utf8Bytes) -> HashSet<ConnId> {
        let Some(state) = self.room(room) else {
            return HashSet::new();
        };
        let mut st = lock(&state);
        let window = self.inner.presence_window;
        let told: HashSet<ConnId> = st.conns_of(user).into_iter().collect();
        let settles: Vec<Settle> = told
            .iter()
            .map(|id| st.evict(room, *id, frame, window))
            .collect();
        self.tell_flips(room, &mut st);
        self.settle_or_forget(room, &state, st, settles);
        told
    }

    /// Closes every connection of a user (disabled or deleted) with `code`.
    pub fn kill_user(&self, user: UserId, code: Close) {
        lock(&self.inner.conns).kill_user(user, code);
        self.share(|| Fanout::KillUser { user, close: code });
    }
}
