//! `conform --stories`: the known counterexample stories replayed on an engine, each judged
//! prevented or reproduced; the quick first run of a new SUT (docs/sut-protocol.md, "Quick
//! check: the known stories").
//!
//! The stories are the story files of `conformance/testdata/` (format in [`crate::story_file`]),
//! built into the binary so that an installed `warmcheck` has them, or the `*.txt` files of a
//! directory given to `--stories DIR`. Each is replayed on the engine (the in-process
//! implementation, or a SUT over the protocol, one fresh child per story) in the design the
//! engine claims, at the story's own bounds, as `warmcheck replay` replays a trace: a step that
//! design does not enable is sent too and must be refused; after the last step the replay
//! settles (the flushes and deliveries the model enables). Each story then gets one verdict:
//!
//! - **prevented**: the engine followed the design's model at every step and the story's
//!   property holds at the end, with no divergence in the engine's data;
//! - **REPRODUCED**: the story's property is violated at the end, or the engine's data shows
//!   the divergence (an accepted replica holding another mutation than the active's data file
//!   at one seqno; over the protocol read from the last view's `items_on_disk`);
//! - **NOT FOLLOWED**: the engine departed from the design's model at some step (a refused or
//!   accepted call the model does otherwise, or another projection) and no divergence was seen:
//!   whether it prevents the story is not known; the step and what the model expected are
//!   printed, as `conform` prints a mismatch.
//!
//! Exit code: 0 when every story is prevented; 1 when one is reproduced or not followed; 2 for
//! a usage error, an unreadable story file, or a SUT that broke the protocol.

use crate::explain;
use crate::replay::{self, ImplSetup, ReplayReport};
use crate::report::{self, Case};
use crate::story_file::StoryFile;
use crate::sut::client::ProtocolSut;
use stateright::Model;
use std::fmt::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use warmcheck_impl::engine::{SeededBugs, StorageBackend};
use warmcheck_model::{Action, State, Variant, Warmup};

/// The story files of `conformance/testdata/`, built in: (file name, text).
/// `conformance/tests/it/stories.rs` checks that this list is that directory's.
pub const BUILT_IN: &[(&str, &str)] = &[
    ("current_clean_shutdown_during_warmup_forgets_unclean_restart.txt", include_str!("../testdata/current_clean_shutdown_during_warmup_forgets_unclean_restart.txt")),
    ("literal_guard_writes_clean_after_a_stop_in_initialize.txt", include_str!("../testdata/literal_guard_writes_clean_after_a_stop_in_initialize.txt")),
    ("literal_has_loaded_metadata_guard_diverges_after_forced_done.txt", include_str!("../testdata/literal_has_loaded_metadata_guard_diverges_after_forced_done.txt")),
    ("mb11085_unclean_restart_at_the_branch_point_keeps_the_old_uuid.txt", include_str!("../testdata/mb11085_unclean_restart_at_the_branch_point_keeps_the_old_uuid.txt")),
    ("mb21769_unclean_warmup_puts_its_entry_above_the_high_seqno.txt", include_str!("../testdata/mb21769_unclean_warmup_puts_its_entry_above_the_high_seqno.txt")),
    ("mb21769_vbstate_only_flush_puts_the_next_entry_above_the_high_seqno.txt", include_str!("../testdata/mb21769_vbstate_only_flush_puts_the_next_entry_above_the_high_seqno.txt")),
    ("mb37920_failed_vbstate_write_leaves_the_cache_ahead_and_the_retry_skipped.txt", include_str!("../testdata/mb37920_failed_vbstate_write_leaves_the_cache_ahead_and_the_retry_skipped.txt")),
    ("mb41942_expiry_during_warmup_overtakes_replica.txt", include_str!("../testdata/mb41942_expiry_during_warmup_overtakes_replica.txt")),
    ("mb43744_clean_shutdown_drops_entry_queued_at_create.txt", include_str!("../testdata/mb43744_clean_shutdown_drops_entry_queued_at_create.txt")),
    ("mb43744_entry_queued_at_create_lost_on_clean_shutdown.txt", include_str!("../testdata/mb43744_entry_queued_at_create_lost_on_clean_shutdown.txt")),
    ("mb45756_clean_flag_before_final_flush_hides_lost_mutation.txt", include_str!("../testdata/mb45756_clean_flag_before_final_flush_hides_lost_mutation.txt")),
    ("mb45756_kill_between_clean_flag_and_final_flush.txt", include_str!("../testdata/mb45756_kill_between_clean_flag_and_final_flush.txt")),
    ("v651_expiry_during_warmup_flushed_under_stale_table.txt", include_str!("../testdata/v651_expiry_during_warmup_flushed_under_stale_table.txt")),
];

