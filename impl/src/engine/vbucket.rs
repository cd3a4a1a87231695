//! The in-memory vbuckets (kv_engine's `VBucket`, `vbucket.cc`): the active's history,
//! failover table and checkpoint queue, and each replica's copy; queueing a mutation or a
//! set_vbucket_state (`VBucket::queueDirty`, `queueSetVBState`) and the hybrid logical clock.

use super::disk::{DiskState, VbDisk};
use super::{Cluster, Item, ItemOp, StreamState};
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

    /// The hybrid logical clock: `max(max_cas + 1, now in ns)`.
    pub(super) fn next_cas(&mut self, vb: u16) -> u64 {
        let now_ns = self.clock.saturating_mul(1_000_000_000);
        let m = self.mem_mut(vb);
        m.max_cas = (m.max_cas + 1).max(now_ns);
        m.max_cas
    }

    /// Queue a mutation at the next seqno, notifying the flusher if the vb is in the map
    /// (`NotifyFlusherCB`). Returns the seqno.
    pub(super) fn queue_mutation(
        &mut self,
        vb: u16,
        key: &str,
        op: ItemOp,
        value: Option<String>,
        expiry: Option<u64>,
    ) -> u64 {
        let cas = self.next_cas(vb);
        let m = self.mem_mut(vb);
        let seqno = m.high_seqno() + 1;
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
        seqno
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
