//! The byte form of posting lists: which messages hold a term.
//!
//! A term's list is cut into chunks, each one value of the index keyed by
//! the term and its first message id, so that the chunks of a term are in
//! id order and the newest is found with one reverse seek. A chunk is
//! `last id (u64 BE)` followed by one `(id - previous id, room id)` pair of
//! varints per message, ascending. Ids are global and increase in write
//! order, so the gaps between a common word's messages take one or two
//! bytes, and the room (a small number) one; the last id up front lets an
//! append skip decoding.

/// One message that holds a term.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Posting {
    pub id: u64,
    pub room: u64,
}

/// Size from which a chunk takes no more appends: small enough that
/// rewriting it per batch is cheap, large enough that a common term's
/// chunks are few.
pub const CHUNK_BYTES: usize = 2048;

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn get_varint(bytes: &[u8], at: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *bytes.get(*at)?;
        *at += 1;
        v |= u64::from(b & 0x7F).checked_shl(shift)?;
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// A new chunk holding `postings` (ascending, not empty).
pub fn new_chunk(postings: &[Posting]) -> Vec<u8> {
    let first = postings.first().map_or(0, |p| p.id);
    let mut out = Vec::with_capacity(8 + postings.len() * 4);
    out.extend_from_slice(&first.to_be_bytes());
    append_to(&mut out, first, postings);
    out
}

/// `chunk` with `postings` (ascending, all past its last id) added.
pub fn append(chunk: &[u8], postings: &[Posting]) -> Option<Vec<u8>> {
    let last = u64::from_be_bytes(chunk.get(..8)?.try_into().ok()?);
    let mut out = Vec::with_capacity(chunk.len() + postings.len() * 4);
    out.extend_from_slice(chunk);
    append_to(&mut out, last, postings);
    Some(out)
}

fn append_to(out: &mut Vec<u8>, mut prev: u64, postings: &[Posting]) {
    for p in postings {
        put_varint(out, p.id.saturating_sub(prev));
        put_varint(out, p.room);
        prev = p.id;
    }
    if let Some(last) = postings.last() {
        out[..8].copy_from_slice(&last.id.to_be_bytes());
    }
}

/// The postings of a chunk whose key names `first` as its first id,
/// ascending; None when the bytes are damaged.
pub fn decode(first: u64, chunk: &[u8]) -> Option<Vec<Posting>> {
    let mut out = Vec::with_capacity(chunk.len() / 3);
    let mut at = 8;
    let mut prev = first;
    while at < chunk.len() {
        let id = prev.checked_add(get_varint(chunk, &mut at)?)?;
        let room = get_varint(chunk, &mut at)?;
        out.push(Posting { id, room });
        prev = id;
    }
    Some(out)
}

/// A varint on its own (the room of an edited message's posting).
pub fn encode_room(room: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(2);
    put_varint(&mut out, room);
    out
}

/// Reads [`encode_room`]'s bytes.
pub fn decode_room(bytes: &[u8]) -> Option<u64> {
    get_varint(bytes, &mut 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(id: u64, room: u64) -> Posting {
        Posting { id, room }
    }

    #[test]
    fn chunks_round_trip_through_appends() {
        let a = [p(10, 1), p(11, 300), p(1_000_000, 2)];
        let chunk = new_chunk(&a);
        let chunk = append(&chunk, &[p(1_000_001, 1), p(u64::MAX / 2, 7)]).expect("append");
        let got = decode(10, &chunk).expect("decode");
        assert_eq!(
            got,
            [a.to_vec(), vec![p(1_000_001, 1), p(u64::MAX / 2, 7)]].concat()
        );
    }

    #[test]
    fn damaged_chunks_are_none_not_a_panic() {
        let chunk = new_chunk(&[p(5, 1), p(6, 2)]);
        assert!(decode(5, &chunk[..chunk.len() - 1]).is_none());
        assert!(decode(5, &[0xFF; 20]).is_none());
        assert!(append(&[1, 2], &[p(1, 1)]).is_none());
    }

    #[test]
    fn rooms_round_trip() {
        for r in [0, 1, 127, 128, u64::MAX] {
            assert_eq!(decode_room(&encode_room(r)), Some(r));
        }
    }
}
