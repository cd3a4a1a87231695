//! A clean (bucket) shutdown, as kv_engine orders it (`EventuallyPersistentEngine::destroyInner`
//! -> `EPBucket::deinitialize` -> `KVBucket::deinitialize`).

use crate::{
    Action, Down, Node, PersistEntry, Phase, Shutdown, ShutdownFlag, State, StopWarmup, Variant,
    Warmup,
};

impl Warmup {
    /// The shutdown's own steps, in the design's order. `before-flush` (v6.5.1 to MB-41257):
    /// flag, flusher, tasks. `after-flush` (today): flusher, tasks, flag.
    pub(crate) fn shutdown_steps(&self, s: &State, sd: Shutdown, actions: &mut Vec<Action>) {
        let before = !self.variant.shutdown_flag.after_flush();
        let flag_due = if before { true } else { sd.tasks_stopped };
        if !sd.flag_written && flag_due {
            actions.push(Action::ShutdownWritesCleanFlag);
        }
        if !sd.flusher_stopped && !s.any_notified() && (!before || sd.flag_written) {
            actions.push(Action::ShutdownStopsFlusher);
        }
        if sd.flusher_stopped && !sd.tasks_stopped {
            actions.push(Action::ShutdownStopsTasks);
        }
    }
}

impl State {
    fn shutdown_mut(&mut self) -> &mut Shutdown {
        match &mut self.node {
            Node::ShuttingDown(sd) => sd,
            _ => unreachable!("shutdown steps run while shutting down"),
        }
    }

    /// `destroyInner`: traffic stops and `shutdownAllConnections` closes every DCP stream;
    /// warmup, if still running, goes on, unless the design stops it here
    /// (`in-initiate-shutdown`: `EPBucket::initiateShutdown` -> `stopWarmup`).
    pub(crate) fn begin_shutdown(&mut self, variant: Variant) {
        self.shutdowns += 1;
        self.node = Node::ShuttingDown(Shutdown {
            flag_written: false,
            flusher_stopped: false,
            tasks_stopped: false,
            warmup: self.warmup_phase(),
            warmup_stopped: false,
            loaded_at_stop: false,
        });
        self.drop_streams();
        if variant.stop_warmup == StopWarmup::InInitiateShutdown {
            self.stop_warmup(variant);
        }
    }

    /// `EPBucket::stopWarmup`: if warmup has not finished loading, `Warmup::stop()`. It cancels
    /// the tasks in warmup's `taskSet` and forces the state to Done, then calls `done()`; when
    /// the `taskSet` is empty it changes nothing but the done function. Every warmup task
    /// adds itself to `taskSet` except `WarmupLoadPreparedSyncWrites` and
    /// `WarmupPopulateVBucketMap` (warmup.cc, v6.5.1 to main), so the stop is a no-op exactly
    /// while those are the pending tasks: in the model, once CreateVBuckets has completed
    /// (the model's CreateVBuckets takes in LoadingCollectionCounts and
    /// EstimateDatabaseItemCount, which do register and change nothing modelled). `done()`
    /// runs `warmupCompleted` in `in-deinitialize` (v6.5.1: `at-complete` queues
    /// set_vbucket_state, which the stopped flusher never writes) and nothing in
    /// `in-initiate-shutdown` (MB-64849). `after-flush-if-loaded-before-stop` records
    /// `hasLoadedMetaData()` first.
    pub(crate) fn stop_warmup(&mut self, variant: Variant) {
        let loaded = self.has_loaded_metadata();
        let sd = self.shutdown_mut();
        if variant.shutdown_flag == ShutdownFlag::AfterFlushIfLoadedBeforeStop {
            sd.loaded_at_stop = loaded;
        }
        match sd.warmup {
            None | Some(Phase::CreateVBuckets) => {}
            Some(_) => {
                sd.warmup_stopped = true;
                if variant.stop_warmup == StopWarmup::InDeinitialize
                    && variant.persist_entry == PersistEntry::AtComplete
                {
                    self.queue_set_vbstate_in_map();
                }
            }
        }
    }

    /// The design's write of `ep_force_shutdown`. Before MB-45756 and today it says clean
    /// whatever warmup had reached; the guarded designs say clean only if their predicate holds
    /// on the state kv_engine holds now (a forced Done included) and no vbstate flush failed.
    pub(crate) fn write_clean_flag(&mut self, variant: Variant) {
        let sd = *self.shutdown_mut();
        let clean = match variant.shutdown_flag {
            ShutdownFlag::BeforeFlush | ShutdownFlag::AfterFlush => true,
            ShutdownFlag::AfterFlushIfHasLoadedMetadata => {
                self.has_loaded_metadata() && !self.traffic_refused
            }
            ShutdownFlag::AfterFlushIfVbMapPopulated => {
                self.vb_map_populated() && !self.traffic_refused
            }
            ShutdownFlag::AfterFlushIfLoadedBeforeStop => {
                sd.loaded_at_stop && !self.traffic_refused
            }
        };
        if clean {
            self.clean_flag = true;
        }
        self.shutdown_mut().flag_written = true;
    }

    /// `EPBucket::stopFlusher`: enabled once no vb is notified (the final flushes are ordinary
    /// commits). What is queued for a vb the flusher was never told about stays queued.
    pub(crate) fn stop_flusher(&mut self) {
        self.shutdown_mut().flusher_stopped = true;
    }

    /// `KVBucket::deinitialize` -> `unregisterTaskable`: the expiry pager, compaction and any
    /// warmup task still pending stop. In `in-deinitialize` `EPBucket::deinitialize` stops
    /// warmup first ([`State::stop_warmup`]).
    pub(crate) fn stop_tasks(&mut self, variant: Variant) {
        if variant.stop_warmup == StopWarmup::InDeinitialize {
            self.stop_warmup(variant);
        }
        self.shutdown_mut().tasks_stopped = true;
    }

    /// The shutdown ends when all three of its steps are done.
    pub(crate) fn end_shutdown_if_done(&mut self, _variant: Variant) {
        let Node::ShuttingDown(sd) = self.node else {
            return;
        };
        if sd.flag_written && sd.flusher_stopped && sd.tasks_stopped {
            let how = Down::ShutDown {
                in_warmup: sd.warmup.is_some(),
                harmful_loss: self.harmful_loss(),
            };
            self.go_down(how);
        }
    }
}
