//! The failover table as kv_engine 6.5 keeps it (`engines/ep/src/failover-table.cc`): entries
//! `(vb_uuid, seqno)`, newest first, at most 25, and the producer's rollback decision
//! (`FailoverTable::needsRollback`, section 2 of the domain brief).
//!
//! Each entry names a branch of history: "from `seq` on, the history is the one named `id`".
//! The table is written to `_local/vbstate` and printed in kv_engine's JSON form
//! `[{"id":U,"seq":S},...]`, newest first.
//!
//! uuids come from a [`UuidGen`] (kv_engine's `cb::RandomGenerator`): random and non-zero in
//! production, a counter in tests and conformance so runs are reproducible.
//!
//! Two versions on purpose: the model keeps its own failover table and `needsRollback`
//! (`model/src/failover.rs`), written independently from kv_engine's source. The architecture
//! forbids either crate depending on the other (the model does no I/O and knows nothing of the
//! implementation; the implementation knows nothing of the model), and two independent readings
//! of kv_engine that agree are worth more than one: conformance replays every model transition
//! here and checks that both sides decide the same rollbacks.

use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use std::fmt;

/// kv_engine's `max_failover_entries` default.
pub const MAX_ENTRIES: usize = 25;

/// One branch of history. Serialises as kv_engine writes it: `{"id":U,"seq":S}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Entry {
    /// The branch's vb_uuid. Never 0 in a sanitized table.
    pub id: u64,
    /// The seqno the branch starts at.
    pub seq: u64,
}

/// Where new vb_uuids come from. kv_engine draws them from a random generator (`>> 16`, so 48
/// bits) and redraws 0; tests and conformance use [`CounterUuids`].
pub trait UuidGen: Send {
    /// The next candidate uuid. May return 0 or a uuid already in a table: callers redraw.
    fn next_uuid(&mut self) -> u64;

    /// An independent copy in the same state, for `Cluster::save_image` (a testing seam).
    fn fork(&self) -> Box<dyn UuidGen>;
}

/// Random uuids, as kv_engine hands them out (48 bits, never 0 after the caller's redraw).
pub struct RandomUuids(rand::rngs::StdRng);

impl RandomUuids {
    pub fn new() -> Self {
        RandomUuids(rand::rngs::StdRng::from_os_rng())
    }

    /// A seeded generator, for reproducible random runs.
    pub fn seeded(seed: u64) -> Self {
        RandomUuids(rand::rngs::StdRng::seed_from_u64(seed))
    }
}

impl Default for RandomUuids {
    fn default() -> Self {
        Self::new()
    }
}

impl UuidGen for RandomUuids {
    fn next_uuid(&mut self) -> u64 {
        self.0.random::<u64>() >> 16
    }

    fn fork(&self) -> Box<dyn UuidGen> {
        Box::new(RandomUuids(self.0.clone()))
    }
}

/// uuids 1, 2, 3, ... in the order they are asked for: the model's convention
/// (`docs/vocabulary.md`: bucket creation gives vb `i` uuid `i+1`, later entries take the next
/// values, vbs in order).
#[derive(Clone, Debug)]
pub struct CounterUuids {
    next: u64,
}

impl CounterUuids {
    /// Starts at 1.
    pub fn new() -> Self {
        CounterUuids { next: 1 }
    }

    /// Starts at `next` (e.g. to resume a counter across a reopen).
    pub fn starting_at(next: u64) -> Self {
        assert!(next != 0, "uuid 0 is never handed out");
        CounterUuids { next }
    }

    /// The uuid the next call will return.
    pub fn peek(&self) -> u64 {
        self.next
    }
}

impl Default for CounterUuids {
    fn default() -> Self {
        Self::new()
    }
}

impl UuidGen for CounterUuids {
    fn next_uuid(&mut self) -> u64 {
        let u = self.next;
        self.next += 1;
        u
    }

    fn fork(&self) -> Box<dyn UuidGen> {
        Box::new(self.clone())
    }
}

