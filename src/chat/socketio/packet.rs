//! Socket.IO packets (protocol v5) over Engine.IO messages: reading what a
//! client sends, writing the namespace-level answers (`CONNECT`,
//! `CONNECT_ERROR`, `DISCONNECT`). Events and acknowledgements are framed
//! in [`crate::chat::events::socketio`], beside the events themselves.
//!
//! A packet is `<type>[<attachments>-][<namespace>,][<ack id>][<JSON>]`:
//! the namespace is written only when it is not `/`, the attachment count
//! only for the binary types, the ack id only for events and acks. Each
//! travels as one Engine.IO message, which adds its own type digit in
//! front (`4`): the CONNECT packet `0{...}` is `40{...}` on the wire.

use serde::Serialize;

/// The default namespace, the only one this server has.
pub const DEFAULT_NAMESPACE: &str = "/";
/// The server's `DISCONNECT` of the default namespace: the client does not
/// reconnect by itself (`"io server disconnect"`).
pub const DISCONNECT: &str = "1";

/// A packet as a client sent it, borrowed from its text.
#[derive(Debug, PartialEq, Eq)]
pub enum Packet<'a> {
    /// `0`: join a namespace, with the client's `auth` object, if any.
    Connect { nsp: &'a str, auth: Option<&'a str> },
    /// `1`: leave a namespace.
    Disconnect { nsp: &'a str },
    /// `2`: an event; `args` is the JSON array `["name", ...]`.
    Event {
        nsp: &'a str,
        ack: Option<&'a str>,
        args: &'a str,
    },
    /// `3`: the client acknowledges a server event (this server asks none).
    Ack { nsp: &'a str },
    /// `5` and `6`: an event or acknowledgement with binary attachments,
    /// which this server refuses.
    Binary { nsp: &'a str, ack: Option<&'a str> },
}

/// Text that is no Socket.IO packet a client may send.
#[derive(Debug, PartialEq, Eq)]
pub struct Malformed;

/// Splits `text` after its leading ASCII digits.
fn digits(text: &str) -> (&str, &str) {
    let end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    text.split_at(end)
}

/// Reads one packet.
pub fn decode(text: &str) -> Result<Packet<'_>, Malformed> {
    let mut chars = text.chars();
    let kind = chars.next().ok_or(Malformed)?;
    let mut rest = chars.as_str();
    if matches!(kind, '5' | '6') {
        let (count, after) = digits(rest);
        rest = after.strip_prefix('-').ok_or(Malformed)?;
        if count.is_empty() {
            return Err(Malformed);
        }
    }
    let mut nsp = DEFAULT_NAMESPACE;
    if rest.starts_with('/') {
        (nsp, rest) = rest.split_once(',').unwrap_or((rest, ""));
    }
    let ack = |rest| match digits(rest) {
        ("", rest) => (None, rest),
        (id, rest) => (Some(id), rest),
    };
    Ok(match kind {
        '0' => Packet::Connect {
            nsp,
            auth: Some(rest).filter(|a| !a.is_empty()),
        },
        '1' => Packet::Disconnect { nsp },
        '2' => {
            let (ack, args) = ack(rest);
            Packet::Event { nsp, ack, args }
        }
        '3' => Packet::Ack { nsp },
        '5' | '6' => Packet::Binary {
            nsp,
            ack: ack(rest).0,
        },
        _ => return Err(Malformed),
    })
}

/// The `CONNECT` answer of a socket joined to the default namespace.
pub fn connected(sid: &str) -> String {
    #[derive(Serialize)]
    struct Sid<'a> {
        sid: &'a str,
    }
    format!("0{}", json(&Sid { sid }))
}

/// A `CONNECT_ERROR` of namespace `nsp`: the client's `connect_error` gets
/// an `Error` with `message`, and `{code}` as its `data` when given.
pub fn connect_error(nsp: &str, message: &str, code: Option<&str>) -> String {
    #[derive(Serialize)]
    struct Code<'a> {
        code: &'a str,
    }
    #[derive(Serialize)]
    struct ConnectError<'a> {
        message: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        data: Option<Code<'a>>,
    }
    let body = json(&ConnectError {
        message,
        data: code.map(|code| Code { code }),
    });
    if nsp == DEFAULT_NAMESPACE {
        format!("4{body}")
    } else {
        format!("4{nsp},{body}")
    }
}

/// Serialising these plain structs cannot fail; should it, the client
/// gets an empty object rather than a panic.
fn json(value: &impl Serialize) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "{}".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packets_are_read_with_namespace_and_ack_id() {
        assert_eq!(
            decode(r#"0{"token":"t"}"#),
            Ok(Packet::Connect {
                nsp: "/",
                auth: Some(r#"{"token":"t"}"#)
            })
        );
        assert_eq!(
            decode("0/nope,"),
            Ok(Packet::Connect {
                nsp: "/nope",
                auth: None
            })
        );
        assert_eq!(decode("1"), Ok(Packet::Disconnect { nsp: "/" }));
        assert_eq!(decode("1/nope"), Ok(Packet::Disconnect { nsp: "/nope" }));
        assert_eq!(
            decode(r#"212["typing"]"#),
            Ok(Packet::Event {
                nsp: "/",
                ack: Some("12"),
                args: r#"["typing"]"#
            })
        );
        assert_eq!(
            decode(r#"2/chat,["typing"]"#),
            Ok(Packet::Event {
                nsp: "/chat",
                ack: None,
                args: r#"["typing"]"#
            })
        );
        assert_eq!(decode("30[]"), Ok(Packet::Ack { nsp: "/" }));
        assert_eq!(
            decode(r#"51-7["x",{"_placeholder":true,"num":0}]"#),
            Ok(Packet::Binary {
                nsp: "/",
                ack: Some("7")
            })
        );
    }

    #[test]
    fn malformed_packets_are_refused() {
        for bad in ["", "4{}", "9", "x", "5[]", "6-[]", "é"] {
            assert_eq!(decode(bad), Err(Malformed), "{bad:?}");
        }
    }

    #[test]
    fn answers_are_written_as_the_client_reads_them() {
        assert_eq!(connected("abc"), r#"0{"sid":"abc"}"#);
        assert_eq!(
            connect_error("/", "unauthorized", Some("unauthorized")),
            r#"4{"message":"unauthorized","data":{"code":"unauthorized"}}"#
        );
        assert_eq!(
            connect_error("/nope", "Invalid namespace", None),
            r#"4/nope,{"message":"Invalid namespace"}"#
        );
    }
}
