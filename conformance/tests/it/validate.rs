//! Trace validation (`warmcheck validate`): logs the engine writes validate; logs that were
//! tampered with fail, naming the line and what is wrong.

use crate::common;

use common::warmcheck;

use std::path::Path;
use warmcheck_conformance::validate::{self, Problem, Validator};
use warmcheck_impl::engine::Phase;
use warmcheck_model::{Bounds, Variant, Warmup};

fn model(variant: &str) -> Warmup {
    validate::generous_bounds(1, 1, 2).into_model(Variant::preset(variant).unwrap())
}

/// The domain brief's section-5 story (MB-41942) on the engine, logged.
fn mb41942_story_log(variant: &str) -> String {
    let (mut c, log) = common::logged_cluster("/story", Variant::preset(variant).unwrap());
    c.set(0, "k0", "v1", Some(1)).unwrap();
    c.flush(0).unwrap();
    c.set(0, "k1", "v2", None).unwrap();
    c.connect(0, 0).unwrap();
    c.stream_all(0, 0).unwrap();
    c.get(0, "k1").unwrap(); // live: a stutter
    c.crash().unwrap();
    c.warmup_until(Phase::PopulateVBucketMap).unwrap();
    c.advance_clock(1).unwrap();
    c.advance_clock(1).unwrap(); // nothing more becomes due: a stutter
    assert_eq!(c.get(0, "k0").unwrap(), None); // expires k0 during warmup
    let _ = c.flush(0);
    c.crash().unwrap();
    c.warmup_until(Phase::Complete).unwrap();
    c.connect(0, 0).unwrap();
    c.compact(0).unwrap();
    log.text()
}

fn lines(text: &str) -> Vec<String> {
    text.lines().map(str::to_string).collect()
}

fn join(lines: &[String]) -> String {
    lines.iter().map(|l| format!("{l}\n")).collect()
}

fn check(variant: &str, text: &str) -> Result<validate::Summary, validate::Invalid> {
    let mut v = Validator::new(model(variant));
    validate::validate_log(&mut v, text, |_| {})
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.to_str().unwrap().to_string()
}

#[test]
fn the_mb41942_story_logged_by_the_engine_validates_in_every_design() {
    for variant in Variant::PRESETS {
        let text = mb41942_story_log(variant);
        let summary = check(variant, &text).unwrap_or_else(|e| panic!("{variant}: {e}"));
        assert_eq!(summary.events, text.lines().count());
        assert!(summary.stutters >= 2, "{variant}: {summary}");
        assert_eq!(
            summary.model_steps + summary.stutters,
            summary.events as u64
        );
    }
}

#[test]
fn the_cli_says_valid_with_counts_and_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let text = mb41942_story_log("v6.5.1");
    let path = write(dir.path(), "story.ndjson", &text);
    let (code, out, err) = warmcheck(&["validate", &path, "--variant", "v6.5.1"]);
    assert_eq!(code, 0, "{out}{err}");
    let last = out.lines().last().unwrap();
    assert!(
        last.starts_with(&format!("{} events, ", text.lines().count()))
            && last.ends_with(" stutters: VALID"),
        "{out}"
    );
    // Verbose: one line per event.
    let (code, out, _) = warmcheck(&["validate", &path, "--variant", "v6.5.1", "--verbose"]);
    assert_eq!(code, 0);
    assert_eq!(
        out.lines()
            .filter(|l| l.trim_start().starts_with("line "))
            .count(),
        text.lines().count()
    );
}

/// `warmcheck workload --seed SEED --steps STEPS --variant DESIGN ARGS...` in `dir`; its log.
fn workload_log(dir: &Path, seed: u64, steps: u64, design: &str, args: &[&str]) -> String {
    let data = dir.join("data");
    let log = dir.join("run.ndjson");
    let (seed, steps) = (seed.to_string(), steps.to_string());
    let mut all = vec!["workload", "--dir", data.to_str().unwrap()];
    all.extend(["--seed", &seed, "--log", log.to_str().unwrap()]);
    all.extend(["--steps", &steps, "--variant", design]);
    all.extend(args);
    let (code, out, err) = warmcheck(&all);
    assert_eq!(code, 0, "{out}{err}");
    log.to_str().unwrap().to_string()
}

