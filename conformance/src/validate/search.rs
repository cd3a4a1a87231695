//! Trace validation of a log *without states*: calls and results only, as a real engine's log
//! would be (`docs/event-log.md`). Nothing says which model state the engine is in, so the
//! validator keeps every model state that could explain the log so far, as TLC-based trace
//! validation does (Cirstea, Kuppe, Merz et al.; the CCF and etcd teams' logs):
//!
//! 1. the *candidates* start as one state: the model's initial state (a `create` line starts
//!    over from it);
//! 2. before each event, the candidates are closed under the *unlogged* steps (`--unlogged`:
//!    the calls the engine does not log, e.g. its background flusher): every state reachable
//!    by any number of them is a candidate too;
//! 3. each candidate takes the event: the mapping's actions for it (`mapping::action_of_event`)
//!    must be enabled there, and what the call returned must be what the model's call returns
//!    there (`mapping::check_results`); the states after it are the next candidates (duplicates
//!    merged);
//! 4. when no candidate explains an event, that line is the first no behaviour explains: the
//!    error shows the first few candidates before it (their projected views and the unlogged
//!    steps that led to them) and why each fails.
//!
//! Hidden state is inferred this way: with the flusher unlogged, what a crash kept (which
//! writes were flushed before it) is open until a later get, set or stream request tells; the
//! candidates that disagree drop out.
//!
//! The candidate set is capped ([`DEFAULT_MAX_CANDIDATES`], `--max-candidates`): a closure that
//! grows past it is refused with [`Problem::TooManyCandidates`], never left to run.
//!
//! Areas verified: every logged call is a step of some behaviour of the model that also
//! explains every earlier line, with the same results. Areas not verified: the states
//! themselves (the log has none); values the log's sets name are taken as written (the N-th
//! client write's value is whatever its `set` line says; a get must return that very string);
//! what an unlogged step returned.

use super::{check_shape, parse_line, take_actions, Invalid, Problem};
use crate::mapping::{self, Values};
use serde_json::Value;
use stateright::Model;
use std::collections::HashSet;
use std::fmt::Write as _;
use warmcheck_impl::engine::event::{Call, Event};
use warmcheck_model::{Action, State, Warmup};

/// The most candidate states kept at once, unless told otherwise.
pub const DEFAULT_MAX_CANDIDATES: usize = 20_000;

/// How many rejected candidates an error shows.
pub const SHOWN: usize = 3;

/// Calls a log may leave out: the steps they stand for may happen between any two lines.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, clap::ValueEnum, serde::Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
#[value(rename_all = "snake_case")]
pub enum Unlogged {
    /// The flusher's commits (`FlusherCommits`; a failed flush is never inferred).
    Flush,
    /// The periodic stats snapshot (`StatsSnapshotRewritesStatsJson`).
    StatsSnapshot,
    /// Time passing (`ClockAdvances`).
    AdvanceClock,
    /// The expiry pager's and compaction's expiries (`ItemExpires`).
    Expiry,
    /// DCP deliveries to replicas (`ReplicaReceives`).
    StreamDeliver,
    /// Warmup's steps (every `Warmup*` action but a failing vbstate flush).
    WarmupStep,
}

impl Unlogged {
    /// Whether `action` is one of the steps this call stands for.
    pub fn covers(self, action: &Action) -> bool {
        match self {
            Unlogged::Flush => matches!(action, Action::FlusherCommits { .. }),
            Unlogged::StatsSnapshot => matches!(action, Action::StatsSnapshotRewritesStatsJson),
            Unlogged::AdvanceClock => matches!(action, Action::ClockAdvances),
            Unlogged::Expiry => matches!(action, Action::ItemExpires { .. }),
            Unlogged::StreamDeliver => matches!(action, Action::ReplicaReceives { .. }),
            Unlogged::WarmupStep => matches!(
                action,
                Action::WarmupInitializes
                    | Action::WarmupCreatesVBuckets
                    | Action::WarmupPopulatesVBucketMap
                    | Action::WarmupLoadsData
                    | Action::WarmupReachesDone
                    | Action::WarmupCompletes
            ),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Unlogged::Flush => "flush",
            Unlogged::StatsSnapshot => "stats_snapshot",
            Unlogged::AdvanceClock => "advance_clock",
            Unlogged::Expiry => "expiry",
            Unlogged::StreamDeliver => "stream_deliver",
            Unlogged::WarmupStep => "warmup_step",
        }
    }
}

/// A model state that explains the log so far.
#[derive(Clone, Debug, PartialEq)]
pub struct Candidate {
    pub state: State,
    /// The unlogged steps that led to it since the last line.
    pub hidden: Vec<Action>,
}

/// A candidate that does not explain an event, and why.
#[derive(Clone, Debug, PartialEq)]
pub struct Rejected {
    /// Its projected view as one line of JSON (`docs/vocabulary.md`, clock included), as
    /// `scenario`'s `show` prints a state.
    pub view: String,
    /// The unlogged steps that led to it since the last line.
    pub hidden: Vec<Action>,
    /// Why it does not explain the event (one of [`Problem::Unmapped`],
    /// [`Problem::NotEnabled`], [`Problem::ResultDiffers`]).
    pub why: Box<Problem>,
}

