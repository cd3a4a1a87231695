//! The second engine, `conformance/sut/python/warmcheck_sut.py` (an in-memory engine written
//! from the domain brief, standard-library Python), follows the model on every reachable
//! transition, driven by `warmcheck conform --sut` over the SUT protocol
//! (`docs/sut-protocol.md`). Each conforming run asserts 100% of the transitions covered and no
//! mismatch; the last run asserts that conform catches the same engine with one behaviour
//! changed, so that the others cannot pass by accident. Failover (protocol version 2) has a
//! conforming run, the failover stories (`testdata/failover/`), and a mutant of its own (a
//! promotion's entry at the high seqno).
//!
//! The bounds are the largest at which `current` conforms in well under two minutes on a loaded
//! two-core machine (`docs/performance.md`, "Conformance over the SUT protocol").
//!
//! Where `python3` cannot run, each test reports `ignored, SKIPPED ...` (never a silent pass).
//! With `WARMCHECK_REQUIRE_PYTHON=1` (as `.ci/run` sets) a missing python3 fails instead. The
//! file is its own harness (libtest-mimic, `harness = false`) for that reason.

use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;

/// The Python SUT, as a shell word.
fn sut_file() -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sut/python/warmcheck_sut.py");
    format!("'{}'", path.display())
}

/// `python3 --version`, or why python3 cannot run here.
fn python3() -> Result<String, String> {
    let out = Command::new("python3")
        .arg("--version")
        .output()
        .map_err(|e| format!("python3 cannot be started: {e}"))?;
    if !out.status.success() {
        return Err(format!("`python3 --version` exited with {}", out.status));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Run `warmcheck conform --sut CMD` with `args`; returns the exit code, the output, and the
/// JSON report.
fn conform(sut: &str, args: &[&str]) -> Result<(i32, String, Value), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let report = dir.path().join("report.json");
    let out = Command::new(env!("CARGO_BIN_EXE_warmcheck"))
        .arg("conform")
        .args(["--sut", sut, "--quiet", "--json"])
        .arg(&report)
        .arg("--trace-dir")
        .arg(dir.path().join("traces"))
        .args(args)
        .output()
        .map_err(|e| format!("warmcheck cannot be started: {e}"))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let code = out.status.code().unwrap_or(-1);
    let json = std::fs::read_to_string(&report)
        .map_err(|e| format!("no JSON report (exit {code}): {e}\n{text}"))?;
    let json: Value = serde_json::from_str(&json).map_err(|e| format!("bad JSON report: {e}"))?;
    Ok((code, text, json))
}

/// Conform over the Python SUT, asserting every reachable transition covered, no mismatch.
fn conforms(args: &[&str]) -> Result<(), String> {
    let sut = format!("python3 {}", sut_file());
    let (code, text, report) = conform(&sut, args)?;
    let field = |name: &str| report[name].as_u64().unwrap_or(0);
    let (covered, reachable) = (field("transitions_covered"), field("transitions_reachable"));
    if code != 0 || report["passed"] != Value::Bool(true) {
        return Err(format!("conform {args:?} exited {code}:\n{text}"));
    }
    if covered != reachable || reachable == 0 || report["complete"] != Value::Bool(true) {
        return Err(format!(
            "conform {args:?} covered {covered} of {reachable} transitions:\n{text}"
        ));
    }
    if report["mismatches"]
        .as_array()
        .is_none_or(|m| !m.is_empty())
    {
        return Err(format!("conform {args:?} reported mismatches:\n{text}"));
    }
    // The engine leaves no view field or call result out, and answers snapshot and restore.
    let sut = &report["sut"];
    if sut["not_compared"].as_array().is_none_or(|n| !n.is_empty()) {
        return Err(format!(
            "conform {args:?} did not compare {}:\n{text}",
            sut["not_compared"]
        ));
    }
    if sut["snapshots"] != Value::Bool(true) {
        return Err(format!("conform {args:?} did not use snapshots: {sut}"));
    }
    Ok(())
}

/// The same engine, except that `createEntry` does nothing, so warmup after an unclean
/// shutdown creates no failover entry (the seeded bug `no_entry_after_unclean_shutdown` of
/// warmcheck's own implementation): conform must exit 1 with a mismatch naming the failover
/// table and saying that warmup should have created an entry.
fn engine_without_a_new_entry_after_an_unclean_shutdown_is_caught() -> Result<(), String> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sut/python");
    let program = format!(
        "import sys; sys.path.insert(0, {dir:?}); import warmcheck_sut as e; \
         e.FailoverTable.create_entry = lambda table, uuid, high: None; sys.exit(e.serve(sys.stdin.buffer, sys.stdout.buffer))",
        dir = dir.display().to_string()
    );
    let sut = format!("python3 -c '{program}'");
    let args = [
        "--keys",
        "1",
        "--writes",
        "1",
        "--crashes",
        "1",
        "--shutdowns",
        "0",
    ];
    let (code, text, report) = conform(&sut, &args)?;
    if code != 1 || report["passed"] != Value::Bool(false) {
        return Err(format!(
            "conform over a broken engine exited {code}, expected 1:\n{text}"
        ));
    }
    let paths: Vec<&str> = report["mismatches"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|m| m["differences"].as_array().into_iter().flatten())
        .filter_map(|d| d["path"].as_str())
        .collect();
    if !paths.iter().any(|p| p.contains("failover")) {
        return Err(format!(
            "the mismatch does not name a failover table (paths {paths:?}):\n{text}"
        ));
    }
    // The mismatch explains itself (docs/conformance.md, "How a mismatch reads"): the path
    // with the model's story per step, the first differing field, and what the engine should
    // have done.
    for want in [
        "model: vb 0: high seqno ",
        "createEntry -> [(U2,",
        "First difference: /active/vbuckets/0/failover",
        "Expected: after an unclean shutdown warmup must create a failover entry",
    ] {
        if !text.contains(want) {
            return Err(format!("the mismatch does not say {want:?}:\n{text}"));
        }
    }
    let explained = report["mismatches"]
        .as_array()
        .into_iter()
        .flatten()
        .all(|m| {
            m["explanation"]
                .as_str()
                .is_some_and(|e| e.contains("createEntry"))
        });
    if !explained {
        return Err(format!("a JSON mismatch lacks the explanation: {report}"));
    }
    Ok(())
}

