//! DCP between the active (producer) and its replicas (consumers): `dcp/producer.cc`,
//! `dcp/consumer.cc`, `FailoverTable::needsRollback`, `KVBucket::rollback`.

use crate::failover::StreamRequest;
use crate::{Action, ActiveVb, RollbackRetry, State, Stream, Variant, Warmup};

impl Warmup {
    /// A replica without an accepted stream asks for one; an accepted stream delivers the
    /// next seqno the active has.
    pub(crate) fn dcp_steps(&self, s: &State, vb: u8, a: &ActiveVb, actions: &mut Vec<Action>) {
        for (replica, r) in s.vbs[vb as usize].replicas.iter().enumerate() {
            let replica = replica as u8;
            match r.stream {
                Stream::None | Stream::RolledBack(_) => {
                    actions.push(Action::ReplicaRequestsStream { replica, vb })
                }
                Stream::Accepted => {
                    if r.high_seqno() < a.high_seqno() {
                        actions.push(Action::ReplicaReceives {
                            replica,
                            vb,
                            seqno: r.high_seqno() + 1,
                        });
                    }
                }
            }
        }
    }
}

impl State {
    /// The producer's decision and the consumer's answer. A replica's request always has
    /// `snap_start <= start <= snap_end`, so the producer's ERANGE check passes (asserted).
    pub(crate) fn stream_request(&mut self, variant: Variant, replica: u8, vb: u8) {
        let slot = &mut self.vbs[vb as usize];
        let a = slot
            .active
            .as_ref()
            .expect("the producer serves vbs in memory");
        let r = &mut slot.replicas[replica as usize];
        let req = StreamRequest {
            start: r.high_seqno(),
            uuid: r.failover.newest().uuid,
            snap_start: r.snap_start,
            snap_end: r.snap_end,
            strict: false,
        };
        assert!(
            req.snap_start <= req.start && req.start <= req.snap_end,
            "a replica's request is never out of its snapshot (ERANGE)"
        );
        let retry = |r: &crate::ReplicaVb| {
            r.failover.len() > 1
                && match variant.rollback_retry {
                    RollbackRetry::Always => true,
                    RollbackRetry::IfEntryAtStart => r.failover.newest().seqno == req.start,
                }
        };
        match a.failover.needs_rollback(req, a.high_seqno(), 0) {
            None => {
                r.failover = a.failover.clone();
                r.stream = Stream::Accepted;
            }
            Some(0) if retry(r) => {
                r.failover.drop_newest();
                r.stream = Stream::RolledBack(0);
            }
            Some(rb) => {
                // Every received mutation is its own commit, so the newest commit at or below
                // rb is min(rb, high). A rewind to 0 is kv_engine's resetVBucket: its new table
                // is never read (the next request starts at 0 and is accepted, adopting the
                // producer's table), so keeping the entries at seqno 0 stands for it.
                let high = rb.min(r.high_seqno());
                r.history.truncate(high as usize);
                r.snap_start = high;
                r.snap_end = high;
                r.failover.prune_entries(high);
                r.stream = Stream::RolledBack(rb);
            }
        }
    }

    /// The producer sends the next seqno; when the replica's last snapshot is complete it
    /// first sends a snapshot marker covering everything it has now.
    pub(crate) fn receive(&mut self, replica: u8, vb: u8, seqno: crate::failover::Seqno) {
        let slot = &mut self.vbs[vb as usize];
        let a = slot
            .active
            .as_ref()
            .expect("the producer streams vbs in memory");
        let r = &mut slot.replicas[replica as usize];
        assert_eq!(seqno, r.high_seqno() + 1);
        if r.high_seqno() == r.snap_end {
            r.snap_start = seqno;
            r.snap_end = a.high_seqno();
        }
        r.history.push_back(a.history[seqno as usize - 1]);
    }
}