/// A whole log without states checked.
#[derive(Clone, Debug)]
pub struct SearchSummary {
    pub events: usize,
    /// Model steps of one behaviour that explains the log (the first candidate's).
    pub model_steps: u64,
    pub stutters: u64,
    pub creates: u64,
    /// The most candidate states held at once (after closing under the unlogged steps).
    pub max_candidates: usize,
    /// Candidates after the last line.
    pub candidates: usize,
}

impl std::fmt::Display for SearchSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = |n: u64| if n == 1 { "" } else { "s" };
        write!(
            f,
            "{} event{}, {} model step{}, {} stutter{}",
            self.events,
            s(self.events as u64),
            self.model_steps,
            s(self.model_steps),
            self.stutters,
            s(self.stutters)
        )?;
        if self.creates > 0 {
            write!(f, ", {} fresh bucket{}", self.creates, s(self.creates))?;
        }
        write!(
            f,
            ", at most {} candidate state{}",
            self.max_candidates,
            s(self.max_candidates as u64)
        )
    }
}

/// Follows a log without states with every model state that explains it. See the module docs.
#[derive(Clone, Debug)]
pub struct Search {
    model: Warmup,
    unlogged: Vec<Unlogged>,
    cap: usize,
    candidates: Vec<Candidate>,
    /// `values[N-1]`: what the N-th client write set (`None` for a delete).
    values: Vec<Option<String>>,
    lines: usize,
    model_steps: u64,
    stutters: u64,
    creates: u64,
    max_candidates: usize,
}

impl Search {
    /// From the model's initial state (a freshly created bucket).
    pub fn new(model: Warmup, unlogged: Vec<Unlogged>, cap: usize) -> Search {
        let init = model.init_states().remove(0);
        Search::starting_at(model, init, unlogged, cap)
    }

    /// From `state`.
    pub fn starting_at(model: Warmup, state: State, unlogged: Vec<Unlogged>, cap: usize) -> Search {
        Search {
            model,
            unlogged,
            cap: cap.max(1),
            candidates: vec![Candidate {
                state,
                hidden: vec![],
            }],
            values: Vec::new(),
            lines: 0,
            model_steps: 0,
            stutters: 0,
            creates: 0,
            max_candidates: 1,
        }
    }

    pub fn model(&self) -> &Warmup {
        &self.model
    }

    /// The states that explain the lines so far.
    pub fn candidates(&self) -> &[Candidate] {
        &self.candidates
    }

    /// Lines checked so far.
    pub fn lines(&self) -> usize {
        self.lines
    }

    pub fn summary(&self) -> SearchSummary {
        SearchSummary {
            events: self.lines,
            model_steps: self.model_steps,
            stutters: self.stutters,
            creates: self.creates,
            max_candidates: self.max_candidates,
            candidates: self.candidates.len(),
        }
    }

    /// Check the next line (without its newline); on error nothing changes.
    pub fn line(&mut self, text: &str) -> Result<usize, Invalid> {
        let event = parse_line(self.lines + 1, text)?;
        self.event(&event)
    }

    /// Check the next line, already parsed. Returns the number of candidates after it.
    pub fn event(&mut self, event: &Event<Value>) -> Result<usize, Invalid> {
        let line = self.lines + 1;
        let invalid = |problem| Invalid { line, problem };
        let call = event.call.name().to_string();
        if event.state.is_some() {
            return Err(invalid(Problem::MixedStates { call, with: true }));
        }
        if let Call::Create { vbuckets, replicas } = event.call {
            check_shape(&self.model, vbuckets, replicas)
                .map_err(|why| invalid(Problem::Shape { why }))?;
            *self = Search {
                lines: line,
                creates: self.creates + 1,
                model_steps: self.model_steps,
                stutters: self.stutters,
                max_candidates: self.max_candidates,
                ..Search::new(self.model.clone(), self.unlogged.clone(), self.cap)
            };
            return Ok(1);
        }
        let before = self.close().map_err(|found| {
            invalid(Problem::TooManyCandidates {
                cap: self.cap,
                found,
            })
        })?;
        self.max_candidates = self.max_candidates.max(before.len());
        // The value a set names: every candidate has seen the same client writes (they are
        // logged), so the write's number is the same in all.
        let mut values = self.values.clone();
        if let (Call::Set { value, .. }, Some(c)) = (&event.call, before.first()) {
            let n = c.state.writes as usize;
            values.resize(n.max(values.len()), None);
            values.truncate(n);
            values.push(Some(value.clone()));
        } else if let (Call::Delete { .. }, Some(c)) = (&event.call, before.first()) {
            let n = c.state.writes as usize;
            values.resize(n.max(values.len()), None);
            values.truncate(n);
            values.push(None);
        }
        let mut after: Vec<Candidate> = Vec::new();
        let mut seen: HashSet<State> = HashSet::new();
        let mut first_taken = None;
        let mut rejected = Vec::new();
        let mut total = 0;
        let mut undecided = None;
        for c in &before {
            match self.take(c, &event.call, Values::Logged(&values)) {
                Ok(taken) => {
                    let state = taken.last().map_or(&c.state, |(_, s)| s).clone();
                    first_taken.get_or_insert(taken.len());
                    if seen.insert(state.clone()) {
                        after.push(Candidate {
                            state,
                            hidden: vec![],
                        });
                    }
                }
                Err(why) => {
                    total += 1;
                    if undecided.is_none() {
                        undecided = Invalid {
                            line: 0,
                            problem: why.clone(),
                        }
                        .undecided();
                    }
                    if rejected.len() < SHOWN {
                        rejected.push(Rejected {
                            view: serde_json::to_string(&self.model.view(&c.state))
                                .expect("views serialise"),
                            hidden: c.hidden.clone(),
                            why: Box::new(why),
                        });
                    }
                }
            }
        }
        let Some(steps) = first_taken else {
            return Err(invalid(Problem::Unexplained {
                call,
                total,
                shown: rejected,
                undecided,
            }));
        };
        if steps == 0 {
            self.stutters += 1;
        } else {
            self.model_steps += steps as u64;
        }
        self.values = values;
        self.candidates = after;
        self.max_candidates = self.max_candidates.max(self.candidates.len());
        self.lines = line;
        Ok(self.candidates.len())
    }

