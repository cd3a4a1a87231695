//! The model as `check` explores it: [`Warmup`] wrapped to count the transitions each kind of
//! action takes (coverage), to stop exploring on request (`--timeout`, Ctrl-C) and to start
//! from chosen states (one shard's part of the state space, `--shard`). The wrapper changes no
//! state and no transition: it delegates every step to [`Warmup`].
//!
//! Coverage costs one uncontended atomic add per transition: each checker thread counts into
//! its own cache-line-aligned stripe, and the stripes are summed when read.
//!
//! Properties are the model's own: the checker (stateright, patched in vendor/stateright)
//! evaluates an `always` or `sometimes` property until it has a discovery for it, keeps the
//! discovery it found first, and does not evaluate the property again.

use serde::ser::{Serialize, SerializeMap, Serializer};
use stateright::{Model, Property};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use warmcheck_model::{Action, State, Warmup};

/// Every kind of action, by its `Action` variant name, in declaration order.
pub const ACTION_KINDS: [&str; 23] = [
    "ClientSets",
    "ClientDeletes",
    "ClockAdvances",
    "ItemExpires",
    "FlusherCommits",
    "FlusherCommitFails",
    "StatsSnapshotRewritesStatsJson",
    "ActiveCrashes",
    "ShutdownBegins",
    "ShutdownWritesCleanFlag",
    "ShutdownStopsFlusher",
    "ShutdownStopsTasks",
    "WarmupInitializes",
    "WarmupCreatesVBuckets",
    "WarmupPopulatesVBucketMap",
    "WarmupPopulatesVBucketMapFlushFailing",
    "WarmupLoadsData",
    "WarmupReachesDone",
    "WarmupCompletes",
    "ReplicaRequestsStream",
    "ReplicaReceives",
    "ClusterFailsOverToReplica",
    "FailedOverNodeIsAddedBack",
];

/// The index of `a`'s kind in [`ACTION_KINDS`]. The match is exhaustive, so a new action does
/// not compile until it is named here.
pub fn kind(a: &Action) -> usize {
    match a {
        Action::ClientSets { .. } => 0,
        Action::ClientDeletes { .. } => 1,
        Action::ClockAdvances => 2,
        Action::ItemExpires { .. } => 3,
        Action::FlusherCommits { .. } => 4,
        Action::FlusherCommitFails { .. } => 5,
        Action::StatsSnapshotRewritesStatsJson => 6,
        Action::ActiveCrashes => 7,
        Action::ShutdownBegins => 8,
        Action::ShutdownWritesCleanFlag => 9,
        Action::ShutdownStopsFlusher => 10,
        Action::ShutdownStopsTasks => 11,
        Action::WarmupInitializes => 12,
        Action::WarmupCreatesVBuckets => 13,
        Action::WarmupPopulatesVBucketMap => 14,
        Action::WarmupPopulatesVBucketMapFlushFailing => 15,
        Action::WarmupLoadsData => 16,
        Action::WarmupReachesDone => 17,
        Action::WarmupCompletes => 18,
        Action::ReplicaRequestsStream { .. } => 19,
        Action::ReplicaReceives { .. } => 20,
        Action::ClusterFailsOverToReplica { .. } => 21,
        Action::FailedOverNodeIsAddedBack => 22,
    }
}

const KINDS: usize = ACTION_KINDS.len();
const STRIPES: usize = 16;

/// One thread's counters, alone on its cache lines.
#[repr(align(128))]
#[derive(Default)]
struct Stripe([AtomicU64; KINDS]);

/// Transitions taken per kind of action, counted by many threads.
pub struct Counters {
    /// The last one is where threads that only replay paths count, unread.
    stripes: Box<[Stripe; STRIPES + 1]>,
}

impl Default for Counters {
    fn default() -> Self {
        Counters {
            stripes: Box::new(std::array::from_fn(|_| Stripe::default())),
        }
    }
}

