//! Fills a data directory with many messages through the store's append
//! function, to measure the footprint (and later the search) of a large
//! history:
//!
//!     cargo run --release --example fill_history -- DIR [COUNT] [BYTES] [--rooms N] [--realistic]
//!
//! Creates (or reuses) user `filler` and room `big`, appends COUNT messages
//! (default 1,000,000) of BYTES bytes (default 100) in batches of 1,000,
//! flushed once per batch as the live writer does, and prints the time
//! taken and the data directory's size. Then start `chatroom serve
//! --data-dir DIR` and page through `/api/rooms/{id}/messages`.
//!
//! `--rooms N` spreads the messages over N public rooms (`big`, `big-2`,
//! ...; default 1). `--realistic` writes chat-like text instead of BYTES
//! of `x`: 20 people (`filler`, `user1` .. `user19`) write 2 to 30 words
//! drawn from a vocabulary of about 60,000 words with the long-tailed
//! (Zipf) frequencies of real text, some accented words, a message in 50
//! in Japanese or Chinese, and now and then an @mention; always the same
//! text for the same arguments.

use std::path::PathBuf;
use std::time::Instant;

use chatroom::model::{Role, Room, Timestamp, UserId};
use chatroom::store::{NewMessage, Store};

/// Common words, most frequent first: the head of the vocabulary.
const COMMON: &str = "the to and a of i you it is in that for on we this be have with not \
    are do at was so can but just if what my all will me your get about out up they like \
    from there know one time think would good how when now see no yes today work go well \
    meeting tomorrow back new make need people team thanks ok want let really then here \
    more could going some week day also did right still sure great last next lunch call \
    after before coffee build release deploy server bug fix test review branch merge main \
    issue ticket client docs update link photo weekend dinner game match school project \
    plan idea question answer morning evening night soon later maybe please sorry nice";

/// Accented words, for accent-insensitive search.
const ACCENTED: &[&str] = &[
    "café",
    "naïve",
    "résumé",
    "Zürich",
    "señor",
    "crème",
    "brûlée",
    "façade",
    "über",
    "déjà",
    "vu",
    "São",
    "Paulo",
    "Ångström",
    "Kraków",
    "Málaga",
    "fiancé",
    "jalapeño",
];

/// Whole messages in scripts without spaces between words.
const CJK: &[&str] = &[
    "今日は会議があります",
    "明日の天気はどうですか",
    "新しいリリースを確認してください",
    "我们明天开会讨论这个问题",
    "这个错误已经修复了",
    "週末に東京へ行きます",
    "请查看最新的文档",
];

const PEOPLE: usize = 20;

/// A small deterministic generator (xorshift64*): the same history for
/// the same arguments, with no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Chat-like text with a Zipf-distributed vocabulary.
struct Talk {
    words: Vec<String>,
    /// Cumulative Zipf weights of `words`, for sampling by bisection.
    cumulative: Vec<f64>,
}

impl Talk {
    fn new(rng: &mut Rng) -> Talk {
        let mut words: Vec<String> = COMMON.split_whitespace().map(str::to_owned).collect();
        const SYLLABLES: &[&str] = &[
            "ka", "ro", "mi", "ten", "sa", "lu", "ber", "ry", "pi", "dor", "an", "el", "ix", "on",
            "ra", "ve", "qu", "ist", "mo", "gen", "tal", "us", "ne", "ph", "zo", "li",
        ];
        while words.len() < 60_000 {
            let n = 2 + rng.below(3);
            let word: String = (0..n)
                .map(|_| SYLLABLES[rng.below(SYLLABLES.len())])
                .collect();
            words.push(word);
        }
        let mut total = 0.0;
        let cumulative = (1..=words.len())
            .map(|rank| {
                total += 1.0 / (rank as f64).powf(1.07);
                total
            })
            .collect();
        Talk { words, cumulative }
    }

    fn word(&self, rng: &mut Rng) -> &str {
        let last = self.cumulative.last().copied().unwrap_or(1.0);
        let x = rng.unit() * last;
        let i = self.cumulative.partition_point(|c| *c < x);
        &self.words[i.min(self.words.len() - 1)]
    }

