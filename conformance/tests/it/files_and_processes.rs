//! Files and processes: where a command's data files are (kept or removed, and said so),
//! temporary directories removed whatever signal ends the process, a data directory continued
//! by `scenario`, and a scenario's output printed as it runs.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn warmcheck(args: &[&str], tmpdir: &Path) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_warmcheck"))
        .args(args)
        .env("TMPDIR", tmpdir)
        .output()
        .expect("run warmcheck");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The entries of `dir` whose names start with `prefix`.
fn entries(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with(prefix))
        .collect()
}

/// A counterexample trace of v6.5.1 at small bounds, written by `check`.
fn a_trace(tmp: &Path) -> PathBuf {
    let traces = tmp.join("traces");
    let (code, out, err) = warmcheck(
        &[
            "check",
            "--variant",
            "v6.5.1",
            "--keys",
            "1",
            "--writes",
            "2",
            "--crashes",
            "1",
            "--shutdowns",
            "1",
            "--property",
            "no replica diverges",
            "--quiet",
            "--trace-dir",
            traces.to_str().unwrap(),
        ],
        tmp,
    );
    assert_eq!(code, 1, "{out}{err}");
    traces.join("v6.5.1-keys1-crashes1-no-replica-diverges.trace.json")
}

#[test]
fn replay_keeps_its_files_with_dir_and_says_where_they_are() {
    let tmp = tempfile::tempdir().unwrap();
    let trace = a_trace(tmp.path());
    let trace = trace.to_str().unwrap();

    let (code, out, err) = warmcheck(&["replay", trace], tmp.path());
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("Data files: in a temporary directory, deleted on exit"),
        "{out}"
    );
    assert!(entries(tmp.path(), "warmcheck-replay-").is_empty());

    let dir = tmp.path().join("kept");
    let (code, out, err) = warmcheck(
        &["replay", trace, "--dir", dir.to_str().unwrap()],
        tmp.path(),
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains(&format!("Data files kept in {}.", dir.display())),
        "{out}"
    );
    assert!(dir.join("active").join("stats.json").exists());

    // A second replay into the same directory is refused up front, naming a real flag.
    let (code, out, err) = warmcheck(
        &["replay", trace, "--dir", dir.to_str().unwrap()],
        tmp.path(),
    );
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("not empty") && err.contains("--dir"), "{err}");
    assert!(!err.contains("use open"), "{err}");
}

#[test]
fn a_directory_is_refused_without_the_file_backend() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("d");
    let d = dir.to_str().unwrap();
    for args in [
        &["soak", "--steps", "10", "--dir", d][..],
        &["soak", "--steps", "10", "--backend", "faulty", "--dir", d][..],
        &["conform", "--backend", "faulty", "--dir", d][..],
    ] {
        let (code, out, err) = warmcheck(args, tmp.path());
        assert_eq!(code, 2, "{args:?}: {out}{err}");
        assert!(err.contains("needs --backend file"), "{args:?}: {err}");
        assert!(out.is_empty(), "{args:?}: {out}");
    }
    assert!(!dir.exists());
    let (code, out, err) = warmcheck(
        &[
            "soak",
            "--steps",
            "30",
            "--backend",
            "file",
            "--dir",
            d,
            "-q",
        ],
        tmp.path(),
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains(&format!("real files under {d}")), "{out}");
}

#[test]
fn scenario_prints_what_ran_before_a_directive_that_stops_it() {
    let tmp = tempfile::tempdir().unwrap();
    let script = tmp.path().join("s.txt");
    // A directive that parses but fails when it runs (a key over kv_engine's 250 bytes): a
    // script that does not parse is refused whole before anything runs.
    let long_key = "k".repeat(251);
    std::fs::write(&script, format!("set a\nflush\nset {long_key}\nget a\n")).unwrap();
    let (code, out, err) = warmcheck(&["scenario", script.to_str().unwrap()], tmp.path());
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("line 3"), "{err}");
    assert!(out.starts_with("set a\n----\nvb 0 seqno 1: set a"), "{out}");
    assert!(out.contains("flush\n----\nvb 0: commit seqno 1"), "{out}");
    assert!(!out.contains("get a"), "{out}");
}

