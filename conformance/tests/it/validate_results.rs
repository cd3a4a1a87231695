//! `validate` checks what each call returned, not only the states: a real event log with any
//! one result changed (a set's or delete's seqno, a get's result or expiry seqno, a compaction's
//! or expiry pager's expiry seqnos, a flush's seqnos, a stream request's outcome, request fields
//! or producer table) is INVALID, naming that line and field.

use crate::common;
use crate::common::plus_one;

use serde_json::{json, Value};
use std::process::Command;
use warmcheck_conformance::validate;
use warmcheck_impl::engine::Phase;
use warmcheck_model::Variant;

const VARIANT: &str = "v6.5.1";

/// A real log holding every kind of result: the engine driven through sets, deletes, gets
/// (live, absent, expiring), flushes (with seqnos, and of a set_vbucket_state alone), a
/// stream accepted, a crash whose warmup makes the replica roll back, a compaction and an
/// expiry-pager run that expire items.
fn engine_log() -> String {
    let (mut c, log) = common::logged_cluster("/results", design());
    c.set(0, "k0", "v1", Some(1)).unwrap();
    c.set(0, "k1", "v2", None).unwrap();
    c.delete(0, "k1").unwrap();
    assert_eq!(c.get(0, "k0").unwrap().as_deref(), Some("v1"));
    assert_eq!(c.get(0, "k2").unwrap(), None);
    c.flush(0).unwrap();
    c.connect(0, 0).unwrap();
    c.stream_all(0, 0).unwrap();
    c.set(0, "k1", "v4", None).unwrap();
    c.stream_all(0, 0).unwrap(); // the replica is ahead of the active's disk
    c.crash().unwrap();
    c.warmup_until(Phase::Complete).unwrap();
    c.flush(0).unwrap(); // the set_vbucket_state queued at warmup's completion, no seqnos
    let rounds = c.connect(0, 0).unwrap();
    assert!(
        rounds.len() >= 2,
        "the replica rolls back first: {rounds:?}"
    );
    c.advance_clock(1).unwrap();
    assert!(!c.compact(0).unwrap().is_empty(), "k0 expires");
    c.set(0, "k2", "v5", Some(1)).unwrap();
    c.advance_clock(1).unwrap();
    assert!(!c.run_expiry_pager().unwrap().is_empty(), "k2 expires");
    c.set(0, "k0", "v6", Some(1)).unwrap();
    c.advance_clock(1).unwrap();
    assert_eq!(c.get(0, "k0").unwrap(), None, "k0 expires on get");
    log.text()
}

/// A real log: the soak workload (the kill test's child) on real files.
fn workload_log(dir: &std::path::Path) -> String {
    let log = dir.join("run.ndjson");
    let out = Command::new(env!("CARGO_BIN_EXE_warmcheck"))
        .args([
            "workload",
            "--seed",
            "11",
            "--steps",
            "300",
            "--variant",
            VARIANT,
        ])
        .args([
            "--vbuckets",
            "2",
            "--replicas",
            "2",
            "--keys",
            "3",
            "--probes",
            "0",
        ])
        .arg("--dir")
        .arg(dir.join("data"))
        .arg("--log")
        .arg(&log)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read_to_string(&log).unwrap()
}

fn design() -> Variant {
    Variant::preset(VARIANT).unwrap()
}

/// One result to change: which call, which lines of it qualify, the field, and the change.
struct Case {
    call: &'static str,
    applies: fn(&Value) -> bool,
    field: &'static str,
    change: fn(&Value) -> Value,
}

