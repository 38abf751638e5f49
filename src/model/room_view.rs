//! The contract's `room` object as one user sees it, and the per-user
//! fields added to it where it is shown to one user.

use serde::Serialize;

use super::{MessageId, NotificationLevel, Room, RoomId, RoomKind, Timestamp, UserId};

/// The contract's `room` object: a room as one user sees it, plus its live
/// online count.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RoomView {
    pub id: RoomId,
    pub name: String,
    pub description: String,
    pub private: bool,
    pub owner_id: UserId,
    pub created_at: Timestamp,
    pub online: usize,
    /// An addition to the contract.
    pub kind: RoomKind,
    /// An addition to the contract: the viewer's read state, where the
    /// room is shown to one user (`lastReadId`, `unread`, `mentions`).
    #[serde(flatten)]
    pub read: Option<ReadView>,
    /// An addition to the contract: which new messages of the room the
    /// viewer is notified of, beside the read state (never in
    /// `roomUpdated`, which carries no per-user field).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notifications: Option<NotificationLevel>,
}

impl RoomView {
    /// The room as the user named `viewer` sees it: a direct room's name
    /// depends on who looks, so there is no view without a viewer.
    pub fn new(room: &Room, viewer: &str, online: usize) -> Self {
        RoomView {
            id: room.id,
            name: room.name_seen_by(viewer),
            description: room.description.clone(),
            private: room.private,
            owner_id: room.owner_id,
            created_at: Timestamp(room.created_at),
            online,
            kind: room.kind(),
            read: None,
            notifications: None,
        }
    }

    /// The same room as `viewer` sees it: with its read state and
    /// notification level.
    pub fn with_read(self, read: ReadView, notifications: NotificationLevel) -> Self {
        RoomView {
            read: Some(read),
            notifications: Some(notifications),
            ..self
        }
    }
}

/// One user's read state in one room, as the room object and
/// `readUpdated` carry it. `unread` counts the messages after
/// `lastReadId` that others wrote, `mentions` those of them that mention
/// the user; both stop at [`ReadView::CAP`]. `lastReadId` is omitted
/// while the user never marked anything read in the room.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReadView {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_read_id: Option<MessageId>,
    pub unread: u64,
    pub mentions: u64,
}

impl ReadView {
    /// The largest count reported: a badge says "1000" (the client may
    /// show "999+") rather than make anyone count a long history.
    pub const CAP: u64 = 1000;
}
