//! `warmcheck soak`: a seeded random workload on the implementation, validated against the
//! model at every step.

use super::args::{check_fresh_dir, Backend, DesignArgs, ReportArgs, ShapeArgs, MAX_STEPS};
use crate::report::{self, Case};
use crate::signals;
use crate::soak::{self, SoakBackend, SoakConfig, SoakReport};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use warmcheck_model::Variant;

/// Drive the implementation with a seeded random workload, validating its event log against
/// the model at every step.
///
/// Calls: client sets (with and without ttl=1) and deletes on k0..k{K-1}, advance_clock, get,
/// compact, the expiry pager, flush, stats snapshots, crashes (plain and torn), the shutdown
/// and warmup steps, DCP stream requests and deliveries. Mostly calls the model enables (the
/// engine must accept each, as that very action); some that are no single model action
/// (expiries or stutters); and --probes percent of any call at all (a refused one must change
/// nothing; an accepted one must be a step the model allows). Every event-log line is validated
/// as `validate` does, and the live state compared with the model's after each call that logs
/// nothing. When the model's counters reach its bounds (60 client writes, 20 crashes, 20 clean
/// shutdowns) a new segment starts: a fresh cluster and the model's initial state. Each
/// segment weighs the kinds of calls its own way (swarm testing).
///
/// Prints seed=S first and progress on stderr every ~2 s (unless --quiet); ends with PASSED
/// (steps, model steps, crashes, torn crashes, and how often the model saw a replica diverge:
/// in a buggy design, the implementation diverging as the model does is no failure), or the
/// failing step, the last 20 events and "reproduce with --seed S". Deterministic for a seed.
///
/// Exit codes: 0 passed; 1 failed (or interrupted with Ctrl-C); 2 usage or setup error.
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// The seed, any 64-bit unsigned number (default: random, printed first).
    #[arg(long)]
    seed: Option<u64>,
    /// Engine calls to make, 1..=1000000000.
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u64).range(1..=MAX_STEPS))]
    steps: u64,
    #[command(flatten)]
    design: DesignArgs,
    #[command(flatten)]
    shape: ShapeArgs,
    /// Where the implementation keeps its files.
    #[arg(long, value_enum, default_value_t = Backend::Faulty)]
    backend: Backend,
    /// Where the data lives, absent or empty (default: a temporary directory). Needs
    /// --backend file.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Percent of calls that are probes (any call, whatever the model enables), 0..=100.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(0..=100))]
    probes: u32,
    /// Failovers each segment may make (the cluster manager promoting a replica of the down
    /// active, and adding the failed-over node back), 0..=20 (default 0).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=crate::checked::MAX_FAILOVERS as i64))]
    failovers: u8,
    /// Percent of crashes that are torn (crash_torn with a random tear), 0..=100.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(0..=100))]
    torn: u32,
    #[command(flatten)]
    reports: ReportArgs,
    /// Write the engine's event log to LOG too: calls and results, without states, as a real
    /// engine's log would be (docs/event-log.md), a `create` line opening each segment;
    /// `warmcheck validate LOG` checks it.
    #[arg(long, value_name = "LOG")]
    log: Option<PathBuf>,
    /// No progress on stderr.
    #[arg(long, short)]
    quiet: bool,
    /// Test only: switch on a deliberate implementation bug (see SeededBugs).
    #[arg(long, hide = true, value_name = "NAME")]
    seeded_bug: Vec<String>,
}

/// What a soak is asked for.
struct Options {
    seed: Option<u64>,
    steps: u64,
    design: Variant,
    vbuckets: u8,
    replicas: u8,
    keys: u8,
    failovers: u8,
    /// Real files (under `dir`, or a temporary directory) instead of the crashable backend.
    file_backend: bool,
    dir: Option<PathBuf>,
    knobs: soak::Knobs,
    bugs: warmcheck_impl::engine::SeededBugs,
    /// The seeded bugs' names, to repeat them in the reproduce line.
    bug_names: Vec<String>,
    json: Option<PathBuf>,
    junit: Option<PathBuf>,
    log: Option<PathBuf>,
    quiet: bool,
}

