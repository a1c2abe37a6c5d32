//! Distinct byte strings (string keys, row-encoded keys), numbered in order of first
//! appearance.
//!
//! A table keyed by slices of the column would compare each row's bytes with those of the
//! group's first row, which lies anywhere in the column: a cache miss per row once the groups
//! are many. Here the table's slot holds the group's hash, length and first 16 bytes beside
//! its number, so a lookup reads one slot: short keys (most string keys) compare there whole,
//! longer ones then compare the rest in an arena of the groups' bytes.

use std::hash::BuildHasher;

use foldhash::fast::FixedState;
use hashbrown::hash_table::{Entry, HashTable};

/// Bytes of a key kept in its slot.
const HEAD: usize = 16;

/// A group in the table.
struct Slot {
    hash: u64,
    /// The first `HEAD` bytes, zero-padded.
    head: [u8; HEAD],
    len: u32,
    id: u32,
}

/// Distinct byte strings and their numbers.
#[derive(Default)]
pub(super) struct ByteGroups {
    table: HashTable<Slot>,
    /// The bytes past `HEAD` of the longer keys, back to back: group `g`'s start at
    /// `starts[g]`.
    arena: Vec<u8>,
    starts: Vec<usize>,
    hasher: FixedState,
}

impl ByteGroups {
    /// The number of `bytes`' group: a new one (the count so far) when they are new.
    pub fn id(&mut self, bytes: &[u8]) -> u32 {
        let hash = self.hasher.hash_one(bytes);
        let mut head = [0u8; HEAD];
        let split = bytes.len().min(HEAD);
        head[..split].copy_from_slice(&bytes[..split]);
        let (len, rest) = (bytes.len() as u32, &bytes[split..]);
        let (arena, starts) = (&self.arena, &self.starts);
        let same = |s: &Slot| {
            s.hash == hash
                && s.len == len
                && s.head == head
                && (rest.is_empty() || &arena[starts[s.id as usize]..][..rest.len()] == rest)
        };
        match self.table.entry(hash, same, |s| s.hash) {
            Entry::Occupied(e) => e.get().id,
            Entry::Vacant(e) => {
                let id = self.starts.len() as u32;
                e.insert(Slot { hash, head, len, id });
                self.starts.push(self.arena.len());
                self.arena.extend_from_slice(rest);
                id
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_bytes_share_a_number_in_order_of_first_appearance() {
        let mut groups = ByteGroups::default();
        let values: Vec<Vec<u8>> = (0..50_000u32).map(|i| format!("key-{}", i % 7_000).into_bytes()).collect();
        let ids: Vec<u32> = values.iter().map(|v| groups.id(v)).collect();
        assert_eq!(ids[..7_000], (0..7_000).collect::<Vec<u32>>());
        assert!(ids.iter().enumerate().all(|(i, &id)| id == (i % 7_000) as u32));
        // The empty string, strings one a prefix of another, zero bytes (as the padding is),
        // and long strings that differ past their first 16 bytes are apart.
        let long = |c: u8| [b"0123456789abcdef".as_slice(), &[c; 9]].concat();
        let keys: [&[u8]; 7] = [b"", b"a", b"ab", b"a\0", &long(b'x'), &long(b'y'), b"0123456789abcdef"];
        let ids: Vec<u32> = keys.iter().map(|k| groups.id(k)).collect();
        assert_eq!(ids, (7_000..7_007).collect::<Vec<u32>>());
        assert_eq!(
            keys.iter().rev().map(|k| groups.id(k)).collect::<Vec<u32>>(),
            ids.into_iter().rev().collect::<Vec<_>>()
        );
    }
}
