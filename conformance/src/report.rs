//! Machine-readable reports for CI: JSON (versioned schema, `docs/reports.md`) and JUnit XML.
//!
//! Every JSON document warmcheck writes is a struct deriving `Serialize` and `JsonSchema`;
//! [`schemas`] generates `docs/schemas/*.schema.json` from them (`conformance/tests/it/schemas.rs`
//! checks the files are current; `REWRITE=1` regenerates them). A schema is as strict as the
//! output: every field required, no other field, enums and minimums where the value has them.

use crate::check::CheckOutcome;
use crate::conform::{Mismatch, Shard};
use crate::replay::ReplayReport;
use schemars::JsonSchema;
use serde::Serialize;
use std::path::{Path, PathBuf};
use warmcheck_model::Warmup;

pub const CHECK_SCHEMA: &str = "warmcheck-check-report/1";
pub const CHECK_ALL_SCHEMA: &str = "warmcheck-check-all-report/1";
pub const CONFORM_SCHEMA: &str = "warmcheck-conform-report/1";
pub const REPLAY_SCHEMA: &str = "warmcheck-replay-report/1";

/// `warmcheck check --json`.
#[derive(Serialize, JsonSchema)]
#[schemars(title = "warmcheck check --json", deny_unknown_fields)]
pub struct CheckReport<'a> {
    #[schemars(extend("const" = CHECK_SCHEMA))]
    pub schema: &'static str,
    /// The design's one name: a preset, or its knobs spelled out (`Variant`'s Display).
    pub variant: String,
    pub design: warmcheck_model::Variant,
    pub bounds: warmcheck_model::Bounds,
    pub strategy: crate::check::Strategy,
    #[schemars(range(min = 1))]
    pub threads: usize,
    pub symmetry: bool,
    /// Every always holds, every sometimes is reached, and the run completed.
    pub passed: bool,
    /// False when interrupted (Ctrl-C) or stopped by --fail-fast.
    pub complete: bool,
    pub stopped_early: bool,
    /// Why the run stopped before it explored every state: `interrupt`, `fail-fast`,
    /// `timeout`, `max-depth`; `null` when complete.
    pub stopped_by: Option<crate::check::StoppedBy>,
    /// `--max-depth`, `--timeout` (seconds), `--shard` as asked; `null` when not given.
    pub depth_limit: Option<usize>,
    pub timeout: Option<f64>,
    pub shard: Option<ShardJson>,
    /// In a report `warmcheck merge` wrote: how many shard reports it combined; `null`
    /// otherwise.
    pub merged_from: Option<usize>,
    pub properties: &'a [crate::check::PropertyResult],
    pub states: usize,
    pub unique_states: usize,
    #[schemars(range(min = 0.0))]
    pub unique_states_per_second: f64,
    pub max_depth: usize,
    #[schemars(range(min = 0.0))]
    pub seconds: f64,
    /// Transitions taken per kind of action (the `Action` variant's name).
    #[schemars(with = "std::collections::BTreeMap<String, u64>")]
    pub coverage: crate::explored::Coverage,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize, JsonSchema)]
pub struct ShardJson {
    pub index: u64,
    pub count: u64,
}

/// `warmcheck check --all-variants --json`: one check report per design.
#[derive(Serialize, JsonSchema)]
#[schemars(title = "warmcheck check --all-variants --json", deny_unknown_fields)]
pub struct CheckAllReport<'a> {
    #[schemars(extend("const" = CHECK_ALL_SCHEMA))]
    pub schema: &'static str,
    pub variants: Vec<CheckReport<'a>>,
}

/// `warmcheck conform --json`.
#[derive(Serialize, JsonSchema)]
#[schemars(title = "warmcheck conform --json", deny_unknown_fields)]
pub struct ConformReport<'a> {
    #[schemars(extend("const" = CONFORM_SCHEMA))]
    pub schema: &'static str,
    /// The design's one name: a preset, or its knobs spelled out (`Variant`'s Display).
    pub variant: String,
    pub design: warmcheck_model::Variant,
    pub bounds: warmcheck_model::Bounds,
    /// The in-process implementation's storage, or `sut` with `--sut` (the SUT keeps its own).
    #[schemars(extend("enum" = ["file", "faulty", "sut"]))]
    pub backend: &'static str,
    pub shard: Shard,
    pub transitions_covered: u64,
    pub transitions_reachable: u64,
    pub states_covered: u64,
    pub states_reachable: u64,
    pub steps: u64,
    #[schemars(range(min = 0.0))]
    pub steps_per_second: f64,
    #[schemars(range(min = 0.0))]
    pub seconds: f64,
    /// Whether the walk went to its end, every reachable transition seen and every one of the
    /// shard's performed. `false` when it stopped early (at its first mismatch, or on a
    /// signal): `transitions_reachable` and `states_reachable` are then only what it reached.
    pub complete: bool,
    pub passed: bool,
    pub mismatches: &'a [Mismatch],
    /// The trace file written for the first mismatch, if any.
    pub mismatch_trace: Option<PathBuf>,
    /// The system under test driven over the protocol (`--sut`); `null` in-process.
    pub sut: Option<SutReport>,
}

/// What `--sut` drove, and what reaching states cost (`docs/sut-protocol.md`).
#[derive(Clone, Debug, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct SutReport {
    /// The command, as given to `--sut`.
    pub command: String,
    /// The name the SUT gave in the handshake.
    pub name: String,
    pub protocol: u32,
    /// Whether states were reached by snapshot and restore (else by path replay from reset).
    pub snapshots: bool,
    /// `reset`s sent (the first included).
    pub resets: u64,
    /// Actions sent to replay paths from reset (included in `steps`).
    pub replayed_steps: u64,
    /// View fields the SUT declared it omits and results its replies left out: not compared.
    pub not_compared: Vec<String>,
}

