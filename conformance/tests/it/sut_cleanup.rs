//! No SUT run leaves a directory behind, however it ends (issue 24; docs/sut-protocol.md,
//! "Jobs"): `conform --sut` and `replay --sut` give each child a temporary directory of its own
//! (`WARMCHECK_TMPDIR`), in which `warmcheck sut` makes its own, and remove it once the child's
//! whole process group has ended.
//!
//! - the run ends normally; the child is killed on a protocol error; the child is SIGKILLed
//!   mid-run (it cannot clean up: conform does); the child ignores SIGTERM (SIGKILL after the
//!   grace); conform itself is ended by a second SIGTERM; `replay --sut`; conform SIGKILLed
//!   (the child still removes its own directory; only the empty `WARMCHECK_TMPDIR` stays);
//! - `warmcheck sut` alone: a SIGTERM arriving while it ends on EOF (it used to leave its
//!   whole bucket: the signal thread found the list emptied by the ending main thread, and
//!   ended the process before that thread had removed the directory);
//! - `WARMCHECK_TMPDIR` that is no directory is refused, naming it.
//!
//! The checks run after conform has ended: it removes the directories before it exits, so
//! they are gone then; the polls only tolerate a slow machine (a generous 30 s).

use crate::common::wait_until;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const W: &str = env!("CARGO_BIN_EXE_warmcheck");

/// Small bounds: every design's graph in well under a second in-process.
const SMALL: &[&str] = &["--writes", "1", "--crashes", "1", "--shutdowns", "1"];

fn python3() -> bool {
    let ok = Command::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok && std::env::var_os("WARMCHECK_REQUIRE_PYTHON").is_some() {
        panic!("python3 does not run, and WARMCHECK_REQUIRE_PYTHON is set");
    }
    ok
}

fn misbehave(mode: &str, n: u32, inner: &str) -> String {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/sut/misbehave.py");
    format!("python3 {} {mode} {n} '{inner}'", script.display())
}

/// `warmcheck sut` that first says its pid and its `WARMCHECK_TMPDIR` on stderr.
fn announced_sut() -> String {
    format!("echo sut-pid=$$ >&2; echo sut-tmp=$WARMCHECK_TMPDIR >&2; exec {W} sut")
}

/// The text after `sut: name=` on a line of `text`, to the end of that line.
fn after(text: &str, name: &str) -> String {
    let tag = format!("sut: {name}=");
    let at = text
        .find(&tag)
        .unwrap_or_else(|| panic!("no {tag} in {text}"));
    text[at + tag.len()..].lines().next().unwrap().to_string()
}

/// Whether process `pid` still runs (a zombie does not).
fn running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        let state = s[s.rfind(')').unwrap() + 1..].split_whitespace().next();
        !matches!(state, Some("Z" | "X"))
    })
}

