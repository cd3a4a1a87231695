//! `warmcheck replay`: a model trace on the implementation, on real files.

use super::args::{check_fresh_dir, parse_variant, Backend, SutArgs};
use crate::replay::{self, ImplSetup};
use crate::signals;
use crate::sut::client::ProtocolSut;
use crate::trace::Trace;
use std::path::PathBuf;
use warmcheck_impl::engine::SeededBugs;
use warmcheck_model::{PersistEntry, ShutdownFlag, StopWarmup, Variant};

/// Replay a model trace on the implementation, step by step, on real files.
///
/// Loads a trace written by `check` or `conform`, or a `check --json` report (its first
/// violated property's trace). Prints each step, what the model did, and whether the
/// implementation's projection matched; then whether the model's invariants hold at the end
/// and whether an accepted replica's data diverged from the active's on disk. A step the chosen
/// design does not enable must be refused by the implementation too.
///
/// With --sut CMD the trace is replayed on a system under test driven over the SUT protocol
/// (docs/sut-protocol.md); the divergence check then reads the SUT's last view.
///
/// Exit codes: 0 the implementation matched the model at every step; 1 it did not; 2 usage or
/// input error, or the SUT broke the protocol.
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
    /// Override one knob of the design.
    #[arg(long, value_parser = |s: &str| s.parse::<StopWarmup>())]
    stop_warmup: Option<StopWarmup>,
    /// Write {"steps","matched","violated",...} to PATH.
    #[arg(long, value_name = "PATH")]
    json: Option<PathBuf>,
    /// Keep the data files in DIR, absent or empty (default: a temporary directory, deleted
    /// afterwards). Needs --backend file.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Where the implementation keeps its files; not with --sut [default: file]
    #[arg(long, value_enum)]
    backend: Option<Backend>,
    /// The old spelling of --backend faulty.
    #[arg(long, hide = true, conflicts_with = "backend")]
    faulty: bool,
    #[command(flatten)]
    sut: SutArgs,
}

/// Exit codes: 0 matched, 1 did not, 2 usage or input error.
pub fn run(a: Args) -> u8 {
    let backend = a.backend.unwrap_or(Backend::File).or_faulty(a.faulty);
    let checks = backend
        .check_dir(a.dir.as_deref())
        .and_then(|()| a.dir.as_deref().map_or(Ok(()), check_fresh_dir))
        .and_then(|()| {
            a.json
                .as_deref()
                .map_or(Ok(()), super::args::check_file_writable)
        })
        .and_then(|()| {
            a.json.as_deref().map_or(Ok(()), |j| {
                super::args::check_not_an_input("--json", j, &[a.trace.as_path()])
            })
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
    if let Some(w) = a.stop_warmup {
        model.variant.stop_warmup = w;
    }
    if let Some(cmd) = &a.sut.sut {
        if a.dir.is_some() || a.faulty || a.backend.is_some() {
            return super::usage_error(
                "--dir and --backend are the in-process implementation's; \
                 with --sut the SUT keeps its own files",
            );
        }
        let mut sut = match ProtocolSut::start(cmd, &model, a.sut.timeout(), true) {
            Ok(s) => s,
            Err(e) => return super::usage_error(e),
        };
        let report = match replay::replay_sut(&model, &trace.actions, &mut sut) {
            Ok(r) => r,
            Err(e) => return super::usage_error(e),
        };
        replay::print(
            &report,
            &trace,
            model.variant,
            Some(&format!("the SUT {} (`{cmd}`)", sut.hello.name)),
        );
        let not_compared = sut.not_compared();
        if !not_compared.is_empty() {
            println!(
                "Not compared (the SUT leaves them out): {}",
                not_compared.join(", ")
            );
        }
        if sut.hello.omits.iter().any(|o| o.ends_with("items_on_disk")) {
            println!("The divergence on disk was not checked: the SUT omits items_on_disk.");
        }
        return finish(&report, &model, a.json.as_deref());
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
    replay::print(&report, &trace, model.variant, None);
    match (backend, kept) {
        (Backend::Faulty, _) => {
            println!("Data files: in the faulty backend's memory, gone with the process.")
        }
        (Backend::File, true) => println!("Data files kept in {}.", dir.display()),
        (Backend::File, false) => println!(
            "Data files: in a temporary directory, deleted on exit (--dir DIR keeps them)."
        ),
    }
    finish(&report, &model, a.json.as_deref())
}

/// Write the JSON report if asked; the exit code.
fn finish(
    report: &replay::ReplayReport,
    model: &warmcheck_model::Warmup,
    json: Option<&std::path::Path>,
) -> u8 {
    if let Some(path) = json {
        let doc = crate::report::ReplayJson {
            schema: crate::report::REPLAY_SCHEMA,
            variant: model.variant.to_string(),
            report,
        };
        if let Err(e) = crate::report::write_json(path, &doc) {
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
