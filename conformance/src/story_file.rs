//! Story files: a model counterexample as a readable text file, with the implementation's
//! replay of it as expected output (`conformance/testdata/*.txt`, run by
//! `conformance/tests/counterexamples.rs`).
//!
//! ```text
//! # MB-45756: the clean-shutdown flag written before the final flush hides a lost mutation
//! # (more comment lines, free text)
//! design: v6.5.1
//! also-in: mb41942 mb43744 mb41257
//! bounds: vbuckets=1 replicas=1 keys=2 writes=2 crashes=2 shutdowns=1
//! violates: no replica diverges
//! replay-in: v6.5.1 mb41942 mb43744 mb41257 current
//!
//! ClientSets { vb: 0, key: k0, ttl: false }
//! ReplicaRequestsStream { replica: 0, vb: 0 }
//! ...
//! ----
//! (expected output: one section per design of `replay-in`)
//! ```
//!
//! - The first line is a `#` comment saying what the file guards. `#` lines and blank lines may
//!   appear anywhere before `----`.
//! - Directives, each once, before the first action: `design` (required), `also-in`
//!   (optional), `bounds` (required: all six, and `flush_failures`, `failovers` if not 0), `violates`
//!   (required: an `always` property), `replay-in` (required). A design is a preset name
//!   (`v6.5.1`) or its knobs (`persist-entry=at-complete shutdown-flag=after-flush
//!   rollback-retry=always`, as `Variant`'s `Display` prints a non-preset; `rollback-retry`
//!   defaults to `always`); lists separate designs by spaces or commas.
//! - The actions: in `design` and every `also-in` design they are enabled one after the other
//!   from the initial state and the last state, and only the last, violates `violates`.
//! - Actions: one a line, in their `Debug` form (see `warmcheck_model::parse`).
//! - `----`, then the expected output: for each `replay-in` design, the replay of the actions
//!   on the implementation (real files in a temporary directory), rendered by [`render`] with
//!   that directory shown as `<data>`. A design's section is headed `counterexample` if it is
//!   `design` or in `also-in` (the replay must end violating the property), else `fixed` (a
//!   design that fixes the story: the property must hold at the end). A step the model does
//!   not enable in a design is sent to the implementation anyway, which must refuse it too;
//!   the replay then goes on from the same state. After the last action the replay settles
//!   (flushes and deliveries the model enables) so that the data files can be compared.

use crate::mapping::Difference;
use crate::replay::{self, ImplSetup, ReplayReport, StepReport};
use crate::trace::Trace;
use stateright::Model;
use std::fmt::Write;
use warmcheck_impl::engine::{SeededBugs, StorageBackend};
use warmcheck_model::{
    story, Action, Bounds, PersistEntry, Reverted, RollbackRetry, ShutdownFlag, State, StopWarmup,
    Variant,
};

/// The line between the story and its expected output.
pub const SEPARATOR: &str = "----";

/// A parsed story file.
#[derive(Clone, Debug)]
pub struct StoryFile {
    /// The first line, without its `#`: what the file guards.
    pub title: String,
    pub design: Variant,
    pub also_in: Vec<Variant>,
    pub bounds: Bounds,
    /// The `always` property the actions violate in `design` and every `also-in` design.
    pub violates: String,
    pub replay_in: Vec<Variant>,
    pub actions: Vec<Action>,
    /// Everything before the `----` line, verbatim (kept as is when the expected output is
    /// rewritten).
    pub input: String,
    /// Everything after the `----` line; `None` when the file has no such line yet.
    pub expected: Option<String>,
}

