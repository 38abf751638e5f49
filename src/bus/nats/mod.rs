//! The NATS bus: the nodes of a cluster tell each other what their hubs
//! did.
//!
//! Every node publishes its hub's acts ([`Fanout`], as JSON) on one subject
//! and subscribes to it. The connection is opened with `no_echo`, so a
//! node never hears its own acts back (its hub applied them already).
//! This is core NATS: at most once, in order per publisher, nothing kept.
//! The store is the truth, so an act the bus loses costs a client nothing
//! that its next `joinRoom` with `since` does not bring back.
//!
//! Sharing never waits: acts queue in a bounded outbox that one task
//! publishes from; when the outbox is full (NATS unreachable for long, or
//! slower than the node), acts are dropped, counted and logged at most
//! once a minute. The client reconnects by itself, forever, with backoff.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::StreamExt;
use tokio::sync::mpsc;

use super::{Bus, Fanout};
use crate::chat::hub::Hub;

#[cfg(test)]
mod testing;
#[cfg(test)]
mod tests;

/// The subject every node publishes its acts on and listens to.
pub const SUBJECT: &str = "chatroom.fanout";

/// Acts waiting to be published.
const OUTBOX: usize = 8192;

/// How long the first connection may take before the node refuses to
/// start: a typo in `--bus` is said at once.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How often a full outbox is reported.
const DROP_REPORT_EVERY: Duration = Duration::from_secs(60);

/// Why the bus could not be started.
#[derive(Debug, thiserror::Error)]
pub enum NatsError {
    #[error("cannot connect to NATS at {url}: {reason}")]
    Connect { url: String, reason: String },
    #[error("cannot subscribe to {SUBJECT}: {0}")]
    Subscribe(String),
}

/// A node's end of the NATS bus.
pub struct NatsBus {
    client: async_nats::Client,
    outbox: mpsc::Sender<Fanout>,
    dropped: AtomicU64,
    last_report: Mutex<Option<Instant>>,
}

/// The other nodes' acts, received but not yet applied: handed to
/// [`Inbound::run`] once the hub that applies them exists.
pub struct Inbound {
    subscriber: async_nats::Subscriber,
}

impl NatsBus {
    /// Connects to the NATS server at `url` and subscribes, so that no act
    /// published after this returns is missed. Starts the task that
    /// publishes this node's acts; it ends when the bus is dropped.
    pub async fn connect(url: &str) -> Result<(Arc<NatsBus>, Inbound), NatsError> {
        let connect_error = |reason: String| NatsError::Connect {
            url: url.to_owned(),
            reason,
        };
        let options = async_nats::ConnectOptions::new()
            .name("chatroom")
            .no_echo()
            .connection_timeout(CONNECT_TIMEOUT)
            .event_callback(|event| async move {
                match event {
                    async_nats::Event::Connected => tracing::info!("bus: connected to NATS"),
                    async_nats::Event::Disconnected => {
                        tracing::warn!("bus: NATS connection lost; reconnecting")
                    }
                    other => tracing::warn!("bus: NATS: {other}"),
                }
            });
        let client = tokio::time::timeout(CONNECT_TIMEOUT, options.connect(url))
            .await
            .map_err(|_| connect_error("timed out".into()))?
            .map_err(|e| connect_error(e.to_string()))?;
        let subscriber = client
            .subscribe(SUBJECT)
            .await
            .map_err(|e| NatsError::Subscribe(e.to_string()))?;
        settle(&client).await?;
        let (outbox, rx) = mpsc::channel(OUTBOX);
        let bus = Arc::new(NatsBus {
            client: client.clone(),
            outbox,
            dropped: AtomicU64::new(0),
            last_report: Mutex::new(None),
        });
        tokio::spawn(publish_all(client, rx));
        Ok((bus, Inbound { subscriber }))
    }

    /// Whether the connection to NATS is up now.
    pub fn connected(&self) -> bool {
        self.client.connection_state() == async_nats::connection::State::Connected
    }

    /// Acts dropped so far because the outbox was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    fn report_drop(&self) {
        let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
        let mut last = self.last_report.lock().unwrap_or_else(|p| p.into_inner());
        if last.is_none_or(|t| t.elapsed() >= DROP_REPORT_EVERY) {
            *last = Some(Instant::now());
            tracing::warn!(
                "bus: the NATS outbox is full; {n} acts dropped so far (other nodes' clients catch up from the store)"
            );
        }
    }
}

impl Bus for NatsBus {
    fn has_peers(&self) -> bool {
        true
    }

    fn share(&self, event: Fanout) {
        if self.outbox.try_send(event).is_err() {
            self.report_drop();
        }
    }
}

impl Inbound {
    /// Applies the other nodes' acts to `hub` until the bus closes.
    pub async fn run(mut self, hub: Hub) {
        while let Some(msg) = self.subscriber.next().await {
            match serde_json::from_slice::<Fanout>(&msg.payload) {
                Ok(event) => hub.apply(event),
                Err(e) => tracing::warn!("bus: an undecodable act was ignored: {e}"),
            }
        }
    }
}

/// Returns once the server has processed the subscription, so that no act
/// another node publishes afterwards is missed. Flushing only empties the
/// socket's buffer; a request does the round trip: the server handles a
/// connection's operations in order, so its answer (here "no responders",
/// since nobody listens on the probe's subject) comes after the
/// subscription took effect.
async fn settle(client: &async_nats::Client) -> Result<(), NatsError> {
    let probe = format!("chatroom.probe.{}", crate::chat::hub::NodeId::random().0);
    match tokio::time::timeout(CONNECT_TIMEOUT, client.request(probe, Bytes::new())).await {
        Err(_) => Err(NatsError::Subscribe("no answer from the server".into())),
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) if e.kind() == async_nats::RequestErrorKind::NoResponders => Ok(()),
        Ok(Err(e)) => Err(NatsError::Subscribe(e.to_string())),
    }
}

/// Publishes the outbox's acts, one NATS message each (a batch of messages
/// larger than the server's payload limit is split).
async fn publish_all(client: async_nats::Client, mut rx: mpsc::Receiver<Fanout>) {
    let mut failures = 0u64;
    let mut last_report: Option<Instant> = None;
    while let Some(event) = rx.recv().await {
        let limit = client.server_info().max_payload;
        for payload in encode(event, limit) {
            if let Err(e) = client.publish(SUBJECT, payload).await {
                failures += 1;
                if last_report.is_none_or(|t| t.elapsed() >= DROP_REPORT_EVERY) {
                    last_report = Some(Instant::now());
                    tracing::warn!("bus: publishing to NATS failed ({failures} so far): {e}");
                }
            }
        }
    }
}

/// The act as payloads of at most `limit` bytes: a batch of messages too
/// large for one is split in halves until each part fits. Anything else
/// (or a single message that cannot fit) goes as one payload, and NATS
/// refuses it if it is too large.
fn encode(event: Fanout, limit: usize) -> Vec<Bytes> {
    let bytes = match serde_json::to_vec(&event) {
        Ok(bytes) => bytes,
        Err(e) => {
            tracing::error!("bus: an act could not be encoded: {e}");
            return Vec::new();
        }
    };
    match event {
        Fanout::Messages { mut messages } if bytes.len() > limit && messages.len() > 1 => {
            let second = messages.split_off(messages.len() / 2);
            let mut out = encode(Fanout::Messages { messages }, limit);
            out.extend(encode(Fanout::Messages { messages: second }, limit));
            out
        }
        _ => vec![Bytes::from(bytes)],
    }
}