/// Exit codes: 0 passed; 1 failed (or interrupted); 2 usage or setup error.
pub fn run(a: Args) -> u8 {
    let checks = a
        .reports
        .check_writable()
        .and_then(|()| a.backend.check_dir(a.dir.as_deref()))
        .and_then(|()| a.dir.as_deref().map_or(Ok(()), check_fresh_dir))
        .and_then(|()| {
            a.log
                .as_deref()
                .map_or(Ok(()), super::args::check_file_writable)
        })
        .and_then(|()| {
            super::args::check_outputs_apart(&[
                ("--log", a.log.as_deref()),
                ("--json", a.reports.json.as_deref()),
                ("--junit", a.reports.junit.as_deref()),
            ])
        });
    if let Err(e) = checks {
        return super::usage_error(e);
    }
    let bugs = match super::seeded_bugs(&a.seeded_bug) {
        Ok(b) => b,
        Err(code) => return code,
    };
    soak_with(Options {
        seed: a.seed,
        steps: a.steps,
        design: a.design.design(),
        vbuckets: a.shape.vbuckets,
        replicas: a.shape.replicas,
        keys: a.shape.keys,
        failovers: a.failovers,
        file_backend: a.backend == Backend::File,
        dir: a.dir,
        knobs: soak::Knobs {
            probe_percent: a.probes,
            torn_percent: a.torn,
        },
        bugs,
        bug_names: a.seeded_bug,
        json: a.reports.json,
        junit: a.reports.junit,
        log: a.log,
        quiet: a.quiet,
    })
}

/// The flags that reproduce `report` (its seed, up to its last step).
fn reproduce_flags(opts: &Options, seed: u64, steps: u64) -> String {
    let mut flags = format!("--seed {seed} --steps {steps} ");
    match opts.design.preset_name() {
        Some(name) => flags += &format!("--variant {name}"),
        None => {
            flags += &format!(
                "--persist-entry {} --shutdown-flag {}",
                opts.design.persist_entry, opts.design.shutdown_flag
            )
        }
    }
    flags += &format!(
        " --vbuckets {} --replicas {} --keys {}",
        opts.vbuckets, opts.replicas, opts.keys
    );
    let default = soak::Knobs::default();
    if opts.knobs.probe_percent != default.probe_percent {
        flags += &format!(" --probes {}", opts.knobs.probe_percent);
    }
    if opts.knobs.torn_percent != default.torn_percent {
        flags += &format!(" --torn {}", opts.knobs.torn_percent);
    }
    if opts.failovers > 0 {
        flags += &format!(" --failovers {}", opts.failovers);
    }
    if opts.file_backend {
        flags += " --backend file";
    }
    for b in &opts.bug_names {
        flags += &format!(" --seeded-bug {b}");
    }
    flags
}

