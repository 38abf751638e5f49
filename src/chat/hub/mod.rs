//! Rooms, presence and fan-out.
//!
//! The hub knows, per room, which connections are subscribed and how many
//! connections each user has there (presence). Stored messages reach it
//! from the writer in id order; for each it builds the `receiveMessage`
//! frame once and offers the shared bytes to every subscribed connection's
//! bounded queue with `try_send`. A full queue closes that connection as
//! too slow ([`Close::Slow`]) instead of slowing the room or growing memory.
//!
//! Beside the rooms it keeps every open connection by user
//! ([`Registry`]): what concerns a user's room list, rather than a room
//! (`roomAdded`, `roomUpdated`, `roomRemoved`, `roomDeleted`), reaches all
//! of that user's connections, joined to the room or not.
//!
//! What it does to many connections at once is in [`fanout`], which also
//! hands each such act to the bus for the other nodes of a cluster.

mod fanout;
mod nodes;
mod sequence;
mod slots;

pub use fanout::Fanout;
pub use nodes::{NodeId, RoomUsers, EXPIRY, HEARTBEAT};
pub use sequence::{MessageSource, GAP_BOUND};
pub use slots::{FORGET_AFTER, SLOT_HEARTBEAT};

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, RwLock};
use std::time::Duration;

use super::conn::{Conn, ConnId};
use super::presence::{RoomState, Settle, PRESENCE_WINDOW};
use super::registry::Registry;
use crate::bus::Bus;
use crate::model::{MessageId, RoomId, UserId};

/// The shared hub handle.
#[derive(Clone, Default)]
pub struct Hub {
    inner: Arc<HubInner>,
}

struct HubInner {
    rooms: RwLock<HashMap<RoomId, Arc<Mutex<RoomState>>>>,
    /// Every open connection, by user: a disabled user's are closed at
    /// once, and room-list events reach a user's connections wherever
    /// they joined.
    conns: Mutex<Registry>,
    /// Held while a room-list change is read and announced; see
    /// [`Hub::room_list_turn`].
    room_list: Mutex<()>,
    /// WebSockets admitted per user, counted from the upgrade (before the
    /// connection is registered) to the end of its task.
    admitted: Mutex<HashMap<UserId, usize>>,
    /// Where a node of a cluster also counts them; see [`slots`].
    slots: OnceLock<slots::SharedSlots>,
    next_id: AtomicU64,
    presence_window: Duration,
    /// Where this hub's acts go for the other nodes; see [`crate::bus`].
    bus: Arc<dyn Bus>,
    /// This process, among the nodes of a cluster.
    node: NodeId,
    /// This node's presence as told to the others; see [`nodes`].
    told: Mutex<nodes::Told>,
    /// The other nodes heard from.
    peers: Mutex<HashMap<NodeId, nodes::Peer>>,
    /// With peers: the order messages from every node are delivered in.
    sequencer: Option<sequence::Sequencer>,
}

impl Default for HubInner {
    fn default() -> Self {
        HubInner {
            rooms: RwLock::default(),
            conns: Mutex::default(),
            room_list: Mutex::default(),
            admitted: Mutex::default(),
            slots: OnceLock::new(),
            next_id: AtomicU64::default(),
            presence_window: PRESENCE_WINDOW,
            bus: crate::bus::in_process(),
            node: NodeId::random(),
            told: Mutex::default(),
            peers: Mutex::default(),
            sequencer: None,
        }
    }
}

/// One admitted WebSocket of a user; dropping it frees the user's slot,
/// whether the session ran and ended or the upgrade never completed.
#[must_use = "the slot is freed when this is dropped"]
pub struct UserSlot {
    hub: Hub,
    user: UserId,
    /// Its count in the cluster's database, given back after this
    /// node's (see [`slots`]).
    cluster: Option<slots::ClusterSlot>,
}

