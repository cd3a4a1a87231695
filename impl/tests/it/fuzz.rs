//! Fuzz targets for the implementation's readers (docs/fuzzing.md): scenario scripts,
//! failover-decide lines, data files and stats.json. Each feeds random bytes, and byte edits of
//! real inputs, through the reader's entry point: it may refuse the input, never panic.
//!
//! bolero runs each target: under `cargo test` (stable) as a property test with random inputs
//! for `BOLERO_RANDOM_TEST_TIME_MS` (default 1 s); with `cargo bolero test` (nightly) under
//! libFuzzer, coverage-guided. The property tests at the end drive structured inputs
//! (directives, JSON edits, resealed data files) with proptest.

use crate::mutate;
use crate::storage_common;

use proptest::prelude::*;
use std::path::Path;
use std::sync::Arc;
use warmcheck_impl::decide;
use warmcheck_impl::engine::StorageBackend;
use warmcheck_impl::scenario::{self, ScenarioOptions};
use warmcheck_impl::stats;
use warmcheck_impl::storage::layout::{FRAME_LEN, MAGIC_LEN};
use warmcheck_impl::storage::{Backend, FaultyBackend, VbFile};

/// The scripts of `impl/testdata`, the seeds of the scenario targets.
fn scripts() -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata");
    let mut out: Vec<Vec<u8>> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| std::fs::read(e.unwrap().path()).unwrap())
        .collect();
    out.sort();
    assert!(!out.is_empty());
    out
}

const DECIDE_LINES: &[&str] = &[
    r#"{"table":[{"id":3,"seq":2},{"id":1,"seq":0}],"start":2,"cur":2,"uuid":1,"snap_start":2,"snap_end":2}"#,
    r#"{"table":[{"id":3,"seq":2},{"id":2,"seq":1},{"id":1,"seq":0}],"start":2,"cur":2,"uuid":1,"snap_start":2,"snap_end":2,"purge":0,"strict":false}"#,
    r#"{"table":[{"id":1,"seq":0}],"start":4,"cur":9,"uuid":5,"snap_start":4,"snap_end":4,"purge":5,"strict":true}"#,
];

const STATS: &[&str] = &[
    "{}",
    r#"{"ep_force_shutdown":"false"}"#,
    r#"{"ep_force_shutdown":"true","x":1}"#,
];

/// A real data file: three commits (sets, a delete, an expiry) with vbstates.
fn data_file() -> Vec<u8> {
    use storage_common::{delete, expire, set, set_ttl, vbstate};
    let backend = Arc::new(FaultyBackend::new());
    let dir = Path::new("/seed");
    backend.create_dir_all(dir).unwrap();
    let path = dir.join("vb0.couch");
    let mut vb = VbFile::open(backend.clone(), &path).unwrap();
    vb.commit(
        &[set(1, "k0", "v1"), set_ttl(2, "k1", "v2", 9)],
        &vbstate(&[(1, 0)], 2),
    )
    .unwrap();
    vb.commit(&[delete(3, "k0")], &vbstate(&[(2, 2), (1, 0)], 3))
        .unwrap();
    vb.commit(&[expire(4, "k1")], &vbstate(&[(2, 2), (1, 0)], 4))
        .unwrap();
    backend.durable_content(&path).unwrap()
}

/// The scenario reader: parse, and run what parses on the in-memory backend (bounded: a
/// script of a few directives).
fn scenario_reader(bytes: &[u8]) {
    if let Ok(chunks) = scenario::parse_script(bytes) {
        let text = String::from_utf8(bytes.to_vec()).unwrap();
        if chunks.len() <= 64 {
            let _ = scenario::run_script(&text, faulty_options());
        }
    }
}

fn faulty_options() -> ScenarioOptions {
    ScenarioOptions {
        backend: Some(StorageBackend::faulty()),
        vbuckets: 2,
        replicas: 2,
        ..ScenarioOptions::default()
    }
}

