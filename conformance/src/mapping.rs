//! The refinement mapping between the implementation and the model. Everything that relates
//! the two lives here: the projection of states onto the shared view, the one-to-one map from
//! model actions to engine calls, and the reverse map from the engine's event log to model
//! actions.
//!
//! ## The projection
//!
//! Both sides print the JSON object of `docs/vocabulary.md`: the model through
//! `Warmup::view`, the implementation through `Cluster::view`. uuids need no renaming because
//! conformance runs the implementation with `CounterUuids`, which hands out 1, 2, 3, ... in the
//! same order as the model's counter; mutation identities need none because conformance writes
//! the value the model names (`v<N>`, the N-th client write).
//!
//! Compared, field by field: the active's process state, warmup phase (the last completed, also
//! while shutting down during warmup), what warmup read from stats.json, whether the flusher
//! and the tasks stopped, whether client traffic is refused after a failed vbstate flush, the
//! clean-shutdown flag on disk; per vb whether it
//! is in the vb map, high seqno, persisted seqno, failover table in memory and on disk, the
//! checkpoint queue (seqnos and set_vbucket_state items, in order), whether the flusher was
//! notified, every mutation in memory and on disk (seqno, key, op, value); per replica and vb
//! high seqno, last snapshot, failover table, stream state and every mutation.
//!
//! Not compared, and why:
//! - `clock`: the model's time is abstract; it counts only ticks that expire something, while
//!   the implementation's clock may move when nothing is due (a stutter step, see
//!   [`action_of_event`]).
//! - expiry times and CAS values: kv_engine metadata the model does not carry; whether an item
//!   is expired is compared through what the engine does with it (an `expire` mutation).
//! - the model's ghost state (a mutation's branch uuid, how the node went down, whether queued
//!   items were lost, whether a vb's flush failed and was retried, the count of failed flushes):
//!   it exists to state properties and bounds, not in any real node. A failed flush is visible
//!   all the same: nothing reaches disk, the items stay queued, the vb stays notified.
//! - byte layout of files: the storage layer's own tests cover it (`docs/on-disk-format.md`).

mod typed;

use crate::sut::protocol::{Call, Reply};
use serde_json::Value;
use std::fmt;
// Two vocabularies of calls: the protocol's requests (`Call`, what warmcheck asks a system
// under test to do) and the event log's records (`LoggedCall`, a call with its results).
use warmcheck_impl::engine::event::Call as LoggedCall;
use warmcheck_impl::engine::{Cluster, EngineError, Phase as ImplPhase};
use warmcheck_model::{Action, Node, Op, State, Stream, Warmup};

/// One field that differs between the two projections.
#[derive(Clone, Debug, PartialEq, serde::Serialize, schemars::JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Difference {
    /// A JSON-pointer-like path, e.g. `/active/vbuckets/0/failover_on_disk`.
    pub path: String,
    pub model: Value,
    pub implementation: Value,
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: model {} | implementation {}",
            self.path, self.model, self.implementation
        )
    }
}

/// The model state's projection, without the fields that are not compared.
pub fn project_model(model: &Warmup, s: &State) -> Value {
    strip(serde_json::to_value(model.view(s)).expect("views serialise"))
}

/// The implementation's projection, without the fields that are not compared.
pub fn project_impl(cluster: &Cluster) -> Value {
    strip(serde_json::to_value(cluster.view()).expect("views serialise"))
}

/// The model state's projection as compact JSON without the clock: the fast path of the
/// comparison (both sides serialise the same fields in the same order).
pub fn model_json(model: &Warmup, s: &State) -> String {
    strip_json(serde_json::to_string(&model.view(s)).expect("views serialise"))
}

/// The implementation's projection as compact JSON without the clock.
pub fn impl_json(cluster: &Cluster) -> String {
    strip_json(serde_json::to_string(&cluster.view()).expect("views serialise"))
}

/// Whether the implementation's projection equals the model state's, compared as typed views
/// (the in-process fast path: no JSON is built). `false` says only that they differ somewhere,
/// the clock aside; [`diff`] of [`project_model`] and [`project_impl`] names the fields.
pub fn views_agree(model: &Warmup, s: &State, cluster: &Cluster) -> bool {
    let mut want = typed::to_impl_view(model.view(s));
    let got = cluster.view();
    want.clock = got.clock; // not compared (see "Not compared" above)
    want == got
}

/// Drop the leading `"clock":N,` field of a serialised view.
fn strip_json(s: String) -> String {
    debug_assert!(s.starts_with("{\"clock\":"), "a view starts with its clock");
    match s.find(',') {
        Some(i) => format!("{{{}", &s[i + 1..]),
        None => s,
    }
}

/// A projection as compared: the clock removed (see "Not compared" above).
pub fn strip(mut v: Value) -> Value {
    if let Some(o) = v.as_object_mut() {
        o.remove("clock");
    }
    v
}

