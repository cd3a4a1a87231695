//! Plain-language descriptions of steps: what each action changed (seqnos, tables, disk,
//! streams). `warmcheck check` prints counterexamples with these, and Explorer shows them.

use crate::{Action, Down, Node, Op, Queued, State, Stream};
use std::fmt::Write;

/// One sentence (or a few, joined by "; ") saying what `action` changed from `last` to `next`.
// Long: one arm per Action, exhaustive, so that no action goes undescribed.
#[allow(clippy::too_many_lines)]
pub fn describe_step(last: &State, action: &Action, next: &State) -> String {
    let mut out = String::new();
    let w = &mut out;
    match *action {
        Action::ClientSets { vb, .. }
        | Action::ClientDeletes { vb, .. }
        | Action::ItemExpires { vb, .. } => {
            let a = next.vbs[vb as usize].active.as_ref().expect("active vb");
            let m = a.history.back().expect("a new mutation");
            let _ = write!(w, "vb {vb}: seqno {} = {m:?}", a.high_seqno());
            if let Op::Expire {
                in_warmup,
                in_shutdown,
            } = m.op
            {
                if in_warmup {
                    w.push_str(" (during warmup)");
                }
                if in_shutdown {
                    w.push_str(" (during the shutdown: no DCP client can see it)");
                }
            }
            let _ = write!(w, ", queued under {:?}", a.failover.newest());
            if !a.in_map {
                w.push_str("; the flusher is not notified (vb not in the map)");
            } else if matches!(next.node, Node::ShuttingDown(sd) if sd.flusher_stopped) {
                w.push_str("; the flusher has stopped: it will never be written");
            }
        }
        Action::ClockAdvances => {
            let _ = write!(w, "clock {} -> {}", last.clock, next.clock);
        }
        Action::FlusherCommits { vb } => describe_commit(w, last, next, vb),
        Action::FlusherCommitFails { vb } => {
            let _ = write!(
                w,
                "vb {vb}: the flush fails: nothing is written, the items stay queued for a retry"
            );
        }
        Action::StatsSnapshotRewritesStatsJson => {
            w.push_str("stats.json rewritten without ep_force_shutdown: a crash now is unclean")
        }
        Action::ActiveCrashes => {
            let _ = write!(w, "the active crashes");
            if let Some(p) = last.warmup_phase() {
                let _ = write!(w, " during warmup (after {})", p.name());
            }
            if matches!(last.node, Node::ShuttingDown(_)) {
                w.push_str(" during a clean shutdown");
            }
            for (i, (l, n)) in last.vbs.iter().zip(next.vbs.iter()).enumerate() {
                if let Some(a) = &l.active {
                    let lost = a.high_seqno().saturating_sub(n.disk.persisted_seqno());
                    if lost > 0 {
                        let _ = write!(
                            w,
                            "; vb {i}: seqnos {}..={} lost",
                            n.disk.persisted_seqno() + 1,
                            a.high_seqno()
                        );
                    }
                    if a.queue.iter().any(|q| matches!(q, Queued::SetVbState(_))) {
                        let _ = write!(w, "; vb {i}: queued set_vbucket_state lost");
                    }
                }
            }
            let _ = write!(
                w,
                "; stats.json says {}",
                if next.clean_flag {
                    "clean"
                } else {
                    "not clean"
                }
            );
        }
        Action::ShutdownBegins => {
            w.push_str("clean shutdown begins: client traffic and DCP stop (streams drop)");
            describe_warmup_stop(w, last, next, "goes on until the tasks stop");
            w.push_str("; the expiry pager and compaction go on");
        }
        Action::ShutdownWritesCleanFlag => {
            if next.clean_flag && !last.clean_flag {
                w.push_str("stats.json: ep_force_shutdown=false (clean)");
            } else if next.clean_flag {
                w.push_str("stats.json: ep_force_shutdown=false (clean), as it already said");
            } else {
                w.push_str(
                    "stats.json left saying ep_force_shutdown=true: a vbstate was not persisted",
                );
            }
            if let Some(p) = last.warmup_phase() {
                let _ = write!(w, ", though warmup stopped after {}", p.name());
                if let Node::ShuttingDown(sd) = last.node {
                    if sd.warmup_stopped {
                        w.push_str(" (warmup was forced to Done)");
                    }
                }
            }
            describe_down(w, next);
        }
        Action::ShutdownStopsFlusher => {
            w.push_str("the flusher stops");
            describe_down(w, next);
        }
        Action::ShutdownStopsTasks => {
            w.push_str("the bucket's tasks (expiry pager, compaction) stop");
            if let Node::ShuttingDown(sd) = last.node {
                if let (Some(p), false) = (sd.warmup, sd.warmup_stopped) {
                    let _ = write!(w, "; warmup (after {}) stops with them", p.name());
                }
            }
            if next.vbs.iter().zip(last.vbs.iter()).any(|(n, l)| {
                n.active.as_ref().map(|a| a.queue.len()) != l.active.as_ref().map(|a| a.queue.len())
            }) {
                w.push_str("; done() queues set_vbucket_state the stopped flusher never writes");
            }
            describe_down(w, next);
        }
        Action::WarmupInitializes => {
            let _ = write!(
                w,
                "warmup reads stats.json: previous shutdown {}",
                if next.read_clean == Some(true) {
                    "clean"
                } else {
                    "unclean"
                }
            );
            if last.clean_flag && !next.clean_flag {
                w.push_str("; ep_force_shutdown=true written");
            } else if next.read_clean == Some(false) && !next.clean_flag {
                w.push_str("; stats.json left as it is");
            }
        }
        Action::WarmupCreatesVBuckets => {
            for (i, vb) in next.vbs.iter().enumerate() {
                let a = vb.active.as_ref().expect("created");
                let _ = write!(w, "vb {i}: high seqno {}", a.high_seqno());
                if a.new_entry {
                    let _ = write!(w, ", createEntry -> {:?}", a.failover);
                    if !a.queue.is_empty() {
                        w.push_str(", set_vbucket_state queued (flusher not notified)");
                    } else {
                        w.push_str(" (in memory only)");
                    }
                } else {
                    let _ = write!(w, ", table {:?}", a.failover);
                }
                w.push_str("; ");
            }
            out.truncate(out.trim_end_matches("; ").len());
        }
        Action::WarmupPopulatesVBucketMap | Action::WarmupPopulatesVBucketMapFlushFailing => {
            if *action == Action::WarmupPopulatesVBucketMapFlushFailing {
                w.push_str(
                    "the synchronous vbstate flush fails: set_vbucket_state stays queued (flusher \
                     not notified), failedToSetAVbucketState, client traffic refused; ",
                );
            }
            for (i, (l, n)) in last.vbs.iter().zip(next.vbs.iter()).enumerate() {
                if l.disk.failover != n.disk.failover {
                    let _ = write!(
                        w,
                        "vb {i}: set_vbucket_state flushed synchronously, disk table {:?}; ",
                        n.disk.failover
                    );
                }
                let a = n.active.as_ref().expect("created");
                if a.notified {
                    let _ = write!(w, "vb {i}: set_vbucket_state queued, flusher notified; ");
                }
            }
            w.push_str("vbs enter the vb map: DCP and expiry are live");
        }
        Action::WarmupLoadsData => w.push_str("warmup loads the values"),
        Action::WarmupReachesDone => w.push_str("warmup reaches Done"),
        Action::WarmupCompletes => {
            if matches!(next.node, Node::ShuttingDown(_)) {
                w.push_str("warmupCompleted() during the shutdown");
            } else if next.traffic_refused {
                w.push_str("warmupCompleted(): traffic stays refused (a vbstate flush failed)");
            } else {
                w.push_str("warmupCompleted(): traffic enabled");
            }
            if next.vbs.iter().any(|vb| {
                vb.active
                    .as_ref()
                    .is_some_and(|a| a.queue.iter().any(|q| matches!(q, Queued::SetVbState(_))))
            }) && !last.vbs.iter().any(|vb| {
                vb.active
                    .as_ref()
                    .is_some_and(|a| a.queue.iter().any(|q| matches!(q, Queued::SetVbState(_))))
            }) {
                w.push_str("; set_vbucket_state queued for every vb");
            }
        }
        Action::ReplicaRequestsStream { replica, vb } => {
            let l = &last.vbs[vb as usize].replicas[replica as usize];
            let n = &next.vbs[vb as usize].replicas[replica as usize];
            let a = last.vbs[vb as usize].active.as_ref().expect("producer");
            let _ = write!(
                w,
                "r{} vb {vb} asks start={} uuid=U{} snap=[{},{}]; producer high {} table {:?}: ",
                replica + 1,
                l.high_seqno(),
                l.failover.newest().uuid,
                l.snap_start,
                l.snap_end,
                a.high_seqno(),
                a.failover
            );
            match n.stream {
                Stream::Accepted => {
                    let _ = write!(w, "accepted, replica adopts {:?}", n.failover);
                }
                Stream::RolledBack(0) if n.high_seqno() == l.high_seqno() && l.high_seqno() > 0 => {
                    let _ = write!(
                        w,
                        "rollback to 0; replica drops its newest entry, now {:?}",
                        n.failover
                    );
                }
                Stream::RolledBack(rb) => {
                    let _ = write!(
                        w,
                        "rollback to {rb}; replica rewinds to seqno {} and prunes to {:?}",
                        n.high_seqno(),
                        n.failover
                    );
                }
                Stream::None => unreachable!("a request is answered"),
            }
        }
        Action::ReplicaReceives { replica, vb, seqno } => {
            let n = &next.vbs[vb as usize];
            let m = n.replicas[replica as usize].history[seqno as usize - 1];
            let _ = write!(w, "r{} vb {vb} receives seqno {seqno} = {m:?}", replica + 1);
            if seqno > n.disk.persisted_seqno() {
                w.push_str(" (not yet persisted on the active)");
            }
        }
        Action::ClusterFailsOverToReplica { replica } => {
            let _ = write!(
                w,
                "the down active is failed over and r{} promoted",
                replica + 1
            );
            for (i, (l, n)) in last.vbs.iter().zip(next.vbs.iter()).enumerate() {
                let r = &l.replicas[replica as usize];
                let a = n.active.as_ref().expect("the promoted vb");
                let _ = write!(
                    w,
                    "; vb {i}: holds seqnos 1..={} (snapshot [{},{}]), new entry {:?}, table {:?} (set_vbucket_state queued)",
                    a.high_seqno(),
                    r.snap_start,
                    r.snap_end,
                    a.failover.newest(),
                    a.failover
                );
                if let Some(d) = &n.failed_over {
                    let _ = write!(
                        w,
                        "; the old active's disk keeps seqnos 1..={} under {:?}",
                        d.persisted_seqno(),
                        d.failover
                    );
                }
            }
        }
        Action::FailedOverNodeIsAddedBack => {
            let clean = last.failed_over.is_some_and(|f| f.clean_flag);
            let replica_vbstate = last
                .vbs
                .iter()
                .any(|vb| vb.failed_over.as_ref().is_some_and(|d| d.replica));
            let _ = write!(
                w,
                "the failed-over node warms up ({}) and is added back as a replica",
                match (clean, replica_vbstate) {
                    (true, _) => "stats.json says clean",
                    (false, true) => "unclean, but its vbstate says replica: no entry",
                    (false, false) => "unclean: its vbstate says active, so createEntry",
                }
            );
            for (i, (l, n)) in last.vbs.iter().zip(next.vbs.iter()).enumerate() {
                let d = l.failed_over.as_ref().expect("the failed-over disk");
                let r = n.replicas.last().expect("the added-back replica");
                let _ = write!(
                    w,
                    "; vb {i}: r{} holds seqnos 1..={} with table {:?}",
                    n.replicas.len(),
                    r.high_seqno(),
                    r.failover
                );
                if r.failover != d.failover {
                    let _ = write!(w, " (new entry {:?})", r.failover.newest());
                }
            }
        }
    }
    out
}

