//! DCP (kv_engine's `dcp/`): the producer's answer to a stream request
//! (`DcpProducer::streamRequest` -> `FailoverTable::needsRollback`), the consumer's handling of
//! it (`DcpConsumer`, `PassiveStream`, `KVBucket::rollback`), and the stream of mutations with
//! their snapshot markers (`ActiveStream` -> `PassiveStream::processMutation`).

use super::event::Call;
use super::view::EntryView;
use super::{replica_name, tmpfail, Cluster, EngineError, RollbackRetry};
use crate::failover::{FailoverTable, StreamRequest};
use std::fmt;

/// The answer to one DCP stream request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamOutcome {
    /// The producer accepted; the replica adopted its failover table.
    Accepted,
    /// The producer asked for a rollback to `to`. `dropped_entry`: the replica dropped its
    /// newest failover entry instead of rewinding (rollback to 0 with an older uuid to try).
    RolledBack { to: u64, dropped_entry: bool },
}

impl fmt::Display for StreamOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StreamOutcome::Accepted => f.write_str("accepted"),
            StreamOutcome::RolledBack { to, .. } => write!(f, "rolled-back:{to}"),
        }
    }
}

/// A replica's stream for one vb.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamState {
    None,
    RolledBack(u64),
    Accepted,
}

impl fmt::Display for StreamState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StreamState::None => f.write_str("none"),
            StreamState::Accepted => f.write_str("accepted"),
            StreamState::RolledBack(rb) => write!(f, "rolled-back:{rb}"),
        }
    }
}

impl Cluster {
    /// One DCP stream-request round trip of replica `replica` (0 = `r1`) for `vb`
    /// (`DcpProducer::streamRequest` -> `FailoverTable::needsRollback`, and the consumer's
    /// handling of the answer). When the vb is in the active's map, the active is not shutting
    /// down, and the replica has no accepted stream. A rollback to 0 with an older entry to try
    /// drops the newest entry instead of rewinding when the design's rollback-retry rule says
    /// so; any other rollback (to 0 included) rewinds the replica and prunes its table.
    pub fn stream_request(
        &mut self,
        replica: usize,
        vb: u16,
    ) -> Result<StreamOutcome, EngineError> {
        self.usable()?;
        self.check_vb(vb)?;
        self.check_replica(replica)?;
        self.check_dcp(vb)?;
        let bug_lt = self.bugs.needs_rollback_uses_lt;
        let no_prune = self.bugs.rollback_does_not_prune;
        let a = self.vbs[vb as usize]
            .mem
            .as_ref()
            .expect("checked by check_dcp");
        let (producer_table, cur) = (a.failover.clone(), a.high_seqno());
        let r = &mut self.replicas[replica][vb as usize];
        if r.stream == StreamState::Accepted {
            return Err(tmpfail(format!(
                "{} vb {vb}: the stream is already accepted",
                replica_name(replica)
            )));
        }
        let req = StreamRequest {
            start: r.high_seqno(),
            uuid: r.failover.newest().id,
            snap_start: r.snap_start,
            snap_end: r.snap_end,
            strict: false,
        };
        let decision = producer_table.decide(req, cur, 0, bug_lt);
        // `DcpConsumer::handleRollbackResponse`: told to roll back to 0, a consumer with an
        // older entry drops its newest and asks again with the older uuid: always before
        // MB-48398; since, only if the newest entry's seqno is the request's start seqno.
        let retry = r.failover.len() > 1
            && match self.variant.rollback_retry {
                RollbackRetry::Always => true,
                RollbackRetry::IfEntryAtStart => r.failover.newest().seq == req.start,
            };
        let (outcome, reason) = match decision {
            None => {
                r.failover.replace(&producer_table);
                r.stream = StreamState::Accepted;
                (StreamOutcome::Accepted, None)
            }
            Some((0, reason)) if retry => {
                let dropped = r.failover.drop_newest();
                assert!(dropped, "a table of two or more entries drops its newest");
                r.stream = StreamState::RolledBack(0);
                (
                    StreamOutcome::RolledBack {
                        to: 0,
                        dropped_entry: true,
                    },
                    Some(reason),
                )
            }
            Some((rb, reason)) => {
                // The replica keeps min(rb, high). Every mutation it received is its own
                // commit, so the file rewinds exactly there, unless the node was an active
                // whose flusher committed several at once (an added-back node): then the file
                // rewinds to the newest commit at or below, and what memory keeps up to
                // min(rb, high) is committed again, one commit per mutation.
                let expected = rb.min(r.high_seqno());
                let rewound = match r.disk.rewind_to(rb) {
                    Ok(h) => h,
                    Err(e) => {
                        r.failed_write = true;
                        self.poisoned = Some(e.to_string());
                        return Err(e);
                    }
                };
                assert!(
                    rewound <= expected,
                    "a rewind keeps no more than min(rb, high)"
                );
                r.history.truncate(expected as usize);
                r.snap_start = expected;
                r.snap_end = expected;
                if !no_prune {
                    let pruned = r.failover.prune_entries(expected);
                    assert!(
                        pruned,
                        "a replica table keeps an entry at or below its high seqno"
                    );
                }
                for s in rewound + 1..=expected {
                    let item = r.history[s as usize - 1].clone();
                    if let Err(e) = r.disk.commit(std::slice::from_ref(&item), &r.vbstate()) {
                        r.failed_write = true;
                        self.poisoned = Some(e.to_string());
                        return Err(e);
                    }
                }

                assert_eq!(
                    r.disk.items(),
                    &r.history[..],
                    "the rewound file holds the prefix"
                );
                r.stream = StreamState::RolledBack(rb);
                (
                    StreamOutcome::RolledBack {
                        to: rb,
                        dropped_entry: false,
                    },
                    Some(reason),
                )
            }
        };
        // The consumer persists what it adopted or pruned (`PassiveStream` ->
        // `scheduleVBStatePersist`): the replica's file says what its memory says, which is
        // what a promotion of this copy, or its node's warmup, reads.
        let r = &mut self.replicas[replica][vb as usize];
        if let Err(e) = r.persist_vbstate() {
            self.poisoned = Some(e.to_string());
            return Err(e);
        }
        let dropped_entry = match outcome {
            StreamOutcome::RolledBack { dropped_entry, .. } => Some(dropped_entry),
            StreamOutcome::Accepted => None,
        };
        self.log(Call::StreamRequest {
            replica: replica_name(replica),
            vb,
            start: req.start,
            uuid: req.uuid,
            snap_start: req.snap_start,
            snap_end: req.snap_end,
            producer_failover: table_entries(&producer_table),
            outcome: outcome.to_string(),
            dropped_entry,
            reason: dropped_entry.and(reason.map(str::to_string)),
        })?;
        Ok(outcome)
    }

