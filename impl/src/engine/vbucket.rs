//! The in-memory vbuckets (kv_engine's `VBucket`, `vbucket.cc`): the active's history,
//! failover table and checkpoint queue, and each replica's copy; queueing a mutation or a
//! set_vbucket_state (`VBucket::queueDirty`, `queueSetVBState`) and the hybrid logical clock.

use super::disk::{DiskState, VbDisk};
use super::{Cluster, EngineError, Item, ItemOp, StreamState, NANOS_PER_SEC};
use crate::failover::FailoverTable;

/// An item in a checkpoint queue.
#[derive(Clone, Debug)]
pub(super) enum Queued {
    Mutation(u64),
    /// A set_vbucket_state meta item carrying a copy of the failover table
    /// (`queueSetVBState`).
    SetVbState(FailoverTable),
}

/// A vbucket in the active node's memory: lost at a crash.
#[derive(Clone)]
pub(super) struct VbMem {
    pub(super) in_map: bool,
    /// The mutation at each seqno, seqno `i + 1` at index `i`.
    pub(super) history: Vec<Item>,
    pub(super) failover: FailoverTable,
    pub(super) queue: Vec<Queued>,
    pub(super) notified: bool,
    /// CreateVBuckets created a failover entry in this warmup.
    pub(super) new_entry: bool,
    /// The hybrid logical clock's last value.
    pub(super) max_cas: u64,
    /// The last persisted vbstate (kv_engine's cached vbstate); the flusher writes it, with the
    /// table replaced only by a queued set_vbucket_state.
    pub(super) cached: DiskState,
}

impl VbMem {
    pub(super) fn high_seqno(&self) -> u64 {
        self.history.len() as u64
    }

    /// The newest mutation of `key`, if any.
    pub(super) fn newest(&self, key: &str) -> Option<&Item> {
        self.history.iter().rev().find(|i| i.key == key)
    }
}

pub(super) struct ActiveVb {
    pub(super) disk: VbDisk,
    pub(super) mem: Option<VbMem>,
}

/// A replica node's copy of a vb. Replicas never crash, so memory is the truth and the file
/// follows it (one commit per received mutation).
pub(super) struct ReplicaVb {
    pub(super) disk: VbDisk,
    pub(super) history: Vec<Item>,
    pub(super) failover: FailoverTable,
    pub(super) snap_start: u64,
    pub(super) snap_end: u64,
    pub(super) max_cas: u64,
    pub(super) stream: StreamState,
    /// A commit or rewind of this replica's file failed since the last reopen.
    pub(super) failed_write: bool,
}

impl ReplicaVb {
    pub(super) fn high_seqno(&self) -> u64 {
        self.history.len() as u64
    }

    /// A replica as a node's warmup reads it from its data file, with no stream: the
    /// documents, the table, and the snapshot. The vbstate's range is
    /// `[end of the last complete snapshot, end]` (what [`Self::vbstate`] writes, f40669692);
    /// memory keeps the marker's, `[first seqno, end]`, which for a partial snapshot starts one
    /// later.
    pub(super) fn from_disk(disk: VbDisk) -> ReplicaVb {
        let state = disk
            .state()
            .expect("an opened data file has a commit")
            .clone();
        assert!(
            !state.table.is_empty(),
            "{}: the storage layer refuses an empty failover table",
            disk.path().display()
        );
        let history = disk.items().to_vec();
        super::check_contiguous(&history, disk.high_seqno(), disk.path());
        let partial = disk.high_seqno() < state.snap_end;
        ReplicaVb {
            history,
            failover: FailoverTable::from_entries(state.table.clone()),
            snap_start: if partial {
                state.snap_start + 1
            } else {
                state.snap_start
            },
            snap_end: state.snap_end,
            max_cas: state.max_cas,
            stream: StreamState::None,
            failed_write: false,
            disk,
        }
    }

    /// The end of the last snapshot received in full: the high seqno when the open one is
    /// complete, else the seqno before it began. Where a promotion puts its entry
    /// (`processFailover`), and the start of the snapshot range a replica's vbstate holds.
    pub(super) fn last_complete_snapshot_end(&self) -> u64 {
        last_complete_end(self.high_seqno(), self.snap_start, self.snap_end)
    }

    /// The vbstate this replica's file holds after a commit: its table and the snapshot range
    /// the flusher writes for a replica (f40669692: `lastSnapStart` the end of the last
    /// complete snapshot, `lastSnapEnd` the end of the newest one).
    pub(super) fn vbstate(&self) -> DiskState {
        self.vbstate_with(self.high_seqno(), self.snap_start, self.snap_end)
    }

