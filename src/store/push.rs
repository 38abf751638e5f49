//! Web Push subscriptions.

use serde::{Deserialize, Serialize};

use super::StoreError;
use crate::model::{Timestamp, UserId};

/// One browser's push subscription, as stored. The keys are the browser's
/// own, unpadded base64url, checked when they were given: `p256dh` an
/// uncompressed P-256 point (65 bytes), `auth` 16 bytes (RFC 8291).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PushSubscription {
    pub endpoint: String,
    pub user_id: UserId,
    pub p256dh: String,
    pub auth: String,
    pub created_at: Timestamp,
}

/// What [`PushStore::subscribe_push`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Subscribed {
    /// A new endpoint.
    Created,
    /// The endpoint was stored already (this user's or another's): it
    /// now belongs to this user, with the keys given.
    Updated,
    /// The user has as many subscriptions as allowed; nothing changed.
    Full,
}

/// Web Push subscriptions by endpoint, and their index by user. Changes
/// to one user's subscriptions are serialised, so the limit per user holds.
pub trait PushStore {
    /// Stores `sub` for its user, replacing whatever the endpoint had,
    /// unless it would be the user's `max + 1`th. Not yet durable: the
    /// caller flushes (`App::change`).
    fn subscribe_push(&self, sub: &PushSubscription, max: usize) -> Result<Subscribed, StoreError>;

    /// Removes `endpoint` if `user` holds it (someone else's is left
    /// alone). Returns whether it was removed. Not yet durable.
    fn unsubscribe_push(&self, user: UserId, endpoint: &str) -> Result<bool, StoreError>;

    /// Removes `endpoint` whoever holds it: its push service answered 404
    /// or 410, so it will never deliver again. Returns whether it was
    /// there. Not yet durable: the caller flushes.
    fn delete_push_subscription(&self, endpoint: &str) -> Result<bool, StoreError>;

    /// The subscription of `endpoint`, if stored.
    fn push_subscription(&self, endpoint: &str) -> Result<Option<PushSubscription>, StoreError>;

    /// Whether anyone subscribed at all: while nobody did, stored messages
    /// need no look for whom to notify. Called for every batch: cheap.
    fn has_push_subscriptions(&self) -> bool;

    /// Every subscription of `user`: where a notification for them goes.
    fn push_subscriptions(&self, user: UserId) -> Result<Vec<PushSubscription>, StoreError>;

    /// Removes every subscription of `user` (whose account is going away).
    fn delete_user_push_subscriptions(&self, user: UserId) -> Result<usize, StoreError>;
}
