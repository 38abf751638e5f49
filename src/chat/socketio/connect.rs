//! One engine session's task: wait for the client's `CONNECT`, admit it,
//! then run the shared session until the connection ends.

use std::sync::Arc;

use engineioxide::socket::Sid;
use serde::Deserialize;
use tokio::sync::OwnedSemaphorePermit;

use super::link::{EngineSocket, Link};
use super::packet::{self, Packet, DEFAULT_NAMESPACE};
use super::{Admitted, Handler, Refused};
use crate::chat::events::socketio::{INVALID_NAMESPACE, TOO_MANY_CONNECTIONS, UNAUTHORIZED};
use crate::chat::session;

/// The `auth` object of a `CONNECT`, as the original API's clients send it.
#[derive(Deserialize)]
struct Auth {
    #[serde(default)]
    token: Option<String>,
}

/// Runs an engine session from its opening to its end. `permit` is its
/// place under `--max-connections`, held until then.
pub async fn run(
    handler: Arc<Handler>,
    socket: Arc<EngineSocket>,
    permit: Option<OwnedSemaphorePermit>,
) {
    let _permit = permit;
    let mut link = Link::new(socket);
    let Some(Admitted {
        caller,
        slot,
        still_valid,
    }) = admit(&handler, &mut link).await
    else {
        return;
    };
    let _slot = slot;
    let sid = Sid::new().to_string();
    if link.emit(packet::connected(&sid)).await.is_err() {
        return;
    }
    let handles = handler.handles.clone();
    session::serve(handles, caller, still_valid, move |kill, _| {
        link.attach(kill)
    })
    .await;
}

/// Reads packets until a `CONNECT` to the default namespace is admitted.
/// Nothing else is accepted before: other packets are dropped, a `CONNECT`
/// to another namespace or with bad credentials gets `CONNECT_ERROR` (the
/// client may try again). `None` when the session ended, the server is
/// stopping, or no `CONNECT` was admitted in time.
async fn admit(handler: &Handler, link: &mut Link) -> Option<Admitted> {
    let deadline = tokio::time::sleep(handler.connect_timeout);
    tokio::pin!(deadline);
    let stop = handler.handles.stop_reading.cancelled();
    tokio::pin!(stop);
    loop {
        let msg = tokio::select! {
            biased;
            _ = &mut stop => return None,
            _ = &mut deadline => {
                tracing::debug!(sid = %link.socket().id, "no socket.io CONNECT in time; closing");
                return None;
            }
            msg = link.next() => msg?,
        };
        let answer = match packet::decode(&msg) {
            Ok(Packet::Connect { nsp, auth }) if nsp == DEFAULT_NAMESPACE => {
                let token = auth
                    .and_then(|a| serde_json::from_str::<Auth>(a).ok())
                    .and_then(|a| a.token)
                    .filter(|t| !t.is_empty());
                match handler
                    .gate
                    .admit(token.as_deref(), &link.socket().req_parts)
                    .await
                {
                    Ok(admitted) => return Some(admitted),
                    Err(Refused::Unauthorized) => {
                        packet::connect_error(nsp, UNAUTHORIZED, Some(UNAUTHORIZED))
                    }
                    Err(Refused::TooMany) => packet::connect_error(
                        nsp,
                        "too many connections; close one and try again",
                        Some(TOO_MANY_CONNECTIONS),
                    ),
                }
            }
            Ok(Packet::Connect { nsp, .. }) => packet::connect_error(nsp, INVALID_NAMESPACE, None),
            _ => continue,
        };
        link.emit(answer).await.ok()?;
    }
}
