//! The conformance walk's set of visited fingerprints.
//!
//! Fingerprints are already well-mixed 64-bit hashes, so they are stored as they are in one
//! open-addressing table with linear probing, 0 marking an empty slot (the fingerprint 0 is
//! kept aside): an insert reads one run of adjacent slots, usually one cache line, where a
//! `HashSet` reads a control-byte group and then a slot elsewhere: two cache misses per state
//! in a table of millions. The table doubles before it is three quarters full.

/// A set of `u64` fingerprints.
pub struct Fingerprints {
    /// A power of two long; 0 is an empty slot.
    slots: Vec<u64>,
    /// Fingerprints in `slots`.
    len: usize,
    /// Whether the fingerprint 0 is in the set.
    zero: bool,
}

impl Default for Fingerprints {
    fn default() -> Self {
        Fingerprints {
            slots: vec![0; 1 << 12],
            len: 0,
            zero: false,
        }
    }
}

impl Fingerprints {
    /// Adds `fp`; returns whether it was not there before.
    pub fn insert(&mut self, fp: u64) -> bool {
        if fp == 0 {
            return !std::mem::replace(&mut self.zero, true);
        }
        if (self.len + 1) * 4 > self.slots.len() * 3 {
            self.grow();
        }
        let fresh = place(&mut self.slots, fp);
        self.len += fresh as usize;
        fresh
    }

    /// An empty set that starts small (64 slots): for sets that are many and mostly small.
    pub fn small() -> Self {
        Fingerprints {
            slots: vec![0; 64],
            len: 0,
            zero: false,
        }
    }

    /// Whether `fp` is in the set.
    pub fn contains(&self, fp: u64) -> bool {
        if fp == 0 {
            return self.zero;
        }
        let mask = self.slots.len() - 1;
        let mut i = fp as usize & mask;
        loop {
            match self.slots[i] {
                0 => return false,
                slot if slot == fp => return true,
                _ => i = (i + 1) & mask,
            }
        }
    }

    /// Make room for `more` fingerprints (at most one doubling-step each later insert).
    pub fn reserve(&mut self, more: usize) {
        while (self.len + more) * 4 > self.slots.len() * 3 {
            self.grow();
        }
    }

    /// Bytes the table holds (its capacity).
    pub fn bytes(&self) -> usize {
        self.slots.len() * std::mem::size_of::<u64>()
    }

    /// How many fingerprints the set holds.
    pub fn len(&self) -> usize {
        self.len + self.zero as usize
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn grow(&mut self) {
        let mut bigger = vec![0; self.slots.len() * 2];
        for &fp in self.slots.iter().filter(|&&fp| fp != 0) {
            place(&mut bigger, fp);
        }
        self.slots = bigger;
    }
}

/// Put `fp` (not 0) in `slots` (a power of two long, not full); whether it was not there.
fn place(slots: &mut [u64], fp: u64) -> bool {
    debug_assert_ne!(fp, 0);
    let mask = slots.len() - 1;
    let mut i = fp as usize & mask;
    loop {
        match slots[i] {
            0 => {
                slots[i] = fp;
                return true;
            }
            slot if slot == fp => return false,
            _ => i = (i + 1) & mask,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Fingerprints;
    use std::collections::HashSet;

    /// Against a `HashSet`, through several doublings, with fingerprints that share their
    /// probe start (the same low 20 bits) and the fingerprint 0.
    #[test]
    fn it_agrees_with_a_hash_set() {
        let mut set = Fingerprints::default();
        let mut model = HashSet::new();
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for i in 0..200_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let fp = match i % 5 {
                0 if i < 10_000 => x << 20 | 5, // one probe start: a long run
                1 => i / 5 % 1000,              // repeats, and 0
                _ => x,
            };
            assert_eq!(set.contains(fp), model.contains(&fp), "contains {fp:#x}");
            assert_eq!(set.insert(fp), model.insert(fp), "insert {fp:#x}");
            assert_eq!(set.len(), model.len());
        }
        assert!(model.contains(&0));
        for &fp in &model {
            assert!(!set.insert(fp));
        }
    }
}
