//! Setting up the load: users and a room over HTTP, then many authenticated
//! WebSocket connections joined to the room, opened with bounded
//! concurrency and a timeout each.

use std::borrow::Cow;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::{stream, SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::header::AUTHORIZATION;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// One WebSocket connection to the server.
pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Password of every bench user (the contract wants 8 bytes or more).
const PASSWORD: &str = "bench-password-0123";
/// Registrations in flight at once: each costs the server an argon2 hash, so
/// more would only queue on its blocking pool.
const REGISTER_CONCURRENCY: usize = 4;
/// Timeout of one HTTP request (registration waits for argon2).
const HTTP_TIMEOUT: Duration = Duration::from_secs(30);
/// Attempts for one registration answered 429.
const REGISTER_ATTEMPTS: usize = 5;
/// Read buffer of each connection. tungstenite zero-fills the free part of
/// its buffer before every read; its default of 128 KiB made that fill a
/// tenth of the generator's time with 1000 connections.
const READ_BUFFER: usize = 32 * 1024;
/// Reference of the `joinRoom` frame, to find its answer.
const JOIN_REF: &str = "j";

/// A registered user.
#[derive(Clone, Debug)]
pub struct Account {
    pub token: String,
}

/// The room every connection joins.
#[derive(Clone, Debug)]
pub struct Room {
    /// The id exactly as the server sent it, as JSON text, ready to be
    /// embedded in frames (ids are opaque).
    pub id_json: String,
}

/// An HTTP client for the server: no proxy, a timeout per request, keep-alive
/// connections without Nagle's delay.
pub fn http_client() -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(HTTP_TIMEOUT)
        .tcp_nodelay(true)
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))
}

/// The REST side of the server.
pub struct Http {
    client: reqwest::Client,
    base: String,
}

#[derive(Deserialize)]
struct TokenBody {
    token: String,
}

impl Http {
    pub fn new(base_url: &str) -> Result<Http, String> {
        Ok(Http {
            client: http_client()?,
            base: base_url.to_string(),
        })
    }

    /// Registers `count` users named `{prefix}{i}_{suffix}`, a few at a time.
    pub async fn register_users(
        &self,
        prefix: &str,
        count: usize,
        suffix: &str,
    ) -> Result<Vec<Account>, String> {
        let names: Vec<String> = (0..count)
            .map(|i| format!("{prefix}{i}_{suffix}"))
            .collect();
        let results: Vec<Result<Account, String>> = stream::iter(names)
            .map(|name| self.register(name))
            .buffered(REGISTER_CONCURRENCY)
            .collect()
            .await;
        results.into_iter().collect()
    }

    async fn register(&self, username: String) -> Result<Account, String> {
        let url = format!("{}/api/users/register", self.base);
        let body = json!({ "username": username, "password": PASSWORD });
        for _ in 0..REGISTER_ATTEMPTS {
            let resp = self
                .client
                .post(&url)
                .json(&body)
                .send()
                .await
                .map_err(|e| format!("POST {url}: {e}"))?;
            let status = resp.status();
            if status.as_u16() == 429 {
                let wait = retry_after(&resp).unwrap_or(Duration::from_secs(1));
                tokio::time::sleep(wait).await;
                continue;
            }
            if status.as_u16() != 201 {
                let text = resp.text().await.unwrap_or_default();
                return Err(format!(
                    "register {username}: expected 201, got {status}: {text}"
                ));
            }
            let body: TokenBody = resp
                .json()
                .await
                .map_err(|e| format!("register {username}: bad body: {e}"))?;
            return Ok(Account { token: body.token });
        }
        Err(format!(
            "register {username}: still rate limited after {REGISTER_ATTEMPTS} attempts"
        ))
    }

    /// Creates a public room owned by `owner`.
    pub async fn create_room(&self, owner: &Account, name: &str) -> Result<Room, String> {
        let url = format!("{}/api/rooms", self.base);
        let resp = self
            .client
            .post(&url)
            .bearer_auth(&owner.token)
            .json(&json!({ "name": name }))
            .send()
            .await
            .map_err(|e| format!("POST {url}: {e}"))?;
        let status = resp.status();
        if status.as_u16() != 201 {
            let text = resp.text().await.unwrap_or_default();
            return Err(format!("create room: expected 201, got {status}: {text}"));
        }
        let room: Value = resp
            .json()
            .await
            .map_err(|e| format!("create room: bad body: {e}"))?;
        match room.get("id") {
            Some(id @ (Value::String(_) | Value::Number(_))) => Ok(Room {
                id_json: id.to_string(),
            }),
            _ => Err(format!("create room: no id in {room}")),
        }
    }
}

