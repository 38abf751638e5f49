//! Reading a room's history: pages in either direction from a cursor
//! (the newest, or before or after a message id) and single messages.
//! Every read goes through `visible_range` or `hidden`, so a quarantined
//! message is never read. Pages served to clients (`latest`, `before`,
//! `after`) carry each message's reactions; `page_from`, the raw read of
//! export and backup, does not.

use super::messages::decode;
use super::{keys, SledStore, StoreError};
use crate::model::{Message, MessageId, RoomId};
use crate::store::{HistoryStore, Page, PageAround};

impl HistoryStore for SledStore {
    fn message(&self, room: RoomId, id: MessageId) -> Result<Option<Message>, StoreError> {
        if self.hidden(id) {
            return Ok(None);
        }
        let key = keys::message(room, id);
        match self.inner.messages.get(key)? {
            Some(v) => Ok(Some(decode(&key, &v)?)),
            None => Ok(None),
        }
    }

    fn latest(&self, room: RoomId, limit: usize) -> Result<Page, StoreError> {
        let Some(range) = self.visible_range(room, 0, u64::MAX) else {
            return Ok(Page::default());
        };
        let page = take_page_backwards(self.inner.messages.range(range).rev(), limit)?;
        self.with_reactions(room, page)
    }

    fn before(&self, room: RoomId, before: MessageId, limit: usize) -> Result<Page, StoreError> {
        let Some(range) = before
            .0
            .checked_sub(1)
            .and_then(|to| self.visible_range(room, 0, to))
        else {
            return Ok(Page::default());
        };
        let page = take_page_backwards(self.inner.messages.range(range).rev(), limit)?;
        self.with_reactions(room, page)
    }

    fn after(&self, room: RoomId, after: MessageId, limit: usize) -> Result<Page, StoreError> {
        let page = self.page_from(room, Some(after), limit)?;
        self.with_reactions(room, page)
    }

    fn around(
        &self,
        room: RoomId,
        id: MessageId,
        limit: usize,
    ) -> Result<Option<PageAround>, StoreError> {
        let Some(centre) = self.message(room, id)? else {
            return Ok(None);
        };
        let others = limit.saturating_sub(1);
        let older = self.before(room, id, others)?;
        let newer = self.after(room, id, others)?;
        let newer_n = newer
            .messages
            .len()
            .min(others - older.messages.len().min(others / 2));
        let older_n = older.messages.len().min(others - newer_n);
        let centre = self.with_reactions(
            room,
            Page {
                messages: vec![centre],
                has_more: false,
            },
        )?;
        let skip = older.messages.len() - older_n;
        let mut messages = Vec::with_capacity(older_n + 1 + newer_n);
        messages.extend(older.messages.into_iter().skip(skip));
        messages.extend(centre.messages);
        messages.extend(newer.messages.iter().take(newer_n).cloned());
        Ok(Some(PageAround {
            messages,
            has_more_before: skip > 0 || older.has_more,
            has_more_after: newer_n < newer.messages.len() || newer.has_more,
        }))
    }
}

impl SledStore {
    /// The key range of a room's visible messages with ids from `from` up
    /// to `to` (inclusive), or None when it is empty. Every history read
    /// goes through it, so a quarantined message is never read.
    fn visible_range(
        &self,
        room: RoomId,
        from: u64,
        to: u64,
    ) -> Option<std::ops::RangeInclusive<[u8; 16]>> {
        let to = to.min(self.visible_max()?);
        (from <= to)
            .then(|| keys::message(room, MessageId(from))..=keys::message(room, MessageId(to)))
    }

    /// The `limit` oldest messages newer than `after`, or than nothing.
    pub(super) fn page_from(
        &self,
        room: RoomId,
        after: Option<MessageId>,
        limit: usize,
    ) -> Result<Page, StoreError> {
        let start = match after {
            None => 0,
            Some(a) => match a.0.checked_add(1) {
                Some(s) => s,
                None => return Ok(Page::default()),
            },
        };
        let Some(range) = self.visible_range(room, start, u64::MAX) else {
            return Ok(Page::default());
        };
        take_page(self.inner.messages.range(range), limit)
    }
}

/// A stored key and value, as sled's range scans yield them.
type Entry = sled::Result<(sled::IVec, sled::IVec)>;

/// Up to `limit` messages of a scan, in its order, and whether it held more.
fn take_page(scan: impl Iterator<Item = Entry>, limit: usize) -> Result<Page, StoreError> {
    let mut messages = Vec::with_capacity(limit.min(1024));
    let mut has_more = false;
    for kv in scan {
        let (k, v) = kv?;
        if messages.len() == limit {
            has_more = true;
            break;
        }
        messages.push(decode(&k, &v)?);
    }
    Ok(Page { messages, has_more })
}

/// [`take_page`] of a scan from newer to older, handed back oldest first.
fn take_page_backwards(
    scan: impl Iterator<Item = Entry>,
    limit: usize,
) -> Result<Page, StoreError> {
    let mut page = take_page(scan, limit)?;
    page.messages.reverse();
    Ok(page)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::{append_messages, temp_store};

    fn ids(page: &Page) -> Vec<MessageId> {
        page.messages.iter().map(|m| m.id).collect()
    }

    #[test]
    fn pages_through_history_in_both_directions() {
        let (store, _dir) = temp_store();
        let (a, b) = (RoomId(1), RoomId(2));
        let all = append_messages(&store, a, 10);
        append_messages(&store, b, 3);

        // (what was asked, the page it gives, whether more lie beyond)
        let cases = [
            ("latest", store.latest(a, 4), &all[6..], true),
            ("before 6", store.before(a, all[6], 4), &all[2..6], true),
            ("before 2", store.before(a, all[2], 4), &all[..2], false),
            ("after 3", store.after(a, all[3], 4), &all[4..8], true),
            ("after 7", store.after(a, all[7], 4), &all[8..], false),
        ];
        for (what, page, want, more) in cases {
            let page = page.expect(what);
            assert_eq!(ids(&page), want, "{what}");
            assert_eq!(page.has_more, more, "{what}");
        }

        assert!(store
            .latest(a, 100)
            .expect("all")
            .messages
            .iter()
            .all(|m| m.room_id == a));
        assert_eq!(store.latest(RoomId(3), 5).expect("empty").messages.len(), 0);
    }

    #[test]
    fn a_page_around_a_message_is_centred_and_filled_from_the_other_side() {
        let (store, _dir) = temp_store();
        let (a, b) = (RoomId(1), RoomId(2));
        let all = append_messages(&store, a, 10);
        let other = append_messages(&store, b, 1);
        // (around, limit, the page, more before, more after)
        let cases = [
            (5, 5, &all[3..8], true, true),
            (5, 4, &all[4..8], true, true),
            (0, 5, &all[..5], false, true),
            (9, 5, &all[5..], true, false),
            (8, 5, &all[5..], true, false),
            (5, 1, &all[5..6], true, true),
            (5, 50, &all[..], false, false),
        ];
        for (at, limit, want, before, after) in cases {
            let page = store
                .around(a, all[at], limit)
                .expect("read")
                .expect("found");
            let what = format!("around {at}, limit {limit}");
            assert_eq!(ids_of(&page.messages), want, "{what}");
            assert_eq!(
                (page.has_more_before, page.has_more_after),
                (before, after),
                "{what}"
            );
        }
        assert!(
            store.around(a, other[0], 5).expect("read").is_none(),
            "another room's"
        );
    }

    fn ids_of(messages: &[Message]) -> Vec<MessageId> {
        messages.iter().map(|m| m.id).collect()
    }
}
