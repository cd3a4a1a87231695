//! Warmup (kv_engine's `Warmup`, `warmup.cc`): one call per phase, Initialize, CreateVBuckets,
//! PopulateVBucketMap, LoadingData, Done, then `warmupCompleted()`.

use super::event::Call;
use super::{
    check_contiguous, tmpfail, Cluster, EngineError, PersistEntry, Process, Queued, VbMem,
};
use crate::failover::FailoverTable;
use std::fmt;

/// The warmup phases that matter here, in order (`warmup.cc`), plus `Complete`
/// (`warmupCompleted()`), which leaves warmup.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Phase {
    Initialize,
    CreateVBuckets,
    PopulateVBucketMap,
    LoadingData,
    Done,
    Complete,
}

impl Phase {
    pub const ALL: [Phase; 6] = [
        Phase::Initialize,
        Phase::CreateVBuckets,
        Phase::PopulateVBucketMap,
        Phase::LoadingData,
        Phase::Done,
        Phase::Complete,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Phase::Initialize => "initialize",
            Phase::CreateVBuckets => "create-vbuckets",
            Phase::PopulateVBucketMap => "populate-vbucket-map",
            Phase::LoadingData => "loading-data",
            Phase::Done => "done",
            Phase::Complete => "complete",
        }
    }

    pub(super) fn next(self) -> Option<Phase> {
        Phase::ALL
            .iter()
            .position(|p| *p == self)
            .and_then(|i| Phase::ALL.get(i + 1).copied())
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Phase {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Phase::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Phase::ALL.iter().map(|p| p.name()).collect();
                format!(
                    "unknown phase '{s}' (expected one of: {})",
                    names.join(", ")
                )
            })
    }
}

impl Cluster {
    /// Run exactly one warmup phase: from down, Initialize; then CreateVBuckets,
    /// PopulateVBucketMap, LoadingData, Done, and Complete (`warmupCompleted()`, after which the
    /// node is running). Returns the phase just completed.
    ///
    /// Warmup is a bucket task: if a shutdown begins during warmup, warmup goes on through the
    /// shutdown until it is stopped (forced to Done) or `shutdown_stop_tasks`; Complete then
    /// only ends warmup (the node stays shutting down).
    pub fn warmup_step(&mut self) -> Result<Phase, EngineError> {
        self.usable()?;
        let phase = match self.process {
            Process::Down => Phase::Initialize,
            Process::Warming(p)
            | Process::ShuttingDown {
                warmup: Some(p),
                tasks_stopped: false,
                warmup_stopped: false,
                ..
            } => p.next().expect("warming never rests at Complete"),
            _ => {
                return Err(tmpfail(format!(
                    "warmup runs only from down, or until it completes (node {})",
                    self.process.describe()
                )))
            }
        };
        let mut failed = Vec::new();
        match phase {
            Phase::Initialize => self.warmup_initialize()?,
            Phase::CreateVBuckets => self.warmup_create_vbuckets()?,
            Phase::PopulateVBucketMap => failed = self.warmup_populate_vbucket_map()?,
            Phase::LoadingData | Phase::Done => self.set_warmup_phase(phase),
            Phase::Complete => self.warmup_complete(),
        }
        self.log(Call::WarmupStep {
            phase: phase.name().to_string(),
            failed_vbstate_flushes: failed,
        })?;
        Ok(phase)
    }

    /// `warmup_step` until `phase` is completed (from down, or from an earlier phase).
    pub fn warmup_until(&mut self, phase: Phase) -> Result<(), EngineError> {
        let done = |p: Process| match p {
            Process::Warming(q) => q >= phase,
            Process::ShuttingDown { warmup, .. } => warmup.is_none_or(|q| q >= phase),
            Process::Running => phase == Phase::Complete,
            Process::Down => false,
        };
        if done(self.process) {
            return Err(tmpfail(format!(
                "warmup is already past {} (node {})",
                phase.name(),
                self.process.describe()
            )));
        }
        while !done(self.process) {
            self.warmup_step()?;
        }
        Ok(())
    }

    /// Record that warmup completed `phase` (not `Complete`), warming or shutting down.
    pub(super) fn set_warmup_phase(&mut self, phase: Phase) {
        match &mut self.process {
            Process::Warming(p) => *p = phase,
            Process::ShuttingDown { warmup, .. } => *warmup = Some(phase),
            p => unreachable!("warmup steps run while warming up (node {p:?})"),
        }
    }

    pub(super) fn warmup_initialize(&mut self) -> Result<(), EngineError> {
        let active = self.roles.active;
        let flag = self.stats[active].read_force_shutdown()?;
        let clean = flag.as_deref() == Some("false");
        // The file wins over the flag the engine last read or wrote: stats.json may have been
        // changed behind its back (a crash does not reread it when the process knows it).
        // Conformance compares the flag with the model's after every step.
        self.clean_flag = clean;
        self.read_clean = Some(clean);
        self.process = Process::Warming(Phase::Initialize);
        if self.variant.shutdown_flag.after_flush() {
            // MB-46361: a crash from here on counts as unclean.
            self.write_stats(Some("true"))?;
        }
        Ok(())
    }

