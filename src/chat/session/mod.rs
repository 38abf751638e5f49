//! One connection's life: read frames, answer each `ref` once, forward the
//! hub's queue, keep the peer alive, close with the right code.
//!
//! It reads in two parts, as a connection and its commands do: a [`Wire`]
//! moves frames in and out (batched writes, pings, dead peers, the close),
//! and [`state`] says what a [`ClientEvent`](crate::chat::events::ClientEvent)
//! means and what to send back. [`serve`] is the loop between the two, the
//! same for both doors: `/ws` ([`socket`]) and Socket.IO
//! ([`crate::chat::socketio`]) differ only in their `Wire`.
//!
//! A session never touches sled for writes and never waits on another
//! connection: messages go to the writer, deliveries come from the hub
//! through this connection's bounded queue.

mod socket;
mod state;
mod wire;

use std::sync::Arc;

use futures_util::stream::FuturesOrdered;
use futures_util::{FutureExt, StreamExt};
use tokio_util::sync::CancellationToken;

use super::conn::{Conn, Kill};
use super::events::{Close, Parsed, Refusal};
use super::hub::Hub;
use super::writer::Writer;
use crate::model::{MessageId, RoomId, UserId};
use crate::store::Store;
use crate::throttle::TokenBuckets;
use socket::Socket;
pub use socket::{config as socket_config, WebSocket, MAX_MESSAGE_BYTES};
use state::{PendingAck, State, Step};
pub use wire::{Gone, Inbound, Wire};

/// Queue items (stored batches or single events) a connection may have
/// waiting; past this, or past the hub's frame and byte bounds, it counts
/// as too slow ([`Close::Slow`]).
pub const QUEUE: usize = 4096;
/// Queued frames written before one flush.
const WRITE_BATCH: usize = 256;

/// What a session uses of the server, and nothing more.
#[derive(Clone)]
pub struct Handles {
    /// Read only: rooms, membership, history for a catch-up.
    pub store: Store,
    pub hub: Hub,
    /// The only way a message is stored.
    pub writer: Writer,
    /// Per-user message rate limit; `None` when turned off.
    pub send_limits: Option<TokenBuckets<UserId>>,
    /// `--join-rate`, joins a second per connection; `None` when off.
    pub join_rate: Option<f64>,
    /// Shutdown, phase one: stop reading client frames.
    pub stop_reading: CancellationToken,
    /// Shutdown, phase two: send what is queued, close as going away.
    pub close_sockets: CancellationToken,
}

/// The user a connection belongs to, as authenticated at the upgrade.
pub struct Caller {
    pub id: UserId,
    pub username: String,
}

/// Why the loop ended, and with which close code (if one should be sent).
enum End {
    Close(Close),
    Gone,
}

/// Runs a `/ws` connection until it closes; see [`serve`].
pub async fn run(h: Handles, ws: WebSocket, user: Caller, still_valid: impl FnOnce() -> bool) {
    serve(h, user, still_valid, |kill, name| {
        Socket::new(ws, kill, name)
    })
    .await;
}

