//! `conform --sut` and `replay --sut` over the SUT protocol (docs/sut-protocol.md), against
//! `warmcheck sut` (the implementation behind the protocol) and against misbehaving SUTs
//! (`tests/data/sut/misbehave.py`, a proxy around `warmcheck sut`).
//!
//! - protocol mode and in-process mode agree: same counts, same verdict;
//! - every seeded bug gets the same verdict through the protocol as in-process, and each engine
//!   bug is caught (exit 1, the mismatch);
//! - a SUT that exits, hangs, answers garbage or another request's id gets a clear report
//!   naming the step and the request (exit 2) and no hang; one that lies in `observe` is a
//!   mismatch (exit 1);
//! - a SUT without snapshots covers every transition by path replay from reset;
//! - omitted fields are not compared, and the report says so.

use crate::common::wait_until;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const W: &str = env!("CARGO_BIN_EXE_warmcheck");

/// Small bounds: every design's graph in well under a second in-process.
const SMALL: &[&str] = &["--writes", "1", "--crashes", "1", "--shutdowns", "1"];

fn warmcheck(args: &[&str], cwd: &Path) -> Output {
    Command::new(W)
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("warmcheck runs")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn sut(extra: &str) -> String {
    format!("{W} sut {extra}")
}

fn misbehave(mode: &str, n: u32) -> String {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/sut/misbehave.py");
    format!("python3 {} {mode} {n} '{W} sut'", script.display())
}

fn python3() -> bool {
    Command::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// `conform` with `args`, its exit code and JSON report.
fn conform(args: &[&str]) -> (i32, Value, String) {
    let tmp = tempfile::tempdir().unwrap();
    let json = tmp.path().join("report.json");
    let mut all = vec!["conform", "-q", "--json", json.to_str().unwrap()];
    all.extend_from_slice(args);
    let out = warmcheck(&all, tmp.path());
    let report = std::fs::read_to_string(&json)
        .ok()
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or(Value::Null);
    (out.status.code().unwrap_or(-1), report, text(&out))
}

fn counts(r: &Value) -> Vec<&Value> {
    [
        "transitions_covered",
        "transitions_reachable",
        "states_covered",
        "states_reachable",
        "passed",
    ]
    .iter()
    .map(|k| &r[*k])
    .collect()
}

#[test]
fn protocol_mode_agrees_with_in_process_mode() {
    for variant in ["current", "v6.5.1", "proposed"] {
        let mut args = vec!["--variant", variant];
        args.extend_from_slice(SMALL);
        let (code, in_process, out) = conform(&[&args[..], &["--jobs", "1"]].concat());
        assert_eq!(code, 0, "{out}");
        assert_eq!(in_process["sut"], Value::Null);
        let cmd = sut("");
        for jobs in ["1", "2"] {
            let (code, over, out) =
                conform(&[&args[..], &["--jobs", jobs, "--sut", &cmd]].concat());
            assert_eq!(code, 0, "{variant} --jobs {jobs}: {out}");
            assert_eq!(counts(&over), counts(&in_process), "{variant}: {out}");
            assert_eq!(
                over["transitions_covered"], over["transitions_reachable"],
                "{out}"
            );
            assert_eq!(over["sut"]["snapshots"], true);
            assert_eq!(over["sut"]["not_compared"], serde_json::json!([]));
            assert!(out.contains("SUT warmcheck-impl"), "{out}");
        }
    }
}

#[test]
fn every_seeded_bug_gets_the_same_verdict_through_the_protocol() {
    // The sensitivity test's bounds, on the crashable in-memory backend.
    let bounds = [
        "--keys",
        "1",
        "--writes",
        "2",
        "--crashes",
        "2",
        "--shutdowns",
        "1",
        "--jobs",
        "2",
    ];
    let engine_bugs = [
        "flusher_ignores_set_vbstate",
        "needs_rollback_uses_lt",
        "no_entry_after_unclean_shutdown",
        "rollback_does_not_prune",
        "clean_flag_before_final_flush",
    ];
    let storage_bugs = ["header_before_docs_synced", "accept_bad_header_checksum"];
    // The storage bugs are the crash checks' to catch, not conform's: a smaller graph suffices
    // to show that both modes agree on them.
    let small = [
        "--writes",
        "1",
        "--crashes",
        "1",
        "--shutdowns",
        "0",
        "--jobs",
        "2",
    ];
    for bug in engine_bugs.iter().chain(&storage_bugs) {
        let bounds: &[&str] = if engine_bugs.contains(bug) {
            &bounds
        } else {
            &small
        };
        let (code, _, out_in) =
            conform(&[bounds, &["--backend", "faulty", "--seeded-bug", bug][..]].concat());
        let cmd = sut(&format!("--backend faulty --seeded-bug {bug}"));
        let (code_sut, report, out) = conform(&[bounds, &["--sut", &cmd][..]].concat());
        assert_eq!(
            code_sut, code,
            "{bug}: in-process\n{out_in}\nprotocol\n{out}"
        );
        if engine_bugs.contains(bug) {
            assert_eq!(code_sut, 1, "{bug}: {out}");
            assert!(out.contains("MISMATCH after"), "{bug}: {out}");
            assert!(!report["mismatches"][0]["trace"]
                .as_array()
                .unwrap()
                .is_empty());
        }
    }
}

#[test]
fn the_done_when_bug_is_caught_at_the_default_bounds() {
    let cmd = sut("--seeded-bug no_entry_after_unclean_shutdown");
    let (code, report, out) = conform(&["--sut", &cmd, "--jobs", "2"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("MISMATCH after"), "{out}");
    assert!(out.contains("/active/vbuckets/0/failover"), "{out}");
    assert_eq!(report["passed"], false);
}

#[test]
fn without_snapshots_paths_are_replayed_from_reset_and_cover_everything() {
    // Path replay costs about the depth times more steps: smaller bounds.
    let small = ["--writes", "1", "--crashes", "1", "--shutdowns", "0"];
    let (code, with, out) = conform(&[&small[..], &["--jobs", "1", "--sut", &sut("")]].concat());
    assert_eq!(code, 0, "{out}");
    let (code, without, out) =
        conform(&[&small[..], &["--jobs", "2", "--sut", &sut("--no-snapshot")]].concat());
    assert_eq!(code, 0, "{out}");
    assert_eq!(counts(&without), counts(&with), "{out}");
    assert_eq!(
        without["transitions_covered"],
        without["transitions_reachable"]
    );
    let s = &without["sut"];
    assert_eq!(s["snapshots"], false);
    assert!(s["resets"].as_u64().unwrap() > 1, "{s}");
    let replayed = s["replayed_steps"].as_u64().unwrap();
    assert!(replayed > 0);
    // Steps count the transitions and the navigation to their sources.
    assert!(
        without["steps"].as_u64().unwrap()
            >= without["transitions_covered"].as_u64().unwrap() + replayed
    );
    assert!(out.contains("no snapshots: states reached by"), "{out}");
}

#[test]
fn omitted_fields_are_not_compared_and_the_report_says_so() {
    let cmd = sut("--omit '/active/vbuckets/*/queued' --omit /active/clean_shutdown_flag");
    let (code, report, out) = conform(&[SMALL, &["--jobs", "1", "--sut", &cmd]].concat());
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        report["sut"]["not_compared"],
        serde_json::json!(["/active/clean_shutdown_flag", "/active/vbuckets/*/queued"])
    );
    assert!(
        out.contains("Not compared (the SUT leaves them out)"),
        "{out}"
    );
    // A field that may not be omitted is refused at the handshake.
    let (code, _, out) = conform(&[SMALL, &["--sut", &sut("--omit /active/process")]].concat());
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("may not be omitted"), "{out}");
}

#[test]
fn a_sut_of_another_design_is_refused_before_the_walk() {
    let (code, _, out) = conform(
        &[
            SMALL,
            &["--variant", "current", "--sut", &sut("--variant v6.5.1")],
        ]
        .concat(),
    );
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("does not implement design `current`"), "{out}");
}

