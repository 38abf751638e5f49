//! [`Order`] under reordering, loss and overlap.

use super::*;
use crate::chat::hub::tests::message;
use crate::model::RoomId;

fn batch(ids: std::ops::Range<u64>) -> Vec<Message> {
    ids.map(|i| message(i, RoomId(1))).collect()
}

fn ids(ms: &[Message]) -> Vec<u64> {
    ms.iter().map(|m| m.id.0).collect()
}

#[test]
fn batches_in_order_pass_straight_through() {
    let now = Instant::now();
    let mut order = Order::new(MessageId(10));
    assert_eq!(ids(&order.offer(batch(10..13), now)), vec![10, 11, 12]);
    assert_eq!(ids(&order.offer(batch(13..14), now)), vec![13]);
    assert_eq!(order.held(), 0);
    assert_eq!(order.overdue(Duration::ZERO, now), None);
}

#[test]
fn an_early_batch_waits_for_the_gap_and_old_ones_are_dropped() {
    let now = Instant::now();
    let mut order = Order::new(MessageId(1));
    assert!(order.offer(batch(4..6), now).is_empty());
    assert_eq!(order.held(), 2);
    assert!(order.offer(batch(2..4), now).is_empty(), "1 still missing");
    assert_eq!(ids(&order.offer(batch(1..2), now)), vec![1, 2, 3, 4, 5]);
    assert!(order.offer(batch(3..6), now).is_empty(), "seen already");
    assert_eq!(order.next(), MessageId(6));
}

#[test]
fn a_gap_held_past_the_bound_is_read_from_the_store() {
    let start = Instant::now();
    let bound = Duration::from_millis(200);
    let mut order = Order::new(MessageId(1));
    order.offer(batch(1..3), start);
    order.offer(batch(7..9), start);
    assert_eq!(order.overdue(bound, start + bound / 2), None);
    let late = start + bound;
    assert_eq!(
        order.overdue(bound, late),
        Some((MessageId(3), MessageId(7)))
    );
    // What the store gives may overlap what is held.
    assert_eq!(ids(&order.offer(batch(3..8), late)), vec![3, 4, 5, 6, 7, 8]);
    assert_eq!(order.overdue(bound, late + bound), None);
}

#[test]
fn too_much_held_is_overdue_at_once() {
    let now = Instant::now();
    let mut order = Order::new(MessageId(1));
    order.offer(batch(2..(MAX_HELD as u64 + 3)), now);
    assert_eq!(
        order.overdue(Duration::from_secs(3600), now),
        Some((MessageId(1), MessageId(2)))
    );
}

#[test]
fn skipping_ids_the_store_never_had_lets_the_rest_through() {
    let now = Instant::now();
    let mut order = Order::new(MessageId(1));
    order.offer(batch(5..7), now);
    assert_eq!(ids(&order.skip_to(MessageId(5), now)), vec![5, 6]);
}

/// Three writers' batches, shuffled, a fifth of them lost and read back
/// from the store once overdue: every id comes out once, in order.
#[test]
fn shuffled_and_lossy_batches_come_out_whole_and_in_order() {
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let mut rand = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    for _round in 0..50 {
        let mut batches = Vec::new();
        let mut id = 1;
        while id <= 2000 {
            let len = 1 + rand(20);
            batches.push(id..id + len);
            id += len;
        }
        let last = id - 1;
        // A bounded shuffle: a batch arrives at most 8 places early or late.
        for i in 0..batches.len() {
            let j = (i + rand(8) as usize).min(batches.len() - 1);
            batches.swap(i, j);
        }
        let bound = Duration::from_millis(100);
        let mut now = Instant::now();
        let mut order = Order::new(MessageId(1));
        let mut out = Vec::new();
        for b in batches {
            now += Duration::from_millis(1);
            if rand(5) != 0 {
                out.extend(ids(&order.offer(batch(b), now)));
            }
            if let Some((from, to)) = order.overdue(bound, now) {
                out.extend(ids(&order.offer(batch(from.0..to.0), now)));
            }
        }
        // The end of the stream: whatever is still missing is read back.
        now += bound;
        let next = order.next().0;
        out.extend(ids(&order.offer(batch(next..last + 1), now)));
        assert_eq!(out, (1..=last).collect::<Vec<u64>>());
        assert_eq!(order.held(), 0);
    }
}
