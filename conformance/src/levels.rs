//! The level-by-level search behind `check --strategy bfs` (the default): breadth-first, one
//! level (states at the same number of steps from a root) at a time, on several threads, with
//! only fingerprints and first-reached links kept for the states of past levels.
//!
//! What is kept:
//!
//! - **Visited fingerprints**: every state reached so far, as its 64-bit fingerprint (of its
//!   representative under `--symmetry`), in [`SHARDS`] open-addressing tables
//!   ([`Fingerprints`]) chosen by the fingerprint's top byte. While a level is expanded they
//!   are only read, so no lock guards them; the next level's fingerprints are added after it
//!   is complete, each thread adding to its own half of the tables.
//! - **Links**: for each level, each state's first-reached link, in rank order (the order of
//!   the level, below): the rank of its parent in the level before and the index of the action
//!   (in `Model::actions` order) that reached it, packed in a `u64`. A counterexample is
//!   rebuilt by following the links from the state back to a root and executing those actions
//!   again from it.
//! - **Whole states**: only those of the level being expanded and of the next level, in
//!   chunks of at most 128; a thread takes [`UNIT`] chunks of the current level at a time, and
//!   the vector of a chunk it has expanded holds the next new states it reaches. (They
//!   are kept as they are, not encoded: a compact serde encoding, postcard, took the peak to
//!   46 bytes per state at the default bounds but cost 1.5x the CPU time; docs/performance.md.)
//!
//! **The order of a level** is canonical: level 0 is the roots in their order; a state of level
//! L+1 is ranked by its link, (parent's rank, action index), keeping for each state the
//! smallest such link among all that reach it. That is the order a single-threaded
//! breadth-first search visits states in (each state's parents in order, each parent's actions
//! in order, a state kept where it is first reached), and it does not depend on the number of
//! threads or how they interleave: each thread expands consecutive states of a block in order,
//! and a fingerprint reached by two threads in the same level keeps the smaller link (a
//! table of this level's fingerprints, each with its link, [`KeyTable`], behind one lock per
//! shard); the entry with the larger link is dropped from the next level before it is ranked.
//! So the counterexample found for a property is the first violating state in that order at
//! the fewest steps: the same trace on every run, with any number of threads.
//!
//! Properties are evaluated at each state of a level before it is expanded: an `always` or
//! `sometimes` property decided at an earlier level is not evaluated again; within the level
//! the smallest rank that decides it is kept. Once every property is decided, the search ends
//! after that level (the run is complete: no verdict can change).

use crate::explored::{kind, Coverage};
use crate::visited::Fingerprints;
use stateright::{Expectation, Model};
use std::hash::{BuildHasher, Hash};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use warmcheck_model::{Action, State, Warmup};

/// Shards of the visited set and of a level's table, chosen by a fingerprint's top byte.
pub const SHARDS: usize = 256;
/// Chunks of a level a thread takes at a time: its new states go to chunks of its own in
/// order, so that at most one chunk in `UNIT` is part full.
const UNIT: usize = 16;
/// Bits of a link that hold the action index; the parent's rank is above them.
const ACTION_BITS: u32 = 16;

/// The fingerprint of a state: ahash with fixed seeds over the state's `Hash` (the packed
/// encoding of model/src/fingerprint.rs), as stateright's checkers fingerprint states.
pub fn fingerprint(s: &State) -> u64 {
    let hasher =
        ahash::RandomState::with_seeds(123_456_789_987_654_321, 98_765_432_123_456_789, 0, 0);
    let mut h = hasher.build_hasher();
    s.hash(&mut h);
    std::hash::Hasher::finish(&h)
}

fn shard_of(fp: u64) -> usize {
    (fp >> 56) as usize
}

/// Counters the search updates as it goes, for the progress line and for stopping it.
#[derive(Default)]
pub struct Live {
    /// States generated (transitions, plus the roots).
    pub states: AtomicU64,
    /// Distinct states reached.
    pub unique: AtomicU64,
    /// Levels started (the current level's number plus one).
    pub depth: AtomicUsize,
    /// Set from outside (Ctrl-C, `--timeout`): the threads stop at the next state.
    pub stop: AtomicBool,
    /// Bit i: property i (in `Model::properties` order) has been decided somewhere.
    pub found: AtomicU64,
}

