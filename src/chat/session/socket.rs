//! Frames in and out of one WebSocket: batched writes under a timeout,
//! pings and dead-peer detection, the close handshake. Nothing here knows
//! what a frame means.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tokio::time::Interval;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{self, Message as WsMessage, Utf8Bytes};
use tokio_tungstenite::WebSocketStream;

use super::wire::{Gone, Inbound, Wire};
use crate::chat::conn::Kill;
use crate::chat::events::{self, Close, Framing, Parsed};

/// The socket type of a session.
pub type WebSocket = WebSocketStream<TokioIo<Upgraded>>;

/// Largest client message (all fragments together), per the contract.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;
/// tungstenite's read buffer. Its default (128 KiB, zero-filled) would cost
/// eight times our per-connection memory budget; frames larger than this
/// still arrive, the buffer grows for them.
pub const READ_BUFFER_BYTES: usize = 4 * 1024;
/// Frames are gathered up to this size and written with one system call.
pub const WRITE_BUFFER_BYTES: usize = 64 * 1024;
/// How often an idle peer is pinged.
const PING_EVERY: Duration = Duration::from_secs(15);
/// A peer silent this long (no frame, no pong) is dead; with pings every
/// 15 s it is found within 60 s.
const DEAD_AFTER: Duration = Duration::from_secs(40);
/// A send that cannot complete in this time means a stalled peer.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// Time the close frame gets to go out.
const CLOSE_SEND_TIMEOUT: Duration = Duration::from_secs(1);
/// Time the peer gets to answer the close handshake.
const CLOSE_ANSWER_TIMEOUT: Duration = Duration::from_millis(500);

/// The tungstenite settings of every connection.
pub fn config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(WRITE_BUFFER_BYTES)
        .max_write_buffer_size(1024 * 1024)
        .max_message_size(Some(MAX_MESSAGE_BYTES))
        .max_frame_size(Some(MAX_MESSAGE_BYTES))
}

/// The timer whose ticks call [`Socket::keepalive`]. It lives beside the
/// socket rather than in it, so that waiting for a tick and waiting for a
/// frame can be raced against each other.
pub fn ping_timer() -> Interval {
    tokio::time::interval_at(tokio::time::Instant::now() + PING_EVERY, PING_EVERY)
}

/// One WebSocket and when its peer was last heard from.
pub struct Socket {
    ws: WebSocket,
    kill: Arc<Kill>,
    last_seen: Instant,
    /// Whose connection this is, for the log.
    user: Arc<str>,
}

impl Socket {
    pub fn new(ws: WebSocket, kill: Arc<Kill>, user: Arc<str>) -> Socket {
        Socket {
            ws,
            kill,
            last_seen: Instant::now(),
            user,
        }
    }
}

impl Wire for Socket {
    const FRAMING: Framing = Framing::Ws;
    type Text = Utf8Bytes;

    /// Pings and pongs are [`Inbound::Control`]: tungstenite answers pings
    /// itself. A message over [`MAX_MESSAGE_BYTES`] is [`Inbound::TooBig`].
    async fn read(&mut self) -> Inbound<Utf8Bytes> {
        let incoming = self.ws.next().await;
        self.last_seen = Instant::now();
        match incoming {
            Some(Ok(WsMessage::Text(text))) => Inbound::Text(text),
            Some(Ok(WsMessage::Binary(_))) => Inbound::Binary,
            Some(Ok(WsMessage::Close(_))) | None => Inbound::Gone,
            Some(Ok(_)) => Inbound::Control,
            Some(Err(tungstenite::Error::Capacity(_))) => Inbound::TooBig,
            Some(Err(e)) => {
                tracing::debug!(error = %e, "websocket read error");
                Inbound::Gone
            }
        }
    }

    fn parse(text: &Utf8Bytes) -> Parsed<'_> {
        events::parse(text)
    }

    /// Writes frames and flushes once; a peer stalled past
    /// [`SEND_TIMEOUT`] is gone.
    async fn send<I>(&mut self, frames: I) -> Result<(), Gone>
    where
        I: IntoIterator<Item = Utf8Bytes> + Send,
        I::IntoIter: Send,
    {
        let mut frames = frames.into_iter().peekable();
        if frames.peek().is_none() {
            return Ok(());
        }
        let ws = &mut self.ws;
        let write = async {
            for f in frames {
                ws.feed(WsMessage::Text(f)).await?;
            }
            ws.flush().await
        };
        // The write is polled first: when the socket takes the frames at once
        // (the common case), neither the timer nor the kill signal is armed.
        let sent = tokio::select! {
            biased;
            r = tokio::time::timeout(SEND_TIMEOUT, write) => matches!(r, Ok(Ok(()))),
            _ = self.kill.killed() => false,
        };
        if sent {
            Ok(())
        } else {
            Err(Gone)
        }
    }

    /// At each tick of [`ping_timer`]: a peer silent past [`DEAD_AFTER`] is
    /// dead; any other is pinged.
    async fn keepalive(&mut self) -> Result<(), Gone> {
        if self.last_seen.elapsed() > DEAD_AFTER {
            tracing::debug!(user = %self.user, "peer silent too long; closing");
            return Err(Gone);
        }
        let ping = self.ws.send(WsMessage::Ping(Default::default()));
        match tokio::time::timeout(SEND_TIMEOUT, ping).await {
            Ok(Ok(())) => Ok(()),
            _ => Err(Gone),
        }
    }

    /// Sends the close frame and gives the peer a moment to answer it.
    async fn close(mut self, code: Close) {
        let frame = CloseFrame {
            code: CloseCode::from(code.code()),
            reason: Utf8Bytes::from_static(""),
        };
        let _ = tokio::time::timeout(
            CLOSE_SEND_TIMEOUT,
            self.ws.send(WsMessage::Close(Some(frame))),
        )
        .await;
        let _ = tokio::time::timeout(CLOSE_ANSWER_TIMEOUT, async {
            while let Some(Ok(_)) = self.ws.next().await {}
        })
        .await;
    }
}
