//! `warmcheck`: model-check kv_engine's warmup designs, run the reference implementation, and
//! relate the two. `warmcheck --help` lists the subcommands; each has its own `--help`.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use warmcheck_conformance::check::Strategy;
use warmcheck_conformance::cli;
use warmcheck_conformance::validate;
use warmcheck_model::{Bounds, PersistEntry, RollbackRetry, ShutdownFlag, Variant};

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
    Validate(ValidateArgs),
    Soak(SoakArgs),
    #[command(hide = true)]
    Workload(WorkloadArgs),
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
/// each: {"rollback":false}, {"rollback":true,"seqno":N,"reason":"..."}, or
/// {"error":"ERANGE","reason":"..."} when snap_start <= start <= snap_end does not hold (the
/// producer refuses such a request before needsRollback). "purge" defaults to 0 and "strict"
/// to false.
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
    /// Override one knob of the design.
    #[arg(long, value_parser = |s: &str| s.parse::<RollbackRetry>())]
    rollback_retry: Option<RollbackRetry>,
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
    /// The design: v6.5.1, mb41942, mb43744, mb41257, current or proposed.
    #[arg(long, default_value = "current", value_parser = parse_variant)]
    variant: Variant,
    /// Where the vbstate carrying a new failover entry is persisted (overrides the preset):
    /// at-complete, queue-at-create, queue-at-populate or sync-flush.
    #[arg(long, value_parser = |s: &str| s.parse::<PersistEntry>())]
    persist_entry: Option<PersistEntry>,
    /// When the clean-shutdown flag is written (overrides the preset): before-flush,
    /// after-flush or after-flush-if-state-persisted.
    #[arg(long, value_parser = |s: &str| s.parse::<ShutdownFlag>())]
    shutdown_flag: Option<ShutdownFlag>,
    /// When a consumer told to roll back to 0 retries with an older uuid (overrides the
    /// preset): always or if-entry-at-start.
    #[arg(long, value_parser = |s: &str| s.parse::<RollbackRetry>())]
    rollback_retry: Option<RollbackRetry>,
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
        if let Some(r) = self.rollback_retry {
            v.rollback_retry = r;
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
    /// Failed flushes (the flusher's, or warmup's synchronous vbstate flush) in a whole
    /// behaviour.
    #[arg(long, default_value_t = Bounds::default().flush_failures, value_parser = clap::value_parser!(u8).range(0..=20))]
    flush_failures: u8,
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
            flush_failures: self.flush_failures,
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
    #[arg(long, conflicts_with_all = ["variant", "persist_entry", "shutdown_flag", "rollback_retry"])]
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

/// Check an engine event log against the model, line by line (trace validation).
///
/// LOG is the NDJSON event log the engine writes (Cluster::set_event_log): one line per
/// successful call, {"call":..., arguments..., "state": <the projected view after the call>}.
/// From the model's initial state (a freshly created bucket), each line is mapped to model
/// actions (none for a stutter: a get that expired nothing, a clock move that makes nothing
/// due); each must be enabled in the model's current state, and after them the model's
/// projection must equal the logged state (the clock aside). The first failing line is named
/// with what is wrong: not JSON, cut short, an unknown call, an action the model does not
/// enable (with those it does), or the differing fields side by side.
///
/// Bounds: vbuckets and replicas default to what the log's first state shows, keys to one more
/// than the largest kN the log names, client writes / crashes / clean shutdowns to the largest
/// the model takes (60 / 20 / 20), so that a long log is not refused for its length.
///
/// Prints "N events, M model steps, K stutters: VALID", or the error and INVALID.
///
/// Exit codes: 0 valid; 1 invalid (an empty log or a last line cut short too); 2 usage error,
/// or the file cannot be read.
#[derive(Args)]
#[command(verbatim_doc_comment)]
struct ValidateArgs {
    /// The event log (NDJSON).
    log: PathBuf,
    #[command(flatten)]
    design: DesignArgs,
    /// Vbuckets (default: as the log's first state shows).
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=8))]
    vbuckets: Option<u8>,
    /// Replica nodes (default: as the log's first state shows).
    #[arg(long, value_parser = clap::value_parser!(u8).range(0..=8))]
    replicas: Option<u8>,
    /// Keys k0..k{K-1} (default: one more than the largest the log names).
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=64))]
    keys: Option<u8>,
    /// Client writes (sets and deletes) in the whole log.
    #[arg(long, default_value_t = validate::MAX_WRITES, value_parser = clap::value_parser!(u8).range(0..=60))]
    writes: u8,
    /// Crashes of the active node.
    #[arg(long, default_value_t = validate::MAX_CRASHES, value_parser = clap::value_parser!(u8).range(0..=20))]
    crashes: u8,
    /// Clean shutdowns of the active node.
    #[arg(long, default_value_t = validate::MAX_SHUTDOWNS, value_parser = clap::value_parser!(u8).range(0..=20))]
    shutdowns: u8,
    /// Start from this model state (JSON, as `workload --resume` takes) instead of a freshly
    /// created bucket.
    #[arg(long, value_name = "STATE")]
    from: Option<PathBuf>,
    /// Print one line per event: its line number, call and model actions.
    #[arg(long, short)]
    verbose: bool,
}

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
#[derive(Args)]
#[command(verbatim_doc_comment)]
struct SoakArgs {
    /// The seed (default: random, printed first).
    #[arg(long)]
    seed: Option<u64>,
    /// Engine calls to make.
    #[arg(long, default_value_t = 2000)]
    steps: u64,
    #[command(flatten)]
    design: DesignArgs,
    /// Vbuckets on the active node.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u8).range(1..=8))]
    vbuckets: u8,
    /// Replica nodes.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(0..=8))]
    replicas: u8,
    /// Distinct keys clients write.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u8).range(1..=8))]
    keys: u8,
    /// faulty: the in-memory crashable backend (a crash keeps only synced bytes); file: real
    /// files (a crash is a process crash; tears do not apply).
    #[arg(long, value_parser = ["faulty", "file"], default_value = "faulty")]
    backend: String,
    /// With --backend file: where the data lives (default: a temporary directory).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Percent of calls that are probes (any call, whatever the model enables).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(0..=100))]
    probes: u32,
    /// Percent of crashes that are torn (crash_torn with a random tear).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(0..=100))]
    torn: u32,
    /// Write {"schema":"warmcheck-soak-report/1","seed","steps","passed",...} to PATH.
    #[arg(long, value_name = "PATH")]
    json: Option<PathBuf>,
    /// Write a JUnit XML report with one test case, "soak seed=S".
    #[arg(long, value_name = "PATH")]
    junit: Option<PathBuf>,
    /// No progress on stderr.
    #[arg(long, short)]
    quiet: bool,
    /// Test only: switch on a deliberate implementation bug (see SeededBugs).
    #[arg(long, hide = true, value_name = "NAME")]
    seeded_bug: Vec<String>,
}

