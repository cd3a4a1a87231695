//! Fuzz targets for the model-side readers (docs/fuzzing.md): trace files, event logs and model
//! state files. Each feeds random bytes, and byte edits of real inputs, through the reader's
//! entry point (`Trace::parse`, `validate::parse_log`, `checked::parse_state`) and then through
//! what consumes what it accepts (the model's steps, the validator, a replay on the in-memory
//! backend): input may be refused, never cause a panic.
//!
//! bolero runs each target: under `cargo test` (stable) as a property test with random inputs
//! for `BOLERO_RANDOM_TEST_TIME_MS` (default 1 s); with `cargo bolero test` (nightly) under
//! libFuzzer, coverage-guided. The property tests at the end edit the JSON of real inputs
//! node by node with proptest.

use crate::common;
use crate::mutate;

use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;
use stateright::Model;
use std::sync::OnceLock;
use warmcheck_conformance::replay::{self, ImplSetup};
use warmcheck_conformance::trace::Trace;
use warmcheck_conformance::{checked, validate};
use warmcheck_impl::engine::{Phase, SeededBugs, StorageBackend};
use warmcheck_model::{Bounds, State, Variant, Warmup};

fn design() -> Variant {
    Variant::preset("v6.5.1").unwrap()
}

fn model() -> Warmup {
    Bounds {
        vbuckets: 2,
        replicas: 2,
        keys: 2,
        writes: 4,
        crashes: 2,
        shutdowns: 1,
        flush_failures: 1,
        failovers: 0,
    }
    .into_model(design())
}

/// Serialised traces and serialised states.
type Walks = (Vec<Vec<u8>>, Vec<Vec<u8>>);

/// Seeded random walks through the model: each walk's trace, and every state on the way.
fn walks() -> &'static Walks {
    static WALKS: OnceLock<Walks> = OnceLock::new();
    WALKS.get_or_init(|| {
        let model = model();
        let mut rng = StdRng::seed_from_u64(7);
        let (mut traces, mut states) = (Vec::new(), Vec::new());
        for _ in 0..4 {
            let mut s = model.init_states().remove(0);
            let mut actions = Vec::new();
            for _ in 0..40 {
                states.push(serde_json::to_vec(&s).unwrap());
                let mut enabled = Vec::new();
                model.actions(&s, &mut enabled);
                if enabled.is_empty() {
                    break;
                }
                let a = enabled[rng.random_range(0..enabled.len())].clone();
                s = model.next_state(&s, a.clone()).unwrap();
                actions.push(a);
            }
            traces.push(serde_json::to_vec(&Trace::new(&model, None, actions)).unwrap());
        }
        (traces, states)
    })
}

/// A real event log: writes, a flush, streams, a crash and warmup that rolls a replica back,
/// expiries.
fn event_log() -> &'static Vec<u8> {
    static LOG: OnceLock<Vec<u8>> = OnceLock::new();
    LOG.get_or_init(|| {
        let (mut c, log) = common::logged_cluster("/fuzz", design());
        c.set(0, "k0", "v1", Some(1)).unwrap();
        c.set(0, "k1", "v2", None).unwrap();
        c.flush(0).unwrap();
        c.connect(0, 0).unwrap();
        c.stream_all(0, 0).unwrap();
        c.delete(0, "k1").unwrap();
        c.stream_all(0, 0).unwrap();
        c.get(0, "k0").unwrap();
        c.crash().unwrap();
        c.warmup_until(Phase::Complete).unwrap();
        c.connect(0, 0).unwrap();
        c.advance_clock(1).unwrap();
        c.compact(0).unwrap();
        c.flush(0).unwrap();
        let bytes = log.bytes();
        validate::parse_log(&bytes, design()).expect("the seed log is valid");
        bytes
    })
}

fn trace_reader(bytes: &[u8]) {
    if let Ok(trace) = Trace::parse(bytes, "fuzz.json") {
        // Only small traces are replayed: the replay is what `warmcheck replay` does with it.
        if trace.actions.len() <= 60 {
            let setup = ImplSetup {
                backend: StorageBackend::faulty(),
                dir: "/fuzz-replay".into(),
                bugs: SeededBugs::default(),
            };
            let report = replay::replay(&trace.model(), &trace.actions, &setup).unwrap();
            assert!(
                report.matched,
                "an accepted trace replays on the implementation"
            );
        }
    }
}

fn log_reader(bytes: &[u8]) {
    let _ = validate::parse_log(bytes, design());
}

