//! A clean (bucket) shutdown, as kv_engine orders it (`EventuallyPersistentEngine::destroyInner`
//! -> `EPBucket::deinitialize` -> `KVBucket::deinitialize`).

use crate::{Action, Down, Node, Shutdown, ShutdownFlag, State, Variant, Warmup};

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
    /// warmup, if still running, goes on.
    pub(crate) fn begin_shutdown(&mut self) {
        self.shutdowns += 1;
        self.node = Node::ShuttingDown(Shutdown {
            flag_written: false,
            flusher_stopped: false,
            tasks_stopped: false,
            warmup: self.warmup_phase(),
        });
        self.drop_streams();
    }

    /// The design's write of `ep_force_shutdown`. Before MB-45756 and today it says clean
    /// whatever warmup had reached; `proposed` says clean only if every vbstate was persisted.
    pub(crate) fn write_clean_flag(&mut self, variant: Variant) {
        let sd = *self.shutdown_mut();
        let clean = match variant.shutdown_flag {
            ShutdownFlag::BeforeFlush | ShutdownFlag::AfterFlush => true,
            ShutdownFlag::AfterFlushIfStatePersisted => {
                let populated = sd
                    .warmup
                    .is_none_or(|p| p >= crate::Phase::PopulateVBucketMap);
                populated && !self.traffic_refused
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

    /// `EPBucket::stopWarmup` -> `Warmup::stop` -> `done()` -> `warmupCompleted` (if warmup had
    /// not completed; `at-complete` queues set_vbucket_state, which the stopped flusher never
    /// writes), then `KVBucket::deinitialize` -> `unregisterTaskable`: the expiry pager and
    /// compaction stop.
    pub(crate) fn stop_tasks(&mut self, variant: Variant) {
        let sd = self.shutdown_mut();
        sd.tasks_stopped = true;
        let warming = sd.warmup.is_some();
        if warming && variant.persist_entry == crate::PersistEntry::AtComplete {
            self.queue_set_vbstate_in_map();
        }
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
