//! Running the model checker: the shared engine behind `check`, with progress, Ctrl-C and the
//! results in a form the reports and the story printer use.

pub use crate::conform::Shard;
use crate::explored::{Checked, Coverage};
use crate::levels;
use crate::progress::Progress;
use crate::signals;
use crate::trace::Trace;
use serde::Serialize;
use stateright::{Checker, Expectation, Model, Property};
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::Arc;
use std::time::Duration;
use warmcheck_model::{Action, State, Warmup};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema, clap::ValueEnum)]
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
    /// Explore behaviours of at most this many steps (`--max-depth`).
    pub max_depth: Option<usize>,
    /// Stop exploring after this long (`--timeout`).
    pub timeout: Option<Duration>,
    /// Explore only this part of the state space (`--shard I/N`).
    pub shard: Option<Shard>,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            strategy: Strategy::Bfs,
            threads: 1,
            symmetry: false,
            quiet: true,
            fail_fast: false,
            max_depth: None,
            timeout: None,
            shard: None,
        }
    }
}

#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct PropertyResult {
    pub name: String,
    /// `always` or `sometimes`.
    #[schemars(extend("enum" = ["always", "sometimes", "eventually"]))]
    pub expectation: String,
    /// `holds`, `violated`, `reached`, `unreached`, or `unknown` (the run was interrupted).
    #[schemars(extend("enum" = ["holds", "violated", "reached", "unreached", "unknown"]))]
    pub status: String,
    /// Steps of the trace, if one was found.
    pub steps: Option<usize>,
    /// Whether `steps` is the fewest any counterexample takes (a breadth-first check that
    /// ran to the violation checks every state of fewer steps first); `false` for a
    /// depth-first or interrupted check, and when there is no counterexample.
    pub shortest: bool,
    /// Seconds from the start of the run until this verdict was known: when a trace was first
    /// found, or the end of the run.
    pub seconds: f64,
    pub trace: Option<Trace>,
    /// For an `unreached` `sometimes` that the bounds rule out, why
    /// (`crate::ruled_out::property`, e.g. `--shutdowns 0`): such a verdict does not fail the
    /// check (JUnit: skipped with the reason). `null` otherwise.
    pub ruled_out: Option<String>,
}

impl PropertyResult {
    /// Whether this result lets the check pass: an `always` that holds, a `sometimes` reached,
    /// or one the bounds rule out.
    pub fn ok(&self) -> bool {
        match self.status.as_str() {
            "holds" | "reached" => true,
            "unreached" => self.ruled_out.is_some(),
            _ => false,
        }
    }
}

/// Why a run stopped before it explored every state within its bounds.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum StoppedBy {
    /// Ctrl-C, SIGTERM, SIGHUP.
    Interrupt,
    /// `--fail-fast` at the first violated `always`.
    FailFast,
    /// `--timeout`.
    Timeout,
    /// `--max-depth`: some state lay beyond it.
    MaxDepth,
}