#[test]
fn scenario_continues_a_bucket_left_in_its_directory_warming_it_up_first() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let d = dir.to_str().unwrap();
    let first = tmp.path().join("first.txt");
    std::fs::write(&first, "set a value=one\nflush\nshutdown\n").unwrap();
    let (code, out, err) = warmcheck(
        &["scenario", first.to_str().unwrap(), "--dir", d],
        tmp.path(),
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(!out.contains("continuing"), "{out}");

    let second = tmp.path().join("second.txt");
    std::fs::write(&second, "get a\nset b\nflush\n").unwrap();
    let (code, out, err) = warmcheck(
        &["scenario", second.to_str().unwrap(), "--dir", d],
        tmp.path(),
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(!err.contains("use open"), "{err}");
    assert!(
        out.starts_with(&format!(
            "# continuing the bucket in {d}: warmup ran first, as at a restart\n"
        )),
        "{out}"
    );
    assert!(out.contains("#   initialize: stats.json says"), "{out}");
    assert!(out.contains("get a\n----\nvb 0: get a = one\n"), "{out}");
    assert!(out.contains("vb 0 seqno 2: set b"), "{out}");
}

/// The files below `dir`, recursively, sorted.
fn files_below(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![];
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                todo.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn scenario_continues_a_bucket_in_its_own_shape_and_refuses_another_before_writing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let d = dir.to_str().unwrap();
    let first = tmp.path().join("first.txt");
    std::fs::write(&first, "set a vb=1 value=one\nflush vb=1\nshutdown\n").unwrap();
    let (code, out, err) = warmcheck(
        &[
            "scenario",
            first.to_str().unwrap(),
            "--dir",
            d,
            "--vbuckets",
            "2",
            "--replicas",
            "2",
        ],
        tmp.path(),
    );
    assert_eq!(code, 0, "{out}{err}");
    // Another shape asked for: refused, and nothing written in the bucket.
    let files = files_below(&dir);
    let second = tmp.path().join("second.txt");
    std::fs::write(&second, "get a vb=1\n").unwrap();
    for shape in [["--vbuckets", "4"], ["--replicas", "1"]] {
        let (code, out, err) = warmcheck(
            &[
                &["scenario", second.to_str().unwrap(), "--dir", d][..],
                &shape[..],
            ]
            .concat(),
            tmp.path(),
        );
        assert_eq!(code, 2, "{shape:?}: {out}{err}");
        assert!(
            err.contains("has 2 vbuckets and 2 replicas; a continued bucket keeps its shape"),
            "{err}"
        );
        assert_eq!(files_below(&dir), files, "{shape:?} wrote in the bucket");
    }
    // No shape asked for: the bucket's own, its vb 1 and second replica included.
    let (code, out, err) = warmcheck(
        &["scenario", second.to_str().unwrap(), "--dir", d],
        tmp.path(),
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("get a vb=1\n----\nvb 1: get a = one\n"),
        "{out}"
    );
}

/// Start a scenario that runs for a long time (thousands of flushes on real files), with its
/// temporary directory under `tmp`; returns once that directory exists.
fn long_scenario(tmp: &Path) -> Child {
    let script = tmp.join("long.txt");
    let mut text = String::new();
    for i in 0..50_000 {
        text += &format!("set k{i}\nflush\n");
    }
    std::fs::write(&script, text).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_warmcheck"))
        .args(["scenario", script.to_str().unwrap()])
        .env("TMPDIR", tmp)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for(
        || !entries(tmp, "warmcheck-scenario-").is_empty(),
        "a temporary directory",
    );
    child
}

fn wait_for(mut done: impl FnMut() -> bool, what: &str) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "waited for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn kill(child: &Child, signal: &str) {
    let status = Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[cfg(unix)]
#[test]
fn a_signal_that_ends_a_command_removes_its_temporary_directory() {
    use std::os::unix::process::ExitStatusExt;
    for (signal, number) in [("TERM", 15), ("INT", 2), ("HUP", 1)] {
        let tmp = tempfile::tempdir().unwrap();
        let mut child = long_scenario(tmp.path());
        std::thread::sleep(Duration::from_millis(200));
        kill(&child, signal);
        // Drain the output so that a full pipe cannot block the child.
        let mut out = String::new();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        let status = child.wait().unwrap();
        assert!(!status.success(), "SIG{signal}: {status:?}");
        assert_eq!(status.signal(), Some(number), "SIG{signal}: {status:?}");
        assert!(
            entries(tmp.path(), "warmcheck-scenario-").is_empty(),
            "SIG{signal} left the temporary directory behind"
        );
    }
}

#[cfg(unix)]
#[test]
fn a_reader_going_away_ends_a_scenario_quietly_and_removes_its_directory() {
    use std::os::unix::process::ExitStatusExt;
    let tmp = tempfile::tempdir().unwrap();
    let mut child = long_scenario(tmp.path());
    // The output comes as the script runs: read some, then go away.
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 64];
    stdout.read_exact(&mut first).unwrap();
    assert!(first.starts_with(b"set k0\n----\n"));
    drop(stdout);
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.signal(), Some(13), "SIGPIPE: {status:?} {err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(entries(tmp.path(), "warmcheck-scenario-").is_empty());
}

