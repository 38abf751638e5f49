//! The byte form of posting lists: which messages hold a term.
//!
//! A list is one `(id - previous id, room number)` pair of varints per
//! message, ascending, the first id taken from 0. Ids are global and
//! increase in write order, so the gaps between a common word's messages
//! take one or two bytes, and the room's number in its segment's table
//! one.

/// One message that holds a term.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Posting {
    pub id: u64,
    pub room: u64,
}

pub fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

pub fn get_varint(bytes: &[u8], at: &mut usize) -> Option<u64> {
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

/// Appends the encoding of `list` (ascending) to `out`; `room` gives
/// the number a room has in the segment's table (room ids are random
/// 64-bit numbers: ten bytes as they are, one as a number in the table).
pub fn encode(out: &mut Vec<u8>, list: &[Posting], room: impl Fn(u64) -> u64) {
    let mut prev = 0;
    for p in list {
        put_varint(out, p.id.saturating_sub(prev));
        put_varint(out, room(p.room));
        prev = p.id;
    }
}

/// The postings of an encoded list, ascending, with `rooms` the
/// segment's table; None when damaged.
pub fn decode(bytes: &[u8], count: usize, rooms: &[u64]) -> Option<Vec<Posting>> {
    let mut out = Vec::with_capacity(count.min(bytes.len()));
    let mut at = 0;
    let mut prev = 0u64;
    while at < bytes.len() {
        let id = prev.checked_add(get_varint(bytes, &mut at)?)?;
        let n = usize::try_from(get_varint(bytes, &mut at)?).ok()?;
        out.push(Posting {
            id,
            room: *rooms.get(n)?,
        });
        prev = id;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(id: u64, room: u64) -> Posting {
        Posting { id, room }
    }

    #[test]
    fn lists_round_trip() {
        let rooms = [u64::MAX, 5];
        let a = [
            p(0, 5),
            p(10, u64::MAX),
            p(11, 5),
            p(1_000_000, 5),
            p(u64::MAX / 2, u64::MAX),
        ];
        let mut bytes = Vec::new();
        encode(&mut bytes, &a, |r| u64::from(r == 5));
        assert_eq!(bytes.len(), 1 + 1 + 1 + 3 + 9 + 5);
        assert_eq!(decode(&bytes, a.len(), &rooms).expect("decode"), a);
        assert!(decode(&bytes, a.len(), &rooms[..1]).is_none());
    }

    #[test]
    fn damaged_lists_are_none_not_a_panic() {
        let mut bytes = Vec::new();
        encode(&mut bytes, &[p(5, 0), p(6, 1)], |r| r);
        assert!(decode(&bytes[..bytes.len() - 1], 2, &[0, 1]).is_none());
        assert!(decode(&[0xFF; 20], 2, &[0, 1]).is_none());
    }
}