/// Every field where `model` and `implementation` differ (empty when they agree).
pub fn diff(model: &Value, implementation: &Value) -> Vec<Difference> {
    let mut out = Vec::new();
    diff_at("", model, implementation, &mut out);
    out
}

fn diff_at(path: &str, a: &Value, b: &Value, out: &mut Vec<Difference>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                diff_at(
                    &format!("{path}/{k}"),
                    x.get(k).unwrap_or(&Value::Null),
                    y.get(k).unwrap_or(&Value::Null),
                    out,
                );
            }
        }
        // Lists of scalars-or-objects of equal length are compared element by element so the
        // report points at the first differing element; otherwise the whole list differs.
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (p, q)) in x.iter().zip(y.iter()).enumerate() {
                diff_at(&format!("{path}/{i}"), p, q, out);
            }
        }
        _ if a == b => {}
        _ => out.push(Difference {
            path: if path.is_empty() {
                "/".to_string()
            } else {
                path.to_string()
            },
            model: a.clone(),
            implementation: b.clone(),
        }),
    }
}

/// The key name both sides use.
pub fn key_name(k: warmcheck_model::Key) -> String {
    k.to_string()
}

/// The value the model gives the next client set from state `before`.
pub fn value_of_next_set(before: &State) -> String {
    format!("v{}", before.writes as u32 + 1)
}

/// Why one engine call did not do what the model's action does.
#[derive(Debug)]
pub enum ApplyError {
    /// The engine refused or failed the call.
    Engine(EngineError),
    /// A system under test behind the protocol refused the call, for this reason.
    Refused(String),
    /// The call succeeded but answered differently from the model (e.g. another phase).
    Unexpected(String),
    /// The system under test broke the protocol (exited, hung, answered garbage): not a
    /// mismatch, the run cannot go on.
    Broken(String),
}

impl fmt::Display for ApplyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApplyError::Engine(e) => write!(f, "the engine refused: {e}"),
            ApplyError::Refused(e) => write!(f, "the engine refused: {e}"),
            ApplyError::Unexpected(s) | ApplyError::Broken(s) => f.write_str(s),
        }
    }
}

impl From<EngineError> for ApplyError {
    fn from(e: EngineError) -> Self {
        ApplyError::Engine(e)
    }
}

/// Perform model action `action`, taken from model state `before` (whose successor is
/// `after`), as exactly one engine call ([`call_of`], [`perform`]), and check the call's own
/// answer ([`check_answer`]). In-process conform and `warmcheck sut` share these three, so the
/// protocol carries exactly what in-process conform does.
pub fn apply(
    cluster: &mut Cluster,
    before: &State,
    action: &Action,
    after: &State,
) -> Result<(), ApplyError> {
    let call = call_of(before, action);
    let reply = perform(cluster, &call)?
        .ok_or_else(|| ApplyError::Unexpected(format!("{} is not an engine call", call.op())))?;
    check_answer(before, action, after, &reply, &mut |_| {}).map_err(ApplyError::Unexpected)
}

/// The protocol call that performs model action `action` from state `before`
/// (`docs/sut-protocol.md`, "One request per model action"). The parameters are the model's:
/// the value of a set ([`value_of_next_set`]), the failures a flush or a warmup phase meets.
/// An expiry is a get while client traffic flows; once a shutdown has stopped it, the expiry
/// pager's visit of the item (compaction's is the same step).
pub fn call_of(before: &State, action: &Action) -> Call {
    let vb_of = |vb: u8| u16::from(vb);
    let replica_name = |r: u8| format!("r{}", u32::from(r) + 1);
    match *action {
        Action::ClientSets { vb, key, ttl } => Call::Set {
            vb: vb_of(vb),
            key: key_name(key),
            value: value_of_next_set(before),
            ttl: ttl.then_some(1),
        },
        Action::ClientDeletes { vb, key } => Call::Delete {
            vb: vb_of(vb),
            key: key_name(key),
        },
        Action::ClockAdvances => Call::AdvanceClock { secs: 1 },
        Action::ItemExpires { vb, key } if matches!(before.node, Node::ShuttingDown(_)) => {
            Call::ExpireItem {
                vb: vb_of(vb),
                key: key_name(key),
            }
        }
        Action::ItemExpires { vb, key } => Call::Get {
            vb: vb_of(vb),
            key: key_name(key),
        },
        Action::FlusherCommits { vb } => Call::Flush {
            vb: vb_of(vb),
            fail: false,
        },
        Action::FlusherCommitFails { vb } => Call::Flush {
            vb: vb_of(vb),
            fail: true,
        },
        Action::StatsSnapshotRewritesStatsJson => Call::StatsSnapshot,
        Action::ActiveCrashes => Call::Crash,
        Action::ShutdownBegins => Call::ShutdownBegin,
        Action::ShutdownWritesCleanFlag => Call::ShutdownWriteCleanFlag,
        Action::ShutdownStopsFlusher => Call::ShutdownStopFlusher,
        Action::ShutdownStopsTasks => Call::ShutdownStopTasks,
        Action::WarmupPopulatesVBucketMapFlushFailing => Call::WarmupStep {
            fail_vbstate_flushes: sync_flushes(before),
        },
        Action::WarmupInitializes
        | Action::WarmupCreatesVBuckets
        | Action::WarmupPopulatesVBucketMap
        | Action::WarmupLoadsData
        | Action::WarmupReachesDone
        | Action::WarmupCompletes => Call::WarmupStep {
            fail_vbstate_flushes: 0,
        },
        Action::ReplicaRequestsStream { replica, vb } => Call::StreamRequest {
            replica: replica_name(replica),
            vb: vb_of(vb),
        },
        Action::ReplicaReceives { replica, vb, .. } => Call::StreamDeliver {
            replica: replica_name(replica),
            vb: vb_of(vb),
        },
        Action::ClusterFailsOverToReplica { replica } => Call::FailOver {
            replica: replica_name(replica),
        },
        Action::FailedOverNodeIsAddedBack => Call::AddBack,
    }
}

