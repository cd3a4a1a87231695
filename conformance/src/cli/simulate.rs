//! `warmcheck simulate`: seeded random walks through the model.

use super::args::{BoundsArgs, DesignArgs, ReportArgs, TraceDirArgs, MAX_STEPS};
use crate::report::{self, Case};
use crate::trace::Trace;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use schemars::JsonSchema;
use serde::Serialize;
use stateright::{Expectation, Model};
use std::collections::BTreeSet;
use std::path::PathBuf;
use warmcheck_model::{Bounds, Variant, Warmup};

/// The outcome of a simulation: the first violated `always` with its walk, if any.
pub struct SimOutcome {
    pub violation: Option<Trace>,
    pub steps: u64,
    pub reached: BTreeSet<&'static str>,
}

/// Run `runs` walks of at most `depth` steps from seed `seed`. Deterministic for a seed.
pub fn simulate(model: &Warmup, seed: u64, runs: u64, depth: usize) -> SimOutcome {
    let props = model.properties();
    let mut rng = StdRng::seed_from_u64(seed);
    let mut reached = BTreeSet::new();
    let mut steps = 0;
    let mut actions = Vec::new();
    for _ in 0..runs {
        let mut state = model.init_states().remove(0);
        let mut walk = Vec::new();
        for _ in 0..=depth {
            for p in &props {
                let holds = (p.condition)(model, &state);
                match p.expectation {
                    Expectation::Always if !holds => {
                        return SimOutcome {
                            violation: Some(Trace::new(model, Some(p.name), walk)),
                            steps,
                            reached,
                        };
                    }
                    Expectation::Sometimes if holds => {
                        reached.insert(p.name);
                    }
                    _ => {}
                }
            }
            if walk.len() == depth {
                break;
            }
            actions.clear();
            model.actions(&state, &mut actions);
            if actions.is_empty() {
                break;
            }
            let a = actions.swap_remove(rng.random_range(0..actions.len()));
            state = model.next_state(&state, a.clone()).expect("enabled");
            walk.push(a);
            steps += 1;
        }
    }
    SimOutcome {
        violation: None,
        steps,
        reached,
    }
}

/// Seeded random walks through the model, checking every property on the way.
///
/// Prints the seed first; ends with PASSED, or the failing walk as a story and
/// "reproduce with --seed S". Useful at bounds too large to check exhaustively.
/// A failing walk is saved as check saves a counterexample (see --trace-dir): a trace file
/// that `replay` and `explore --trace` load, and the same in ITF (`*.itf.json`).
///
/// Exit codes: 0 no `always` violated; 1 one was; 2 usage error.
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    #[command(flatten)]
    design: DesignArgs,
    #[command(flatten)]
    bounds: BoundsArgs,
    /// The seed, any 64-bit unsigned number (default: random, printed first).
    #[arg(long)]
    seed: Option<u64>,
    /// Number of walks, 1..=1000000000.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=MAX_STEPS))]
    runs: u64,
    /// Maximum steps per walk, 0..=10000.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(0..=MAX_DEPTH))]
    depth: u64,
    #[command(flatten)]
    reports: ReportArgs,
    #[command(flatten)]
    traces: TraceDirArgs,
}

/// The longest walk `simulate` takes.
pub const MAX_DEPTH: u64 = 10_000;

pub fn run(a: Args) -> u8 {
    if let Err(e) = a
        .reports
        .check_writable()
        .and_then(|()| a.traces.check_writable())
    {
        return super::usage_error(e);
    }
    let model = a.bounds.bounds().into_model(a.design.design());
    let out = Outputs {
        json: a.reports.json,
        junit: a.reports.junit,
        trace_dir: a.traces.trace_dir,
    };
    simulate_model(model, a.seed, a.runs, a.depth as usize, &out)
}

/// Where simulate writes what it found.
struct Outputs {
    json: Option<PathBuf>,
    junit: Option<PathBuf>,
    trace_dir: PathBuf,
}