#[cfg(unix)]
#[test]
fn sigterm_stops_a_soak_as_ctrl_c_does_and_its_files_go() {
    let tmp = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_warmcheck"))
        .args([
            "soak",
            "--backend",
            "file",
            "--steps",
            "1000000000",
            "--seed",
            "1",
            "--quiet",
        ])
        .env("TMPDIR", tmp.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for(
        || !entries(tmp.path(), "warmcheck-soak-").is_empty(),
        "the soak's directory",
    );
    std::thread::sleep(Duration::from_millis(300));
    kill(&child, "TERM");
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(1), "{out}");
    assert!(out.contains("INTERRUPTED after"), "{out}");
    assert!(entries(tmp.path(), "warmcheck-soak-").is_empty());
}

/// Two checks of one design at different bounds write to one trace directory without overwriting
/// each other: a trace's name carries the bounds that differ from the defaults (the tutorial's
/// steps 1 and 2 keep both traces).
#[test]
fn traces_of_one_design_at_other_bounds_keep_their_own_files() {
    let tmp = tempfile::tempdir().unwrap();
    let traces = tmp.path().join("traces");
    let run = |extra: &[&str]| {
        let mut args = vec![
            "check",
            "--variant",
            "v6.5.1",
            "--keys",
            "1",
            "--crashes",
            "1",
            "--property",
            "no replica diverges",
            "--threads",
            "1",
            "--quiet",
            "--trace-dir",
            traces.to_str().unwrap(),
        ];
        args.extend(extra);
        let (code, out, err) = warmcheck(&args, tmp.path());
        assert_eq!(code, 1, "{out}{err}");
        out
    };
    let first = run(&[]);
    let second = run(&["--shutdowns", "2"]);
    let a = traces.join("v6.5.1-keys1-crashes1-no-replica-diverges.trace.json");
    let b = traces.join("v6.5.1-keys1-crashes1-shutdowns2-no-replica-diverges.trace.json");
    assert!(first.contains(&a.display().to_string()), "{first}");
    assert!(second.contains(&b.display().to_string()), "{second}");
    let shutdowns = |p: &Path| {
        let t: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap();
        t["bounds"]["shutdowns"].clone()
    };
    assert_eq!(shutdowns(&a), serde_json::json!(1));
    assert_eq!(shutdowns(&b), serde_json::json!(2));
}
