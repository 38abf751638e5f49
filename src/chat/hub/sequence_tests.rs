//! Messages of several nodes delivered in id order, gaps filled from the
//! store.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;

use super::*;
use crate::chat::conn::Outbound;
use crate::chat::hub::tests::{conn, message, Wire};
use crate::model::RoomId;

/// Two clustered hubs joined by wires, starting at id 1; bob listens on
/// the second.
fn two_nodes(room: RoomId) -> (Hub, Hub, Arc<Wire>, mpsc::Receiver<Outbound>) {
    let (to_b, to_a) = (Arc::new(Wire::default()), Arc::new(Wire::default()));
    let a = Hub::clustered(to_b.clone(), MessageId(1));
    let b = Hub::clustered(to_a.clone(), MessageId(1));
    to_b.peer.set(b.clone()).ok().expect("one peer");
    to_a.peer.set(a.clone()).ok().expect("one peer");
    let (bob, mut bob_rx) = conn(&b, 2, "bob", 1024);
    b.join(room, &bob);
    while bob_rx.try_recv().is_ok() {}
    (a, b, to_b, bob_rx)
}

/// The ids of the messages queued for a connection so far.
fn ids(rx: &mut mpsc::Receiver<Outbound>) -> Vec<u64> {
    std::iter::from_fn(|| rx.try_recv().ok())
        .flat_map(|o| match o {
            Outbound::Messages { frames, .. } => frames.iter().map(|d| d.id.0).collect(),
            _ => Vec::new(),
        })
        .collect()
}

/// A store that holds `messages` and says its cutoff is `cutoff`.
#[derive(Default)]
struct Stored {
    messages: Mutex<BTreeMap<u64, Message>>,
    cutoff: Mutex<u64>,
    reads: Mutex<Vec<(u64, u64)>>,
}

impl Stored {
    fn put(&self, m: Message) {
        let mut c = self.cutoff.lock().expect("lock");
        *c = (*c).max(m.id.0 + 1);
        self.messages.lock().expect("lock").insert(m.id.0, m);
    }
}

impl MessageSource for Stored {
    fn cutoff(&self) -> Result<MessageId, StoreError> {
        Ok(MessageId(*self.cutoff.lock().expect("lock")))
    }

    fn range(
        &self,
        from: MessageId,
        to: MessageId,
        limit: usize,
    ) -> Result<Vec<Message>, StoreError> {
        self.reads.lock().expect("lock").push((from.0, to.0));
        let all = self.messages.lock().expect("lock");
        Ok(all
            .range(from.0..to.0)
            .take(limit)
            .map(|(_, m)| m.clone())
            .collect())
    }
}

/// Waits (at most 10 s) until bob has been sent every id of `want`.
async fn until_ids(rx: &mut mpsc::Receiver<Outbound>, seen: &mut Vec<u64>, want: &[u64]) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while seen.len() < want.len() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {seen:?} of {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
        seen.extend(ids(rx));
    }
    assert_eq!(seen, want);
}

#[test]
fn batches_of_two_nodes_are_delivered_in_id_order_whatever_came_first() {
    let room = RoomId(3);
    let (a, b, _, mut bob_rx) = two_nodes(room);
    // The other node committed 3 after this node committed 1 and 2, but
    // its batch arrived first: held until they are delivered.
    a.publish(&[message(3, room)]);
    assert!(ids(&mut bob_rx).is_empty(), "3 waits for 1 and 2");
    b.publish(&[message(1, room), message(2, room)]);
    assert_eq!(ids(&mut bob_rx), [1, 2, 3]);
    // A batch seen twice (read from the store, then late on the bus) is
    // delivered once.
    a.publish(&[message(2, room), message(3, room), message(4, room)]);
    assert_eq!(ids(&mut bob_rx), [4]);
}

#[tokio::test]
async fn a_batch_the_bus_lost_is_read_from_the_store_before_what_follows() {
    let room = RoomId(4);
    let (a, b, to_b, mut bob_rx) = two_nodes(room);
    let store = Arc::new(Stored::default());
    b.start_gap_filler(store.clone());
    for id in 1..=3 {
        store.put(message(id, room));
    }
    to_b.cut.store(true, Ordering::Relaxed);
    a.publish(&[message(1, room), message(2, room)]);
    to_b.cut.store(false, Ordering::Relaxed);
    a.publish(&[message(3, room)]);
    let mut seen = Vec::new();
    until_ids(&mut bob_rx, &mut seen, &[1, 2, 3]).await;
    let first = store.reads.lock().expect("lock").first().copied();
    assert_eq!(first.map(|(from, _)| from), Some(1), "{first:?}");
}

#[tokio::test]
async fn with_the_bus_down_a_quiet_node_catches_up_from_the_cutoff() {
    let room = RoomId(5);
    let (a, b, to_b, mut bob_rx) = two_nodes(room);
    let store = Arc::new(Stored::default());
    b.start_gap_filler(store.clone());
    to_b.cut.store(true, Ordering::Relaxed);
    // 1 and 3 are stored, 2 was deleted before anyone read it.
    for id in [1, 3] {
        store.put(message(id, room));
    }
    a.publish(&[message(1, room)]);
    let started = std::time::Instant::now();
    let mut seen = Vec::new();
    until_ids(&mut bob_rx, &mut seen, &[1, 3]).await;
    assert!(started.elapsed() >= GAP_BOUND, "waited for the bus first");
    // The bus is back: what follows arrives as before.
    to_b.cut.store(false, Ordering::Relaxed);
    a.publish(&[message(4, room)]);
    until_ids(&mut bob_rx, &mut seen, &[1, 3, 4]).await;
}
