//! Web Push (RFC 8030, 8291, 8292): what the server needs to send
//! notifications straight to each browser's own push service, with no
//! vendor gateway in between. [`keys`] holds the server's VAPID identity;
//! the subscriptions and per-room levels live in the store.

pub mod keys;
