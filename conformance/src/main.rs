//! `warmcheck`: model-check kv_engine's warmup designs, run the reference implementation, and
//! relate the two. `warmcheck --help` lists the subcommands; each has its own `--help`.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use warmcheck_conformance::check::Strategy;
use warmcheck_conformance::cli;
use warmcheck_model::{Bounds, PersistEntry, ShutdownFlag, Variant};

#[derive(Parser)]
#[command(
    name = "warmcheck",
    version,
    about = "Model-check kv_engine's warmup designs (the MB-41942 bug family), run the reference \
             implementation on real files, and check that the two agree.",
    after_help = "Exit codes: 0 success; 1 a property failed, a mismatch or a divergence was \
                  found; 2 usage or input error."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Check(CheckArgs),
    Explore(ExploreArgs),
    Simulate(SimulateArgs),
    Scenario(ScenarioArgs),
    FailoverDecide(FailoverDecideArgs),
    Replay(ReplayArgs),
    Conform(ConformArgs),
}

/// Replay every reachable transition of the model on the implementation, comparing the
/// implementation's projected state with the model's after every step.
///
/// Walks the model's reachable graph depth-first; at each state it restores the implementation
/// to that state (from a snapshot) and performs each enabled action as one engine call. Prints
/// transitions and states covered / reachable, steps replayed, steps per second and seconds.
/// On a mismatch it prints the trace, the two projections' differing fields side by side, and
/// writes the trace to --trace-dir for `warmcheck replay`. Files live on tmpfs (/dev/shm) by
/// default, real files with real fsync calls, so that fsync latency does not dominate.
///
/// Exit codes: 0 every transition conformed; 1 a mismatch (or interrupted); 2 usage error.
#[derive(Args)]
#[command(verbatim_doc_comment)]
struct ConformArgs {
    #[command(flatten)]
    design: DesignArgs,
    #[command(flatten)]
    bounds: BoundsArgs,
    /// file: real files (default); faulty: the in-memory crashable backend.
    #[arg(long, value_parser = ["file", "faulty"], default_value = "file")]
    backend: String,
    /// Run the I-th of N deterministic parts (e.g. 0/4 .. 3/4 on four CI runners).
    #[arg(long, value_name = "I/N", value_parser = parse_shard)]
    shard: Option<warmcheck_conformance::conform::Shard>,
    /// The data directory (default: a fresh one under /dev/shm, or the temp dir).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Write a JSON report (schema: docs/reports.md).
    #[arg(long, value_name = "PATH")]
    json: Option<PathBuf>,
    /// Write a JUnit XML report.
    #[arg(long, value_name = "PATH")]
    junit: Option<PathBuf>,
    /// Where a mismatch's trace is written.
    #[arg(long, value_name = "DIR", default_value = "warmcheck-traces")]
    trace_dir: PathBuf,
    /// No progress on stderr.
    #[arg(long, short)]
    quiet: bool,
    /// Test only: switch on a deliberate implementation bug (see SeededBugs).
    #[arg(long, hide = true, value_name = "NAME")]
    seeded_bug: Vec<String>,
    /// Worker threads, each replaying its own part with its own cluster (default: cores).
    #[arg(long)]
    jobs: Option<u64>,
}

fn parse_shard(s: &str) -> Result<warmcheck_conformance::conform::Shard, String> {
    let (i, n) = s.split_once('/').ok_or("expected I/N, e.g. 0/4")?;
    let index: u64 = i.parse().map_err(|_| format!("{i:?} is not a number"))?;
    let count: u64 = n.parse().map_err(|_| format!("{n:?} is not a number"))?;
    if count == 0 || index >= count {
        return Err(format!("shard {index}/{count}: need 0 <= I < N"));
    }
    Ok(warmcheck_conformance::conform::Shard { index, count })
}