/// The directories of `warmcheck sut` process `pid` (`warmcheck-sut-PID-*`) in `parent`.
fn sut_dirs(parent: &Path, pid: u32) -> Vec<PathBuf> {
    let prefix = format!("warmcheck-sut-{pid}-");
    std::fs::read_dir(parent)
        .map(|d| {
            d.flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default()
}

/// Where `warmcheck sut` may make its directory: in its `WARMCHECK_TMPDIR` (`tmp`), else in
/// /dev/shm or the system's temporary directory.
fn candidates(tmp: &Path) -> [PathBuf; 3] {
    [
        tmp.to_path_buf(),
        PathBuf::from("/dev/shm"),
        std::env::temp_dir(),
    ]
}

/// Whether SUT `pid` has made its first bucket (its first reset was answered).
fn bucket_made(pid: u32, tmp: &Path) -> bool {
    candidates(tmp)
        .iter()
        .flat_map(|p| sut_dirs(p, pid))
        .any(|d| d.join("bucket0").is_dir())
}

/// After a run whose output is `out` (the SUT announced itself): the SUT has ended, its
/// `WARMCHECK_TMPDIR` is gone with everything in it, and no directory of the SUT's is left
/// where `warmcheck sut` would otherwise have made it.
fn nothing_left(out: &str) {
    let pid: u32 = after(out, "sut-pid").parse().unwrap();
    let tmp = PathBuf::from(after(out, "sut-tmp"));
    wait_until(&format!("the SUT {pid} still runs"), || !running(pid));
    for parent in candidates(&tmp) {
        let left = sut_dirs(&parent, pid);
        assert!(left.is_empty(), "left behind: {left:?}");
    }
    assert!(
        tmp.is_absolute() && tmp.to_string_lossy().contains("warmcheck-job0-"),
        "WARMCHECK_TMPDIR={}",
        tmp.display()
    );
    wait_until(&format!("{} is still there", tmp.display()), || {
        !tmp.exists()
    });
}

/// Run `conform` with `args` to its end: exit code and output.
fn conform(args: &[&str]) -> (i32, String) {
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new(W)
        .args(["conform", "-q"])
        .args(args)
        .current_dir(tmp.path())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

/// A `conform` started in the background, its stderr collected by a thread.
struct Running {
    child: std::process::Child,
    stderr: std::sync::Arc<std::sync::Mutex<String>>,
    reader: Option<std::thread::JoinHandle<()>>,
    _cwd: tempfile::TempDir,
}

impl Running {
    fn start(args: &[&str]) -> Running {
        let cwd = tempfile::tempdir().unwrap();
        let mut child = Command::new(W)
            .args(["conform", "-q"])
            .args(args)
            .current_dir(cwd.path())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let pipe = child.stderr.take().unwrap();
        let stderr = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let sink = std::sync::Arc::clone(&stderr);
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { return };
                let mut s = sink.lock().unwrap();
                s.push_str(&line);
                s.push('\n');
            }
        });
        Running {
            child,
            stderr,
            reader: Some(reader),
            _cwd: cwd,
        }
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Wait (30 s at most) for `name=` on the SUT's stderr; its value.
    fn wait_for(&self, name: &str) -> String {
        let tag = format!("sut: {name}=");
        wait_until(&format!("no {tag}: {}", self.stderr()), || {
            self.stderr().contains(&tag)
        });
        after(&self.stderr(), name)
    }

    /// Wait (60 s at most) for the end; exit code (`None`: ended by a signal) and stderr.
    fn end(mut self) -> (Option<i32>, String) {
        let until = Instant::now() + Duration::from_secs(60);
        while self.child.try_wait().unwrap().is_none() {
            assert!(
                Instant::now() < until,
                "conform still runs after 60 s: {}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let code = self.child.wait().unwrap().code();
        // The stderr thread reads to the end of the pipe.
        let _ = self.reader.take().map(|r| r.join());
        (code, self.stderr())
    }
}

impl Drop for Running {
    /// A failed test does not leave conform running: two SIGTERMs end it, its children and
    /// their directories.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            for _ in 0..2 {
                let _ = Command::new("kill")
                    .args(["-TERM", &self.child.id().to_string()])
                    .status();
            }
            let _ = self.child.wait();
        }
    }
}

fn signal(pid: u32, sig: &str) {
    assert!(Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .unwrap()
        .success());
}

#[test]
fn a_run_that_ends_normally_leaves_no_directory_behind() {
    let (code, out) = conform(&[SMALL, &["--jobs", "1", "--sut", &announced_sut()]].concat());
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("No mismatch"), "{out}");
    nothing_left(&out);
}

#[test]
fn a_sut_killed_on_a_protocol_error_leaves_no_directory_behind() {
    if !python3() {
        eprintln!("skipped: no python3");
        return;
    }
    let cmd = misbehave("garbage", 5, &announced_sut());
    let (code, out) = conform(&[SMALL, &["--jobs", "1", "--sut", &cmd]].concat());
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("malformed reply line"), "{out}");
    nothing_left(&out);
}

