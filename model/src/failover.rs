//! The failover table as kv_engine 6.5 keeps it (`failover-table.cc`), and the producer's
//! rollback decision (`FailoverTable::needsRollback`), in the model's small integer types.
//!
//! Entries are kept newest first, as kv_engine writes them to `_local/vbstate`.

use serde::{Deserialize, Serialize};
use smallvec::SmallVec;
use std::fmt;

/// A sequence number. The model's bounds keep them small.
pub type Seqno = u8;
/// A vbucket uuid. The model hands them out from a counter starting at 1, so they are unique
/// and never zero.
pub type Uuid = u8;

/// kv_engine caps the table at 25 entries (`max_failover_entries`).
pub const MAX_ENTRIES: usize = 25;

/// One branch of history: "from `seqno` on, the history is the one named `uuid`".
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Entry {
    pub uuid: Uuid,
    pub seqno: Seqno,
}

impl fmt::Debug for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "(U{},{})", self.uuid, self.seqno)
    }
}

/// A failover table's entries, newest first: up to 8 kept inline (a table gains an entry per
/// unclean restart, so at the usual bounds it never spills to the heap).
pub type Entries = SmallVec<[Entry; 8]>;

/// A failover table, newest entry first.
#[derive(PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Table(pub Entries);

/// A copy of the slice (a `memcpy` when inline), where `SmallVec`'s own `clone` pushes one
/// element at a time.
impl Clone for Table {
    fn clone(&self) -> Self {
        Table(SmallVec::from_slice(&self.0))
    }
}

impl fmt::Debug for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{e:?}")?;
        }
        f.write_str("]")
    }
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

impl Table {
    /// A new vbucket's table: one entry `(uuid, 0)`.
    pub fn new(uuid: Uuid) -> Self {
        let mut entries = Entries::new();
        entries.push(Entry { uuid, seqno: 0 });
        Table(entries)
    }

    pub fn newest(&self) -> Entry {
        *self.0.first().expect("a failover table is never empty")
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn contains_uuid(&self, uuid: Uuid) -> bool {
        self.0.iter().any(|e| e.uuid == uuid)
    }

    /// `createEntry(high)`: drop every entry above `high`, push `(uuid, high)` at the front, drop
    /// the oldest beyond the cap.
    pub fn create_entry(&mut self, uuid: Uuid, high: Seqno) {
        assert!(uuid != 0, "kv_engine never hands out uuid 0");
        assert!(!self.contains_uuid(uuid), "uuids are unique within a table");
        self.prune_entries(high);
        self.0.insert(0, Entry { uuid, seqno: high });
        self.0.truncate(MAX_ENTRIES);
    }

    /// `createEntry(high)` before MB-20822's fix: the erase loop advanced its iterator after
    /// each erase as well, so the entry right after an erased one was never examined.
    pub fn create_entry_skipping_every_second_stale(&mut self, uuid: Uuid, high: Seqno) {
        assert!(uuid != 0, "kv_engine never hands out uuid 0");
        assert!(!self.contains_uuid(uuid), "uuids are unique within a table");
        let mut i = 0;
        while i < self.0.len() {
            if self.0[i].seqno > high {
                self.0.remove(i);
            }
            // The loop's `++it`, after `it = erase(it)` too.
            i += 1;
        }
        self.0.insert(0, Entry { uuid, seqno: high });
        self.0.truncate(MAX_ENTRIES);
    }

    /// `createEntry(high)` as the design has it, wherever it is called from (warmup, a
    /// promotion, an add-back): with the next uuid of `next_uuid`, which it advances. Before
    /// MB-11085's fix it added nothing when the newest entry's seqno already was `high`;
    /// before MB-20822's it left every second stale entry. Whether it added an entry.
    pub fn create_entry_in(
        &mut self,
        reverted: crate::Reverted,
        next_uuid: &mut Uuid,
        high: Seqno,
    ) -> bool {
        if reverted.mb11085 && self.newest().seqno == high {
            return false;
        }
        if reverted.mb20822 {
            self.create_entry_skipping_every_second_stale(*next_uuid, high);
        } else {
            self.create_entry(*next_uuid, high);
        }
        *next_uuid += 1;
        true
    }

    /// `pruneEntries(seq)`: drop every entry whose seqno is above `seq` (replica rollback).
    pub fn prune_entries(&mut self, seq: Seqno) {
        self.0.retain(|e| e.seqno <= seq);
    }

    /// Drop the newest entry: what a replica does when told to roll back to 0 while it still has
    /// an older uuid to try.
    pub fn drop_newest(&mut self) {
        assert!(
            self.0.len() > 1,
            "only a table with an older entry drops its newest"
        );
        self.0.remove(0);
    }

    /// Whether the table is well formed: non-empty, at most 25 entries, seqnos non-increasing
    /// from newest to oldest, uuids non-zero and unique.
    pub fn is_well_formed(&self) -> bool {
        if self.0.is_empty() || self.0.len() > MAX_ENTRIES {
            return false;
        }
        let e = &self.0[..];
        let seqnos_non_increasing = e.windows(2).all(|w| w[0].seqno >= w[1].seqno);
        let uuids_nonzero = e.iter().all(|e| e.uuid != 0);
        let uuids_unique = (1..e.len()).all(|i| e[i..].iter().all(|o| o.uuid != e[i - 1].uuid));
        seqnos_non_increasing && uuids_nonzero && uuids_unique
    }

    /// The producer's decision for a consumer's stream request (section 2 of the domain brief,
    /// `FailoverTable::needsRollback` in kv_engine 6.5). `None`: no rollback. `Some(rb)`: the
    /// consumer must roll back to `rb`.
    pub fn needs_rollback(&self, req: StreamRequest, cur: Seqno, purge: Seqno) -> Option<Seqno> {
        let StreamRequest {
            start,
            uuid,
            mut snap_start,
            mut snap_end,
            strict,
        } = req;
        // 1. A consumer starting from nothing never rolls back (unless strict and it names a uuid).
        if start == 0 && (!strict || uuid == 0) {
            return None;
        }
        // 2. Normalise a snapshot the consumer has fully received (or not started).
        if start == snap_end {
            snap_start = start;
        } else if start == snap_start {
            snap_end = start;
        }
        // 3. The producer has purged tombstones the consumer has not seen.
        if start < purge && start != 0 {
            return Some(0);
        }
        // 4. Find the consumer's uuid, walking from the oldest entry.
        let n = self.0.len();
        let Some(idx_from_oldest) = self.0.iter().rev().position(|e| e.uuid == uuid) else {
            return Some(0); // no common history
        };
        let idx = n - 1 - idx_from_oldest; // index in newest-first order
        let upper = if idx == 0 { cur } else { self.0[idx - 1].seqno };
        // 5. The consumer's snapshot must end inside the branch it names.
        if snap_end <= upper {
            None
        } else if upper < snap_start {
            Some(upper)
        } else {
            Some(snap_start)
        }
    }
}

/// What a consumer sends in a DCP stream request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamRequest {
    pub start: Seqno,
    pub uuid: Uuid,
    pub snap_start: Seqno,
    pub snap_end: Seqno,
    pub strict: bool,
}
