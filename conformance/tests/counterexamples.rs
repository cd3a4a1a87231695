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
//!   designs, `proposed` among them, the property holds and no file diverges;
//! - the rendered replays equal the file's expected section.
//!
//! Each story file is its own test case, named after the file (the harness, shared with
//! `impl/tests/scenarios.rs`, is `warmcheck-testkit`):
//!
//! ```text
//! cargo test -p warmcheck-conformance --test counterexamples           # every story
//! cargo test -p warmcheck-conformance --test counterexamples mb41942   # the stories named *mb41942*
//! REWRITE=1 cargo test -p warmcheck-conformance --test counterexamples # rewrite the expected output
//! ```
//!
//! `REWRITE=1` rewrites the expected sections in place (review the change with
//! `git diff conformance/testdata`); the claims above still fail the test under it.
//!
//! The other test cases of this file sit in `main`'s list. Among them
//! `every_violated_property_has_its_shortest_counterexample_as_a_story` (ignored by default: it
//! runs seven exhaustive checks) runs the checker on every design and knob study the docs
//! discuss and asks that each shortest counterexample be a story file, so that a change to the
//! model that changes one is noticed: run it with
//! `cargo test --release -p warmcheck-conformance --test counterexamples -- --ignored`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use warmcheck_conformance::check::{self, CheckOptions, Strategy};
use warmcheck_conformance::story_file::{self, StoryFile};
use warmcheck_model::{Bounds, Variant};
use warmcheck_testkit::{Run, Trial};

fn main() -> ExitCode {
    let case = |name: &str, test: fn()| {
        Trial::test(name, move || {
            test();
            Ok(())
        })
    };
    let others = vec![
        case(
            "every_violated_property_has_its_shortest_counterexample_as_a_story",
            every_violated_property_has_its_shortest_counterexample_as_a_story,
        )
        .with_ignored_flag(true),
        case(
            "a_seeded_implementation_bug_shows_as_a_mismatch",
            a_seeded_implementation_bug_shows_as_a_mismatch,
        ),
        case(
            "story_file_errors_name_the_line",
            story_file_errors_name_the_line,
        ),
        case(
            "designs_are_presets_or_both_knobs",
            designs_are_presets_or_both_knobs,
        ),
    ];
    let mut others = others;
    others.extend(failover_stories());
    warmcheck_testkit::run_stories(&testdata(), replay_story, others)
}

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata")
}

fn load(path: &Path) -> Result<StoryFile, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read: {e}"))?;
    StoryFile::parse(&text)
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

/// Why the implementation refuses to create a bucket of `design`, or "accepted".
fn implementation_refuses(design: Variant) -> String {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let config = warmcheck_impl::engine::Config::new(
        dir.path().join("bucket"),
        warmcheck_impl::engine::StorageBackend::file(),
        warmcheck_conformance::mapping::impl_variant(design),
    );
    match warmcheck_impl::engine::Cluster::create(config) {
        Ok(_) => "accepted".to_string(),
        Err(e) => e.to_string(),
    }
}

/// The claims a story file makes about the implementation's replays.
fn check_replays(story: &StoryFile, rendered: &story_file::Rendered) -> Result<(), String> {
    let counterexample_in = story.counterexample_designs();
    for design in &counterexample_in {
        if !story.replay_in.contains(design) {
            // Only a design the implementation refuses may be left out, and then it must
            // refuse it (MB-21769's reverted fix: its reader rejects the vbstate the bug wrote).
            let refusal = implementation_refuses(*design);
            if !refusal.contains("does not implement") {
                return Err(format!(
                    "replay-in does not list `{design}`, which the implementation accepts \
                     ({refusal})"
                ));
            }
        }
    }
    let proposed = Variant::preset("proposed").expect("a preset");
    if !story.replay_in.contains(&proposed) {
        return Err("replay-in does not list `proposed`".into());
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
        // `proposed` is the design that holds every property: no story may end violating one
        // there. (`current`, kv_engine today, has its own counterexamples since shutdowns
        // may interrupt warmup: docs/model.md.)
        if Variant::preset("proposed") == Some(*design) && !report.violated.is_empty() {
            return Err(format!(
                "in `proposed` the replay ends violating {:?}",
                report.violated
            ));
        }
    }
    Ok(())
}

/// One story file: its claims about the model, then its replays on the implementation; the
/// file's text with the replays rendered as its expected output.
fn replay_story(_path: &Path, text: &str) -> Result<Run, String> {
    let story = StoryFile::parse(text)?;
    check_on_the_model(&story)?;
    let rendered = story_file::render(&story)?;
    Ok(Run {
        text: story.with_expected(&rendered.text),
        claims: check_replays(&story, &rendered),
    })
}

