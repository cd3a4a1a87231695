//! docs/ci-gate.md's pipelines, pasted, must run: every warmcheck command in its code blocks
//! parses with this warmcheck's command line (no flag that does not exist, no missing value),
//! the files they name exist, and the pipeline gates `current` on its accepted verdicts
//! rather than on a check that fails by design. (The commands themselves run in `.ci/run`'s
//! gates and in `expect.rs`.) Beside them, the checks that keep docs/ in step with the code:
//! the reading order, and every model action and protocol request documented.

use clap::Parser;
use std::path::Path;
use warmcheck_conformance::cli::Cli;

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

/// Each warmcheck command of the page's code blocks, continuation lines joined.
fn commands(page: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_block = false;
    let mut current: Option<String> = None;
    for line in page.lines() {
        if line.trim_start().starts_with("```") {
            in_block = !in_block;
            out.extend(current.take());
            continue;
        }
        if !in_block {
            continue;
        }
        let t = line.trim().trim_end_matches('\\').trim();
        if let Some(c) = current.as_mut() {
            if t.starts_with("--") {
                *c += " ";
                *c += t;
                continue;
            }
            out.extend(current.take());
        }
        let t = t.trim_start_matches("- ").trim_start_matches("run: ");
        for program in ["./target/release/warmcheck ", "warmcheck "] {
            if let Some(rest) = t.strip_prefix(program) {
                if !rest.starts_with('(') {
                    current = Some(rest.to_string());
                }
                break;
            }
        }
    }
    out.extend(current);
    out
}

#[test]
fn every_command_of_ci_gate_md_parses_and_its_files_exist() {
    let page = std::fs::read_to_string(root().join("docs/ci-gate.md")).unwrap();
    let cmds = commands(&page);
    assert!(cmds.len() >= 12, "found {cmds:?}");
    for cmd in &cmds {
        let concrete = cmd
            .replace("${{ matrix.shard }}", "0")
            .replace("$((CI_NODE_INDEX - 1))/$CI_NODE_TOTAL", "0/2")
            .replace("$CI_NODE_INDEX", "1")
            .replace("\"${CI_SEED:-1}\"", "1")
            .replace("$RUNNER_TEMP", "/tmp");
        let words = shlex::split(&concrete).unwrap_or_else(|| panic!("not shell words: {cmd}"));
        if let Err(e) =
            Cli::try_parse_from(std::iter::once("warmcheck".to_string()).chain(words.clone()))
        {
            if !matches!(e.kind(), clap::error::ErrorKind::DisplayHelp) {
                panic!("docs/ci-gate.md: `warmcheck {cmd}` does not parse:\n{e}");
            }
        }
        for pair in words.windows(2) {
            if pair[0] == "--expect" {
                assert!(
                    root().join(&pair[1]).is_file(),
                    "{} does not exist",
                    pair[1]
                );
            }
        }
    }
    // The gates mean something: current on its accepted verdicts, proposed outright, and no
    // bare `check --variant current` that exits 1 by design.
    assert!(cmds
        .iter()
        .any(|c| c.contains("check --variant current")
            && c.contains("--expect ci/expected/current.txt")));
    assert!(cmds
        .iter()
        .any(|c| c.starts_with("check --variant proposed")));
    for c in &cmds {
        if c.starts_with("check --variant current") {
            assert!(
                c.contains("--expect") || c.contains("--write-expected"),
                "a bare check of current fails by design: {c}"
            );
        }
    }
    // An install line that works from a clone.
    assert!(page.contains("cargo install --locked --path conformance"));
    assert!(!page.contains("OWNER/"));
}

#[test]
fn the_command_finder_sees_continuations_and_yaml() {
    let page = "```sh\n./target/release/warmcheck check --quiet \\\n  --json a.json\n```\n\
                ```yaml\n      - run: >\n          warmcheck conform --quiet\n          --shard 0/2\n\
                \x20   - warmcheck soak --seed 1\n```\n";
    assert_eq!(
        commands(page),
        vec![
            "check --quiet --json a.json",
            "conform --quiet --shard 0/2",
            "soak --seed 1"
        ]
    );
}

