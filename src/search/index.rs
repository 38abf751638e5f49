//! The index on disk: its own sled database in `DATA/search`, beside the
//! store, since it is derived and can be thrown away and rebuilt.
//!
//! One tree per generation (`index.N`) holds, under one-byte prefixes:
//!
//! | key                                   | value                         |
//! |---------------------------------------|-------------------------------|
//! | `p` term `0xFF` first id (u64 BE)     | a chunk of postings ([`postings`]) |
//! | `t` term                              | how many postings it has (u64 BE) |
//! | `l` term `0xFF` message id (u64 BE)   | room (varint): an edited message's new terms |
//! | `w`                                   | the id up to which every message is indexed |
//!
//! Terms are UTF-8 (never `0xFF`), or `0x01` + user id (the author) or
//! `0x02` + room id (the room), so `p` term `0xFF` is a prefix of that
//! term's chunks alone. A generation is written by one thread only, so
//! reading the last chunk and then replacing it is safe; each batch of
//! postings and its watermark are one atomic sled batch, so a crash leaves
//! a watermark that matches the postings. The default tree names the
//! generation in use; a rebuild writes the next one beside it and switches
//! once it is complete.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, RwLock};

use super::postings::{self, Posting, CHUNK_BYTES};

/// Postings written into one new chunk at most.
const NEW_CHUNK_POSTINGS: usize = 600;

/// An error of the index's database.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("search index: {0}")]
    Db(#[from] sled::Error),
    #[error("search index damaged: {0}")]
    Damaged(&'static str),
}

/// Where the generation in use is named.
const GENERATION_KEY: &[u8] = b"generation";
const WATERMARK_KEY: &[u8] = b"w";

/// A message as the index takes it.
pub struct Doc<'a> {
    pub id: u64,
    pub room: u64,
    pub author: u64,
    pub text: &'a str,
}

/// The term of a message's author.
pub fn author_term(user: u64) -> Vec<u8> {
    let mut t = vec![1u8];
    t.extend_from_slice(&user.to_be_bytes());
    t
}

/// The term of a message's room.
pub fn room_term(room: u64) -> Vec<u8> {
    let mut t = vec![2u8];
    t.extend_from_slice(&room.to_be_bytes());
    t
}

/// The open index.
pub struct Index {
    db: sled::Db,
    current: RwLock<Arc<Generation>>,
}

/// One generation's tree.
pub struct Generation {
    pub number: u64,
    tree: sled::Tree,
}

impl Index {
    /// Opens (or creates) the index of a data directory. `cache_bytes`
    /// bounds sled's page cache.
    pub fn open(data_dir: &Path, cache_bytes: u64) -> Result<Index, IndexError> {
        let db = sled::Config::new()
            .path(data_dir.join("search"))
            .cache_capacity(cache_bytes)
            .open()?;
        let number = match db.get(GENERATION_KEY)? {
            Some(v) => read_u64(&v).ok_or(IndexError::Damaged("generation"))?,
            None => 0,
        };
        let tree = db.open_tree(tree_name(number))?;
        // Trees of other generations are a rebuild cut short: drop them.
        for name in db.tree_names() {
            if name.starts_with(b"index.") && *name != *tree_name(number).as_bytes() {
                db.drop_tree(name)?;
            }
        }
        let current = RwLock::new(Arc::new(Generation { number, tree }));
        Ok(Index { db, current })
    }

    /// The generation searches read and new messages go to.
    pub fn current(&self) -> Arc<Generation> {
        match self.current.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// An empty generation after the current one, for a rebuild.
    pub fn start_next(&self) -> Result<Generation, IndexError> {
        let number = self.current().number + 1;
        let name = tree_name(number);
        self.db.drop_tree(name.as_bytes())?;
        Ok(Generation {
            number,
            tree: self.db.open_tree(name)?,
        })
    }

    /// Makes a complete rebuilt generation the current one and drops the
    /// old.
    pub fn switch_to(&self, next: Generation) -> Result<(), IndexError> {
        next.tree.flush()?;
        self.db.insert(GENERATION_KEY, &next.number.to_be_bytes())?;
        self.db.flush()?;
        let old = {
            let mut cur = match self.current.write() {
                Ok(g) => g,
                Err(poisoned) => poisoned.into_inner(),
            };
            std::mem::replace(&mut *cur, Arc::new(next))
        };
        self.db.drop_tree(tree_name(old.number).as_bytes())?;
        Ok(())
    }

    /// Makes every write so far durable (on the indexing thread).
    pub fn flush(&self) -> Result<(), IndexError> {
        self.db.flush()?;
        Ok(())
    }

    /// Bytes the index takes on disk.
    pub fn size_on_disk(&self) -> Result<u64, IndexError> {
        Ok(self.db.size_on_disk()?)
    }
}

fn tree_name(number: u64) -> String {
    format!("index.{number}")
}

fn read_u64(v: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(v.try_into().ok()?))
}

