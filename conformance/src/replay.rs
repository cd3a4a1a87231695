//! Replaying a model trace on the implementation, step by step, comparing projections.

use crate::conform::{compare, ClusterSut, Sut};
use crate::mapping::{self, ApplyError, Difference};
use crate::trace::Trace;
use serde::Serialize;
use serde_json::Value;
use stateright::Model;
use std::path::PathBuf;
use warmcheck_impl::engine::{Cluster, Config, CounterUuids, SeededBugs};
use warmcheck_model::{story, Action, State, Variant, Warmup};

/// Where the implementation keeps its files.
#[derive(Clone, Debug)]
pub struct ImplSetup {
    pub backend: warmcheck_impl::engine::StorageBackend,
    pub dir: PathBuf,
    pub bugs: SeededBugs,
}

/// A fresh implementation cluster shaped like `model`'s bounds, with counter uuids.
pub fn new_cluster(model: &Warmup, setup: &ImplSetup) -> Result<Cluster, String> {
    let mut config = Config::new(
        setup.dir.clone(),
        setup.backend.clone(),
        mapping::impl_variant(model.variant),
    );
    config.vbuckets = model.bounds.vbuckets as u16;
    config.replicas = model.bounds.replicas as usize;
    config.uuids = Box::new(CounterUuids::new());
    config.bugs = setup.bugs;
    Cluster::create(config).map_err(|e| format!("cannot create the cluster: {e}"))
}

/// What happened at one step.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct StepReport {
    pub step: usize,
    pub action: String,
    /// `matched`, `refused by both`, or `mismatch`.
    #[schemars(extend("enum" = ["matched", "refused by both", "mismatch"]))]
    pub outcome: String,
    pub story: Option<String>,
    pub error: Option<String>,
    pub differences: Vec<Difference>,
}

#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct ReplayReport {
    pub steps: usize,
    pub matched: bool,
    /// The model's `always` properties violated in the final state.
    pub violated: Vec<String>,
    /// Whether an accepted replica's data file holds a different mutation at a seqno the
    /// active's data file also holds, read back from disk after the replay.
    pub diverged_on_disk: bool,
    pub divergence: Option<String>,
    pub step_reports: Vec<StepReport>,
}

/// Replay `actions` from the model's initial state on a fresh cluster. Stops at the first
/// mismatch. A step the model does not enable must be refused by the implementation too.
pub fn replay(
    model: &Warmup,
    actions: &[Action],
    setup: &ImplSetup,
) -> Result<ReplayReport, String> {
    let cluster = new_cluster(model, setup)?;
    let mut sut = ClusterSut { cluster };
    let mut report = replay_on(model, actions, &mut sut)?;
    report.divergence = divergence_on_disk(&sut.cluster, setup)?;
    report.diverged_on_disk = report.divergence.is_some();
    Ok(report)
}

/// [`replay`] on a system under test behind the protocol. The divergence on disk is read from
/// its last view (each accepted replica's `items` against the active's `items_on_disk`); it is
/// not checked when the SUT omits `items_on_disk`.
pub fn replay_sut(
    model: &Warmup,
    actions: &[Action],
    sut: &mut crate::sut::client::ProtocolSut,
) -> Result<ReplayReport, String> {
    let mut report = replay_on(model, actions, sut)?;
    let view = sut.project()?;
    report.divergence = divergence_in_view(&view);
    report.diverged_on_disk = report.divergence.is_some();
    Ok(report)
}

/// An accepted replica holding another mutation than the active's data file at one seqno,
/// read from a view.
pub fn divergence_in_view(view: &Value) -> Option<String> {
    let empty = vec![];
    let list = |v: Option<&Value>| v.and_then(Value::as_array).unwrap_or(&empty).clone();
    let active = list(view.pointer("/active/vbuckets"));
    for replica in list(view.get("replicas")) {
        let name = replica.get("name").and_then(Value::as_str).unwrap_or("?");
        for (vb, r) in list(replica.get("vbuckets")).iter().enumerate() {
            if r.get("stream").and_then(Value::as_str) != Some("accepted") {
                continue;
            }
            let disk = list(active.get(vb).and_then(|a| a.get("items_on_disk")));
            for (a, b) in disk.iter().zip(list(r.get("items")).iter()) {
                if a != b {
                    return Some(format!(
                        "vb {vb} seqno {}: {name} holds {b}, the active's data file holds {a}",
                        a.get("seqno").unwrap_or(&Value::Null)
                    ));
                }
            }
        }
    }
    None
}

