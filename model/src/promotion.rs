//! Failover and add-back: what the cluster manager (ns_server) asks of kv_engine when a node
//! fails, and what kv_engine does. Promotion is `KVBucket::setVBucketState` (to active, no
//! takeover) -> `KVBucket::continueToActive` -> `VBucket::processFailover`; add-back (delta
//! recovery) is the old node's warmup (`VBucketLoader::createVBucket`) followed by
//! `setVBucketState` to replica and the consumer's stream request. `docs/fidelity.md` cites
//! each step at kv_engine `eba429898`.
//!
//! Only a down node is failed over (auto-failover acts on a node that stopped answering; a
//! hard failover of a live node is, for its data, a crash followed by this: the node restarts
//! before it can come back). Every vb of the failed node is promoted on the same replica node,
//! so the new active is one node as the old one was.

use crate::failover::Seqno;
use crate::{
    Action, ActiveVb, DiskVb, FailedOverNode, Node, Queue, Queued, ReplicaVb, State, Stream,
    Variant, Warmup,
};

impl Warmup {
    pub(crate) fn failover_steps(&self, s: &State, actions: &mut Vec<Action>) {
        if s.failed_over.is_some() {
            actions.push(Action::FailedOverNodeIsAddedBack);
            return;
        }
        if s.failovers < self.bounds.failovers && matches!(s.node, Node::Down(_)) {
            let replicas = s.vbs[0].replicas.len() as u8;
            for replica in 0..replicas {
                actions.push(Action::ClusterFailsOverToReplica { replica });
            }
        }
    }
}

impl ReplicaVb {
    /// The seqno `processFailover` gives the promoted vb's new entry: the end of the last
    /// snapshot the replica received in full. Both rules kv_engine has had since v4.0.0 come
    /// to this here, where a replica persists what it receives as it receives it: the
    /// persisted snapshot's end if everything up to it is persisted, else its start, which
    /// f40669692's flusher keeps at the end of the last completely flushed snapshot (v6.5.0 to
    /// 8.0); and `CheckpointManager::getFailoverSeqno` (a854b96e6, master), the end of the last
    /// snapshot completely received in memory, except that a rollback's
    /// `CheckpointManager::clear` resets it to 0 until the next snapshot completes (not
    /// modelled: an entry at 0 prunes every other entry above 0, so it can only make other
    /// copies roll back further, to 0; docs/fidelity.md).
    fn promotion_seqno(&self) -> Seqno {
        self.last_complete_snapshot_end()
    }

    /// The end of the last snapshot received in full: the high seqno when the current one is
    /// complete, else the seqno before the current one began.
    fn last_complete_snapshot_end(&self) -> Seqno {
        if self.high_seqno() == self.snap_end {
            self.snap_end
        } else {
            assert!(
                self.snap_start >= 1 && self.snap_start <= self.high_seqno() + 1,
                "a partial snapshot's marker starts after the last complete one"
            );
            self.snap_start - 1
        }
    }

    /// What the replica's `_local/vbstate` holds: everything it received, the table it
    /// adopted, and the snapshot range the flusher writes for a replica (f40669692:
    /// `lastSnapStart` the end of the last complete snapshot, `lastSnapEnd` the end of the
    /// newest snapshot with an item flushed).
    fn persisted(&self) -> DiskVb {
        DiskVb {
            history: self.history.clone(),
            failover: self.failover.clone(),
            snap_start: self.last_complete_snapshot_end(),
            snap_end: self.snap_end,
            replica: true,
        }
    }
}

