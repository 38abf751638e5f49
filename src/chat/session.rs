//! One WebSocket connection's life: read frames, answer each `ref` once,
//! forward the hub's queue, keep the peer alive, close with the right code.
//!
//! A session never touches sled for writes and never waits on another
//! connection: messages go to the writer, deliveries come from the hub
//! through this connection's bounded queue.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use futures_util::stream::FuturesOrdered;
use futures_util::{FutureExt, SinkExt, StreamExt};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{self, Message as WsMessage, Utf8Bytes};
use tokio_tungstenite::WebSocketStream;

use super::events::{self, ErrorCode, JoinAck, JoinRoom, RoomRef, SendAck, SendMessage};
use super::hub::{Conn, Kill, Outbound};
use super::writer::{Outgoing, Reply, WriteFailed};
use crate::app::{App, AuthUser};
use crate::model::{MessageId, RoomId, RoomView};
use crate::throttle::Bucket;
use crate::validate;

/// The socket type of a session.
pub type Socket = WebSocketStream<TokioIo<Upgraded>>;

/// Queue items (stored batches or single events) a connection may have
/// waiting; past this, or past the hub's frame and byte bounds, it counts
/// as too slow (1013).
pub const QUEUE: usize = 4096;
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
/// Errors (bad input, rate limit) tolerated within [`STRIKE_WINDOW`]
/// before the connection is closed with 1008.
const MAX_STRIKES: u32 = 50;
const STRIKE_WINDOW: Duration = Duration::from_secs(10);
/// `leaveRoom` frames (and `joinRoom` frames for a room the connection is
/// already in) a connection may send at once before `--join-rate` applies.
/// Joining a room the connection is not in is free: a client joins every
/// room it lists when it connects (the web client does), and a server may
/// list more rooms than any burst, but the connection can only join a room
/// again after leaving it, so charging leaves bounds the flapping.
pub const JOIN_BURST: f64 = 50.0;
/// Messages read from disk per step of a catch-up.
const CATCHUP_PAGE: usize = 256;
/// Queued frames written before one flush.
const WRITE_BATCH: usize = 256;

const CLOSE_GOING_AWAY: u16 = 1001;
const CLOSE_POLICY: u16 = 1008;
const CLOSE_TOO_BIG: u16 = 1009;
const CLOSE_INTERNAL: u16 = 1011;

/// The tungstenite settings of every connection.
pub fn socket_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(WRITE_BUFFER_BYTES)
        .max_write_buffer_size(1024 * 1024)
        .max_message_size(Some(MAX_MESSAGE_BYTES))
        .max_frame_size(Some(MAX_MESSAGE_BYTES))
}

type PendingAck = Pin<Box<dyn Future<Output = (Option<Box<RawValue>>, Reply)> + Send>>;

/// Why the loop ended, and with which close code (if one should be sent).
enum End {
    Close(u16),
    Gone,
}

struct Session {
    app: App,
    user: AuthUser,
    conn: Conn,
    /// Joined rooms in join order (the last is the "current room"), each
    /// with whether it is private.
    joined: Vec<(RoomId, bool)>,
    /// After a catch-up: ids up to this were sent from disk, skip them live.
    floors: HashMap<RoomId, MessageId>,
    strikes: u32,
    strike_window_start: Instant,
    last_seen: Instant,
    /// The `--join-rate` (joins a second) and its bucket; `None` when off.
    join_limit: Option<(f64, Bucket)>,
}

