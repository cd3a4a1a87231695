//! The machine-readable reports: every `--json` report and trace file validates against its
//! documented JSON Schema (`docs/schemas/`, generated from the report structs:
//! `tests/schemas.rs`), and every `--junit` file is JUnit XML with one test
//! case per property, a violation a `<failure>` carrying the counterexample.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn schemas_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/schemas")
}

fn validator(schema: &str) -> jsonschema::Validator {
    let doc: Value =
        serde_json::from_str(&std::fs::read_to_string(schemas_dir().join(schema)).unwrap())
            .unwrap();
    // The schemas are self-contained (generated with their `$defs`): nothing to retrieve.
    jsonschema::options()
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

fn read_json(p: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
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

    // Every trace file check wrote validates too.
    let mut n = 0;
    for entry in std::fs::read_dir(&traces).unwrap() {
        assert_valid("trace.schema.json", &read_json(&entry.unwrap().path()));
        n += 1;
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
    let mut args = vec!["check", "--quiet"];
    args.extend(SMALL);
    args.extend(["--json", json.to_str().unwrap()]);
    assert_eq!(warmcheck(&args).status.code(), Some(0), "current passes");
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
    assert_eq!(doc["variants"].as_array().unwrap().len(), 5);

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

    let trace = format!("{traces}/v6.5.1-no-replica-diverges.trace.json");
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
