//! How the active node stops: a crash (`kill -9`), or a clean shutdown
//! (`EventuallyPersistentEngine::destroyInner` -> `EPBucket::deinitialize` ->
//! `KVBucket::deinitialize`) in the design's order of its three steps: writing the clean flag,
//! stopping the flusher, stopping the bucket's tasks (warmup, the expiry pager, compaction).
//! Before-flush: flag, flusher, tasks; after-flush: flusher, tasks, flag.

use super::disk;
use super::event::Call;
use super::{
    tmpfail, Cluster, EngineError, PersistEntry, Phase, Process, ShutdownFlag, StopWarmup,
    StreamState, Tear,
};

impl Cluster {
    /// The active node dies (whenever it is not down): memory, checkpoints, notifications and
    /// streams are lost; the disk keeps what it has (with the fault-injecting backend, only
    /// what was synced: it crashes with [`Tear::None`]). The files are reopened from what
    /// storage has. Also allowed after a storage error (it clears the cluster's poisoning if
    /// the files reopen).
    pub fn crash(&mut self) -> Result<(), EngineError> {
        self.crash_torn(Tear::None)
    }

    /// [`crash`](Self::crash), with the fault-injecting backend keeping what `tear` says of the
    /// unsynced bytes (other backends ignore `tear`). Logged as `crash`, with a `tear` field
    /// unless it is `Tear::None`.
    pub fn crash_torn(&mut self, tear: Tear) -> Result<(), EngineError> {
        if self.process == Process::Down && self.poisoned.is_none() {
            return Err(tmpfail("the node is already down"));
        }
        self.go_down();
        disk::crash_backend(&self.backend, tear);
        match self.reopen_files() {
            Ok(()) => self.poisoned = None,
            Err(e) => {
                self.poisoned = Some(e.to_string());
                return Err(e);
            }
        }
        self.log(Call::Crash {
            tear: (tear != Tear::None).then(|| format!("{tear:?}")),
        })
    }

    /// How far the shutdown is, or an error saying that `what` happens only during a shutdown.
    pub(super) fn shutdown_progress(&self, what: &str) -> Result<Progress, EngineError> {
        match self.process {
            Process::ShuttingDown {
                flag_written,
                flusher_stopped,
                tasks_stopped,
                warmup,
                warmup_stopped,
                loaded_at_stop,
            } => Ok(Progress {
                flag_written,
                flusher_stopped,
                tasks_stopped,
                warmup,
                warmup_stopped,
                loaded_at_stop,
            }),
            _ => Err(tmpfail(format!(
                "{what} only during a shutdown (node {})",
                self.process.describe()
            ))),
        }
    }

    fn set_progress(&mut self, p: Progress) {
        self.process = Process::ShuttingDown {
            flag_written: p.flag_written,
            flusher_stopped: p.flusher_stopped,
            tasks_stopped: p.tasks_stopped,
            warmup: p.warmup,
            warmup_stopped: p.warmup_stopped,
            loaded_at_stop: p.loaded_at_stop,
        };
    }

    /// A clean shutdown begins (`EventuallyPersistentEngine::destroyInner`): while running, or
    /// warming up from Initialize on (the shutdown records the last phase completed). Client
    /// traffic stops and DCP connections close (`shutdownAllConnections`): streams drop. In
    /// `in-initiate-shutdown` warmup is stopped now (`EPBucket::initiateShutdown` ->
    /// `stopWarmup`); otherwise warmup, like the expiry pager and compaction, goes on until
    /// `shutdown_stop_tasks`.
    pub fn shutdown_begin(&mut self) -> Result<(), EngineError> {
        self.usable()?;
        let warmup = match self.process {
            Process::Running => None,
            Process::Warming(p) => Some(p),
            _ => {
                return Err(tmpfail(format!(
                    "shutdown begins only while running or warming up (node {})",
                    self.process.describe()
                )))
            }
        };
        self.set_progress(Progress {
            flag_written: false,
            flusher_stopped: false,
            tasks_stopped: false,
            warmup,
            warmup_stopped: false,
            loaded_at_stop: false,
        });
        self.drop_streams();
        if self.variant.stop_warmup == StopWarmup::InInitiateShutdown {
            self.stop_warmup();
        }
        self.log(Call::ShutdownBegin)
    }

