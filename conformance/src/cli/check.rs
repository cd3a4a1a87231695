//! `warmcheck check`: exhaustive checking of one design, or of every preset.

use super::args::{BoundsArgs, DesignArgs, ReportArgs, TraceDirArgs, MAX_THREADS};
use crate::check::{self, CheckOptions, CheckOutcome, PropertyResult, Strategy};
use crate::report::{self, Case, CheckReport};
use crate::trace::Trace;
use std::path::{Path, PathBuf};
use warmcheck_model::{story, Bounds, Variant, Warmup};

/// Check every behaviour of a design within bounds and report each property.
///
/// Prints one sentence saying what is checked, then for each property holds / violated /
/// reached / unreached, then the state counts and the time. A violation is printed as a
/// numbered story and saved as a trace file (see --trace-dir) that `replay` and
/// `explore --trace` load.
///
/// Also prints the actions that never fired: a dead action is a modelling bug, unless these
/// bounds or this design rule it out (e.g. FlusherCommitFails with --flush-failures 0). The JSON
/// report counts the transitions each action took (`coverage`).
///
/// --max-depth and --timeout bound a run the way TLC's do; a run they stop is partial: the
/// verdicts not yet decided are `unknown`, the report says complete=false, the text says why.
/// --shard I/N explores one of N parts of the state space; `warmcheck merge` combines the N
/// shard reports into the verdicts of the whole (docs/scale.md).
///
/// Exit codes: 0 every `always` holds and every `sometimes` is reached, and the run was
/// complete; 1 otherwise (a property failed, or the run was interrupted or stopped early by
/// --fail-fast, --timeout or --max-depth); 2 usage error.
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    #[command(flatten)]
    design: DesignArgs,
    /// Check every preset and print a table design x property.
    #[arg(long, conflicts_with_all = ["variant", "persist_entry", "shutdown_flag", "rollback_retry", "stop_warmup", "revert_fix"])]
    all_variants: bool,
    #[command(flatten)]
    bounds: BoundsArgs,
    /// Breadth-first finds the shortest counterexamples; depth-first uses less memory.
    #[arg(long, value_enum, default_value = "bfs")]
    strategy: Strategy,
    /// Checker threads, 1..=1024 (default: the number of cores).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=MAX_THREADS))]
    threads: Option<u64>,
    /// Reduce states that differ only by a permutation of replicas or vbuckets, or by a renaming
    /// of keys or of values (values matter only by equality).
    #[arg(long)]
    symmetry: bool,
    #[command(flatten)]
    reports: ReportArgs,
    #[command(flatten)]
    traces: TraceDirArgs,
    /// Stop at the first violated `always` property (the other verdicts are then `unknown`).
    #[arg(long)]
    fail_fast: bool,
    /// Explore behaviours of at most N steps, 0..=10000. With breadth-first every state within
    /// N steps is checked; depth-first may reach a state first by a longer path and leave it
    /// unexplored.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(0..=10_000))]
    max_depth: Option<u64>,
    /// Stop exploring after SECONDS (a decimal number; with --all-variants, each design's
    /// check); the report is then partial.
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
    timeout: Option<std::time::Duration>,
    /// Explore part I of N (0 <= I < N) of the state space; see `warmcheck merge`.
    #[arg(long, value_name = "I/N", value_parser = super::conform::parse_shard,
          conflicts_with = "all_variants")]
    shard: Option<crate::check::Shard>,
    /// Check only this property (repeatable); e.g. --property "no replica diverges".
    #[arg(long = "property", value_name = "NAME")]
    properties: Vec<String>,
    /// No progress on stderr.
    #[arg(long, short)]
    quiet: bool,
}

/// What a check run is asked for, besides the model.
struct Options {
    check: CheckOptions,
    json: Option<PathBuf>,
    junit: Option<PathBuf>,
    trace_dir: PathBuf,
}

fn parse_seconds(s: &str) -> Result<std::time::Duration, String> {
    let secs: f64 = s
        .parse()
        .map_err(|_| format!("{s:?} is not a number of seconds"))?;
    if !(secs > 0.0 && secs <= 1e9) {
        return Err(format!("{s}: need 0 < SECONDS <= 1e9"));
    }
    Ok(std::time::Duration::from_secs_f64(secs))
}

