//! What each member read of a room, and how they want to be notified.

use super::StoreError;
use crate::model::{MessageId, NotificationLevel, ReadView, Room, RoomId, RoomView, UserId};

/// Read marks, the unread and mention counts they give, and the
/// notification levels members chose.
pub trait ReadStore {
    /// `user`'s read state in `room`. Its cost must not follow the length
    /// of the history.
    fn read_view(&self, room: RoomId, user: UserId) -> Result<ReadView, StoreError>;

    /// Hands `user`'s read state in `room` to `f` while no mark of the
    /// room can change, and returns it: what several callers hand out this
    /// way (to the user's connections) comes in the order the marks were
    /// set. Within one process that takes the lock `mark_read` takes.
    fn with_read_view(
        &self,
        room: RoomId,
        user: UserId,
        f: &mut dyn FnMut(&ReadView),
    ) -> Result<ReadView, StoreError>;

    /// The room object as `viewer` (named `viewer_name`) sees it: `room`,
    /// its online count, the viewer's read state and notification level.
    /// Every room shown to one user is built here (but the `joinRoom` ack).
    /// Built from the other methods, so no implementation need repeat it.
    fn room_view(
        &self,
        room: &Room,
        viewer: UserId,
        viewer_name: &str,
        online: usize,
    ) -> Result<RoomView, StoreError> {
        let view = RoomView::new(room, viewer_name, online);
        let level = self.notification_level(room, viewer)?;
        Ok(view.with_read(self.read_view(room.id, viewer)?, level))
    }

    /// Marks `room` read by `user` up to the message `id`, unless the mark
    /// is there or past it already: read state never moves backwards.
    /// Returns whether it moved. Not yet durable: the caller has it
    /// flushed (the writer's group commit does, see `Writer::sync`).
    fn mark_read(&self, room: RoomId, user: UserId, id: MessageId) -> Result<bool, StoreError>;

    /// `user`'s level in `room`: the one chosen, or the room kind's default.
    fn notification_level(
        &self,
        room: &Room,
        user: UserId,
    ) -> Result<NotificationLevel, StoreError>;

    /// Records `user`'s level in `room`. Not yet durable: the caller
    /// flushes (`App::change`).
    fn set_notification_level(
        &self,
        room: RoomId,
        user: UserId,
        level: NotificationLevel,
    ) -> Result<(), StoreError>;

    /// The levels chosen in `room`, by user id; users not listed have the
    /// room kind's default.
    fn notification_levels(
        &self,
        room: RoomId,
    ) -> Result<Vec<(UserId, NotificationLevel)>, StoreError>;
}
