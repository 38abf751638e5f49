//! Reactions to messages.

use super::StoreError;
use crate::model::{MessageId, Reaction, RoomId, UserId};

/// Most distinct reactions one message may carry.
pub const MAX_DISTINCT_REACTIONS: usize = 20;

/// What a request to add or remove a reaction did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReactionChange {
    /// The reaction was added or removed.
    Changed,
    /// It was already there (add) or not there (remove): nothing to do.
    Unchanged,
    /// Adding it would give the message more than
    /// [`MAX_DISTINCT_REACTIONS`] distinct reactions.
    TooMany,
    /// The message does not exist (any more).
    NoMessage,
}

/// Who reacted to a message with what.
pub trait ReactionStore {
    /// Adds `user`'s reaction `emoji` to a message. Not yet durable: the
    /// caller flushes (`App::change`). Two users adding different new
    /// reactions at once must not pass the limit on distinct reactions
    /// together, and a message deleted meanwhile must take the reaction
    /// with it.
    fn add_reaction(
        &self,
        room: RoomId,
        msg: MessageId,
        emoji: &str,
        user: UserId,
        username: &str,
    ) -> Result<ReactionChange, StoreError>;

    /// Removes `user`'s reaction `emoji` from a message. Not yet durable:
    /// the caller flushes.
    fn remove_reaction(
        &self,
        room: RoomId,
        msg: MessageId,
        emoji: &str,
        user: UserId,
    ) -> Result<ReactionChange, StoreError>;

    /// Reads a message's reactions and hands them to `announce`, unless
    /// the message is gone. Announcements of one message must be made one
    /// at a time, each with what it read, so they go out in the order of
    /// their reads: the last one sent holds every change made before it.
    fn announce_reactions(
        &self,
        room: RoomId,
        msg: MessageId,
        announce: &mut dyn FnMut(&[Reaction]),
    ) -> Result<(), StoreError>;
}
