//! `durable --push ok|hanging`: what Web Push costs the message path. A
//! push service stand-in runs in the generator (one that answers 201 at
//! once, or one that accepts connections and never answers), users who
//! are never connected subscribe to it and choose "all" in the bench room,
//! so every message makes the server send one notification to each of
//! them. The ack latency of that run, against one with `--push none`, is
//! the cost; a hanging push service must not show in it.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::client::{Account, Http, Room};

/// What the stand-in push service does with a request.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum PushMode {
    /// No subscriptions: the baseline.
    None,
    /// Answers every request 201 Created at once.
    Ok,
    /// Accepts connections and never answers.
    Hanging,
}

/// A browser's P-256 key: the curve's generator point, which is a valid
/// public key (the bench never decrypts what it receives).
const P256DH: &str =
    "BGsX0fLhLEJH-Lzm5WOkQPJ3A32BLeszoPShOUXYmMKWT-NC4v4af5uO5-tKfA-eFivOM1drMV7Oy7ZAaDe_UfU";
const AUTH: &str = "AAAAAAAAAAAAAAAAAAAAAA";

/// Requests the stand-in has read to the end.
pub type Received = Arc<AtomicU64>;

/// Starts the stand-in; its address and its count of requests.
pub async fn stand_in(mode: PushMode) -> Result<(SocketAddr, Received), String> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| format!("cannot start the push stand-in: {e}"))?;
    let addr = listener
        .local_addr()
        .map_err(|e| format!("push stand-in: {e}"))?;
    let received = Received::default();
    let count = received.clone();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            match mode {
                PushMode::Ok => {
                    tokio::spawn(answer_all(stream, count.clone()));
                }
                PushMode::Hanging | PushMode::None => held.push(stream),
            }
        }
    });
    Ok((addr, received))
}

/// Answers each request of a keep-alive connection with 201.
async fn answer_all(mut stream: TcpStream, count: Received) {
    let mut buf = Vec::with_capacity(8192);
    let mut chunk = [0u8; 8192];
    loop {
        // A request: its head, then Content-Length bytes of body.
        let head_end = loop {
            if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        while buf.len() < head_end + length {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        buf.drain(..head_end + length);
        count.fetch_add(1, Ordering::Relaxed);
        let answer = b"HTTP/1.1 201 Created\r\ncontent-length: 0\r\n\r\n";
        if stream.write_all(answer).await.is_err() {
            return;
        }
    }
}

/// Subscribes each of `who` at the stand-in and sets their level in
/// `room` to "all": each message then notifies every one of them.
pub async fn subscribe(
    http: &Http,
    who: &[Account],
    room: &Room,
    at: SocketAddr,
) -> Result<(), String> {
    let room_id: String = serde_json::from_str(&room.id_json).map_err(|e| e.to_string())?;
    for (i, account) in who.iter().enumerate() {
        let body = json!({
            "endpoint": format!("http://{at}/push/{i}"),
            "keys": { "p256dh": P256DH, "auth": AUTH },
        });
        http.call(
            reqwest::Method::POST,
            "/api/push/subscriptions",
            account,
            body,
            201,
        )
        .await?;
        let path = format!("/api/rooms/{room_id}/notifications");
        http.call(
            reqwest::Method::PUT,
            &path,
            account,
            json!({ "level": "all" }),
            200,
        )
        .await?;
    }
    Ok(())
}
