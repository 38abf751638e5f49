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

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Duration;

use tokio_tungstenite::tungstenite::Utf8Bytes;

use super::conn::{Conn, ConnId, Delivery, Outbound};
use super::events::{self, Close};
use super::presence::{RoomState, Settle, PRESENCE_WINDOW};
use super::registry::{Audience, Registry};
use crate::model::{Message, RoomId, UserId};

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
    next_id: AtomicU64,
    presence_window: Duration,
}

impl Default for HubInner {
    fn default() -> Self {
        HubInner {
            rooms: RwLock::default(),
            conns: Mutex::default(),
            room_list: Mutex::default(),
            admitted: Mutex::default(),
            next_id: AtomicU64::default(),
            presence_window: PRESENCE_WINDOW,
        }
    }
}

/// One admitted WebSocket of a user; dropping it frees the user's slot,
/// whether the session ran and ended or the upgrade never completed.
#[must_use = "the slot is freed when this is dropped"]
pub struct UserSlot {
    hub: Hub,
    user: UserId,
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
        let empty = st.is_empty();
        drop(st);
        if empty {
            self.drop_if_empty(room);
        } else {
            self.schedule(room, &state, settle);
        }
        true
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

    /// Relays a typing notice to the room's other users, at most once per
    /// [`TYPING_INTERVAL`] per user.
    pub fn typing(&self, room: RoomId, user: UserId, username: &str) {
        let Some(state) = self.room(room) else { return };
        let mut st = lock(&state);
        if st.typing_due(user) {
            st.broadcast(&events::typing(room, username), Some(user));
        }
    }

    /// Delivers stored messages, in the order given (the writer's id order).
    pub fn publish(&self, messages: &[Message]) {
        let mut i = 0;
        while i < messages.len() {
            let room = messages[i].room_id;
            let mut j = i;
            while j < messages.len() && messages[j].room_id == room {
                j += 1;
            }
            if let Some(state) = self.room(room) {
                let frames: Arc<[Delivery]> = messages[i..j]
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
            i = j;
        }
    }

    /// Sends one frame to every connection subscribed to a room.
    pub fn broadcast(&self, room: RoomId, frame: Utf8Bytes) {
        if let Some(state) = self.room(room) {
            lock(&state).broadcast(&frame, None);
        }
    }

    /// Unsubscribes every connection of `user` from a private room it was
    /// removed from, and tells each of its connections with `roomRemoved`,
    /// those that did not join the room too.
    pub fn remove_member(&self, room: RoomId, user: UserId) {
        let frame = events::room_removed(room);
        let told = self.evict(room, Some(user), &frame);
        lock(&self.inner.conns).send_to_user(user, &frame, &told);
    }

    /// Unsubscribes every connection from a deleted room, and tells with
    /// `roomDeleted` each of them and every connection of `audience`
    /// (those who could see the room), once.
    pub fn delete_room(&self, room: RoomId, audience: &Audience) {
        let frame = events::room_deleted(room);
        let told = self.evict(room, None, &frame);
        self.send(audience, &frame, &told);
    }

    /// Offers one shared frame to every connection of `audience` but those
    /// in `except`.
    pub fn send(&self, audience: &Audience, frame: &Utf8Bytes, except: &HashSet<ConnId>) {
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
    }

    /// Serialises the room-list announcements. Whoever announces a change
    /// reads the state it reports (a room, a membership) while holding
    /// this, and sends before letting go: so two changes racing each
    /// other are announced in the order of the state they report, and the
    /// last event a connection gets of a room tells how the room is now.
    pub fn room_list_turn(&self) -> MutexGuard<'_, ()> {
        lock(&self.inner.room_list)
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
        let empty = st.is_empty();
        drop(st);
        if empty {
            self.drop_if_empty(room);
        } else {
            for settle in settles {
                self.schedule(room, &state, settle);
            }
        }
        told
    }

    /// Closes every connection of a user (disabled or deleted) with `code`.
    pub fn kill_user(&self, user: UserId, code: Close) {
        lock(&self.inner.conns).kill_user(user, code);
    }

    /// Number of open connections.
    pub fn connection_count(&self) -> usize {
        lock(&self.inner.conns).len()
    }
}

#[cfg(test)]
pub(super) mod tests {
    use tokio::sync::mpsc;

    use super::*;
    use crate::model::MessageId;

    /// A registered connection of `user` and its queue.
    pub fn conn(hub: &Hub, user: u64, name: &str, cap: usize) -> (Conn, mpsc::Receiver<Outbound>) {
        let (c, rx) = Conn::new(hub.next_conn_id(), UserId(user), name.into(), cap);
        hub.register(c.clone());
        (c, rx)
    }

    /// The frames of a queue item, as text.
    pub fn text(o: Outbound) -> String {
        match o {
            Outbound::Messages { frames, .. } => {
                frames.iter().map(|d| d.frame.to_string()).collect()
            }
            Outbound::Event(frame) | Outbound::Unsubscribed { frame, .. } => frame.to_string(),
        }
    }

    #[test]
    fn a_full_queue_kills_only_that_connection() {
        let hub = Hub::default();
        let room = RoomId(1);
        let (slow, _rs) = conn(&hub, 1, "slow", 1);
        let (fast, mut rf) = conn(&hub, 2, "fast", 64);
        hub.join(room, &slow);
        hub.join(room, &fast);
        let _ = rf.try_recv();
        let msgs: Vec<Message> = (1..=3)
            .map(|i| Message {
                id: MessageId(i),
                room_id: room,
                user: "fast".into(),
                user_id: UserId(2),
                message: "x".into(),
                timestamp: crate::model::Timestamp(0),
                edited_at: None,
                reactions: Vec::new(),
                mentions: Vec::new(),
                attachments: Vec::new(),
            })
            .collect();
        for m in &msgs {
            hub.publish(std::slice::from_ref(m));
        }
        assert_eq!(slow.kill.code(), Some(Close::Slow));
        assert_eq!(fast.kill.code(), None);
        let ids: Vec<MessageId> = std::iter::from_fn(|| rf.try_recv().ok())
            .flat_map(|o| match o {
                Outbound::Messages { frames, .. } => frames.iter().map(|d| d.id).collect(),
                _ => Vec::new(),
            })
            .collect();
        assert_eq!(ids, vec![MessageId(1), MessageId(2), MessageId(3)]);
    }

    #[test]
    fn a_users_slots_are_capped_and_freed_on_drop() {
        let hub = Hub::default();
        let s1 = hub.admit(UserId(1), 2).expect("first");
        let _s2 = hub.admit(UserId(1), 2).expect("second");
        assert!(hub.admit(UserId(1), 2).is_none(), "third refused");
        assert!(hub.admit(UserId(2), 2).is_some(), "other users unaffected");
        drop(s1);
        assert!(
            hub.admit(UserId(1), 2).is_some(),
            "a freed slot is reusable"
        );
    }
}
