//! From stored messages to push notifications, off the message path.
//!
//! The writer hands each stored batch to a [`PushFeed`] after it published
//! the batch to the hub and before it answers the senders: `offer` never
//! waits (a full queue drops the batch and counts it), and costs nothing
//! but one look at the store while nobody on the server subscribed. One
//! thread ("chatroom-push") takes the batches, works out who to tell of
//! each message ([`recipients`](super::recipients)) and queues one job per
//! subscription with the [`PushSender`], which never waits either. So a
//! push service that hangs delays no ack and no delivery.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::{mpsc, oneshot};

use super::queue::{LogEvery, LOG_EVERY};
use super::recipients::{Recipient, RoomPeople};
use super::send::{PushJob, PushSender, SendError, DEFAULT_TTL};
use crate::chat::hub::Hub;
use crate::model::{Message, MessageId, Room, RoomId, RoomKind, UserId};
use crate::store::{PushSubscription, Store, StoreError};

/// Characters of a message's text a notification carries.
pub const TEXT_CHARS: usize = 200;

/// Stored batches waiting for the push thread; more are dropped.
const QUEUE: usize = 64;

/// What a service worker receives, encrypted for its browser.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Payload<'a> {
    room_id: RoomId,
    /// The room's name as the recipient sees it (a direct room's is the
    /// other participants').
    room_name: String,
    /// `public`, `private` or `direct`, as the room object's `kind`: a
    /// direct message is titled by its sender alone.
    kind: RoomKind,
    message_id: MessageId,
    user: &'a str,
    text: &'a str,
}

/// The first [`TEXT_CHARS`] characters of `text`.
fn cut(text: &str) -> &str {
    match text.char_indices().nth(TEXT_CHARS) {
        Some((at, _)) => &text[..at],
        None => text,
    }
}

enum Request {
    Batch(Vec<Message>),
    /// Answered once every batch before it was turned into jobs.
    Barrier(oneshot::Sender<()>),
}

/// The writer's way to the push thread.
#[derive(Clone)]
pub struct PushFeed {
    inner: Arc<FeedInner>,
}

struct FeedInner {
    tx: mpsc::Sender<Request>,
    store: Store,
    dropped: AtomicU64,
    full_warning: LogEvery,
}

/// Owns the push thread; it ends once every [`PushFeed`] is dropped.
pub struct PushThread(JoinHandle<()>);

impl PushThread {
    pub fn join(self) {
        if self.0.join().is_err() {
            tracing::error!("the push thread panicked");
        }
    }
}

impl PushFeed {
    /// Starts the push thread, which turns what is offered to the feed
    /// into jobs for `sender`. A user counts as looking at a room while a
    /// connection of theirs joined to it is visible, or was within
    /// `watch` (30 s: they saw the last messages arrive).
    pub fn start(
        store: Store,
        hub: Hub,
        sender: PushSender,
        watch: Duration,
    ) -> std::io::Result<(PushFeed, PushThread)> {
        let (tx, rx) = mpsc::channel(QUEUE);
        let thread_store = store.clone();
        let looking = Looking { hub, watch };
        let handle = std::thread::Builder::new()
            .name("chatroom-push".into())
            .spawn(move || run(&thread_store, &looking, &sender, rx))?;
        let inner = FeedInner {
            tx,
            store,
            dropped: AtomicU64::new(0),
            full_warning: LogEvery::new(LOG_EVERY),
        };
        Ok((
            PushFeed {
                inner: Arc::new(inner),
            },
            PushThread(handle),
        ))
    }

    /// Hands a stored batch to the push thread, unless nobody subscribed;
    /// never waits.
    pub fn offer(&self, stored: &[Message]) {
        let feed = &self.inner;
        if stored.is_empty() || !feed.store.has_push_subscriptions() {
            return;
        }
        match feed.tx.try_send(Request::Batch(stored.to_vec())) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                let n = stored.len() as u64;
                let dropped = feed.dropped.fetch_add(n, Ordering::Relaxed) + n;
                if feed.full_warning.allow().is_some() {
                    tracing::warn!(
                        messages_dropped_total = dropped,
                        "push notifications fall behind: messages skipped"
                    );
                }
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }

    /// Waits (at most `bound`) until everything offered so far was turned
    /// into jobs: at shutdown, after the writer's last batch.
    pub async fn drained(&self, bound: Duration) {
        let feed = &self.inner;
        let (done, rx) = oneshot::channel();
        let wait = async {
            if feed.tx.send(Request::Barrier(done)).await.is_ok() {
                let _ = rx.await;
            }
        };
        if tokio::time::timeout(bound, wait).await.is_err() {
            tracing::warn!("push notifications of the last messages were not all queued");
        }
    }
}

