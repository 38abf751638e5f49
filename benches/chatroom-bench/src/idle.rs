//! The idle mode: the server's memory cost of one idle authenticated
//! WebSocket connection (optionally joined to a room).

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;

use crate::client::{self, Http, Ws, ENGINE_PING, ENGINE_PONG};
use crate::server::Server;
use crate::stats::{self, Ending};
use crate::IdleArgs;

/// Time allowed for a polite close frame when the connections are released.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

pub async fn run(server: &Server, args: &IdleArgs) -> Result<(), String> {
    if server.pid().is_none() {
        return Err(
            "idle reads the server's memory: give --spawn PATH, or --url with --server-pid PID"
                .to_string(),
        );
    }
    let users = args.users.clamp(1, args.connections.max(1));
    println!("mode: idle");
    println!("door: {}", args.common.door().name());
    println!("connections: {}", args.connections);
    println!("join_room: {}", args.join);
    println!("users: {users}");
    println!("settle_s: {}", args.settle);
    println!("connect_concurrency: {}", args.common.connect_concurrency);

    let setup_start = Instant::now();
    let http = Http::new(server.base_url())?;
    let suffix = client::run_suffix();
    let accounts = http.register_users("bench_i", users, &suffix).await?;
    let room = if args.join {
        Some(
            http.create_room(&accounts[0], &format!("bench-{suffix}"))
                .await?,
        )
    } else {
        None
    };
    let settle = Duration::from_secs_f64(if args.settle.is_finite() {
        args.settle.max(0.0)
    } else {
        0.0
    });
    tokio::time::sleep(settle).await;
    let before = server.rss_kib();

    let tokens = (0..args.connections)
        .map(|i| accounts[i % users].token.clone())
        .collect();
    let door = args.common.door();
    let results = client::open_many(
        &client::ws_url(server.base_url(), door),
        tokens,
        room.as_ref(),
        args.common.connect_concurrency,
        args.common.connect_timeout(),
        door,
    )
    .await;
    let mut failures = Vec::new();
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut holders = Vec::new();
    for r in results {
        match r {
            Ok(ws) => holders.push(tokio::spawn(hold(ws, stop_rx.clone()))),
            Err(e) => failures.push(e),
        }
    }
    println!("setup_s: {:.2}", setup_start.elapsed().as_secs_f64());
    println!("connections_opened: {}", holders.len());
    println!("connections_failed: {}", failures.len());
    if let Some(first) = failures.first() {
        println!("first_connection_failure: {first}");
    }

    tokio::time::sleep(settle).await;
    let after = server.rss_kib();

    let _ = stop_tx.send(true);
    let mut closed = std::collections::BTreeMap::new();
    let mut dropped = 0u64;
    for h in holders.drain(..) {
        match h.await {
            Ok(Ending::ClosedByServer(code)) => *closed.entry(code).or_insert(0u64) += 1,
            Ok(Ending::Dropped) => dropped += 1,
            Ok(Ending::Open) | Err(_) => {}
        }
    }

    println!("--- results ---");
    match (before, after) {
        (Some(b), Some(a)) => {
            let opened = (args.connections - failures.len()).max(1);
            println!("server_rss_before_kib: {b}");
            println!("server_rss_after_kib: {a}");
            println!(
                "kib_per_idle_connection: {:.2}",
                (a as f64 - b as f64) / opened as f64
            );
        }
        _ => println!("server_rss: unavailable (is the server still running?)"),
    }
    println!(
        "connections_closed_by_server: {} ({})",
        closed.values().sum::<u64>(),
        stats::format_counts(&closed)
    );
    println!("connections_dropped: {dropped}");
    Ok(())
}

/// Keeps one connection open, answering pings (tungstenite answers
/// WebSocket pings while reading; Engine.IO pings are answered here),
/// until told to stop or the server ends it.
async fn hold(ws: Ws, mut stop: watch::Receiver<bool>) -> Ending {
    let (mut sink, mut stream) = ws.split();
    let ending = loop {
        tokio::select! {
            msg = stream.next() => match msg {
                Some(Ok(Message::Text(t))) if t.as_str() == ENGINE_PING => {
                    let _ = sink.send(Message::text(ENGINE_PONG)).await;
                }
                Some(Ok(Message::Close(c))) => break Ending::ClosedByServer(c.map_or(0, |c| u16::from(c.code))),
                Some(Ok(_)) => {}
                Some(Err(_)) | None => break Ending::Dropped,
            },
            r = stop.changed() => {
                let _ = r;
                break Ending::Open;
            }
        }
    };
    if ending == Ending::Open {
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, sink.send(Message::Close(None))).await;
    }
    ending
}
