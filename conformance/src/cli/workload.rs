//! `warmcheck workload` (hidden): the child process of the kill test
//! (`conformance/tests/crash_kill.rs`). Runs soak's seeded workload on real files in one data
//! directory, writing the engine's event log to a file (each line written and flushed as the
//! call completes), and validating it against the model as it goes, until its steps are done or
//! it is killed.
//!
//! A first run creates the bucket. A later run (`--resume STATE`) opens the directory a killed
//! run left behind; STATE is the model state the kill test found the directory in (JSON of
//! `warmcheck_model::State`), and `--clock C` the engine clock the killed run had reached.

use super::args::{BudgetArgs, DesignArgs, ShapeArgs, MAX_STEPS};
use crate::soak::{self, Budget, Driver, Knobs};
use crate::validate::{self, Validator};
use rand::rngs::StdRng;
use rand::SeedableRng;
use std::path::PathBuf;
use warmcheck_impl::engine::{Cluster, Config, CounterUuids, SeededBugs, StorageBackend};
use warmcheck_model::{State, Variant};

/// The kill test's child process (conformance/tests/crash_kill.rs): soak's seeded workload on
/// real files in DIR, the event log written to LOG a line at a time as each call completes,
/// validated against the model as it goes, until --steps are done or the process is killed.
/// Creates the bucket; with --resume STATE opens the directory a killed run left, STATE being
/// the model state the test found there (JSON) and --clock the engine clock the killed run had
/// reached. --writes/--crashes/--shutdowns cap the model's counters for this run.
///
/// Exit codes: 0 the steps are done; 1 the implementation did not follow the model; 2 usage or
/// setup error.
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// The data directory.
    #[arg(long)]
    dir: PathBuf,
    #[arg(long)]
    seed: u64,
    /// Where the event log goes (created or truncated).
    #[arg(long)]
    log: PathBuf,
    #[command(flatten)]
    design: DesignArgs,
    #[command(flatten)]
    shape: ShapeArgs,
    /// Engine calls to make, 1..=1000000000.
    #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..=MAX_STEPS))]
    steps: u64,
    /// The model state the directory holds (JSON); the bucket is opened, not created.
    #[arg(long, value_name = "STATE")]
    resume: Option<PathBuf>,
    /// Move the engine clock this far after opening, before the log starts (0..=1000000).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=MAX_CLOCK))]
    clock: u64,
    #[command(flatten)]
    budget: BudgetArgs,
    /// Failovers the run may make (the cluster manager promoting a replica of the down active,
    /// and adding the failed-over node back), 0..=20. With 0 (the default) a seed makes the
    /// calls it made before failover existed.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=crate::checked::MAX_FAILOVERS as i64))]
    failovers: u8,
    /// Percent of calls that are probes, 0..=100.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(0..=100))]
    probes: u32,
    #[arg(long, value_name = "NAME")]
    seeded_bug: Vec<String>,
}

/// The furthest `--clock` moves the clock (a second at a time).
pub const MAX_CLOCK: u64 = 1_000_000;

struct Options {
    dir: PathBuf,
    seed: u64,
    log: PathBuf,
    design: Variant,
    vbuckets: u8,
    replicas: u8,
    keys: u8,
    steps: u64,
    resume: Option<PathBuf>,
    clock: u64,
    budget: Budget,
    probe_percent: u32,
    bugs: SeededBugs,
}

pub fn run(a: Args) -> u8 {
    let bugs = match super::seeded_bugs(&a.seeded_bug) {
        Ok(b) => b,
        Err(code) => return code,
    };
    run_workload(Options {
        dir: a.dir,
        seed: a.seed,
        log: a.log,
        design: a.design.design(),
        vbuckets: a.shape.vbuckets,
        replicas: a.shape.replicas,
        keys: a.shape.keys,
        steps: a.steps,
        resume: a.resume,
        clock: a.clock,
        budget: Budget {
            writes: a.budget.writes,
            crashes: a.budget.crashes,
            shutdowns: a.budget.shutdowns,
            flush_failures: soak::FLUSH_FAILURES_PER_SEGMENT,
            failovers: a.failovers,
        },
        probe_percent: a.probes,
        bugs,
    })
}

