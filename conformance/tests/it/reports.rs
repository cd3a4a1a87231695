//! The machine-readable reports: every `--json` report and trace file validates against its
//! documented JSON Schema (`docs/schemas/`), and every `--junit` file is JUnit XML with one test
//! case per property, a violation a `<failure>` carrying the counterexample.

use crate::common::read_json;
use crate::common::schemas_dir;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Resolves `https://warmcheck.invalid/schemas/NAME` to `docs/schemas/NAME`.
struct LocalSchemas;

impl jsonschema::Retrieve for LocalSchemas {
    fn retrieve(
        &self,
        uri: &jsonschema::Uri<String>,
    ) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
        let name = uri
            .as_str()
            .strip_prefix("https://warmcheck.invalid/schemas/")
            .ok_or_else(|| format!("not a warmcheck schema: {}", uri.as_str()))?;
        let name = name.split('#').next().unwrap_or(name);
        Ok(serde_json::from_str(&std::fs::read_to_string(
            schemas_dir().join(name),
        )?)?)
    }
}

fn validator(schema: &str) -> jsonschema::Validator {
    let doc: Value =
        serde_json::from_str(&std::fs::read_to_string(schemas_dir().join(schema)).unwrap())
            .unwrap();
    jsonschema::options()
        .with_retriever(LocalSchemas)
        .build(&doc)
        .unwrap_or_else(|e| panic!("{schema} is not a valid schema: {e}"))
}

