//! Measures `GET /api/rooms` for a user in many rooms with long histories
//! and unread messages, the case the read counters exist for:
//!
//!     cargo run --profile testing --example room_list -- DIR [ROOMS] [MESSAGES] [REQUESTS] [OTHERS]
//!
//! On a new DIR it creates users `reader` and `writer`, ROOMS (default
//! 100) private rooms of the writer with the reader a member, and
//! MESSAGES (default 100,000) messages in each, by the writer, every 50th
//! mentioning the reader, through the store's append (batches of 4096, as
//! the live writer takes them). The reader never read a quarter of the
//! rooms and read the others up to a point from 10 to 3,000 messages
//! before the end. A DIR filled before is reused as it is.
//!
//! OTHERS (default 0) adds, once, that many direct rooms among 200 other
//! people, one message each: rooms the reader cannot see, as a server of
//! a few hundred people soon holds by the thousand. What they cost the
//! reader's room list shows whether listing reads only what the reader
//! sees.
//!
//! Then it times what the handler does on the blocking pool (list the
//! rooms, build each with the reader's read state, serialise), REQUESTS
//! (default 2,000) times; then it starts the server on DIR, logs the
//! reader in, and sends REQUESTS `GET /api/rooms` one after the other over
//! loopback. Both after 100 to warm up; both print percentiles.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chatroom::model::{Role, RoomId, Timestamp, UserId};
use chatroom::store::{NewMessage, Participant, Store};

const PASSWORD: &str = "reader password";
const BATCH: usize = 4096;
const WARM_UP: usize = 100;
/// How long the server waits for the lock the measure's store held.
const LOCK_WAIT: Duration = Duration::from_secs(10);
/// The other people OTHERS direct rooms are shared among: 200 make
/// 19,900 pairs.
const PEOPLE: usize = 200;

type Error = Box<dyn std::error::Error>;

fn main() -> Result<(), Error> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(
        args.next()
            .ok_or("usage: room_list DIR [ROOMS] [MESSAGES] [REQUESTS] [OTHERS]")?,
    );
    let mut number = |default: usize| -> Result<usize, Error> {
        Ok(args
            .next()
            .map(|s| s.parse())
            .transpose()?
            .unwrap_or(default))
    };
    let (rooms, messages, requests) = (number(100)?, number(100_000)?, number(2_000)?);
    let others = number(0)?;
    std::fs::create_dir_all(&dir)?;
    {
        let start = Instant::now();
        let store = Store::open(&dir, 64 << 20)?;
        println!("{} opened in {:.0?}", dir.display(), start.elapsed());
        fill(&store, rooms, messages)?;
        if others > 0 {
            fill_others(&store, others)?;
        }
        measure_store(&store, requests)?;
    }
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(measure(&dir, requests))
}

/// Fills a new store (one without the reader); leaves a filled one alone.
fn fill(store: &Store, rooms: usize, messages: usize) -> Result<(), Error> {
    if store.user_by_name("reader")?.is_some() {
        println!("reusing the history");
        return Ok(());
    }
    let hash = chatroom::auth::hash_password_blocking(PASSWORD)?;
    let reader = store.create_user("reader", &hash, Role::User)?.id;
    let writer = store.create_user("writer", &hash, Role::User)?.id;
    let start = Instant::now();
    for i in 0..rooms {
        let room = store.create_room(&format!("room {i:03}"), "", true, writer)?;
        store.add_member(room.id, reader)?;
        let ids = append(store, room.id, writer, reader, messages)?;
        // Read up to 10..3000 messages before the end, or never (a quarter).
        if i % 4 != 0 {
            let unread = 10 + (i * 397) % 2990;
            if let Some(id) = ids.get(ids.len().saturating_sub(unread + 1)) {
                store.mark_read(room.id, reader, *id)?;
            }
        }
        store.flush()?;
        if i % 10 == 9 {
            println!("{} rooms filled in {:.0?}", i + 1, start.elapsed());
        }
    }
    Ok(())
}

/// Adds `n` direct rooms of pairs of other people, one message each,
/// unless the people exist already.
fn fill_others(store: &Store, n: usize) -> Result<(), Error> {
    if store.user_by_name("person000")?.is_some() {
        println!("reusing the other people's rooms");
        return Ok(());
    }
    let hash = chatroom::auth::hash_password_blocking(PASSWORD)?;
    let mut people = Vec::with_capacity(PEOPLE);
    for i in 0..PEOPLE {
        let username = format!("person{i:03}");
        let id = store.create_user(&username, &hash, Role::User)?.id;
        people.push(Participant { id, username });
    }
    let pairs = (0..PEOPLE).flat_map(|a| (a + 1..PEOPLE).map(move |b| (a, b)));
    let mut firsts = Vec::with_capacity(BATCH);
    for (a, b) in pairs.take(n) {
        let pair = [people[a].clone(), people[b].clone()];
        let (room, _) = store.open_direct_room(pair[0].id, &pair)?;
        firsts.push(NewMessage {
            room_id: room.id,
            user_id: pair[0].id,
            user: pair[0].username.clone(),
            message: format!("hello {}", pair[1].username),
            timestamp: Timestamp::now(),
            mentions: vec![],
            client_id: None,
        });
        if firsts.len() == BATCH {
            store.append_batch(std::mem::take(&mut firsts))?;
        }
    }
    store.append_batch(firsts)?;
    store.flush()?;
    println!("{n} direct rooms of other people added");
    Ok(())
}

