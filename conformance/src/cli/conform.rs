//! `warmcheck conform`: every reachable model transition replayed on the implementation.

use super::args::{
    check_fresh_dir, Backend, BoundsArgs, DesignArgs, ReportArgs, SutArgs, TraceDirArgs,
    MAX_THREADS,
};
use crate::conform::{self, ClusterSut, ConformOutcome, Job, Jobs, Shard, Sut};
use crate::explain;
use crate::progress::Progress;
use crate::replay::{self, ImplSetup};
use crate::report::{self, Case};
use crate::signals;
use crate::sut::client::ProtocolSut;
use crate::trace::Trace;
use std::path::PathBuf;
use warmcheck_impl::engine::{SeededBugs, StorageBackend};
use warmcheck_model::Warmup;

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
/// With --sut CMD the transitions are replayed on a system under test driven over the SUT
/// protocol (docs/sut-protocol.md), one child process per job; without the snapshot capability
/// conform reaches each transition's source by replaying its path from reset, and reports the
/// resets and the steps replayed.
///
/// With --jobs N each SUT child gets its job index (0 .. N-1) in the environment variable
/// WARMCHECK_JOB_INDEX, and `{job}` in CMD is replaced by it (e.g. --sut './my-sut --dir
/// /tmp/data-{job}'), so that on-disk engines keep their files apart.
///
/// --timeout stops the walk after SECONDS; the run is then partial (complete=false in the JSON
/// report) and exits 1 unless a mismatch was found first.
///
/// --stories [DIR] is the quick first run instead of the walk: it replays the known
/// counterexample stories (built in: conformance/testdata; or the *.txt story files of DIR)
/// on the engine in the design given, each at its own bounds, and says for each whether the
/// engine prevents it (prevented, REPRODUCED, or NOT FOLLOWED: the engine departed from the
/// design at the step shown). Exit codes with --stories: 0 every story prevented; 1 one
/// reproduced or not followed; 2 usage error, bad story file, or the SUT broke the protocol.
///
/// Exit codes: 0 every transition conformed; 1 a mismatch, or the run was incomplete
/// (interrupted, or stopped by --timeout); 2 usage error, or the SUT broke the protocol
/// (exited, hung, answered garbage).
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    #[command(flatten)]
    design: DesignArgs,
    #[command(flatten)]
    bounds: BoundsArgs,
    /// Where the implementation keeps its files; not with --sut (the SUT keeps its own)
    /// [default: file]
    #[arg(long, value_enum)]
    backend: Option<Backend>,
    /// Run the I-th of N deterministic parts (e.g. 0/4 .. 3/4 on four CI runners), N at most
    /// 65536.
    #[arg(long, value_name = "I/N", value_parser = parse_shard)]
    shard: Option<Shard>,
    /// The data directory, absent or empty (default: a fresh one under /dev/shm, or the temp
    /// dir). Needs --backend file; not with --sut.
    #[arg(long)]
    dir: Option<PathBuf>,
    #[command(flatten)]
    reports: ReportArgs,
    #[command(flatten)]
    traces: TraceDirArgs,
    #[command(flatten)]
    sut: SutArgs,
    /// No progress on stderr.
    #[arg(long, short)]
    quiet: bool,
    /// Test only: switch on a deliberate implementation bug (see SeededBugs).
    #[arg(long, hide = true, value_name = "NAME")]
    seeded_bug: Vec<String>,
    /// Worker threads, each replaying its own part with its own cluster, 1..=1024 (default:
    /// cores).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=MAX_THREADS))]
    jobs: Option<u64>,
    /// Stop the walk after SECONDS (a decimal number); the report is then partial
    /// (complete=false) and the exit code 1.
    #[arg(long, value_name = "SECONDS", value_parser = super::check::parse_seconds)]
    timeout: Option<std::time::Duration>,
    /// Replay the known counterexample stories (built in, or DIR's *.txt story files) and say
    /// for each whether the engine prevents it, instead of walking every transition.
    #[arg(long, value_name = "DIR", num_args = 0..=1,
          conflicts_with_all = ["shard", "jobs", "timeout", "dir", "json", "backend"])]
    stories: Option<Option<PathBuf>>,
}

