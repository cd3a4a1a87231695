//! warmcheck's patch (see vendor/README.md in warmcheck): the DFS checker's set of visited
//! fingerprints.
//!
//! Fingerprints are already well-mixed non-zero 64-bit hashes, so the set stores them as they
//! are in open-addressing tables with linear probing, 0 marking an empty slot: an insert reads
//! one run of adjacent slots (usually one cache line), where a `DashSet` reads a control-byte
//! group and then a slot elsewhere. The set is split into shards by the fingerprint's top
//! bits, each behind its own lock, so threads rarely contend and a table that grows rehashes
//! only one shard's fingerprints. A shard grows (doubles) before it is three quarters full, so
//! the set takes between 10.7 and 21.3 bytes per fingerprint.

use crate::Fingerprint;
use parking_lot::Mutex;

const SHARD_BITS: u32 = 6;
const SHARDS: usize = 1 << SHARD_BITS;
const INITIAL_SLOTS: usize = 1 << 10;

pub(crate) struct VisitedSet {
    shards: Box<[Mutex<Shard>]>,
}

struct Shard {
    /// A power of two long; 0 is an empty slot.
    slots: Vec<u64>,
    len: usize,
}

impl Default for VisitedSet {
    fn default() -> Self {
        VisitedSet {
            shards: (0..SHARDS)
                .map(|_| {
                    Mutex::new(Shard {
                        slots: vec![0; INITIAL_SLOTS],
                        len: 0,
                    })
                })
                .collect(),
        }
    }
}

impl VisitedSet {
    /// Adds `fp`; returns whether it was not there before.
    pub(crate) fn insert(&self, fp: Fingerprint) -> bool {
        let fp = fp.get();
        let mut shard = self.shards[(fp >> (64 - SHARD_BITS)) as usize].lock();
        if (shard.len + 1) * 4 > shard.slots.len() * 3 {
            shard.grow();
        }
        shard.insert(fp)
    }

    /// How many fingerprints the set holds.
    pub(crate) fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().len).sum()
    }
}

impl Shard {
    fn insert(&mut self, fp: u64) -> bool {
        debug_assert_ne!(fp, 0);
        let mask = self.slots.len() - 1;
        let mut i = fp as usize & mask;
        loop {
            let slot = self.slots[i];
            if slot == fp {
                return false;
            }
            if slot == 0 {
                self.slots[i] = fp;
                self.len += 1;
                return true;
            }
            i = (i + 1) & mask;
        }
    }

    fn grow(&mut self) {
        let doubled = vec![0; self.slots.len() * 2];
        let old = std::mem::replace(&mut self.slots, doubled);
        let len = self.len;
        self.len = 0;
        for fp in old.into_iter().filter(|fp| *fp != 0) {
            let fresh = self.insert(fp);
            debug_assert!(fresh);
        }
        assert_eq!(self.len, len, "a fingerprint was lost while the set grew");
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn holds_each_fingerprint_once_through_growth() {
        let set = VisitedSet::default();
        let mut reference = HashSet::new();
        // A cheap mix of the counter, with collisions in the low and the high bits alike.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for i in 0..300_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let fp = if i % 3 == 0 { (x & 0xFFFF) | 1 } else { x | 1 };
            let fp = Fingerprint::new(fp).unwrap();
            assert_eq!(set.insert(fp), reference.insert(fp), "insert #{i}");
        }
        assert_eq!(set.len(), reference.len());
        for fp in &reference {
            assert!(!set.insert(*fp));
        }
        assert_eq!(set.len(), reference.len());
    }

    #[test]
    fn threads_inserting_the_same_fingerprints_add_each_once() {
        let set = std::sync::Arc::new(VisitedSet::default());
        let fresh: usize = (0..4)
            .map(|_| {
                let set = std::sync::Arc::clone(&set);
                std::thread::spawn(move || {
                    (1..=50_000u64)
                        .filter(|i| {
                            // An odd multiplier maps 1..=50,000 to distinct non-zero values.
                            set.insert(
                                Fingerprint::new(i.wrapping_mul(0x9E37_79B9_7F4A_7C15)).unwrap(),
                            )
                        })
                        .count()
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|h| h.join().unwrap())
            .sum();
        assert_eq!(fresh, 50_000);
        assert_eq!(set.len(), 50_000);
    }
}
