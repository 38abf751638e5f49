//! Running a query over the index: the candidates its terms share, newest
//! first, each checked against the message's current text.
//!
//! The index says which messages held a term when they were indexed; the
//! check against the stored text makes the answer exact. It rejects an
//! edited message's old words, a deleted message (gone from the store)
//! and a phrase whose words are there but apart, and it gives the
//! highlights.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashSet};

use super::index::{author_term, room_term, Index, IndexError, TermStream};
use super::postings::Posting;
use super::query::Query;
use super::tokens::{tokenize, Token};

/// Words a prefix stands for at most, the most used first.
pub const PREFIX_WORDS: usize = 64;
/// Index words looked at to choose them.
const PREFIX_SCAN: usize = 5_000;
/// Candidates checked against their text at most per query: past it, the
/// answer ends with a `next` that goes on from there.
const MAX_CHECKED: usize = 2_000;

/// What a query may return, decided by the caller.
pub struct Scope {
    /// Rooms the caller may read, narrowed by `roomId` and `in:`.
    pub rooms: HashSet<u64>,
    /// `from:`, resolved.
    pub author: Option<u64>,
    /// Only messages older than this id.
    pub before: u64,
    pub limit: usize,
}

/// A candidate that passed the index; the caller reads it and checks it
/// with [`Check`].
pub type Candidate = Posting;

/// The candidates of a query, newest first, in the rooms of its scope.
pub struct Candidates {
    sources: Vec<Source>,
    rooms: HashSet<u64>,
    pub checked: usize,
}

impl Candidates {
    /// The streams a query needs; None when it can match nothing (a
    /// prefix no word starts with, or no room to look in).
    pub fn open(gen: &Index, q: &Query, scope: &Scope) -> Result<Option<Candidates>, IndexError> {
        if scope.rooms.is_empty() {
            return Ok(None);
        }
        let mut terms: Vec<Vec<u8>> = q
            .phrases
            .iter()
            .flatten()
            .map(|t| t.as_bytes().to_vec())
            .collect();
        if let Some(a) = scope.author {
            terms.push(author_term(a));
        }
        terms.sort_unstable();
        terms.dedup();
        let mut sources = Vec::new();
        for t in &terms {
            sources.push(Source::new(vec![gen.stream(t, scope.before)?]));
        }
        if let Some(p) = &q.prefix {
            let streams = gen.prefix_streams(&p.term, PREFIX_WORDS, PREFIX_SCAN, scope.before)?;
            if streams.is_empty() {
                return Ok(None);
            }
            sources.push(Source::new(streams));
        }
        if sources.is_empty() {
            // Filters alone: every message of the rooms in scope.
            let streams = scope
                .rooms
                .iter()
                .map(|r| gen.stream(&room_term(*r), scope.before))
                .collect::<Result<_, _>>()?;
            sources.push(Source::new(streams));
        }
        Ok(Some(Candidates {
            sources,
            rooms: scope.rooms.clone(),
            checked: 0,
        }))
    }

    /// The next message every stream holds, in a room of the scope.
    pub fn next_match(&mut self) -> Result<Option<Candidate>, IndexError> {
        loop {
            let Some(c) = self.intersect()? else {
                return Ok(None);
            };
            if self.rooms.contains(&c.room) {
                self.checked += 1;
                return Ok(Some(c));
            }
        }
    }

    /// Whether the check budget is spent.
    pub fn exhausted(&self) -> bool {
        self.checked >= MAX_CHECKED
    }

    fn intersect(&mut self) -> Result<Option<Posting>, IndexError> {
        let Some(first) = self.sources.first_mut() else {
            return Ok(None);
        };
        let Some(mut target) = first.peek()? else {
            return Ok(None);
        };
        'again: loop {
            for s in &mut self.sources {
                loop {
                    match s.peek()? {
                        None => return Ok(None),
                        Some(p) if p.id > target.id => s.advance(),
                        Some(p) if p.id < target.id => {
                            target = p;
                            continue 'again;
                        }
                        Some(_) => break,
                    }
                }
            }
            for s in &mut self.sources {
                s.advance();
            }
            return Ok(Some(target));
        }
    }
}

/// One required part of a query: a term's stream, or the union of the
/// words a prefix stands for; read newest first, one posting ahead.
struct Source {
    streams: Vec<TermStream>,
    heap: BinaryHeap<(Posting, Reverse<usize>)>,
    started: bool,
    head: Option<Posting>,
    peeked: bool,
}

impl Source {
    fn new(streams: Vec<TermStream>) -> Source {
        Source {
            streams,
            heap: BinaryHeap::new(),
            started: false,
            head: None,
            peeked: false,
        }
    }

    fn peek(&mut self) -> Result<Option<Posting>, IndexError> {
        if !self.peeked {
            self.head = self.pull()?;
            self.peeked = true;
        }
        Ok(self.head)
    }

