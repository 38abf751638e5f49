//! Packets in and out of one Engine.IO session: the bounded inbox the
//! engine's callbacks fill, and the [`Wire`] the session's loop drives.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use engineioxide::{DisconnectReason, Socket, Str};
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Utf8Bytes;

use super::packet::{self, Packet, DEFAULT_NAMESPACE, DISCONNECT};
use crate::chat::conn::Kill;
use crate::chat::events::{socketio as framing, Close, ErrorCode, Framing, Parsed, Refusal};
use crate::chat::session::{Gone, Inbound, Wire};

/// Packets a client may have sent and its session not yet read. The
/// engine hands packets over as they arrive, without waiting: this and
/// [`INBOX_BYTES`] bound what a client that writes faster than its
/// session reads can make the server hold; past either, it is closed.
const INBOX_PACKETS: usize = 256;
/// Bytes of those packets: four packets of the largest size.
const INBOX_BYTES: usize = 4 * crate::chat::session::MAX_MESSAGE_BYTES;
/// A send into a full engine buffer is retried for this long (as `/ws`
/// waits on a stalled socket) before the client counts as stalled.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest pause between two tries of a send into a full buffer.
const SEND_RETRY_MAX: Duration = Duration::from_millis(16);

/// What a session keeps in its engine socket: the packets the client sent
/// and the session has not read yet, and whether the engine closed the
/// session. The queue allocates only while packets wait, so an idle
/// connection pays nothing for it.
#[derive(Debug, Default)]
pub struct Inbox {
    /// The packets, and their total length in bytes.
    queue: Mutex<(VecDeque<Str>, usize)>,
    /// Woken by a packet, and by the close.
    arrived: Notify,
    /// Set once the engine closed the session, for whatever reason (the
    /// client left, missed its pongs, or broke the protocol).
    gone: AtomicBool,
}

/// An engine socket of this server.
pub type EngineSocket = Socket<Inbox>;

impl Inbox {
    /// A poisoned lock only means a panic elsewhere; the queue is still
    /// whole.
    fn queue(&self) -> MutexGuard<'_, (VecDeque<Str>, usize)> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A packet from the client; one that overflows the inbox closes the
    /// session.
    pub fn push(&self, msg: Str, socket: &EngineSocket) {
        let len = msg.len();
        let fits = {
            let mut q = self.queue();
            let fits = q.0.len() < INBOX_PACKETS && q.1 + len <= INBOX_BYTES;
            if fits {
                q.0.push_back(msg);
                q.1 += len;
            }
            fits
        };
        if fits {
            self.arrived.notify_one();
        } else {
            tracing::debug!(sid = %socket.id, "socket.io client writes faster than it is read; closing");
            socket.close(DisconnectReason::TransportError);
        }
    }

    fn pop(&self) -> Option<Str> {
        let mut q = self.queue();
        let msg = q.0.pop_front()?;
        q.1 -= msg.len();
        Some(msg)
    }

    /// The engine closed the session.
    pub fn close(&self) {
        self.gone.store(true, Ordering::Release);
        self.arrived.notify_one();
    }
}

/// One Socket.IO connection: its engine socket and inbox. Dropping it
/// closes the engine session (if it is still open).
pub struct Link {
    socket: Arc<EngineSocket>,
    /// The session's kill switch, once the socket joined the namespace.
    kill: Arc<Kill>,
}

impl Link {
    pub fn new(socket: Arc<EngineSocket>) -> Link {
        Link {
            socket,
            kill: Arc::default(),
        }
    }

    /// The engine socket, e.g. for its handshake request.
    pub fn socket(&self) -> &EngineSocket {
        &self.socket
    }

    /// The link as its session's [`Wire`], stopped by `kill`.
    pub fn attach(mut self, kill: Arc<Kill>) -> Link {
        self.kill = kill;
        self
    }

    /// The next packet the client sent; `None` once the session is closed.
    /// Packets that arrived before the close are still read. Safe to
    /// cancel: a packet is taken only when it is returned.
    pub async fn next(&mut self) -> Option<Str> {
        let inbox = &self.socket.data;
        loop {
            if let Some(msg) = inbox.pop() {
                return Some(msg);
            }
            if inbox.gone.load(Ordering::Acquire) {
                return None;
            }
            // A push or the close stores a wakeup if nobody waits: none is
            // missed.
            inbox.arrived.notified().await;
        }
    }

