//! A compact set of message ids, for checking that a backup's message ids
//! are unique server-wide without holding every id.
//!
//! Message ids come from one counter, so a real history's ids are dense:
//! the set splits them into blocks of 4096 consecutive ids and keeps each
//! block as a bitmap (512 bytes) once it holds more than 256 ids, or as a
//! sorted list of 16-bit offsets while it holds fewer. A dense history of
//! N messages costs about N/8 bytes (1,000,000 ids: 125 KiB); scattered ids
//! cost about 2 bytes each plus one small entry per block they touch.

use std::collections::BTreeMap;

/// Ids per block: the low 12 bits of an id are its offset in its block.
const BLOCK_BITS: u32 = 12;
const BLOCK_IDS: usize = 1 << BLOCK_BITS;
/// Words of a block's bitmap.
const WORDS: usize = BLOCK_IDS / 64;
/// A list longer than this takes more room than the bitmap: switch.
const LIST_MAX: usize = WORDS * 8 / 2;

enum Block {
    List(Vec<u16>),
    Bitmap(Box<[u64; WORDS]>),
}

/// A set of u64 ids that stays small when the ids are dense.
#[derive(Default)]
pub struct IdSet {
    blocks: BTreeMap<u64, Block>,
}

impl IdSet {
    /// Whether `id` is in the set.
    pub fn contains(&self, id: u64) -> bool {
        let offset = (id & (BLOCK_IDS as u64 - 1)) as u16;
        match self.blocks.get(&(id >> BLOCK_BITS)) {
            None => false,
            Some(Block::List(list)) => list.binary_search(&offset).is_ok(),
            Some(Block::Bitmap(bits)) => bits[usize::from(offset) / 64] & (1 << (offset % 64)) != 0,
        }
    }

    /// Adds `id`; returns false when it was already there.
    pub fn insert(&mut self, id: u64) -> bool {
        let offset = (id & (BLOCK_IDS as u64 - 1)) as u16;
        let block = self
            .blocks
            .entry(id >> BLOCK_BITS)
            .or_insert_with(|| Block::List(Vec::new()));
        match block {
            Block::List(list) => {
                let Err(at) = list.binary_search(&offset) else {
                    return false;
                };
                if list.len() < LIST_MAX {
                    list.insert(at, offset);
                    return true;
                }
                let mut bits = Box::new([0u64; WORDS]);
                for o in list.iter().copied().chain([offset]) {
                    bits[usize::from(o) / 64] |= 1 << (o % 64);
                }
                *block = Block::Bitmap(bits);
                true
            }
            Block::Bitmap(bits) => {
                let (word, bit) = (usize::from(offset) / 64, 1u64 << (offset % 64));
                let fresh = bits[word] & bit == 0;
                bits[word] |= bit;
                fresh
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_duplicates_in_lists_and_bitmaps() {
        let mut s = IdSet::default();
        // Interleaved like two rooms' runs: evens first, then odds.
        for id in (0..10_000u64).step_by(2) {
            assert!(s.insert(id));
        }
        for id in (1..10_000u64).step_by(2) {
            assert!(s.insert(id));
        }
        for id in [0, 4095, 4096, 9999] {
            assert!(!s.insert(id), "{id} is already in");
        }
        assert!(s.insert(u64::MAX));
        assert!(!s.insert(u64::MAX));
        assert!(s.blocks.values().any(|b| matches!(b, Block::Bitmap(_))));
    }
}