fn cases() -> Vec<Case> {
    let any = |_: &Value| true;
    vec![
        Case {
            call: "set",
            applies: any,
            field: "/seqno",
            change: plus_one,
        },
        Case {
            call: "delete",
            applies: any,
            field: "/seqno",
            change: plus_one,
        },
        Case {
            call: "get",
            applies: |e| e["result"].is_string(),
            field: "/result",
            change: |_| json!("v99"),
        },
        Case {
            call: "get",
            applies: |e| e["result"].is_null() && e["expired_seqno"].is_null(),
            field: "/result",
            change: |_| json!("v1"),
        },
        Case {
            call: "get",
            applies: |e| e["expired_seqno"].is_u64(),
            field: "/expired_seqno",
            change: plus_one,
        },
        Case {
            call: "get",
            applies: |e| e["expired_seqno"].is_u64(),
            field: "/result",
            change: |_| json!("v1"),
        },
        Case {
            call: "compact",
            applies: |e| e["expired"].as_array().is_some_and(|a| !a.is_empty()),
            field: "/expired/0/seqno",
            change: plus_one,
        },
        Case {
            call: "run_expiry_pager",
            applies: |e| e["expired"].as_array().is_some_and(|a| !a.is_empty()),
            field: "/expired/0/seqno",
            change: plus_one,
        },
        Case {
            call: "flush",
            applies: |e| e["seqnos"].as_array().is_some_and(|a| !a.is_empty()),
            field: "/seqnos",
            change: |v| {
                let mut a = v.as_array().unwrap().clone();
                a.pop();
                json!(a)
            },
        },
        Case {
            call: "flush",
            applies: |e| e["seqnos"].as_array().is_some_and(|a| a.is_empty()),
            field: "/seqnos",
            change: |_| json!([1]),
        },
        Case {
            call: "stream_request",
            applies: |e| e["outcome"] == "accepted",
            field: "/outcome",
            change: |_| json!("rolled-back:0"),
        },
        Case {
            call: "stream_request",
            applies: |e| {
                e["outcome"]
                    .as_str()
                    .is_some_and(|o| o.starts_with("rolled-back:"))
            },
            field: "/outcome",
            change: |_| json!("accepted"),
        },
        Case {
            call: "stream_request",
            applies: |e| {
                e["outcome"]
                    .as_str()
                    .is_some_and(|o| o.starts_with("rolled-back:"))
            },
            field: "/dropped_entry",
            change: |v| json!(!v.as_bool().unwrap()),
        },
        Case {
            call: "stream_request",
            applies: any,
            field: "/start",
            change: plus_one,
        },
        Case {
            call: "stream_request",
            applies: any,
            field: "/uuid",
            change: plus_one,
        },
        Case {
            call: "stream_request",
            applies: any,
            field: "/producer_failover/0/seq",
            change: plus_one,
        },
    ]
}

#[test]
fn a_log_with_any_one_result_changed_is_invalid_naming_the_line_and_the_field() {
    let text = engine_log();
    let summary = validate::parse_log(text.as_bytes(), design())
        .unwrap_or_else(|e| panic!("the real log validates: {e}"));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(summary.events(), lines.len());
    for case in cases() {
        let found = lines.iter().enumerate().find_map(|(i, l)| {
            let e: Value = serde_json::from_str(l).unwrap();
            (e["call"] == case.call && (case.applies)(&e)).then_some((i, e))
        });
        let Some((i, mut event)) = found else {
            panic!(
                "the log has no `{}` line for {}: make the workload longer",
                case.call, case.field
            );
        };
        let old = event
            .pointer(case.field)
            .cloned()
            .unwrap_or_else(|| panic!("line {}: `{}` has no {}", i + 1, case.call, case.field));
        let new = (case.change)(&old);
        *event.pointer_mut(case.field).unwrap() = new.clone();
        let mut changed: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
        changed[i] = event.to_string();
        let changed = changed.join("\n") + "\n";
        let err = validate::parse_log(changed.as_bytes(), design()).expect_err(&format!(
            "line {} with {} changed from {old} to {new} must be invalid",
            i + 1,
            case.field
        ));
        // The field is named as the event holds it: an expiry by its place in the list, the
        // producer's table as a whole.
        let field = case.field.trim_start_matches('/');
        let field = if field.starts_with("expired/") {
            field
        } else {
            field.split('/').next().unwrap()
        };
        let want = format!("line {}: `{}`", i + 1, case.call);
        assert!(err.starts_with(&want), "{}: {err}", case.field);
        assert!(
            err.contains(&format!("returned {field} = ")),
            "{}: {err}",
            case.field
        );
    }
}

#[test]
fn the_cli_says_invalid_naming_the_line_of_a_changed_seqno() {
    let dir = tempfile::tempdir().unwrap();
    let text = workload_log(dir.path());
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let i = lines
        .iter()
        .position(|l| l.starts_with("{\"call\":\"set\""))
        .unwrap();
    let mut event: Value = serde_json::from_str(&lines[i]).unwrap();
    event["seqno"] = json!(event["seqno"].as_u64().unwrap() + 5);
    lines[i] = event.to_string();
    let path = dir.path().join("changed.ndjson");
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_warmcheck"))
        .args(["validate", "--variant", VARIANT])
        .arg(&path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains(&format!("line {}: `set`", i + 1)) && stdout.contains("returned seqno = "),
        "{stdout}"
    );
    assert!(stdout.trim_end().ends_with("INVALID"), "{stdout}");
}