/// Who is looking at a room: the hub's connections, and how long a
/// hidden page still counts.
struct Looking {
    hub: Hub,
    watch: Duration,
}

fn run(store: &Store, looking: &Looking, sender: &PushSender, mut rx: mpsc::Receiver<Request>) {
    while let Some(req) = rx.blocking_recv() {
        match req {
            Request::Barrier(done) => {
                let _ = done.send(());
            }
            Request::Batch(batch) => {
                let mut read = Batch::default();
                for m in &batch {
                    if let Err(e) = notify(store, looking, sender, &mut read, m) {
                        tracing::warn!(error = %e, "working out push notifications failed");
                    }
                }
            }
        }
    }
}

/// What one batch read from the store, so that its many messages in few
/// rooms to few people cost a few reads, not a few per message.
#[derive(Default)]
struct Batch {
    /// Each room (`None`: deleted meanwhile) and who may hear of it.
    rooms: Rooms,
    /// Each person's username and subscriptions; `None`: none, or the
    /// account is gone or disabled.
    people: People,
    /// Who looks at each room (asked once per batch: a big room has many
    /// connections to ask).
    watching: HashMap<RoomId, HashSet<UserId>>,
}

type Rooms = HashMap<RoomId, Option<(Room, RoomPeople)>>;
type People = HashMap<UserId, Option<(String, Vec<PushSubscription>)>>;

/// The room `id` and who may hear of it, read once per batch.
fn room_in<'a>(
    rooms: &'a mut Rooms,
    store: &Store,
    id: RoomId,
) -> Result<Option<&'a (Room, RoomPeople)>, StoreError> {
    let read = match rooms.entry(id) {
        Entry::Occupied(known) => known.into_mut(),
        Entry::Vacant(slot) => {
            let read = match store.room(id)? {
                Some(room) => {
                    let people = RoomPeople::read(store, &room)?;
                    Some((room, people))
                }
                None => None,
            };
            slot.insert(read)
        }
    };
    Ok(read.as_ref())
}

/// A person's username and subscriptions, read once per batch.
fn person_in<'a>(
    people: &'a mut People,
    store: &Store,
    id: UserId,
) -> Result<Option<&'a (String, Vec<PushSubscription>)>, StoreError> {
    let read = match people.entry(id) {
        Entry::Occupied(known) => known.into_mut(),
        Entry::Vacant(slot) => {
            let subscriptions = store.push_subscriptions(id)?;
            let read = if subscriptions.is_empty() {
                None
            } else {
                store
                    .user(id)?
                    .filter(|u| !u.disabled)
                    .map(|u| (u.username, subscriptions))
            };
            slot.insert(read)
        }
    };
    Ok(read.as_ref())
}

/// Queues the notifications of one message.
fn notify(
    store: &Store,
    looking: &Looking,
    sender: &PushSender,
    read: &mut Batch,
    m: &Message,
) -> Result<(), StoreError> {
    let Batch {
        rooms,
        people,
        watching,
    } = read;
    let Some((room, in_room)) = room_in(rooms, store, m.room_id)? else {
        return Ok(());
    };
    let watching = watching
        .entry(room.id)
        .or_insert_with(|| looking.hub.watching(room.id, looking.watch));
    for Recipient { user, urgency } in in_room.recipients(m, watching) {
        let Some((username, subscriptions)) = person_in(people, store, user)? else {
            continue;
        };
        let payload = Payload {
            room_id: room.id,
            room_name: room.name_seen_by(username),
            kind: room.kind(),
            message_id: m.id,
            user: &m.user,
            text: cut(&m.message),
        };
        let Ok(payload) = serde_json::to_vec(&payload) else {
            continue;
        };
        for sub in subscriptions {
            let mut job = PushJob::new(&sub.endpoint, &sub.p256dh, &sub.auth, payload.clone());
            job.urgency = urgency;
            job.ttl = DEFAULT_TTL;
            match sender.try_send(job) {
                // Full is counted and logged by the sender.
                Ok(()) | Err(SendError::QueueFull) => {}
                Err(SendError::Stopped) => return Ok(()),
                Err(e) => tracing::warn!(error = %e, "a push subscription is unusable"),
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_is_cut_by_characters() {
        assert_eq!(cut("short"), "short");
        let long = "é".repeat(TEXT_CHARS + 5);
        assert_eq!(cut(&long).chars().count(), TEXT_CHARS);
        assert_eq!(cut(&"a".repeat(TEXT_CHARS)).len(), TEXT_CHARS);
    }
}
