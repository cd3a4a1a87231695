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
/// Also prints the actions that never fired although the bounds and the design allow them (a
/// dead action is a modelling bug), and apart from them, with the reason, those the bounds or
/// the design rule out (e.g. FlusherCommitFails with --flush-failures 0). The JSON report
/// counts the transitions each action took (`coverage`).
///
/// --max-depth and --timeout bound a run the way TLC's do; a run they stop is partial: the
/// verdicts not yet decided are `unknown`, the report says complete=false, the text says why.
/// --shard I/N explores one of N parts of the state space; `warmcheck merge` combines the N
/// shard reports into the verdicts of the whole (docs/scale.md).
///
/// --expect FILE gates on the verdicts a team accepted instead (one `VERDICT: PROPERTY` line
/// each, e.g. `violated in 17 steps: no replica diverges`; docs/ci-gate.md): the exit code is
/// 0 when every verdict equals the file's, 1 with the differences otherwise (a new violation,
/// a fix, a changed length). --write-expected FILE records this run's verdicts in that form.
///
/// Exit codes: 0 every `always` holds and every `sometimes` is reached, and the run was
/// complete (with --expect: the verdicts are the file's); 1 otherwise (a property failed, or
/// the run was interrupted or stopped early by --fail-fast, --timeout or --max-depth; with
/// --expect: a verdict differs); 2 usage error, or an unreadable --expect file.
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
    /// Pass when the verdicts are those FILE accepts, and fail with the differences otherwise
    /// (see above; docs/ci-gate.md).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["all_variants", "shard"])]
    expect: Option<PathBuf>,
    /// Write this run's verdicts to FILE in --expect's form (not if the run is partial).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["all_variants", "shard"])]
    write_expected: Option<PathBuf>,
    /// No progress on stderr.
    #[arg(long, short)]
    quiet: bool,
}

/// What a check run is asked for, besides the model.
struct Options {
    check: CheckOptions,
    /// `--expect`: the accepted verdicts, and the file they came from.
    expect: Option<(PathBuf, crate::expect::Expected)>,
    write_expected: Option<PathBuf>,
    json: Option<PathBuf>,
    junit: Option<PathBuf>,
    trace_dir: PathBuf,
}

pub fn parse_seconds(s: &str) -> Result<std::time::Duration, String> {
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
    let expect = match a.expect {
        Some(path) => match crate::expect::read(&path) {
            Ok(e) => Some((path, e)),
            Err(e) => return super::usage_error(format!("--expect {e}")),
        },
        None => None,
    };
    let opts = Options {
        expect,
        write_expected: a.write_expected,
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
        if let Some(why) = &p.ruled_out {
            line += &format!(" (ruled out by the bounds: {why}; not a failure)");
        }
        println!("{line}");
    }
    print_counts(&model, &outcome);
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
    if let Some(path) = &opts.write_expected {
        if !outcome.complete {
            println!(
                "Not writing {}: the run is partial, its verdicts are not final.",
                path.display()
            );
            return 1;
        }
        let header = format!(
            "The verdicts accepted for design `{}` within {}.\n`warmcheck check --expect {}` \
             (with the same design and bounds) passes while they hold (docs/ci-gate.md).",
            report::variant_label(&model),
            model.bounds,
            path.display()
        );
        let text = crate::expect::render(&header, &outcome.properties);
        if let Err(e) = std::fs::write(path, text) {
            eprintln!("warmcheck: {}: cannot write: {e}", path.display());
            return 2;
        }
        println!("Verdicts written to {}.", path.display());
    }
    if let Some((path, expected)) = &opts.expect {
        let diff = crate::expect::compare(expected, &outcome.properties, model.only.is_none());
        if diff.is_empty() {
            println!("Every verdict is the one {} accepts.", path.display());
            return 0;
        }
        println!(
            "The verdicts differ from those {} accepts (- accepted, + this run):",
            path.display()
        );
        for line in diff {
            println!("  {line}");
        }
        return 1;
    }
    if outcome.passed() {
        0
    } else {
        1
    }
}

fn print_counts(model: &Warmup, o: &CheckOutcome) {
    println!(
        "states {}, unique states {}, unique states/s {:.0}, max depth {}, seconds {:.2}",
        o.states,
        o.unique_states,
        o.unique_states_per_second(),
        o.max_depth,
        o.seconds
    );
    // Dead actions the bounds or the design rule out are no modelling bug: said apart, with
    // the reason, each reason once.
    let (mut dead, mut ruled): (Vec<&str>, Vec<(&str, Vec<&str>)>) = (vec![], vec![]);
    for kind in o.coverage.dead() {
        match crate::ruled_out::action(&model.bounds, &model.variant, kind) {
            // Failover is asked for with --failovers; without it, its steps are not part of
            // the check (as its `sometimes` properties are not), and the report reads as it
            // did before failover was modelled. (The JSON coverage still counts them: 0.)
            Some(crate::ruled_out::NO_FAILOVERS) => {}
            Some(why) => match ruled.iter_mut().find(|(w, _)| *w == why) {
                Some((_, kinds)) => kinds.push(kind),
                None => ruled.push((why, vec![kind])),
            },
            None => dead.push(kind),
        }
    }
    if !dead.is_empty() {
        println!(
            "  never fired{}: {} (a dead action is a modelling bug)",
            if o.complete { "" } else { " so far" },
            dead.join(", ")
        );
    }
    if !ruled.is_empty() {
        let reasons: Vec<String> = ruled
            .iter()
            .map(|(why, kinds)| format!("{} ({why})", kinds.join(", ")))
            .collect();
        println!(
            "  ruled out by the bounds or the design: {}",
            reasons.join("; ")
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
            let path = trace_path(model, dir, &p.name);
            t.save_with_itf(&path)?;
            out.push((p.name.clone(), path));
        }
    }
    Ok(out)
}

