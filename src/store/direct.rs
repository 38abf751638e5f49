//! Direct rooms: one room per set of people.

use super::StoreError;
use crate::model::{Room, UserId};

/// One person of a direct room: the id is the identity, the name goes
/// into the room's stored name.
#[derive(Clone, Debug)]
pub struct Participant {
    pub id: UserId,
    pub username: String,
}

/// Who has a room in their room list (`GET /api/rooms`), and so is told
/// when it appears or changes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Viewers {
    /// A public room: every user.
    Everyone,
    /// A private or direct room: its members, in user-id order. Admins see
    /// a private room they are not in only when they ask for it by id, so
    /// they are not among its viewers; a direct room they are not in they
    /// never see.
    Members(Vec<UserId>),
}

/// Direct rooms and their index by the people in them.
pub trait DirectStore {
    /// The direct room of exactly `people` (the caller among them), and
    /// whether this call created it (then `creator` owns it). Of two
    /// concurrent starts of one conversation, both get the one room. Not
    /// yet durable: the caller flushes (`App::change`).
    fn open_direct_room(
        &self,
        creator: UserId,
        people: &[Participant],
    ) -> Result<(Room, bool), StoreError>;

    /// The direct room of exactly `people`, if it was started.
    fn direct_room(&self, people: &[UserId]) -> Result<Option<Room>, StoreError>;

    /// Who sees `room` in their room list: what a live room list follows.
    fn room_viewers(&self, room: &Room) -> Result<Viewers, StoreError>;
}