/// The kill test's child process (conformance/tests/crash_kill.rs): soak's seeded workload on
/// real files in DIR, the event log written to LOG a line at a time as each call completes,
/// validated against the model as it goes, until --steps are done or the process is killed.
/// Creates the bucket; with --resume STATE opens the directory a killed run left, STATE being
/// the model state the test found there (JSON) and --clock the engine clock the killed run had
/// reached. --writes/--crashes/--shutdowns cap the model's counters for this run.
///
/// Exit codes: 0 the steps are done; 1 the implementation did not follow the model; 2 usage or
/// setup error.
#[derive(Args)]
#[command(verbatim_doc_comment)]
struct WorkloadArgs {
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
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u8).range(1..=8))]
    vbuckets: u8,
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(0..=8))]
    replicas: u8,
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u8).range(1..=8))]
    keys: u8,
    #[arg(long, default_value_t = 100_000)]
    steps: u64,
    /// The model state the directory holds (JSON); the bucket is opened, not created.
    #[arg(long, value_name = "STATE")]
    resume: Option<PathBuf>,
    /// Move the engine clock this far after opening, before the log starts.
    #[arg(long, default_value_t = 0)]
    clock: u64,
    #[arg(long, default_value_t = validate::MAX_WRITES, value_parser = clap::value_parser!(u8).range(0..=60))]
    writes: u8,
    #[arg(long, default_value_t = validate::MAX_CRASHES, value_parser = clap::value_parser!(u8).range(0..=20))]
    crashes: u8,
    #[arg(long, default_value_t = validate::MAX_SHUTDOWNS, value_parser = clap::value_parser!(u8).range(0..=20))]
    shutdowns: u8,
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(0..=100))]
    probes: u32,
    #[arg(long, value_name = "NAME")]
    seeded_bug: Vec<String>,
}