/// What a DCP consumer sends in a stream request, plus the producer-side `strict` flag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamRequest {
    /// The consumer's high seqno (`start_seqno`).
    pub start: u64,
    /// The uuid of the consumer's newest failover entry.
    pub uuid: u64,
    pub snap_start: u64,
    pub snap_end: u64,
    /// `strictVbUuidMatch`: roll back even a consumer starting at 0 that names a uuid.
    pub strict: bool,
}

/// Why the producer asks for a rollback (kv_engine's reason strings, without the numbers).
pub mod reason {
    pub const PURGED: &str =
        "purge seqno is greater than start seqno - could miss purged deletions";
    pub const NO_COMMON_HISTORY: &str =
        "vBucket UUID not found in failover table, consumer and producer have no common history";
    pub const CONSUMER_AHEAD: &str =
        "consumer ahead of producer - producer upper is below the consumer's snapshot end";
}

/// Why a table read from JSON was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TableError {
    /// Not JSON, or not an array of `{"id":number,"seq":number}` objects.
    #[error("failover table is not an array of {{\"id\",\"seq\"}} objects: {0}")]
    Malformed(String),
    /// kv_engine requires at least one entry (`loadFromJSON`).
    #[error("failover table is empty")]
    Empty,
}

/// A failover table, newest entry first. Never empty.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct FailoverTable {
    entries: Vec<Entry>,
}

impl fmt::Debug for FailoverTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// `[(U1,0)]`-style, as the model prints tables.
impl fmt::Display for FailoverTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, e) in self.entries.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "(U{},{})", e.id, e.seq)?;
        }
        f.write_str("]")
    }
}

impl FailoverTable {
    /// A new vbucket's table: one entry `(uuid, 0)` (kv_engine's constructor runs
    /// `createEntry(0)`).
    pub fn new(uuid: u64) -> Self {
        assert!(uuid != 0, "uuid 0 is never a valid vb_uuid");
        FailoverTable {
            entries: vec![Entry { id: uuid, seq: 0 }],
        }
    }

