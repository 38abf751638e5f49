//! Reading a room's history, a page at a time.

use serde::Serialize;

use super::StoreError;
use crate::model::{Message, MessageId, RoomId};

/// One page of a room's history, oldest first.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Page {
    pub messages: Vec<Message>,
    /// Whether more messages exist beyond this page in the direction asked.
    pub has_more: bool,
}

/// The page of a room's history around one message (a search result
/// opened in context), oldest first.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PageAround {
    pub messages: Vec<Message>,
    /// Whether older messages exist before the page.
    pub has_more_before: bool,
    /// Whether newer messages exist after it.
    pub has_more_after: bool,
}

/// A room's history in id order, as clients page through it. Messages
/// hidden after a failed write are never served.
pub trait HistoryStore {
    /// One message of a room.
    fn message(&self, room: RoomId, id: MessageId) -> Result<Option<Message>, StoreError>;

    /// The newest `limit` messages of a room.
    fn latest(&self, room: RoomId, limit: usize) -> Result<Page, StoreError>;

    /// The `limit` messages just older than `before`.
    fn before(&self, room: RoomId, before: MessageId, limit: usize) -> Result<Page, StoreError>;

    /// The `limit` messages just newer than `after`.
    fn after(&self, room: RoomId, after: MessageId, limit: usize) -> Result<Page, StoreError>;

    /// `limit` messages (at least the one asked for) with `id` in the
    /// middle: as many older as newer, and where one side runs out the
    /// other fills the page. `None` when the room has no message `id`.
    fn around(
        &self,
        room: RoomId,
        id: MessageId,
        limit: usize,
    ) -> Result<Option<PageAround>, StoreError>;
}