/// What the search is asked.
pub struct Search<'a> {
    pub model: &'a Warmup,
    pub threads: usize,
    /// Deduplicate by this state's fingerprint instead (`--symmetry`).
    pub representative: Option<fn(&State) -> State>,
    /// Check and expand the states at most this many steps from a root; the level after is
    /// generated (and counted) but not checked, as stateright's breadth-first checker did.
    pub max_depth: Option<usize>,
    /// Stop after the first level where an `always` property is violated.
    pub fail_fast: bool,
}

/// What the search found.
pub struct Outcome {
    /// States generated: the roots plus every transition taken.
    pub states: u64,
    /// Distinct states reached (those of the level after `max_depth` included).
    pub unique: u64,
    /// Levels whose every state was checked (the deepest checked level's number plus one).
    pub levels: usize,
    /// `max_depth` left a non-empty level unchecked.
    pub beyond_max_depth: bool,
    /// [`Live::stop`] was set before the search ended.
    pub interrupted: bool,
    /// Stopped by `fail_fast`.
    pub failed_fast: bool,
    /// Per property (in `Model::properties` order): the state that decides it, as the index of
    /// its root and the actions from that root.
    pub found: Vec<Option<(usize, Vec<Action>)>>,
    pub coverage: Coverage,
    /// Bytes the links and the visited set hold at the end (the tables' capacity).
    pub kept_bytes: u64,
}

/// A level's table: each fingerprint reached in it, with the smallest link that reached it.
#[derive(Default)]
struct KeyTable {
    /// (fingerprint, link); a power of two long, fingerprint 0 is an empty slot.
    slots: Vec<(u64, u64)>,
    len: usize,
    /// The link of the fingerprint 0, if it was reached.
    zero: Option<u64>,
}

/// The result of offering a (fingerprint, link) to a level's table.
#[derive(Debug, PartialEq, Eq)]
enum Offer {
    /// First reached in this level.
    New,
    /// Reached before in this level by a larger link, which this one replaces.
    Replaces(u64),
    /// Reached before in this level by a smaller link.
    Loses,
}

impl KeyTable {
    fn offer(&mut self, fp: u64, link: u64) -> Offer {
        if fp == 0 {
            return match self.zero {
                None => {
                    self.zero = Some(link);
                    Offer::New
                }
                Some(old) if link < old => {
                    self.zero = Some(link);
                    Offer::Replaces(old)
                }
                Some(_) => Offer::Loses,
            };
        }
        if (self.len + 1) * 4 > self.slots.len() * 3 {
            self.grow();
        }
        let mask = self.slots.len() - 1;
        let mut i = fp as usize & mask;
        loop {
            let (f, l) = self.slots[i];
            if f == 0 {
                self.slots[i] = (fp, link);
                self.len += 1;
                return Offer::New;
            }
            if f == fp {
                if link < l {
                    self.slots[i].1 = link;
                    return Offer::Replaces(l);
                }
                return Offer::Loses;
            }
            i = (i + 1) & mask;
        }
    }

    fn grow(&mut self) {
        let size = (self.slots.len() * 2).max(64);
        let old = std::mem::replace(&mut self.slots, vec![(0, 0); size]);
        let mask = size - 1;
        for (fp, link) in old.into_iter().filter(|(fp, _)| *fp != 0) {
            let mut i = fp as usize & mask;
            while self.slots[i].0 != 0 {
                i = (i + 1) & mask;
            }
            self.slots[i] = (fp, link);
        }
    }

    /// Empty, keeping the slots.
    fn clear(&mut self) {
        self.slots.fill((0, 0));
        self.len = 0;
        self.zero = None;
    }

    fn fingerprints(&self) -> impl Iterator<Item = u64> + '_ {
        self.slots
            .iter()
            .map(|(fp, _)| *fp)
            .filter(|fp| *fp != 0)
            .chain(self.zero.map(|_| 0))
    }
}

/// States of a level, in a vector made with room for [`Chunk::STATES`] and never grown (so
/// that no vector is twice the size of what it holds).
#[derive(Default)]
struct Chunk {
    states: Vec<State>,
}

