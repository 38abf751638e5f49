use serde_json::{json, Value};

use super::super::server as frames;
use super::*;
use crate::model::{Message, MessageId, Room, RoomId, RoomView, Timestamp, UserId};

fn room(name: &str) -> Room {
    Room {
        id: RoomId(3),
        name: name.into(),
        description: String::new(),
        private: false,
        owner_id: UserId(1),
        created_at: 0,
        kind: None,
    }
}

fn message(text: &str) -> Message {
    Message {
        id: MessageId(7),
        room_id: RoomId(3),
        user: "alice".into(),
        user_id: UserId(1),
        message: text.into(),
        timestamp: Timestamp(1_795_491_670_123),
        edited_at: None,
        reactions: Vec::new(),
        mentions: Vec::new(),
        attachments: Vec::new(),
    }
}

fn raw(text: &str) -> &RawValue {
    serde_json::from_str(text).expect("raw JSON")
}

/// The packet of `frame`: its type digits, ack id and JSON array; and the
/// same by the serde route, so that the layout shortcut cannot drift.
fn converted(frame: &str) -> (String, Option<u64>, Value) {
    let p = packet(frame);
    let f: Frame<'_> = serde_json::from_str(frame).expect("a frame");
    let by_serde = packet(&format!(
        "{{ \"event\": \"{}\", \"ref\": {}, \"data\": {} }}",
        f.event,
        f.reference.map_or("null", RawValue::get),
        f.data.get()
    ));
    // `"ref": null` is no ref: the serde route must agree with the layout.
    assert_eq!(p, by_serde, "layout and serde agree for {frame}");
    let (kind, rest) = p.split_at(1);
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    let array = serde_json::from_str(&rest[digits.len()..]).expect("a JSON array");
    (kind.to_owned(), digits.parse().ok(), array)
}

/// A frame without `ref` is the event `2["name",data]`.
fn assert_event(frame: &str, name: &str) {
    let data: Value = serde_json::from_str::<Value>(frame).expect("frame")["data"].clone();
    assert_eq!(converted(frame), ("2".into(), None, json!([name, data])));
}

#[test]
fn receive_message_becomes_an_event_with_the_message_object() {
    let m = message("hi \"there\", \"ref\": 5 }");
    assert_event(&frames::receive_message(&m), "receiveMessage");
}

#[test]
fn presence_and_typing_become_events() {
    assert_event(&frames::presence(RoomId(3), "bob", true), "userJoined");
    assert_event(&frames::presence(RoomId(3), "bob", false), "userLeft");
    assert_event(&frames::typing(RoomId(3), "bob"), "typing");
}

#[test]
fn room_events_become_events() {
    assert_event(&frames::room_removed(RoomId(3)), "roomRemoved");
    assert_event(&frames::room_deleted(RoomId(3)), "roomDeleted");
    let view = RoomView::new(&room("new \"name\""), "alice", 2);
    assert_event(&frames::room_added(&view), "roomAdded");
    assert_event(&frames::room_updated(&view), "roomUpdated");
}

#[test]
fn edits_and_deletions_become_events() {
    let mut m = message("fixed");
    m.edited_at = Some(Timestamp(1_795_491_670_999));
    assert_event(&frames::message_edited(&m), "messageEdited");
    assert_event(
        &frames::message_deleted(RoomId(3), MessageId(7)),
        "messageDeleted",
    );
}

#[test]
fn acks_become_ack_packets_with_their_id() {
    let id = raw("12");
    let (kind, ack, data) = converted(&frames::ack(id));
    assert_eq!((kind.as_str(), ack, data), ("3", Some(12), json!([{}])));

    let (kind, ack, data) = converted(&frames::send_ack(&message("x"), id));
    assert_eq!((kind.as_str(), ack), ("3", Some(12)));
    assert_eq!(data[0]["id"], json!(MessageId(7).to_string()));
    assert_eq!(data[0]["timestamp"], json!("2026-11-24T03:41:10.123Z"));

    let room = room("a \",\"ref\": room");
    let view = RoomView::new(&room, "alice", 1);
    let (kind, ack, data) = converted(&frames::join_ack(&view, &["alice".into()], id));
    assert_eq!((kind.as_str(), ack), ("3", Some(12)));
    assert_eq!(data[0]["room"]["name"], json!(room.name));
    assert_eq!(data[0]["users"], json!(["alice"]));
}

#[test]
fn errors_go_to_the_callback_when_one_was_given_else_to_the_error_event() {
    let refusal = Refusal::new(ErrorCode::NotJoined, "no \"ref\": here");
    let body = json!({"code": "not_joined", "message": "no \"ref\": here"});
    let (kind, ack, data) = converted(&frames::error(&refusal, Some(raw("0"))));
    assert_eq!(
        (kind.as_str(), ack, data),
        ("3", Some(0), json!([{ "error": body }]))
    );
    assert_event(&frames::error(&refusal, None), "error");
}

#[test]
fn events_are_read_with_their_ack_id() {
    let p = parse(Some("4"), r#"["sendMessage",{"message":"hi"},"ignored"]"#);
    assert_eq!(p.reference.map(RawValue::get), Some("4"));
    assert!(matches!(
        p.event,
        Ok(super::super::ClientEvent::SendMessage(_))
    ));
    let p = parse(None, r#"["typing"]"#);
    assert!(p.reference.is_none());
    assert_eq!(
        p.event,
        Ok(super::super::ClientEvent::Typing(super::super::Typing {
            room_id: None
        }))
    );
}

#[test]
fn malformed_events_are_refused() {
    let code = |ack, args| parse(ack, args).event.expect_err("refused").code;
    assert_eq!(code(None, "{}"), ErrorCode::InvalidJson);
    assert_eq!(code(None, "[5]"), ErrorCode::InvalidJson);
    assert_eq!(code(None, "[]"), ErrorCode::InvalidJson);
    assert_eq!(code(Some("1"), r#"["dance",{}]"#), ErrorCode::UnknownEvent);
    assert_eq!(
        code(None, r#"["joinRoom",[1]]"#),
        ErrorCode::ValidationFailed
    );
    assert_eq!(
        code(None, r#"["joinRoom",{}]"#),
        ErrorCode::ValidationFailed
    );
    assert!(parse(Some("01"), r#"["typing"]"#).reference.is_none());
    assert!(parse(Some("99999999999999999999"), "[]")
        .reference
        .is_none());
}
