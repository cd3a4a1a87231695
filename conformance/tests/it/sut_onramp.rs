//! The on-ramp for SUT authors: `conform --timeout` and the job index each `--jobs` child gets
//! (`WARMCHECK_JOB_INDEX`, `{job}` in the command). The skeleton adapter's test is in
//! `python_sut.rs` (it needs python3).

use serde_json::Value;
use std::process::Command;

fn warmcheck() -> Command {
    Command::new(env!("CARGO_BIN_EXE_warmcheck"))
}

/// `conform --timeout` stops a walk that would take far longer: exit 1, `complete: false`,
/// `passed: false` in the JSON report, the text says why, and the JUnit case is skipped.
#[test]
fn conform_timeout_stops_the_walk_and_reports_it_incomplete() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    let junit = dir.path().join("r.xml");
    let started = std::time::Instant::now();
    // The default bounds take minutes in process: 0.5 s cannot finish them.
    let out = warmcheck()
        .args(["conform", "--variant", "current", "--quiet", "--jobs", "1"])
        .args(["--timeout", "0.5", "--json"])
        .arg(&json)
        .arg("--junit")
        .arg(&junit)
        .arg("--trace-dir")
        .arg(dir.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(60),
        "took {:?}",
        started.elapsed()
    );
    assert!(
        text.contains("Stopped early: --timeout was reached"),
        "{text}"
    );
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["complete"], Value::Bool(false), "{report}");
    assert_eq!(report["passed"], Value::Bool(false), "{report}");
    let covered = report["transitions_covered"].as_u64().unwrap();
    assert!(covered > 0, "{report}");
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains("<skipped message=\"stopped by --timeout\"/>"),
        "{xml}"
    );
}

/// A run that finishes before its timeout is complete and passes.
#[test]
fn conform_timeout_longer_than_the_run_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    let out = warmcheck()
        .args(["conform", "--variant", "proposed", "--quiet", "--jobs", "1"])
        .args([
            "--keys",
            "1",
            "--writes",
            "1",
            "--crashes",
            "1",
            "--shutdowns",
            "0",
        ])
        .args(["--timeout", "600", "--json"])
        .arg(&json)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["complete"], Value::Bool(true));
    assert_eq!(report["passed"], Value::Bool(true));
}

/// Red team: a timeout that is not a positive number of seconds is a usage error naming it.
#[test]
fn conform_timeout_rejects_what_is_not_a_duration() {
    for bad in ["0", "-1", "abc", "NaN", "inf", "1e10", ""] {
        let out = warmcheck()
            .args(["conform", "--quiet", &format!("--timeout={bad}")])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "--timeout {bad:?}: {err}");
        assert!(err.contains("--timeout"), "--timeout {bad:?}: {err}");
    }
}

/// With `--jobs 2` each SUT child is told its job index: `WARMCHECK_JOB_INDEX` in its
/// environment, `{job}` in the command replaced by it. A shell wrapper records both, then
/// runs `warmcheck sut` in a data directory of its own.
#[test]
fn each_job_s_sut_child_gets_its_index_and_its_own_directory() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().display().to_string();
    let sut = format!(
        "mkdir '{base}/data-{{job}}' && echo \"$WARMCHECK_JOB_INDEX\" > '{base}/data-{{job}}/env' \
         && exec '{}' sut",
        env!("CARGO_BIN_EXE_warmcheck")
    );
    let out = warmcheck()
        .args(["conform", "--variant", "current", "--quiet", "--jobs", "2"])
        .args([
            "--keys",
            "1",
            "--writes",
            "1",
            "--crashes",
            "1",
            "--shutdowns",
            "0",
        ])
        .args(["--sut", &sut])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for j in 0..2 {
        let env = std::fs::read_to_string(dir.path().join(format!("data-{j}/env")))
            .unwrap_or_else(|e| panic!("job {j} did not get data-{j}: {e}"));
        assert_eq!(env.trim(), j.to_string(), "job {j}'s WARMCHECK_JOB_INDEX");
    }
    assert!(!dir.path().join("data-{job}").exists());
    assert!(!dir.path().join("data-2").exists());
}

/// `replay --sut` drives one child: job 0.
#[test]
fn a_single_sut_child_is_job_0() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().display().to_string();
    let sut = format!(
        "echo \"$WARMCHECK_JOB_INDEX\" > '{base}/env-{{job}}' && exec '{}' sut",
        env!("CARGO_BIN_EXE_warmcheck")
    );
    let out = warmcheck()
        .args(["conform", "--variant", "proposed", "--quiet", "--jobs", "1"])
        .args([
            "--keys",
            "1",
            "--writes",
            "1",
            "--crashes",
            "0",
            "--shutdowns",
            "0",
        ])
        .args(["--sut", &sut])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let env = std::fs::read_to_string(dir.path().join("env-0")).unwrap();
    assert_eq!(env.trim(), "0");
}
