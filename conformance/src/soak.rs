//! Seeded random workloads on the implementation, checked against the model at every step
//! (TigerBeetle's VOPR in spirit: print the seed, run, end with PASSED or "reproduce with").
//!
//! A [`Driver`] owns a cluster whose event log it reads back after every call and feeds to a
//! [`Validator`], so the implementation is validated against the model line by line as it runs.
//! The generator ([`pick`]) chooses mostly calls the model enables in its current state (each
//! then *must* be accepted and must be logged as that very action), plus calls that are not
//! model actions (a get of any key, compaction, the expiry pager, a clock move that makes
//! nothing due: each maps to expiries or to a stutter), plus a share of *probes*: any engine
//! call at all, with arguments out of range now and then. A probe the engine refuses must leave
//! the state as it was and log nothing; a probe it accepts is validated like everything else,
//! so an engine that accepts what the model does not enable is caught.
//!
//! After every call that logs nothing (a refusal, a delivery with nothing to send), and every
//! 16th call anyway, the engine's live projection is compared with the model's: a call that
//! changes the state without logging it is caught too. (A logged line is the view at the end
//! of its call, so it already is the live state.)
//!
//! Crashes are plain (`crash`) or torn (`crash_torn` with a random [`Tear`]); both are the
//! model's `ActiveCrashes`, so what survives must be exactly what the model says is on disk.
//!
//! **Segments.** The model counts client writes, crashes and clean shutdowns in `u8`s and keeps
//! them within 60 / 20 / 20 (its seqnos, uuids and values are `u8` too). When the model's state
//! reaches one of these bounds (or the next uuids would come near 255), the soak starts a new
//! segment: a fresh cluster on fresh storage and the model's initial state. Steps are numbered
//! across segments; the seed fixes everything.
//!
//! **Failed flushes.** The model's `FlusherCommitFails` and
//! `WarmupPopulatesVBucketMapFlushFailing` are calls too: a failure armed at the storage seam
//! (`Cluster::fail_next_flushes`: a full disk, on whichever backend), then `flush` or
//! `warmup_step`, then disarmed. Each segment may fail at most [`FLUSH_FAILURES_PER_SEGMENT`]
//! flushes, so that failures are exercised without crowding out the rest.
//!
//! Areas verified: see `validate.rs`, at every step; and that every action the model enables
//! is accepted by the engine, and every refused call changes nothing.
//! Areas not verified, and why: injected *sync* failures (the crashable backend's
//! `crash_at_sync`, after which the machine is gone) are left to `impl/tests/it/random_walk.rs`
//! and to the kill test (`tests/crash_kill.rs`): the call in flight at such a failure has no
//! single model successor; replicas restarting (the model's replicas never restart).

use crate::mapping;
use crate::validate::{self, Step, Validator};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use stateright::Model;
use std::collections::VecDeque;
use std::fmt;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use warmcheck_impl::engine::{
    Cluster, Config, CounterUuids, EngineError, SeededBugs, StorageBackend, Tear,
};
use warmcheck_model::{properties, Action, Bounds, Key, Node, Phase, State, Variant, Warmup};

pub const SOAK_SCHEMA: &str = "warmcheck-soak-report/1";

/// How many recent events a failure shows.
pub const RECENT: usize = 20;

// ---------------------------------------------------------------------------------------------
// Engine calls
// ---------------------------------------------------------------------------------------------

/// One engine call, with its arguments.
#[derive(Clone, Debug, PartialEq)]
pub enum Call {
    Set {
        vb: u16,
        key: u8,
        value: String,
        ttl: bool,
    },
    Delete {
        vb: u16,
        key: u8,
    },
    Get {
        vb: u16,
        key: u8,
    },
    Compact {
        vb: u16,
    },
    RunExpiryPager,
    /// `expire_item`: the expiry pager's visit of one item.
    ExpireItem {
        vb: u16,
        key: u8,
    },
    AdvanceClock,
    Flush {
        vb: u16,
    },
    /// `fail_next_flushes(1)`, `flush(vb)` (which must fail), disarm.
    FailFlush {
        vb: u16,
    },
    StatsSnapshot,
    /// `crash()`, or `crash_torn(tear)`.
    Crash {
        tear: Option<Tear>,
    },
    ShutdownBegin,
    ShutdownWriteCleanFlag,
    ShutdownStopFlusher,
    ShutdownStopTasks,
    WarmupStep,
    /// `fail_next_flushes(failures)`, `warmup_step()`, disarm: PopulateVBucketMap whose
    /// synchronous vbstate flushes fail.
    WarmupStepFlushFailing {
        failures: u32,
    },
    StreamRequest {
        replica: usize,
        vb: u16,
    },
    StreamDeliver {
        replica: usize,
        vb: u16,
    },
    /// `fail_over(replica)`: the down active failed over, `replica` promoted.
    FailOver {
        replica: usize,
    },
    /// `add_back()`: the failed-over node rejoins as the last replica.
    AddBack,
}

