//! Machine-readable reports for CI: JSON (versioned schema, `docs/reports.md`) and JUnit XML.
//!
//! Every JSON document warmcheck writes is a struct deriving `Serialize` and `JsonSchema`;
//! [`schemas`] generates `docs/schemas/*.schema.json` from them (`conformance/tests/schemas.rs`
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
    /// The preset's name, or `custom`.
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
    pub properties: &'a [crate::check::PropertyResult],
    pub states: usize,
    pub unique_states: usize,
    #[schemars(range(min = 0.0))]
    pub unique_states_per_second: f64,
    pub max_depth: usize,
    #[schemars(range(min = 0.0))]
    pub seconds: f64,
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
    /// The preset's name, or `custom`.
    pub variant: String,
    pub design: warmcheck_model::Variant,
    pub bounds: warmcheck_model::Bounds,
    #[schemars(extend("enum" = ["file", "faulty"]))]
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
    pub complete: bool,
    pub passed: bool,
    pub mismatches: &'a [Mismatch],
    /// The trace file written for the first mismatch, if any.
    pub mismatch_trace: Option<PathBuf>,
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
/// self-contained (the types it shares with others are in its own `$defs`), describes the
/// document as warmcheck writes it (`Option` fields are required and may be null), and is
/// identified as `https://warmcheck.invalid/schemas/NAME`.
pub fn schemas() -> Vec<(String, serde_json::Value)> {
    fn generate<T: JsonSchema>(name: &str) -> (String, serde_json::Value) {
        let mut schema = schemars::generate::SchemaSettings::draft2020_12()
            .for_serialize()
            .into_generator()
            .into_root_schema_for::<T>();
        let file = format!("{name}.schema.json");
        schema.insert(
            "$id".into(),
            format!("https://warmcheck.invalid/schemas/{file}").into(),
        );
        (file, schema.to_value())
    }
    vec![
        generate::<CheckReport>("check-report"),
        generate::<CheckAllReport>("check-all-report"),
        generate::<ConformReport>("conform-report"),
        generate::<ReplayJson>("replay-report"),
        generate::<crate::soak::SoakReport>("soak-report"),
        generate::<crate::trace::Trace>("trace"),
    ]
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
            properties: &outcome.properties,
            states: outcome.states,
            unique_states: outcome.unique_states,
            unique_states_per_second: outcome.unique_states_per_second(),
            max_depth: outcome.max_depth,
            seconds: outcome.seconds,
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

/// Write a JUnit XML file with one suite.
pub fn write_junit(path: &Path, suite: &str, cases: &[Case]) -> Result<(), String> {
    let failures = cases.iter().filter(|c| c.failure.is_some()).count();
    let skipped = cases.iter().filter(|c| c.skipped.is_some()).count();
    let total: f64 = cases.iter().map(|c| c.seconds).sum();
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