/// The most parts `--shard` splits the walk into.
pub const MAX_SHARDS: u64 = 65536;

pub fn parse_shard(s: &str) -> Result<Shard, String> {
    let (i, n) = s.split_once('/').ok_or("expected I/N, e.g. 0/4")?;
    let index: u64 = i.parse().map_err(|_| format!("{i:?} is not a number"))?;
    let count: u64 = n.parse().map_err(|_| format!("{n:?} is not a number"))?;
    if count == 0 || index >= count {
        return Err(format!("shard {index}/{count}: need 0 <= I < N"));
    }
    if count > MAX_SHARDS {
        return Err(format!("shard {index}/{count}: N is at most {MAX_SHARDS}"));
    }
    Ok(Shard { index, count })
}

/// What a conform run is asked for, besides the model.
struct Options {
    faulty: bool,
    shard: Shard,
    dir: Option<PathBuf>,
    json: Option<PathBuf>,
    junit: Option<PathBuf>,
    trace_dir: PathBuf,
    quiet: bool,
    bugs: SeededBugs,
    /// Worker threads, each walking its own sub-shard with its own cluster.
    jobs: u64,
    /// Drive this system under test over the protocol, instead of the implementation.
    sut: SutArgs,
    /// `--timeout`: stop the walk after this long.
    timeout: Option<std::time::Duration>,
}

/// Exit codes: 0 every transition conformed; 1 a mismatch or interrupted; 2 usage error.
pub fn run(a: Args) -> u8 {
    if a.sut.sut.is_some() && (a.backend.is_some() || a.dir.is_some()) {
        return super::usage_error(
            "--backend and --dir choose the in-process implementation's storage, which --sut \
             does not use: the SUT keeps its own files (for warmcheck's own: --sut 'warmcheck \
             sut --backend B --dir D')",
        );
    }
    let backend = a.backend.unwrap_or(Backend::File);
    let checks = a
        .reports
        .check_writable()
        .and_then(|()| a.traces.check_writable())
        .and_then(|()| backend.check_dir(a.dir.as_deref()))
        .and_then(|()| a.dir.as_deref().map_or(Ok(()), check_fresh_dir));
    if let Err(e) = checks {
        return super::usage_error(e);
    }
    let bugs = match super::seeded_bugs(&a.seeded_bug) {
        Ok(b) => b,
        Err(code) => return code,
    };
    if a.sut.sut.is_some() && !a.seeded_bug.is_empty() {
        return super::usage_error(
            "--seeded-bug switches on a bug of the in-process implementation; with --sut give \
             it to the SUT (warmcheck sut --seeded-bug NAME)",
        );
    }
    if let Some(dir) = &a.stories {
        let engine = match &a.sut.sut {
            Some(cmd) => crate::stories::Engine::Sut {
                command: cmd.clone(),
                timeout: a.sut.timeout(),
            },
            None => crate::stories::Engine::Implementation { bugs },
        };
        signals::stop_gracefully();
        return crate::stories::run_cli(
            dir.as_deref(),
            a.design.design(),
            &engine,
            a.reports.junit.as_ref(),
            a.quiet,
        );
    }
    let bounds = a.bounds.bounds();
    let model = bounds.into_model(a.design.design());
    conform_model(
        model,
        Options {
            faulty: backend == Backend::Faulty,
            shard: a.shard.unwrap_or(Shard::ALL),
            dir: a.dir,
            json: a.reports.json,
            junit: a.reports.junit,
            trace_dir: a.traces.trace_dir,
            quiet: a.quiet,
            bugs,
            jobs: a.jobs.unwrap_or_else(|| super::args::cores() as u64),
            sut: a.sut,
            timeout: a.timeout,
        },
    )
}

