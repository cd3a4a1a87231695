//! `warmcheck validate`: check an engine event log against the model, line by line.

use crate::validate::{self, Validator, MAX_VBUCKETS};
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
    let text = match std::fs::read(&opts.log) {
        Ok(bytes) => match String::from_utf8(bytes) {
            Ok(t) => t,
            Err(e) => {
                eprintln!(
                    "warmcheck: {}: not UTF-8 text (byte {})",
                    opts.log.display(),
                    e.utf8_error().valid_up_to()
                );
                return 2;
            }
        },
        Err(e) => {
            eprintln!("warmcheck: {}: cannot read: {e}", opts.log.display());
            return 2;
        }
    };
    let start: Option<State> = match &opts.from {
        None => None,
        Some(path) => match std::fs::read_to_string(path)
            .map_err(|e| e.to_string())
            .and_then(|t| serde_json::from_str(&t).map_err(|e| e.to_string()))
        {
            Ok(s) => Some(s),
            Err(e) => {
                eprintln!("warmcheck: {}: not a model state: {e}", path.display());
                return 2;
            }
        },
    };
    let shape = validate::shape_of_log(&text);
    // The shape the log shows, unless given; each within what the model takes.
    let pick =
        |what: &str, given: Option<u8>, found: usize, range: std::ops::RangeInclusive<usize>| {
            match given {
                Some(n) => Ok(n),
                None if range.contains(&found) => Ok(found as u8),
                None => Err(format!(
                    "the log shows {found} {what}; the model takes {}..={} (give --{what})",
                    range.start(),
                    range.end()
                )),
            }
        };
    let bounds = match (
        pick(
            "vbuckets",
            opts.vbuckets,
            shape.vbuckets,
            1..=MAX_VBUCKETS as usize,
        ),
        pick("replicas", opts.replicas, shape.replicas, 0..=8),
        pick("keys", opts.keys, shape.keys, 1..=64),
    ) {
        (Ok(vbuckets), Ok(replicas), Ok(keys)) => warmcheck_model::Bounds {
            vbuckets,
            replicas,
            keys,
            writes: opts.writes,
            crashes: opts.crashes,
            shutdowns: opts.shutdowns,
            flush_failures: validate::MAX_FLUSH_FAILURES,
        },
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => {
            eprintln!("warmcheck: {}: {e}", opts.log.display());
            return 2;
        }
    };
    let model = bounds.into_model(opts.design);
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
