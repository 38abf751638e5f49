//! The hub's own tests, and helpers for the tests of its parts.

use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};

use tokio::sync::mpsc;

use super::*;
use crate::bus::Bus;
use crate::chat::conn::Outbound;
use crate::chat::events::{self, Close};
use crate::chat::registry::Audience;
use crate::model::Message;
use crate::model::MessageId;

/// A registered connection of `user` and its queue.
pub fn conn(hub: &Hub, user: u64, name: &str, cap: usize) -> (Conn, mpsc::Receiver<Outbound>) {
    let (c, rx) = Conn::new(hub.next_conn_id(), UserId(user), name.into(), cap);
    hub.register(c.clone());
    (c, rx)
}

/// The frames of a queue item, as text.
pub fn text(o: Outbound) -> String {
    match o {
        Outbound::Messages { frames, .. } => frames.iter().map(|d| d.frame.to_string()).collect(),
        Outbound::Event(frame) | Outbound::Unsubscribed { frame, .. } => frame.to_string(),
    }
}

#[test]
fn a_full_queue_kills_only_that_connection() {
    let hub = Hub::default();
    let room = RoomId(1);
    let (slow, _rs) = conn(&hub, 1, "slow", 1);
    let (fast, mut rf) = conn(&hub, 2, "fast", 64);
    hub.join(room, &slow);
    hub.join(room, &fast);
    let _ = rf.try_recv();
    let msgs: Vec<Message> = (1..=3)
        .map(|i| Message {
            id: MessageId(i),
            room_id: room,
            user: "fast".into(),
            user_id: UserId(2),
            message: "x".into(),
            timestamp: crate::model::Timestamp(0),
            edited_at: None,
            reactions: Vec::new(),
            mentions: Vec::new(),
            attachments: Vec::new(),
        })
        .collect();
    for m in &msgs {
        hub.publish(std::slice::from_ref(m));
    }
    assert_eq!(slow.kill.code(), Some(Close::Slow));
    assert_eq!(fast.kill.code(), None);
    let ids: Vec<MessageId> = std::iter::from_fn(|| rf.try_recv().ok())
        .flat_map(|o| match o {
            Outbound::Messages { frames, .. } => frames.iter().map(|d| d.id).collect(),
            _ => Vec::new(),
        })
        .collect();
    assert_eq!(ids, vec![MessageId(1), MessageId(2), MessageId(3)]);
}

#[test]
fn a_users_slots_are_capped_and_freed_on_drop() {
    let hub = Hub::default();
    let s1 = hub.admit(UserId(1), 2).expect("first");
    let _s2 = hub.admit(UserId(1), 2).expect("second");
    assert!(hub.admit(UserId(1), 2).is_none(), "third refused");
    assert!(hub.admit(UserId(2), 2).is_some(), "other users unaffected");
    drop(s1);
    assert!(
        hub.admit(UserId(1), 2).is_some(),
        "a freed slot is reusable"
    );
}

/// A bus to one other hub that carries each act as JSON text, as a bus
/// between processes would.
#[derive(Default)]
pub struct Wire {
    pub peer: OnceLock<Hub>,
    /// While set, acts are lost on the way.
    pub cut: std::sync::atomic::AtomicBool,
}

impl Bus for Wire {
    fn has_peers(&self) -> bool {
        true
    }

    fn share(&self, event: Fanout) {
        let text = serde_json::to_string(&event).expect("encode");
        let back: Fanout = serde_json::from_str(&text).expect("decode");
        assert_eq!(back, event, "an act survives the wire");
        if self.cut.load(Ordering::Relaxed) {
            return;
        }
        if let Some(peer) = self.peer.get() {
            peer.apply(back);
        }
    }
}

pub fn message(id: u64, room: RoomId) -> Message {
    Message {
        id: crate::model::MessageId(id),
        room_id: room,
        user: "ann".into(),
        user_id: UserId(1),
        message: format!("m{id}"),
        timestamp: crate::model::Timestamp(0),
        edited_at: None,
        reactions: Vec::new(),
        mentions: Vec::new(),
        attachments: Vec::new(),
    }
}

/// Everything queued for a connection, as text.
pub fn drain(rx: &mut mpsc::Receiver<Outbound>) -> Vec<String> {
    std::iter::from_fn(|| rx.try_recv().ok())
        .map(text)
        .collect()
}

