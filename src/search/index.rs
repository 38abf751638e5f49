//! The index on disk, in `DATA/search`: immutable segment files
//! ([`segment`](super::segment)), a buffer in memory for the newest
//! messages, and a manifest naming the segments and the id up to which
//! they hold every message.
//!
//! New messages go to the buffer (searchable at once); the buffer becomes
//! a segment when it is large or the thread is idle; two neighbouring
//! segments of similar size are merged, up to [`MERGE_CAP`] messages, so
//! that a history of a million messages is a dozen files. Each segment
//! holds the messages of one range of ids (ranges follow each other, in
//! the order of the list), so a term's messages, newest first, are the
//! buffer's and then each segment's from the newest. An edited message's
//! new terms are kept apart ("edited" lists, small) and merged in.
//!
//! Crash safety: a segment is written to a temporary file, synced and
//! renamed; the manifest likewise, after its segments. What the buffer
//! held at a crash is read back from the store at start (the manifest's
//! watermark says from where). Files the manifest does not name are a
//! merge or rebuild cut short, and are removed at open.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use serde::{Deserialize, Serialize};

pub use super::gather::{author_term, room_term, Doc, Gathered};
use super::segment::{self, Entry, Lists, Segment, SegmentError};
pub use super::stream::TermStream;

/// Most messages merged into one segment: a common term's list in one
/// segment stays under a megabyte, so a query reads little of it.
pub const MERGE_CAP: u64 = 131_072;
/// Messages the buffer holds before it becomes a segment.
pub const BUFFER_MESSAGES: u64 = 16_384;

const MANIFEST: &str = "manifest.json";

