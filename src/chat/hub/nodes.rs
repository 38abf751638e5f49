//! Presence across the nodes of a cluster.
//!
//! Each node tells the others when one of its users comes online in a
//! room or goes offline there ([`Fanout::Presence`]), numbering these
//! changes; it says it is alive every [`HEARTBEAT`] with the number of its
//! last change ([`Fanout::Alive`]). A node that sees a number it did not
//! expect (it missed a change, or it just met the node) asks for the whole
//! picture ([`Fanout::Resync`]) and gets it as a [`Fanout::Snapshot`],
//! which replaces what it knew of that node. A node not heard from for
//! [`EXPIRY`] is taken for dead: its users leave every room (announced
//! like any other departure).
//!
//! The changes and snapshots of a node are numbered and handed to the bus
//! under one lock, taken while the room that changed is still locked, so
//! the others see them in the order they happened.

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::{lock, Fanout, Hub, HubInner};
use crate::chat::presence::{Flip, RoomState};
use crate::model::{RoomId, UserId};

/// How often a node says it is alive.
pub const HEARTBEAT: Duration = Duration::from_secs(5);

/// How long a silent node is still taken for alive: its users leave within
/// this (plus a heartbeat's check and the presence window) of its death.
pub const EXPIRY: Duration = Duration::from_secs(20);

/// Fewest time between two snapshots of this node: several nodes asking
/// at once get one.
const SNAPSHOT_EVERY: Duration = Duration::from_secs(1);

/// A process of the cluster, named at random when it starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct NodeId(pub u64);

impl NodeId {
    /// A fresh random id (a clock-based one if the OS gives no randomness).
    pub fn random() -> NodeId {
        let mut b = [0u8; 8];
        if getrandom::getrandom(&mut b).is_err() {
            let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
            b = (t.map(|d| d.as_nanos() as u64).unwrap_or(0) ^ u64::from(std::process::id()))
                .to_be_bytes();
        }
        NodeId(u64::from_be_bytes(b))
    }
}

/// One room's users of one node, as a snapshot lists them.
pub type RoomUsers = (RoomId, Vec<(UserId, String)>);

/// This node's side: its own presence as the others were told it. Kept
/// apart from the rooms' states (which hold the same users) so that a
/// snapshot is built under this lock alone: taking the rooms' locks while
/// holding it would invert the order in which a change takes them (its
/// room's, then this one) and could deadlock.
#[derive(Default)]
pub(super) struct Told {
    /// The number of the last change told.
    pub(super) version: u64,
    /// This node's users per room, as told.
    rooms: HashMap<RoomId, HashMap<UserId, Arc<str>>>,
    last_snapshot: Option<Instant>,
}

/// What this node knows of another.
pub(super) struct Peer {
    last_heard: Instant,
    /// The number of the last change of that node applied here.
    version: u64,
}

impl Hub {
    /// Tells the other nodes of this node's presence changes in `room`.
    /// Called with the room's lock held (`st`), so changes go out in the
    /// order they were made.
    pub(super) fn tell_flips(&self, room: RoomId, st: &mut RoomState) {
        let flips = st.take_flips();
        if flips.is_empty() || !self.inner.bus.has_peers() {
            return;
        }
        let mut told = lock(&self.inner.told);
        for Flip {
            user,
            username,
            online,
        } in flips
        {
            let users = told.rooms.entry(room).or_default();
            if online {
                users.insert(user, username.clone());
            } else {
                users.remove(&user);
                if users.is_empty() {
                    told.rooms.remove(&room);
                }
            }
            told.version += 1;
            self.inner.bus.share(Fanout::Presence {
                node: self.inner.node,
                version: told.version,
                room,
                user,
                username: username.to_string(),
                online,
            });
        }
    }

    /// Notes that `node` was heard with change number `version` (`None`
    /// for a change, whose number [`Hub::remote_presence`] checks). Asks
    /// for a snapshot when the number says something was missed.
    fn heard(&self, node: NodeId, version: Option<u64>) {
        let mut peers = lock(&self.inner.peers);
        let peer = peers.entry(node).or_insert(Peer {
            last_heard: Instant::now(),
            version: 0,
        });
        peer.last_heard = Instant::now();
        if version.is_some_and(|v| v != peer.version) {
            drop(peers);
            self.inner.bus.share(Fanout::Resync { node });
        }
    }

