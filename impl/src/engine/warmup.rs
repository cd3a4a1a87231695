//! Warmup (kv_engine's `Warmup`, `warmup.cc`): one call per phase, Initialize, CreateVBuckets,
//! PopulateVBucketMap, LoadingData, Done, then `warmupCompleted()`.

use super::{
    check_contiguous, tmpfail, Cluster, EngineError, PersistEntry, Process, Queued, ShutdownFlag,
    VbMem,
};
use crate::failover::FailoverTable;
use serde_json::json;
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
    pub fn warmup_step(&mut self) -> Result<Phase, EngineError> {
        self.usable()?;
        let phase = match self.process {
            Process::Down => Phase::Initialize,
            Process::Warming(p) => p.next().expect("warming never rests at Complete"),
            _ => {
                return Err(tmpfail(format!(
                    "warmup runs only from down (node {})",
                    self.process.describe()
                )))
            }
        };
        match phase {
            Phase::Initialize => self.warmup_initialize()?,
            Phase::CreateVBuckets => self.warmup_create_vbuckets()?,
            Phase::PopulateVBucketMap => self.warmup_populate_vbucket_map()?,
            Phase::LoadingData | Phase::Done => self.process = Process::Warming(phase),
            Phase::Complete => self.warmup_complete(),
        }
        self.log("warmup_step", &[("phase", json!(phase.name()))])?;
        Ok(phase)
    }

    /// `warmup_step` until `phase` is completed (from down, or from an earlier phase).
    pub fn warmup_until(&mut self, phase: Phase) -> Result<(), EngineError> {
        let done = |p: Process| match p {
            Process::Warming(q) => q >= phase,
            Process::Running => phase == Phase::Complete,
            _ => false,
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

    pub(super) fn warmup_initialize(&mut self) -> Result<(), EngineError> {
        let flag = self.stats.read_force_shutdown()?;
        let clean = flag.as_deref() == Some("false");
        assert_eq!(
            clean, self.clean_flag,
            "the cached clean flag follows stats.json"
        );
        self.read_clean = Some(clean);
        self.process = Process::Warming(Phase::Initialize);
        if self.variant.shutdown_flag == ShutdownFlag::AfterFlush {
            // MB-46361: a crash from here on counts as unclean.
            self.write_stats(Some("true"))?;
        }
        Ok(())
    }

    pub(super) fn warmup_create_vbuckets(&mut self) -> Result<(), EngineError> {
        let unclean = self.read_clean == Some(false);
        let queue_at_create = self.variant.persist_entry == PersistEntry::QueueAtCreate;
        let mut mems = Vec::new();
        for a in &self.vbs {
            let (history, state) = a.disk.read()?;
            let state = state.ok_or_else(|| EngineError::Storage {
                file: a.disk.path().to_path_buf(),
                source: format!("data file {}: holds no commit", a.disk.path().display()).into(),
            })?;
            let high = a.disk.high_seqno();
            check_contiguous(&history, high, a.disk.path());
            let (mut failover, _erased) =
                FailoverTable::sanitized(state.table.clone(), high, self.uuids.as_mut());
            assert!(
                failover.is_well_formed(),
                "{}: sanitized table {failover} is not well formed",
                a.disk.path().display()
            );
            let new_entry = unclean && !self.bugs.no_entry_after_unclean_shutdown;
            if new_entry {
                // Unflushed mutations were lost: any replica that saw them is on another
                // branch, so start a new one.
                let at = if high == state.snap_end {
                    state.snap_end
                } else {
                    state.snap_start
                };
                failover.create_entry(at, self.uuids.as_mut());
            }
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
        self.process = Process::Warming(Phase::CreateVBuckets);
        Ok(())
    }

    pub(super) fn warmup_populate_vbucket_map(&mut self) -> Result<(), EngineError> {
        let persist = self.variant.persist_entry;
        for vb in 0..self.vbuckets() {
            let new_entry = self.mem(vb).new_entry;
            if persist == PersistEntry::SyncFlush && new_entry {
                // MB-41257: persist the new entry before the vb takes traffic. If this fails the
                // vb stays out of the map (and the error is returned).
                self.queue_set_vbstate(vb);
                self.commit_queue(vb)?;
            }
            self.mem_mut(vb).in_map = true;
            if persist == PersistEntry::QueueAtPopulate && new_entry {
                self.queue_set_vbstate(vb); // in the map: notifies
            }
        }
        self.process = Process::Warming(Phase::PopulateVBucketMap);
        Ok(())
    }

    pub(super) fn warmup_complete(&mut self) {
        self.process = Process::Running;
        if self.variant.persist_entry == PersistEntry::AtComplete {
            for vb in 0..self.vbuckets() {
                self.queue_set_vbstate(vb);
            }
        }
    }
}
