//! Bad input surfaces as a clear error naming where it is: the line of a scenario script, the
//! file of a damaged data directory (with the storage layer's error kept as the source).

use std::error::Error;
use std::path::Path;
use std::sync::Arc;
use warmcheck_impl::engine::{
    Cluster, Config, CounterUuids, EngineError, Phase, SeededBugs, StorageBackend, MAX_CLOCK_SECS,
    MAX_KEY_BYTES, MAX_VALUE_BYTES,
};
use warmcheck_impl::scenario::{run_script, ScenarioOptions};
use warmcheck_impl::stats::StatsError;
use warmcheck_impl::storage::layout::{FRAME_LEN, KIND_DOC, KIND_VBSTATE, MAGIC_LEN};
use warmcheck_impl::storage::{Doc, FileBackend, Op, StoreError, VbFile, VbState};

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

/// The storage layer's typed error, matched on the engine's variant (and kept as the source).
fn store_error(e: &EngineError) -> &StoreError {
    let EngineError::Storage(store) = e else {
        panic!("a data-file error is EngineError::Storage: {e:?}");
    };
    let source = e.source().and_then(|s| s.downcast_ref::<StoreError>());
    assert!(
        source.is_some_and(|s| std::ptr::eq(s, store)),
        "the storage error is kept as the source"
    );
    store
}

