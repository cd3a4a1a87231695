//! A conform mismatch explains itself (issue 25, "Mismatches that explain"): against an
//! implementation with a seeded bug, the output tells the path from the initial state as the
//! story does (the model's expectation at every step, as `replay` prints it), names the first
//! differing field with both values, says in one sentence what the engine should have done at
//! that step and why, and reports a repeated (action, field) once with a count. The JSON
//! report's mismatches carry the same sentence.

use serde_json::Value;
use std::process::Command;
use warmcheck_conformance::conform::Mismatch;
use warmcheck_conformance::explain;
use warmcheck_conformance::mapping::Difference;
use warmcheck_model::{Action, Bounds, Variant};

const W: &str = env!("CARGO_BIN_EXE_warmcheck");

/// The sensitivity test's bounds: every engine bug is caught within them in well under a
/// second.
const BOUNDS: &[&str] = &[
    "--keys",
    "1",
    "--writes",
    "2",
    "--crashes",
    "2",
    "--shutdowns",
    "1",
];

/// `warmcheck conform` with `args`: exit code, stdout and stderr, the JSON report.
fn conform(args: &[&str]) -> (i32, String, Value) {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report.json");
    let out = Command::new(W)
        .arg("conform")
        .args(BOUNDS)
        .args(["--quiet", "--json"])
        .arg(&report)
        .arg("--trace-dir")
        .arg(dir.path().join("traces"))
        .args(args)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let json = std::fs::read_to_string(&report).unwrap_or_else(|e| panic!("{e}\n{text}"));
    (
        out.status.code().unwrap_or(-1),
        text,
        serde_json::from_str(&json).unwrap(),
    )
}

/// The mismatch section of conform's output: from `MISMATCH after` up to the trace file.
fn mismatch_section(text: &str) -> &str {
    let start = text.find("MISMATCH after").expect("a mismatch");
    let end = text[start..]
        .find("Trace written")
        .map_or(text.len(), |e| start + e);
    &text[start..end]
}

#[test]
fn a_seeded_bug_mismatch_names_the_path_the_field_and_what_the_engine_should_have_done() {
    let (code, text, report) = conform(&[
        "--backend",
        "faulty",
        "--seeded-bug",
        "no_entry_after_unclean_shutdown",
        "--jobs",
        "2",
    ]);
    assert_eq!(code, 1, "{text}");
    let m = mismatch_section(&text);
    // The path as the story tells it: every step with the model's expectation, the earlier
    // ones matched, the last one the mismatch.
    for want in [
        "   1. ClientSets { vb: 0, key: k0, ttl: false }\n      model: vb 0: seqno 1 = set k0 v1",
        "      implementation: same projection",
        "ActiveCrashes\n      model: the active crashes",
        "WarmupInitializes\n      model: warmup reads stats.json: previous shutdown unclean",
        "WarmupCreatesVBuckets\n      model: vb 0: high seqno 0, createEntry -> [(U2,0),(U1,0)]",
        "      MISMATCH\n",
        // The first differing field, both values.
        "First difference: /active/vbuckets/0/failover: the model has [(U2,0),(U1,0)], the \
         implementation [(U1,0)]",
        // What the engine should have done, and why.
        "Expected: after an unclean shutdown warmup must create a failover entry at the \
         persisted snapshot (FailoverTable::createEntry",
        "the engine kept [(U1,0)].",
    ] {
        assert!(m.contains(want), "missing {want:?} in:\n{m}");
    }
    // The trace's steps are numbered as the story numbers them, from 1.
    assert!(!m.contains("   0. "), "{m}");
    // Duplicates removed: each (action kind, field) once, however many jobs hit it.
    assert_eq!(text.matches("MISMATCH after").count(), 1, "{text}");
    let mismatches = report["mismatches"].as_array().unwrap();
    if mismatches.len() > 1 {
        assert!(
            m.contains(&format!("({} more mismatch", mismatches.len() - 1)),
            "{m}"
        );
    }
    // The JSON report carries the sentence with each mismatch.
    for mm in mismatches {
        let e = mm["explanation"].as_str().unwrap();
        assert!(e.contains("FailoverTable::createEntry"), "{e}");
        assert!(m.contains(e), "{e} not in\n{m}");
    }
}

