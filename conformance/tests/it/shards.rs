//! `check --shard I/N` and `warmcheck merge`: three shards run as three processes, merged,
//! give the verdicts of the unsharded check, for a design that violates (`current`) and one
//! that holds (`proposed`). This is the local recipe of docs/scale.md.

use crate::common::read_json;
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

const SMALL: [&str; 10] = [
    "--keys",
    "1",
    "--writes",
    "2",
    "--crashes",
    "1",
    "--shutdowns",
    "1",
    "--threads",
    "1",
];

fn warmcheck(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_warmcheck"));
    c.args(args);
    c
}

fn check_args<'a>(variant: &'a str, json: &'a Path, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["check", "--variant", variant, "--quiet"];
    args.extend(SMALL);
    args.extend(extra);
    args.extend(["--json", json.to_str().unwrap()]);
    args
}

fn verdicts(report: &Value) -> Vec<(String, String)> {
    report["properties"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_string(),
                p["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Run the unsharded check and three shards (as three processes at once), merge them, and
/// return (whole, merged, shard reports, merge output).
fn whole_and_merged(variant: &str, dir: &Path) -> (Value, Value, Vec<Value>, Output) {
    let whole_json = dir.join(format!("{variant}.json"));
    let whole = warmcheck(&check_args(variant, &whole_json, &[]))
        .output()
        .unwrap();
    let shard_paths: Vec<_> = (0..3)
        .map(|i| dir.join(format!("{variant}-shard-{i}.json")))
        .collect();
    let shard_names: Vec<String> = (0..3).map(|i| format!("{i}/3")).collect();
    let children: Vec<_> = (0..3)
        .map(|i| {
            warmcheck(&check_args(
                variant,
                &shard_paths[i],
                &["--shard", &shard_names[i]],
            ))
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap()
        })
        .collect();
    let codes: Vec<_> = children
        .into_iter()
        .map(|mut c| c.wait().unwrap().code())
        .collect();
    let merged_json = dir.join(format!("{variant}-merged.json"));
    // In reverse order: the order of the reports does not matter.
    let mut args = vec!["merge", "--json", merged_json.to_str().unwrap()];
    args.extend(shard_paths.iter().rev().map(|p| p.to_str().unwrap()));
    let merge = warmcheck(&args).output().unwrap();
    assert_eq!(
        merge.status.code(),
        whole.status.code(),
        "merge exits as the unsharded check does: {merge:?}"
    );
    let shards: Vec<Value> = shard_paths.iter().map(|p| read_json(p)).collect();
    for (s, code) in shards.iter().zip(codes) {
        assert!(code == Some(0) || code == Some(1), "{code:?}");
        assert_eq!(s["complete"], true);
    }
    (
        read_json(&whole_json),
        read_json(&merged_json),
        shards,
        merge,
    )
}

#[test]
fn three_shards_merged_give_the_verdicts_of_the_unsharded_check() {
    let d = tempfile::tempdir().unwrap();
    for (variant, passes) in [("current", false), ("proposed", true)] {
        let (whole, merged, shards, merge) = whole_and_merged(variant, d.path());
        assert_eq!(whole["passed"], passes, "{variant}");
        assert_eq!(merged["passed"], passes, "{variant}");
        assert_eq!(verdicts(&merged), verdicts(&whole), "{variant}");
        assert_eq!(merged["complete"], true);
        assert_eq!(merged["merged_from"], 3);
        assert_eq!(merged["shard"], Value::Null);
        // Each shard explores only part of the space (some states more than one shard).
        let whole_unique = whole["unique_states"].as_u64().unwrap();
        for s in &shards {
            assert!(
                s["unique_states"].as_u64().unwrap() < whole_unique,
                "{variant}"
            );
        }
        assert!(merged["unique_states"].as_u64().unwrap() >= whole_unique);
        // The same action kinds fire, sharded or not.
        let fired = |r: &Value| -> Vec<bool> {
            r["coverage"]
                .as_object()
                .unwrap()
                .values()
                .map(|n| n.as_u64().unwrap() > 0)
                .collect()
        };
        assert_eq!(fired(&merged), fired(&whole), "{variant}");
        // A merged counterexample starts from the initial state: it replays on the model and
        // ends in a violation, and breadth-first shards keep the shortest length.
        for (p, q) in merged["properties"]
            .as_array()
            .unwrap()
            .iter()
            .zip(whole["properties"].as_array().unwrap())
        {
            if p["status"] == "violated" {
                assert_eq!(p["steps"], q["steps"], "{}", p["name"]);
                assert_eq!(p["shortest"], true);
                let trace: warmcheck_conformance::trace::Trace =
                    serde_json::from_value(p["trace"].clone()).unwrap();
                let states = trace.states().unwrap();
                let model = trace.model();
                let name = p["name"].as_str().unwrap();
                let property = model.property_named(name).unwrap();
                assert!(
                    !(property.condition)(&model, states.last().unwrap()),
                    "{name}"
                );
            }
        }
        let text = String::from_utf8_lossy(&merge.stdout);
        assert!(text.contains("Merged 3 shard reports"), "{text}");
    }
}

#[test]
fn merge_refuses_reports_that_are_not_the_shards_of_one_check() {
    let d = tempfile::tempdir().unwrap();
    let p = |n: &str| d.path().join(n);
    let run = |variant: &str, out: &Path, extra: &[&str]| {
        let o = warmcheck(&check_args(variant, out, extra))
            .output()
            .unwrap();
        assert!(o.status.code() == Some(0) || o.status.code() == Some(1));
    };
    run("proposed", &p("a0.json"), &["--shard", "0/2"]);
    run("proposed", &p("a1.json"), &["--shard", "1/2"]);
    run("current", &p("b1.json"), &["--shard", "1/2"]);
    run("proposed", &p("whole.json"), &[]);
    let merge = |files: &[&str]| {
        let mut args = vec!["merge".to_string()];
        args.extend(files.iter().map(|f| p(f).to_str().unwrap().to_string()));
        let o = Command::new(env!("CARGO_BIN_EXE_warmcheck"))
            .args(&args)
            .output()
            .unwrap();
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    assert_eq!(merge(&["a0.json", "a1.json"]).0, Some(0));
    let (code, err) = merge(&["a0.json"]);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("shard 0/2, but 1 report was given: shards are missing"),
        "{err}"
    );
    let (code, err) = merge(&["a0.json", "a0.json"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("shard 0/2 is also"), "{err}");
    let (code, err) = merge(&["a0.json", "b1.json"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("not shards of the same check"), "{err}");
    let (code, err) = merge(&["whole.json"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("not a shard report"), "{err}");
    std::fs::write(p("bad.json"), "{").unwrap();
    let (code, err) = merge(&["bad.json"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("bad.json: not JSON"), "{err}");
}