fn describe_commit(w: &mut String, last: &State, next: &State, vb: u8) {
    let l = &last.vbs[vb as usize];
    let n = &next.vbs[vb as usize];
    let (from, to) = (l.disk.persisted_seqno(), n.disk.persisted_seqno());
    let _ = write!(w, "vb {vb}: flusher commits ");
    if to > from {
        let _ = write!(w, "seqnos {}..={}", from + 1, to);
    } else {
        w.push_str("no mutations");
    }
    if l.disk.failover != n.disk.failover {
        let _ = write!(w, " with new table {:?}", n.disk.failover);
    } else {
        let _ = write!(w, " with the cached table {:?}", n.disk.failover);
        let mem = &n.active.as_ref().expect("active").failover;
        if *mem != n.disk.failover {
            let _ = write!(w, " (memory has {mem:?})");
        }
    }
}

/// What stopping warmup did at this step, if it did anything: `Warmup::stop` forcing Done, or
/// finding nothing to cancel (PopulateVBucketMap still to run); `otherwise` says what a warmup
/// the step did not stop does.
fn describe_warmup_stop(w: &mut String, last: &State, next: &State, otherwise: &str) {
    let (Some(p), Node::ShuttingDown(sd)) = (next.warmup_phase(), next.node) else {
        return;
    };
    let was_stopped = matches!(last.node, Node::ShuttingDown(l) if l.warmup_stopped);
    if sd.warmup_stopped && !was_stopped {
        let _ = write!(
            w,
            "; Warmup::stop cancels warmup (after {}) and forces its state to Done",
            p.name()
        );
    } else if !sd.warmup_stopped && !matches!(last.node, Node::ShuttingDown(l) if l.tasks_stopped) {
        let _ = write!(w, "; warmup (after {}) {otherwise}", p.name());
    }
}

