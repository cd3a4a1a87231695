//! `validate` of logs without states (calls and results only, as a real engine's log would be):
//! a real run's log is VALID; the same log with any one result changed is INVALID naming the
//! line; a log whose engine does not log its flusher is explained by inferring what a crash
//! kept; the candidate cap is a clear error; `scenario --log` and `soak --log` write logs that
//! validate.

use crate::common;
use crate::common::plus_one;

use common::warmcheck;

use common::LogBuf;
use serde_json::{json, Value};
use std::path::Path;
use warmcheck_conformance::mapping;
use warmcheck_conformance::validate::{self, Problem, Search, Unlogged};
use warmcheck_impl::engine::event::States;
use warmcheck_impl::engine::{Cluster, Config, CounterUuids, Phase, StorageBackend};
use warmcheck_model::Variant;

const VARIANT: &str = "v6.5.1";

fn design() -> Variant {
    Variant::preset(VARIANT).unwrap()
}

fn cluster() -> (Cluster, LogBuf) {
    let mut config = Config::new(
        "/stateless",
        StorageBackend::faulty(),
        mapping::impl_variant(design()),
    );
    config.uuids = Box::new(CounterUuids::new());
    let mut c = Cluster::create(config).unwrap();
    let log = LogBuf::default();
    c.add_event_log(Box::new(log.clone()), States::Without);
    (c, log)
}