/// The number of cores (1 if unknown).
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Exit codes: 0 passed, 1 failed or interrupted, 2 usage or output error.
pub fn run(a: Args) -> u8 {
    if let Err(e) = a
        .reports
        .check_writable()
        .and_then(|()| a.traces.check_writable())
    {
        return super::usage_error(e);
    }
    let opts = Options {
        check: CheckOptions {
            strategy: a.strategy,
            threads: a.threads.map_or_else(super::args::cores, |t| t as usize),
            symmetry: a.symmetry,
            quiet: a.quiet,
            fail_fast: a.fail_fast,
            max_depth: a.max_depth.map(|d| d as usize),
            timeout: a.timeout,
            shard: a.shard.filter(|s| s.count > 1),
        },
        json: a.reports.json,
        junit: a.reports.junit,
        trace_dir: a.traces.trace_dir,
    };
    let mut model = a.bounds.bounds().into_model(a.design.design());
    if !a.properties.is_empty() {
        let known: Vec<&str> = model.all_properties().iter().map(|p| p.name).collect();
        if let Some(bad) = a.properties.iter().find(|p| !known.contains(&p.as_str())) {
            return super::usage_error(format!(
                "unknown property {bad:?}; the properties are:\n  {}",
                known.join("\n  ")
            ));
        }
        model.only = Some(a.properties);
    }
    if a.all_variants {
        all_variants(a.bounds.bounds(), &opts, model.only.clone())
    } else {
        one(model, &opts)
    }
}

fn what_is_checked(model: &Warmup) -> String {
    let props = stateright::Model::properties(model);
    match props.as_slice() {
        [one] => format!("that \"{}\" {}", one.name, one_word(one)),
        _ if props.iter().any(|p| p.name == "no replica diverges") => format!(
            "that no replica diverges (and {} other properties)",
            props.len() - 1
        ),
        _ => format!("{} properties", props.len()),
    }
}

fn one_word(p: &stateright::Property<Warmup>) -> &'static str {
    match p.expectation {
        stateright::Expectation::Sometimes => "is sometimes reached",
        _ => "always holds",
    }
}

/// The sentence printed before a check.
pub fn headline(model: &Warmup, opts: &CheckOptions) -> String {
    // The design's one name; a preset's knobs follow in parentheses.
    let v = model.variant;
    let knobs = match v.preset_name() {
        Some(_) => format!(
            " (persist-entry={}, shutdown-flag={}, rollback-retry={}, stop-warmup={}{})",
            v.persist_entry,
            v.shutdown_flag,
            v.rollback_retry,
            v.stop_warmup,
            if v.reverted.is_empty() {
                String::new()
            } else {
                format!(", revert-fix={}", v.reverted.names())
            }
        ),
        None => String::new(),
    };
    format!(
        "Checking {} in design `{}`{knobs} within {}, {} on {} thread{}{}{}.",
        what_is_checked(model),
        report::variant_label(model),
        model.bounds,
        match opts.strategy {
            check::Strategy::Bfs => "breadth-first",
            check::Strategy::Dfs => "depth-first",
        },
        opts.threads,
        if opts.threads == 1 { "" } else { "s" },
        if opts.symmetry {
            ", with symmetry reduction"
        } else {
            ""
        },
        limits(opts),
    )
}

/// `--shard`, `--max-depth` and `--timeout` as the headline says them.
fn limits(opts: &CheckOptions) -> String {
    let mut out = String::new();
    if let Some(s) = opts.shard {
        out += &format!(", shard {}/{}", s.index, s.count);
    }
    if let Some(d) = opts.max_depth {
        out += &format!(", at most {d} steps deep");
    }
    if let Some(t) = opts.timeout {
        out += &format!(", for at most {}s", t.as_secs_f64());
    }
    out
}

