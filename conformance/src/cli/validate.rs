//! `warmcheck validate`: check an engine event log against the model, line by line.

use super::args::{BudgetArgs, DesignArgs, MAX_REPLICAS, MAX_VBUCKETS};
use crate::report;
use crate::validate::{self, Invalid, Problem, Search, Unlogged, Validator};
use schemars::JsonSchema;
use serde::Serialize;
use std::path::PathBuf;
use std::time::Instant;
use warmcheck_model::{Bounds, State, Variant};

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
/// A log WITHOUT states (calls and results only, as a real engine's would be; its first event
/// other than `create` has no "state") is searched instead, as TLC-based trace validation
/// does: the validator keeps every model state that explains the log so far (the candidates),
/// takes each event from each of them, and keeps those where the call is enabled and returns
/// what the log says it returned (seqnos, a get's value, a flush's seqnos, a stream request's
/// outcome, ...). --unlogged names calls the log leaves out (e.g. its background flusher): their
/// steps may happen between any two lines, so hidden state (what a crash kept) is inferred from
/// the results that follow. A `create` line starts over from a fresh bucket. The first line no
/// candidate explains is named, with the first candidates before it (their view, the unlogged
/// steps that led to them, and why each fails). More than --max-candidates candidates is an
/// error, never a hang. docs/event-log.md describes the format.
///
/// Bounds: vbuckets and replicas default to what the log's first state (or its `create` line)
/// shows, keys to one more than the largest kN the log names, client writes / crashes / clean
/// shutdowns to the largest the model takes (60 / 20 / 20), so that a long log is not refused
/// for its length.
///
/// Three outcomes, on the last line printed and in the report's "outcome":
///
///   VALID      every line is explained by the model: "N events, M model steps, K stutters:
///              VALID" (without states: and the most candidates held at once);
///   INVALID    a line no behaviour of the model explains, named with what is wrong (an empty
///              log and a last line cut short too): the engine (or its log) is wrong;
///   UNDECIDED  validation could not tell, and says why: a bound of the model ran out before
///              the log did (raise --writes, --crashes, --shutdowns), --max-candidates was
///              reached, or a line holds a value the model does not express (a ttl other than
///              1, a clock move other than one second, a number larger than the model's).
///
/// Exit codes: 0 VALID; 1 INVALID; 2 usage error, or the file cannot be read; 3 UNDECIDED.
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
    /// Print one line per event: its line number, call and model actions (without states:
    /// the number of candidates after it).
    #[arg(long, short)]
    verbose: bool,
    /// In a log without states: calls the log leaves out, comma-separated; their steps may
    /// happen unlogged between any two lines.
    #[arg(long, value_enum, value_delimiter = ',', value_name = "CALLS")]
    unlogged: Vec<Unlogged>,
    /// In a log without states: the most candidate states kept at once, 1..=100000000 (default
    /// 20000); more is UNDECIDED. Not with a log with states.
    #[arg(long, value_name = "N",
          value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    max_candidates: Option<u64>,
    /// Write a JSON report (schema: docs/schemas/validate-report.schema.json).
    #[arg(long, value_name = "PATH")]
    json: Option<PathBuf>,
}

pub const VALIDATE_SCHEMA: &str = "warmcheck-validate-report/1";

/// `warmcheck validate --json`.
#[derive(Serialize, JsonSchema)]
#[schemars(title = "warmcheck validate --json", deny_unknown_fields)]
pub struct ValidateReport {
    #[schemars(extend("const" = VALIDATE_SCHEMA))]
    pub schema: &'static str,
    /// The log's path, as given.
    pub log: String,
    /// The preset's name, or `custom`.
    pub variant: String,
    pub bounds: Bounds,
    /// Whether the log carries states (then it is followed state by state; otherwise searched).
    pub states: bool,
    /// `--unlogged`, as given.
    pub unlogged: Vec<Unlogged>,
    /// `--max-candidates`.
    #[schemars(range(min = 1))]
    pub candidate_cap: usize,
    /// `valid`, `invalid`, or `undecided` (the validation could not tell: see `undecided`).
    #[schemars(extend("enum" = ["valid", "invalid", "undecided"]))]
    pub outcome: &'static str,
    /// `true` only when the outcome is `valid`.
    pub valid: bool,
    /// Why the validation could not tell (a bound of the model ran out, the candidate cap was
    /// reached, a value the model does not express); `null` unless the outcome is `undecided`.
    pub undecided: Option<String>,
    /// Lines that followed the model (all of them when valid).
    pub events: usize,
    pub model_steps: u64,
    pub stutters: u64,
    /// Without states: the most candidate states held at once; `null` with states.
    pub max_candidates: Option<usize>,
    #[schemars(range(min = 0.0))]
    pub seconds: f64,
    /// The line where validation stopped and why (for `undecided`, the line it could not
    /// decide); `null` when valid.
    pub invalid: Option<InvalidJson>,
}

/// The first line no behaviour explains.
#[derive(Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct InvalidJson {
    /// 1-based; 0 for an empty log.
    pub line: usize,
    /// The message's first line.
    pub headline: String,
    /// The whole message, as printed.
    pub message: String,
    /// Without states, when no candidate explains the line: how many candidates there were.
    pub candidates_total: usize,
    /// The first few of them.
    pub candidates: Vec<CandidateJson>,
}

/// A candidate state that does not explain the line.
#[derive(Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct CandidateJson {
    /// The unlogged steps that led to it since the line before (model actions).
    pub unlogged_steps: Vec<String>,
    /// Why it does not explain the line.
    pub why: String,
    /// Its projected view (docs/vocabulary.md).
    pub view: serde_json::Value,
}

