//! What the hub holds of one connection: its bounded outbound queue, the
//! count of what waits there, and a way to close it from outside its task.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Utf8Bytes;
use tokio_util::sync::CancellationToken;

use super::events::{self, Close, Framing};
use super::sight::Sight;
use crate::model::{MessageId, RoomId, UserId};

/// Frames a connection may have waiting before it counts as too slow. The
/// frames themselves are shared with every other recipient; what a slow
/// connection pins is bounded by this count and by [`MAX_PENDING_BYTES`].
pub const MAX_PENDING_FRAMES: usize = 65_536;

/// Bytes of frames a connection may have waiting before it counts as too
/// slow: what one stalled client can keep alive, whatever the frame size.
pub const MAX_PENDING_BYTES: usize = 8 * 1024 * 1024;

/// One stored message as every connection of its room gets it: the
/// `receiveMessage` frame, serialised once, and its Socket.IO packet,
/// made once too, by the first Socket.IO connection that sends it (a room
/// without one never pays for it). Both are shared bytes: a recipient's
/// queue, or the engine's buffer of a Socket.IO client, holds a reference.
#[derive(Debug)]
pub struct Delivery {
    pub id: MessageId,
    pub frame: Utf8Bytes,
    socketio: OnceLock<Utf8Bytes>,
}

impl Delivery {
    pub fn new(id: MessageId, frame: Utf8Bytes) -> Delivery {
        Delivery {
            id,
            frame,
            socketio: OnceLock::new(),
        }
    }

    /// The message as a door that frames with `framing` sends it.
    pub fn framed(&self, framing: Framing) -> Utf8Bytes {
        match framing {
            Framing::Ws => self.frame.clone(),
            Framing::SocketIo => self
                .socketio
                .get_or_init(|| events::socketio::packet(&self.frame).into())
                .clone(),
        }
    }
}

/// One unit of a connection's outbound queue.
#[derive(Debug)]
pub enum Outbound {
    /// Stored messages of a room, in id order: one queue item per stored
    /// batch, shared by every recipient. The session skips ids it already
    /// sent during a catch-up.
    Messages {
        room: RoomId,
        frames: Arc<[Delivery]>,
        /// Total length of the frames, counted once per batch.
        bytes: usize,
    },
    /// Any other frame (presence, typing, edits, deletions).
    Event(Utf8Bytes),
    /// The connection was unsubscribed from a room by someone else; the
    /// frame tells the client.
    Unsubscribed { room: RoomId, frame: Utf8Bytes },
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

/// A way to end a connection from outside its task, with a close code.
#[derive(Debug, Default)]
pub struct Kill {
    token: CancellationToken,
    code: OnceLock<Close>,
}

impl Kill {
    /// Asks the connection to close with `code`; the first code wins.
    pub fn kill(&self, code: Close) {
        let _ = self.code.set(code);
        self.token.cancel();
    }

    /// Resolves once the connection was asked to close, with the code.
    pub async fn killed(&self) -> Close {
        self.token.cancelled().await;
        // `kill` sets the code before it cancels, so it is always there.
        self.code.get().copied().unwrap_or(Close::Policy)
    }

    /// The code asked for, if the connection was asked to close.
    pub fn code(&self) -> Option<Close> {
        self.code.get().copied()
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
    /// Whether its page is looked at (see [`Sight`]).
    pub sight: Arc<Sight>,
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
                sight: Arc::default(),
            },
            rx,
        )
    }

    /// Offers one item; a full queue, or too many frames waiting, means
    /// the client is too slow: it is closed rather than allowed to grow
    /// memory or hold up the room.
    pub fn offer(&self, item: Outbound) {
        let (frames, bytes) = item.size();
        let queued = self.pending.fetch_add(frames, Ordering::AcqRel) + frames;
        let queued_bytes = self.pending_bytes.fetch_add(bytes, Ordering::AcqRel) + bytes;
        if queued > MAX_PENDING_FRAMES || queued_bytes > MAX_PENDING_BYTES {
            self.kill.kill(Close::Slow);
            return;
        }
        if let Err(mpsc::error::TrySendError::Full(_)) = self.tx.try_send(item) {
            self.kill.kill(Close::Slow);
        }
    }

    /// Called by the session for each item it takes off the queue.
    pub fn release(&self, item: &Outbound) {
        let (frames, bytes) = item.size();
        self.pending.fetch_sub(frames, Ordering::AcqRel);
        self.pending_bytes.fetch_sub(bytes, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_delivery_is_framed_once_per_door_and_shared() {
        let d = Delivery::new(
            MessageId(1),
            Utf8Bytes::from_static(r#"{"event":"receiveMessage","data":{"id":"1"}}"#),
        );
        assert_eq!(d.framed(Framing::Ws), d.frame);
        let a = d.framed(Framing::SocketIo);
        let b = d.framed(Framing::SocketIo);
        assert_eq!(a.as_str(), r#"2["receiveMessage",{"id":"1"}]"#);
        assert_eq!(a.as_str().as_ptr(), b.as_str().as_ptr(), "the same bytes");
    }
}
