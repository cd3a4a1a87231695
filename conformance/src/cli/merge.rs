//! `warmcheck merge`: the shard reports of one check combined into the report of the whole.

use crate::explored::Coverage;
use crate::report::CHECK_SCHEMA;
use serde_json::{json, Value};
use std::path::PathBuf;

/// Combine the JSON reports of `check --shard I/N` (one for each I in 0..N) into one report of
/// the same schema, with the verdicts of the unsharded check:
///
///   an `always` is violated if it is in any shard (the shortest counterexample is kept), and
///   holds only if every shard completed and found it holding; a `sometimes` is reached if it
///   is in any shard, and unreached only if every shard completed without reaching it;
///   anything else is `unknown`. States and coverage are summed (the states several shards
///   explored are counted once for each), seconds are the slowest shard's.
///
/// Prints the verdicts; --json writes the merged report (docs/scale.md, docs/reports.md).
///
/// Exit codes: 0 every `always` holds, every `sometimes` is reached and every shard completed;
/// 1 otherwise; 2 a report is missing, unreadable, or not a shard of the same check.
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// The shard reports (`check --shard I/N --json REPORT`), one per shard, in any order.
    #[arg(value_name = "REPORT", required = true)]
    reports: Vec<PathBuf>,
    /// Write the merged report here.
    #[arg(long, value_name = "PATH")]
    json: Option<PathBuf>,
}

pub fn run(a: Args) -> u8 {
    if let Some(path) = &a.json {
        let inputs: Vec<&std::path::Path> = a.reports.iter().map(PathBuf::as_path).collect();
        if let Err(e) = super::args::check_file_writable(path)
            .and_then(|()| super::args::check_not_an_input("--json", path, &inputs))
        {
            return super::usage_error(e);
        }
    }
    let mut reports = Vec::new();
    for path in &a.reports {
        let read = warmcheck_impl::input::read_file(path, REPORT_LIMITS, false)
            .map_err(|e| e.to_string())
            .and_then(|text| {
                serde_json::from_str::<Value>(&text)
                    .map_err(|e| format!("{}: not JSON: {e}", path.display()))
            });
        match read {
            Ok(v) => reports.push((path.display().to_string(), v)),
            Err(e) => return super::usage_error(e),
        }
    }
    let merged = match merge(&reports) {
        Ok(m) => m,
        Err(e) => return super::usage_error(e),
    };
    println!(
        "Merged {} shard reports of design `{}`:",
        reports.len(),
        merged["variant"].as_str().unwrap_or("?")
    );
    for p in merged["properties"].as_array().into_iter().flatten() {
        let mut line = format!(
            "  {:<10} {:<10} {}",
            p["status"].as_str().unwrap_or("?"),
            p["expectation"].as_str().unwrap_or("?"),
            p["name"].as_str().unwrap_or("?")
        );
        if let (Some(steps), Some("violated")) = (p["steps"].as_u64(), p["status"].as_str()) {
            line += &format!(" ({steps} steps)");
        }
        println!("{line}");
    }
    println!(
        "states {} (summed over the shards), unique states {} (summed), max depth {}, seconds {:.2} (the slowest shard)",
        merged["states"], merged["unique_states"], merged["max_depth"], merged["seconds"].as_f64().unwrap_or(0.0)
    );
    if merged["complete"] != true {
        println!("Some shard did not complete: the verdicts above marked `unknown` are not final.");
    }
    if let Some(path) = &a.json {
        if let Err(e) = crate::report::write_json(path, &merged) {
            eprintln!("warmcheck: {e}");
            return 2;
        }
    }
    if merged["passed"] == true {
        0
    } else {
        1
    }
}

/// The most a shard report may hold (a few KiB is usual: the report carries its
/// counterexamples' paths, not the traces).
const REPORT_LIMITS: warmcheck_impl::input::Limits = warmcheck_impl::input::Limits {
    what: "check report",
    max_bytes: 64 * warmcheck_impl::input::MIB,
    max_line: 64 * warmcheck_impl::input::MIB,
};

/// The fields every shard of one check must agree on.
const SAME: [&str; 6] = [
    "variant",
    "design",
    "bounds",
    "symmetry",
    "depth_limit",
    "strategy",
];

