//! The seam between chatroom processes: the bus.
//!
//! A hub acts on the connections of its own process. When several
//! processes (nodes) serve one chatroom, whatever a hub does to
//! connections — deliver stored messages, relay a typing notice, tell a
//! user's connections their room list changed, close a disabled user's
//! sockets — every other node's hub must do to its own connections too.
//! The hub describes each such act as a [`Fanout`], applies it itself and
//! hands it to the bus; another node's bus hands it to that node's hub
//! ([`Hub::apply`](crate::chat::hub::Hub::apply)).
//!
//! The bus carries no truth: what must be kept is in the store before any
//! fan-out starts, so a fan-out the bus loses costs a client nothing that
//! `since` on its next join does not bring back.
//!
//! [`InProcess`], the default, has no other node to tell: a single process
//! pays nothing for the seam (the hub does not even build the event).

use std::sync::Arc;

pub mod nats;
pub mod order;

pub use crate::chat::hub::Fanout;

/// Carries a hub's acts to the hubs of the other nodes.
pub trait Bus: Send + Sync {
    /// Whether any other node may listen. The hub builds a [`Fanout`] only
    /// when one may.
    fn has_peers(&self) -> bool;

    /// Hands `event`, which this node's hub has applied to its own
    /// connections, to every other node. Never waits for them: a bus that
    /// cannot send now drops the event and says so in the log.
    fn share(&self, event: Fanout);
}

/// The single process: no other node, nothing to carry.
#[derive(Clone, Copy, Debug, Default)]
pub struct InProcess;

impl Bus for InProcess {
    fn has_peers(&self) -> bool {
        false
    }

    fn share(&self, _event: Fanout) {}
}

/// The default bus, shared.
pub fn in_process() -> Arc<dyn Bus> {
    Arc::new(InProcess)
}
