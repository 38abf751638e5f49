//! The real-time core: sessions read client frames, the writer makes
//! messages durable in batches, the hub fans them out.

pub mod events;
pub mod hub;
pub mod session;
pub mod writer;