pub const SIMULATE_SCHEMA: &str = "warmcheck-simulate-report/1";

/// `simulate --json` (docs/schemas/simulate-report.schema.json, generated from it).
#[derive(Serialize, JsonSchema)]
#[schemars(title = "warmcheck simulate --json", deny_unknown_fields)]
pub struct SimulateReport<'a> {
    #[schemars(extend("const" = SIMULATE_SCHEMA))]
    schema: &'static str,
    /// The design's one name: a preset, or its knobs spelled out (`Variant`'s Display).
    variant: String,
    design: Variant,
    bounds: Bounds,
    #[serde(with = "report::seed")]
    #[schemars(with = "report::SeedJson")]
    seed: u64,
    #[schemars(range(min = 1))]
    runs: u64,
    depth: usize,
    /// No `always` was violated by the walks.
    passed: bool,
    /// Steps taken over all walks (they stop at the first violation).
    steps: u64,
    #[schemars(range(min = 0.0))]
    seconds: f64,
    properties: Vec<SimProperty>,
    /// The violated `always` with its walk; `null` when none was.
    violation: Option<Violation<'a>>,
    /// The command that runs the same walks again.
    reproduce: String,
}

#[derive(Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
struct SimProperty {
    name: &'static str,
    #[schemars(extend("enum" = ["always", "sometimes"]))]
    expectation: &'static str,
    /// `violated` or `not violated` (always); `reached` or `unreached` (sometimes): by the
    /// walks that ran, which stop at the first violation.
    #[schemars(extend("enum" = ["violated", "not violated", "reached", "unreached"]))]
    status: &'static str,
}

#[derive(Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
struct Violation<'a> {
    property: &'a str,
    steps: usize,
    trace: &'a Trace,
    /// The trace file written under --trace-dir.
    trace_file: Option<String>,
    /// The same walk in ITF, beside it.
    itf_file: Option<String>,
}

