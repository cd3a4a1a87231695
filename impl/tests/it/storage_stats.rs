//! stats.json: what warmup's Initialize reads, and a replace that a crash cannot leave half done.

use std::fs;
use std::path::Path;
use std::sync::Arc;
use warmcheck_impl::stats::{StatsError, StatsFile};
use warmcheck_impl::storage::{Backend, FaultyBackend, FileBackend, Tear};

fn real(dir: &Path) -> StatsFile {
    StatsFile::new(Arc::new(FileBackend::new()), dir)
}

#[test]
fn missing_stats_json_reads_as_no_flag_and_not_clean() {
    let dir = tempfile::tempdir().unwrap();
    let stats = real(dir.path());
    assert_eq!(stats.read().unwrap(), None);
    assert!(!stats.is_clean().unwrap());
}

#[test]
fn clean_only_when_the_flag_is_the_string_false() {
    let dir = tempfile::tempdir().unwrap();
    let stats = real(dir.path());
    for (value, clean) in [(Some("false"), true), (Some("true"), false), (None, false)] {
        stats.write(value).unwrap();
        assert_eq!(stats.read().unwrap().as_deref(), value);
        assert_eq!(stats.is_clean().unwrap(), clean, "{value:?}");
    }
    // kv_engine's other keys are tolerated; only the flag matters.
    fs::write(
        stats.path(),
        r#"{"ep_force_shutdown":"false","ep_warmup":"x"}"#,
    )
    .unwrap();
    assert!(stats.is_clean().unwrap());
}

#[test]
fn write_replaces_the_file_and_keeps_the_replaced_content_as_the_next_temporary() {
    let dir = tempfile::tempdir().unwrap();
    let stats = real(dir.path());
    let tmp = dir.path().join(StatsFile::TMP_NAME);
    // The first write has no stats.json to exchange with: a rename, leaving no temporary.
    stats.write(Some("false")).unwrap();
    assert_eq!(
        fs::read_to_string(stats.path()).unwrap(),
        "{\"ep_force_shutdown\":\"false\"}\n"
    );
    assert!(!tmp.exists());
    // Later writes exchange: the replaced content stays behind under the temporary name (on a
    // file system that cannot exchange, a rename leaves none) and the next write reuses it.
    stats.write(None).unwrap();
    assert_eq!(fs::read_to_string(stats.path()).unwrap(), "{}\n");
    if tmp.exists() {
        assert_eq!(
            fs::read_to_string(&tmp).unwrap(),
            "{\"ep_force_shutdown\":\"false\"}\n"
        );
    }
    stats.write(Some("true")).unwrap();
    assert_eq!(stats.read().unwrap().as_deref(), Some("true"));
    if tmp.exists() {
        assert_eq!(fs::read_to_string(&tmp).unwrap(), "{}\n");
    }
    // A leftover temporary with any content is overwritten, never read.
    fs::write(&tmp, "not json").unwrap();
    assert_eq!(stats.read().unwrap().as_deref(), Some("true"));
    stats.write(Some("false")).unwrap();
    assert!(stats.is_clean().unwrap());
}

#[test]
fn exchange_swaps_two_names_and_refuses_a_missing_one() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let backends: [(&str, Arc<dyn Backend>); 2] = [
        ("real", Arc::new(FileBackend::new())),
        ("faulty", Arc::new(FaultyBackend::new())),
    ];
    for (name, backend) in backends {
        backend.write_new(&a, b"A").unwrap();
        // A file system that cannot exchange may say so before it looks for the names.
        let missing = backend.exchange(&a, &b).unwrap_err().kind();
        assert!(
            matches!(
                missing,
                std::io::ErrorKind::NotFound | std::io::ErrorKind::Unsupported
            ),
            "{name}: {missing:?}"
        );
        if name == "faulty" {
            assert_eq!(missing, std::io::ErrorKind::NotFound);
        }
        assert_eq!(backend.read_all(&a).unwrap().as_deref(), Some(&b"A"[..]));
        backend.write_new(&b, b"B").unwrap();
        match backend.exchange(&a, &b) {
            Ok(()) => {
                assert_eq!(backend.read_all(&a).unwrap().as_deref(), Some(&b"B"[..]));
                assert_eq!(backend.read_all(&b).unwrap().as_deref(), Some(&b"A"[..]));
            }
            // tmpfs, ext4, xfs and btrfs exchange; another file system may not.
            Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::Unsupported, "{name}: {e}"),
        }
    }
}

