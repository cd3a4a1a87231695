//! `warmcheck conform`: every reachable model transition replayed on the implementation.

use crate::conform::{self, ClusterSut, ConformOutcome, Shard};
use crate::progress::{self, Progress};
use crate::replay::{self, ImplSetup};
use crate::report::{self, Case};
use crate::trace::Trace;
use std::path::PathBuf;
use warmcheck_impl::engine::{SeededBugs, StorageBackend};
use warmcheck_model::Warmup;

pub struct Options {
    pub faulty: bool,
    pub shard: Shard,
    pub dir: Option<PathBuf>,
    pub json: Option<PathBuf>,
    pub junit: Option<PathBuf>,
    pub trace_dir: PathBuf,
    pub quiet: bool,
    pub bugs: SeededBugs,
    /// Worker threads, each walking its own sub-shard with its own cluster.
    pub jobs: u64,
}

/// Where conform keeps its files by default: tmpfs when there is one, so that the file
/// backend's fsyncs (real calls) cost microseconds, not the disk's latency.
fn default_parent() -> PathBuf {
    let shm = PathBuf::from("/dev/shm");
    if shm.is_dir() {
        shm
    } else {
        std::env::temp_dir()
    }
}

pub fn run(model: Warmup, opts: Options) -> u8 {
    progress::install_interrupt_handler();
    let tmp = match opts.dir.clone() {
        Some(_) => None,
        None => match tempfile::Builder::new()
            .prefix("warmcheck-conform-")
            .tempdir_in(default_parent())
        {
            Ok(t) => Some(t),
            Err(e) => {
                eprintln!("warmcheck: cannot make a temporary directory: {e}");
                return 2;
            }
        },
    };
    let dir = opts.dir.clone().unwrap_or_else(|| {
        tmp.as_ref()
            .expect("a temporary directory")
            .path()
            .join("data")
    });
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
        "Replaying every transition of design `{}` within {} on the implementation ({}){}.",
        model.variant,
        model.bounds,
        if opts.faulty {
            "in-memory crashable backend".to_string()
        } else {
            format!("real files under {}", dir.display())
        },
        if opts.shard.count > 1 {
            format!(", shard {}/{}", opts.shard.index, opts.shard.count)
        } else {
            String::new()
        }
    );
    // Each job runs a sub-shard of this shard with its own cluster in its own directory.
    let jobs = opts.jobs.max(1);
    let stop = std::sync::atomic::AtomicBool::new(false);
    let live: Vec<std::sync::Mutex<ConformOutcome>> = (0..jobs)
        .map(|_| std::sync::Mutex::new(ConformOutcome::default()))
        .collect();
    let mut bar = Progress::new(opts.quiet);
    let results: Vec<Result<ConformOutcome, String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..jobs)
            .map(|j| {
                let model = &model;
                let stop = &stop;
                let live = &live;
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
                let shard = Shard {
                    index: opts.shard.index * jobs + j,
                    count: opts.shard.count * jobs,
                };
                scope.spawn(move || {
                    let cluster = replay::new_cluster(model, &setup)?;
                    let mut sut = ClusterSut { cluster };
                    let out = conform::conform(model, &mut sut, shard, true, |o| {
                        *live[j as usize].lock().expect("progress lock") = o.clone();
                        !stop.load(std::sync::atomic::Ordering::Relaxed)
                    });
                    if out.as_ref().map_or(true, |o| !o.mismatches.is_empty()) {
                        stop.store(true, std::sync::atomic::Ordering::Relaxed);
                    }
                    out
                })
            })
            .collect();
        while !handles.iter().all(|h| h.is_finished()) {
            std::thread::sleep(std::time::Duration::from_millis(50));
            if progress::interrupted() {
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
    let mut outcome = ConformOutcome::default();
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
                outcome.mismatches.extend(o.mismatches);
            }
            Err(e) => {
                eprintln!("warmcheck: {e}");
                return 2;
            }
        }
    }
    // A job stopped because another found a mismatch is not "interrupted" by the user.
    if !outcome.mismatches.is_empty() && !progress::interrupted() {
        outcome.interrupted = false;
    }
    outcome.mismatches.sort_by_key(|m| m.trace.len());
    print_outcome(&outcome);
    let mut trace_path = None;
    if let Some(m) = outcome.mismatches.first() {
        println!();
        println!("MISMATCH after {} steps:", m.trace.len());
        let t = Trace::new(&model, None, m.trace.clone());
        for (i, a) in m.trace.iter().enumerate() {
            println!("  {:>2}. {a:?}", i + 1);
        }
        if let Some(e) = &m.error {
            println!("  the implementation: {e}");
        }
        if !m.differences.is_empty() {
            replay::print_differences(&m.differences);
        }
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
            backend: if opts.faulty { "faulty" } else { "file" },
            shard: opts.shard,
            transitions_covered: outcome.transitions_covered,
            transitions_reachable: outcome.transitions_reachable,
            states_covered: outcome.states_covered,
            states_reachable: outcome.states_reachable,
            steps: outcome.steps,
            steps_per_second: outcome.steps_per_second(),
            seconds: outcome.seconds,
            complete: !outcome.interrupted,
            passed: passed(&outcome),
            mismatches: &outcome.mismatches,
            mismatch_trace: trace_path,
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
                    format!("mismatch after {} steps", m.trace.len()),
                    format!(
                        "{}\n{}",
                        m.trace
                            .iter()
                            .map(|a| format!("{a:?}"))
                            .collect::<Vec<_>>()
                            .join("\n"),
                        m.differences
                            .iter()
                            .map(|d| d.to_string())
                            .collect::<Vec<_>>()
                            .join("\n")
                    ),
                )
            }),
            skipped: outcome.interrupted.then(|| "interrupted".to_string()),
        };
        if let Err(e) = report::write_junit(path, "warmcheck conform", &[case]) {
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

fn passed(o: &ConformOutcome) -> bool {
    o.mismatches.is_empty() && !o.interrupted
}

fn print_outcome(o: &ConformOutcome) {
    let pct = |a: u64, b: u64| 100.0 * a as f64 / (b.max(1)) as f64;
    println!(
        "transitions covered {} / reachable {} ({:.1}%), states covered {} / reachable {} ({:.1}%)",
        o.transitions_covered,
        o.transitions_reachable,
        pct(o.transitions_covered, o.transitions_reachable),
        o.states_covered,
        o.states_reachable,
        pct(o.states_covered, o.states_reachable)
    );
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