impl StoryFile {
    /// Parse a story file's text. Errors name the line.
    pub fn parse(text: &str) -> Result<StoryFile, String> {
        let mut lines = text.split_inclusive('\n');
        let mut input = String::new();
        let mut expected = None;
        let mut title = None;
        let mut design = None;
        let mut also_in = None;
        let mut bounds = None;
        let mut violates = None;
        let mut replay_in = None;
        let mut actions = Vec::new();
        let mut number = 0;
        for raw in lines.by_ref() {
            number += 1;
            let line = raw.trim();
            let at = |msg: String| format!("line {number}: {msg}");
            if line == SEPARATOR {
                expected = Some(String::new());
                break;
            }
            input += raw;
            if number == 1 {
                match line.strip_prefix('#').map(str::trim) {
                    Some(t) if !t.is_empty() => title = Some(t.to_string()),
                    _ => {
                        return Err(at(
                            "a story file opens with a '# ...' line saying what it guards".into(),
                        ))
                    }
                }
                continue;
            }
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if let Some((key, value)) = directive(line) {
                if !actions.is_empty() {
                    return Err(at(format!("'{key}:' after the first action")));
                }
                let value = value.trim();
                let slot_taken = match key {
                    "design" => design.replace(parse_design(value).map_err(at)?).is_some(),
                    "also-in" => also_in.replace(parse_designs(value).map_err(at)?).is_some(),
                    "bounds" => bounds.replace(parse_bounds(value).map_err(at)?).is_some(),
                    "violates" => violates.replace(value.to_string()).is_some(),
                    "replay-in" => replay_in
                        .replace(parse_designs(value).map_err(at)?)
                        .is_some(),
                    _ => {
                        return Err(at(format!(
                            "unknown directive '{key}:' (expected design, also-in, bounds, \
                             violates or replay-in)"
                        )))
                    }
                };
                if slot_taken {
                    return Err(at(format!("'{key}:' given twice")));
                }
                continue;
            }
            actions.push(line.parse::<Action>().map_err(at)?);
        }
        if let Some(e) = expected.as_mut() {
            e.extend(lines);
        }
        let missing = |what: &str| format!("no '{what}:' line");
        let story = StoryFile {
            title: title.ok_or("the file is empty")?,
            design: design.ok_or_else(|| missing("design"))?,
            also_in: also_in.unwrap_or_default(),
            bounds: bounds.ok_or_else(|| missing("bounds"))?,
            violates: violates.ok_or_else(|| missing("violates"))?,
            replay_in: replay_in.ok_or_else(|| missing("replay-in"))?,
            actions,
            input,
            expected,
        };
        if story.actions.is_empty() {
            return Err("no actions".into());
        }
        crate::checked::check_bounds(&story.bounds)?;
        for (i, a) in story.actions.iter().enumerate() {
            crate::checked::check_action(&story.bounds, a)
                .map_err(|e| format!("action {}: {a:?}: {e}", i + 1))?;
        }
        let model = story.bounds.into_model(story.design);
        match model.property_named(&story.violates) {
            Some(p) if p.expectation == stateright::Expectation::Always => {}
            Some(_) => {
                return Err(format!(
                    "violates: '{}' is not an `always` property",
                    story.violates
                ))
            }
            None => {
                let names: Vec<&str> = model.properties().iter().map(|p| p.name).collect();
                return Err(format!(
                    "violates: no property named '{}' (the model's: {})",
                    story.violates,
                    names.join("; ")
                ));
            }
        }
        Ok(story)
    }

    /// `design` and the `also-in` designs: where the actions are a counterexample.
    pub fn counterexample_designs(&self) -> Vec<Variant> {
        let mut out = vec![self.design];
        out.extend(self.also_in.iter().copied());
        out
    }

    /// The actions as a trace of `design`, for `Trace::states` and `warmcheck replay`.
    pub fn trace(&self, design: Variant) -> Trace {
        let model = self.bounds.into_model(design);
        Trace::new(&model, Some(&self.violates), self.actions.clone())
    }

    /// The file's text with `output` as its expected section.
    pub fn with_expected(&self, output: &str) -> String {
        let mut out = self.input.clone();
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        out += SEPARATOR;
        out.push('\n');
        out += output;
        out
    }
}

/// `key: value` where the key is a lowercase word (actions start with a capital letter).
fn directive(line: &str) -> Option<(&str, &str)> {
    let (key, value) = line.split_once(':')?;
    let is_word = key.starts_with(|c: char| c.is_ascii_lowercase())
        && key.chars().all(|c| c.is_ascii_lowercase() || c == '-');
    is_word.then_some((key, value))
}

/// A preset name or `persist-entry=P shutdown-flag=F [rollback-retry=R] [stop-warmup=S]` (any
/// order).
pub fn parse_design(text: &str) -> Result<Variant, String> {
    match parse_designs(text)?.as_slice() {
        [one] => Ok(*one),
        [] => Err("expected a design".into()),
        more => Err(format!("expected one design, found {}: {text}", more.len())),
    }
}

