//! One immutable file of the index: the terms of the messages with ids in
//! `lo..=hi`, and the new terms of messages edited meanwhile.
//!
//! Layout (integers of the header and footer little-endian):
//!
//! ```text
//! "CRSEG1\0\0"
//! postings   for each term, sorted: its list, then its edited list
//! dictionary for each term: varint length, term, varint count, varint
//!            bytes, varint edited count, varint edited bytes
//! sparse     every 32nd dictionary entry: varint length, term, varint
//!            offset into the dictionary, varint offset into postings
//! rooms      the room ids the lists name by number (u64 each)
//! footer     dictionary start, sparse start, rooms start, lo, hi,
//!            messages (u64 each), "CRSEGEND"
//! ```
//!
//! Only the sparse entries are held in memory (a few kilobytes); a lookup
//! reads one block of 32 dictionary entries and then the term's list, with
//! positioned reads, so a query costs a few reads per segment and any
//! number of searches share the file.

mod writer;

use std::collections::BTreeMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::postings::{self, get_varint, Posting};
use writer::Writer;

const MAGIC: &[u8; 8] = b"CRSEG1\0\0";
const END: &[u8; 8] = b"CRSEGEND";
const FOOTER: usize = 6 * 8 + 8;
/// Dictionary entries per block between two sparse entries.
const BLOCK: usize = 32;

/// A damaged or unreadable segment.
#[derive(Debug, thiserror::Error)]
pub enum SegmentError {
    #[error("search segment {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("search segment {0} is damaged")]
    Damaged(String),
}

/// The lists of one term, as gathered before they are written.
#[derive(Default, Clone)]
pub struct Lists {
    pub main: Vec<Posting>,
    pub edited: Vec<Posting>,
}

/// What a segment holds, before it is written.
pub type Terms = BTreeMap<Vec<u8>, Lists>;

/// One term's entry in a segment.
#[derive(Clone, Copy, Debug)]
pub struct Entry {
    pub count: u64,
    at: u64,
    bytes: u64,
    edited_count: u64,
    edited_bytes: u64,
}

struct Sparse {
    term: Vec<u8>,
    dict: u64,
    post: u64,
}

/// An open segment.
pub struct Segment {
    file: File,
    pub path: PathBuf,
    pub lo: u64,
    pub hi: u64,
    pub messages: u64,
    dict_start: u64,
    dict_end: u64,
    sparse: Vec<Sparse>,
    rooms: Vec<u64>,
    /// The file's length: no read goes past it, whatever a damaged
    /// offset says.
    len: u64,
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> SegmentError + '_ {
    move |source| SegmentError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Writes `terms` as the segment `path`.
pub fn write(
    path: &Path,
    terms: &Terms,
    lo: u64,
    hi: u64,
    messages: u64,
) -> Result<(), SegmentError> {
    let mut rooms: Vec<u64> = terms
        .values()
        .flat_map(|l| l.main.iter().chain(&l.edited).map(|p| p.room))
        .collect();
    rooms.sort_unstable();
    rooms.dedup();
    let mut w = Writer::create(path, rooms)?;
    for (term, lists) in terms {
        w.term(term, &lists.main, &lists.edited)?;
    }
    w.finish(lo, hi, messages)
}

/// Writes the union of two segments, `older` then `newer`, term by term:
/// one term's lists in memory at a time.
pub fn merge(path: &Path, older: &Segment, newer: &Segment) -> Result<(), SegmentError> {
    let mut rooms: Vec<u64> = older.rooms.iter().chain(&newer.rooms).copied().collect();
    rooms.sort_unstable();
    rooms.dedup();
    let mut w = Writer::create(path, rooms)?;
    let (a, b) = (older.entries()?, newer.entries()?);
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        let order = match (a.get(i), b.get(j)) {
            (Some(x), Some(y)) => x.0.cmp(&y.0),
            (Some(_), None) => std::cmp::Ordering::Less,
            _ => std::cmp::Ordering::Greater,
        };
        let mut lists = Lists::default();
        let mut term = None;
        // The older segment's postings first: ids stay ascending.
        for (take, seg, entries, at) in [
            (order != std::cmp::Ordering::Greater, older, &a, &mut i),
            (order != std::cmp::Ordering::Less, newer, &b, &mut j),
        ] {
            if let (true, Some((t, e))) = (take, entries.get(*at)) {
                lists.main.extend(seg.list(e)?);
                lists.edited.extend(seg.edited(e)?);
                term = Some(t);
                *at += 1;
            }
        }
        lists.edited.sort_unstable();
        lists.edited.dedup();
        if let Some(t) = term {
            w.term(t, &lists.main, &lists.edited)?;
        }
    }
    let lo = if older.messages == 0 {
        newer.lo
    } else {
        older.lo
    };
    w.finish(lo, newer.hi.max(older.hi), older.messages + newer.messages)
}

