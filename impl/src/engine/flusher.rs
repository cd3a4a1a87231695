//! The flusher (kv_engine's `Flusher`, `flusher.cc`, and `EPBucket::flushVBucket`): one
//! atomic commit of a vb's checkpoint queue, with the cached vbstate.

use super::event::Call;
use super::{tmpfail, Cluster, EngineError, Queued};
use crate::failover::FailoverTable;

impl Cluster {
    /// The flusher's visit to `vb` (`EPBucket::flushVBucket`): when notified and not stopped,
    /// one atomic commit of everything queued for the vb, with the cached vbstate whose table is
    /// replaced only by a queued set_vbucket_state. Clears the notification. Returns the seqnos
    /// committed.
    ///
    /// A commit the storage layer fails and undoes (a full disk) is [`EngineError::FlushFailed`]:
    /// nothing is committed, the items stay queued and the vb notified, so a later flush
    /// retries (`flushVBucket` returns `MoreAvailable::Yes`; `Flusher::flushVB` ->
    /// `lpVbs.pushUnique`). It is logged (`"failed"`, the error) and the cluster stays usable.
    pub fn flush(&mut self, vb: u16) -> Result<Vec<u64>, EngineError> {
        self.usable()?;
        self.check_vb(vb)?;
        if !self.process.flusher_runs() {
            return Err(tmpfail(format!(
                "the flusher is not running (node {})",
                self.process.describe()
            )));
        }
        if !self.vbs[vb as usize]
            .mem
            .as_ref()
            .is_some_and(|m| m.notified)
        {
            return Err(tmpfail(format!("vb {vb}: the flusher was not notified")));
        }
        match self.commit_queue(vb) {
            Ok(seqnos) => {
                self.log(Call::Flush {
                    vb,
                    seqnos: Some(seqnos.clone()),
                    failed: None,
                })?;
                Ok(seqnos)
            }
            Err(e @ EngineError::FlushFailed { .. }) => {
                self.log(Call::Flush {
                    vb,
                    seqnos: None,
                    failed: Some(e.to_string()),
                })?;
                Err(e)
            }
            Err(e) => Err(e),
        }
    }

    /// `flush` every notified vb, in vb order. Returns the vbs flushed.
    pub fn flush_all(&mut self) -> Result<Vec<u16>, EngineError> {
        let vbs = self.notified_vbs();
        for vb in &vbs {
            self.flush(*vb)?;
        }
        Ok(vbs)
    }

    /// The flusher's atomic commit of everything queued for `vb`. On
    /// [`EngineError::FlushFailed`] nothing changed (the storage layer undid the commit); on any
    /// other error the cluster is poisoned.
    pub(super) fn commit_queue(&mut self, vb: u16) -> Result<Vec<u64>, EngineError> {
        let ignore_set_vbstate = self.bugs.flusher_ignores_set_vbstate;
        let a = &mut self.vbs[vb as usize];
        let m = a.mem.as_mut().expect("flushing a vb in memory");
        let persisted = a.disk.high_seqno();
        let mut items = Vec::new();
        let mut table: Option<&FailoverTable> = None;
        for q in &m.queue {
            match q {
                Queued::Mutation(s) => items.push(m.history[*s as usize - 1].clone()),
                Queued::SetVbState(t) if !ignore_set_vbstate => table = Some(t),
                Queued::SetVbState(_) => {}
            }
        }
        let high = persisted + items.len() as u64;
        let mut state = m.cached.clone();
        if let Some(t) = table {
            state.table = t.entries().to_vec();
            // A set_vbucket_state carries the vb's state (MB-35331): active, since a promotion
            // queues one first.
            state.replica = false;
        }
        // MB-37920's fix reverted: a vbstate-only batch compares with the KVStore's cache, which
        // a failed write already updated, and is skipped as persisted; or it updates the cache
        // before the write, whether or not the write then succeeds.
        let vbstate_only = items.is_empty() && table.is_some();
        if self.variant.reverted.mb37920 && vbstate_only {
            let cache_ahead = a.disk.state().is_some_and(|d| d.table != m.cached.table);
            if cache_ahead && state.table == m.cached.table {
                m.queue.clear();
                m.notified = false;
                return Ok(Vec::new());
            }
            m.cached.table = state.table.clone();
        }
        state.snap_start = high;
        state.snap_end = high;
        state.max_cas = items.iter().map(|i| i.cas).fold(state.max_cas, u64::max);
        // Before the commit: what is written is contiguous and well formed.
        for (i, item) in items.iter().enumerate() {
            assert_eq!(
                item.seqno,
                persisted + 1 + i as u64,
                "vb {vb}: queued seqnos are contiguous after the persisted seqno {persisted}"
            );
        }
        let written = FailoverTable::from_entries(state.table.clone());
        if let Some(why) = written.well_formed_error_allowing(self.variant.reverted.mb20822) {
            panic!("vb {vb}: the table to persist {written} is not well formed: {why}");
        }
        assert!(
            written.newest().seq <= high,
            "vb {vb}: the newest entry {:?} is above the new high seqno {high}",
            written.newest()
        );
        match a.disk.commit(&items, &state) {
            Ok(()) => {}
            Err(e @ EngineError::FlushFailed { .. }) => return Err(e),
            Err(e) => {
                self.poisoned = Some(e.to_string());
                return Err(e);
            }
        }
        // After the commit: the file says what was written.
        assert_eq!(a.disk.high_seqno(), high, "vb {vb}: the commit is durable");
        assert_eq!(
            a.disk.state(),
            Some(&state),
            "vb {vb}: the vbstate reads back as written"
        );
        m.cached = state;
        m.queue.clear();
        m.notified = false;
        Ok(items.iter().map(|i| i.seqno).collect())
    }
}