/// Append one commit to a data file through the storage layer itself: checksums valid, content
/// chosen by the test.
fn append_commit(path: &Path, docs: &[Doc], edit: impl FnOnce(&mut VbState)) {
    let mut file = VbFile::open(Arc::new(FileBackend::new()), path).unwrap();
    let mut state = file.vbstate().unwrap().clone();
    edit(&mut state);
    file.commit(docs, &state).unwrap();
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
    assert!(
        matches!(err, EngineError::Stats(StatsError::NotJson { .. })),
        "{err:?}"
    );
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
    let err = open_err(dir.path());
    assert!(
        matches!(&err, EngineError::BadDataFile { path: p, .. } if *p == path),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert!(msg.contains("holds no commit"), "{msg}");
}

#[test]
fn a_data_file_with_a_gap_in_its_seqnos_is_refused_naming_it_not_a_panic() {
    for file in ["active/vb0.couch", "r1/vb0.couch"] {
        let dir = bucket();
        let path = dir.path().join(file);
        let doc = Doc {
            seqno: 3,
            key: "k1".into(),
            op: Op::Set,
            value: Some("v".into()),
            expiry: None,
            cas: 1,
        };
        append_commit(&path, &[doc], |_| {});
        let err = open_err(dir.path());
        assert!(
            matches!(&err, EngineError::BadDataFile { path: p, .. } if *p == path),
            "{file}: {err:?}"
        );
        let msg = err.to_string();
        assert!(msg.contains(&path.display().to_string()), "{msg}");
        assert!(
            msg.contains("document 1 has seqno 3, expected 1")
                || msg.contains("document 2 has seqno 3, expected 2"),
            "{msg}"
        );
    }
}

#[test]
fn a_vbstate_whose_snapshot_starts_above_the_high_seqno_is_refused_not_a_panic() {
    let dir = bucket();
    let path = dir.path().join("active/vb0.couch");
    append_commit(&path, &[], |s| {
        s.snap_start = 5;
        s.snap_end = 5;
    });
    // Unclean, so that warmup would create an entry at snap_start (5) above the high seqno (1).
    std::fs::write(dir.path().join("active/stats.json"), "{}").unwrap();
    let err = open_err(dir.path());
    let msg = err.to_string();
    assert!(matches!(&err, EngineError::BadDataFile { .. }), "{err:?}");
    assert!(
        msg.contains("snapshot [5, 5] starts above the high seqno 1"),
        "{msg}"
    );
}

/// A running cluster on the fault-injecting backend (no disk I/O for the large values).
fn running() -> Cluster {
    Cluster::create(Config::new(
        "/limits",
        StorageBackend::faulty(),
        "current".parse().unwrap(),
    ))
    .unwrap()
}

#[test]
fn a_key_of_251_bytes_or_an_empty_key_is_refused_at_set_and_nothing_changes() {
    let mut c = running();
    let before = c.view();
    for key in ["k".repeat(MAX_KEY_BYTES + 1), String::new()] {
        let err = c.set(0, &key, "v", None).unwrap_err();
        assert!(
            matches!(err, EngineError::InvalidKey { len } if len == key.len()),
            "{err:?}"
        );
        assert!(err.is_input(), "{err:?}");
        assert!(
            err.to_string()
                .contains("kv_engine takes keys of 1 to 250 bytes"),
            "{err}"
        );
        assert_eq!(c.view(), before, "a refused set changes nothing");
    }
    // get and delete refuse the same keys (kv_engine validates every command's key).
    assert!(matches!(
        c.get(0, ""),
        Err(EngineError::InvalidKey { len: 0 })
    ));
    assert!(matches!(
        c.delete(0, &"k".repeat(300)),
        Err(EngineError::InvalidKey { len: 300 })
    ));
    // A key of exactly 250 bytes goes all the way: flushed, crashed, warmed up, read back.
    let key = "k".repeat(MAX_KEY_BYTES);
    c.set(0, &key, "v", None).unwrap();
    c.flush(0).unwrap();
    c.crash().unwrap();
    c.warmup_until(Phase::Complete).unwrap();
    assert_eq!(c.get(0, &key).unwrap().as_deref(), Some("v"));
}

#[test]
fn a_value_over_20_mib_is_refused_at_set_and_one_of_20_mib_is_flushed() {
    assert_eq!(
        MAX_VALUE_BYTES,
        20 * 1024 * 1024,
        "kv_engine's max_item_size"
    );
    let mut c = running();
    let before = c.view();
    let big = "x".repeat(MAX_VALUE_BYTES + 1);
    let err = c.set(0, "k", &big, None).unwrap_err();
    assert!(
        matches!(err, EngineError::TooBig { len } if len == MAX_VALUE_BYTES + 1),
        "{err:?}"
    );
    assert!(err.to_string().contains("max_item_size"), "{err}");
    assert_eq!(c.view(), before, "a refused set changes nothing");
    // Refused whatever the node's state: the limit is checked before traffic is.
    c.crash().unwrap();
    assert!(matches!(
        c.set(0, "k", &big, None),
        Err(EngineError::TooBig { .. })
    ));
    c.warmup_until(Phase::Complete).unwrap();
    let limit = &big[..MAX_VALUE_BYTES];
    c.set(0, "k", limit, None).unwrap();
    c.flush(0).unwrap();
    c.crash().unwrap();
    c.warmup_until(Phase::Complete).unwrap();
    assert_eq!(
        c.get(0, "k").unwrap().map(|v| v.len()),
        Some(MAX_VALUE_BYTES)
    );
}

#[test]
fn a_scenario_set_over_a_limit_stops_the_script_naming_its_line() {
    let opts = ScenarioOptions::default;
    let long_key = format!("set a\n\nset {}\n", "k".repeat(251));
    let err = run_script(&long_key, opts()).unwrap_err().to_string();
    assert_eq!(
        err,
        "line 3: set: InvalidKey: a key of 251 bytes (kv_engine takes keys of 1 to 250 bytes)"
    );
    let big_value = format!("set a value={}\n", "x".repeat(MAX_VALUE_BYTES + 1));
    let err = run_script(&big_value, opts()).unwrap_err().to_string();
    assert_eq!(
        err,
        format!(
            "line 1: set: TooBig: a value of {} bytes (kv_engine's max_item_size is {} bytes)",
            MAX_VALUE_BYTES + 1,
            MAX_VALUE_BYTES
        )
    );
}

#[test]
fn the_clock_never_passes_its_limit_and_a_refused_advance_leaves_it_where_it_was() {
    let mut c = running();
    c.advance_clock(5).unwrap();
    let before = c.view();
    for secs in [u64::MAX, MAX_CLOCK_SECS - 4] {
        let err = c.advance_clock(secs).unwrap_err();
        assert!(matches!(err, EngineError::Overflow(_)), "{err:?}");
        assert!(err.is_input(), "{err:?}");
        assert!(
            err.to_string()
                .contains(&format!("would pass its limit of {MAX_CLOCK_SECS} s")),
            "{err}"
        );
        assert_eq!(c.view(), before, "a refused advance changes nothing");
    }
    c.advance_clock(MAX_CLOCK_SECS - 5).unwrap();
    assert_eq!(c.clock(), MAX_CLOCK_SECS);
    assert!(matches!(c.advance_clock(1), Err(EngineError::Overflow(_))));
    c.advance_clock(0).unwrap();
    assert_eq!(c.clock(), MAX_CLOCK_SECS, "time never goes backwards");
    // At the limit, a set still gets a CAS (the clock in nanoseconds fits).
    c.set(0, "k", "v", None).unwrap();
}

#[test]
fn a_ttl_whose_expiry_time_would_pass_the_clock_limit_is_refused_at_set() {
    let mut c = running();
    c.advance_clock(10).unwrap();
    let before = c.view();
    for ttl in [u64::MAX, MAX_CLOCK_SECS - 9] {
        let err = c.set(0, "k", "v", Some(ttl)).unwrap_err();
        assert!(matches!(err, EngineError::Overflow(_)), "{err:?}");
        assert!(
            err.to_string().contains(&format!("ttl {ttl} at clock 10")),
            "{err}"
        );
        assert_eq!(c.view(), before, "a refused set changes nothing");
    }
    c.set(0, "k", "v", Some(MAX_CLOCK_SECS - 10)).unwrap();
    let items = c.active_items(0).unwrap();
    assert_eq!(items[0].expiry, Some(MAX_CLOCK_SECS));
}

/// A bucket whose active vb 0 has `max_cas` on disk (a vbstate the storage layer accepts), warmed
/// up and running.
fn running_with_max_cas(dir: &Path, max_cas: u64) -> Cluster {
    append_commit(&dir.join("active/vb0.couch"), &[], |s| s.max_cas = max_cas);
    let mut c = Cluster::open(config(dir)).unwrap();
    c.warmup_until(Phase::Complete).unwrap();
    c
}

#[test]
fn a_cas_at_u64_max_is_refused_not_wrapped() {
    let dir = bucket();
    let mut c = running_with_max_cas(dir.path(), u64::MAX - 1);
    c.set(0, "a", "v", None).unwrap();
    assert_eq!(c.active_items(0).unwrap().last().unwrap().cas, u64::MAX);
    let before = c.view();
    let err = c.set(0, "b", "v", None).unwrap_err();
    assert!(matches!(err, EngineError::Overflow(_)), "{err:?}");
    assert!(err.to_string().contains("would take the CAS past"), "{err}");
    assert!(matches!(c.delete(0, "a"), Err(EngineError::Overflow(_))));
    assert_eq!(c.view(), before, "a refused mutation changes nothing");
}

#[test]
fn expiries_that_would_overflow_the_cas_are_all_refused_none_half_done() {
    let dir = bucket();
    let mut c = running_with_max_cas(dir.path(), u64::MAX - 3);
    c.set(0, "a", "v", Some(1)).unwrap(); // cas MAX-2
    c.set(0, "b", "v", Some(1)).unwrap(); // cas MAX-1: room for one more
    c.advance_clock(1).unwrap();
    let before = c.view();
    let err = c.compact(0).unwrap_err();
    assert!(matches!(err, EngineError::Overflow(_)), "{err:?}");
    assert!(err.to_string().contains("2 more mutations"), "{err}");
    assert!(matches!(
        c.run_expiry_pager(),
        Err(EngineError::Overflow(_))
    ));
    assert_eq!(c.view(), before, "neither expired one of the two");
    assert_eq!(c.get(0, "a").unwrap(), None); // the last CAS: expires a
    assert!(matches!(c.get(0, "b"), Err(EngineError::Overflow(_))));
}

#[test]
fn a_data_file_claiming_seqno_u64_max_is_refused_so_no_seqno_can_overflow() {
    let dir = bucket();
    let path = dir.path().join("active/vb0.couch");
    let doc = Doc {
        seqno: u64::MAX,
        key: "k1".into(),
        op: Op::Set,
        value: Some("v".into()),
        expiry: None,
        cas: 1,
    };
    append_commit(&path, &[doc], |_| {});
    let msg = open_err(dir.path()).to_string();
    assert!(
        msg.contains(&format!("document 2 has seqno {}, expected 2", u64::MAX)),
        "{msg}"
    );
}

#[test]
fn a_scenario_clock_or_ttl_that_would_overflow_stops_the_script_naming_its_line() {
    let opts = ScenarioOptions::default;
    let err = run_script(
        "advance-clock 5\nadvance-clock 18446744073709551615\n",
        opts(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        // The script reader refuses it before anything runs (kv_engine's times are 32-bit).
        err.starts_with("line 2: advance-clock: '18446744073709551615' is not a number of seconds"),
        "{err}"
    );
    let err = run_script("set a ttl=18446744073709551615\n", opts())
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("line 1: set: ttl=18446744073709551615 is not a whole number of seconds"),
        "{err}"
    );
}

/// A bucket that failed over: node `r1` active, `active` out; then dropped (as a crash).
fn failed_over_bucket() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let mut c = Cluster::create(config(dir.path())).unwrap();
    c.set(0, "k0", "v1", None).unwrap();
    c.connect(0, 0).unwrap();
    c.stream_all(0, 0).unwrap();
    c.crash().unwrap();
    c.fail_over(0).unwrap();
    drop(c);
    dir
}

