//! Every open connection, by user: the user channel beside the room
//! channels of [`presence`](super::presence).
//!
//! What is sent to a user rather than to a room (the live room list, and
//! the close of a disabled account) reaches every connection of that user,
//! joined to a room or not. A frame given here is serialised once by its
//! caller and shared by every connection it goes to; each is offered to a
//! connection's bounded queue with the hub's slow-consumer rule
//! ([`Conn::offer`]).

use std::collections::{HashMap, HashSet};

use tokio_tungstenite::tungstenite::Utf8Bytes;

use super::conn::{Conn, ConnId, Outbound};
use super::events::Close;
use crate::model::UserId;

/// Whose connections a frame goes to: those who can see a room.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Audience {
    /// Every open connection: a public room is everyone's.
    Everyone,
    /// The connections of these users: a private room's members.
    Users(Vec<UserId>),
}

/// The open connections, grouped by user. A user has few connections
/// (`--max-user-connections`), so each group is a small vector.
#[derive(Default)]
pub struct Registry {
    by_user: HashMap<UserId, Vec<Conn>>,
    count: usize,
}

impl Registry {
    /// Adds an open connection.
    pub fn insert(&mut self, conn: Conn) {
        self.by_user.entry(conn.user_id).or_default().push(conn);
        self.count += 1;
    }

    /// Forgets a closed connection of `user`.
    pub fn remove(&mut self, user: UserId, conn: ConnId) {
        let Some(conns) = self.by_user.get_mut(&user) else {
            return;
        };
        let before = conns.len();
        conns.retain(|c| c.id != conn);
        self.count -= before - conns.len();
        if conns.is_empty() {
            self.by_user.remove(&user);
        }
    }

    /// Number of open connections.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether no connection is open.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The open connections of `user`.
    pub fn of(&self, user: UserId) -> &[Conn] {
        self.by_user.get(&user).map_or(&[], Vec::as_slice)
    }

    /// Closes every connection of `user` with `code`.
    pub fn kill_user(&self, user: UserId, code: Close) {
        for c in self.of(user) {
            c.kill.kill(code);
        }
    }

    /// Offers `frame` to every connection of `user` but those in `except`.
    pub fn send_to_user(&self, user: UserId, frame: &Utf8Bytes, except: &HashSet<ConnId>) {
        for c in self.of(user) {
            if !except.contains(&c.id) {
                c.offer(Outbound::Event(frame.clone()));
            }
        }
    }

    /// Offers `frame` to every open connection but those in `except`.
    pub fn send_to_all(&self, frame: &Utf8Bytes, except: &HashSet<ConnId>) {
        for c in self.by_user.values().flatten() {
            if !except.contains(&c.id) {
                c.offer(Outbound::Event(frame.clone()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use tokio::sync::mpsc;

    use super::*;

    fn conn(id: ConnId, user: u64) -> (Conn, mpsc::Receiver<Outbound>) {
        Conn::new(id, UserId(user), "u".into(), 8)
    }

    fn got(rx: &mut mpsc::Receiver<Outbound>) -> usize {
        std::iter::from_fn(|| rx.try_recv().ok()).count()
    }

    #[test]
    fn frames_reach_a_users_connections_or_everyone_once_each() {
        let mut reg = Registry::default();
        let (a1, mut ra1) = conn(1, 1);
        let (a2, mut ra2) = conn(2, 1);
        let (b, mut rb) = conn(3, 2);
        reg.insert(a1);
        reg.insert(a2);
        reg.insert(b);
        assert_eq!(reg.len(), 3);
        let frame = Utf8Bytes::from_static("{}");
        let except = |ids: &[ConnId]| ids.iter().copied().collect::<HashSet<ConnId>>();
        reg.send_to_user(UserId(1), &frame, &except(&[2]));
        assert_eq!((got(&mut ra1), got(&mut ra2), got(&mut rb)), (1, 0, 0));
        reg.send_to_all(&frame, &except(&[3]));
        assert_eq!((got(&mut ra1), got(&mut ra2), got(&mut rb)), (1, 1, 0));
        reg.remove(UserId(1), 1);
        reg.remove(UserId(1), 1);
        assert_eq!(reg.len(), 2, "removing twice counts once");
        reg.remove(UserId(1), 2);
        assert!(reg.of(UserId(1)).is_empty());
        reg.send_to_all(&frame, &except(&[]));
        assert_eq!((got(&mut ra1), got(&mut ra2), got(&mut rb)), (0, 0, 1));
    }
}
