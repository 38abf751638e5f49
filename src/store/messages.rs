//! Appending, editing and deleting messages.

use std::collections::HashSet;

use super::StoreError;
use crate::model::{FileId, Message, MessageId, RoomId, Timestamp, UserId};

/// Most files one message may attach.
pub const MAX_ATTACHMENTS: usize = 10;

/// Why a message's attachments were refused; the text names the file
/// and the reason, for the `invalid_attachment` error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct AttachRefused(pub String);

/// Reads the `attachments` of a `sendMessage`: at most
/// [`MAX_ATTACHMENTS`] ids, each once. A malformed id is an unknown file.
pub fn attachment_ids(ids: &[String]) -> Result<Vec<FileId>, AttachRefused> {
    if ids.len() > MAX_ATTACHMENTS {
        return Err(AttachRefused(format!(
            "too many attachments: {} (at most {MAX_ATTACHMENTS} a message)",
            ids.len()
        )));
    }
    let mut seen = HashSet::with_capacity(ids.len());
    let mut out = Vec::with_capacity(ids.len());
    for text in ids {
        let id: FileId = text
            .parse()
            .map_err(|_| AttachRefused(format!("attachment {text:?}: no such file")))?;
        if !seen.insert(id) {
            return Err(AttachRefused(format!(
                "attachment {id}: named twice (a duplicate)"
            )));
        }
        out.push(id);
    }
    Ok(out)
}

/// What became of a batch of messages that may attach files.
#[derive(Debug, Default)]
pub struct Appended {
    /// The messages stored, in order.
    pub stored: Vec<Message>,
    /// The places in the batch of those refused, ascending, and why.
    pub refused: Vec<(usize, AttachRefused)>,
}

impl Appended {
    /// What became of the message at `place` in the batch.
    pub fn at(&self, place: usize) -> Option<Result<&Message, &AttachRefused>> {
        match self.refused.binary_search_by_key(&place, |(p, _)| *p) {
            Ok(i) => Some(Err(&self.refused[i].1)),
            Err(before) => self.stored.get(place - before).map(Ok),
        }
    }
}

/// A message accepted for storage, before it has an id.
#[derive(Clone, Debug)]
pub struct NewMessage {
    pub room_id: RoomId,
    pub user_id: UserId,
    pub user: String,
    pub message: String,
    pub timestamp: Timestamp,
    /// The users the text mentions, resolved when it was accepted.
    pub mentions: Vec<UserId>,
    /// The client's key for the message, remembered for a day (see
    /// `client_ids.rs`).
    pub client_id: Option<String>,
}

/// Messages as they are written: ids, appends, edits and deletions, and
/// the keys clients gave them.
pub trait MessageStore {
    /// Gives each message the next id and writes them all in one batch,
    /// then counts them for the read state. Only the message writer
    /// appends, one batch at a time. Not yet durable: the caller flushes
    /// (once for many batches) before acknowledging. Ids increase across
    /// restarts, crashes and restores; an exhausted id space is an error,
    /// never a wrap to 0.
    fn append_batch(&self, new: Vec<NewMessage>) -> Result<Vec<Message>, StoreError>;

    /// [`MessageStore::append_batch`] for messages that may attach files:
    /// each with files is written with them atomically, or refused (its id
    /// is then never used). Messages become visible in id order. Not yet
    /// durable: the caller flushes.
    fn append_attaching(&self, new: Vec<(NewMessage, Vec<FileId>)>)
        -> Result<Appended, StoreError>;

    /// The id the next appended message will get: every message already
    /// stored has a smaller one, so it marks a consistent cut of history.
    /// An id handed out but lost in a crash was never acknowledged nor
    /// delivered, so an implementation may skip it.
    fn message_cutoff(&self) -> MessageId;

    /// Hides, now and after any restart, every message from `first` on:
    /// the batch starting there could not be made durable. Marks the store
    /// failed ([`Maintenance::write_failure`](super::Maintenance::write_failure)).
    /// A store whose failed batches leave nothing behind (a transaction
    /// rolled back) has nothing to hide and stays writable.
    /// Blocking: the writer's thread calls it.
    fn quarantine_from(&self, first: MessageId, reason: &str);

    /// Replaces a message's text, marking it edited. Returns the new
    /// message, or None when there is none (any more). Atomic against
    /// deletion: a message (or a room) deleted concurrently stays deleted.
    fn edit_message(
        &self,
        room: RoomId,
        id: MessageId,
        text: &str,
    ) -> Result<Option<Message>, StoreError>;

    /// Deletes one message and its reactions. Returns whether it existed.
    /// The removal and its uncounting from the read state (the room's
    /// tally, its author's and mentioned users' tallies, every mark at or
    /// past it) are atomic.
    fn delete_message(&self, room: RoomId, id: MessageId) -> Result<bool, StoreError>;

    /// The message `user` already sent with `client_id` in the last day,
    /// if it still exists.
    fn sent_with_client_id(
        &self,
        user: UserId,
        client_id: &str,
    ) -> Result<Option<Message>, StoreError>;

    /// Forgets the client keys older than a day; returns how many. Need
    /// not be durable by itself: a key that comes back after a crash is
    /// forgotten at the next call.
    fn forget_old_client_ids(&self) -> Result<usize, StoreError>;
}

impl NewMessage {
    /// The message as stored under `id`, without attachments.
    pub(crate) fn into_message(self, id: MessageId) -> Message {
        Message {
            id,
            room_id: self.room_id,
            user: self.user,
            user_id: self.user_id,
            message: self.message,
            timestamp: self.timestamp,
            edited_at: None,
            reactions: Vec::new(),
            mentions: self.mentions,
            attachments: Vec::new(),
        }
    }
}