impl fmt::Display for Call {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = |replica: &usize| warmcheck_impl::engine::replica_name(*replica);
        match self {
            Call::Set {
                vb,
                key,
                value,
                ttl,
            } => write!(
                f,
                "set vb{vb} k{key}={value}{}",
                if *ttl { " ttl=1" } else { "" }
            ),
            Call::Delete { vb, key } => write!(f, "delete vb{vb} k{key}"),
            Call::Get { vb, key } => write!(f, "get vb{vb} k{key}"),
            Call::Compact { vb } => write!(f, "compact vb{vb}"),
            Call::RunExpiryPager => f.write_str("run_expiry_pager"),
            Call::ExpireItem { vb, key } => write!(f, "expire_item vb{vb} k{key}"),
            Call::AdvanceClock => f.write_str("advance_clock 1"),
            Call::Flush { vb } => write!(f, "flush vb{vb}"),
            Call::FailFlush { vb } => write!(f, "fail_next_flushes 1; flush vb{vb}"),
            Call::StatsSnapshot => f.write_str("stats_snapshot"),
            Call::Crash { tear: None } => f.write_str("crash"),
            Call::Crash { tear: Some(t) } => write!(f, "crash_torn {t:?}"),
            Call::ShutdownBegin => f.write_str("shutdown_begin"),
            Call::ShutdownWriteCleanFlag => f.write_str("shutdown_write_clean_flag"),
            Call::ShutdownStopFlusher => f.write_str("shutdown_stop_flusher"),
            Call::ShutdownStopTasks => f.write_str("shutdown_stop_tasks"),
            Call::WarmupStep => f.write_str("warmup_step"),
            Call::WarmupStepFlushFailing { failures } => {
                write!(f, "fail_next_flushes {failures}; warmup_step")
            }
            Call::StreamRequest { replica, vb } => {
                write!(f, "stream_request {} vb{vb}", r(replica))
            }
            Call::StreamDeliver { replica, vb } => {
                write!(f, "stream_deliver {} vb{vb}", r(replica))
            }
            Call::FailOver { replica } => write!(f, "fail_over {}", r(replica)),
            Call::AddBack => f.write_str("add_back"),
        }
    }
}

/// What an accepted call answered, and whether it logs a line (every accepted call does, but
/// a `stream_deliver` with nothing to send).
#[derive(Clone, Debug)]
pub struct Answer {
    pub text: String,
    pub logged: bool,
}

impl Call {
    /// Make the call on `cluster`.
    pub fn perform(&self, cluster: &mut Cluster) -> Result<Answer, EngineError> {
        let key = |k: &u8| mapping::key_name(Key(*k));
        let done = |text: String| Answer { text, logged: true };
        Ok(match self {
            Call::Set {
                vb,
                key: k,
                value,
                ttl,
            } => done(format!(
                "seqno {}",
                cluster.set(*vb, &key(k), value, ttl.then_some(1))?
            )),
            Call::Delete { vb, key: k } => done(format!("seqno {}", cluster.delete(*vb, &key(k))?)),
            Call::Get { vb, key: k } => done(match cluster.get(*vb, &key(k))? {
                Some(v) => format!("{v:?}"),
                None => "none".to_string(),
            }),
            Call::Compact { vb } => done(format!("expired {:?}", cluster.compact(*vb)?)),
            Call::RunExpiryPager => done(format!("expired {:?}", cluster.run_expiry_pager()?)),
            Call::ExpireItem { vb, key: k } => {
                done(format!("seqno {}", cluster.expire_item(*vb, &key(k))?))
            }
            Call::AdvanceClock => {
                cluster.advance_clock(1)?;
                done(format!("clock {}", cluster.clock()))
            }
            Call::Flush { vb } => done(format!("committed {:?}", cluster.flush(*vb)?)),
            Call::FailFlush { vb } => {
                cluster.fail_next_flushes(1);
                let got = cluster.flush(*vb);
                cluster.fail_next_flushes(0);
                match got {
                    Err(EngineError::FlushFailed { .. }) => done("flush failed".to_string()),
                    Ok(seqnos) => done(format!("committed {seqnos:?} (a failure was armed)")),
                    Err(e) => return Err(e),
                }
            }
            Call::StatsSnapshot => {
                cluster.stats_snapshot()?;
                done("ok".to_string())
            }
            Call::Crash { tear } => {
                match tear {
                    None => cluster.crash()?,
                    Some(t) => cluster.crash_torn(*t)?,
                }
                done("down".to_string())
            }
            Call::ShutdownBegin => {
                cluster.shutdown_begin()?;
                done("ok".to_string())
            }
            Call::ShutdownWriteCleanFlag => {
                cluster.shutdown_write_clean_flag()?;
                done("ok".to_string())
            }
            Call::ShutdownStopFlusher => {
                cluster.shutdown_stop_flusher()?;
                done("ok".to_string())
            }
            Call::ShutdownStopTasks => {
                cluster.shutdown_stop_tasks()?;
                done("ok".to_string())
            }
            Call::WarmupStep => done(format!("completed {}", cluster.warmup_step()?)),
            Call::WarmupStepFlushFailing { failures } => {
                cluster.fail_next_flushes(*failures);
                let got = cluster.warmup_step();
                cluster.fail_next_flushes(0);
                done(format!("completed {}", got?))
            }
            Call::StreamRequest { replica, vb } => {
                done(cluster.stream_request(*replica, *vb)?.to_string())
            }
            Call::FailOver { replica } => {
                cluster.fail_over(*replica)?;
                done("ok".to_string())
            }
            Call::AddBack => {
                cluster.add_back()?;
                done("ok".to_string())
            }
            Call::StreamDeliver { replica, vb } => match cluster.stream_deliver(*replica, *vb)? {
                Some(s) => done(format!("seqno {s}")),
                None => Answer {
                    text: "nothing to send".to_string(),
                    logged: false,
                },
            },
        })
    }

