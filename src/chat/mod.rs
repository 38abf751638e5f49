//! The real-time core: sessions read client frames, the writer makes
//! messages durable in batches, the hub fans them out.
//!
//! `events` is the wire vocabulary; `conn` is what the hub holds of one
//! connection; `presence` is one room's live state inside the hub;
//! `registry` is every open connection by user.
//! `mentions` reads `@name` out of a message; `reads` moves read state;
//! `sight` is whether a connection's page is being looked at.

pub mod conn;
pub mod events;
pub mod hub;
pub mod mentions;
pub mod presence;
pub mod reads;
pub mod registry;
pub mod session;
pub mod sight;
pub mod socketio;
pub mod writer;