/// An error of the index's files.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error(transparent)]
    Segment(#[from] SegmentError),
    #[error("search index: {0}")]
    Io(#[from] std::io::Error),
    #[error("search index manifest: {0}")]
    Manifest(String),
}

#[derive(Serialize, Deserialize, Default)]
struct Manifest {
    segments: Vec<String>,
    through: Option<u64>,
}

/// Segments and buffer, as searches see them.
#[derive(Default)]
struct Live {
    segments: Vec<Arc<Segment>>,
    buffer: Gathered,
    /// Every message up to here is in a segment.
    flushed_through: Option<u64>,
}

/// The open index (or a rebuild's new one, which writes no manifest until
/// it replaces the index).
pub struct Index {
    dir: PathBuf,
    live: RwLock<Live>,
    files: Arc<AtomicU64>,
    manifest: bool,
}

fn seg_number(name: &str) -> Option<u64> {
    name.strip_prefix("seg-")?
        .strip_suffix(".idx")?
        .parse()
        .ok()
}

impl Index {
    /// Opens (or creates) the index of a data directory.
    pub fn open(data_dir: &Path) -> Result<Index, IndexError> {
        let dir = data_dir.join("search");
        std::fs::create_dir_all(&dir)?;
        let manifest: Manifest = match std::fs::read(dir.join(MANIFEST)) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes).map_err(|e| IndexError::Manifest(e.to_string()))?
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Manifest::default(),
            Err(e) => return Err(e.into()),
        };
        let mut segments = Vec::new();
        for name in &manifest.segments {
            segments.push(Arc::new(Segment::open(&dir.join(name))?));
        }
        let mut max_file = 0;
        for entry in std::fs::read_dir(&dir)? {
            let name = entry?.file_name().to_string_lossy().into_owned();
            let named = manifest.segments.contains(&name) || name == MANIFEST;
            if !named && (seg_number(&name).is_some() || name.ends_with(".tmp")) {
                std::fs::remove_file(dir.join(&name))?;
            }
            max_file = max_file.max(seg_number(&name).unwrap_or(0));
        }
        let live = Live {
            segments,
            buffer: Gathered::default(),
            flushed_through: manifest.through,
        };
        Ok(Index {
            dir,
            live: RwLock::new(live),
            files: Arc::new(AtomicU64::new(max_file + 1)),
            manifest: true,
        })
    }

    /// An empty index beside this one for a rebuild: it shares the
    /// directory and the file numbers, and writes no manifest.
    pub fn scratch(&self) -> Index {
        Index {
            dir: self.dir.clone(),
            live: RwLock::new(Live::default()),
            files: self.files.clone(),
            manifest: false,
        }
    }

    fn read(&self) -> RwLockReadGuard<'_, Live> {
        self.live.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write_lock(&self) -> RwLockWriteGuard<'_, Live> {
        self.live.write().unwrap_or_else(|p| p.into_inner())
    }

    /// The id up to which every message is indexed (in a segment or the
    /// buffer).
    pub fn indexed_through(&self) -> Option<u64> {
        let live = self.read();
        live.buffer.through.or(live.flushed_through)
    }

    /// The id up to which every message is in a segment on disk.
    pub fn flushed_through(&self) -> Option<u64> {
        self.read().flushed_through
    }

    /// Messages in the buffer.
    pub fn buffered(&self) -> u64 {
        self.read().buffer.messages
    }

    /// Whether the buffer holds anything to write.
    pub fn dirty(&self) -> bool {
        let live = self.read();
        !live.buffer.terms.is_empty() || live.buffer.through.is_some()
    }

    /// Adds a batch to the buffer.
    pub fn add(&self, g: Gathered) {
        let mut live = self.write_lock();
        let b = &mut live.buffer;
        for (term, lists) in g.terms {
            let mine = b.terms.entry(term).or_default();
            mine.main.extend(lists.main);
            if !lists.edited.is_empty() {
                // Kept sorted: segments store them so.
                mine.edited.extend(lists.edited);
                mine.edited.sort_unstable();
                mine.edited.dedup();
            }
        }
        if let Some(lo) = g.lo {
            b.lo.get_or_insert(lo);
        }
        if g.hi.is_some() {
            b.hi = g.hi;
        }
        if let Some(t) = g.through {
            b.through(t);
        }
        b.messages += g.messages;
    }

    fn new_path(&self) -> PathBuf {
        let n = self.files.fetch_add(1, Ordering::Relaxed);
        self.dir.join(format!("seg-{n}.idx"))
    }

    /// Writes the buffer as a segment (and merges segments of similar
    /// size), then the manifest.
    pub fn flush(&self) -> Result<(), IndexError> {
        if !self.dirty() {
            return Ok(());
        }
        let path = self.new_path();
        let (through, has_terms) = {
            let live = self.read();
            let b = &live.buffer;
            if !b.terms.is_empty() {
                segment::write(
                    &path,
                    &b.terms,
                    b.lo.unwrap_or(0),
                    b.hi.unwrap_or(0),
                    b.messages,
                )?;
            }
            (b.through, !b.terms.is_empty())
        };
        let seg = if has_terms {
            Some(Arc::new(Segment::open(&path)?))
        } else {
            None
        };
        {
            let mut live = self.write_lock();
            live.segments.extend(seg);
            live.buffer = Gathered::default();
            if through.is_some() {
                live.flushed_through = through;
            }
        }
        self.merge()?;
        self.save_manifest()
    }

    /// Merges the two newest segments while they are of similar size and
    /// small enough.
    fn merge(&self) -> Result<(), IndexError> {
        loop {
            let pair = {
                let live = self.read();
                let n = live.segments.len();
                if n < 2 {
                    return Ok(());
                }
                let (a, b) = (live.segments[n - 2].clone(), live.segments[n - 1].clone());
                if a.messages > 2 * b.messages.max(1) || a.messages + b.messages > MERGE_CAP {
                    return Ok(());
                }
                (a, b)
            };
            let (a, b) = pair;
            let path = self.new_path();
            segment::merge(&path, &a, &b)?;
            let merged = Arc::new(Segment::open(&path)?);
            {
                let mut live = self.write_lock();
                let n = live.segments.len();
                live.segments.truncate(n - 2);
                live.segments.push(merged);
            }
            if self.manifest {
                self.save_manifest()?;
            }
            for old in [a, b] {
                let _ = std::fs::remove_file(&old.path);
            }
        }
    }

    fn save_manifest(&self) -> Result<(), IndexError> {
        if !self.manifest {
            return Ok(());
        }
        let m = {
            let live = self.read();
            Manifest {
                segments: live
                    .segments
                    .iter()
                    .filter_map(|s| s.path.file_name().map(|n| n.to_string_lossy().into_owned()))
                    .collect(),
                through: live.flushed_through,
            }
        };
        let bytes = serde_json::to_vec(&m).map_err(|e| IndexError::Manifest(e.to_string()))?;
        let tmp = self.dir.join("manifest.tmp");
        {
            use std::io::Write;
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, self.dir.join(MANIFEST))?;
        std::fs::File::open(&self.dir)?.sync_all()?;
        Ok(())
    }

    /// Makes a complete rebuild the index: its segments replace these,
    /// whose files are then removed.
    pub fn replace_with(&self, rebuilt: Index) -> Result<(), IndexError> {
        rebuilt.flush()?;
        let new = std::mem::take(&mut *rebuilt.write_lock());
        let old = {
            let mut live = self.write_lock();
            std::mem::replace(&mut *live, new)
        };
        self.save_manifest()?;
        for s in old.segments {
            let _ = std::fs::remove_file(&s.path);
        }
        Ok(())
    }

    /// Bytes the index takes on disk.
    pub fn size_on_disk(&self) -> u64 {
        self.read()
            .segments
            .iter()
            .filter_map(|s| std::fs::metadata(&s.path).ok())
            .map(|m| m.len())
            .sum()
    }

    /// The messages of the words that begin with `prefix`, one stream per
    /// word, for at most `max` words, the most used first; each segment is
    /// looked at for its first `scan` such words. The entries the
    /// expansion finds are the streams' own: no word is looked up twice.
    pub fn prefix_streams(
        &self,
        prefix: &str,
        max: usize,
        scan: usize,
        before: u64,
    ) -> Result<Vec<TermStream>, IndexError> {
        let prefix = prefix.as_bytes();
        let mut words: HashMap<Vec<u8>, Word> = HashMap::new();
        let segments = {
            let live = self.read();
            for (t, l) in live.buffer.terms.range(prefix.to_vec()..).take(scan) {
                if !t.starts_with(prefix) {
                    break;
                }
                let w = words.entry(t.clone()).or_default();
                w.count += (l.main.len() + l.edited.len()) as u64;
                w.buffered = l.clone();
            }
            live.segments.clone()
        };
        let mut found = Vec::new();
        for s in &segments {
            found.clear();
            s.expand(prefix, scan, &mut found)?;
            for (t, e) in found.drain(..) {
                let w = words.entry(t).or_default();
                w.count += e.total();
                w.entries.push((s.clone(), e));
            }
        }
        let mut all: Vec<(Vec<u8>, Word)> = words.into_iter().collect();
        all.sort_unstable_by(|a, b| b.1.count.cmp(&a.1.count).then_with(|| a.0.cmp(&b.0)));
        all.into_iter()
            .take(max)
            .map(|(_, w)| TermStream::new(w.buffered, w.entries, before))
            .collect()
    }

    /// The messages holding `term`, newest first, older than `before`.
    pub fn stream(&self, term: &[u8], before: u64) -> Result<TermStream, IndexError> {
        let (buffered, segments) = {
            let live = self.read();
            let lists = live.buffer.terms.get(term).cloned().unwrap_or_default();
            (lists, live.segments.clone())
        };
        let mut entries = Vec::new();
        for s in segments {
            if let Some(e) = s.lookup(term)? {
                entries.push((s, e));
            }
        }
        TermStream::new(buffered, entries, before)
    }
}

/// A word a prefix stands for: how often it is used, and where.
#[derive(Default)]
struct Word {
    count: u64,
    buffered: Lists,
    /// Its entries in the segments, oldest segment first.
    entries: Vec<(Arc<Segment>, Entry)>,
}
