//! The PostgreSQL store's history pages are the embedded store's.

use crate::model::{Message, MessageId, RoomId, Timestamp, UserId};
use crate::store::postgres::testing::{execute, TestDb};
use crate::store::testing::temp_store;
use crate::store::{HistoryStore, MessageStore, NewMessage, Page};

/// What a page holds, to compare: both stores' `Page` lack `PartialEq`.
fn seen(page: Page) -> (Vec<Message>, bool) {
    (page.messages, page.has_more)
}

#[test]
fn pages_equal_the_embedded_stores() {
    let pg = TestDb::new().store();
    let (sled, _dir) = temp_store();
    let rooms = [RoomId(1), RoomId(u64::MAX - 3)];
    for i in 0..40u64 {
        let size = 1 + (i % 3) as usize;
        let batch: Vec<NewMessage> = (0..size)
            .map(|j| NewMessage {
                room_id: rooms[((i + j as u64) % 2) as usize],
                user_id: UserId(i),
                user: format!("u{i}"),
                message: format!("m{i}.{j}"),
                timestamp: Timestamp(1000 + i as i64),
                mentions: (0..j as u64).map(UserId).collect(),
                client_id: None,
            })
            .collect();
        let a = pg.append_batch(batch.clone()).expect("pg append");
        let b = sled.append_batch(batch).expect("sled append");
        assert_eq!(a, b);
    }
    let total = pg.message_cutoff().0;
    assert_eq!(total, sled.message_cutoff().0);
    let cursors: Vec<MessageId> = (0..=total)
        .chain([1 << 63, u64::MAX - 1, u64::MAX])
        .map(MessageId)
        .collect();
    let limits = [0, 1, 2, 5, 100, usize::MAX];
    for room in rooms.into_iter().chain([RoomId(2)]) {
        for limit in limits {
            let what = format!("latest {limit} of {room}");
            let want = seen(sled.latest(room, limit).expect("sled"));
            assert_eq!(seen(pg.latest(room, limit).expect("pg")), want, "{what}");
        }
        for &at in &cursors {
            for limit in limits {
                let what = format!("{limit} from {at} in {room}");
                let want = seen(sled.before(room, at, limit).expect("sled"));
                assert_eq!(
                    seen(pg.before(room, at, limit).expect("pg")),
                    want,
                    "before {what}"
                );
                let want = seen(sled.after(room, at, limit).expect("sled"));
                assert_eq!(
                    seen(pg.after(room, at, limit).expect("pg")),
                    want,
                    "after {what}"
                );
            }
            assert_eq!(
                pg.message(room, at).expect("pg"),
                sled.message(room, at).expect("sled")
            );
            for limit in [0, 1, 2, 4, 5, 9, 50] {
                let want = sled.around(room, at, limit).expect("sled");
                let got = pg.around(room, at, limit).expect("pg");
                let as_seen = |p: Option<crate::store::PageAround>| {
                    p.map(|p| (p.messages, p.has_more_before, p.has_more_after))
                };
                assert_eq!(
                    as_seen(got),
                    as_seen(want),
                    "around {at}, {limit} in {room}"
                );
            }
        }
    }
}

#[test]
fn reactions_come_in_the_embedded_stores_order() {
    let pg = TestDb::new().store();
    let (sled, _dir) = temp_store();
    let room = RoomId(9);
    let new: Vec<NewMessage> = (0..3)
        .map(|i| NewMessage {
            room_id: room,
            user_id: UserId(1),
            user: "u".into(),
            message: format!("m{i}"),
            timestamp: Timestamp(1000),
            mentions: Vec::new(),
            client_id: None,
        })
        .collect();
    let ids: Vec<MessageId> = pg
        .append_batch(new.clone())
        .expect("pg")
        .iter()
        .map(|m| m.id)
        .collect();
    sled.append_batch(new).expect("sled");
    // (message, emoji, user): users choose out of order, emojis recur.
    let added = [
        (1, "b", 5),
        (1, "a", 3),
        (1, "b", 2),
        (0, "c", 9),
        (1, "a", 7),
        (1, "c", 1),
        (2, "a", 4),
    ];
    for (m, emoji, user) in added {
        let (id, name) = (ids[m], format!("user{user}"));
        sled.add_reaction(room, id, emoji, UserId(user), &name)
            .expect("sled");
        execute(
            &pg,
            format!(
                "INSERT INTO reactions (room_id, message_id, emoji, user_id, username)
                 VALUES ({}, {}, '{emoji}', {user}, '{name}')",
                room.0, id.0
            ),
        );
        // The embedded store orders by time: one millisecond apart.
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    let want = seen(sled.latest(room, 10).expect("sled"));
    assert_eq!(want.0[1].reactions.len(), 3);
    assert_eq!(seen(pg.latest(room, 10).expect("pg")), want);
    let around = |p: Option<crate::store::PageAround>| p.map(|p| p.messages);
    assert_eq!(
        around(pg.around(room, ids[1], 3).expect("pg")),
        around(sled.around(room, ids[1], 3).expect("sled"))
    );
    assert_eq!(
        pg.message(room, ids[1]).expect("pg").map(|m| m.reactions),
        Some(want.0[1].reactions.clone())
    );
}
