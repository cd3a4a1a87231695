//! `warmcheck replay`: a model trace on the implementation, on real files.

use super::args::{check_fresh_dir, parse_variant, Backend};
use crate::replay::{self, ImplSetup};
use crate::signals;
use crate::trace::Trace;
use std::path::PathBuf;
use warmcheck_impl::engine::SeededBugs;
use warmcheck_model::{PersistEntry, ShutdownFlag, Variant};

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
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
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
    /// Keep the data files in DIR, absent or empty (default: a temporary directory, deleted
    /// afterwards). Needs --backend file.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Where the implementation keeps its files.
    #[arg(long, value_enum, default_value_t = Backend::File)]
    backend: Backend,
    /// The old spelling of --backend faulty.
    #[arg(long, hide = true, conflicts_with = "backend")]
    faulty: bool,
}

/// Exit codes: 0 matched, 1 did not, 2 usage or input error.
pub fn run(a: Args) -> u8 {
    let backend = a.backend.or_faulty(a.faulty);
    let checks = backend
        .check_dir(a.dir.as_deref())
        .and_then(|()| a.dir.as_deref().map_or(Ok(()), check_fresh_dir))
        .and_then(|()| {
            a.json
                .as_deref()
                .map_or(Ok(()), super::args::check_file_writable)
        });
    if let Err(e) = checks {
        return super::usage_error(e);
    }
    let trace = match Trace::load(&a.trace) {
        Ok(t) => t,
        Err(e) => return super::usage_error(e),
    };
    let mut model = trace.model();
    // The trace's design, unless a preset or a knob is given.
    model.variant = a.variant.unwrap_or(trace.design);
    if let Some(p) = a.persist_entry {
        model.variant.persist_entry = p;
    }
    if let Some(f) = a.shutdown_flag {
        model.variant.shutdown_flag = f;
    }
    let tmp;
    let (dir, kept) = match a.dir {
        Some(d) => (d, true),
        None => {
            tmp = match signals::temp_dir("warmcheck-replay-", None) {
                Ok(t) => t,
                Err(e) => {
                    return super::usage_error(format!("cannot make a temporary directory: {e}"))
                }
            };
            (tmp.path().join("data"), false)
        }
    };
    let setup = ImplSetup {
        backend: backend.storage(),
        dir: dir.clone(),
        bugs: SeededBugs::default(),
    };
    let report = match replay::replay(&model, &trace.actions, &setup) {
        Ok(r) => r,
        Err(e) => return super::usage_error(e),
    };
    replay::print(&report, &trace, model.variant);
    match (backend, kept) {
        (Backend::Faulty, _) => {
            println!("Data files: in the faulty backend's memory, gone with the process.")
        }
        (Backend::File, true) => println!("Data files kept in {}.", dir.display()),
        (Backend::File, false) => println!(
            "Data files: in a temporary directory, deleted on exit (--dir DIR keeps them)."
        ),
    }
    if let Some(path) = a.json {
        let doc = serde_json::json!({
            "schema": "warmcheck-replay-report/1",
            "variant": model.variant.to_string(),
            "steps": report.steps,
            "matched": report.matched,
            "violated": report.violated,
            "diverged_on_disk": report.diverged_on_disk,
            "divergence": report.divergence,
            "step_reports": report.step_reports,
        });
        if let Err(e) = crate::report::write_json(&path, &doc) {
            eprintln!("warmcheck: {e}");
            return 2;
        }
    }
    if report.matched {
        0
    } else {
        1
    }
}