// Long: seeds, segments and report inline in the CLI; to move out of it (issue 26).
#[allow(clippy::too_many_lines)]
fn soak_with(opts: Options) -> u8 {
    let seed = opts.seed.unwrap_or_else(rand::random);
    println!("seed={seed}");
    signals::stop_gracefully();
    let mut tmp = None;
    let backend = if opts.file_backend {
        let root = match &opts.dir {
            Some(d) => d.clone(),
            None => match signals::temp_dir("warmcheck-soak-", None) {
                Ok(t) => {
                    let p = t.path().to_path_buf();
                    tmp = Some(t);
                    p
                }
                Err(e) => {
                    eprintln!("warmcheck: cannot make a temporary directory: {e}");
                    return 2;
                }
            },
        };
        SoakBackend::File(root)
    } else {
        SoakBackend::Faulty
    };
    let cfg = SoakConfig {
        seed,
        steps: opts.steps,
        design: opts.design,
        vbuckets: opts.vbuckets,
        replicas: opts.replicas,
        keys: opts.keys,
        backend,
        bugs: opts.bugs,
        failovers: opts.failovers,
        knobs: if opts.file_backend {
            // Real files ignore tears: every crash there is a process crash.
            soak::Knobs {
                torn_percent: 0,
                ..opts.knobs
            }
        } else {
            opts.knobs
        },
    };
    let model = cfg.model();
    println!(
        "Soaking the implementation of design `{}` for {} steps: {} vbucket{}, {} replica{}, {} \
         key{}, on {}; every event-log line is validated against the model, and the live state \
         compared with the model's after every call that logs nothing.{}",
        opts.design,
        opts.steps,
        model.bounds.vbuckets,
        if model.bounds.vbuckets == 1 { "" } else { "s" },
        model.bounds.replicas,
        if model.bounds.replicas == 1 { "" } else { "s" },
        model.bounds.keys,
        if model.bounds.keys == 1 { "" } else { "s" },
        match &cfg.backend {
            SoakBackend::Faulty => "the in-memory crashable backend (a crash keeps only synced \
                                    bytes, or what a tear keeps)"
                .to_string(),
            SoakBackend::File(d) => format!("real files under {}", d.display()),
        },
        if opts.bug_names.is_empty() {
            String::new()
        } else {
            format!(" Seeded bugs: {}.", opts.bug_names.join(", "))
        }
    );
    let log = match &opts.log {
        None => None,
        Some(path) => match std::fs::File::create(path) {
            Ok(f) => Some(f),
            Err(e) => {
                eprintln!("warmcheck: {}: cannot create: {e}", path.display());
                return 2;
            }
        },
    };
    let quiet = opts.quiet;
    let mut last = Instant::now();
    let report = match soak::soak_logged(&cfg, log.as_ref(), |st| {
        if !quiet && last.elapsed() >= Duration::from_secs(2) {
            last = Instant::now();
            eprintln!(
                "soak: step {}/{} ({:.0}%), segment {}, {} crashes ({} torn), {} divergences, \
                 {:.0} steps/s",
                st.step,
                opts.steps,
                100.0 * st.step as f64 / opts.steps.max(1) as f64,
                st.segments,
                st.counters.crashes,
                st.counters.torn_crashes,
                st.counters.divergences,
                st.step as f64 / st.seconds.max(1e-9)
            );
        }
        !signals::interrupted()
    }) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("warmcheck: {e}");
            return 2;
        }
    };
    print_report(&report);
    if let (Some(f), SoakBackend::File(root)) = (&report.failure, &cfg.backend) {
        if let Some(t) = tmp.take() {
            let _ = t.keep();
        }
        println!(
            "the failing segment's files are in {}",
            root.join(format!("segment-{}", f.segment)).display()
        );
    }
    match &report.failure {
        Some(f) => println!(
            "reproduce with --seed {seed}: warmcheck soak {}",
            reproduce_flags(&opts, seed, f.step)
        ),
        None if report.interrupted => println!(
            "INTERRUPTED after {} steps; reproduce with --seed {seed}: warmcheck soak {}",
            report.steps,
            reproduce_flags(&opts, seed, report.steps)
        ),
        None => println!("PASSED"),
    }
    let mut code = if report.passed { 0 } else { 1 };
    if let Some(path) = &opts.json {
        if let Err(e) = report::write_json(path, &report) {
            eprintln!("warmcheck: {e}");
            code = 2;
        }
    }
    if let Some(path) = &opts.junit {
        let case = Case {
            classname: format!("warmcheck.soak.{}", report.variant),
            name: format!("soak seed={seed}"),
            seconds: report.seconds,
            failure: report.failure.as_ref().map(|f| {
                (
                    format!(
                        "step {}: {}",
                        f.step,
                        f.message.lines().next().unwrap_or("")
                    ),
                    format!(
                        "{}\n\nthe last events:\n{}\n\nreproduce with: warmcheck soak {}",
                        f.message,
                        f.recent.join("\n"),
                        reproduce_flags(&opts, seed, f.step)
                    ),
                )
            }),
            skipped: None,
        };
        if let Err(e) = report::write_junit(path, "warmcheck soak", report.seconds, &[case]) {
            eprintln!("warmcheck: {e}");
            code = 2;
        }
    }
    code
}

fn print_report(r: &SoakReport) {
    println!(
        "{} steps in {} segment{}: {} model steps, {} stutters, {} refused calls, {} crashes ({} \
         torn); the model saw {} divergence{} (\"no replica diverges\" violated); {:.2}s",
        r.steps,
        r.segments,
        if r.segments == 1 { "" } else { "s" },
        r.model_steps,
        r.stutters,
        r.refused,
        r.crashes,
        r.torn_crashes,
        r.divergences,
        if r.divergences == 1 { "" } else { "s" },
        r.seconds
    );
    if let Some(f) = &r.failure {
        println!(
            "FAILED at step {} (segment {}): `{}`",
            f.step, f.segment, f.call
        );
        println!("{}", f.message);
        println!("the last {} events:", f.recent.len());
        for e in &f.recent {
            println!("{e}");
        }
    }
}
