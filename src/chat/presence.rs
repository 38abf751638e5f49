//! One room's live state: its subscribed connections, who is online there
//! (presence), who typed lately, and what the members were last told.
//!
//! The hub keeps one [`RoomState`] per room behind its own lock; every
//! method here runs under it. A presence change that must wait for its
//! window comes back as a [`Settle`] for the hub to schedule.
//!
//! In a cluster a user is online in a room if a connection of theirs is
//! joined to it on any node: this node's connections, plus what the other
//! nodes said of theirs (`remote`). Each change of this node's own part
//! is kept as a [`Flip`] for the hub to tell the other nodes.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_tungstenite::tungstenite::Utf8Bytes;

use super::conn::{Conn, ConnId, Outbound};
use super::events;
use super::hub::NodeId;
use crate::model::{RoomId, UserId};

/// How often one user's typing notice is relayed per room, at most.
pub const TYPING_INTERVAL: Duration = Duration::from_secs(1);

/// How often one user's presence in one room (`userJoined`/`userLeft`) is
/// announced, at most. A change after a quiet window goes out at once;
/// changes inside the window are merged and only the net result goes out
/// when the window ends, so a client flapping join/leave costs the room's
/// members one notice a window instead of one per frame, and the last
/// notice they see always matches the user's presence.
pub const PRESENCE_WINDOW: Duration = Duration::from_secs(1);

#[derive(Default)]
pub struct RoomState {
    conns: HashMap<ConnId, Conn>,
    /// user -> (username, number of this user's connections in the room)
    presence: HashMap<UserId, (Arc<str>, usize)>,
    typing: HashMap<UserId, Instant>,
    /// What the members were last told of each user whose presence
    /// changed lately (see [`PRESENCE_WINDOW`]).
    announced: HashMap<UserId, Announced>,
    /// user -> (username, the other nodes where the user is in the room)
    remote: HashMap<UserId, (Arc<str>, HashSet<NodeId>)>,
    /// Changes of this node's own presence not yet taken by the hub.
    flips: Vec<Flip>,
}

/// A user came online in the room on this node, or went offline here.
#[derive(Clone, Debug)]
pub struct Flip {
    pub user: UserId,
    pub username: Arc<str>,
    pub online: bool,
}

/// The last presence notice of one user in one room.
struct Announced {
    username: Arc<str>,
    /// Whether it said "online" (`userJoined`).
    online: bool,
    at: Instant,
    /// A deferred announcement of the net change is scheduled.
    settling: bool,
}

/// What a presence change asks of the caller, who holds the room's handle.
#[must_use]
pub enum Settle {
    Nothing,
    /// Announce the net change of this user after this delay.
    After(UserId, Duration),
}

impl RoomState {
    /// Whether no connection is subscribed and no other node has anyone
    /// here (the hub then forgets the room).
    pub fn is_empty(&self) -> bool {
        self.conns.is_empty() && self.remote.is_empty()
    }

    /// Number of users online here, on any node.
    pub fn online_count(&self) -> usize {
        let elsewhere = self
            .remote
            .keys()
            .filter(|u| !self.presence.contains_key(u));
        self.presence.len() + elsewhere.count()
    }

    /// Whether `user` is online here, on any node.
    fn is_online(&self, user: UserId) -> bool {
        self.presence.contains_key(&user) || self.remote.contains_key(&user)
    }

    /// The user's name, as this node or another knows it.
    fn name_of(&self, user: UserId) -> Option<Arc<str>> {
        let here = self.presence.get(&user).map(|(n, _)| n);
        here.or_else(|| self.remote.get(&user).map(|(n, _)| n))
            .cloned()
    }

    /// The changes of this node's own presence since the last call.
    pub fn take_flips(&mut self) -> Vec<Flip> {
        std::mem::take(&mut self.flips)
    }

    /// What another node says of `user` here: online there, or no longer.
    /// Announced like a change of this node's own when the user's
    /// presence on all nodes together changes.
    pub fn remote_change(
        &mut self,
        room: RoomId,
        node: NodeId,
        user: UserId,
        name: &Arc<str>,
        online: bool,
        window: Duration,
    ) -> Settle {
        let before = self.is_online(user);
        if online {
            let entry = self
                .remote
                .entry(user)
                .or_insert_with(|| (name.clone(), HashSet::new()));
            entry.0 = name.clone();
            entry.1.insert(node);
        } else if let Some((_, nodes)) = self.remote.get_mut(&user) {
            nodes.remove(&node);
            if nodes.is_empty() {
                self.remote.remove(&user);
            }
        }
        if before == self.is_online(user) {
            return Settle::Nothing;
        }
        self.presence_changed(room, user, name, window)
    }

    /// The users `node` said are here, with their names.
    pub fn remote_users_of(&self, node: NodeId) -> Vec<(UserId, Arc<str>)> {
        let there = self
            .remote
            .iter()
            .filter(|(_, (_, nodes))| nodes.contains(&node));
        there.map(|(u, (n, _))| (*u, n.clone())).collect()
    }