/// A real log without states holding every kind of result (the run of
/// `validate_results.rs`): sets, deletes, gets (live, absent, expiring), flushes, a stream
/// accepted, a crash whose warmup makes the replica roll back, a compaction and an expiry-pager
/// run that expire items.
fn engine_log() -> String {
    let (mut c, log) = cluster();
    c.set(0, "k0", "v1", Some(1)).unwrap();
    c.set(0, "k1", "v2", None).unwrap();
    c.delete(0, "k1").unwrap();
    assert_eq!(c.get(0, "k0").unwrap().as_deref(), Some("v1"));
    assert_eq!(c.get(0, "k2").unwrap(), None);
    c.flush(0).unwrap();
    c.connect(0, 0).unwrap();
    c.stream_all(0, 0).unwrap();
    c.set(0, "k1", "v4", None).unwrap();
    c.stream_all(0, 0).unwrap();
    c.crash().unwrap();
    c.warmup_until(Phase::Complete).unwrap();
    c.flush(0).unwrap();
    assert!(
        c.connect(0, 0).unwrap().len() >= 2,
        "the replica rolls back first"
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

fn check(
    text: &str,
    unlogged: Vec<Unlogged>,
) -> Result<validate::SearchSummary, validate::Invalid> {
    let model = validate::generous_bounds(1, 1, 3).into_model(design());
    let mut search = Search::new(model, unlogged, validate::DEFAULT_MAX_CANDIDATES);
    validate::search_text(&mut search, text, false, |_, _, _| {})
}

/// `report` is valid against docs/schemas/validate-report.schema.json (it has no `$ref` to
/// another file).
fn assert_schema_valid(report: &Value) {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/schemas/validate-report.schema.json");
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let v = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = v.iter_errors(report).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:?}\n{report}");
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.to_str().unwrap().to_string()
}

#[test]
fn a_real_log_without_states_is_valid_and_carries_no_state() {
    let text = engine_log();
    let first = text.lines().next().unwrap();
    assert_eq!(first, r#"{"call":"create","vbuckets":1,"replicas":1}"#);
    assert!(!text.contains("\"state\""), "{text}");
    let summary = check(&text, vec![]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(summary.events, text.lines().count());
    // Every call logged and the model deterministic: one candidate all along.
    assert_eq!(summary.max_candidates, 1, "{summary}");
    // What `warmcheck validate` does with bytes.
    let checked = validate::parse_log(text.as_bytes(), design()).unwrap();
    assert!(matches!(checked, validate::Checked::WithoutStates(_)));
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
    let rolled_back = |e: &Value| {
        e["outcome"]
            .as_str()
            .is_some_and(|o| o.starts_with("rolled-back:"))
    };
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
            applies: rolled_back,
            field: "/outcome",
            change: |_| json!("accepted"),
        },
        Case {
            call: "stream_request",
            applies: rolled_back,
            field: "/outcome",
            change: |_| json!("rolled-back:7"),
        },
        Case {
            call: "stream_request",
            applies: rolled_back,
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
fn the_same_log_with_any_one_result_changed_is_invalid_naming_the_line() {
    let text = engine_log();
    let lines: Vec<&str> = text.lines().collect();
    for case in cases() {
        let found = lines.iter().enumerate().find_map(|(i, l)| {
            let e: Value = serde_json::from_str(l).unwrap();
            (e["call"] == case.call && (case.applies)(&e)).then_some((i, e))
        });
        let Some((i, mut event)) = found else {
            panic!("the log has no `{}` line for {}", case.call, case.field);
        };
        let old = event.pointer(case.field).cloned().unwrap();
        let new = (case.change)(&old);
        *event.pointer_mut(case.field).unwrap() = new.clone();
        let mut changed: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
        changed[i] = event.to_string();
        let changed = changed.join("\n") + "\n";
        let err = check(&changed, vec![]).expect_err(&format!(
            "line {} with {} changed from {old} to {new} must be invalid",
            i + 1,
            case.field
        ));
        assert_eq!(err.line, i + 1, "{}: {err}", case.field);
        let text = err.to_string();
        assert!(
            text.starts_with(&format!("line {}: `{}`", i + 1, case.call)),
            "{}: {text}",
            case.field
        );
        // The model's state before the line is shown, as `show` prints a state.
        assert!(
            text.contains("the model's state before it:\n    {\"clock\":"),
            "{}: {text}",
            case.field
        );
        // Through the CLI too.
        let e = validate::parse_log(changed.as_bytes(), design()).unwrap_err();
        assert!(e.starts_with(&format!("line {}: ", i + 1)), "{e}");
    }
}

/// A run whose engine does not log its flusher: set k0, (flush), set k1, crash, warmup; the
/// gets and the next set's seqno after warmup tell what the crash kept.
fn log_without_flushes() -> String {
    let (mut c, log) = cluster();
    c.set(0, "k0", "v1", None).unwrap();
    c.flush(0).unwrap();
    c.set(0, "k1", "v2", None).unwrap();
    c.crash().unwrap();
    c.warmup_until(Phase::Complete).unwrap();
    assert_eq!(c.get(0, "k0").unwrap().as_deref(), Some("v1"));
    assert_eq!(c.get(0, "k1").unwrap(), None);
    assert_eq!(c.set(0, "k2", "v3", None).unwrap(), 2);
    log.text()
        .lines()
        .filter(|l| !l.starts_with("{\"call\":\"flush\""))
        .map(|l| format!("{l}\n"))
        .collect()
}

#[test]
fn a_crash_that_lost_a_write_is_inferred_from_the_results_after_it() {
    let text = log_without_flushes();
    assert!(!text.contains("\"flush\""));
    // With the flusher unlogged, one behaviour explains it: the flush came after the first set.
    let summary = check(&text, vec![Unlogged::Flush]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(summary.events, text.lines().count());
    assert!(
        summary.max_candidates >= 3,
        "no flush, after set 1, after set 2: {summary}"
    );
    // Without it, nothing was flushed: the model's crash loses k0, and the get says otherwise.
    let err = check(&text, vec![]).unwrap_err();
    let get_k0 = text
        .lines()
        .position(|l| l.contains("\"get\",\"vb\":0,\"key\":\"k0\""))
        .unwrap();
    assert_eq!(err.line, get_k0 + 1, "{err}");
    assert!(
        err.to_string().contains("returned result = \"v1\""),
        "{err}"
    );
    // Results no crash outcome explains together: k1 survived (both writes flushed), yet the
    // next set takes seqno 2 (only one was). The set's line is named, with the candidates.
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let get_k1 = lines
        .iter()
        .position(|l| l.contains("\"key\":\"k1\",\"result\""))
        .unwrap();
    lines[get_k1] = lines[get_k1].replace("\"result\":null", "\"result\":\"v2\"");
    let changed = lines.join("\n") + "\n";
    let err = check(&changed, vec![Unlogged::Flush]).unwrap_err();
    assert_eq!(err.line, lines.len(), "{err}");
    let Problem::Unexplained { total, shown, .. } = &err.problem else {
        panic!("{err}")
    };
    assert!(*total >= 1 && !shown.is_empty(), "{err}");
    let message = err.to_string();
    assert!(message.contains("returned seqno = 2"), "{message}");
    assert!(message.contains("candidate 1 of"), "{message}");
    // The report carries the candidates, each with its view.
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "changed.ndjson", &changed);
    let json = dir.path().join("report.json");
    let (code, out, _) = warmcheck(&[
        "validate",
        &path,
        "--variant",
        VARIANT,
        "--keys",
        "3",
        "--unlogged",
        "flush",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{out}");
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_schema_valid(&report);
    assert_eq!(report["invalid"]["line"], lines.len());
    let candidates = report["invalid"]["candidates"].as_array().unwrap();
    assert!(!candidates.is_empty());
    assert!(candidates[0]["view"]["active"].is_object(), "{report}");
    assert!(
        candidates[0]["why"]
            .as_str()
            .unwrap()
            .contains("returned seqno = 2"),
        "{report}"
    );
}

#[test]
fn the_candidate_cap_reached_is_undecided_not_invalid() {
    let dir = tempfile::tempdir().unwrap();
    let (mut c, log) = cluster();
    for (i, k) in ["k0", "k1", "k2", "k0"].iter().enumerate() {
        c.set(0, k, &format!("v{}", i + 1), None).unwrap();
    }
    let path = write(dir.path(), "sets.ndjson", &log.text());
    let json = dir.path().join("report.json");
    let (code, out, err) = warmcheck(&[
        "validate",
        &path,
        "--variant",
        VARIANT,
        "--unlogged",
        "flush",
        "--max-candidates",
        "2",
        "--json",
        json.to_str().unwrap(),
    ]);
    // The cap reached is "cannot tell", not "wrong": UNDECIDED, exit 3.
    assert_eq!(code, 3, "{out}{err}");
    assert!(out.contains("more than 2 candidate states"), "{out}");
    assert!(out.trim_end().ends_with("UNDECIDED"), "{out}");
    assert!(out.contains("(--max-candidates) was reached"), "{out}");
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["valid"], false);
    assert_eq!(report["outcome"], "undecided");
    assert!(report["undecided"]
        .as_str()
        .unwrap()
        .contains("--max-candidates"));
    assert_eq!(report["candidate_cap"], 2);
    assert!(report["invalid"]["headline"]
        .as_str()
        .unwrap()
        .contains("more than 2"));
    assert_schema_valid(&report);
    // The same log within the default cap is valid.
    let (code, out, _) = warmcheck(&[
        "validate",
        &path,
        "--variant",
        VARIANT,
        "--unlogged",
        "flush",
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(" candidate states: VALID"), "{out}");
}

#[test]
fn a_bad_field_is_named_with_its_line() {
    let mut lines: Vec<String> = engine_log().lines().map(str::to_string).collect();
    lines[1] = lines[1].replace("\"vb\":0", "\"vb\":\"zero\"");
    let err = check(&(lines.join("\n") + "\n"), vec![]).unwrap_err();
    assert_eq!(err.line, 2);
    let text = err.to_string();
    assert!(
        text.starts_with("line 2 is not an event: `set`: field \"vb\": invalid type"),
        "{text}"
    );
    lines[1] = r#"{"call":"set","vb":0,"key":"k0"}"#.to_string();
    let err = check(&(lines.join("\n") + "\n"), vec![]).unwrap_err();
    assert!(err.to_string().contains("missing field `value`"), "{err}");
    // A state on one line of a log without states.
    let text = engine_log();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    lines[2] = lines[2].replace('}', ",\"state\":{}}");
    let err = check(&(lines.join("\n") + "\n"), vec![]).unwrap_err();
    assert_eq!(err.line, 3);
    assert!(err.to_string().contains("in a log without states"), "{err}");
}

#[test]
fn scenario_log_round_trips_through_validate() {
    let dir = tempfile::tempdir().unwrap();
    let script = write(
        dir.path(),
        "story.txt",
        "set k0\nset k1 ttl=1\nflush\nconnect r1\nstream r1\nset k2\nstream r1\ncrash\nwarmup\n\
         advance-clock 1\nget k1\nget k0\ndelete k0\nconnect r1\nshutdown\nwarmup\nget k2\n",
    );
    let log = dir.path().join("story.ndjson");
    let (code, out, err) = warmcheck(&[
        "scenario",
        &script,
        "--variant",
        VARIANT,
        "--log",
        log.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.starts_with("{\"call\":\"create\""), "{text}");
    assert!(!text.contains("\"state\""));
    let (code, out, err) = warmcheck(&["validate", log.to_str().unwrap(), "--variant", VARIANT]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains(&format!("{} events", text.lines().count())),
        "{out}"
    );
    // The scenario's own values (`k0@1`) are what a get must return.
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let i = lines
        .iter()
        .rposition(|l| l.contains("\"call\":\"get\"") && l.contains("@"))
        .unwrap();
    lines[i] = lines[i].replace("@", "#");
    let changed = write(dir.path(), "changed.ndjson", &(lines.join("\n") + "\n"));
    let (code, out, _) = warmcheck(&["validate", &changed, "--variant", VARIANT]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains(&format!("line {}: `get`", i + 1)), "{out}");
}

#[test]
fn soak_log_round_trips_through_validate() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("soak.ndjson");
    let (code, out, err) = warmcheck(&[
        "soak",
        "--seed",
        "5",
        "--steps",
        "2500",
        "--variant",
        "mb41942",
        "--vbuckets",
        "2",
        "--replicas",
        "2",
        "--keys",
        "3",
        "--quiet",
        "--log",
        log.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let text = std::fs::read_to_string(&log).unwrap();
    let creates = text
        .lines()
        .filter(|l| l.starts_with("{\"call\":\"create\""))
        .count();
    assert!(
        creates >= 2,
        "a long soak has several segments, each opened by `create`"
    );
    let json = dir.path().join("v.json");
    let (code, out, err) = warmcheck(&[
        "validate",
        log.to_str().unwrap(),
        "--variant",
        "mb41942",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.trim_end().ends_with("VALID"), "{out}");
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["states"], false);
    assert_eq!(report["valid"], true);
    assert_eq!(report["events"], text.lines().count());
    assert_eq!(report["max_candidates"], 1);
    assert_schema_valid(&report);
    // The same soak's log with one set's seqno changed is invalid at that line.
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let i = lines
        .iter()
        .position(|l| l.starts_with("{\"call\":\"set\""))
        .unwrap();
    let mut e: Value = serde_json::from_str(&lines[i]).unwrap();
    e["seqno"] = json!(e["seqno"].as_u64().unwrap() + 1);
    lines[i] = e.to_string();
    let changed = write(dir.path(), "changed.ndjson", &(lines.join("\n") + "\n"));
    let (code, out, _) = warmcheck(&["validate", &changed, "--variant", "mb41942"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains(&format!("line {}: `set`", i + 1)), "{out}");
}

#[test]
fn a_key_or_replica_not_spelled_canonically_is_refused_naming_the_line() {
    let create = r#"{"call":"create","vbuckets":1,"replicas":1}"#;
    let set = r#"{"call":"set","vb":0,"key":"k0","value":"v1","ttl":null,"seqno":1}"#;
    // A set of `k00` (or `k+0`, ...) and a get of k0 returning its value: VALID if the names
    // were read leniently as `k0`. And a get of such a name is refused too.
    for other in ["k00", "k+0", "k０", "K0", "k-0", "k", "k01"] {
        let set_other = set.replace("\"k0\"", &format!("{other:?}"));
        let get = r#"{"call":"get","vb":0,"key":"k0","result":"v1","expired_seqno":null}"#;
        let text = format!("{create}\n{set_other}\n{get}\n");
        let err = check(&text, vec![]).expect_err(other);
        assert_eq!(err.line, 2, "{other}: {err}");
        assert!(err.to_string().contains(&format!("{other:?}")), "{err}");
        let get_other = get.replace("\"k0\"", &format!("{other:?}"));
        let text = format!("{create}\n{set}\n{get_other}\n");
        let err = check(&text, vec![]).expect_err(other);
        assert_eq!(err.line, 3, "{other}: {err}");
        assert!(err.to_string().contains(&format!("{other:?}")), "{err}");
    }
    // `r01` is not `r1`.
    let mut lines: Vec<String> = engine_log().lines().map(str::to_string).collect();
    let at = lines
        .iter()
        .position(|l| l.contains("\"call\":\"stream_request\""))
        .unwrap();
    lines[at] = lines[at].replace("\"replica\":\"r1\"", "\"replica\":\"r01\"");
    let err = check(&(lines.join("\n") + "\n"), vec![]).unwrap_err();
    assert_eq!(err.line, at + 1, "{err}");
    assert!(err.to_string().contains("\"r01\""), "{err}");
    // The canonical spellings still validate.
    assert!(check(&format!("{create}\n{set}\n"), vec![]).is_ok());
}

#[test]
fn a_flush_that_both_committed_and_failed_is_refused_naming_the_line() {
    let text = [
        r#"{"call":"create","vbuckets":1,"replicas":1}"#,
        r#"{"call":"set","vb":0,"key":"k0","value":"v1","ttl":null,"seqno":1}"#,
        r#"{"call":"flush","vb":0,"seqnos":[1],"failed":"disk full"}"#,
        "",
    ]
    .join("\n");
    let err = check(&text, vec![]).unwrap_err();
    assert_eq!(err.line, 3, "{err}");
    assert!(err.to_string().contains("both committed"), "{err}");
    // Neither what it committed nor why it failed.
    let text = text.replace(r#","seqnos":[1],"failed":"disk full""#, "");
    let err = check(&text, vec![]).unwrap_err();
    assert_eq!(err.line, 3, "{err}");
    assert!(err.to_string().contains("neither"), "{err}");
    // Each alone is fine.
    let ok = text.replace(r#""vb":0}"#, r#""vb":0,"seqnos":[1]}"#);
    assert!(check(&ok, vec![]).is_ok(), "{ok}");
    let failed = text.replace(r#""vb":0}"#, r#""vb":0,"failed":"disk full"}"#);
    assert!(check(&failed, vec![]).is_ok(), "{failed}");
}

#[test]
fn a_bound_used_up_or_a_value_outside_the_model_is_undecided_and_a_wrong_result_invalid() {
    let dir = tempfile::tempdir().unwrap();
    let (mut c, log) = cluster();
    for (i, k) in ["k0", "k1", "k0"].iter().enumerate() {
        c.set(0, k, &format!("v{}", i + 1), None).unwrap();
    }
    let text = log.text();
    let run = |name: &str, text: &str, extra: &[&str]| {
        let path = write(dir.path(), name, text);
        let json = dir.path().join(format!("{name}.json"));
        let mut args = vec![
            "validate",
            &path,
            "--variant",
            VARIANT,
            "--json",
            json.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let (code, out, err) = warmcheck(&args);
        let report: Value =
            serde_json::from_str(&std::fs::read_to_string(&json).unwrap_or_default())
                .unwrap_or(Value::Null);
        (code, format!("{out}{err}"), report)
    };
    // Our own engine's log, longer than --writes 2 allows.
    let (code, out, report) = run("long.ndjson", &text, &["--writes", "2"]);
    assert_eq!(code, 3, "{out}");
    assert!(out.trim_end().ends_with("UNDECIDED"), "{out}");
    assert!(out.contains("bound of 2 client writes is used up"), "{out}");
    assert_eq!(report["outcome"], "undecided", "{report}");
    assert_eq!(report["invalid"]["line"], 4, "{report}");
    assert_schema_valid(&report);
    // A documented value the model does not express: a ttl of 5.
    let ttl5 = text.replacen("\"ttl\":null", "\"ttl\":5", 1);
    let (code, out, report) = run("ttl.ndjson", &ttl5, &[]);
    assert_eq!(code, 3, "{out}");
    assert!(
        out.contains("ttl 5 is outside what the model expresses"),
        "{out}"
    );
    assert_eq!(report["outcome"], "undecided", "{report}");
    // A wrong seqno is INVALID, exit 1.
    let wrong = text.replacen("\"seqno\":2", "\"seqno\":7", 1);
    let (code, out, report) = run("wrong.ndjson", &wrong, &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.trim_end().ends_with("INVALID"), "{out}");
    assert_eq!(report["outcome"], "invalid", "{report}");
    assert_eq!(report["undecided"], Value::Null, "{report}");
    assert_schema_valid(&report);
    // And the log itself VALID, exit 0.
    let (code, out, report) = run("ok.ndjson", &text, &[]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(report["outcome"], "valid", "{report}");
    assert_schema_valid(&report);
}