/// The knobs of a non-preset design being read.
#[derive(Default)]
struct Knobs {
    persist: Option<PersistEntry>,
    flag: Option<ShutdownFlag>,
    retry: Option<RollbackRetry>,
    stop: Option<StopWarmup>,
    reverted: Option<Reverted>,
}

impl Knobs {
    fn is_empty(&self) -> bool {
        self.persist.is_none()
            && self.flag.is_none()
            && self.retry.is_none()
            && self.stop.is_none()
            && self.reverted.is_none()
    }

    /// The design these knobs make, if any knob was given. `rollback-retry` may be left out:
    /// it is then `always`, the rule of the designs before MB-48398 (and of story files
    /// written before the knob existed); so may `stop-warmup`, then `in-deinitialize`, the
    /// rule before MB-47851 (and of story files written before that knob existed).
    fn finish(&mut self) -> Result<Option<Variant>, String> {
        let k = std::mem::take(self);
        match (k.persist, k.flag) {
            (None, None) if k.retry.is_none() && k.stop.is_none() && k.reverted.is_none() => {
                Ok(None)
            }
            (Some(persist_entry), Some(shutdown_flag)) => Ok(Some(Variant {
                persist_entry,
                shutdown_flag,
                rollback_retry: k.retry.unwrap_or(RollbackRetry::Always),
                stop_warmup: k.stop.unwrap_or(StopWarmup::InDeinitialize),
                reverted: k.reverted.unwrap_or_default(),
            })),
            (Some(_), None) => Err("persist-entry=... without shutdown-flag=...".to_string()),
            (None, Some(_)) => Err("shutdown-flag=... without persist-entry=...".to_string()),
            (None, None) => Err(
                "rollback-retry=..., stop-warmup=... or revert-fix=... without \
                 persist-entry=... and shutdown-flag=..."
                    .to_string(),
            ),
        }
    }
}

/// Designs separated by spaces or commas. A preset is one word; a non-preset design is its
/// knobs `persist-entry=...`, `shutdown-flag=...` and optionally `rollback-retry=...`, next to
/// each other (a knob given again starts the next design).
pub fn parse_designs(text: &str) -> Result<Vec<Variant>, String> {
    let mut out = Vec::new();
    let mut knobs = Knobs::default();
    for word in text
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|w| !w.is_empty())
    {
        match word.split_once('=') {
            Some(("persist-entry", v)) => {
                if knobs.persist.is_some() {
                    out.extend(knobs.finish()?);
                }
                knobs.persist = Some(v.parse().map_err(|e| format!("persist-entry: {e}"))?);
            }
            Some(("shutdown-flag", v)) => {
                if knobs.flag.is_some() {
                    out.extend(knobs.finish()?);
                }
                knobs.flag = Some(v.parse().map_err(|e| format!("shutdown-flag: {e}"))?);
            }
            Some(("rollback-retry", v)) => {
                if knobs.retry.is_some() {
                    out.extend(knobs.finish()?);
                }
                knobs.retry = Some(v.parse().map_err(|e| format!("rollback-retry: {e}"))?);
            }
            Some(("stop-warmup", v)) => {
                if knobs.stop.is_some() {
                    out.extend(knobs.finish()?);
                }
                knobs.stop = Some(v.parse().map_err(|e| format!("stop-warmup: {e}"))?);
            }
            Some(("revert-fix", v)) => {
                if knobs.reverted.is_some() {
                    out.extend(knobs.finish()?);
                }
                knobs.reverted = Some(v.parse().map_err(|e| format!("revert-fix: {e}"))?);
            }
            Some((k, _)) => {
                return Err(format!(
                    "unknown knob '{k}' (expected persist-entry, shutdown-flag, rollback-retry, \
                     stop-warmup or revert-fix)"
                ))
            }
            None => {
                if !knobs.is_empty() {
                    out.extend(knobs.finish()?);
                }
                out.push(word.parse::<Variant>()?);
            }
        }
    }
    out.extend(knobs.finish()?);
    Ok(out)
}

