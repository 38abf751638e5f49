//! Rooms, presence and fan-out.
//!
//! The hub knows, per room, which connections are subscribed and how many
//! connections each user has there (presence). Stored messages reach it
//! from the writer in id order; for each it builds the `receiveMessage`
//! frame once and offers the shared bytes to every subscribed connection's
//! bounded queue with `try_send`. A full queue closes that connection
//! (1013) instead of slowing the room or growing memory.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU16, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Utf8Bytes;
use tokio_util::sync::CancellationToken;

use super::events::{self, RoomOnly, RoomUser};
use crate::model::{Message, MessageId, RoomId, UserId};

/// How often one user's typing notice is relayed per room, at most.
pub const TYPING_INTERVAL: Duration = Duration::from_secs(1);

/// How often one user's presence in one room (`userJoined`/`userLeft`) is
/// announced, at most. A change after a quiet window goes out at once;
/// changes inside the window are merged and only the net result goes out
/// when the window ends, so a client flapping join/leave costs the room's
/// members one notice a window instead of one per frame, and the last
/// notice they see always matches the user's presence.
pub const PRESENCE_WINDOW: Duration = Duration::from_secs(1);

/// Close code for a connection too slow to keep up (RFC 6455 "try again later").
pub const CLOSE_SLOW: u16 = 1013;

/// Frames a connection may have waiting before it counts as too slow. The
/// frames themselves are shared with every other recipient; what a slow
/// connection pins is bounded by this count and by [`MAX_PENDING_BYTES`].
pub const MAX_PENDING_FRAMES: usize = 65_536;

/// Bytes of frames a connection may have waiting before it counts as too
/// slow: what one stalled client can keep alive, whatever the frame size.
pub const MAX_PENDING_BYTES: usize = 8 * 1024 * 1024;

/// One unit of a connection's outbound queue.
#[derive(Debug)]
pub enum Outbound {
    /// Stored messages of a room, in id order: one queue item per stored
    /// batch, shared by every recipient. The session skips ids it already
    /// sent during a catch-up.
    Messages {
        room: RoomId,
        frames: Arc<[(MessageId, Utf8Bytes)]>,
        /// Total length of the frames, counted once per batch.
        bytes: usize,
    },
    /// Any other frame (presence, typing, edits, deletions).
    Event(Utf8Bytes),
    /// The connection was unsubscribed from a room by someone else; the
    /// frame tells the client.
    Unsubscribed { room: RoomId, frame: Utf8Bytes },
}

/// A way to end a connection from outside its task, with a close code.
#[derive(Debug, Default)]
pub struct Kill {
    token: CancellationToken,
    code: AtomicU16,
}

impl Kill {
    /// Asks the connection to close with `code`; the first code wins.
    pub fn kill(&self, code: u16) {
        let _ = self
            .code
            .compare_exchange(0, code, Ordering::AcqRel, Ordering::Acquire);
        self.token.cancel();
    }

    /// Resolves once the connection was asked to close.
    pub async fn killed(&self) -> u16 {
        self.token.cancelled().await;
        self.code.load(Ordering::Acquire)
    }
}

/// Identifies one WebSocket connection for its lifetime.
pub type ConnId = u64;

/// What the hub holds of one connection.
#[derive(Clone, Debug)]
pub struct Conn {
    pub id: ConnId,
    pub user_id: UserId,
    pub username: Arc<str>,
    pub tx: mpsc::Sender<Outbound>,
    pub kill: Arc<Kill>,
    /// Frames queued and not yet taken by the session.
    pub pending: Arc<AtomicUsize>,
    /// Bytes of those frames.
    pub pending_bytes: Arc<AtomicUsize>,
}

impl Conn {
    /// A connection's hub entry and the receiving end of its queue.
    pub fn new(
        id: ConnId,
        user_id: UserId,
        username: Arc<str>,
        queue: usize,
    ) -> (Conn, mpsc::Receiver<Outbound>) {
        let (tx, rx) = mpsc::channel(queue);
        (
            Conn {
                id,
                user_id,
                username,
                tx,
                kill: Arc::default(),
                pending: Arc::default(),
                pending_bytes: Arc::default(),
            },
            rx,
        )
    }

