//! What the server sends: one constructor per event. Each returns the
//! frame's bytes, serialised once, ready to be shared by every recipient.

use serde::Serialize;
use serde_json::value::RawValue;
use tokio_tungstenite::tungstenite::Utf8Bytes;

use super::Refusal;
use crate::model::{Message, MessageId, Reaction, ReadView, RoomId, RoomView, Timestamp};

#[derive(Serialize)]
struct ServerFrame<'a, T: Serialize> {
    event: &'a str,
    data: T,
    #[serde(rename = "ref", skip_serializing_if = "Option::is_none")]
    reference: Option<&'a RawValue>,
}

/// Serialises one server frame. Serialising these plain types cannot fail;
/// should it ever, an `internal` error frame goes out instead of a panic.
fn frame<T: Serialize>(event: &str, data: T, reference: Option<&RawValue>) -> Utf8Bytes {
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

#[derive(Serialize)]
struct ErrorData<'a> {
    code: &'a str,
    message: &'a str,
}

/// `{roomId, user}`: the data of `userJoined`, `userLeft` and `typing`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RoomUser<'a> {
    room_id: RoomId,
    user: &'a str,
}

/// `{roomId}`: the data of `roomRemoved` and `roomDeleted`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RoomOnly {
    room_id: RoomId,
}

/// `{roomId, id}`: the data of `messageDeleted`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Deleted {
    room_id: RoomId,
    id: MessageId,
}

/// `{roomId, id, reactions}`: the data of `reactionsUpdated`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Reactions<'a> {
    room_id: RoomId,
    id: MessageId,
    reactions: &'a [Reaction],
}

/// `{room}`: the data of `roomAdded` and `roomUpdated`.
#[derive(Serialize)]
struct RoomData<'a> {
    room: &'a RoomView,
}

/// `{roomId, lastReadId?, unread, mentions}`: the data of `readUpdated`
/// and of the `ack` of `markRead`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RoomRead<'a> {
    room_id: RoomId,
    #[serde(flatten)]
    read: &'a ReadView,
}

#[derive(Serialize)]
struct JoinAck<'a> {
    room: &'a RoomView,
    users: &'a [String],
}

#[derive(Serialize)]
struct SendAck {
    id: MessageId,
    timestamp: Timestamp,
}

#[derive(Serialize)]
struct Empty {}

/// An `error` frame: the answer to a refused client frame.
pub fn error(refusal: &Refusal, reference: Option<&RawValue>) -> Utf8Bytes {
    frame(
        "error",
        ErrorData {
            code: refusal.code.as_str(),
            message: &refusal.message,
        },
        reference,
    )
}

/// The `ack` of `joinRoom`: the room and who is online there.
pub fn join_ack(room: &RoomView, users: &[String], reference: &RawValue) -> Utf8Bytes {
    frame("ack", JoinAck { room, users }, Some(reference))
}

/// The `ack` of `sendMessage`, once the message is stored.
pub fn send_ack(m: &Message, reference: &RawValue) -> Utf8Bytes {
    let data = SendAck {
        id: m.id,
        timestamp: m.timestamp,
    };
    frame("ack", data, Some(reference))
}

/// The `ack` of `markRead`: the user's read state in the room after it.
pub fn read_ack(room: RoomId, read: &ReadView, reference: &RawValue) -> Utf8Bytes {
    frame(
        "ack",
        RoomRead {
            room_id: room,
            read,
        },
        Some(reference),
    )
}

/// `readUpdated`: the user's read state in a room moved (on another of
/// the user's connections, or through the REST API).
pub fn read_updated(room: RoomId, read: &ReadView) -> Utf8Bytes {
    frame(
        "readUpdated",
        RoomRead {
            room_id: room,
            read,
        },
        None,
    )
}

/// The empty `ack` of `leaveRoom` and `typing`.
pub fn ack(reference: &RawValue) -> Utf8Bytes {
    frame("ack", Empty {}, Some(reference))
}

/// The `receiveMessage` frame of a stored message, built once per message
/// and shared by every recipient.
pub fn receive_message(m: &Message) -> Utf8Bytes {
    frame("receiveMessage", m, None)
}

/// `userJoined` when `online`, else `userLeft`.
pub fn presence(room: RoomId, user: &str, online: bool) -> Utf8Bytes {
    let event = if online { "userJoined" } else { "userLeft" };
    room_user(event, room, user)
}

/// `typing`, relayed to the room's other users.
pub fn typing(room: RoomId, user: &str) -> Utf8Bytes {
    room_user("typing", room, user)
}

fn room_user(event: &str, room: RoomId, user: &str) -> Utf8Bytes {
    let data = RoomUser {
        room_id: room,
        user,
    };
    frame(event, data, None)
}

/// `roomRemoved`: the user was removed from this private room.
pub fn room_removed(room: RoomId) -> Utf8Bytes {
    frame("roomRemoved", RoomOnly { room_id: room }, None)
}

/// `roomDeleted`: the room no longer exists.
pub fn room_deleted(room: RoomId) -> Utf8Bytes {
    frame("roomDeleted", RoomOnly { room_id: room }, None)
}

/// `roomAdded`: a room became visible to the user (its room list grows).
pub fn room_added(room: &RoomView) -> Utf8Bytes {
    frame("roomAdded", RoomData { room }, None)
}

/// `roomUpdated`: a room the user can see changed (its name, description).
pub fn room_updated(room: &RoomView) -> Utf8Bytes {
    frame("roomUpdated", RoomData { room }, None)
}

/// `messageEdited`: the message as it now reads.
pub fn message_edited(m: &Message) -> Utf8Bytes {
    frame("messageEdited", m, None)
}

/// `messageDeleted`.
pub fn message_deleted(room: RoomId, id: MessageId) -> Utf8Bytes {
    frame("messageDeleted", Deleted { room_id: room, id }, None)
}

/// `reactionsUpdated`: every reaction of a message as it now stands (an
/// empty list once the last one was removed).
pub fn reactions_updated(room: RoomId, id: MessageId, reactions: &[Reaction]) -> Utf8Bytes {
    let data = Reactions {
        room_id: room,
        id,
        reactions,
    };
    frame("reactionsUpdated", data, None)
}