fn decide_reader(bytes: &[u8]) {
    if let Ok(req) = decide::parse_bytes(bytes, 1) {
        decide::decide(&req);
    }
    let mut out = Vec::new();
    let _ = decide::decide_lines(bytes, &mut out);
}

fn data_file_reader(bytes: &[u8]) {
    let _ = VbFile::open_bytes(bytes);
}

fn stats_reader(bytes: &[u8]) {
    let _ = stats::parse_flag(Path::new("stats.json"), bytes);
}

/// A target over random bytes, and over byte edits of each seed.
fn target(seeds: &[Vec<u8>], reader: fn(&[u8])) {
    bolero::check!()
        .with_type::<Vec<u8>>()
        .for_each(|bytes| reader(bytes));
    let seeds = seeds.to_vec();
    bolero::check!()
        .with_type::<(u8, Vec<(u32, u8, u8)>)>()
        .for_each(move |(seed, edits)| {
            let seed = seeds[*seed as usize % seeds.len()].clone();
            reader(&mutate::bytes(seed, edits));
        });
}

#[test]
fn fuzz_scenario_script() {
    target(&scripts(), scenario_reader);
}

#[test]
fn fuzz_failover_decide_line() {
    let seeds: Vec<Vec<u8>> = DECIDE_LINES.iter().map(|l| l.as_bytes().to_vec()).collect();
    target(&seeds, decide_reader);
}

#[test]
fn fuzz_data_file() {
    target(&[data_file()], data_file_reader);
}

#[test]
fn fuzz_stats_json() {
    let seeds: Vec<Vec<u8>> = STATS.iter().map(|l| l.as_bytes().to_vec()).collect();
    target(&seeds, stats_reader);
}

#[test]
fn the_seeds_are_read_as_they_are() {
    // The targets start from inputs the readers take, so that edits explore near them.
    for s in scripts() {
        scenario::parse_script(&s).unwrap();
    }
    for l in DECIDE_LINES {
        decide::parse_bytes(l.as_bytes(), 1).unwrap();
    }
    let (vb, docs) = VbFile::open_bytes(&data_file()).unwrap();
    assert_eq!((vb.high_seqno(), docs.len()), (4, 4));
    for s in STATS {
        stats::parse_flag(Path::new("stats.json"), s.as_bytes()).unwrap();
    }
}

// ---- property tests: structured inputs ------------------------------------------------------

