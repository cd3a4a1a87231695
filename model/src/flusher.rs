//! The flusher (`EPBucket::flushVBucket`, `Flusher::flushVB`).

use crate::{Queued, State, Variant};

impl State {
    /// The flusher's atomic commit of everything queued for `vb`: the documents and the cached
    /// vbstate, whose failover table changes only through a queued set_vbucket_state.
    ///
    /// With MB-37920's fix reverted, a vbstate-only batch whose table the KVStore's cache
    /// already took (a failed write updated it) is skipped as already persisted: the queue is
    /// cleared and nothing is written; a batch with documents writes the cached table with
    /// them. With MB-21769's fix reverted, a batch that ends with a set_vbucket_state counts
    /// its stamp (high seqno + 1) in the snapshot range.
    pub(crate) fn commit(&mut self, vb: u8, variant: Variant) {
        let slot = &mut self.vbs[vb as usize];
        let a = slot.active.as_mut().expect("flushing a vb in memory");
        let disk = &mut slot.disk;
        let documents = a.queue.iter().any(|q| matches!(q, Queued::Mutation(_)));
        if variant.reverted.mb37920 && a.cache_ahead && !documents {
            a.queue.clear();
            a.notified = false;
            if a.flush_failed {
                a.flush_failed = false;
                self.flush_retried = true;
            }
            return;
        }
        if a.cache_ahead {
            disk.failover = a.failover.clone();
            a.cache_ahead = false;
        }
        let ends_with_vbstate = matches!(a.queue.last(), Some(Queued::SetVbState(_)));
        for q in a.queue.iter() {
            match q {
                Queued::Mutation(s) => {
                    assert_eq!(*s, disk.persisted_seqno() + 1, "commits are contiguous");
                    disk.history.push_back(a.history[*s as usize - 1]);
                }
                Queued::SetVbState(t) => disk.failover = t.clone(),
            }
        }
        disk.snap_start = disk.persisted_seqno();
        disk.snap_end = disk.persisted_seqno();
        // A set_vbucket_state in the batch carries the vb's state (MB-35331): since a
        // promotion queues one first, it says active.
        if a.queue.iter().any(|q| matches!(q, Queued::SetVbState(_))) {
            if disk.replica {
                // The promotion's entry reaches disk: what the copy held above it is on the
                // entry's branch there too (the ghost follows memory's).
                for (d, m) in disk.history.as_mut_slice().iter_mut().zip(a.history.iter()) {
                    d.branch = m.branch;
                }
            }
            disk.replica = false;
        }
        if variant.reverted.mb21769 && ends_with_vbstate {
            disk.snap_end = disk.persisted_seqno() + 1;
            if !documents {
                disk.snap_start = disk.snap_end;
            }
        }
        a.queue.clear();
        a.notified = false;
        if a.flush_failed {
            a.flush_failed = false;
            self.flush_retried = true;
        }
    }

    /// A failed flush: nothing reaches disk; the items stay queued and the vb stays in the
    /// flusher's queue, so it is retried. With MB-37920's fix reverted, a vbstate-only batch
    /// updated the KVStore's cached vbstate before the write failed.
    pub(crate) fn fail_flush(&mut self, vb: u8, variant: Variant) {
        self.flush_failures += 1;
        let a = self.active_mut(vb);
        a.flush_failed = true;
        a.cache_ahead |= variant.reverted.mb37920 && vbstate_only(&a.queue);
    }
}

/// A batch of set_vbucket_state items and no documents.
pub(crate) fn vbstate_only(queue: &crate::Queue) -> bool {
    !queue.is_empty() && queue.iter().all(|q| matches!(q, Queued::SetVbState(_)))
}
