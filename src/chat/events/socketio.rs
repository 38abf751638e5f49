//! The same events in Socket.IO's framing (protocol v5), for the Socket.IO
//! door: a client event is `["name", data]` with an optional acknowledgement
//! id, a server event is the packet `2["name",data]`, and the answer to an
//! event that asked for an acknowledgement is `3<id>[data]` (on the wire,
//! inside an Engine.IO message: `42["name",data]` and `43<id>[data]`).
//!
//! The acknowledgement id plays the part of `/ws`'s `ref`: it is read as
//! the `ref` of the event, so the session answers it exactly once, and the
//! answer frame (`ack`, or `error` with that `ref`) becomes the ACK packet.
//! Frames are built once, in [`super::server`], in the `/ws` form; each is
//! converted here on its way to a Socket.IO client.

use serde::Deserialize;
use serde_json::value::RawValue;

use super::client::{socketio_event, Parsed};
use super::{ErrorCode, Refusal};

/// The message of the `connect_error` a client gets for a missing, bad,
/// expired or revoked token, or a disabled account; the data's `code` is
/// the same word.
pub const UNAUTHORIZED: &str = "unauthorized";
/// The `connect_error` of a user at `--max-user-connections`, or of a
/// server at `--max-connections`; the data's `code` is the same word.
pub const TOO_MANY_CONNECTIONS: &str = "rate_limited";
/// Socket.IO's own message for a namespace the server does not have.
pub const INVALID_NAMESPACE: &str = "Invalid namespace";

/// The packet type digits of the two packets built here.
const EVENT: &str = "2";
const ACK: &str = "3";

/// The acknowledgement id of a packet as the `ref` of its event: the
/// digits are a JSON number. `None` for an id that is not one (leading
/// zeros, too long), which is answered as malformed.
pub fn ack_ref(id: &str) -> Option<&RawValue> {
    if id.len() > 1 && id.starts_with('0') {
        return None;
    }
    id.parse::<u64>().ok()?;
    serde_json::from_str(id).ok()
}

/// Reads the data of an EVENT packet (`["name", data, ...]`; arguments
/// after the first are ignored) with its acknowledgement id, if any.
pub fn parse<'a>(ack: Option<&'a str>, args: &'a str) -> Parsed<'a> {
    let refused = |reference, message: &str| Parsed {
        reference,
        event: Err(Refusal::new(ErrorCode::InvalidJson, message)),
    };
    let reference = match ack {
        None => None,
        Some(id) => match ack_ref(id) {
            Some(r) => Some(r),
            None => return refused(None, "an acknowledgement id is a number"),
        },
    };
    const SHAPE: &str = "an event is a JSON array [name, data]";
    let Ok(items) = serde_json::from_str::<Vec<&RawValue>>(args) else {
        return refused(reference, SHAPE);
    };
    let name = items
        .first()
        .and_then(|n| serde_json::from_str::<String>(n.get()).ok());
    let Some(name) = name else {
        return refused(reference, SHAPE);
    };
    Parsed {
        reference,
        event: socketio_event(&name, items.get(1).copied()),
    }
}

/// The parts of a server frame, read by serde when its layout is not the
/// one [`super::server`] writes (it always is; this keeps the conversion
/// correct should that change).
#[derive(Deserialize)]
struct Frame<'a> {
    #[serde(borrow)]
    event: &'a str,
    #[serde(borrow)]
    data: &'a RawValue,
    #[serde(borrow, default, rename = "ref")]
    reference: Option<&'a RawValue>,
}

/// Splits a frame `{"event":"NAME","data":DATA[,"ref":REF]}` into its
/// parts by its layout: field order as [`super::server`] serialises them,
/// event names without escapes, and `,"ref":` (with unescaped quotes)
/// found in no data of an `ack` or `error` frame.
fn split(frame: &str) -> Option<(&str, &str, Option<&str>)> {
    let rest = frame.strip_prefix(r#"{"event":""#)?;
    let (name, rest) = rest.split_once('"')?;
    let body = rest.strip_prefix(r#","data":"#)?.strip_suffix('}')?;
    if name != "ack" && name != "error" {
        return Some((name, body, None));
    }
    match body.rfind(r#","ref":"#) {
        Some(at) => Some((name, &body[..at], Some(&body[at + 7..]))),
        None => Some((name, body, None)),
    }
}

/// The Socket.IO packet of a server frame: `2["name",data]`; an `ack`
/// with `ref` N is `3N[data]`, an `error` with `ref` N is
/// `3N[{"error":data}]` (the client's callback gets `{error: {code,
/// message}}`), an `error` without `ref` is the event `2["error",data]`.
pub fn packet(frame: &str) -> String {
    let parsed;
    let (name, data, reference) = match split(frame) {
        Some(parts) => parts,
        None => match serde_json::from_str::<Frame<'_>>(frame) {
            Ok(f) => {
                parsed = f;
                (
                    parsed.event,
                    parsed.data.get(),
                    parsed.reference.map(RawValue::get),
                )
            }
            Err(_) => (
                "error",
                r#"{"code":"internal","message":"a frame could not be converted"}"#,
                None,
            ),
        },
    };
    let mut out = String::with_capacity(data.len() + name.len() + 16);
    match reference {
        Some(id) if name == "ack" || name == "error" => {
            out.push_str(ACK);
            out.push_str(id);
            out.push('[');
            if name == "error" {
                out.push_str(r#"{"error":"#);
                out.push_str(data);
                out.push('}');
            } else {
                out.push_str(data);
            }
            out.push(']');
        }
        _ => {
            out.push_str(EVENT);
            out.push_str("[\"");
            out.push_str(name);
            out.push_str("\",");
            out.push_str(data);
            out.push(']');
        }
    }
    out
}

#[cfg(test)]
mod tests;
