//! Sensitivity: the suite must catch deliberate bugs. Each seeded bug of the implementation
//! (`SeededBugs`, test-only) is switched on in turn, and the detectors run in order until one
//! catches it:
//!
//! 1. `conform`: every transition of the model replayed on the implementation (in-memory
//!    crashable backend, one key, two writes, two crashes, one shutdown);
//! 2. `soak`: seeded random workloads with crashes and torn writes, validated against the model;
//! 3. crash checks: a workload crashed at every sync point, with every kind of tear, after which
//!    recovery must find exactly what was acknowledged (or the one commit in flight, whole).
//!
//! Each detector first runs with no bug switched on and must pass: a detector that always fires
//! proves nothing. The test prints which detector caught each bug.

use warmcheck_conformance::conform::{conform, ClusterSut, Shard};
use warmcheck_conformance::replay::{new_cluster, ImplSetup};
use warmcheck_conformance::soak::{soak, Knobs, SoakBackend, SoakConfig};
use warmcheck_impl::engine::{
    Cluster, Config, CounterUuids, FaultyBackend, Item, Phase, SeededBugs, StorageBackend, Tear,
    Variant as ImplVariant,
};
use warmcheck_model::{Bounds, Variant};

const BUGS: [&str; 7] = [
    "flusher_ignores_set_vbstate",
    "needs_rollback_uses_lt",
    "no_entry_after_unclean_shutdown",
    "rollback_does_not_prune",
    "clean_flag_before_final_flush",
    "header_before_docs_synced",
    "accept_bad_header_checksum",
];

fn bugs(name: Option<&str>) -> SeededBugs {
    let mut b = SeededBugs::default();
    if let Some(n) = name {
        b.enable(n).unwrap();
    }
    b
}

/// Detector 1: `conform`. `Some(what)` when it found a mismatch.
fn by_conform(b: SeededBugs) -> Option<String> {
    let model = Bounds {
        vbuckets: 1,
        replicas: 1,
        keys: 1,
        writes: 2,
        crashes: 2,
        shutdowns: 1,
        flush_failures: 0,
        failovers: 0,
    }
    .into_model(Variant::current());
    let tmp = tempfile::tempdir().unwrap();
    let setup = ImplSetup {
        backend: StorageBackend::faulty(),
        dir: tmp.path().join("data"),
        bugs: b,
    };
    let cluster = new_cluster(&model, &setup).ok()?;
    let mut sut = ClusterSut { cluster };
    let out = conform(&model, &mut sut, Shard::ALL, true, |_| true).unwrap();
    assert!(out.transitions_reachable > 0, "the walk explored the model");
    out.mismatches.first().map(|m| {
        format!(
            "mismatch after {} steps ({})",
            m.trace.len(),
            m.differences
                .first()
                .map(|d| d.path.clone())
                .or(m.error.clone())
                .unwrap_or_default()
        )
    })
}

/// Detector 2: `soak` over a few seeds.
fn by_soak(b: SeededBugs) -> Option<String> {
    for seed in 1..=5 {
        let cfg = SoakConfig {
            seed,
            steps: 3000,
            design: Variant::current(),
            vbuckets: 1,
            replicas: 1,
            keys: 2,
            backend: SoakBackend::Faulty,
            bugs: b,
            knobs: Knobs::default(),
            failovers: 0,
        };
        let report = soak(&cfg, |_| true).unwrap();
        if let Some(f) = report.failure {
            return Some(format!("seed {seed} step {}: {}", f.step, f.call));
        }
    }
    None
}

/// Detector 3: crash at every sync point of a workload, with every tear.
fn by_crash_checks(b: SeededBugs) -> Option<String> {
    let dry = FaultyBackend::new();
    let syncs = {
        let mut c = cluster(&dry, b);
        workload(&mut c).expect("the workload runs without faults");
        dry.sync_count()
    };
    assert!(syncs >= 10, "the workload has {syncs} sync points");
    for n in 1..=syncs {
        for tear in [
            Tear::None,
            Tear::Prefix(usize::MAX),
            Tear::Random(n),
            Tear::Scatter(n),
            Tear::Scatter(n + 1000),
        ] {
            if let Err(e) = crash_at(n, tear, b) {
                return Some(format!("sync point {n}, {tear:?}: {e}"));
            }
        }
    }
    None
}