/// Exit codes: 0 the steps are done; 1 the implementation did not follow the model; 2 setup
/// error.
fn run_workload(opts: Options) -> u8 {
    println!("seed={}", opts.seed);
    match go(&opts) {
        Ok(Ok(steps)) => {
            println!("{steps} steps: DONE");
            0
        }
        Ok(Err(failure)) => {
            eprintln!("{failure}");
            1
        }
        Err(e) => {
            eprintln!("warmcheck workload: {e}");
            2
        }
    }
}

/// `Err` a setup error; `Ok(Err)` a failure of the implementation.
fn go(opts: &Options) -> Result<Result<u64, String>, String> {
    if let Some(resume) = &opts.resume {
        super::args::check_not_an_input("--log", &opts.log, &[resume.as_path()])?;
    }
    let mut bounds = validate::generous_bounds(opts.vbuckets, opts.replicas, opts.keys);
    bounds.failovers = opts.budget.failovers;
    let model = bounds.into_model(opts.design);
    let start: Option<State> = match &opts.resume {
        None => None,
        Some(path) => Some(crate::checked::load_state(path, &model)?),
    };
    let mut config = Config::new(
        opts.dir.clone(),
        StorageBackend::file(),
        crate::mapping::impl_variant(model.variant),
    );
    config.vbuckets = model.bounds.vbuckets as u16;
    config.replicas = model.bounds.replicas as usize;
    config.bugs = opts.bugs;
    let (cluster, validator) = match start {
        None => {
            // A directory a killed run left is continued with --resume, not created over.
            super::args::check_fresh_dir(&opts.dir)
                .map_err(|e| format!("{e} (or --resume STATE to continue its bucket)"))?;
            config.uuids = Box::new(CounterUuids::new());
            let cluster = Cluster::create(config).map_err(|e| e.to_string())?;
            (cluster, Validator::new(model))
        }
        Some(state) => {
            // The model's uuid counter is where the kill test put it: past every uuid the
            // killed run could have handed out.
            config.uuids = Box::new(CounterUuids::starting_at(u64::from(state.next_uuid)));
            let mut cluster = Cluster::open(config).map_err(|e| e.to_string())?;
            // kv_engine's clock is wall time and keeps going across a restart; this engine's
            // starts at 0 at `open`. Move it back to where the killed run was (before the event
            // log starts) so that expiry times written by the killed run mean what they meant.
            for _ in 0..opts.clock {
                cluster.advance_clock(1).map_err(|e| e.to_string())?;
            }
            (cluster, Validator::starting_at(model, state))
        }
    };
    let file = std::fs::File::create(&opts.log)
        .map_err(|e| format!("{}: cannot create: {e}", opts.log.display()))?;
    let mut driver = Driver::new(cluster, validator, Some(file));
    if let Err(e) = driver.check_in_step() {
        return Ok(Err(format!(
            "the directory does not hold what the model says at the start: {e}"
        )));
    }
    let knobs = Knobs {
        probe_percent: opts.probe_percent,
        // Real files ignore tears.
        torn_percent: 0,
    };
    let mut rng = StdRng::seed_from_u64(opts.seed);
    let mix = soak::Mix::draw(&mut rng);
    for step in 1..=opts.steps {
        let p = soak::pick(
            &mut rng,
            driver.validator().model(),
            driver.validator().state(),
            &knobs,
            &opts.budget,
            &mix,
        );
        if let Err(message) = driver.step(step, &p) {
            // A log that cannot be written is the run's I/O failure, not the implementation's.
            if let Some(e) = &driver.log_failed {
                return Err(format!("--log {}: step {step}: {e}", opts.log.display()));
            }
            return Ok(Err(format!(
                "FAILED at step {step}: `{}`\n{message}\nthe last events:\n{}",
                p.call,
                driver.recent().join("\n")
            )));
        }
    }
    Ok(Ok(opts.steps))
}
