//! What the search index reads from the store.

use super::StoreError;
use crate::model::{Message, MessageId, RoomId};

/// A message as the index takes it: who wrote what where.
pub struct Indexable {
    pub room: RoomId,
    pub id: MessageId,
    pub author: u64,
    pub text: String,
}

/// A message marked as edited, and the mark's stamp.
pub struct EditMark {
    pub room: RoomId,
    pub id: MessageId,
    /// What tells this mark from one a later edit renews it with: opaque
    /// above the store, the implementation's own.
    pub(crate) stamp: Vec<u8>,
}

/// Messages as the search index takes them in, and the marks of edits
/// it has yet to see (on a shared store: this process's index).
pub trait SearchFeed {
    /// Every visible message with an id in `lo..=hi`, in id order, from
    /// all rooms.
    fn messages_between(&self, lo: u64, hi: u64) -> Result<Vec<Indexable>, StoreError>;

    /// One message as the index takes it; None when gone or hidden.
    fn indexable(&self, room: RoomId, id: MessageId) -> Result<Option<Indexable>, StoreError>;

    /// [`SearchFeed::indexable`] of each of `keys` (room, id), in their
    /// order, leaving out those gone or hidden. A store whose every read
    /// is a round trip (PostgreSQL) answers in one; the embedded store
    /// reads them one by one, as cheap there.
    fn indexables(&self, keys: &[(RoomId, MessageId)]) -> Result<Vec<Indexable>, StoreError> {
        let mut out = Vec::with_capacity(keys.len());
        for &(room, id) in keys {
            out.extend(self.indexable(room, id)?);
        }
        Ok(out)
    }

    /// Messages as a search answers them: each with its reactions, those
    /// gone or hidden left out.
    fn messages_found(&self, wanted: &[(RoomId, MessageId)]) -> Result<Vec<Message>, StoreError>;

    /// Up to `limit` messages marked as edited, with their marks. An edit
    /// marks its message atomically with the new text. On a store shared
    /// by several processes (PostgreSQL), each process has a cursor of its
    /// own and sees every edit, whichever process edited or read it, since
    /// each process keeps its own index; a process just started sees every
    /// edit ever made once.
    fn edited_marks(&self, limit: usize) -> Result<Vec<EditMark>, StoreError>;

    /// Removes marks once their messages' texts, read after the marks,
    /// are indexed and flushed; a mark an edit renewed meanwhile stays,
    /// and that edit is indexed next time. On a shared store this moves
    /// only the calling process's cursor: other processes still see them.
    fn forget_edited_marks(&self, done: &[EditMark]) -> Result<(), StoreError>;
}
