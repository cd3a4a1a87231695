//! Every scenario in `impl/testdata/*.txt`, run for each variant its `# variants:` line names
//! (default `current`), compared directive by directive with the expected blocks.
//!
//! Optional header lines: `# variants: v6.5.1 current`, `# replicas: 2`, `# vbuckets: 2`.
//! `REWRITE=1 cargo test -p warmcheck-impl --test scenarios` rewrites the expected blocks from
//! the actual output; review the change as a diff.

use std::path::{Path, PathBuf};
use warmcheck_impl::engine::Variant;
use warmcheck_impl::scenario::{
    expected_for_variant, merge_variant_outputs, parse_data, render_data, Chunk, Runner,
    ScenarioOptions,
};

/// The value of a `# name: value` line in the file's opening comment block.
fn header<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    text.lines()
        .take_while(|l| l.trim().is_empty() || l.starts_with('#'))
        .filter_map(|l| l.strip_prefix('#'))
        .find_map(|l| l.trim().strip_prefix(name).map(str::trim))
}

/// Run one file; returns the mismatches (empty when it passes) and the rewritten text.
fn run_file(path: &Path) -> (Vec<String>, String) {
    let text = std::fs::read_to_string(path).unwrap();
    let name = path.file_name().unwrap().to_string_lossy().to_string();
    assert!(
        text.starts_with('#'),
        "{name}: a scenario opens with a # line saying what it guards"
    );
    let variants: Vec<String> = header(&text, "variants:")
        .unwrap_or("current")
        .split_whitespace()
        .map(str::to_string)
        .collect();
    let replicas: usize = header(&text, "replicas:").map_or(1, |v| v.parse().unwrap());
    let vbuckets: u16 = header(&text, "vbuckets:").map_or(1, |v| v.parse().unwrap());
    let chunks = parse_data(&text);
    let directives: Vec<(usize, &str, Option<&Vec<String>>)> = chunks
        .iter()
        .filter_map(|c| match c {
            Chunk::Directive {
                line,
                text,
                expected,
            } => Some((*line, text.as_str(), expected.as_ref())),
            Chunk::Verbatim(_) => None,
        })
        .collect();
    // outputs[directive][variant]
    let mut outputs: Vec<Vec<(String, Vec<String>)>> = vec![Vec::new(); directives.len()];
    let mut mismatches = Vec::new();
    for v in &variants {
        let variant: Variant = v.parse().unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut runner = Runner::new(ScenarioOptions {
            variant,
            replicas,
            vbuckets,
            ..ScenarioOptions::default()
        })
        .unwrap();
        for (k, (line, directive, expected)) in directives.iter().enumerate() {
            let actual = runner
                .run_directive(*line, directive)
                .unwrap_or_else(|e| panic!("{name} [{v}]: {e}"));
            let expected = expected
                .map(|b| expected_for_variant(b, v, &variants))
                .unwrap_or_default();
            if actual != expected {
                mismatches.push(format!(
                    "{name}:{line} [{v}] {directive}\n  expected:\n    {}\n  actual:\n    {}",
                    expected.join("\n    "),
                    actual.join("\n    ")
                ));
            }
            outputs[k].push((v.clone(), actual));
        }
    }
    let merged: Vec<Vec<String>> = outputs.iter().map(|o| merge_variant_outputs(o)).collect();
    (mismatches, render_data(&chunks, &merged))
}

fn testdata() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_scenario_in_testdata_prints_its_expected_output() {
    let rewrite = std::env::var_os("REWRITE").is_some();
    let files = testdata();
    assert!(!files.is_empty(), "no scenarios in testdata/");
    let mut failures = Vec::new();
    for path in files {
        let (mismatches, rewritten) = run_file(&path);
        if rewrite {
            std::fs::write(&path, rewritten).unwrap();
        } else {
            failures.extend(mismatches);
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatch(es) (REWRITE=1 regenerates; review the diff):\n{}",
        failures.len(),
        failures.join("\n")
    );
}