impl StoppedBy {
    /// What the text output says.
    pub fn sentence(self) -> &'static str {
        match self {
            StoppedBy::Interrupt => "Interrupted",
            StoppedBy::FailFast => "Stopped early (--fail-fast) at the first violated `always`",
            StoppedBy::Timeout => {
                "Stopped early: --timeout was reached before every state was explored"
            }
            StoppedBy::MaxDepth => {
                "Stopped early: some states lie beyond --max-depth and were not explored"
            }
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct CheckOutcome {
    pub properties: Vec<PropertyResult>,
    pub states: usize,
    pub unique_states: usize,
    pub max_depth: usize,
    pub seconds: f64,
    /// False when interrupted or stopped early (`--fail-fast`, `--timeout`, `--max-depth`): the
    /// verdicts of unfinished properties are `unknown`.
    pub complete: bool,
    /// Stopped at the first violated `always` (`--fail-fast`), not by a signal.
    pub stopped_early: bool,
    pub stopped_by: Option<StoppedBy>,
    /// Transitions taken per kind of action.
    pub coverage: Coverage,
}

impl CheckOutcome {
    pub fn passed(&self) -> bool {
        self.complete && self.properties.iter().all(PropertyResult::ok)
    }

    pub fn unique_states_per_second(&self) -> f64 {
        self.unique_states as f64 / self.seconds.max(1e-9)
    }
}

/// Where a shard's exploration starts. Every shard walks the same first levels breadth-first
/// ([`split`]), checking each state there; the states of the first level that holds at least
/// [`ROOTS_PER_SHARD`] x N states are dealt out round robin, and each shard explores from its
/// own. Every state is in the shared levels or reachable from some dealt-out state (a shortest
/// path to it crosses that level), so every state is explored by at least one shard.
pub struct Part {
    /// The shared levels: each state with the actions that reach it, level by level.
    pub levels: Vec<(State, Vec<Action>)>,
    /// This shard's roots, with the actions that reach each.
    pub roots: Vec<(State, Vec<Action>)>,
    /// The level the roots are at (steps from the initial state).
    pub depth: usize,
    /// Transitions taken while walking the shared levels.
    pub coverage: Coverage,
}

/// Roots dealt out per shard, at least: enough that the parts come out of similar size.
pub const ROOTS_PER_SHARD: usize = 32;

/// Walk the first levels of `model` breadth-first until a level holds at least
/// `ROOTS_PER_SHARD * shard.count` states (or `max_depth` is reached, or the state space ends),
/// and deal that level out. Deterministic: every shard computes the same levels.
pub fn split(model: &Warmup, shard: Shard, max_depth: Option<usize>) -> Part {
    let mut seen: std::collections::HashSet<State> = std::collections::HashSet::new();
    let mut levels = Vec::new();
    let mut frontier: Vec<(State, Vec<Action>)> = model
        .init_states()
        .into_iter()
        .filter(|s| seen.insert(s.clone()))
        .map(|s| (s, Vec::new()))
        .collect();
    let mut coverage = Coverage::default();
    let mut depth = 0;
    let want = ROOTS_PER_SHARD * shard.count as usize;
    let mut actions = Vec::new();
    while frontier.len() < want && !frontier.is_empty() && max_depth.is_none_or(|m| depth < m) {
        let mut next = Vec::new();
        for (state, path) in &frontier {
            actions.clear();
            model.actions(state, &mut actions);
            for a in actions.drain(..) {
                let Some(n) = model.next_state(state, a.clone()) else {
                    continue;
                };
                if !model.within_boundary(&n) {
                    continue;
                }
                coverage.0[crate::explored::kind(&a)] += 1;
                if seen.insert(n.clone()) {
                    let mut p = path.clone();
                    p.push(a);
                    next.push((n, p));
                }
            }
        }
        levels.extend(std::mem::replace(&mut frontier, next));
        depth += 1;
    }
    let roots = frontier
        .into_iter()
        .enumerate()
        .filter(|(i, _)| *i as u64 % shard.count == shard.index)
        .map(|(_, r)| r)
        .collect();
    Part {
        levels,
        roots,
        depth,
        coverage,
    }
}

/// Check `model` exhaustively with the given strategy (or the part `opts.shard` names).
// Long: each strategy's checker, progress and outcome in one place.
#[allow(clippy::too_many_lines)]
pub fn run(model: &Warmup, opts: &CheckOptions) -> CheckOutcome {
    let props = model.properties();
    let mut progress = Progress::new(opts.quiet);
    let part = match opts.shard {
        Some(shard) => split(model, shard, opts.max_depth),
        None => Part {
            levels: Vec::new(),
            roots: model
                .init_states()
                .into_iter()
                .map(|s| (s, Vec::new()))
                .collect(),
            depth: 0,
            coverage: Coverage::default(),
        },
    };
    // The shared levels are checked here, in order, so what is found there is found at its
    // fewest steps.
    let mut found_before: HashMap<&'static str, Vec<Action>> = HashMap::new();
    for (state, path) in &part.levels {
        for p in &props {
            let hit = match p.expectation {
                Expectation::Sometimes => (p.condition)(model, state),
                _ => !(p.condition)(model, state),
            };
            if hit && !found_before.contains_key(p.name) {
                found_before.insert(p.name, path.clone());
            }
        }
    }
    if opts.strategy == Strategy::Bfs
        && props
            .iter()
            .all(|p| p.expectation != Expectation::Eventually)
    {
        return run_levels(model, opts, part, found_before, progress);
    }
    let checked = Checked::new(
        model.clone(),
        part.roots.iter().map(|(s, _)| s.clone()).collect(),
    );
    let counters = Arc::clone(&checked.counters);
    let stop = Arc::clone(&checked.stop);
    let mut builder = checked.checker().threads(opts.threads.max(1));
    if opts.symmetry {
        // Replicas and vbs, keys and values (model/src/lib.rs, `State::representative_all`).
        builder = builder.symmetry_fn(State::representative_all);
    }
    if opts.fail_fast {
        builder = builder.finish_when(stateright::HasDiscoveries::AnyFailures);
    }
    // stateright skips (does not check) a state whose depth, 1 at a root, reaches the target.
    let depth_target = opts.max_depth.map(|m| m.saturating_sub(part.depth) + 2);
    if let Some(t) = depth_target {
        builder = builder.target_max_depth(t);
    }
    crate::explored::stop_counting_this_thread();
    let checker: Box<dyn CheckerLike> = match opts.strategy {
        Strategy::Bfs => Box::new(builder.spawn_bfs()),
        Strategy::Dfs => Box::new(builder.spawn_dfs()),
    };
    let mut stopped_by = None;
    // When each property's trace was first seen (polled: discoveries rebuild their paths).
    let mut found_at: HashMap<&'static str, f64> = found_before
        .keys()
        .map(|k| (*k, progress.elapsed().as_secs_f64()))
        .collect();
    let mut polled = std::time::Instant::now();
    let mut poll = |checker: &dyn CheckerLike, seconds: f64| {
        for name in checker.discovered() {
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
            stopped_by = Some(StoppedBy::Interrupt);
        } else if opts.timeout.is_some_and(|t| progress.elapsed() >= t) {
            stopped_by = Some(StoppedBy::Timeout);
        }
        if stopped_by.is_some() {
            // No state has successors from now on: the checker's threads drain what they
            // hold and end, while the verdicts are read below.
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
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
    poll(checker.as_ref(), progress.elapsed().as_secs_f64());
    let coverage = {
        let mut c = part.coverage;
        c.add(&counters.snapshot());
        c
    };
    let (states, unique, depth) = (checker.states(), checker.unique(), checker.depth());
    // Each discovery as the actions from the initial state, and the root it went through.
    let root_index: HashMap<&State, usize> = part
        .roots
        .iter()
        .enumerate()
        .map(|(i, (s, _))| (s, i))
        .collect();
    let mut discoveries = found_before.clone();
    for (name, path) in checker.discoveries() {
        if discoveries.contains_key(name) {
            continue;
        }
        let steps = path.into_vec();
        let root = &steps.first().expect("a path has a state").0;
        let mut actions = part.roots[root_index[root]].1.clone();
        actions.extend(steps.into_iter().filter_map(|(_, a)| a));
        discoveries.insert(name, actions);
    }
    if stopped_by.is_none() && depth_target.is_some_and(|t| depth >= t) {
        stopped_by = Some(StoppedBy::MaxDepth);
    }
    // The run's time is the exploration's: the search for the shortest counterexamples below
    // is not counted (it is not what the unique-states rate measures).
    let seconds = progress.elapsed().as_secs_f64();
    let searched_again = opts.strategy == Strategy::Bfs
        && !matches!(stopped_by, Some(StoppedBy::Interrupt | StoppedBy::Timeout));
    if searched_again {
        // stateright 0.31's BFS overwrites a property's discovery with every later state that
        // also violates it, so what it returns is the last counterexample found, not the
        // shortest. Search again, breadth-first from the roots, for the first one (what the
        // shared levels found is the first already).
        let violated: Vec<&Property<Warmup>> = props
            .iter()
            .filter(|p| {
                p.expectation == Expectation::Always
                    && discoveries.contains_key(p.name)
                    && !found_before.contains_key(p.name)
            })
            .collect();
        let depth = violated
            .iter()
            .map(|p| discoveries[p.name].len() - part.depth)
            .max()
            .unwrap_or(0);
        let roots: Vec<State> = part.roots.iter().map(|(s, _)| s.clone()).collect();
        for (name, (root, path)) in shortest_violations(model, &roots, &violated, depth) {
            let mut actions = part.roots[root].1.clone();
            actions.extend(path);
            discoveries.insert(name, actions);
        }
    }
    if stopped_by.is_none()
        && opts.fail_fast
        && props
            .iter()
            .any(|q| q.expectation == Expectation::Always && discoveries.contains_key(q.name))
    {
        stopped_by = Some(StoppedBy::FailFast);
    }
    let properties = results(
        model,
        &props,
        &discoveries,
        stopped_by,
        searched_again,
        &found_at,
        seconds,
    );
    let initial = model.init_states().len();
    CheckOutcome {
        properties,
        // The shared levels' states, then the checker's from the roots on.
        states: initial + part.coverage.total() as usize + states.saturating_sub(part.roots.len()),
        unique_states: part.levels.len() + unique,
        max_depth: if part.roots.is_empty() {
            part.depth
        } else {
            // stateright counts a root as depth 1; a depth past the target was not explored.
            part.depth + depth_target.map_or(depth, |t| depth.min(t - 1))
        },
        seconds,
        complete: stopped_by.is_none(),
        stopped_early: stopped_by == Some(StoppedBy::FailFast),
        stopped_by,
        coverage,
    }
}

/// Each property's verdict, from the discoveries (the actions from the initial state) of a run
/// that ended as `stopped_by` says.
fn results(
    model: &Warmup,
    props: &[Property<Warmup>],
    discoveries: &HashMap<&'static str, Vec<Action>>,
    stopped_by: Option<StoppedBy>,
    searched_again: bool,
    found_at: &HashMap<&'static str, f64>,
    seconds: f64,
) -> Vec<PropertyResult> {
    props
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
            let status = if stopped_by.is_some() && found.is_none() {
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
                ruled_out: (status == "unreached")
                    .then(|| crate::ruled_out::property(&model.bounds, p.name))
                    .flatten()
                    .map(String::from),
            }
        })
        .collect()
}

/// The default breadth-first check: the level-by-level search (`crate::levels`) from the
/// part's roots, polled for progress, Ctrl-C and `--timeout`.
fn run_levels(
    model: &Warmup,
    opts: &CheckOptions,
    part: Part,
    found_before: HashMap<&'static str, Vec<Action>>,
    mut progress: Progress,
) -> CheckOutcome {
    let props = model.properties();
    let roots: Vec<State> = part.roots.iter().map(|(s, _)| s.clone()).collect();
    let search = levels::Search {
        model,
        threads: opts.threads.max(1),
        representative: if opts.symmetry {
            Some(State::representative_all)
        } else {
            None
        },
        max_depth: opts.max_depth.map(|m| m.saturating_sub(part.depth)),
        fail_fast: opts.fail_fast,
    };
    let live = levels::Live::default();
    let mut stopped_by = None;
    let mut found_at: HashMap<&'static str, f64> = found_before
        .keys()
        .map(|k| (*k, progress.elapsed().as_secs_f64()))
        .collect();
    let out = std::thread::scope(|scope| {
        let handle = scope.spawn(|| levels::run(&search, &roots, &live));
        let mut poll = |seconds: f64| {
            let bits = live.found.load(std::sync::atomic::Ordering::Relaxed);
            for (i, p) in props.iter().enumerate() {
                if bits >> i & 1 == 1 {
                    found_at.entry(p.name).or_insert(seconds);
                }
            }
        };
        while !handle.is_finished() {
            std::thread::sleep(Duration::from_millis(20));
            poll(progress.elapsed().as_secs_f64());
            if stopped_by.is_none() {
                if signals::interrupted() {
                    stopped_by = Some(StoppedBy::Interrupt);
                } else if opts.timeout.is_some_and(|t| progress.elapsed() >= t) {
                    stopped_by = Some(StoppedBy::Timeout);
                }
                if stopped_by.is_some() {
                    live.stop.store(true, std::sync::atomic::Ordering::Relaxed);
                }
            }
            progress.tick(|elapsed| {
                let unique = live.unique.load(std::sync::atomic::Ordering::Relaxed);
                format!(
                    "checking: {} states, {} unique, depth {}, {:.0} unique/s, {:.1}s",
                    live.states.load(std::sync::atomic::Ordering::Relaxed),
                    unique,
                    live.depth.load(std::sync::atomic::Ordering::Relaxed),
                    unique as f64 / elapsed.as_secs_f64(),
                    elapsed.as_secs_f64()
                )
            });
        }
        let out = handle.join().expect("the search panicked");
        poll(progress.elapsed().as_secs_f64());
        out
    });
    progress.finish();
    let seconds = progress.elapsed().as_secs_f64();
    if stopped_by.is_none() && out.interrupted {
        // Set by a signal between the last poll and the end of the search.
        stopped_by = Some(StoppedBy::Interrupt);
    }
    let mut discoveries = found_before;
    for (p, found) in props.iter().zip(&out.found) {
        if let (Some((root, path)), false) = (found, discoveries.contains_key(p.name)) {
            let mut actions = part.roots[*root].1.clone();
            actions.extend(path.iter().cloned());
            discoveries.insert(p.name, actions);
        }
    }
    if stopped_by.is_none() && out.failed_fast {
        stopped_by = Some(StoppedBy::FailFast);
    }
    if stopped_by.is_none() && out.beyond_max_depth {
        stopped_by = Some(StoppedBy::MaxDepth);
    }
    if stopped_by.is_none()
        && opts.fail_fast
        && props
            .iter()
            .any(|q| q.expectation == Expectation::Always && discoveries.contains_key(q.name))
    {
        stopped_by = Some(StoppedBy::FailFast);
    }
    let searched_again = !matches!(stopped_by, Some(StoppedBy::Interrupt | StoppedBy::Timeout));
    let mut coverage = part.coverage;
    coverage.add(&out.coverage);
    let properties = results(
        model,
        &props,
        &discoveries,
        stopped_by,
        searched_again,
        &found_at,
        seconds,
    );
    CheckOutcome {
        properties,
        states: model.init_states().len()
            + part.coverage.total() as usize
            + (out.states as usize).saturating_sub(part.roots.len()),
        unique_states: part.levels.len() + out.unique as usize,
        max_depth: part.depth + out.levels,
        seconds,
        complete: stopped_by.is_none(),
        stopped_early: stopped_by == Some(StoppedBy::FailFast),
        stopped_by,
        coverage,
    }
}

/// The two checker types behind one object-safe face.
trait CheckerLike {
    fn done(&self) -> bool;
    fn states(&self) -> usize;
    fn unique(&self) -> usize;
    fn depth(&self) -> usize;
    /// The names of the properties with a discovery (cheap: no path is rebuilt).
    fn discovered(&self) -> Vec<&'static str>;
    fn discoveries(&self) -> HashMap<&'static str, stateright::Path<State, Action>>;
}

impl<C: Checker<Checked>> CheckerLike for C {
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
    fn discovered(&self) -> Vec<&'static str> {
        Checker::discoveries(self).into_keys().collect()
    }
    fn discoveries(&self) -> HashMap<&'static str, stateright::Path<State, Action>> {
        Checker::discoveries(self)
    }
}