/// Merge `(name, report)` pairs. Errors name the report and what is wrong.
pub fn merge(reports: &[(String, Value)]) -> Result<Value, String> {
    let (first_name, first) = reports.first().ok_or("no reports to merge")?;
    let count = shard_of(first_name, first)?.1;
    // One report per shard: more shards than reports given is refused before anything is
    // sized by the count (a report may say 2^62).
    if count > reports.len() as u64 {
        return Err(format!(
            "{first_name}: shard {}/{count}, but {} report{} given: shards are missing (merge \
             takes one report per shard)",
            shard_of(first_name, first)?.0,
            reports.len(),
            if reports.len() == 1 { " was" } else { "s were" }
        ));
    }
    let mut by_index: Vec<Option<&(String, Value)>> = vec![None; count as usize];
    for r in reports {
        let (name, v) = r;
        let (index, n) = shard_of(name, v)?;
        if n != count {
            return Err(format!(
                "{name}: shard {index}/{n}, but {first_name} is one of {count}"
            ));
        }
        if let Some((other, _)) = by_index[index as usize] {
            return Err(format!("{name}: shard {index}/{count} is also {other}"));
        }
        for field in SAME {
            if v.get(field) != first.get(field) {
                return Err(format!(
                    "{name}: `{field}` is {}, but {} in {first_name}: not shards of the same check",
                    v.get(field).unwrap_or(&Value::Null),
                    first.get(field).unwrap_or(&Value::Null)
                ));
            }
        }
        by_index[index as usize] = Some(r);
    }
    if let Some(missing) = by_index.iter().position(Option::is_none) {
        return Err(format!("shard {missing}/{count} is missing"));
    }
    let shards: Vec<&Value> = by_index
        .iter()
        .map(|r| &r.expect("all present").1)
        .collect();
    let names = |v: &Value| -> Vec<Value> {
        v["properties"]
            .as_array()
            .map(|ps| ps.iter().map(|p| p["name"].clone()).collect())
            .unwrap_or_default()
    };
    for (r, v) in by_index.iter().flatten().map(|(n, v)| (n, v)) {
        if names(v) != names(first) {
            return Err(format!(
                "{r}: checks other properties than {first_name} (see --property)"
            ));
        }
    }
    let complete = shards.iter().all(|s| s["complete"] == true);
    let mut properties = Vec::new();
    for (i, p) in first["properties"]
        .as_array()
        .ok_or_else(|| format!("{first_name}: `properties` is not a list"))?
        .iter()
        .enumerate()
    {
        let all: Vec<&Value> = shards.iter().map(|s| &s["properties"][i]).collect();
        properties.push(merge_property(p, &all, complete)?);
    }
    let passed = complete
        && properties.iter().all(|p| match p["status"].as_str() {
            Some("holds" | "reached") => true,
            // A `sometimes` the bounds rule out (the same in every shard) does not fail.
            Some("unreached") => p["ruled_out"].is_string(),
            _ => false,
        });
    let mut coverage = Coverage::default();
    for (name, v) in by_index.iter().flatten().map(|(n, v)| (n, v)) {
        coverage.add(&Coverage::from_json(&v["coverage"]).map_err(|e| format!("{name}: {e}"))?);
    }
    let sum = |field: &str| -> u64 { shards.iter().filter_map(|s| s[field].as_u64()).sum() };
    let max_f = |field: &str| -> f64 {
        shards
            .iter()
            .filter_map(|s| s[field].as_f64())
            .fold(0.0, f64::max)
    };
    let seconds = max_f("seconds");
    let unique = sum("unique_states");
    let mut out = first.clone();
    let o = out.as_object_mut().expect("a report is an object");
    o.insert("passed".into(), json!(passed));
    o.insert("complete".into(), json!(complete));
    o.insert(
        "stopped_early".into(),
        json!(shards.iter().any(|s| s["stopped_early"] == true)),
    );
    o.insert(
        "stopped_by".into(),
        shards
            .iter()
            .map(|s| s["stopped_by"].clone())
            .find(|w| !w.is_null())
            .unwrap_or(Value::Null),
    );
    o.insert("shard".into(), Value::Null);
    o.insert("merged_from".into(), json!(shards.len()));
    o.insert("properties".into(), Value::Array(properties));
    o.insert("states".into(), json!(sum("states")));
    o.insert("unique_states".into(), json!(unique));
    o.insert(
        "unique_states_per_second".into(),
        json!(unique as f64 / seconds.max(1e-9)),
    );
    o.insert(
        "max_depth".into(),
        json!(shards.iter().filter_map(|s| s["max_depth"].as_u64()).max()),
    );
    o.insert("seconds".into(), json!(seconds));
    o.insert(
        "coverage".into(),
        serde_json::to_value(coverage).expect("counts"),
    );
    Ok(out)
}

/// `(index, count)` of a shard report.
fn shard_of(name: &str, v: &Value) -> Result<(u64, u64), String> {
    if v["schema"] != CHECK_SCHEMA {
        return Err(format!(
            "{name}: not a check report (schema {}, expected {CHECK_SCHEMA:?})",
            v["schema"]
        ));
    }
    let shard = &v["shard"];
    match (shard["index"].as_u64(), shard["count"].as_u64()) {
        (Some(i), Some(n)) if i < n => Ok((i, n)),
        _ => Err(format!(
            "{name}: not a shard report (`shard` is {shard}; run check --shard I/N)"
        )),
    }
}

/// One property's verdict over all shards (`all`, in shard order).
fn merge_property(first: &Value, all: &[&Value], complete: bool) -> Result<Value, String> {
    let found_word = match first["expectation"].as_str() {
        Some("sometimes") => "reached",
        Some("always" | "eventually") => "violated",
        other => return Err(format!("unknown expectation {other:?}")),
    };
    let settled_word = if found_word == "reached" {
        "unreached"
    } else {
        "holds"
    };
    let found = all
        .iter()
        .filter(|p| p["status"] == found_word)
        .min_by_key(|p| p["steps"].as_u64().unwrap_or(u64::MAX));
    let mut out = match found {
        Some(p) => {
            let mut p = (*p).clone();
            // The shortest over the shards is the shortest of all only if each shard searched
            // its own part to the end.
            p["shortest"] = json!(p["shortest"] == true && complete);
            p["seconds"] = json!(all
                .iter()
                .filter(|q| q["status"] == found_word)
                .filter_map(|q| q["seconds"].as_f64())
                .fold(f64::INFINITY, f64::min));
            p
        }
        None => {
            let mut p = first.clone();
            let settled = complete && all.iter().all(|q| q["status"] == settled_word);
            p["status"] = json!(if settled { settled_word } else { "unknown" });
            if !settled {
                p["ruled_out"] = Value::Null;
            }
            p["steps"] = Value::Null;
            p["shortest"] = json!(false);
            p["trace"] = Value::Null;
            p["seconds"] = json!(all
                .iter()
                .filter_map(|q| q["seconds"].as_f64())
                .fold(0.0, f64::max));
            p
        }
    };
    out["name"] = first["name"].clone();
    Ok(out)
}