/// Appends `n` messages by `writer`, every 50th mentioning `reader`.
fn append(
    store: &Store,
    room: RoomId,
    writer: UserId,
    reader: UserId,
    n: usize,
) -> Result<Vec<chatroom::model::MessageId>, Error> {
    let mut ids = Vec::with_capacity(n);
    for first in (0..n).step_by(BATCH) {
        let batch = (first..n.min(first + BATCH)).map(|k| NewMessage {
            room_id: room,
            user_id: writer,
            user: "writer".into(),
            message: if k % 50 == 0 {
                format!("@reader message {k}")
            } else {
                format!("message {k}")
            },
            timestamp: Timestamp::now(),
            mentions: if k % 50 == 0 { vec![reader] } else { vec![] },
            client_id: None,
        });
        ids.extend(
            store
                .append_batch(batch.collect::<Vec<_>>())?
                .iter()
                .map(|m| m.id),
        );
    }
    Ok(ids)
}

/// Times the store's part of a room list, without HTTP.
fn measure_store(store: &Store, requests: usize) -> Result<(), Error> {
    let (reader, _) = store.user_by_name("reader")?.ok_or("no reader")?;
    let mut times = Vec::with_capacity(requests);
    for i in 0..WARM_UP + requests {
        let start = Instant::now();
        let views = store
            .visible_rooms(reader)?
            .iter()
            .map(|r| store.room_view(r, reader, "reader", 0))
            .collect::<Result<Vec<_>, _>>()?;
        serde_json::to_vec(&views)?;
        if i >= WARM_UP {
            times.push(start.elapsed());
        }
    }
    report("the store's room list", times);
    Ok(())
}

/// Prints the percentiles of `times`.
fn report(what: &str, mut times: Vec<Duration>) {
    times.sort();
    let at = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{what} x{}: p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        times.len(),
        ms(at(0.50)),
        ms(at(0.90)),
        ms(at(0.99)),
        ms(at(1.0)),
    );
}

/// Serves DIR and times `requests` room lists of the reader.
async fn measure(dir: &Path, requests: usize) -> Result<(), Error> {
    let data_dir = dir.to_str().ok_or("DIR must be UTF-8")?;
    let argv = ["--bind", "127.0.0.1:0", "--data-dir", data_dir];
    // sled lets go of the directory's lock a moment after the store of
    // the fill and the first measure was dropped.
    let deadline = Instant::now() + LOCK_WAIT;
    let ready = loop {
        let serve = chatroom::cli::serve_args(&argv, &[])?;
        let settings = chatroom::config::Settings::resolve_with(serve, |_| None)?;
        let listener = chatroom::server::bind(settings.bind).await?;
        match chatroom::server::open(settings, listener).await {
            Ok(ready) => break ready,
            Err(e) if Instant::now() < deadline && e.to_string().contains("acquire lock") => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => return Err(e.into()),
        }
    };
    let base = format!("http://{}", ready.local_addr());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(chatroom::server::run(
        ready,
        Box::pin(async move {
            let _ = stopped.await;
        }),
    ));

    let client = reqwest::Client::new();
    let login: serde_json::Value = client
        .post(format!("{base}/api/users/login"))
        .json(&serde_json::json!({"username": "reader", "password": PASSWORD}))
        .send()
        .await?
        .json()
        .await?;
    let token = login["token"].as_str().ok_or("login failed")?.to_owned();
    let list = || client.get(format!("{base}/api/rooms")).bearer_auth(&token);

    let rooms: serde_json::Value = list().send().await?.json().await?;
    let rooms = rooms.as_array().ok_or("not a list")?;
    let unread: u64 = rooms.iter().filter_map(|r| r["unread"].as_u64()).sum();
    let mentions: u64 = rooms.iter().filter_map(|r| r["mentions"].as_u64()).sum();
    println!(
        "{} rooms listed, {unread} unread and {mentions} mentions in all; first: {}",
        rooms.len(),
        rooms.first().map(|r| r.to_string()).unwrap_or_default()
    );

    let mut times = Vec::with_capacity(requests);
    for i in 0..WARM_UP + requests {
        let start = Instant::now();
        let res = list().send().await?;
        let status = res.status();
        res.bytes().await?;
        if !status.is_success() {
            return Err(format!("GET /api/rooms answered {status}").into());
        }
        if i >= WARM_UP {
            times.push(start.elapsed());
        }
    }
    report("GET /api/rooms", times);
    let _ = stop.send(());
    server.await??;
    Ok(())
}
