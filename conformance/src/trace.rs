//! Trace files: a behaviour of the model saved as its design, bounds and actions, so that
//! `replay`, `explore --trace` and the tests can re-run it. Written by `check` and `conform`.

use crate::checked;
use serde::{Deserialize, Serialize};
use stateright::Model;
use std::path::{Path, PathBuf};
use warmcheck_impl::input::{self, Limits, MIB};
use warmcheck_model::{Action, Bounds, State, Variant, Warmup};

pub const FORMAT: &str = "warmcheck-trace/1";

/// The most a trace file (or check report) may hold.
pub const LIMITS: Limits = Limits {
    what: "trace file",
    max_bytes: 64 * MIB,
    max_line: 64 * MIB,
};

/// A trace file: a behaviour of the model.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
#[schemars(
    title = "warmcheck trace: a behaviour of the model",
    deny_unknown_fields
)]
pub struct Trace {
    #[schemars(extend("const" = FORMAT))]
    pub format: String,
    /// The design's one name: the preset's, or its knobs spelled out
    /// (`persist-entry=X shutdown-flag=Y rollback-retry=Z`), as `Variant`'s Display prints it.
    pub variant: String,
    pub design: Variant,
    pub bounds: Bounds,
    /// The property this trace is a counterexample (or witness) for, if any.
    pub property: Option<String>,
    pub actions: Vec<Action>,
}

impl Trace {
    pub fn new(model: &Warmup, property: Option<&str>, actions: Vec<Action>) -> Trace {
        Trace {
            format: FORMAT.to_string(),
            variant: model.variant.to_string(),
            design: model.variant,
            bounds: model.bounds,
            property: property.map(str::to_string),
            actions,
        }
    }

    pub fn model(&self) -> Warmup {
        self.bounds.into_model(self.design)
    }

    /// Load a trace file, or the first violated property's trace of a `check --json` report,
    /// checked as [`Trace::parse`] checks it. The file may hold at most [`LIMITS`].
    pub fn load(path: &Path) -> Result<Trace, String> {
        let text = input::read_file(path, LIMITS, false).map_err(|e| e.to_string())?;
        Trace::parse(text.as_bytes(), &path.display().to_string())
    }

    /// A trace from bytes (`name` for messages), checked: its `variant` label naming its
    /// `design`, its bounds within what the model takes, every action's vb, replica and key within them, and every step enabled in the
    /// trace's design, one after the other from the initial state. The one reader of traces,
    /// shared by `replay`, `explore --trace` and the tests; the entry point the fuzz targets
    /// call.
    pub fn parse(bytes: &[u8], name: &str) -> Result<Trace, String> {
        if bytes.len() > LIMITS.max_bytes {
            return Err(format!(
                "{name}: larger than {} bytes, the most a trace may hold",
                LIMITS.max_bytes
            ));
        }
        let trace = Trace::parse_unchecked(bytes, name)?;
        // The label is what people read (and what reports and file names carry); the design
        // is what is replayed. A label naming another design would mislead every reader.
        let label = trace.design.to_string();
        if trace.variant != label {
            return Err(format!(
                "{name}: `variant` is {:?}, but `design` is the design `{label}`: they must name \
                 the same design",
                trace.variant
            ));
        }
        checked::check_bounds(&trace.bounds).map_err(|e| format!("{name}: {e}"))?;
        for (i, a) in trace.actions.iter().enumerate() {
            checked::check_action(&trace.bounds, a)
                .map_err(|e| format!("{name}: step {}: {a:?}: {e}", i + 1))?;
        }
        trace.states().map_err(|e| format!("{name}: {e}"))?;
        Ok(trace)
    }

    fn parse_unchecked(bytes: &[u8], name: &str) -> Result<Trace, String> {
        let path = Path::new(name);
        let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| {
            format!(
                "{}: not JSON (line {}, column {}): {e}",
                path.display(),
                e.line(),
                e.column()
            )
        })?;
        if value.get("format").and_then(|f| f.as_str()) == Some(FORMAT) {
            return serde_json::from_value(value)
                .map_err(|e| format!("{}: not a {FORMAT} trace: {e}", path.display()));
        }
        if let Some(props) = value.get("properties").and_then(|p| p.as_array()) {
            let violated = props.iter().find(|p| {
                p.get("status").and_then(|s| s.as_str()) == Some("violated")
                    && p.get("trace").is_some_and(|t| !t.is_null())
            });
            return match violated {
                Some(p) => serde_json::from_value(p["trace"].clone()).map_err(|e| {
                    format!("{}: the report's trace is malformed: {e}", path.display())
                }),
                None => Err(format!(
                    "{}: the report has no violated property with a trace",
                    path.display()
                )),
            };
        }
        Err(format!(
            "{}: neither a {FORMAT} trace nor a check report",
            path.display()
        ))
    }

    pub fn save(&self, path: &Path) -> Result<(), String> {
        let text = serde_json::to_string_pretty(self).expect("traces serialise");
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("{}: cannot create: {e}", dir.display()))?;
        }
        std::fs::write(path, text + "\n")
            .map_err(|e| format!("{}: cannot write: {e}", path.display()))
    }

    /// Save the trace at `path` and, beside it, the same behaviour in the Informal Trace
    /// Format (`x.trace.json` and `x.itf.json`, see `crate::itf`). Returns the ITF file's path.
    pub fn save_with_itf(&self, path: &Path) -> Result<PathBuf, String> {
        self.save(path)?;
        let itf = crate::itf::path_beside(path);
        crate::itf::save(self, &itf)?;
        Ok(itf)
    }

    /// Re-run the actions on the model, checking each is enabled. Returns every state, the
    /// initial one first. (A trace out of the model's bounds is an error, not a panic.)
    pub fn states(&self) -> Result<Vec<State>, String> {
        checked::check_bounds(&self.bounds)?;
        let model = self.model();
        let mut states = model.init_states();
        let mut cur = states.pop().expect("one initial state");
        let mut out = vec![cur.clone()];
        let mut enabled = Vec::new();
        for (i, a) in self.actions.iter().enumerate() {
            enabled.clear();
            model.actions(&cur, &mut enabled);
            if !enabled.contains(a) {
                return Err(format!(
                    "step {}: {a:?} is not enabled in the model here (enabled: {enabled:?})",
                    i + 1
                ));
            }
            cur = model
                .next_state(&cur, a.clone())
                .expect("enabled actions have a next state");
            out.push(cur.clone());
        }
        Ok(out)
    }
}
