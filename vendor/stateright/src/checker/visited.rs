//! warmcheck's patch (see vendor/README.md in warmcheck): the DFS checker's set of visited
//! fingerprints.
//!
//! Fingerprints are already well-mixed non-zero 64-bit hashes, so the set stores them as they
//! are in open-addressing tables with linear probing, 0 marking an empty slot: an insert reads
//! one run of adjacent slots (usually one cache line), where a `DashSet` reads a control-byte
//! group and then a slot elsewhere. The set is split into 16 shards by the fingerprint's top
//! bits, so that a table that grows rehashes only one shard's fingerprints. (Not more: a
//! shard's table reaches 2 MiB, and so huge pages, at about two million fingerprints in
//! all, the default bounds' 4.95 million among them; with 64 shards a one-thread check at
//! those bounds took about 3% longer.)
//!
//! Inserts take no lock: a fingerprint enters an empty slot by compare-and-swap, so two
//! threads inserting the same fingerprint race for the same slot and exactly one of them sees
//! it as new. (A lock per shard, taken by every insert, moved the lock's cache line between
//! the cores on nearly every insert: with two threads, 30% of the insert's time was spent on
//! the lock's compare-and-swap.) A shard grows (doubles) before it is about three quarters
//! full, so the set takes between about 10 and 22 bytes per fingerprint. One thread grows a
//! shard at a time: it *freezes* every empty slot of the old table (compare-and-swap from
//! empty to `FROZEN`), copies the fingerprints into the new table and publishes it. An insert
//! that meets a frozen slot waits for the new table and starts again there; one that entered
//! the old table before its slot froze is copied. Freezing only ever fills empty slots, so a
//! probe that meets a frozen slot has passed every slot where its fingerprint could be. The
//! old table is freed once no thread can still be reading it (epoch-based reclamation,
//! crossbeam-epoch).
//!
//! Each thread inserts through its own [`Inserter`], which counts its new fingerprints per
//! shard and adds them to the shard's count in batches, so the count's cache line is not
//! shared on every insert either. A shard grows when its count, plus what the inserters may
//! not have added yet, passes three quarters of its table. [`VisitedSet::len`] is exact once
//! every inserter has added its counts ([`Inserter::add_counts`], or dropped); while they
//! insert, it may lag behind by what they have not added.

use crate::Fingerprint;
use crossbeam_utils::CachePadded;
// warmcheck's patch: loom's atomics and a stand-in for crossbeam-epoch under the `loom` feature.
mod sync;
use sync::Guard;
use sync::{Atomic, AtomicU64, AtomicUsize, Backoff, Collector, LocalHandle, Mutex, Ordering};
use sync::{Owned, Shared};

#[cfg(not(feature = "loom"))]
const SHARD_BITS: u32 = 4;
#[cfg(not(feature = "loom"))]
const INITIAL_SLOTS: usize = 1 << 10;
// Under loom: two shards of four slots, so that a few inserts grow a table twice.
#[cfg(feature = "loom")]
const SHARD_BITS: u32 = 1;
#[cfg(feature = "loom")]
const INITIAL_SLOTS: usize = 4;
const SHARDS: usize = 1 << SHARD_BITS;
/// The most new fingerprints an inserter counts for a shard before it adds them to the
/// shard's count.
const BATCH: usize = 16;
/// Marks an empty slot of a table that is being replaced. The one fingerprint equal to it is
/// stored as `FROZEN - 1` instead (a hash collision of one value in 2^64, as likely as any).
const FROZEN: u64 = u64::MAX;

pub(crate) struct VisitedSet {
    shards: Box<[Shard]>,
    /// Inserters alive: each may hold up to `batch` new fingerprints per shard that the
    /// shard's count does not show yet.
    inserters: AtomicUsize,
    collector: Collector,
}

struct Shard {
    /// Read by every insert, written only when the shard grows.
    table: CachePadded<Atomic<Table>>,
    /// Fingerprints in the shard, as added by the inserters.
    len: CachePadded<AtomicUsize>,
    /// Held by the one thread that grows the shard.
    growing: Mutex<()>,
}

