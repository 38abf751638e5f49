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

    /// Removes a connection and, if it was its user's last one here, tells
    /// the others with `userLeft`. Returns whether it was subscribed.
    fn remove_announcing(&mut self, room: RoomId, conn: ConnId) -> bool {
        let Some((_, name, last)) = self.remove(conn) else {
            return false;
        };
        if last {
            let user = RoomUser {
                room_id: room,
                user: &name,
            };
            self.broadcast(&events::frame("userLeft", user, None), None);
        }
        true
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
}

/// The shared hub handle.
#[derive(Clone, Default)]
pub struct Hub {
    inner: Arc<HubInner>,
}

#[derive(Default)]
struct HubInner {
    rooms: RwLock<HashMap<RoomId, Arc<Mutex<RoomState>>>>,
    /// Every open connection, so that a user's connections can be found
    /// (a disabled user's are closed at once).
    conns: Mutex<BTreeMap<ConnId, Conn>>,
    next_id: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves plain data behind; keep serving.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Hub {
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
        if entry.1 == 1 {
            let f = events::frame(
                "userJoined",
                RoomUser {
                    room_id: room,
                    user: &conn.username,
                },
                None,
            );
            for c in st.conns.values() {
                if c.id != conn.id {
                    c.offer(Outbound::Event(f.clone()));
                }
            }
        }
        st.usernames()
    }

    /// Unsubscribes a connection. The user's last connection announces
    /// `userLeft`. Returns whether it was subscribed.
    pub fn leave(&self, room: RoomId, conn: ConnId) -> bool {
        let Some(state) = self.room(room) else {
            return false;
        };
        let mut st = lock(&state);
        if !st.remove_announcing(room, conn) {
            return false;
        }
        let empty = st.conns.is_empty();
        drop(st);
        if empty {
            self.drop_if_empty(room);
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
        for id in ids {
            if let Some(c) = st.conns.get(&id).cloned() {
                c.offer(Outbound::Unsubscribed {
                    room,
                    frame: frame.clone(),
                });
            }
            st.remove_announcing(room, id);
        }
        let empty = st.conns.is_empty();
        drop(st);
        if empty {
            self.drop_if_empty(room);
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