    /// This node's own users here, with their names.
    pub fn local_users(&self) -> impl Iterator<Item = (UserId, &Arc<str>)> {
        self.presence.iter().map(|(u, (n, _))| (*u, n))
    }

    /// The subscribed connections.
    pub fn conns(&self) -> impl Iterator<Item = &Conn> {
        self.conns.values()
    }

    /// Offers a frame to every subscribed connection but those of `except`.
    pub fn broadcast(&self, frame: &Utf8Bytes, except: Option<UserId>) {
        for c in self.conns.values() {
            if Some(c.user_id) != except {
                c.offer(Outbound::Event(frame.clone()));
            }
        }
    }

    /// Usernames online here on any node, sorted without regard to case.
    pub fn usernames(&self) -> Vec<String> {
        let elsewhere = self
            .remote
            .iter()
            .filter(|(u, _)| !self.presence.contains_key(u));
        let names = self.presence.values().map(|(n, _)| n);
        let names = names.chain(elsewhere.map(|(_, (n, _))| n));
        let mut v: Vec<String> = names.map(|n| n.to_string()).collect();
        v.sort_by_key(|a| a.to_lowercase());
        v
    }

    /// Subscribes a connection (again: nothing changes); its user's first
    /// connection here is a presence change.
    pub fn join(&mut self, room: RoomId, conn: &Conn, window: Duration) -> Settle {
        if self.conns.contains_key(&conn.id) {
            return Settle::Nothing;
        }
        self.conns.insert(conn.id, conn.clone());
        let entry = self
            .presence
            .entry(conn.user_id)
            .or_insert_with(|| (conn.username.clone(), 0));
        entry.1 += 1;
        if entry.1 == 1 {
            self.flips.push(Flip {
                user: conn.user_id,
                username: conn.username.clone(),
                online: true,
            });
            self.presence_changed(room, conn.user_id, &conn.username, window)
        } else {
            Settle::Nothing
        }
    }

    /// Whether `user`'s typing notice may go out now (at most once per
    /// [`TYPING_INTERVAL`]); if so, counts it.
    pub fn typing_due(&mut self, user: UserId) -> bool {
        let now = Instant::now();
        if let Some(last) = self.typing.get(&user) {
            if now.duration_since(*last) < TYPING_INTERVAL {
                return false;
            }
        }
        self.typing.insert(user, now);
        true
    }

    /// The ids of the connections of `user` here (of everyone for `None`).
    pub fn conns_of(&self, user: Option<UserId>) -> Vec<ConnId> {
        self.conns
            .values()
            .filter(|c| user.is_none_or(|u| c.user_id == u))
            .map(|c| c.id)
            .collect()
    }

    /// Tells a connection it was unsubscribed (with `frame`), then removes it.
    pub fn evict(
        &mut self,
        room: RoomId,
        conn: ConnId,
        frame: &Utf8Bytes,
        window: Duration,
    ) -> Settle {
        if let Some(c) = self.conns.get(&conn) {
            c.offer(Outbound::Unsubscribed {
                room,
                frame: frame.clone(),
            });
        }
        self.remove_announcing(room, conn, window).1
    }

    /// Removes a connection; returns whether it was subscribed, and the
    /// presence change to settle if it was its user's last one here.
    pub fn remove_announcing(
        &mut self,
        room: RoomId,
        conn: ConnId,
        window: Duration,
    ) -> (bool, Settle) {
        let Some((user, name, last)) = self.remove(conn) else {
            return (false, Settle::Nothing);
        };
        let settle = if last {
            self.presence_changed(room, user, &name, window)
        } else {
            Settle::Nothing
        };
        (true, settle)
    }

    /// Removes a connection; returns whether it was its user's last one.
    fn remove(&mut self, conn: ConnId) -> Option<(UserId, Arc<str>, bool)> {
        let c = self.conns.remove(&conn)?;
        let last = match self.presence.get_mut(&c.user_id) {
            Some((_, n)) if *n > 1 => {
                *n -= 1;
                false
            }
            _ => {
                self.presence.remove(&c.user_id);
                self.typing.remove(&c.user_id);
                self.flips.push(Flip {
                    user: c.user_id,
                    username: c.username.clone(),
                    online: false,
                });
                true
            }
        };
        Some((c.user_id, c.username, last))
    }

