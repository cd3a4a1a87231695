//! Machine-readable reports for CI: JSON (versioned schema, `docs/reports.md`) and JUnit XML.

use crate::check::CheckOutcome;
use serde::Serialize;
use std::path::Path;
use warmcheck_model::Warmup;

pub const CHECK_SCHEMA: &str = "warmcheck-check-report/1";

#[derive(Serialize)]
pub struct CheckReport<'a> {
    pub schema: &'static str,
    pub variant: String,
    pub design: warmcheck_model::Variant,
    pub bounds: warmcheck_model::Bounds,
    pub strategy: crate::check::Strategy,
    pub threads: usize,
    pub symmetry: bool,
    pub passed: bool,
    pub complete: bool,
    pub stopped_early: bool,
    /// Why the run stopped before it explored every state: `interrupt`, `fail-fast`,
    /// `timeout`, `max-depth`; `null` when complete.
    pub stopped_by: Option<crate::check::StoppedBy>,
    /// `--max-depth`, `--timeout` (seconds), `--shard` as asked; `null` when not given.
    pub depth_limit: Option<usize>,
    pub timeout: Option<f64>,
    pub shard: Option<ShardJson>,
    /// In a report `warmcheck merge` wrote: how many shard reports it combined.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merged_from: Option<usize>,
    pub properties: &'a [crate::check::PropertyResult],
    pub states: usize,
    pub unique_states: usize,
    pub unique_states_per_second: f64,
    pub max_depth: usize,
    pub seconds: f64,
    /// Transitions taken per kind of action (the `Action` variant's name).
    pub coverage: crate::checked::Coverage,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ShardJson {
    pub index: u64,
    pub count: u64,
}

impl<'a> CheckReport<'a> {
    pub fn new(
        model: &Warmup,
        opts: &crate::check::CheckOptions,
        outcome: &'a CheckOutcome,
    ) -> CheckReport<'a> {
        CheckReport {
            schema: CHECK_SCHEMA,
            variant: variant_label(model),
            design: model.variant,
            bounds: model.bounds,
            strategy: opts.strategy,
            threads: opts.threads,
            symmetry: opts.symmetry,
            passed: outcome.passed(),
            complete: outcome.complete,
            stopped_early: outcome.stopped_early,
            stopped_by: outcome.stopped_by,
            depth_limit: opts.max_depth,
            timeout: opts.timeout.map(|t| t.as_secs_f64()),
            shard: opts.shard.map(|s| ShardJson {
                index: s.index,
                count: s.count,
            }),
            merged_from: None,
            properties: &outcome.properties,
            states: outcome.states,
            unique_states: outcome.unique_states,
            unique_states_per_second: outcome.unique_states_per_second(),
            max_depth: outcome.max_depth,
            seconds: outcome.seconds,
            coverage: outcome.coverage,
        }
    }
}

/// The preset's name, or `custom`.
pub fn variant_label(model: &Warmup) -> String {
    model.variant.preset_name().unwrap_or("custom").to_string()
}

pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), String> {
    let text = serde_json::to_string_pretty(value).expect("reports serialise");
    std::fs::write(path, text + "\n").map_err(|e| format!("{}: cannot write: {e}", path.display()))
}

/// One JUnit test case.
pub struct Case {
    pub classname: String,
    pub name: String,
    pub seconds: f64,
    /// `Some((message, body))` for a failure.
    pub failure: Option<(String, String)>,
    pub skipped: Option<String>,
}

/// Write a JUnit XML file with one suite, which took `total` seconds (its cases may have run
/// at the same time).
pub fn write_junit(path: &Path, suite: &str, total: f64, cases: &[Case]) -> Result<(), String> {
    let failures = cases.iter().filter(|c| c.failure.is_some()).count();
    let skipped = cases.iter().filter(|c| c.skipped.is_some()).count();
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    x += &format!(
        "<testsuites tests=\"{}\" failures=\"{failures}\" skipped=\"{skipped}\" time=\"{total:.3}\">\n",
        cases.len()
    );
    x += &format!(
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" skipped=\"{skipped}\" time=\"{total:.3}\">\n",
        xml_escape(suite),
        cases.len()
    );
    for c in cases {
        x += &format!(
            "    <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\"",
            xml_escape(&c.classname),
            xml_escape(&c.name),
            c.seconds
        );
        match (&c.failure, &c.skipped) {
            (Some((msg, body)), _) => {
                x += &format!(
                    ">\n      <failure message=\"{}\">{}</failure>\n    </testcase>\n",
                    xml_escape(msg),
                    xml_escape(body)
                );
            }
            (None, Some(why)) => {
                x += &format!(
                    ">\n      <skipped message=\"{}\"/>\n    </testcase>\n",
                    xml_escape(why)
                );
            }
            (None, None) => x += "/>\n",
        }
    }
    x += "  </testsuite>\n</testsuites>\n";
    std::fs::write(path, x).map_err(|e| format!("{}: cannot write: {e}", path.display()))
}

pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && c != '\n' && c != '\t' && c != '\r' => {}
            c => out.push(c),
        }
    }
    out
}

/// A seed in a JSON report: a number up to 2^53, a string of digits above it, so that a reader
/// that parses numbers as doubles (JavaScript, jq) keeps it exact and the reproduce command
/// right. Reading takes either form. Use with `#[serde(with = "crate::report::seed")]`.
pub mod seed {
    use serde::{de, Deserializer, Serializer};

    /// The largest integer a double holds exactly, and all below it.
    pub const MAX_EXACT_IN_F64: u64 = 1 << 53;

    pub fn serialize<S: Serializer>(seed: &u64, s: S) -> Result<S::Ok, S::Error> {
        if *seed > MAX_EXACT_IN_F64 {
            s.serialize_str(&seed.to_string())
        } else {
            s.serialize_u64(*seed)
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        struct Seed;
        impl de::Visitor<'_> for Seed {
            type Value = u64;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a seed: an unsigned 64-bit number, or one written as a string")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<u64, E> {
                Ok(v)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<u64, E> {
                v.parse()
                    .map_err(|_| E::invalid_value(de::Unexpected::Str(v), &self))
            }
        }
        d.deserialize_any(Seed)
    }
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};

    #[derive(Serialize, Deserialize, PartialEq, Debug)]
    struct R {
        #[serde(with = "super::seed")]
        seed: u64,
    }

    #[test]
    fn seeds_above_2_pow_53_are_strings_and_both_forms_read_back() {
        for (seed, json) in [
            (7, r#"{"seed":7}"#),
            (1 << 53, r#"{"seed":9007199254740992}"#),
            ((1 << 53) + 1, r#"{"seed":"9007199254740993"}"#),
            (u64::MAX, r#"{"seed":"18446744073709551615"}"#),
        ] {
            assert_eq!(serde_json::to_string(&R { seed }).unwrap(), json);
            assert_eq!(serde_json::from_str::<R>(json).unwrap(), R { seed });
        }
        // An old report's big seed as a number still reads.
        let old: R = serde_json::from_str(r#"{"seed":18446744073709551615}"#).unwrap();
        assert_eq!(old.seed, u64::MAX);
        assert!(serde_json::from_str::<R>(r#"{"seed":"x1"}"#).is_err());
        assert!(serde_json::from_str::<R>(r#"{"seed":-1}"#).is_err());
    }
}