/// docs/README.md, the reading order: every page it links exists, and every page of docs/ is
/// on it (a new page must be placed in some reader's order).
#[test]
fn docs_readme_links_every_page_and_only_pages_that_exist() {
    let docs = root().join("docs");
    let index = std::fs::read_to_string(docs.join("README.md")).unwrap();
    let links: Vec<&str> = index
        .split("](")
        .skip(1)
        .filter_map(|rest| rest.split(')').next())
        .collect();
    assert!(links.len() > 10, "{links:?}");
    for link in &links {
        assert!(
            docs.join(link).exists(),
            "docs/README.md links {link}, which does not exist"
        );
    }
    for entry in std::fs::read_dir(&docs).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if name.ends_with(".md") && name != "README.md" {
            assert!(
                links.contains(&name.as_str()),
                "docs/README.md does not place {name}"
            );
        }
    }
}

/// The names of `schema`'s `oneOf` branches at `$defs/DEF` (or at the root when `def` is
/// `None`): a unit variant's `const`, a struct variant's one property, or an internally tagged
/// variant's `tag` const. Derived from the types' generated schemas, so a new variant is here
/// without a list to update.
fn variant_names(schema: &serde_json::Value, def: Option<&str>, tag: Option<&str>) -> Vec<String> {
    let at = match def {
        Some(d) => &schema["$defs"][d],
        None => schema,
    };
    let branches = at["oneOf"]
        .as_array()
        .unwrap_or_else(|| panic!("no oneOf at {def:?}: {at}"));
    branches
        .iter()
        .map(|b| {
            let name = match tag {
                Some(t) => b["properties"][t]["const"].as_str(),
                None => b["const"].as_str().or_else(|| {
                    let props = b["properties"].as_object()?;
                    (props.len() == 1).then(|| props.keys().next().map(String::as_str))?
                }),
            };
            name.unwrap_or_else(|| panic!("a branch without a name: {b}"))
                .to_string()
        })
        .collect()
}

fn generated_schema(name: &str) -> serde_json::Value {
    warmcheck_conformance::report::schemas()
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, s)| s)
        .unwrap_or_else(|| panic!("no generated schema {name}"))
}

/// Every model action has its row in docs/vocabulary.md's table of actions and engine calls
/// (`| \`Name`), the names taken from `Action`'s generated schema (trace.schema.json).
#[test]
fn every_model_action_has_its_row_in_vocabulary_md() {
    let actions = variant_names(&generated_schema("trace.schema.json"), Some("Action"), None);
    // Cross-checked against the coverage list, which an exhaustive match keeps complete.
    let mut sorted = actions.clone();
    sorted.sort();
    let mut kinds = warmcheck_conformance::explored::ACTION_KINDS.to_vec();
    kinds.sort();
    assert_eq!(sorted, kinds, "Action's schema and ACTION_KINDS differ");
    let page = std::fs::read_to_string(root().join("docs/vocabulary.md")).unwrap();
    let missing: Vec<&String> = actions
        .iter()
        .filter(|a| {
            !page.lines().any(|l| {
                l.strip_prefix(&format!("| `{a}"))
                    .is_some_and(|rest| rest.starts_with('`') || rest.starts_with(' '))
            })
        })
        .collect();
    assert!(
        missing.is_empty(),
        "docs/vocabulary.md has no row for the actions {missing:?} (add one to \"Actions \
         (model) and engine calls (implementation)\")"
    );
}

/// Every request of the SUT protocol is shown in docs/sut-protocol.md as it goes on the wire
/// (`"op":"NAME"`), the ops taken from `Request`'s generated schema (sut-request.schema.json).
#[test]
fn every_protocol_request_is_shown_in_sut_protocol_md() {
    let ops = variant_names(
        &generated_schema("sut-request.schema.json"),
        None,
        Some("op"),
    );
    assert!(ops.len() >= 21, "{ops:?}");
    assert!(ops.iter().any(|o| o == "hello") && ops.iter().any(|o| o == "warmup_step"));
    let page = std::fs::read_to_string(root().join("docs/sut-protocol.md")).unwrap();
    let missing: Vec<&String> = ops
        .iter()
        .filter(|op| !page.contains(&format!("\"op\":\"{op}\"")))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/sut-protocol.md shows no request {missing:?} (\"op\":\"NAME\")"
    );
}
