//! Packets in and out of one Engine.IO session: the bounded inbox the
//! engine's callbacks fill, and the [`Wire`] the session's loop drives.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use engineioxide::{DisconnectReason, Socket, Str};
use tokio::sync::mpsc::{self, error::TrySendError};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Utf8Bytes;
use tokio_util::sync::CancellationToken;

use super::packet::{self, Packet, DEFAULT_NAMESPACE, DISCONNECT};
use crate::chat::conn::Kill;
use crate::chat::events::{socketio as framing, Close, ErrorCode, Parsed, Refusal};
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

/// What a session keeps in its engine socket: the sending end of its
/// inbox, and whether the engine closed the session.
#[derive(Debug, Default)]
pub struct Inbox {
    tx: OnceLock<mpsc::Sender<Str>>,
    /// Bytes of the packets waiting in the inbox.
    bytes: AtomicUsize,
    /// Cancelled once the engine closed the session, for whatever reason
    /// (the client left, missed its pongs, or broke the protocol).
    gone: CancellationToken,
}

/// An engine socket of this server.
pub type EngineSocket = Socket<Inbox>;

impl Inbox {
    /// Opens the inbox; called once, when the engine opens the session.
    pub fn open(&self) -> mpsc::Receiver<Str> {
        let (tx, rx) = mpsc::channel(INBOX_PACKETS);
        let _ = self.tx.set(tx);
        rx
    }

    /// A packet from the client; one that overflows the inbox closes the
    /// session.
    pub fn push(&self, msg: Str, socket: &EngineSocket) {
        let Some(tx) = self.tx.get() else { return };
        let len = msg.len();
        let queued = self.bytes.fetch_add(len, Ordering::AcqRel) + len;
        if queued > INBOX_BYTES || tx.try_send(msg).is_err() {
            tracing::debug!(sid = %socket.id, "socket.io client writes faster than it is read; closing");
            socket.close(DisconnectReason::TransportError);
        }
    }

    /// The engine closed the session.
    pub fn close(&self) {
        self.gone.cancel();
    }
}

/// One Socket.IO connection: its engine socket and inbox. Dropping it
/// closes the engine session (if it is still open).
pub struct Link {
    socket: Arc<EngineSocket>,
    rx: mpsc::Receiver<Str>,
    /// The session's kill switch, once the socket joined the namespace.
    kill: Arc<Kill>,
}

impl Link {
    pub fn new(socket: Arc<EngineSocket>, rx: mpsc::Receiver<Str>) -> Link {
        Link {
            socket,
            rx,
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
    /// Packets that arrived before the close are still read.
    pub async fn next(&mut self) -> Option<Str> {
        let inbox = &self.socket.data;
        let msg = tokio::select! {
            biased;
            msg = self.rx.recv() => msg,
            _ = inbox.gone.cancelled() => None,
        }?;
        inbox.bytes.fetch_sub(msg.len(), Ordering::AcqRel);
        Some(msg)
    }

    /// Queues one packet for the engine. A full engine buffer is waited on
    /// (the transport is writing) up to [`SEND_TIMEOUT`].
    pub async fn emit(&self, packet: String) -> Result<(), Gone> {
        let mut packet = Str::from(packet);
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

impl Drop for Link {
    fn drop(&mut self) {
        self.socket.close(DisconnectReason::ClosingServer);
    }
}

impl Wire for Link {
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
            self.emit(framing::packet(&frame)).await?;
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