/// A bad SUT's run: exit 2 within `limit`, its report containing every one of `want`.
fn bad(mode: &str, want: &[&str], limit: Duration) {
    let start = Instant::now();
    let (code, _, out) = conform(
        &[
            SMALL,
            &[
                "--jobs",
                "1",
                "--sut-timeout",
                "3",
                "--sut",
                &misbehave(mode, 5),
            ],
        ]
        .concat(),
    );
    assert!(
        start.elapsed() < limit,
        "{mode}: took {:?}",
        start.elapsed()
    );
    assert_eq!(code, 2, "{mode}: {out}");
    for w in want {
        assert!(out.contains(w), "{mode}: no {w:?} in\n{out}");
    }
    assert!(!out.contains("panicked"), "{out}");
}

const REQUEST: &str = r#"(request {"id":"#;

#[test]
fn a_sut_that_exits_mid_run_is_reported_with_the_step_and_the_request() {
    if !python3() {
        eprintln!("skipped: no python3");
        return;
    }
    bad(
        "exit",
        &[
            "step 5: the SUT exited (exit status: 3) before answering",
            REQUEST,
            "the SUT's last stderr lines:",
            "misbehave.py: exiting on purpose",
        ],
        Duration::from_secs(30),
    );
}

#[test]
fn a_sut_that_hangs_times_out_and_is_killed() {
    if !python3() {
        eprintln!("skipped: no python3");
        return;
    }
    // The proxy sleeps 60 s: a run well under that proves the timeout and the kill.
    bad(
        "hang",
        &["step 5: no reply within 3 s (--sut-timeout)", REQUEST],
        Duration::from_secs(30),
    );
}

