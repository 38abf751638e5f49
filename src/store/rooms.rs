//! Rooms and their members: what a room store must hold and answer.

use super::{random_id, StoreError};
use crate::model::{Room, RoomId, Timestamp, UserId};

/// A new room as every store creates it: a random id, made now, its kind
/// following `private`.
pub(crate) fn new_room(
    name: &str,
    description: &str,
    private: bool,
    owner: UserId,
) -> Result<Room, StoreError> {
    Ok(Room {
        id: RoomId(random_id()?),
        name: name.to_owned(),
        description: description.to_owned(),
        private,
        owner_id: owner,
        created_at: Timestamp::now().0,
        kind: None,
    })
}

/// What a room edit sets; `None` leaves a field as it is.
#[derive(Clone, Debug, Default)]
pub struct RoomEdit {
    /// Already validated and trimmed.
    pub name: Option<String>,
    /// Already validated.
    pub description: Option<String>,
}

/// Rooms, the index of their names, the index of public rooms and
/// memberships (both ways: a room's members, a user's rooms).
pub trait RoomStore {
    /// Creates a room owned by `owner`, who becomes its first member. Names
    /// are unique without regard to case, across private rooms too: the
    /// name is claimed atomically with the room's creation, so of two
    /// creations of one name exactly one succeeds (`RoomNameTaken`).
    fn create_room(
        &self,
        name: &str,
        description: &str,
        private: bool,
        owner: UserId,
    ) -> Result<Room, StoreError>;

    /// Creates a room as [`RoomStore::create_room`] does, unless `owner`
    /// already owns `quota` rooms (`StoreError::RoomQuota`). Concurrent
    /// creations by one owner must never exceed the quota together.
    fn create_room_within(
        &self,
        name: &str,
        description: &str,
        private: bool,
        owner: UserId,
        quota: Option<usize>,
    ) -> Result<Room, StoreError>;

    /// A room by id.
    fn room(&self, id: RoomId) -> Result<Option<Room>, StoreError>;

    /// A room by name, without regard to case.
    fn room_by_name(&self, name: &str) -> Result<Option<Room>, StoreError>;

    /// Every room, sorted by name (case-insensitive).
    fn all_rooms(&self) -> Result<Vec<Room>, StoreError>;

    /// Every public room and every private or direct room `user` belongs
    /// to, sorted by name (case-insensitive). Its cost must follow what the
    /// user sees, not how many rooms the server holds. A room deleted
    /// meanwhile is left out.
    fn visible_rooms(&self, user: UserId) -> Result<Vec<Room>, StoreError>;

    /// Whether `user` is a member of `room` (meaningful for private rooms).
    fn is_member(&self, room: RoomId, user: UserId) -> Result<bool, StoreError>;

    /// Adds a member; adding an existing member changes nothing. Returns
    /// whether `user` was not a member before.
    fn add_member(&self, room: RoomId, user: UserId) -> Result<bool, StoreError>;

    /// Removes a member. Returns whether it was one.
    fn remove_member(&self, room: RoomId, user: UserId) -> Result<bool, StoreError>;

    /// Deletes a room with its memberships, its whole history, its
    /// reactions and read state. Returns whether it existed. A reaction
    /// added concurrently must not outlive its message (see
    /// [`ReactionStore::add_reaction`](super::ReactionStore::add_reaction)).
    /// Not yet durable: the caller flushes (`App::change`).
    fn delete_room(&self, id: RoomId) -> Result<bool, StoreError>;

    /// The members of a room, in user-id order.
    fn members(&self, room: RoomId) -> Result<Vec<UserId>, StoreError>;

    /// Applies `edit` to a room. Returns the room as it now is, and whether
    /// anything changed. A new name is claimed and the old one freed
    /// atomically with the record's change: of two renames racing to one
    /// name, one wins and the other gets `RoomNameTaken`. `NotFound` when
    /// the room is gone. Not yet durable: the caller flushes (`App::change`).
    fn edit_room(&self, id: RoomId, edit: &RoomEdit) -> Result<(Room, bool), StoreError>;
}
