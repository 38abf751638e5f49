//! Moving a user's read state (`markRead` on either door, `POST
//! /api/rooms/{id}/read`) and telling the user's other connections
//! (`readUpdated`).
//!
//! The mark is written unflushed, then made durable by the writer's next
//! group commit ([`Writer::sync`]): a mark costs no fsync of its own while
//! messages flow, and many marks share one when none do. It is answered
//! only once durable, like a message.

use super::conn::ConnId;
use super::events;
use super::hub::Hub;
use super::writer::Writer;
use crate::model::{MessageId, ReadView, RoomId, UserId};
use crate::store::Store;

/// The read state could not be stored (the store failed, or the server
/// is stopping); nothing was announced.
#[derive(Debug, thiserror::Error)]
#[error("the read state could not be stored: {0}")]
pub struct MarkFailed(String);

/// What moving read state uses of the server.
#[derive(Clone)]
pub struct Reads {
    pub store: Store,
    pub writer: Writer,
    pub hub: Hub,
}

impl Reads {
    /// Marks `room` read by `user` up to the message `id` (which the
    /// caller found in the room, which `user` can see). When the mark
    /// moved, every connection of `user` but `origin` gets `readUpdated`.
    /// Returns the read state after it (unchanged when `id` is not past
    /// the mark: read state never moves backwards).
    pub async fn mark(
        self,
        user: UserId,
        room: RoomId,
        id: MessageId,
        origin: Option<ConnId>,
    ) -> Result<ReadView, MarkFailed> {
        let store = self.store.clone();
        let moved = blocking(move || store.mark_read(room, user, id)).await?;
        if moved {
            self.writer
                .sync()
                .await
                .map_err(|e| MarkFailed(e.to_string()))?;
        }
        // The state is read and sent under the room's mark lock, so that
        // two marks racing on two devices reach the others in order.
        let (store, hub) = (self.store, self.hub);
        blocking(move || {
            store.with_read_view(room, user, &mut |view| {
                if moved {
                    hub.send_to_user(user, &events::read_updated(room, view), origin);
                }
            })
        })
        .await
    }
}

/// Runs store work on the blocking pool: a mark may scan history, and
/// waits for its room's lock.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, crate::store::StoreError> + Send + 'static,
) -> Result<T, MarkFailed> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r.map_err(|e| MarkFailed(e.to_string())),
        Err(e) => Err(MarkFailed(format!("store task: {e}"))),
    }
}