/// Replay `actions` on `sut` (at the model's initial state), comparing after every step; the
/// divergence on disk is left for the caller.
pub fn replay_on<S: Sut>(
    model: &Warmup,
    actions: &[Action],
    sut: &mut S,
) -> Result<ReplayReport, String> {
    let mut state = model.init_states().remove(0);
    let mut reports = Vec::new();
    let mut matched = check_initial(model, &state, sut, &mut reports)?;
    let mut enabled = Vec::new();
    for (i, action) in actions.iter().enumerate() {
        if !matched {
            break;
        }
        enabled.clear();
        model.actions(&state, &mut enabled);
        let step = i + 1;
        if !enabled.contains(action) {
            // The model refuses: the implementation must refuse the same call. The model has no
            // next state for a step it does not enable (its `next_state` may assert that the
            // step is enabled), so the call is compared against staying put.
            let before = sut.project()?;
            let result = sut.apply(&state, action, &state);
            if let Err(ApplyError::Broken(e)) = &result {
                return Err(e.clone());
            }
            let after = sut.project()?;
            let refused = result.is_err() && before == after;
            reports.push(StepReport {
                step,
                action: format!("{action:?}"),
                outcome: if refused {
                    "refused by both"
                } else {
                    "mismatch"
                }
                .to_string(),
                story: Some(format!("not enabled in design `{}`", model.variant)),
                error: match result {
                    Ok(()) => {
                        Some("the implementation accepted a step the model does not enable".into())
                    }
                    Err(e) => Some(e.to_string()),
                },
                differences: mapping::diff(&before, &after),
            });
            matched = refused;
            continue;
        }
        let (report, next) = perform(model, sut, &state, action, step, "")?;
        matched = report.outcome == "matched";
        reports.push(report);
        state = next;
    }
    // Settle: let the flusher commit and the streams deliver what the model allows, so that
    // what memory holds reaches the data files. These are ordinary model actions, compared
    // like the trace's own.
    let mut settle = 0;
    while matched && settle < 64 {
        enabled.clear();
        model.actions(&state, &mut enabled);
        let Some(action) = enabled.iter().find(|a| {
            matches!(
                a,
                Action::FlusherCommits { .. } | Action::ReplicaReceives { .. }
            )
        }) else {
            break;
        };
        let action = action.clone();
        settle += 1;
        let (report, next) = perform(
            model,
            sut,
            &state,
            &action,
            actions.len() + settle,
            "(settling) ",
        )?;
        matched = report.outcome == "matched";
        reports.push(report);
        state = next;
    }
    let violated = model
        .properties()
        .iter()
        .filter(|p| {
            p.expectation == stateright::Expectation::Always && !(p.condition)(model, &state)
        })
        .map(|p| p.name.to_string())
        .collect();
    Ok(ReplayReport {
        steps: reports.iter().filter(|r| r.step > 0).count(),
        matched,
        violated,
        diverged_on_disk: false,
        divergence: None,
        step_reports: reports,
    })
}

/// Perform one enabled model action on the system under test and compare the projections
/// after it.
fn perform<S: Sut>(
    model: &Warmup,
    sut: &mut S,
    state: &State,
    action: &Action,
    step: usize,
    prefix: &str,
) -> Result<(StepReport, State), String> {
    let next = model.next_state(state, action.clone()).expect("enabled");
    let result = sut.apply(state, action, &next);
    if let Err(ApplyError::Broken(e)) = &result {
        return Err(e.clone());
    }
    let differences = compare(model, &next, sut)?;
    let ok = result.is_ok() && differences.is_empty();
    let report = StepReport {
        step,
        action: format!("{action:?}"),
        outcome: if ok { "matched" } else { "mismatch" }.to_string(),
        story: Some(format!(
            "{prefix}{}",
            story::describe_step(state, action, &next)
        )),
        error: result.err().map(|e| e.to_string()),
        differences,
    };
    Ok((report, next))
}

fn check_initial<S: Sut>(
    model: &Warmup,
    s: &State,
    sut: &mut S,
    reports: &mut Vec<StepReport>,
) -> Result<bool, String> {
    let differences = compare(model, s, sut)?;
    let ok = differences.is_empty();
    if !ok {
        reports.push(StepReport {
            step: 0,
            action: "(initial state)".to_string(),
            outcome: "mismatch".to_string(),
            story: None,
            error: None,
            differences,
        });
    }
    Ok(ok)
}