/// Part of every message about a value the model does not express (a `ttl` other than 1, a
/// clock move other than one second, a number larger than the model's): `validate` reads such
/// a line as UNDECIDED, not as INVALID.
pub const OUT_OF_MODEL: &str = "outside what the model expresses";

/// The number in a name written the one way the vocabulary writes it: `prefix` then decimal
/// digits, no sign, no leading zero (`k0`, `k12`, `r1`). `None` for any other spelling (`k00`,
/// `k+0`, `r01`, `k`, `k 1`): a lenient reading would make two different names one, so that a
/// log whose get returns another key's value would pass.
pub fn canonical_number(name: &str, prefix: char) -> Option<u64> {
    let digits = name.strip_prefix(prefix)?;
    let canonical = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'));
    canonical.then(|| digits.parse().ok()).flatten()
}

/// The index of replica `name` (`r1` is 0).
pub fn replica_index(name: &str) -> Result<usize, EngineError> {
    canonical_number(name, 'r')
        .and_then(|n| usize::try_from(n).ok())
        .filter(|n| *n >= 1)
        .map(|n| n - 1)
        .ok_or_else(|| EngineError::InvalidArgument(format!("replica {name:?} is not r1, r2, ...")))
}

/// Perform one protocol call on the implementation as its engine call, and say what it
/// returned as the protocol's reply (id 0). A failure the call asks for (`flush` with `fail`,
/// `warmup_step` with `fail_vbstate_flushes`) is armed at the storage seam first
/// ([`Cluster::fail_next_flushes`], a test seam that is not logged) and disarmed after.
/// `Ok(None)`: not an engine call (`hello`, `reset`, `observe`, images), which the caller
/// answers itself.
pub fn perform(cluster: &mut Cluster, call: &Call) -> Result<Option<Reply>, EngineError> {
    let mut reply = Reply::ok(0);
    match call {
        Call::Set {
            vb,
            key,
            value,
            ttl,
        } => reply.seqno = Some(Some(cluster.set(*vb, key, value, *ttl)?)),
        Call::Delete { vb, key } => reply.seqno = Some(Some(cluster.delete(*vb, key)?)),
        Call::AdvanceClock { secs } => cluster.advance_clock(*secs)?,
        Call::Get { vb, key } => {
            let high = |c: &Cluster| {
                c.active_items(*vb)
                    .and_then(|items| items.last().map(|i| i.seqno))
            };
            let was = high(cluster);
            reply.result = Some(cluster.get(*vb, key)?);
            let now = high(cluster);
            reply.expired_seqno = Some(if now != was { now } else { None });
        }
        Call::ExpireItem { vb, key } => {
            reply.expired_seqno = Some(Some(cluster.expire_item(*vb, key)?));
        }
        Call::Flush { vb, fail: false } => {
            reply.seqnos = Some(cluster.flush(*vb)?);
            reply.failed = Some(false);
        }
        Call::Flush { vb, fail: true } => {
            cluster.fail_next_flushes(1);
            let got = cluster.flush(*vb);
            cluster.fail_next_flushes(0);
            match got {
                Ok(seqnos) => {
                    reply.seqnos = Some(seqnos);
                    reply.failed = Some(false);
                }
                Err(EngineError::FlushFailed(_)) => {
                    reply.seqnos = Some(vec![]);
                    reply.failed = Some(true);
                }
                Err(e) => return Err(e),
            }
        }
        Call::StatsSnapshot => cluster.stats_snapshot()?,
        Call::Crash => cluster.crash()?,
        Call::ShutdownBegin => cluster.shutdown_begin()?,
        Call::ShutdownWriteCleanFlag => cluster.shutdown_write_clean_flag()?,
        Call::ShutdownStopFlusher => cluster.shutdown_stop_flusher()?,
        Call::ShutdownStopTasks => cluster.shutdown_stop_tasks()?,
        Call::WarmupStep {
            fail_vbstate_flushes,
        } => {
            cluster.fail_next_flushes(*fail_vbstate_flushes);
            let got = cluster.warmup_step();
            cluster.fail_next_flushes(0);
            reply.phase = Some(got?.name().to_string());
        }
        Call::FailOver { replica } => cluster.fail_over(replica_index(replica)?)?,
        Call::AddBack => cluster.add_back()?,
        Call::StreamRequest { replica, vb } => {
            let got = cluster.stream_request(replica_index(replica)?, *vb)?;
            reply.outcome = Some(got.to_string());
        }
        Call::StreamDeliver { replica, vb } => {
            reply.seqno = Some(cluster.stream_deliver(replica_index(replica)?, *vb)?);
        }
        Call::Hello { .. }
        | Call::Reset { .. }
        | Call::Observe
        | Call::Snapshot
        | Call::Restore { .. }
        | Call::Release { .. } => return Ok(None),
    }
    Ok(Some(reply))
}