/// The most story files `--stories DIR` reads, and the largest one (bytes).
pub const MAX_FILES: usize = 1000;
pub const MAX_FILE_BYTES: u64 = 1 << 20;

/// One story to replay: its name (the file name without `.txt`) and its parsed file.
#[derive(Clone, Debug)]
pub struct Story {
    pub name: String,
    pub file: StoryFile,
}

/// The built-in stories, parsed.
pub fn built_in() -> Result<Vec<Story>, String> {
    BUILT_IN
        .iter()
        .map(|(name, text)| parse(name, text))
        .collect()
}

fn parse(file_name: &str, text: &str) -> Result<Story, String> {
    let file = StoryFile::parse(text).map_err(|e| format!("{file_name}: {e}"))?;
    Ok(Story {
        name: file_name.trim_end_matches(".txt").to_string(),
        file,
    })
}

/// The `*.txt` story files of `dir`, in name order. Errors name the file (and the line, for a
/// file that does not parse).
pub fn load_dir(dir: &Path) -> Result<Vec<Story>, String> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| format!("{}: cannot list: {e}", dir.display()))?;
    let mut paths = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(|e| format!("{}: cannot list: {e}", dir.display()))?
            .path();
        if path.extension().is_some_and(|e| e == "txt") {
            paths.push(path);
            if paths.len() > MAX_FILES {
                return Err(format!(
                    "{}: more than {MAX_FILES} story files (*.txt)",
                    dir.display()
                ));
            }
        }
    }
    paths.sort();
    if paths.is_empty() {
        return Err(format!("no story files (*.txt) in {}", dir.display()));
    }
    paths
        .iter()
        .map(|path| {
            let len = std::fs::metadata(path)
                .map_err(|e| format!("{}: {e}", path.display()))?
                .len();
            if len > MAX_FILE_BYTES {
                return Err(format!(
                    "{}: {len} bytes, more than a story file's {MAX_FILE_BYTES}",
                    path.display()
                ));
            }
            let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
            let text = String::from_utf8(bytes).map_err(|e| {
                format!(
                    "{}: not UTF-8 (byte offset {})",
                    path.display(),
                    e.utf8_error().valid_up_to()
                )
            })?;
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("?");
            let file = StoryFile::parse(&text).map_err(|e| format!("{}: {e}", path.display()))?;
            Ok(Story {
                name: name.trim_end_matches(".txt").to_string(),
                file,
            })
        })
        .collect()
}

/// Where the stories are replayed.
#[derive(Clone, Debug)]
pub enum Engine {
    /// The in-process implementation on real files in a temporary directory.
    Implementation { bugs: SeededBugs },
    /// A system under test behind the protocol: a fresh child per story.
    Sut { command: String, timeout: Duration },
}

/// What happened to one story on the engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Prevented,
    Reproduced,
    NotFollowed,
}

impl Verdict {
    pub fn word(self) -> &'static str {
        match self {
            Verdict::Prevented => "prevented",
            Verdict::Reproduced => "REPRODUCED",
            Verdict::NotFollowed => "NOT FOLLOWED",
        }
    }
}

/// One story's outcome.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub name: String,
    pub title: String,
    pub violates: String,
    pub verdict: Verdict,
    /// Whether the design's model itself ends the story violating its property (the engine,
    /// following the model, then reproduces it too).
    pub model_reproduces: bool,
    /// The step the engine departed from the model at (1 = the first action; 0 = the state
    /// right after `reset`).
    pub departed_at: Option<usize>,
    /// One line saying why: the property and the model's reason, the divergence, or the step
    /// where the engine departed and what the model expected there.
    pub why: String,
    pub steps: usize,
    pub seconds: f64,
}

/// Replay one story on `engine` in `design`.
pub fn run_story(story: &Story, design: Variant, engine: &Engine) -> Result<Outcome, String> {
    let model = story.file.bounds.into_model(design);
    let started = Instant::now();
    let report = match engine {
        Engine::Implementation { bugs } => {
            let tmp = tempfile::Builder::new()
                .prefix("warmcheck-story-")
                .tempdir()
                .map_err(|e| format!("cannot make a temporary directory: {e}"))?;
            let setup = ImplSetup {
                backend: StorageBackend::file(),
                dir: tmp.path().join("data"),
                bugs: *bugs,
            };
            let mut report = replay::replay(&model, &story.file.actions, &setup)?;
            // The temporary directory differs per run and is gone afterwards.
            report.divergence = report
                .divergence
                .map(|d| d.replace(&setup.dir.display().to_string(), "<data>"));
            report
        }
        Engine::Sut { command, timeout } => {
            let mut sut = ProtocolSut::start(command, &model, *timeout, true)?;
            replay::replay_sut(&model, &story.file.actions, &mut sut)?
        }
    };
    let seconds = started.elapsed().as_secs_f64();
    let model_reproduces = model_violates(&model, &story.file);
    Ok(judge(story, &model, &report, model_reproduces, seconds))
}

