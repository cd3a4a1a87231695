//! `warmcheck simulate`: seeded random walks through the model.

use super::args::{BoundsArgs, DesignArgs, MAX_STEPS};
use crate::trace::Trace;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use stateright::{Expectation, Model};
use std::collections::BTreeSet;
use warmcheck_model::Warmup;

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
}

/// The longest walk `simulate` takes.
pub const MAX_DEPTH: u64 = 10_000;

pub fn run(a: Args) -> u8 {
    let model = a.bounds.bounds().into_model(a.design.design());
    simulate_model(model, a.seed, a.runs, a.depth as usize)
}

fn simulate_model(model: Warmup, seed: Option<u64>, runs: u64, depth: usize) -> u8 {
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
    match out.violation {
        None => {
            println!("PASSED");
            0
        }
        Some(t) => {
            print!("{}", super::check::story_text(&t));
            println!(
                "FAILED: reproduce with --seed {seed}: warmcheck simulate {}",
                reproduce_flags(&model, seed, runs, depth)
            );
            1
        }
    }
}

/// The flags that run the same walks again.
fn reproduce_flags(model: &Warmup, seed: u64, runs: u64, depth: usize) -> String {
    let design = match model.variant.preset_name() {
        Some(name) => format!("--variant {name}"),
        None => format!(
            "--persist-entry {} --shutdown-flag {}",
            model.variant.persist_entry, model.variant.shutdown_flag
        ),
    };
    let b = model.bounds;
    format!(
        "--seed {seed} --runs {runs} --depth {depth} {design} --vbuckets {} --replicas {} \
         --keys {} --writes {} --crashes {} --shutdowns {}",
        b.vbuckets, b.replicas, b.keys, b.writes, b.crashes, b.shutdowns
    )
}
