//! The conformance walk itself, checked with the model as the system under test: it must
//! exercise every transition and state the model checker counts, find no mismatch, and its
//! shards must partition the transitions.

use stateright::{Checker, Model};
use warmcheck_conformance::conform::{conform, conform_job, Job, Jobs, ModelSut, Shard};
use warmcheck_model::{Bounds, Variant};

fn small() -> Bounds {
    Bounds {
        vbuckets: 1,
        replicas: 1,
        keys: 1,
        writes: 1,
        crashes: 2,
        shutdowns: 1,
        flush_failures: 1,
        failovers: 0,
    }
}

#[test]
fn the_walk_covers_every_transition_the_checker_counts() {
    let model = small().into_model(Variant::current());
    let checker = model.clone().checker().spawn_bfs().join();
    let mut sut = ModelSut {
        model: &model,
        state: model.init_states().remove(0),
    };
    let out = conform(&model, &mut sut, Shard::ALL, false, |_| true).unwrap();
    assert!(out.mismatches.is_empty());
    assert_eq!(out.states_reachable as usize, checker.unique_state_count());
    assert_eq!(out.states_covered, out.states_reachable);
    // stateright counts the initial state among the states it generates.
    assert_eq!(
        out.transitions_reachable as usize + 1,
        checker.state_count()
    );
    assert_eq!(out.transitions_covered, out.transitions_reachable);
    assert_eq!(out.steps, out.transitions_covered);
}

#[test]
fn shards_partition_the_transitions() {
    let model = small().into_model(Variant::preset("v6.5.1").unwrap());
    let total = {
        let mut sut = ModelSut {
            model: &model,
            state: model.init_states().remove(0),
        };
        conform(&model, &mut sut, Shard::ALL, false, |_| true).unwrap()
    };
    let mut covered = 0;
    let mut states = 0;
    for index in 0..3 {
        let mut sut = ModelSut {
            model: &model,
            state: model.init_states().remove(0),
        };
        let out = conform(&model, &mut sut, Shard { index, count: 3 }, false, |_| true).unwrap();
        assert!(
            out.mismatches.is_empty(),
            "shard {index}: {:?}",
            out.mismatches.first()
        );
        assert_eq!(out.transitions_reachable, total.transitions_reachable);
        assert!(out.transitions_covered > 0, "shard {index} has work");
        covered += out.transitions_covered;
        states += out.states_covered;
    }
    assert_eq!(covered, total.transitions_reachable);
    assert_eq!(states, total.states_reachable);
}

/// The jobs of one process split its shard as they go (first come, first served at
/// `JOB_DEPTH`): whatever the timing, together they perform each of the shard's transitions
/// once. (How evenly depends on the timing, so it is not asserted here: a job the scheduler
/// starts late may find everything taken. docs/performance.md measures it.)
#[test]
fn jobs_share_a_shard_each_transition_once() {
    let model = small().into_model(Variant::current());
    for shard in [Shard::ALL, Shard { index: 1, count: 2 }] {
        let alone = {
            let mut sut = ModelSut {
                model: &model,
                state: model.init_states().remove(0),
            };
            conform(&model, &mut sut, shard, false, |_| true).unwrap()
        };
        for count in [2, 3] {
            let jobs = Jobs::default();
            let outs: Vec<_> = std::thread::scope(|scope| {
                let handles: Vec<_> = (0..count)
                    .map(|index| {
                        let (model, jobs) = (&model, &jobs);
                        scope.spawn(move || {
                            let mut sut = ModelSut {
                                model,
                                state: model.init_states().remove(0),
                            };
                            let job = Job { index, jobs };
                            conform_job(model, &mut sut, shard, job, false, |_| true).unwrap()
                        })
                    })
                    .collect();
                handles.into_iter().map(|h| h.join().unwrap()).collect()
            });
            for out in &outs {
                assert!(out.mismatches.is_empty(), "{:?}", out.mismatches.first());
                assert_eq!(out.transitions_reachable, alone.transitions_reachable);
            }
            let covered: u64 = outs.iter().map(|o| o.transitions_covered).sum();
            let states: u64 = outs.iter().map(|o| o.states_covered).sum();
            assert_eq!(covered, alone.transitions_covered, "{count} jobs");
            assert_eq!(states, alone.states_covered, "{count} jobs");
        }
    }
}

#[test]
fn a_system_that_disagrees_is_caught_with_its_trace() {
    // A "system" whose projection never shows the clean-shutdown flag.
    struct Forgetful<'a>(ModelSut<'a>);
    impl warmcheck_conformance::conform::Sut for Forgetful<'_> {
        type Image = warmcheck_model::State;
        fn save_image(&mut self) -> Result<Self::Image, String> {
            self.0.save_image()
        }
        fn restore_image(&mut self, s: &Self::Image) -> Result<(), String> {
            self.0.restore_image(s)
        }
        fn apply(
            &mut self,
            b: &warmcheck_model::State,
            a: &warmcheck_model::Action,
            n: &warmcheck_model::State,
        ) -> Result<(), warmcheck_conformance::mapping::ApplyError> {
            self.0.apply(b, a, n)
        }
        fn project(&mut self) -> Result<serde_json::Value, String> {
            let mut v = self.0.project()?;
            v["active"]["clean_shutdown_flag"] = serde_json::Value::Bool(false);
            Ok(v)
        }
    }
    let model = small().into_model(Variant::current());
    let mut sut = Forgetful(ModelSut {
        model: &model,
        state: model.init_states().remove(0),
    });
    let out = conform(&model, &mut sut, Shard::ALL, true, |_| true).unwrap();
    assert_eq!(out.mismatches.len(), 1);
    let m = &out.mismatches[0];
    assert_eq!(
        m.trace.last(),
        Some(&warmcheck_model::Action::ShutdownWritesCleanFlag)
    );
    assert_eq!(m.differences.len(), 1);
    assert_eq!(m.differences[0].path, "/active/clean_shutdown_flag");
}