    /// `EPBucket::stopWarmup`: if warmup has not finished, `Warmup::stop()`, which cancels the
    /// tasks in warmup's `taskSet` and forces its state to Done, then calls `done()`. Every
    /// warmup task registers in `taskSet` except `WarmupLoadPreparedSyncWrites` and
    /// `WarmupPopulateVBucketMap`, so right after CreateVBuckets (whose phase here takes in
    /// the collection counts and the item-count estimate) the stop finds nothing to cancel
    /// and changes nothing. `done()` runs `warmupCompleted` in `in-deinitialize` (`at-complete`
    /// queues set_vbucket_state for the vbs in the map) and nothing in `in-initiate-shutdown`.
    fn stop_warmup(&mut self) {
        let loaded = self.process.has_loaded_metadata();
        let Ok(mut p) = self.shutdown_progress("warmup is stopped") else {
            unreachable!("warmup is stopped during a shutdown")
        };
        if self.variant.shutdown_flag == ShutdownFlag::AfterFlushIfLoadedBeforeStop {
            p.loaded_at_stop = loaded;
        }
        let forced = matches!(p.warmup, Some(w) if w != Phase::CreateVBuckets);
        p.warmup_stopped |= forced;
        self.set_progress(p);
        if forced
            && self.variant.stop_warmup == StopWarmup::InDeinitialize
            && self.variant.persist_entry == PersistEntry::AtComplete
        {
            self.queue_set_vbstate_in_map();
        }
    }

    /// The shutdown path writes stats.json. Before-flush (v6.5.1 to MB-41257): any time during
    /// the shutdown, before the flusher stops. After-flush (`KVBucket::persistShutdownContext`
    /// at the end of `EPBucket::deinitialize`): once the tasks stopped. Writes
    /// `ep_force_shutdown=false`, except in a guarded design whose guard is false on the state
    /// the process holds now (a forced stop included) or when a vbstate flush failed: it then
    /// writes `true`, so the next warmup is unclean. The last of the three steps ends the
    /// shutdown.
    pub fn shutdown_write_clean_flag(&mut self) -> Result<(), EngineError> {
        self.usable()?;
        let mut p = self.shutdown_progress("the clean flag is written")?;
        if p.flag_written {
            return Err(tmpfail("the clean flag is already written"));
        }
        if !self.flag_before_flush() && !p.tasks_stopped {
            return Err(tmpfail(format!(
                "{}: the clean flag is written only after the flusher and the tasks stopped",
                self.variant.shutdown_flag
            )));
        }
        let ok = !self.traffic_refused;
        let clean = match self.variant.shutdown_flag {
            ShutdownFlag::BeforeFlush | ShutdownFlag::AfterFlush => true,
            ShutdownFlag::AfterFlushIfHasLoadedMetadata => self.process.has_loaded_metadata() && ok,
            ShutdownFlag::AfterFlushIfVbMapPopulated => self.process.vb_map_populated() && ok,
            ShutdownFlag::AfterFlushIfLoadedBeforeStop => p.loaded_at_stop && ok,
        };
        self.write_stats(Some(if clean { "false" } else { "true" }))?;
        p.flag_written = true;
        self.set_progress(p);
        self.end_shutdown_if_done();
        self.log(Call::ShutdownWriteCleanFlag { clean })
    }