/// Run a scenario script on the implementation, on real files, printing each directive's
/// output.
///
/// One directive a line, `#` comments: set KEY [ttl=S] [vb=N] [value=V], delete KEY, get KEY,
/// advance-clock S, compact, expiry-pager, flush [vb=N], crash, shutdown (or its steps
/// shutdown-begin, shutdown-write-flag, shutdown-stop-flusher), warmup [until=PHASE]
/// (initialize, create-vbuckets, populate-vbucket-map, loading-data, done, complete),
/// stats-snapshot, connect REPLICA, stream REPLICA, show (the whole state as one JSON line),
/// check-divergence. FILE `-` reads standard input. See impl/testdata/ for stories.
///
/// Exit codes: 0 the script ran; 2 a directive makes no sense (its line number is named), a
/// storage error, or the file cannot be read.
#[derive(Args)]
#[command(verbatim_doc_comment)]
struct ScenarioArgs {
    /// The script.
    file: PathBuf,
    #[command(flatten)]
    design: DesignArgs,
    /// Replica nodes (r1, r2, ...).
    #[arg(long, default_value_t = 1)]
    replicas: usize,
    /// Vbuckets on the active node.
    #[arg(long, default_value_t = 1)]
    vbuckets: u16,
    /// The data directory (default: a fresh temporary one, removed afterwards).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Use the in-memory crashable backend instead of real files (a crash then keeps only
    /// what was synced).
    #[arg(long)]
    faulty: bool,
}

/// Decide DCP rollbacks the way a 6.5 producer does (`FailoverTable::needsRollback`).
///
/// Reads JSON lines {"table":[{"id":U,"seq":S},...], "start", "cur", "uuid", "snap_start",
/// "snap_end", "purge", "strict"} (table newest first) on standard input and prints one line
/// each: {"rollback":false} or {"rollback":true,"seqno":N,"reason":"..."}. "purge" defaults
/// to 0 and "strict" to false.
///
/// Exit codes: 0 every line decided; 2 a line is not a valid request (its number is named).
#[derive(Args)]
#[command(verbatim_doc_comment)]
struct FailoverDecideArgs {}

/// Replay a model trace on the implementation, step by step, on real files.
///
/// Loads a trace written by `check` or `conform`, or a `check --json` report (its first
/// violated property's trace). Prints each step, what the model did, and whether the
/// implementation's projection matched; then whether the model's invariants hold at the end
/// and whether an accepted replica's data diverged from the active's on disk. A step the chosen
/// design does not enable must be refused by the implementation too.
///
/// Exit codes: 0 the implementation matched the model at every step; 1 it did not; 2 usage or
/// input error.
#[derive(Args)]
#[command(verbatim_doc_comment)]
struct ReplayArgs {
    /// The trace file or check report.
    trace: PathBuf,
    /// Replay in this design instead of the trace's (e.g. a v6.5.1 trace in `current`).
    #[arg(long, value_parser = parse_variant)]
    variant: Option<Variant>,
    /// Override one knob of the design.
    #[arg(long, value_parser = |s: &str| s.parse::<PersistEntry>())]
    persist_entry: Option<PersistEntry>,
    /// Override one knob of the design.
    #[arg(long, value_parser = |s: &str| s.parse::<ShutdownFlag>())]
    shutdown_flag: Option<ShutdownFlag>,
    /// Write {"steps","matched","violated",...} to PATH.
    #[arg(long, value_name = "PATH")]
    json: Option<PathBuf>,
    /// Keep the data files in DIR (default: a temporary directory).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Use the in-memory crashable backend instead of real files.
    #[arg(long)]
    faulty: bool,
}

/// Which design to study: a preset, optionally with one knob overridden.
#[derive(Args, Clone, Debug)]
pub struct DesignArgs {
    /// The design: v6.5.1, mb41942, mb43744, mb41257 or current.
    #[arg(long, default_value = "current", value_parser = parse_variant)]
    variant: Variant,
    /// Where the vbstate carrying a new failover entry is persisted (overrides the preset):
    /// at-complete, queue-at-create, queue-at-populate or sync-flush.
    #[arg(long, value_parser = |s: &str| s.parse::<PersistEntry>())]
    persist_entry: Option<PersistEntry>,
    /// When the clean-shutdown flag is written (overrides the preset): before-flush or
    /// after-flush.
    #[arg(long, value_parser = |s: &str| s.parse::<ShutdownFlag>())]
    shutdown_flag: Option<ShutdownFlag>,
}

fn parse_variant(s: &str) -> Result<Variant, String> {
    s.parse()
}

impl DesignArgs {
    fn design(&self) -> Variant {
        let mut v = self.variant;
        if let Some(p) = self.persist_entry {
            v.persist_entry = p;
        }
        if let Some(f) = self.shutdown_flag {
            v.shutdown_flag = f;
        }
        v
    }
}