/// `n` bytes of `raw` from `at`; None past its end (a damaged length).
fn slice(raw: &[u8], at: usize, n: usize) -> Option<&[u8]> {
    raw.get(at..at.checked_add(n)?)
}

impl Entry {
    /// Messages the term's lists name.
    pub fn total(&self) -> u64 {
        self.count + self.edited_count
    }
}

impl Segment {
    pub fn open(path: &Path) -> Result<Segment, SegmentError> {
        let damaged = || SegmentError::Damaged(path.display().to_string());
        let file = File::open(path).map_err(io(path))?;
        let len = file.metadata().map_err(io(path))?.len();
        if len < (MAGIC.len() + FOOTER) as u64 {
            return Err(damaged());
        }
        let mut footer = [0u8; FOOTER];
        file.read_exact_at(&mut footer, len - FOOTER as u64)
            .map_err(io(path))?;
        if &footer[FOOTER - 8..] != END {
            return Err(damaged());
        }
        let word = |i: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&footer[i * 8..i * 8 + 8]);
            u64::from_le_bytes(b)
        };
        let (dict_start, sparse_start, sparse_end) = (word(0), word(1), word(2));
        let rooms_end = len - FOOTER as u64;
        if dict_start > sparse_start || sparse_start > sparse_end || sparse_end > rooms_end {
            return Err(damaged());
        }
        let mut raw_rooms = vec![0u8; (rooms_end - sparse_end) as usize];
        file.read_exact_at(&mut raw_rooms, sparse_end)
            .map_err(io(path))?;
        let rooms = raw_rooms
            .chunks_exact(8)
            .map(|c| {
                let mut b = [0u8; 8];
                b.copy_from_slice(c);
                u64::from_le_bytes(b)
            })
            .collect();
        let mut raw = vec![0u8; (sparse_end - sparse_start) as usize];
        file.read_exact_at(&mut raw, sparse_start)
            .map_err(io(path))?;
        let mut sparse = Vec::new();
        let mut at = 0;
        while at < raw.len() {
            let n = get_varint(&raw, &mut at).ok_or_else(damaged)? as usize;
            let term = slice(&raw, at, n).ok_or_else(damaged)?.to_vec();
            at += n;
            let dict = get_varint(&raw, &mut at).ok_or_else(damaged)?;
            let post = get_varint(&raw, &mut at).ok_or_else(damaged)?;
            sparse.push(Sparse { term, dict, post });
        }
        Ok(Segment {
            file,
            path: path.to_owned(),
            lo: word(3),
            hi: word(4),
            messages: word(5),
            dict_start,
            dict_end: sparse_start,
            sparse,
            rooms,
            len,
        })
    }

    fn damaged(&self) -> SegmentError {
        SegmentError::Damaged(self.path.display().to_string())
    }

    fn read(&self, at: u64, len: u64) -> Result<Vec<u8>, SegmentError> {
        if at.checked_add(len).is_none_or(|end| end > self.len) {
            return Err(self.damaged());
        }
        let mut buf = vec![0u8; len as usize];
        self.file
            .read_exact_at(&mut buf, at)
            .map_err(io(&self.path))?;
        Ok(buf)
    }

    /// The entries of block `i`, in order, to `visit` until it says stop.
    fn block(
        &self,
        i: usize,
        visit: &mut dyn FnMut(&[u8], Entry) -> bool,
    ) -> Result<bool, SegmentError> {
        let Some(start) = self.sparse.get(i) else {
            return Ok(false);
        };
        let end = self
            .sparse
            .get(i + 1)
            .map_or(self.dict_end - self.dict_start, |s| s.dict);
        let raw = self.read(self.dict_start + start.dict, end.saturating_sub(start.dict))?;
        let mut at = 0;
        let mut post = MAGIC.len() as u64 + start.post;
        while at < raw.len() {
            let n = get_varint(&raw, &mut at).ok_or_else(|| self.damaged())? as usize;
            let term = slice(&raw, at, n).ok_or_else(|| self.damaged())?;
            at += n;
            let mut v = [0u64; 4];
            for x in &mut v {
                *x = get_varint(&raw, &mut at).ok_or_else(|| self.damaged())?;
            }
            let e = Entry {
                count: v[0],
                at: post,
                bytes: v[1],
                edited_count: v[2],
                edited_bytes: v[3],
            };
            post += v[1] + v[3];
            if !visit(term, e) {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// The entry of `term`, if the segment holds it.
    pub fn lookup(&self, term: &[u8]) -> Result<Option<Entry>, SegmentError> {
        let i = self.sparse.partition_point(|s| s.term.as_slice() <= term);
        if i == 0 {
            return Ok(None);
        }
        let mut found = None;
        self.block(i - 1, &mut |t, e| {
            if t == term {
                found = Some(e);
            }
            t < term
        })?;
        Ok(found)
    }

    /// The terms that begin with `prefix` and their entries, at most
    /// `scan` of them.
    pub fn expand(
        &self,
        prefix: &[u8],
        scan: usize,
        out: &mut Vec<(Vec<u8>, Entry)>,
    ) -> Result<(), SegmentError> {
        let mut i = self
            .sparse
            .partition_point(|s| s.term.as_slice() < prefix)
            .saturating_sub(1);
        let mut seen = 0;
        loop {
            let more = self.block(i, &mut |t, e| {
                if t.starts_with(prefix) {
                    out.push((t.to_vec(), e));
                    seen += 1;
                    return seen < scan;
                }
                t < prefix
            })?;
            i += 1;
            if !more || i >= self.sparse.len() {
                return Ok(());
            }
        }
    }

    /// A term's list, ascending.
    pub fn list(&self, e: &Entry) -> Result<Vec<Posting>, SegmentError> {
        let raw = self.read(e.at, e.bytes)?;
        postings::decode(&raw, e.count as usize, &self.rooms).ok_or_else(|| self.damaged())
    }

    /// A term's edited list, ascending.
    pub fn edited(&self, e: &Entry) -> Result<Vec<Posting>, SegmentError> {
        if e.edited_bytes == 0 {
            return Ok(Vec::new());
        }
        let raw = self.read(e.at + e.bytes, e.edited_bytes)?;
        postings::decode(&raw, e.edited_count as usize, &self.rooms).ok_or_else(|| self.damaged())
    }

    /// Every term and its entry, in order (to merge the segment).
    pub fn entries(&self) -> Result<Vec<(Vec<u8>, Entry)>, SegmentError> {
        let mut out = Vec::new();
        for i in 0..self.sparse.len() {
            self.block(i, &mut |t, e| {
                out.push((t.to_vec(), e));
                true
            })?;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(id: u64, room: u64) -> Posting {
        Posting { id, room }
    }

    #[test]
    fn terms_are_found_listed_and_expanded() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("s");
        let mut terms = Terms::new();
        for i in 0..500u64 {
            let lists = Lists {
                main: vec![p(i, 1), p(i + 1000, 2)],
                edited: if i == 7 { vec![p(3, 9)] } else { Vec::new() },
            };
            terms.insert(format!("w{i:03}").into_bytes(), lists);
        }
        write(&path, &terms, 0, 1499, 1500).expect("write");
        let s = Segment::open(&path).expect("open");
        assert_eq!((s.lo, s.hi, s.messages), (0, 1499, 1500));
        for i in [0u64, 7, 31, 32, 33, 499] {
            let e = s
                .lookup(format!("w{i:03}").as_bytes())
                .expect("lookup")
                .expect("there");
            assert_eq!(s.list(&e).expect("list"), [p(i, 1), p(i + 1000, 2)]);
        }
        let e = s.lookup(b"w007").expect("lookup").expect("there");
        assert_eq!(s.edited(&e).expect("edited"), [p(3, 9)]);
        assert!(s.lookup(b"a").expect("lookup").is_none());
        assert!(s.lookup(b"w0075").expect("lookup").is_none());
        assert!(s.lookup(b"z").expect("lookup").is_none());
        let mut out = Vec::new();
        s.expand(b"w03", 100, &mut out).expect("expand");
        assert_eq!(out.len(), 10);
        assert_eq!(out[0].0, b"w030");
        assert_eq!(s.list(&out[0].1).expect("list"), [p(30, 1), p(1030, 2)]);
        let mut out = Vec::new();
        s.expand(b"w", 70, &mut out).expect("expand");
        assert_eq!(out.len(), 70);
        let mut out = Vec::new();
        s.expand(b"w49", 100, &mut out).expect("expand");
        assert_eq!(out.len(), 10);
        assert_eq!(s.entries().expect("entries").len(), 500);
        let mut newer = Terms::new();
        newer.insert(
            b"w007".to_vec(),
            Lists {
                main: vec![p(2000, 5)],
                edited: vec![p(3, 9), p(4, 1)],
            },
        );
        newer.insert(
            b"zz".to_vec(),
            Lists {
                main: vec![p(2001, 5)],
                edited: Vec::new(),
            },
        );
        let newer_path = dir.path().join("n");
        write(&newer_path, &newer, 2000, 2001, 2).expect("write");
        let merged_path = dir.path().join("m");
        merge(&merged_path, &s, &Segment::open(&newer_path).expect("open")).expect("merge");
        let m = Segment::open(&merged_path).expect("open");
        assert_eq!((m.lo, m.hi, m.messages), (0, 2001, 1502));
        assert_eq!(m.entries().expect("entries").len(), 501);
        let e = m.lookup(b"w007").expect("lookup").expect("there");
        assert_eq!(m.list(&e).expect("list"), [p(7, 1), p(1007, 2), p(2000, 5)]);
        assert_eq!(m.edited(&e).expect("edited"), [p(3, 9), p(4, 1)]);
    }

    #[test]
    fn a_damaged_file_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("s");
        std::fs::write(
            &path,
            b"CRSEG1\0\0 not a segment at all, just bytes ............",
        )
        .expect("write");
        assert!(Segment::open(&path).is_err());
    }
}
