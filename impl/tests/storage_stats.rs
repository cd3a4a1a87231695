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
fn write_replaces_the_file_and_leaves_no_temporary_behind() {
    let dir = tempfile::tempdir().unwrap();
    let stats = real(dir.path());
    stats.write(Some("false")).unwrap();
    assert_eq!(
        fs::read_to_string(stats.path()).unwrap(),
        "{\"ep_force_shutdown\":\"false\"}\n"
    );
    stats.write(None).unwrap();
    assert_eq!(fs::read_to_string(stats.path()).unwrap(), "{}\n");
    assert!(!dir.path().join(StatsFile::TMP_NAME).exists());
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
                if i > 0 || old.is_some() {
                    stats.write(old).unwrap();
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