impl Http {
    /// `method path` as `who` with a JSON body; fails unless the status is
    /// `want`.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        who: &Account,
        body: Value,
        want: u16,
    ) -> Result<(), String> {
        let url = format!("{}{path}", self.base);
        let resp = self
            .client
            .request(method.clone(), &url)
            .bearer_auth(&who.token)
            .json(&body)
            .send()
            .await
            .map_err(|e| format!("{method} {url}: {e}"))?;
        let status = resp.status().as_u16();
        if status != want {
            let text = resp.text().await.unwrap_or_default();
            return Err(format!(
                "{method} {path}: expected {want}, got {status}: {text}"
            ));
        }
        Ok(())
    }
}

fn retry_after(resp: &reqwest::Response) -> Option<Duration> {
    let secs: u64 = resp
        .headers()
        .get("retry-after")?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(secs.clamp(1, 60)))
}

/// A short suffix that makes this run's user and room names unique.
pub fn run_suffix() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let mixed = (nanos as u64) ^ (u64::from(std::process::id()) << 40);
    format!("{:08x}", mixed & 0xffff_ffff)
}

/// The server's door the connections use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Door {
    /// `/ws`: the contract's JSON frames.
    Ws,
    /// `/socket.io/`: Socket.IO packets in Engine.IO messages over a
    /// WebSocket.
    SocketIo,
}

impl Door {
    pub fn name(self) -> &'static str {
        match self {
            Door::Ws => "ws",
            Door::SocketIo => "socketio",
        }
    }
}

/// The WebSocket URL of `door` for `http://host:port`.
pub fn ws_url(base_url: &str, door: Door) -> String {
    let rest = base_url.strip_prefix("http://").unwrap_or(base_url);
    match door {
        Door::Ws => format!("ws://{rest}/ws"),
        Door::SocketIo => format!("ws://{rest}/socket.io/?EIO=4&transport=websocket"),
    }
}

/// Engine.IO's ping, and the pong a client answers it with.
pub const ENGINE_PING: &str = "2";
pub const ENGINE_PONG: &str = "3";

/// One server frame, parsed without copying where possible: only the fields
/// the generator reads.
#[derive(Deserialize)]
pub struct Frame<'a> {
    #[serde(borrow)]
    pub event: Cow<'a, str>,
    #[serde(default, borrow, rename = "ref")]
    pub reference: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub data: Option<FrameData<'a>>,
}

/// The union of the `data` fields the generator reads: `message` of a
/// `receiveMessage`, `code` (and `message`) of an `error`.
#[derive(Deserialize)]
pub struct FrameData<'a> {
    #[serde(default, borrow)]
    pub message: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub code: Option<Cow<'a, str>>,
}

/// Opens one authenticated connection and, if `room` is given, joins it and
/// waits for the ack; all within `timeout`.
pub async fn open(
    url: &str,
    token: &str,
    room: Option<&Room>,
    timeout: Duration,
    door: Door,
) -> Result<Ws, String> {
    let opening = async {
        match door {
            Door::Ws => open_inner(url, token, room).await,
            Door::SocketIo => open_socketio(url, token, room).await,
        }
    };
    tokio::time::timeout(timeout, opening)
        .await
        .map_err(|_| format!("timed out after {}s", timeout.as_secs_f64()))?
}

/// The next text message, answering Engine.IO pings on the way.
async fn next_text(ws: &mut Ws, what: &str) -> Result<String, String> {
    while let Some(msg) = ws.next().await {
        match msg.map_err(|e| format!("{what}: {e}"))? {
            Message::Text(t) if t.as_str() == ENGINE_PING => ws
                .send(Message::text(ENGINE_PONG))
                .await
                .map_err(|e| format!("{what}: pong: {e}"))?,
            Message::Text(t) => return Ok(t.to_string()),
            Message::Close(c) => return Err(format!("{what}: closed: {c:?}")),
            _ => {}
        }
    }
    Err(format!("{what}: closed"))
}