#[test]
fn an_exchange_not_yet_synced_is_lost_whole_or_kept_whole_at_a_crash() {
    let dir = Path::new("/data");
    let (a, b) = (dir.join("a"), dir.join("b"));
    let mut outcomes = std::collections::BTreeSet::new();
    for tear in [Tear::None, Tear::Prefix(usize::MAX)]
        .into_iter()
        .chain((0..32).map(Tear::Random))
    {
        let fs = FaultyBackend::new();
        for (path, data) in [(&a, b"A"), (&b, b"B")] {
            fs.write_new(path, data).unwrap();
            fs.sync_file(path).unwrap();
        }
        fs.sync_dir(dir).unwrap();
        fs.exchange(&a, &b).unwrap();
        fs.crash(tear);
        let names = (fs.read_all(&a).unwrap(), fs.read_all(&b).unwrap());
        assert!(
            names == (Some(b"A".to_vec()), Some(b"B".to_vec()))
                || names == (Some(b"B".to_vec()), Some(b"A".to_vec())),
            "{tear:?}: {names:?}"
        );
        outcomes.insert(names);
    }
    assert_eq!(
        outcomes.len(),
        2,
        "both outcomes are reachable: {outcomes:?}"
    );
    // Once the directory is synced the exchange survives every crash.
    let fs = FaultyBackend::new();
    fs.write_new(&a, b"A").unwrap();
    fs.write_new(&b, b"B").unwrap();
    fs.sync_file(&a).unwrap();
    fs.sync_file(&b).unwrap();
    fs.exchange(&a, &b).unwrap();
    fs.sync_dir(dir).unwrap();
    fs.crash(Tear::None);
    assert_eq!(fs.read_all(&a).unwrap().as_deref(), Some(&b"B"[..]));
}

#[test]
fn stats_json_that_is_not_json_is_an_error_naming_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let stats = real(dir.path());
    fs::write(stats.path(), "{\n  \"ep_force_shutdown\": nope\n}").unwrap();
    let err = stats.read().unwrap_err();
    assert!(
        matches!(err, StatsError::NotJson { line: 2, .. }),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(msg.contains(&stats.path().display().to_string()), "{msg}");
    assert!(msg.contains("line 2, column"), "{msg}");
    assert!(
        stats.is_clean().is_err(),
        "an unreadable flag is not a clean shutdown"
    );
}

#[test]
fn stats_json_that_is_not_an_object_or_whose_flag_is_not_a_string_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let stats = real(dir.path());
    fs::write(stats.path(), "[1]").unwrap();
    assert!(matches!(stats.read(), Err(StatsError::NotAnObject { .. })));
    fs::write(stats.path(), r#"{"ep_force_shutdown":false}"#).unwrap();
    let err = stats.read().unwrap_err();
    assert!(matches!(err, StatsError::FlagNotAString { .. }), "{err}");
}

#[test]
fn crash_during_replace_keeps_the_old_or_the_new_content_never_neither() {
    let values = [None, Some("true"), Some("false"), None, Some("false")];
    let mut saw_new = false;
    let mut saw_old = false;
    for (i, pair) in values.windows(2).enumerate() {
        let (old, new) = (pair[0], pair[1]);
        // write(new) has two sync points: the temporary file and the directory.
        for sync_point in 1..=2 {
            for tear in [Tear::None, Tear::Prefix(3), Tear::Prefix(usize::MAX)]
                .into_iter()
                .chain((0..16).map(Tear::Random))
            {
                let fs = FaultyBackend::new();
                let backend: Arc<dyn Backend> = Arc::new(fs.clone());
                let stats = StatsFile::new(backend, Path::new("/data"));
                // Every write up to `old` (none when the file does not exist yet), so that the
                // crashing write replaces by exchange with a temporary that earlier writes left.
                let history: &[Option<&str>] = if i == 0 { &[] } else { &values[..=i] };
                for value in history {
                    stats.write(*value).unwrap();
                }
                fs.crash_at_sync(sync_point);
                assert!(stats.write(new).is_err());
                fs.crash(tear);
                let seen = stats
                    .read()
                    .unwrap_or_else(|e| panic!("{old:?} -> {new:?} at {sync_point} {tear:?}: {e}"));
                if seen.as_deref() == old {
                    saw_old = true;
                } else {
                    assert_eq!(
                        seen.as_deref(),
                        new,
                        "{old:?} -> {new:?} at {sync_point} {tear:?}"
                    );
                    saw_new = true;
                }
                // And the next write works over whatever the crash left.
                stats.write(Some("false")).unwrap();
                assert!(stats.is_clean().unwrap());
            }
        }
    }
    assert!(saw_old && saw_new, "both outcomes are reachable");
}