#[test]
fn a_sut_that_sends_garbage_is_reported() {
    if !python3() {
        eprintln!("skipped: no python3");
        return;
    }
    bad(
        "garbage",
        &[
            r#"step 5: malformed reply line "this is not JSON""#,
            REQUEST,
        ],
        Duration::from_secs(30),
    );
}

#[test]
fn a_reply_for_another_request_is_reported() {
    if !python3() {
        eprintln!("skipped: no python3");
        return;
    }
    bad(
        "wrong-id",
        &["step 5: a reply for request", "was asked", REQUEST],
        Duration::from_secs(30),
    );
}

#[test]
fn a_sut_that_lies_in_observe_is_a_mismatch() {
    if !python3() {
        eprintln!("skipped: no python3");
        return;
    }
    let (code, report, out) =
        conform(&[SMALL, &["--jobs", "1", "--sut", &misbehave("lie", 5)]].concat());
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("MISMATCH after 5 steps"), "{out}");
    assert_eq!(
        report["mismatches"][0]["differences"][0]["path"],
        "/active/clean_shutdown_flag"
    );
}

#[test]
fn a_command_that_is_no_sut_is_reported() {
    let (code, _, out) = conform(&[SMALL, &["--sut", "echo hello"]].concat());
    assert_eq!(code, 2, "{out}");
    // It may exit before or after reading the request, and write before it is sent.
    assert!(
        out.contains("step 0: malformed reply line \"hello\"")
            || out.contains("step 0: a line no request asked for, before this request: \"hello\"")
            || out.contains("step 0: the SUT exited (exit status: 0)"),
        "{out}"
    );
    let (code, _, out) = conform(&[SMALL, &["--sut", "exit 7"]].concat());
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("exit status: 7"), "{out}");
}

#[test]
fn replay_over_the_protocol_agrees_with_replay_in_process() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("traces");
    let out = warmcheck(
        &[
            "check",
            "--variant",
            "v6.5.1",
            "--property",
            "no replica diverges",
            "--trace-dir",
            dir.to_str().unwrap(),
        ],
        tmp.path(),
    );
    let trace = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("no trace directory ({e}): {}", text(&out)))
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(".trace.json"))
        .unwrap_or_else(|| panic!("no trace written: {}", text(&out)));
    let t = trace.to_str().unwrap();
    let in_process = warmcheck(&["replay", t], tmp.path());
    let over = warmcheck(&["replay", t, "--sut", &sut("")], tmp.path());
    assert_eq!(
        in_process.status.code(),
        over.status.code(),
        "{}",
        text(&over)
    );
    let verdicts = |o: &Output| -> Vec<String> {
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .filter(|l| l.contains("implementation:") || l.contains("MISMATCH"))
            .map(str::to_string)
            .collect()
    };
    assert_eq!(verdicts(&in_process), verdicts(&over), "{}", text(&over));
    // The same divergence, read from files in-process and from the last view over the
    // protocol.
    for o in [&in_process, &over] {
        assert!(
            text(o).contains("Diverged on disk: vb 0 seqno 1:"),
            "{}",
            text(o)
        );
    }
}