/// Opens an Engine.IO session over a WebSocket, joins the default
/// namespace with `auth: {token}`, and joins `room` with acknowledgement
/// id 0.
async fn open_socketio(url: &str, token: &str, room: Option<&Room>) -> Result<Ws, String> {
    let config = WebSocketConfig::default().read_buffer_size(READ_BUFFER);
    let (mut ws, _) = tokio_tungstenite::connect_async_with_config(url, Some(config), true)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let open = next_text(&mut ws, "waiting for the open packet").await?;
    if !open.starts_with('0') {
        return Err(format!("not an Engine.IO open packet: {open}"));
    }
    let connect = format!("40{}", json!({ "token": token }));
    ws.send(Message::text(connect))
        .await
        .map_err(|e| format!("send CONNECT: {e}"))?;
    let answer = next_text(&mut ws, "waiting for CONNECT").await?;
    if !answer.starts_with("40") {
        return Err(format!("CONNECT refused: {answer}"));
    }
    let Some(room) = room else {
        return Ok(ws);
    };
    let join = format!(r#"420["joinRoom",{{"roomId":{}}}]"#, room.id_json);
    ws.send(Message::text(join))
        .await
        .map_err(|e| format!("send joinRoom: {e}"))?;
    loop {
        let text = next_text(&mut ws, "waiting for the joinRoom ack").await?;
        if let Some(args) = text.strip_prefix("430") {
            return match args.starts_with(r#"[{"error""#) {
                true => Err(format!("joinRoom refused: {text}")),
                false => Ok(ws),
            };
        }
    }
}

async fn open_inner(url: &str, token: &str, room: Option<&Room>) -> Result<Ws, String> {
    let mut request = url
        .into_client_request()
        .map_err(|e| format!("bad WebSocket URL {url}: {e}"))?;
    let bearer =
        HeaderValue::from_str(&format!("Bearer {token}")).map_err(|e| format!("bad token: {e}"))?;
    request.headers_mut().insert(AUTHORIZATION, bearer);
    // Nagle off: latency is what is measured, and frames are small.
    let config = WebSocketConfig::default().read_buffer_size(READ_BUFFER);
    let (mut ws, _) = tokio_tungstenite::connect_async_with_config(request, Some(config), true)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    if let Some(room) = room {
        join(&mut ws, room).await?;
    }
    Ok(ws)
}

async fn join(ws: &mut Ws, room: &Room) -> Result<(), String> {
    let frame = format!(
        r#"{{"event":"joinRoom","data":{{"roomId":{}}},"ref":"{JOIN_REF}"}}"#,
        room.id_json
    );
    ws.send(Message::text(frame))
        .await
        .map_err(|e| format!("send joinRoom: {e}"))?;
    while let Some(msg) = ws.next().await {
        let msg = msg.map_err(|e| format!("waiting for the joinRoom ack: {e}"))?;
        let text = match msg {
            Message::Text(t) => t,
            Message::Close(c) => return Err(format!("closed while joining: {c:?}")),
            _ => continue,
        };
        let Ok(frame) = serde_json::from_str::<Frame>(text.as_str()) else {
            return Err(format!("unparsable frame while joining: {}", text.as_str()));
        };
        if frame.reference.as_deref() != Some(JOIN_REF) {
            continue;
        }
        return match frame.event.as_ref() {
            "ack" => Ok(()),
            _ => Err(format!("joinRoom refused: {}", text.as_str())),
        };
    }
    Err("closed while joining".to_string())
}

/// Opens one connection per token, `concurrency` at a time. The result keeps
/// the order of `tokens`; failed connections are `Err` with the reason.
pub async fn open_many(
    url: &str,
    tokens: Vec<String>,
    room: Option<&Room>,
    concurrency: usize,
    timeout: Duration,
    door: Door,
) -> Vec<Result<Ws, String>> {
    stream::iter(tokens)
        .map(|token| async move { open(url, &token, room, timeout, door).await })
        .buffered(concurrency.max(1))
        .collect()
        .await
}