    /// Queues one packet for the engine. A full engine buffer is waited on
    /// (the transport is writing) up to [`SEND_TIMEOUT`].
    pub async fn emit(&self, packet: impl Into<Str>) -> Result<(), Gone> {
        let mut packet = packet.into();
        let deadline = Instant::now() + SEND_TIMEOUT;
        let mut pause = Duration::from_millis(1);
        loop {
            match self.socket.emit(packet) {
                Ok(()) => return Ok(()),
                Err(TrySendError::Closed(_)) => return Err(Gone),
                Err(TrySendError::Full(p)) => packet = p,
            }
            if Instant::now() + pause > deadline {
                tracing::debug!(sid = %self.socket.id, "socket.io client stalled; closing");
                return Err(Gone);
            }
            tokio::select! {
                biased;
                _ = self.kill.killed() => return Err(Gone),
                _ = tokio::time::sleep(pause) => {}
            }
            pause = (pause * 2).min(SEND_RETRY_MAX);
        }
    }
}

/// A packet shared with other recipients, without a copy.
fn shared(packet: Utf8Bytes) -> Str {
    // SAFETY: `Str` requires valid UTF-8, which `Utf8Bytes` holds by
    // construction.
    unsafe { Str::from_bytes_unchecked(bytes::Bytes::from(packet)) }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.socket.close(DisconnectReason::ClosingServer);
    }
}

impl Wire for Link {
    const FRAMING: Framing = Framing::SocketIo;
    type Text = Str;

    /// Events (well-formed or not) go to the session; a `DISCONNECT` of the
    /// namespace ends it; anything else (acks, other namespaces, a second
    /// `CONNECT`) is [`Inbound::Control`].
    async fn read(&mut self) -> Inbound<Str> {
        let Some(msg) = self.next().await else {
            return Inbound::Gone;
        };
        match packet::decode(&msg) {
            Ok(Packet::Event { nsp, .. } | Packet::Binary { nsp, .. })
                if nsp == DEFAULT_NAMESPACE =>
            {
                Inbound::Text(msg)
            }
            Ok(Packet::Disconnect { nsp }) if nsp == DEFAULT_NAMESPACE => Inbound::Gone,
            Ok(_) => Inbound::Control,
            Err(_) => Inbound::Text(msg),
        }
    }

    fn parse(msg: &Str) -> Parsed<'_> {
        match packet::decode(msg) {
            Ok(Packet::Event { ack, args, .. }) => framing::parse(ack, args),
            Ok(Packet::Binary { ack, .. }) => Parsed {
                reference: ack.and_then(framing::ack_ref),
                event: Err(Refusal::binary_frame()),
            },
            _ => Parsed {
                reference: None,
                event: Err(Refusal::new(
                    ErrorCode::InvalidJson,
                    "not a Socket.IO packet",
                )),
            },
        }
    }

    async fn send<I>(&mut self, frames: I) -> Result<(), Gone>
    where
        I: IntoIterator<Item = Utf8Bytes> + Send,
        I::IntoIter: Send,
    {
        for frame in frames {
            // Every `/ws` frame is a JSON object; anything else is a stored
            // message already framed as a packet, shared with the room.
            let packet = if frame.as_str().starts_with('{') {
                Str::from(framing::packet(&frame))
            } else {
                shared(frame)
            };
            self.emit(packet).await?;
        }
        Ok(())
    }

    /// The engine pings the client and closes the session when a pong is
    /// missing; the session ends when it sees that close.
    async fn keepalive(&mut self) -> Result<(), Gone> {
        Ok(())
    }

    /// [`Close::Policy`] (bad input, a disabled account, a changed
    /// password) sends `DISCONNECT` first, so that the client does not
    /// reconnect by itself; any other close only ends the engine session,
    /// and the client reconnects (and resumes with `since`).
    async fn close(self, code: Close) {
        if code == Close::Policy {
            let _ = self.socket.emit(DISCONNECT);
        }
        // Dropping the link closes the engine session, after the packets
        // already queued.
    }
}