/// Runs a connection until it closes.
pub async fn run(app: App, mut ws: Socket, user: AuthUser) {
    let (conn, mut rx) = Conn::new(
        app.hub.next_conn_id(),
        user.id,
        user.username.as_str().into(),
        QUEUE,
    );
    let kill = conn.kill.clone();
    app.hub.register(conn.clone());
    // Registered first, checked second: a password change or a disable
    // stores its change before closing the registered connections, so one
    // of the two always sees this connection.
    if !app.still_valid(&user) {
        kill.kill(CLOSE_POLICY);
    }
    let mut s = Session {
        app: app.clone(),
        user,
        conn,
        joined: Vec::new(),
        floors: HashMap::new(),
        strikes: 0,
        strike_window_start: Instant::now(),
        last_seen: Instant::now(),
        join_limit: app
            .settings
            .join_rate
            .map(|rate| (rate, Bucket::full(JOIN_BURST))),
    };
    let mut pending: FuturesOrdered<PendingAck> = FuturesOrdered::new();
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + PING_EVERY, PING_EVERY);
    let mut reading = !app.shutdown.stop_reading.is_cancelled();
    // Made once and polled in place: a fresh cancellation future per loop
    // turn would register and unregister a waiter on every wakeup, which
    // showed up in profiles of the fan-out.
    let killed = kill.killed();
    let close_sockets = app.shutdown.close_sockets.cancelled();
    let stop_reading = app.shutdown.stop_reading.cancelled();
    tokio::pin!(killed, close_sockets, stop_reading);

    let end = loop {
        tokio::select! {
            biased;
            code = &mut killed => break End::Close(code),
            _ = &mut close_sockets => {
                // The writer drained before this phase: every pending ack is
                // ready, and every stored message is in the queue.
                let mut frames = Vec::new();
                while let Some(Some((reference, reply))) = pending.next().now_or_never() {
                    frames.extend(ack_frame(reference, reply));
                }
                while let Ok(item) = rx.try_recv() {
                    s.outbound(item, &mut frames);
                }
                if !send_frames(&mut ws, &kill, frames).await {
                    break End::Gone;
                }
                break End::Close(CLOSE_GOING_AWAY);
            }
            Some((reference, reply)) = pending.next(), if !pending.is_empty() => {
                if let Some(f) = ack_frame(reference, reply) {
                    if !send_frames(&mut ws, &kill, vec![f]).await {
                        break End::Gone;
                    }
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
                if !send_frames(&mut ws, &kill, frames).await {
                    break End::Gone;
                }
            }
            _ = &mut stop_reading, if reading => reading = false,
            incoming = ws.next(), if reading => {
                s.last_seen = Instant::now();
                match incoming {
                    Some(Ok(WsMessage::Text(text))) => {
                        match s.on_text(&text, &mut pending).await {
                            Step::Reply(frames) => {
                                if !send_frames(&mut ws, &kill, frames).await {
                                    break End::Gone;
                                }
                            }
                            Step::JoinWithCatchUp { ack, room, since } => {
                                if !send_frames(&mut ws, &kill, ack.into_iter().collect()).await {
                                    break End::Gone;
                                }
                                match s.catch_up(&mut ws, &kill, room, since).await {
                                    Ok(()) => {}
                                    Err(end) => break end,
                                }
                            }
                        }
                    }
                    Some(Ok(WsMessage::Binary(_))) => {
                        s.strike();
                        let f = events::error(ErrorCode::InvalidJson, "frames must be JSON text", None);
                        if !send_frames(&mut ws, &kill, vec![f]).await {
                            break End::Gone;
                        }
                    }
                    Some(Ok(WsMessage::Close(_))) | None => break End::Gone,
                    Some(Ok(_)) => {} // ping/pong: tungstenite answers pings itself
                    Some(Err(tungstenite::Error::Capacity(_))) => break End::Close(CLOSE_TOO_BIG),
                    Some(Err(e)) => {
                        tracing::debug!(error = %e, "websocket read error");
                        break End::Gone;
                    }
                }
                // Whatever the bad frame was (text or binary), its strike
                // counts toward the same close.
                if s.strikes > MAX_STRIKES {
                    break End::Close(CLOSE_POLICY);
                }
            }
            _ = ping.tick() => {
                if s.last_seen.elapsed() > DEAD_AFTER {
                    tracing::debug!(user = %s.user.username, "peer silent too long; closing");
                    break End::Gone;
                }
                let ok = tokio::time::timeout(SEND_TIMEOUT, ws.send(WsMessage::Ping(Default::default()))).await;
                if !matches!(ok, Ok(Ok(()))) {
                    break End::Gone;
                }
            }
        }
    };

    let rooms: Vec<RoomId> = s.joined.iter().map(|(r, _)| *r).collect();
    app.hub.unregister(s.conn.id, &rooms);
    if let End::Close(code) = end {
        let frame = CloseFrame {
            code: CloseCode::from(code),
            reason: Utf8Bytes::from_static(""),
        };
        let _ = tokio::time::timeout(
            Duration::from_secs(1),
            ws.send(WsMessage::Close(Some(frame))),
        )
        .await;
        // Give the peer a moment to answer the close handshake.
        let _ = tokio::time::timeout(Duration::from_millis(500), async {
            while let Some(Ok(_)) = ws.next().await {}
        })
        .await;
    }
}

