//! What a node of a cluster reads when the bus did not bring a message:
//! the committed cutoff, and messages by id across rooms, as delivered
//! (see `chat::hub::sequence`).

use super::history::fill;
use super::messages::{message, HIDDEN_FROM, MESSAGE};
use super::{db_count, id_of, PgStore};
use crate::chat::hub::MessageSource;
use crate::model::{Message, MessageId};
use crate::store::StoreError;

impl MessageSource for PgStore {
    /// The committed counter: every id below it is committed, since ids
    /// are taken in commit order (the module doc of the store). Unlike
    /// `message_cutoff`, a failure is an error here: a gap must not be
    /// judged on a stale cutoff.
    fn cutoff(&self) -> Result<MessageId, StoreError> {
        self.run(|client| async move {
            let row = client
                .query_one("SELECT next FROM message_counter", &[])
                .await?;
            Ok(MessageId(id_of(row.try_get(0)?)))
        })
    }

    /// One indexed range of the global id index, hidden ids left out,
    /// each message with its reactions and attachments.
    fn range(
        &self,
        from: MessageId,
        to: MessageId,
        limit: usize,
    ) -> Result<Vec<Message>, StoreError> {
        // Ids past 2^63 - 1 are never stored: such a bound is "all".
        let bound = |id: MessageId| i64::try_from(id.0).unwrap_or(i64::MAX);
        let (lo, hi) = (bound(from), bound(to));
        self.run(move |client| async move {
            let sql = format!(
                "SELECT {MESSAGE} FROM messages
                 WHERE id >= $1 AND id < $2 AND id < {HIDDEN_FROM}
                 ORDER BY id LIMIT $3"
            );
            let rows = client.query(&sql, &[&lo, &hi, &db_count(limit)]).await?;
            let mut messages = rows.iter().map(message).collect::<Result<Vec<_>, _>>()?;
            fill(&client, &mut messages).await?;
            Ok(messages)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{RoomId, Timestamp, UserId};
    use crate::store::postgres::testing::TestDb;
    use crate::store::{MessageStore, NewMessage, ReactionStore, RoomStore};

    #[test]
    fn a_range_across_rooms_comes_whole_and_in_order_and_deleted_ids_are_absent() {
        let db = TestDb::new();
        let (a, b) = (db.store(), db.store());
        let r1 = a.create_room("one", "", false, UserId(1)).expect("room").id;
        let r2 = a.create_room("two", "", false, UserId(1)).expect("room").id;
        let new = |room: RoomId, i: usize| NewMessage {
            room_id: room,
            user_id: UserId(1),
            user: "ann".into(),
            message: format!("m{i}"),
            timestamp: Timestamp(i as i64),
            mentions: Vec::new(),
            client_id: None,
        };
        let start = b.cutoff().expect("cutoff");
        let stored = a
            .append_batch(
                (0..6)
                    .map(|i| new(if i % 2 == 0 { r1 } else { r2 }, i))
                    .collect(),
            )
            .expect("append");
        assert_eq!(b.cutoff().expect("cutoff").0, start.0 + 6);
        a.add_reaction(r2, stored[1].id, "👍", UserId(2), "bob")
            .expect("react");
        assert!(a.delete_message(r1, stored[2].id).expect("delete"));
        let got = b
            .range(stored[0].id, MessageId(u64::MAX), 100)
            .expect("range");
        let ids: Vec<u64> = got.iter().map(|m| m.id.0).collect();
        let want: Vec<u64> = [0, 1, 3, 4, 5].iter().map(|i| stored[*i].id.0).collect();
        assert_eq!(ids, want);
        assert_eq!(
            got[1].reactions.len(),
            1,
            "as delivered, reactions included"
        );
        let page = b.range(stored[0].id, stored[5].id, 2).expect("page");
        assert_eq!(page.len(), 2);
        assert!(b
            .range(stored[5].id, stored[5].id, 10)
            .expect("empty")
            .is_empty());
    }
}
