//! Trace files: a behaviour of the model saved as its design, bounds and actions, so that
//! `replay`, `explore --trace` and the tests can re-run it. Written by `check` and `conform`.

use serde::{Deserialize, Serialize};
use stateright::Model;
use std::path::{Path, PathBuf};
use warmcheck_model::{Action, Bounds, State, Variant, Warmup};

pub const FORMAT: &str = "warmcheck-trace/1";

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Trace {
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

    /// Load a trace file, or the first violated property's trace of a `check --json` report.
    pub fn load(path: &Path) -> Result<Trace, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
        let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
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
    /// initial one first.
    pub fn states(&self) -> Result<Vec<State>, String> {
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
