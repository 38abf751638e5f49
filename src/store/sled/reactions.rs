//! Reactions: the `reactions` tree, one key per message, emoji and user
//! (see [`keys`]). Users reacting at once each write a key of their own,
//! so no reaction can overwrite another; a message's reactions are one
//! contiguous range, so a page of history reads all of its reactions with
//! one range scan rather than a lookup per message.
//!
//! Order, as served: a message's reactions by the time of the earliest
//! reaction still standing in each (ties by emoji), and each reaction's
//! users by the time they reacted (ties by user id).

use std::collections::HashMap;
use std::sync::MutexGuard;

use serde::{Deserialize, Serialize};

use super::{from_json, keys, to_json, SledStore, StoreError};
use crate::model::{Message, MessageId, Reaction, RoomId, Timestamp, UserId};
use crate::store::Page;
use crate::store::{ReactionChange, ReactionStore, MAX_DISTINCT_REACTIONS};

/// The stored value. The username is kept with the reaction, as a message
/// keeps its author's, so that serving reactions needs no user lookups.
#[derive(Serialize, Deserialize)]
struct StoredReaction {
    #[serde(rename = "n")]
    user: String,
    #[serde(rename = "t")]
    at: i64,
}

/// One stored reaction, as a backup line carries it.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReactionRecord {
    pub room: RoomId,
    pub message: MessageId,
    pub emoji: String,
    pub user: UserId,
    pub at: Timestamp,
}

impl ReactionStore for SledStore {
    /// Adds `user`'s reaction `emoji` to a message. Not yet durable: the
    /// caller flushes (`App::change`).
    ///
    /// The limit on distinct reactions is checked and the key written under
    /// the message's lock, so two users adding different new reactions at
    /// once cannot pass it together. A message deleted meanwhile takes the
    /// reaction with it: the deletion removes the message before its
    /// reactions, and the message is looked for again after the write.
    fn add_reaction(
        &self,
        room: RoomId,
        msg: MessageId,
        emoji: &str,
        user: UserId,
        username: &str,
    ) -> Result<ReactionChange, StoreError> {
        let tree = &self.inner.reactions;
        let key = keys::reaction(room, msg, emoji, user);
        let _serial = self.reaction_lock(msg);
        if !self.message_exists(room, msg)? {
            return Ok(ReactionChange::NoMessage);
        }
        if tree.contains_key(&key)? {
            return Ok(ReactionChange::Unchanged);
        }
        let known = self.distinct_reactions(room, msg)?;
        if known.len() >= MAX_DISTINCT_REACTIONS && !known.iter().any(|e| e == emoji) {
            return Ok(ReactionChange::TooMany);
        }
        let value = to_json(&StoredReaction {
            user: username.to_owned(),
            at: Timestamp::now().0,
        })?;
        tree.insert(&key, value)?;
        if !self.message_exists(room, msg)? {
            tree.remove(&key)?;
            return Ok(ReactionChange::NoMessage);
        }
        Ok(ReactionChange::Changed)
    }

    fn remove_reaction(
        &self,
        room: RoomId,
        msg: MessageId,
        emoji: &str,
        user: UserId,
    ) -> Result<ReactionChange, StoreError> {
        if !self.message_exists(room, msg)? {
            return Ok(ReactionChange::NoMessage);
        }
        let key = keys::reaction(room, msg, emoji, user);
        Ok(match self.inner.reactions.remove(key)? {
            Some(_) => ReactionChange::Changed,
            None => ReactionChange::Unchanged,
        })
    }

    /// Reads a message's reactions and hands them to `announce`, unless
    /// the message is gone. Announcements of one message are made one at a
    /// time, each with what it read, so they go out in the order of their
    /// reads: whatever the interleaving of concurrent changes, the last one
    /// sent holds every change made before it.
    fn announce_reactions(
        &self,
        room: RoomId,
        msg: MessageId,
        announce: &mut dyn FnMut(&[Reaction]),
    ) -> Result<(), StoreError> {
        let _serial = self.reaction_lock(msg);
        if !self.message_exists(room, msg)? {
            return Ok(());
        }
        let mut grouped = self.read_reactions(room, msg, msg)?;
        announce(&grouped.remove(&msg).unwrap_or_default());
        Ok(())
    }
}

impl SledStore {
    /// Serialises the changes and announcements of one message's reactions
    /// (striped by message id, so memory stays fixed and unrelated
    /// messages rarely wait for each other).
    fn reaction_lock(&self, msg: MessageId) -> MutexGuard<'_, ()> {
        let locks = &self.inner.reaction_locks;
        let stripe = (msg.0 % locks.len() as u64) as usize;
        locks[stripe].lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether a message is there to react to.
    fn message_exists(&self, room: RoomId, msg: MessageId) -> Result<bool, StoreError> {
        Ok(!self.hidden(msg) && self.inner.messages.contains_key(keys::message(room, msg))?)
    }

    /// The distinct emojis of a message's reactions, in byte order: one
    /// seek per emoji, however many users chose it.
    fn distinct_reactions(&self, room: RoomId, msg: MessageId) -> Result<Vec<String>, StoreError> {
        let prefix = keys::message(room, msg);
        let mut from = prefix.to_vec();
        let mut out = Vec::new();
        while let Some(kv) = self.inner.reactions.range(from.as_slice()..).next() {
            let (k, _) = kv?;
            if !k.starts_with(&prefix) {
                break;
            }
            let (_, emoji, _) = split_key(&k)?;
            // Just past every key of this emoji: its terminator 0x00, then 0x01.
            from = keys::reaction_emoji(room, msg, emoji);
            from.pop();
            from.push(1);
            out.push(emoji.to_owned());
        }
        Ok(out)
    }