#[test]
fn a_sut_sigkilled_mid_run_leaves_no_directory_behind() {
    if !python3() {
        eprintln!("skipped: no python3");
        return;
    }
    // Slow from the first action (0.2 s each): the kill lands mid-walk. A SIGKILLed
    // `warmcheck sut` cannot remove its bucket; conform removes it with the child's
    // WARMCHECK_TMPDIR.
    let cmd = misbehave("slow", 1, &announced_sut());
    let run =
        Running::start(&[SMALL, &["--jobs", "1", "--sut-timeout", "3", "--sut", &cmd]].concat());
    let pid: u32 = run.wait_for("sut-pid").parse().unwrap();
    let tmp = PathBuf::from(run.wait_for("sut-tmp"));
    // Its bucket exists (the first reset was answered).
    wait_until("no bucket made", || bucket_made(pid, &tmp));
    signal(pid, "-KILL");
    let (code, out) = run.end();
    // The proxy either answers nothing once its inner SUT is gone (the call times out) or
    // dies writing to it.
    assert_eq!(code, Some(2), "{out}");
    assert!(
        out.contains("no reply within 3 s") || out.contains("the SUT exited"),
        "{out}"
    );
    nothing_left(&out);
}

#[test]
fn a_sut_that_ignores_sigterm_is_sigkilled_and_its_files_removed() {
    if !python3() {
        eprintln!("skipped: no python3");
        return;
    }
    // The shell and the proxy ignore SIGTERM and the proxy hangs at the 3rd action: the
    // timeout's SIGTERM ends only `warmcheck sut`, SIGKILL the rest 2 s later. What the SUT
    // put in its WARMCHECK_TMPDIR goes too.
    let cmd = format!(
        "trap '' TERM; echo $WARMCHECK_TMPDIR > \"$WARMCHECK_TMPDIR/left-by-the-sut\"; {}",
        misbehave("hang", 3, &announced_sut())
    );
    let start = Instant::now();
    let (code, out) =
        conform(&[SMALL, &["--jobs", "1", "--sut-timeout", "2", "--sut", &cmd]].concat());
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("no reply within 2 s"), "{out}");
    // Well under the proxy's 60 s sleep: it was SIGKILLed.
    assert!(start.elapsed() < Duration::from_secs(45), "{out}");
    nothing_left(&out);
}

#[test]
fn conform_ended_by_a_second_sigterm_leaves_no_directory_behind() {
    if !python3() {
        eprintln!("skipped: no python3");
        return;
    }
    let cmd = misbehave("slow", 1, &announced_sut());
    let run = Running::start(&[SMALL, &["--jobs", "1", "--sut", &cmd]].concat());
    let pid: u32 = run.wait_for("sut-pid").parse().unwrap();
    let tmp = PathBuf::from(run.wait_for("sut-tmp"));
    wait_until("no bucket made", || bucket_made(pid, &tmp));
    // The first asks the walk to stop; the second ends conform at once: its children first.
    let conform = run.child.id();
    signal(conform, "-TERM");
    signal(conform, "-TERM");
    let (code, out) = run.end();
    assert!(code != Some(0), "{code:?}: {out}");
    nothing_left(&out);
}

#[test]
fn conform_sigkilled_leaves_only_the_childs_empty_tmpdir() {
    if !python3() {
        eprintln!("skipped: no python3");
        return;
    }
    // SIGKILL gives conform no chance: its child ends on EOF and removes its own directory,
    // but the WARMCHECK_TMPDIR conform made stays, empty (the one leak left, documented in
    // docs/sut-protocol.md, "Jobs"). This test removes it.
    let cmd = misbehave("slow", 1, &announced_sut());
    let run = Running::start(&[SMALL, &["--jobs", "1", "--sut", &cmd]].concat());
    let pid: u32 = run.wait_for("sut-pid").parse().unwrap();
    let tmp = PathBuf::from(run.wait_for("sut-tmp"));
    wait_until("no bucket made", || bucket_made(pid, &tmp));
    signal(run.child.id(), "-KILL");
    let (code, out) = run.end();
    assert_eq!(code, None, "{out}");
    wait_until(&format!("the SUT {pid} still runs"), || !running(pid));
    for parent in candidates(&tmp) {
        let left = sut_dirs(&parent, pid);
        assert!(left.is_empty(), "left behind: {left:?}");
    }
    let inside: Vec<_> = std::fs::read_dir(&tmp).unwrap().flatten().collect();
    assert!(inside.is_empty(), "{inside:?}");
    std::fs::remove_dir(&tmp).unwrap();
}

