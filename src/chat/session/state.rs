//! What a connection's frames mean: the rooms it joined, its limits, and
//! the answer to each [`ClientEvent`]. Nothing here touches the socket;
//! every method says what to send and the session's loop sends it.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use serde_json::value::RawValue;
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::Utf8Bytes;

use super::{Caller, Handles};
use crate::chat::conn::{Conn, Outbound};
use crate::chat::events::{
    self, ClientEvent, ErrorCode, Framing, JoinRoom, MarkRead, Parsed, Refusal, RoomRef,
    SendMessage, Typing, Visibility,
};
use crate::chat::mentions;
use crate::chat::writer::{NotSent, Outgoing, Reply};
use crate::model::{FileId, MessageId, RoomId, RoomView};
use crate::store::{self, StoreError};
use crate::throttle::Bucket;
use crate::validate;

mod reads;

/// Errors (bad input, rate limit) tolerated within [`STRIKE_WINDOW`]
/// before the connection is closed with [`events::Close::Policy`].
const MAX_STRIKES: u32 = 50;
const STRIKE_WINDOW: Duration = Duration::from_secs(10);
/// `leaveRoom` frames (and `joinRoom` frames for a room the connection is
/// already in) a connection may send at once before `--join-rate` applies.
/// Joining a room the connection is not in is free: a client joins every
/// room it lists when it connects (the web client does), and a server may
/// list more rooms than any burst, but the connection can only join a room
/// again after leaving it, so charging leaves bounds the flapping.
const JOIN_BURST: f64 = 50.0;
/// Messages read from disk per step of a catch-up.
const CATCHUP_PAGE: usize = 256;

/// The answer to a `sendMessage`, ready once the writer replied.
pub type PendingAck = Pin<Box<dyn Future<Output = Option<Utf8Bytes>> + Send>>;

/// What the loop should send after one client frame.
pub enum Step {
    /// This frame, if any (the contract acks only frames with a `ref`).
    Reply(Option<Utf8Bytes>),
    /// The answer once the message is stored, in the order sent.
    Pending(PendingAck),
    /// The ack, then the room's messages after `since` from disk.
    CatchUp {
        ack: Option<Utf8Bytes>,
        room: RoomId,
        since: MessageId,
    },
}

/// One page of a catch-up: its frames and the id of its last message.
pub struct Page {
    pub frames: Vec<Utf8Bytes>,
    pub last: MessageId,
    pub has_more: bool,
}

/// A catch-up could not read the room's history (logged where it failed).
#[derive(Debug)]
pub struct HistoryFailed;

/// A successful `joinRoom`.
struct Joined {
    view: RoomView,
    users: Vec<String>,
    since: Option<MessageId>,
}

pub struct State {
    h: Handles,
    user: Caller,
    conn: Conn,
    /// Joined rooms in join order (the last is the "current room"), each
    /// with whether it is private.
    joined: Vec<(RoomId, bool)>,
    /// After a catch-up: ids up to this were sent from disk, skip them live.
    floors: HashMap<RoomId, MessageId>,
    strikes: u32,
    strike_window_start: Instant,
    /// The `--join-rate` (joins a second) and its bucket; `None` when off.
    join_limit: Option<(f64, Bucket)>,
    /// The door's framing, in which stored messages are taken from the
    /// hub's shared batches.
    framing: Framing,
}

fn refuse<T>(code: ErrorCode, msg: impl Into<String>) -> Result<T, Refusal> {
    Err(Refusal::new(code, msg))
}

fn internal(e: StoreError) -> Refusal {
    Refusal::new(ErrorCode::Internal, e.to_string())
}

/// The answer to a `sendMessage` once the writer replied: an ack (only if
/// the client gave a `ref`), an `invalid_attachment` or an `internal` error.
fn answer(reference: Option<Box<RawValue>>, reply: Reply) -> Option<Utf8Bytes> {
    match reply {
        Ok(m) => reference.as_deref().map(|r| events::send_ack(&m, r)),
        Err(NotSent::Refused(why)) => Some(events::error(
            &Refusal::new(ErrorCode::InvalidAttachment, why.0),
            reference.as_deref(),
        )),
        Err(NotSent::Failed) => Some(events::error(
            &Refusal::new(
                ErrorCode::Internal,
                "the message could not be stored; it was not sent",
            ),
            reference.as_deref(),
        )),
    }
}