    /// A table from entries, newest first, as given (no sanitizing). Panics if empty.
    pub fn from_entries(entries: Vec<Entry>) -> Self {
        assert!(!entries.is_empty(), "a failover table is never empty");
        FailoverTable { entries }
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Always false: a table has at least one entry. (Here for clippy's `len_without_is_empty`.)
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The newest entry (`getLatestEntry`).
    pub fn newest(&self) -> Entry {
        self.entries[0]
    }

    pub fn contains_uuid(&self, uuid: u64) -> bool {
        self.entries.iter().any(|e| e.id == uuid)
    }

    /// `createEntry(high)`: drop every entry above `high` (branches we diverged from), push a
    /// new non-zero uuid at `high` at the front, drop the oldest beyond the cap. Returns the new
    /// uuid. Redraws a uuid that is 0 (as kv_engine does) or already in the table.
    pub fn create_entry(&mut self, high: u64, uuids: &mut dyn UuidGen) -> u64 {
        self.entries.retain(|e| e.seq <= high);
        self.push_newest(high, uuids)
    }

    /// Push a new non-zero uuid, not in the table, at `high` at the front; drop the oldest
    /// beyond the cap. Returns the uuid.
    fn push_newest(&mut self, high: u64, uuids: &mut dyn UuidGen) -> u64 {
        let uuid = draw_uuid(uuids, |u| self.contains_uuid(u));
        self.entries.insert(
            0,
            Entry {
                id: uuid,
                seq: high,
            },
        );
        self.entries.truncate(MAX_ENTRIES);
        uuid
    }

    /// `createEntry(high)` before MB-20822's fix (4eae12aa7): the erase loop advanced its
    /// iterator after each erase as well, so the entry right after an erased one was never
    /// examined and a stale entry above `high` could stay. Returns the new uuid. Only a design
    /// that reverts the fix calls this.
    pub fn create_entry_skipping_every_second_stale(
        &mut self,
        high: u64,
        uuids: &mut dyn UuidGen,
    ) -> u64 {
        let mut i = 0;
        while i < self.entries.len() {
            if self.entries[i].seq > high {
                self.entries.remove(i);
            }
            // The loop's `++it`, after `it = erase(it)` too.
            i += 1;
        }
        self.push_newest(high, uuids)
    }

    /// `pruneEntries(seq)` (replica rollback): drop every entry whose seqno is above `seq`.
    ///
    /// kv_engine 6.5 refuses to prune to 0 and refuses to empty the table; here pruning to 0 is
    /// allowed (the model's replica rollback to 0 with one entry keeps its `(uuid, 0)` entry),
    /// and emptying the table is refused the same way: the table is left unchanged and `false`
    /// is returned.
    pub fn prune_entries(&mut self, seq: u64) -> bool {
        if self.entries.iter().all(|e| e.seq > seq) {
            return false;
        }
        self.entries.retain(|e| e.seq <= seq);
        true
    }

    /// `removeLatestEntry`: what a replica does when told to roll back to 0 while it still has
    /// an older uuid to try. Refuses (returns false) on a one-entry table.
    pub fn drop_newest(&mut self) -> bool {
        if self.entries.len() <= 1 {
            return false;
        }
        self.entries.remove(0);
        true
    }

    /// `replaceFailoverLog`: a consumer adopts its producer's table.
    pub fn replace(&mut self, table: &FailoverTable) {
        self.entries.clone_from(&table.entries);
    }

    /// `sanitizeFailoverTable(highSeqno)`, run on a table read from disk: drop entries with
    /// uuid 0, drop every entry whose seqno is above the seqno of the (kept) entry before it
    /// (entries are pushed at the front, so seqnos never increase towards the back), and if
    /// that leaves nothing, `createEntry(high)`. Returns how many entries were erased.
    ///
    /// kv_engine does *not* drop entries above the vb's high seqno here; `createEntry` does that
    /// at warmup when the shutdown was unclean.
    pub fn sanitize(&mut self, high: u64, uuids: &mut dyn UuidGen) -> usize {
        let before = self.entries.len();
        let mut kept: Vec<Entry> = Vec::with_capacity(before);
        for e in self.entries.drain(..) {
            if e.id == 0 {
                continue;
            }
            if kept.last().is_some_and(|prev| e.seq > prev.seq) {
                continue;
            }
            kept.push(e);
        }
        self.entries = kept;
        let erased = before - self.entries.len();
        if self.entries.is_empty() {
            self.create_entry(high, uuids);
        }
        erased
    }

    /// A table read from disk, sanitized (see [`sanitize`](Self::sanitize)); an empty list of
    /// entries is treated like a table whose entries were all erased. Returns the table and how
    /// many entries were erased.
    pub fn sanitized(entries: Vec<Entry>, high: u64, uuids: &mut dyn UuidGen) -> (Self, usize) {
        let mut table = FailoverTable { entries };
        let erased = table.sanitize(high, uuids);
        (table, erased)
    }

    /// Well formed: non-empty, at most 25 entries, uuids non-zero and unique, seqnos
    /// non-increasing from newest to oldest. (What `sanitize` and `create_entry` guarantee.)
    pub fn is_well_formed(&self) -> bool {
        self.well_formed_error().is_none()
    }

    /// What is wrong with the table, if anything (for assertion messages).
    pub fn well_formed_error(&self) -> Option<String> {
        self.well_formed_error_allowing(false)
    }

    /// [`Self::well_formed_error`], with `unordered` allowing an entry above a newer one (what
    /// `createEntry` left before MB-20822's fix).
    pub fn well_formed_error_allowing(&self, unordered: bool) -> Option<String> {
        if self.entries.is_empty() {
            return Some("empty".into());
        }
        if self.entries.len() > MAX_ENTRIES {
            return Some(format!(
                "{} entries (cap {MAX_ENTRIES})",
                self.entries.len()
            ));
        }
        for (i, e) in self.entries.iter().enumerate() {
            if e.id == 0 {
                return Some(format!("entry {i} has uuid 0"));
            }
            if self.entries[i + 1..].iter().any(|o| o.id == e.id) {
                return Some(format!("uuid {} appears twice", e.id));
            }
            if let Some(older) = self.entries.get(i + 1) {
                if older.seq > e.seq && !unordered {
                    return Some(format!(
                        "entry {} (seq {}) is above the newer entry {i} (seq {})",
                        i + 1,
                        older.seq,
                        e.seq
                    ));
                }
            }
        }
        None
    }

    /// The producer's decision for a consumer's stream request: `None` for no rollback,
    /// `Some((seqno, reason))` for a rollback to `seqno`. `cur` is the producer's high seqno,
    /// `purge` its purge seqno.
    #[allow(clippy::too_many_arguments)] // kv_engine's own signature, argument for argument
    pub fn needs_rollback(
        &self,
        start: u64,
        cur: u64,
        uuid: u64,
        snap_start: u64,
        snap_end: u64,
        purge: u64,
        strict: bool,
    ) -> Option<(u64, &'static str)> {
        let req = StreamRequest {
            start,
            uuid,
            snap_start,
            snap_end,
            strict,
        };
        self.decide(req, cur, purge, false)
    }

    /// [`needs_rollback`](Self::needs_rollback) with a request struct. `bug_lt` is the seeded
    /// bug `needs_rollback_uses_lt` (test-only): step 5 compares `snap_end < upper` where
    /// kv_engine compares `<=`.
    pub fn decide(
        &self,
        req: StreamRequest,
        cur: u64,
        purge: u64,
        bug_lt: bool,
    ) -> Option<(u64, &'static str)> {
        let StreamRequest {
            start,
            uuid,
            mut snap_start,
            mut snap_end,
            strict,
        } = req;
        // 1. A consumer starting from nothing does not roll back (unless strict and it names a
        //    uuid).
        if start == 0 && (!strict || uuid == 0) {
            return None;
        }
        // 2. A consumer that has all of its snapshot, or none of it, is not in the middle of it.
        if start == snap_end {
            snap_start = start;
        } else if start == snap_start {
            snap_end = start;
        }
        // 3. The producer purged tombstones the consumer has not seen.
        if start < purge && start != 0 {
            return Some((0, reason::PURGED));
        }
        // 4. Find the consumer's uuid, walking from the oldest entry. `upper` is where the
        //    matched branch ends on the producer: the next newer entry's seqno, or `cur`.
        let Some(from_oldest) = self.entries.iter().rev().position(|e| e.id == uuid) else {
            return Some((0, reason::NO_COMMON_HISTORY));
        };
        let idx = self.entries.len() - 1 - from_oldest; // newest-first index
        let upper = if idx == 0 {
            cur
        } else {
            self.entries[idx - 1].seq
        };
        // 5. The consumer's snapshot must end inside the branch it names.
        let inside = if bug_lt {
            snap_end < upper
        } else {
            snap_end <= upper
        };
        if inside {
            None
        } else if upper < snap_start {
            Some((upper, reason::CONSUMER_AHEAD))
        } else {
            Some((snap_start, reason::CONSUMER_AHEAD))
        }
    }

    /// kv_engine's JSON form, newest first: `[{"id":U,"seq":S},...]`.
    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.entries).expect("entries serialise")
    }