/// `warmcheck replay --json`.
#[derive(Serialize, JsonSchema)]
#[schemars(title = "warmcheck replay --json", deny_unknown_fields)]
pub struct ReplayJson<'a> {
    #[schemars(extend("const" = REPLAY_SCHEMA))]
    pub schema: &'static str,
    /// The design, as `Variant`'s `Display` prints it.
    pub variant: String,
    #[serde(flatten)]
    pub report: &'a ReplayReport,
}

/// Every JSON Schema of `docs/schemas/`, generated: (file name, schema). Each is
/// self-contained (the types it shares with others are in its own `$defs`) and identified as
/// `https://warmcheck.invalid/schemas/NAME`. A report's describes the document as warmcheck
/// writes it (`Option` fields are required and may be null); the SUT protocol's
/// ([`crate::sut::protocol::schemas`]) describe each line as its reading end reads it.
pub fn schemas() -> Vec<(String, serde_json::Value)> {
    let mut all = vec![
        schema_file::<CheckReport>("check-report", Direction::Written),
        schema_file::<CheckAllReport>("check-all-report", Direction::Written),
        schema_file::<ConformReport>("conform-report", Direction::Written),
        schema_file::<ReplayJson>("replay-report", Direction::Written),
        schema_file::<crate::cli::simulate::SimulateReport>("simulate-report", Direction::Written),
        schema_file::<crate::soak::SoakReport>("soak-report", Direction::Written),
        schema_file::<crate::cli::validate::ValidateReport>("validate-report", Direction::Written),
        schema_file::<crate::trace::Trace>("trace", Direction::Written),
    ];
    all.extend(crate::sut::protocol::schemas());
    all
}

/// Which side of a document's serde a schema describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// As warmcheck writes it: every field it always writes is required.
    Written,
    /// As its reader reads it: a field with a default may be left out.
    Read,
}

/// `T`'s schema as the file `NAME.schema.json`, with its `$id`.
pub fn schema_file<T: JsonSchema>(name: &str, direction: Direction) -> (String, serde_json::Value) {
    let settings = schemars::generate::SchemaSettings::draft2020_12();
    let settings = match direction {
        Direction::Written => settings.for_serialize(),
        Direction::Read => settings.for_deserialize(),
    };
    let mut schema = settings.into_generator().into_root_schema_for::<T>();
    let file = format!("{name}.schema.json");
    schema.insert(
        "$id".into(),
        format!("https://warmcheck.invalid/schemas/{file}").into(),
    );
    (file, schema.to_value())
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

/// The design's one name: the preset's, or its knobs spelled out (`Variant`'s Display).
pub fn variant_label(model: &Warmup) -> String {
    model.variant.to_string()
}

/// A text table whose columns are as wide as their widest cell (counted in characters), the
/// first row a header underlined with dashes, columns separated by " | ".
pub fn aligned_table(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|cell| cell.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |r: &Vec<String>| {
        let cells: Vec<String> = (0..columns)
            .map(|c| {
                let cell = r.get(c).map_or("", String::as_str);
                format!("{cell}{}", " ".repeat(widths[c] - cell.chars().count()))
            })
            .collect();
        cells.join(" | ").trim_end().to_string() + "\n"
    };
    let mut out = String::new();
    for (i, r) in rows.iter().enumerate() {
        out += &line(r);
        if i == 0 {
            let total = widths.iter().sum::<usize>() + 3 * columns.saturating_sub(1);
            out += &"-".repeat(total);
            out += "\n";
        }
    }
    out
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
    write_junit_noted(path, suite, total, cases, None)
}

/// [`write_junit`], with a note on what the cases' times mean, as the suite's property
/// `time-note`.
pub fn write_junit_noted(
    path: &Path,
    suite: &str,
    total: f64,
    cases: &[Case],
    time_note: Option<&str>,
) -> Result<(), String> {
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
    if let Some(note) = time_note {
        x += &format!(
            "    <properties>\n      <property name=\"time-note\" value=\"{}\"/>\n    </properties>\n",
            xml_escape(note)
        );
    }
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

/// The JSON form of a seed, for the schema: a number up to 2^53, a string of digits above it.
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum SeedJson {
    Number(u64),
    Digits(#[schemars(regex(pattern = r"^[0-9]+$"))] String),
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
    use super::aligned_table;
    use serde::{Deserialize, Serialize};

    #[test]
    fn a_wide_cell_widens_its_column_for_every_row() {
        let rows = vec![
            vec![
                "property".to_string(),
                "v6.5.1".to_string(),
                "x".to_string(),
            ],
            vec![
                "a".to_string(),
                "violated (123456 steps, wide)".to_string(),
                "holds".to_string(),
            ],
            vec!["bb".to_string(), "holds".to_string(), "unknown".to_string()],
        ];
        let t = aligned_table(&rows);
        let lines: Vec<&str> = t.lines().collect();
        let bars = |l: &str| l.match_indices(" | ").map(|(i, _)| i).collect::<Vec<_>>();
        assert_eq!(bars(lines[0]), bars(lines[2]));
        assert_eq!(bars(lines[0]), bars(lines[3]));
        assert_eq!(
            lines[1].len(),
            lines[3].len(),
            "the rule spans the widest row"
        );
        assert!(lines[1].chars().all(|c| c == '-'));
    }

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