/// `vbuckets=1 replicas=1 keys=2 writes=2 crashes=2 shutdowns=1`: all six, any order, and
/// optionally `flush_failures=N` and `failovers=N` (0 if left out).
pub fn parse_bounds(text: &str) -> Result<Bounds, String> {
    const NAMES: [&str; 8] = [
        "vbuckets",
        "replicas",
        "keys",
        "writes",
        "crashes",
        "shutdowns",
        "flush_failures",
        "failovers",
    ];
    let mut values: [Option<u8>; 8] = [None; 8];
    for word in text.split_whitespace() {
        let Some((name, value)) = word.split_once('=') else {
            return Err(format!("bounds: expected name=number, found '{word}'"));
        };
        let Some(i) = NAMES.iter().position(|n| *n == name) else {
            return Err(format!(
                "bounds: unknown bound '{name}' (expected {})",
                NAMES.join(", ")
            ));
        };
        let n = value
            .parse::<u8>()
            .map_err(|_| format!("bounds: {name}: '{value}' is not a number in 0..=255"))?;
        if values[i].replace(n).is_some() {
            return Err(format!("bounds: '{name}' given twice"));
        }
    }
    let missing: Vec<&str> = NAMES
        .iter()
        .zip(values.iter())
        .filter(|(n, v)| v.is_none() && !matches!(**n, "flush_failures" | "failovers"))
        .map(|(n, _)| *n)
        .collect();
    if !missing.is_empty() {
        return Err(format!("bounds: missing {}", missing.join(", ")));
    }
    let [vbuckets, replicas, keys, writes, crashes, shutdowns, flush_failures, failovers] =
        values.map(|v| v.unwrap_or(0));
    Ok(Bounds {
        vbuckets,
        replicas,
        keys,
        writes,
        crashes,
        shutdowns,
        flush_failures,
        failovers,
    })
}

/// `bounds` as a `bounds:` directive's value (`flush_failures` only when not 0).
pub fn bounds_text(b: &Bounds) -> String {
    let mut text = format!(
        "vbuckets={} replicas={} keys={} writes={} crashes={} shutdowns={}",
        b.vbuckets, b.replicas, b.keys, b.writes, b.crashes, b.shutdowns
    );
    if b.flush_failures > 0 {
        text.push_str(&format!(" flush_failures={}", b.flush_failures));
    }
    if b.failovers > 0 {
        text.push_str(&format!(" failovers={}", b.failovers));
    }
    text
}

