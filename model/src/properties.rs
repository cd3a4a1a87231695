//! The properties: `always` ones as plain predicates (so conformance can judge the
//! implementation's projected state with the same code), and `sometimes` ones showing that
//! every situation the bug family needs is reached.

use crate::{Down, Mutation, Node, Op, Queued, Seqno, State, Stream, Warmup};
use stateright::Property;

impl Warmup {
    /// Every property of the model, whatever `only` says.
    pub fn all_properties(&self) -> Vec<Property<Self>> {
        vec![
            Property::always("no replica diverges", |_, s: &State| no_replica_diverges(s)),
            Property::always("failover tables are well formed", |_, s: &State| {
                failover_tables_well_formed(s)
            }),
            Property::always(
                "the disk holds a prefix of the active's history",
                |_, s: &State| disk_is_prefix_of_memory(s),
            ),
            Property::always(
                "the checkpoint holds exactly the unpersisted seqnos",
                |_, s: &State| checkpoint_holds_unpersisted(s),
            ),
            Property::always(
                "every mutation on disk is on a branch the disk's failover table names",
                |_, s: &State| disk_branches_named(s),
            ),
            Property::always(
                "stats.json says clean only when no branch point or streamable mutation was lost",
                |_, s: &State| clean_flag_honest(s),
            ),
            Property::sometimes("the active crashes during warmup", |_, s: &State| {
                matches!(
                    s.node,
                    Node::Down(Down::Crashed {
                        in_warmup: true,
                        ..
                    })
                )
            }),
            Property::sometimes(
                "an expiry made during warmup reaches disk",
                |_, s: &State| {
                    s.vbs.iter().any(|vb| {
                        vb.disk.history.iter().any(|m| {
                            matches!(
                                m.op,
                                Op::Expire {
                                    in_warmup: true,
                                    ..
                                }
                            )
                        })
                    })
                },
            ),
            Property::sometimes(
                "a replica holds a mutation the active has not persisted",
                |_, s: &State| {
                    s.vbs.iter().any(|vb| {
                        vb.replicas
                            .iter()
                            .any(|r| r.high_seqno() > vb.disk.persisted_seqno())
                    })
                },
            ),
            Property::sometimes("a replica rolls back", |_, s: &State| {
                replica_streams(s).any(|st| matches!(st, Stream::RolledBack(_)))
            }),
            Property::sometimes("a replica rolls back to 0", |_, s: &State| {
                replica_streams(s).any(|st| st == Stream::RolledBack(0))
            }),
            Property::sometimes(
                "a replica is accepted after an unclean restart",
                |_, s: &State| {
                    s.read_clean == Some(false)
                        && replica_streams(s).any(|st| st == Stream::Accepted)
                },
            ),
            Property::sometimes("a clean shutdown completes", |_, s: &State| {
                matches!(s.node, Node::Down(Down::ShutDown { .. }))
            }),
            Property::sometimes(
                "a clean shutdown during warmup completes",
                |_, s: &State| {
                    matches!(
                        s.node,
                        Node::Down(Down::ShutDown {
                            in_warmup: true,
                            ..
                        })
                    )
                },
            ),
            Property::sometimes(
                "an expiry is queued after the flusher stopped",
                |_, s: &State| expiry_queued_after_flusher_stopped(s),
            ),
        ]
        .into_iter()
        .chain(self.flush_failure_properties())
        .chain(self.failover_properties())
        .collect()
    }

    /// Reachable only with failovers: not asked of a check with `failovers == 0`, so that its
    /// report reads as before failovers were modelled.
    fn failover_properties(&self) -> Vec<Property<Self>> {
        if self.bounds.failovers == 0 {
            return Vec::new();
        }
        vec![
            Property::sometimes("a replica is promoted", |_, s: &State| s.failovers > 0),
            Property::sometimes("a failed-over node is added back", |_, s: &State| {
                added_back(s).next().is_some()
            }),
            Property::sometimes("an added-back node rolls back", |_, s: &State| {
                added_back(s).any(|st| matches!(st, Stream::RolledBack(_)))
            }),
            Property::sometimes(
                "an added-back node is accepted by the new active",
                |_, s: &State| added_back(s).any(|st| st == Stream::Accepted),
            ),
        ]
    }

    /// Reachable only when flushes may fail: not asked of a check with `flush_failures == 0`.
    fn flush_failure_properties(&self) -> Vec<Property<Self>> {
        if self.bounds.flush_failures == 0 {
            return Vec::new();
        }
        vec![Property::sometimes(
            "a failed flush is retried",
            |_, s: &State| s.flush_retried,
        )]
    }

    /// The property this model calls `name`.
    pub fn property_named(&self, name: &str) -> Option<Property<Self>> {
        self.all_properties().into_iter().find(|p| p.name == name)
    }
}