fn one(model: Warmup, opts: &Options) -> u8 {
    crate::signals::stop_gracefully();
    println!("{}", headline(&model, &opts.check));
    let outcome = check::run(&model, &opts.check);
    let paths = match save_traces(&model, &outcome, &opts.trace_dir) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("warmcheck: {e}");
            return 2;
        }
    };
    for p in &outcome.properties {
        let mut line = format!("  {:<10} {:<10} {}", p.status, p.expectation, p.name);
        if let (Some(steps), "violated") = (p.steps, p.status.as_str()) {
            line += &format!(" ({steps} steps");
            if !p.shortest {
                line += ", maybe not the shortest";
            }
            if let Some(path) = paths.iter().find(|(n, _)| *n == p.name).map(|(_, p)| p) {
                line += &format!("; trace {}", path.display());
            }
            line += ")";
        }
        println!("{line}");
    }
    print_counts(&outcome);
    for p in outcome.properties.iter().filter(|p| p.status == "violated") {
        if let Some(t) = &p.trace {
            println!();
            print!("{}", story_text(t));
        }
    }
    if let Err(e) = write_reports(&model, opts, &outcome) {
        eprintln!("warmcheck: {e}");
        return 2;
    }
    if let Some(why) = outcome.stopped_by {
        println!(
            "{}: the verdicts above marked `unknown` are not final.",
            why.sentence()
        );
        if why == check::StoppedBy::MaxDepth && opts.check.strategy == check::Strategy::Bfs {
            println!(
                "  (breadth-first: every state within {} steps was checked)",
                opts.check.max_depth.unwrap_or(0)
            );
        }
    }
    if outcome.passed() {
        0
    } else {
        1
    }
}

fn print_counts(o: &CheckOutcome) {
    println!(
        "states {}, unique states {}, unique states/s {:.0}, max depth {}, seconds {:.2}",
        o.states,
        o.unique_states,
        o.unique_states_per_second(),
        o.max_depth,
        o.seconds
    );
    let dead = o.coverage.dead();
    if !dead.is_empty() {
        println!(
            "  never fired{}: {} (a dead action is a modelling bug, unless these bounds or this \
             design rule it out)",
            if o.complete { "" } else { " so far" },
            dead.join(", ")
        );
    }
}