/// The skeleton adapter (`conformance/sut/python/skeleton_sut.py`, every request a stub)
/// speaks the protocol well enough for conform to run: the handshake, `reset` and `observe`
/// of the initial state pass, and the first action is refused "not implemented". conform must
/// report that as a mismatch (exit 1) naming the request, not as a protocol error (exit 2).
fn skeleton_adapter_fails_with_a_refusal_not_a_protocol_error() -> Result<(), String> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sut/python/skeleton_sut.py");
    let sut = format!("python3 '{}'", path.display());
    let (code, text, report) = conform(&sut, &["--variant", "current", "--jobs", "1"])?;
    if code != 1 || report["passed"] != Value::Bool(false) {
        return Err(format!(
            "conform over the skeleton exited {code}, expected 1:\n{text}"
        ));
    }
    let first = &report["mismatches"][0];
    let error = first["error"].as_str().unwrap_or_default();
    if first["trace"].as_array().map(Vec::len) != Some(1) || !error.contains("not implemented") {
        return Err(format!(
            "expected a refusal \"not implemented\" at the first action, got {first}:\n{text}"
        ));
    }
    let trace = report["mismatch_trace"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    if !trace.ends_with("conform-mismatch-current.trace.json") {
        return Err(format!("no mismatch trace in the report: {report}"));
    }
    for want in [
        "MISMATCH after 1 steps",
        "not implemented: ",
        "TODO in skeleton_sut.py",
    ] {
        if !text.contains(want) {
            return Err(format!("the output does not say {want:?}:\n{text}"));
        }
    }
    // The JUnit case's failure names the steps and the trace file.
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let junit = dir.path().join("conform.xml");
    Command::new(env!("CARGO_BIN_EXE_warmcheck"))
        .args([
            "conform",
            "--quiet",
            "--variant",
            "current",
            "--jobs",
            "1",
            "--sut",
            &sut,
        ])
        .arg("--junit")
        .arg(&junit)
        .arg("--trace-dir")
        .arg(dir.path())
        .output()
        .map_err(|e| e.to_string())?;
    let xml = std::fs::read_to_string(&junit).map_err(|e| format!("no JUnit: {e}"))?;
    let doc = roxmltree::Document::parse(&xml).map_err(|e| e.to_string())?;
    let failure = doc
        .descendants()
        .find(|n| n.has_tag_name("failure"))
        .and_then(|n| n.attribute("message"))
        .unwrap_or_default();
    if !failure.starts_with("mismatch after 1 steps (trace ")
        || !failure.contains("conform-mismatch-current.trace.json")
    {
        return Err(format!("the JUnit failure does not name the trace: {xml}"));
    }
    // It implements `current` only: another design is refused at the handshake (exit 2).
    let out = Command::new(env!("CARGO_BIN_EXE_warmcheck"))
        .args(["conform", "--quiet", "--variant", "proposed", "--sut", &sut])
        .output()
        .map_err(|e| e.to_string())?;
    let err = String::from_utf8_lossy(&out.stderr);
    if out.status.code() != Some(2) || !err.contains("does not implement design `proposed`") {
        return Err(format!(
            "the skeleton was not refused for `proposed` ({}):\n{err}",
            out.status
        ));
    }
    Ok(())
}