static NEXT_STRIPE: AtomicUsize = AtomicUsize::new(0);
thread_local! {
    static STRIPE: std::cell::Cell<usize> =
        std::cell::Cell::new(NEXT_STRIPE.fetch_add(1, Ordering::Relaxed) % STRIPES);
}

/// The calling thread's transitions are not counted from now on, and `stop` does not apply to
/// it: stateright rebuilds a discovery's path by replaying it through `actions` and
/// `next_state`, which is no exploration.
pub fn stop_counting_this_thread() {
    STRIPE.with(|s| s.set(STRIPES));
}

impl Counters {
    fn count(&self, kind: usize) {
        let stripe = STRIPE.with(|s| s.get());
        self.stripes[stripe].0[kind].fetch_add(1, Ordering::Relaxed);
    }

    /// The totals so far.
    pub fn snapshot(&self) -> Coverage {
        let mut counts = [0u64; KINDS];
        for stripe in &self.stripes[..STRIPES] {
            for (c, n) in counts.iter_mut().zip(&stripe.0) {
                *c += n.load(Ordering::Relaxed);
            }
        }
        Coverage(counts)
    }
}

/// Transitions taken per kind of action. Serialises as an object from each name in
/// [`ACTION_KINDS`] (all of them, zeros included) to its count.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Coverage(pub [u64; KINDS]);

impl Coverage {
    /// The kinds that never fired.
    pub fn dead(&self) -> Vec<&'static str> {
        ACTION_KINDS
            .iter()
            .zip(self.0)
            .filter(|(_, n)| *n == 0)
            .map(|(name, _)| *name)
            .collect()
    }

    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }

    pub fn add(&mut self, other: &Coverage) {
        for (a, b) in self.0.iter_mut().zip(other.0) {
            *a += b;
        }
    }

    /// From a report's `coverage` object: every kind must be there, and nothing else.
    pub fn from_json(v: &serde_json::Value) -> Result<Coverage, String> {
        let obj = v.as_object().ok_or("coverage: expected an object")?;
        let mut c = Coverage::default();
        for (name, n) in obj {
            let i = ACTION_KINDS
                .iter()
                .position(|k| k == name)
                .ok_or_else(|| format!("coverage: unknown action {name:?}"))?;
            c.0[i] = n
                .as_u64()
                .ok_or_else(|| format!("coverage.{name}: expected a count"))?;
        }
        if let Some(missing) = ACTION_KINDS.iter().find(|k| !obj.contains_key(**k)) {
            return Err(format!("coverage: {missing:?} is missing"));
        }
        Ok(c)
    }
}

impl Serialize for Coverage {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(KINDS))?;
        for (name, n) in ACTION_KINDS.iter().zip(self.0) {
            m.serialize_entry(name, &n)?;
        }
        m.end()
    }
}

/// [`Warmup`] as the checker explores it.
pub struct Checked {
    pub inner: Warmup,
    props: Vec<Property<Warmup>>,
    /// The states exploration starts from: the model's initial states, or a shard's part.
    pub roots: Vec<State>,
    pub counters: Arc<Counters>,
    /// Once set, no state has successors: the checker drains what it holds and finishes.
    pub stop: Arc<AtomicBool>,
}

impl Checked {
    pub fn new(inner: Warmup, roots: Vec<State>) -> Checked {
        let props = inner.properties();
        assert!(
            props.len() <= TRAMPOLINES.len(),
            "at most {} properties",
            TRAMPOLINES.len()
        );
        Checked {
            inner,
            props,
            roots,
            counters: Arc::default(),
            stop: Arc::default(),
        }
    }
}

/// `Property<Checked>` holds a plain `fn`, which cannot capture which property of `Warmup` it
/// stands for; the index is a const parameter instead.
fn trampoline<const I: usize>(m: &Checked, s: &State) -> bool {
    (m.props[I].condition)(&m.inner, s)
}

macro_rules! trampolines {
    ($($i:literal)*) => { [$(trampoline::<$i> as fn(&Checked, &State) -> bool),*] };
}

