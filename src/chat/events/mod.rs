//! The WebSocket's whole vocabulary, and the only place it is spelled.
//!
//! Every frame is `{"event", "data", "ref"}` JSON text. What a client may
//! send is parsed once, in [`client`], into a [`ClientEvent`]:
//! `joinRoom`, `leaveRoom`, `sendMessage`, `typing`, `markRead`,
//! `presence`. What the
//! server sends is built by one constructor per event, in [`server`]:
//! `receiveMessage`, `userJoined`, `userLeft`, `typing`, `roomAdded`,
//! `roomUpdated`, `roomRemoved`, `roomDeleted`, `messageEdited`,
//! `messageDeleted`, `reactionsUpdated`, `readUpdated`, `ack` and `error`.
//! How a connection ends is a [`Close`] code, and what went wrong an
//! [`ErrorCode`]; both are defined here. Nothing outside this module writes
//! an event name, an
//! error code or a close code as a literal.

mod client;
mod server;
pub mod socketio;

pub use client::{
    parse, socketio_event, ClientEvent, JoinRoom, MarkRead, Parsed, Refusal, RoomRef, SendMessage,
    Typing, Visibility,
};
pub use server::{
    ack, error, join_ack, message_deleted, message_edited, presence, reactions_updated, read_ack,
    read_updated, receive_message, room_added, room_deleted, room_removed, room_updated, send_ack,
    typing,
};

/// How a door frames the server's events: `/ws`'s JSON objects, or
/// Socket.IO packets ([`socketio`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    Ws,
    SocketIo,
}

/// The close codes the server sends (RFC 6455, section 7.4.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Close {
    /// 1001: the server is shutting down.
    GoingAway,
    /// 1008: too much bad input, or the account was disabled or its
    /// password changed (its tokens no longer hold).
    Policy,
    /// 1009: a client message larger than the contract allows.
    TooBig,
    /// 1011: the server could not go on (reading history failed).
    Internal,
    /// 1013 ("try again later"): too slow to keep up with its rooms; the
    /// client reconnects and catches up with `since`.
    Slow,
}

impl Close {
    /// The code on the wire.
    pub fn code(self) -> u16 {
        match self {
            Close::GoingAway => 1001,
            Close::Policy => 1008,
            Close::TooBig => 1009,
            Close::Internal => 1011,
            Close::Slow => 1013,
        }
    }
}

/// The codes of `error` frames, as the contract lists them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidJson,
    UnknownEvent,
    ValidationFailed,
    NotFound,
    NotJoined,
    RateLimited,
    /// An addition to the contract: a `sendMessage`'s `attachments`
    /// named a file it may not attach.
    InvalidAttachment,
    Internal,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidJson => "invalid_json",
            ErrorCode::UnknownEvent => "unknown_event",
            ErrorCode::ValidationFailed => "validation_failed",
            ErrorCode::NotFound => "not_found",
            ErrorCode::NotJoined => "not_joined",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::InvalidAttachment => "invalid_attachment",
            ErrorCode::Internal => "internal",
        }
    }
}