fn cluster(backend: &FaultyBackend, b: SeededBugs) -> Cluster {
    let mut config = Config::new(
        "/crash/data",
        StorageBackend::Faulty(backend.clone()),
        ImplVariant::current(),
    );
    config.uuids = Box::new(CounterUuids::new());
    config.bugs = b;
    Cluster::create(config).unwrap()
}

/// The allowed contents of the active's data file after a crash: the acknowledged state, and
/// (while a flush is in flight) the state it would commit.
#[derive(Debug)]
struct Allowed(Vec<Vec<Item>>);

fn workload(c: &mut Cluster) -> Result<(), (String, Allowed)> {
    let flush = |c: &mut Cluster| -> Result<(), (String, Allowed)> {
        let before = c.active_items_on_disk(0);
        let intended = c.active_items(0).unwrap_or_default();
        c.flush(0)
            .map(|_| ())
            .map_err(|e| (e.to_string(), Allowed(vec![before, intended])))
    };
    let other = |c: &Cluster, e: warmcheck_impl::engine::EngineError| {
        (e.to_string(), Allowed(vec![c.active_items_on_disk(0)]))
    };
    for i in 0..6u32 {
        let key = format!("k{}", i % 2);
        c.set(0, &key, &format!("v{i}"), None)
            .map_err(|e| other(c, e))?;
        if i % 2 == 1 {
            flush(c)?;
        }
    }
    c.connect(0, 0).map_err(|e| other(c, e))?;
    c.stream_all(0, 0).map_err(|e| other(c, e))?;
    c.shutdown_begin().map_err(|e| other(c, e))?;
    c.shutdown_stop_flusher().map_err(|e| other(c, e))?;
    c.shutdown_stop_tasks().map_err(|e| other(c, e))?;
    c.shutdown_write_clean_flag().map_err(|e| other(c, e))?;
    Ok(())
}

fn crash_at(n: u64, tear: Tear, b: SeededBugs) -> Result<(), String> {
    let fs = FaultyBackend::new();
    let mut c = cluster(&fs, b);
    fs.crash_at_sync(n);
    let allowed = match workload(&mut c) {
        Ok(()) => Allowed(vec![c.active_items_on_disk(0)]),
        Err((_, allowed)) => allowed,
    };
    // A crash now: the engine reopens its files from what the crash kept.
    if let Err(e) = c.crash_torn(tear) {
        // After a clean shutdown the node is down already; crash the file system directly.
        if !e.to_string().contains("already down") {
            return Err(format!("recovery failed: {e}"));
        }
        fs.crash(tear);
        drop(c);
        let mut config = Config::new(
            "/crash/data",
            StorageBackend::Faulty(fs.clone()),
            ImplVariant::current(),
        );
        config.uuids = Box::new(CounterUuids::starting_at(100));
        config.bugs = b;
        c = Cluster::open(config).map_err(|e| format!("recovery failed: {e}"))?;
    }
    let found = c.active_items_on_disk(0);
    if !allowed.0.contains(&found) {
        return Err(format!(
            "the active's file holds {} mutations, which is neither what was acknowledged nor \
             the commit in flight",
            found.len()
        ));
    }
    c.warmup_until(Phase::Complete)
        .map_err(|e| format!("warmup after the crash failed: {e}"))?;
    Ok(())
}

#[test]
fn every_seeded_bug_is_caught_and_no_detector_fires_without_one() {
    assert_eq!(by_conform(bugs(None)), None, "conform passes without a bug");
    assert_eq!(by_soak(bugs(None)), None, "soak passes without a bug");
    assert_eq!(
        by_crash_checks(bugs(None)),
        None,
        "the crash checks pass without a bug"
    );
    let mut table = Vec::new();
    for name in BUGS {
        let b = bugs(Some(name));
        let caught = by_conform(b)
            .map(|w| ("conform", w))
            .or_else(|| by_soak(b).map(|w| ("soak", w)))
            .or_else(|| by_crash_checks(b).map(|w| ("crash checks", w)));
        let (detector, what) = caught.unwrap_or_else(|| panic!("no detector caught {name}"));
        table.push(format!("{name:<34} caught by {detector:<13} {what}"));
    }
    eprintln!("{}", table.join("\n"));
}
