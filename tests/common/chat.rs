//! WebSocket steps many tests take: joining rooms and sending a message,
//! each of which must be acknowledged.

use serde_json::{json, Value};

use super::{Client, Server, User};

impl Client {
    /// Connects as `u` and joins `rooms`, each of which must be acked.
    pub async fn joined(s: &Server, u: &User, rooms: &[&str]) -> Client {
        let mut c = Client::connect(s, u).await;
        for r in rooms {
            c.join(r).await;
        }
        c
    }

    /// Joins `room`, which must be acked; returns the ack's data.
    pub async fn join(&mut self, room: &str) -> Value {
        let ack = self.call("joinRoom", json!({ "roomId": room })).await;
        ack_data(&ack, &format!("joinRoom {room}"))
    }

    /// Sends `text` to `room`, which must be acked; returns the ack's data
    /// (the message's id and timestamp).
    pub async fn say(&mut self, room: &str, text: &str) -> Value {
        let ack = self.send_message(room, text).await;
        ack_data(&ack, &format!("sendMessage to {room}"))
    }

    /// Sends `text` to `room`; returns the answer, ack or error.
    pub async fn send_message(&mut self, room: &str, text: &str) -> Value {
        self.call("sendMessage", json!({"roomId": room, "message": text}))
            .await
    }
}

/// Asserts that message ids (fixed-width, so text order is their order)
/// strictly increase.
#[track_caller]
pub fn assert_strictly_increasing(ids: &[String], what: &str) {
    for w in ids.windows(2) {
        assert!(
            w[0] < w[1],
            "{what}: ids not strictly increasing: {:?} then {:?}",
            w[0],
            w[1]
        );
    }
}

/// Asserts an ack frame (its data an object, as every ack's is) and
/// returns its data.
#[track_caller]
pub fn ack_data(f: &Value, what: &str) -> Value {
    assert_eq!(f["event"], "ack", "{what}: expected an ack, got {f}");
    assert!(
        f["data"].is_object(),
        "{what}: ack data must be an object: {f}"
    );
    f["data"].clone()
}
