//! Model -> implementation: replay every reachable transition of the model on a system under
//! test, comparing projections after every step.
//!
//! The walk is a depth-first search of the model's graph with a visited set. Every state is
//! expanded once, when it is first reached, and every action enabled there is performed once on
//! the system under test, which is first restored to that state from an image (taken when the
//! walk arrived). So each transition `(state, action)` of the model is exercised exactly once,
//! and the system under test is compared with the model after each.
//!
//! Sharding (`--shard I/N`) splits the transitions, not the walk: every shard walks the whole
//! model graph in the same order (cheap: the model alone runs at about a million states per
//! second), so all shards agree on which state is first reached where. States at depth
//! [`SHARD_DEPTH`] are owned by shard `hash(state) % N`, with the subtree the walk explores
//! below them; states above that depth belong to shard 0. A shard performs on the system under
//! test only the transitions of the states it owns, plus the tree path down to its subtrees.
//! The shards' transitions partition the model's.
//!
//! The jobs of one process (`--jobs`) split their shard the same way, but as they go rather
//! than by hash: every job walks the same graph in the same order, so the k-th state at depth
//! [`JOB_DEPTH`] of the shard is the same state for all of them, and it goes, with its subtree,
//! to the first job that reaches it ([`Jobs`]). A job slowed by a large subtree reaches the next
//! ones late and finds them taken: the jobs finish together, where a split by hash left one
//! job with 63% of the work at the default bounds. The shard's states above [`JOB_DEPTH`] belong
//! to job 0.

use crate::mapping::{self, ApplyError, Difference};
use serde_json::Value;
use stateright::Model;
use std::hash::{Hash, Hasher};
use std::time::Instant;
use warmcheck_model::{Action, State, Warmup};

/// The depth at which subtrees are dealt out to shards.
pub const SHARD_DEPTH: usize = 6;

/// The depth at which a shard's subtrees go to its jobs, first come, first served: deeper than
/// [`SHARD_DEPTH`], for smaller pieces (at the default bounds the largest subtree at depth 6
/// holds 14% of the states, at depth 10 3%, at a cost of 6,146 pieces whose tree paths every
/// job drives).
pub const JOB_DEPTH: usize = 10;

/// The jobs of one process sharing a shard: which of the shard's subtrees at [`JOB_DEPTH`]
/// are taken (by walk order: they are taken in order, so a count says which).
#[derive(Debug, Default)]
pub struct Jobs {
    taken: std::sync::atomic::AtomicU64,
}

impl Jobs {
    /// Take the `k`-th subtree if no job has: true for the first job to ask.
    fn take(&self, k: u64) -> bool {
        use std::sync::atomic::Ordering::Relaxed;
        match self.taken.compare_exchange(k, k + 1, Relaxed, Relaxed) {
            Ok(_) => true,
            Err(taken) => {
                // Every job takes or finds taken the subtrees in the same order.
                assert!(taken > k, "subtree {k} asked for before subtree {taken}");
                false
            }
        }
    }
}

/// One job of a process: its index (job 0 owns the shard's states above [`JOB_DEPTH`]) and
/// what it shares with the others.
#[derive(Clone, Copy, Debug)]
pub struct Job<'a> {
    pub index: usize,
    pub jobs: &'a Jobs,
}

/// Something that can be driven by model actions and compared with the model.
pub trait Sut {
    type Image;
    /// Capture the whole state (memory and storage).
    fn save_image(&mut self) -> Result<Self::Image, String>;
    /// Go back to a captured state.
    fn restore_image(&mut self, image: &Self::Image) -> Result<(), String>;
    /// Perform one model action as one call. [`ApplyError::Broken`] ends the walk with an
    /// error (the system under test cannot go on); any other error is a mismatch.
    fn apply(&mut self, before: &State, action: &Action, after: &State) -> Result<(), ApplyError>;
    /// The projection compared with the model's (an error: the SUT could not say).
    fn project(&mut self) -> Result<Value, String>;
    /// The same projection as compact JSON in the model's field order, for the fast path of
    /// the comparison; `None` when the SUT has no such form (then [`Sut::project`] is used).
    fn project_json(&mut self) -> Result<Option<String>, String> {
        Ok(None)
    }
    /// The fastest path of the comparison, for a SUT in this process: `Some(true)` when its
    /// projection equals the model's at `state` (compared as typed values), `Some(false)` when
    /// it does not (the JSON comparison then names the fields), `None` when the SUT cannot say.
    fn agrees_with(&mut self, _model: &Warmup, _state: &State) -> Option<bool> {
        None
    }
    /// View fields the SUT leaves out (paths with `*`, `docs/sut-protocol.md`): not compared.
    fn omits(&self) -> &[String] {
        &[]
    }
    /// `(resets, actions replayed after them)`: what reaching states without images cost.
    fn navigation(&self) -> (u64, u64) {
        (0, 0)
    }
}

