//! The tests that measure a child's peak memory, in a binary of their own: `tests/it` runs
//! every other test in one process, and its size would be measured with them. A child's peak
//! resident memory as wait4 reports it (`ru_maxrss`) includes its parent's at the moment it was
//! spawned (Linux keeps a process's maximum across execve), so a `warmcheck` started while other
//! tests of the same process hold hundreds of MiB of model states seems to take them itself
//! (`output_after_the_last_reply_is_not_queued_without_limit` read 286 MiB inside `tests/it`,
//! under 100 MiB here). This process stays small: the children's figures are their own.
//! (Moved from `tests/files_and_processes.rs` and `tests/sut_protocol.rs`, names unchanged.)

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};

const W: &str = env!("CARGO_BIN_EXE_warmcheck");

/// Small bounds: every design's graph in well under a second in-process.
const SMALL: &[&str] = &["--writes", "1", "--crashes", "1", "--shutdowns", "1"];

/// Run `warmcheck args` with `TMPDIR` set: exit code, stdout, stderr.
fn warmcheck(args: &[&str], tmpdir: &Path) -> (i32, String, String) {
    let out = Command::new(W)
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

/// Run `warmcheck args` to its end: exit code, stderr, and its peak resident memory in KiB
/// (that child's own, from wait4).
// It is waited for, by wait4 (which std's Child does not know of).
#[allow(clippy::zombie_processes)]
fn run_measured(args: &[&str], tmpdir: &Path) -> (i32, String, i64) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_warmcheck"))
        .args(args)
        .env("TMPDIR", tmpdir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to fill in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: wait4 on our own child's pid, with pointers to live locals.
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    assert_eq!(pid, child.id() as i32);
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    (code, err, usage.ru_maxrss)
}

#[test]
fn a_stats_json_larger_than_its_limit_is_refused_without_being_read_whole() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let d = dir.to_str().unwrap();
    let script = tmp.path().join("s.txt");
    std::fs::write(&script, "set k0\nflush\n").unwrap();
    let (code, out, err) = warmcheck(
        &["scenario", script.to_str().unwrap(), "--dir", d],
        tmp.path(),
    );
    assert_eq!(code, 0, "{out}{err}");
    // A stats.json of 1 GiB (sparse: it costs no disk).
    let stats = dir.join("active").join("stats.json");
    std::fs::File::create(&stats)
        .unwrap()
        .set_len(1 << 30)
        .unwrap();
    let (code, err, peak_kib) = run_measured(
        &["scenario", script.to_str().unwrap(), "--dir", d],
        tmp.path(),
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("more than the 1048576 bytes a stats file may hold"),
        "{err}"
    );
    assert!(
        peak_kib < 256 * 1024,
        "the refusal took {} MiB: the file was read whole",
        peak_kib / 1024
    );
}

/// Run `warmcheck conform args` to its end: exit code, output, and its peak resident memory in
/// KiB (that child's own, from wait4).
// It is waited for, by wait4 (which std's Child does not know of).
#[allow(clippy::zombie_processes)]
fn conform_measured(args: &[&str]) -> (i32, String, i64) {
    use std::io::Read;
    let tmp = tempfile::tempdir().unwrap();
    let mut child = Command::new(W)
        .arg("conform")
        .args(args)
        .current_dir(tmp.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to fill in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: wait4 on our own child's pid, with pointers to live locals.
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    assert_eq!(pid, child.id() as i32);
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    (code, out, usage.ru_maxrss)
}

#[test]
fn output_after_the_last_reply_is_not_queued_without_limit() {
    // After its last reply the SUT writes 200 MB of lines nobody asked for, while conform
    // gives it its 2 s to exit: they used to be queued, all of them, in conform's memory.
    let cmd =
        format!("{W} sut; yes \"$(head -c 999 /dev/zero | tr '\\\\0' a)\" | head -c 200000000");
    let (code, out, peak_kib) =
        conform_measured(&[SMALL, &["-q", "--jobs", "1", "--sut", &cmd]].concat());
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("No mismatch"), "{out}");
    assert!(
        peak_kib < 100 * 1024,
        "conform peaked at {} MiB: the unasked output was queued",
        peak_kib / 1024
    );
}
