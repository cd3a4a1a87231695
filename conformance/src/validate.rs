//! Implementation -> model: trace validation of the engine's event log, one line at a time, in
//! the manner of etcd-raft's validation of its traces against the TLA+ spec.
//!
//! The engine's event log (`Cluster::set_event_log`) holds one JSON line per successful
//! single-step call: `{"call": ..., <arguments>, "state": <the projected view after the call>}`.
//! Starting from a model state (the initial state, unless told otherwise), each line is
//!
//! 1. parsed (a line that is not JSON, or not an event, is named by its number);
//! 2. mapped to model actions by [`mapping::action_of_event`] (most calls are one action; a
//!    compaction or an expiry-pager run is one expiry per key; a get that expired nothing or a
//!    clock move that makes nothing due is no action at all, a *stutter*);
//! 3. checked: every action must be enabled in the model's current state;
//! 4. taken by the model (`next_state`);
//! 5. compared: the model's projection must equal the logged `state` field for field (after
//!    leaving out what the mapping leaves out, the clock). A stutter must leave the model's
//!    projection equal to the logged one;
//! 6. and what the call returned (seqnos, a get's result, a flush's seqnos, a stream
//!    request's outcome, ...) must be what the model's call returns
//!    ([`mapping::check_results`]).
//!
//! Areas verified: every accepted engine call is a step the model allows from where the model
//! is, returns what the model's step returns, and leaves the implementation in the state the
//! model reaches (memory and disk of the active, stats.json's flag, every replica), after every
//! line.
//!
//! Areas not verified, and why:
//! - calls the engine refused: the engine logs nothing for them (`soak` checks them live, by
//!   comparing the projection before and after);
//! - the clock, expiry times, CAS: see `mapping.rs` ("Not compared");
//! - what is on disk beyond the view (bytes, checksums): the storage layer's own tests;
//! - anything before the first line: a log does not record its starting state. It is assumed to
//!   be the model's initial state, a freshly created bucket (or the state given with
//!   [`Validator::starting_at`]); a log from a reopened directory fails at its first line.

mod search;

pub use search::{Candidate, Rejected, Search, SearchSummary, Unlogged, DEFAULT_MAX_CANDIDATES};

use crate::checked;
use crate::mapping::{self, Difference, Values};
use serde_json::Value;
use stateright::Model;
use std::fmt;
use std::path::Path;
use warmcheck_impl::engine::event::{Call, Event};
use warmcheck_impl::input::{self, Limits, MIB};
use warmcheck_model::{Action, Bounds, State, Variant, Warmup};

/// One validated line of the log.
#[derive(Clone, Debug)]
pub struct Step {
    /// 1-based line number.
    pub line: usize,
    /// The engine call, as logged (`set`, `warmup_step`, ...).
    pub call: String,
    /// The model actions the line stands for, each with the model state after it; empty for a
    /// stutter.
    pub actions: Vec<(Action, State)>,
}

impl Step {
    pub fn is_stutter(&self) -> bool {
        self.actions.is_empty()
    }
}

/// What is wrong with a log, at a line.
#[derive(Clone, Debug, PartialEq)]
pub enum Problem {
    /// The log holds no event at all.
    NoEvents,
    /// The last line does not end with a newline: the writer stopped in the middle of it.
    CutShort {
        /// The JSON parser's complaint, if the text is not complete JSON either.
        json_error: Option<String>,
    },
    /// An empty line (the engine never writes one).
    EmptyLine,
    /// Not JSON; serde's message (with the column).
    NotJson(String),
    /// JSON, but not an event: no `call`, or no `state` object.
    NotAnEvent(String),
    /// The mapping knows no model action for this event (an unknown call, a key the model does
    /// not know, a value the model would name otherwise, ...).
    Unmapped { call: String, why: String },
    /// The event's action is not enabled in the model's current state.
    NotEnabled {
        call: String,
        action: Action,
        enabled: Vec<Action>,
        /// When a bound of the model is what disables the action.
        bound: Option<String>,
    },
    /// The call returned something other than what the model's call returns (a seqno, a get's
    /// result, a stream's outcome, ...): see [`mapping::check_results`].
    ResultDiffers {
        call: String,
        actions: Vec<Action>,
        difference: Box<mapping::ResultDifference>,
    },
    /// After the event the model's projection differs from the logged state.
    Differs {
        call: String,
        actions: Vec<Action>,
        differences: Vec<Difference>,
    },
    /// A `create` line whose shape is not the model's.
    Shape { why: String },
    /// In a log without states: a line carries a state (a log has states on every line or on
    /// none), or a line lacks one in a log with states.
    MixedStates { call: String, with: bool },
    /// In a log without states: no candidate state explains the event; each candidate with
    /// why it does not.
    Unexplained {
        call: String,
        /// How many candidates there were.
        total: usize,
        /// The first few (fewest unlogged steps first).
        shown: Vec<Rejected>,
        /// Why the search cannot tell, when some candidate was turned away by the model's
        /// limits rather than by the log (see [`Invalid::undecided`]): the first such reason.
        undecided: Option<String>,
    },
    /// In a log without states: more candidate states than the cap.
    TooManyCandidates { cap: usize, found: usize },
}

