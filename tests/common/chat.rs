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
        assert_eq!(ack["event"], "ack", "joinRoom {room}: {ack}");
        ack["data"].clone()
    }

    /// Sends `text` to `room`, which must be acked; returns the ack's data
    /// (the message's id and timestamp).
    pub async fn say(&mut self, room: &str, text: &str) -> Value {
        let ack = self
            .call("sendMessage", json!({"roomId": room, "message": text}))
            .await;
        assert_eq!(ack["event"], "ack", "sendMessage to {room}: {ack}");
        ack["data"].clone()
    }
}
