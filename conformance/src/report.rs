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
    pub properties: &'a [crate::check::PropertyResult],
    pub states: usize,
    pub unique_states: usize,
    pub unique_states_per_second: f64,
    pub max_depth: usize,
    pub seconds: f64,
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