#[test]
fn a_log_of_the_soak_workload_validates_with_bounds_read_from_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let shape = ["--vbuckets", "2", "--replicas", "2", "--keys", "3"];
    let log = workload_log(dir.path(), 7, 400, "mb41942", &shape);
    let (code, out, err) = warmcheck(&["validate", &log, "--variant", "mb41942"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("within 2 vbuckets, 2 replicas, 3 keys"),
        "{out}"
    );
    assert!(out.trim_end().ends_with(": VALID"), "{out}");
}

/// A log of a cluster that fails over and adds back (issue 22): validated with as many
/// failovers as it logs; without its first `fail_over` line it is INVALID at the line after
/// the gap (the promoted node's state cannot follow from the old one's).
#[test]
fn a_log_with_failovers_validates_and_fails_without_its_fail_over_line() {
    let dir = tempfile::tempdir().unwrap();
    let log = workload_log(
        dir.path(),
        11,
        3000,
        "current",
        &["--replicas", "2", "--failovers", "3"],
    );
    let text = std::fs::read_to_string(&log).unwrap();
    let failovers = text.matches("\"call\":\"fail_over\"").count();
    assert!(
        failovers > 0 && text.contains("\"call\":\"add_back\""),
        "{text:.400}"
    );
    let (code, out, err) = warmcheck(&["validate", &log, "--variant", "current"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains(&format!(", {failovers} failover")), "{out}");
    assert!(out.trim_end().ends_with(": VALID"), "{out}");

    let mut ls = lines(&text);
    let at = ls
        .iter()
        .position(|l| l.contains("\"call\":\"fail_over\""))
        .unwrap();
    // A `fail_over` naming its replica another way (`r01`) is refused, naming the line.
    let mut lying = ls.clone();
    lying[at] = lying[at].replacen("\"replica\":\"r", "\"replica\":\"r0", 1);
    let lie = write(dir.path(), "lie.ndjson", &join(&lying));
    let (code, out, err) = warmcheck(&["validate", &lie, "--variant", "current"]);
    assert_ne!(code, 0, "{out}{err}");
    assert!(
        format!("{out}{err}").contains(&format!("line {}", at + 1)) && out.contains("INVALID"),
        "{out}{err}"
    );
    ls.remove(at);
    let cut = write(dir.path(), "cut.ndjson", &join(&ls));
    let (code, out, err) = warmcheck(&["validate", &cut, "--variant", "current"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains(&format!("line {}", at + 1)) && out.contains("INVALID"),
        "{out}{err}"
    );
}

#[test]
fn a_log_validated_in_another_design_fails_where_the_designs_part() {
    // In v6.5.1 warmupCompleted queues the new entry; in current it was flushed at populate.
    let text = mb41942_story_log("v6.5.1");
    let err = check("current", &text).unwrap_err();
    assert!(matches!(err.problem, Problem::Differs { .. }), "{err}");
    assert!(err.line > 1, "{err}");
}

#[test]
fn a_changed_value_in_a_logged_state_fails_naming_the_line_and_the_field() {
    let mut ls = lines(&mb41942_story_log("v6.5.1"));
    let at = ls
        .iter()
        .position(|l| l.contains("\"call\":\"flush\""))
        .unwrap();
    ls[at] = ls[at].replacen("\"value\":\"v1\"", "\"value\":\"v9\"", 1);
    let err = check("v6.5.1", &join(&ls)).unwrap_err();
    assert_eq!(err.line, at + 1, "{err}");
    let Problem::Differs { differences, .. } = &err.problem else {
        panic!("{err}")
    };
    assert!(
        differences
            .iter()
            .any(|d| d.path.ends_with("/value") && d.model == "v1" && d.implementation == "v9"),
        "{err}"
    );
    let text = err.to_string();
    assert!(
        text.starts_with(&format!("line {}: after `flush`", at + 1)),
        "{text}"
    );
    assert!(text.contains("model") && text.contains("log"), "{text}");
}

#[test]
fn a_removed_line_fails_at_the_line_after_the_gap() {
    let mut ls = lines(&mb41942_story_log("v6.5.1"));
    let at = ls
        .iter()
        .position(|l| l.contains("\"call\":\"flush\""))
        .unwrap();
    ls.remove(at);
    let err = check("v6.5.1", &join(&ls)).unwrap_err();
    assert_eq!(err.line, at + 1, "{err}");
}

#[test]
fn reordered_lines_fail() {
    let mut ls = lines(&mb41942_story_log("v6.5.1"));
    ls.swap(0, 1);
    let err = check("v6.5.1", &join(&ls)).unwrap_err();
    assert_eq!(err.line, 1, "{err}");
}

#[test]
fn an_unknown_call_fails_as_unknown_event() {
    let mut ls = lines(&mb41942_story_log("v6.5.1"));
    ls[2] = ls[2].replacen("\"call\":\"", "\"call\":\"frobnicate_", 1);
    let err = check("v6.5.1", &join(&ls)).unwrap_err();
    assert_eq!(err.line, 3);
    assert!(matches!(err.problem, Problem::Unmapped { .. }), "{err}");
    assert!(err.to_string().contains("unknown event"), "{err}");
}

#[test]
fn a_call_the_model_does_not_enable_fails_and_lists_what_it_enables() {
    let mut ls = lines(&mb41942_story_log("v6.5.1"));
    // A second flush right after the first: the flusher was not notified again.
    let at = ls
        .iter()
        .position(|l| l.contains("\"call\":\"flush\""))
        .unwrap();
    ls.insert(at + 1, ls[at].clone());
    let err = check("v6.5.1", &join(&ls)).unwrap_err();
    assert_eq!(err.line, at + 2, "{err}");
    let Problem::NotEnabled { enabled, .. } = &err.problem else {
        panic!("{err}")
    };
    assert!(!enabled.is_empty());
    assert!(err.to_string().contains("the model enables:"), "{err}");
}

#[test]
fn an_empty_log_fails_with_no_events_and_exit_1() {
    let err = check("current", "").unwrap_err();
    assert_eq!(err.problem, Problem::NoEvents);
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "empty.ndjson", "");
    let (code, out, _) = warmcheck(&["validate", &path]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("no events"), "{out}");
}

#[test]
fn a_truncated_last_line_fails_as_cut_short_naming_it() {
    let text = mb41942_story_log("v6.5.1");
    let n = text.lines().count();
    let cut = &text[..text.len() - 40];
    let err = check("v6.5.1", cut).unwrap_err();
    assert_eq!(err.line, n, "{err}");
    assert!(
        matches!(
            err.problem,
            Problem::CutShort {
                json_error: Some(_)
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains(&format!("line {n} is cut short")));
    // Complete JSON but no newline at the end: cut short too.
    let err = check("v6.5.1", text.trim_end()).unwrap_err();
    assert_eq!(err.problem, Problem::CutShort { json_error: None });
    // With tolerance (a killed writer), the tail is set aside and the rest validates.
    let mut v = Validator::new(model("v6.5.1"));
    let summary = validate::validate_text(&mut v, cut, true, |_| {}).unwrap();
    assert_eq!(summary.events, n - 1);
    assert!(summary.cut_tail.is_some());
    // A broken line that is not the last one is not tolerated.
    let mut ls = lines(&text);
    ls[1].truncate(30);
    let mut v = Validator::new(model("v6.5.1"));
    let err = validate::validate_text(&mut v, &join(&ls), true, |_| {}).unwrap_err();
    assert_eq!(err.line, 2);
    assert!(matches!(err.problem, Problem::NotJson(_)), "{err}");
}

#[test]
fn a_line_that_is_not_json_fails_with_the_column() {
    let mut ls = lines(&mb41942_story_log("v6.5.1"));
    ls[3] = "{\"call\":\"flush\",".to_string();
    let err = check("v6.5.1", &join(&ls)).unwrap_err();
    assert_eq!(err.line, 4);
    assert!(err.to_string().contains("is not JSON") && err.to_string().contains("column"));
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "bad.ndjson", &join(&ls));
    let (code, out, _) = warmcheck(&["validate", &path, "--variant", "v6.5.1"]);
    assert_eq!(code, 1);
    assert!(out.contains("line 4 is not JSON"), "{out}");
    assert!(
        out.trim_end()
            .ends_with("3 events valid before that: INVALID"),
        "{out}"
    );
}

#[test]
fn a_missing_file_is_a_usage_error() {
    let (code, _, err) = warmcheck(&["validate", "/nonexistent/warmcheck.ndjson"]);
    assert_eq!(code, 2);
    assert!(err.contains("cannot read"), "{err}");
}

#[test]
fn a_log_longer_than_the_bounds_given_names_the_bound() {
    let text = mb41942_story_log("v6.5.1");
    let model = Bounds {
        vbuckets: 1,
        replicas: 1,
        keys: 2,
        writes: 1,
        crashes: 20,
        shutdowns: 20,
        flush_failures: 0,
        failovers: 0,
    }
    .into_model(Variant::preset("v6.5.1").unwrap());
    let mut v = Validator::new(model);
    let err = validate::validate_log(&mut v, &text, |_| {}).unwrap_err();
    assert!(
        err.to_string()
            .contains("bound of 1 client writes is used up"),
        "{err}"
    );
}

/// Found by the property test `edited_logs_are_judged` (tests/it/fuzz.rs): a vb or key number as
/// large as a JSON number gets used to overflow while the log's shape was read (a panic in a
/// debug build, a wrap to 0 in release). It is now refused as more than the model takes.
#[test]
fn a_log_naming_a_vb_or_key_beyond_any_bound_is_refused_not_overflowed() {
    for line in [
        r#"{"call":"set","vb":18446744073709551615,"key":"k0","value":"v1","seqno":1}"#,
        r#"{"call":"set","vb":0,"key":"k18446744073709551615","value":"v1","seqno":1}"#,
    ] {
        let shape = validate::shape_of_log(line);
        let err = validate::bounds_for_log(&shape, None, None, None, (2, 2, 1)).unwrap_err();
        assert!(err.contains("18446744073709551615"), "{err}");
        assert!(err.contains("the model takes"), "{err}");
        assert!(validate::parse_log(line.as_bytes(), Variant::current()).is_err());
    }
}

/// `validate --from STATE` takes every state the model reaches (`checked::check_state` claims
/// as much). It refused a clean shutdown begun during warmup before CreateVBuckets (the
/// vbuckets not yet in memory), a state the model reaches.
#[test]
fn every_reachable_state_is_taken_as_a_from_state() {
    use stateright::Model;
    for variant in ["v6.5.1", "current", "proposed"] {
        let model = Bounds {
            vbuckets: 1,
            replicas: 1,
            keys: 1,
            writes: 1,
            crashes: 1,
            shutdowns: 1,
            flush_failures: 1,
            failovers: 0,
        }
        .into_model(Variant::preset(variant).unwrap());
        let mut seen = std::collections::HashSet::new();
        let mut todo = model.init_states();
        let mut shutdown_before_vbuckets = 0;
        while let Some(s) = todo.pop() {
            if !seen.insert(s.clone()) {
                continue;
            }
            if let Err(e) = warmcheck_conformance::checked::check_state(&model, &s) {
                panic!("{variant}: a reachable state is refused: {e}\n{s:?}");
            }
            let json = serde_json::to_vec(&s).unwrap();
            warmcheck_conformance::checked::parse_state(&json, &model).unwrap();
            if matches!(s.node, warmcheck_model::Node::ShuttingDown(sd)
                if sd.warmup.is_some_and(|p| p < warmcheck_model::Phase::CreateVBuckets))
            {
                shutdown_before_vbuckets += 1;
            }
            let mut actions = vec![];
            model.actions(&s, &mut actions);
            for a in actions {
                if let Some(n) = model.next_state(&s, a) {
                    todo.push(n);
                }
            }
        }
        assert!(seen.len() > 100, "{variant}: {} states", seen.len());
        assert!(
            shutdown_before_vbuckets > 0,
            "{variant}: the case is not reached"
        );
    }
}

/// A flag the mode would ignore is refused, not accepted silently.
#[test]
fn a_log_with_states_refuses_the_search_flags_it_would_ignore() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "log.ndjson", &mb41942_story_log("v6.5.1"));
    for flag in [["--max-candidates", "5"], ["--unlogged", "flush"]] {
        let (code, out, err) =
            warmcheck(&[&["validate", &path, "--variant", "v6.5.1"][..], &flag[..]].concat());
        assert_eq!(code, 2, "{flag:?}: {out}{err}");
        assert!(
            err.contains("--unlogged and --max-candidates apply to a log without states"),
            "{err}"
        );
    }
    let (code, out, _) = warmcheck(&["validate", &path, "--variant", "v6.5.1"]);
    assert_eq!(code, 0, "{out}");
}
