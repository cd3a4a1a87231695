//! Bad input surfaces as a clear error naming where it is: the line of a scenario script, the
//! file of a damaged data directory (with the storage layer's error kept as the source).

use std::error::Error;
use std::path::Path;
use warmcheck_impl::engine::{
    Cluster, Config, CounterUuids, EngineError, Phase, SeededBugs, StorageBackend,
};
use warmcheck_impl::scenario::{run_script, ScenarioOptions};
use warmcheck_impl::stats::StatsError;
use warmcheck_impl::storage::layout::{FRAME_LEN, KIND_DOC, KIND_VBSTATE, MAGIC_LEN};
use warmcheck_impl::storage::StoreError;

fn config(dir: &Path) -> Config {
    Config {
        variant: "current".parse().unwrap(),
        vbuckets: 1,
        replicas: 1,
        dir: dir.to_path_buf(),
        backend: StorageBackend::file(),
        uuids: Box::new(CounterUuids::new()),
        bugs: SeededBugs::default(),
    }
}

/// A bucket on real files holding `k0` at seqno 1, persisted, shut down cleanly.
fn bucket() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let mut c = Cluster::create(config(dir.path())).unwrap();
    c.set(0, "k0", "v1", None).unwrap();
    c.shutdown().unwrap();
    dir
}

/// The (offset, kind, payload length) of every record of a data file.
fn records(bytes: &[u8]) -> Vec<(usize, u8, usize)> {
    let mut out = Vec::new();
    let mut pos = MAGIC_LEN as usize;
    while pos + FRAME_LEN <= bytes.len() {
        let len = u32::from_le_bytes(bytes[pos..pos + 4].try_into().unwrap()) as usize;
        out.push((pos, bytes[pos + 4], len));
        pos += FRAME_LEN + len;
    }
    out
}

fn reseal(bytes: &mut [u8], offset: usize, len: usize) {
    let mut h = crc32fast::Hasher::new();
    h.update(&bytes[offset..offset + 8]);
    h.update(&bytes[offset + FRAME_LEN..offset + FRAME_LEN + len]);
    let crc = h.finalize();
    bytes[offset + 8..offset + 12].copy_from_slice(&crc.to_le_bytes());
}

fn open_err(dir: &Path) -> EngineError {
    let mut c = match Cluster::open(config(dir)) {
        Err(e) => return e,
        Ok(c) => c,
    };
    c.warmup_until(Phase::Complete)
        .expect_err("a damaged bucket does not warm up")
}

fn store_error(e: &EngineError) -> &StoreError {
    e.source()
        .and_then(|s| s.downcast_ref::<StoreError>())
        .unwrap_or_else(|| panic!("the storage error is kept as the source: {e:?}"))
}

#[test]
fn a_scenario_line_that_makes_no_sense_names_its_line() {
    let opts = ScenarioOptions::default;
    let cases = [
        ("set a\n\nconnect r9\n", "line 3: connect: no replica r9"),
        ("# c\nset\n", "line 2: set: expected 1 argument, got 0"),
        (
            "warmup until=later\n",
            "line 1: warmup: until: unknown phase 'later'",
        ),
        (
            "set a ttl=soon\n",
            "line 1: set: ttl=soon is not a whole number of seconds",
        ),
        ("flush vb=7\n", "line 1: flush: no vb 7"),
        (
            "stream replica1\n",
            "line 1: stream: 'replica1' is not a replica name",
        ),
        (
            "get a colour=blue\n",
            "line 1: get: unknown option 'colour'",
        ),
        ("reboot\n", "line 1: unknown directive 'reboot'"),
    ];
    for (script, expected) in cases {
        let err = run_script(script, opts()).unwrap_err().to_string();
        assert!(err.starts_with(expected), "{script:?}: {err}");
    }
}

#[test]
fn a_vbstate_that_does_not_parse_is_refused_naming_the_data_file() {
    let dir = bucket();
    let path = dir.path().join("active/vb0.couch");
    let mut bytes = std::fs::read(&path).unwrap();
    let (offset, _, len) = *records(&bytes)
        .iter()
        .rev()
        .find(|r| r.1 == KIND_VBSTATE)
        .unwrap();
    bytes[offset + FRAME_LEN] = b'X'; // `{"state"...` -> `X"state"...`, checksum resealed
    reseal(&mut bytes, offset, len);
    std::fs::write(&path, bytes).unwrap();
    let err = open_err(dir.path());
    let msg = err.to_string();
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert!(msg.contains("does not parse as a vbstate"), "{msg}");
    assert!(matches!(
        store_error(&err),
        StoreError::VbStateUnparsable { .. }
    ));
}

#[test]
fn a_corrupt_data_file_is_refused_naming_the_file_and_offset() {
    let dir = bucket();
    let path = dir.path().join("active/vb0.couch");
    let mut bytes = std::fs::read(&path).unwrap();
    let (offset, _, len) = *records(&bytes).iter().find(|r| r.1 == KIND_DOC).unwrap();
    bytes[offset + FRAME_LEN + len - 1] ^= 0xff; // the value's last byte: checksum mismatch
    std::fs::write(&path, bytes).unwrap();
    let err = open_err(dir.path());
    let msg = err.to_string();
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert!(msg.contains(&format!("offset {offset}")), "{msg}");
    assert!(matches!(
        store_error(&err),
        StoreError::CommittedCorrupt { .. }
    ));
}

#[test]
fn a_stats_json_that_is_not_json_is_refused_naming_the_file() {
    let dir = bucket();
    let path = dir.path().join("active/stats.json");
    std::fs::write(&path, "ep_force_shutdown=false\n").unwrap();
    let err = open_err(dir.path());
    let msg = err.to_string();
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert!(msg.contains("not valid JSON (line 1, column 1)"), "{msg}");
    let stats = err
        .source()
        .and_then(|s| s.downcast_ref::<StatsError>())
        .expect("the stats error is kept as the source");
    assert!(matches!(stats, StatsError::NotJson { .. }));
}

#[test]
fn a_locked_data_dir_is_refused_while_another_cluster_holds_it() {
    let dir = bucket();
    let _holder = Cluster::open(config(dir.path())).unwrap();
    let err = Cluster::open(config(dir.path())).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("is in use by another process"), "{msg}");
    assert!(msg.contains(&dir.path().display().to_string()), "{msg}");
    assert!(matches!(store_error(&err), StoreError::Locked { .. }));
}

#[test]
fn a_directory_without_a_bucket_is_refused_by_open_and_one_with_a_bucket_by_create() {
    let empty = tempfile::tempdir().unwrap();
    let err = Cluster::open(config(empty.path())).unwrap_err().to_string();
    assert!(err.contains("holds no bucket"), "{err}");
    let dir = bucket();
    let err = Cluster::create(config(dir.path())).unwrap_err().to_string();
    assert!(err.contains("already holds a bucket"), "{err}");
}

#[test]
fn a_missing_data_file_is_refused_naming_it() {
    let dir = bucket();
    let path = dir.path().join("r1/vb0.couch");
    std::fs::remove_file(&path).unwrap();
    let err = open_err(dir.path()).to_string();
    assert!(err.contains(&path.display().to_string()), "{err}");
    assert!(err.contains("holds no commit"), "{err}");
}