/// Check a call's reply against the model's transition `before --action--> after`: the seqno
/// a set or delete took, what a get returned and the seqno of the expiry it made, whether a
/// flush failed and the seqnos it committed, the phase a warmup step completed, a stream
/// request's outcome, the seqno a stream delivered. A result the reply leaves out is not
/// checked; `absent` is told its name (e.g. `set.seqno`).
pub fn check_answer(
    before: &State,
    action: &Action,
    after: &State,
    reply: &Reply,
    absent: &mut dyn FnMut(&'static str),
) -> Result<(), String> {
    let high = |s: &State, vb: u8| -> Option<u64> {
        s.vbs
            .get(vb as usize)
            .and_then(|v| v.active.as_ref())
            .map(|a| a.high_seqno() as u64)
    };
    match *action {
        Action::ClientSets { vb, .. } => expect("set.seqno", reply.seqno, high(after, vb), absent)?,
        Action::ClientDeletes { vb, .. } => {
            expect("delete.seqno", reply.seqno, high(after, vb), absent)?
        }
        Action::ItemExpires { vb, key } => {
            if matches!(before.node, Node::ShuttingDown(_)) {
                expect(
                    "expire_item.expired_seqno",
                    reply.expired_seqno,
                    high(after, vb),
                    absent,
                )?;
            } else {
                match &reply.result {
                    None => absent("get.result"),
                    Some(None) => {}
                    Some(Some(v)) => {
                        return Err(format!(
                            "get {key} returned {v:?} where the model expires it"
                        ))
                    }
                }
                expect(
                    "get.expired_seqno",
                    reply.expired_seqno,
                    high(after, vb),
                    absent,
                )?;
            }
        }
        Action::FlusherCommits { vb } | Action::FlusherCommitFails { vb } => {
            let fails = matches!(action, Action::FlusherCommitFails { .. });
            match reply.failed {
                None => absent("flush.failed"),
                Some(f) if f == fails => {}
                Some(true) => return Err("the flush failed where the model's commits".into()),
                Some(false) => {
                    return Err(format!(
                        "flush committed {:?} with a failure armed, where the model's flush fails",
                        reply.seqnos.clone().unwrap_or_default()
                    ))
                }
            }
            let persisted = |s: &State| {
                s.vbs
                    .get(vb as usize)
                    .map_or(0, |v| v.disk.persisted_seqno() as u64)
            };
            let want: Vec<u64> = (persisted(before) + 1..=persisted(after)).collect();
            match &reply.seqnos {
                None => absent("flush.seqnos"),
                Some(got) if *got == want => {}
                Some(got) => {
                    return Err(format!(
                        "flush committed seqnos {got:?} where the model commits {want:?}"
                    ))
                }
            }
        }
        Action::WarmupInitializes
        | Action::WarmupCreatesVBuckets
        | Action::WarmupPopulatesVBucketMap
        | Action::WarmupPopulatesVBucketMapFlushFailing
        | Action::WarmupLoadsData
        | Action::WarmupReachesDone
        | Action::WarmupCompletes => {
            let want = match *action {
                Action::WarmupInitializes => ImplPhase::Initialize,
                Action::WarmupCreatesVBuckets => ImplPhase::CreateVBuckets,
                Action::WarmupLoadsData => ImplPhase::LoadingData,
                Action::WarmupReachesDone => ImplPhase::Done,
                Action::WarmupCompletes => ImplPhase::Complete,
                _ => ImplPhase::PopulateVBucketMap,
            }
            .name();
            match reply.phase.as_deref() {
                None => absent("warmup_step.phase"),
                Some(got) if got == want => {}
                Some(got) => {
                    return Err(format!(
                        "warmup_step completed {got} where the model completes {want}"
                    ))
                }
            }
        }
        Action::ReplicaRequestsStream { replica, vb } => {
            let want = after
                .vbs
                .get(vb as usize)
                .and_then(|v| v.replicas.get(replica as usize))
                .map(|r| match r.stream {
                    Stream::Accepted => "accepted".to_string(),
                    Stream::RolledBack(rb) => format!("rolled-back:{rb}"),
                    Stream::None => "none".to_string(),
                });
            match (reply.outcome.as_deref(), want) {
                (None, _) => absent("stream_request.outcome"),
                (Some(got), Some(want)) if got == want => {}
                (Some(got), want) => {
                    return Err(format!(
                        "the producer answered {got} where the model answers {}",
                        want.unwrap_or_default()
                    ))
                }
            }
        }
        Action::ReplicaReceives { seqno, .. } => match reply.seqno {
            None => absent("stream_deliver.seqno"),
            Some(Some(s)) if s == seqno as u64 => {}
            Some(other) => {
                return Err(format!(
                    "the stream delivered {other:?} where the model delivers seqno {seqno}"
                ))
            }
        },
        Action::ClockAdvances
        | Action::StatsSnapshotRewritesStatsJson
        | Action::ActiveCrashes
        | Action::ShutdownBegins
        | Action::ShutdownWritesCleanFlag
        | Action::ShutdownStopsFlusher
        | Action::ShutdownStopsTasks
        | Action::ClusterFailsOverToReplica { .. }
        | Action::FailedOverNodeIsAddedBack => {}
    }
    Ok(())
}

/// A result that may be `null`: absent (told to `absent`), or equal to the model's `want`.
fn expect(
    name: &'static str,
    got: Option<Option<u64>>,
    want: Option<u64>,
    absent: &mut dyn FnMut(&'static str),
) -> Result<(), String> {
    let show = |n: Option<u64>| n.map_or("null".to_string(), |n| n.to_string());
    match got {
        None => {
            absent(name);
            Ok(())
        }
        Some(g) if g == want => Ok(()),
        Some(g) => Err(format!(
            "{name} is {} where the model's is {}",
            show(g),
            show(want)
        )),
    }
}

/// How many synchronous vbstate flushes PopulateVBucketMap makes from `before`: one per vb with
/// a new failover entry (the model fails them all in `WarmupPopulatesVBucketMapFlushFailing`).
pub fn sync_flushes(before: &State) -> u32 {
    before
        .vbs
        .iter()
        .filter(|vb| vb.active.as_ref().is_some_and(|a| a.new_entry))
        .count() as u32
}

/// How a log names the values of client sets.
#[derive(Clone, Copy, Debug)]
pub enum Values<'a> {
    /// As the model does: the N-th client write (set or delete, counted across restarts) of a
    /// set is `vN` (conformance's own runs write exactly that).
    Model,
    /// As the log does, any string: `[N-1]` is the value the N-th client write set (`None` for
    /// a delete), read from the log's own `set` lines as they come (a log without states).
    Logged(&'a [Option<String>]),
}

impl Values<'_> {
    /// The logged name of the model's value `n` (the n-th client write).
    pub fn name(&self, n: u8) -> Value {
        match self {
            Values::Model => Value::from(format!("v{n}")),
            Values::Logged(names) => (n as usize)
                .checked_sub(1)
                .and_then(|i| names.get(i))
                .cloned()
                .flatten()
                .map_or_else(|| Value::from(format!("v{n}")), Value::from),
        }
    }
}

/// The model actions an engine event-log line stands for, given the model state before it.
///
/// Most events are one action. An empty list is a stutter: a clock move the model does not
/// need because nothing becomes due, or a get that expired nothing (the projection must then
/// not change). Compaction and the expiry pager are a sequence of expiries, one per key, in the
/// order the engine logged them. Composite helpers (`connect`, `shutdown`, ...) are never
/// logged: the engine logs the single steps they are made of. A `create` line is no action
/// (the validator starts over from the model's initial state at it).
// Long: one arm per logged call, exhaustive.
#[allow(clippy::too_many_lines)]
pub fn action_of_event(
    model: &Warmup,
    before: &State,
    call: &LoggedCall,
    values: Values,
) -> Result<Vec<Action>, String> {
    let name = call.name();
    let small = |field: &str, n: u64| -> Result<u8, String> {
        u8::try_from(n).map_err(|_| {
            format!("`{name}` event's \"{field}\" {n} is not a small integer: {OUT_OF_MODEL}")
        })
    };
    let vb_of = |vb: u16| small("vb", u64::from(vb));
    let replica_of = |r: &str| -> Result<u8, String> {
        canonical_number(r, 'r')
            .and_then(|n| u8::try_from(n).ok())
            .filter(|n| *n >= 1)
            .map(|n| n - 1)
            .ok_or_else(|| format!("replica {r:?} is not r1, r2, ..."))
    };
    let key_of = |k: &str| -> Result<warmcheck_model::Key, String> {
        canonical_number(k, 'k')
            .and_then(|n| u8::try_from(n).ok())
            .filter(|n| *n < model.bounds.keys)
            .map(warmcheck_model::Key)
            .ok_or_else(|| {
                format!(
                    "key {k:?} is not one the model knows (k0..k{})",
                    model.bounds.keys.saturating_sub(1)
                )
            })
    };
    let action = match call {
        LoggedCall::Create { .. } => return Ok(vec![]),
        LoggedCall::Set {
            vb,
            key,
            value,
            ttl,
            ..
        } => {
            let ttl = match ttl {
                None | Some(0) => false,
                Some(1) => true,
                Some(t) => {
                    return Err(format!(
                        "ttl {t} is {OUT_OF_MODEL} (its TTL is one tick: ttl=1)"
                    ))
                }
            };
            if let Values::Model = values {
                let want = value_of_next_set(before);
                if *value != want {
                    return Err(format!(
                        "set wrote value {value:?}; the model names this write {want:?} (the N-th client write)"
                    ));
                }
            }
            Action::ClientSets {
                vb: vb_of(*vb)?,
                key: key_of(key)?,
                ttl,
            }
        }
        LoggedCall::Delete { vb, key, .. } => Action::ClientDeletes {
            vb: vb_of(*vb)?,
            key: key_of(key)?,
        },
        LoggedCall::Get {
            vb,
            key,
            expired_seqno,
            ..
        } => {
            // The key is read even for a stutter: a get of a name the model does not know is
            // refused, not compared as some other key.
            let key = key_of(key)?;
            if expired_seqno.is_none() {
                return Ok(vec![]);
            }
            Action::ItemExpires {
                vb: vb_of(*vb)?,
                key,
            }
        }
        LoggedCall::Compact { vb, expired } => {
            return expired
                .iter()
                .map(|e| {
                    if e.vb != *vb {
                        return Err(format!(
                            "`compact` of vb {vb} expired an item of vb {}",
                            e.vb
                        ));
                    }
                    Ok(Action::ItemExpires {
                        vb: vb_of(e.vb)?,
                        key: key_of(&e.key)?,
                    })
                })
                .collect();
        }
        LoggedCall::RunExpiryPager { expired } => {
            return expired
                .iter()
                .map(|e| {
                    Ok(Action::ItemExpires {
                        vb: vb_of(e.vb)?,
                        key: key_of(&e.key)?,
                    })
                })
                .collect();
        }
        LoggedCall::AdvanceClock { secs } => {
            if *secs != 1 {
                return Err(format!(
                    "advance_clock of {secs} s is {OUT_OF_MODEL} (one model tick is one second)"
                ));
            }
            let mut enabled = Vec::new();
            stateright::Model::actions(model, before, &mut enabled);
            if enabled.contains(&Action::ClockAdvances) {
                Action::ClockAdvances
            } else {
                return Ok(vec![]);
            }
        }
        LoggedCall::ExpireItem { vb, key, .. } => Action::ItemExpires {
            vb: vb_of(*vb)?,
            key: key_of(key)?,
        },
        LoggedCall::Flush {
            seqnos: Some(s),
            failed: Some(_),
            ..
        } => {
            return Err(format!(
                "a `flush` both committed seqnos {s:?} and failed (a failed flush commits \
                 nothing: it has \"failed\" and no \"seqnos\")"
            ))
        }
        LoggedCall::Flush {
            seqnos: None,
            failed: None,
            ..
        } => {
            return Err(
                "a `flush` with neither \"seqnos\" (what it committed) nor \"failed\" \
                        (why it failed)"
                    .into(),
            )
        }
        LoggedCall::Flush {
            vb,
            failed: Some(_),
            ..
        } => Action::FlusherCommitFails { vb: vb_of(*vb)? },
        LoggedCall::Flush { vb, .. } => Action::FlusherCommits { vb: vb_of(*vb)? },
        LoggedCall::StatsSnapshot => Action::StatsSnapshotRewritesStatsJson,
        LoggedCall::Crash { .. } => Action::ActiveCrashes,
        LoggedCall::ShutdownBegin => Action::ShutdownBegins,
        LoggedCall::ShutdownWriteCleanFlag { .. } => Action::ShutdownWritesCleanFlag,
        LoggedCall::ShutdownStopFlusher => Action::ShutdownStopsFlusher,
        LoggedCall::ShutdownStopTasks => Action::ShutdownStopsTasks,
        LoggedCall::WarmupStep {
            phase,
            failed_vbstate_flushes,
        } => match phase.as_str() {
            "initialize" => Action::WarmupInitializes,
            "create-vbuckets" => Action::WarmupCreatesVBuckets,
            "populate-vbucket-map" if failed_vbstate_flushes.is_empty() => {
                Action::WarmupPopulatesVBucketMap
            }
            "populate-vbucket-map" => Action::WarmupPopulatesVBucketMapFlushFailing,
            "loading-data" => Action::WarmupLoadsData,
            "done" => Action::WarmupReachesDone,
            "complete" => Action::WarmupCompletes,
            other => return Err(format!("unknown warmup phase {other:?}")),
        },
        LoggedCall::FailOver { replica } => Action::ClusterFailsOverToReplica {
            replica: replica_of(replica)?,
        },
        LoggedCall::AddBack { node } => {
            if warmcheck_impl::engine::node_name(0) != *node
                && canonical_number(node, 'r').is_none()
            {
                return Err(format!("node {node:?} is not active, r1, r2, ..."));
            }
            Action::FailedOverNodeIsAddedBack
        }
        LoggedCall::StreamRequest { replica, vb, .. } => Action::ReplicaRequestsStream {
            replica: replica_of(replica)?,
            vb: vb_of(*vb)?,
        },
        LoggedCall::StreamDeliver { replica, vb, seqno } => Action::ReplicaReceives {
            replica: replica_of(replica)?,
            vb: vb_of(*vb)?,
            seqno: small("seqno", *seqno)?,
        },
    };
    Ok(vec![action])
}

/// One result a logged call returned that is not what the model's call returns.
#[derive(Clone, Debug, PartialEq)]
pub struct ResultDifference {
    /// The event's field, e.g. `seqno`, `result`, `expired/0/seqno`.
    pub field: String,
    pub logged: Value,
    pub model: Value,
}

impl fmt::Display for ResultDifference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "returned {} = {}; the model's call returns {}",
            self.field, self.logged, self.model
        )
    }
}

