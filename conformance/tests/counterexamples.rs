//! The counterexamples the model checker finds, as data-driven story files
//! (`conformance/testdata/*.txt`, format in `warmcheck_conformance::story_file`), each replayed
//! on the implementation on real files.
//!
//! For every story file:
//! - the actions are enabled one after the other in `design` and in every `also-in` design,
//!   and the named property holds in every state but the last, which violates it;
//! - replayed on the implementation in every `replay-in` design, the implementation matches
//!   the model at every step (a step the model does not enable is refused by both);
//! - in the counterexample designs the replay ends violating the property (and, for "no
//!   replica diverges", the replica's data file differs from the active's); in the other
//!   designs, `current` among them, the property holds and no file diverges;
//! - the rendered replays equal the file's expected section.
//!
//! `REWRITE=1 cargo test -p warmcheck-conformance --test counterexamples` rewrites the expected
//! sections in place; review the change with `git diff conformance/testdata`.
//!
//! `every_violated_property_has_its_shortest_counterexample_as_a_story` (ignored by default: it
//! runs seven exhaustive checks) runs the checker on every design and knob study the docs
//! discuss and asks that each shortest counterexample be a story file, so that a change to the
//! model that changes one is noticed: run it with
//! `cargo test --release -p warmcheck-conformance --test counterexamples -- --ignored`.

use std::path::{Path, PathBuf};
use warmcheck_conformance::check::{self, CheckOptions, Strategy};
use warmcheck_conformance::story_file::{self, StoryFile};
use warmcheck_model::{Bounds, Variant};

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata")
}

fn story_paths() -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(testdata())
        .expect("conformance/testdata exists")
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    paths.sort();
    assert!(
        !paths.is_empty(),
        "no story files in {}",
        testdata().display()
    );
    paths
}

fn load(path: &Path) -> Result<(String, StoryFile), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read: {e}"))?;
    let story = StoryFile::parse(&text)?;
    Ok((text, story))
}

/// The claims a story file makes about the model, in each counterexample design.
fn check_on_the_model(story: &StoryFile) -> Result<(), String> {
    for design in story.counterexample_designs() {
        let trace = story.trace(design);
        let states = trace.states().map_err(|e| format!("in `{design}`: {e}"))?;
        let model = trace.model();
        let property = model
            .property_named(&story.violates)
            .expect("parse checked the property exists");
        let violating: Vec<usize> = states
            .iter()
            .enumerate()
            .filter(|(_, s)| !(property.condition)(&model, s))
            .map(|(i, _)| i)
            .collect();
        if violating != [story.actions.len()] {
            return Err(format!(
                "in `{design}`: \"{}\" should be violated after the last step ({}) and before it \
                 never; it is violated after steps {violating:?}",
                story.violates,
                story.actions.len()
            ));
        }
    }
    Ok(())
}

/// The claims a story file makes about the implementation's replays.
fn check_replays(story: &StoryFile, rendered: &story_file::Rendered) -> Result<(), String> {
    let counterexample_in = story.counterexample_designs();
    for design in &counterexample_in {
        if !story.replay_in.contains(design) {
            return Err(format!("replay-in does not list `{design}`"));
        }
    }
    if !story.replay_in.contains(&Variant::current()) {
        return Err("replay-in does not list `current`".into());
    }
    for (design, report) in &rendered.replays {
        if !report.matched {
            return Err(format!(
                "in `{design}` the implementation did NOT match the model (see MISMATCH)"
            ));
        }
        let violated = report.violated.contains(&story.violates);
        if counterexample_in.contains(design) {
            if !violated {
                return Err(format!(
                    "in `{design}` the replay ends without violating \"{}\"",
                    story.violates
                ));
            }
            if story.violates == "no replica diverges" && !report.diverged_on_disk {
                return Err(format!(
                    "in `{design}` the model diverges but the data files do not"
                ));
            }
        } else {
            if violated {
                return Err(format!(
                    "in `{design}` (listed as a design that fixes the story) the replay ends \
                     violating \"{}\"",
                    story.violates
                ));
            }
            if report.diverged_on_disk {
                return Err(format!(
                    "in `{design}` the data files diverge: {}",
                    report.divergence.as_deref().unwrap_or("")
                ));
            }
        }
        if *design == Variant::current() && !report.violated.is_empty() {
            return Err(format!(
                "in `current` the replay ends violating {:?}",
                report.violated
            ));
        }
    }
    Ok(())
}