/// `conform --stories --sut CMD` in `variant`: exit code and output.
fn stories(sut: &str, variant: &str) -> Result<(i32, String), String> {
    let out = Command::new(env!("CARGO_BIN_EXE_warmcheck"))
        .args([
            "conform",
            "--stories",
            "--quiet",
            "--variant",
            variant,
            "--sut",
            sut,
        ])
        .output()
        .map_err(|e| format!("warmcheck cannot be started: {e}"))?;
    Ok((
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    ))
}

/// The quick first run on the Python engine: in `current` it reproduces the three stories
/// `current`'s model reproduces and prevents the other ten (exit 1); in `proposed` it prevents
/// all thirteen (exit 0). The skeleton follows none (each stops at its first stubbed request,
/// named), exit 1.
fn stories_on_the_python_engine_and_the_skeleton() -> Result<(), String> {
    let sut = format!("python3 {}", sut_file());
    let (code, text) = stories(&sut, "current")?;
    let want = "13 stories: 10 prevented, 3 reproduced (3 of them as design `current` itself does), 0 not followed";
    if code != 1 || !text.contains(want) {
        return Err(format!(
            "stories in current: exit {code}, want 1 and {want:?}:\n{text}"
        ));
    }
    let (code, text) = stories(&sut, "proposed")?;
    if code != 0 || !text.contains("13 stories: 13 prevented, 0 reproduced, 0 not followed") {
        return Err(format!("stories in proposed: exit {code}, want 0:\n{text}"));
    }
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sut/python/skeleton_sut.py");
    let skeleton = format!("python3 '{}'", path.display());
    let (code, text) = stories(&skeleton, "current")?;
    for want in [
        "13 stories: 0 prevented, 0 reproduced, 13 not followed",
        "at step 1 (ClientSets { vb: 0, key: k0, ttl: false }): the engine refused: not implemented: set (TODO in skeleton_sut.py)",
    ] {
        if code != 1 || !text.contains(want) {
            return Err(format!("stories on the skeleton: exit {code}, want 1 and {want:?}:\n{text}"));
        }
    }
    Ok(())
}

/// `conform --stories DIR --sut CMD` with `design` (a preset or knobs): exit code and output.
fn stories_in(sut: &str, dir: &str, design: &[&str]) -> Result<(i32, String), String> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(dir);
    let out = Command::new(env!("CARGO_BIN_EXE_warmcheck"))
        .args(["conform", "--quiet", "--stories"])
        .arg(&dir)
        .args(design)
        .args(["--sut", sut])
        .output()
        .map_err(|e| format!("warmcheck cannot be started: {e}"))?;
    Ok((
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    ))
}

/// The failover stories (`testdata/failover/`, protocol 2) on the Python engine: `current`
/// prevents both; the MB-48398 story's own design (a consumer that always retries with an
/// older uuid) reproduces it, and `current` with MB-20822's fix reverted reproduces that one,
/// each as its design's model does, with the replica's data diverged from the active's.
fn failover_stories_on_the_python_engine() -> Result<(), String> {
    let sut = format!("python3 {}", sut_file());
    let dir = "testdata/failover";
    let runs: [(&[&str], i32, &[&str]); 3] = [
        (
            &["--variant", "current"],
            0,
            &["2 stories: 2 prevented, 0 reproduced, 0 not followed"],
        ),
        (
            &[
                "--persist-entry",
                "sync-flush",
                "--shutdown-flag",
                "after-flush-if-vb-map-populated",
                "--rollback-retry",
                "always",
                "--stop-warmup",
                "in-initiate-shutdown",
            ],
            1,
            &[
                "REPRODUCED   mb48398_added_back_node_retries_with_an_older_uuid_it_diverged_from",
                "the engine's data diverged: vb 0 seqno 1: r1 holds",
                "2 stories: 1 prevented, 1 reproduced (1 of them as design",
            ],
        ),
        (
            &["--variant", "current", "--revert-fix", "mb20822"],
            1,
            &[
                "REPRODUCED   mb20822_stale_entry_left_by_create_entry_hides_a_branch_point",
                "the engine's data diverged: vb 0 seqno 2: r1 holds",
                "2 stories: 1 prevented, 1 reproduced (1 of them as design",
            ],
        ),
    ];
    for (design, want_code, wants) in runs {
        let (code, text) = stories_in(&sut, dir, design)?;
        for want in wants {
            if code != want_code || !text.contains(want) {
                return Err(format!(
                    "failover stories in {design:?}: exit {code}, want {want_code} and {want:?}:\n{text}"
                ));
            }
        }
    }
    Ok(())
}

