//! Pipelined exchanges on a WebSocket: frames sent without waiting for
//! their answers while what comes back is read at the same time, as a busy
//! client does. The one sender of the tests; every wait is bounded.

use std::time::Duration;

use futures_util::{SinkExt, Stream, StreamExt};
use serde_json::{json, Value};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::{self, Message};

use super::{Client, WAIT};

/// How a pipelined exchange (or a read) ended.
#[derive(Debug, PartialEq)]
pub enum Ended {
    /// The reader had what it wanted.
    Done,
    /// The server closed the connection, with this close code.
    Closed(Option<u16>),
}

/// How frames go out: a flush after every `burst` frames, then `pause`.
#[derive(Clone, Copy, Debug)]
pub struct Pace {
    pub burst: usize,
    pub pause: Duration,
}

impl Pace {
    /// As fast as the socket takes them.
    pub const FLAT_OUT: Pace = Pace {
        burst: 32,
        pause: Duration::ZERO,
    };
}

/// Reads text frames from `stream` and hands each (as JSON) to `on_frame`
/// until it returns false ([`Ended::Done`]) or a close frame arrives.
/// Other frames are skipped. Panics when nothing arrives in time (within
/// [`WAIT`] of the last frame, or by `until` when given) or when the
/// connection ends without a close frame.
pub async fn read_frames<S>(
    stream: &mut S,
    until: Option<Instant>,
    mut on_frame: impl FnMut(Value) -> bool,
) -> Ended
where
    S: Stream<Item = Result<Message, tungstenite::Error>> + Unpin,
{
    let mut read = 0;
    loop {
        let deadline = until.unwrap_or_else(|| Instant::now() + WAIT);
        let next = tokio::time::timeout_at(deadline, stream.next())
            .await
            .unwrap_or_else(|_| panic!("no frame in time ({read} frames read)"));
        match next {
            Some(Ok(Message::Text(t))) => {
                read += 1;
                if !on_frame(serde_json::from_str(&t).expect("json frame")) {
                    return Ended::Done;
                }
            }
            Some(Ok(Message::Close(c))) => return Ended::Closed(c.map(|c| u16::from(c.code))),
            Some(Ok(_)) => {}
            Some(Err(e)) => {
                panic!("the connection failed without a close frame after {read} frames: {e}")
            }
            None => panic!("the connection ended without a close frame after {read} frames"),
        }
    }
}

impl Client {
    /// Sends `frames` at `pace` without waiting for answers, reading at the
    /// same time with [`read_frames`]. Sending stops early once the server
    /// has closed the connection. Returns how many frames went out and how
    /// the reading ended.
    pub async fn pipeline(
        &mut self,
        frames: Vec<Message>,
        pace: Pace,
        until: Option<Instant>,
        on_frame: impl FnMut(Value) -> bool,
    ) -> (usize, Ended) {
        let (mut sink, mut stream) = (&mut self.ws).split();
        let send = async move {
            let mut sent = 0;
            for f in frames {
                let fed = tokio::time::timeout(WAIT, sink.feed(f))
                    .await
                    .expect("frame sent in time");
                if fed.is_err() {
                    break;
                }
                sent += 1;
                if sent % pace.burst == 0 {
                    let _ = tokio::time::timeout(WAIT, sink.flush())
                        .await
                        .expect("flushed in time");
                    tokio::time::sleep(pace.pause).await;
                }
            }
            let _ = tokio::time::timeout(WAIT, sink.flush())
                .await
                .expect("flushed in time");
            sent
        };
        let recv = read_frames(&mut stream, until, on_frame);
        tokio::join!(send, recv)
    }

    /// Sends one `sendMessage` per text to `room` (or, without one, to the
    /// room joined last), pipelined: see [`Client::send_all`].
    pub async fn send_pipelined(
        &mut self,
        room: Option<&str>,
        texts: &[String],
    ) -> (Vec<Value>, Vec<Value>) {
        let data = texts
            .iter()
            .map(|t| {
                let mut data = json!({ "message": t });
                if let Some(r) = room {
                    data["roomId"] = json!(r);
                }
                data
            })
            .collect();
        self.send_all(data).await
    }

    /// Sends one `sendMessage` per `data` without waiting for answers,
    /// reading at the same time. Returns the answer (ack or error frame) to
    /// each, in send order, and every other frame that arrived meanwhile.
    /// Panics if a ref is answered twice, on close, or when no frame
    /// arrives within [`WAIT`].
    pub async fn send_all(&mut self, data: Vec<Value>) -> (Vec<Value>, Vec<Value>) {
        let n = data.len();
        let first = self.next_ref + 1;
        self.next_ref += n as u64;
        let frames = data
            .into_iter()
            .zip(first..)
            .map(|(d, r)| {
                let frame = json!({"event": "sendMessage", "data": d, "ref": format!("r{r}")});
                Message::text(frame.to_string())
            })
            .collect();
        let mut answers = vec![Value::Null; n];
        let mut others = Vec::new();
        if n == 0 {
            return (answers, others);
        }
        let mut got = 0;
        let (_, ended) = self
            .pipeline(frames, Pace::FLAT_OUT, None, |v| {
                let idx = v["ref"]
                    .as_str()
                    .and_then(|r| r.strip_prefix('r'))
                    .and_then(|k| k.parse::<u64>().ok())
                    .filter(|k| (first..first + n as u64).contains(k));
                match idx {
                    Some(k) => {
                        let slot = &mut answers[(k - first) as usize];
                        assert!(slot.is_null(), "ref r{k} answered twice: {slot} then {v}");
                        *slot = v;
                        got += 1;
                    }
                    None => others.push(v),
                }
                got < n
            })
            .await;
        assert_eq!(ended, Ended::Done, "closed after {got} of {n} answers");
        (answers, others)
    }
}
