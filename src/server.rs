//! `serve`: open the store, start the writer, listen, and stop gracefully.
//!
//! The accept loop is ours rather than `warp::serve` so that bind errors
//! surface at once, open connections are capped and silent ones closed
//! ([`conn`]), requests carry their client address and upgrade handle, and
//! shutdown can run in the order the durability promise needs:
//!
//! 1. stop accepting and stop reading client frames (`stop_reading`);
//! 2. let in-flight HTTP requests finish;
//! 3. wait for the writer to store and deliver everything queued (barrier),
//!    and for the push thread to queue its notifications; stop sending;
//! 4. sessions send what they hold and close with 1001 (`close_sockets`);
//! 5. the writer drains and exits, the store is flushed, exit 0.
//!
//! Starting is in two steps ([`open`], then [`run`]) so that whoever
//! starts the server knows when it is ready: the binary prints its
//! listening line then, and the tests start serving inside their own
//! process from there. What stops it is the caller's: the binary passes
//! [`signal`], the tests a channel of their own.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::Request;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::task::TaskTracker;

use crate::app::{App, AppInner, Shutdown};
use crate::auth::Tokens;
use crate::chat::writer::{Writer, WriterThread};
use crate::config::Settings;
use crate::http::ClientAddr;
use crate::push::service::Push;
use crate::throttle::{TokenBuckets, WriteLimits};

mod backends;
mod conn;

pub use backends::Health;

/// Time in-flight HTTP requests get to finish at shutdown.
const HTTP_DRAIN: Duration = Duration::from_secs(5);
/// Time sessions get to send what they hold and close at shutdown.
const SESSION_DRAIN: Duration = Duration::from_secs(5);
/// Least time between two log lines about one lasting condition (the
/// connection cap reached, accept failing).
/// How long the search thread has to save the index at shutdown.
const SEARCH_DRAIN: Duration = Duration::from_secs(5);

/// Searches that run at once; more wait their turn (see
/// `AppInner::search_permits`).
const SEARCHES_AT_ONCE: usize = 4;

const LOG_EVERY: Duration = Duration::from_secs(1);

/// A failure to start or run the server, phrased for the operator.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ServeError(pub String);

/// A server ready to run: its store, writer and admin socket are open and
/// its listener bound, so a failure to start has already been reported and
/// admin commands already reach it.
pub struct Ready {
    app: App,
    listener: TcpListener,
    admin: tokio::net::UnixListener,
    writer_thread: WriterThread,
    search_thread: crate::search::SearchThread,
    push: Push,
    local: SocketAddr,
    tcp_cap: usize,
}

impl Ready {
    /// The address the server listens on (port 0 picks a free one).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }
}