    /// Offers one item; a full queue, or too many frames waiting, means
    /// the client is too slow: it is closed rather than allowed to grow
    /// memory or hold up the room.
    fn offer(&self, item: Outbound) {
        let (frames, bytes) = item.size();
        let queued = self.pending.fetch_add(frames, Ordering::AcqRel) + frames;
        let queued_bytes = self.pending_bytes.fetch_add(bytes, Ordering::AcqRel) + bytes;
        if queued > MAX_PENDING_FRAMES || queued_bytes > MAX_PENDING_BYTES {
            self.kill.kill(CLOSE_SLOW);
            return;
        }
        if let Err(mpsc::error::TrySendError::Full(_)) = self.tx.try_send(item) {
            self.kill.kill(CLOSE_SLOW);
        }
    }

    /// Called by the session for each item it takes off the queue.
    pub fn release(&self, item: &Outbound) {
        let (frames, bytes) = item.size();
        self.pending.fetch_sub(frames, Ordering::AcqRel);
        self.pending_bytes.fetch_sub(bytes, Ordering::AcqRel);
    }
}

impl Outbound {
    /// How many frames this item carries, and their total length.
    pub fn size(&self) -> (usize, usize) {
        match self {
            Outbound::Messages { frames, bytes, .. } => (frames.len(), *bytes),
            Outbound::Event(f) | Outbound::Unsubscribed { frame: f, .. } => (1, f.len()),
        }
    }
}

#[derive(Default)]
struct RoomState {
    conns: HashMap<ConnId, Conn>,
    /// user -> (username, number of this user's connections in the room)
    presence: HashMap<UserId, (Arc<str>, usize)>,
    typing: HashMap<UserId, Instant>,
    /// What the members were last told of each user whose presence
    /// changed lately (see [`PRESENCE_WINDOW`]).
    announced: HashMap<UserId, Announced>,
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
enum Settle {
    Nothing,
    /// Announce the net change of this user after this delay.
    After(UserId, Duration),
}

impl RoomState {
    fn broadcast(&self, frame: &Utf8Bytes, except: Option<UserId>) {
        for c in self.conns.values() {
            if Some(c.user_id) != except {
                c.offer(Outbound::Event(frame.clone()));
            }
        }
    }

    fn usernames(&self) -> Vec<String> {
        let mut v: Vec<String> = self.presence.values().map(|(n, _)| n.to_string()).collect();
        v.sort_by_key(|a| a.to_lowercase());
        v
    }

    /// Removes a connection; returns whether it was subscribed, and the
    /// presence change to settle if it was its user's last one here.
    fn remove_announcing(
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
        let online = self.presence.contains_key(&user);
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
    fn settle(&mut self, room: RoomId, user: UserId) {
        let now = Instant::now();
        let Some(a) = self.announced.get_mut(&user) else {
            return;
        };
        a.settling = false;
        let current = self.presence.get(&user).map(|(n, _)| n.clone());
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
        let event = if online { "userJoined" } else { "userLeft" };
        let f = events::frame(
            event,
            RoomUser {
                room_id: room,
                user: name,
            },
            None,
        );
        self.broadcast(&f, Some(user));
    }
}

/// The shared hub handle.
#[derive(Clone, Default)]
pub struct Hub {
    inner: Arc<HubInner>,
}

struct HubInner {
    rooms: RwLock<HashMap<RoomId, Arc<Mutex<RoomState>>>>,
    /// Every open connection, so that a user's connections can be found
    /// (a disabled user's are closed at once).
    conns: Mutex<BTreeMap<ConnId, Conn>>,
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
        lock(&self.inner.conns).insert(conn.id, conn);
    }