/// Check what a logged call returned against what the model says that call returns: the seqno
/// a set or delete took, what a get returned and the seqno of the expiry it made, the seqno of
/// each expiry of a compaction or an expiry-pager run, the seqnos a flush committed, whether a
/// shutdown wrote the clean flag, which vbstate flushes of warmup failed, and a stream
/// request's request fields (the replica's start, uuid and snapshot), the producer's table and
/// the outcome (accepted, or the rollback seqno and whether the replica dropped its newest
/// entry). `before` is the model's state before the event and `taken` the actions it maps to,
/// each with the state after it ([`action_of_event`]'s, all enabled); `values` names the
/// values a get returns.
///
/// Not compared: a rollback's `reason` (kv_engine's wording; the model decides by the same rule
/// without naming it), a crash's `tear` (the model's crash keeps what was synced, torn or not),
/// a failed flush's message.
// Long: one arm per logged call and the results it compares, exhaustive.
#[allow(clippy::too_many_lines)]
pub fn check_results(
    before: &State,
    taken: &[(Action, State)],
    call: &LoggedCall,
    values: Values,
) -> Result<(), ResultDifference> {
    fn expect(
        field: &str,
        logged: impl Into<Value>,
        model: impl Into<Value>,
    ) -> Result<(), ResultDifference> {
        let (logged, model) = (logged.into(), model.into());
        if logged == model {
            Ok(())
        } else {
            Err(ResultDifference {
                field: field.to_string(),
                logged,
                model,
            })
        }
    }
    let high = |s: &State, vb: u8| -> Value {
        s.vbs
            .get(vb as usize)
            .and_then(|v| v.active.as_ref())
            .map_or(Value::Null, |a| Value::from(a.high_seqno()))
    };
    let vb_of = |a: &Action| match *a {
        Action::ClientSets { vb, .. }
        | Action::ClientDeletes { vb, .. }
        | Action::ItemExpires { vb, .. }
        | Action::FlusherCommits { vb }
        | Action::ReplicaRequestsStream { vb, .. }
        | Action::ReplicaReceives { vb, .. } => Some(vb),
        _ => None,
    };
    match (call, taken) {
        (LoggedCall::Set { seqno, .. } | LoggedCall::Delete { seqno, .. }, [(a, s)]) => {
            if let Some(vb) = vb_of(a) {
                expect("seqno", *seqno, high(s, vb))?;
            }
        }
        (LoggedCall::ExpireItem { seqno, .. }, [(Action::ItemExpires { vb, .. }, s)]) => {
            expect("seqno", *seqno, high(s, *vb))?;
        }
        (
            LoggedCall::Get {
                result,
                expired_seqno,
                ..
            },
            [(Action::ItemExpires { vb, .. }, s)],
        ) => {
            expect("result", result.clone(), Value::Null)?;
            expect("expired_seqno", *expired_seqno, high(s, *vb))?;
        }
        (
            LoggedCall::Get {
                vb, key, result, ..
            },
            [],
        ) => {
            // A stutter: the model's item is what the get returns (the mapping has checked
            // that it expired nothing).
            let newest = before
                .vbs
                .get(*vb as usize)
                .and_then(|v| v.active.as_ref())
                .and_then(|a| {
                    a.history
                        .iter()
                        .rev()
                        .find(|m| m.key.to_string() == *key)
                        .copied()
                });
            let model = match newest.map(|m| m.op) {
                Some(Op::Set { value, expiry }) if expiry.is_none_or(|e| e > before.clock) => {
                    values.name(value)
                }
                _ => Value::Null,
            };
            expect("result", result.clone(), model)?;
        }
        (LoggedCall::Compact { expired, .. } | LoggedCall::RunExpiryPager { expired }, _) => {
            for (i, ((a, s), e)) in taken.iter().zip(expired).enumerate() {
                if let Some(vb) = vb_of(a) {
                    expect(&format!("expired/{i}/seqno"), e.seqno, high(s, vb))?;
                }
            }
        }
        (LoggedCall::Flush { seqnos, .. }, [(Action::FlusherCommits { vb }, s)]) => {
            let persisted = |s: &State| {
                s.vbs
                    .get(*vb as usize)
                    .map_or(0, |v| v.disk.persisted_seqno() as u64)
            };
            let model: Vec<u64> = (persisted(before) + 1..=persisted(s)).collect();
            expect("seqnos", seqnos.clone(), model)?;
        }
        (LoggedCall::ShutdownWriteCleanFlag { clean }, [(_, s)]) => {
            expect("clean", *clean, s.clean_flag)?;
        }
        (
            LoggedCall::WarmupStep {
                failed_vbstate_flushes,
                ..
            },
            [(Action::WarmupPopulatesVBucketMapFlushFailing, _)],
        ) => {
            // The model fails every synchronous vbstate flush: one per vb with a new entry.
            let model: Vec<u64> = before
                .vbs
                .iter()
                .enumerate()
                .filter(|(_, vb)| vb.active.as_ref().is_some_and(|a| a.new_entry))
                .map(|(i, _)| i as u64)
                .collect();
            expect(
                "failed_vbstate_flushes",
                failed_vbstate_flushes.clone(),
                model,
            )?;
        }
        (
            LoggedCall::StreamRequest {
                start,
                uuid,
                snap_start,
                snap_end,
                producer_failover,
                outcome,
                dropped_entry,
                ..
            },
            [(Action::ReplicaRequestsStream { replica, vb }, s)],
        ) => {
            fn slot(s: &State, vb: u8) -> Option<&warmcheck_model::Vb> {
                s.vbs.get(vb as usize)
            }
            fn replica_of(s: &State, vb: u8, r: u8) -> Option<&warmcheck_model::ReplicaVb> {
                slot(s, vb).and_then(|v| v.replicas.get(r as usize))
            }
            let (vb, replica) = (*vb, *replica);
            if let Some(r) = replica_of(before, vb, replica) {
                expect("start", *start, r.high_seqno())?;
                expect("uuid", *uuid, r.failover.newest().uuid)?;
                expect("snap_start", *snap_start, r.snap_start)?;
                expect("snap_end", *snap_end, r.snap_end)?;
            }
            if let Some(a) = slot(before, vb).and_then(|v| v.active.as_ref()) {
                let table: Vec<Value> = a
                    .failover
                    .0
                    .iter()
                    .map(|e| serde_json::json!({"id": e.uuid, "seq": e.seqno}))
                    .collect();
                let logged = serde_json::to_value(producer_failover).expect("entries serialise");
                expect("producer_failover", logged, table)?;
            }
            match replica_of(s, vb, replica).map(|r| r.stream) {
                Some(Stream::Accepted) => {
                    expect("outcome", outcome.as_str(), "accepted")?;
                    expect("dropped_entry", *dropped_entry, Value::Null)?;
                }
                Some(Stream::RolledBack(rb)) => {
                    expect("outcome", outcome.as_str(), format!("rolled-back:{rb}"))?;
                    // A retry with the older uuid keeps the replica's history; a rollback to 0
                    // rewinds it (which one happens is the design's retry rule, MB-48398).
                    let dropped = rb == 0
                        && replica_of(before, vb, replica).is_some_and(|b| {
                            b.high_seqno() > 0
                                && replica_of(s, vb, replica)
                                    .is_some_and(|a| a.high_seqno() == b.high_seqno())
                        });
                    expect("dropped_entry", *dropped_entry, dropped)?;
                }
                _ => {}
            }
        }
        _ => {}
    }
    Ok(())
}

/// The implementation's design for the model's.
pub fn impl_variant(v: warmcheck_model::Variant) -> warmcheck_impl::engine::Variant {
    warmcheck_impl::engine::Variant {
        persist_entry: v
            .persist_entry
            .name()
            .parse()
            .expect("both sides name the knobs alike"),
        shutdown_flag: v
            .shutdown_flag
            .name()
            .parse()
            .expect("both sides name the knobs alike"),
        rollback_retry: v
            .rollback_retry
            .name()
            .parse()
            .expect("both sides name the knobs alike"),
        stop_warmup: v
            .stop_warmup
            .name()
            .parse()
            .expect("both sides name the knobs alike"),
        reverted: warmcheck_impl::engine::Reverted {
            mb11085: v.reverted.mb11085,
            mb21769: v.reverted.mb21769,
            mb37920: v.reverted.mb37920,
            mb20822: v.reverted.mb20822,
        },
    }
}
