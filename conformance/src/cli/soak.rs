//! `warmcheck soak`: a seeded random workload on the implementation, validated against the
//! model at every step.

use crate::progress;
use crate::report::{self, Case};
use crate::soak::{self, SoakBackend, SoakConfig, SoakReport};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use warmcheck_model::Variant;

pub struct Options {
    pub seed: Option<u64>,
    pub steps: u64,
    pub design: Variant,
    pub vbuckets: u8,
    pub replicas: u8,
    pub keys: u8,
    /// Real files (under `dir`, or a temporary directory) instead of the crashable backend.
    pub file_backend: bool,
    pub dir: Option<PathBuf>,
    pub knobs: soak::Knobs,
    pub bugs: warmcheck_impl::engine::SeededBugs,
    /// The seeded bugs' names, to repeat them in the reproduce line.
    pub bug_names: Vec<String>,
    pub json: Option<PathBuf>,
    pub junit: Option<PathBuf>,
    pub quiet: bool,
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
    if opts.file_backend {
        flags += " --backend file";
    }
    for b in &opts.bug_names {
        flags += &format!(" --seeded-bug {b}");
    }
    flags
}

/// Exit codes: 0 passed; 1 failed (or interrupted); 2 setup error.
pub fn run(opts: Options) -> u8 {
    let seed = opts.seed.unwrap_or_else(rand::random);
    println!("seed={seed}");
    progress::install_interrupt_handler();
    let mut tmp = None;
    let backend = if opts.file_backend {
        let root = match &opts.dir {
            Some(d) => d.clone(),
            None => match tempfile::Builder::new().prefix("warmcheck-soak-").tempdir() {
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
    let quiet = opts.quiet;
    let mut last = Instant::now();
    let report = match soak::soak(&cfg, |st| {
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
        !progress::interrupted()
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
        if let Err(e) = report::write_junit(path, "warmcheck soak", &[case]) {
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