    /// Parse kv_engine's JSON form. Refuses what `loadFromJSON` refuses (not an array of objects
    /// with numeric `id` and `seq`; empty). Does not sanitize: call [`sanitize`](Self::sanitize).
    pub fn from_json(text: &str) -> Result<Self, TableError> {
        let entries: Vec<Entry> =
            serde_json::from_str(text).map_err(|e| TableError::Malformed(e.to_string()))?;
        if entries.is_empty() {
            return Err(TableError::Empty);
        }
        Ok(FailoverTable { entries })
    }
}

/// Draw a uuid that is non-zero and not `taken`. Panics after a million draws (a generator that
/// only returns taken values is a bug in the caller's generator).
pub fn draw_uuid(uuids: &mut dyn UuidGen, taken: impl Fn(u64) -> bool) -> u64 {
    for _ in 0..1_000_000 {
        let u = uuids.next_uuid();
        if u != 0 && !taken(u) {
            return u;
        }
    }
    panic!("the uuid generator returned only 0 or taken uuids for a million draws")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(entries: &[(u64, u64)]) -> FailoverTable {
        FailoverTable::from_entries(entries.iter().map(|&(id, seq)| Entry { id, seq }).collect())
    }

    fn ids(table: &FailoverTable) -> Vec<(u64, u64)> {
        table.entries().iter().map(|e| (e.id, e.seq)).collect()
    }

    fn req(start: u64, uuid: u64, snap_start: u64, snap_end: u64) -> StreamRequest {
        StreamRequest {
            start,
            uuid,
            snap_start,
            snap_end,
            strict: false,
        }
    }

    /// A generator replaying fixed values, to test redraws.
    struct Fixed(Vec<u64>);
    impl UuidGen for Fixed {
        fn next_uuid(&mut self) -> u64 {
            self.0.remove(0)
        }

        fn fork(&self) -> Box<dyn UuidGen> {
            Box::new(Fixed(self.0.clone()))
        }
    }

    #[test]
    fn new_table_has_one_entry_at_seqno_zero() {
        assert_eq!(ids(&FailoverTable::new(7)), vec![(7, 0)]);
    }

    #[test]
    fn create_entry_pushes_at_the_front_and_drops_entries_above_high() {
        let mut table = t(&[(3, 10), (2, 5), (1, 0)]);
        let mut uuids = CounterUuids::starting_at(9);
        assert_eq!(table.create_entry(6, &mut uuids), 9);
        assert_eq!(ids(&table), vec![(9, 6), (2, 5), (1, 0)]);
    }

    #[test]
    fn create_entry_keeps_an_entry_at_exactly_high() {
        let mut table = t(&[(2, 5), (1, 0)]);
        table.create_entry(5, &mut CounterUuids::starting_at(3));
        assert_eq!(ids(&table), vec![(3, 5), (2, 5), (1, 0)]);
    }

    #[test]
    fn create_entry_caps_the_table_at_25_dropping_the_oldest() {
        let mut table = FailoverTable::new(1);
        let mut uuids = CounterUuids::starting_at(2);
        for high in 1..=30 {
            table.create_entry(high, &mut uuids);
        }
        assert_eq!(table.len(), MAX_ENTRIES);
        assert_eq!(table.newest(), Entry { id: 31, seq: 30 });
        assert_eq!(table.entries().last().unwrap(), &Entry { id: 7, seq: 6 });
        assert!(table.is_well_formed());
    }

    #[test]
    fn create_entry_redraws_zero_and_taken_uuids() {
        let mut table = t(&[(5, 0)]);
        let mut uuids = Fixed(vec![0, 5, 8]);
        assert_eq!(table.create_entry(0, &mut uuids), 8);
        assert_eq!(ids(&table), vec![(8, 0), (5, 0)]);
    }

    #[test]
    fn prune_entries_drops_entries_above_the_rollback_seqno() {
        let mut table = t(&[(3, 4), (2, 2), (1, 0)]);
        assert!(table.prune_entries(2));
        assert_eq!(ids(&table), vec![(2, 2), (1, 0)]);
        assert!(table.prune_entries(0));
        assert_eq!(ids(&table), vec![(1, 0)]);
    }

    #[test]
    fn prune_entries_refuses_to_empty_the_table() {
        let mut table = t(&[(3, 4), (2, 2)]);
        assert!(!table.prune_entries(1));
        assert_eq!(ids(&table), vec![(3, 4), (2, 2)]);
    }

    #[test]
    fn drop_newest_keeps_the_last_entry() {
        let mut table = t(&[(2, 3), (1, 0)]);
        assert!(table.drop_newest());
        assert!(!table.drop_newest());
        assert_eq!(ids(&table), vec![(1, 0)]);
    }

    #[test]
    fn replace_adopts_the_producers_table() {
        let mut table = t(&[(1, 0)]);
        table.replace(&t(&[(3, 2), (1, 0)]));
        assert_eq!(ids(&table), vec![(3, 2), (1, 0)]);
    }

    #[test]
    fn sanitize_drops_zero_uuids_and_out_of_order_entries() {
        let mut table = t(&[(0, 9), (4, 5), (3, 7), (2, 5), (0, 1), (1, 0)]);
        let erased = table.sanitize(9, &mut CounterUuids::starting_at(50));
        assert_eq!(erased, 3);
        assert_eq!(ids(&table), vec![(4, 5), (2, 5), (1, 0)]);
    }

    #[test]
    fn sanitize_keeps_entries_above_the_high_seqno() {
        // kv_engine leaves those to createEntry at an unclean warmup.
        let mut table = t(&[(2, 8), (1, 0)]);
        assert_eq!(table.sanitize(3, &mut CounterUuids::starting_at(50)), 0);
        assert_eq!(ids(&table), vec![(2, 8), (1, 0)]);
    }

    #[test]
    fn sanitize_of_an_all_bad_table_starts_a_new_one_at_high() {
        let mut table = t(&[(0, 3), (0, 0)]);
        table.sanitize(3, &mut CounterUuids::starting_at(50));
        assert_eq!(ids(&table), vec![(50, 3)]);
    }

    #[test]
    fn json_round_trips_in_kv_engine_form() {
        let table = t(&[(3, 2), (1, 0)]);
        let json = table.to_json();
        assert_eq!(json, r#"[{"id":3,"seq":2},{"id":1,"seq":0}]"#);
        assert_eq!(FailoverTable::from_json(&json).unwrap(), table);
    }

    #[test]
    fn from_json_refuses_empty_and_malformed_tables() {
        assert_eq!(FailoverTable::from_json("[]"), Err(TableError::Empty));
        assert!(matches!(
            FailoverTable::from_json(r#"[{"id":1}]"#),
            Err(TableError::Malformed(_))
        ));
        assert!(matches!(
            FailoverTable::from_json("{"),
            Err(TableError::Malformed(_))
        ));
    }

    // needsRollback, rule by rule (section 2 of the domain brief).

    #[test]
    fn rule1_a_consumer_at_zero_never_rolls_back_unless_strict_with_a_uuid() {
        let table = t(&[(2, 5), (1, 0)]);
        assert_eq!(table.needs_rollback(0, 9, 77, 0, 0, 0, false), None);
        assert_eq!(table.needs_rollback(0, 9, 0, 0, 0, 0, true), None);
        // strict and a uuid the producer does not know: no common history.
        assert_eq!(
            table.needs_rollback(0, 9, 77, 0, 0, 0, true),
            Some((0, reason::NO_COMMON_HISTORY))
        );
        assert_eq!(table.needs_rollback(0, 9, 1, 0, 0, 0, true), None);
    }

    #[test]
    fn rule2_a_complete_snapshot_counts_from_its_end() {
        // start == snap_end: snap_start becomes start, so a rollback goes to start, not to the
        // snapshot's beginning.
        let table = t(&[(2, 5), (1, 0)]);
        assert_eq!(
            table.decide(req(8, 1, 6, 8), 10, 0, false),
            Some((5, reason::CONSUMER_AHEAD))
        );
        let table = t(&[(1, 0)]);
        // uuid 1 is newest, upper = cur = 6; snap [6,8] adjusted to [8,8]: rollback to upper 6.
        assert_eq!(
            table.decide(req(8, 1, 6, 8), 6, 0, false),
            Some((6, reason::CONSUMER_AHEAD))
        );
    }

    #[test]
    fn rule2_an_unstarted_snapshot_counts_as_ending_at_start() {
        // start == snap_start: snap_end becomes start; the consumer holds nothing past start.
        let table = t(&[(2, 5), (1, 0)]);
        assert_eq!(table.decide(req(5, 1, 5, 9), 10, 0, false), None);
    }

    #[test]
    fn rule2_a_partial_snapshot_rolls_back_to_its_start() {
        let table = t(&[(2, 5), (1, 0)]);
        // start 7 inside [6,9]: upper 5 < snap_start 6, roll back to 5.
        assert_eq!(
            table.decide(req(7, 1, 6, 9), 10, 0, false),
            Some((5, reason::CONSUMER_AHEAD))
        );
        // start 4 inside [3,9]: upper 5 >= snap_start 3, roll back to 3.
        assert_eq!(
            table.decide(req(4, 1, 3, 9), 10, 0, false),
            Some((3, reason::CONSUMER_AHEAD))
        );
    }

    #[test]
    fn rule3_a_consumer_behind_the_purge_seqno_rolls_back_to_zero() {
        let table = t(&[(1, 0)]);
        assert_eq!(
            table.needs_rollback(3, 9, 1, 3, 3, 4, false),
            Some((0, reason::PURGED))
        );
        assert_eq!(table.needs_rollback(4, 9, 1, 4, 4, 4, false), None);
    }

    #[test]
    fn rule4_an_unknown_uuid_means_no_common_history() {
        let table = t(&[(2, 5), (1, 0)]);
        assert_eq!(
            table.needs_rollback(3, 9, 42, 3, 3, 0, false),
            Some((0, reason::NO_COMMON_HISTORY))
        );
    }

    #[test]
    fn rule4_the_newest_entry_is_bounded_by_the_producers_high_seqno() {
        let table = t(&[(2, 5), (1, 0)]);
        assert_eq!(table.needs_rollback(7, 9, 2, 7, 7, 0, false), None);
        assert_eq!(
            table.needs_rollback(7, 6, 2, 7, 7, 0, false),
            Some((6, reason::CONSUMER_AHEAD))
        );
    }

    #[test]
    fn rule4_walks_from_the_oldest_entry() {
        // A uuid appearing twice (never in a well formed table): the oldest match decides.
        let table = t(&[(1, 8), (2, 5), (1, 0)]);
        assert_eq!(
            table.needs_rollback(7, 9, 1, 7, 7, 0, false),
            Some((5, reason::CONSUMER_AHEAD))
        );
    }

    #[test]
    fn rule5_a_snapshot_ending_exactly_at_upper_needs_no_rollback() {
        let table = t(&[(3, 2), (1, 0)]);
        assert_eq!(table.needs_rollback(2, 2, 1, 2, 2, 0, false), None);
        // The seeded bug compares with `<`, and rolls back.
        assert_eq!(
            table.decide(req(2, 1, 2, 2), 2, 0, true),
            Some((2, reason::CONSUMER_AHEAD))
        );
    }

    #[test]
    fn mb41942_story_table_without_the_lost_entry_accepts_the_diverged_replica() {
        // Section 5, step 7: [(U3,2),(U1,0)], replica at 2 on U1: no rollback.
        let table = t(&[(3, 2), (1, 0)]);
        assert_eq!(table.needs_rollback(2, 2, 1, 2, 2, 0, false), None);
        // With the fix: [(U3,2),(U2,1),(U1,0)]: upper for U1 is 1, roll back to 1.
        let table = t(&[(3, 2), (2, 1), (1, 0)]);
        assert_eq!(
            table.needs_rollback(2, 2, 1, 2, 2, 0, false),
            Some((1, reason::CONSUMER_AHEAD))
        );
    }
}