/// The same engine, except that a promotion puts its new failover entry at the replica's high
/// seqno instead of the end of the last snapshot it received in full (`processFailover`, the
/// rule this engine takes from the model): conform at failovers=1 must exit 1 with the
/// mismatch at `ClusterFailsOverToReplica`, naming the new entry's seqno. The engine is a copy
/// of warmcheck_sut.py with that one line changed.
fn engine_promoting_at_the_high_seqno_is_caught() -> Result<(), String> {
    let original = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sut/python/warmcheck_sut.py");
    let text = std::fs::read_to_string(&original).map_err(|e| e.to_string())?;
    let line = "self.create_entry(table, r.last_complete_snapshot_end())";
    if text.matches(line).count() != 1 {
        return Err(format!(
            "warmcheck_sut.py no longer has {line:?} once: update this test"
        ));
    }
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let mutant = dir.path().join("warmcheck_sut.py");
    std::fs::write(
        &mutant,
        text.replace(line, "self.create_entry(table, r.high_seqno())"),
    )
    .map_err(|e| e.to_string())?;
    let sut = format!("python3 '{}'", mutant.display());
    let args = [
        "--variant",
        "current",
        "--failovers",
        "1",
        "--keys",
        "1",
        "--writes",
        "2",
        "--crashes",
        "1",
        "--shutdowns",
        "0",
    ];
    let (code, text, report) = conform(&sut, &args)?;
    if code != 1 || report["passed"] != Value::Bool(false) {
        return Err(format!(
            "conform over an engine promoting at the high seqno exited {code}, expected 1:\n{text}"
        ));
    }
    for want in [
        "ClusterFailsOverToReplica { replica: 0 }",
        "First difference: /active/vbuckets/0/failover/0/seq",
        "fail_over(replica)",
    ] {
        if !text.contains(want) {
            return Err(format!("the mismatch does not say {want:?}:\n{text}"));
        }
    }
    Ok(())
}

/// The Python SUT's handshake: the newest version offered that it speaks (2 of [1, 2], 1 of
/// [1]); a list without 1 or 2 is an error.
fn python_sut_answers_the_newest_protocol_offered() -> Result<(), String> {
    use std::io::Write;
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sut/python/warmcheck_sut.py");
    for (offered, want) in [
        ("[1,2]", "\"protocol\":2"),
        ("[1]", "\"protocol\":1"),
        ("[3]", "\"error\":"),
    ] {
        let mut child = Command::new("python3")
            .arg(&path)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .map_err(|e| e.to_string())?;
        let hello = format!("{{\"id\":0,\"op\":\"hello\",\"protocol\":{offered}}}\n");
        child
            .stdin
            .take()
            .expect("piped")
            .write_all(hello.as_bytes())
            .map_err(|e| e.to_string())?;
        let out = child.wait_with_output().map_err(|e| e.to_string())?;
        let reply = String::from_utf8_lossy(&out.stdout);
        if !reply.contains(want) {
            return Err(format!("hello offering {offered}: want {want} in {reply}"));
        }
    }
    Ok(())
}

