//! The level-by-level search (`warmcheck_conformance::levels`, behind `check --strategy bfs`)
//! against a plain single-threaded breadth-first search written here (a `HashSet` of whole
//! states, one `Vec` per level): the same unique states, states generated and deepest level;
//! for each property the same verdict and the same trace, the first state in breadth-first
//! order (parents in order, each parent's actions in `Model::actions` order) at the fewest
//! steps; the same with 1 and 2 threads; under `--max-depth`, the same states within it. And
//! against the depth-first checker (stateright's): the same unique states and states, with and
//! without `--symmetry`.

use stateright::{Expectation, Model};
use std::collections::HashSet;
use warmcheck_conformance::check::{self, CheckOptions, Strategy};
use warmcheck_conformance::levels::{self, Live, Search};
use warmcheck_model::{Action, Bounds, State, Variant, Warmup};

fn small() -> Bounds {
    Bounds {
        keys: 1,
        writes: 2,
        crashes: 1,
        shutdowns: 1,
        ..Bounds::default()
    }
}

fn model(design: &str, bounds: Bounds) -> Warmup {
    bounds.into_model(Variant::preset(design).expect("a preset"))
}

fn only(mut m: Warmup, property: &str) -> Warmup {
    m.only = Some(vec![property.to_string()]);
    m
}

/// What the reference search finds.
struct Reference {
    unique: u64,
    states: u64,
    /// Levels checked.
    levels: usize,
    /// Per property, the actions to the first state (in breadth-first order, at the fewest
    /// steps) that violates (`always`) or reaches (`sometimes`) it.
    found: Vec<Option<Vec<Action>>>,
}

/// Breadth-first from the initial state, one level at a time, states checked in order;
/// `max_depth` as `levels::Search` takes it.
fn reference(model: &Warmup, max_depth: Option<usize>) -> Reference {
    let props = model.properties();
    let mut seen: HashSet<State> = HashSet::new();
    let mut level: Vec<(State, Vec<Action>)> = Vec::new();
    let init = model.init_states();
    for s in &init {
        if seen.insert(s.clone()) {
            level.push((s.clone(), Vec::new()));
        }
    }
    let mut out = Reference {
        unique: seen.len() as u64,
        states: init.len() as u64,
        levels: 0,
        found: vec![None; props.len()],
    };
    let mut depth = 0;
    let mut actions = Vec::new();
    while !level.is_empty() && max_depth.is_none_or(|m| depth <= m) {
        let mut next = Vec::new();
        for (s, path) in &level {
            for (i, p) in props.iter().enumerate() {
                let holds = (p.condition)(model, s);
                let hit = if p.expectation == Expectation::Sometimes {
                    holds
                } else {
                    !holds
                };
                if hit && out.found[i].is_none() {
                    out.found[i] = Some(path.clone());
                }
            }
            actions.clear();
            model.actions(s, &mut actions);
            for a in actions.drain(..) {
                if let Some(n) = model.next_state(s, a.clone()) {
                    out.states += 1;
                    if seen.insert(n.clone()) {
                        let mut p = path.clone();
                        p.push(a);
                        next.push((n, p));
                    }
                }
            }
        }
        out.unique = seen.len() as u64;
        out.levels = depth + 1;
        if out.found.iter().all(Option::is_some) {
            // Every verdict is final: the search stops after this level.
            break;
        }
        level = next;
        depth += 1;
    }
    out
}

fn search(model: &Warmup, threads: usize, max_depth: Option<usize>) -> levels::Outcome {
    let s = Search {
        model,
        threads,
        representative: None,
        max_depth,
        fail_fast: false,
    };
    levels::run(&s, &model.init_states(), &Live::default())
}

fn agrees_with_the_reference(design: &str, bounds: Bounds, max_depth: Option<usize>) {
    agrees(model(design, bounds), max_depth);
}

fn agrees(m: Warmup, max_depth: Option<usize>) {
    let (design, bounds) = (m.variant, m.bounds);
    let want = reference(&m, max_depth);
    for threads in [1, 2] {
        let got = search(&m, threads, max_depth);
        let what = format!("{design} {bounds:?} max_depth {max_depth:?}, {threads} threads");
        assert_eq!(got.unique, want.unique, "unique states, {what}");
        assert_eq!(got.states, want.states, "states, {what}");
        assert_eq!(got.levels, want.levels, "levels, {what}");
        assert!(!got.interrupted && !got.failed_fast, "{what}");
        let found: Vec<Option<Vec<Action>>> = got
            .found
            .iter()
            .map(|f| {
                f.as_ref().map(|(root, path)| {
                    assert_eq!(*root, 0);
                    path.clone()
                })
            })
            .collect();
        for ((p, g), w) in m.properties().iter().zip(&found).zip(&want.found) {
            assert_eq!(g, w, "\"{}\", {what}", p.name);
        }
        if max_depth.is_none_or(|m| m >= 5) {
            assert!(
                found.iter().any(Option::is_some),
                "something is found, {what}"
            );
        }
    }
}

#[test]
fn current_agrees_with_a_plain_breadth_first_search() {
    agrees_with_the_reference("current", small(), None);
}

#[test]
fn proposed_agrees_with_a_plain_breadth_first_search() {
    agrees_with_the_reference("proposed", small(), None);
}

#[test]
fn v651_and_mb41942_agree_with_a_plain_breadth_first_search() {
    let b = Bounds {
        writes: 1,
        crashes: 1,
        ..Bounds::default()
    };
    agrees_with_the_reference("v6.5.1", b, None);
    agrees_with_the_reference("mb41942", b, None);
}