#[test]
fn replay_over_the_protocol_leaves_no_directory_behind() {
    // A counterexample's trace, replayed over the protocol.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("traces");
    let made = Command::new(W)
        .args([
            "check",
            "--variant",
            "v6.5.1",
            "--property",
            "no replica diverges",
        ])
        .arg("--trace-dir")
        .arg(&dir)
        .current_dir(tmp.path())
        .output()
        .unwrap();
    let trace = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("no traces ({e}): {}", String::from_utf8_lossy(&made.stderr)))
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(".trace.json"))
        .expect("a trace written");
    let out = Command::new(W)
        .arg("replay")
        .arg(&trace)
        .args(["--sut", &announced_sut()])
        .current_dir(tmp.path())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(matches!(out.status.code(), Some(0 | 1)), "{text}");
    nothing_left(&text);
}

/// `warmcheck sut` alone, in `WARMCHECK_TMPDIR=parent`, after one reset.
fn reset_sut(parent: &Path) -> (std::process::Child, std::process::ChildStdin) {
    let mut child = Command::new(W)
        .arg("sut")
        .env("WARMCHECK_TMPDIR", parent)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let reset = r#"{"id":1,"op":"reset","design":{"persist_entry":"sync-flush","shutdown_flag":"after-flush","rollback_retry":"if-entry-at-start"},"vbuckets":2,"replicas":1,"keys":2}"#;
    writeln!(stdin, "{reset}").unwrap();
    let mut reply = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut reply)
        .unwrap();
    assert!(reply.contains("\"ok\":true"), "{reply}");
    (child, stdin)
}

#[test]
fn warmcheck_sut_removes_its_directory_when_sigterm_meets_the_end_of_its_input() {
    // The race a client's kill makes when the SUT is already ending on EOF. Before the fix,
    // about 1 in 10 of these left the whole bucket.
    let parent = tempfile::tempdir().unwrap();
    for round in 0..30 {
        let (mut child, stdin) = reset_sut(parent.path());
        drop(stdin);
        signal(child.id(), "-TERM");
        let pid = child.id();
        let status = child.wait().unwrap();
        let left: Vec<_> = candidates(parent.path())
            .iter()
            .flat_map(|p| sut_dirs(p, pid))
            .collect();
        assert!(left.is_empty(), "round {round} ({status}): left {left:?}");
    }
}

#[test]
fn warmcheck_sut_removes_its_directory_on_sigterm() {
    let parent = tempfile::tempdir().unwrap();
    let (mut child, _stdin) = reset_sut(parent.path());
    let dirs: Vec<_> = candidates(parent.path())
        .iter()
        .flat_map(|p| sut_dirs(p, child.id()))
        .collect();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    assert!(dirs[0].join("bucket0").is_dir());
    signal(child.id(), "-TERM");
    let status = child.wait().unwrap();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(15)
    );
    assert!(!dirs[0].exists(), "{} is left", dirs[0].display());
}

#[test]
fn warmcheck_sut_refuses_a_warmcheck_tmpdir_that_is_no_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("a-file");
    std::fs::write(&file, "").unwrap();
    let absent = tmp.path().join("absent");
    use std::os::unix::ffi::OsStrExt;
    let not_utf8 = tmp
        .path()
        .join(std::ffi::OsStr::from_bytes(b"not-utf8-\xff"));
    for bad in [&file, &absent, &not_utf8] {
        let out = Command::new(W)
            .arg("sut")
            .env("WARMCHECK_TMPDIR", bad)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{}: {err}", bad.display());
        assert!(
            err.contains("WARMCHECK_TMPDIR=") && err.contains("is not a directory"),
            "{err}"
        );
        assert!(
            err.contains(&*bad.file_name().unwrap().to_string_lossy()),
            "{err}"
        );
    }
    // Nothing was made next to them.
    let mut names: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    names.sort();
    assert_eq!(names, vec![std::ffi::OsString::from("a-file")]);
    // With --dir the variable is not read.
    let dir = tmp.path().join("data");
    let out = Command::new(W)
        .arg("sut")
        .arg("--dir")
        .arg(&dir)
        .env("WARMCHECK_TMPDIR", &absent)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
