//! `warmcheck explore`: stateright's Explorer on the model.

use super::args::{BoundsArgs, DesignArgs};
use crate::trace::Trace;
use stateright::{Checker, Model, Path};
use std::path::PathBuf;

/// Serve stateright's Explorer on the model, to browse behaviours step by step in a browser.
///
/// Each step shows what it changed, and a timeline picture of the path (one lane per node and
/// one for the active's disk). With --trace, prints the address that opens Explorer at the end
/// of a saved counterexample.
///
/// Runs until interrupted. Exit codes: 2 usage error or the address is taken.
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
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

pub fn run(a: Args) -> u8 {
    let addr = a.addr.as_str();
    let mut violates = None;
    let (model, steps) = match a.trace {
        Some(path) => match Trace::load(&path) {
            Ok(t) => {
                if let Err(e) = t.states() {
                    eprintln!("warmcheck: {}: {e}", path.display());
                    return 2;
                }
                violates = t.property.clone();
                let model = t.model();
                let init = model.init_states().remove(0);
                let p = Path::from_actions(&model, init, t.actions.iter())
                    .expect("the trace replays on its model");
                let encoded = p.encode(&model);
                (model, Some(encoded))
            }
            Err(e) => {
                eprintln!("warmcheck: {e}");
                return 2;
            }
        },
        None => (a.bounds.bounds().into_model(a.design.design()), None),
    };
    if let Err(e) = std::net::TcpListener::bind(addr) {
        eprintln!("warmcheck: cannot listen on {addr}: {e}");
        return 2;
    }
    println!(
        "Explorer for design `{}` within {} at http://{addr}/",
        model.variant, model.bounds
    );
    if let Some(steps) = steps {
        match &violates {
            Some(p) => println!(
                "The saved counterexample for \"{p}\" ends at http://{addr}/#/steps/{steps}"
            ),
            None => println!("The saved trace ends at http://{addr}/#/steps/{steps}"),
        }
    }
    println!("Press Ctrl-C to stop.");
    let checker = model.checker().serve(addr);
    // serve() blocks while the web server runs; reaching here means it stopped.
    let _ = checker.unique_state_count();
    0
}