/// Whether the design's model, following the story (its steps that design does not enable
/// skipped), ends violating the story's property.
fn model_violates(model: &Warmup, story: &StoryFile) -> bool {
    let mut state = model.init_states().remove(0);
    let mut enabled = Vec::new();
    for a in &story.actions {
        enabled.clear();
        model.actions(&state, &mut enabled);
        if enabled.contains(a) {
            if let Some(next) = model.next_state(&state, a.clone()) {
                state = next;
            }
        }
    }
    violated(model, &state, &story.violates)
}

fn violated(model: &Warmup, state: &State, property: &str) -> bool {
    model
        .properties()
        .iter()
        .any(|p| p.name == property && !(p.condition)(model, state))
}

fn judge(
    story: &Story,
    model: &Warmup,
    report: &ReplayReport,
    model_reproduces: bool,
    seconds: f64,
) -> Outcome {
    let violates = story.file.violates.clone();
    let first_bad = report.step_reports.iter().find(|r| r.outcome == "mismatch");
    let (verdict, why) = if let Some(d) = &report.divergence {
        (
            Verdict::Reproduced,
            format!("the engine's data diverged: {d}"),
        )
    } else if report.matched && report.violated.contains(&violates) {
        let why = crate::story_file::final_model_state(model, report)
            .and_then(|s| warmcheck_model::story::explain(model, &violates, &s))
            .unwrap_or_default();
        (
            Verdict::Reproduced,
            format!(
                "\"{violates}\" is violated at the end{}",
                if why.is_empty() {
                    String::new()
                } else {
                    format!(": {why}")
                }
            ),
        )
    } else if report.matched {
        (
            Verdict::Prevented,
            format!(
                "the engine followed design `{}` at every step and \"{violates}\" holds at the end",
                model.variant
            ),
        )
    } else {
        let why = match first_bad {
            Some(r) => departed(model, report, r),
            None => "the engine departed from the model".to_string(),
        };
        (Verdict::NotFollowed, why)
    };
    Outcome {
        name: story.name.clone(),
        title: story.file.title.clone(),
        violates,
        verdict,
        model_reproduces,
        departed_at: first_bad.map(|r| r.step),
        why,
        steps: story.file.actions.len(),
        seconds,
    }
}

/// The step where the engine departed, with what the model expected there (as `conform`
/// explains a mismatch).
fn departed(model: &Warmup, report: &ReplayReport, bad: &replay::StepReport) -> String {
    // The model's states along the steps it took before the bad one.
    let mut state = model.init_states().remove(0);
    for r in report
        .step_reports
        .iter()
        .filter(|r| r.step > 0 && r.step < bad.step && r.outcome == "matched")
    {
        if let Ok(a) = r.action.parse::<Action>() {
            if let Some(next) = model.next_state(&state, a) {
                state = next;
            }
        }
    }
    let action: Option<Action> = bad.action.parse().ok();
    let mut enabled = Vec::new();
    model.actions(&state, &mut enabled);
    let after = action
        .as_ref()
        .filter(|a| enabled.contains(a))
        .and_then(|a| model.next_state(&state, a.clone()))
        .unwrap_or_else(|| state.clone());
    let sentence = explain::explain(
        model,
        &state,
        action.as_ref(),
        &after,
        bad.error.as_deref(),
        &bad.differences,
    );
    let first = bad
        .differences
        .first()
        .map(|d| {
            format!(
                "; first difference {}: model {}, engine {}",
                d.path, d.model, d.implementation
            )
        })
        .unwrap_or_default();
    format!(
        "the engine departed from design `{}` at step {} ({}){}{}. Expected: {}",
        model.variant,
        bad.step,
        bad.action,
        bad.error
            .as_deref()
            .map(|e| format!(": {e}"))
            .unwrap_or_default(),
        first,
        sentence.trim_end()
    )
}

/// The run's result: every outcome, in order.
pub struct Summary {
    pub design: Variant,
    pub outcomes: Vec<Outcome>,
    pub seconds: f64,
}

impl Summary {
    pub fn count(&self, v: Verdict) -> usize {
        self.outcomes.iter().filter(|o| o.verdict == v).count()
    }