/// A `warmcheck sut` driven by hand: one request line in, one reply line out. Its temporary
/// directory (without --dir) goes in a directory of the test's own (`WARMCHECK_TMPDIR`).
struct Peer {
    child: std::process::Child,
    stdin: Option<std::process::ChildStdin>,
    stdout: std::io::BufReader<std::process::ChildStdout>,
    tmp: tempfile::TempDir,
}

impl Peer {
    fn start(args: &[&str]) -> Peer {
        let tmp = tempfile::tempdir().unwrap();
        let mut child = Command::new(W)
            .arg("sut")
            .args(args)
            .env("WARMCHECK_TMPDIR", tmp.path())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        Peer {
            child,
            stdin: Some(stdin),
            stdout,
            tmp,
        }
    }

    /// Send `line` (and a newline); the reply, parsed.
    fn call(&mut self, line: impl AsRef<[u8]>) -> Value {
        use std::io::{BufRead, Write};
        let stdin = self.stdin.as_mut().unwrap();
        stdin.write_all(line.as_ref()).unwrap();
        stdin.write_all(b"\n").unwrap();
        stdin.flush().unwrap();
        let mut reply = String::new();
        self.stdout.read_line(&mut reply).unwrap();
        serde_json::from_str(&reply).unwrap_or_else(|e| panic!("{e}: {reply:?}"))
    }
}

impl Drop for Peer {
    /// Close its stdin: it ends and removes its directory (checked, unless the test is failing
    /// already); killed if it has not ended 30 s later.
    fn drop(&mut self) {
        self.stdin = None;
        let until = Instant::now() + Duration::from_secs(30);
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let left: Vec<_> = std::fs::read_dir(self.tmp.path())
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .collect();
        if !std::thread::panicking() {
            assert!(left.is_empty(), "warmcheck sut left {left:?}");
        }
    }
}

const RESET: &str = r#"{"id":1,"op":"reset","design":{"persist_entry":"sync-flush","shutdown_flag":"after-flush","rollback_retry":"if-entry-at-start"},"vbuckets":1,"replicas":1,"keys":2}"#;