/// The seeded bugs called `names`, or exit code 2 after saying which name is unknown.
fn seeded_bugs(names: &[String]) -> Result<warmcheck_impl::engine::SeededBugs, u8> {
    let mut bugs = warmcheck_impl::engine::SeededBugs::default();
    for name in names {
        if let Err(e) = bugs.enable(name) {
            eprintln!("warmcheck: {e}");
            return Err(2);
        }
    }
    Ok(bugs)
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
            let design = if a.variant.is_some()
                || a.persist_entry.is_some()
                || a.shutdown_flag.is_some()
                || a.rollback_retry.is_some()
            {
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
                if let Some(r) = a.rollback_retry {
                    v.rollback_retry = r;
                }
                Some(v)
            } else {
                None
            };
            cli::replay::run(&a.trace, design, a.json, a.dir, a.faulty)
        }
        Command::Conform(a) => {
            let bugs = match seeded_bugs(&a.seeded_bug) {
                Ok(b) => b,
                Err(code) => return ExitCode::from(code),
            };
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
        Command::Validate(a) => cli::validate::run(cli::validate::Options {
            log: a.log,
            design: a.design.design(),
            vbuckets: a.vbuckets,
            replicas: a.replicas,
            keys: a.keys,
            writes: a.writes,
            crashes: a.crashes,
            shutdowns: a.shutdowns,
            from: a.from,
            verbose: a.verbose,
        }),
        Command::Soak(a) => match seeded_bugs(&a.seeded_bug) {
            Err(code) => code,
            Ok(bugs) => cli::soak::run(cli::soak::Options {
                seed: a.seed,
                steps: a.steps,
                design: a.design.design(),
                vbuckets: a.vbuckets,
                replicas: a.replicas,
                keys: a.keys,
                file_backend: a.backend == "file",
                dir: a.dir,
                knobs: warmcheck_conformance::soak::Knobs {
                    probe_percent: a.probes,
                    torn_percent: a.torn,
                },
                bugs,
                bug_names: a.seeded_bug,
                json: a.json,
                junit: a.junit,
                quiet: a.quiet,
            }),
        },
        Command::Workload(a) => match seeded_bugs(&a.seeded_bug) {
            Err(code) => code,
            Ok(bugs) => cli::workload::run(cli::workload::Options {
                dir: a.dir,
                seed: a.seed,
                log: a.log,
                design: a.design.design(),
                vbuckets: a.vbuckets,
                replicas: a.replicas,
                keys: a.keys,
                steps: a.steps,
                resume: a.resume,
                clock: a.clock,
                budget: warmcheck_conformance::soak::Budget {
                    writes: a.writes,
                    crashes: a.crashes,
                    shutdowns: a.shutdowns,
                    flush_failures: warmcheck_conformance::soak::FLUSH_FAILURES_PER_SEGMENT,
                },
                probe_percent: a.probes,
                bugs,
            }),
        },
    };
    ExitCode::from(code)
}