/// The id a key ends with.
fn tail_id(k: &[u8]) -> Option<u64> {
    read_u64(k.get(k.len().checked_sub(8)?..)?)
}

fn key(tag: u8, term: &[u8], id: Option<u64>) -> Vec<u8> {
    let mut k = Vec::with_capacity(term.len() + 10);
    k.push(tag);
    k.extend_from_slice(term);
    if let Some(id) = id {
        k.push(0xFF);
        k.extend_from_slice(&id.to_be_bytes());
    } else if tag != b't' {
        k.push(0xFF);
    }
    k
}

/// Postings gathered for one batch, by term.
#[derive(Default)]
pub struct Gathered {
    main: BTreeMap<Vec<u8>, Vec<Posting>>,
    late: BTreeMap<Vec<u8>, Vec<Posting>>,
    through: Option<u64>,
    pub messages: usize,
}

impl Gathered {
    /// Adds a new message (ids must come in ascending order).
    pub fn add(&mut self, doc: &Doc<'_>) {
        let p = Posting {
            id: doc.id,
            room: doc.room,
        };
        for term in doc_terms(doc) {
            let list = self.main.entry(term).or_default();
            if list.last() != Some(&p) {
                list.push(p);
            }
        }
        self.messages += 1;
    }

    /// Adds the current text of an edited message.
    pub fn add_edited(&mut self, doc: &Doc<'_>) {
        let p = Posting {
            id: doc.id,
            room: doc.room,
        };
        for term in doc_terms(doc) {
            self.late.entry(term).or_default().push(p);
        }
    }

    /// Records that every message up to `id` is now indexed.
    pub fn through(&mut self, id: u64) {
        self.through = Some(self.through.map_or(id, |t| t.max(id)));
    }

    pub fn is_empty(&self) -> bool {
        self.main.is_empty() && self.late.is_empty() && self.through.is_none()
    }
}

/// The distinct terms of a message, its author's and its room's included.
fn doc_terms(doc: &Doc<'_>) -> Vec<Vec<u8>> {
    let mut terms: Vec<Vec<u8>> = super::tokens::tokenize(doc.text)
        .into_iter()
        .map(|t| t.term.into_bytes())
        .collect();
    terms.sort_unstable();
    terms.dedup();
    terms.push(author_term(doc.author));
    terms.push(room_term(doc.room));
    terms
}

impl Generation {
    /// The id up to which every message is indexed.
    pub fn watermark(&self) -> Result<Option<u64>, IndexError> {
        match self.tree.get(WATERMARK_KEY)? {
            Some(v) => Ok(Some(read_u64(&v).ok_or(IndexError::Damaged("watermark"))?)),
            None => Ok(None),
        }
    }

    /// Makes this generation's writes durable.
    pub fn flush(&self) -> Result<(), IndexError> {
        self.tree.flush()?;
        Ok(())
    }

    /// Writes what was gathered as one atomic batch.
    pub fn write(&self, g: Gathered) -> Result<(), IndexError> {
        let mut batch = sled::Batch::default();
        for (term, list) in g.main {
            self.add_main(&mut batch, &term, list)?;
        }
        for (term, list) in g.late {
            // Counted too, so that a prefix finds an edit's new words.
            self.count_more(&mut batch, &term, list.len() as u64)?;
            for p in list {
                batch.insert(key(b'l', &term, Some(p.id)), postings::encode_room(p.room));
            }
        }
        if let Some(w) = g.through {
            batch.insert(WATERMARK_KEY, &w.to_be_bytes());
        }
        self.tree.apply_batch(batch)?;
        Ok(())
    }