/// A power of two long; 0 is an empty slot. Its memory comes from [`pages`].
struct Table {
    slots: std::ptr::NonNull<AtomicU64>,
    len: usize,
}

// SAFETY: a `Table` owns its slots, which are atomics.
unsafe impl Send for Table {}
unsafe impl Sync for Table {}

enum Probe {
    Fresh,
    Present,
    /// The table is being replaced: insert into the next one.
    Frozen,
    /// No empty slot is left (the batches' slack outran the growth): grow, then insert.
    Full,
}

/// One thread's way to insert into a [`VisitedSet`]; adds its counts when dropped.
pub(crate) struct Inserter<'a> {
    set: &'a VisitedSet,
    handle: LocalHandle,
    unadded: [u32; SHARDS],
}

impl Default for VisitedSet {
    fn default() -> Self {
        VisitedSet {
            shards: (0..SHARDS)
                .map(|_| Shard {
                    table: CachePadded::new(Atomic::new(Table::empty(INITIAL_SLOTS))),
                    len: CachePadded::new(AtomicUsize::new(0)),
                    growing: Mutex::new(()),
                })
                .collect(),
            inserters: AtomicUsize::new(0),
            collector: Collector::new(),
        }
    }
}

impl Drop for VisitedSet {
    fn drop(&mut self) {
        for shard in self.shards.iter() {
            // SAFETY: `&mut self` means no inserter (they borrow the set) is alive, so no
            // thread reads the current table; replaced ones are the collector's to free.
            unsafe {
                let table = shard.table.load(Ordering::Relaxed, sync::unprotected());
                drop(table.into_owned());
            }
        }
    }
}

impl VisitedSet {
    /// A handle for one thread to insert with.
    pub(crate) fn inserter(&self) -> Inserter<'_> {
        self.inserters.fetch_add(1, Ordering::Relaxed);
        Inserter {
            set: self,
            handle: self.collector.register(),
            unadded: [0; SHARDS],
        }
    }

    /// How many fingerprints the set holds: exact once every inserter has added its counts.
    pub(crate) fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.len.load(Ordering::Relaxed))
            .sum()
    }

    /// Replaces the shard's table `seen` with one twice as long, unless another thread
    /// already did.
    fn grow(&self, shard: &Shard, seen: Shared<'_, Table>, guard: &Guard) {
        let _growing = shard.growing.lock();
        let current = shard.table.load(Ordering::Acquire, guard);
        if current != seen {
            return;
        }
        // SAFETY: `current` is the shard's table, which is freed only after it is replaced
        // (below, by this thread, which holds `growing`) and `guard` is dropped.
        let old = unsafe { current.deref() };
        let mut new = Table::empty(old.len * 2);
        let mut copied = 0;
        for slot in old.slots() {
            let mut fp = slot.load(Ordering::Relaxed);
            if fp == 0 {
                match slot.compare_exchange(0, FROZEN, Ordering::Relaxed, Ordering::Relaxed) {
                    Ok(_) => continue,
                    Err(entered) => fp = entered,
                }
            }
            assert_ne!(fp, FROZEN, "a table was frozen twice");
            new.insert_unshared(fp);
            copied += 1;
        }
        assert!(
            copied * 2 <= new.len,
            "a grown table is more than half full"
        );
        shard.table.store(Owned::new(new), Ordering::Release);
        // SAFETY: the old table is no longer reachable from the shard; threads that loaded
        // it before hold a guard, and the collector frees it only after they all drop theirs.
        unsafe { guard.defer_destroy(current) };
        // Hand the old table to the collector now rather than when this thread's bag of
        // deferred frees fills up, so that it does not outlive the next few growths.
        guard.flush();
    }
}