    /// [`Self::vbstate`] as it will be once the replica holds seqnos up to `high` in the
    /// snapshot `[snap_start, snap_end]` (before memory takes a received mutation).
    pub(super) fn vbstate_with(&self, high: u64, snap_start: u64, snap_end: u64) -> DiskState {
        DiskState {
            replica: true,
            table: self.failover.entries().to_vec(),
            snap_start: last_complete_end(high, snap_start, snap_end),
            snap_end,
            max_cas: self.max_cas,
        }
    }

    /// Commit the vbstate alone if the file's newest one is not [`Self::vbstate`] (a table
    /// adopted or pruned, a rollback). A failure marks the replica's file and memory apart.
    pub(super) fn persist_vbstate(&mut self) -> Result<(), EngineError> {
        let state = self.vbstate();
        if self.disk.state() == Some(&state) {
            return Ok(());
        }
        self.disk
            .commit(&[], &state)
            .inspect_err(|_| self.failed_write = true)
    }
}

/// The end of the last snapshot received in full by a replica holding seqnos up to `high` in
/// the snapshot `[snap_start, snap_end]`.
fn last_complete_end(high: u64, snap_start: u64, snap_end: u64) -> u64 {
    if high == snap_end {
        snap_end
    } else {
        assert!(
            snap_start >= 1 && snap_start <= high + 1,
            "a partial snapshot's marker starts after the last complete one"
        );
        snap_start - 1
    }
}

impl Cluster {
    pub(super) fn mem(&self, vb: u16) -> &VbMem {
        self.vbs[vb as usize]
            .mem
            .as_ref()
            .expect("the vb is in memory")
    }

    pub(super) fn mem_mut(&mut self, vb: u16) -> &mut VbMem {
        self.vbs[vb as usize]
            .mem
            .as_mut()
            .expect("the vb is in memory")
    }

    /// The CAS the `n`-th next mutation of `vb` would get (`n >= 1`). The hybrid logical clock
    /// gives each mutation `max(previous + 1, now in ns)`, so the `n`-th is
    /// `max(max_cas + 1, now in ns) + n - 1`. An error if that passes `u64::MAX`.
    pub(super) fn cas_of_next(&self, vb: u16, n: u64) -> Result<u64, EngineError> {
        assert!(n >= 1, "the CAS of the n-th next mutation, n >= 1");
        let max_cas = self.mem(vb).max_cas;
        let now_ns = self.clock.checked_mul(NANOS_PER_SEC).ok_or_else(|| {
            EngineError::Overflow(format!("the clock {} s in nanoseconds", self.clock))
        })?;
        max_cas
            .checked_add(1)
            .map(|c| c.max(now_ns))
            .and_then(|c| c.checked_add(n - 1))
            .ok_or_else(|| {
                EngineError::Overflow(format!(
                    "vb {vb}: {n} more mutation{} would take the CAS past {} (max_cas {max_cas})",
                    if n == 1 { "" } else { "s" },
                    u64::MAX
                ))
            })
    }

    /// An error unless `n` more mutations fit in `vb`: their seqnos and CASes stay within `u64`.
    /// Called before a call that queues several, so that it queues all or none.
    pub(super) fn check_room(&self, vb: u16, n: u64) -> Result<(), EngineError> {
        if n == 0 {
            return Ok(());
        }
        let high = self.mem(vb).high_seqno();
        if high.checked_add(n).is_none() {
            return Err(EngineError::Overflow(format!(
                "vb {vb}: {n} more mutations would take the seqno past {} (high seqno {high})",
                u64::MAX
            )));
        }
        self.cas_of_next(vb, n).map(drop)
    }

    /// Queue a mutation at the next seqno, notifying the flusher if the vb is in the map
    /// (`NotifyFlusherCB`). Returns the seqno. An overflowing seqno or CAS is refused before
    /// anything changes.
    pub(super) fn queue_mutation(
        &mut self,
        vb: u16,
        key: &str,
        op: ItemOp,
        value: Option<String>,
        expiry: Option<u64>,
    ) -> Result<u64, EngineError> {
        self.check_room(vb, 1)?;
        let cas = self.cas_of_next(vb, 1)?;
        let m = self.mem_mut(vb);
        let seqno = m.high_seqno() + 1; // checked by check_room
        m.max_cas = cas;
        m.history.push(Item {
            seqno,
            key: key.to_string(),
            op,
            value,
            expiry,
            cas,
        });
        m.queue.push(Queued::Mutation(seqno));
        if m.in_map {
            m.notified = true;
        }
        Ok(seqno)
    }

    /// `queueSetVBState`: a set_vbucket_state carrying the current table.
    pub(super) fn queue_set_vbstate(&mut self, vb: u16) {
        let m = self.mem_mut(vb);
        m.queue.push(Queued::SetVbState(m.failover.clone()));
        if m.in_map {
            m.notified = true;
        }
    }
}