fn describe_down(w: &mut String, next: &State) {
    if let Node::Down(Down::ShutDown { harmful_loss, .. }) = next.node {
        w.push_str("; the node is down (clean shutdown)");
        if harmful_loss {
            w.push_str(
                "; lost: a failover entry that never reached disk, or queued items a DCP client \
                 could have seen",
            );
        }
    }
}

/// Why `state` violates the `always` property `name`, in a sentence; `None` if it does not.
pub fn explain(model: &crate::Warmup, name: &str, s: &State) -> Option<String> {
    let p = model.property_named(name)?;
    if (p.condition)(model, s) {
        return None;
    }
    Some(match name {
        "no replica diverges" => {
            let mut why = String::new();
            for (i, vb) in s.vbs.iter().enumerate() {
                let Some(a) = &vb.active else { continue };
                for (r, rep) in vb.replicas.iter().enumerate() {
                    if rep.stream != Stream::Accepted {
                        continue;
                    }
                    for (seq, (x, y)) in rep.history.iter().zip(a.history.iter()).enumerate() {
                        if !x.same_content(y) {
                            let _ = write!(
                                why,
                                "r{} holds vb {i} seqno {} = {x:?}, the active holds {y:?}, and the \
                                 active accepted r{}'s stream (both tables name {:?}); ",
                                r + 1,
                                seq + 1,
                                r + 1,
                                rep.failover
                            );
                            break;
                        }
                    }
                    if rep.high_seqno() > a.high_seqno() {
                        let _ = write!(
                            why,
                            "r{} is at seqno {} beyond the active's {} on an accepted stream; ",
                            r + 1,
                            rep.high_seqno(),
                            a.high_seqno()
                        );
                    }
                }
            }
            why.trim_end_matches("; ").to_string()
        }
        "every mutation on disk is on a branch the disk's failover table names" => {
            let mut why = String::new();
            for (i, vb) in s.vbs.iter().enumerate() {
                for (seq, m) in vb.disk.history.iter().enumerate() {
                    if !vb.disk.failover.contains_uuid(m.branch) {
                        let _ = write!(
                            why,
                            "vb {i} seqno {} = {m:?} was made under U{} but the table on disk is {:?}; ",
                            seq + 1,
                            m.branch,
                            vb.disk.failover
                        );
                    }
                }
            }
            why.trim_end_matches("; ").to_string()
        }
        "stats.json says clean only when no branch point or streamable mutation was lost" => {
            "the node is down and stats.json says the shutdown was clean, but it lost a failover \
             entry that never reached disk or mutations a DCP client could have seen; the next \
             warmup will create no failover entry"
                .to_string()
        }
        _ => format!("the state breaks \"{name}\""),
    })
}