/// Opens the store, starts the writer and the admin socket, and takes
/// `listener` (bound by the caller, see [`bind`]) as the one to serve.
pub async fn open(mut settings: Settings, listener: TcpListener) -> Result<Ready, ServeError> {
    let descriptors = conn::raise_descriptor_limit();
    let tcp_cap = conn::tcp_cap(settings.max_tcp_connections, descriptors);
    let shutdown = Shutdown::default();
    let mut opened = backends::open(&mut settings).await?;
    let login_throttle = opened.login_throttle();
    let (store, hub, health) = (
        opened.store.clone(),
        opened.hub.clone(),
        opened.health.clone(),
    );
    // Only once the store holds the directory's lock: a second server
    // started on it by mistake must not empty the first one's uploads.
    let blobs = crate::files::Blobs::open_in(&settings.data_dir, settings.files_dir.as_deref())
        .map_err(|e| ServeError(format!("cannot open the files directory: {e}")))?;
    let push = Push::start(&settings, &store, &hub).map_err(ServeError)?;
    let (search, search_thread) =
        crate::search::Search::start(&settings.data_dir, &store).map_err(ServeError)?;
    // On a node with peers, the index follows every node's messages as
    // the hub hands them on; the peers are heard only from here on, so
    // the index misses nothing past what it caught up to at its start.
    let indexed = search.clone();
    hub.follow(Box::new(move |messages| {
        indexed.offer(crate::search::Keys::of(messages))
    }));
    opened.start(shutdown.stop_reading.clone());
    let (writer, writer_thread) = Writer::start(
        store.clone(),
        hub.clone(),
        push.feed.clone(),
        search.clone(),
    )
    .map_err(|e| ServeError(format!("cannot start the writer: {e}")))?;
    let tokens = Tokens::new(
        &settings.jwt_secret,
        settings.token_ttl,
        settings.hash_queue,
    )
    .map_err(|e| ServeError(e.to_string()))?;
    let admin = crate::admin::socket::listen(&settings.data_dir).map_err(|e| {
        ServeError(format!(
            "cannot create the admin socket in {}: {e}",
            settings.data_dir.display()
        ))
    })?;
    let local = listener
        .local_addr()
        .map_err(|e| ServeError(e.to_string()))?;

    let app = App::new(AppInner {
        store,
        hub,
        writer,
        tokens,
        send_limits: settings
            .message_rate
            .map(|r| TokenBuckets::new(r, settings.message_burst)),
        write_limits: WriteLimits::new(settings.write_rates),
        login_throttle,
        shutdown,
        backends: health,
        connections: Arc::new(Semaphore::new(settings.max_connections)),
        blobs,
        file_links: crate::files::links::Signer::new(&settings.jwt_secret),
        image_permits: crate::http::files::preview::image_permits(),
        low_disk: crate::disk::LowDisk::default(),
        search,
        search_permits: Arc::new(Semaphore::new(SEARCHES_AT_ONCE)),
        settings,
    });
    Ok(Ready {
        app,
        listener,
        admin,
        writer_thread,
        search_thread,
        push,
        local,
        tcp_cap,
    })
}

/// Serves until `shutdown` resolves (or the store asks to stop), then
/// stops in the order above. `shutdown` is boxed so that this function is
/// not generic: the whole server is compiled once, in this crate, rather
/// than again in every program (each test binary) that runs it.
pub async fn run(
    ready: Ready,
    shutdown: std::pin::Pin<Box<dyn Future<Output = ()> + Send + 'static>>,
) -> Result<(), ServeError> {
    let app = ready.app;
    let store = app.store.clone();
    tracing::info!(
        address = %ready.local,
        data_dir = %app.settings.data_dir.display(),
        max_tcp_connections = ready.tcp_cap,
        "chatroom started"
    );
    crate::push::keys::warn_if_default(&app.settings.vapid_subject);

    let stop = app.shutdown.stop_reading.clone();
    let signal = tokio::spawn(async move {
        shutdown.await;
        stop.cancel();
    });
    let admin_task = tokio::spawn(crate::admin::socket::serve(
        ready.admin,
        store.clone(),
        app.blobs.clone(),
        app.hub.clone(),
        app.search.clone(),
        app.shutdown.stop_reading.clone(),
    ));
    let store_watch = tokio::spawn(crate::store::stop_when_disk_recovers(
        store.clone(),
        app.shutdown.stop_reading.clone(),
    ));
    let sweep = tokio::spawn(crate::files::sweep::run(
        store.clone(),
        app.blobs.clone(),
        app.settings.uploads.unattached_for,
        app.shutdown.stop_reading.clone(),
    ));
    let disk_watch = app.settings.low_disk_percent.map(|percent| {
        tokio::spawn(crate::disk::watch(
            app.settings.data_dir.clone(),
            percent,
            app.low_disk.clone(),
            app.shutdown.stop_reading.clone(),
        ))
    });
    accept_loop(app.clone(), ready.listener, ready.tcp_cap).await;
    signal.abort();
    store_watch.abort();
    if let Some(task) = disk_watch {
        task.abort();
    }
    let _ = sweep.await;
    let _ = admin_task.await;
    let _ = std::fs::remove_file(crate::admin::socket_path(&app.settings.data_dir));

    // Everything sessions handed to the writer is now stored and delivered.
    app.writer.barrier().await;
    ready.push.stop_sending().await;
    app.shutdown.close_sockets.cancel();
    app.shutdown.sessions.close();
    if tokio::time::timeout(SESSION_DRAIN, app.shutdown.sessions.wait())
        .await
        .is_err()
    {
        tracing::warn!("some connections did not close in time");
    }
    // Dropping the last handle lets the writer thread drain and exit.
    drop(app);
    tokio::task::spawn_blocking(move || ready.writer_thread.join())
        .await
        .map_err(|e| ServeError(e.to_string()))?;
    ready.push.join().await;
    // The writer's handle was the last: the search thread indexes what is
    // queued, saves the index and ends. Bounded: a handle some stray task
    // still holds must not keep the server from stopping, and what the
    // index missed is read back from the store at the next start.
    let search_join = tokio::task::spawn_blocking(move || ready.search_thread.join());
    if tokio::time::timeout(SEARCH_DRAIN, search_join)
        .await
        .is_err()
    {
        tracing::warn!("the search index was not saved in time; it catches up at the next start");
    }
    if let Some(reason) = store.write_failure() {
        return Err(ServeError(format!(
            "stopped because {reason}; start again to reopen the database"
        )));
    }
    store
        .flush()
        .map_err(|e| ServeError(format!("final flush failed: {e}")))?;
    tracing::info!("chatroom stopped");
    Ok(())
}