/// The bounds of the model.
#[derive(Args, Clone, Debug)]
pub struct BoundsArgs {
    /// Vbuckets on the active node.
    #[arg(long, default_value_t = Bounds::default().vbuckets, value_parser = clap::value_parser!(u8).range(1..=8))]
    vbuckets: u8,
    /// Replica nodes.
    #[arg(long, default_value_t = Bounds::default().replicas, value_parser = clap::value_parser!(u8).range(0..=8))]
    replicas: u8,
    /// Distinct keys clients write.
    #[arg(long, default_value_t = Bounds::default().keys, value_parser = clap::value_parser!(u8).range(1..=8))]
    keys: u8,
    /// Client writes (sets and deletes) in a whole behaviour.
    #[arg(long, default_value_t = Bounds::default().writes, value_parser = clap::value_parser!(u8).range(0..=60))]
    writes: u8,
    /// Crashes of the active node.
    #[arg(long, default_value_t = Bounds::default().crashes, value_parser = clap::value_parser!(u8).range(0..=20))]
    crashes: u8,
    /// Clean shutdowns of the active node.
    #[arg(long, default_value_t = Bounds::default().shutdowns, value_parser = clap::value_parser!(u8).range(0..=20))]
    shutdowns: u8,
}

impl BoundsArgs {
    fn bounds(&self) -> Bounds {
        Bounds {
            vbuckets: self.vbuckets,
            replicas: self.replicas,
            keys: self.keys,
            writes: self.writes,
            crashes: self.crashes,
            shutdowns: self.shutdowns,
        }
    }
}

/// Check every behaviour of a design within bounds and report each property.
///
/// Prints one sentence saying what is checked, then for each property holds / violated /
/// reached / unreached, then the state counts and the time. A violation is printed as a
/// numbered story and saved as a trace file (see --trace-dir) that `replay` and
/// `explore --trace` load.
///
/// Exit codes: 0 every `always` holds and every `sometimes` is reached; 1 otherwise (or the run
/// was interrupted with Ctrl-C); 2 usage error.
#[derive(Args)]
#[command(verbatim_doc_comment)]
struct CheckArgs {
    #[command(flatten)]
    design: DesignArgs,
    /// Check all five presets and print a table design x property.
    #[arg(long, conflicts_with_all = ["variant", "persist_entry", "shutdown_flag"])]
    all_variants: bool,
    #[command(flatten)]
    bounds: BoundsArgs,
    /// Breadth-first finds the shortest counterexamples; depth-first uses less memory.
    #[arg(long, value_enum, default_value = "bfs")]
    strategy: Strategy,
    /// Checker threads (default: the number of cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Reduce states that differ only by a permutation of replicas or vbuckets.
    #[arg(long)]
    symmetry: bool,
    /// Write a JSON report (schema: docs/reports.md).
    #[arg(long, value_name = "PATH")]
    json: Option<PathBuf>,
    /// Write a JUnit XML report: each property a test case.
    #[arg(long, value_name = "PATH")]
    junit: Option<PathBuf>,
    /// Where counterexample traces are written.
    #[arg(long, value_name = "DIR", default_value = "warmcheck-traces")]
    trace_dir: PathBuf,
    /// Stop at the first violated `always` property (the other verdicts are then `unknown`).
    #[arg(long)]
    fail_fast: bool,
    /// Check only this property (repeatable); e.g. --property "no replica diverges".
    #[arg(long = "property", value_name = "NAME")]
    properties: Vec<String>,
    /// No progress on stderr.
    #[arg(long, short)]
    quiet: bool,
}

/// Serve stateright's Explorer on the model, to browse behaviours step by step in a browser.
///
/// Each step shows what it changed, and a timeline picture of the path (one lane per node and
/// one for the active's disk). With --trace, prints the address that opens Explorer at the end
/// of a saved counterexample.
///
/// Runs until interrupted. Exit codes: 2 usage error or the address is taken.
#[derive(Args)]
#[command(verbatim_doc_comment)]
struct ExploreArgs {
    #[command(flatten)]
    design: DesignArgs,
    #[command(flatten)]
    bounds: BoundsArgs,
    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1:3000")]
    addr: String,
    /// A trace file (or `check --json` report) to open; its design and bounds are used.
    #[arg(long, value_name = "FILE")]
    trace: Option<PathBuf>,
}

