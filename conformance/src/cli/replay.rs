//! `warmcheck replay`: a model trace on the implementation, on real files.

use crate::replay::{self, ImplSetup};
use crate::trace::Trace;
use std::path::PathBuf;
use warmcheck_impl::engine::{SeededBugs, StorageBackend};
use warmcheck_model::Variant;

pub fn run(
    trace_path: &std::path::Path,
    design: Option<Variant>,
    json: Option<PathBuf>,
    dir: Option<PathBuf>,
    faulty: bool,
) -> u8 {
    let trace = match Trace::load(trace_path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("warmcheck: {e}");
            return 2;
        }
    };
    let mut model = trace.model();
    if let Some(v) = design {
        model.variant = v;
    }
    let tmp;
    let dir = match dir {
        Some(d) => d,
        None => {
            tmp = match tempfile::Builder::new()
                .prefix("warmcheck-replay-")
                .tempdir()
            {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("warmcheck: cannot make a temporary directory: {e}");
                    return 2;
                }
            };
            tmp.path().join("data")
        }
    };
    let setup = ImplSetup {
        backend: if faulty {
            StorageBackend::faulty()
        } else {
            StorageBackend::file()
        },
        dir: dir.clone(),
        bugs: SeededBugs::default(),
    };
    let report = match replay::replay(&model, &trace.actions, &setup) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("warmcheck: {e}");
            return 2;
        }
    };
    replay::print(&report, &trace, model.variant);
    if !faulty {
        println!("Data files: {}", dir.display());
    }
    if let Some(path) = json {
        let doc = crate::report::ReplayJson {
            schema: crate::report::REPLAY_SCHEMA,
            variant: model.variant.to_string(),
            report: &report,
        };
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
