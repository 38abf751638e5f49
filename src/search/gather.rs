//! What the index takes of a message: its terms (words, its author's and
//! its room's), gathered per batch before they join the buffer.

use super::postings::Posting;
use super::segment::{Lists, Terms};

/// A message as the index takes it.
pub struct Doc<'a> {
    pub id: u64,
    pub room: u64,
    pub author: u64,
    pub text: &'a str,
}

/// The term of a message's author: never a word's (words are UTF-8
/// letters and digits).
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

/// Postings gathered for one batch.
#[derive(Default)]
pub struct Gathered {
    pub(super) terms: Terms,
    pub(super) lo: Option<u64>,
    pub(super) hi: Option<u64>,
    pub(super) through: Option<u64>,
    pub messages: u64,
}

impl Gathered {
    /// Adds a new message (ids must come in ascending order).
    pub fn add(&mut self, doc: &Doc<'_>) {
        self.post(doc, |l| &mut l.main);
        self.lo.get_or_insert(doc.id);
        self.hi = Some(doc.id);
        self.messages += 1;
    }

    /// Adds the current text of an edited message.
    pub fn add_edited(&mut self, doc: &Doc<'_>) {
        self.post(doc, |l| &mut l.edited);
    }

    /// Puts the message in the list `which` picks of each of its terms.
    fn post(&mut self, doc: &Doc<'_>, which: fn(&mut Lists) -> &mut Vec<Posting>) {
        let p = Posting {
            id: doc.id,
            room: doc.room,
        };
        for term in doc_terms(doc) {
            which(self.terms.entry(term).or_default()).push(p);
        }
    }

    /// Records that every message up to `id` is now indexed.
    pub fn through(&mut self, id: u64) {
        self.through = Some(self.through.map_or(id, |t| t.max(id)));
    }
}