impl Inserter<'_> {
    /// Pins this thread for [`Inserter::insert`]: no table it reads under the guard is freed
    /// before the guard is dropped, and none that is replaced meanwhile is freed either, so
    /// a thread that inserts for long should [`Guard::repin`] now and then.
    pub(crate) fn pin(&self) -> Guard {
        self.handle.pin()
    }

    /// Adds `fp`; returns whether it was not there before.
    pub(crate) fn insert(&mut self, fp: Fingerprint, guard: &Guard) -> bool {
        let fp = match fp.get() {
            FROZEN => FROZEN - 1,
            fp => fp,
        };
        let index = (fp >> (64 - SHARD_BITS)) as usize;
        let set = self.set;
        let shard = &set.shards[index];
        let backoff = Backoff::new();
        loop {
            let shared = shard.table.load(Ordering::Acquire, guard);
            // SAFETY: loaded under `guard`, so it is not freed before `guard` is dropped.
            let table = unsafe { shared.deref() };
            match table.insert(fp) {
                Probe::Present => return false,
                Probe::Fresh => {
                    self.count(shard, index, table.len, shared, guard);
                    return true;
                }
                Probe::Frozen => {
                    // Another thread is copying the table: wait for it to publish the next.
                    while shard.table.load(Ordering::Acquire, guard) == shared {
                        backoff.snooze();
                    }
                }
                Probe::Full => set.grow(shard, shared, guard),
            }
        }
    }

    /// Adds the new fingerprints counted so far to the shards' counts, so that
    /// [`VisitedSet::len`] includes them.
    pub(crate) fn add_counts(&mut self) {
        for (shard, unadded) in self.set.shards.iter().zip(&mut self.unadded) {
            if *unadded > 0 {
                shard
                    .len
                    .fetch_add(std::mem::take(unadded) as usize, Ordering::Relaxed);
            }
        }
    }

    /// Counts a new fingerprint in the shard `index`, whose table is `shared`, `slots` long;
    /// grows the table if the shard may now be three quarters full.
    fn count(
        &mut self,
        shard: &Shard,
        index: usize,
        slots: usize,
        shared: Shared<'_, Table>,
        guard: &Guard,
    ) {
        let inserters = self.set.inserters.load(Ordering::Relaxed);
        // Small enough that all inserters' unadded counts stay within a sixteenth of the table.
        let batch = (slots / (16 * inserters)).clamp(1, BATCH);
        self.unadded[index] += 1;
        if (self.unadded[index] as usize) < batch {
            return;
        }
        let added = std::mem::take(&mut self.unadded[index]) as usize;
        let len = shard.len.fetch_add(added, Ordering::Relaxed) + added;
        if (len + inserters * batch) * 4 > slots * 3 {
            self.set.grow(shard, shared, guard);
        }
    }
}

