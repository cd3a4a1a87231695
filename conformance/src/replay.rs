//! Replaying a model trace on the implementation, step by step, comparing projections.

use crate::mapping::{self, Difference};
use crate::trace::Trace;
use serde::Serialize;
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
#[derive(Clone, Debug, Serialize)]
pub struct StepReport {
    pub step: usize,
    pub action: String,
    /// `matched`, `refused by both`, or `mismatch`.
    pub outcome: String,
    pub story: Option<String>,
    pub error: Option<String>,
    pub differences: Vec<Difference>,
}

#[derive(Clone, Debug, Serialize)]
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
    let mut cluster = new_cluster(model, setup)?;
    let mut state = model.init_states().remove(0);
    let mut reports = Vec::new();
    let mut matched = check_initial(model, &state, &cluster, &mut reports);
    let mut enabled = Vec::new();
    for (i, action) in actions.iter().enumerate() {
        if !matched {
            break;
        }
        enabled.clear();
        model.actions(&state, &mut enabled);
        let step = i + 1;
        if !enabled.contains(action) {
            // The model refuses: the implementation must refuse the same call.
            let next = model
                .next_state(&state, action.clone())
                .unwrap_or_else(|| state.clone());
            let before = mapping::project_impl(&cluster);
            let result = mapping::apply(&mut cluster, &state, action, &next);
            let after = mapping::project_impl(&cluster);
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
        let (report, next) = perform(model, &mut cluster, &state, action, step, "");
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
            &mut cluster,
            &state,
            &action,
            actions.len() + settle,
            "(settling) ",
        );
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
    let divergence = divergence_on_disk(&cluster, setup)?;
    Ok(ReplayReport {
        steps: reports.iter().filter(|r| r.step > 0).count(),
        matched,
        violated,
        diverged_on_disk: divergence.is_some(),
        divergence,
        step_reports: reports,
    })
}

/// Perform one enabled model action on the cluster and compare the projections after it.
fn perform(
    model: &Warmup,
    cluster: &mut Cluster,
    state: &State,
    action: &Action,
    step: usize,
    prefix: &str,
) -> (StepReport, State) {
    let next = model.next_state(state, action.clone()).expect("enabled");
    let result = mapping::apply(cluster, state, action, &next);
    let differences = mapping::diff(
        &mapping::project_model(model, &next),
        &mapping::project_impl(cluster),
    );
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
    (report, next)
}

fn check_initial(
    model: &Warmup,
    s: &State,
    cluster: &Cluster,
    reports: &mut Vec<StepReport>,
) -> bool {
    let differences = mapping::diff(
        &mapping::project_model(model, s),
        &mapping::project_impl(cluster),
    );
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
    ok
}

/// Read the data files back from storage and look for an accepted replica holding a different
/// mutation at a seqno the active's file also holds.
pub fn divergence_on_disk(cluster: &Cluster, setup: &ImplSetup) -> Result<Option<String>, String> {
    use warmcheck_impl::engine::{active_vb_path, replica_vb_path, StreamState};
    use warmcheck_impl::storage::VbFile;
    let read = |path: &std::path::Path| -> Result<Vec<warmcheck_impl::storage::Doc>, String> {
        VbFile::open(setup.backend.as_dyn(), path)
            .and_then(|f| f.docs())
            .map_err(|e| format!("reading back {}: {e}", path.display()))
    };
    for vb in 0..cluster.vbuckets() {
        let active_path = active_vb_path(&setup.dir, vb);
        let active = read(&active_path)?;
        for r in 0..cluster.replicas() {
            if cluster.replica_stream(r, vb) != StreamState::Accepted {
                continue;
            }
            let replica_path = replica_vb_path(&setup.dir, r, vb);
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
pub fn print(report: &ReplayReport, trace: &Trace, variant: Variant) {
    println!(
        "Replaying {} steps of a `{}` trace{} on the implementation in design `{variant}`, on real files.",
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
    let width = differences
        .iter()
        .map(|d| d.path.len())
        .max()
        .unwrap_or(4)
        .min(60);
    println!("      {:<width$}  {:<40}  implementation", "field", "model");
    for d in differences {
        println!(
            "    ! {:<width$}  {:<40}  {}",
            d.path,
            d.model.to_string(),
            d.implementation
        );
    }
}