/// A log that does not follow the model, with the line where it stops following it.
#[derive(Clone, Debug, PartialEq)]
pub struct Invalid {
    /// 1-based; 0 for [`Problem::NoEvents`].
    pub line: usize,
    pub problem: Problem,
}

impl Invalid {
    /// Why the log could not be decided either way, when that is what stopped the validation:
    /// the model ran out before the log did (a bound of the model used up), the search held
    /// more candidates than its cap, or a line holds a value the model does not express
    /// (docs/event-log.md: a `ttl` other than 1, a clock move other than one second, a number
    /// larger than the model's). Such a log is UNDECIDED, not INVALID: the engine may be
    /// right. `None` when the log is wrong as far as the model can tell.
    pub fn undecided(&self) -> Option<String> {
        match &self.problem {
            Problem::TooManyCandidates { cap, found } => Some(format!(
                "more than {cap} candidate states ({found} so far): the search's cap \
                 (--max-candidates) was reached"
            )),
            Problem::NotEnabled { bound: Some(b), .. } => {
                Some(format!("the model's bound ran out before the log did: {b}"))
            }
            Problem::Unmapped { why, .. } if why.contains(mapping::OUT_OF_MODEL) => {
                Some(format!("a value the model does not express: {why}"))
            }
            Problem::Unexplained { undecided, .. } => undecided.clone(),
            _ => None,
        }
    }