impl State {
    pub fn new(h: Handles, user: Caller, conn: Conn, framing: Framing) -> State {
        let join_limit = h.join_rate.map(|rate| (rate, Bucket::full(JOIN_BURST)));
        State {
            h,
            user,
            conn,
            joined: Vec::new(),
            floors: HashMap::new(),
            strikes: 0,
            strike_window_start: Instant::now(),
            join_limit,
            framing,
        }
    }

    /// Whether the connection sent too much bad input to go on.
    pub fn struck_out(&self) -> bool {
        self.strikes > MAX_STRIKES
    }

    fn strike(&mut self) {
        if self.strike_window_start.elapsed() > STRIKE_WINDOW {
            self.strike_window_start = Instant::now();
            self.strikes = 0;
        }
        self.strikes += 1;
    }

    /// Takes the connection out of the hub, and out of every room it joined.
    pub fn finish(self) {
        let rooms: Vec<RoomId> = self.joined.iter().map(|(r, _)| *r).collect();
        self.h.hub.unregister(&self.conn, &rooms);
    }

    /// Turns one queued item into the frames to send.
    pub fn outbound(&mut self, item: Outbound, out: &mut Vec<Utf8Bytes>) {
        self.conn.release(&item);
        match item {
            Outbound::Messages { room, frames, .. } => {
                let floor = self.floors.get(&room).copied();
                if !self.joined.iter().any(|(r, _)| *r == room) {
                    return; // left the room after this batch was queued
                }
                for d in frames.iter() {
                    if floor.is_some_and(|f| d.id <= f) {
                        continue;
                    }
                    out.push(d.framed(self.framing));
                }
                if floor.is_some_and(|f| frames.last().is_some_and(|d| d.id > f)) {
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

    /// Answers one client frame; a refusal counts as a strike.
    pub async fn apply(&mut self, parsed: Parsed<'_>) -> Step {
        let reference = parsed.reference;
        let step = match parsed.event {
            Ok(event) => self.apply_event(event, reference).await,
            Err(refusal) => Err(refusal),
        };
        step.unwrap_or_else(|refusal| {
            self.strike();
            Step::Reply(Some(events::error(&refusal, reference)))
        })
    }

    async fn apply_event(
        &mut self,
        event: ClientEvent,
        reference: Option<&RawValue>,
    ) -> Result<Step, Refusal> {
        Ok(match event {
            ClientEvent::JoinRoom(JoinRoom { room_id, since }) => {
                let j = self.join(&room_id, since.as_deref())?;
                let ack = reference.map(|r| events::join_ack(&j.view, &j.users, r));
                match j.since {
                    Some(since) => Step::CatchUp {
                        ack,
                        room: j.view.id,
                        since,
                    },
                    None => Step::Reply(ack),
                }
            }
            ClientEvent::LeaveRoom(RoomRef { room_id }) => {
                self.leave(&room_id)?;
                Step::Reply(reference.map(events::ack))
            }
            ClientEvent::Typing(Typing { room_id }) => {
                let (room, _) = self.room_or_last(room_id.as_deref())?;
                self.h.hub.typing(room, self.user.id, &self.user.username);
                Step::Reply(reference.map(events::ack))
            }
            ClientEvent::SendMessage(SendMessage {
                room_id,
                message,
                client_id,
                attachments,
            }) => {
                let attachments = store::attachment_ids(&attachments)
                    .map_err(|why| Refusal::new(ErrorCode::InvalidAttachment, why.0))?;
                let rx = self
                    .send_message(room_id.as_deref(), message, client_id, attachments)
                    .await?;
                let reference = reference.map(|r| r.to_owned());
                Step::Pending(Box::pin(async move {
                    answer(reference, rx.await.unwrap_or(Err(NotSent::Failed)))
                }))
            }
            ClientEvent::MarkRead(MarkRead {
                room_id,
                message_id,
            }) => self.mark_read(&room_id, &message_id, reference)?,
            ClientEvent::Presence(Visibility { visible }) => {
                self.conn.sight.set(visible);
                Step::Reply(reference.map(events::ack))
            }
        })
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

    /// The room named, which must be joined, or without a name the room
    /// joined last (the original API's "current room").
    fn room_or_last(&self, room_id: Option<&str>) -> Result<(RoomId, bool), Refusal> {
        match room_id {
            Some(id) => self.joined_room(id),
            None => match self.joined.last() {
                Some(j) => Ok(*j),
                None => refuse(ErrorCode::NotJoined, "join a room first"),
            },
        }
    }

    fn join(&mut self, room_id: &str, since: Option<&str>) -> Result<Joined, Refusal> {
        let id: Option<RoomId> = room_id.parse().ok();
        let again = self.joined.iter().any(|(r, _)| Some(*r) == id);
        if again {
            self.take_join_token()?;
        }
        let room = self.visible_room(room_id)?;
        let since = match since {
            None => None,
            Some(s) => Some(self.message_of(room.id, s, "since")?),
        };
        let read = self
            .h
            .store
            .read_view(room.id, self.user.id)
            .map_err(internal)?;
        let level = self
            .h
            .store
            .notification_level(&room, self.user.id)
            .map_err(internal)?;
        // Subscribe before reading history: live messages queue up from
        // here on, and the floor set by the catch-up drops the overlap.
        let users = self.h.hub.join(room.id, &self.conn);
        self.joined.retain(|(r, _)| *r != room.id);
        self.joined.push((room.id, room.private));
        Ok(Joined {
            view: RoomView::new(&room, &self.user.username, users.len()).with_read(read, level),
            users,
            since,
        })
    }

    /// The next page of a catch-up of `room` after `cursor`, read on the
    /// blocking pool; `None` once there is nothing more. Records what it
    /// returns as sent, so that queued live copies are skipped.
    pub async fn history_after(
        &mut self,
        room: RoomId,
        cursor: MessageId,
    ) -> Result<Option<Page>, HistoryFailed> {
        let store = self.h.store.clone();
        let page = tokio::task::spawn_blocking(move || store.after(room, cursor, CATCHUP_PAGE));
        let page = match page.await {
            Ok(Ok(p)) => p,
            Ok(Err(e)) => {
                tracing::error!(error = %e, "reading history for a resume failed");
                return Err(HistoryFailed);
            }
            Err(_) => return Err(HistoryFailed),
        };
        let Some(last) = page.messages.last().map(|m| m.id) else {
            return Ok(None);
        };
        self.floors.insert(room, last);
        Ok(Some(Page {
            frames: page.messages.iter().map(events::receive_message).collect(),
            last,
            has_more: page.has_more,
        }))
    }

    fn leave(&mut self, room_id: &str) -> Result<(), Refusal> {
        self.take_join_token()?;
        let (room, _) = self.joined_room(room_id)?;
        self.h.hub.leave(room, self.conn.id);
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

    async fn send_message(
        &mut self,
        room_id: Option<&str>,
        message: String,
        client_id: Option<String>,
        attachments: Vec<FileId>,
    ) -> Result<oneshot::Receiver<Reply>, Refusal> {
        let (room, private) = self.room_or_last(room_id)?;
        validate::message_text(&message, !attachments.is_empty())
            .map_err(|m| Refusal::new(ErrorCode::ValidationFailed, m))?;
        if let Some(id) = &client_id {
            validate::client_id(id).map_err(|m| Refusal::new(ErrorCode::ValidationFailed, m))?;
        }
        if private
            && !self
                .h
                .store
                .is_member(room, self.user.id)
                .map_err(internal)?
        {
            return refuse(
                ErrorCode::NotJoined,
                "you are no longer a member of that room",
            );
        }
        if let Some(limits) = &self.h.send_limits {
            if !limits.try_take(&self.user.id) {
                return refuse(ErrorCode::RateLimited, "sending too fast; slow down");
            }
        }
        let mentions =
            mentions::resolve(&self.h.store, room, private, &message).map_err(internal)?;
        let msg = Outgoing {
            room_id: room,
            user_id: self.user.id,
            user: self.user.username.clone(),
            message,
            mentions,
            client_id,
            attachments,
        };
        self.h
            .writer
            .submit(msg)
            .await
            .map_err(|_| Refusal::new(ErrorCode::Internal, "the server is shutting down"))
    }
}