#[test]
fn the_same_seeded_bug_reads_the_same_in_process_and_over_the_protocol() {
    let bug = "flusher_ignores_set_vbstate";
    let (code, in_process, _) =
        conform(&["--backend", "faulty", "--seeded-bug", bug, "--jobs", "1"]);
    assert_eq!(code, 1, "{in_process}");
    let sut = format!("{W} sut --backend faulty --seeded-bug {bug}");
    let (code, over, report) = conform(&["--sut", &sut, "--jobs", "1"]);
    assert_eq!(code, 1, "{over}");
    let m = mismatch_section(&over);
    assert_eq!(mismatch_section(&in_process), m);
    for want in [
        "First difference: /active/vbuckets/0/failover_on_disk",
        "PopulateVBucketMap must persist vb 0's new failover entry",
        "the engine's is [(U1,0)].",
    ] {
        assert!(m.contains(want), "missing {want:?} in:\n{m}");
    }
    assert!(report["mismatches"][0]["explanation"]
        .as_str()
        .unwrap()
        .contains("Warmup::populateVBucketMap"));
}

#[test]
fn a_refused_call_says_what_the_model_expected_of_it() {
    let (code, text, _) = conform(&[
        "--backend",
        "faulty",
        "--seeded-bug",
        "clean_flag_before_final_flush",
        "--jobs",
        "1",
    ]);
    assert_eq!(code, 1, "{text}");
    let m = mismatch_section(&text);
    assert!(
        m.contains("  the implementation: the engine refused"),
        "{m}"
    );
    assert!(
        m.contains("Expected: with shutdown-flag=after-flush the flusher stops"),
        "{m}"
    );
    assert!(m.contains("EPBucket::stopFlusher"), "{m}");
    // No field differs: no "First difference" line.
    assert!(!m.contains("First difference"), "{m}");
}

#[test]
fn repeated_mismatches_are_shown_once_with_a_count_and_an_unlisted_one_gets_the_generic_sentence() {
    let model = Bounds::default().into_model(Variant::current());
    let trace: Vec<Action> = ["ClientSets { vb: 0, key: k0, ttl: false }"]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
    let differences = vec![Difference {
        path: "/active/vbuckets/0/high_seqno".into(),
        model: 1.into(),
        implementation: 0.into(),
    }];
    let explanation = explain::explain_trace(&model, &trace, None, &differences);
    // No row of the table covers a client set's high seqno: the generic sentence names the
    // engine call and the kv_engine function, and the model's story of the step.
    assert!(
        explanation.contains("set(vb, key, value, ttl) (KVBucket::set -> VBucket::queueItem)"),
        "{explanation}"
    );
    assert!(
        explanation.contains("vb 0: seqno 1 = set k0 v1"),
        "{explanation}"
    );
    assert!(
        explanation.contains("/active/vbuckets/0/high_seqno = 1, the engine has 0"),
        "{explanation}"
    );
    let m = Mismatch {
        trace,
        error: None,
        differences,
        explanation,
    };
    let text = explain::render_mismatches(&model, &[m.clone(), m.clone(), m]);
    assert_eq!(text.matches("MISMATCH after").count(), 1, "{text}");
    assert!(
        text.contains(
            "(2 more mismatches of the same kind, ClientSets with \
             /active/vbuckets/*/high_seqno differing, not shown.)"
        ),
        "{text}"
    );
}

#[test]
fn every_seeded_engine_bug_gets_a_sentence_of_its_own_naming_the_kv_engine_function() {
    for (bug, names) in [
        ("flusher_ignores_set_vbstate", "Warmup::populateVBucketMap"),
        ("needs_rollback_uses_lt", "FailoverTable::needsRollback"),
        (
            "no_entry_after_unclean_shutdown",
            "FailoverTable::createEntry",
        ),
        ("rollback_does_not_prune", "must prune its failover entries"),
        ("clean_flag_before_final_flush", "EPBucket::stopFlusher"),
    ] {
        let (code, text, report) = conform(&["--backend", "faulty", "--seeded-bug", bug]);
        assert_eq!(code, 1, "{bug}: {text}");
        let e = report["mismatches"][0]["explanation"].as_str().unwrap();
        // A row of the table, not the generic sentence.
        assert!(!e.starts_with("the model's "), "{bug}: {e}");
        assert!(e.contains(names), "{bug}: {e}");
        assert!(
            mismatch_section(&text).contains(&format!("Expected: {e}")),
            "{bug}"
        );
    }
}