// Long: setup, walk and report inline in the CLI; to move out of it (issue 26).
#[allow(clippy::too_many_lines)]
fn conform_model(model: Warmup, opts: Options) -> u8 {
    signals::stop_gracefully();
    // With --sut the SUT keeps its files: each child gets a temporary directory of its own
    // (`Child::spawn_job`), and conform makes none.
    let tmp = match (&opts.dir, &opts.sut.sut) {
        (None, None) => {
            match signals::temp_dir("warmcheck-conform-", Some(&signals::tmpfs_or_temp())) {
                Ok(t) => Some(t),
                Err(e) => {
                    eprintln!("warmcheck: cannot make a temporary directory: {e}");
                    return 2;
                }
            }
        }
        _ => None,
    };
    let dir = match (&opts.dir, &tmp) {
        (Some(d), _) => d.clone(),
        (None, Some(t)) => t.path().join("data"),
        (None, None) => PathBuf::new(),
    };
    let setup = ImplSetup {
        backend: if opts.faulty {
            StorageBackend::faulty()
        } else {
            StorageBackend::file()
        },
        dir: dir.clone(),
        bugs: opts.bugs,
    };
    println!(
        "Replaying every transition of design `{}` within {} on {}{}.",
        model.variant,
        model.bounds,
        match (&opts.sut.sut, opts.faulty) {
            (Some(cmd), _) => format!("the SUT `{cmd}` over the SUT protocol"),
            (None, true) => "the implementation (in-memory crashable backend)".to_string(),
            (None, false) => format!("the implementation (real files under {})", dir.display()),
        },
        if opts.shard.count > 1 {
            format!(", shard {}/{}", opts.shard.index, opts.shard.count)
        } else {
            String::new()
        }
    );
    // Each job runs a sub-shard of this shard with its own cluster in its own directory.
    let jobs = opts.jobs.max(1);
    let shared = Jobs::default();
    let stop = std::sync::atomic::AtomicBool::new(false);
    let live: Vec<std::sync::Mutex<ConformOutcome>> = (0..jobs)
        .map(|_| std::sync::Mutex::new(ConformOutcome::default()))
        .collect();
    let mut bar = Progress::new(opts.quiet);
    // What the first job's SUT said in the handshake, and what no job's SUT let us compare.
    let sut_seen: std::sync::Mutex<Option<report::SutReport>> = std::sync::Mutex::new(None);
    let started = std::time::Instant::now();
    let mut timed_out = false;
    let results: Vec<Result<ConformOutcome, String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..jobs)
            .map(|j| {
                let model = &model;
                let stop = &stop;
                let live = &live;
                let shared = &shared;
                let sut_seen = &sut_seen;
                let sut_args = &opts.sut;
                // A crash of the in-memory backend crashes its whole file system: one per job.
                let backend = match &setup.backend {
                    StorageBackend::Faulty(_) => StorageBackend::faulty(),
                    other => other.clone(),
                };
                let setup = ImplSetup {
                    dir: setup.dir.join(format!("job{j}")),
                    backend,
                    bugs: setup.bugs,
                };
                let shard = opts.shard;
                let job = Job {
                    index: j as usize,
                    jobs: shared,
                };
                scope.spawn(move || match &sut_args.sut {
                    None => {
                        let cluster = replay::new_cluster(model, &setup)?;
                        let mut sut = ClusterSut { cluster };
                        walk(model, &mut sut, shard, job, &live[j as usize], stop)
                    }
                    Some(cmd) => {
                        let started = ProtocolSut::start_job(
                            cmd,
                            j as usize,
                            model,
                            sut_args.timeout(),
                            true,
                        );
                        let mut sut = match started {
                            Ok(s) => s,
                            Err(e) => {
                                stop.store(true, std::sync::atomic::Ordering::Relaxed);
                                return Err(e);
                            }
                        };
                        let out = walk(model, &mut sut, shard, job, &live[j as usize], stop);
                        record_sut(sut_seen, &sut);
                        out
                    }
                })
            })
            .collect();
        while !handles.iter().all(|h| h.is_finished()) {
            std::thread::sleep(std::time::Duration::from_millis(50));
            if signals::interrupted() {
                stop.store(true, std::sync::atomic::Ordering::Relaxed);
            }
            if opts.timeout.is_some_and(|t| started.elapsed() >= t) {
                timed_out = true;
                stop.store(true, std::sync::atomic::Ordering::Relaxed);
            }
            bar.tick(|elapsed| {
                let parts: Vec<ConformOutcome> =
                    live.iter().map(|m| m.lock().expect("progress lock").clone()).collect();
                let covered: u64 = parts.iter().map(|o| o.transitions_covered).sum();
                let steps: u64 = parts.iter().map(|o| o.steps).sum();
                let reachable = parts.iter().map(|o| o.transitions_reachable).max().unwrap_or(0);
                format!(
                    "conform: {covered} transitions covered ({reachable} reachable so far), {steps} steps, {:.0} steps/s, {:.1}s",
                    steps as f64 / elapsed.as_secs_f64(),
                    elapsed.as_secs_f64()
                )
            });
        }
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("a conform job panicked".to_string()))
            })
            .collect()
    });
    bar.finish();
    let mut outcome = ConformOutcome {
        complete: true,
        ..ConformOutcome::default()
    };
    for r in results {
        match r {
            Ok(o) => {
                outcome.transitions_covered += o.transitions_covered;
                outcome.states_covered += o.states_covered;
                outcome.steps += o.steps;
                // Every job walks the whole model graph: the reachable counts agree.
                outcome.transitions_reachable =
                    outcome.transitions_reachable.max(o.transitions_reachable);
                outcome.states_reachable = outcome.states_reachable.max(o.states_reachable);
                outcome.seconds = outcome.seconds.max(o.seconds);
                outcome.interrupted |= o.interrupted;
                outcome.complete &= o.complete;
                outcome.mismatches.extend(o.mismatches);
                outcome.resets += o.resets;
                outcome.replayed_steps += o.replayed_steps;
            }
            Err(e) => {
                eprintln!("warmcheck: {e}");
                return 2;
            }
        }
    }
    // A job stopped because another found a mismatch is not "interrupted" by the user.
    if !outcome.mismatches.is_empty() && !signals::interrupted() {
        outcome.interrupted = false;
    }
    outcome.mismatches.sort_by_key(|m| m.trace.len());
    let sut_report = sut_seen.into_inner().expect("sut lock").map(|mut r| {
        r.resets = outcome.resets;
        r.replayed_steps = outcome.replayed_steps;
        r
    });
    print_outcome(&outcome);
    if timed_out && outcome.interrupted {
        println!("Stopped early: --timeout was reached before every transition was replayed.");
    }
    if let Some(r) = &sut_report {
        print_sut(r);
    }
    let mut trace_path = None;
    if let Some(m) = outcome.mismatches.first() {
        println!();
        print!(
            "{}",
            explain::render_mismatches(&model, &outcome.mismatches)
        );
        let t = Trace::new(&model, None, m.trace.clone());
        let path = opts.trace_dir.join(format!(
            "conform-mismatch-{}.trace.json",
            report::variant_label(&model)
        ));
        match t.save(&path) {
            Ok(()) => {
                println!(
                    "Trace written to {} (warmcheck replay {} reproduces it).",
                    path.display(),
                    path.display()
                );
                trace_path = Some(path);
            }
            Err(e) => eprintln!("warmcheck: {e}"),
        }
    }
    if let Some(path) = &opts.json {
        let doc = report::ConformReport {
            schema: report::CONFORM_SCHEMA,
            variant: report::variant_label(&model),
            design: model.variant,
            bounds: model.bounds,
            backend: match (&opts.sut.sut, opts.faulty) {
                (Some(_), _) => "sut",
                (None, true) => "faulty",
                (None, false) => "file",
            },
            shard: opts.shard,
            transitions_covered: outcome.transitions_covered,
            transitions_reachable: outcome.transitions_reachable,
            states_covered: outcome.states_covered,
            states_reachable: outcome.states_reachable,
            steps: outcome.steps,
            steps_per_second: outcome.steps_per_second(),
            seconds: outcome.seconds,
            complete: outcome.complete,
            passed: passed(&outcome),
            mismatches: &outcome.mismatches,
            mismatch_trace: trace_path.clone(),
            sut: sut_report.clone(),
        };
        if let Err(e) = report::write_json(path, &doc) {
            eprintln!("warmcheck: {e}");
            return 2;
        }
    }
    if let Some(path) = &opts.junit {
        let case = Case {
            classname: format!("warmcheck.conform.{}", report::variant_label(&model)),
            name: format!(
                "every transition of {} conforms (shard {}/{})",
                report::variant_label(&model),
                opts.shard.index,
                opts.shard.count
            ),
            seconds: outcome.seconds,
            failure: outcome.mismatches.first().map(|m| {
                (
                    format!(
                        "mismatch after {} steps{}",
                        m.trace.len(),
                        trace_path
                            .as_ref()
                            .map_or(String::new(), |p| format!(" (trace {})", p.display()))
                    ),
                    explain::render_mismatches(&model, &outcome.mismatches),
                )
            }),
            skipped: outcome.interrupted.then(|| {
                if timed_out {
                    "stopped by --timeout"
                } else {
                    "interrupted"
                }
                .to_string()
            }),
        };
        if let Err(e) = report::write_junit(path, "warmcheck conform", outcome.seconds, &[case]) {
            eprintln!("warmcheck: {e}");
            return 2;
        }
    }
    if passed(&outcome) {
        0
    } else {
        1
    }
}