    /// The flusher stops (`EPBucket::stopFlusher`): when no vb is notified (the final flushes
    /// are ordinary `flush` calls). Before-flush: needs the flag written. Queued items of vbs
    /// that were never notified are lost (MB-43744).
    pub fn shutdown_stop_flusher(&mut self) -> Result<(), EngineError> {
        self.usable()?;
        let mut p = self.shutdown_progress("the flusher stops")?;
        if p.flusher_stopped {
            return Err(tmpfail("the flusher is already stopped"));
        }
        let notified = self.notified_vbs();
        if !notified.is_empty() {
            return Err(tmpfail(format!(
                "the flusher still has notified vbs to flush: {notified:?}"
            )));
        }
        if self.flag_before_flush() && !p.flag_written {
            return Err(tmpfail(format!(
                "{}: the flusher stops only after the clean flag is written",
                self.variant.shutdown_flag
            )));
        }
        p.flusher_stopped = true;
        self.set_progress(p);
        self.end_shutdown_if_done();
        self.log(Call::ShutdownStopFlusher)
    }

    /// The bucket's tasks stop, once the flusher stopped: in `in-deinitialize`, warmup first
    /// (`EPBucket::stopWarmup`), then `KVBucket::deinitialize` -> `unregisterTaskable` stops the
    /// expiry pager, compaction and any warmup task still pending.
    pub fn shutdown_stop_tasks(&mut self) -> Result<(), EngineError> {
        self.usable()?;
        let p = self.shutdown_progress("the tasks stop")?;
        if p.tasks_stopped {
            return Err(tmpfail("the tasks are already stopped"));
        }
        if !p.flusher_stopped {
            return Err(tmpfail("the tasks stop only after the flusher stopped"));
        }
        if self.variant.stop_warmup == StopWarmup::InDeinitialize {
            self.stop_warmup();
        }
        let mut p = self.shutdown_progress("the tasks stop")?;
        p.tasks_stopped = true;
        self.set_progress(p);
        self.end_shutdown_if_done();
        self.log(Call::ShutdownStopTasks)
    }

    /// The whole clean shutdown in the variant's order, each step its own call (and its own
    /// event-log line): begin; before-flush: flag, final flushes, flusher, tasks; after-flush:
    /// final flushes, flusher, tasks, flag.
    pub fn shutdown(&mut self) -> Result<(), EngineError> {
        self.shutdown_begin()?;
        if self.flag_before_flush() {
            self.shutdown_write_clean_flag()?;
            self.flush_all()?;
            self.shutdown_stop_flusher()?;
            self.shutdown_stop_tasks()?;
        } else {
            self.flush_all()?;
            self.shutdown_stop_flusher()?;
            self.shutdown_stop_tasks()?;
            self.shutdown_write_clean_flag()?;
        }
        Ok(())
    }

    pub(super) fn flag_before_flush(&self) -> bool {
        self.variant.shutdown_flag == ShutdownFlag::BeforeFlush
            || self.bugs.clean_flag_before_final_flush
    }

    /// Lose everything volatile.
    pub(super) fn go_down(&mut self) {
        self.process = Process::Down;
        self.read_clean = None;
        self.traffic_refused = false;
        for a in &mut self.vbs {
            a.mem = None;
        }
        self.drop_streams();
    }

    pub(super) fn drop_streams(&mut self) {
        for row in &mut self.replicas {
            for r in row {
                r.stream = StreamState::None;
            }
        }
    }

    /// The shutdown ends when all three of its steps are done.
    pub(super) fn end_shutdown_if_done(&mut self) {
        if let Process::ShuttingDown {
            flag_written: true,
            flusher_stopped: true,
            tasks_stopped: true,
            ..
        } = self.process
        {
            self.go_down();
        }
    }
}

/// How far a shutdown has got (the fields of [`Process::ShuttingDown`]).
#[derive(Clone, Copy, Debug)]
pub(super) struct Progress {
    flag_written: bool,
    flusher_stopped: bool,
    tasks_stopped: bool,
    warmup: Option<Phase>,
    warmup_stopped: bool,
    loaded_at_stop: bool,
}