/// Binds the listening socket, saying in the error what to do about it.
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, ServeError> {
    TcpListener::bind(addr).await.map_err(|e| {
        let hint = match e.kind() {
            std::io::ErrorKind::AddrInUse => {
                "is another server using that port? choose another with --bind"
            }
            std::io::ErrorKind::PermissionDenied => {
                "ports below 1024 need privileges; choose another with --bind"
            }
            _ => "check the address given with --bind",
        };
        ServeError(format!("cannot listen on {addr}: {e}; {hint}"))
    })
}

/// Resolves at the first SIGINT or SIGTERM: the binary's shutdown signal.
pub async fn signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot listen for SIGTERM");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    tracing::info!("shutting down");
}

/// Accepts connections while a slot of the cap is free; at the cap, new
/// connections wait in the listen backlog until a close (or a timeout)
/// frees one.
async fn accept_loop(app: App, listener: TcpListener, cap: usize) {
    let svc = crate::http::socketio::Door::new(
        app.clone(),
        warp::service(crate::http::routes(app.clone())),
    );
    let stop = app.shutdown.stop_reading.clone();
    let builder = conn::http1(&app.settings);
    let slots = Arc::new(Semaphore::new(cap.min(Semaphore::MAX_PERMITS)));
    let connections = TaskTracker::new();
    let mut cap_log = conn::Every::new(LOG_EVERY);
    let mut fail_log = conn::Every::new(LOG_EVERY);
    loop {
        let slot = match slots.clone().try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => {
                if cap_log.ready() {
                    tracing::warn!(
                        limit = cap,
                        "TCP connection limit reached; new connections wait until open ones close"
                    );
                }
                tokio::select! {
                    r = slots.clone().acquire_owned() => match r {
                        Ok(slot) => slot,
                        Err(_) => break,
                    },
                    _ = stop.cancelled() => break,
                }
            }
        };
        let (stream, addr) = tokio::select! {
            r = listener.accept() => match r {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    if fail_log.ready() {
                        tracing::warn!(error = %e, "accept failed");
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = stop.cancelled() => break,
        };
        let _ = stream.set_nodelay(true);
        let svc = svc.clone();
        let service = hyper::service::service_fn(move |mut req: Request<Incoming>| {
            req.extensions_mut().insert(ClientAddr(addr));
            let early = crate::http::refuse_oversized_head(&req);
            let svc = svc.clone();
            async move {
                match early {
                    Some(res) => Ok(res),
                    None => svc.call(req).await,
                }
            }
        });
        let conn = builder
            .serve_connection(TokioIo::new(conn::Held::new(stream, slot)), service)
            .with_upgrades();
        let stop = stop.clone();
        connections.spawn(async move {
            let mut conn = std::pin::pin!(conn);
            let result = tokio::select! {
                r = conn.as_mut() => r,
                _ = stop.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(e) = result {
                tracing::debug!(error = %e, "connection error");
            }
        });
    }
    drop(listener);
    connections.close();
    if tokio::time::timeout(HTTP_DRAIN, connections.wait())
        .await
        .is_err()
    {
        tracing::warn!("some HTTP requests did not finish in time");
    }
}