impl Drop for Inserter<'_> {
    fn drop(&mut self) {
        self.add_counts();
        self.set.inserters.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Table {
    #[cfg(not(feature = "loom"))]
    fn empty(len: usize) -> Self {
        assert!(len.is_power_of_two());
        let layout = std::alloc::Layout::array::<AtomicU64>(len).expect("a table fits in memory");
        let slots = pages::zeroed(layout).cast::<AtomicU64>();
        Table { slots, len }
    }

    /// Under loom: atomics loom can model, in a boxed slice.
    #[cfg(feature = "loom")]
    fn empty(len: usize) -> Self {
        assert!(len.is_power_of_two());
        let slots: Box<[AtomicU64]> = (0..len).map(|_| AtomicU64::new(0)).collect();
        let slots = std::ptr::NonNull::new(Box::into_raw(slots).cast::<AtomicU64>()).unwrap();
        Table { slots, len }
    }

    fn slots(&self) -> &[AtomicU64] {
        // SAFETY: `slots` points to `len` initialised atomics that live as long as `self`.
        unsafe { std::slice::from_raw_parts(self.slots.as_ptr(), self.len) }
    }

    fn insert(&self, fp: u64) -> Probe {
        debug_assert!(fp != 0 && fp != FROZEN);
        let slots = self.slots();
        let mask = slots.len() - 1;
        let mut i = fp as usize & mask;
        for _ in 0..slots.len() {
            let slot = &slots[i];
            let mut seen = slot.load(Ordering::Relaxed);
            if seen == 0 {
                match slot.compare_exchange(0, fp, Ordering::Relaxed, Ordering::Relaxed) {
                    Ok(_) => return Probe::Fresh,
                    Err(entered) => seen = entered,
                }
            }
            if seen == fp {
                return Probe::Present;
            }
            if seen == FROZEN {
                return Probe::Frozen;
            }
            i = (i + 1) & mask;
        }
        Probe::Full
    }

    /// Inserts into a table no other thread can see yet.
    fn insert_unshared(&mut self, fp: u64) {
        let slots = self.slots();
        let mask = slots.len() - 1;
        let mut i = fp as usize & mask;
        loop {
            // Relaxed loads and stores compile to plain ones; no other thread sees the table.
            match slots[i].load(Ordering::Relaxed) {
                0 => return slots[i].store(fp, Ordering::Relaxed),
                seen => debug_assert_ne!(seen, fp, "a fingerprint was in a table twice"),
            }
            i = (i + 1) & mask;
        }
    }
}

impl Drop for Table {
    #[cfg(not(feature = "loom"))]
    fn drop(&mut self) {
        let layout = std::alloc::Layout::array::<AtomicU64>(self.len).unwrap();
        // SAFETY: made by `pages::zeroed` with this layout in `empty`, freed once.
        unsafe { pages::free(self.slots.cast(), layout) }
    }

    #[cfg(feature = "loom")]
    fn drop(&mut self) {
        let slots = std::ptr::slice_from_raw_parts_mut(self.slots.as_ptr(), self.len);
        // SAFETY: made from a boxed slice of `len` in `empty`, freed once.
        drop(unsafe { Box::from_raw(slots) });
    }
}

/// Memory for tables, zeroed.
///
/// On Linux each table is its own anonymous mapping, returned to the system when the table is
/// dropped, so the set's share of the process's memory is exactly its live tables, whichever
/// thread frees a replaced one and whatever the global allocator keeps of what is freed. The
/// pages are faulted in when the table is made (by the thread that grows the shard, before
/// other threads see it), not one by one by the inserts. A table of 2 MiB or more is aligned to
/// 2 MiB and asks for transparent huge pages: inserts land on random slots, and with 4 KiB
/// pages nearly every one of them also missed the TLB (a one-thread check spent about 8% more
/// time, nearly all of it on the slot's load, than with the global allocator's huge pages).
#[cfg(not(feature = "loom"))]
mod pages {
    use std::alloc::Layout;
    use std::ptr::NonNull;

    #[cfg(target_os = "linux")]
    pub(super) const HUGE_PAGE: usize = 2 << 20;

    #[cfg(target_os = "linux")]
    pub(super) fn zeroed(layout: Layout) -> NonNull<u8> {
        let bytes = layout.size();
        let huge = bytes >= HUGE_PAGE;
        // Room to align a huge table's start to a huge page.
        let reserve = if huge { bytes + HUGE_PAGE } else { bytes };
        let populate = if huge { 0 } else { libc::MAP_POPULATE };
        // SAFETY: a new private anonymous mapping at an address of the kernel's choosing: it
        // aliases nothing, and its pages read as zeros until written. The parts trimmed off
        // are within it and not used.
        unsafe {
            let mapped = libc::mmap(
                std::ptr::null_mut(),
                reserve,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | populate,
                -1,
                0,
            );
            if mapped == libc::MAP_FAILED {
                std::alloc::handle_alloc_error(layout)
            }
            let mapped = mapped.cast::<u8>();
            if !huge {
                return NonNull::new_unchecked(mapped);
            }
            let head = mapped.align_offset(HUGE_PAGE);
            let start = mapped.add(head);
            if head > 0 {
                libc::munmap(mapped.cast(), head);
            }
            let tail = reserve - head - bytes;
            if tail > 0 {
                libc::munmap(start.add(bytes).cast(), tail);
            }
            // Both advisory: without them (transparent huge pages off, an older kernel) the
            // pages are small, or faulted in as the inserts touch them.
            libc::madvise(start.cast(), bytes, libc::MADV_HUGEPAGE);
            libc::madvise(start.cast(), bytes, libc::MADV_POPULATE_WRITE);
            NonNull::new_unchecked(start)
        }
    }

    /// # Safety
    /// `memory` was returned by [`zeroed`] with `layout`, and is freed once.
    #[cfg(target_os = "linux")]
    pub(super) unsafe fn free(memory: NonNull<u8>, layout: Layout) {
        libc::munmap(memory.as_ptr().cast(), layout.size());
    }

    #[cfg(not(target_os = "linux"))]
    pub(super) fn zeroed(layout: Layout) -> NonNull<u8> {
        // SAFETY: a table's layout is not zero-sized.
        let memory = unsafe { std::alloc::alloc_zeroed(layout) };
        NonNull::new(memory).unwrap_or_else(|| std::alloc::handle_alloc_error(layout))
    }

    /// # Safety
    /// `memory` was returned by [`zeroed`] with `layout`, and is freed once.
    #[cfg(not(target_os = "linux"))]
    pub(super) unsafe fn free(memory: NonNull<u8>, layout: Layout) {
        std::alloc::dealloc(memory.as_ptr(), layout);
    }
}

#[cfg(all(test, not(feature = "loom")))]
mod test {
    use super::*;
    use std::collections::HashSet;

    /// A cheap mix of a counter, with collisions in the low and the high bits alike.
    fn fingerprints(count: u64) -> impl Iterator<Item = Fingerprint> {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        (0..count).map(move |i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let fp = if i % 3 == 0 { (x & 0xFFFF) | 1 } else { x | 1 };
            Fingerprint::new(fp).unwrap()
        })
    }

    #[test]
    fn holds_each_fingerprint_once_through_growth() {
        let set = VisitedSet::default();
        let mut reference = HashSet::new();
        {
            let mut inserter = set.inserter();
            for (i, fp) in fingerprints(300_000).enumerate() {
                assert_eq!(
                    inserter.insert(fp, &inserter.pin()),
                    reference.insert(fp),
                    "insert #{i}"
                );
            }
        }
        assert_eq!(set.len(), reference.len());
        let mut inserter = set.inserter();
        for fp in &reference {
            assert!(!inserter.insert(*fp, &inserter.pin()));
        }
        drop(inserter);
        assert_eq!(set.len(), reference.len());
    }

    #[test]
    fn the_fingerprint_that_marks_frozen_slots_is_held_like_any_other() {
        let set = VisitedSet::default();
        let mut inserter = set.inserter();
        let frozen = Fingerprint::new(FROZEN).unwrap();
        assert!(inserter.insert(frozen, &inserter.pin()));
        assert!(!inserter.insert(frozen, &inserter.pin()));
        // It grows like any other: its shard (the last) fills and doubles around it.
        let last = (SHARDS - 1) as u64;
        let mut fresh = 1;
        for fp in fingerprints(200_000).filter(|fp| fp.get() >> (64 - SHARD_BITS) == last) {
            fresh += usize::from(inserter.insert(fp, &inserter.pin()));
        }
        assert!(fresh > 4 * INITIAL_SLOTS, "the shard grew a few times");
        assert!(!inserter.insert(frozen, &inserter.pin()));
        drop(inserter);
        assert_eq!(set.len(), fresh);
    }

    #[test]
    fn threads_inserting_the_same_fingerprints_add_each_once() {
        let set = VisitedSet::default();
        let fresh: usize = std::thread::scope(|scope| {
            (0..4)
                .map(|_| {
                    scope.spawn(|| {
                        let mut inserter = set.inserter();
                        // An odd multiplier maps 1..=50,000 to distinct non-zero values.
                        (1..=50_000u64)
                            .filter(|i| {
                                let fp = Fingerprint::new(i.wrapping_mul(0x9E37_79B9_7F4A_7C15));
                                inserter.insert(fp.unwrap(), &inserter.pin())
                            })
                            .count()
                    })
                })
                .collect::<Vec<_>>()
                .into_iter()
                .map(|h| h.join().unwrap())
                .sum()
        });
        assert_eq!(fresh, 50_000);
        assert_eq!(set.len(), 50_000);
    }

    /// Many threads, each inserting an overlapping stretch of fingerprints in its own order,
    /// through many growths of every shard: each fingerprint is new to exactly one of them,
    /// and all are there afterwards.
    #[test]
    fn concurrent_growth_loses_and_duplicates_nothing() {
        const THREADS: u64 = 8;
        const PER_THREAD: u64 = 150_000;
        let set = VisitedSet::default();
        let fp = |i: u64| Fingerprint::new((i + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)).unwrap();
        let fresh: Vec<Vec<u64>> = std::thread::scope(|scope| {
            (0..THREADS)
                .map(|t| {
                    let set = &set;
                    scope.spawn(move || {
                        let mut inserter = set.inserter();
                        let start = t * PER_THREAD / 2;
                        let mut mine: Vec<u64> = (start..start + PER_THREAD).collect();
                        if t % 2 == 1 {
                            mine.reverse();
                        }
                        mine.into_iter()
                            .filter(|&i| inserter.insert(fp(i), &inserter.pin()))
                            .collect()
                    })
                })
                .collect::<Vec<_>>()
                .into_iter()
                .map(|h| h.join().unwrap())
                .collect()
        });
        let distinct = (THREADS + 1) * PER_THREAD / 2;
        let mut seen = HashSet::new();
        for i in fresh.into_iter().flatten() {
            assert!(seen.insert(i), "fingerprint of {i} was new to two threads");
        }
        assert_eq!(seen.len() as u64, distinct);
        assert_eq!(set.len() as u64, distinct);
        let mut inserter = set.inserter();
        for i in 0..distinct {
            assert!(
                !inserter.insert(fp(i), &inserter.pin()),
                "fingerprint of {i} was lost"
            );
        }
    }

    #[test]
    fn the_count_is_exact_once_an_inserter_adds_it() {
        let set = VisitedSet::default();
        let mut inserter = set.inserter();
        let fresh = fingerprints(10_000)
            .filter(|fp| inserter.insert(*fp, &inserter.pin()))
            .count();
        assert!(set.len() < fresh, "batches wait to be added");
        inserter.add_counts();
        assert_eq!(set.len(), fresh);
    }

    #[test]
    fn a_full_table_says_so_instead_of_probing_forever() {
        let table = Table::empty(4);
        for fp in [4, 5, 6, 7] {
            assert!(matches!(table.insert(fp), Probe::Fresh));
        }
        assert!(matches!(table.insert(6), Probe::Present));
        assert!(matches!(table.insert(8), Probe::Full));
    }

    #[test]
    fn tables_of_every_size_start_empty() {
        // 8 KiB (small pages, populated at once) to 4 MiB (aligned to huge pages).
        for len in [1 << 10, 1 << 18, 1 << 19] {
            let table = Table::empty(len);
            assert!(table.slots().iter().all(|s| s.load(Ordering::Relaxed) == 0));
            #[cfg(target_os = "linux")]
            if len * 8 >= pages::HUGE_PAGE {
                assert_eq!(table.slots.as_ptr() as usize % pages::HUGE_PAGE, 0);
            }
            assert!(matches!(table.insert(12345), Probe::Fresh));
            assert!(matches!(table.insert(12345), Probe::Present));
        }
    }

    /// With more inserters than a table has room for their batches, every new fingerprint
    /// is added at once, and the tables still grow in time.
    #[test]
    fn more_inserters_than_a_small_table_has_slack_for() {
        let set = VisitedSet::default();
        let idle: Vec<_> = (0..200).map(|_| set.inserter()).collect();
        let mut inserter = set.inserter();
        let mut reference = HashSet::new();
        for fp in fingerprints(100_000) {
            assert_eq!(inserter.insert(fp, &inserter.pin()), reference.insert(fp));
        }
        drop(inserter);
        drop(idle);
        assert_eq!(set.len(), reference.len());
    }
}

