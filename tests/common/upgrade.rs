//! WebSocket upgrades as a test sends them: the request with or without a
//! token and an origin, and its outcome, refusals included.

use serde_json::Value;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::client::Request;
use tokio_tungstenite::tungstenite::Error;

use super::{Client, Server, User, Ws, WAIT};

/// A WebSocket upgrade request to `/ws{query}`, with an optional bearer
/// token and origin.
pub fn ws_request(s: &Server, query: &str, bearer: Option<&str>, origin: Option<&str>) -> Request {
    let mut req = format!("ws://{}/ws{query}", s.addr)
        .into_client_request()
        .expect("request");
    if let Some(t) = bearer {
        req.headers_mut().insert(
            "authorization",
            format!("Bearer {t}").parse().expect("header"),
        );
    }
    if let Some(o) = origin {
        req.headers_mut()
            .insert("origin", o.parse().expect("header"));
    }
    req
}

/// Tries an upgrade (bounded): the socket, or the refusal's status and
/// JSON body (Null when the body is not JSON). Panics when the server
/// gives no HTTP answer.
pub async fn try_upgrade(req: Request) -> Result<Ws, (u16, Value)> {
    match tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(req))
        .await
        .expect("upgrade answered in time")
    {
        Ok((ws, _)) => Ok(ws),
        Err(Error::Http(res)) => {
            let status = res.status().as_u16();
            let body = res.body().as_deref().unwrap_or_default();
            Err((status, serde_json::from_slice(body).unwrap_or(Value::Null)))
        }
        Err(e) => panic!("upgrade failed without an HTTP answer: {e}"),
    }
}

impl Client {
    /// Connects as `u` with `Authorization: Bearer`, or returns the
    /// refusal's status and body.
    pub async fn try_connect(s: &Server, u: &User) -> Result<Client, (u16, Value)> {
        try_upgrade(ws_request(s, "", Some(&u.token), None))
            .await
            .map(Client::from_ws)
    }
}
