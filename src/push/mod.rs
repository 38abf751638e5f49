//! Web Push (RFC 8030, 8291, 8292): notifications delivered straight to
//! each browser's own push service, with no vendor gateway in between and
//! nothing to register anywhere but the server's VAPID key. [`keys`] holds
//! that identity; [`send`] encrypts, signs and posts notifications from a
//! bounded queue ([`queue`]); [`notify`] turns each stored message into
//! jobs for the people [`recipients`] names, off the message path; the
//! subscriptions and per-room levels live in the store.

pub mod keys;
pub mod notify;
pub mod public_addr;
pub mod queue;
pub mod recipients;
pub mod send;
mod send_request;
mod send_vapid;
pub mod service;
