//! Every scenario in `impl/testdata/*.txt`, each its own test case named after its file: run
//! for each variant its `# variants:` line names (default `current`), every directive's output
//! compared with the expected block under it.
//!
//! Optional header lines: `# variants: v6.5.1 current`, `# replicas: 2`, `# vbuckets: 2`.
//!
//! ```text
//! cargo test -p warmcheck-impl --test scenarios                  # every scenario
//! cargo test -p warmcheck-impl --test scenarios mb43744          # the scenarios named *mb43744*
//! REWRITE=1 cargo test -p warmcheck-impl --test scenarios        # rewrite the expected blocks
//! ```
//!
//! The harness (one test per file, `REWRITE`, the diff) is `warmcheck-testkit`, shared with
//! `conformance/tests/counterexamples.rs`. The file's text is compared whole with the text the
//! run renders (every directive's block regenerated, `[variant]` groups where the variants
//! differ), so a directive whose output differs in any variant fails the test with a diff.

use std::path::Path;
use std::process::ExitCode;
use warmcheck_impl::engine::Variant;
use warmcheck_impl::scenario::{
    expected_for_variant, merge_variant_outputs, parse_data, render_data, Chunk, Runner,
    ScenarioOptions,
};
use warmcheck_testkit::Run;

fn main() -> ExitCode {
    let testdata = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata");
    warmcheck_testkit::run_stories(&testdata, run_file, Vec::new())
}

/// The value of a `# name: value` line in the file's opening comment block.
fn header<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    text.lines()
        .take_while(|l| l.trim().is_empty() || l.starts_with('#'))
        .filter_map(|l| l.strip_prefix('#'))
        .find_map(|l| l.trim().strip_prefix(name).map(str::trim))
}

/// Run one file in every variant it names; the text it should hold, its blocks regenerated.
fn run_file(_path: &Path, text: &str) -> Result<Run, String> {
    if !text.starts_with('#') {
        return Err("line 1: a scenario opens with a # line saying what it guards".into());
    }
    let variants: Vec<String> = header(text, "variants:")
        .unwrap_or("current")
        .split_whitespace()
        .map(str::to_string)
        .collect();
    let number = |name: &str, default: usize| -> Result<usize, String> {
        header(text, name).map_or(Ok(default), |v| {
            v.parse()
                .map_err(|_| format!("# {name} '{v}' is not a number"))
        })
    };
    let replicas = number("replicas:", 1)?;
    let vbuckets =
        u16::try_from(number("vbuckets:", 1)?).map_err(|_| "# vbuckets: too many".to_string())?;
    let chunks = parse_data(text);
    let directives: Vec<(usize, &str)> = chunks
        .iter()
        .filter_map(|c| match c {
            Chunk::Directive { line, text, .. } => Some((*line, text.as_str())),
            Chunk::Verbatim(_) => None,
        })
        .collect();
    // outputs[directive][variant]
    let mut outputs: Vec<Vec<(String, Vec<String>)>> = vec![Vec::new(); directives.len()];
    for v in &variants {
        let variant: Variant = v.parse().map_err(|e| format!("# variants: {e}"))?;
        let mut runner = Runner::new(ScenarioOptions {
            variant,
            replicas,
            vbuckets,
            ..ScenarioOptions::default()
        })
        .map_err(|e| format!("[{v}]: {e}"))?;
        for (k, (line, directive)) in directives.iter().enumerate() {
            let actual = runner
                .run_directive(*line, directive)
                .map_err(|e| format!("[{v}]: {e}"))?;
            outputs[k].push((v.clone(), actual));
        }
    }
    let merged: Vec<Vec<String>> = outputs.iter().map(|o| merge_variant_outputs(o)).collect();
    let text = render_data(&chunks, &merged);
    Ok(Run {
        claims: blocks_read_back(&text, &variants, &outputs),
        text,
    })
}

/// The rendered file reads back as every variant's actual output, directive by directive: so
/// when the file equals the rendering, each directive printed what its block expects in each
/// variant. (It fails only for output the format cannot hold, such as a blank line.)
fn blocks_read_back(
    text: &str,
    variants: &[String],
    outputs: &[Vec<(String, Vec<String>)>],
) -> Result<(), String> {
    let blocks = parse_data(text).into_iter().filter_map(|c| match c {
        Chunk::Directive {
            line,
            text,
            expected,
        } => Some((line, text, expected.unwrap_or_default())),
        Chunk::Verbatim(_) => None,
    });
    for ((line, directive, block), per_variant) in blocks.zip(outputs) {
        for (v, actual) in per_variant {
            if expected_for_variant(&block, v, variants) != *actual {
                return Err(format!(
                    "line {line} [{v}] {directive}: the output cannot be written as an expected \
                     block:\n    {}",
                    actual.join("\n    ")
                ));
            }
        }
    }
    Ok(())
}