fn main() {
    let args = libtest_mimic::Arguments::from_args();
    let python = python3();
    let python_too = python.clone();
    // The largest bounds at which `current` conforms in well under two minutes on a loaded
    // two-core machine (168,240 transitions, 35-48 s at load average 12-15); the other runs
    // are smaller and cover the other designs, failed flushes, and two vbuckets with two
    // replicas.
    let bounds = ["--keys", "1", "--writes", "2", "--crashes", "1"];
    let small = ["--keys", "1", "--writes", "1", "--crashes", "1"];
    let mut runs: Vec<(String, Vec<&'static str>)> = vec![
        (
            "python_sut_conforms_to_current".into(),
            [["--variant", "current"].as_slice(), &bounds].concat(),
        ),
        (
            "python_sut_conforms_to_proposed_with_a_failed_flush".into(),
            [
                ["--variant", "proposed", "--flush-failures", "1"].as_slice(),
                &small,
            ]
            .concat(),
        ),
        // Failover (protocol 2): two crashes, so that a promoted node crashes before its first
        // flush and warms up from a replica vbstate (promoted again, or left out of the map by
        // a shutdown). 198,151 transitions, 11 s at load average 10; the brief's bounds
        // (--writes 2 --crashes 1 --shutdowns 1, 437,971 transitions) take 28 s.
        (
            "python_sut_conforms_to_current_with_a_failover".into(),
            [
                ["--variant", "current", "--failovers", "1"].as_slice(),
                &[
                    "--keys",
                    "1",
                    "--writes",
                    "1",
                    "--crashes",
                    "2",
                    "--shutdowns",
                    "1",
                ],
            ]
            .concat(),
        ),
        (
            "python_sut_conforms_with_two_vbuckets_and_two_replicas".into(),
            [
                ["--variant", "current", "--vbuckets", "2", "--replicas", "2"].as_slice(),
                &small,
                &["--shutdowns", "0"],
            ]
            .concat(),
        ),
    ];
    for v in ["v6.5.1", "mb41942", "mb43744", "mb41257"] {
        runs.push((
            format!("python_sut_conforms_to_{}", v.replace('.', "_")),
            [["--variant", v].as_slice(), &small].concat(),
        ));
    }
    let mut trials = Vec::new();
    for (name, run_args) in runs {
        let python = python.clone();
        trials.push(libtest_mimic::Trial::ignorable_test(name, move || {
            with_python(&python, || conforms(&run_args))
        }));
    }
    trials.push(libtest_mimic::Trial::ignorable_test(
        "an_engine_without_a_new_entry_after_an_unclean_shutdown_is_caught",
        move || {
            with_python(
                &python,
                engine_without_a_new_entry_after_an_unclean_shutdown_is_caught,
            )
        },
    ));
    type Check = fn() -> Result<(), String>;
    let failover_checks: [(&str, Check); 3] = [
        (
            "failover_stories_on_the_python_engine",
            failover_stories_on_the_python_engine,
        ),
        (
            "an_engine_promoting_at_the_high_seqno_is_caught",
            engine_promoting_at_the_high_seqno_is_caught,
        ),
        (
            "python_sut_answers_the_newest_protocol_offered",
            python_sut_answers_the_newest_protocol_offered,
        ),
    ];
    for (name, check) in failover_checks {
        let python = python_too.clone();
        trials.push(libtest_mimic::Trial::ignorable_test(name, move || {
            with_python(&python, check)
        }));
    }
    let python_stories = python_too.clone();
    trials.push(libtest_mimic::Trial::ignorable_test(
        "stories_on_the_python_engine_and_the_skeleton",
        move || {
            with_python(
                &python_stories,
                stories_on_the_python_engine_and_the_skeleton,
            )
        },
    ));
    trials.push(libtest_mimic::Trial::ignorable_test(
        "skeleton_adapter_fails_with_a_refusal_not_a_protocol_error",
        move || {
            with_python(
                &python_too,
                skeleton_adapter_fails_with_a_refusal_not_a_protocol_error,
            )
        },
    ));
    libtest_mimic::run(&args, trials).exit();
}

/// Run `test` when python3 runs; otherwise fail (with `WARMCHECK_REQUIRE_PYTHON`) or report
/// the test ignored, with the reason.
fn with_python(
    python: &Result<String, String>,
    test: impl FnOnce() -> Result<(), String>,
) -> Result<libtest_mimic::Completion, libtest_mimic::Failed> {
    match python {
        Ok(_) => {
            test()?;
            Ok(libtest_mimic::Completion::Completed)
        }
        Err(why) if std::env::var_os("WARMCHECK_REQUIRE_PYTHON").is_some() => Err(format!(
            "WARMCHECK_REQUIRE_PYTHON is set but the Python SUT cannot run: {why}"
        )
        .into()),
        Err(why) => Ok(libtest_mimic::Completion::ignored_with(format!(
            "SKIPPED, python3 is missing: {why}"
        ))),
    }
}