    /// The first line of the message.
    pub fn headline(&self) -> String {
        let l = self.line;
        match &self.problem {
            Problem::NoEvents => "the log holds no events".to_string(),
            Problem::CutShort { json_error: None } => format!(
                "line {l} is cut short: it does not end with a newline (the writer stopped in \
                 the middle of it)"
            ),
            Problem::CutShort {
                json_error: Some(e),
            } => format!(
                "line {l} is cut short: it does not end with a newline and is not complete JSON \
                 ({e})"
            ),
            Problem::EmptyLine => format!("line {l} is empty"),
            Problem::NotJson(e) => format!("line {l} is not JSON: {e}"),
            Problem::NotAnEvent(why) => format!("line {l} is not an event: {why}"),
            Problem::Unmapped { call, why } => {
                format!("line {l}: `{call}` maps to no model action: {why}")
            }
            Problem::NotEnabled {
                call,
                action,
                bound,
                ..
            } => format!(
                "line {l}: `{call}` is {action:?}, which the model does not enable here{}",
                bound
                    .as_deref()
                    .map(|b| format!(" ({b})"))
                    .unwrap_or_default()
            ),
            Problem::ResultDiffers {
                call,
                actions,
                difference,
            } => format!(
                "line {l}: `{call}` ({}) returned {} = {}; the model's call returns {}",
                if actions.is_empty() {
                    "a stutter: no model action".to_string()
                } else {
                    actions
                        .iter()
                        .map(|a| format!("{a:?}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                },
                difference.field,
                difference.logged,
                difference.model
            ),
            Problem::Shape { why } => format!("line {l}: {why}"),
            Problem::MixedStates { call, with: true } => format!(
                "line {l}: `{call}` carries a \"state\" in a log without states (its first \
                 event has none; a log has states on every line or on none)"
            ),
            Problem::MixedStates { call, with: false } => {
                format!("line {l} is not an event: `{call}` has no \"state\" object")
            }
            Problem::Unexplained {
                call, total, shown, ..
            } => match &shown[..] {
                [only] if *total == 1 && only.hidden.is_empty() => Invalid {
                    line: l,
                    problem: (*only.why).clone(),
                }
                .headline(),
                _ => format!(
                    "line {l}: no behaviour of the model explains `{call}`: none of the {} \
                     candidate states before it does",
                    total
                ),
            },
            Problem::TooManyCandidates { cap, found } => format!(
                "line {l}: more than {cap} candidate states ({found} so far) could stand \
                 before this event: the search is refused rather than left to run (raise \
                 --max-candidates, or log more of the calls given in --unlogged)"
            ),
            Problem::Differs { call, actions, .. } => format!(
                "line {l}: after `{call}` ({}) the logged state differs from the model's",
                if actions.is_empty() {
                    "a stutter: no model action".to_string()
                } else {
                    actions
                        .iter()
                        .map(|a| format!("{a:?}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            ),
        }
    }
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.headline())?;
        match &self.problem {
            Problem::NotEnabled { enabled, .. } => {
                if enabled.is_empty() {
                    write!(f, "\n  the model enables nothing here")?;
                } else {
                    write!(f, "\n  the model enables:")?;
                    for a in enabled {
                        write!(f, "\n    {a:?}")?;
                    }
                }
                Ok(())
            }
            Problem::Differs { differences, .. } => {
                write!(f, "\n{}", render_differences(differences))
            }
            Problem::Unexplained { total, shown, .. } => {
                write!(f, "{}", search::render_candidates(*total, shown))
            }
            _ => Ok(()),
        }
    }
}

/// The differing fields, model and log side by side (the layout of
/// `replay::print_differences`), one line each, no trailing newline.
pub fn render_differences(differences: &[Difference]) -> String {
    let width = differences
        .iter()
        .map(|d| d.path.len())
        .max()
        .unwrap_or(5)
        .clamp(5, 60);
    let mut out = format!("      {:<width$}  {:<40}  log", "field", "model");
    for d in differences {
        out += &format!(
            "\n    ! {:<width$}  {:<40}  {}",
            d.path,
            d.model.to_string(),
            d.implementation
        );
    }
    out
}

/// The logged state as the mapping compares it: without the clock, which
/// `mapping::project_impl` leaves out too (see `mapping.rs`, "Not compared").
fn logged_projection(state: &Value) -> Value {
    crate::mapping::strip(state.clone())
}

/// Whether the logged state equals the projection, the clock aside (the fast path of
/// `mapping::diff(projection, &logged_projection(logged)).is_empty()`, without copying).
fn same_but_clock(projection: &Value, logged: &Value) -> bool {
    match (projection.as_object(), logged.as_object()) {
        (Some(p), Some(l)) => {
            let extra = usize::from(l.contains_key("clock") && !p.contains_key("clock"));
            l.len() == p.len() + extra && p.iter().all(|(k, v)| l.get(k) == Some(v))
        }
        _ => projection == logged,
    }
}

/// Follows a log line by line with the model. See the module docs.
#[derive(Clone, Debug)]
pub struct Validator {
    model: Warmup,
    state: State,
    /// `mapping::project_model(model, state)`, kept so a stutter costs no projection.
    projection: Value,
    lines: usize,
    model_steps: u64,
    stutters: u64,
    /// `create` lines: fresh buckets begun.
    creates: u64,
}

impl Validator {
    /// From the model's initial state (a freshly created bucket).
    pub fn new(model: Warmup) -> Validator {
        let init = model.init_states().remove(0);
        Validator::starting_at(model, init)
    }

    /// From `state` (e.g. the model's state after a crash, for a log written by a restarted
    /// process).
    pub fn starting_at(model: Warmup, state: State) -> Validator {
        let projection = mapping::project_model(&model, &state);
        Validator {
            model,
            state,
            projection,
            lines: 0,
            model_steps: 0,
            stutters: 0,
            creates: 0,
        }
    }

    pub fn model(&self) -> &Warmup {
        &self.model
    }

    /// The model's state after the lines validated so far.
    pub fn state(&self) -> &State {
        &self.state
    }

    /// The model's projection of [`Validator::state`].
    pub fn projection(&self) -> &Value {
        &self.projection
    }

    /// Lines validated so far (the next line's number is this plus one).
    pub fn lines(&self) -> usize {
        self.lines
    }

    pub fn model_steps(&self) -> u64 {
        self.model_steps
    }

    pub fn stutters(&self) -> u64 {
        self.stutters
    }

    /// Validate the next line (without its newline). On error the validator is unchanged, and
    /// the error names this line.
    pub fn line(&mut self, text: &str) -> Result<Step, Invalid> {
        let line = self.lines + 1;
        if text.trim().is_empty() {
            return Err(Invalid {
                line,
                problem: Problem::EmptyLine,
            });
        }
        let event = parse_line(line, text)?;
        self.event(&event)
    }

    /// Validate the next line, already parsed.
    pub fn event(&mut self, event: &Event<Value>) -> Result<Step, Invalid> {
        let line = self.lines + 1;
        let invalid = |problem| Invalid { line, problem };
        let call = event.call.name().to_string();
        if let Call::Create { vbuckets, replicas } = event.call {
            check_shape(&self.model, vbuckets, replicas)
                .map_err(|why| invalid(Problem::Shape { why }))?;
            self.state = self.model.init_states().remove(0);
            self.projection = mapping::project_model(&self.model, &self.state);
            self.lines = line;
            self.creates += 1;
            return Ok(Step {
                line,
                call,
                actions: vec![],
            });
        }
        let Some(logged) = event.state.as_ref().filter(|s| s.is_object()) else {
            return Err(invalid(Problem::MixedStates { call, with: false }));
        };
        let actions =
            mapping::action_of_event(&self.model, &self.state, &event.call, Values::Model)
                .map_err(|why| {
                    invalid(Problem::Unmapped {
                        call: call.clone(),
                        why,
                    })
                })?;
        let taken = take_actions(&self.model, &self.state, &call, &actions).map_err(invalid)?;
        let projection = match taken.last() {
            None => self.projection.clone(),
            Some((_, state)) => mapping::project_model(&self.model, state),
        };
        if !same_but_clock(&projection, logged) {
            return Err(invalid(Problem::Differs {
                call,
                actions,
                differences: mapping::diff(&projection, &logged_projection(logged)),
            }));
        }
        if let Err(d) = mapping::check_results(&self.state, &taken, &event.call, Values::Model) {
            return Err(invalid(Problem::ResultDiffers {
                call,
                actions,
                difference: Box::new(d),
            }));
        }
        self.lines = line;
        match taken.last() {
            None => self.stutters += 1,
            Some((_, state)) => {
                self.model_steps += taken.len() as u64;
                self.state = state.clone();
                self.projection = projection;
            }
        }
        Ok(Step {
            line,
            call,
            actions: taken,
        })
    }
}

/// When `action` is disabled only because a bound of the model is used up, which one.
/// `actions` (one event's) taken in turn from `from`, each with the state after it; or the
/// first that is not enabled where the ones before it led. Both validators step through this.
fn take_actions(
    model: &Warmup,
    from: &State,
    call: &str,
    actions: &[Action],
) -> Result<Vec<(Action, State)>, Problem> {
    let mut state = from.clone();
    let mut taken = Vec::with_capacity(actions.len());
    let mut enabled = Vec::new();
    for action in actions {
        enabled.clear();
        model.actions(&state, &mut enabled);
        if !enabled.contains(action) {
            return Err(Problem::NotEnabled {
                call: call.to_string(),
                action: action.clone(),
                bound: bound_reached(model, &state, action),
                enabled,
            });
        }
        state = model
            .next_state(&state, action.clone())
            .expect("an enabled action has a next state");
        taken.push((action.clone(), state.clone()));
    }
    Ok(taken)
}

fn bound_reached(model: &Warmup, s: &State, action: &Action) -> Option<String> {
    let b = &model.bounds;
    match action {
        Action::ClientSets { .. } | Action::ClientDeletes { .. } if s.writes >= b.writes => Some(
            format!("its bound of {} client writes is used up", b.writes),
        ),
        Action::ActiveCrashes if s.crashes >= b.crashes => {
            Some(format!("its bound of {} crashes is used up", b.crashes))
        }
        Action::ShutdownBegins if s.shutdowns >= b.shutdowns => Some(format!(
            "its bound of {} clean shutdowns is used up",
            b.shutdowns
        )),
        Action::FlusherCommitFails { .. } | Action::WarmupPopulatesVBucketMapFlushFailing
            if s.flush_failures >= b.flush_failures =>
        {
            Some(format!(
                "its bound of {} failed flushes is used up",
                b.flush_failures
            ))
        }
        _ => None,
    }
}

/// One line of a log (1-based `line`, without its newline) as an [`Event`]: JSON, with a
/// `"call"` string naming a call the log knows, and that call's fields. The error names the
/// line and, where serde does not, the field.
pub fn parse_line(line: usize, text: &str) -> Result<Event<Value>, Invalid> {
    let invalid = |problem| Invalid { line, problem };
    if text.trim().is_empty() {
        return Err(invalid(Problem::EmptyLine));
    }
    let value: Value =
        serde_json::from_str(text).map_err(|e| invalid(Problem::NotJson(json_error(&e))))?;
    let Some(call) = value.get("call").and_then(Value::as_str) else {
        return Err(invalid(Problem::NotAnEvent(
            "it has no \"call\" string".to_string(),
        )));
    };
    let call = call.to_string();
    if !Call::NAMES.contains(&call.as_str()) {
        return Err(invalid(Problem::Unmapped {
            why: format!("unknown event {call:?}"),
            call,
        }));
    }
    serde_json::from_value::<Event<Value>>(value.clone()).map_err(|e| {
        invalid(Problem::NotAnEvent(format!(
            "`{call}`: {}",
            field_error(&value, &e)
        )))
    })
}

/// serde's complaint about an event, with the field named: serde names a missing or unknown
/// one, but not one of the wrong type (it reads the event through a buffer that forgets
/// where it is). That field is the one whose removal makes the complaint go away.
fn field_error(event: &Value, e: &serde_json::Error) -> String {
    let text = e.to_string();
    if text.starts_with("missing field") || text.starts_with("unknown") {
        return text;
    }
    if let Some(fields) = event.as_object() {
        for name in fields.keys().filter(|k| *k != "call" && *k != "state") {
            let mut without = fields.clone();
            without.remove(name);
            let gone = match serde_json::from_value::<Event<Value>>(Value::Object(without)) {
                Ok(_) => true,
                Err(other) => other.to_string() != text,
            };
            if gone {
                return format!("field \"{name}\": {text}");
            }
        }
    }
    text
}

/// A `create` line's shape against the model's bounds.
fn check_shape(model: &Warmup, vbuckets: u16, replicas: usize) -> Result<(), String> {
    let b = &model.bounds;
    if vbuckets != u16::from(b.vbuckets) || replicas != usize::from(b.replicas) {
        return Err(format!(
            "`create` makes a bucket of {vbuckets} vbucket(s) and {replicas} replica(s); the \
             model has {} and {}",
            b.vbuckets, b.replicas
        ));
    }
    Ok(())
}

fn json_error(e: &serde_json::Error) -> String {
    // Each line is parsed on its own, so serde's line is always 1: keep its column.
    let text = e.to_string();
    match text.rfind(" at line ") {
        Some(at) => format!("{} at column {}", &text[..at], e.column()),
        None => text,
    }
}

/// A whole log checked.
#[derive(Clone, Debug)]
pub struct Summary {
    pub events: usize,
    pub model_steps: u64,
    pub stutters: u64,
    /// `create` lines (fresh buckets begun).
    pub creates: u64,
    /// The model's state after the last line.
    pub state: State,
    /// Text after the last newline that was left alone (only with `tolerate_cut_tail`).
    pub cut_tail: Option<String>,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} event{}, {} model step{}, {} stutter{}",
            self.events,
            if self.events == 1 { "" } else { "s" },
            self.model_steps,
            if self.model_steps == 1 { "" } else { "s" },
            self.stutters,
            if self.stutters == 1 { "" } else { "s" },
        )?;
        if self.creates > 0 {
            write!(
                f,
                ", {} fresh bucket{}",
                self.creates,
                if self.creates == 1 { "" } else { "s" }
            )?;
        }
        Ok(())
    }
}

/// Validate every line of `text` with `validator`, calling `on_step` after each.
///
/// A log must end with a newline. With `tolerate_cut_tail`, text after the last newline (a
/// line a killed writer left unfinished) is set aside in [`Summary::cut_tail`] instead; nothing
/// else is tolerated. An empty log is not an error here (a killed writer may have written
/// nothing); [`validate_log`] refuses it.
pub fn validate_text(
    validator: &mut Validator,
    text: &str,
    tolerate_cut_tail: bool,
    mut on_step: impl FnMut(&Step),
) -> Result<Summary, Invalid> {
    let mut cut_tail = None;
    for piece in text.split_inclusive('\n') {
        match piece.strip_suffix('\n') {
            Some(line) => on_step(&validator.line(line)?),
            None if tolerate_cut_tail => cut_tail = Some(piece.to_string()),
            None => {
                return Err(Invalid {
                    line: validator.lines() + 1,
                    problem: Problem::CutShort {
                        json_error: serde_json::from_str::<Value>(piece)
                            .err()
                            .map(|e| json_error(&e)),
                    },
                })
            }
        }
    }
    Ok(Summary {
        events: validator.lines(),
        model_steps: validator.model_steps(),
        stutters: validator.stutters(),
        creates: validator.creates,
        state: validator.state().clone(),
        cut_tail,
    })
}

/// Validate a whole log from `validator`'s state: every line, and at least one.
pub fn validate_log(
    validator: &mut Validator,
    text: &str,
    on_step: impl FnMut(&Step),
) -> Result<Summary, Invalid> {
    let summary = validate_text(validator, text, false, on_step)?;
    if summary.events == 0 {
        return Err(Invalid {
            line: 0,
            problem: Problem::NoEvents,
        });
    }
    Ok(summary)
}

/// Whether a log carries states: decided by its first event that is not `create` (a line
/// that is not JSON counts as one with states, so that today's errors stay as they are).
pub fn has_states(text: &str) -> bool {
    for line in text.lines() {
        let Ok(event) = serde_json::from_str::<Value>(line) else {
            return true;
        };
        if event.get("call").and_then(Value::as_str) == Some("create") {
            continue;
        }
        return event.get("state").is_some();
    }
    true
}

/// Check every line of a log without states with `search` (see [`validate_text`] for
/// `tolerate_cut_tail`), calling `on_line` with each line's number, call and candidate count.
pub fn search_text(
    search: &mut Search,
    text: &str,
    tolerate_cut_tail: bool,
    mut on_line: impl FnMut(usize, &str, usize),
) -> Result<SearchSummary, Invalid> {
    for piece in text.split_inclusive('\n') {
        match piece.strip_suffix('\n') {
            Some(line) => {
                let event = parse_line(search.lines() + 1, line)?;
                let n = search.event(&event)?;
                on_line(search.lines(), event.call.name(), n);
            }
            None if tolerate_cut_tail => {}
            None => {
                return Err(Invalid {
                    line: search.lines() + 1,
                    problem: Problem::CutShort {
                        json_error: serde_json::from_str::<Value>(piece)
                            .err()
                            .map(|e| json_error(&e)),
                    },
                })
            }
        }
    }
    if search.lines() == 0 && !tolerate_cut_tail {
        return Err(Invalid {
            line: 0,
            problem: Problem::NoEvents,
        });
    }
    Ok(search.summary())
}

/// A whole log checked, with states or without.
#[derive(Clone, Debug)]
pub enum Checked {
    // Boxed: a summary holds the model's last state, which is inline (no heap) and large.
    WithStates(Box<Summary>),
    WithoutStates(SearchSummary),
}

impl Checked {
    pub fn events(&self) -> usize {
        match self {
            Checked::WithStates(s) => s.events,
            Checked::WithoutStates(s) => s.events,
        }
    }
}

impl fmt::Display for Checked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Checked::WithStates(s) => s.fmt(f),
            Checked::WithoutStates(s) => s.fmt(f),
        }
    }
}