impl State {
    /// The active node is failed over and replica `replica` of every vb promoted.
    pub(crate) fn fail_over(&mut self, variant: Variant, replica: u8) {
        assert!(
            matches!(self.node, Node::Down(_)),
            "only a down node is failed over"
        );
        assert!(self.failed_over.is_none(), "one node is out at a time");
        self.failovers += 1;
        self.failed_over = Some(FailedOverNode {
            clean_flag: self.clean_flag,
        });
        for vb in self.vbs.iter_mut() {
            let r = vb.replicas.remove(replica as usize);
            vb.failed_over = Some(Box::new(std::mem::replace(&mut vb.disk, r.persisted())));
            let mut failover = r.failover.clone();
            let at = r.promotion_seqno();
            failover.create_entry_in(variant.reverted, &mut self.next_uuid, at);
            // The new entry says that from `at` on the history is the new uuid's: what the
            // promoted copy holds above `at` is on that branch now (the ghost follows).
            let mut history = r.history;
            let uuid = failover.newest().uuid;
            // Only in memory: the disk's copy is under the new entry once a flush writes it.
            history.adopt_above(at, uuid);
            let mut queue = Queue::new();
            queue.push(Queued::SetVbState(failover.clone()));
            vb.active = Some(ActiveVb {
                in_map: true,
                history,
                failover,
                queue,
                notified: true,
                new_entry: false,
                flush_failed: false,
                cache_ahead: false,
            });
            for other in vb.replicas.iter_mut() {
                other.stream = Stream::None;
            }
        }
        // The promoted node has run all along: its stats.json was last written by its own
        // start (never "clean" in a behaviour, as the initial node's is not).
        self.node = Node::Running;
        self.clean_flag = false;
        self.read_clean = None;
        self.traffic_refused = false;
    }

    /// A promoted copy whose node crashed before its first flush warmed up from a vbstate that
    /// says replica; the cluster manager, which holds it as the vb's active, promotes it again
    /// as soon as the vb is in the map (`KVBucket::setVBucketState` waits for warmup to have
    /// loaded the vbstates, MB-25197): `processFailover` creates an entry at the checkpoint's
    /// failover seqno, which the checkpoint manager built from the same vbstate (a77d6b50f),
    /// and queues a set_vbucket_state. (ns_server may call later, until warmup completes;
    /// meanwhile a replica vb takes no expiry and serves no stream, so nothing the model tracks
    /// happens to it: the model takes the earliest moment.)
    pub(crate) fn promote_again(&mut self, variant: Variant, vb: u8) {
        let slot = &mut self.vbs[vb as usize];
        let at = slot.disk.entry_seqno();
        let a = slot.active.as_mut().expect("the vb is in memory");
        a.failover
            .create_entry_in(variant.reverted, &mut self.next_uuid, at);
        let uuid = a.failover.newest().uuid;
        a.history.adopt_above(at, uuid);
        self.queue_set_vbstate(vb);
    }

    /// The failed-over node warms up from its disk and joins every vb as a replica.
    pub(crate) fn add_back(&mut self, variant: Variant) {
        let node = self
            .failed_over
            .take()
            .expect("a failed-over node to add back");
        for vb in self.vbs.iter_mut() {
            let d = *vb.failed_over.take().expect("the failed-over node's disk");
            let mut failover = d.failover.clone();
            let high = d.persisted_seqno();
            // Only a vbstate that says active gets an entry at warmup (a replica's never).
            if !node.clean_flag && !d.replica {
                failover.create_entry_in(variant.reverted, &mut self.next_uuid, d.entry_seqno());
            }
            // A replica's snapshot range is the open snapshot's marker, `[first seqno, end]`;
            // a vbstate's is `[end of the last complete snapshot, end]` (f40669692). They agree
            // on a complete snapshot; for a partial one (only a promoted copy that crashed
            // before its first flush has one on disk) the marker starts one later. kv_engine's
            // consumer would send the vbstate's start in its request: a rollback into that
            // snapshot then keeps one seqno more here, of a prefix the producer had.
            let partial = high < d.snap_end;
            vb.replicas.push(ReplicaVb {
                history: d.history,
                failover,
                snap_start: if partial {
                    d.snap_start + 1
                } else {
                    d.snap_start
                },
                snap_end: d.snap_end,
                stream: Stream::None,
                added_back: true,
            });
        }
    }
}
