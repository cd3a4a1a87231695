//! `warmcheck validate`: check an engine event log against the model, line by line.

use super::args::{BudgetArgs, DesignArgs, MAX_REPLICAS, MAX_VBUCKETS};
use crate::validate::{self, Validator};
use std::path::PathBuf;
use warmcheck_model::{State, Variant};

/// Check an engine event log against the model, line by line (trace validation).
///
/// LOG is the NDJSON event log the engine writes (Cluster::set_event_log): one line per
/// successful call, {"call":..., arguments..., "state": <the projected view after the call>}.
/// From the model's initial state (a freshly created bucket), each line is mapped to model
/// actions (none for a stutter: a get that expired nothing, a clock move that makes nothing
/// due); each must be enabled in the model's current state, and after them the model's
/// projection must equal the logged state (the clock aside). The first failing line is named
/// with what is wrong: not JSON, cut short, an unknown call, an action the model does not
/// enable (with those it does), or the differing fields side by side.
///
/// Bounds: vbuckets and replicas default to what the log's first state shows, keys to one more
/// than the largest kN the log names, client writes / crashes / clean shutdowns to the largest
/// the model takes (60 / 20 / 20), so that a long log is not refused for its length.
///
/// Prints "N events, M model steps, K stutters: VALID", or the error and INVALID.
///
/// Exit codes: 0 valid; 1 invalid (an empty log or a last line cut short too); 2 usage error,
/// or the file cannot be read.
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// The event log (NDJSON).
    log: PathBuf,
    #[command(flatten)]
    design: DesignArgs,
    /// Vbuckets, 1..=8 (default: as the log's first state shows).
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=MAX_VBUCKETS as i64))]
    vbuckets: Option<u8>,
    /// Replica nodes, 0..=8 (default: as the log's first state shows).
    #[arg(long, value_parser = clap::value_parser!(u8).range(0..=MAX_REPLICAS as i64))]
    replicas: Option<u8>,
    /// Keys k0..k{K-1}, 1..=64 (default: one more than the largest the log names).
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=MAX_LOG_KEYS as i64))]
    keys: Option<u8>,
    #[command(flatten)]
    budget: BudgetArgs,
    /// Start from this model state (JSON, as `workload --resume` takes) instead of a freshly
    /// created bucket.
    #[arg(long, value_name = "STATE")]
    from: Option<PathBuf>,
    /// Print one line per event: its line number, call and model actions.
    #[arg(long, short)]
    verbose: bool,
}

/// The most keys a validated log may name.
pub const MAX_LOG_KEYS: u8 = 64;

/// What `validate` is asked to do.
struct Options {
    log: PathBuf,
    design: Variant,
    /// `None`: as the log's first state shows.
    vbuckets: Option<u8>,
    /// `None`: as the log's first state shows.
    replicas: Option<u8>,
    /// `None`: one more than the largest `kN` the log names.
    keys: Option<u8>,
    writes: u8,
    crashes: u8,
    shutdowns: u8,
    /// Start from this model state (JSON, as `workload --resume` takes) instead of the initial
    /// state.
    from: Option<PathBuf>,
    verbose: bool,
}

pub fn run(a: Args) -> u8 {
    validate_log(Options {
        log: a.log,
        design: a.design.design(),
        vbuckets: a.vbuckets,
        replicas: a.replicas,
        keys: a.keys,
        writes: a.budget.writes,
        crashes: a.budget.crashes,
        shutdowns: a.budget.shutdowns,
        from: a.from,
        verbose: a.verbose,
    })
}

/// Exit codes: 0 valid, 1 invalid, 2 usage or I/O error.
fn validate_log(opts: Options) -> u8 {
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
        pick(
            "replicas",
            opts.replicas,
            shape.replicas,
            0..=MAX_REPLICAS as usize,
        ),
        pick("keys", opts.keys, shape.keys, 1..=MAX_LOG_KEYS as usize),
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