/// The files below `dir`, recursively, as paths relative to it.
fn files_below(dir: &Path) -> Vec<String> {
    let mut out = vec![];
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                todo.push(p);
            } else {
                out.push(p.strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    out.sort();
    out
}

#[test]
fn a_second_sut_on_one_dir_never_removes_the_first_ones_bucket() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let d = dir.to_str().unwrap();
    // Both start on the empty directory (the second passes the "absent or empty" check
    // before the first one's first reset).
    let mut first = Peer::start(&["--dir", d]);
    let mut second = Peer::start(&["--dir", d]);
    let hello = r#"{"id":0,"op":"hello","protocol":[1]}"#;
    assert_eq!(first.call(hello)["ok"], true);
    assert_eq!(second.call(hello)["ok"], true);
    assert_eq!(first.call(RESET)["ok"], true);
    let set = r#"{"id":2,"op":"set","vb":0,"key":"k0","value":"v1","ttl":null}"#;
    assert_eq!(first.call(set)["ok"], true);
    assert_eq!(
        first.call(r#"{"id":3,"op":"flush","vb":0,"fail":false}"#)["ok"],
        true
    );
    let held = files_below(&dir);
    assert!(held.iter().any(|f| f.starts_with("bucket0/")), "{held:?}");
    for id in 1..=3 {
        let r = second.call(RESET.replace("\"id\":1", &format!("\"id\":{id}")));
        if r["ok"] == false {
            assert!(r["error"].as_str().unwrap_or("").contains("bucket"), "{r}");
        }
    }
    // The first one's bucket, flushed data included, is untouched.
    let after = files_below(&dir);
    for f in &held {
        assert!(after.contains(f), "{f} went: {after:?}");
    }
    let view = first.call(r#"{"id":4,"op":"observe"}"#);
    assert_eq!(view["ok"], true, "{view}");
}

#[test]
fn warmcheck_sut_bounds_a_request_line_and_answers_one_that_is_not_utf8() {
    // `< /dev/zero`: one line without end. Refused after MAX_REQUEST_LINE bytes, not read
    // until memory runs out.
    let start = Instant::now();
    let out = Command::new(W)
        .arg("sut")
        .stdin(std::fs::File::open("/dev/zero").unwrap())
        .output()
        .unwrap();
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let reply: Value = serde_json::from_slice(out.stdout.split(|&b| b == b'\n').next().unwrap())
        .unwrap_or_else(|e| panic!("{e}: {}", text(&out)));
    assert_eq!(reply["ok"], false);
    assert!(
        reply["error"]
            .as_str()
            .unwrap()
            .contains("request line 1 is longer than 1048576 bytes"),
        "{reply}"
    );
    // A line that is not UTF-8 is answered with an error naming it; the next one is served.
    let mut peer = Peer::start(&[]);
    let r = peer.call(b"{\"id\":0,\"op\":\"hello\xff\",\"protocol\":[1]}");
    assert_eq!(r["ok"], false, "{r}");
    assert!(
        r["error"]
            .as_str()
            .unwrap()
            .contains("request line 1 is not UTF-8"),
        "{r}"
    );
    let r = peer.call(r#"{"id":1,"op":"hello","protocol":[1]}"#);
    assert_eq!(r["ok"], true, "{r}");
}

#[test]
fn a_conform_stopped_at_its_first_mismatch_reports_itself_incomplete() {
    let args = [
        "--keys",
        "1",
        "--writes",
        "2",
        "--crashes",
        "2",
        "--shutdowns",
        "1",
        "--jobs",
        "1",
        "--backend",
        "faulty",
        "--seeded-bug",
        "needs_rollback_uses_lt",
    ];
    let (code, report, out) = conform(&args);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("MISMATCH after"), "{out}");
    assert_eq!(report["complete"], false, "{out}");
    assert!(out.contains("INCOMPLETE: the walk stopped early"), "{out}");
    assert!(!out.contains("100.0%"), "{out}");
    // A full walk is complete.
    let (code, report, out) = conform(&[SMALL, &["--jobs", "2", "--backend", "faulty"]].concat());
    assert_eq!(code, 0, "{out}");
    assert_eq!(report["complete"], true, "{out}");
    assert_eq!(report["backend"], "faulty", "{out}");
}

#[test]
fn conform_sut_refuses_the_in_process_storage_flags_it_would_ignore() {
    let cmd = sut("");
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("d");
    for extra in [
        &["--backend", "faulty"][..],
        &["--backend", "file"],
        &["--dir", d.to_str().unwrap()],
    ] {
        let (code, _, out) = conform(&[SMALL, extra, &["--sut", &cmd]].concat());
        assert_eq!(code, 2, "{extra:?}: {out}");
        assert!(
            out.contains("--backend and --dir choose the in-process implementation's storage"),
            "{out}"
        );
        assert!(!d.exists(), "{extra:?}");
    }
    // Without them the report says the SUT's storage was not ours to choose.
    let (code, report, out) = conform(&[SMALL, &["--jobs", "1", "--sut", &cmd]].concat());
    assert_eq!(code, 0, "{out}");
    assert_eq!(report["backend"], "sut", "{out}");
}

#[test]
fn sigterm_stops_conform_with_a_slow_sut_at_its_next_transition() {
    if !python3() {
        eprintln!("skipped: no python3");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let json = tmp.path().join("report.json");
    let mut child = Command::new(W)
        .args(["conform", "-q", "--json", json.to_str().unwrap()])
        .args(SMALL)
        .args(["--jobs", "1", "--sut", &misbehave("slow", 1)])
        .current_dir(tmp.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // A few slow steps in.
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        child.try_wait().unwrap().is_none(),
        "it ended before the signal"
    );
    let sent = Instant::now();
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    while child.try_wait().unwrap().is_none() && sent.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let ended = sent.elapsed();
    if child.try_wait().unwrap().is_none() {
        let _ = child.kill();
    }
    let out = child.wait_with_output().unwrap();
    let all = text(&out);
    assert!(
        ended < Duration::from_secs(5),
        "took {ended:?} after SIGTERM: {all}"
    );
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(all.contains("interrupted"), "{all}");
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["complete"], false);
    assert_eq!(report["passed"], false);
}

#[test]
fn a_sut_stderr_line_not_utf8_or_without_end_is_passed_through_bounded() {
    // Before: one byte that is not UTF-8 ended the stderr reader, and the SUT died of SIGPIPE
    // on its next log line; a long line was held whole.
    let cmd = format!(
        "printf 'bad \\377 byte\\n' >&2; sleep 0.3; echo after-the-bad-byte >&2; \
         head -c 10000000 /dev/zero | tr '\\0' a >&2; echo >&2; exec {W} sut"
    );
    let (code, _, out) = conform(&[SMALL, &["--jobs", "1", "--sut", &cmd]].concat());
    assert_eq!(code, 0, "{}", &out[..out.len().min(3000)]);
    assert!(
        out.contains("sut: after-the-bad-byte"),
        "{}",
        &out[..out.len().min(3000)]
    );
    assert!(
        out.contains("sut: bad \u{fffd} byte"),
        "{}",
        &out[..out.len().min(3000)]
    );
    assert!(
        out.contains("... (cut at 4096 bytes)"),
        "{}",
        &out[..out.len().min(3000)]
    );
    assert!(out.len() < 1_000_000, "{} bytes of output", out.len());
}

#[test]
fn a_line_no_request_asked_for_is_a_protocol_error() {
    if !python3() {
        eprintln!("skipped: no python3");
        return;
    }
    // The line is seen either waiting before the next request (the usual case) or, if it
    // arrives after that request was sent, as that request's reply.
    let (code, _, out) = conform(
        &[
            SMALL,
            &[
                "--jobs",
                "1",
                "--sut-timeout",
                "3",
                "--sut",
                &misbehave("chatty", 5),
            ],
        ]
        .concat(),
    );
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("a line no request asked for, before this request: \"unasked\"")
            || out.contains("malformed reply line \"unasked\""),
        "{out}"
    );
    assert!(out.contains(REQUEST), "{out}");
}

/// The number after `name=` on a stderr line of the SUT's (`sut: name=N`) in `text`.
fn pid_after(text: &str, name: &str) -> u32 {
    let tag = format!("sut: {name}=");
    let at = text
        .find(&tag)
        .unwrap_or_else(|| panic!("no {tag} in {text}"));
    text[at + tag.len()..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .unwrap()
}

/// Whether process `pid` still runs (a zombie does not).
fn running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        let state = s[s.rfind(')').unwrap() + 1..].split_whitespace().next();
        !matches!(state, Some("Z" | "X"))
    })
}

