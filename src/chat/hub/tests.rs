//! The hub's own tests, and helpers for the tests of its parts.

use tokio::sync::mpsc;

use std::sync::{Arc, OnceLock};

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
struct Wire {
    peer: OnceLock<Hub>,
}

impl Bus for Wire {
    fn has_peers(&self) -> bool {
        true
    }

    fn share(&self, event: Fanout) {
        let text = serde_json::to_string(&event).expect("encode");
        let back: Fanout = serde_json::from_str(&text).expect("decode");
        assert_eq!(back, event, "an act survives the wire");
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
fn drain(rx: &mut mpsc::Receiver<Outbound>) -> Vec<String> {
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
    assert!(there.online(room).is_empty(), "bob left the room there");

    there.join(room, &bob);
    drain(&mut bob_rx);
    here.delete_room(room, &Audience::Everyone);
    assert_eq!(
        drain(&mut bob_rx),
        vec![events::room_deleted(room).to_string()]
    );

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