/// The answer to a `sendMessage` once the writer replied: an ack (only if
/// the client gave a `ref`) or an `internal` error.
fn ack_frame(reference: Option<Box<RawValue>>, reply: Reply) -> Option<Utf8Bytes> {
    match reply {
        Ok(m) => reference.as_deref().map(|r| {
            events::frame(
                "ack",
                SendAck {
                    id: m.id,
                    timestamp: m.timestamp,
                },
                Some(r),
            )
        }),
        Err(WriteFailed) => Some(events::error(
            ErrorCode::Internal,
            "the message could not be stored; it was not sent",
            reference.as_deref(),
        )),
    }
}

/// Writes frames and flushes once; false if the peer is gone, stalled past
/// [`SEND_TIMEOUT`], or the connection was killed meanwhile.
async fn send_frames(ws: &mut Socket, kill: &Kill, frames: Vec<Utf8Bytes>) -> bool {
    if frames.is_empty() {
        return true;
    }
    let write = async {
        for f in frames {
            ws.feed(WsMessage::Text(f)).await?;
        }
        ws.flush().await
    };
    // The write is polled first: when the socket takes the frames at once
    // (the common case), neither the timer nor the kill signal is armed.
    tokio::select! {
        biased;
        r = tokio::time::timeout(SEND_TIMEOUT, write) => matches!(r, Ok(Ok(()))),
        _ = kill.killed() => false,
    }
}

/// What the loop should do after one client frame.
enum Step {
    Reply(Vec<Utf8Bytes>),
    JoinWithCatchUp {
        /// `None` when the frame had no `ref`: the contract acks only those.
        ack: Option<Utf8Bytes>,
        room: RoomId,
        since: MessageId,
    },
}

/// A handler's refusal: the error frame's code and message.
type Refusal = (ErrorCode, String);

fn refuse<T>(code: ErrorCode, msg: impl Into<String>) -> Result<T, Refusal> {
    Err((code, msg.into()))
}

fn parse_data<T: DeserializeOwned>(data: Option<&RawValue>) -> Result<T, Refusal> {
    let Some(raw) = data else {
        return refuse(ErrorCode::ValidationFailed, "missing data");
    };
    // serde would also read an array as the fields in order; data is an object.
    if !raw.get().trim_start().starts_with('{') {
        return refuse(ErrorCode::ValidationFailed, "data must be an object");
    }
    serde_json::from_str(raw.get())
        .map_err(|e| (ErrorCode::ValidationFailed, format!("invalid data: {e}")))
}

impl Session {
    fn strike(&mut self) {
        if self.strike_window_start.elapsed() > STRIKE_WINDOW {
            self.strike_window_start = Instant::now();
            self.strikes = 0;
        }
        self.strikes += 1;
    }

    /// Turns one queued item into the frames to send.
    fn outbound(&mut self, item: Outbound, out: &mut Vec<Utf8Bytes>) {
        self.conn.release(&item);
        match item {
            Outbound::Messages { room, frames, .. } => {
                let floor = self.floors.get(&room).copied();
                if !self.joined.iter().any(|(r, _)| *r == room) {
                    return; // left the room after this batch was queued
                }
                for (id, frame) in frames.iter() {
                    if floor.is_some_and(|f| *id <= f) {
                        continue;
                    }
                    out.push(frame.clone());
                }
                if floor.is_some_and(|f| frames.last().is_some_and(|(id, _)| *id > f)) {
                    self.floors.remove(&room);
                }
            }
            Outbound::Event(frame) => out.push(frame),
            Outbound::Unsubscribed { room, frame } => {
                self.joined.retain(|(r, _)| *r != room);
                self.floors.remove(&room);
                out.push(frame);
            }
        }
    }