impl InvalidJson {
    fn of(invalid: &Invalid) -> InvalidJson {
        let (total, shown) = match &invalid.problem {
            Problem::Unexplained { total, shown, .. } => (*total, &shown[..]),
            _ => (0, &[][..]),
        };
        InvalidJson {
            line: invalid.line,
            headline: invalid.headline(),
            message: invalid.to_string(),
            candidates_total: total,
            candidates: shown
                .iter()
                .map(|r| CandidateJson {
                    unlogged_steps: r.hidden.iter().map(|a| format!("{a:?}")).collect(),
                    why: Invalid {
                        line: invalid.line,
                        problem: (*r.why).clone(),
                    }
                    .headline(),
                    view: serde_json::from_str(&r.view).expect("a view is JSON"),
                })
                .collect(),
        }
    }
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
    unlogged: Vec<Unlogged>,
    max_candidates: usize,
    /// Whether --max-candidates was given (a log with states takes none).
    max_candidates_given: bool,
    json: Option<PathBuf>,
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
        unlogged: a.unlogged,
        max_candidates: a
            .max_candidates
            .map_or(validate::DEFAULT_MAX_CANDIDATES, |n| n as usize),
        max_candidates_given: a.max_candidates.is_some(),
        json: a.json,
    })
}

/// Exit codes: 0 valid, 1 invalid, 2 usage or I/O error, 3 undecided.
// Long: reading, search and report inline in the CLI; to move out of it (issue 26).
#[allow(clippy::too_many_lines)]
fn validate_log(opts: Options) -> u8 {
    if let Some(json) = &opts.json {
        let inputs: Vec<&std::path::Path> = std::iter::once(opts.log.as_path())
            .chain(opts.from.as_deref())
            .collect();
        let checks = super::args::check_file_writable(json)
            .and_then(|()| super::args::check_not_an_input("--json", json, &inputs));
        if let Err(e) = checks {
            return super::usage_error(e);
        }
    }
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
    let states = validate::has_states(&text);
    if !states
        && start.is_none()
        && opts.vbuckets.is_none()
        && !text.contains("\"call\":\"create\"")
    {
        println!(
            "The log has no states and no `create` line: its shape is read from the vbs and \
             replicas it names (give --vbuckets and --replicas if it has more)."
        );
    }
    if states && (!opts.unlogged.is_empty() || opts.max_candidates_given) {
        eprintln!(
            "warmcheck: --unlogged and --max-candidates apply to a log without states; {} \
             carries states",
            opts.log.display()
        );
        return 2;
    }
    println!(
        "Validating {} {} against the model of design `{}` within {}, from {}{}.",
        opts.log.display(),
        if states {
            "(with states)"
        } else {
            "(without states: searching for a behaviour that explains it)"
        },
        opts.design,
        bounds,
        if start.is_some() {
            "the given state"
        } else {
            "a freshly created bucket"
        },
        if opts.unlogged.is_empty() {
            String::new()
        } else {
            format!(
                ", calls that may happen unlogged: {}",
                opts.unlogged
                    .iter()
                    .map(|u| u.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    );
    let started = Instant::now();
    let variant = report::variant_label(&model);
    let verbose = opts.verbose;
    let (result, events) = if states {
        let mut validator = match start {
            Some(s) => Validator::starting_at(model, s),
            None => Validator::new(model),
        };
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
        let events = validator.lines();
        (
            result.map(|s| validate::Checked::WithStates(Box::new(s))),
            events,
        )
    } else {
        let mut search = match start {
            Some(s) => Search::starting_at(model, s, opts.unlogged.clone(), opts.max_candidates),
            None => Search::new(model, opts.unlogged.clone(), opts.max_candidates),
        };
        let result = validate::search_text(&mut search, &text, false, |line, call, n| {
            if verbose {
                println!(
                    "  line {line:>5}  {call:<26} {n} candidate{}",
                    if n == 1 { "" } else { "s" }
                );
            }
        });
        let events = search.lines();
        (result.map(validate::Checked::WithoutStates), events)
    };
    let undecided = result.as_ref().err().and_then(Invalid::undecided);
    let (code, outcome) = match (&result, &undecided) {
        (Ok(summary), _) => {
            println!("{summary}: VALID");
            (0, "valid")
        }
        (Err(invalid), None) => {
            println!("{invalid}");
            println!(
                "{events} event{} valid before that: INVALID",
                if events == 1 { "" } else { "s" }
            );
            (1, "invalid")
        }
        (Err(invalid), Some(why)) => {
            println!("{invalid}");
            println!(
                "{events} event{} valid before that; then the validation cannot tell: {why}: \
                 UNDECIDED",
                if events == 1 { "" } else { "s" }
            );
            (3, "undecided")
        }
    };
    if let Some(path) = &opts.json {
        let (model_steps, stutters, max_candidates) = match &result {
            Ok(validate::Checked::WithStates(s)) => (s.model_steps, s.stutters, None),
            Ok(validate::Checked::WithoutStates(s)) => {
                (s.model_steps, s.stutters, Some(s.max_candidates))
            }
            Err(_) => (0, 0, None),
        };
        let json = ValidateReport {
            schema: VALIDATE_SCHEMA,
            log: opts.log.display().to_string(),
            variant,
            bounds,
            states,
            unlogged: opts.unlogged.clone(),
            candidate_cap: opts.max_candidates,
            outcome,
            valid: result.is_ok(),
            undecided,
            events,
            model_steps,
            stutters,
            max_candidates,
            seconds: started.elapsed().as_secs_f64(),
            invalid: result.as_ref().err().map(InvalidJson::of),
        };
        if let Err(e) = report::write_json(path, &json) {
            eprintln!("warmcheck: {e}");
            return 2;
        }
    }
    code
}