    /// The call that performs model action `a` from state `s` (the mapping's `apply`, as data).
    pub fn of_action(a: &Action, s: &State, tear: Option<Tear>) -> Call {
        match *a {
            Action::ClientSets { vb, key, ttl } => Call::Set {
                vb: vb as u16,
                key: key.0,
                value: mapping::value_of_next_set(s),
                ttl,
            },
            Action::ClientDeletes { vb, key } => Call::Delete {
                vb: vb as u16,
                key: key.0,
            },
            Action::ClockAdvances => Call::AdvanceClock,
            // A get stops when a shutdown begins; the pager's visit goes on (get is exercised by
            // the generator's plain calls).
            Action::ItemExpires { vb, key } => Call::ExpireItem {
                vb: vb as u16,
                key: key.0,
            },
            Action::FlusherCommits { vb } => Call::Flush { vb: vb as u16 },
            Action::FlusherCommitFails { vb } => Call::FailFlush { vb: vb as u16 },
            Action::StatsSnapshotRewritesStatsJson => Call::StatsSnapshot,
            Action::ActiveCrashes => Call::Crash { tear },
            Action::ShutdownBegins => Call::ShutdownBegin,
            Action::ShutdownWritesCleanFlag => Call::ShutdownWriteCleanFlag,
            Action::ShutdownStopsFlusher => Call::ShutdownStopFlusher,
            Action::ShutdownStopsTasks => Call::ShutdownStopTasks,
            Action::WarmupPopulatesVBucketMapFlushFailing => Call::WarmupStepFlushFailing {
                failures: mapping::sync_flushes(s),
            },
            Action::WarmupInitializes
            | Action::WarmupCreatesVBuckets
            | Action::WarmupPopulatesVBucketMap
            | Action::WarmupLoadsData
            | Action::WarmupReachesDone
            | Action::WarmupCompletes => Call::WarmupStep,
            Action::ReplicaRequestsStream { replica, vb } => Call::StreamRequest {
                replica: replica as usize,
                vb: vb as u16,
            },
            Action::ReplicaReceives { replica, vb, .. } => Call::StreamDeliver {
                replica: replica as usize,
                vb: vb as u16,
            },
            Action::ClusterFailsOverToReplica { replica } => Call::FailOver {
                replica: replica as usize,
            },
            Action::FailedOverNodeIsAddedBack => Call::AddBack,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The generator
// ---------------------------------------------------------------------------------------------

/// The workload's knobs.
#[derive(Clone, Copy, Debug)]
pub struct Knobs {
    /// Percent of calls that are probes: any call, whatever the model enables.
    pub probe_percent: u32,
    /// Percent of crashes that are torn (`crash_torn`; only meaningful on the crashable
    /// backend, which is the only one that keeps unsynced bytes apart).
    pub torn_percent: u32,
}

impl Default for Knobs {
    fn default() -> Self {
        Knobs {
            probe_percent: 10,
            torn_percent: 50,
        }
    }
}

/// How far the workload may push the model's counters (at most the model's bounds). Calls
/// that would go beyond are not made, not even as probes: the engine has no such bound and
/// would accept them.
#[derive(Clone, Copy, Debug)]
pub struct Budget {
    pub writes: u8,
    pub crashes: u8,
    pub shutdowns: u8,
    pub flush_failures: u8,
    /// Failovers (0 unless asked for: `workload --failovers`).
    pub failovers: u8,
}

/// The most flushes a segment fails: a small share, so that failures are exercised without
/// crowding out the rest.
pub const FLUSH_FAILURES_PER_SEGMENT: u8 = 3;

impl Budget {
    pub fn of(bounds: &Bounds) -> Budget {
        Budget {
            writes: bounds.writes,
            crashes: bounds.crashes,
            shutdowns: bounds.shutdowns,
            flush_failures: bounds.flush_failures.min(FLUSH_FAILURES_PER_SEGMENT),
            failovers: bounds.failovers,
        }
    }

    fn allows(&self, s: &State, call: &Call) -> bool {
        match call {
            Call::Set { .. } | Call::Delete { .. } => s.writes < self.writes,
            Call::Crash { .. } => s.crashes < self.crashes,
            Call::ShutdownBegin => s.shutdowns < self.shutdowns,
            Call::FailFlush { .. } | Call::WarmupStepFlushFailing { .. } => {
                s.flush_failures < self.flush_failures
            }
            Call::FailOver { .. } => s.failovers < self.failovers,
            _ => true,
        }
    }
}

/// A call chosen by the generator.
#[derive(Clone, Debug)]
pub struct Pick {
    pub call: Call,
    /// The model action the call is meant to perform (an enabled one): the engine must then
    /// accept the call and log exactly this action. `None` for calls that are not one model
    /// action, and for probes.
    pub intended: Option<Action>,
    pub probe: bool,
}

/// Whether expiry runs on `vb` (compaction and the pager: the vb is in a populated map and the
/// bucket's tasks run, through a shutdown until they stop), and whether gets are served too
/// (no shutdown has begun).
fn expiry_runs(s: &State, vb: usize) -> (bool, bool) {
    let (populated, shutting_down, tasks_stopped) = match s.node {
        Node::Running => (true, false, false),
        Node::Warming(p) => (p >= Phase::PopulateVBucketMap, false, false),
        Node::ShuttingDown(sd) => (
            sd.warmup.is_none_or(|p| p >= Phase::PopulateVBucketMap),
            true,
            sd.tasks_stopped,
        ),
        Node::Down(_) => (false, false, false),
    };
    let runs = populated && !tasks_stopped && s.vbs[vb].active.as_ref().is_some_and(|a| a.in_map);
    (runs, runs && !shutting_down)
}

fn random_tear(rng: &mut StdRng) -> Tear {
    match rng.random_range(0..3) {
        0 => Tear::Prefix(rng.random_range(0..4096)),
        1 => Tear::Prefix(usize::MAX),
        _ => Tear::Random(rng.random()),
    }
}

/// The kinds of calls the generator weighs.
const KINDS: usize = 12;

/// The kind of a model action, and its base weight among the enabled actions.
fn kind(a: &Action) -> (usize, u32) {
    match a {
        Action::ClientSets { .. } => (0, 6),
        Action::ClientDeletes { .. } => (1, 2),
        Action::ClockAdvances => (2, 3),
        Action::ItemExpires { .. } => (3, 4),
        Action::FlusherCommits { .. } => (4, 8),
        Action::StatsSnapshotRewritesStatsJson => (5, 2),
        Action::ActiveCrashes => (6, 1),
        Action::ShutdownBegins => (7, 1),
        Action::ShutdownWritesCleanFlag
        | Action::ShutdownStopsFlusher
        | Action::ShutdownStopsTasks => (7, 6),
        Action::FlusherCommitFails { .. } => (4, 1),
        Action::WarmupPopulatesVBucketMapFlushFailing => (8, 1),
        Action::WarmupInitializes
        | Action::WarmupCreatesVBuckets
        | Action::WarmupPopulatesVBucketMap
        | Action::WarmupLoadsData
        | Action::WarmupReachesDone
        | Action::WarmupCompletes => (8, 8),
        Action::ReplicaRequestsStream { .. } => (9, 4),
        Action::ReplicaReceives { .. } => (10, 6),
        Action::ClusterFailsOverToReplica { .. } | Action::FailedOverNodeIsAddedBack => (11, 2),
    }
}

/// Per-kind multipliers of the base weights (swarm testing: each segment draws its own mix,
/// so some segments stream eagerly and others let replicas lag, some crash often and others
/// rarely).
#[derive(Clone, Copy, Debug)]
pub struct Mix([u32; KINDS]);

impl Mix {
    /// Every kind at its base weight.
    pub fn even() -> Mix {
        Mix([2; KINDS])
    }

    /// Each kind at half, once or twice its base weight.
    pub fn draw(rng: &mut StdRng) -> Mix {
        let mut m = [2; KINDS];
        // Failover, the last kind, keeps its base weight: a segment without failovers draws
        // the same numbers as before failover existed, so every seed replays as it did.
        for w in &mut m[..KINDS - 1] {
            *w = [1, 2, 4][rng.random_range(0..3)];
        }
        Mix(m)
    }

    fn weight(&self, a: &Action) -> u32 {
        let (k, base) = kind(a);
        base * self.0[k]
    }
}

/// Choose the next call from model state `s`. Deterministic in `rng`.
pub fn pick(
    rng: &mut StdRng,
    model: &Warmup,
    s: &State,
    knobs: &Knobs,
    budget: &Budget,
    mix: &Mix,
) -> Pick {
    if rng.random_range(0..100) < knobs.probe_percent {
        return Pick {
            call: probe(rng, model, s, knobs, budget),
            intended: None,
            probe: true,
        };
    }
    // Groups of (weight, picks): a kind of call is chosen by weight, then one of its picks.
    let mut groups: Vec<(u32, Vec<Pick>)> = Vec::new();
    let add = |w: u32, p: Pick, groups: &mut Vec<(u32, Vec<Pick>)>| match groups.iter_mut().find(
        |(gw, g)| *gw == w && std::mem::discriminant(&g[0].call) == std::mem::discriminant(&p.call),
    ) {
        Some((_, g)) => g.push(p),
        None => groups.push((w, vec![p])),
    };
    let mut enabled = Vec::new();
    model.actions(s, &mut enabled);
    for a in &enabled {
        let tear = (*a == Action::ActiveCrashes && rng.random_range(0..100) < knobs.torn_percent)
            .then(|| random_tear(rng));
        let call = Call::of_action(a, s, tear);
        if budget.allows(s, &call) {
            let w = mix.weight(a);
            add(
                w,
                Pick {
                    call,
                    intended: Some(a.clone()),
                    probe: false,
                },
                &mut groups,
            );
        }
    }
    // Calls that are not one model action: each maps to expiries or to a stutter.
    let b = &model.bounds;
    for vb in 0..b.vbuckets as usize {
        let (expiry, gets) = expiry_runs(s, vb);
        let key = rng.random_range(0..b.keys);
        let plain = |call| Pick {
            call,
            intended: None,
            probe: false,
        };
        if gets {
            add(2, plain(Call::Get { vb: vb as u16, key }), &mut groups);
        }
        if expiry {
            add(2, plain(Call::Compact { vb: vb as u16 }), &mut groups);
            add(2, plain(Call::RunExpiryPager), &mut groups);
        }
    }
    if !enabled.contains(&Action::ClockAdvances) {
        add(
            2,
            Pick {
                call: Call::AdvanceClock,
                intended: None,
                probe: false,
            },
            &mut groups,
        );
    }
    let total: u32 = groups.iter().map(|(w, _)| w).sum();
    let mut at = rng.random_range(0..total);
    for (w, mut g) in groups {
        if at < w {
            let i = rng.random_range(0..g.len());
            return g.swap_remove(i);
        }
        at -= w;
    }
    unreachable!("the draw falls in one group")
}

/// Any call, whatever the model enables; now and then with a vb or replica that does not
/// exist. Stays within the budget and the model's keys (an engine has neither bound).
fn probe(rng: &mut StdRng, model: &Warmup, s: &State, knobs: &Knobs, budget: &Budget) -> Call {
    let b = &model.bounds;
    loop {
        let vb = if rng.random_range(0..10) == 0 {
            b.vbuckets as u16
        } else {
            rng.random_range(0..b.vbuckets) as u16
        };
        let replica = if b.replicas == 0 || rng.random_range(0..10) == 0 {
            b.replicas as usize
        } else {
            rng.random_range(0..b.replicas) as usize
        };
        let key = rng.random_range(0..b.keys);
        // Failover probes only when failovers are asked for: without, the draws are those of
        // before failover existed.
        let kinds = if budget.failovers > 0 { 21 } else { 19 };
        let call = match rng.random_range(0..kinds) {
            19 => Call::FailOver { replica },
            20 => Call::AddBack,
            15 => Call::ExpireItem { vb, key },
            16 => Call::FailFlush { vb },
            17 => Call::ShutdownStopTasks,
            // As many failures as PopulateVBucketMap would make flushes (the model fails them
            // all or none).
            18 => Call::WarmupStepFlushFailing {
                failures: mapping::sync_flushes(s).max(1),
            },
            0 => Call::Set {
                vb,
                key,
                value: mapping::value_of_next_set(s),
                ttl: rng.random(),
            },
            1 => Call::Delete { vb, key },
            2 => Call::Get { vb, key },
            3 => Call::Compact { vb },
            4 => Call::RunExpiryPager,
            5 => Call::AdvanceClock,
            6 => Call::Flush { vb },
            7 => Call::StatsSnapshot,
            8 => Call::Crash {
                tear: (rng.random_range(0..100) < knobs.torn_percent).then(|| random_tear(rng)),
            },
            9 => Call::ShutdownBegin,
            10 => Call::ShutdownWriteCleanFlag,
            11 => Call::ShutdownStopFlusher,
            12 => Call::WarmupStep,
            13 => Call::StreamRequest { replica, vb },
            _ => Call::StreamDeliver { replica, vb },
        };
        if budget.allows(s, &call) {
            return call;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The driver: one cluster, its event log, the validator
// ---------------------------------------------------------------------------------------------

/// An in-memory event log the driver reads back.
#[derive(Clone, Default)]
struct SharedLog(Arc<Mutex<Vec<u8>>>);

/// The engine's event-log writer: the in-memory log, and optionally a file too (written and
/// flushed first, so a killed process leaves at most its last line unfinished).
struct Tee {
    file: Option<std::fs::File>,
    mem: SharedLog,
}

impl Write for Tee {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Some(f) = &mut self.file {
            f.write_all(buf)?;
        }
        self.mem
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match &mut self.file {
            Some(f) => f.flush(),
            None => Ok(()),
        }
    }
}

/// What a run has done so far.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Counters {
    /// Calls made.
    pub steps: u64,
    /// Event-log lines validated.
    pub events: u64,
    pub model_steps: u64,
    pub stutters: u64,
    /// Calls the engine refused (and the model did not enable).
    pub refused: u64,
    pub crashes: u64,
    pub torn_crashes: u64,
    /// How often the model's state went from "no replica diverges" holding to violated.
    pub divergences: u64,
}

/// Drives one cluster, validating its event log against the model after every call.
pub struct Driver {
    cluster: Cluster,
    validator: Validator,
    log: SharedLog,
    consumed: usize,
    pub counters: Counters,
    recent: VecDeque<String>,
    diverged: bool,
    /// Set when a call took effect but an event log could not be written (a full disk under
    /// `--log`): an I/O failure of the run, not the implementation's.
    pub log_failed: Option<String>,
}

impl Driver {
    /// Take over `cluster` (whose state must be `validator`'s), logging its events to memory
    /// and, if given, to `file`.
    pub fn new(mut cluster: Cluster, validator: Validator, file: Option<std::fs::File>) -> Driver {
        let log = SharedLog::default();
        cluster.set_event_log(Box::new(Tee {
            file,
            mem: log.clone(),
        }));
        let diverged = !properties::no_replica_diverges(validator.state());
        Driver {
            cluster,
            validator,
            log,
            consumed: 0,
            counters: Counters::default(),
            log_failed: None,
            recent: VecDeque::new(),
            diverged,
        }
    }

    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    pub fn validator(&self) -> &Validator {
        &self.validator
    }

    /// The last [`RECENT`] calls, oldest first, one line each.
    pub fn recent(&self) -> Vec<String> {
        self.recent.iter().cloned().collect()
    }

    /// Note something in the recent events (e.g. a new segment).
    pub fn note(&mut self, text: String) {
        if self.recent.len() == RECENT {
            self.recent.pop_front();
        }
        self.recent.push_back(text);
    }

    /// The implementation's projection equals the model's (checked when taking over a cluster).
    pub fn check_in_step(&self) -> Result<(), String> {
        let live = mapping::project_impl(&self.cluster);
        if *self.validator.projection() == live {
            Ok(())
        } else {
            let differences = mapping::diff(self.validator.projection(), &live);
            Err(format!(
                "the engine's state differs from the model's:\n{}",
                validate::render_differences(&differences)
            ))
        }
    }

    /// Complete lines logged since the last call.
    fn new_lines(&mut self) -> Vec<String> {
        let buf = self.log.0.lock().unwrap_or_else(|e| e.into_inner());
        let fresh = &buf[self.consumed..];
        let end = fresh.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        let text = String::from_utf8_lossy(&fresh[..end]).into_owned();
        self.consumed += end;
        text.lines().map(str::to_string).collect()
    }

    /// Make one call and check it. `Err` says what went wrong (the step's line is already in
    /// [`Driver::recent`]).
    pub fn step(&mut self, number: u64, pick: &Pick) -> Result<(), String> {
        self.counters.steps += 1;
        let desc = pick.call.to_string();
        let result = pick.call.perform(&mut self.cluster);
        if let Err(warmcheck_impl::engine::EngineError::EventLog(e)) = &result {
            let e = format!("`{desc}` took effect, but writing the event log failed: {e}");
            self.log_failed = Some(e.clone());
            return Err(e);
        }
        let lines = self.new_lines();
        let mut record = format!(
            "{number:>7}  {desc}{}",
            if pick.probe { " (probe)" } else { "" }
        );
        let outcome = self.check_call(&pick.call, &desc, &pick.intended, &result, &lines);
        let mut steps: Vec<Step> = Vec::new();
        let validated = outcome.and_then(|()| {
            for line in &lines {
                let step = self.validator.line(line).map_err(|e| {
                    format!("the engine's event log does not follow the model: {e}")
                })?;
                steps.push(step);
            }
            Ok(())
        });
        match &result {
            Err(e) => record += &format!("  -> refused: {e}"),
            Ok(answer) => {
                let actions: Vec<String> = steps
                    .iter()
                    .flat_map(|s| s.actions.iter().map(|(a, _)| format!("{a:?}")))
                    .collect();
                record += &format!(
                    "  -> {}: {}",
                    answer.text,
                    if validated.is_err() {
                        "DOES NOT FOLLOW THE MODEL".to_string()
                    } else if actions.is_empty() {
                        "stutter".to_string()
                    } else {
                        actions.join(", ")
                    }
                );
            }
        }
        self.note(record);
        validated?;
        for step in &steps {
            self.account(step, &pick.call);
        }
        if result.is_err() {
            self.counters.refused += 1;
        }
        if let (Some(want), Ok(_)) = (&pick.intended, &result) {
            let got: Vec<&Action> = steps
                .iter()
                .flat_map(|s| s.actions.iter().map(|(a, _)| a))
                .collect();
            if got != [want] {
                return Err(format!(
                    "`{desc}` was meant as the model's enabled action {want:?}, but the engine \
                     logged {}",
                    if got.is_empty() {
                        "a stutter (no model action)".to_string()
                    } else {
                        format!("{got:?}")
                    }
                ));
            }
        }
        // The live state too, when nothing was logged (a refused call, or a delivery with
        // nothing to send): a change the log does not show is caught here. A logged line is the
        // view at the end of its call, so it already is the live state; it is compared anyway
        // every 16 steps.
        if lines.is_empty() || number.is_multiple_of(16) {
            self.check_in_step()
                .map_err(|e| format!("after `{desc}`, {e}"))?;
        }
        Ok(())
    }

    /// The engine's answer and what it logged, before validating the lines.
    fn check_call(
        &self,
        call: &Call,
        desc: &str,
        intended: &Option<Action>,
        result: &Result<Answer, EngineError>,
        lines: &[String],
    ) -> Result<(), String> {
        match result {
            Err(e) if e.is_storage() => Err(format!("`{desc}` failed on storage: {e}")),
            Err(e) => match intended {
                Some(a) => Err(format!(
                    "the engine refused `{desc}`, which performs the model's enabled action \
                     {a:?}: {e}"
                )),
                None if !lines.is_empty() => Err(format!(
                    "the engine refused `{desc}` ({e}) but logged {} line(s)",
                    lines.len()
                )),
                None => Ok(()),
            },
            Ok(answer) => {
                let want = usize::from(answer.logged);
                if lines.len() == want {
                    Ok(())
                } else {
                    Err(format!(
                        "`{desc}` ({call:?}) was accepted and logged {} line(s), not {want}",
                        lines.len()
                    ))
                }
            }
        }
    }

    fn account(&mut self, step: &Step, call: &Call) {
        self.counters.events += 1;
        if step.is_stutter() {
            self.counters.stutters += 1;
        }
        self.counters.model_steps += step.actions.len() as u64;
        if step.call == "crash" {
            self.counters.crashes += 1;
            if matches!(call, Call::Crash { tear: Some(_) }) {
                self.counters.torn_crashes += 1;
            }
        }
        for (_, s) in &step.actions {
            let diverged = !properties::no_replica_diverges(s);
            if diverged && !self.diverged {
                self.counters.divergences += 1;
            }
            self.diverged = diverged;
        }
    }
}

impl Counters {
    fn add(&mut self, o: &Counters) {
        self.steps += o.steps;
        self.events += o.events;
        self.model_steps += o.model_steps;
        self.stutters += o.stutters;
        self.refused += o.refused;
        self.crashes += o.crashes;
        self.torn_crashes += o.torn_crashes;
        self.divergences += o.divergences;
    }
}

// ---------------------------------------------------------------------------------------------
// The soak
// ---------------------------------------------------------------------------------------------

/// Where the soak's clusters keep their files.
#[derive(Clone, Debug)]
pub enum SoakBackend {
    /// The in-memory crashable file system (a crash keeps only synced bytes; tears).
    Faulty,
    /// Real files under this directory, one subdirectory per segment (`segment-G`, removed
    /// when the segment ends, but for a failing one).
    File(PathBuf),
}

#[derive(Clone, Debug)]
pub struct SoakConfig {
    pub seed: u64,
    pub steps: u64,
    pub design: Variant,
    pub vbuckets: u8,
    pub replicas: u8,
    pub keys: u8,
    pub backend: SoakBackend,
    pub bugs: SeededBugs,
    pub knobs: Knobs,
    /// Failovers per segment (`soak --failovers`; 0 makes the calls soak made before failover
    /// existed).
    pub failovers: u8,
}

impl SoakConfig {
    /// The model each segment follows: the shape given, the largest counters, the failovers
    /// asked for.
    pub fn model(&self) -> Warmup {
        let mut bounds = validate::generous_bounds(self.vbuckets, self.replicas, self.keys);
        bounds.failovers = self.failovers;
        bounds.into_model(self.design)
    }
}

/// Why a soak failed.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct SoakFailure {
    pub step: u64,
    pub segment: u64,
    pub call: String,
    pub message: String,
    /// The last events, oldest first.
    pub recent: Vec<String>,
}

/// `warmcheck soak --json`.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
#[schemars(title = "warmcheck soak --json", deny_unknown_fields)]
pub struct SoakReport {
    #[schemars(extend("const" = SOAK_SCHEMA))]
    pub schema: &'static str,
    /// A string above 2^53 (`report::seed`).
    #[serde(serialize_with = "crate::report::seed::serialize")]
    #[schemars(with = "crate::report::SeedJson")]
    pub seed: u64,
    /// Calls made (up to and including the failing one).
    pub steps: u64,
    pub variant: String,
    pub passed: bool,
    pub model_steps: u64,
    pub stutters: u64,
    pub crashes: u64,
    pub torn_crashes: u64,
    /// States in which the model's no-replica-diverges was violated (expected in buggy
    /// designs; not a soak failure).
    pub divergences: u64,
    pub refused: u64,
    #[schemars(range(min = 1))]
    pub segments: u64,
    pub failure: Option<SoakFailure>,
    #[schemars(range(min = 0.0))]
    pub seconds: f64,
    pub interrupted: bool,
}

/// Progress as the soak goes: steps done, segments, counters so far.
pub struct Status<'a> {
    pub step: u64,
    pub segments: u64,
    pub counters: &'a Counters,
    pub seconds: f64,
}

/// Whether a segment must end before the next call: a counter of the model is at its bound,
/// or the next warmup could hand out uuids past what a `u8` holds.
fn segment_used_up(model: &Warmup, s: &State) -> bool {
    let b = &model.bounds;
    s.writes >= b.writes
        || s.crashes >= b.crashes
        || s.shutdowns >= b.shutdowns
        || s.flush_failures >= b.flush_failures
        || u32::from(s.next_uuid) + u32::from(b.vbuckets) > 250
}

fn new_cluster(cfg: &SoakConfig, model: &Warmup, segment: u64) -> Result<Cluster, String> {
    let (dir, backend) = match &cfg.backend {
        SoakBackend::Faulty => (PathBuf::from("/soak"), StorageBackend::faulty()),
        SoakBackend::File(root) => (
            root.join(format!("segment-{segment}")),
            StorageBackend::file(),
        ),
    };
    let mut config = Config::new(dir, backend, mapping::impl_variant(model.variant));
    config.vbuckets = model.bounds.vbuckets as u16;
    config.replicas = model.bounds.replicas as usize;
    config.uuids = Box::new(CounterUuids::new());
    config.bugs = cfg.bugs;
    Cluster::create(config).map_err(|e| format!("cannot create the cluster: {e}"))
}

/// Make the directory of `segment` (real files), which must not exist yet: `create_dir` fails
/// on one that does, so a directory another process made (or holds) is never used, nor
/// removed by [`remove_segment_dir`] later. Only directories made here are removed.
fn claim_segment_dir(cfg: &SoakConfig, segment: u64) -> Result<(), String> {
    if let SoakBackend::File(root) = &cfg.backend {
        let dir = root.join(format!("segment-{segment}"));
        std::fs::create_dir_all(root)
            .and_then(|()| std::fs::create_dir(&dir))
            .map_err(|e| {
                format!(
                    "cannot make {}: {e} (another process's? it is neither used nor removed)",
                    dir.display()
                )
            })?;
    }
    Ok(())
}

fn remove_segment_dir(cfg: &SoakConfig, segment: u64) {
    if let SoakBackend::File(root) = &cfg.backend {
        let _ = std::fs::remove_dir_all(root.join(format!("segment-{segment}")));
    }
}

/// Run the soak. `progress` is offered the status now and then; returning `false` stops the
/// run (Ctrl-C). `Err` only for a setup error (the first cluster cannot be created).
pub fn soak(cfg: &SoakConfig, progress: impl FnMut(&Status) -> bool) -> Result<SoakReport, String> {
    soak_logged(cfg, None, progress)
}

/// [`soak`], writing every segment's event log without states to `log` too (each segment's
/// starts with its `create` line; `warmcheck validate` checks the whole file).
pub fn soak_logged(
    cfg: &SoakConfig,
    log: Option<&std::fs::File>,
    mut progress: impl FnMut(&Status) -> bool,
) -> Result<SoakReport, String> {
    let log_to = |driver: &mut Driver| -> Result<(), String> {
        if let Some(f) = log {
            let f = f
                .try_clone()
                .map_err(|e| format!("cannot write the event log: {e}"))?;
            driver
                .cluster
                .add_event_log(Box::new(f), warmcheck_impl::engine::event::States::Without);
        }
        Ok(())
    };
    let start = Instant::now();
    let model = cfg.model();
    let budget = Budget::of(&model.bounds);
    let mut rng = StdRng::seed_from_u64(cfg.seed);
    let mut mix = Mix::draw(&mut rng);
    let mut total = Counters::default();
    let mut segment = 1;
    claim_segment_dir(cfg, segment)?;
    let mut driver = Driver::new(
        new_cluster(cfg, &model, segment)?,
        Validator::new(model.clone()),
        None,
    );
    log_to(&mut driver)?;
    driver.note(format!("{:>7}  (segment {segment} begins)", 1));
    let fail = |step, segment, call: &str, message, driver: &Driver| SoakFailure {
        step,
        segment,
        call: call.to_string(),
        message,
        recent: driver.recent(),
    };
    let mut failure = driver
        .check_in_step()
        .err()
        .map(|m| fail(0, segment, "Cluster::create", m, &driver));
    let mut interrupted = false;
    let mut step = 0;
    while failure.is_none() && step < cfg.steps {
        step += 1;
        if segment_used_up(&model, driver.validator().state()) {
            total.add(&driver.counters);
            let recent = driver.recent();
            claim_segment_dir(cfg, segment + 1)?;
            let cluster = match new_cluster(cfg, &model, segment + 1) {
                Ok(c) => c,
                Err(m) => {
                    failure = Some(fail(step, segment + 1, "Cluster::create", m, &driver));
                    break;
                }
            };
            remove_segment_dir(cfg, segment);
            segment += 1;
            driver = Driver::new(cluster, Validator::new(model.clone()), None);
            if let Err(m) = log_to(&mut driver) {
                failure = Some(fail(step, segment, "Cluster::create", m, &driver));
                break;
            }
            mix = Mix::draw(&mut rng);
            for r in recent {
                driver.note(r);
            }
            driver.note(format!("{step:>7}  (segment {segment} begins)"));
            if let Err(m) = driver.check_in_step() {
                failure = Some(fail(step, segment, "Cluster::create", m, &driver));
                break;
            }
        }
        let p = pick(
            &mut rng,
            driver.validator().model(),
            driver.validator().state(),
            &cfg.knobs,
            &budget,
            &mix,
        );
        if let Err(m) = driver.step(step, &p) {
            if let Some(e) = &driver.log_failed {
                return Err(format!(
                    "--log: step {step}: {e}; the soak stops (a failure to write the log, not \
                     of the implementation)"
                ));
            }
            failure = Some(fail(step, segment, &p.call.to_string(), m, &driver));
            break;
        }
        if step.is_multiple_of(64) {
            let mut so_far = total;
            so_far.add(&driver.counters);
            let status = Status {
                step,
                segments: segment,
                counters: &so_far,
                seconds: start.elapsed().as_secs_f64(),
            };
            if !progress(&status) {
                interrupted = true;
                break;
            }
        }
    }
    total.add(&driver.counters);
    drop(driver);
    if failure.is_none() {
        // A failing segment's files are left for inspection.
        remove_segment_dir(cfg, segment);
    }
    Ok(SoakReport {
        schema: SOAK_SCHEMA,
        seed: cfg.seed,
        steps: step,
        variant: model
            .variant
            .preset_name()
            .map(str::to_string)
            .unwrap_or_else(|| model.variant.to_string()),
        passed: failure.is_none() && !interrupted,
        model_steps: total.model_steps,
        stutters: total.stutters,
        crashes: total.crashes,
        torn_crashes: total.torn_crashes,
        divergences: total.divergences,
        refused: total.refused,
        segments: segment,
        failure,
        seconds: start.elapsed().as_secs_f64(),
        interrupted,
    })
}