/// The cluster's shape as a log shows it, for the model's bounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    /// Vbuckets in the first line's state (1 if it cannot be read).
    pub vbuckets: usize,
    /// Replicas in the first line's state (1 if it cannot be read).
    pub replicas: usize,
    /// One more than the largest `kN` any event names (1 if none does).
    pub keys: usize,
    /// The most `fail_over` lines of one bucket (between `create` lines): the model is given
    /// exactly as many failovers.
    pub failovers: usize,
}

/// Read the shape from a log: vbuckets and replicas from the first line's state, or from its
/// `create` line, or else (a log without states or `create`) one more than the largest vb and
/// as many replicas as the largest it names; keys from every line. Lines that do not parse are
/// skipped here; validation reports them.
pub fn shape_of_log(text: &str) -> Shape {
    let mut shape = Shape {
        failovers: 0,
        vbuckets: 1,
        replicas: 1,
        keys: 1,
    };
    let mut created = false;
    let mut failovers = 0usize;
    let mut named = (0, 0);
    for (i, line) in text.lines().enumerate() {
        let Ok(event) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let number = |field: &str| event.get(field).and_then(Value::as_u64);
        if event.get("call").and_then(Value::as_str) == Some("create") {
            // A `create` line starts over from a fresh bucket: failovers count per bucket.
            failovers = 0;
            if !created {
                shape.vbuckets = number("vbuckets").unwrap_or(1) as usize;
                shape.replicas = number("replicas").unwrap_or(1) as usize;
            }
            created = true;
            continue;
        }
        if event.get("call").and_then(Value::as_str) == Some("fail_over") {
            failovers = failovers.saturating_add(1);
            shape.failovers = shape.failovers.max(failovers);
        }
        if let Some(vb) = number("vb") {
            // A vb number as large as u64 allows says "more vbuckets than the model takes".
            named.0 = named.0.max((vb as usize).saturating_add(1));
        }
        if let Some(r) = event
            .get("replica")
            .and_then(Value::as_str)
            .and_then(|r| mapping::canonical_number(r, 'r'))
        {
            let r = usize::try_from(r).unwrap_or(usize::MAX);
            named.1 = named.1.max(r);
        }
        if i == 0 && event.get("state").is_none() && !created {
            created = true;
            shape.vbuckets = usize::MAX;
        }
        if i == 0 {
            let count = |v: Option<&Value>| v.and_then(Value::as_array).map(Vec::len);
            let state = event.get("state");
            if let Some(n) = count(state.and_then(|s| s.pointer("/active/vbuckets"))) {
                shape.vbuckets = n;
            }
            if let Some(n) = count(state.and_then(|s| s.get("replicas"))) {
                shape.replicas = n;
            }
        }
        let mut named = vec![event.get("key")];
        if let Some(list) = event.get("expired").and_then(Value::as_array) {
            named.extend(list.iter().map(|e| e.get("key")));
        }
        for key in named.into_iter().flatten() {
            if let Some(n) = key.as_str().and_then(|k| mapping::canonical_number(k, 'k')) {
                let n = usize::try_from(n).unwrap_or(usize::MAX);
                shape.keys = shape.keys.max(n.saturating_add(1));
            }
        }
    }
    if shape.vbuckets == usize::MAX {
        // Without states or a `create` line: as many as the log names.
        shape.vbuckets = named.0.max(1);
        shape.replicas = named.1;
    }
    shape
}