fn check_story(path: &Path, rewrite: bool) -> Result<(), String> {
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    if stem.is_empty()
        || !stem
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        return Err("story files are named in lower_snake_case after their story".into());
    }
    let (text, story) = load(path)?;
    check_on_the_model(&story)?;
    let rendered = story_file::render(&story)?;
    let claims = check_replays(&story, &rendered);
    let expected = story.expected.as_deref();
    if rewrite {
        let new_text = story.with_expected(&rendered.text);
        if new_text != text {
            std::fs::write(path, new_text).map_err(|e| format!("cannot rewrite: {e}"))?;
            eprintln!("rewrote {}", path.display());
        }
        return claims;
    }
    claims?;
    match expected {
        None => Err(format!(
            "no expected output (no '{}' line): run with REWRITE=1 and review the diff",
            story_file::SEPARATOR
        )),
        Some(e) if e == rendered.text => Ok(()),
        Some(e) => Err(format!(
            "the replay differs from the expected output (REWRITE=1 to accept, then review \
             the diff):\n{}",
            story_file::diff(e, &rendered.text)
        )),
    }
}

#[test]
fn every_story_replays_as_written() {
    let rewrite = std::env::var_os("REWRITE").is_some_and(|v| !v.is_empty() && v != "0");
    let mut failures = Vec::new();
    for path in story_paths() {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if let Err(e) = check_story(&path, rewrite) {
            failures.push(format!("{name}: {e}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} story files failed:\n\n{}",
        failures.len(),
        story_paths().len(),
        failures.join("\n\n")
    );
}

/// The designs whose counterexamples must all be stories: the five presets and the two knob
/// studies of `docs/model.md`.
fn designs_with_stories() -> Vec<Variant> {
    let mut out: Vec<Variant> = Variant::PRESETS
        .iter()
        .map(|n| Variant::preset(n).unwrap())
        .collect();
    for knobs in [
        "persist-entry=at-complete shutdown-flag=after-flush",
        "persist-entry=queue-at-create shutdown-flag=after-flush",
    ] {
        out.push(story_file::parse_design(knobs).unwrap());
    }
    out
}

/// Seven exhaustive checks at the default bounds (about 7.5 million states): minutes in the
/// dev profile on a busy machine, so it runs on request, after a change to the model:
/// `cargo test --release -p warmcheck-conformance --test counterexamples -- --ignored`.
#[test]
#[ignore = "seven exhaustive checks; run with --release -- --ignored after a model change"]
fn every_violated_property_has_its_shortest_counterexample_as_a_story() {
    let stories: Vec<(String, StoryFile)> = story_paths()
        .iter()
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            let (_, story) = load(p).unwrap_or_else(|e| panic!("{name}: {e}"));
            (name, story)
        })
        .collect();
    let opts = CheckOptions {
        strategy: Strategy::Bfs,
        threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        symmetry: false,
        quiet: true,
        fail_fast: false,
    };
    let mut missing = Vec::new();
    for design in designs_with_stories() {
        let model = Bounds::default().into_model(design);
        let outcome = check::run(&model, &opts);
        assert!(outcome.complete);
        for p in outcome.properties.iter().filter(|p| p.status == "violated") {
            let trace = p.trace.as_ref().expect("a violation has a trace");
            let claiming: Vec<&(String, StoryFile)> = stories
                .iter()
                .filter(|(_, s)| {
                    s.bounds == Bounds::default()
                        && s.violates == p.name
                        && s.counterexample_designs().contains(&design)
                })
                .collect();
            if claiming.iter().any(|(_, s)| s.actions == trace.actions) {
                continue;
            }
            let others: Vec<String> = claiming
                .iter()
                .map(|(name, s)| format!("{name} ({} steps)", s.actions.len()))
                .collect();
            missing.push(format!(
                "`{design}` \"{}\": no story file holds the checker's shortest counterexample \
                 ({} steps; other stories of this design and property: {}). A start:\n{}",
                p.name,
                trace.actions.len(),
                if others.is_empty() {
                    "none".to_string()
                } else {
                    others.join(", ")
                },
                story_file::skeleton(trace, &["(new)"], &[], &[design, Variant::current()])
            ));
        }
        if design == Variant::current() {
            assert!(outcome.passed(), "`current` holds every property");
        }
    }
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}

/// The suite notices a wrong implementation: with the flusher ignoring set_vbucket_state, the
/// MB-41942 story no longer replays as written in the designs that rely on that item.
#[test]
fn a_seeded_implementation_bug_shows_as_a_mismatch() {
    let path = testdata().join("mb41942_expiry_during_warmup_overtakes_replica.txt");
    let (_, story) = load(&path).unwrap();
    let bugs = warmcheck_impl::engine::SeededBugs {
        flusher_ignores_set_vbstate: true,
        ..Default::default()
    };
    let rendered = story_file::render_with_bugs(&story, bugs).unwrap();
    let mb41942 = Variant::preset("mb41942").unwrap();
    let (_, report) = rendered
        .replays
        .iter()
        .find(|(d, _)| *d == mb41942)
        .expect("the story replays in mb41942");
    assert!(!report.matched);
    let first = report
        .step_reports
        .iter()
        .find(|r| r.outcome == "mismatch")
        .unwrap();
    // The commit of the expiry with the set_vbucket_state queued at CreateVBuckets.
    assert_eq!(
        (first.step, first.action.as_str()),
        (13, "FlusherCommits { vb: 0 }")
    );
    assert!(first
        .differences
        .iter()
        .any(|d| d.path == "/active/vbuckets/0/failover_on_disk"));
    assert!(rendered.text.contains("     MISMATCH\n"));
    assert!(rendered
        .text
        .contains("The implementation did NOT match the model at every step."));
    let err = check_replays(&story, &rendered).unwrap_err();
    assert!(err.contains("did NOT match"), "{err}");
    assert_ne!(story.expected.as_deref(), Some(rendered.text.as_str()));
}

#[test]
fn story_file_errors_name_the_line() {
    let err = |text: &str| StoryFile::parse(text).unwrap_err();
    let header = "# guards something\ndesign: v6.5.1\nbounds: vbuckets=1 replicas=1 keys=2 \
                  writes=2 crashes=2 shutdowns=1\nviolates: no replica diverges\nreplay-in: \
                  v6.5.1 current\n";
    assert!(StoryFile::parse(&format!("{header}ActiveCrashes\n")).is_ok());
    assert!(err("design: v6.5.1\n").starts_with("line 1: a story file opens with a '# ...'"));
    assert_eq!(
        err(&format!("{header}ActiveCrash\n")),
        format!(
            "line 6: {}",
            "ActiveCrash"
                .parse::<warmcheck_model::Action>()
                .unwrap_err()
        )
    );
    assert_eq!(
        err(&format!("{header}ActiveCrashes\ndesign: current\n")),
        "line 7: 'design:' after the first action"
    );
    assert_eq!(
        err(&format!("{header}design: current\nActiveCrashes\n")),
        "line 6: 'design:' given twice"
    );
    assert_eq!(
        err(&format!("{header}colour: blue\nActiveCrashes\n")),
        "line 6: unknown directive 'colour:' (expected design, also-in, bounds, violates or \
         replay-in)"
    );
    assert!(
        err(&(header.replace("no replica diverges", "nothing") + "ActiveCrashes\n"))
            .starts_with("violates: no property named 'nothing'")
    );
    assert_eq!(
        err(&(header.replace("shutdowns=1", "") + "ActiveCrashes\n")),
        "line 3: bounds: missing shutdowns"
    );
    assert_eq!(err(header), "no actions");
    assert_eq!(
        err(&header.replace("design: v6.5.1\n", "")),
        "no 'design:' line"
    );
}

#[test]
fn designs_are_presets_or_both_knobs() {
    let v = |s: &str| story_file::parse_designs(s);
    let at_complete_after = Variant {
        persist_entry: warmcheck_model::PersistEntry::AtComplete,
        shutdown_flag: warmcheck_model::ShutdownFlag::AfterFlush,
        rollback_retry: warmcheck_model::RollbackRetry::Always,
    };
    assert_eq!(
        v("v6.5.1, persist-entry=at-complete shutdown-flag=after-flush current"),
        Ok(vec![
            Variant::preset("v6.5.1").unwrap(),
            at_complete_after,
            Variant::current()
        ])
    );
    // A design's Display form parses back to it.
    assert_eq!(
        story_file::parse_design(&at_complete_after.to_string()),
        Ok(at_complete_after)
    );
    assert_eq!(
        v("shutdown-flag=after-flush rollback-retry=if-entry-at-start persist-entry=sync-flush"),
        Ok(vec![Variant::current()])
    );
    assert_eq!(
        v("persist-entry=at-complete current"),
        Err("persist-entry=... without shutdown-flag=...".into())
    );
    assert!(v("v6.6").unwrap_err().starts_with("unknown variant 'v6.6'"));
    assert!(v("persist-entry=later shutdown-flag=after-flush")
        .unwrap_err()
        .starts_with("persist-entry: unknown value 'later'"));
}

#[test]
fn the_diff_shows_changed_lines_with_context() {
    let expected = "a\nb\nc\nd\ne\nf\ng\nh\n";
    let actual = "a\nb\nc\nd\nE\nf\ng\nh\n";
    assert_eq!(story_file::diff(expected, expected), "");
    assert_eq!(
        story_file::diff(expected, actual),
        "--- expected\n+++ actual\n@@ expected line 2, actual line 2 @@\n b\n c\n d\n-e\n+E\n f\n \
         g\n h\n"
    );
}
