//! The flusher (`EPBucket::flushVBucket`, `Flusher::flushVB`).

use crate::{Queued, State};

impl State {
    /// The flusher's atomic commit of everything queued for `vb`: the documents and the cached
    /// vbstate, whose failover table changes only through a queued set_vbucket_state.
    pub(crate) fn commit(&mut self, vb: u8) {
        let slot = &mut self.vbs[vb as usize];
        let a = slot.active.as_mut().expect("flushing a vb in memory");
        let disk = &mut slot.disk;
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
        a.queue.clear();
        a.notified = false;
        if a.flush_failed {
            a.flush_failed = false;
            self.flush_retried = true;
        }
    }

    /// A failed flush: nothing reaches disk; the items stay queued and the vb stays in the
    /// flusher's queue, so it is retried.
    pub(crate) fn fail_flush(&mut self, vb: u8) {
        self.flush_failures += 1;
        self.active_mut(vb).flush_failed = true;
    }
}