/// Whether `sut` agrees with the model's `state`; the differing fields when it does not.
pub fn compare<S: Sut>(
    model: &Warmup,
    state: &State,
    sut: &mut S,
) -> Result<Vec<Difference>, String> {
    if sut.agrees_with(model, state) == Some(true) {
        return Ok(vec![]);
    }
    if let Some(json) = sut.project_json()? {
        if mapping::model_json(model, state) == json {
            return Ok(vec![]);
        }
    }
    // The strings can differ with every field equal (e.g. a projection built as a JSON value
    // serialises its keys in another order): the field-by-field comparison decides.
    let mut want = mapping::project_model(model, state);
    let mut got = sut.project()?;
    for path in sut.omits() {
        crate::sut::protocol::remove_path(&mut want, path);
        crate::sut::protocol::remove_path(&mut got, path);
    }
    Ok(mapping::diff(&want, &got))
}

/// The outcome of a conformance walk.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct ConformOutcome {
    pub transitions_covered: u64,
    pub transitions_reachable: u64,
    pub states_covered: u64,
    pub states_reachable: u64,
    /// Every call made on the system under test (transitions covered plus navigation).
    pub steps: u64,
    pub seconds: f64,
    pub mismatches: Vec<Mismatch>,
    pub interrupted: bool,
    /// Whether the walk went to its end: every reachable transition was seen (and each of
    /// the shard's performed). `false` when it stopped early (a mismatch with
    /// `stop_at_first_mismatch`, a signal, another job's stop): the reachable counts are then
    /// only what was reached before it stopped.
    pub complete: bool,
    /// Resets of a SUT without images, and the actions replayed after them to reach a
    /// transition's source (included in `steps`).
    pub resets: u64,
    pub replayed_steps: u64,
}

impl ConformOutcome {
    pub fn steps_per_second(&self) -> f64 {
        self.steps as f64 / self.seconds.max(1e-9)
    }
}

/// A transition after which the system under test disagreed with the model.
#[derive(Clone, Debug, serde::Serialize, schemars::JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Mismatch {
    /// The actions from the initial state up to and including the failing one. The walk's
    /// path is not always the shortest; `shortest_mismatch_trace` shortens it.
    pub trace: Vec<Action>,
    pub error: Option<String>,
    pub differences: Vec<Difference>,
    /// One sentence of what the model expected the engine to do at the failing step, and why
    /// (from the action and the first differing field: `explain.rs`).
    pub explanation: String,
}

#[derive(Clone, Copy, Debug, serde::Serialize, schemars::JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Shard {
    pub index: u64,
    #[schemars(range(min = 1))]
    pub count: u64,
}

impl Shard {
    pub const ALL: Shard = Shard { index: 0, count: 1 };
}

fn fingerprint(s: &State) -> u64 {
    // A fixed hasher so that every shard (and every run) agrees.
    let mut h = std::collections::hash_map::DefaultHasher::new();
    s.hash(&mut h);
    h.finish()
}

/// One frame of the walk: a state being expanded.
struct Frame<Img> {
    state: State,
    depth: usize,
    actions: Vec<Action>,
    next: usize,
    /// Whether this job keeps the system under test in step with the walk at this state.
    driven: bool,
    /// The shard that owns this state's transitions.
    shard: u64,
    /// Whether this job performs this state's transitions (its shard owns it, and the job its
    /// subtree at [`JOB_DEPTH`], or it is job 0 above).
    mine: bool,
    image: Option<Img>,
}

/// Walk the model and replay its transitions on `sut`, as the only job of the process.
/// `progress` is called now and then with the running outcome; returning `false` stops the
/// walk (Ctrl-C).
pub fn conform<S: Sut>(
    model: &Warmup,
    sut: &mut S,
    shard: Shard,
    stop_at_first_mismatch: bool,
    progress: impl FnMut(&ConformOutcome) -> bool,
) -> Result<ConformOutcome, String> {
    let jobs = Jobs::default();
    let job = Job {
        index: 0,
        jobs: &jobs,
    };
    conform_job(model, sut, shard, job, stop_at_first_mismatch, progress)
}

