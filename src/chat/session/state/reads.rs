//! `markRead` on a connection, and the lookups it shares with `joinRoom`:
//! a room the connection may join, a message of that room.

use serde_json::value::RawValue;

use super::{internal, refuse, State, Step};
use crate::chat::events::{self, ErrorCode, Refusal};
use crate::chat::reads::Reads;
use crate::model::{MessageId, Room, RoomId};

impl State {
    /// `markRead`: the room must be one this connection could join (it
    /// need not have), the message one of its messages. Answered once the
    /// mark is durable, with the read state after it.
    pub(super) fn mark_read(
        &self,
        room_id: &str,
        message_id: &str,
        reference: Option<&RawValue>,
    ) -> Result<Step, Refusal> {
        let room = self.visible_room(room_id)?.id;
        let id = self.message_of(room, message_id, "messageId")?;
        let reads = Reads {
            store: self.h.store.clone(),
            writer: self.h.writer.clone(),
            hub: self.h.hub.clone(),
        };
        let marked = reads.mark(self.user.id, room, id, Some(self.conn.id));
        let reference = reference.map(|r| r.to_owned());
        Ok(Step::Pending(Box::pin(async move {
            let reference = reference.as_deref();
            match marked.await {
                Ok(view) => reference.map(|r| events::read_ack(room, &view, r)),
                Err(e) => Some(events::error(
                    &Refusal::new(ErrorCode::Internal, e.to_string()),
                    reference,
                )),
            }
        })))
    }

    /// A room this connection may join: public, or private with the user
    /// a member; `not_found` otherwise.
    pub(super) fn visible_room(&self, room_id: &str) -> Result<Room, Refusal> {
        let store = &self.h.store;
        let room = match room_id.parse::<RoomId>().ok() {
            Some(id) => store.room(id).map_err(internal)?,
            None => None,
        };
        match room {
            Some(room)
                if !room.private || store.is_member(room.id, self.user.id).map_err(internal)? =>
            {
                Ok(room)
            }
            _ => refuse(ErrorCode::NotFound, "no such room"),
        }
    }

    /// The id of a message of `room` (`field` names it for the refusal).
    pub(super) fn message_of(
        &self,
        room: RoomId,
        id: &str,
        field: &str,
    ) -> Result<MessageId, Refusal> {
        match id.parse::<MessageId>().ok() {
            Some(id) if self.h.store.message(room, id).map_err(internal)?.is_some() => Ok(id),
            _ => refuse(
                ErrorCode::ValidationFailed,
                format!("{field} must be the id of a message of this room"),
            ),
        }
    }
}
