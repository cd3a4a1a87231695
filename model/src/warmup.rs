//! Warmup's phases (`engines/ep/src/warmup.cc`), as the model's enabling conditions and effects.

use crate::{Action, ActiveVb, Node, PersistEntry, Phase, State, StopWarmup, Variant, Warmup};

impl Warmup {
    /// The step that completes the phase after `phase`.
    pub(crate) fn warmup_steps(&self, s: &State, phase: Phase, actions: &mut Vec<Action>) {
        match phase {
            Phase::Initialize => actions.push(Action::WarmupCreatesVBuckets),
            Phase::CreateVBuckets => {
                actions.push(Action::WarmupPopulatesVBucketMap);
                let flushes = self.variant.persist_entry == PersistEntry::SyncFlush
                    && s.vbs
                        .iter()
                        .any(|vb| vb.active.as_ref().is_some_and(|a| a.new_entry));
                if flushes && s.flush_failures < self.bounds.flush_failures {
                    actions.push(Action::WarmupPopulatesVBucketMapFlushFailing);
                }
            }
            Phase::PopulateVBucketMap => actions.push(Action::WarmupLoadsData),
            Phase::LoadingData => actions.push(Action::WarmupReachesDone),
            Phase::Done => actions.push(Action::WarmupCompletes),
        }
    }
}

impl State {
    /// Record that warmup completed `phase`, whether the node is warming or shutting down.
    pub(crate) fn set_warmup_phase(&mut self, phase: Phase) {
        match &mut self.node {
            Node::Warming(p) => *p = phase,
            Node::ShuttingDown(sd) => sd.warmup = Some(phase),
            _ => unreachable!("warmup steps run while warming up"),
        }
    }

    /// `Warmup::initialize`: `cleanShutdown = (ep_force_shutdown == "false")`; since MB-45756
    /// (MB-46361 on 6.6) it then writes `ep_force_shutdown=true`, so a crash during warmup is
    /// unclean.
    pub(crate) fn warmup_initialize(&mut self, variant: Variant) {
        self.node = Node::Warming(Phase::Initialize);
        self.read_clean = Some(self.clean_flag);
        if variant.shutdown_flag.after_flush() {
            self.clean_flag = false;
        }
    }

    /// `Warmup::createVBuckets`: each vb from its vbstate; an active vb after an unclean
    /// shutdown gets a new failover entry at `snap_end` if the high seqno is there, else at
    /// `snap_start` (`FailoverTable::createEntry`). `queue-at-create` (MB-41942) queues
    /// set_vbucket_state at once: the vb is not in the map, so the flusher is not notified.
    pub(crate) fn warmup_create_vbuckets(&mut self, variant: Variant) {
        self.set_warmup_phase(Phase::CreateVBuckets);
        let unclean = self.read_clean == Some(false);
        for i in 0..self.vbs.len() {
            let disk = self.vbs[i].disk.clone();
            let (at, replica_state) = (disk.entry_seqno(), disk.replica);
            let mut a = ActiveVb {
                in_map: false,
                history: disk.history,
                failover: disk.failover,
                queue: crate::Queue::new(),
                notified: false,
                new_entry: false,
                flush_failed: false,
                cache_ahead: false,
            };
            // A vbstate that says replica (a promoted copy that crashed before its first flush)
            // gets no entry from warmup (`VBucketLoader::createVBucket`): the cluster manager
            // promotes it again once it is in the map (`warmup_populate_vbucket_map`).
            if unclean && !replica_state {
                // Before MB-11085's fix createEntry added nothing at the newest entry's seqno.
                a.new_entry = a
                    .failover
                    .create_entry_in(variant.reverted, &mut self.next_uuid, at);
            }
            self.vbs[i].active = Some(a);
            if self.vbs[i].active.as_ref().is_some_and(|a| a.new_entry)
                && variant.persist_entry == PersistEntry::QueueAtCreate
            {
                self.queue_set_vbstate(i as u8);
            }
        }
    }

    /// `Warmup::populateVBucketMap`. `sync-flush` (MB-41257, today `VBucketLoader::
    /// addToVBucketMap`) queues set_vbucket_state and flushes it synchronously before the vb
    /// enters the map; when that flush fails (`flush_succeeds == false`) the state stays
    /// queued, unnotified, the vb enters the map all the same and the node sets
    /// `failedToSetAVbucketState`. `queue-at-populate` (MB-43744) queues it after the vb is in
    /// the map, which notifies the flusher.
    pub(crate) fn warmup_populate_vbucket_map(&mut self, variant: Variant, flush_succeeds: bool) {
        self.set_warmup_phase(Phase::PopulateVBucketMap);
        if !flush_succeeds {
            self.flush_failures += 1;
            self.traffic_refused = true;
        }
        for i in 0..self.vbs.len() {
            let vb = i as u8;
            let new_entry = self.active(vb).is_some_and(|a| a.new_entry);
            if new_entry && variant.persist_entry == PersistEntry::SyncFlush {
                self.queue_set_vbstate(vb);
                if flush_succeeds {
                    self.commit(vb, variant);
                } else {
                    let a = self.active_mut(vb);
                    a.flush_failed = true;
                    a.cache_ahead |=
                        variant.reverted.mb37920 && crate::flusher::vbstate_only(&a.queue);
                }
            }
            if self.vbs[i].disk.replica {
                // A replica vbstate: the cluster manager promotes it again, unless the bucket
                // is shutting down (no setVBucketState reaches a bucket being destroyed): then
                // it stays a replica, which takes no expiry and serves no stream, as a vb out
                // of the map does.
                if !matches!(self.node, Node::ShuttingDown(_)) {
                    self.active_mut(vb).in_map = true;
                    self.promote_again(variant, vb);
                }
                continue;
            }
            self.active_mut(vb).in_map = true;
            if new_entry && variant.persist_entry == PersistEntry::QueueAtPopulate {
                self.queue_set_vbstate(vb);
            }
        }
    }

    /// `Warmup::done` -> `KVBucket::warmupCompleted`: traffic is enabled (unless shutting
    /// down, or a vbstate flush failed); `at-complete` (v6.5.1) queues set_vbucket_state for
    /// every vb in the map (`scheduleVBStatePersist`). In `in-initiate-shutdown`, a warmup that
    /// completes after the shutdown began runs nothing: `Warmup::stop` emptied the done
    /// function even when it found nothing to cancel.
    pub(crate) fn warmup_complete(&mut self, variant: Variant) {
        let shutting_down = matches!(self.node, Node::ShuttingDown(_));
        match &mut self.node {
            Node::Warming(_) => self.node = Node::Running,
            Node::ShuttingDown(sd) => sd.warmup = None,
            _ => unreachable!("warmup completes while warming up"),
        }
        let done_emptied = shutting_down && variant.stop_warmup == StopWarmup::InInitiateShutdown;
        if variant.persist_entry == PersistEntry::AtComplete && !done_emptied {
            self.queue_set_vbstate_in_map();
        }
    }

    /// `EPBucket::scheduleVBStatePersist` for every vb in the map.
    pub(crate) fn queue_set_vbstate_in_map(&mut self) {
        for vb in 0..self.vbs.len() as u8 {
            if self.active(vb).is_some_and(|a| a.in_map) {
                self.queue_set_vbstate(vb);
            }
        }
    }
}
