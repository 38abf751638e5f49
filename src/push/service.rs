//! Web Push as the server runs it: the sender with the server's key, the
//! push thread that feeds it from the writer, and the clean-up of
//! subscriptions a push service says are gone.

use std::time::Duration;

use super::notify::{PushFeed, PushThread};
use super::send::{PushSender, SenderConfig, StartError};
use crate::chat::hub::Hub;
use crate::config::Settings;
use crate::store::Store;

/// How long, at shutdown, the push thread may take to queue the
/// notifications of the last messages.
const DRAIN: Duration = Duration::from_secs(2);

/// The running push service.
pub struct Push {
    sender: PushSender,
    /// What the writer is given; this copy only serves [`Push::stop`].
    pub feed: PushFeed,
    thread: PushThread,
}

impl Push {
    /// Starts the sender (on the current runtime) and the push thread.
    pub fn start(settings: &Settings, store: &Store, hub: &Hub) -> Result<Push, String> {
        let mut config = SenderConfig::new(&settings.vapid_subject);
        config.allow_http = settings.push_allow_http;
        let key = p256::SecretKey::from(settings.vapid.signing_key());
        let gone_store = store.clone();
        let sender = PushSender::start(&key, config, move |endpoint| {
            let store = gone_store.clone();
            tokio::task::spawn_blocking(move || forget(&store, &endpoint));
        })
        .map_err(|e: StartError| format!("cannot start sending push notifications: {e}"))?;
        let (feed, thread) = PushFeed::start(
            store.clone(),
            hub.clone(),
            sender.clone(),
            settings.push_watch,
        )
        .map_err(|e| format!("cannot start the push thread: {e}"))?;
        Ok(Push {
            sender,
            feed,
            thread,
        })
    }

    /// Once the writer stored and handed over its last batch: lets the
    /// push thread queue what it was given, then stops the sender, which
    /// gives the requests in flight its grace and drops the rest.
    pub async fn stop_sending(&self) {
        self.feed.drained(DRAIN).await;
        self.sender.shutdown().await;
    }

    /// Once the writer thread ended (it held the other feed): ends the
    /// push thread.
    pub async fn join(self) {
        drop(self.feed);
        let thread = self.thread;
        let _ = tokio::task::spawn_blocking(move || thread.join()).await;
    }
}

/// Deletes a subscription its push service no longer knows (404, 410),
/// durably: it would never deliver again.
fn forget(store: &Store, endpoint: &str) {
    match store.change(|s| s.delete_push_subscription(endpoint)) {
        Ok(true) => {
            tracing::info!("a push subscription its push service no longer knows was removed");
        }
        Ok(false) => {}
        Err(e) => tracing::warn!(error = %e, "removing a gone push subscription failed"),
    }
}