/// Where [`save_traces`] writes the trace of a violated `property`: the design, the bounds
/// that differ from the defaults, and the property (`v6.5.1-shutdowns0-no-replica-diverges`),
/// so that checks of one design at other bounds do not overwrite each other's traces.
fn trace_path(model: &Warmup, dir: &Path, property: &str) -> PathBuf {
    let bounds = bounds_tag(&model.bounds);
    dir.join(format!(
        "{}{}{bounds}-{}.trace.json",
        slug(&model.variant.to_string()),
        if bounds.is_empty() { "" } else { "-" },
        slug(property)
    ))
}

/// The bounds that differ from the defaults, as a file name part: `keys1-crashes1`; empty at
/// the default bounds.
pub fn bounds_tag(b: &warmcheck_model::Bounds) -> String {
    let d = warmcheck_model::Bounds::default();
    [
        ("vbuckets", b.vbuckets, d.vbuckets),
        ("replicas", b.replicas, d.replicas),
        ("keys", b.keys, d.keys),
        ("writes", b.writes, d.writes),
        ("crashes", b.crashes, d.crashes),
        ("shutdowns", b.shutdowns, d.shutdowns),
        ("flush-failures", b.flush_failures, d.flush_failures),
        ("failovers", b.failovers, d.failovers),
    ]
    .iter()
    .filter(|(_, v, default)| v != default)
    .map(|(name, v, _)| format!("{name}{v}"))
    .collect::<Vec<_>>()
    .join("-")
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
        let cases = cases(model, outcome, &opts.trace_dir);
        report::write_junit_noted(path, &suite, outcome.seconds, &cases, Some(TIME_NOTE))?;
    }
    Ok(())
}

/// What a check's JUnit cases' `time` means (a property of the suite).
const TIME_NOTE: &str = "each test case's time is the seconds from the start of the run until \
    its trace (counterexample or witness) was first found; 0 for verdicts only the end of the \
    run decides (holds, unreached), which took the suite's time: the properties are checked \
    together, in one exploration";

/// One JUnit test case per property: a violation or an unreached `sometimes` is a failure
/// naming the property (with the steps and the trace file of a violation), a `sometimes` the
/// bounds rule out is skipped with the reason, an undecided one skipped with why.
fn cases(model: &Warmup, outcome: &CheckOutcome, trace_dir: &Path) -> Vec<Case> {
    outcome
        .properties
        .iter()
        .map(|p: &PropertyResult| {
            let ruled_out = p.ruled_out.as_deref();
            Case {
                classname: format!("warmcheck.check.{}", report::variant_label(model)),
                name: format!("{} {}", p.expectation, p.name),
                seconds: match p.status.as_str() {
                    "violated" | "reached" => p.seconds,
                    _ => 0.0,
                },
                failure: match p.status.as_str() {
                    "violated" => Some((
                        format!(
                            "{} \"{}\" violated in {} steps{} (trace {})",
                            p.expectation,
                            p.name,
                            p.steps.unwrap_or(0),
                            if p.shortest {
                                ""
                            } else {
                                ", maybe not the shortest"
                            },
                            trace_path(model, trace_dir, &p.name).display()
                        ),
                        p.trace.as_ref().map(story_text).unwrap_or_default(),
                    )),
                    "unreached" if ruled_out.is_none() => Some((
                        format!(
                            "sometimes \"{}\" never reached within {}: the `always` \
                             properties that need this situation hold vacuously",
                            p.name, model.bounds
                        ),
                        String::new(),
                    )),
                    _ => None,
                },
                skipped: match (p.status.as_str(), ruled_out) {
                    ("unknown", _) => Some(
                        outcome
                            .stopped_by
                            .map_or("not decided", |why| why.sentence())
                            .to_string(),
                    ),
                    ("unreached", Some(why)) => Some(format!(
                        "ruled out by the bounds ({why}): \"{}\" cannot be reached within {}",
                        p.name, model.bounds
                    )),
                    _ => None,
                },
            }
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
        print_counts(m, o);
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
        let cases: Vec<Case> = runs
            .iter()
            .flat_map(|(m, o)| cases(m, o, &opts.trace_dir))
            .collect();
        let total = runs.iter().map(|(_, o)| o.seconds).sum();
        let suite = "warmcheck check --all-variants";
        if let Err(e) = report::write_junit_noted(path, suite, total, &cases, Some(TIME_NOTE)) {
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