/// [`conform`] as one of several jobs of the process sharing `shard`: each job runs this on
/// its own thread with its own system under test and the same [`Jobs`]; together they perform
/// each of the shard's transitions once.
// Long: the depth-first walk's loop with its image and path bookkeeping.
#[allow(clippy::too_many_lines)]
pub fn conform_job<S: Sut>(
    model: &Warmup,
    sut: &mut S,
    shard: Shard,
    job: Job<'_>,
    stop_at_first_mismatch: bool,
    mut progress: impl FnMut(&ConformOutcome) -> bool,
) -> Result<ConformOutcome, String> {
    let start = Instant::now();
    let mut out = ConformOutcome::default();
    // Fingerprints, not states (8 bytes each).
    let mut visited = crate::visited::Fingerprints::default();
    let mut path: Vec<Action> = Vec::new();
    let init = model.init_states().remove(0);
    visited.insert(fingerprint(&init));
    out.states_reachable = 1;

    // The initial state must already agree.
    let diffs = compare(model, &init, sut)?;
    if !diffs.is_empty() {
        let explanation = crate::explain::explain(model, &init, None, &init, None, &diffs);
        out.mismatches.push(Mismatch {
            trace: vec![],
            error: None,
            differences: diffs,
            explanation,
        });
        out.seconds = start.elapsed().as_secs_f64();
        return Ok(out);
    }
    // shard_of(s): shard 0 above SHARD_DEPTH; by fingerprint at SHARD_DEPTH; the tree
    // parent's shard below.
    let shard_of = |s: &State, depth: usize, parent: u64| -> u64 {
        if shard.count == 1 || depth < SHARD_DEPTH {
            0
        } else if depth == SHARD_DEPTH {
            fingerprint(s) % shard.count
        } else {
            parent
        }
    };
    // mine(s), for a state first reached here: in this shard, and then job 0's above
    // JOB_DEPTH, the taker's at JOB_DEPTH, the tree parent's below.
    let mut subtrees = 0u64;
    let mut mine = |in_shard: bool, depth: usize, parent_mine: bool| -> bool {
        if !in_shard {
            false
        } else if depth < JOB_DEPTH {
            job.index == 0
        } else if depth == JOB_DEPTH {
            subtrees += 1;
            job.jobs.take(subtrees - 1)
        } else {
            parent_mine
        }
    };
    let init_shard = shard_of(&init, 0, 0);
    let init_mine = mine(init_shard == shard.index, 0, false);
    if init_mine {
        out.states_covered += 1;
    }
    let mut root = frame(model, init, 0, true, init_shard, init_mine);
    if root.actions.len() > 1 {
        root.image = Some(sut.save_image()?);
    }
    let mut stack: Vec<Frame<S::Image>> = vec![root];
    let mut ticks = 0u64;
    // Progress (and with it the caller's stop flag: a signal) is looked at every 4096
    // transitions, and at least every PROGRESS_EVERY: a slow system under test must not
    // keep a signal waiting for thousands of its steps.
    let mut last_progress = Instant::now();
    let mut stopped = false;
    while let Some(top) = stack.last_mut() {
        if top.next == top.actions.len() {
            stack.pop();
            path.pop();
            continue;
        }
        let action = top.actions[top.next].clone();
        let first_action = top.next == 0;
        top.next += 1;
        let depth = top.depth;
        let next = model
            .next_state(&top.state, action.clone())
            .expect("enabled actions have a next state");
        let fresh = visited.insert(fingerprint(&next));
        out.transitions_reachable += 1;
        if fresh {
            out.states_reachable += 1;
        }
        let edge_owned = top.mine;
        // A job drives the system under test down every tree path to where the subtrees it
        // may own begin (not into them), and through the subtrees it owns.
        let (child_shard, child_mine, child_driven) = if fresh {
            let child_shard = shard_of(&next, depth + 1, top.shard);
            let in_shard = child_shard == shard.index;
            let child_mine = mine(in_shard, depth + 1, top.mine);
            let towards =
                depth + 1 < SHARD_DEPTH || (in_shard && depth + 1 < JOB_DEPTH) || child_mine;
            (child_shard, child_mine, top.driven && towards)
        } else {
            (0, false, false)
        };
        let perform = top.driven && (edge_owned || child_driven);
        let mut reached = true;
        if perform {
            if !first_action {
                let image = top
                    .image
                    .as_ref()
                    .expect("a driven state with several actions has an image");
                sut.restore_image(image)?;
            }
            out.steps += 1;
            let result = sut.apply(&top.state, &action, &next);
            let differences = match &result {
                Ok(()) => compare(model, &next, sut)?,
                Err(ApplyError::Broken(e)) => return Err(e.clone()),
                Err(_) => vec![],
            };
            if edge_owned {
                out.transitions_covered += 1;
            }
            if result.is_err() || !differences.is_empty() {
                let mut trace = path.clone();
                trace.push(action.clone());
                let error = result.err().map(|e| e.to_string());
                let explanation = crate::explain::explain(
                    model,
                    &top.state,
                    Some(&action),
                    &next,
                    error.as_deref(),
                    &differences,
                );
                out.mismatches.push(Mismatch {
                    trace,
                    error,
                    differences,
                    explanation,
                });
                if stop_at_first_mismatch {
                    stopped = true;
                    break;
                }
                reached = false; // do not drive below a state the system did not reach
            }
        }
        if fresh {
            if child_mine {
                out.states_covered += 1;
            }
            path.push(action);
            let driven = child_driven && reached;
            let mut f = frame(model, next, depth + 1, driven, child_shard, child_mine);
            if f.driven && f.actions.len() > 1 {
                f.image = Some(sut.save_image()?);
            }
            stack.push(f);
        }
        ticks += 1;
        if ticks.is_multiple_of(4096) || last_progress.elapsed() >= PROGRESS_EVERY {
            last_progress = Instant::now();
            out.seconds = start.elapsed().as_secs_f64();
            (out.resets, out.replayed_steps) = sut.navigation();
            if !progress(&out) {
                out.interrupted = true;
                stopped = true;
                break;
            }
        }
    }
    out.complete = !stopped;
    out.seconds = start.elapsed().as_secs_f64();
    (out.resets, out.replayed_steps) = sut.navigation();
    out.steps += out.replayed_steps;
    Ok(out)
}