/// Every hostile `cluster-map.json`: each refused at open with the file's name and what is
/// wrong, nothing written; the good one reopens with the roles the failover gave.
#[test]
fn a_cluster_map_reopens_with_its_roles_and_a_bad_one_is_refused_naming_the_file() {
    let dir = failed_over_bucket();
    let map = dir.path().join(warmcheck_impl::engine::CLUSTER_MAP_FILE);
    let good = std::fs::read(&map).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&good),
        "{\"active\":\"r1\",\"replicas\":[],\"failed_over\":\"active\"}\n"
    );
    {
        let c = Cluster::open(config(dir.path())).unwrap();
        assert_eq!(c.roles().active, 1);
        assert_eq!(c.roles().failed_over, Some(0));
        assert_eq!(c.replicas(), 0);
    }
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "not UTF-8",
            b"{\"active\":\"r1\xff\"}".to_vec(),
            "not UTF-8 at byte",
        ),
        ("truncated", good[..good.len() / 2].to_vec(), "EOF"),
        ("empty", Vec::new(), "EOF"),
        (
            "an unknown node",
            b"{\"active\":\"r2\",\"replicas\":[],\"failed_over\":\"active\"}".to_vec(),
            "no node \"r2\"",
        ),
        (
            "a name spelled two ways",
            b"{\"active\":\"r01\",\"replicas\":[],\"failed_over\":\"active\"}".to_vec(),
            "no node \"r01\"",
        ),
        (
            "a node twice",
            b"{\"active\":\"r1\",\"replicas\":[\"r1\"],\"failed_over\":\"active\"}".to_vec(),
            "node r1 has two roles",
        ),
        (
            "a node missing",
            b"{\"active\":\"r1\",\"replicas\":[],\"failed_over\":null}".to_vec(),
            "node active has no role",
        ),
        (
            "an unknown field",
            b"{\"active\":\"r1\",\"replicas\":[],\"failed_over\":\"active\",\"x\":1}".to_vec(),
            "unknown field",
        ),
        ("huge", vec![b' '; 64 * 1024 + 10], "bytes or more"),
    ];
    for (what, bytes, says) in cases {
        std::fs::write(&map, &bytes).unwrap();
        let e = Cluster::open(config(dir.path())).expect_err(what);
        let msg = e.to_string();
        assert!(
            msg.contains("cluster-map.json") && msg.contains(says),
            "{what}: {msg}"
        );
        assert_eq!(
            std::fs::read(&map).unwrap(),
            bytes,
            "{what}: nothing written"
        );
    }
    std::fs::write(&map, &good).unwrap();
    Cluster::open(config(dir.path())).expect("the good map opens again");
}

