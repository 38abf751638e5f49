//! The WebSocket wire format: `{"event", "data", "ref"}` frames.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use tokio_tungstenite::tungstenite::Utf8Bytes;

use crate::model::{Message, RoomId, RoomView};

/// A client frame as received: the event name, its raw data and the
/// optional `ref`, echoed back verbatim in the one answer.
#[derive(Deserialize)]
pub struct ClientFrame<'a> {
    /// Borrowed when it has no escapes; an escaped name (`"join\u0052oom"`)
    /// is still the same name.
    #[serde(borrow)]
    pub event: std::borrow::Cow<'a, str>,
    #[serde(borrow, default)]
    pub data: Option<&'a RawValue>,
    #[serde(borrow, default, rename = "ref")]
    pub reference: Option<&'a RawValue>,
}

/// `joinRoom` data.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JoinRoom {
    pub room_id: String,
    #[serde(default)]
    pub since: Option<String>,
}

/// `leaveRoom` and `typing` data.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoomRef {
    pub room_id: String,
}

/// `sendMessage` data.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SendMessage {
    #[serde(default)]
    pub room_id: Option<String>,
    pub message: String,
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
            ErrorCode::Internal => "internal",
        }
    }
}

#[derive(Serialize)]
struct ServerFrame<'a, T: Serialize> {
    event: &'a str,
    data: T,
    #[serde(rename = "ref", skip_serializing_if = "Option::is_none")]
    reference: Option<&'a RawValue>,
}

#[derive(Serialize)]
struct ErrorData<'a> {
    code: &'a str,
    message: &'a str,
}

/// Serialises one server frame. Serialising these plain types cannot fail;
/// should it ever, an `internal` error frame goes out instead of a panic.
pub fn frame<T: Serialize>(event: &str, data: T, reference: Option<&RawValue>) -> Utf8Bytes {
    match serde_json::to_string(&ServerFrame {
        event,
        data,
        reference,
    }) {
        Ok(s) => Utf8Bytes::from(s),
        Err(_) => Utf8Bytes::from_static(
            r#"{"event":"error","data":{"code":"internal","message":"serialisation failed"}}"#,
        ),
    }
}

/// An `error` frame.
pub fn error(code: ErrorCode, message: &str, reference: Option<&RawValue>) -> Utf8Bytes {
    frame(
        "error",
        ErrorData {
            code: code.as_str(),
            message,
        },
        reference,
    )
}

/// The `receiveMessage` frame of a stored message, built once per message
/// and shared by every recipient.
pub fn receive_message(m: &Message) -> Utf8Bytes {
    frame("receiveMessage", m, None)
}

/// `{roomId, user}`: the data of `userJoined`, `userLeft` and `typing`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RoomUser<'a> {
    pub room_id: RoomId,
    pub user: &'a str,
}

/// `{roomId}`: the data of `roomRemoved` and `roomDeleted`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RoomOnly {
    pub room_id: RoomId,
}

/// The ack data of `joinRoom`.
#[derive(Serialize)]
pub struct JoinAck {
    pub room: RoomView,
    pub users: Vec<String>,
}

/// The ack data of `sendMessage`.
#[derive(Serialize)]
pub struct SendAck {
    pub id: crate::model::MessageId,
    pub timestamp: crate::model::Timestamp,
}

/// An empty ack.
#[derive(Serialize)]
pub struct Empty {}