    /// Another node's presence change.
    pub(super) fn remote_presence(
        &self,
        node: NodeId,
        version: u64,
        room: RoomId,
        user: UserId,
        username: &str,
        online: bool,
    ) {
        self.heard(node, None);
        let in_order = {
            let mut peers = lock(&self.inner.peers);
            let Some(peer) = peers.get_mut(&node) else {
                return;
            };
            let expected = peer.version + 1;
            peer.version = peer.version.max(version);
            version == expected
        };
        if !in_order {
            self.inner.bus.share(Fanout::Resync { node });
        }
        self.set_remote(room, node, user, &Arc::from(username), online);
    }

    fn set_remote(&self, room: RoomId, node: NodeId, user: UserId, name: &Arc<str>, online: bool) {
        let state = self.room_or_create(room);
        let mut st = lock(&state);
        let settle = st.remote_change(room, node, user, name, online, self.inner.presence_window);
        self.settle_or_forget(room, &state, st, [settle]);
    }

    /// Another node says it is alive, at change number `version`.
    pub(super) fn alive(&self, node: NodeId, version: u64) {
        self.heard(node, Some(version));
    }

    /// Another node asks for this node's whole presence (or another's,
    /// which is none of this node's business).
    pub(super) fn resync(&self, node: NodeId) {
        if node != self.inner.node {
            return;
        }
        let mut told = lock(&self.inner.told);
        if told
            .last_snapshot
            .is_some_and(|t| t.elapsed() < SNAPSHOT_EVERY)
        {
            return;
        }
        told.last_snapshot = Some(Instant::now());
        let rooms = told.rooms.iter().map(|(room, users)| {
            let users = users.iter().map(|(u, n)| (*u, n.to_string()));
            (*room, users.collect())
        });
        self.inner.bus.share(Fanout::Snapshot {
            node: self.inner.node,
            version: told.version,
            rooms: rooms.collect(),
        });
    }

    /// Another node's whole presence: replaces what this node knew of it.
    pub(super) fn snapshot(&self, node: NodeId, version: u64, rooms: Vec<RoomUsers>) {
        self.heard(node, None);
        if let Some(peer) = lock(&self.inner.peers).get_mut(&node) {
            peer.version = version;
        }
        let mut now: HashMap<RoomId, HashMap<UserId, String>> = HashMap::new();
        for (room, users) in rooms {
            now.insert(room, users.into_iter().collect());
        }
        self.replace_node(node, &now);
    }

    /// Makes `node`'s users in every room those of `now`, announcing only
    /// what changed.
    fn replace_node(&self, node: NodeId, now: &HashMap<RoomId, HashMap<UserId, String>>) {
        let known: Vec<RoomId> = {
            let rooms = self.inner.rooms.read().unwrap_or_else(|p| p.into_inner());
            rooms.keys().copied().collect()
        };
        for room in known {
            let Some(state) = self.room(room) else {
                continue;
            };
            let before = lock(&state).remote_users_of(node);
            let stays = now.get(&room);
            for (user, name) in before {
                if !stays.is_some_and(|users| users.contains_key(&user)) {
                    self.set_remote(room, node, user, &name, false);
                }
            }
        }
        for (room, users) in now {
            for (user, name) in users {
                self.set_remote(*room, node, *user, &Arc::from(name.as_str()), true);
            }
        }
    }

    /// Forgets the nodes not heard from within `after` ([`EXPIRY`]): their
    /// users leave.
    pub(super) fn expire(&self, after: Duration) {
        let dead: Vec<NodeId> = {
            let mut peers = lock(&self.inner.peers);
            let dead = peers
                .iter()
                .filter(|(_, p)| p.last_heard.elapsed() >= after);
            let dead: Vec<NodeId> = dead.map(|(n, _)| *n).collect();
            for node in &dead {
                peers.remove(node);
            }
            dead
        };
        for node in dead {
            tracing::warn!("cluster: node {:016x} went silent; its users leave", node.0);
            self.replace_node(node, &HashMap::new());
        }
    }

    /// Says this node is alive every [`HEARTBEAT`] and forgets silent
    /// nodes, for as long as the hub lives. Does nothing without peers.
    pub fn start_heartbeats(&self) {
        if !self.inner.bus.has_peers() {
            return;
        }
        let weak: Weak<HubInner> = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(HEARTBEAT);
            loop {
                tick.tick().await;
                let Some(inner) = weak.upgrade() else { return };
                let hub = Hub { inner };
                let version = lock(&hub.inner.told).version;
                hub.inner.bus.share(Fanout::Alive {
                    node: hub.inner.node,
                    version,
                });
                hub.expire(EXPIRY);
            }
        });
    }
}
