//! Running the model checker: the shared engine behind `check`, with progress, Ctrl-C and the
//! results in a form the reports and the story printer use.

use crate::progress::Progress;
use crate::signals;
use crate::trace::Trace;
use serde::Serialize;
use stateright::{Checker, Expectation, Model, Property};
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::time::Duration;
use warmcheck_model::Warmup;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    Bfs,
    Dfs,
}

#[derive(Clone, Debug)]
pub struct CheckOptions {
    pub strategy: Strategy,
    pub threads: usize,
    pub symmetry: bool,
    pub quiet: bool,
    /// Stop at the first violated `always`; the other verdicts are then `unknown`.
    pub fail_fast: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct PropertyResult {
    pub name: String,
    /// `always` or `sometimes`.
    pub expectation: String,
    /// `holds`, `violated`, `reached`, `unreached`, or `unknown` (the run was interrupted).
    pub status: String,
    /// Steps of the trace, if one was found.
    pub steps: Option<usize>,
    /// Whether `steps` is the fewest any counterexample takes (a breadth-first check that
    /// ran to the violation searches again for it); `false` for a depth-first or interrupted
    /// check, and when there is no counterexample.
    pub shortest: bool,
    /// Seconds from the start of the run until this verdict was known: when a trace was first
    /// found, or the end of the run.
    pub seconds: f64,
    pub trace: Option<Trace>,
}

impl PropertyResult {
    /// Whether this result lets the check pass.
    pub fn ok(&self) -> bool {
        matches!(self.status.as_str(), "holds" | "reached")
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct CheckOutcome {
    pub properties: Vec<PropertyResult>,
    pub states: usize,
    pub unique_states: usize,
    pub max_depth: usize,
    pub seconds: f64,
    /// False when interrupted or stopped early (`--fail-fast`): the verdicts of unfinished
    /// properties are `unknown`.
    pub complete: bool,
    /// Stopped at the first violated `always` (`--fail-fast`), not by a signal.
    pub stopped_early: bool,
}

impl CheckOutcome {
    pub fn passed(&self) -> bool {
        self.complete && self.properties.iter().all(PropertyResult::ok)
    }

    pub fn unique_states_per_second(&self) -> f64 {
        self.unique_states as f64 / self.seconds.max(1e-9)
    }
}

/// Check `model` exhaustively with the given strategy.
pub fn run(model: &Warmup, opts: &CheckOptions) -> CheckOutcome {
    let props = model.properties();
    let mut builder = model.clone().checker().threads(opts.threads.max(1));
    if opts.symmetry {
        builder = builder.symmetry();
    }
    if opts.fail_fast {
        builder = builder.finish_when(stateright::HasDiscoveries::AnyFailures);
    }
    let mut progress = Progress::new(opts.quiet);
    let checker: Box<dyn CheckerLike> = match opts.strategy {
        Strategy::Bfs => Box::new(builder.spawn_bfs()),
        Strategy::Dfs => Box::new(builder.spawn_dfs()),
    };
    let mut interrupted = false;
    // When each property's trace was first seen (polled: discoveries rebuild their paths).
    let mut found_at: HashMap<&'static str, f64> = HashMap::new();
    let mut polled = std::time::Instant::now();
    let mut poll = |checker: &dyn CheckerLike, seconds: f64| {
        for name in checker.discoveries().into_keys() {
            found_at.entry(name).or_insert(seconds);
        }
    };
    while !checker.done() {
        std::thread::sleep(Duration::from_millis(20));
        if polled.elapsed() >= Duration::from_millis(250) {
            polled = std::time::Instant::now();
            poll(checker.as_ref(), progress.elapsed().as_secs_f64());
        }
        if signals::interrupted() {
            interrupted = true;
            break;
        }
        progress.tick(|elapsed| {
            let unique = checker.unique();
            format!(
                "checking: {} states, {} unique, depth {}, {:.0} unique/s, {:.1}s",
                checker.states(),
                unique,
                checker.depth(),
                unique as f64 / elapsed.as_secs_f64(),
                elapsed.as_secs_f64()
            )
        });
    }
    progress.finish();
    // The run's time is the exploration's: the search for the shortest counterexamples below
    // is not counted (it is not what the unique-states rate measures).
    let seconds = progress.elapsed().as_secs_f64();
    poll(checker.as_ref(), seconds);
    let mut discoveries = checker.discoveries();
    let searched_again = opts.strategy == Strategy::Bfs && !interrupted;
    if searched_again {
        // stateright 0.31's BFS overwrites a property's discovery with every later state that
        // also violates it, so what it returns is the last counterexample found, not the
        // shortest. Search again, breadth-first, for the first one.
        let violated: Vec<&Property<Warmup>> = props
            .iter()
            .filter(|p| p.expectation == Expectation::Always && discoveries.contains_key(p.name))
            .collect();
        let depth = violated
            .iter()
            .map(|p| discoveries[p.name].len())
            .max()
            .unwrap_or(0);
        for (name, path) in shortest_violations(model, &violated, depth) {
            discoveries.insert(name, path);
        }
    }
    let stopped_early = opts.fail_fast
        && props
            .iter()
            .any(|q| q.expectation == Expectation::Always && discoveries.contains_key(q.name));
    let properties = props
        .iter()
        .map(|p| {
            let found = discoveries.get(p.name);
            let (expectation, status) = match (&p.expectation, found.is_some()) {
                (Expectation::Always, true) => ("always", "violated"),
                (Expectation::Always, false) => ("always", "holds"),
                (Expectation::Sometimes, true) => ("sometimes", "reached"),
                (Expectation::Sometimes, false) => ("sometimes", "unreached"),
                (Expectation::Eventually, true) => ("eventually", "violated"),
                (Expectation::Eventually, false) => ("eventually", "holds"),
            };
            let status = if (interrupted || stopped_early) && found.is_none() {
                "unknown"
            } else {
                status
            };
            let trace = found.map(|actions| Trace::new(model, Some(p.name), actions.clone()));
            PropertyResult {
                name: p.name.to_string(),
                expectation: expectation.to_string(),
                status: status.to_string(),
                steps: trace.as_ref().map(|t| t.actions.len()),
                shortest: searched_again && p.expectation == Expectation::Always && trace.is_some(),
                seconds: match (found, found_at.get(p.name)) {
                    (Some(_), Some(&at)) => at,
                    _ => seconds,
                },
                trace,
            }
        })
        .collect();
    CheckOutcome {
        properties,
        states: checker.states(),
        unique_states: checker.unique(),
        max_depth: checker.depth(),
        seconds,
        complete: !interrupted && !stopped_early,
        stopped_early,
    }
}

/// The two checker types behind one object-safe face.
trait CheckerLike {
    fn done(&self) -> bool;
    fn states(&self) -> usize;
    fn unique(&self) -> usize;
    fn depth(&self) -> usize;
    fn discoveries(&self) -> std::collections::HashMap<&'static str, Vec<warmcheck_model::Action>>;
}

impl<C: Checker<Warmup>> CheckerLike for C {
    fn done(&self) -> bool {
        self.is_done()
    }
    fn states(&self) -> usize {
        self.state_count()
    }
    fn unique(&self) -> usize {
        self.unique_state_count()
    }
    fn depth(&self) -> usize {
        self.max_depth()
    }
    fn discoveries(&self) -> std::collections::HashMap<&'static str, Vec<warmcheck_model::Action>> {
        Checker::discoveries(self)
            .into_iter()
            .map(|(k, p)| (k, p.into_actions()))
            .collect()
    }
}

/// Breadth-first search for the shortest path to a state violating each of `targets` (all
/// `always` properties), exploring at most `max_depth` steps. Single-threaded and exact: levels
/// are explored in order, so the first violation found for a property is a shortest one.
pub fn shortest_violations(
    model: &Warmup,
    targets: &[&Property<Warmup>],
    max_depth: usize,
) -> HashMap<&'static str, Vec<warmcheck_model::Action>> {
    let hasher = std::collections::hash_map::RandomState::new();
    let fp = |s: &warmcheck_model::State| hasher.hash_one(s);
    let mut found: HashMap<&'static str, Vec<warmcheck_model::Action>> = HashMap::new();
    let mut parents: HashMap<u64, Option<(u64, warmcheck_model::Action)>> = HashMap::new();
    let path_to = |parents: &HashMap<u64, Option<(u64, warmcheck_model::Action)>>, mut f: u64| {
        let mut actions = Vec::new();
        while let Some(Some((parent, action))) = parents.get(&f) {
            actions.push(action.clone());
            f = *parent;
        }
        actions.reverse();
        actions
    };
    let mut frontier: Vec<(warmcheck_model::State, u64)> = model
        .init_states()
        .into_iter()
        .map(|s| {
            let f = fp(&s);
            parents.insert(f, None);
            (s, f)
        })
        .collect();
    let mut actions = Vec::new();
    for depth in 0..=max_depth {
        let mut next = Vec::new();
        for (state, f) in &frontier {
            for p in targets {
                if !found.contains_key(p.name) && !(p.condition)(model, state) {
                    found.insert(p.name, path_to(&parents, *f));
                }
            }
            if found.len() == targets.len() {
                return found;
            }
            if depth == max_depth {
                continue;
            }
            actions.clear();
            model.actions(state, &mut actions);
            for a in actions.drain(..) {
                let Some(n) = model.next_state(state, a.clone()) else {
                    continue;
                };
                let nf = fp(&n);
                if let std::collections::hash_map::Entry::Vacant(e) = parents.entry(nf) {
                    e.insert(Some((*f, a)));
                    next.push((n, nf));
                }
            }
        }
        frontier = next;
    }
    found
}
