//! `warmcheck validate`: check an engine event log against the model, line by line.

use crate::validate::{self, Validator};
use std::path::PathBuf;
use warmcheck_model::{State, Variant};

/// What `validate` is asked to do.
pub struct Options {
    pub log: PathBuf,
    pub design: Variant,
    /// `None`: as the log's first state shows.
    pub vbuckets: Option<u8>,
    /// `None`: as the log's first state shows.
    pub replicas: Option<u8>,
    /// `None`: one more than the largest `kN` the log names.
    pub keys: Option<u8>,
    pub writes: u8,
    pub crashes: u8,
    pub shutdowns: u8,
    /// Start from this model state (JSON, as `workload --resume` takes) instead of the initial
    /// state.
    pub from: Option<PathBuf>,
    pub verbose: bool,
}

/// Exit codes: 0 valid, 1 invalid, 2 usage or I/O error.
pub fn run(opts: Options) -> u8 {
    let text = match validate::read_log(&opts.log) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("warmcheck: {e}");
            return 2;
        }
    };
    let shape = validate::shape_of_log(&text);
    let bounds = match validate::bounds_for_log(
        &shape,
        opts.vbuckets,
        opts.replicas,
        opts.keys,
        (opts.writes, opts.crashes, opts.shutdowns),
    ) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("warmcheck: {}: {e}", opts.log.display());
            return 2;
        }
    };
    let model = bounds.into_model(opts.design);
    let start: Option<State> = match &opts.from {
        None => None,
        Some(path) => match crate::checked::load_state(path, &model) {
            Ok(s) => Some(s),
            Err(e) => {
                eprintln!("warmcheck: {e}");
                return 2;
            }
        },
    };
    println!(
        "Validating {} against the model of design `{}` within {}, from {}.",
        opts.log.display(),
        opts.design,
        bounds,
        if start.is_some() {
            "the given state"
        } else {
            "a freshly created bucket"
        }
    );
    let mut validator = match start {
        Some(s) => Validator::starting_at(model, s),
        None => Validator::new(model),
    };
    let verbose = opts.verbose;
    let result = validate::validate_log(&mut validator, &text, |step| {
        if verbose {
            let what = if step.is_stutter() {
                "stutter".to_string()
            } else {
                step.actions
                    .iter()
                    .map(|(a, _)| format!("{a:?}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            println!("  line {:>5}  {:<26} {what}", step.line, step.call);
        }
    });
    match result {
        Ok(summary) => {
            println!("{summary}: VALID");
            0
        }
        Err(invalid) => {
            println!("{invalid}");
            println!(
                "{} event{} valid before that: INVALID",
                validator.lines(),
                if validator.lines() == 1 { "" } else { "s" }
            );
            1
        }
    }
}
