//! Crash consistency through the FaultyBackend: crash at every sync point of a workload of
//! commits and stats.json replaces, with every kind of tear, and check that recovery sees
//! exactly what was acknowledged (or, for a tear that kept a whole in-flight header, that
//! commit), never half a commit, and stats.json either old or new.

use crate::storage_common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use storage_common::*;
use warmcheck_impl::stats::StatsFile;
use warmcheck_impl::storage::{Backend, FaultyBackend, StorageBugs, StoreError, Tear, VbFile};

#[derive(Clone, Copy, Debug)]
enum Action {
    Commit(usize),
    Stats(Option<&'static str>),
}

/// Bucket creation, traffic, a snapshot, a new failover entry, more traffic, a clean shutdown.
const WORKLOAD: [Action; 8] = [
    Action::Stats(Some("true")),
    Action::Commit(0),
    Action::Commit(1),
    Action::Stats(None),
    Action::Commit(2),
    Action::Commit(3),
    Action::Stats(Some("false")),
    Action::Commit(4),
];

fn dir() -> PathBuf {
    PathBuf::from("/data")
}

fn vb_path() -> PathBuf {
    dir().join("vb0.couch")
}

/// How far a run got before the injected failure.
#[derive(Debug, Default)]
struct Outcome {
    /// Commits acknowledged (`commit` returned Ok).
    commits_acked: usize,
    /// The step of the commit in flight when the failure hit, if one was.
    commit_in_flight: Option<&'static str>,
    /// The last acknowledged stats.json value (`None` outer: never written).
    stats_acked: Option<Option<String>>,
    /// The stats.json write in flight when the failure hit.
    stats_in_flight: Option<Option<String>>,
    /// The failure hit.
    failed: bool,
}

fn run(backend: &FaultyBackend, bugs: StorageBugs) -> Outcome {
    let backend_dyn: Arc<dyn Backend> = Arc::new(backend.clone());
    let steps = story();
    let stats = StatsFile::new(backend_dyn.clone(), &dir());
    let mut out = Outcome::default();
    let mut vb = match VbFile::open_with_bugs(backend_dyn, &vb_path(), bugs) {
        Ok(vb) => vb,
        Err(e) => panic!("open before any failure: {e}"),
    };
    for action in WORKLOAD {
        match action {
            Action::Commit(i) => {
                assert_eq!(i, out.commits_acked);
                match vb.commit(&steps[i].docs, &steps[i].vbstate) {
                    Ok(_) => out.commits_acked += 1,
                    Err(e) => {
                        out.commit_in_flight = Some(match e {
                            StoreError::Sync { step, .. } => step,
                            StoreError::SyncDir { .. } => "directory",
                            StoreError::Create { .. } => "create",
                            other => panic!("unexpected commit error {other}"),
                        });
                        out.failed = true;
                        return out;
                    }
                }
            }
            Action::Stats(value) => match stats.write(value) {
                Ok(_) => out.stats_acked = Some(value.map(str::to_string)),
                Err(_) => {
                    out.stats_in_flight = Some(value.map(str::to_string));
                    out.failed = true;
                    return out;
                }
            },
        }
    }
    out
}

fn tears() -> Vec<Tear> {
    let mut tears = vec![
        Tear::None,
        Tear::Prefix(0),
        Tear::Prefix(1),
        Tear::Prefix(13),
        Tear::Prefix(40),
        Tear::Prefix(usize::MAX),
    ];
    tears.extend((0..24).map(Tear::Random));
    tears.extend((0..24).map(Tear::Scatter));
    tears
}

/// What one crash showed.
#[derive(Debug, Default)]
struct Observed {
    in_flight_commit_visible: bool,
    in_flight_stats_visible: bool,
}

/// Runs the workload with a failure at sync point `n`, crashes with `tear`, and checks the
/// claims: the data file opens as the acknowledged commit (or the in-flight one, only if the
/// failure hit its header fsync and the tear kept the whole header); stats.json holds the old
/// or the new value; the next commit and stats write work. `Err` says which claim broke.
fn crash_and_check(n: u64, tear: Tear, bugs: StorageBugs) -> Result<Observed, String> {
    let steps = story();
    let fs = FaultyBackend::new();
    fs.crash_at_sync(n);
    let outcome = run(&fs, bugs);
    assert!(outcome.failed && fs.has_failed(), "sync point {n} was hit");
    fs.crash(tear);
    let ctx = format!("crash at sync point {n} with {tear:?} ({outcome:?})");
    let mut observed = Observed::default();

    let backend: Arc<dyn Backend> = Arc::new(fs.clone());
    let mut vb = VbFile::open_with_bugs(backend.clone(), &vb_path(), bugs)
        .map_err(|e| format!("{ctx}: open failed: {e}"))?;
    let docs = vb.docs().map_err(|e| format!("{ctx}: docs failed: {e}"))?;
    let seen = Seen {
        high_seqno: vb.high_seqno(),
        vbstate: vb.vbstate().cloned(),
        docs,
    };
    if seen != expected_after(&steps, outcome.commits_acked) {
        let allowed = tear != Tear::None
            && outcome.commit_in_flight == Some("after the header")
            && seen == expected_after(&steps, outcome.commits_acked + 1);
        if !allowed {
            return Err(format!("{ctx}: saw {seen:?}"));
        }
        observed.in_flight_commit_visible = true;
    }

    let stats = StatsFile::new(backend.clone(), &dir());
    let value = stats
        .read()
        .map_err(|e| format!("{ctx}: stats.json unreadable: {e}"))?;
    if value != outcome.stats_acked.clone().flatten() {
        let allowed = matches!(tear, Tear::Random(_) | Tear::Scatter(_))
            && Some(&value) == outcome.stats_in_flight.as_ref();
        if !allowed {
            return Err(format!("{ctx}: stats.json says {value:?}"));
        }
        observed.in_flight_stats_visible = true;
    }

    // Life goes on: the next commit lands after whatever tail the crash left.
    let next_step = vb.headers().len();
    if next_step < steps.len() {
        vb.commit(&steps[next_step].docs, &steps[next_step].vbstate)
            .map_err(|e| format!("{ctx}: commit after recovery: {e}"))?;
        let reopened = VbFile::open_with_bugs(backend.clone(), &vb_path(), bugs)
            .map_err(|e| format!("{ctx}: reopen after the next commit: {e}"))?;
        if Seen::of(&reopened) != expected_after(&steps, next_step + 1) {
            return Err(format!("{ctx}: the commit after recovery did not stick"));
        }
    }
    stats.write(Some("false")).unwrap();
    assert!(stats.is_clean().unwrap());
    Ok(observed)
}

fn workload_sync_points(bugs: StorageBugs) -> u64 {
    let dry = FaultyBackend::new();
    assert!(!run(&dry, bugs).failed);
    dry.sync_count()
}

#[test]
fn crash_at_every_sync_point_recovers_exactly_the_acknowledged_commit_and_stats() {
    let bugs = StorageBugs::default();
    let sync_points = workload_sync_points(bugs);
    assert!(
        sync_points >= 16,
        "the workload has {sync_points} sync points"
    );
    let mut saw_in_flight_commit = false;
    let mut saw_in_flight_stats = false;
    for n in 1..=sync_points {
        for tear in tears() {
            let observed = crash_and_check(n, tear, bugs).unwrap_or_else(|e| panic!("{e}"));
            saw_in_flight_commit |= observed.in_flight_commit_visible;
            saw_in_flight_stats |= observed.in_flight_stats_visible;
        }
    }
    // The interesting cases are reachable (a claim never exercised proves nothing).
    assert!(
        saw_in_flight_commit,
        "no tear ever kept a whole in-flight header"
    );
    assert!(saw_in_flight_stats, "no tear ever kept an in-flight rename");
}

/// The first claim the crash checks find broken with `bugs`, over every sync point and tear.
fn first_violation(bugs: StorageBugs) -> Option<String> {
    let sync_points = workload_sync_points(bugs);
    (1..=sync_points)
        .flat_map(|n| tears().into_iter().map(move |tear| (n, tear)))
        .find_map(|(n, tear)| crash_and_check(n, tear, bugs).err())
}

#[test]
fn seeded_bug_header_before_docs_synced_is_caught_by_the_crash_checks() {
    let bugs = StorageBugs {
        header_before_docs_synced: true,
        ..StorageBugs::default()
    };
    let violation = first_violation(bugs).expect("the crash checks must notice");
    eprintln!("caught: {violation}");
    assert!(violation.contains("Scatter"), "{violation}");
}

#[test]
fn seeded_bug_accept_bad_header_checksum_is_caught_by_the_crash_checks() {
    let bugs = StorageBugs {
        accept_bad_header_checksum: true,
        ..StorageBugs::default()
    };
    let violation = first_violation(bugs).expect("the crash checks must notice");
    eprintln!("caught: {violation}");
}

#[test]
fn crash_without_tear_between_sync_points_loses_exactly_the_unsynced_commit() {
    let fs = FaultyBackend::new();
    let backend: Arc<dyn Backend> = Arc::new(fs.clone());
    let steps = story();
    let mut vb = VbFile::open(backend.clone(), &vb_path()).unwrap();
    for step in &steps[..3] {
        vb.commit(&step.docs, &step.vbstate).unwrap();
    }
    // The fourth commit's header sync fails.
    fs.crash_at_sync(2);
    assert!(vb.commit(&steps[3].docs, &steps[3].vbstate).is_err());
    assert!(matches!(
        vb.commit(&steps[3].docs, &steps[3].vbstate),
        Err(StoreError::Poisoned { .. })
    ));
    fs.crash(Tear::None);
    let vb = VbFile::open(backend, &vb_path()).unwrap();
    assert_eq!(Seen::of(&vb), expected_after(&steps, 3));
}

#[test]
fn rewind_is_durable_once_it_returns() {
    let fs = FaultyBackend::new();
    let backend: Arc<dyn Backend> = Arc::new(fs.clone());
    let steps = story();
    let mut vb = VbFile::open(backend.clone(), &vb_path()).unwrap();
    for step in &steps {
        vb.commit(&step.docs, &step.vbstate).unwrap();
    }
    assert_eq!(vb.rewind_to(2).unwrap(), 2);
    fs.crash(Tear::Random(7));
    let vb = VbFile::open(backend, &vb_path()).unwrap();
    assert_eq!(Seen::of(&vb), expected_after(&steps, 3));
}

#[test]
fn crash_during_rewind_leaves_the_old_or_the_rewound_file() {
    let steps = story();
    for tear in tears() {
        let fs = FaultyBackend::new();
        let backend: Arc<dyn Backend> = Arc::new(fs.clone());
        let mut vb = VbFile::open(backend.clone(), &vb_path()).unwrap();
        for step in &steps {
            vb.commit(&step.docs, &step.vbstate).unwrap();
        }
        fs.crash_at_sync(1);
        assert!(matches!(vb.rewind_to(2), Err(StoreError::Rewind { .. })));
        fs.crash(tear);
        let seen = Seen::of(&VbFile::open(backend, &vb_path()).unwrap());
        assert!(
            seen == expected_after(&steps, 5) || seen == expected_after(&steps, 3),
            "{tear:?}: {seen:?}"
        );
    }
}

#[test]
fn writes_after_a_failed_sync_are_refused_until_the_crash() {
    let fs = FaultyBackend::new();
    let path = Path::new("/d/f");
    let mut file = fs.open(path).unwrap();
    file.append(b"abc").unwrap();
    fs.crash_at_sync(1);
    assert!(file.sync().is_err());
    assert!(fs.has_failed());
    assert!(file.append(b"d").is_err());
    assert!(fs.write_new(Path::new("/d/g"), b"x").is_err());
    assert!(fs.sync_dir(Path::new("/d")).is_err());
    fs.crash(Tear::None);
    assert!(!fs.has_failed());
    assert!(
        file.len().is_err(),
        "handles from before the crash are stale"
    );
    assert_eq!(
        fs.read_all(path).unwrap(),
        None,
        "the entry was never made durable"
    );
}

#[test]
fn synced_file_whose_directory_entry_was_not_synced_is_gone_after_a_crash() {
    let fs = FaultyBackend::new();
    let path = Path::new("/d/f");
    let mut file = fs.open(path).unwrap();
    file.append(b"data").unwrap();
    file.sync().unwrap();
    fs.crash(Tear::Prefix(usize::MAX));
    assert_eq!(fs.read_all(path).unwrap(), None);
}

#[test]
fn unsynced_appends_are_lost_and_synced_ones_kept() {
    let fs = FaultyBackend::new();
    let path = Path::new("/d/f");
    let mut file = fs.open(path).unwrap();
    fs.sync_dir(Path::new("/d")).unwrap();
    file.append(b"synced").unwrap();
    file.sync().unwrap();
    file.append(b" and not").unwrap();
    fs.crash(Tear::None);
    assert_eq!(fs.read_all(path).unwrap().unwrap(), b"synced");
    let mut file = fs.open(path).unwrap();
    file.append(b" and not").unwrap();
    fs.crash(Tear::Prefix(4));
    assert_eq!(fs.read_all(path).unwrap().unwrap(), b"synced and");
}

#[test]
fn tear_over_a_truncated_tail_keeps_the_old_bytes_beyond_the_new_ones() {
    let fs = FaultyBackend::new();
    let path = Path::new("/d/f");
    let mut file = fs.open(path).unwrap();
    fs.sync_dir(Path::new("/d")).unwrap();
    file.append(b"keep|old tail").unwrap();
    file.sync().unwrap();
    file.truncate(5).unwrap();
    file.append(b"NEW").unwrap();
    fs.crash(Tear::Prefix(2));
    assert_eq!(fs.read_all(path).unwrap().unwrap(), b"keep|NEd tail");
}

#[test]
fn sync_points_are_counted_for_files_and_directories() {
    let fs = FaultyBackend::new();
    let backend: Arc<dyn Backend> = Arc::new(fs.clone());
    let steps = story();
    let mut vb = VbFile::open(backend.clone(), &vb_path()).unwrap();
    vb.commit(&steps[0].docs, &steps[0].vbstate).unwrap();
    // the magic's temporary file, the directory, docs + vbstate, header.
    assert_eq!(fs.sync_count(), 4);
    vb.commit(&steps[1].docs, &steps[1].vbstate).unwrap();
    assert_eq!(fs.sync_count(), 6);
    StatsFile::new(backend, &dir()).write(None).unwrap();
    // the temporary file, the directory.
    assert_eq!(fs.sync_count(), 8);
}

#[test]
fn corruption_injected_into_a_committed_record_is_refused() {
    let fs = FaultyBackend::new();
    let backend: Arc<dyn Backend> = Arc::new(fs.clone());
    let steps = story();
    let mut vb = VbFile::open(backend.clone(), &vb_path()).unwrap();
    for step in &steps {
        vb.commit(&step.docs, &step.vbstate).unwrap();
    }
    let second = vb.headers()[1];
    fs.inject_corruption(&vb_path(), second.first_record_offset + 30, 0xee)
        .unwrap();
    let err = VbFile::open(backend, &vb_path()).unwrap_err();
    assert!(
        matches!(err, StoreError::CommittedCorrupt { offset, .. } if offset == second.first_record_offset),
        "{err}"
    );
}

#[test]
fn scatter_tear_can_keep_a_later_write_and_lose_an_earlier_one() {
    let mut outcomes = std::collections::BTreeSet::new();
    for seed in 0..64 {
        let fs = FaultyBackend::new();
        let path = Path::new("/d/f");
        let mut file = fs.open(path).unwrap();
        fs.sync_dir(Path::new("/d")).unwrap();
        file.append(b"aaaa").unwrap();
        file.append(b"bbbb").unwrap();
        fs.crash(Tear::Scatter(seed));
        outcomes.insert(fs.read_all(path).unwrap().unwrap());
    }
    assert!(
        outcomes.contains(b"\0\0\0\0bbbb".as_slice()),
        "{outcomes:?}"
    );
    assert!(outcomes.contains(b"aaaa".as_slice()), "{outcomes:?}");
    assert!(outcomes.contains([].as_slice()), "{outcomes:?}");
}