    pub(super) fn warmup_create_vbuckets(&mut self) -> Result<(), EngineError> {
        let unclean = self.read_clean == Some(false);
        let queue_at_create = self.variant.persist_entry == PersistEntry::QueueAtCreate;
        let mut mems = Vec::new();
        for i in 0..self.vbs.len() {
            let disk = &self.vbs[i].disk;
            let path = disk.path().to_path_buf();
            let (history, state) = disk.read()?;
            let state = state.ok_or_else(|| EngineError::BadDataFile {
                path: path.clone(),
                what: "holds no commit".into(),
            })?;
            let high = disk.high_seqno();
            check_contiguous(&history, high, &path);
            // Loading a table drops erroneous entries since MB-20822's fix (3fb0f02cb); a design
            // without the fix loads it as it is.
            let unordered = self.variant.reverted.mb20822;
            let mut failover = if unordered {
                FailoverTable::from_entries(state.table.clone())
            } else {
                FailoverTable::sanitized(state.table.clone(), high, self.uuids.as_mut()).0
            };
            assert!(
                failover.well_formed_error_allowing(unordered).is_none(),
                "{}: sanitized table {failover} is not well formed",
                path.display()
            );
            let at = state.entry_seqno(high);
            // Unflushed mutations were lost: any replica that saw them is on another branch,
            // so start a new one. A vbstate that says replica (a promoted copy that crashed
            // before its first flush) gets none (`VBucketLoader::createVBucket`): the cluster
            // manager promotes it again once it is in the map.
            let new_entry = unclean
                && !state.replica
                && !self.bugs.no_entry_after_unclean_shutdown
                && self.create_entry(&mut failover, at);
            let max_cas = history.iter().map(|i| i.cas).fold(state.max_cas, u64::max);
            let mut queue = Vec::new();
            if new_entry && queue_at_create {
                queue.push(Queued::SetVbState(failover.clone())); // not in the map: no notify
            }
            mems.push(VbMem {
                in_map: false,
                history,
                failover,
                queue,
                notified: false,
                new_entry,
                max_cas,
                cached: state,
            });
        }
        for (a, m) in self.vbs.iter_mut().zip(mems) {
            a.mem = Some(m);
        }
        self.set_warmup_phase(Phase::CreateVBuckets);
        Ok(())
    }

    /// `Warmup::populateVBucketMap`. `sync-flush` (MB-41257) queues set_vbucket_state and
    /// flushes it synchronously before the vb enters the map. When that flush fails (and the
    /// storage layer undid it: [`EngineError::FlushFailed`]) the set_vbucket_state stays
    /// queued, the flusher not notified, the vb enters the map all the same, and the node sets
    /// `failedToSetAVbucketState` ([`Cluster::traffic_refused`]). Returns the vbs whose flush
    /// failed.
    pub(super) fn warmup_populate_vbucket_map(&mut self) -> Result<Vec<u16>, EngineError> {
        let persist = self.variant.persist_entry;
        let mut failed = Vec::new();
        for vb in 0..self.vbuckets() {
            let new_entry = self.mem(vb).new_entry;
            if persist == PersistEntry::SyncFlush && new_entry {
                // MB-41257: persist the new entry before the vb takes traffic.
                self.queue_set_vbstate(vb); // not in the map: no notification
                match self.commit_queue(vb) {
                    Ok(_) => {}
                    Err(EngineError::FlushFailed { .. }) => {
                        self.traffic_refused = true;
                        failed.push(vb);
                    }
                    Err(e) => return Err(e),
                }
            }
            if self.mem(vb).cached.replica {
                // A replica vbstate: the cluster manager promotes it again, unless the bucket
                // is shutting down (no setVBucketState reaches a bucket being destroyed): then
                // it stays a replica, out of the map (no expiry, no stream).
                if !matches!(self.process, Process::ShuttingDown { .. }) {
                    self.mem_mut(vb).in_map = true;
                    self.promote_again(vb);
                }
                continue;
            }
            self.mem_mut(vb).in_map = true;
            if persist == PersistEntry::QueueAtPopulate && new_entry {
                self.queue_set_vbstate(vb); // in the map: notifies
            }
        }
        self.set_warmup_phase(Phase::PopulateVBucketMap);
        Ok(failed)
    }

    /// `Warmup::done` -> `KVBucket::warmupCompleted`: the node runs (unless shutting down: then
    /// warmup just ends); `at-complete` (v6.5.1) queues set_vbucket_state for every vb in the
    /// map (`scheduleVBStatePersist`).
    /// In `in-initiate-shutdown` a warmup that completes during a shutdown runs nothing:
    /// `Warmup::stop` emptied the done function even when it had nothing to cancel.
    pub(super) fn warmup_complete(&mut self) {
        let shutting_down = matches!(self.process, Process::ShuttingDown { .. });
        match &mut self.process {
            Process::Warming(_) => self.process = Process::Running,
            Process::ShuttingDown { warmup, .. } => *warmup = None,
            p => unreachable!("warmup completes while warming up (node {p:?})"),
        }
        let done_emptied =
            shutting_down && self.variant.stop_warmup == super::StopWarmup::InInitiateShutdown;
        if self.variant.persist_entry == PersistEntry::AtComplete && !done_emptied {
            self.queue_set_vbstate_in_map();
        }
    }

    /// `EPBucket::scheduleVBStatePersist` for every vb in the map.
    pub(super) fn queue_set_vbstate_in_map(&mut self) {
        for vb in 0..self.vbuckets() {
            if self.in_map(vb) {
                self.queue_set_vbstate(vb);
            }
        }
    }
}