/// Read the data files back from storage and look for an accepted replica holding a different
/// mutation at a seqno the active's file also holds.
pub fn divergence_on_disk(cluster: &Cluster, setup: &ImplSetup) -> Result<Option<String>, String> {
    use warmcheck_impl::engine::{node_vb_path, StreamState};
    use warmcheck_impl::storage::{StorageBugs, VbFile};
    // A design without MB-20822's fix writes tables with a stale entry above a newer one.
    let rules = StorageBugs {
        unordered_failover_tables: cluster.variant().reverted.mb20822,
        ..StorageBugs::default()
    };
    let read = |path: &std::path::Path| -> Result<Vec<warmcheck_impl::storage::Doc>, String> {
        VbFile::open_with_bugs(setup.backend.as_dyn(), path, rules)
            .and_then(|f| f.docs())
            .map_err(|e| format!("reading back {}: {e}", path.display()))
    };
    // Each role's files are its node's (after a failover the active is another node).
    let roles = cluster.roles();
    for vb in 0..cluster.vbuckets() {
        let active_path = node_vb_path(&setup.dir, roles.active, vb);
        let active = read(&active_path)?;
        for r in 0..cluster.replicas() {
            if cluster.replica_stream(r, vb) != StreamState::Accepted {
                continue;
            }
            let replica_path = node_vb_path(&setup.dir, roles.replicas[r], vb);
            let replica = read(&replica_path)?;
            for (a, b) in active.iter().zip(replica.iter()) {
                assert_eq!(a.seqno, b.seqno, "both files list every seqno in order");
                if (&a.key, a.op, &a.value) != (&b.key, b.op, &b.value) {
                    return Ok(Some(format!(
                        "vb {vb} seqno {}: {} holds {}, {} holds {}",
                        a.seqno,
                        replica_path.display(),
                        describe(b),
                        active_path.display(),
                        describe(a)
                    )));
                }
            }
        }
    }
    Ok(None)
}

fn describe(d: &warmcheck_impl::storage::Doc) -> String {
    match &d.value {
        Some(v) => format!("{:?} {}={v}", d.op, d.key).to_lowercase(),
        None => format!("{:?} {}", d.op, d.key).to_lowercase(),
    }
}

/// Print a replay as a story with each step's comparison.
/// `sut`: the system under test's description when it is not the in-process implementation.
pub fn print(report: &ReplayReport, trace: &Trace, variant: Variant, sut: Option<&str>) {
    let (on, how) = match sut {
        None => ("the implementation", ", on real files"),
        Some(s) => (s, ""),
    };
    println!(
        "Replaying {} steps of a `{}` trace{} on {on} in design `{variant}`{how}.",
        trace.actions.len(),
        trace.variant,
        trace
            .property
            .as_deref()
            .map(|p| format!(" (counterexample for \"{p}\")"))
            .unwrap_or_default()
    );
    for r in &report.step_reports {
        println!("  {:>2}. {}", r.step, r.action);
        if let Some(s) = &r.story {
            println!("      model: {s}");
        }
        match r.outcome.as_str() {
            "matched" => println!("      implementation: same projection"),
            "refused by both" => println!(
                "      implementation: refused too ({})",
                r.error.as_deref().unwrap_or("")
            ),
            _ => {
                println!("      MISMATCH");
                if let Some(e) = &r.error {
                    println!("      implementation: {e}");
                }
                print_differences(&r.differences);
            }
        }
    }
    println!(
        "The implementation {} the model at every step.",
        if report.matched {
            "matched"
        } else {
            "did NOT match"
        }
    );
    if report.violated.is_empty() {
        println!("The model's invariants all hold in the final state.");
    } else {
        println!(
            "The model's final state violates: {}.",
            report.violated.join("; ")
        );
    }
    match &report.divergence {
        Some(d) => println!("Diverged on disk: {d}."),
        None => println!(
            "No divergence on disk: every accepted replica's file agrees with the active's."
        ),
    }
}

/// The differing fields, model and implementation side by side.
pub fn print_differences(differences: &[Difference]) {
    print!("{}", render_differences(differences));
}

/// [`print_differences`]'s lines.
pub fn render_differences(differences: &[Difference]) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let width = differences
        .iter()
        .map(|d| d.path.len())
        .max()
        .unwrap_or(4)
        .min(60);
    let _ = writeln!(
        out,
        "      {:<width$}  {:<40}  implementation",
        "field", "model"
    );
    for d in differences {
        let _ = writeln!(
            out,
            "    ! {:<width$}  {:<40}  {}",
            d.path,
            d.model.to_string(),
            d.implementation
        );
    }
    out
}