/// A table with a stale entry above a newer one (what `createEntry` left before MB-20822's
/// fix) is refused by every design that has the fix, naming the file and the entries, and read
/// as it is by the design that reverts it (its warmup, like kv_engine's then, keeps it).
#[test]
fn an_unordered_failover_table_is_refused_unless_the_design_reverts_mb20822() {
    use warmcheck_impl::storage::FailoverEntryJson;
    let dir = bucket();
    let path = dir.path().join("active/vb0.couch");
    append_commit_allowing(&path, |s| {
        s.failover_table = vec![
            FailoverEntryJson { id: 7, seq: 0 },
            FailoverEntryJson { id: 8, seq: 1 },
            FailoverEntryJson { id: 1, seq: 0 },
        ];
    });
    let err = open_err(dir.path());
    let msg = err.to_string();
    assert!(
        msg.contains(&path.display().to_string()) && msg.contains("not newest first"),
        "{msg}"
    );
    let mut cfg = config(dir.path());
    cfg.variant = "current".parse().unwrap();
    cfg.variant.reverted.mb20822 = true;
    let mut c = Cluster::open(cfg).expect("the design without the fix reads it");
    c.warmup_until(Phase::Complete).unwrap();
    let table: Vec<(u64, u64)> = c.view().active.vbuckets[0]
        .failover_on_disk
        .iter()
        .map(|e| (e.id, e.seq))
        .collect();
    assert_eq!(table, vec![(7, 0), (8, 1), (1, 0)]);
}

/// [`append_commit`] through a file that takes unordered tables.
fn append_commit_allowing(path: &Path, edit: impl FnOnce(&mut VbState)) {
    let bugs = warmcheck_impl::storage::StorageBugs {
        unordered_failover_tables: true,
        ..Default::default()
    };
    let mut file = VbFile::open_with_bugs(Arc::new(FileBackend::new()), path, bugs).unwrap();
    let mut state = file.vbstate().unwrap().clone();
    edit(&mut state);
    file.commit(&[], &state).unwrap();
}