/// Real files on a file system that cannot exchange names.
#[derive(Debug)]
struct NoExchange(FileBackend);

impl Backend for NoExchange {
    fn open(&self, path: &Path) -> std::io::Result<Box<dyn warmcheck_impl::storage::BackendFile>> {
        self.0.open(path)
    }
    fn read_all(&self, path: &Path) -> std::io::Result<Option<Vec<u8>>> {
        self.0.read_all(path)
    }
    fn write_new(&self, path: &Path, data: &[u8]) -> std::io::Result<()> {
        self.0.write_new(path, data)
    }
    fn sync_file(&self, path: &Path) -> std::io::Result<()> {
        self.0.sync_file(path)
    }
    fn rename(&self, from: &Path, to: &Path) -> std::io::Result<()> {
        self.0.rename(from, to)
    }
    fn exchange(&self, _: &Path, _: &Path) -> std::io::Result<()> {
        Err(std::io::ErrorKind::Unsupported.into())
    }
    fn sync_dir(&self, dir: &Path) -> std::io::Result<()> {
        self.0.sync_dir(dir)
    }
    fn create_dir_all(&self, dir: &Path) -> std::io::Result<()> {
        self.0.create_dir_all(dir)
    }
    fn remove_file(&self, path: &Path) -> std::io::Result<()> {
        self.0.remove_file(path)
    }
}

#[test]
fn where_names_cannot_be_exchanged_a_write_renames_and_leaves_no_temporary() {
    let dir = tempfile::tempdir().unwrap();
    let stats = StatsFile::new(Arc::new(NoExchange(FileBackend::new())), dir.path());
    for value in [Some("true"), None, Some("false")] {
        stats.write(value).unwrap();
        assert_eq!(stats.read().unwrap().as_deref(), value);
        assert!(!dir.path().join(StatsFile::TMP_NAME).exists());
    }
    assert!(stats.is_clean().unwrap());
}

/// The fault-injecting backend models a rename as a link then an unlink, so a crash can keep
/// the first alone: stats.json and stats.json.tmp are then one file. A later write truncates
/// the temporary before filling it, and an exchange of two names of one file changes nothing,
/// so without care every later write would go to the live file in place, and a crash during
/// one could tear stats.json.
#[test]
fn a_rename_torn_into_two_names_of_one_file_does_not_let_a_later_crash_tear_stats_json() {
    let dir = Path::new("/data");
    let tmp = dir.join(StatsFile::TMP_NAME);
    // A crash at the first write's directory sync that kept the link but not the unlink.
    let torn_first_write = |seed: u64| {
        let fs = FaultyBackend::new();
        let stats = StatsFile::new(Arc::new(fs.clone()), dir);
        fs.crash_at_sync(2);
        assert!(stats.write(Some("false")).is_err());
        fs.crash(Tear::Random(seed));
        let both = fs.read_all(&tmp).unwrap().is_some() && stats.read().unwrap().is_some();
        both.then_some(fs)
    };
    let seeds: Vec<u64> = (0..64).filter(|&s| torn_first_write(s).is_some()).collect();
    assert!(!seeds.is_empty(), "no seed keeps the link alone");
    for &seed in &seeds {
        for tear in [Tear::Prefix(1), Tear::Prefix(2), Tear::Prefix(9)]
            .into_iter()
            .chain((0..16).map(Tear::Random))
        {
            let fs = torn_first_write(seed).unwrap();
            // The engine after the crash: a new handle on stats.json, whose write crashes at
            // the temporary file's fsync.
            let stats = StatsFile::new(Arc::new(fs.clone()), dir);
            fs.crash_at_sync(1);
            assert!(stats.write(Some("true")).is_err());
            fs.crash(tear);
            let flag = stats
                .read()
                .unwrap_or_else(|e| panic!("seed {seed}, {tear:?}: {e}"));
            assert!(
                matches!(flag.as_deref(), Some("false") | Some("true")),
                "seed {seed}, {tear:?}: {flag:?}"
            );
        }
    }
}