    fn advance(&mut self) {
        self.peeked = false;
    }

    fn pull(&mut self) -> Result<Option<Posting>, IndexError> {
        if !self.started {
            self.started = true;
            for i in 0..self.streams.len() {
                if let Some(p) = self.streams[i].next_posting()? {
                    self.heap.push((p, Reverse(i)));
                }
            }
        }
        let Some((top, _)) = self.heap.peek().copied() else {
            return Ok(None);
        };
        // Every stream at this message moves past it: one message once.
        while let Some(&(p, Reverse(i))) = self.heap.peek() {
            if p.id != top.id {
                break;
            }
            self.heap.pop();
            if let Some(next) = self.streams[i].next_posting()? {
                self.heap.push((next, Reverse(i)));
            }
        }
        Ok(Some(top))
    }
}

/// A query's words checked against a message's text.
pub struct Check<'q> {
    q: &'q Query,
}

impl<'q> Check<'q> {
    pub fn new(q: &'q Query) -> Check<'q> {
        Check { q }
    }

    /// The highlights of `text` if it matches the query's words, as
    /// `[start, end)` UTF-16 offsets, ascending and merged; None if it does
    /// not match.
    pub fn highlights(&self, text: &str) -> Option<Vec<[u32; 2]>> {
        let tokens = tokenize(text);
        let mut marked = vec![false; tokens.len()];
        let tail = self.q.prefix.as_ref().and_then(|p| p.ends_phrase);
        for (i, phrase) in self.q.phrases.iter().enumerate() {
            let prefix = if tail == Some(i) {
                self.q.prefix.as_ref().map(|p| p.term.as_str())
            } else {
                None
            };
            if !mark_phrase(&tokens, phrase, prefix, &mut marked) {
                return None;
            }
        }
        if let Some(p) = self.q.prefix.as_ref().filter(|p| p.ends_phrase.is_none()) {
            let mut any = false;
            for (t, m) in tokens.iter().zip(marked.iter_mut()) {
                if t.term.starts_with(&p.term) {
                    *m = true;
                    any = true;
                }
            }
            if !any {
                return None;
            }
        }
        Some(merge(&tokens, &marked))
    }
}

/// Marks every place `phrase` (then a word starting with `prefix`, if
/// any) is in `tokens`; false when it is nowhere.
fn mark_phrase(
    tokens: &[Token],
    phrase: &[String],
    prefix: Option<&str>,
    marked: &mut [bool],
) -> bool {
    let len = phrase.len() + usize::from(prefix.is_some());
    if len == 0 || tokens.len() < len {
        return len == 0;
    }
    let mut any = false;
    for start in 0..=tokens.len() - len {
        let words = &tokens[start..start + len];
        let exact = phrase.iter().zip(words).all(|(w, t)| t.term == *w);
        let tail = prefix.is_none_or(|p| words[len - 1].term.starts_with(p));
        if exact && tail {
            any = true;
            marked[start..start + len]
                .iter_mut()
                .for_each(|m| *m = true);
        }
    }
    any
}

/// The marked tokens' ranges, overlapping ones (pairs of CJK characters)
/// merged.
fn merge(tokens: &[Token], marked: &[bool]) -> Vec<[u32; 2]> {
    let mut out: Vec<[u32; 2]> = Vec::new();
    for (t, _) in tokens.iter().zip(marked).filter(|(_, m)| **m) {
        match out.last_mut() {
            Some(last) if t.start < last[1] => last[1] = last[1].max(t.end),
            _ => out.push([t.start, t.end]),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::query::parse;
    use super::*;

    fn hl(q: &str, text: &str) -> Option<Vec<[u32; 2]>> {
        let q = parse(q).expect("query");
        Check::new(&q).highlights(text)
    }

    #[test]
    fn every_word_must_be_there_whole_but_the_last() {
        assert_eq!(hl("red rasp", "Red raspberry"), Some(vec![[0, 3], [4, 13]]));
        assert_eq!(hl("re rasp", "Red raspberry"), None);
        assert_eq!(hl("cafe", "un CAFÉ"), Some(vec![[3, 7]]));
    }

    #[test]
    fn phrases_are_in_order_and_together() {
        assert_eq!(hl(r#""red fox""#, "a red fox"), Some(vec![[2, 5], [6, 9]]));
        assert_eq!(hl(r#""red fox""#, "a fox red"), None);
        assert_eq!(hl(r#""red fox""#, "red big fox"), None);
    }

    #[test]
    fn cjk_pairs_merge_into_one_highlight() {
        assert_eq!(hl("東京都", "私は東京都に"), Some(vec![[2, 5]]));
        assert_eq!(hl("京東", "私は東京都に"), None);
    }

    #[test]
    fn filters_alone_match_any_text() {
        assert_eq!(hl("from:bob", "anything"), Some(vec![]));
    }
}
