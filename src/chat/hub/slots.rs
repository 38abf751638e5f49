//! The cap on a user's open WebSockets over the nodes of a cluster.
//!
//! A single process counts a user's connections in the hub
//! ([`Hub::admit`]). A node of a cluster also counts them in the shared
//! PostgreSQL database, per node ([`PgStore::admit_connection`]), so a
//! user who opens connections on several nodes is still held to one cap.
//! A connection is admitted when both counts have room; it holds a
//! [`UserSlot`] whose drop gives both back. Each node says it is alive
//! every [`SLOT_HEARTBEAT`] ([`Hub::start_slot_heartbeat`]): a node that
//! dies without giving its connections back stops counting
//! [`NODE_EXPIRY`] after its last heartbeat.
//!
//! When the database cannot say, the connection is refused (and it is
//! logged): the cap is a bound on what one user may hold, and a node that
//! cannot reach the database could not serve the session anyway.
//!
//! [`NODE_EXPIRY`]: crate::store::postgres::limits::NODE_EXPIRY

use std::sync::Arc;
use std::time::Duration;

use tokio::time::MissedTickBehavior;

use super::{Hub, UserSlot};
use crate::model::UserId;
use crate::store::PgStore;

/// How often a node says it is alive: well within
/// [`NODE_EXPIRY`](crate::store::postgres::limits::NODE_EXPIRY), so a
/// slow heartbeat or two does not make its connections stop counting.
pub const SLOT_HEARTBEAT: Duration = Duration::from_secs(5);

/// How long a silent node's rows are kept before they are deleted. Long
/// past the expiry (they no longer count after it): a node that was only
/// cut off for a while finds its counts again when it comes back.
pub const FORGET_AFTER: Duration = Duration::from_secs(600);

/// Heartbeats between two deletions of long-silent nodes.
const FORGET_EVERY: u32 = 12;

/// The database this node counts its connections in, and its number
/// there (the hub's [`NodeId`](super::NodeId)).
#[derive(Clone)]
pub(super) struct SharedSlots {
    pg: PgStore,
    node: u64,
}

/// A connection counted in the database; dropping it gives it back
/// there, on the blocking pool (or at once, outside a runtime). A
/// failure is logged: the count stays one too high until the node is
/// forgotten.
pub(super) struct ClusterSlot {
    slots: SharedSlots,
    user: UserId,
}

impl Drop for ClusterSlot {
    fn drop(&mut self) {
        let (pg, node, user) = (self.slots.pg.clone(), self.slots.node, self.user);
        let release = move || {
            if let Err(e) = pg.release_connection(node, user.0) {
                tracing::warn!(error = %e, user = user.0, "cluster: releasing a connection failed");
            }
        };
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => drop(rt.spawn_blocking(release)),
            Err(_) => release(),
        }
    }
}

impl Hub {
    /// Makes this hub count connections in `pg` as well, for the cap to
    /// hold over every node using that database. Set once, at startup,
    /// before connections are admitted; later calls change nothing and
    /// answer false.
    pub fn set_shared_slots(&self, pg: PgStore) -> bool {
        let node = self.inner.node.0;
        self.inner.slots.set(SharedSlots { pg, node }).is_ok()
    }

    /// Admits one more WebSocket of `user` if it has fewer than `cap`
    /// open: in this process ([`Hub::admit`]) and, on a node with shared
    /// slots, over the cluster. Without shared slots it is `admit`, with
    /// no database call. Cancelling the wait loses nothing: a count made
    /// in the database for a caller that is gone is given back.
    pub async fn admit_everywhere(&self, user: UserId, cap: usize) -> Option<UserSlot> {
        let mut slot = self.admit(user, cap)?;
        let Some(slots) = self.inner.slots.get().cloned() else {
            return Some(slot);
        };
        let admit = move || {
            let counted = slots.pg.admit_connection(slots.node, user.0, cap)?;
            // Built only once counted: its drop gives the count back.
            Ok::<_, crate::store::StoreError>(counted.then(|| ClusterSlot { slots, user }))
        };
        match tokio::task::spawn_blocking(admit).await {
            Ok(Ok(Some(counted))) => {
                slot.cluster = Some(counted);
                Some(slot)
            }
            Ok(Ok(None)) => None,
            Ok(Err(e)) => {
                tracing::error!(error = %e, user = user.0, "cluster: cannot count a connection; refused");
                None
            }
            Err(e) => {
                tracing::error!(error = %e, user = user.0, "cluster: counting a connection did not finish");
                None
            }
        }
    }

    /// Says this node is alive every [`SLOT_HEARTBEAT`] (the first time
    /// at once) and, every minute, deletes the rows of nodes silent for
    /// [`FORGET_AFTER`], for as long as the hub lives. Does nothing
    /// without shared slots. Call on the runtime, once.
    pub fn start_slot_heartbeat(&self) {
        let Some(slots) = self.inner.slots.get().cloned() else {
            return;
        };
        let weak = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(SLOT_HEARTBEAT);
            tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
            for beat in 0u32.. {
                tick.tick().await;
                if weak.strong_count() == 0 {
                    return;
                }
                let slots = slots.clone();
                let forget = beat % FORGET_EVERY == 0;
                let job = move || {
                    slots.pg.node_alive(slots.node)?;
                    if forget {
                        slots.pg.forget_dead_nodes(FORGET_AFTER)?;
                    }
                    Ok::<_, crate::store::StoreError>(())
                };
                match tokio::task::spawn_blocking(job).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => {
                        tracing::warn!(error = %e, "cluster: connection heartbeat failed")
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "cluster: connection heartbeat did not finish")
                    }
                }
            }
        });
    }

    /// Gives back every connection this node counted in the database, for
    /// a node that stops cleanly: its users need not wait for the expiry
    /// to connect elsewhere. Call after the sessions have ended.
    pub async fn forget_shared_slots(&self) {
        let Some(slots) = self.inner.slots.get().cloned() else {
            return;
        };
        let job = move || slots.pg.forget_node(slots.node);
        match tokio::task::spawn_blocking(job).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "cluster: forgetting this node failed"),
            Err(e) => tracing::warn!(error = %e, "cluster: forgetting this node did not finish"),
        }
    }
}
