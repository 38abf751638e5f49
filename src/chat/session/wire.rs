//! What the session's loop needs of a door: read the client's next
//! message, send frames, keep the peer alive, close with a [`Close`] code.
//!
//! `/ws` ([`super::socket::Socket`]) and Socket.IO
//! ([`crate::chat::socketio`]) each implement it for their framing; the
//! loop, the [`State`](super::state::State) and every rule behind them are
//! shared, so the two doors cannot drift apart.

use std::future::Future;

use tokio_tungstenite::tungstenite::Utf8Bytes;

use crate::chat::events::{Close, Framing, Parsed};

/// The peer is gone, stalled, or the connection was killed: stop talking.
#[derive(Debug)]
pub struct Gone;

/// One thing read from the peer.
pub enum Inbound<T> {
    /// A client message, to be read with [`Wire::parse`].
    Text(T),
    /// A binary message: the protocol speaks JSON text only.
    Binary,
    /// Nothing for the session (a ping, a pong, a packet the door handled).
    Control,
    /// A message over the contract's 64 KiB.
    TooBig,
    /// Closed by the peer, or unreadable.
    Gone,
}

/// One connection's way of moving frames, as one door frames them. Frames
/// handed to [`Wire::send`] are the contract's `{"event","data","ref"}`
/// text, built once in [`crate::chat::events`], which a door that frames
/// differently converts on the way out; except stored messages, which the
/// hub's batches hold in the door's [`Wire::FRAMING`] already, made once
/// for all its recipients.
pub trait Wire: Send {
    /// How this door frames the server's events.
    const FRAMING: Framing;

    /// A client message as read, kept while its [`Parsed`] borrows it.
    type Text: Send + Sync;

    /// The next thing the peer sent. Safe to cancel: nothing is lost.
    fn read(&mut self) -> impl Future<Output = Inbound<Self::Text>> + Send;

    /// What a client message says, in the door's own framing.
    fn parse(text: &Self::Text) -> Parsed<'_>;

    /// Writes frames in order; fails if the peer is gone, stalled, or the
    /// connection was killed meanwhile.
    fn send<I>(&mut self, frames: I) -> impl Future<Output = Result<(), Gone>> + Send
    where
        I: IntoIterator<Item = Utf8Bytes> + Send,
        I::IntoIter: Send;

    /// At each tick of the session's keepalive timer: fails if the peer
    /// has been silent too long.
    fn keepalive(&mut self) -> impl Future<Output = Result<(), Gone>> + Send;

    /// Ends the connection the way the door says `code`.
    fn close(self, code: Close) -> impl Future<Output = ()> + Send;
}