/// One job's walk: its progress into `live`; a mismatch or an error stops the other jobs.
fn walk<S: Sut>(
    model: &Warmup,
    sut: &mut S,
    shard: Shard,
    job: Job<'_>,
    live: &std::sync::Mutex<ConformOutcome>,
    stop: &std::sync::atomic::AtomicBool,
) -> Result<ConformOutcome, String> {
    let out = conform::conform_job(model, sut, shard, job, true, |o| {
        *live.lock().expect("progress lock") = o.clone();
        !stop.load(std::sync::atomic::Ordering::Relaxed)
    });
    if out.as_ref().map_or(true, |o| !o.mismatches.is_empty()) {
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
    out
}

/// Keep what a job's SUT said (the first job's name; every job's fields not compared).
fn record_sut(seen: &std::sync::Mutex<Option<report::SutReport>>, sut: &ProtocolSut) {
    let mut seen = seen.lock().expect("sut lock");
    let r = seen.get_or_insert_with(|| report::SutReport {
        command: sut.command().to_string(),
        name: sut.hello.name.clone(),
        protocol: sut.hello.protocol,
        snapshots: sut.uses_snapshots(),
        resets: 0,
        replayed_steps: 0,
        not_compared: vec![],
    });
    for f in sut.not_compared() {
        if !r.not_compared.contains(&f) {
            r.not_compared.push(f);
        }
    }
    r.not_compared.sort();
}

fn print_sut(r: &report::SutReport) {
    println!(
        "SUT {} (protocol {}): {}",
        r.name,
        r.protocol,
        if r.snapshots {
            "states reached by snapshot and restore".to_string()
        } else {
            format!(
                "no snapshots: states reached by {} resets and {} steps replayed from them",
                r.resets, r.replayed_steps
            )
        }
    );
    if r.not_compared.is_empty() {
        println!("Every view field and call result was compared.");
    } else {
        println!(
            "Not compared (the SUT leaves them out): {}",
            r.not_compared.join(", ")
        );
    }
}

fn passed(o: &ConformOutcome) -> bool {
    o.mismatches.is_empty() && !o.interrupted
}

fn print_outcome(o: &ConformOutcome) {
    let pct = |a: u64, b: u64| 100.0 * a as f64 / (b.max(1)) as f64;
    if o.complete {
        println!(
            "transitions covered {} / reachable {} ({:.1}%), states covered {} / reachable {} ({:.1}%)",
            o.transitions_covered,
            o.transitions_reachable,
            pct(o.transitions_covered, o.transitions_reachable),
            o.states_covered,
            o.states_reachable,
            pct(o.states_covered, o.states_reachable)
        );
    } else {
        // The walk stopped early: how many transitions are reachable is not known, only how
        // many it reached before it stopped.
        println!(
            "INCOMPLETE: the walk stopped early; transitions covered {} of {} reached so far, \
             states covered {} of {} reached so far (the reachable totals are not known)",
            o.transitions_covered, o.transitions_reachable, o.states_covered, o.states_reachable
        );
    }
    println!(
        "steps replayed {}, steps/s {:.0}, seconds {:.2}{}",
        o.steps,
        o.steps_per_second(),
        o.seconds,
        if o.interrupted {
            " (interrupted: partial)"
        } else {
            ""
        }
    );
    if o.mismatches.is_empty() && !o.interrupted {
        println!("No mismatch: the implementation followed the model on every transition.");
    }
}