/// With every property decided (here the one checked, `--property`), the search ends after
/// the level that decided the last one, as the reference does.
#[test]
fn the_search_ends_once_every_property_is_decided() {
    let m = only(model("current", small()), "no replica diverges");
    let full = reference(&model("current", small()), None);
    let want = reference(&m, None);
    assert!(want.unique < full.unique, "it ends early");
    agrees(m, None);
}

#[test]
fn max_depth_keeps_the_states_within_it_and_the_level_after() {
    for depth in [0, 1, 5, 12] {
        agrees_with_the_reference("current", small(), Some(depth));
    }
}

/// The report's figures against the depth-first checker's (stateright's), with and without
/// `--symmetry` (which stateright's breadth-first checker ignored).
#[test]
fn check_counts_equal_depth_first_with_and_without_symmetry() {
    let bounds = [
        small(),
        Bounds {
            replicas: 2,
            writes: 1,
            keys: 1,
            crashes: 1,
            ..Bounds::default()
        },
    ];
    for b in bounds {
        for design in ["current", "proposed"] {
            for symmetry in [false, true] {
                let m = model(design, b);
                let run = |strategy| {
                    check::run(
                        &m,
                        &CheckOptions {
                            strategy,
                            threads: 2,
                            symmetry,
                            ..CheckOptions::default()
                        },
                    )
                };
                let (bfs, dfs) = (run(Strategy::Bfs), run(Strategy::Dfs));
                let what = format!("{design} {b:?} symmetry {symmetry}");
                assert!(bfs.complete && dfs.complete, "{what}");
                assert_eq!(bfs.unique_states, dfs.unique_states, "{what}");
                assert_eq!(bfs.states, dfs.states, "{what}");
                assert_eq!(bfs.coverage, dfs.coverage, "{what}");
                for (p, q) in bfs.properties.iter().zip(&dfs.properties) {
                    assert_eq!((&p.name, &p.status), (&q.name, &q.status), "{what}");
                    if p.status == "violated" {
                        assert!(p.shortest && p.steps <= q.steps, "{what}: {}", p.name);
                    }
                }
            }
        }
    }
}

/// A shard's part (`--shard I/N`) through the search: the same figures as the depth-first
/// checker's part.
#[test]
fn a_shard_counts_as_depth_first() {
    let m = model("current", small());
    for index in 0..3 {
        let run = |strategy| {
            check::run(
                &m,
                &CheckOptions {
                    strategy,
                    threads: 2,
                    shard: Some(check::Shard { index, count: 3 }),
                    ..CheckOptions::default()
                },
            )
        };
        let (bfs, dfs) = (run(Strategy::Bfs), run(Strategy::Dfs));
        assert_eq!(bfs.unique_states, dfs.unique_states, "shard {index}/3");
        assert_eq!(bfs.states, dfs.states, "shard {index}/3");
        for (p, q) in bfs.properties.iter().zip(&dfs.properties) {
            assert_eq!(
                (&p.name, &p.status),
                (&q.name, &q.status),
                "shard {index}/3"
            );
        }
    }
}

/// Stopped from outside (as Ctrl-C and `--timeout` stop it): it ends, says so, and what it
/// counted is less than the whole.
#[test]
fn a_stopped_search_ends_and_says_so() {
    let m = model("current", small());
    let live = Live::default();
    live.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let s = Search {
        model: &m,
        threads: 2,
        representative: None,
        max_depth: None,
        fail_fast: false,
    };
    let out = levels::run(&s, &m.init_states(), &live);
    assert!(out.interrupted);
    assert!(out.unique < reference(&m, None).unique);
}

/// `--fail-fast` stops after the first level with a violated `always`, and that violation's
/// trace is the shortest one.
#[test]
fn fail_fast_stops_at_the_first_violating_level() {
    let m = model("current", small());
    let want = reference(&m, None);
    let s = Search {
        model: &m,
        threads: 2,
        representative: None,
        max_depth: None,
        fail_fast: true,
    };
    let out = levels::run(&s, &m.init_states(), &Live::default());
    assert!(out.failed_fast);
    assert!(out.unique < want.unique);
    let props = m.properties();
    let first = (0..props.len())
        .filter(|&i| props[i].expectation == Expectation::Always && want.found[i].is_some())
        .min_by_key(|&i| want.found[i].as_ref().unwrap().len())
        .expect("current violates an always property at these bounds");
    assert_eq!(
        out.found[first].as_ref().map(|(_, p)| p),
        want.found[first].as_ref()
    );
}

/// `check` (breadth-first by default) at the default bounds, stopped by SIGINT (Ctrl-C) and by
/// `--timeout`: exit 1, a report that says it is incomplete and why, every verdict not yet
/// decided `unknown`.
#[test]
fn ctrl_c_and_timeout_stop_a_breadth_first_check_with_an_incomplete_report() {
    let dir = tempfile::tempdir().unwrap();
    for how in ["interrupt", "timeout"] {
        let json = dir.path().join(format!("{how}.json"));
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_warmcheck"));
        cmd.args(["check", "--variant", "proposed", "--quiet", "--json"])
            .arg(&json)
            .stdout(std::process::Stdio::null());
        if how == "timeout" {
            cmd.args(["--timeout", "0.5"]);
        }
        let mut child = cmd.spawn().unwrap();
        if how == "interrupt" {
            std::thread::sleep(std::time::Duration::from_millis(700));
            // SAFETY: kill(2) on the child's pid, which has not been waited for.
            assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
        }
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(1), "{how}");
        let report: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
        assert_eq!(report["complete"], false, "{how}: {report:#}");
        assert_eq!(report["stopped_by"], how, "{how}");
        let unknown = report["properties"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["status"] == "unknown")
            .count();
        assert!(
            unknown >= 6,
            "{how}: proposed's always properties are unknown"
        );
        assert!(
            report["unique_states"].as_u64().unwrap() < 5_211_895,
            "{how}"
        );
    }
}