    fn message(&self, rng: &mut Rng) -> String {
        if rng.below(50) == 0 {
            return CJK[rng.below(CJK.len())].to_owned();
        }
        let n = 2 + rng.below(29);
        let mut text = String::new();
        for i in 0..n {
            if i > 0 {
                text.push(' ');
            }
            match rng.below(100) {
                0 => text.push_str(ACCENTED[rng.below(ACCENTED.len())]),
                1 => text.push_str(&format!("@user{}", 1 + rng.below(PEOPLE - 1))),
                _ => text.push_str(self.word(rng)),
            }
        }
        text
    }
}

struct Args {
    dir: PathBuf,
    count: usize,
    bytes: usize,
    rooms: usize,
    realistic: bool,
}

fn args() -> Result<Args, String> {
    let usage = "usage: fill_history DIR [COUNT] [BYTES] [--rooms N] [--realistic]";
    let mut positional = Vec::new();
    let (mut rooms, mut realistic) = (1, false);
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--realistic" => realistic = true,
            "--rooms" => {
                rooms = it
                    .next()
                    .and_then(|n| n.parse().ok())
                    .filter(|n| *n > 0)
                    .ok_or("--rooms takes a number above 0")?;
            }
            _ => positional.push(a),
        }
    }
    let number = |i: usize, default: usize| -> Result<usize, String> {
        positional
            .get(i)
            .map(|s| s.parse().map_err(|_| format!("not a number: {s}\n{usage}")))
            .transpose()
            .map(|n| n.unwrap_or(default))
    };
    Ok(Args {
        dir: PathBuf::from(positional.first().ok_or(usage)?),
        count: number(1, 1_000_000)?,
        bytes: number(2, 100)?,
        rooms,
        realistic,
    })
}

/// The people who write, created when missing; `filler` first.
fn people(store: &Store) -> Result<Vec<(UserId, String)>, Box<dyn std::error::Error>> {
    (0..PEOPLE)
        .map(|i| {
            let name = if i == 0 {
                "filler".to_owned()
            } else {
                format!("user{i}")
            };
            let id = match store.user_by_name(&name)? {
                Some((id, _)) => id,
                None => store.create_user(&name, "not-a-hash", Role::User)?.id,
            };
            Ok((id, name))
        })
        .collect()
}

fn rooms(store: &Store, owner: UserId, n: usize) -> Result<Vec<Room>, Box<dyn std::error::Error>> {
    (0..n)
        .map(|i| {
            let name = if i == 0 {
                "big".to_owned()
            } else {
                format!("big-{}", i + 1)
            };
            Ok(match store.room_by_name(&name)? {
                Some(r) => r,
                None => store.create_room(&name, "a large history", false, owner)?,
            })
        })
        .collect()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a = args()?;
    std::fs::create_dir_all(&a.dir)?;
    let store = Store::open(&a.dir, 32 << 20)?;
    let people = people(&store)?;
    let rooms = rooms(&store, people[0].0, a.rooms)?;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let talk = a.realistic.then(|| Talk::new(&mut rng));
    let plain: String = "x".repeat(a.bytes);
    let start = Instant::now();
    let (mut done, mut text_bytes) = (0, 0usize);
    while done < a.count {
        let n = (a.count - done).min(1000);
        let mut batch = Vec::with_capacity(n);
        for i in 0..n {
            let (user_id, user) = match &talk {
                Some(_) => people[rng.below(PEOPLE)].clone(),
                None => people[0].clone(),
            };
            let message = match &talk {
                Some(t) => t.message(&mut rng),
                None => plain.clone(),
            };
            text_bytes += message.len();
            batch.push(NewMessage {
                room_id: rooms[(done + i) % rooms.len()].id,
                user_id,
                user,
                message,
                timestamp: Timestamp::now(),
                mentions: Vec::new(),
                client_id: None,
            });
        }
        store.append_batch(batch)?;
        store.flush()?;
        done += n;
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "appended {} messages ({} MiB of text) to {} room(s) in {secs:.1} s ({:.0} messages/s)",
        a.count,
        text_bytes / (1024 * 1024),
        rooms.len(),
        a.count as f64 / secs
    );
    drop(store);
    let size: u64 = walk(&a.dir)?;
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