/// The largest bounds the model takes (`Bounds::into_model` keeps seqnos, uuids and values,
/// which are `u8`, far from overflow).
pub use crate::checked::{MAX_CRASHES, MAX_SHUTDOWNS, MAX_VBUCKETS, MAX_WRITES};
/// The most failed flushes the model takes (`Bounds::into_model`).
pub const MAX_FLUSH_FAILURES: u8 = 20;

/// The most an event log may hold: a line is one call and the whole projected state after it
/// (a few KiB at the model's largest bounds).
pub const LOG_LIMITS: Limits = Limits {
    what: "event log",
    max_bytes: 256 * MIB,
    max_line: 4 * MIB,
};

/// Read an event log within [`LOG_LIMITS`].
pub fn read_log(path: &Path) -> Result<String, String> {
    input::read_file(path, LOG_LIMITS, false).map_err(|e| e.to_string())
}

/// The bounds to validate a log of shape `shape` with: vbuckets, replicas and keys as given,
/// else as the log shows them, each within what the model takes; the counters as given.
pub fn bounds_for_log(
    shape: &Shape,
    vbuckets: Option<u8>,
    replicas: Option<u8>,
    keys: Option<u8>,
    counters: (u8, u8, u8),
) -> Result<Bounds, String> {
    let pick = |what: &str, given: Option<u8>, found: usize, max: u8, min: u8| match given {
        Some(n) => Ok(n),
        None if (min as usize..=max as usize).contains(&found) => Ok(found as u8),
        None => Err(format!(
            "the log shows {found} {what}; the model takes {min}..={max} (give --{what})"
        )),
    };
    let bounds = Bounds {
        vbuckets: pick("vbuckets", vbuckets, shape.vbuckets, MAX_VBUCKETS, 1)?,
        replicas: pick(
            "replicas",
            replicas,
            shape.replicas,
            checked::MAX_REPLICAS,
            0,
        )?,
        keys: pick("keys", keys, shape.keys, checked::MAX_KEYS, 1)?,
        writes: counters.0,
        crashes: counters.1,
        shutdowns: counters.2,
        // A log may show failed flushes; the model is given all it takes.
        flush_failures: MAX_FLUSH_FAILURES,
        // As many as the log's `fail_over` lines: a failover the model is not given would
        // show as a step it does not enable.
        failovers: match u8::try_from(shape.failovers) {
            Ok(n) if n <= checked::MAX_FAILOVERS => n,
            _ => {
                return Err(format!(
                    "the log shows {} failovers; the model takes 0..={}",
                    shape.failovers,
                    checked::MAX_FAILOVERS
                ))
            }
        },
    };
    checked::check_bounds(&bounds)?;
    Ok(bounds)
}