pub fn slug(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c.is_ascii_alphanumeric() || c == '.' {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').to_string()
}

/// Write a trace file for every violated `always`; returns (property, path).
fn save_traces(
    model: &Warmup,
    outcome: &CheckOutcome,
    dir: &Path,
) -> Result<Vec<(String, PathBuf)>, String> {
    let mut out = Vec::new();
    for p in outcome.properties.iter().filter(|p| p.status == "violated") {
        if let Some(t) = &p.trace {
            let path = dir.join(format!(
                "{}-{}.trace.json",
                slug(&model.variant.to_string()),
                slug(&p.name)
            ));
            t.save_with_itf(&path)?;
            out.push((p.name.clone(), path));
        }
    }
    Ok(out)
}

/// A counterexample as a numbered story: each action and what it changed.
pub fn story_text(t: &Trace) -> String {
    let model = t.model();
    let states = match t.states() {
        Ok(s) => s,
        Err(e) => return format!("(trace does not replay on the model: {e})\n"),
    };
    let mut out = format!(
        "Counterexample for \"{}\" in `{}` ({} steps):\n",
        t.property.as_deref().unwrap_or("?"),
        t.variant,
        t.actions.len()
    );
    for (i, a) in t.actions.iter().enumerate() {
        out += &format!("  {:>2}. {a:?}\n", i + 1);
        out += &format!(
            "      {}\n",
            story::describe_step(&states[i], a, &states[i + 1])
        );
    }
    if let Some(why) = t
        .property
        .as_deref()
        .and_then(|p| story::explain(&model, p, states.last().expect("states")))
    {
        out += &format!("  Why it fails: {why}\n");
    }
    out
}

fn write_reports(model: &Warmup, opts: &Options, outcome: &CheckOutcome) -> Result<(), String> {
    if let Some(path) = &opts.json {
        report::write_json(path, &CheckReport::new(model, &opts.check, outcome))?;
    }
    if let Some(path) = &opts.junit {
        let suite = format!("warmcheck check {}", report::variant_label(model));
        report::write_junit(path, &suite, outcome.seconds, &cases(model, outcome))?;
    }
    Ok(())
}

fn cases(model: &Warmup, outcome: &CheckOutcome) -> Vec<Case> {
    outcome
        .properties
        .iter()
        .map(|p: &PropertyResult| Case {
            classname: format!("warmcheck.check.{}", report::variant_label(model)),
            name: format!("{} {}", p.expectation, p.name),
            seconds: p.seconds,
            failure: match p.status.as_str() {
                "violated" => Some((
                    format!("{} steps", p.steps.unwrap_or(0)),
                    p.trace.as_ref().map(story_text).unwrap_or_default(),
                )),
                "unreached" => Some((
                    "never reached: the property that needs it holds vacuously".to_string(),
                    String::new(),
                )),
                _ => None,
            },
            skipped: (p.status == "unknown").then(|| {
                outcome
                    .stopped_by
                    .map_or("not decided", |why| why.sentence())
                    .to_string()
            }),
        })
        .collect()
}

/// `check --all-variants`: a table design x property.
fn all_variants(bounds: Bounds, opts: &Options, only: Option<Vec<String>>) -> u8 {
    crate::signals::stop_gracefully();
    println!(
        "Checking that no replica diverges (and the other properties) in each of the {} \
         designs ({}) within {bounds}.",
        Variant::PRESETS.len(),
        Variant::PRESETS.join(", ")
    );
    let mut runs = Vec::new();
    for name in Variant::PRESETS {
        let mut model = bounds.into_model(Variant::preset(name).expect("preset"));
        model.only = only.clone();
        let outcome = check::run(&model, &opts.check);
        if let Err(e) = save_traces(&model, &outcome, &opts.trace_dir) {
            eprintln!("warmcheck: {e}");
            return 2;
        }
        runs.push((model, outcome));
        if crate::signals::interrupted() {
            break;
        }
    }
    let names: Vec<&str> = runs[0]
        .1
        .properties
        .iter()
        .map(|p| p.name.as_str())
        .collect();
    let mut rows = vec![std::iter::once("property".to_string())
        .chain(runs.iter().map(|(m, _)| report::variant_label(m)))
        .collect::<Vec<_>>()];
    for (i, name) in names.iter().enumerate() {
        let expectation = &runs[0].1.properties[i].expectation;
        let mut row = vec![format!("{expectation} {name}")];
        for (_, o) in &runs {
            let p = &o.properties[i];
            row.push(match p.steps {
                Some(n) if p.status == "violated" => format!("violated ({n} steps)"),
                _ => p.status.clone(),
            });
        }
        rows.push(row);
    }
    print!("{}", report::aligned_table(&rows));
    let maybe_longer = runs.iter().any(|(_, o)| {
        o.properties
            .iter()
            .any(|p| p.status == "violated" && !p.shortest)
    });
    if maybe_longer {
        println!(
            "(a depth-first or interrupted check: the step counts are those of the \
             counterexamples found, maybe not the shortest)"
        );
    }
    if let Some(why) = runs.iter().find_map(|(_, o)| o.stopped_by) {
        println!(
            "{}: the verdicts marked `unknown` are not final.",
            why.sentence()
        );
    }
    for (m, o) in &runs {
        print!("{:<8} ", report::variant_label(m));
        print_counts(o);
    }
    if let Some(path) = &opts.json {
        let reports: Vec<CheckReport> = runs
            .iter()
            .map(|(m, o)| CheckReport::new(m, &opts.check, o))
            .collect();
        let doc = report::CheckAllReport {
            schema: report::CHECK_ALL_SCHEMA,
            variants: reports,
        };
        if let Err(e) = report::write_json(path, &doc) {
            eprintln!("warmcheck: {e}");
            return 2;
        }
    }
    if let Some(path) = &opts.junit {
        let cases: Vec<Case> = runs.iter().flat_map(|(m, o)| cases(m, o)).collect();
        let total = runs.iter().map(|(_, o)| o.seconds).sum();
        if let Err(e) = report::write_junit(path, "warmcheck check --all-variants", total, &cases) {
            eprintln!("warmcheck: {e}");
            return 2;
        }
    }
    if runs.iter().all(|(_, o)| o.passed()) && runs.len() == Variant::PRESETS.len() {
        0
    } else {
        1
    }
}