    /// `user` came online here or went offline. Announces it to the other
    /// users at once if nothing was announced of this user within
    /// `window`; otherwise asks for one deferred announcement of the net
    /// change, and every further change until then merges into it.
    fn presence_changed(
        &mut self,
        room: RoomId,
        user: UserId,
        name: &Arc<str>,
        window: Duration,
    ) -> Settle {
        let online = self.is_online(user);
        let now = Instant::now();
        // Entries that say "offline" and are older than a window carry no
        // more than an absent entry; drop them now and then so that a
        // room's map stays the size of its recent changes.
        if self.announced.len() > 2 * self.presence.len() + 64 {
            self.announced
                .retain(|_, a| a.online || a.settling || now.duration_since(a.at) < window);
        }
        let a = self.announced.entry(user).or_insert_with(|| Announced {
            username: name.clone(),
            online: false,
            at: now.checked_sub(window).unwrap_or(now),
            settling: false,
        });
        if a.settling {
            return Settle::Nothing;
        }
        let quiet = now.duration_since(a.at);
        if quiet < window {
            a.settling = true;
            return Settle::After(user, window - quiet);
        }
        if a.online == online {
            return Settle::Nothing;
        }
        a.online = online;
        a.at = now;
        a.username = name.clone();
        self.announce(room, user, online, name);
        Settle::Nothing
    }

    /// The deferred announcement: tells the other users the net change
    /// since the last notice, if there is one.
    pub fn settle(&mut self, room: RoomId, user: UserId) {
        let now = Instant::now();
        let current = self.name_of(user);
        let Some(a) = self.announced.get_mut(&user) else {
            return;
        };
        a.settling = false;
        let online = current.is_some();
        if a.online == online {
            if !online {
                self.announced.remove(&user);
            }
            return;
        }
        a.online = online;
        a.at = now;
        if let Some(n) = current {
            a.username = n;
        }
        let name = a.username.clone();
        self.announce(room, user, online, &name);
    }

    /// Sends `userJoined` or `userLeft` to every connection of the other users.
    fn announce(&self, room: RoomId, user: UserId, online: bool, name: &str) {
        self.broadcast(&events::presence(room, name, online), Some(user));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::hub::tests::{conn, text};
    use crate::chat::hub::Hub;

    #[test]
    fn presence_counts_users_not_connections() {
        let hub = Hub::default();
        let room = RoomId(1);
        let (a1, _r1) = conn(&hub, 1, "ann", 8);
        let (a2, _r2) = conn(&hub, 1, "ann", 8);
        let (b, mut rb) = conn(&hub, 2, "bob", 8);
        hub.join(room, &b);
        hub.join(room, &a1);
        assert!(text(rb.try_recv().expect("userJoined")).contains("userJoined"));
        hub.join(room, &a2);
        assert!(rb.try_recv().is_err(), "second connection is silent");
        assert_eq!(hub.online(room), vec!["ann", "bob"]);
        assert_eq!(hub.online_count(room), 2);
        hub.leave(room, a1.id);
        assert!(rb.try_recv().is_err(), "one connection of ann remains");
        hub.unregister(&a2, &[room]);
        assert!(text(rb.try_recv().expect("userLeft")).contains("userLeft"));
        assert_eq!(hub.online(room), vec!["bob"]);
    }

    #[tokio::test]
    async fn flapping_presence_is_merged_into_one_net_notice_a_window() {
        let window = Duration::from_millis(100);
        let hub = Hub::with_presence_window(window);
        let room = RoomId(1);
        let (a, _ra) = conn(&hub, 1, "ann", 8);
        let (b, mut rb) = conn(&hub, 2, "bob", 64);
        hub.join(room, &b);
        for _ in 0..1000 {
            hub.join(room, &a);
            hub.leave(room, a.id);
        }
        hub.join(room, &a);
        assert!(text(rb.try_recv().expect("the first change at once")).contains("userJoined"));
        assert!(rb.try_recv().is_err(), "the rest waits for the window");
        tokio::time::sleep(window * 3).await;
        // Net change since the userJoined: none (ann is in again).
        assert!(rb.try_recv().is_err(), "no net change, no notice");
        assert_eq!(hub.online(room), vec!["ann", "bob"]);
        // A change after a quiet window goes out at once.
        hub.leave(room, a.id);
        assert!(text(rb.try_recv().expect("userLeft")).contains("userLeft"));
        hub.join(room, &a);
        hub.leave(room, a.id);
        hub.join(room, &a);
        assert!(rb.try_recv().is_err());
        tokio::time::sleep(window * 3).await;
        assert!(text(rb.try_recv().expect("net userJoined")).contains("userJoined"));
        assert!(rb.try_recv().is_err());
    }

    #[test]
    fn typing_is_relayed_to_others_at_most_once_a_second() {
        let hub = Hub::default();
        let room = RoomId(1);
        let (a, mut ra) = conn(&hub, 1, "ann", 8);
        let (b, mut rb) = conn(&hub, 2, "bob", 8);
        hub.join(room, &a);
        hub.join(room, &b);
        let _ = ra.try_recv();
        hub.typing(room, UserId(1), "ann");
        hub.typing(room, UserId(1), "ann");
        assert!(text(rb.try_recv().expect("typing")).contains("\"typing\""));
        assert!(rb.try_recv().is_err());
        assert!(ra.try_recv().is_err(), "not echoed to the typist");
    }
}