/// Validate a whole log given as bytes in `design`, from a freshly created bucket, with the
/// bounds the log shows and the largest counters: what `warmcheck validate LOG` does, as the
/// entry point the fuzz targets and property tests call. `Err` for input that is not a log
/// (too large, not UTF-8, bounds out of range) or an invalid one.
pub fn parse_log(bytes: &[u8], design: Variant) -> Result<Checked, String> {
    let text = input::read_text(bytes, "the log", LOG_LIMITS).map_err(|e| e.to_string())?;
    let shape = shape_of_log(&text);
    let bounds = bounds_for_log(
        &shape,
        None,
        None,
        None,
        (MAX_WRITES, MAX_CRASHES, MAX_SHUTDOWNS),
    )?;
    let model = bounds.into_model(design);
    if has_states(&text) {
        let mut validator = Validator::new(model);
        validate_log(&mut validator, &text, |_| {})
            .map(|s| Checked::WithStates(Box::new(s)))
            .map_err(|e| e.to_string())
    } else {
        let mut search = Search::new(model, vec![], DEFAULT_MAX_CANDIDATES);
        search_text(&mut search, &text, false, |_, _, _| {})
            .map(Checked::WithoutStates)
            .map_err(|e| e.to_string())
    }
}

/// Bounds for validating logs: the shape given, and the largest counters the model takes, so
/// that a log is not rejected for being long.
pub fn generous_bounds(vbuckets: u8, replicas: u8, keys: u8) -> Bounds {
    Bounds {
        vbuckets,
        replicas,
        keys,
        writes: MAX_WRITES,
        crashes: MAX_CRASHES,
        shutdowns: MAX_SHUTDOWNS,
        flush_failures: MAX_FLUSH_FAILURES,
        failovers: 0,
    }
}