/// The streams of the copies that the failed-over node holds since it was added back.
fn added_back(s: &State) -> impl Iterator<Item = Stream> + '_ {
    s.vbs.iter().flat_map(|vb| {
        vb.replicas
            .iter()
            .filter(|r| r.added_back)
            .map(|r| r.stream)
    })
}

fn replica_streams(s: &State) -> impl Iterator<Item = Stream> + '_ {
    s.vbs
        .iter()
        .flat_map(|vb| vb.replicas.iter().map(|r| r.stream))
}

fn expiry_queued_after_flusher_stopped(s: &State) -> bool {
    let Node::ShuttingDown(sd) = s.node else {
        return false;
    };
    sd.flusher_stopped
        && s.vbs.iter().any(|vb| {
            vb.active.as_ref().is_some_and(|a| {
                a.queue.iter().any(|q| {
                    matches!(q, Queued::Mutation(seqno)
                        if matches!(a.history[*seqno as usize - 1].op, Op::Expire { in_shutdown: true, .. }))
                })
            })
        })
}

/// A replica whose stream the active has accepted holds, at every seqno it has, the same
/// mutation as the active.
pub fn no_replica_diverges(s: &State) -> bool {
    s.vbs.iter().all(|vb| {
        vb.replicas
            .iter()
            .filter(|r| r.stream == Stream::Accepted)
            .all(|r| {
                let Some(a) = &vb.active else { return false };
                r.high_seqno() <= a.high_seqno()
                    && r.history
                        .iter()
                        .zip(a.history.iter())
                        .all(|(x, y)| x.same_content(y))
            })
    })
}

pub fn failover_tables_well_formed(s: &State) -> bool {
    s.vbs.iter().all(|vb| {
        // A replica's vbstate holds its producer's table (entries above its own high seqno
        // are expected there) until its node, promoted, flushes as the active.
        let disk_ok = vb.disk.failover.is_well_formed()
            && (vb.disk.replica || vb.disk.failover.newest().seqno <= vb.disk.persisted_seqno());
        // A vb warmed up from a replica vbstate is a replica in memory, with its producer's
        // table, until the cluster manager promotes it again and it enters the map.
        let active_ok = vb.active.as_ref().is_none_or(|a| {
            a.failover.is_well_formed()
                && (a.failover.newest().seqno <= a.high_seqno() || (vb.disk.replica && !a.in_map))
        });
        let replicas_ok = vb.replicas.iter().all(|r| r.failover.is_well_formed());
        disk_ok && active_ok && replicas_ok
    })
}

/// Persisted seqno at or below high seqno, and what is on disk is what memory holds.
pub fn disk_is_prefix_of_memory(s: &State) -> bool {
    s.vbs.iter().all(|vb| {
        vb.active.as_ref().is_none_or(|a| {
            vb.disk.persisted_seqno() <= a.high_seqno()
                && vb
                    .disk
                    .history
                    .iter()
                    .zip(a.history.iter())
                    // A promoted copy's memory is under its new entry before its disk is.
                    .all(|(d, m)| {
                        if vb.disk.replica {
                            d.same_content(m)
                        } else {
                            d == m
                        }
                    })
        })
    })
}

pub fn checkpoint_holds_unpersisted(s: &State) -> bool {
    s.vbs.iter().all(|vb| {
        vb.active.as_ref().is_none_or(|a| {
            let queued: Vec<Seqno> = a
                .queue
                .iter()
                .filter_map(|q| match q {
                    Queued::Mutation(s) => Some(*s),
                    Queued::SetVbState(_) => None,
                })
                .collect();
            let expected: Vec<Seqno> = (vb.disk.persisted_seqno() + 1..=a.high_seqno()).collect();
            queued == expected
        })
    })
}

/// Every mutation on disk was made under a failover entry that the table on disk names, so
/// a restart that loses memory can still tell replicas where its history branched. On a
/// promoted copy not yet flushed as the active (its vbstate says replica), only up to where
/// its next warmup's entry goes: the cluster manager promotes it again there with a new entry,
/// which names everything above.
pub fn disk_branches_named(s: &State) -> bool {
    s.vbs.iter().all(|vb| {
        let d = &vb.disk;
        let named = if d.replica {
            d.entry_seqno() as usize
        } else {
            d.history.len()
        };
        d.history
            .iter()
            .take(named)
            .all(|m: &Mutation| d.failover.contains_uuid(m.branch))
    })
}

/// stats.json may say "clean" while the node is down only if the node lost nothing that
/// matters to the next warmup: no failover entry that was not on disk, and no mutation a DCP
/// client could have seen ([`State::harmful_loss`]).
pub fn clean_flag_honest(s: &State) -> bool {
    match s.node {
        Node::Down(Down::Crashed { harmful_loss, .. } | Down::ShutDown { harmful_loss, .. }) => {
            !(s.clean_flag && harmful_loss)
        }
        _ => true,
    }
}