impl Drop for UserSlot {
    fn drop(&mut self) {
        let mut admitted = lock(&self.hub.inner.admitted);
        if let Some(n) = admitted.get_mut(&self.user) {
            *n -= 1;
            if *n == 0 {
                admitted.remove(&self.user);
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves plain data behind; keep serving.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Hub {
    /// A hub that announces presence changes at most once per `window`
    /// per user and room ([`PRESENCE_WINDOW`] by default).
    pub fn with_presence_window(window: Duration) -> Hub {
        Hub {
            inner: Arc::new(HubInner {
                presence_window: window,
                ..HubInner::default()
            }),
        }
    }

    /// A hub whose acts also reach the other nodes through `bus`,
    /// delivering messages as they come (the bus's own tests).
    pub fn with_bus(bus: Arc<dyn Bus>) -> Hub {
        Hub {
            inner: Arc::new(HubInner {
                bus,
                ..HubInner::default()
            }),
        }
    }

    /// A node of a cluster: [`Hub::with_bus`] that delivers messages, its
    /// writer's and the other nodes', in id order from `next` on (the
    /// store's cutoff when the node starts: older ones are history, read
    /// with `since`). See [`sequence`].
    pub fn clustered(bus: Arc<dyn Bus>, next: MessageId) -> Hub {
        let sequencer = bus.has_peers().then(|| sequence::Sequencer::new(next));
        Hub {
            inner: Arc::new(HubInner {
                bus,
                sequencer,
                ..HubInner::default()
            }),
        }
    }

    /// Admits one more WebSocket of `user` if it has fewer than `cap`
    /// open. Checked and counted under one lock, so concurrent upgrades
    /// of one user never exceed the cap.
    pub fn admit(&self, user: UserId, cap: usize) -> Option<UserSlot> {
        let mut admitted = lock(&self.inner.admitted);
        let n = admitted.entry(user).or_insert(0);
        if *n >= cap {
            return None;
        }
        *n += 1;
        Some(UserSlot {
            hub: self.clone(),
            user,
            cluster: None,
        })
    }

    /// Runs (now or after `delay`) the deferred presence announcement of
    /// `user` in the room behind `state`. The timer holds the room weakly:
    /// a room that emptied meanwhile has nobody left to tell.
    fn schedule(&self, room: RoomId, state: &Arc<Mutex<RoomState>>, settle: Settle) {
        let Settle::After(user, delay) = settle else {
            return;
        };
        let weak = Arc::downgrade(state);
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                rt.spawn(async move {
                    tokio::time::sleep(delay).await;
                    if let Some(state) = weak.upgrade() {
                        lock(&state).settle(room, user);
                    }
                });
            }
            // Outside a runtime (unit tests of the hub) there is no timer.
            Err(_) => lock(state).settle(room, user),
        }
    }

    /// A fresh connection id.
    pub fn next_conn_id(&self) -> ConnId {
        self.inner.next_id.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Registers an open connection.
    pub fn register(&self, conn: Conn) {
        lock(&self.inner.conns).insert(conn);
    }

    /// Forgets a closed connection and takes it out of every room it joined.
    pub fn unregister(&self, conn: &Conn, rooms: &[RoomId]) {
        lock(&self.inner.conns).remove(conn.user_id, conn.id);
        for room in rooms {
            self.leave(*room, conn.id);
        }
    }

    fn room(&self, room: RoomId) -> Option<Arc<Mutex<RoomState>>> {
        self.inner
            .rooms
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&room)
            .cloned()
    }

    fn room_or_create(&self, room: RoomId) -> Arc<Mutex<RoomState>> {
        if let Some(r) = self.room(room) {
            return r;
        }
        let mut rooms = self.inner.rooms.write().unwrap_or_else(|p| p.into_inner());
        rooms.entry(room).or_default().clone()
    }

    /// Subscribes a connection to a room. Returns the usernames online
    /// there afterwards. The user's first connection announces `userJoined`
    /// to the others.
    pub fn join(&self, room: RoomId, conn: &Conn) -> Vec<String> {
        let state = self.room_or_create(room);
        let mut st = lock(&state);
        let settle = st.join(room, conn, self.inner.presence_window);
        self.tell_flips(room, &mut st);
        let users = st.usernames();
        drop(st);
        self.schedule(room, &state, settle);
        users
    }

    /// Unsubscribes a connection. The user's last connection announces
    /// `userLeft`. Returns whether it was subscribed.
    pub fn leave(&self, room: RoomId, conn: ConnId) -> bool {
        let Some(state) = self.room(room) else {
            return false;
        };
        let mut st = lock(&state);
        let (was_in, settle) = st.remove_announcing(room, conn, self.inner.presence_window);
        if !was_in {
            return false;
        }
        self.tell_flips(room, &mut st);
        self.settle_or_forget(room, &state, st, [settle]);
        true
    }

    /// Ends a change of the room behind `state` (whose guard is `st`):
    /// forgets the room if nothing is left of it, else schedules the
    /// presence announcements the change deferred.
    fn settle_or_forget(
        &self,
        room: RoomId,
        state: &Arc<Mutex<RoomState>>,
        st: MutexGuard<'_, RoomState>,
        settles: impl IntoIterator<Item = Settle>,
    ) {
        let empty = st.is_empty();
        drop(st);
        if empty {
            self.drop_if_empty(room);
        } else {
            for settle in settles {
                self.schedule(room, state, settle);
            }
        }
    }

    fn drop_if_empty(&self, room: RoomId) {
        let mut rooms = self.inner.rooms.write().unwrap_or_else(|p| p.into_inner());
        if let Some(state) = rooms.get(&room) {
            if lock(state).is_empty() {
                rooms.remove(&room);
            }
        }
    }

    /// Usernames online in a room, sorted without regard to case.
    pub fn online(&self, room: RoomId) -> Vec<String> {
        self.room(room)
            .map(|s| lock(&s).usernames())
            .unwrap_or_default()
    }

    /// Number of users online in a room.
    pub fn online_count(&self, room: RoomId) -> usize {
        self.room(room)
            .map(|s| lock(&s).online_count())
            .unwrap_or(0)
    }

    /// The users with a connection joined to `room` whose page is shown,
    /// or was within `window` ([`Sight`](super::sight::Sight)): they have
    /// the room in front of them, so a new message needs no push.
    pub fn watching(&self, room: RoomId, window: Duration) -> HashSet<UserId> {
        let Some(state) = self.room(room) else {
            return HashSet::new();
        };
        let st = lock(&state);
        let looking = st.conns().filter(|c| c.sight.seen_within(window));
        looking.map(|c| c.user_id).collect()
    }

    /// Serialises the room-list announcements. Whoever announces a change
    /// reads the state it reports (a room, a membership) while holding
    /// this, and sends before letting go: so two changes racing each
    /// other are announced in the order of the state they report, and the
    /// last event a connection gets of a room tells how the room is now.
    pub fn room_list_turn(&self) -> MutexGuard<'_, ()> {
        lock(&self.inner.room_list)
    }

    /// Number of open connections.
    pub fn connection_count(&self) -> usize {
        lock(&self.inner.conns).len()
    }
}

#[cfg(test)]
pub(crate) mod tests;
