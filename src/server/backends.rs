//! The store and the bus a node runs on, opened as its settings say, and
//! how they fare (for `/healthz`).
//!
//! The default is the single binary: sled in the data directory and no
//! bus. A node of a cluster keeps everything in PostgreSQL and fans out
//! through NATS; the keys every node must share (the tokens' signing key,
//! the push key pair) are then kept in the database too, so a token one
//! node signed is good on every other, and a browser subscribed through
//! one node gets pushes from all of them.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::runtime::Handle;
use tokio_util::sync::CancellationToken;

use super::ServeError;
use crate::bus::nats::{Inbound, NatsBus};
use crate::chat::hub::Hub;
use crate::config::{Settings, StoreChoice};
use crate::store::{MessageStore, PgStore, Store, StoreError};
use crate::throttle::LoginThrottle;

/// How often a node checks that PostgreSQL answers.
const PROBE_EVERY: Duration = Duration::from_secs(2);

/// What a node opened: its store, its hub (on the bus, if any), and what
/// `/healthz` reports of them.
pub struct Opened {
    pub store: Store,
    pub hub: Hub,
    pub health: Health,
    /// The other nodes' acts, for [`Opened::start`].
    inbound: Option<Inbound>,
    pg: Option<PgStore>,
}

/// How the store and the bus fare; empty on the single binary, whose
/// `/healthz` stays as the contract has it.
#[derive(Clone, Default)]
pub struct Health {
    pg: Option<Arc<AtomicBool>>,
    bus: Option<Arc<NatsBus>>,
}

/// Opens the store and the bus `settings` name. On a cluster's store,
/// replaces the settings' data-directory keys with the cluster's shared
/// ones (unless `--jwt-secret` was given).
pub async fn open(settings: &mut Settings) -> Result<Opened, ServeError> {
    let pg = match &settings.backends.store {
        StoreChoice::Embedded => None,
        StoreChoice::Postgres(address) => {
            let (url, shown) = (address.expose().to_owned(), address.to_string());
            let handle = Handle::current();
            let pg = blocking(move || PgStore::connect(&url, handle))
                .await
                .map_err(|e| ServeError(format!("cannot open the database at {shown}: {e}")))?;
            share_keys(&pg, settings).await?;
            Some(pg)
        }
    };
    let store = match &pg {
        Some(pg) => Store::new(pg.clone()),
        None => Store::open(&settings.data_dir, settings.cache_bytes)
            .map_err(|e| ServeError(format!("cannot open the database: {e}")))?,
    };
    let (hub, bus, inbound) = match (&settings.backends.bus, &pg) {
        (Some(address), Some(pg)) => {
            let (bus, inbound) = NatsBus::connect(address.expose())
                .await
                .map_err(|e| ServeError(format!("cannot join the bus at {address}: {e}")))?;
            let s = pg.clone();
            let next = blocking(move || Ok(s.message_cutoff()))
                .await
                .map_err(|e| ServeError(format!("cannot read the next message id: {e}")))?;
            (Hub::clustered(bus.clone(), next), Some(bus), Some(inbound))
        }
        _ => (Hub::default(), None, None),
    };
    let health = Health {
        pg: pg.as_ref().map(|_| Arc::new(AtomicBool::new(true))),
        bus,
    };
    Ok(Opened {
        store,
        hub,
        health,
        inbound,
        pg,
    })
}

impl Opened {
    /// Starts what a cluster node runs beside its server: applying the
    /// other nodes' acts, the heartbeats, filling gaps from the store, and
    /// probing the store for `/healthz`. Nothing on the single binary.
    pub fn start(&mut self, stop: CancellationToken) {
        if let Some(inbound) = self.inbound.take() {
            tokio::spawn(inbound.run(self.hub.clone()));
            self.hub.start_heartbeats();
        }
        let Some(pg) = self.pg.clone() else { return };
        // Connections per user are counted for the whole cluster.
        self.hub.set_shared_slots(pg.clone());
        self.hub.start_slot_heartbeat();
        if self.health.bus.is_some() {
            self.hub.start_gap_filler(Arc::new(pg.clone()));
        }
        if let Some(up) = self.health.pg.clone() {
            tokio::spawn(probe(pg, up, stop));
        }
    }
}

impl Opened {
    /// The authentication throttle: counted in the shared store on a
    /// cluster, so its limits hold whichever node is asked.
    pub fn login_throttle(&self) -> LoginThrottle {
        match &self.pg {
            Some(pg) => LoginThrottle::shared(pg.clone()),
            None => LoginThrottle::default(),
        }
    }
}

impl Health {
    /// The fields `/healthz` adds for a node of a cluster, and whether the
    /// node can serve (PostgreSQL answers); `None` on the single binary.
    pub fn report(&self) -> Option<(bool, serde_json::Value)> {
        let up = self.pg.as_ref()?.load(Ordering::Relaxed);
        let mut fields = serde_json::json!({
            "store": {"kind": "postgres", "reachable": up},
        });
        fields["bus"] = match &self.bus {
            Some(bus) => serde_json::json!({
                "kind": "nats",
                "connected": bus.connected(),
                "dropped": bus.dropped(),
            }),
            None => serde_json::json!({"kind": "in-process"}),
        };
        Some((up, fields))
    }
}

/// Keeps `up` telling whether PostgreSQL answers, until `stop`.
async fn probe(pg: PgStore, up: Arc<AtomicBool>, stop: CancellationToken) {
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(PROBE_EVERY) => {}
        }
        let p = pg.clone();
        let answered = blocking(move || p.ping()).await.is_ok();
        if up.swap(answered, Ordering::Relaxed) != answered {
            match answered {
                true => tracing::info!("PostgreSQL answers again"),
                false => tracing::error!("PostgreSQL does not answer; writes fail until it does"),
            }
        }
    }
}

/// The keys every node shares, kept in the database: the first node's
/// own become everyone's.
async fn share_keys(pg: &PgStore, settings: &mut Settings) -> Result<(), ServeError> {
    let failed = |e: StoreError| ServeError(format!("cannot read the cluster's keys: {e}"));
    if !settings.jwt_secret_given {
        let (p, mine) = (pg.clone(), settings.jwt_secret.to_vec());
        let key = blocking(move || p.shared_key("jwt-secret", mine))
            .await
            .map_err(failed)?;
        settings.jwt_secret = key.into();
    }
    let (p, mine) = (pg.clone(), settings.vapid.to_text().into_bytes());
    let key = blocking(move || p.shared_key("vapid-private-key", mine))
        .await
        .map_err(failed)?;
    let text = String::from_utf8(key)
        .map_err(|_| ServeError("the cluster's VAPID key is not text".into()))?;
    settings.vapid = crate::push::keys::VapidKeys::from_text(&text).map_err(ServeError)?;
    Ok(())
}

/// Runs a blocking store call on the blocking pool.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StoreError::Postgres(format!("the call stopped: {e}")))?
}
