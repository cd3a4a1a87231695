//! `warmcheck explore`: stateright's Explorer on the model.

use crate::trace::Trace;
use stateright::{Checker, Model, Path};
use std::path::PathBuf;
use warmcheck_model::{Bounds, Variant};

pub fn run(design: Variant, bounds: Bounds, addr: &str, trace: Option<PathBuf>) -> u8 {
    let (model, steps) = match trace {
        Some(path) => match Trace::load(&path) {
            Ok(t) => {
                if let Err(e) = t.states() {
                    eprintln!("warmcheck: {}: {e}", path.display());
                    return 2;
                }
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
        None => (bounds.into_model(design), None),
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
        println!("The saved trace ends at http://{addr}/#/steps/{steps}");
    }
    println!("Press Ctrl-C to stop.");
    let checker = model.checker().serve(addr);
    // serve() blocks while the web server runs; reaching here means it stopped.
    let _ = checker.unique_state_count();
    0
}
