//! The message modes: throughput, latency and durable.
//!
//! All three are one experiment with different knobs: C receiving
//! connections and S sending connections in one fresh room; each sender
//! sends `sendMessage` frames, either keeping a window of unacknowledged
//! messages full or paced at a total rate, for a fixed duration; then the
//! run drains (waits, bounded, for outstanding acks and deliveries) and
//! every connection's observations are merged.
//!
//! A message text is `bench <sender> <seq> <send-ns> xxxx...`: the sender's
//! index, its sequence number and the send time in nanoseconds since the
//! run's start, padded to the payload size. A receiver derives end-to-end
//! latency from it and checks per sender that sequence numbers only grow.
//! The `ref` of a send is `<seq>.<send-ns>`, so an ack carries its own send
//! time and no table of in-flight messages is needed.

use std::borrow::Cow;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{FutureExt, SinkExt, StreamExt};
use hdrhistogram::Histogram;
use tokio::sync::{mpsc, watch, Notify, Semaphore};
use tokio::time::{sleep_until, timeout_at};
use tokio_tungstenite::tungstenite::Message;

use crate::client::{self, Door, Frame, FrameData, Http, Room, Ws, ENGINE_PING, ENGINE_PONG};
use crate::push::{self, PushMode};
use crate::receivers::Receivers;
use crate::server::Server;
use crate::stats::{self, ConnStats, Ending, Progress, Summary};
use crate::sys;
use crate::{Common, DurableArgs, LoadArgs, Rate};

/// Time allowed for a polite close frame at the end of a connection.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);
/// Extra time past the drain deadline before a connection task that is
/// still running is abandoned (its task is bounded by the deadline itself;
/// this only guards against a bug).
const JOIN_GRACE: Duration = Duration::from_secs(5);
/// Interval of the progress line on standard error.
const PROGRESS_EVERY: Duration = Duration::from_secs(1);
/// Frames a connection handles in one go before it looks at its other
/// events (deadline, targets) again.
const READ_BURST: usize = 256;
/// First word of every message text the generator sends.
const PAYLOAD_TAG: &str = "bench";

/// One run of a message mode, resolved from the command line.
pub struct Plan {
    pub mode: &'static str,
    pub connections: usize,
    pub senders: usize,
    pub duration: Duration,
    pub rate: Rate,
    pub window: usize,
    pub payload: usize,
    pub drain: Duration,
    pub receiver_users: usize,
    /// Web Push during the run, and how many users each message notifies.
    pub push: (PushMode, usize),
    /// A second node of the cluster for the receiving connections, and its
    /// PID (see [`Receivers`]).
    pub receivers_node: (Option<String>, Option<u32>),
    pub common: Common,
}

impl Plan {
    pub fn from_load(mode: &'static str, a: &LoadArgs, rate: Rate) -> Plan {
        Plan {
            mode,
            connections: a.connections,
            senders: a.senders,
            duration: secs(a.duration),
            rate,
            window: a.window.max(1),
            payload: a.payload,
            drain: secs(a.drain),
            receiver_users: a.receiver_users,
            push: (PushMode::None, 0),
            receivers_node: (a.receivers_url.clone(), a.receivers_pid),
            common: a.common.clone(),
        }
    }

    pub fn from_durable(a: &DurableArgs) -> Plan {
        Plan {
            mode: "durable",
            connections: 0,
            senders: a.senders,
            duration: secs(a.duration),
            rate: a.rate.unwrap_or(Rate::Unlimited),
            window: a.window.max(1),
            payload: a.payload,
            drain: secs(a.drain),
            receiver_users: 0,
            push: (a.push, a.push_subscribers),
            receivers_node: (None, None),
            common: a.common.clone(),
        }
    }

    fn print(&self, receiver_users: usize) {
        println!("mode: {}", self.mode);
        println!("door: {}", self.common.door().name());
        println!("connections: {}", self.connections);
        println!("senders: {}", self.senders);
        println!("receiver_users: {receiver_users}");
        println!("duration_s: {}", self.duration.as_secs_f64());
        println!("rate: {}", self.rate);
        println!("window: {}", self.window);
        println!("payload_bytes: {}", self.payload);
        println!("drain_timeout_s: {}", self.drain.as_secs_f64());
        println!("connect_concurrency: {}", self.common.connect_concurrency);
        if self.push.0 != PushMode::None {
            println!("push: {:?}", self.push.0);
            println!("push_subscribers: {}", self.push.1);
        }
    }
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(if s.is_finite() { s.max(0.0) } else { 0.0 })
}

/// What every connection task shares.
struct Shared {
    /// Time zero of the run; message send times are nanoseconds since it.
    t0: Instant,
    /// Senders stop starting new sends here.
    send_until: Instant,
    /// Everything stops here, whatever is still missing.
    hard_deadline: Instant,
    /// Number of senders (size of the per-sender tables).
    senders: usize,
    /// How frames are framed.
    door: Door,
    /// Final acked count per sender, published once every sender has
    /// reported; a connection that has received that many from each sender
    /// is done.
    targets: watch::Receiver<Option<Arc<Vec<u64>>>>,
    progress: Arc<Progress>,
}