/// One well-formed directive, with arguments drawn near the edges of what they take (numbers
/// past kv_engine's 32-bit times, a vb or replica one past the cluster's): most run, some are
/// refused, and the script goes on or stops at a line-numbered error.
fn directive() -> impl Strategy<Value = String> {
    let number = prop_oneof![
        8 => 0u64..4,
        1 => Just(u32::MAX as u64),
        1 => Just(u32::MAX as u64 + 1),
        1 => Just(u64::MAX),
    ];
    let cmd = prop::sample::select(vec![
        "set",
        "set",
        "set",
        "delete",
        "get",
        "get",
        "advance-clock",
        "compact",
        "expiry-pager",
        "flush",
        "flush",
        "crash",
        "shutdown",
        "shutdown-begin",
        "shutdown-write-flag",
        "shutdown-stop-flusher",
        "warmup",
        "warmup",
        "stats-snapshot",
        "connect",
        "connect",
        "stream",
        "stream",
        "disk",
        "show",
        "check-divergence",
    ]);
    let phase = prop::sample::select(vec![
        "initialize",
        "create-vbuckets",
        "populate-vbucket-map",
        "loading-data",
        "done",
        "complete",
    ]);
    let small = prop_oneof![9 => 0u8..2, 1 => Just(2u8)];
    (
        cmd,
        0u8..4,
        number.clone(),
        number,
        small.clone(),
        small,
        phase,
        any::<u8>(),
    )
        .prop_map(|(cmd, key, n, m, vb, r, phase, pick)| {
            let mut line = cmd.to_string();
            let with = |bit: u8| pick & bit != 0;
            match cmd {
                "set" => {
                    line += &format!(" k{key}");
                    if with(1) {
                        line += &format!(" ttl={}", m.min(if with(8) { u64::MAX } else { 3 }));
                    }
                    if with(2) {
                        line += &format!(" vb={vb}");
                    }
                    if with(4) {
                        line += &format!(" value=x{n}");
                    }
                }
                "delete" | "get" => {
                    line += &format!(" k{key}");
                    if with(2) {
                        line += &format!(" vb={vb}");
                    }
                }
                "advance-clock" => line += &format!(" {n}"),
                "connect" | "stream" => {
                    line += &format!(" r{}", r + 1);
                    if with(2) {
                        line += &format!(" vb={vb}");
                    }
                }
                "compact" | "flush" | "disk" if with(2) => line += &format!(" vb={vb}"),
                "warmup" if with(1) => line += &format!(" until={phase}"),
                _ => {}
            }
            line
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// Scripts of directives with arguments at the edges run on the in-memory backend
    /// without a panic: each is refused with a line-numbered error or runs.
    #[test]
    fn random_scripts_run_or_are_refused(lines in prop::collection::vec(directive(), 1..40)) {
        let text = lines.join("\n") + "\n";
        if let Err(e) = scenario::run_script(&text, faulty_options()) {
            prop_assert!(e.to_string().starts_with("line "), "{e}");
        }
    }

    /// A failover-decide line with one JSON node changed is decided or refused by line.
    #[test]
    fn edited_decide_lines_are_decided_or_refused(
        seed in 0usize..3,
        edits in prop::collection::vec((any::<u32>(), any::<u8>(), any::<u32>()), 1..6),
    ) {
        let v: serde_json::Value = serde_json::from_str(DECIDE_LINES[seed]).unwrap();
        let line = mutate::json(v, &edits).to_string();
        let mut out = Vec::new();
        if let Err(e) = decide::decide_lines(line.as_bytes(), &mut out) {
            prop_assert!(e.to_string().starts_with("line 1: "), "{e}");
        }
    }

    /// stats.json with one JSON node changed is read or refused naming the file.
    #[test]
    fn edited_stats_json_is_read_or_refused(
        seed in 0usize..3,
        edits in prop::collection::vec((any::<u32>(), any::<u8>(), any::<u32>()), 1..4),
    ) {
        let v: serde_json::Value = serde_json::from_str(STATS[seed]).unwrap();
        let text = mutate::json(v, &edits).to_string();
        if let Err(e) = stats::parse_flag(Path::new("stats.json"), text.as_bytes()) {
            prop_assert!(e.to_string().starts_with("stats file stats.json"), "{e}");
        }
    }

    /// A data file with bytes changed and every record's checksum recomputed (so that the
    /// reader gets past the checksums to the lengths, counts and seqnos they protect) opens or
    /// is refused naming the file.
    #[test]
    fn resealed_data_files_open_or_are_refused(
        edits in prop::collection::vec((any::<u32>(), 0u8..1, any::<u8>()), 1..6),
    ) {
        let mut bytes = mutate::bytes(data_file(), &edits);
        reseal_all(&mut bytes);
        if let Err(e) = VbFile::open_bytes(&bytes) {
            prop_assert!(e.to_string().contains("/fuzz/vb0.couch"), "{e}");
        }
    }
}

/// Recompute the checksum of every record whose frame fits in the file.
fn reseal_all(bytes: &mut [u8]) {
    let mut pos = MAGIC_LEN as usize;
    while pos + FRAME_LEN <= bytes.len() {
        let len = u32::from_le_bytes(bytes[pos..pos + 4].try_into().unwrap()) as usize;
        let Some(end) = (pos + FRAME_LEN)
            .checked_add(len)
            .filter(|e| *e <= bytes.len())
        else {
            break;
        };
        let mut h = crc32fast::Hasher::new();
        h.update(&bytes[pos..pos + 8]);
        h.update(&bytes[pos + FRAME_LEN..end]);
        let crc = h.finalize();
        bytes[pos + 8..pos + 12].copy_from_slice(&crc.to_le_bytes());
        pos = end;
    }
}
