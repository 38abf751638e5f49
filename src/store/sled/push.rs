//! Web Push subscriptions: where each browser that asked for
//! notifications can be reached, and the keys to encrypt for it.
//!
//! An endpoint belongs to one user at a time (one browser, one account):
//! subscribing an endpoint another user holds moves it. `push_subs` holds
//! each subscription by endpoint, `user_push_subs` indexes them by user;
//! both change in one transaction. Changes are serialised (one lock: they
//! are rare) so that "count the user's subscriptions, then add one"
//! cannot pass the limit twice.

use sled::transaction::{ConflictableTransactionError, TransactionalTree};
use sled::Transactional;

use super::{from_json, keys, to_json, SledStore, StoreError};
use crate::model::UserId;
use crate::store::{PushStore, PushSubscription, Subscribed};

impl PushStore for SledStore {
    fn subscribe_push(&self, sub: &PushSubscription, max: usize) -> Result<Subscribed, StoreError> {
        let t = &self.inner;
        let _serial = t.push_serial.lock().unwrap_or_else(|p| p.into_inner());
        let old: Option<PushSubscription> = match t.push_subs.get(sub.endpoint.as_bytes())? {
            Some(v) => Some(from_json(&v)?),
            None => None,
        };
        let already_mine = old.as_ref().is_some_and(|o| o.user_id == sub.user_id);
        if !already_mine
            && t.user_push_subs
                .scan_prefix(keys::id(sub.user_id.0))
                .count()
                >= max
        {
            return Ok(Subscribed::Full);
        }
        let value = to_json(sub)?;
        let index = keys::user_push(sub.user_id, &sub.endpoint);
        let moved_from = old
            .as_ref()
            .filter(|o| o.user_id != sub.user_id)
            .map(|o| keys::user_push(o.user_id, &o.endpoint));
        (&t.push_subs, &t.user_push_subs).transaction(
            |(subs, by_user): &(TransactionalTree, TransactionalTree)| {
                subs.insert(sub.endpoint.as_bytes(), value.as_slice())?;
                if let Some(k) = &moved_from {
                    by_user.remove(k.as_slice())?;
                }
                by_user.insert(index.as_slice(), &[])?;
                Ok::<(), ConflictableTransactionError<StoreError>>(())
            },
        )?;
        Ok(if old.is_some() {
            Subscribed::Updated
        } else {
            Subscribed::Created
        })
    }

    fn unsubscribe_push(&self, user: UserId, endpoint: &str) -> Result<bool, StoreError> {
        self.remove_push_if(endpoint, |s| s.user_id == user)
    }

    fn delete_push_subscription(&self, endpoint: &str) -> Result<bool, StoreError> {
        self.remove_push_if(endpoint, |_| true)
    }

    fn push_subscription(&self, endpoint: &str) -> Result<Option<PushSubscription>, StoreError> {
        match self.inner.push_subs.get(endpoint.as_bytes())? {
            Some(v) => Ok(Some(from_json(&v)?)),
            None => Ok(None),
        }
    }

    /// Whether anyone subscribed at all: while nobody did, stored messages
    /// need no look for whom to notify.
    fn has_push_subscriptions(&self) -> bool {
        !self.inner.push_subs.is_empty()
    }

    fn push_subscriptions(&self, user: UserId) -> Result<Vec<PushSubscription>, StoreError> {
        let mut out = Vec::new();
        for k in self
            .inner
            .user_push_subs
            .scan_prefix(keys::id(user.0))
            .keys()
        {
            let k = k?;
            let endpoint = k
                .get(8..)
                .and_then(|e| std::str::from_utf8(e).ok())
                .ok_or_else(|| StoreError::Corrupt("a push subscription's key".into()))?;
            if let Some(s) = self.push_subscription(endpoint)? {
                out.push(s);
            }
        }
        Ok(out)
    }

    fn delete_user_push_subscriptions(&self, user: UserId) -> Result<usize, StoreError> {
        let subs = self.push_subscriptions(user)?;
        for s in &subs {
            self.delete_push_subscription(&s.endpoint)?;
        }
        Ok(subs.len())
    }
}

impl SledStore {
    /// Removes the subscription of `endpoint` if `which` accepts it, with
    /// its index entry, in one transaction. Returns whether it did.
    fn remove_push_if(
        &self,
        endpoint: &str,
        which: impl FnOnce(&PushSubscription) -> bool,
    ) -> Result<bool, StoreError> {
        let t = &self.inner;
        let _serial = t.push_serial.lock().unwrap_or_else(|p| p.into_inner());
        let Some(s) = self.push_subscription(endpoint)?.filter(which) else {
            return Ok(false);
        };
        let index = keys::user_push(s.user_id, &s.endpoint);
        (&t.push_subs, &t.user_push_subs).transaction(
            |(subs, by_user): &(TransactionalTree, TransactionalTree)| {
                subs.remove(s.endpoint.as_bytes())?;
                by_user.remove(index.as_slice())?;
                Ok::<(), ConflictableTransactionError<StoreError>>(())
            },
        )?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Timestamp;
    use crate::store::testing::temp_store;

    fn sub(user: u64, endpoint: &str) -> PushSubscription {
        PushSubscription {
            endpoint: endpoint.into(),
            user_id: UserId(user),
            p256dh: "k".into(),
            auth: "a".into(),
            created_at: Timestamp(1),
        }
    }

    #[test]
    fn subscriptions_are_per_endpoint_limited_and_move_between_users() {
        let (store, _dir) = temp_store();
        let e = |i: usize| format!("https://push.example/{i}");
        let put = |user, i| {
            store
                .subscribe_push(&sub(user, &e(i)), 3)
                .expect("subscribe")
        };
        for i in 0..3 {
            assert_eq!(put(1, i), Subscribed::Created);
        }
        assert_eq!(put(1, 3), Subscribed::Full);
        // The same endpoint again is an update, even at the limit.
        assert_eq!(put(1, 0), Subscribed::Updated);
        assert_eq!(put(2, 0), Subscribed::Updated);
        let of = |user| store.push_subscriptions(UserId(user)).expect("list");
        assert_eq!(of(1).len(), 2);
        assert_eq!(of(2), vec![sub(2, &e(0))]);
        assert!(!store.unsubscribe_push(UserId(1), &e(0)).expect("not hers"));
        assert!(store.unsubscribe_push(UserId(2), &e(0)).expect("his"));
        assert!(store.delete_push_subscription(&e(1)).expect("gone"));
        assert!(!store.delete_push_subscription(&e(1)).expect("already"));
        assert_eq!(
            store
                .delete_user_push_subscriptions(UserId(1))
                .expect("all"),
            1
        );
        assert!(store.push_subscription(&e(2)).expect("read").is_none());
        assert!(of(1).is_empty());
    }
}