/// Seeded random walks through the model, checking every property on the way.
///
/// Prints the seed first; ends with PASSED, or the failing walk as a story and
/// "reproduce with --seed S". Useful at bounds too large to check exhaustively.
///
/// Exit codes: 0 no `always` violated; 1 one was; 2 usage error.
#[derive(Args)]
#[command(verbatim_doc_comment)]
struct SimulateArgs {
    #[command(flatten)]
    design: DesignArgs,
    #[command(flatten)]
    bounds: BoundsArgs,
    /// The seed (default: random, printed first).
    #[arg(long)]
    seed: Option<u64>,
    /// Number of walks.
    #[arg(long, default_value_t = 1000)]
    runs: u64,
    /// Maximum steps per walk.
    #[arg(long, default_value_t = 60)]
    depth: usize,
}

fn main() -> ExitCode {
    // Like other command-line tools, stop quietly when the reader of our output goes away
    // (`warmcheck check | head`) instead of panicking on a broken pipe.
    #[cfg(unix)]
    // SAFETY: resetting a signal's disposition to the default at start-up, before any thread.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    env_logger::init();
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Check(a) => {
            let threads = a
                .threads
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
            let opts = cli::check::Options {
                check: warmcheck_conformance::check::CheckOptions {
                    strategy: a.strategy,
                    threads,
                    symmetry: a.symmetry,
                    quiet: a.quiet,
                    fail_fast: a.fail_fast,
                },
                json: a.json,
                junit: a.junit,
                trace_dir: a.trace_dir,
            };
            let mut model = a.bounds.bounds().into_model(a.design.design());
            if !a.properties.is_empty() {
                let known: Vec<&str> = model.all_properties().iter().map(|p| p.name).collect();
                if let Some(bad) = a.properties.iter().find(|p| !known.contains(&p.as_str())) {
                    eprintln!(
                        "warmcheck: unknown property {bad:?}; the properties are:\n  {}",
                        known.join("\n  ")
                    );
                    return ExitCode::from(2);
                }
                model.only = Some(a.properties.clone());
            }
            if a.all_variants {
                cli::check::all_variants(a.bounds.bounds(), &opts, model.only.clone())
            } else {
                cli::check::one(model, &opts)
            }
        }
        Command::Explore(a) => {
            cli::explore::run(a.design.design(), a.bounds.bounds(), &a.addr, a.trace)
        }
        Command::Simulate(a) => cli::simulate::run(
            a.bounds.bounds().into_model(a.design.design()),
            a.seed,
            a.runs,
            a.depth,
        ),
        Command::Scenario(a) => cli::implementation::scenario(
            &a.file,
            a.design.design(),
            a.replicas,
            a.vbuckets,
            a.dir,
            a.faulty,
        ),
        Command::FailoverDecide(_) => cli::implementation::failover_decide(),
        Command::Replay(a) => {
            let design =
                if a.variant.is_some() || a.persist_entry.is_some() || a.shutdown_flag.is_some() {
                    let mut v = a.variant.unwrap_or_else(|| {
                        warmcheck_conformance::trace::Trace::load(&a.trace)
                            .map(|t| t.design)
                            .unwrap_or_else(|_| Variant::current())
                    });
                    if let Some(p) = a.persist_entry {
                        v.persist_entry = p;
                    }
                    if let Some(f) = a.shutdown_flag {
                        v.shutdown_flag = f;
                    }
                    Some(v)
                } else {
                    None
                };
            cli::replay::run(&a.trace, design, a.json, a.dir, a.faulty)
        }
        Command::Conform(a) => {
            let mut bugs = warmcheck_impl::engine::SeededBugs::default();
            for name in &a.seeded_bug {
                if let Err(e) = bugs.enable(name) {
                    eprintln!("warmcheck: {e}");
                    return ExitCode::from(2);
                }
            }
            cli::conform::run(
                a.bounds.bounds().into_model(a.design.design()),
                cli::conform::Options {
                    faulty: a.backend == "faulty",
                    shard: a
                        .shard
                        .unwrap_or(warmcheck_conformance::conform::Shard::ALL),
                    dir: a.dir,
                    json: a.json,
                    junit: a.junit,
                    trace_dir: a.trace_dir,
                    quiet: a.quiet,
                    bugs,
                    jobs: a.jobs.unwrap_or_else(|| {
                        std::thread::available_parallelism().map_or(1, |n| n.get() as u64)
                    }),
                },
            )
        }
    };
    ExitCode::from(code)
}