/// A new story file for `trace` (a counterexample), without expected output: fill it with
/// `REWRITE=1 cargo test -p warmcheck-conformance --test counterexamples`.
pub fn skeleton(
    trace: &Trace,
    comments: &[&str],
    also_in: &[Variant],
    replay_in: &[Variant],
) -> String {
    let names = |vs: &[Variant]| {
        vs.iter()
            .map(|v| v.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut out = String::new();
    for c in comments {
        let _ = writeln!(out, "# {c}");
    }
    let _ = writeln!(out, "design: {}", trace.design);
    if !also_in.is_empty() {
        let _ = writeln!(out, "also-in: {}", names(also_in));
    }
    let _ = writeln!(out, "bounds: {}", bounds_text(&trace.bounds));
    let _ = writeln!(
        out,
        "violates: {}",
        trace.property.as_deref().unwrap_or("?")
    );
    let _ = writeln!(out, "replay-in: {}", names(replay_in));
    out.push('\n');
    for a in &trace.actions {
        let _ = writeln!(out, "{a:?}");
    }
    out
}

/// The replays behind a rendering, one per `replay-in` design.
pub struct Rendered {
    pub text: String,
    pub replays: Vec<(Variant, ReplayReport)>,
}

/// Replay the story on the implementation in every `replay-in` design, each on real files in
/// a fresh temporary directory, and render the expected-output section.
pub fn render(story: &StoryFile) -> Result<Rendered, String> {
    render_with_bugs(story, SeededBugs::default())
}

/// [`render`] with deliberate implementation bugs on, for the sensitivity test only.
pub fn render_with_bugs(story: &StoryFile, bugs: SeededBugs) -> Result<Rendered, String> {
    let mut text = String::new();
    let mut replays = Vec::new();
    for (i, design) in story.replay_in.iter().enumerate() {
        let tmp = tempfile::Builder::new()
            .prefix("warmcheck-story-")
            .tempdir()
            .map_err(|e| format!("cannot make a temporary directory: {e}"))?;
        let dir = tmp.path().join("data");
        let setup = ImplSetup {
            backend: StorageBackend::file(),
            dir: dir.clone(),
            bugs,
        };
        let model = story.bounds.into_model(*design);
        let report = replay::replay(&model, &story.actions, &setup)?;
        if i > 0 {
            text.push('\n');
        }
        let section = render_replay(story, *design, &report);
        // The temporary directory differs per run.
        text += &section
            .replace(&dir.display().to_string(), "<data>")
            .replace(&tmp.path().display().to_string(), "<tmp>");
        replays.push((*design, report));
    }
    Ok(Rendered { text, replays })
}

/// One design's section: every step with the model's story and the implementation's outcome,
/// then the verdicts.
pub fn render_replay(story: &StoryFile, design: Variant, report: &ReplayReport) -> String {
    let mut out = String::new();
    let w = &mut out;
    let knobs = format!(
        "persist-entry={}, shutdown-flag={}",
        design.persist_entry, design.shutdown_flag
    );
    let _ = writeln!(
        w,
        "== {}: {}",
        match design.preset_name() {
            Some(name) => format!("{name} ({knobs})"),
            None => knobs,
        },
        if story.counterexample_designs().contains(&design) {
            "counterexample"
        } else {
            "fixed"
        }
    );
    for r in &report.step_reports {
        render_step(w, r);
    }
    let _ = writeln!(
        w,
        "The implementation {} the model at every step.",
        if report.matched {
            "matched"
        } else {
            "did NOT match"
        }
    );
    if report.violated.is_empty() {
        let _ = writeln!(w, "The model's invariants all hold in the final state.");
    } else {
        let _ = writeln!(
            w,
            "The model's final state violates: {}.",
            report.violated.join("; ")
        );
    }
    let model = story.bounds.into_model(design);
    if let Some(why) =
        final_model_state(&model, report).and_then(|s| story::explain(&model, &story.violates, &s))
    {
        let _ = writeln!(w, "Why: {why}.");
    }
    match &report.divergence {
        Some(d) => {
            let _ = writeln!(w, "Diverged on disk: {d}.");
        }
        None => {
            let _ = writeln!(
                w,
                "No divergence on disk: every accepted replica's file agrees with the active's."
            );
        }
    }
    out
}

fn render_step(w: &mut String, r: &StepReport) {
    let _ = writeln!(w, "{:>3}. {}", r.step, r.action);
    if let Some(s) = &r.story {
        let _ = writeln!(w, "     model: {s}");
    }
    match r.outcome.as_str() {
        "matched" => {
            let _ = writeln!(w, "     implementation: same projection");
        }
        "refused by both" => {
            let _ = writeln!(
                w,
                "     implementation: refused too ({})",
                r.error.as_deref().unwrap_or("")
            );
        }
        _ => {
            let _ = writeln!(w, "     MISMATCH");
            if let Some(e) = &r.error {
                let _ = writeln!(w, "     implementation: {e}");
            }
            render_differences(w, &r.differences);
        }
    }
}

fn render_differences(w: &mut String, differences: &[Difference]) {
    let width = differences
        .iter()
        .map(|d| d.path.len())
        .max()
        .unwrap_or(4)
        .min(60);
    let _ = writeln!(
        w,
        "       {:<width$}  {:<40}  implementation",
        "field", "model"
    );
    for d in differences {
        let _ = writeln!(
            w,
            "     ! {:<width$}  {:<40}  {}",
            d.path,
            d.model.to_string(),
            d.implementation
        );
    }
}

/// The model's state at the end of a replay that matched: the steps it took, the refused ones
/// skipped, as `replay` did. `None` if the replay did not match.
pub fn final_model_state(model: &warmcheck_model::Warmup, report: &ReplayReport) -> Option<State> {
    if !report.matched {
        return None;
    }
    let mut state = model.init_states().remove(0);
    for r in report.step_reports.iter().filter(|r| r.step > 0) {
        if r.outcome == "matched" {
            let action: Action = r.action.parse().ok()?;
            state = model.next_state(&state, action)?;
        }
    }
    Some(state)
}