impl Chunk {
    /// States per chunk: the unit of work a thread takes.
    const STATES: usize = 128;

    fn new() -> Chunk {
        Chunk {
            states: Vec::with_capacity(Chunk::STATES),
        }
    }

    fn len(&self) -> usize {
        self.states.len()
    }

    fn full(&self) -> bool {
        self.states.len() >= Chunk::STATES
    }
}

/// One thread's part of the expansion of a level.
#[derive(Default)]
struct Expanded {
    /// (unit index, the states its chunks generated first in this thread, in chunks, their
    /// links).
    blocks: Vec<(usize, Vec<Chunk>, Vec<u64>)>,
    /// Links replaced by smaller ones: their entries are not part of the next level.
    replaced: Vec<u64>,
    coverage: Coverage,
}

/// Run the search from `roots` (deduplicated by fingerprint; a root's index in the answer is
/// its index in `roots`).
// Long: the level loop and its thread scope, shared by every phase of a level.
#[allow(clippy::too_many_lines)]
pub fn run(search: &Search, roots: &[State], live: &Live) -> Outcome {
    let model = search.model;
    let props = model.properties();
    let threads = search.threads.max(1);
    let fp_of = |s: &State| match search.representative {
        Some(r) => fingerprint(&r(s)),
        None => fingerprint(s),
    };
    let mut visited: Vec<Fingerprints> = (0..SHARDS).map(|_| Fingerprints::small()).collect();
    let mut links: Vec<Vec<u64>> = Vec::new();
    let mut level: Vec<Chunk> = Vec::new();
    {
        let mut first = Chunk::default();
        let mut first_links = Vec::new();
        for (i, s) in roots.iter().enumerate() {
            if visited[shard_of(fp_of(s))].insert(fp_of(s)) {
                first.states.push(s.clone());
                first_links.push(i as u64);
            }
        }
        live.states.store(roots.len() as u64, Ordering::Relaxed);
        live.unique.store(first.len() as u64, Ordering::Relaxed);
        links.push(first_links);
        level.push(first);
    }
    // Per property: the level and rank of the state that decides it.
    let mut decided: Vec<Option<(usize, u64)>> = vec![None; props.len()];
    let mut coverage = Coverage::default();
    let mut out = Outcome {
        states: 0,
        unique: 0,
        levels: 0,
        beyond_max_depth: false,
        interrupted: false,
        failed_fast: false,
        found: Vec::new(),
        coverage: Coverage::default(),
        kept_bytes: 0,
    };
    let mut depth = 0;
    // The next level's table, emptied after each level (its slots kept for the next).
    let mut table: Vec<Mutex<KeyTable>> = (0..SHARDS).map(|_| Mutex::default()).collect();
    while level.iter().any(|b| b.len() > 0) {
        if search.max_depth.is_some_and(|m| depth > m) {
            out.beyond_max_depth = true;
            break;
        }
        live.depth.store(depth + 1, Ordering::Relaxed);
        // This level's best rank per undecided property; u64::MAX while none.
        let best: Vec<AtomicU64> = props.iter().map(|_| AtomicU64::new(u64::MAX)).collect();
        let open: Vec<bool> = decided.iter().map(Option::is_none).collect();
        let bases: Vec<u64> = level
            .iter()
            .scan(0u64, |acc, b| {
                let base = *acc;
                *acc += b.len() as u64;
                Some(base)
            })
            .collect();
        let inputs: Vec<Mutex<Chunk>> = std::mem::take(&mut level)
            .into_iter()
            .map(Mutex::new)
            .collect();
        let next_unit = AtomicUsize::new(0);
        let units = inputs.len().div_ceil(UNIT);
        let no_expansion = AtomicBool::new(false);
        let parts: Vec<Expanded> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..threads)
                .map(|_| {
                    scope.spawn(|| {
                        let mut part = Expanded::default();
                        let mut actions = Vec::new();
                        // Vectors of expanded chunks, emptied, for the next chunks to fill.
                        let mut pool: Vec<Vec<State>> = Vec::new();
                        loop {
                            let u = next_unit.fetch_add(1, Ordering::Relaxed);
                            if u >= units || live.stop.load(Ordering::Relaxed) {
                                return part;
                            }
                            let mut next: Vec<Chunk> = Vec::new();
                            let mut next_links = Vec::new();
                            let (mut generated, mut new) = (0u64, 0u64);
                            for b in u * UNIT..inputs.len().min((u + 1) * UNIT) {
                                let states = std::mem::take(&mut *inputs[b].lock().unwrap());
                                for (i, state) in states.states.iter().enumerate() {
                                    if live.stop.load(Ordering::Relaxed) {
                                        break;
                                    }
                                    let rank = bases[b] + i as u64;
                                    for (p, prop) in props.iter().enumerate() {
                                        if !open[p] || best[p].load(Ordering::Relaxed) < rank {
                                            continue;
                                        }
                                        let holds = (prop.condition)(model, state);
                                        let hit = match prop.expectation {
                                            Expectation::Sometimes => holds,
                                            _ => !holds,
                                        };
                                        if hit {
                                            best[p].fetch_min(rank, Ordering::Relaxed);
                                            live.found.fetch_or(
                                                1u64.checked_shl(p as u32).unwrap_or(0),
                                                Ordering::Relaxed,
                                            );
                                            if search.fail_fast
                                                && prop.expectation == Expectation::Always
                                            {
                                                no_expansion.store(true, Ordering::Relaxed);
                                            }
                                        }
                                    }
                                    if no_expansion.load(Ordering::Relaxed) {
                                        continue;
                                    }
                                    actions.clear();
                                    model.actions(state, &mut actions);
                                    assert!(
                                        actions.len() < 1 << ACTION_BITS,
                                        "a state with {} actions: at most {} fit a link",
                                        actions.len(),
                                        1u64 << ACTION_BITS
                                    );
                                    for (a, action) in actions.drain(..).enumerate() {
                                        let k = kind(&action);
                                        let Some(n) = model.next_state(state, action) else {
                                            continue;
                                        };
                                        if !model.within_boundary(&n) {
                                            continue;
                                        }
                                        part.coverage.0[k] += 1;
                                        generated += 1;
                                        let fp = fp_of(&n);
                                        let shard = shard_of(fp);
                                        if visited[shard].contains(fp) {
                                            continue;
                                        }
                                        let link = rank << ACTION_BITS | a as u64;
                                        match table[shard].lock().unwrap().offer(fp, link) {
                                            Offer::New => new += 1,
                                            Offer::Replaces(old) => part.replaced.push(old),
                                            Offer::Loses => continue,
                                        }
                                        // Chunks of a fixed capacity: no vector doubles past
                                        // what it holds.
                                        match next.last_mut() {
                                            Some(chunk) if !chunk.full() => chunk.states.push(n),
                                            _ => {
                                                let mut chunk = match pool.pop() {
                                                    Some(states) => Chunk { states },
                                                    None => Chunk::new(),
                                                };
                                                chunk.states.push(n);
                                                next.push(chunk);
                                            }
                                        }
                                        next_links.push(link);
                                    }
                                }
                                let mut emptied = states.states;
                                if emptied.capacity() == Chunk::STATES {
                                    emptied.clear();
                                    pool.push(emptied);
                                }
                            }
                            live.states.fetch_add(generated, Ordering::Relaxed);
                            live.unique.fetch_add(new, Ordering::Relaxed);
                            part.blocks.push((u, next, next_links));
                        }
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("a search thread panicked"))
                .collect()
        });
        let stopped = live.stop.load(Ordering::Relaxed);
        // Decisions of this level (final unless the level was cut short).
        for (p, b) in best.iter().enumerate() {
            let rank = b.load(Ordering::Relaxed);
            if open[p] && rank != u64::MAX {
                decided[p] = Some((depth, rank));
            }
        }
        if stopped {
            out.interrupted = true;
            out.levels = depth + 1;
            break;
        }
        out.levels = depth + 1;
        if no_expansion.load(Ordering::Relaxed) {
            out.failed_fast = true;
            break;
        }
        // Every property decided: nothing further can change a verdict (as stateright's
        // checkers stop). The level was expanded whole, so the counts do not depend on threads.
        if decided.iter().all(Option::is_some) {
            for part in parts {
                coverage.add(&part.coverage);
            }
            break;
        }
        // The next level, in rank order, without the entries whose link was replaced.
        let mut replaced: Vec<u64> = Vec::new();
        let mut blocks: Vec<(usize, Vec<Chunk>, Vec<u64>)> = Vec::new();
        for part in parts {
            coverage.add(&part.coverage);
            replaced.extend(part.replaced);
            blocks.extend(part.blocks);
        }
        replaced.sort_unstable();
        blocks.sort_unstable_by_key(|(b, _, _)| *b);
        let mut next_links = Vec::new();
        let mut next_level = Vec::new();
        for (_, mut chunks, mut block_links) in blocks {
            if block_links.is_empty() {
                continue;
            }
            let from = replaced.partition_point(|l| *l < block_links[0]);
            let to = replaced.partition_point(|l| l <= block_links.last().unwrap());
            if from < to {
                let dead = &replaced[from..to];
                let mut keep = block_links.iter().map(|l| dead.binary_search(l).is_err());
                for chunk in &mut chunks {
                    chunk.states.retain(|_| keep.next().unwrap());
                }
                block_links.retain(|l| dead.binary_search(l).is_err());
            }
            next_links.extend_from_slice(&block_links);
            next_level.extend(chunks.into_iter().filter(|c| c.len() > 0));
        }
        // The next level's fingerprints join the visited set: each thread adds to its half.
        let per = SHARDS.div_ceil(threads);
        std::thread::scope(|scope| {
            for (v, t) in visited.chunks_mut(per).zip(table.chunks_mut(per)) {
                scope.spawn(move || {
                    for (set, table) in v.iter_mut().zip(t) {
                        let table = table.get_mut().unwrap();
                        set.reserve(table.len + usize::from(table.zero.is_some()));
                        for fp in table.fingerprints() {
                            set.insert(fp);
                        }
                        table.clear();
                    }
                });
            }
        });
        next_links.shrink_to_fit();
        links.push(next_links);
        level = next_level;
        depth += 1;
    }
    out.coverage = coverage;
    out.states = live.states.load(Ordering::Relaxed);
    out.unique = live.unique.load(Ordering::Relaxed);
    out.kept_bytes = visited.iter().map(Fingerprints::bytes).sum::<usize>() as u64
        + links.iter().map(|l| l.capacity() as u64 * 8).sum::<u64>();
    out.found = decided
        .iter()
        .map(|d| d.map(|(depth, rank)| rebuild(model, roots, &links, depth, rank)))
        .collect();
    out
}