impl Shared {
    fn now_ns(&self) -> u64 {
        u64::try_from(self.t0.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
}

/// What makes a connection a sender.
struct SendRole {
    index: usize,
    window: usize,
    /// Time between two sends of this sender, when paced.
    period: Option<Duration>,
    /// Delay of this sender's first paced send, to spread senders over a
    /// period.
    offset: Duration,
    /// `{"event":"sendMessage","data":{"roomId":ID,"message":"` (`/ws`), or
    /// `["sendMessage",{"roomId":ID,"message":"` (Socket.IO, after the
    /// packet type and the acknowledgement id).
    frame_head: String,
    door: Door,
    payload: usize,
    /// Tells the run how many messages this sender got acked, once none is
    /// outstanding any more.
    done: mpsc::Sender<(usize, u64)>,
}

impl SendRole {
    /// The `sendMessage` of sequence number `seq` sent at `ns`. On `/ws`
    /// its `ref` is `<seq>.<ns>`; on Socket.IO its acknowledgement id (a
    /// number) is `ns`, unique since one sender's sends are sequential.
    fn frame(&self, seq: u64, ns: u64) -> String {
        let mut f = String::with_capacity(self.frame_head.len() + self.payload + 48);
        if self.door == Door::SocketIo {
            f.push_str(&format!("42{ns}"));
        }
        f.push_str(&self.frame_head);
        let start = f.len();
        f.push_str(&format!("{PAYLOAD_TAG} {} {seq} {ns} ", self.index));
        while f.len() - start < self.payload {
            f.push('x');
        }
        match self.door {
            Door::Ws => f.push_str(&format!(r#""}},"ref":"{seq}.{ns}"}}"#)),
            Door::SocketIo => f.push_str(r#""}]"#),
        }
        f
    }
}

/// `(sender, seq, send_ns)` from a message text of ours.
fn parse_payload(text: &str) -> Option<(usize, u64, u64)> {
    let mut words = text.split(' ');
    if words.next()? != PAYLOAD_TAG {
        return None;
    }
    let sender = words.next()?.parse().ok()?;
    let seq = words.next()?.parse().ok()?;
    let ns = words.next()?.parse().ok()?;
    Some((sender, seq, ns))
}

/// Send time in nanoseconds from the `ref` of one of our sends.
fn parse_ref(reference: &str) -> Option<u64> {
    let (_seq, ns) = reference.split_once('.')?;
    ns.parse().ok()
}

pub async fn run(server: &Server, plan: Plan) -> Result<(), String> {
    let receiver_users = if plan.connections == 0 {
        0
    } else {
        plan.receiver_users.clamp(1, plan.connections)
    };
    plan.print(receiver_users);
    if plan.senders == 0 {
        return Err("--senders must be at least 1".to_string());
    }
    let (receivers_url, receivers_pid) = &plan.receivers_node;
    let receiving = Receivers::for_server(server, receivers_url.as_deref(), *receivers_pid)?;
    receiving.print_config();

    // Setup: users, room, connections.
    let setup_start = Instant::now();
    let http = Http::new(server.base_url())?;
    let suffix = client::run_suffix();
    let sender_accounts = http
        .register_users("bench_s", plan.senders, &suffix)
        .await?;
    let receiver_accounts = http
        .register_users("bench_r", receiver_users, &suffix)
        .await?;
    let room = http
        .create_room(&sender_accounts[0], &format!("bench-{suffix}"))
        .await?;
    let pushes = match plan.push {
        (PushMode::None, _) | (_, 0) => None,
        (mode, subscribers) => {
            let (at, received) = push::stand_in(mode).await?;
            let who = http.register_users("bench_p", subscribers, &suffix).await?;
            push::subscribe(&http, &who, &room, at).await?;
            Some(received)
        }
    };
    let door = plan.common.door();
    let ws_url = client::ws_url(server.base_url(), door);
    let receivers_ws_url = client::ws_url(receiving.base_url(), door);
    let timeout = plan.common.connect_timeout();
    let concurrency = plan.common.connect_concurrency;
    let receiver_tokens = (0..plan.connections)
        .map(|i| receiver_accounts[i % receiver_users].token.clone())
        .collect();
    let receivers = client::open_many(
        &receivers_ws_url,
        receiver_tokens,
        Some(&room),
        concurrency,
        timeout,
        door,
    )
    .await;
    let sender_tokens = sender_accounts.iter().map(|a| a.token.clone()).collect();
    let senders = client::open_many(
        &ws_url,
        sender_tokens,
        Some(&room),
        concurrency,
        timeout,
        door,
    )
    .await;

    let (receivers, receiver_failures) = split_failures(receivers);
    let (senders, sender_failures) = split_failures(senders);
    println!("setup_s: {:.2}", setup_start.elapsed().as_secs_f64());
    println!("connections_opened: {}", receivers.len() + senders.len());
    println!(
        "connections_failed: {}",
        receiver_failures.len() + sender_failures.len()
    );
    if let Some(first) = receiver_failures.iter().chain(&sender_failures).next() {
        println!("first_connection_failure: {first}");
    }
    if !sender_failures.is_empty() {
        return Err(format!(
            "{} sender connection(s) failed; not measuring",
            sender_failures.len()
        ));
    }
    let rss_before = (server.rss_kib(), receiving.rss_kib());

    // Load.
    let outcome = drive_all(&plan, &room, receivers, senders, server, &receiving).await;

    // Report.
    report(&outcome, server, &receiving, rss_before);
    if let Some(received) = pushes {
        println!(
            "push_requests_answered: {}",
            received.load(std::sync::atomic::Ordering::Relaxed)
        );
    }
    let closed = outcome.summary.closed_by_server.values().sum::<u64>() + outcome.summary.dropped;
    if closed > 0 {
        eprintln!(
            "warning: the server closed {closed} connection(s) during the run; \
             the rates cover only the time they were open (see send_phase_s)"
        );
    }
    Ok(())
}

fn split_failures(results: Vec<Result<Ws, String>>) -> (Vec<Ws>, Vec<String>) {
    let mut ok = Vec::with_capacity(results.len());
    let mut failed = Vec::new();
    for r in results {
        match r {
            Ok(ws) => ok.push(ws),
            Err(e) => failed.push(e),
        }
    }
    (ok, failed)
}

/// What the load phase measured.
struct Outcome {
    summary: Summary,
    /// End-to-end latency seen by the receiving connections alone: with a
    /// second node, only deliveries that crossed between the nodes (the
    /// senders, also in the room, receive on the first node).
    receiver_latency: Histogram<u64>,
    /// Server memory right after the senders finished, connections open;
    /// and the second node's, when it has one.
    rss_loaded: (Option<u64>, Option<u64>),
    /// Wall-clock seconds of the load phase (sending and drain).
    wall_s: f64,
    /// CPU seconds the server, the second node and the generator used
    /// during it.
    server_cpu_s: Option<f64>,
    receivers_cpu_s: Option<f64>,
    generator_cpu_s: Option<f64>,
}

/// Runs the load on the open connections and merges what they saw.
async fn drive_all(
    plan: &Plan,
    room: &Room,
    receivers: Vec<Ws>,
    senders: Vec<Ws>,
    server: &Server,
    receiving: &Receivers,
) -> Outcome {
    let sender_count = senders.len();
    let receiver_count = receivers.len();
    let server_cpu_start = server.pid().and_then(|p| sys::cpu_seconds(Some(p)));
    let receivers_cpu_start = receiving.pid().and_then(|p| sys::cpu_seconds(Some(p)));
    let generator_cpu_start = sys::cpu_seconds(None);
    let t0 = Instant::now();
    let send_until = t0 + plan.duration;
    let hard_deadline = send_until + plan.drain;
    let (targets_tx, targets_rx) = watch::channel(None);
    let (done_tx, mut done_rx) = mpsc::channel(sender_count.max(1));
    let progress = Arc::new(Progress::default());
    let shared = Arc::new(Shared {
        t0,
        send_until,
        hard_deadline,
        senders: sender_count,
        door: plan.common.door(),
        targets: targets_rx,
        progress: progress.clone(),
    });

    let period = match plan.rate {
        Rate::Unlimited => None,
        Rate::PerSecond(total) => Some(Duration::from_secs_f64(sender_count as f64 / total)),
    };
    let frame_head = match plan.common.door() {
        Door::Ws => format!(
            r#"{{"event":"sendMessage","data":{{"roomId":{},"message":""#,
            room.id_json
        ),
        Door::SocketIo => format!(r#"["sendMessage",{{"roomId":{},"message":""#, room.id_json),
    };

    let mut tasks = Vec::with_capacity(receivers.len() + sender_count);
    for ws in receivers {
        tasks.push(tokio::spawn(drive(ws, shared.clone(), None)));
    }
    for (index, ws) in senders.into_iter().enumerate() {
        let role = SendRole {
            index,
            window: plan.window,
            period,
            offset: period.map_or(Duration::ZERO, |p| {
                p.mul_f64(index as f64 / sender_count as f64)
            }),
            frame_head: frame_head.clone(),
            door: plan.common.door(),
            payload: plan.payload,
            done: done_tx.clone(),
        };
        tasks.push(tokio::spawn(drive(ws, shared.clone(), Some(role))));
    }
    drop(done_tx);
    let ticker = tokio::spawn(print_progress(progress, t0));

    // Once every sender knows its final acked count, receivers learn how
    // many messages to expect and may stop early.
    let mut acked: Vec<Option<u64>> = vec![None; sender_count];
    let mut reported = 0;
    while reported < sender_count {
        tokio::select! {
            msg = done_rx.recv() => match msg {
                Some((i, n)) => {
                    if acked[i].replace(n).is_none() {
                        reported += 1;
                    }
                }
                None => break,
            },
            _ = sleep_until(hard_deadline.into()) => break,
        }
    }
    let rss_loaded = (server.rss_kib(), receiving.rss_kib());
    if reported == sender_count {
        let targets: Vec<u64> = acked.iter().map(|a| a.unwrap_or(0)).collect();
        let _ = targets_tx.send(Some(Arc::new(targets)));
    }

    let mut all = Vec::with_capacity(tasks.len());
    let mut receiver_latency = stats::latency_histogram();
    let give_up = hard_deadline + JOIN_GRACE;
    for (i, task) in tasks.into_iter().enumerate() {
        let abort = task.abort_handle();
        match timeout_at(give_up.into(), task).await {
            Ok(Ok(stats)) => {
                // Receivers are the first tasks. Same bounds everywhere, so
                // adding cannot fail.
                if i < receiver_count {
                    let _ = receiver_latency.add(&stats.latency);
                }
                all.push(stats)
            }
            Ok(Err(e)) => eprintln!("warning: a connection task failed: {e}"),
            Err(_) => {
                abort.abort();
                eprintln!("warning: a connection task did not stop; its figures are missing");
            }
        }
    }
    ticker.abort();
    drop(targets_tx);
    let wall_s = t0.elapsed().as_secs_f64();
    let server_cpu_s = server
        .pid()
        .and_then(|p| sys::cpu_seconds(Some(p)))
        .zip(server_cpu_start)
        .map(|(end, start)| end - start);
    let receivers_cpu_s = receiving
        .pid()
        .and_then(|p| sys::cpu_seconds(Some(p)))
        .zip(receivers_cpu_start)
        .map(|(end, start)| end - start);
    let generator_cpu_s = sys::cpu_seconds(None)
        .zip(generator_cpu_start)
        .map(|(end, start)| end - start);

    // Senders are the last tasks; their own acked counts are final.
    let acked_per_sender: Vec<u64> = all
        .iter()
        .skip(all.len().saturating_sub(sender_count))
        .map(|c| c.acked)
        .collect();
    Outcome {
        summary: Summary::merge(&all, &acked_per_sender),
        receiver_latency,
        rss_loaded,
        wall_s,
        server_cpu_s,
        receivers_cpu_s,
        generator_cpu_s,
    }
}

async fn print_progress(progress: Arc<Progress>, t0: Instant) {
    let mut last = (0u64, 0u64);
    let mut tick = tokio::time::interval_at((t0 + PROGRESS_EVERY).into(), PROGRESS_EVERY);
    loop {
        tick.tick().await;
        let acks = Progress::get(&progress.acks);
        let deliveries = Progress::get(&progress.deliveries);
        let closed = Progress::get(&progress.closed);
        eprintln!(
            "[{:6.1}s] acked {acks} (+{}), deliveries {deliveries} (+{}), closed {closed}",
            t0.elapsed().as_secs_f64(),
            acks - last.0,
            deliveries - last.1,
        );
        last = (acks, deliveries);
    }
}

/// One connection's life during the load: sends (if a sender) and reads
/// until it has everything, the deadline passes, or the server closes it.
async fn drive(ws: Ws, shared: Arc<Shared>, role: Option<SendRole>) -> ConnStats {
    let (sink, mut stream) = ws.split();
    // Shared by the writer and, for the pongs Socket.IO needs, the reader.
    let sink = tokio::sync::Mutex::new(sink);
    let mut stats = ConnStats::new(shared.senders);
    let window = Semaphore::new(role.as_ref().map_or(0, |r| r.window));
    let sent = AtomicU64::new(0);
    let writer_stop_ns = AtomicU64::new(0);
    let writer_done = Notify::new();

    let writer = async {
        let Some(role) = role.as_ref() else {
            return;
        };
        let mut next = shared.t0 + role.offset;
        let mut seq = 0u64;
        // Set when the connection, not the clock, ended the sending.
        let mut cut_short = false;
        loop {
            if let Some(period) = role.period {
                if next >= shared.send_until {
                    break;
                }
                sleep_until(next.into()).await;
                next += period;
            }
            if Instant::now() >= shared.send_until {
                break;
            }
            match timeout_at(shared.send_until.into(), window.acquire()).await {
                Ok(Ok(permit)) => permit.forget(),
                // Closed by the reader: the connection is gone.
                Ok(Err(_)) => {
                    cut_short = true;
                    break;
                }
                Err(_) => break,
            }
            let frame = role.frame(seq, shared.now_ns());
            let send = async { sink.lock().await.send(Message::text(frame)).await };
            match timeout_at(shared.hard_deadline.into(), send).await {
                Ok(Ok(())) => {}
                _ => {
                    cut_short = true;
                    break;
                }
            }
            sent.fetch_add(1, Ordering::Relaxed);
            seq += 1;
        }
        let stop = if cut_short {
            shared.now_ns()
        } else {
            u64::try_from((shared.send_until - shared.t0).as_nanos()).unwrap_or(u64::MAX)
        };
        writer_stop_ns.store(stop, Ordering::Relaxed);
        writer_done.notify_one();
    };

    let reader = async {
        let deadline = sleep_until(shared.hard_deadline.into());
        tokio::pin!(deadline);
        let mut targets_rx = shared.targets.clone();
        let mut targets_open = true;
        let mut tally = Tally::new();
        let mut writer_finished = role.is_none();
        let mut reported = role.is_none();
        'read: loop {
            if !reported && writer_finished && tally.resolved >= sent.load(Ordering::Relaxed) {
                if let Some(role) = role.as_ref() {
                    let _ = role.done.send((role.index, stats.acked)).await;
                }
                reported = true;
            }
            if reported && tally.remaining == 0 {
                break;
            }
            tokio::select! {
                msg = stream.next() => {
                    // Handle every frame already buffered before selecting
                    // again: at high rates the select, not the frame, would
                    // cost the most. Frames read together share one clock
                    // reading.
                    let now = shared.now_ns();
                    let mut next = msg;
                    let mut handled = 0;
                    let mut pings = 0;
                    loop {
                        match next {
                            Some(Ok(Message::Text(text))) => {
                                let text = text.as_str();
                                match shared.door {
                                    Door::Ws => on_text(&mut stats, &mut tally, text, now, &window),
                                    Door::SocketIo => match on_packet(&mut stats, &mut tally, text, now, &window) {
                                        Packet::Other => {}
                                        Packet::Ping => pings += 1,
                                        Packet::Closed => {
                                            stats.ending = Ending::ClosedByServer(0);
                                            Progress::add(&shared.progress.closed, 1);
                                            break 'read;
                                        }
                                    },
                                }
                            }
                            Some(Ok(Message::Close(close))) => {
                                stats.ending = Ending::ClosedByServer(close.map_or(0, |c| u16::from(c.code)));
                                Progress::add(&shared.progress.closed, 1);
                                break 'read;
                            }
                            Some(Ok(_)) => {}
                            Some(Err(e)) => {
                                stats.ending = Ending::Dropped;
                                stats.drop_reason = Some(e.to_string());
                                Progress::add(&shared.progress.closed, 1);
                                break 'read;
                            }
                            None => {
                                stats.ending = Ending::Dropped;
                                stats.drop_reason = Some("closed without a close frame".to_string());
                                Progress::add(&shared.progress.closed, 1);
                                break 'read;
                            }
                        }
                        handled += 1;
                        // Take another frame only if it will be handled: one
                        // taken and then dropped would be lost.
                        if handled == READ_BURST {
                            break;
                        }
                        match stream.next().now_or_never() {
                            Some(m) => next = m,
                            None => break,
                        }
                    }
                    Progress::add(&shared.progress.deliveries, std::mem::take(&mut tally.deliveries));
                    Progress::add(&shared.progress.acks, std::mem::take(&mut tally.acks));
                    for _ in 0..pings {
                        let _ = sink.lock().await.send(Message::text(ENGINE_PONG)).await;
                    }
                }
                _ = writer_done.notified(), if !writer_finished => writer_finished = true,
                changed = targets_rx.changed(), if targets_open && tally.targets.is_none() => {
                    if changed.is_err() {
                        targets_open = false;
                        continue;
                    }
                    tally.targets = targets_rx.borrow_and_update().clone();
                    if let Some(t) = &tally.targets {
                        tally.remaining = t.iter().zip(&stats.received).filter(|(want, got)| got < want).count();
                    }
                }
                _ = &mut deadline => break,
            }
        }
        Progress::add(&shared.progress.deliveries, tally.deliveries);
        Progress::add(&shared.progress.acks, tally.acks);
        // The writer must not wait for acks that will never come.
        window.close();
        // A sender cut short by the deadline or a close still reports, so
        // the run does not wait for it.
        if let (false, Some(role)) = (reported, role.as_ref()) {
            let _ = role.done.try_send((role.index, stats.acked));
        }
    };

    tokio::join!(writer, reader);
    stats.sent = sent.load(Ordering::Relaxed);
    stats.send_stop_ns = writer_stop_ns.load(Ordering::Relaxed);
    if stats.ending == Ending::Open {
        let mut sink = sink.into_inner();
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, sink.send(Message::Close(None))).await;
    }
    stats
}

/// The reading side's bookkeeping besides [`ConnStats`].
struct Tally {
    /// Final acked count per sender, once known.
    targets: Option<Arc<Vec<u64>>>,
    /// Senders whose target this connection has not reached yet.
    remaining: usize,
    /// Own sends answered (ack or error).
    resolved: u64,
    /// Deliveries and acks not yet added to the shared progress counters.
    deliveries: u64,
    acks: u64,
}

impl Tally {
    fn new() -> Tally {
        Tally {
            targets: None,
            remaining: usize::MAX,
            resolved: 0,
            deliveries: 0,
            acks: 0,
        }
    }
}

/// Handles one text frame from the server.
fn on_text(stats: &mut ConnStats, tally: &mut Tally, text: &str, now: u64, window: &Semaphore) {
    if let Some(ours) = fast_receive(text) {
        on_delivery(stats, tally, ours, now);
        return;
    }
    let Ok(frame) = serde_json::from_str::<Frame>(text) else {
        stats.on_error("unparsable_frame");
        return;
    };
    match frame.event.as_ref() {
        "receiveMessage" => {
            let ours = frame
                .data
                .as_ref()
                .and_then(|d| d.message.as_deref())
                .and_then(parse_payload);
            on_delivery(stats, tally, ours, now);
        }
        "ack" => {
            if let Some(sent_ns) = frame.reference.as_deref().and_then(parse_ref) {
                on_answer(stats, tally, Ok(sent_ns), now, window);
            }
        }
        "error" => {
            let code = frame
                .data
                .as_ref()
                .and_then(|d| d.code.as_deref())
                .unwrap_or("unknown");
            if frame.reference.as_deref().and_then(parse_ref).is_some() {
                on_answer(stats, tally, Err(code), now, window);
            } else {
                stats.on_error(code);
            }
        }
        _ => {}
    }
}

/// The answer to one of our sends: acked (with its send time), or refused
/// with an error code. Either frees a place in the window.
fn on_answer(
    stats: &mut ConnStats,
    tally: &mut Tally,
    answer: Result<u64, &str>,
    now: u64,
    window: &Semaphore,
) {
    match answer {
        Ok(sent_ns) => {
            stats.acked += 1;
            stats.last_ack_ns = now;
            stats
                .ack_latency
                .saturating_record(now.saturating_sub(sent_ns) / 1_000);
            tally.acks += 1;
        }
        Err(code) => {
            stats.on_error(code);
            stats.refused += 1;
        }
    }
    tally.resolved += 1;
    window.add_permits(1);
}

/// What a Socket.IO connection must do after a packet, besides counting.
#[derive(Debug, PartialEq, Eq)]
enum Packet {
    Other,
    /// An Engine.IO ping: answer with a pong.
    Ping,
    /// The server ended the session (`DISCONNECT`, or Engine.IO's close).
    Closed,
}

/// The argument of an acknowledgement that refused: `{error: {code}}`.
#[derive(serde::Deserialize)]
struct Refused<'a> {
    #[serde(borrow)]
    error: FrameData<'a>,
}

/// Handles one Engine.IO message of a Socket.IO connection: an event
/// `42["name",data]`, an acknowledgement `43<send-ns>[data]`, a ping, or
/// the end of the session.
fn on_packet(
    stats: &mut ConnStats,
    tally: &mut Tally,
    text: &str,
    now: u64,
    window: &Semaphore,
) -> Packet {
    if let Some(args) = text.strip_prefix("42") {
        if let Some(ours) = fast_receive_socketio(args) {
            on_delivery(stats, tally, ours, now);
            return Packet::Other;
        }
        let Ok((name, data)) = serde_json::from_str::<(Cow<str>, Option<FrameData>)>(args) else {
            stats.on_error("unparsable_frame");
            return Packet::Other;
        };
        match name.as_ref() {
            "receiveMessage" => {
                let ours = data
                    .as_ref()
                    .and_then(|d| d.message.as_deref())
                    .and_then(parse_payload);
                on_delivery(stats, tally, ours, now);
            }
            "error" => stats.on_error(
                data.as_ref()
                    .and_then(|d| d.code.as_deref())
                    .unwrap_or("unknown"),
            ),
            _ => {}
        }
        return Packet::Other;
    }
    if let Some(rest) = text.strip_prefix("43") {
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        let Ok(sent_ns) = rest[..digits].parse::<u64>() else {
            return Packet::Other;
        };
        let args = &rest[digits..];
        if args.starts_with(r#"[{"error""#) {
            let refused = serde_json::from_str::<(Refused,)>(args);
            let code = refused
                .as_ref()
                .ok()
                .and_then(|(r,)| r.error.code.as_deref());
            on_answer(stats, tally, Err(code.unwrap_or("unknown")), now, window);
        } else {
            on_answer(stats, tally, Ok(sent_ns), now, window);
        }
        return Packet::Other;
    }
    match text {
        ENGINE_PING => Packet::Ping,
        "41" | "1" => Packet::Closed,
        _ => Packet::Other,
    }
}

fn on_delivery(
    stats: &mut ConnStats,
    tally: &mut Tally,
    ours: Option<(usize, u64, u64)>,
    now: u64,
) {
    stats.deliveries += 1;
    stats.last_delivery_ns = now;
    tally.deliveries += 1;
    let Some((sender, seq, sent_ns)) = ours else {
        stats.foreign += 1;
        return;
    };
    match stats.on_message(sender, seq, sent_ns, now) {
        Some(count) => {
            if tally.targets.as_ref().is_some_and(|t| t[sender] == count) {
                tally.remaining -= 1;
            }
        }
        None => stats.foreign += 1,
    }
}

/// The hot frame without a JSON parser: a `receiveMessage` whose text is one
/// of ours. Both patterns are JSON structure (quotes inside string values
/// are escaped), so they match whatever the field order. `None` means "not
/// recognised here": the caller parses the frame properly.
fn fast_receive(text: &str) -> Option<Option<(usize, u64, u64)>> {
    const EVENT: &str = r#""event":"receiveMessage""#;
    if !text.contains(EVENT) {
        return None;
    }
    message_payload(text)
}

/// [`fast_receive`] for the arguments of a Socket.IO event,
/// `["receiveMessage",{...}]`.
fn fast_receive_socketio(args: &str) -> Option<Option<(usize, u64, u64)>> {
    if !args.starts_with(r#"["receiveMessage","#) {
        return None;
    }
    message_payload(args)
}

/// The sender, sequence number and send time in the `message` field of a
/// `receiveMessage`'s data; `Some(None)` when the text is not ours.
fn message_payload(text: &str) -> Option<Option<(usize, u64, u64)>> {
    const MESSAGE: &str = r#""message":""#;
    let at = text.find(MESSAGE)? + MESSAGE.len();
    let rest = &text[at..];
    let end = rest.find('"')?;
    let payload = &rest[..end];
    if payload.contains('\\') {
        return None;
    }
    Some(parse_payload(payload))
}

fn report(
    outcome: &Outcome,
    server: &Server,
    receiving: &Receivers,
    rss_before: (Option<u64>, Option<u64>),
) {
    let s = &outcome.summary;
    // The sending phase ends when the last sender stopped: at the end of the
    // duration, or earlier if the server closed the senders.
    let send_phase = s.send_stop_ns as f64 / 1e9;
    let last_ack = s.last_ack_ns as f64 / 1e9;
    let last_delivery = s.last_delivery_ns as f64 / 1e9;
    // Rates are over the sending phase, or until the last ack or delivery if
    // those came later (a backlog drained after the senders stopped).
    let ack_window = send_phase.max(last_ack).max(f64::EPSILON);
    let delivery_window = send_phase.max(last_delivery).max(f64::EPSILON);
    println!("--- results ---");
    println!("connections_measured: {}", s.connections);
    println!("send_phase_s: {send_phase:.3}");
    println!("messages_sent: {}", s.sent);
    println!("messages_acked: {}", s.acked);
    println!("messages_refused: {}", s.refused);
    println!("accepted_per_s: {:.1}", s.acked as f64 / ack_window);
    println!("deliveries: {}", s.deliveries);
    println!(
        "deliveries_expected: {}",
        s.acked.saturating_mul(s.connections as u64)
    );
    println!(
        "deliveries_per_s: {:.1}",
        s.deliveries as f64 / delivery_window
    );
    println!(
        "last_ack_after_stop_s: {:.3}",
        (last_ack - send_phase).max(0.0)
    );
    println!(
        "last_delivery_after_stop_s: {:.3}",
        (last_delivery - send_phase).max(0.0)
    );
    stats::print_latency("latency", &s.latency);
    stats::print_latency("receiver_latency", &outcome.receiver_latency);
    stats::print_latency("ack_latency", &s.ack_latency);
    println!("lost_messages: {}", s.lost);
    println!("out_of_order: {}", s.out_of_order);
    println!("sequence_gaps: {}", s.gaps);
    println!("foreign_messages: {}", s.foreign);
    println!(
        "connections_closed_by_server: {} ({})",
        s.closed_by_server.values().sum::<u64>(),
        stats::format_counts(&s.closed_by_server)
    );
    println!("connections_dropped: {}", s.dropped);
    if let Some(reason) = &s.first_drop_reason {
        println!("first_drop_reason: {reason}");
    }
    println!("missed_by_closed_connections: {}", s.missed_by_closed);
    println!("errors: {}", stats::format_counts(&s.errors));
    // CPU use over the load phase, in cores: a generator near 1.0 while
    // pinned to one core means it, not the server, may be the limit.
    println!("load_phase_s: {:.3}", outcome.wall_s);
    let wall = outcome.wall_s.max(f64::EPSILON);
    if let Some(cpu) = outcome.server_cpu_s {
        println!("server_cpu_cores: {:.2}", cpu / wall);
    }
    if let Some(cpu) = outcome.receivers_cpu_s {
        println!("receivers_node_cpu_cores: {:.2}", cpu / wall);
    }
    if let Some(cpu) = outcome.generator_cpu_s {
        println!("generator_cpu_cores: {:.2}", cpu / wall);
    }
    print_memory("server", server.pid(), rss_before.0, outcome.rss_loaded.0);
    print_memory(
        "receivers_node",
        receiving.pid(),
        rss_before.1,
        outcome.rss_loaded.1,
    );
}

/// `<name>_rss_before_kib`, `_loaded_kib` and `_peak_kib` of a node whose
/// PID is known; nothing otherwise.
fn print_memory(name: &str, pid: Option<u32>, before: Option<u64>, loaded: Option<u64>) {
    let Some(pid) = pid else {
        return;
    };
    if let Some(b) = before {
        println!("{name}_rss_before_kib: {b}");
    }
    if let Some(l) = loaded {
        println!("{name}_rss_loaded_kib: {l}");
    }
    if let Some(peak) = sys::status_kib(pid, "VmHWM:") {
        println!("{name}_rss_peak_kib: {peak}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sender `index` on `door`, with 100-byte payloads, in room `r1`.
    fn role(index: usize, door: Door) -> SendRole {
        let (done, _rx) = mpsc::channel(1);
        let frame_head = match door {
            Door::Ws => r#"{"event":"sendMessage","data":{"roomId":"r1","message":""#,
            Door::SocketIo => r#"["sendMessage",{"roomId":"r1","message":""#,
        };
        SendRole {
            index,
            window: 1,
            period: None,
            offset: Duration::ZERO,
            frame_head: frame_head.to_string(),
            door,
            payload: 100,
            done,
        }
    }

    #[test]
    fn a_sent_frame_parses_back() {
        let role = role(7, Door::Ws);
        let text = role.frame(42, 123_456_789);
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        let message = v["data"]["message"].as_str().unwrap();
        assert_eq!(message.len(), 100);
        assert_eq!(parse_payload(message), Some((7, 42, 123_456_789)));
        assert_eq!(v["data"]["roomId"], "r1");
        assert_eq!(parse_ref(v["ref"].as_str().unwrap()), Some(123_456_789));
    }

    #[test]
    fn a_socketio_send_and_its_answers_parse_back() {
        let role = role(2, Door::SocketIo);
        let text = role.frame(5, 987_654);
        let args = text
            .strip_prefix("42987654")
            .expect("EVENT with the ack id");
        let v: serde_json::Value = serde_json::from_str(args).unwrap();
        assert_eq!(v[0], "sendMessage");
        assert_eq!(
            parse_payload(v[1]["message"].as_str().unwrap()),
            Some((2, 5, 987_654))
        );

        let mut stats = ConnStats::new(3);
        let mut tally = Tally::new();
        let window = Semaphore::new(0);
        let message = v[1]["message"].as_str().unwrap();
        let delivery =
            format!(r#"42["receiveMessage",{{"id":"1","user":"u","message":"{message}"}}]"#);
        assert_eq!(
            on_packet(&mut stats, &mut tally, &delivery, 2_000_000, &window),
            Packet::Other
        );
        assert_eq!(stats.received, vec![0, 0, 1]);
        let ack = r#"43987654[{"id":"1","timestamp":"t"}]"#;
        assert_eq!(
            on_packet(&mut stats, &mut tally, ack, 2_000_000, &window),
            Packet::Other
        );
        let refused = r#"43987655[{"error":{"code":"rate_limited","message":"slow down"}}]"#;
        on_packet(&mut stats, &mut tally, refused, 2_000_000, &window);
        assert_eq!((stats.acked, stats.refused, tally.resolved), (1, 1, 2));
        assert_eq!(window.available_permits(), 2);
        assert_eq!(
            on_packet(&mut stats, &mut tally, "2", 0, &window),
            Packet::Ping
        );
        assert_eq!(
            on_packet(&mut stats, &mut tally, "41", 0, &window),
            Packet::Closed
        );
    }

    #[test]
    fn the_fast_path_reads_a_receive_message_in_any_field_order() {
        let a = r#"{"event":"receiveMessage","data":{"id":"1","roomId":"r","user":"bench_s0_x","userId":"u","message":"bench 3 9 77 xxxx","timestamp":"t"}}"#;
        let b = r#"{"data":{"message":"bench 3 9 77 xxxx","id":"1"},"event":"receiveMessage"}"#;
        assert_eq!(fast_receive(a), Some(Some((3, 9, 77))));
        assert_eq!(fast_receive(b), Some(Some((3, 9, 77))));
        assert_eq!(
            fast_receive(r#"{"event":"receiveMessage","data":{"message":"hi"}}"#),
            Some(None)
        );
        assert_eq!(
            fast_receive(r#"{"event":"ack","ref":"1.2","data":{}}"#),
            None
        );
    }

    #[test]
    fn foreign_texts_are_not_ours() {
        assert_eq!(parse_payload("hello world"), None);
        assert_eq!(parse_payload("bench x 1 2"), None);
        assert_eq!(parse_ref("j"), None);
    }
}
