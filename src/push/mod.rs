//! Web Push (RFC 8030): notifications delivered by the browser's own push
//! service, with nothing to register anywhere but the server's VAPID key.

pub mod queue;
pub mod send;
mod send_request;
mod send_vapid;