    fn add_main(
        &self,
        batch: &mut sled::Batch,
        term: &[u8],
        mut list: Vec<Posting>,
    ) -> Result<(), IndexError> {
        let prefix = key(b'p', term, None);
        let added = list.len() as u64;
        if let Some((k, v)) = self.tree.scan_prefix(&prefix).next_back().transpose()? {
            let last = v
                .get(..8)
                .and_then(read_u64)
                .ok_or(IndexError::Damaged("chunk"))?;
            list.retain(|p| p.id > last);
            if v.len() < CHUNK_BYTES && !list.is_empty() {
                let take = list.len().min(NEW_CHUNK_POSTINGS);
                let chunk =
                    postings::append(&v, &list[..take]).ok_or(IndexError::Damaged("chunk"))?;
                batch.insert(k, chunk);
                list.drain(..take);
            }
        }
        for piece in list.chunks(NEW_CHUNK_POSTINGS) {
            let first = piece[0].id;
            let mut k = prefix.clone();
            k.extend_from_slice(&first.to_be_bytes());
            batch.insert(k, postings::new_chunk(piece));
        }
        self.count_more(batch, term, added)
    }

    /// Adds `added` to a term's count, in `batch`.
    fn count_more(
        &self,
        batch: &mut sled::Batch,
        term: &[u8],
        added: u64,
    ) -> Result<(), IndexError> {
        let count = self.count(term)?;
        batch.insert(
            key(b't', term, None),
            &count.saturating_add(added).to_be_bytes(),
        );
        Ok(())
    }

    /// How many messages hold `term` (never decreased: an estimate).
    pub fn count(&self, term: &[u8]) -> Result<u64, IndexError> {
        Ok(match self.tree.get(key(b't', term, None))? {
            Some(v) => read_u64(&v).ok_or(IndexError::Damaged("term count"))?,
            None => 0,
        })
    }

    /// The words that begin with `prefix`, at most `max`, the most used
    /// first; a prefix of a very common start looks at the first
    /// `scan` words only.
    pub fn expand(
        &self,
        prefix: &str,
        max: usize,
        scan: usize,
    ) -> Result<Vec<Vec<u8>>, IndexError> {
        let mut found = Vec::new();
        for kv in self
            .tree
            .scan_prefix(key(b't', prefix.as_bytes(), None))
            .take(scan)
        {
            let (k, v) = kv?;
            let count = read_u64(&v).ok_or(IndexError::Damaged("term count"))?;
            found.push((count, k[1..].to_vec()));
        }
        found.sort_unstable_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        Ok(found.into_iter().take(max).map(|(_, t)| t).collect())
    }

    /// The messages holding `term`, newest first.
    pub fn stream(&self, term: &[u8], before: u64) -> Result<TermStream, IndexError> {
        let mut late = Vec::new();
        for kv in self.tree.scan_prefix(key(b'l', term, None)) {
            let (k, v) = kv?;
            let id = tail_id(&k);
            let room = postings::decode_room(&v);
            if let (Some(id), Some(room)) = (id, room) {
                if id < before {
                    late.push(Posting { id, room });
                }
            }
        }
        late.sort_unstable();
        let prefix = key(b'p', term, None);
        let mut end = prefix.clone();
        end.extend_from_slice(&before.to_be_bytes());
        Ok(TermStream {
            chunks: self.tree.range(prefix..end),
            buf: Vec::new(),
            late,
            before,
        })
    }
}

/// One term's messages, newest first: its chunks read backwards, merged
/// with the postings of edited messages.
pub struct TermStream {
    chunks: sled::Iter,
    /// The chunk being read, ascending: taken from the end.
    buf: Vec<Posting>,
    late: Vec<Posting>,
    before: u64,
}

impl TermStream {
    fn refill(&mut self) -> Result<(), IndexError> {
        while self.buf.is_empty() {
            let Some((k, v)) = self.chunks.next_back().transpose()? else {
                return Ok(());
            };
            let first = tail_id(&k).ok_or(IndexError::Damaged("chunk key"))?;
            let mut list = postings::decode(first, &v).ok_or(IndexError::Damaged("chunk"))?;
            list.retain(|p| p.id < self.before);
            self.buf = list;
        }
        Ok(())
    }

    /// The next posting, newest first; each message once.
    pub fn next_posting(&mut self) -> Result<Option<Posting>, IndexError> {
        self.refill()?;
        let main = self.buf.last().copied();
        let late = self.late.last().copied();
        let next = match (main, late) {
            (None, None) => return Ok(None),
            (Some(m), None) => m,
            (None, Some(l)) => l,
            (Some(m), Some(l)) => m.max(l),
        };
        while self.buf.last().is_some_and(|p| p.id == next.id) {
            self.buf.pop();
        }
        while self.late.last().is_some_and(|p| p.id == next.id) {
            self.late.pop();
        }
        Ok(Some(next))
    }
}
