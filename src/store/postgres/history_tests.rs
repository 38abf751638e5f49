//! The PostgreSQL store's history pages are the embedded store's.

use crate::model::{Message, MessageId, RoomId, Timestamp, UserId};
use crate::store::postgres::testing::TestDb;
use crate::store::testing::temp_store;
use crate::store::{NewMessage, Page};

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
