//! `warmcheck check`: exhaustive checking of one design, or of all five presets.

use crate::check::{self, CheckOptions, CheckOutcome, PropertyResult};
use crate::report::{self, Case, CheckReport};
use crate::trace::Trace;
use std::path::{Path, PathBuf};
use warmcheck_model::{story, Bounds, Variant, Warmup};

pub struct Options {
    pub check: CheckOptions,
    pub json: Option<PathBuf>,
    pub junit: Option<PathBuf>,
    pub trace_dir: PathBuf,
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
    format!(
        "Checking {} in design `{}` (persist-entry={}, shutdown-flag={}) within {}, {} on {} \
         thread{}{}.",
        what_is_checked(model),
        report::variant_label(model),
        model.variant.persist_entry,
        model.variant.shutdown_flag,
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
    )
}

pub fn one(model: Warmup, opts: &Options) -> u8 {
    crate::progress::install_interrupt_handler();
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
    if !outcome.complete {
        println!("Interrupted: the verdicts above marked `unknown` are not final.");
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
}

fn slug(s: &str) -> String {
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
            t.save(&path)?;
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
        report::write_junit(path, &suite, &cases(model, outcome))?;
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
            seconds: 0.0,
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
            skipped: (p.status == "unknown").then(|| "interrupted".to_string()),
        })
        .collect()
}

/// `check --all-variants`: a table design x property.
pub fn all_variants(bounds: Bounds, opts: &Options, only: Option<Vec<String>>) -> u8 {
    crate::progress::install_interrupt_handler();
    println!(
        "Checking that no replica diverges (and the other properties) in each of the five \
         designs within {bounds}."
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
        if crate::progress::interrupted() {
            break;
        }
    }
    let names: Vec<&str> = runs[0]
        .1
        .properties
        .iter()
        .map(|p| p.name.as_str())
        .collect();
    let width = names.iter().map(|n| n.len()).max().unwrap_or(10) + 12;
    let mut header = format!("{:<width$}", "property");
    for (m, _) in &runs {
        header += &format!(" | {:<18}", report::variant_label(m));
    }
    println!("{header}");
    println!("{}", "-".repeat(header.len()));
    for (i, name) in names.iter().enumerate() {
        let expectation = &runs[0].1.properties[i].expectation;
        let mut line = format!("{:<width$}", format!("{expectation} {name}"));
        for (_, o) in &runs {
            let p = &o.properties[i];
            let cell = match p.steps {
                Some(n) if p.status == "violated" => format!("violated ({n} steps)"),
                _ => p.status.clone(),
            };
            line += &format!(" | {cell:<18}");
        }
        println!("{line}");
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
        if let Err(e) = report::write_junit(path, "warmcheck check --all-variants", &cases) {
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