/// The designs whose counterexamples must all be stories: the five presets and the two knob
/// studies of `docs/model.md`.
fn designs_with_stories() -> Vec<Variant> {
    let mut out: Vec<Variant> = Variant::PRESETS
        .iter()
        .map(|n| Variant::preset(n).unwrap())
        .collect();
    let today = "rollback-retry=if-entry-at-start stop-warmup=in-initiate-shutdown";
    let literal = format!(
        "persist-entry=sync-flush shutdown-flag=after-flush-if-has-loaded-metadata {today}"
    );
    let proposed_without = |fix: &str| {
        format!(
            "persist-entry=sync-flush shutdown-flag=after-flush-if-vb-map-populated {today} \
             revert-fix={fix}"
        )
    };
    for knobs in [
        "persist-entry=at-complete shutdown-flag=after-flush",
        "persist-entry=queue-at-create shutdown-flag=after-flush",
        &literal,
        &proposed_without("mb11085"),
        &proposed_without("mb21769"),
    ] {
        out.push(story_file::parse_design(knobs).unwrap());
    }
    out
}

/// Seven exhaustive checks at the default bounds (about 7.5 million states): minutes in the
/// dev profile on a busy machine, so it runs on request, after a change to the model:
/// `cargo test --release -p warmcheck-conformance --test counterexamples -- --ignored`.
fn every_violated_property_has_its_shortest_counterexample_as_a_story() {
    let stories: Vec<(String, StoryFile)> = warmcheck_testkit::story_files(&testdata())
        .unwrap()
        .iter()
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            let story = load(p).unwrap_or_else(|e| panic!("{name}: {e}"));
            (name, story)
        })
        .collect();
    let opts = CheckOptions {
        strategy: Strategy::Bfs,
        threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        symmetry: false,
        quiet: true,
        fail_fast: false,
        ..CheckOptions::default()
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
                story_file::skeleton(
                    trace,
                    &["(new)"],
                    &[],
                    &[design, Variant::preset("proposed").expect("a preset")]
                )
            ));
        }
        if Some(design) == Variant::preset("proposed") {
            assert!(outcome.passed(), "`proposed` holds every property");
        }
    }
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}

/// The suite notices a wrong implementation: with the flusher ignoring set_vbucket_state, the
/// MB-41942 story no longer replays as written in the designs that rely on that item.
fn a_seeded_implementation_bug_shows_as_a_mismatch() {
    let path = testdata().join("mb41942_expiry_during_warmup_overtakes_replica.txt");
    let story = load(&path).unwrap();
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

fn designs_are_presets_or_both_knobs() {
    let v = |s: &str| story_file::parse_designs(s);
    let at_complete_after = Variant {
        persist_entry: warmcheck_model::PersistEntry::AtComplete,
        shutdown_flag: warmcheck_model::ShutdownFlag::AfterFlush,
        rollback_retry: warmcheck_model::RollbackRetry::Always,
        stop_warmup: warmcheck_model::StopWarmup::InDeinitialize,
        reverted: warmcheck_model::Reverted::default(),
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
        v(
            "shutdown-flag=after-flush persist-entry=sync-flush rollback-retry=if-entry-at-start \
           stop-warmup=in-initiate-shutdown"
        ),
        Ok(vec![Variant::current()])
    );
    // Left out, stop-warmup is the rule of the designs before MB-47851; revert-fix, none.
    assert_eq!(
        v("shutdown-flag=after-flush persist-entry=sync-flush rollback-retry=if-entry-at-start"),
        Ok(vec![Variant {
            stop_warmup: warmcheck_model::StopWarmup::InDeinitialize,
            ..Variant::current()
        }])
    );
    let reverted = v(
        "proposed persist-entry=sync-flush shutdown-flag=after-flush \
                      revert-fix=mb11085+mb37920",
    )
    .unwrap();
    assert!(reverted[1].reverted.mb11085 && reverted[1].reverted.mb37920);
    assert!(!reverted[1].reverted.mb21769);
    assert_eq!(
        story_file::parse_design(&reverted[1].to_string()),
        Ok(reverted[1])
    );
    assert!(
        v("persist-entry=sync-flush shutdown-flag=after-flush revert-fix=mb1")
            .unwrap_err()
            .starts_with("revert-fix: unknown fix 'mb1'")
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

/// The failover stories (`testdata/failover/`, issue 22): each takes failovers, and is replayed
/// on the implementation like every other story ([`replay_story`], its expected section
/// rewritten by `REWRITE=1`), in its own test case named `failover_<file>`.
fn failover_story(path: &Path, text: &str) -> Result<Run, String> {
    let story = StoryFile::parse(text)?;
    if story.bounds.failovers == 0 {
        return Err(format!(
            "{}: a story in failover/ takes failovers",
            path.display()
        ));
    }
    replay_story(path, text)
}

fn failover_stories() -> Vec<Trial> {
    let dir = testdata().join("failover");
    match warmcheck_testkit::story_files(&dir) {
        Ok(paths) => paths
            .into_iter()
            .map(|path| {
                let name = match warmcheck_testkit::story_name(&path) {
                    Ok(n) => format!("failover_{n}"),
                    Err(e) => {
                        return Trial::test(path.display().to_string(), move || Err(e.into()))
                    }
                };
                Trial::test(name, move || {
                    Ok(warmcheck_testkit::check_story(&path, failover_story)?)
                })
            })
            .collect(),
        Err(e) => vec![Trial::test("failover_story_files", move || Err(e.into()))],
    }
}