/// The root index and the actions that reach the state of rank `rank` in level `depth`.
fn rebuild(
    model: &Warmup,
    roots: &[State],
    links: &[Vec<u64>],
    depth: usize,
    rank: u64,
) -> (usize, Vec<Action>) {
    let mut indices = Vec::with_capacity(depth);
    let mut rank = rank;
    for d in (1..=depth).rev() {
        let link = links[d][rank as usize];
        indices.push((link & ((1 << ACTION_BITS) - 1)) as usize);
        rank = link >> ACTION_BITS;
    }
    let root = links[0][rank as usize] as usize;
    let mut state = roots[root].clone();
    let mut path = Vec::with_capacity(depth);
    let mut actions = Vec::new();
    for a in indices.into_iter().rev() {
        actions.clear();
        model.actions(&state, &mut actions);
        let action = actions.swap_remove(a);
        state = model
            .next_state(&state, action.clone())
            .expect("a link's action is enabled where it was taken");
        path.push(action);
    }
    (root, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_level_table_keeps_the_smallest_link() {
        let mut t = KeyTable::default();
        assert_eq!(t.offer(7, 50), Offer::New);
        assert_eq!(t.offer(7, 60), Offer::Loses);
        assert_eq!(t.offer(7, 40), Offer::Replaces(50));
        assert_eq!(t.offer(0, 9), Offer::New);
        assert_eq!(t.offer(0, 3), Offer::Replaces(9));
        for fp in 1..10_000u64 {
            let fp = fp.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
            t.offer(fp, fp);
        }
        assert_eq!(t.offer(7, 41), Offer::Loses);
        let mut fps: Vec<u64> = t.fingerprints().collect();
        fps.sort_unstable();
        fps.dedup();
        assert_eq!(fps.len(), t.len + 1);
    }
}
