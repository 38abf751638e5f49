//! Fills a data directory with many messages through the store's append
//! function, to measure the footprint of a large history:
//!
//!     cargo run --release --example fill_history -- DIR [COUNT] [BYTES]
//!
//! Creates (or reuses) user `filler` and room `big`, appends COUNT messages
//! (default 1,000,000) of BYTES bytes (default 100) in batches of 1,000,
//! flushed once per batch as the live writer does, and prints the time
//! taken and the data directory's size. Then start `chatroom serve
//! --data-dir DIR` and page through `/api/rooms/{id}/messages`.

use std::path::PathBuf;
use std::time::Instant;

use chatroom::model::{Role, Timestamp};
use chatroom::store::{NewMessage, Store};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(
        args.next()
            .ok_or("usage: fill_history DIR [COUNT] [BYTES]")?,
    );
    let count: usize = args
        .next()
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(1_000_000);
    let bytes: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(100);
    std::fs::create_dir_all(&dir)?;
    let store = Store::open(&dir, 32 << 20)?;
    let user = match store.user_by_name("filler")? {
        Some((id, _)) => id,
        None => store.create_user("filler", "not-a-hash", Role::User)?.id,
    };
    let room = match store.room_by_name("big")? {
        Some(r) => r,
        None => store.create_room("big", "a large history", false, user)?,
    };
    let text: String = "x".repeat(bytes);
    let start = Instant::now();
    let mut done = 0;
    while done < count {
        let n = (count - done).min(1000);
        let batch = (0..n).map(|_| NewMessage {
            room_id: room.id,
            user_id: user,
            user: "filler".into(),
            message: text.clone(),
            timestamp: Timestamp::now(),
            mentions: Vec::new(),
            client_id: None,
        });
        store.append_batch(batch)?;
        store.flush()?;
        done += n;
    }
    let secs = start.elapsed().as_secs_f64();
    println!("room {} ({}): appended {count} messages of {bytes} bytes in {secs:.1} s ({:.0} messages/s)", room.name, room.id, count as f64 / secs);
    drop(store);
    let size: u64 = walk(&dir)?;
    println!(
        "data directory size: {:.1} MiB",
        size as f64 / (1024.0 * 1024.0)
    );
    Ok(())
}

fn walk(dir: &std::path::Path) -> std::io::Result<u64> {
    let mut total = 0;
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let m = e.metadata()?;
        total += if m.is_dir() {
            walk(&e.path())?
        } else {
            m.len()
        };
    }
    Ok(total)
}