fn simulate_model(model: Warmup, seed: Option<u64>, runs: u64, depth: usize, o: &Outputs) -> u8 {
    crate::signals::stop_gracefully();
    let seed = seed.unwrap_or_else(|| rand::rng().random());
    println!("seed={seed}");
    println!(
        "Simulating {runs} random walks of at most {depth} steps in design `{}` within {}.",
        model.variant, model.bounds
    );
    let start = std::time::Instant::now();
    let out = simulate(&model, seed, runs, depth);
    let sometimes: Vec<&str> = model
        .properties()
        .iter()
        .filter(|p| p.expectation == Expectation::Sometimes)
        .map(|p| p.name)
        .collect();
    println!(
        "{} steps in {:.2}s; sometimes-properties reached: {}/{}",
        out.steps,
        start.elapsed().as_secs_f64(),
        out.reached.len(),
        sometimes.len()
    );
    for s in sometimes.iter().filter(|s| !out.reached.contains(*s)) {
        println!("  not reached by these walks: {s}");
    }
    let reproduce = format!(
        "warmcheck simulate {}",
        reproduce_flags(&model, seed, runs, depth)
    );
    let mut files = None;
    if let Some(t) = &out.violation {
        let path = o.trace_dir.join(format!(
            "simulate-{}-{}-seed{seed}.trace.json",
            super::check::slug(&t.variant),
            super::check::slug(t.property.as_deref().unwrap_or("property"))
        ));
        match t.save_with_itf(&path) {
            Ok(itf) => files = Some((path, itf)),
            Err(e) => {
                eprintln!("warmcheck: {e}");
                return 2;
            }
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    let properties: Vec<SimProperty> = model
        .properties()
        .iter()
        .map(|p| {
            let sometimes = p.expectation == Expectation::Sometimes;
            let violated = out
                .violation
                .as_ref()
                .is_some_and(|t| t.property.as_deref() == Some(p.name));
            SimProperty {
                name: p.name,
                expectation: if sometimes { "sometimes" } else { "always" },
                status: match (sometimes, violated, out.reached.contains(p.name)) {
                    (true, _, true) => "reached",
                    (true, _, false) => "unreached",
                    (false, true, _) => "violated",
                    (false, false, _) => "not violated",
                },
            }
        })
        .collect();
    if let Some(path) = &o.json {
        let doc = SimulateReport {
            schema: SIMULATE_SCHEMA,
            variant: model.variant.to_string(),
            design: model.variant,
            bounds: model.bounds,
            seed,
            runs,
            depth,
            passed: out.violation.is_none(),
            steps: out.steps,
            seconds,
            properties,
            violation: out.violation.as_ref().map(|t| Violation {
                property: t.property.as_deref().unwrap_or("?"),
                steps: t.actions.len(),
                trace: t,
                trace_file: files.as_ref().map(|(p, _)| p.display().to_string()),
                itf_file: files.as_ref().map(|(_, p)| p.display().to_string()),
            }),
            reproduce: reproduce.clone(),
        };
        if let Err(e) = report::write_json(path, &doc) {
            eprintln!("warmcheck: {e}");
            return 2;
        }
    }
    if let Some(path) = &o.junit {
        if let Err(e) = write_junit(path, &model, &out, seed, seconds) {
            eprintln!("warmcheck: {e}");
            return 2;
        }
    }
    match out.violation {
        None => {
            println!("PASSED");
            0
        }
        Some(t) => {
            print!("{}", super::check::story_text(&t));
            if let Some((trace, itf)) = &files {
                println!("Trace saved: {} (ITF: {})", trace.display(), itf.display());
            }
            println!("FAILED: reproduce with --seed {seed}: {reproduce}");
            1
        }
    }
}

/// One JUnit test case per property: a violated `always` is a `<failure>` with the walk's
/// story; a `sometimes` these walks did not reach is `<skipped>` (a hint, not a failure).
fn write_junit(
    path: &std::path::Path,
    model: &Warmup,
    out: &SimOutcome,
    seed: u64,
    seconds: f64,
) -> Result<(), String> {
    let label = model.variant.to_string();
    let cases: Vec<Case> = model
        .properties()
        .iter()
        .map(|p| {
            let sometimes = p.expectation == Expectation::Sometimes;
            let violation = out
                .violation
                .as_ref()
                .filter(|t| t.property.as_deref() == Some(p.name));
            Case {
                classname: format!("warmcheck.simulate.{label}"),
                name: format!(
                    "{} {}",
                    if sometimes { "sometimes" } else { "always" },
                    p.name
                ),
                seconds: 0.0,
                failure: violation.map(|t| {
                    (
                        format!("{} steps (seed {seed})", t.actions.len()),
                        super::check::story_text(t),
                    )
                }),
                skipped: (sometimes && !out.reached.contains(p.name))
                    .then(|| "not reached by these walks".to_string()),
            }
        })
        .collect();
    report::write_junit(
        path,
        &format!("warmcheck simulate {label} seed {seed}"),
        seconds,
        &cases,
    )
}

/// The flags that run the same walks again.
fn reproduce_flags(model: &Warmup, seed: u64, runs: u64, depth: usize) -> String {
    let v = model.variant;
    let design = match v.preset_name() {
        Some(name) => format!("--variant {name}"),
        None => format!(
            "--persist-entry {} --shutdown-flag {} --rollback-retry {} --stop-warmup {} \
             --revert-fix {}",
            v.persist_entry,
            v.shutdown_flag,
            v.rollback_retry,
            v.stop_warmup,
            if v.reverted.is_empty() {
                "none".to_string()
            } else {
                v.reverted.names()
            }
        ),
    };
    let b = model.bounds;
    format!(
        "--seed {seed} --runs {runs} --depth {depth} {design} --vbuckets {} --replicas {} \
         --keys {} --writes {} --crashes {} --shutdowns {} --flush-failures {}",
        b.vbuckets, b.replicas, b.keys, b.writes, b.crashes, b.shutdowns, b.flush_failures
    )
}