    /// The candidates and every state the unlogged steps reach from them, fewest steps first;
    /// `Err(found)` past the cap.
    fn close(&self) -> Result<Vec<Candidate>, usize> {
        if self.unlogged.is_empty() {
            return Ok(self.candidates.clone());
        }
        let mut out = self.candidates.clone();
        let mut seen: HashSet<State> = out.iter().map(|c| c.state.clone()).collect();
        let mut enabled = Vec::new();
        let mut i = 0;
        while i < out.len() {
            enabled.clear();
            self.model.actions(&out[i].state, &mut enabled);
            for a in enabled.drain(..) {
                if !self.unlogged.iter().any(|u| u.covers(&a)) {
                    continue;
                }
                let Some(next) = self.model.next_state(&out[i].state, a.clone()) else {
                    continue;
                };
                if seen.insert(next.clone()) {
                    if out.len() >= self.cap {
                        return Err(out.len() + 1);
                    }
                    let mut hidden = out[i].hidden.clone();
                    hidden.push(a);
                    out.push(Candidate {
                        state: next,
                        hidden,
                    });
                }
            }
            i += 1;
        }
        Ok(out)
    }

    /// The event's actions from candidate `c`, each with the state after it, or why `c` does
    /// not explain the event.
    fn take(
        &self,
        c: &Candidate,
        call: &Call,
        values: Values,
    ) -> Result<Vec<(Action, State)>, Problem> {
        let name = call.name().to_string();
        let actions =
            mapping::action_of_event(&self.model, &c.state, call, values).map_err(|why| {
                Problem::Unmapped {
                    call: name.clone(),
                    why,
                }
            })?;
        let taken = take_actions(&self.model, &c.state, &name, &actions)?;
        mapping::check_results(&c.state, &taken, call, values).map_err(|d| {
            Problem::ResultDiffers {
                call: name,
                actions,
                difference: Box::new(d),
            }
        })?;
        Ok(taken)
    }
}

/// Why a candidate fails, in one line.
fn why_line(why: &Problem) -> String {
    match why {
        Problem::Unmapped { why, .. } => format!("maps to no model action: {why}"),
        Problem::NotEnabled { action, bound, .. } => format!(
            "{action:?} is not enabled there{}",
            bound
                .as_deref()
                .map(|b| format!(" ({b})"))
                .unwrap_or_default()
        ),
        Problem::ResultDiffers { difference, .. } => difference.to_string(),
        other => format!("{other:?}"),
    }
}

/// The rejected candidates, one block each (no trailing newline; each line starts on a new
/// line): the unlogged steps that led to it, why it fails, its view as one line of JSON.
pub fn render_candidates(total: usize, shown: &[Rejected]) -> String {
    let mut out = String::new();
    if total == 1 && shown.len() == 1 && shown[0].hidden.is_empty() {
        let _ = write!(
            out,
            "\n  the model's state before it:\n    {}",
            shown[0].view
        );
        return out;
    }
    for (i, r) in shown.iter().enumerate() {
        let _ = write!(out, "\n  candidate {} of {total}", i + 1);
        if r.hidden.is_empty() {
            let _ = write!(out, " (no unlogged step since the line before)");
        } else {
            let steps: Vec<String> = r.hidden.iter().map(|a| format!("{a:?}")).collect();
            let _ = write!(out, " (after unlogged {})", steps.join(", "));
        }
        let _ = write!(out, ": {}", why_line(&r.why));
        let _ = write!(out, "\n    {}", r.view);
    }
    if total > shown.len() {
        let _ = write!(out, "\n  ... and {} more", total - shown.len());
    }
    out
}