/// Breadth-first search for the shortest path from one of `roots` to a state violating each of
/// `targets` (all `always` properties), exploring at most `max_depth` steps. Single-threaded
/// and exact: levels are explored in order, so the first violation found for a property is a
/// shortest one. Returns, per property, the root's index and the actions from it.
pub fn shortest_violations(
    model: &Warmup,
    roots: &[State],
    targets: &[&Property<Warmup>],
    max_depth: usize,
) -> HashMap<&'static str, (usize, Vec<Action>)> {
    /// How a state was first reached: it is the root with this index, or by this action from
    /// the state with this fingerprint.
    type Parents = HashMap<u64, Result<(u64, Action), usize>>;
    let hasher = std::collections::hash_map::RandomState::new();
    let fp = |s: &State| hasher.hash_one(s);
    let mut found: HashMap<&'static str, (usize, Vec<Action>)> = HashMap::new();
    let mut parents: Parents = HashMap::new();
    let path_to = |parents: &Parents, mut f: u64| {
        let mut actions = Vec::new();
        loop {
            match &parents[&f] {
                Ok((parent, action)) => {
                    actions.push(action.clone());
                    f = *parent;
                }
                Err(root) => {
                    actions.reverse();
                    return (*root, actions);
                }
            }
        }
    };
    let mut frontier: Vec<(State, u64)> = Vec::new();
    for (i, s) in roots.iter().enumerate() {
        let f = fp(s);
        if let std::collections::hash_map::Entry::Vacant(e) = parents.entry(f) {
            e.insert(Err(i));
            frontier.push((s.clone(), f));
        }
    }
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
                    e.insert(Ok((*f, a)));
                    next.push((n, nf));
                }
            }
        }
        frontier = next;
    }
    found
}