/// Runs a connection until it closes. `still_valid` tells whether the
/// caller's credentials still hold; it is asked once, after the
/// connection is registered with the hub. `open` makes the door's
/// [`Wire`] from the connection's kill switch (a stalled send gives up
/// when it fires) and its user's name (for the log).
pub async fn serve<W: Wire>(
    h: Handles,
    user: Caller,
    still_valid: impl FnOnce() -> bool,
    open: impl FnOnce(Arc<Kill>, Arc<str>) -> W,
) {
    let (conn, mut rx) = Conn::new(
        h.hub.next_conn_id(),
        user.id,
        user.username.as_str().into(),
        QUEUE,
    );
    let kill = conn.kill.clone();
    h.hub.register(conn.clone());
    // Registered first, checked second: a password change or a disable
    // stores its change before closing the registered connections, so one
    // of the two always sees this connection.
    if !still_valid() {
        kill.kill(Close::Policy);
    }
    let mut socket = open(kill.clone(), conn.username.clone());
    let shutdown = (h.stop_reading.clone(), h.close_sockets.clone());
    let mut s = State::new(h, user, conn, W::FRAMING);
    let mut pending: FuturesOrdered<PendingAck> = FuturesOrdered::new();
    let mut ping = socket::ping_timer();
    let mut reading = !shutdown.0.is_cancelled();
    // Made once and polled in place: a fresh cancellation future per loop
    // turn would register and unregister a waiter on every wakeup, which
    // showed up in profiles of the fan-out.
    let killed = kill.killed();
    let stop_reading = shutdown.0.cancelled();
    let close_sockets = shutdown.1.cancelled();
    tokio::pin!(killed, close_sockets, stop_reading);

    let end = loop {
        tokio::select! {
            biased;
            code = &mut killed => break End::Close(code),
            _ = &mut close_sockets => {
                // The writer drained before this phase: every pending ack is
                // ready, and every stored message is in the queue.
                let mut frames = Vec::new();
                while let Some(Some(answer)) = pending.next().now_or_never() {
                    frames.extend(answer);
                }
                while let Ok(item) = rx.try_recv() {
                    s.outbound(item, &mut frames);
                }
                if socket.send(frames).await.is_err() {
                    break End::Gone;
                }
                break End::Close(Close::GoingAway);
            }
            Some(answer) = pending.next(), if !pending.is_empty() => {
                if socket.send(answer).await.is_err() {
                    break End::Gone;
                }
            }
            Some(item) = rx.recv() => {
                let mut frames = Vec::with_capacity(8);
                s.outbound(item, &mut frames);
                while frames.len() < WRITE_BATCH {
                    match rx.try_recv() {
                        Ok(item) => s.outbound(item, &mut frames),
                        Err(_) => break,
                    }
                }
                if socket.send(frames).await.is_err() {
                    break End::Gone;
                }
            }
            _ = &mut stop_reading, if reading => reading = false,
            incoming = socket.read(), if reading => {
                let parsed = match &incoming {
                    Inbound::Text(text) => W::parse(text),
                    Inbound::Binary => Parsed {
                        reference: None,
                        event: Err(Refusal::binary_frame()),
                    },
                    Inbound::Control => continue,
                    Inbound::TooBig => break End::Close(Close::TooBig),
                    Inbound::Gone => break End::Gone,
                };
                let sent = match s.apply(parsed).await {
                    Step::Reply(frame) => socket.send(frame).await.map_err(|_| End::Gone),
                    Step::Pending(answer) => {
                        pending.push_back(answer);
                        Ok(())
                    }
                    Step::CatchUp { ack, room, since } => match socket.send(ack).await {
                        Ok(()) => catch_up(&mut s, &mut socket, room, since).await,
                        Err(_) => Err(End::Gone),
                    },
                };
                if let Err(end) = sent {
                    break end;
                }
                // Whatever the bad frame was (text or binary), its strike
                // counts toward the same close.
                if s.struck_out() {
                    break End::Close(Close::Policy);
                }
            }
            _ = ping.tick() => {
                if socket.keepalive().await.is_err() {
                    break End::Gone;
                }
            }
        }
    };

    s.finish();
    if let End::Close(code) = end {
        socket.close(code).await;
    }
}

/// Sends every message of `room` after `since` from disk, page by page;
/// the state records the last id sent, so that queued live copies are
/// skipped.
async fn catch_up<W: Wire>(
    s: &mut State,
    socket: &mut W,
    room: RoomId,
    since: MessageId,
) -> Result<(), End> {
    let mut cursor = since;
    loop {
        let page = match s.history_after(room, cursor).await {
            Ok(Some(page)) => page,
            Ok(None) => return Ok(()),
            Err(_) => return Err(End::Close(Close::Internal)),
        };
        socket.send(page.frames).await.map_err(|_| End::Gone)?;
        cursor = page.last;
        if !page.has_more {
            return Ok(());
        }
    }
}