/// warmcheck's patch: the insert and grow protocol, checked exhaustively (up to loom's bound on
/// preemptions, `LOOM_MAX_PREEMPTIONS`, 2 unless set) by loom over every interleaving of the
/// threads' atomic operations and every value loom's memory model lets a load read. Run with
/// `cargo test --features loom --lib --release loom_`. Under the feature a shard has four slots
/// to start with, and each test's threads insert enough fingerprints into one shard (all have
/// the top bit clear) to grow its table from 4 slots to 8 in every execution, and on to 16 in
/// most: the second growth is left for a later insert when the count that crosses the
/// threshold is of an insert into the table already replaced (`grow` of a table that is no
/// longer current does nothing; the next count, or a full table, grows it). What this does
/// not check: the epoch reclamation (replaced tables are kept until the set is dropped, see
/// sync.rs) and the memory mappings.
#[cfg(all(test, feature = "loom"))]
mod loom_test {
    use super::*;
    use loom::sync::Arc;
    use std::collections::HashSet;

    /// Each thread inserts its list of fingerprints concurrently with the others; then each
    /// fingerprint must have been new to exactly one thread, the count must be exact, every
    /// fingerprint must still be there, and the shard must have grown twice.
    fn check(lists: &'static [&'static [u64]]) {
        // Across loom's executions (std's atomics, outside the model): how many there were,
        // and in how many the shard grew twice.
        let executions = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let grew_twice = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (all, twice) = (executions.clone(), grew_twice.clone());
        let mut builder = loom::model::Builder::new();
        if builder.preemption_bound.is_none() {
            builder.preemption_bound = Some(2);
        }
        // A thread that meets a frozen slot spins (yielding) until the next table is
        // published; loom's default of 1,000 branches per execution is too few for that.
        builder.max_branches = 20_000;
        builder.check(move || {
            let set = Arc::new(VisitedSet::default());
            let threads: Vec<_> = lists
                .iter()
                .map(|list| {
                    let set = Arc::clone(&set);
                    loom::thread::spawn(move || {
                        let mut inserter = set.inserter();
                        let guard = inserter.pin();
                        let fresh: Vec<u64> = list
                            .iter()
                            .copied()
                            .filter(|&fp| inserter.insert(Fingerprint::new(fp).unwrap(), &guard))
                            .collect();
                        drop(guard);
                        drop(inserter);
                        fresh
                    })
                })
                .collect();
            let mut fresh = HashSet::new();
            for thread in threads {
                for fp in thread.join().unwrap() {
                    assert!(fresh.insert(fp), "fingerprint {fp} was new to two threads");
                }
            }
            let distinct: HashSet<u64> = lists.iter().flat_map(|l| l.iter().copied()).collect();
            assert_eq!(fresh, distinct, "a fingerprint was new to no thread");
            assert_eq!(set.len(), distinct.len(), "the unique count");
            let mut inserter = set.inserter();
            let guard = inserter.pin();
            for &fp in &distinct {
                let fp = Fingerprint::new(fp).unwrap();
                assert!(!inserter.insert(fp, &guard), "fingerprint {fp} was lost");
            }
            // SAFETY: loaded under `guard`.
            let table = unsafe { set.shards[0].table.load(Ordering::Acquire, &guard).deref() };
            assert!(table.len >= 2 * INITIAL_SLOTS, "the shard grew");
            all.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if table.len == 4 * INITIAL_SLOTS {
                twice.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        });
        let executions = executions.load(std::sync::atomic::Ordering::Relaxed);
        let grew_twice = grew_twice.load(std::sync::atomic::Ordering::Relaxed);
        println!("{executions} executions, {grew_twice} of them grew the shard twice");
        assert!(grew_twice > 0, "no execution grew the shard twice");
    }

    /// Two threads, six fingerprints, two of them inserted by both.
    #[test]
    fn loom_two_threads_insert_through_two_growths() {
        check(&[&[1, 2, 3, 4], &[6, 5, 4, 3]]);
    }

    /// Three threads, five fingerprints, one of them inserted by two threads. (With three
    /// inserters a four-slot table grows at its first count, an eight-slot one at its fourth.)
    /// Run with one preemption in CI: with two it takes minutes.
    #[test]
    fn loom_three_threads_insert_through_two_growths() {
        check(&[&[1, 2], &[3, 4], &[5, 1]]);
    }
}