    /// Forgets a closed connection and takes it out of every room it joined.
    pub fn unregister(&self, conn: ConnId, rooms: &[RoomId]) {
        lock(&self.inner.conns).remove(&conn);
        for room in rooms {
            self.leave(*room, conn);
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
        if st.conns.contains_key(&conn.id) {
            return st.usernames();
        }
        st.conns.insert(conn.id, conn.clone());
        let entry = st
            .presence
            .entry(conn.user_id)
            .or_insert_with(|| (conn.username.clone(), 0));
        entry.1 += 1;
        let settle = if entry.1 == 1 {
            st.presence_changed(
                room,
                conn.user_id,
                &conn.username,
                self.inner.presence_window,
            )
        } else {
            Settle::Nothing
        };
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
        let empty = st.conns.is_empty();
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
            if lock(state).conns.is_empty() {
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
            .map(|s| lock(&s).presence.len())
            .unwrap_or(0)
    }

    /// Relays a typing notice to the room's other users, at most once per
    /// [`TYPING_INTERVAL`] per user.
    pub fn typing(&self, room: RoomId, user: UserId, username: &str) {
        let Some(state) = self.room(room) else { return };
        let mut st = lock(&state);
        let now = Instant::now();
        if let Some(last) = st.typing.get(&user) {
            if now.duration_since(*last) < TYPING_INTERVAL {
                return;
            }
        }
        st.typing.insert(user, now);
        let f = events::frame(
            "typing",
            RoomUser {
                room_id: room,
                user: username,
            },
            None,
        );
        st.broadcast(&f, Some(user));
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
                let frames: Arc<[(MessageId, Utf8Bytes)]> = messages[i..j]
                    .iter()
                    .map(|m| (m.id, events::receive_message(m)))
                    .collect();
                let bytes = frames.iter().map(|(_, f)| f.len()).sum();
                let st = lock(&state);
                for c in st.conns.values() {
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

    /// Unsubscribes every connection of `user` from `room` and tells each
    /// with a `roomRemoved` frame (`event` names the frame).
    pub fn remove_user_from_room(&self, room: RoomId, user: Option<UserId>, event: &str) {
        let Some(state) = self.room(room) else { return };
        let mut st = lock(&state);
        let ids: Vec<ConnId> = st
            .conns
            .values()
            .filter(|c| user.is_none_or(|u| c.user_id == u))
            .map(|c| c.id)
            .collect();
        let frame = events::frame(event, RoomOnly { room_id: room }, None);
        let mut settles = Vec::new();
        for id in ids {
            if let Some(c) = st.conns.get(&id).cloned() {
                c.offer(Outbound::Unsubscribed {
                    room,
                    frame: frame.clone(),
                });
            }
            let (_, settle) = st.remove_announcing(room, id, self.inner.presence_window);
            settles.push(settle);
        }
        let empty = st.conns.is_empty();
        drop(st);
        if empty {
            self.drop_if_empty(room);
        } else {
            for settle in settles {
                self.schedule(room, &state, settle);
            }
        }
    }

    /// Closes every connection of a user (disabled or deleted) with `code`.
    pub fn kill_user(&self, user: UserId, code: u16) {
        for c in lock(&self.inner.conns).values() {
            if c.user_id == user {
                c.kill.kill(code);
            }
        }
    }

    /// Number of open connections.
    pub fn connection_count(&self) -> usize {
        lock(&self.inner.conns).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn(hub: &Hub, user: u64, name: &str, cap: usize) -> (Conn, mpsc::Receiver<Outbound>) {
        let (c, rx) = Conn::new(hub.next_conn_id(), UserId(user), name.into(), cap);
        hub.register(c.clone());
        (c, rx)
    }

    fn text(o: Outbound) -> String {
        match o {
            Outbound::Messages { frames, .. } => {
                frames.iter().map(|(_, f)| f.to_string()).collect()
            }
            Outbound::Event(frame) | Outbound::Unsubscribed { frame, .. } => frame.to_string(),
        }
    }

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
        hub.unregister(a2.id, &[room]);
        assert!(text(rb.try_recv().expect("userLeft")).contains("userLeft"));
        assert_eq!(hub.online(room), vec!["bob"]);
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
            })
            .collect();
        for m in &msgs {
            hub.publish(std::slice::from_ref(m));
        }
        assert!(slow.kill.token.is_cancelled());
        assert_eq!(slow.kill.code.load(Ordering::Acquire), CLOSE_SLOW);
        assert!(!fast.kill.token.is_cancelled());
        let ids: Vec<MessageId> = std::iter::from_fn(|| rf.try_recv().ok())
            .flat_map(|o| match o {
                Outbound::Messages { frames, .. } => frames.iter().map(|(id, _)| *id).collect(),
                _ => Vec::new(),
            })
            .collect();
        assert_eq!(ids, vec![MessageId(1), MessageId(2), MessageId(3)]);
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
