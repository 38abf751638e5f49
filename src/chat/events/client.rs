//! What a client may send, parsed once into a [`ClientEvent`].

use std::borrow::Cow;
use std::collections::HashMap;

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::value::RawValue;

use super::ErrorCode;

/// One client event, its data read and typed. Ids stay text here: an id
/// that does not parse is an unknown room, which the session answers per
/// event (`not_found` or `not_joined`).
#[derive(Debug, PartialEq, Eq)]
pub enum ClientEvent {
    JoinRoom(JoinRoom),
    LeaveRoom(RoomRef),
    SendMessage(SendMessage),
    Typing(Typing),
    MarkRead(MarkRead),
    Presence(Visibility),
}

/// `joinRoom {roomId, since?}`.
#[derive(Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JoinRoom {
    pub room_id: String,
    #[serde(default)]
    pub since: Option<String>,
}

/// `leaveRoom {roomId}`, and `typing {roomId}` as `/ws` reads it.
#[derive(Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoomRef {
    pub room_id: String,
}

/// `typing {roomId}`; on the Socket.IO door the room may be left out, as
/// the original API's clients do: then it is the room joined last.
#[derive(Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Typing {
    #[serde(default)]
    pub room_id: Option<String>,
}

/// `sendMessage {roomId?, message, attachments?}`; without a room, the
/// room joined last.
#[derive(Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SendMessage {
    #[serde(default)]
    pub room_id: Option<String>,
    pub message: String,
    /// An addition to the contract: the client's own key for this
    /// message, so that sending it again (after a lost ack) stores it once.
    #[serde(default)]
    pub client_id: Option<String>,
    /// An addition to the contract: ids of files the sender uploaded to
    /// the room, to attach (checked by the writer as it stores them).
    #[serde(default)]
    pub attachments: Vec<String>,
}

/// `markRead {roomId, messageId}`: the user read the room up to the
/// message (an addition to the contract).
#[derive(Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MarkRead {
    pub room_id: String,
    pub message_id: String,
}

/// `presence {visible}`: whether the page of this connection is shown
/// now (an addition to the contract). A user looking at a room, or who
/// looked at it moments ago, gets no push notification for it.
#[derive(Debug, PartialEq, Eq, Deserialize)]
pub struct Visibility {
    pub visible: bool,
}

/// A client frame as read: its `ref` (echoed verbatim in the one answer)
/// and the event, or why it was refused.
pub struct Parsed<'a> {
    pub reference: Option<&'a RawValue>,
    pub event: Result<ClientEvent, Refusal>,
}

/// Why a client frame is answered with an `error` frame.
#[derive(Debug, PartialEq, Eq)]
pub struct Refusal {
    pub code: ErrorCode,
    pub message: String,
}

impl Refusal {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Refusal {
        Refusal {
            code,
            message: message.into(),
        }
    }

    /// The answer to a binary frame: the protocol speaks JSON text only.
    pub fn binary_frame() -> Refusal {
        Refusal::new(ErrorCode::InvalidJson, "frames must be JSON text")
    }
}

/// The frame as it arrives, borrowed from the text where it can be.
#[derive(Deserialize)]
struct ClientFrame<'a> {
    /// Borrowed when it has no escapes; an escaped name (`"join\u0052oom"`)
    /// is still the same name.
    #[serde(borrow)]
    event: Cow<'a, str>,
    #[serde(borrow, default)]
    data: Option<&'a RawValue>,
    #[serde(borrow, default, rename = "ref")]
    reference: Option<&'a RawValue>,
}

const NOT_AN_OBJECT: &str = "frames must be JSON objects";

/// Reads one text frame. A frame that is not an object gets no `ref`
/// back; an object that is not a well-formed frame still does.
pub fn parse(text: &str) -> Parsed<'_> {
    let refused = |reference, code, message: &str| Parsed {
        reference,
        event: Err(Refusal::new(code, message)),
    };
    // serde would also read an array as the fields in order; a frame is an object.
    if !text.trim_start().starts_with('{') {
        return refused(None, ErrorCode::InvalidJson, NOT_AN_OBJECT);
    }
    let frame: ClientFrame<'_> = match serde_json::from_str(text) {
        Ok(f) => f,
        // Keys are owned so that escaped ones still match.
        Err(_) => {
            return match serde_json::from_str::<HashMap<String, &RawValue>>(text) {
                Ok(obj) => refused(
                    obj.get("ref").copied(),
                    ErrorCode::ValidationFailed,
                    "a frame is {\"event\": string, \"data\": object, \"ref\"?}",
                ),
                Err(_) => refused(None, ErrorCode::InvalidJson, NOT_AN_OBJECT),
            }
        }
    };
    Parsed {
        reference: frame.reference,
        event: event(&frame.event, frame.data.map(RawValue::get), false),
    }
}