    /// Stream requests until one is accepted (each round trip its own call). Gives up after
    /// 64 rounds with [`EngineError::NoProgress`] (a table has at most 25 entries and each
    /// round drops one or rewinds, so kv_engine's rule always converges; a seeded bug may not).
    pub fn connect(&mut self, replica: usize, vb: u16) -> Result<Vec<StreamOutcome>, EngineError> {
        let mut rounds = Vec::new();
        for _ in 0..64 {
            let outcome = self.stream_request(replica, vb)?;
            rounds.push(outcome);
            if outcome == StreamOutcome::Accepted {
                return Ok(rounds);
            }
        }
        Err(EngineError::NoProgress(format!(
            "{} vb {vb}: no stream accepted after 64 round trips: {rounds:?}",
            replica_name(replica)
        )))
    }

    /// The producer sends replica `replica` the next mutation `s` of `vb` (persisted on the
    /// active or not); the replica appends it and commits it (one commit per mutation). If the
    /// replica's last snapshot is complete, a snapshot marker `[s, active high]` opens a new one
    /// first; otherwise `s` continues the open snapshot. `None` when the replica has everything
    /// the active has.
    pub fn stream_deliver(&mut self, replica: usize, vb: u16) -> Result<Option<u64>, EngineError> {
        self.usable()?;
        self.check_vb(vb)?;
        self.check_replica(replica)?;
        if self.replicas[replica][vb as usize].stream != StreamState::Accepted {
            return Err(tmpfail(format!(
                "{} vb {vb}: no accepted stream (stream {})",
                replica_name(replica),
                self.replicas[replica][vb as usize].stream
            )));
        }
        self.check_dcp(vb)?;
        let a = self.vbs[vb as usize]
            .mem
            .as_ref()
            .expect("checked by check_dcp");
        let r = &mut self.replicas[replica][vb as usize];
        let seqno = r.high_seqno() + 1;
        if seqno > a.high_seqno() {
            return Ok(None);
        }
        let item = a.history[seqno as usize - 1].clone();
        assert_eq!(item.seqno, seqno, "history is indexed by seqno");
        // A snapshot marker (`ActiveStream::snapshot` -> `PassiveStream::processMarker`): when
        // the replica's last snapshot is complete, the producer opens a new one covering
        // everything it has now; otherwise this mutation continues the open snapshot.
        let (snap_start, snap_end) = if r.high_seqno() == r.snap_end {
            (seqno, a.high_seqno())
        } else {
            (r.snap_start, r.snap_end)
        };
        r.max_cas = r.max_cas.max(item.cas);
        // The vbstate once `seqno` is in, in the snapshot `[snap_start, snap_end]`.
        let state = r.vbstate_with(seqno, snap_start, snap_end);
        assert!(
            r.failover
                .well_formed_error_allowing(self.variant.reverted.mb20822)
                .is_none(),
            "replica table {} is well formed",
            r.failover
        );
        if let Err(e) = r.disk.commit(std::slice::from_ref(&item), &state) {
            r.failed_write = true;
            self.poisoned = Some(e.to_string());
            return Err(e);
        }
        assert_eq!(r.disk.high_seqno(), seqno, "the replica commit is durable");
        r.history.push(item);
        r.snap_start = snap_start;
        r.snap_end = snap_end;
        self.log(Call::StreamDeliver {
            replica: replica_name(replica),
            vb,
            seqno,
        })?;
        Ok(Some(seqno))
    }

    /// `stream_deliver` until the replica has everything. Returns the seqnos delivered.
    pub fn stream_all(&mut self, replica: usize, vb: u16) -> Result<Vec<u64>, EngineError> {
        let mut seqnos = Vec::new();
        while let Some(s) = self.stream_deliver(replica, vb)? {
            seqnos.push(s);
        }
        Ok(seqnos)
    }

    pub(super) fn check_replica(&self, r: usize) -> Result<(), EngineError> {
        if r < self.replicas.len() {
            Ok(())
        } else {
            Err(EngineError::InvalidArgument(format!(
                "replica {} does not exist ({} replica{})",
                replica_name(r),
                self.replicas.len(),
                if self.replicas.len() == 1 { "" } else { "s" }
            )))
        }
    }

    pub(super) fn check_dcp(&self, vb: u16) -> Result<(), EngineError> {
        if self.process.serves_dcp() && self.in_map(vb) {
            Ok(())
        } else {
            Err(tmpfail(format!(
                "vb {vb}: DCP is not served ({})",
                self.process.describe()
            )))
        }
    }
}

fn table_entries(t: &FailoverTable) -> Vec<EntryView> {
    t.entries()
        .iter()
        .map(|e| EntryView {
            id: e.id,
            seq: e.seq,
        })
        .collect()
}