#[test]
fn every_act_of_one_node_reaches_the_connections_of_another() {
    let wire = Arc::new(Wire::default());
    let here = Hub::with_bus(wire.clone());
    let there = Hub::default();
    wire.peer.set(there.clone()).ok().expect("one peer");
    let room = RoomId(7);
    let (ann, mut ann_rx) = conn(&here, 1, "ann", 64);
    let (bob, mut bob_rx) = conn(&there, 2, "bob", 64);
    here.join(room, &ann);
    there.join(room, &bob);
    drain(&mut ann_rx);
    drain(&mut bob_rx);

    here.publish(&[message(1, room), message(2, room)]);
    let got = drain(&mut bob_rx).concat();
    assert!(got.contains("m1") && got.contains("m2"), "{got}");
    assert!(got.find("m1") < got.find("m2"), "in id order: {got}");

    here.typing(room, UserId(1), "ann");
    assert_eq!(
        drain(&mut bob_rx),
        vec![events::typing(room, "ann").to_string()]
    );

    here.broadcast(room, "{\"event\":\"x\"}".into());
    assert_eq!(drain(&mut bob_rx), vec!["{\"event\":\"x\"}".to_owned()]);

    // The connection left out is one of this node's: another node's
    // connections of that user are told.
    here.send_to_user(UserId(2), &"to bob".into(), Some(ann.id));
    here.send(
        &Audience::Users(vec![UserId(2)]),
        &"to users".into(),
        &HashSet::new(),
    );
    assert_eq!(drain(&mut bob_rx), vec!["to bob", "to users"]);

    here.remove_member(room, UserId(2));
    assert_eq!(
        drain(&mut bob_rx),
        vec![events::room_removed(room).to_string()]
    );
    assert_eq!(there.online(room), vec!["ann"], "bob left the room there");

    there.join(room, &bob);
    drain(&mut bob_rx);
    here.delete_room(room, &Audience::Everyone);
    // Ann's connection on the other node was evicted first, and bob may
    // hear of her leaving before the room goes (as on one node, where the
    // order of the evictions decides).
    let mut got = drain(&mut bob_rx);
    assert_eq!(got.pop(), Some(events::room_deleted(room).to_string()));
    assert!(got.iter().all(|f| f.contains("userLeft")), "{got:?}");

    here.kill_user(UserId(2), Close::Policy);
    assert_eq!(bob.kill.code(), Some(Close::Policy));
    assert_eq!(ann.kill.code(), None);
}

#[test]
fn a_single_process_builds_nothing_for_the_bus() {
    /// A bus with no peers that fails the test if asked to carry anything.
    struct Silent;
    impl Bus for Silent {
        fn has_peers(&self) -> bool {
            false
        }
        fn share(&self, event: Fanout) {
            panic!("shared without peers: {event:?}");
        }
    }
    let hub = Hub::with_bus(Arc::new(Silent));
    let room = RoomId(1);
    let (ann, _rx) = conn(&hub, 1, "ann", 64);
    hub.join(room, &ann);
    hub.publish(&[message(1, room)]);
    hub.typing(room, UserId(1), "ann");
    hub.broadcast(room, "x".into());
    hub.kill_user(UserId(1), Close::Policy);
}

/// Two hubs joined by [`Wire`]s both ways.
fn two_nodes() -> (Hub, Hub, Arc<Wire>, Arc<Wire>) {
    let (to_b, to_a) = (Arc::new(Wire::default()), Arc::new(Wire::default()));
    let a = Hub::with_bus(to_b.clone());
    let b = Hub::with_bus(to_a.clone());
    to_b.peer.set(b.clone()).ok().expect("one peer");
    to_a.peer.set(a.clone()).ok().expect("one peer");
    (a, b, to_b, to_a)
}

#[test]
fn presence_is_the_union_over_nodes_and_announced_once() {
    let (a, b, _, _) = two_nodes();
    let room = RoomId(4);
    let (bob, mut bob_rx) = conn(&b, 2, "bob", 64);
    b.join(room, &bob);
    let (ann1, _r1) = conn(&a, 1, "ann", 64);
    let (ann2, _r2) = conn(&b, 1, "ann", 64);
    assert_eq!(
        a.join(room, &ann1),
        vec!["ann", "bob"],
        "the join lists both nodes"
    );
    assert_eq!(
        drain(&mut bob_rx),
        vec![events::presence(room, "ann", true).to_string()]
    );
    // Ann's second connection, on bob's node: no news.
    b.join(room, &ann2);
    assert!(drain(&mut bob_rx).is_empty());
    assert_eq!((a.online_count(room), b.online_count(room)), (2, 2));
    // Ann leaves node a but is still on node b: still online.
    a.leave(room, ann1.id);
    assert!(drain(&mut bob_rx).is_empty());
    assert_eq!(a.online(room), vec!["ann", "bob"]);
    // Gone from both (announced at once here: without a runtime, the
    // window's deferred notice is settled on the spot).
    b.leave(room, ann2.id);
    assert_eq!(
        drain(&mut bob_rx),
        vec![events::presence(room, "ann", false).to_string()]
    );
    assert_eq!(a.online(room), vec!["bob"]);
    assert_eq!(b.online(room), vec!["bob"]);
}

#[test]
fn a_silent_node_s_users_leave_and_a_missed_change_is_resynced() {
    let (a, b, to_b, _) = two_nodes();
    let room = RoomId(6);
    let (bob, mut bob_rx) = conn(&b, 2, "bob", 64);
    b.join(room, &bob);
    let (ann, _ra) = conn(&a, 1, "ann", 64);
    a.join(room, &ann);
    assert_eq!(b.online(room), vec!["ann", "bob"]);

    // A change lost on the way: b notices at a's next heartbeat, asks,
    // and the snapshot puts things right.
    let (cat, _rc) = conn(&a, 3, "cat", 64);
    to_b.cut.store(true, Ordering::Relaxed);
    a.join(room, &cat);
    to_b.cut.store(false, Ordering::Relaxed);
    assert_eq!(b.online(room), vec!["ann", "bob"], "the change was lost");
    let version = lock(&a.inner.told).version;
    b.apply(Fanout::Alive {
        node: a.inner.node,
        version,
    });
    assert_eq!(b.online(room), vec!["ann", "bob", "cat"], "resynced");

    // Node a falls silent: past the expiry its users leave node b's rooms.
    drain(&mut bob_rx);
    b.expire(Duration::ZERO);
    assert_eq!(b.online(room), vec!["bob"]);
    let left = drain(&mut bob_rx).concat();
    assert!(left.contains("userLeft"), "{left}");
}