    async fn on_text(&mut self, text: &str, pending: &mut FuturesOrdered<PendingAck>) -> Step {
        // serde would also read an array as the fields in order; a frame is an object.
        if !text.trim_start().starts_with('{') {
            self.strike();
            let f = events::error(ErrorCode::InvalidJson, "frames must be JSON objects", None);
            return Step::Reply(vec![f]);
        }
        let frame: events::ClientFrame<'_> = match serde_json::from_str(text) {
            Ok(f) => f,
            Err(_) => {
                self.strike();
                // An object that is not a well-formed frame still gets its
                // ref back; keys are owned so that escaped ones still match.
                let f = match serde_json::from_str::<HashMap<String, &RawValue>>(text) {
                    Ok(obj) => events::error(
                        ErrorCode::ValidationFailed,
                        "a frame is {\"event\": string, \"data\": object, \"ref\"?}",
                        obj.get("ref").copied(),
                    ),
                    Err(_) => {
                        events::error(ErrorCode::InvalidJson, "frames must be JSON objects", None)
                    }
                };
                return Step::Reply(vec![f]);
            }
        };
        let reference = frame.reference;
        let result = match &*frame.event {
            "joinRoom" => match self.join(frame.data).await {
                Ok((ack, Some(since))) => {
                    let ack = reference.map(|r| events::frame("ack", ack, Some(r)));
                    return Step::JoinWithCatchUp {
                        ack,
                        room: self.current().unwrap_or(RoomId(0)),
                        since,
                    };
                }
                Ok((ack, None)) => Ok(reference.map(|r| events::frame("ack", ack, Some(r)))),
                Err(e) => Err(e),
            },
            "leaveRoom" => self
                .leave(frame.data)
                .map(|()| reference.map(|r| events::frame("ack", events::Empty {}, Some(r)))),
            "typing" => self
                .typing(frame.data)
                .map(|()| reference.map(|r| events::frame("ack", events::Empty {}, Some(r)))),
            "sendMessage" => match self.send_message(frame.data).await {
                Ok(rx) => {
                    let owned = reference.map(|r| r.to_owned());
                    pending.push_back(Box::pin(async move {
                        let reply = rx.await.unwrap_or(Err(WriteFailed));
                        (owned, reply)
                    }));
                    Ok(None)
                }
                Err(e) => Err(e),
            },
            other => refuse(ErrorCode::UnknownEvent, format!("unknown event {other:?}")),
        };
        match result {
            Ok(Some(f)) => Step::Reply(vec![f]),
            Ok(None) => Step::Reply(Vec::new()),
            Err((code, msg)) => {
                self.strike();
                Step::Reply(vec![events::error(code, &msg, reference)])
            }
        }
    }

    fn current(&self) -> Option<RoomId> {
        self.joined.last().map(|(r, _)| *r)
    }

    fn joined_room(&self, room_id: &str) -> Result<(RoomId, bool), Refusal> {
        let id: Option<RoomId> = room_id.parse().ok();
        match self.joined.iter().find(|(r, _)| Some(*r) == id) {
            Some(j) => Ok(*j),
            None => refuse(
                ErrorCode::NotJoined,
                "this connection has not joined that room",
            ),
        }
    }

    async fn join(
        &mut self,
        data: Option<&RawValue>,
    ) -> Result<(JoinAck, Option<MessageId>), Refusal> {
        let req: JoinRoom = parse_data(data)?;
        let id: Option<RoomId> = req.room_id.parse().ok();
        let again = self.joined.iter().any(|(r, _)| Some(*r) == id);
        if again {
            self.take_join_token()?;
        }
        let store = &self.app.store;
        let internal = |e: crate::store::StoreError| (ErrorCode::Internal, e.to_string());
        let room = match req.room_id.parse::<RoomId>() {
            Ok(id) => store.room(id).map_err(internal)?,
            Err(_) => None,
        };
        let Some(room) = room else {
            return refuse(ErrorCode::NotFound, "no such room");
        };
        if room.private && !store.is_member(room.id, self.user.id).map_err(internal)? {
            return refuse(ErrorCode::NotFound, "no such room");
        }
        let since = match &req.since {
            None => None,
            Some(s) => {
                let id = s.parse::<MessageId>().ok();
                match id {
                    Some(id) if store.message(room.id, id).map_err(internal)?.is_some() => Some(id),
                    _ => {
                        return refuse(
                            ErrorCode::ValidationFailed,
                            "since must be the id of a message of this room",
                        )
                    }
                }
            }
        };
        // Subscribe before reading history: live messages queue up from
        // here on, and the floor set by the catch-up drops the overlap.
        let users = self.app.hub.join(room.id, &self.conn);
        self.joined.retain(|(r, _)| *r != room.id);
        self.joined.push((room.id, room.private));
        let online = users.len();
        Ok((
            JoinAck {
                room: RoomView::new(&room, online),
                users,
            },
            since,
        ))
    }

    /// Sends every message after `since` from disk, page by page, then
    /// records the last id sent so that queued live copies are skipped.
    async fn catch_up(
        &mut self,
        ws: &mut Socket,
        kill: &Kill,
        room: RoomId,
        since: MessageId,
    ) -> Result<(), End> {
        let mut cursor = since;
        loop {
            let store = self.app.store.clone();
            let page =
                tokio::task::spawn_blocking(move || store.after(room, cursor, CATCHUP_PAGE)).await;
            let page = match page {
                Ok(Ok(p)) => p,
                Ok(Err(e)) => {
                    tracing::error!(error = %e, "reading history for a resume failed");
                    return Err(End::Close(CLOSE_INTERNAL));
                }
                Err(_) => return Err(End::Close(CLOSE_INTERNAL)),
            };
            let Some(last) = page.messages.last().map(|m| m.id) else {
                break;
            };
            let frames = page.messages.iter().map(events::receive_message).collect();
            if !send_frames(ws, kill, frames).await {
                return Err(End::Gone);
            }
            cursor = last;
            self.floors.insert(room, last);
            if !page.has_more {
                break;
            }
        }
        Ok(())
    }

    fn leave(&mut self, data: Option<&RawValue>) -> Result<(), Refusal> {
        let req: RoomRef = parse_data(data)?;
        self.take_join_token()?;
        let (room, _) = self.joined_room(&req.room_id)?;
        self.app.hub.leave(room, self.conn.id);
        self.joined.retain(|(r, _)| *r != room);
        self.floors.remove(&room);
        Ok(())
    }

    /// One token of the `--join-rate` bucket, or `rate_limited`.
    fn take_join_token(&mut self) -> Result<(), Refusal> {
        if let Some((rate, bucket)) = &mut self.join_limit {
            if bucket.take(*rate, JOIN_BURST).is_err() {
                return refuse(
                    ErrorCode::RateLimited,
                    "joining and leaving rooms too fast; slow down",
                );
            }
        }
        Ok(())
    }

    fn typing(&mut self, data: Option<&RawValue>) -> Result<(), Refusal> {
        let req: RoomRef = parse_data(data)?;
        let (room, _) = self.joined_room(&req.room_id)?;
        self.app.hub.typing(room, self.user.id, &self.user.username);
        Ok(())
    }

    async fn send_message(
        &mut self,
        data: Option<&RawValue>,
    ) -> Result<tokio::sync::oneshot::Receiver<Reply>, Refusal> {
        let req: SendMessage = parse_data(data)?;
        let (room, private) = match &req.room_id {
            Some(id) => self.joined_room(id)?,
            None => match self.joined.last() {
                Some(j) => *j,
                None => return refuse(ErrorCode::NotJoined, "join a room first"),
            },
        };
        validate::message(&req.message).map_err(|m| (ErrorCode::ValidationFailed, m))?;
        if private
            && !self
                .app
                .store
                .is_member(room, self.user.id)
                .map_err(|e| (ErrorCode::Internal, e.to_string()))?
        {
            return refuse(
                ErrorCode::NotJoined,
                "you are no longer a member of that room",
            );
        }
        if let Some(limits) = &self.app.send_limits {
            if !limits.try_take(&self.user.id) {
                return refuse(ErrorCode::RateLimited, "sending too fast; slow down");
            }
        }
        let msg = Outgoing {
            room_id: room,
            user_id: self.user.id,
            user: self.user.username.clone(),
            message: req.message,
        };
        self.app.writer.submit(msg).await.map_err(|_| {
            (
                ErrorCode::Internal,
                "the server is shutting down".to_owned(),
            )
        })
    }
}