const TRAMPOLINES: [fn(&Checked, &State) -> bool; 40] = trampolines!(
    0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19
    20 21 22 23 24 25 26 27 28 29 30 31 32 33 34 35 36 37 38 39
);

impl Model for Checked {
    type State = State;
    type Action = Action;

    fn init_states(&self) -> Vec<State> {
        self.roots.clone()
    }

    fn actions(&self, s: &State, actions: &mut Vec<Action>) {
        // A thread replaying a discovery's path must see every action whatever `stop` says.
        if !self.stop.load(Ordering::Relaxed) || STRIPE.with(|t| t.get()) == STRIPES {
            self.inner.actions(s, actions);
        }
    }

    // The inner result is returned as it is (not unwrapped and rewrapped), which spares a copy
    // of the state.
    #[inline]
    fn next_state(&self, last: &State, action: Action) -> Option<State> {
        let kind_of = kind(&action);
        let next = self.inner.next_state(last, action);
        if next.is_some() {
            self.counters.count(kind_of);
        }
        next
    }

    fn properties(&self) -> Vec<Property<Self>> {
        self.props
            .iter()
            .enumerate()
            .map(|(i, p)| Property {
                expectation: p.expectation.clone(),
                name: p.name,
                condition: TRAMPOLINES[i],
            })
            .collect()
    }

    fn within_boundary(&self, s: &State) -> bool {
        self.inner.within_boundary(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_is_named_after_its_variant() {
        // One action of each kind, as its Debug form starts with the variant name.
        let key = warmcheck_model::Key(0);
        let all = [
            Action::ClientSets {
                vb: 0,
                key,
                ttl: false,
            },
            Action::ClientDeletes { vb: 0, key },
            Action::ClockAdvances,
            Action::ItemExpires { vb: 0, key },
            Action::FlusherCommits { vb: 0 },
            Action::FlusherCommitFails { vb: 0 },
            Action::StatsSnapshotRewritesStatsJson,
            Action::ActiveCrashes,
            Action::ShutdownBegins,
            Action::ShutdownWritesCleanFlag,
            Action::ShutdownStopsFlusher,
            Action::ShutdownStopsTasks,
            Action::WarmupInitializes,
            Action::WarmupCreatesVBuckets,
            Action::WarmupPopulatesVBucketMap,
            Action::WarmupPopulatesVBucketMapFlushFailing,
            Action::WarmupLoadsData,
            Action::WarmupReachesDone,
            Action::WarmupCompletes,
            Action::ReplicaRequestsStream { replica: 0, vb: 0 },
            Action::ReplicaReceives {
                replica: 0,
                vb: 0,
                seqno: 1,
            },
            Action::ClusterFailsOverToReplica { replica: 0 },
            Action::FailedOverNodeIsAddedBack,
        ];
        for a in &all {
            let debug = format!("{a:?}");
            let name = debug.split([' ', '{']).next().unwrap();
            assert_eq!(ACTION_KINDS[kind(a)], name);
        }
        let mut kinds: Vec<usize> = all.iter().map(kind).collect();
        kinds.dedup();
        assert_eq!(kinds, (0..KINDS).collect::<Vec<_>>());
    }

    #[test]
    fn coverage_reads_back_and_refuses_unknown_or_missing_actions() {
        let mut c = Coverage::default();
        c.0[3] = 7;
        let v = serde_json::to_value(c).unwrap();
        assert_eq!(v["ItemExpires"], 7);
        assert_eq!(Coverage::from_json(&v).unwrap(), c);
        let mut bad = v.clone();
        bad["Nope"] = 1.into();
        assert!(Coverage::from_json(&bad).unwrap_err().contains("Nope"));
        let mut missing = v;
        missing.as_object_mut().unwrap().remove("ClockAdvances");
        assert!(Coverage::from_json(&missing)
            .unwrap_err()
            .contains("ClockAdvances"));
    }
}