#[test]
fn what_a_sut_command_starts_in_the_background_does_not_outlive_the_run() {
    let cmd = format!("sleep 300 & echo bg-pid=$! >&2; exec {W} sut");
    let (code, _, out) = conform(&[SMALL, &["--jobs", "1", "--sut", &cmd]].concat());
    assert_eq!(code, 0, "{out}");
    let pid = pid_after(&out, "bg-pid");
    wait_until(&format!("the background sleep {pid} still runs"), || {
        !running(pid)
    });
}

#[test]
fn warmcheck_sut_holds_a_bounded_number_of_snapshots() {
    use std::io::{BufRead, Write};
    let mut child = Command::new(W)
        .args(["sut", "--backend", "faulty"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let n = 10_002;
    // The replies are read as they come, so that neither side blocks on a full pipe.
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let reader = std::thread::spawn(move || {
        let mut replies = Vec::new();
        let mut line = String::new();
        for _ in 0..n {
            line.clear();
            stdout.read_line(&mut line).unwrap();
            replies.push(serde_json::from_str::<Value>(&line).unwrap());
        }
        replies
    });
    let mut input = format!("{RESET}\n");
    for id in 2..=n {
        input += &format!("{{\"id\":{id},\"op\":\"snapshot\"}}\n");
    }
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input.as_bytes()).unwrap();
    drop(stdin);
    let replies = reader.join().unwrap();
    let _ = child.wait();
    assert_eq!(replies[0]["ok"], true, "{}", replies[0]);
    assert_eq!(replies[10_000]["ok"], true, "the 10000th is held");
    let last = &replies[10_001];
    assert_eq!(last["ok"], false, "{last}");
    assert!(
        last["error"]
            .as_str()
            .unwrap()
            .contains("10000 snapshots are held"),
        "{last}"
    );
}

/// Protocol versions (docs/sut-protocol.md, "Handshake: hello"): warmcheck offers [1, 2]. A
/// SUT that answers 1 (no `fail_over`, no `add_back`) is driven at failovers=0 and refused,
/// before the walk and naming version 2, at failovers=1; one that answers a version warmcheck
/// did not offer (3) is refused at any bounds. The SUT is `warmcheck sut` behind a proxy that
/// rewrites its hello reply's "protocol".
#[test]
fn a_sut_of_protocol_1_is_refused_failovers_and_one_of_protocol_3_everything() {
    if !python3() {
        eprintln!("skipped: no python3");
        return;
    }
    let v1 = misbehave("protocol", 1);
    let (code, report, out) = conform(&[SMALL, &["--jobs", "1", "--sut", &v1]].concat());
    assert_eq!(code, 0, "a version-1 SUT at failovers=0: {out}");
    assert_eq!(report["passed"], Value::Bool(true), "{out}");
    let (code, _, out) =
        conform(&[SMALL, &["--failovers", "1", "--jobs", "1", "--sut", &v1]].concat());
    assert_eq!(code, 2, "a version-1 SUT at failovers=1: {out}");
    for want in [
        "speaks protocol 1, which has no failover or add-back",
        "version 2 has",
        "give it failovers=0",
    ] {
        assert!(out.contains(want), "no {want:?} in\n{out}");
    }
    let v3 = misbehave("protocol", 3);
    for failovers in ["0", "1"] {
        let (code, _, out) = conform(
            &[
                SMALL,
                &["--failovers", failovers, "--jobs", "1", "--sut", &v3],
            ]
            .concat(),
        );
        assert_eq!(code, 2, "a version-3 SUT at failovers={failovers}: {out}");
        assert!(
            out.contains("speaks protocol 3; this warmcheck speaks [1, 2]"),
            "{out}"
        );
        assert!(!out.contains("panicked"), "{out}");
    }
}

/// Protocol 2's requests, hostile: `warmcheck sut` refuses a `fail_over` of a replica that does
/// not exist or is spelled another way, one while the active runs, and an `add_back` with no
/// node out, each saying why and changing nothing (`observe` is the same after); a `fail_over`
/// without its replica, or with a number for it, is an error naming the request, and the next
/// request is served.
#[test]
fn warmcheck_sut_refuses_bad_failover_requests_and_changes_nothing() {
    let mut peer = Peer::start(&[]);
    let r = peer.call(r#"{"id":0,"op":"hello","protocol":[1,2]}"#);
    assert_eq!(r["protocol"], 2, "{r}");
    assert_eq!(peer.call(RESET)["ok"], true);
    let observe = |peer: &mut Peer| peer.call(r#"{"id":9,"op":"observe"}"#)["view"].clone();
    let running = observe(&mut peer);
    let r = peer.call(r#"{"id":2,"op":"fail_over","replica":"r1"}"#);
    assert!(
        r["ok"] == false
            && r["refused"]
                .as_str()
                .unwrap()
                .contains("only a down active"),
        "{r}"
    );
    let r = peer.call(r#"{"id":3,"op":"add_back"}"#);
    assert!(
        r["ok"] == false
            && r["refused"]
                .as_str()
                .unwrap()
                .contains("no node is failed over"),
        "{r}"
    );
    assert_eq!(observe(&mut peer), running, "refused calls change nothing");
    assert_eq!(peer.call(r#"{"id":4,"op":"crash"}"#)["ok"], true);
    let down = observe(&mut peer);
    for replica in ["r2", "r0", "r01", "x", ""] {
        let r = peer.call(format!(
            r#"{{"id":5,"op":"fail_over","replica":"{replica}"}}"#
        ));
        assert_eq!(r["ok"], false, "{replica:?}: {r}");
        assert!(r["refused"].is_string() || r["error"].is_string(), "{r}");
    }
    for line in [
        r#"{"id":6,"op":"fail_over"}"#,
        r#"{"id":7,"op":"fail_over","replica":1}"#,
    ] {
        let r = peer.call(line);
        assert_eq!(r["ok"], false, "{line}: {r}");
        assert!(r["error"].is_string(), "{line}: {r}");
    }
    assert_eq!(observe(&mut peer), down, "bad requests change nothing");
    let r = peer.call(r#"{"id":8,"op":"fail_over","replica":"r1"}"#);
    assert_eq!(r["ok"], true, "{r}");
}