fn assert_valid(schema: &str, instance: &Value) {
    let v = validator(schema);
    let errors: Vec<String> = v
        .iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{schema}: {errors:#?}");
}

fn warmcheck(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_warmcheck"))
        .args(args)
        .output()
        .unwrap()
}

const SMALL: [&str; 8] = [
    "--keys",
    "1",
    "--writes",
    "2",
    "--crashes",
    "1",
    "--shutdowns",
    "1",
];

/// An ITF file (Apalache's and Quint's trace format) tells the same behaviour as `trace`: one
/// state per step plus the initial one, each `#meta.index` its position, each naming every
/// variable in `vars`, every integer encoded `{"#bigint": "N"}`.
pub fn assert_itf_matches(itf_path: &Path, trace: &Value) {
    let itf = read_json(itf_path);
    assert_valid("itf.schema.json", &itf);
    let steps = trace["actions"].as_array().unwrap().len();
    let states = itf["states"].as_array().unwrap();
    assert_eq!(
        states.len(),
        steps + 1,
        "{}: states = steps + 1",
        itf_path.display()
    );
    assert_eq!(itf["#meta"]["property"], trace["property"]);
    let vars: Vec<&str> = itf["vars"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for v in ["node", "clean_flag", "vbs", "crashes"] {
        assert!(vars.contains(&v), "{v} is a variable: {vars:?}");
    }
    for (i, s) in states.iter().enumerate() {
        assert_eq!(s["#meta"]["index"], i);
        let mut keys: Vec<&str> = s.as_object().unwrap().keys().map(|k| k.as_str()).collect();
        keys.retain(|k| *k != "#meta");
        keys.sort();
        let mut want = vars.clone();
        want.sort();
        assert_eq!(keys, want, "state {i} assigns exactly the vars");
        if i == 0 {
            assert_eq!(s["#meta"]["action"], "init");
        }
        if i > 0 {
            let taken = s["#meta"]["action"].as_str().unwrap();
            assert!(
                taken.starts_with(&action_name(&trace["actions"][i - 1])),
                "state {i}: {taken}"
            );
        }
    }
    // The number of crashes is an ITF integer and counts up along the trace as the
    // ActiveCrashes actions say.
    let crashes = |i: usize| -> u64 {
        states[i]["crashes"]["#bigint"]
            .as_str()
            .expect("integers are {\"#bigint\": \"N\"}")
            .parse()
            .unwrap()
    };
    let crash_actions = trace["actions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| action_name(a) == "ActiveCrashes")
        .count() as u64;
    assert_eq!(crashes(steps) - crashes(0), crash_actions);
}

/// The name of an action as serde writes it: `"ClockAdvances"` or `{"ClientSets": {...}}`.
fn action_name(a: &Value) -> String {
    match a {
        Value::String(s) => s.clone(),
        Value::Object(o) => o.keys().next().unwrap().clone(),
        _ => panic!("an action is a string or an object: {a}"),
    }
}

#[test]
fn check_reports_validate_and_junit_carries_the_counterexample() {
    let d = tempfile::tempdir().unwrap();
    let json = d.path().join("check.json");
    let junit = d.path().join("check.xml");
    let traces = d.path().join("traces");
    let mut args = vec!["check", "--variant", "v6.5.1", "--quiet"];
    args.extend(SMALL);
    let (j, x, t) = (
        json.to_str().unwrap(),
        junit.to_str().unwrap(),
        traces.to_str().unwrap(),
    );
    args.extend(["--json", j, "--junit", x, "--trace-dir", t]);
    let out = warmcheck(&args);
    assert_eq!(out.status.code(), Some(1), "v6.5.1 fails its check");
    let report = read_json(&json);
    assert_valid("check-report.schema.json", &report);
    let diverges = report["properties"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "no replica diverges")
        .unwrap();
    assert_eq!(diverges["status"], "violated");
    assert_valid("trace.schema.json", &diverges["trace"]);

    // Every trace file check wrote validates too, and has its ITF twin beside it.
    let mut n = 0;
    for entry in std::fs::read_dir(&traces).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        if let Some(stem) = name.strip_suffix(".trace.json") {
            let trace = read_json(&path);
            assert_valid("trace.schema.json", &trace);
            assert_itf_matches(&path.with_file_name(format!("{stem}.itf.json")), &trace);
            n += 1;
        } else {
            assert!(name.ends_with(".itf.json"), "unexpected file {name}");
        }
    }
    assert!(n >= 2, "one trace file per violated property");

    let xml = std::fs::read_to_string(&junit).unwrap();
    let doc = roxmltree::Document::parse(&xml).expect("JUnit XML parses");
    let suite = doc
        .descendants()
        .find(|n| n.has_tag_name("testsuite"))
        .unwrap();
    let cases: Vec<_> = suite
        .children()
        .filter(|n| n.has_tag_name("testcase"))
        .collect();
    assert_eq!(
        cases.len(),
        report["properties"].as_array().unwrap().len(),
        "one test case per property"
    );
    let failed = cases
        .iter()
        .find(|c| c.attribute("name") == Some("always no replica diverges"))
        .unwrap();
    let failure = failed
        .children()
        .find(|n| n.has_tag_name("failure"))
        .expect("a violation is a <failure>");
    assert!(failure.text().unwrap_or("").contains("Counterexample for"));
    assert_eq!(
        suite
            .attribute("failures")
            .unwrap()
            .parse::<usize>()
            .unwrap(),
        cases
            .iter()
            .filter(|c| c.children().any(|n| n.has_tag_name("failure")))
            .count()
    );
}

#[test]
fn the_schemas_reject_a_report_that_breaks_them() {
    let d = tempfile::tempdir().unwrap();
    let json = d.path().join("check.json");
    let mut args = vec!["check", "--variant", "proposed", "--quiet"];
    args.extend(SMALL);
    args.extend(["--json", json.to_str().unwrap()]);
    assert_eq!(warmcheck(&args).status.code(), Some(0), "proposed passes");
    let mut report = read_json(&json);
    assert_valid("check-report.schema.json", &report);
    report["properties"][0]["status"] = Value::from("maybe");
    assert!(
        !validator("check-report.schema.json").is_valid(&report),
        "an unknown status is rejected"
    );
    report.as_object_mut().unwrap().remove("states");
    assert!(!validator("check-report.schema.json").is_valid(&report));
}

#[test]
fn check_all_variants_conform_and_replay_reports_validate() {
    let d = tempfile::tempdir().unwrap();
    let p = |n: &str| d.path().join(n).to_str().unwrap().to_string();
    let (all, conform, conform_x, replay, traces) = (
        p("all.json"),
        p("conform.json"),
        p("conform.xml"),
        p("replay.json"),
        p("traces"),
    );

    let mut args = vec!["check", "--all-variants", "--quiet", "--trace-dir", &traces];
    args.extend(SMALL);
    args.extend(["--json", &all]);
    assert_eq!(
        warmcheck(&args).status.code(),
        Some(1),
        "older designs fail"
    );
    let doc = read_json(Path::new(&all));
    assert_valid("check-all-report.schema.json", &doc);
    assert_eq!(
        doc["variants"].as_array().unwrap().len(),
        warmcheck_model::Variant::PRESETS.len()
    );

    let mut args = vec!["conform", "--quiet", "--backend", "faulty"];
    args.extend(SMALL);
    args.extend(["--json", &conform, "--junit", &conform_x]);
    assert_eq!(warmcheck(&args).status.code(), Some(0));
    let doc = read_json(Path::new(&conform));
    assert_valid("conform-report.schema.json", &doc);
    assert_eq!(doc["transitions_covered"], doc["transitions_reachable"]);
    let xml = std::fs::read_to_string(&conform_x).unwrap();
    let x = roxmltree::Document::parse(&xml).unwrap();
    assert_eq!(
        x.descendants()
            .filter(|n| n.has_tag_name("testcase"))
            .count(),
        1
    );
    assert_eq!(
        x.descendants()
            .filter(|n| n.has_tag_name("failure"))
            .count(),
        0
    );

    let trace = format!("{traces}/v6.5.1-keys1-crashes1-no-replica-diverges.trace.json");
    let out = warmcheck(&["replay", &trace, "--json", &replay]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let doc = read_json(Path::new(&replay));
    assert_valid("replay-report.schema.json", &doc);
    assert_eq!(doc["matched"], true);
    assert_eq!(doc["diverged_on_disk"], true);
}

#[test]
fn soak_reports_validate_and_junit_has_one_case_per_seed() {
    let d = tempfile::tempdir().unwrap();
    let json = d.path().join("soak.json");
    let junit = d.path().join("soak.xml");
    let out = warmcheck(&[
        "soak",
        "--seed",
        "7",
        "--steps",
        "500",
        "--quiet",
        "--json",
        json.to_str().unwrap(),
        "--junit",
        junit.to_str().unwrap(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let doc = read_json(&json);
    assert_valid("soak-report.schema.json", &doc);
    assert_eq!(doc["passed"], true);
    let xml = std::fs::read_to_string(&junit).unwrap();
    let x = roxmltree::Document::parse(&xml).unwrap();
    assert_eq!(
        x.descendants()
            .filter(|n| n.has_tag_name("testcase"))
            .count(),
        1
    );
}

/// `check` on v6.5.1 at the small bounds with `extra` flags: (exit code, stdout, report).
fn check_v651(extra: &[&str]) -> (Option<i32>, String, Value, PathBuf, tempfile::TempDir) {
    let d = tempfile::tempdir().unwrap();
    let json = d.path().join("check.json");
    let junit = d.path().join("check.xml");
    let traces = d.path().join("traces");
    let mut args = vec!["check", "--variant", "v6.5.1", "--quiet"];
    args.extend(SMALL);
    args.extend(extra);
    let (j, x, t) = (
        json.to_str().unwrap(),
        junit.to_str().unwrap(),
        traces.to_str().unwrap(),
    );
    args.extend(["--json", j, "--junit", x, "--trace-dir", t]);
    let out = warmcheck(&args);
    let report = read_json(&json);
    assert_valid("check-report.schema.json", &report);
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        report,
        junit,
        d,
    )
}

fn property<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["properties"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap()
}

#[test]
fn fail_fast_reports_an_incomplete_run_and_says_it_stopped_early() {
    let (code, out, report, _, _d) = check_v651(&["--fail-fast"]);
    assert_eq!(code, Some(1));
    assert_eq!(report["complete"], false, "{report:#}");
    assert_eq!(report["stopped_early"], true);
    assert_eq!(report["passed"], false);
    assert!(out.contains("Stopped early (--fail-fast)"), "{out}");
    // Without --fail-fast the same check completes.
    let (_, out, report, _, _d) = check_v651(&[]);
    assert_eq!(report["complete"], true);
    assert_eq!(report["stopped_early"], false);
    assert!(!out.contains("Stopped early"), "{out}");
}

#[test]
fn only_a_breadth_first_counterexample_is_called_shortest() {
    let (_, bfs_out, bfs, _, _d) = check_v651(&["--strategy", "bfs"]);
    let (_, dfs_out, dfs, _, _d2) = check_v651(&["--strategy", "dfs"]);
    let name = "no replica diverges";
    assert_eq!(property(&bfs, name)["status"], "violated");
    assert_eq!(property(&bfs, name)["shortest"], true);
    assert_eq!(property(&dfs, name)["status"], "violated");
    assert_eq!(property(&dfs, name)["shortest"], false);
    assert!(
        property(&dfs, name)["steps"].as_u64() >= property(&bfs, name)["steps"].as_u64(),
        "the shortest is no longer than the one depth-first found"
    );
    let line = |out: &str| {
        out.lines()
            .find(|l| l.contains("violated") && l.contains(name))
            .unwrap()
            .to_string()
    };
    assert!(
        !line(&bfs_out).contains("maybe not the shortest"),
        "{bfs_out}"
    );
    assert!(
        line(&dfs_out).contains("maybe not the shortest"),
        "{dfs_out}"
    );
    // A property that holds has no counterexample to call shortest.
    for p in bfs["properties"].as_array().unwrap() {
        if p["status"] != "violated" {
            assert_eq!(p["shortest"], false, "{p}");
        }
    }
}

#[test]
fn check_junit_test_cases_carry_the_time_their_verdicts_took() {
    let (_, _, report, junit, _d) = check_v651(&[]);
    let xml = std::fs::read_to_string(&junit).unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let suite = doc
        .descendants()
        .find(|n| n.has_tag_name("testsuite"))
        .unwrap();
    let time = |n: &roxmltree::Node| n.attribute("time").unwrap().parse::<f64>().unwrap();
    let total = time(&suite);
    let run_seconds = report["seconds"].as_f64().unwrap();
    assert!(total > 0.0 && (total - run_seconds).abs() < 0.002, "{xml}");
    // A case whose trace was found carries the time it took to find it; a verdict only the
    // end of the run decides carries 0 (the suite's property `time-note` says so), never a
    // copy of the run's time.
    let statuses: Vec<&str> = report["properties"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["status"].as_str().unwrap())
        .collect();
    let cases: Vec<_> = suite
        .children()
        .filter(|n| n.has_tag_name("testcase"))
        .collect();
    assert_eq!(cases.len(), statuses.len());
    for (case, status) in cases.iter().zip(&statuses) {
        let t = time(case);
        match *status {
            "violated" | "reached" => assert!(t > 0.0, "a measured time, not 0: {xml}"),
            _ => assert_eq!(t, 0.0, "{status}: 0, not the run's time: {xml}"),
        }
        assert!(
            t <= total + 0.001,
            "no case takes longer than the run: {xml}"
        );
    }
    assert!(statuses.contains(&"holds") && statuses.contains(&"violated"));
    let note = suite
        .descendants()
        .find(|n| n.has_tag_name("property") && n.attribute("name") == Some("time-note"))
        .expect("the suite says what a case's time is");
    assert!(note.attribute("value").unwrap().contains("0 for verdicts"));
    for p in report["properties"].as_array().unwrap() {
        let s = p["seconds"].as_f64().unwrap();
        assert!(s > 0.0 && s <= run_seconds, "{p}");
    }
}

#[test]
fn a_seed_past_2_pow_53_is_a_string_in_the_soak_report() {
    let d = tempfile::tempdir().unwrap();
    for (seed, expected) in [
        ("18446744073709551615", Value::from("18446744073709551615")),
        ("9007199254740993", Value::from("9007199254740993")),
        ("9007199254740992", Value::from(9007199254740992u64)),
    ] {
        let json = d.path().join(format!("soak-{seed}.json"));
        let out = warmcheck(&[
            "soak",
            "--seed",
            seed,
            "--steps",
            "50",
            "--quiet",
            "--json",
            json.to_str().unwrap(),
        ]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.starts_with(&format!("seed={seed}\n")), "{stdout}");
        let doc = read_json(&json);
        assert_valid("soak-report.schema.json", &doc);
        assert_eq!(doc["seed"], expected);
    }
}

#[test]
fn output_paths_are_checked_before_the_run_starts() {
    let d = tempfile::tempdir().unwrap();
    let file = d.path().join("a-file");
    std::fs::write(&file, "").unwrap();
    let missing = d.path().join("no-such-dir").join("r.json");
    let under_file = file.join("traces");
    let cases: Vec<(Vec<&str>, &Path)> = vec![
        (vec!["check", "--json", missing.to_str().unwrap()], &missing),
        (
            vec!["check", "--junit", missing.to_str().unwrap()],
            &missing,
        ),
        (
            vec!["check", "--trace-dir", under_file.to_str().unwrap()],
            &under_file,
        ),
        (
            vec!["check", "--json", d.path().to_str().unwrap()],
            d.path(),
        ),
        (
            vec!["conform", "--json", missing.to_str().unwrap()],
            &missing,
        ),
        (
            vec!["conform", "--trace-dir", under_file.to_str().unwrap()],
            &under_file,
        ),
        (vec!["soak", "--junit", missing.to_str().unwrap()], &missing),
        (
            vec![
                "replay",
                "x.trace.json",
                "--json",
                missing.to_str().unwrap(),
            ],
            &missing,
        ),
    ];
    for (args, path) in cases {
        let out = warmcheck(&args);
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stdout}{stderr}");
        assert!(
            stderr.contains(&path.display().to_string()),
            "{args:?}: names the path: {stderr}"
        );
        assert!(
            stdout.is_empty(),
            "{args:?}: refused before it starts: {stdout}"
        );
    }
    assert!(!under_file.exists());
}

#[test]
fn simulate_saves_its_counterexample_replayable_and_reports_it() {
    let d = tempfile::tempdir().unwrap();
    let p = |n: &str| d.path().join(n).to_str().unwrap().to_string();
    let (json, junit, traces) = (p("sim.json"), p("sim.xml"), p("traces"));
    // v6.5.1 violates "stats.json says clean only when ..." in 4 steps: random walks find it.
    let out = warmcheck(&[
        "simulate",
        "--variant",
        "v6.5.1",
        "--seed",
        "7",
        "--runs",
        "2000",
        "--depth",
        "30",
        "--json",
        &json,
        "--junit",
        &junit,
        "--trace-dir",
        &traces,
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let report = read_json(Path::new(&json));
    assert_valid("simulate-report.schema.json", &report);
    assert_eq!(report["passed"], false);
    assert_eq!(report["seed"], 7);
    let v = &report["violation"];
    let trace_file = PathBuf::from(v["trace_file"].as_str().unwrap());
    assert!(
        stdout.contains(&trace_file.display().to_string()),
        "{stdout}"
    );
    assert_eq!(v["steps"], v["trace"]["actions"].as_array().unwrap().len());
    let saved = read_json(&trace_file);
    assert_valid("trace.schema.json", &saved);
    assert_eq!(saved, v["trace"], "the report carries the saved trace");
    assert_itf_matches(Path::new(v["itf_file"].as_str().unwrap()), &saved);
    let violated: Vec<&Value> = report["properties"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["status"] == "violated")
        .collect();
    assert_eq!(violated.len(), 1);
    assert_eq!(violated[0]["name"], v["property"]);

    // `replay` loads the saved walk and runs it on the implementation (whether the
    // implementation matches is conformance's business, tested elsewhere), and the reproduce
    // command finds it again.
    let replay = warmcheck(&["replay", trace_file.to_str().unwrap()]);
    let replayed = String::from_utf8_lossy(&replay.stdout);
    assert_ne!(replay.status.code(), Some(2), "{replayed}");
    assert!(
        replayed.starts_with(&format!(
            "Replaying {} steps of a `v6.5.1` trace",
            v["steps"]
        )),
        "{replayed}"
    );
    let again: Vec<String> = report["reproduce"]
        .as_str()
        .unwrap()
        .split_whitespace()
        .skip(1)
        .map(str::to_string)
        .collect();
    let again = Command::new(env!("CARGO_BIN_EXE_warmcheck"))
        .args(&again)
        .args(["--trace-dir", &p("again")])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&again.stdout).contains(&format!(
        "Counterexample for \"{}\"",
        v["property"].as_str().unwrap()
    )));

    let xml = std::fs::read_to_string(&junit).unwrap();
    let doc = roxmltree::Document::parse(&xml).expect("JUnit XML parses");
    let cases: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .collect();
    assert_eq!(cases.len(), report["properties"].as_array().unwrap().len());
    let failed: Vec<_> = cases
        .iter()
        .filter(|c| c.children().any(|n| n.has_tag_name("failure")))
        .collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(
        failed[0].attribute("name").unwrap(),
        format!("always {}", v["property"].as_str().unwrap())
    );

    // A design that holds: passed, no violation, no trace written.
    let json2 = p("sim2.json");
    let out = warmcheck(&[
        "simulate",
        "--variant",
        "proposed",
        "--seed",
        "1",
        "--runs",
        "50",
        "--json",
        &json2,
        "--trace-dir",
        &p("none"),
    ]);
    assert_eq!(out.status.code(), Some(0));
    let report = read_json(Path::new(&json2));
    assert_valid("simulate-report.schema.json", &report);
    assert_eq!(report["violation"], Value::Null);
    assert!(!d.path().join("none").exists());
}

#[test]
fn coverage_counts_every_action_kind_and_sums_to_the_transitions() {
    let d = tempfile::tempdir().unwrap();
    let json = d.path().join("check.json");
    // With a failure and a failover, so that every step the model has can fire.
    let mut args = vec![
        "check",
        "--variant",
        "proposed",
        "--flush-failures",
        "1",
        "--failovers",
        "1",
    ];
    args.extend(SMALL);
    args.extend(["--quiet", "--json", json.to_str().unwrap()]);
    let out = warmcheck(&args);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let report = read_json(&json);
    assert_valid("check-report.schema.json", &report);
    let coverage = report["coverage"].as_object().unwrap();
    let kinds = warmcheck_conformance::explored::ACTION_KINDS;
    assert_eq!(coverage.len(), kinds.len(), "{coverage:?}");
    for kind in kinds {
        let n = coverage[kind].as_u64().unwrap();
        // The after-flush designs write ep_force_shutdown=true at Initialize, so a running
        // node never has a clean flag for the stats snapshot to rewrite: dead by design.
        if kind == "StatsSnapshotRewritesStatsJson" {
            assert_eq!(n, 0);
        } else {
            assert!(n > 0, "{kind} never fired: {coverage:?}");
        }
    }
    // Every transition is counted once: all states but the initial one.
    let total: u64 = coverage.values().map(|n| n.as_u64().unwrap()).sum();
    assert_eq!(total + 1, report["states"].as_u64().unwrap());
    let text = String::from_utf8_lossy(&out.stdout);
    // Ruled out by the design: said apart, with the reason, and not as a modelling bug.
    assert!(
        text.contains(
            "  ruled out by the bounds or the design: StatsSnapshotRewritesStatsJson (the \
             design's warmup rewrites stats.json unclean at Initialize"
        ),
        "{text}"
    );
    assert!(!text.contains("never fired"), "{text}");
    // In v6.5.1 the clean flag survives warmup, and the snapshot rewrites it.
    let (_, text, report, _, _d) = check_v651(&[]);
    assert!(report["coverage"]["StatsSnapshotRewritesStatsJson"].as_u64() > Some(0));
    // With no flush failures allowed, the failing flushes are what never fires.
    assert!(
        text.contains(
            "  ruled out by the bounds or the design: FlusherCommitFails, \
             WarmupPopulatesVBucketMapFlushFailing (--flush-failures 0)"
        ),
        "{text}"
    );
    assert!(!text.contains("never fired"), "{text}");
}

#[test]
fn max_depth_gives_a_partial_report_and_a_deep_enough_bound_a_complete_one() {
    let (code, out, report, junit, _d) = check_v651(&["--max-depth", "4"]);
    assert_eq!(code, Some(1));
    assert_eq!(report["complete"], false, "{report:#}");
    assert_eq!(report["stopped_by"], "max-depth");
    assert_eq!(report["depth_limit"], 4);
    assert_eq!(report["passed"], false);
    // Four steps reach no divergence: it is not known, not "holds".
    assert_eq!(
        property(&report, "no replica diverges")["status"],
        "unknown"
    );
    // stateright counts the initial state as depth 1.
    assert_eq!(report["max_depth"], 5);
    assert!(out.contains("some states lie beyond --max-depth"), "{out}");
    assert!(
        out.contains("every state within 4 steps was checked"),
        "{out}"
    );
    let xml = std::fs::read_to_string(junit).unwrap();
    assert!(xml.contains("<skipped message=\"Stopped early: some states lie beyond --max-depth"));
    // Deeper than any behaviour: the same check, complete, with the full run's verdicts.
    let (_, _, full, _, _d) = check_v651(&[]);
    let (_, _, deep, _, _d) = check_v651(&["--max-depth", "1000"]);
    assert_eq!(deep["complete"], true, "{deep:#}");
    assert_eq!(deep["stopped_by"], Value::Null);
    assert_eq!(deep["unique_states"], full["unique_states"]);
    for (a, b) in full["properties"]
        .as_array()
        .unwrap()
        .iter()
        .zip(deep["properties"].as_array().unwrap())
    {
        assert_eq!((&a["name"], &a["status"]), (&b["name"], &b["status"]));
    }
}

#[test]
fn timeout_gives_a_partial_report_that_says_it_stopped() {
    let d = tempfile::tempdir().unwrap();
    let json = d.path().join("check.json");
    // The default bounds take far longer than 0.3 s.
    let out = warmcheck(&[
        "check",
        "--variant",
        "proposed",
        "--strategy",
        "dfs",
        "--timeout",
        "0.3",
        "--quiet",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let report = read_json(&json);
    assert_valid("check-report.schema.json", &report);
    assert_eq!(report["complete"], false);
    assert_eq!(report["stopped_by"], "timeout");
    assert_eq!(report["timeout"], 0.3);
    assert_eq!(
        property(&report, "no replica diverges")["status"],
        "unknown"
    );
    assert!(report["seconds"].as_f64().unwrap() < 30.0);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("Stopped early: --timeout was reached"),
        "{text}"
    );
    for bad in ["0", "-1", "x", "nan"] {
        let out = warmcheck(&["check", "--timeout", bad]);
        assert_eq!(out.status.code(), Some(2), "--timeout {bad}");
    }
}

/// The JUnit XML `check` writes is structurally what JUnit readers (GitHub's
/// action-junit-report, GitLab's `reports: junit`, Jenkins) expect: `testsuites` >
/// `testsuite` (name, tests, failures, skipped, time) > `testcase` (classname, name, time),
/// counts that agree with the cases, each case at most one of `failure` (with a `message`)
/// and `skipped` (with a `message`). A failure names the property, its steps and its trace
/// file (which exists); a `sometimes` the bounds rule out is skipped with the reason.
#[test]
fn check_junit_is_well_formed_and_says_what_failed_and_what_was_ruled_out() {
    let d = tempfile::tempdir().unwrap();
    let junit = d.path().join("check.xml");
    let traces = d.path().join("traces");
    // current with no clean shutdown: the shutdown properties are ruled out.
    let out = warmcheck(&[
        "check",
        "--variant",
        "v6.5.1",
        "--quiet",
        "--keys",
        "1",
        "--writes",
        "2",
        "--crashes",
        "2",
        "--shutdowns",
        "0",
        "--junit",
        junit.to_str().unwrap(),
        "--trace-dir",
        traces.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let xml = std::fs::read_to_string(&junit).unwrap();
    let doc = roxmltree::Document::parse(&xml).expect("JUnit XML parses");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    let num = |n: &roxmltree::Node, a: &str| -> f64 {
        n.attribute(a)
            .unwrap_or_else(|| panic!("<{}> has no {a}: {xml}", n.tag_name().name()))
            .parse()
            .unwrap_or_else(|_| panic!("{a} is not a number: {xml}"))
    };
    let suites: Vec<_> = root.children().filter(|n| n.is_element()).collect();
    assert_eq!(suites.len(), 1);
    let suite = suites[0];
    assert_eq!(suite.tag_name().name(), "testsuite");
    assert!(suite.attribute("name").is_some_and(|n| !n.is_empty()));
    let cases: Vec<_> = suite
        .children()
        .filter(|n| n.has_tag_name("testcase"))
        .collect();
    let (mut failures, mut skipped) = (0.0, 0.0);
    let mut failure_messages = vec![];
    let mut skip_messages = vec![];
    for c in &cases {
        assert!(c.attribute("classname").is_some_and(|n| !n.is_empty()));
        assert!(c.attribute("name").is_some_and(|n| !n.is_empty()));
        assert!(num(c, "time") >= 0.0);
        let kids: Vec<_> = c.children().filter(|n| n.is_element()).collect();
        assert!(kids.len() <= 1, "at most one outcome per case: {xml}");
        for k in kids {
            let msg = k.attribute("message").expect("an outcome has a message");
            match k.tag_name().name() {
                "failure" => {
                    failures += 1.0;
                    failure_messages.push((c.attribute("name").unwrap(), msg));
                }
                "skipped" => {
                    skipped += 1.0;
                    skip_messages.push((c.attribute("name").unwrap(), msg));
                }
                other => panic!("unexpected <{other}> in a testcase: {xml}"),
            }
        }
    }
    for n in [root, suite] {
        assert_eq!(num(&n, "tests"), cases.len() as f64);
        assert_eq!(num(&n, "failures"), failures);
        assert_eq!(num(&n, "skipped"), skipped);
        assert!(num(&n, "time") >= 0.0);
    }
    // The violation names the property, the steps and the trace file, which exists.
    let (_, msg) = failure_messages
        .iter()
        .find(|(n, _)| *n == "always no replica diverges")
        .expect("no replica diverges fails in v6.5.1");
    assert!(
        msg.contains("\"no replica diverges\" violated in "),
        "{msg}"
    );
    let file = msg
        .split("(trace ")
        .nth(1)
        .and_then(|r| r.strip_suffix(')'))
        .unwrap_or_else(|| panic!("no trace path in {msg:?}"));
    assert!(Path::new(file).is_file(), "{file} was written");
    // The shutdown properties are skipped with the reason, not failures.
    for name in [
        "sometimes a clean shutdown completes",
        "sometimes a clean shutdown during warmup completes",
        "sometimes an expiry is queued after the flusher stopped",
    ] {
        let (_, why) = skip_messages
            .iter()
            .find(|(n, _)| *n == name)
            .unwrap_or_else(|| panic!("{name} is not skipped: {xml}"));
        assert!(
            why.contains("ruled out by the bounds (--shutdowns 0)"),
            "{why}"
        );
    }
    assert!(
        !failure_messages
            .iter()
            .any(|(n, _)| n.starts_with("sometimes")),
        "no sometimes property these bounds allow is unreached here: {xml}"
    );
}

/// A `sometimes` the bounds rule out (here `--shutdowns 0` and one crash) is reported, not
/// failed: the check exits 0, the JSON report says `passed: true` with each such property's
/// `ruled_out` reason (schema-valid), the text says "not a failure", the JUnit case is
/// `<skipped>` with the reason; `merge` of the shard reports passes too. An unreached
/// `sometimes` without such a reason still fails the check.
#[test]
fn a_sometimes_ruled_out_by_the_bounds_is_skipped_and_does_not_fail_the_check() {
    let d = tempfile::tempdir().unwrap();
    let p = |n: &str| d.path().join(n).to_str().unwrap().to_string();
    let small = [
        "--variant",
        "proposed",
        "--keys",
        "1",
        "--crashes",
        "1",
        "--shutdowns",
        "0",
    ];
    let (json, xml) = (p("r.json"), p("r.xml"));
    let mut args = vec!["check", "--threads", "1"];
    args.extend(small);
    args.extend(["--json", &json, "--junit", &xml]);
    let out = warmcheck(&args);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains(
            "unreached  sometimes  a clean shutdown completes (ruled out by the bounds: --shutdowns 0; not a failure)"
        ),
        "{text}"
    );
    let doc = read_json(Path::new(&json));
    assert_valid("check-report.schema.json", &doc);
    assert_eq!(doc["passed"], Value::Bool(true), "{doc}");
    let props = doc["properties"].as_array().unwrap();
    let unreached: Vec<&Value> = props
        .iter()
        .filter(|p| p["status"] == "unreached")
        .collect();
    assert_eq!(unreached.len(), 4, "{doc}");
    assert!(
        unreached.iter().all(|p| p["ruled_out"].is_string()),
        "each unreached one says why: {doc}"
    );
    assert!(
        props
            .iter()
            .filter(|p| p["status"] != "unreached")
            .all(|p| p["ruled_out"].is_null()),
        "{doc}"
    );
    let junit = std::fs::read_to_string(&xml).unwrap();
    let x = roxmltree::Document::parse(&junit).unwrap();
    let skipped: Vec<&str> = x
        .descendants()
        .filter(|n| n.has_tag_name("skipped"))
        .filter_map(|n| n.attribute("message"))
        .collect();
    assert_eq!(skipped.len(), 4, "{junit}");
    assert!(
        skipped
            .iter()
            .all(|m| m.starts_with("ruled out by the bounds (")),
        "{skipped:?}"
    );
    assert_eq!(
        x.descendants()
            .filter(|n| n.has_tag_name("failure"))
            .count(),
        0,
        "{junit}"
    );

    // Sharded and merged: the same verdict.
    let (s0, s1, merged) = (p("s0.json"), p("s1.json"), p("m.json"));
    for (i, path) in [(0, &s0), (1, &s1)] {
        let shard = format!("{i}/2");
        let mut args = vec!["check", "--quiet", "--shard", &shard, "--json", path];
        args.extend(small);
        let out = warmcheck(&args);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    let out = warmcheck(&["merge", &s0, &s1, "--json", &merged]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let m = read_json(Path::new(&merged));
    assert_eq!(m["passed"], Value::Bool(true), "{m}");

    // Without a reason, an unreached `sometimes` fails.
    let mut p = warmcheck_conformance::check::PropertyResult {
        name: "a clean shutdown completes".into(),
        expectation: "sometimes".into(),
        status: "unreached".into(),
        steps: None,
        shortest: false,
        seconds: 0.0,
        trace: None,
        ruled_out: Some("--shutdowns 0".into()),
    };
    assert!(p.ok());
    p.ruled_out = None;
    assert!(!p.ok(), "an unreached sometimes without a reason fails");
}