/// The longest a walk goes without calling its `progress` (which says whether to stop).
const PROGRESS_EVERY: std::time::Duration = std::time::Duration::from_millis(50);

fn frame<Img>(
    model: &Warmup,
    state: State,
    depth: usize,
    driven: bool,
    shard: u64,
    mine: bool,
) -> Frame<Img> {
    let mut actions = Vec::new();
    model.actions(&state, &mut actions);
    Frame {
        state,
        depth,
        actions,
        next: 0,
        driven,
        shard,
        mine,
        image: None,
    }
}

/// The model itself as a system under test: conformance of the model with its own projection.
/// Used to test the walk (it must cover every transition and find no mismatch).
pub struct ModelSut<'a> {
    pub model: &'a Warmup,
    pub state: State,
}

impl Sut for ModelSut<'_> {
    type Image = State;
    fn save_image(&mut self) -> Result<State, String> {
        Ok(self.state.clone())
    }
    fn restore_image(&mut self, image: &State) -> Result<(), String> {
        self.state = image.clone();
        Ok(())
    }
    fn apply(&mut self, before: &State, action: &Action, _after: &State) -> Result<(), ApplyError> {
        if *before != self.state {
            return Err(ApplyError::Unexpected("not at the expected state".into()));
        }
        self.state = self
            .model
            .next_state(&self.state, action.clone())
            .ok_or_else(|| ApplyError::Unexpected("no next state".into()))?;
        Ok(())
    }
    fn project(&mut self) -> Result<Value, String> {
        Ok(mapping::project_model(self.model, &self.state))
    }
    fn project_json(&mut self) -> Result<Option<String>, String> {
        Ok(Some(mapping::model_json(self.model, &self.state)))
    }
}

/// The implementation as the system under test.
pub struct ClusterSut {
    pub cluster: warmcheck_impl::engine::Cluster,
}

impl Sut for ClusterSut {
    type Image = warmcheck_impl::engine::ClusterImage;
    fn save_image(&mut self) -> Result<Self::Image, String> {
        self.cluster
            .save_image()
            .map_err(|e| format!("save image: {e}"))
    }
    fn restore_image(&mut self, image: &Self::Image) -> Result<(), String> {
        self.cluster
            .restore_image(image)
            .map_err(|e| format!("restore image: {e}"))
    }
    fn apply(&mut self, before: &State, action: &Action, after: &State) -> Result<(), ApplyError> {
        mapping::apply(&mut self.cluster, before, action, after)
    }
    fn project(&mut self) -> Result<Value, String> {
        Ok(mapping::project_impl(&self.cluster))
    }
    fn project_json(&mut self) -> Result<Option<String>, String> {
        Ok(Some(mapping::impl_json(&self.cluster)))
    }
    fn agrees_with(&mut self, model: &Warmup, state: &State) -> Option<bool> {
        Some(mapping::views_agree(model, state, &self.cluster))
    }
}