    /// 0 every story prevented; 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        if self.count(Verdict::Prevented) == self.outcomes.len() {
            0
        } else {
            1
        }
    }

    /// The text `conform --stories` prints after the header.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let w = &mut out;
        let width = self
            .outcomes
            .iter()
            .map(|o| o.name.len())
            .max()
            .unwrap_or(0);
        for o in &self.outcomes {
            let _ = writeln!(
                w,
                "{:<12} {:<width$}  {} steps, {:.2}s",
                o.verdict.word(),
                o.name,
                o.steps,
                o.seconds
            );
            let _ = writeln!(w, "             {}", o.title.trim());
            let _ = writeln!(w, "             {}", o.why);
            if o.verdict == Verdict::Reproduced && o.model_reproduces {
                let _ = writeln!(
                    w,
                    "             (design `{}` itself reproduces it: its model ends the story violating \"{}\")",
                    self.design, o.violates
                );
            }
        }
        let reproduced = self.count(Verdict::Reproduced);
        let by_design = self
            .outcomes
            .iter()
            .filter(|o| o.verdict == Verdict::Reproduced && o.model_reproduces)
            .count();
        let _ = writeln!(
            w,
            "\n{} stories: {} prevented, {} reproduced{}, {} not followed ({:.1}s).",
            self.outcomes.len(),
            self.count(Verdict::Prevented),
            reproduced,
            if reproduced > 0 {
                format!(
                    " ({by_design} of them as design `{}` itself does)",
                    self.design
                )
            } else {
                String::new()
            },
            self.count(Verdict::NotFollowed),
            self.seconds
        );
        let _ = writeln!(
            w,
            "{}",
            match self.exit_code() {
                0 => "The engine prevents every known story.".to_string(),
                _ if self.count(Verdict::NotFollowed) > 0 => format!(
                    "Not every story was followed: the engine departs from design `{}` where \
                     shown; `warmcheck conform` walks every transition and names each fix.",
                    self.design
                ),
                _ => "The engine does not prevent every known story.".to_string(),
            }
        );
        out
    }

    /// One JUnit case per story: its time, the property, the verdict and why.
    pub fn junit_cases(&self) -> Vec<Case> {
        self.outcomes
            .iter()
            .map(|o| Case {
                classname: format!("warmcheck.stories.{}", self.design),
                name: format!("{} is prevented (\"{}\")", o.name, o.violates),
                seconds: o.seconds,
                failure: (o.verdict != Verdict::Prevented).then(|| {
                    (
                        match o.verdict {
                            Verdict::Reproduced => format!(
                                "reproduced: \"{}\" violated after {} steps",
                                o.violates, o.steps
                            ),
                            _ => format!(
                                "not followed: the engine departed at step {}",
                                o.departed_at.unwrap_or(0)
                            ),
                        },
                        format!("{}\n{}", o.title.trim(), o.why),
                    )
                }),
                skipped: None,
            })
            .collect()
    }
}

/// `conform --stories [DIR]`: replay the stories on `engine` in `design`, print each verdict
/// and the summary, write the JUnit report; the exit code.
pub fn run_cli(
    dir: Option<&Path>,
    design: Variant,
    engine: &Engine,
    junit: Option<&PathBuf>,
    quiet: bool,
) -> u8 {
    let stories = match dir {
        Some(d) => load_dir(d),
        None => built_in(),
    };
    let stories = match stories {
        Ok(s) => s,
        Err(e) => {
            eprintln!("warmcheck: {e}");
            return 2;
        }
    };
    println!(
        "Replaying {} known counterexample stories ({}) on {} in design `{design}`, each at \
         its own bounds.",
        stories.len(),
        match dir {
            Some(d) => d.display().to_string(),
            None => "built in: conformance/testdata".to_string(),
        },
        match engine {
            Engine::Implementation { .. } => "the implementation (real files)".to_string(),
            Engine::Sut { command, .. } => format!("the SUT `{command}`"),
        }
    );
    let started = Instant::now();
    let mut outcomes = Vec::new();
    for (i, story) in stories.iter().enumerate() {
        if crate::signals::interrupted() {
            eprintln!("warmcheck: interrupted after {i} stories");
            return 1;
        }
        if !quiet {
            eprintln!("[{}/{}] {}", i + 1, stories.len(), story.name);
        }
        match run_story(story, design, engine) {
            Ok(o) => outcomes.push(o),
            Err(e) => {
                eprintln!("warmcheck: story {}: {e}", story.name);
                return 2;
            }
        }
    }
    let summary = Summary {
        design,
        outcomes,
        seconds: started.elapsed().as_secs_f64(),
    };
    print!("{}", summary.render());
    if let Some(path) = junit {
        if let Err(e) = report::write_junit(
            path,
            "warmcheck conform --stories",
            summary.seconds,
            &summary.junit_cases(),
        ) {
            eprintln!("warmcheck: {e}");
            return 2;
        }
    }
    summary.exit_code()
}