fn state_reader(bytes: &[u8]) {
    let model = model();
    let Ok(state) = checked::parse_state(bytes, &model) else {
        return;
    };
    // What `validate --from` does with it: the model's steps and the validator, from there.
    let mut enabled = Vec::new();
    model.actions(&state, &mut enabled);
    for a in enabled {
        let _ = model.next_state(&state, a);
    }
    let mut v = validate::Validator::starting_at(model, state);
    let text = String::from_utf8(event_log().clone()).unwrap();
    for line in text.lines().take(8) {
        let _ = v.line(line);
    }
}

/// A target over random bytes, and over byte edits of each seed.
fn target(seeds: &'static [Vec<u8>], reader: fn(&[u8])) {
    bolero::check!()
        .with_type::<Vec<u8>>()
        .for_each(|bytes| reader(bytes));
    bolero::check!()
        .with_type::<(u8, Vec<(u32, u8, u8)>)>()
        .for_each(move |(seed, edits)| {
            let seed = seeds[*seed as usize % seeds.len()].clone();
            reader(&mutate::bytes(seed, edits));
        });
}

#[test]
fn fuzz_trace_file() {
    target(&walks().0, trace_reader);
}

#[test]
fn fuzz_event_log() {
    target(std::slice::from_ref(event_log()), log_reader);
}

#[test]
fn fuzz_state_file() {
    target(&walks().1, state_reader);
}

#[test]
fn the_seeds_are_read_as_they_are() {
    for t in &walks().0 {
        Trace::parse(t, "seed").unwrap();
    }
    for s in &walks().1 {
        checked::parse_state(s, &model()).unwrap();
    }
    validate::parse_log(event_log(), design()).unwrap();
}

// ---- property tests: JSON edits ----------------------------------------------------------------

fn edits() -> impl Strategy<Value = Vec<(u32, u8, u32)>> {
    prop::collection::vec((any::<u32>(), any::<u8>(), any::<u32>()), 1..5)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// A trace with JSON nodes changed is refused naming the file, or replays.
    #[test]
    fn edited_traces_are_refused_or_replay(seed in 0usize..4, edits in edits()) {
        let v: Value = serde_json::from_slice(&walks().0[seed]).unwrap();
        let bytes = mutate::json(v, &edits).to_string().into_bytes();
        if let Err(e) = Trace::parse(&bytes, "fuzz.json") {
            prop_assert!(e.starts_with("fuzz.json: "), "{e}");
        } else {
            trace_reader(&bytes);
        }
    }

    /// A real log with one line's JSON changed is valid, or invalid naming a line, or refused
    /// for its shape.
    #[test]
    fn edited_logs_are_judged(line in any::<prop::sample::Index>(), edits in edits()) {
        let text = String::from_utf8(event_log().clone()).unwrap();
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        let i = line.index(lines.len());
        let v: Value = serde_json::from_str(&lines[i]).unwrap();
        lines[i] = mutate::json(v, &edits).to_string();
        let changed = lines.join("\n") + "\n";
        if let Err(e) = validate::parse_log(changed.as_bytes(), design()) {
            prop_assert!(e.starts_with("line ") || e.starts_with("the log shows"), "{e}");
        }
    }

}

proptest! {
    // A state has many nodes and few of them matter to a panic: more cases.
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    /// A reachable state with JSON nodes changed is refused naming the field, or taken: then
    /// the model steps from it and the validator follows a log from it without a panic.
    #[test]
    fn edited_states_are_refused_or_taken(seed in any::<prop::sample::Index>(), edits in edits()) {
        let states = &walks().1;
        let v: Value = serde_json::from_slice(&states[seed.index(states.len())]).unwrap();
        let bytes = mutate::json(v, &edits).to_string().into_bytes();
        match checked::parse_state(&bytes, &model()) {
            Err(e) => prop_assert!(
                e.starts_with("not a model state") || e.starts_with("not a state of this model"),
                "{e}"
            ),
            Ok(_) => state_reader(&bytes),
        }
    }
}

#[test]
fn a_state_the_model_reaches_is_taken_and_one_it_cannot_hold_is_refused() {
    let model = model();
    let s: State = serde_json::from_slice(&walks().1[5]).unwrap();
    checked::check_state(&model, &s).unwrap();
    let mut bad = s.clone();
    bad.vbs[1].replicas.pop();
    assert_eq!(
        checked::check_state(&model, &bad).unwrap_err(),
        "vbs[1].replicas holds 1 replicas; the bounds have 2"
    );
}
