//! Reading one term's messages, newest first, across the buffer and the
//! segments (see `index.rs` for why that order is the segments' order).

use std::sync::Arc;

use super::index::IndexError;
use super::postings::Posting;
use super::segment::{Entry, Lists, Segment};

/// One term's messages, newest first: the buffer's, then each segment's
/// from the newest, merged with the edited lists.
pub struct TermStream {
    /// The list being read, ascending: taken from the end.
    buf: Vec<Posting>,
    /// Segments still to read, oldest first: taken from the end.
    pending: Vec<(Arc<Segment>, Entry)>,
    edited: Vec<Posting>,
    before: u64,
}

impl TermStream {
    /// A stream over a term's buffered lists and its segment entries
    /// (oldest segment first).
    pub(super) fn new(
        buffered: Lists,
        pending: Vec<(Arc<Segment>, Entry)>,
        before: u64,
    ) -> Result<TermStream, IndexError> {
        let mut edited = buffered.edited;
        for (s, e) in &pending {
            edited.extend(s.edited(e)?);
        }
        edited.retain(|p| p.id < before);
        edited.sort_unstable();
        let mut buf = buffered.main;
        buf.retain(|p| p.id < before);
        Ok(TermStream {
            buf,
            pending,
            edited,
            before,
        })
    }

    fn refill(&mut self) -> Result<(), IndexError> {
        while self.buf.is_empty() {
            let Some((s, e)) = self.pending.pop() else {
                return Ok(());
            };
            if s.lo >= self.before && s.messages > 0 {
                continue;
            }
            let mut list = s.list(&e)?;
            list.retain(|p| p.id < self.before);
            self.buf = list;
        }
        Ok(())
    }

    /// The next posting, newest first; each message once.
    pub fn next_posting(&mut self) -> Result<Option<Posting>, IndexError> {
        self.refill()?;
        let next = match (self.buf.last().copied(), self.edited.last().copied()) {
            (None, None) => return Ok(None),
            (Some(m), None) => m,
            (None, Some(l)) => l,
            (Some(m), Some(l)) => m.max(l),
        };
        while self.buf.last().is_some_and(|p| p.id == next.id) {
            self.buf.pop();
        }
        while self.edited.last().is_some_and(|p| p.id == next.id) {
            self.edited.pop();
        }
        Ok(Some(next))
    }
}