/// The event `name` with its `data`; `typing` may leave out its room only
/// where `room_optional` (the Socket.IO door).
fn event(name: &str, data: Option<&str>, room_optional: bool) -> Result<ClientEvent, Refusal> {
    match name {
        "joinRoom" => parse_data(data).map(ClientEvent::JoinRoom),
        "leaveRoom" => parse_data(data).map(ClientEvent::LeaveRoom),
        "sendMessage" => parse_data(data).map(ClientEvent::SendMessage),
        "markRead" => parse_data(data).map(ClientEvent::MarkRead),
        "presence" => parse_data(data).map(ClientEvent::Presence),
        "typing" if room_optional => parse_data(data).map(ClientEvent::Typing),
        "typing" => parse_data(data).map(|RoomRef { room_id }| {
            ClientEvent::Typing(Typing {
                room_id: Some(room_id),
            })
        }),
        other => Err(unknown(other)),
    }
}

/// Reads a Socket.IO event (its name and first argument): the events and
/// data of `/ws`, except that `typing` may leave out its room and that an
/// event without an argument has empty data (`socket.emit("typing")`).
pub fn socketio_event(name: &str, data: Option<&RawValue>) -> Result<ClientEvent, Refusal> {
    event(name, Some(data.map_or("{}", RawValue::get)), true)
}

fn unknown(name: &str) -> Refusal {
    Refusal::new(ErrorCode::UnknownEvent, format!("unknown event {name:?}"))
}

fn parse_data<T: DeserializeOwned>(data: Option<&str>) -> Result<T, Refusal> {
    let invalid = |m: String| Refusal::new(ErrorCode::ValidationFailed, m);
    let Some(raw) = data else {
        return Err(invalid("missing data".into()));
    };
    // serde would also read an array as the fields in order; data is an object.
    if !raw.trim_start().starts_with('{') {
        return Err(invalid("data must be an object".into()));
    }
    serde_json::from_str(raw).map_err(|e| invalid(format!("invalid data: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(text: &str) -> (Option<String>, ErrorCode) {
        let p = parse(text);
        let code = p.event.expect_err("refused").code;
        (p.reference.map(|r| r.get().to_owned()), code)
    }

    #[test]
    fn events_are_read_with_their_ref() {
        let p = parse(r#"{"event":"join\u0052oom","data":{"roomId":"3","since":"9"},"ref":"r1"}"#);
        assert_eq!(p.reference.map(RawValue::get), Some(r#""r1""#));
        assert_eq!(
            p.event,
            Ok(ClientEvent::JoinRoom(JoinRoom {
                room_id: "3".into(),
                since: Some("9".into())
            }))
        );
        let p = parse(r#"{"event":"sendMessage","data":{"message":"hi"}}"#);
        assert!(p.reference.is_none());
        assert_eq!(
            p.event,
            Ok(ClientEvent::SendMessage(SendMessage {
                room_id: None,
                message: "hi".into(),
                client_id: None,
                attachments: Vec::new(),
            }))
        );
        let p = parse(r#"{"event":"sendMessage","data":{"message":"","attachments":["a","b"]}}"#);
        assert!(matches!(
            p.event,
            Ok(ClientEvent::SendMessage(SendMessage { ref attachments, .. })) if attachments.len() == 2
        ));
        let p = parse(r#"{"event":"sendMessage","data":{"message":"x","attachments":"a"}}"#);
        assert_eq!(
            p.event.expect_err("refused").code,
            ErrorCode::ValidationFailed
        );
        let p = parse(r#"{"event":"sendMessage","data":{"message":"hi","clientId":"c-1"}}"#);
        assert!(matches!(
            p.event,
            Ok(ClientEvent::SendMessage(SendMessage { client_id: Some(ref c), .. })) if c == "c-1"
        ));
    }

    #[test]
    fn mark_read_is_read_on_both_doors() {
        let want = Ok(ClientEvent::MarkRead(MarkRead {
            room_id: "r".into(),
            message_id: "m".into(),
        }));
        let p = parse(r#"{"event":"markRead","data":{"roomId":"r","messageId":"m"},"ref":1}"#);
        assert_eq!(p.event, want);
        let data: &RawValue =
            serde_json::from_str(r#"{"roomId":"r","messageId":"m"}"#).expect("raw");
        assert_eq!(socketio_event("markRead", Some(data)), want);
        let (_, code) = refusal(r#"{"event":"markRead","data":{"roomId":"r"},"ref":1}"#);
        assert_eq!(code, ErrorCode::ValidationFailed);
    }

    #[test]
    fn bad_frames_are_refused_with_the_ref_when_one_can_be_read() {
        assert_eq!(refusal("[1]"), (None, ErrorCode::InvalidJson));
        assert_eq!(refusal("{nope"), (None, ErrorCode::InvalidJson));
        assert_eq!(
            refusal(r#"{"event":5,"ref":7}"#),
            (Some("7".into()), ErrorCode::ValidationFailed)
        );
        assert_eq!(
            refusal(r#"{"event":"dance","data":{},"ref":1}"#),
            (Some("1".into()), ErrorCode::UnknownEvent)
        );
        assert_eq!(
            refusal(r#"{"event":"typing","data":["1"],"ref":2}"#),
            (Some("2".into()), ErrorCode::ValidationFailed)
        );
        assert_eq!(
            refusal(r#"{"event":"leaveRoom"}"#),
            (None, ErrorCode::ValidationFailed)
        );
    }
}