    /// The page with each message's reactions filled in, read with one
    /// range scan over the page's id range.
    pub(super) fn with_reactions(&self, room: RoomId, mut page: Page) -> Result<Page, StoreError> {
        self.fill_reactions(room, &mut page.messages)?;
        Ok(page)
    }

    /// Fills in the reactions of `messages`, which are of `room` and in id
    /// order.
    pub(super) fn fill_reactions(
        &self,
        room: RoomId,
        messages: &mut [Message],
    ) -> Result<(), StoreError> {
        let (Some(first), Some(last)) = (messages.first(), messages.last()) else {
            return Ok(());
        };
        let mut grouped = self.read_reactions(room, first.id, last.id)?;
        for m in messages {
            if let Some(r) = grouped.remove(&m.id) {
                m.reactions = r;
            }
        }
        Ok(())
    }

    /// The reactions to the messages of `room` with ids `from..=to`, by
    /// message, each in the order served.
    fn read_reactions(
        &self,
        room: RoomId,
        from: MessageId,
        to: MessageId,
    ) -> Result<HashMap<MessageId, Vec<Reaction>>, StoreError> {
        let mut by_message: HashMap<MessageId, Vec<Group>> = HashMap::new();
        for rec in self.reaction_scan(room, from, to) {
            let (msg, emoji, _, stored) = rec?;
            let list = by_message.entry(msg).or_default();
            // Keys come grouped by emoji (see `keys`): a new emoji starts a new group.
            match list.last_mut() {
                Some((r, users)) if r.emoji == emoji => users.push((stored.at, stored.user)),
                _ => list.push((
                    Reaction {
                        emoji,
                        count: 0,
                        users: Vec::new(),
                    },
                    vec![(stored.at, stored.user)],
                )),
            }
        }
        Ok(by_message
            .into_iter()
            .map(|(msg, groups)| (msg, in_served_order(groups)))
            .collect())
    }

    /// Every stored reaction to the messages of `room` with ids
    /// `from..=to`, in key order.
    fn reaction_scan(
        &self,
        room: RoomId,
        from: MessageId,
        to: MessageId,
    ) -> impl Iterator<Item = Result<(MessageId, String, UserId, StoredReaction), StoreError>> {
        // Past every reaction key of `to`: an emoji's first byte is never
        // 0xff, which UTF-8 does not use.
        let mut end = keys::message(room, to).to_vec();
        end.push(0xff);
        self.inner
            .reactions
            .range(keys::message(room, from).to_vec()..end)
            .map(|kv| {
                let (k, v) = kv?;
                let (msg, emoji, user) = split_key(&k)?;
                Ok((
                    msg,
                    emoji.to_owned(),
                    user,
                    from_json::<StoredReaction>(&v)?,
                ))
            })
    }

    /// The reactions to the messages of `room` with ids `from..=to`, as the
    /// backup writes them.
    pub(super) fn reaction_records(
        &self,
        room: RoomId,
        from: MessageId,
        to: MessageId,
    ) -> Result<Vec<ReactionRecord>, StoreError> {
        self.reaction_scan(room, from, to)
            .map(|rec| {
                let (message, emoji, user, stored) = rec?;
                Ok(ReactionRecord {
                    room,
                    message,
                    emoji,
                    user,
                    at: Timestamp(stored.at),
                })
            })
            .collect()
    }

    /// Writes a reaction read from a backup; `username` is its user's name.
    pub(super) fn restore_reaction(
        &self,
        r: &ReactionRecord,
        username: &str,
    ) -> Result<(), StoreError> {
        let value = to_json(&StoredReaction {
            user: username.to_owned(),
            at: r.at.0,
        })?;
        self.inner
            .reactions
            .insert(keys::reaction(r.room, r.message, &r.emoji, r.user), value)?;
        Ok(())
    }

    /// Removes every reaction whose key starts with `prefix` (a message's
    /// or a room's), in batches so that a large room's keys are never all
    /// in memory. Not yet durable: the caller flushes.
    pub(super) fn remove_reactions(&self, prefix: &[u8]) -> Result<(), StoreError> {
        let tree = &self.inner.reactions;
        loop {
            let mut batch = sled::Batch::default();
            let mut n = 0;
            for k in tree.scan_prefix(prefix).keys().take(4096) {
                batch.remove(k?);
                n += 1;
            }
            if n == 0 {
                return Ok(());
            }
            tree.apply_batch(batch)?;
        }
    }
}

/// One emoji's reaction as read, before it is put in order: the users come
/// with the time each reacted.
type Group = (Reaction, Vec<(i64, String)>);

/// A reaction key's message, emoji and user; a key that does not split is
/// damaged data.
fn split_key(k: &[u8]) -> Result<(MessageId, &str, UserId), StoreError> {
    keys::split_reaction(k).ok_or_else(|| StoreError::Corrupt("reaction key".into()))
}

/// A message's reaction groups (each with its users and their times) in the
/// order served: see the module's doc.
fn in_served_order(mut groups: Vec<Group>) -> Vec<Reaction> {
    for (_, users) in &mut groups {
        // Stable: equal times keep key order, which is user id order.
        users.sort_by_key(|(at, _)| *at);
    }
    // Stable again: equal times keep key order, which is emoji order.
    groups.sort_by_key(|(_, users)| users.first().map(|(at, _)| *at));
    groups
        .into_iter()
        .map(|(mut r, users)| {
            r.count = users.len();
            r.users = users.into_iter().map(|(_, name)| name).collect();
            r
        })
        .collect()
}

#[cfg(test)]
mod tests;
