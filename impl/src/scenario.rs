//! The scenario runner behind `warmcheck scenario`: a script of directives, one a line, run
//! against a [`Cluster`], each directive's output printed under it (etcd-raft's datadriven
//! style). The output of a script is itself a valid scenario data file:
//!
//! ```text
//! # what this guards
//! set e ttl=1
//! ----
//! vb 0 seqno 1: set e=e@1 ttl=1 (expires at 1)
//!
//! flush
//! ----
//! vb 0: commit seqno 1; disk high 1, failover [(U1,0)]
//! ```
//!
//! `#` lines and blank lines are kept as they are. A directive's expected block (`----` and the
//! lines up to the next blank line) is skipped on input and regenerated on output, so a data
//! file can be run as a script. In `impl/testdata/`, a block whose output differs between the
//! variants named in the file's `# variants:` line holds one group per variant, each opened by
//! a `[variant]` line.
//!
//! Directives (`vb=N` defaults to 0; REPLICA is `r1`, `r2`, ...):
//!
//! | directive | engine call(s) |
//! |---|---|
//! | `set KEY [ttl=SECONDS] [vb=N] [value=V]` | `set` (default value `KEY@n`, n a runner-wide write counter) |
//! | `delete KEY [vb=N]` | `delete` |
//! | `get KEY [vb=N]` | `get` (expires an expired item) |
//! | `advance-clock SECONDS` | `advance_clock` |
//! | `compact [vb=N]` | `compact` |
//! | `expiry-pager` | `run_expiry_pager` |
//! | `expire KEY [vb=N]` | `expire_item` (the pager's visit of one item) |
//! | `flush [vb=N]` | `flush` (every notified vb if no vb is given) |
//! | `fail-next-flushes N` | `fail_next_flushes` (test seam: the next N commits of the active fail, ENOSPC) |
//! | `crash` | `crash` |
//! | `shutdown` | the variant's whole clean shutdown, step by step |
//! | `shutdown-begin`, `shutdown-write-flag`, `shutdown-stop-flusher`, `shutdown-stop-tasks` | one shutdown step |
//! | `warmup [until=PHASE]` | `warmup_step` until PHASE (default `complete`) |
//! | `stats-snapshot` | `stats_snapshot` |
//! | `connect REPLICA [vb=N]` | `stream_request` until accepted, one line per round trip |
//! | `stream REPLICA [vb=N]` | `stream_deliver` until up to date |
//! | `fail-over REPLICA` | `fail_over`: the down active failed over, REPLICA promoted |
//! | `add-back` | `add_back`: the failed-over node rejoins as the last replica |
//! | `disk [vb=N]` | (none) what the active's data file holds |
//! | `show` | (none) the projected view, one line of JSON |
//! | `check-divergence` | (none) replicas holding other mutations than the active at a seqno |
//!
//! A directive the engine refuses in the current state prints `error: ...` and the script goes
//! on; an unknown directive, a bad argument, an input the engine refuses (a key or value outside
//! kv_engine's limits, a number that would overflow), or a storage error stops the script with a
//! [`ScenarioError`] naming the line.

use crate::engine::{
    Cluster, Config, CounterUuids, EngineError, Item, Phase, Process, SeededBugs, StorageBackend,
    StreamOutcome, Variant, View,
};
use std::path::PathBuf;

/// How to set up the cluster a script runs against.
#[derive(Clone)]
pub struct ScenarioOptions {
    pub variant: Variant,
    pub replicas: usize,
    pub vbuckets: u16,
    /// The data directory; a fresh temporary one if `None`. One that already holds a bucket
    /// is continued: opened and warmed up, as at a restart.
    pub dir: Option<PathBuf>,
    /// The storage backend; real files if `None`.
    pub backend: Option<StorageBackend>,
    /// Test-only seeded bugs (off by default).
    pub bugs: SeededBugs,
    /// Write the engine's event log without states (`docs/event-log.md`) to this file,
    /// created or truncated: a fresh bucket's starts with its `create` line; a continued
    /// bucket's starts after the warmup that opens it.
    pub log: Option<PathBuf>,
    /// Whether `vbuckets` and `replicas` were asked for, each, or are only defaults. A bucket
    /// continued from `dir` keeps the shape it was created with: a dimension asked for that
    /// differs from it is refused (before anything is written there); a default one takes the
    /// bucket's.
    pub shape_given: (bool, bool),
}

impl Default for ScenarioOptions {
    /// `current`, one replica, one vbucket, a temporary directory, real files.
    fn default() -> Self {
        ScenarioOptions {
            variant: Variant::current(),
            replicas: 1,
            vbuckets: 1,
            dir: None,
            backend: None,
            bugs: SeededBugs::default(),
            log: None,
            shape_given: (false, false),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// A directive that does not parse or makes no sense here.
    #[error("line {line}: {what}")]
    BadDirective { line: usize, what: String },
    /// A directive whose input the engine refused: a key or value outside kv_engine's limits, a
    /// number that would overflow (the script stops).
    #[error("line {line}: {directive}: {source}")]
    BadInput {
        line: usize,
        /// The directive's command (`set`, `advance-clock`, ...).
        directive: String,
        #[source]
        source: EngineError,
    },
    /// A storage error while running a directive (the script stops).
    #[error("line {line}: {directive}: {source}")]
    Storage {
        line: usize,
        directive: String,
        #[source]
        source: EngineError,
    },
    /// The event log (`--log`) could not be written: the directive took effect, but the log
    /// no longer says so (the script stops).
    #[error("line {line}: {directive}: took effect, but writing the event log failed: {source}")]
    EventLog {
        line: usize,
        directive: String,
        #[source]
        source: std::io::Error,
    },
    /// The cluster could not be created.
    #[error("scenario setup: {0}")]
    Setup(#[source] EngineError),
    /// The script is larger than [`LIMITS`] allows, or not UTF-8.
    #[error("{0}")]
    Input(#[from] crate::input::InputError),
}

/// The most a scenario script may hold (a script is read whole before it runs).
pub const LIMITS: crate::input::Limits = crate::input::Limits {
    what: "scenario script",
    max_bytes: 64 * crate::input::MIB,
    max_line: 64 * crate::input::MIB,
};

/// The most seconds `advance-clock` and `ttl=` take: kv_engine's times are 32-bit.
pub const MAX_SECONDS: u64 = u32::MAX as u64;

/// Read a script from bytes within [`LIMITS`] and check the shape of every directive (not
/// whether it makes sense for a cluster: that is checked as it runs). The entry point the fuzz
/// targets and property tests call; [`run_script`] refuses what it refuses before running
/// anything.
pub fn parse_script(bytes: &[u8]) -> Result<Vec<Chunk>, ScenarioError> {
    let text = crate::input::read_text(bytes, "the script", LIMITS)?;
    let chunks = parse_data(&text);
    for chunk in &chunks {
        if let Chunk::Directive { line, text, .. } = chunk {
            Directive::parse(*line, text)?;
        }
    }
    Ok(chunks)
}

mod data;
use data::render_chunk;
mod show;
pub use data::{expected_for_variant, merge_variant_outputs, parse_data, render_data, Chunk};
use show::{describe_process, newest_expiry, root_cause, show_items, show_seqnos, show_table};

// ---------------------------------------------------------------------------------------------
// The runner
// ---------------------------------------------------------------------------------------------

/// A cluster driven one directive at a time.
pub struct Runner {
    cluster: Cluster,
    /// Client writes so far (successful sets and deletes), for default values.
    writes: u64,
    /// What the warmup printed when the data directory already held a bucket.
    reopened: Option<Vec<String>>,
    _tmp: Option<tempfile::TempDir>,
}

/// Run a whole script; the output is the script with each directive's output under it.
pub fn run_script(text: &str, opts: ScenarioOptions) -> Result<String, ScenarioError> {
    let mut out = String::new();
    run_script_with(text, opts, |piece| out.push_str(piece))?;
    Ok(out)
}

/// Run a whole script, handing the output to `emit` piece by piece as it is known: a comment
/// as it is read, a directive with its output block once it has run. A directive that stops
/// the script leaves everything before it emitted. When the data directory already holds a
/// bucket, the output starts with `#` lines saying so and what its warmup did.
pub fn run_script_with(
    text: &str,
    opts: ScenarioOptions,
    mut emit: impl FnMut(&str),
) -> Result<(), ScenarioError> {
    let chunks = parse_script(text.as_bytes())?;
    let log = opts.log.clone();
    let mut runner = Runner::new(opts)?;
    if let Some(path) = log {
        let file = std::fs::File::create(&path).map_err(|source| {
            ScenarioError::Setup(EngineError::Io {
                path: path.clone(),
                source,
            })
        })?;
        runner
            .cluster_mut()
            .add_event_log(Box::new(file), crate::engine::event::States::Without);
    }
    if let Some(warmup) = runner.reopened() {
        let mut head = format!(
            "# continuing the bucket in {}: warmup ran first, as at a restart\n",
            runner.cluster().dir().display()
        );
        for l in warmup {
            head += &format!("#   {l}\n");
        }
        emit(&head);
    }
    for (i, chunk) in chunks.iter().enumerate() {
        let output = match chunk {
            Chunk::Directive { line, text, .. } => Some(runner.run_directive(*line, text)?),
            Chunk::Verbatim(_) => None,
        };
        emit(&render_chunk(&chunks, i, output.as_deref()));
    }
    Ok(())
}

/// The shape of the bucket in a real-files data directory: as many vbuckets as there are data
/// files `active/vb0.couch`, `vb1.couch`, ... in a row, as many replicas as directories `r1`,
/// `r2`, ... in a row. `None` for another backend (nothing to look at outside it).
fn shape_on_disk(config: &Config) -> Option<(u16, usize)> {
    if !matches!(config.backend, StorageBackend::File(_)) {
        return None;
    }
    let dir = &config.dir;
    let vbuckets = (0..=crate::engine::MAX_VBUCKETS)
        .take_while(|vb| crate::engine::active_vb_path(dir, *vb).is_file())
        .count();
    let replicas = (0..=255)
        .take_while(|r| {
            crate::engine::replica_vb_path(dir, *r, 0)
                .parent()
                .is_some_and(|p| p.is_dir())
        })
        .count();
    Some((u16::try_from(vbuckets).ok()?, replicas))
}

impl Runner {
    pub fn new(opts: ScenarioOptions) -> Result<Runner, ScenarioError> {
        let (dir, tmp) = match opts.dir {
            Some(d) => (d, None),
            None => {
                let t = tempfile::Builder::new()
                    .prefix("warmcheck-scenario-")
                    .tempdir()
                    .map_err(|e| {
                        ScenarioError::Setup(EngineError::Io {
                            path: std::env::temp_dir(),
                            source: e,
                        })
                    })?;
                (t.path().to_path_buf(), Some(t))
            }
        };
        let backend = match opts.backend {
            Some(b) => b,
            None => default_backend(),
        };
        let mut config = Config {
            variant: opts.variant,
            vbuckets: opts.vbuckets,
            replicas: opts.replicas,
            dir,
            backend,
            uuids: Box::new(CounterUuids::new()),
            bugs: opts.bugs,
        };
        // A directory that already holds a bucket is continued, as kv_engine does at a restart:
        // opened, then warmed up.
        let stats = crate::engine::active_dir(&config.dir).join(crate::stats::StatsFile::FILE_NAME);
        // Whether it exists: none of it needs reading here.
        let exists = config
            .backend
            .as_dyn()
            .read_within(&stats, 0)
            .map_err(|e| {
                ScenarioError::Setup(EngineError::Io {
                    path: stats.clone(),
                    source: e,
                })
            })?;
        if exists.is_none() {
            let cluster = Cluster::create(config).map_err(ScenarioError::Setup)?;
            return Ok(Runner {
                cluster,
                writes: 0,
                reopened: None,
                _tmp: tmp,
            });
        }
        if let Some((vbuckets, replicas)) = shape_on_disk(&config) {
            let (vb_given, r_given) = opts.shape_given;
            if (vb_given && vbuckets != config.vbuckets) || (r_given && replicas != config.replicas)
            {
                return Err(ScenarioError::Setup(EngineError::InvalidArgument(format!(
                    "the bucket in {} has {vbuckets} vbuckets and {replicas} replicas; a \
                     continued bucket keeps its shape (asked for: {} vbuckets, {} replicas)",
                    config.dir.display(),
                    config.vbuckets,
                    config.replicas
                ))));
            }
            config.vbuckets = vbuckets;
            config.replicas = replicas;
        }
        let cluster = Cluster::open(config).map_err(ScenarioError::Setup)?;
        let mut runner = Runner {
            cluster,
            writes: 0,
            reopened: None,
            _tmp: tmp,
        };
        let warmup = runner.run_directive(0, "warmup").map_err(|e| match e {
            ScenarioError::Storage { source, .. } => ScenarioError::Setup(source),
            other => other,
        })?;
        runner.reopened = Some(warmup);
        Ok(runner)
    }

    /// What the warmup printed, when the data directory already held a bucket (`None` for a
    /// bucket this runner created).
    pub fn reopened(&self) -> Option<&[String]> {
        self.reopened.as_deref()
    }

    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    pub fn cluster_mut(&mut self) -> &mut Cluster {
        &mut self.cluster
    }

    /// Run one directive (`line` is its 1-based line number, for errors); returns its output
    /// lines. Blank and `#` lines return nothing.
    pub fn run_directive(&mut self, line: usize, text: &str) -> Result<Vec<String>, ScenarioError> {
        let text = text.trim();
        if text.is_empty() || text.starts_with('#') {
            return Ok(Vec::new());
        }
        let d = Directive::parse(line, text)?;
        self.check_targets(line, &d)?;
        let mut out = Vec::new();
        match self.dispatch(&d, &mut out) {
            Ok(()) => {}
            Err(e) if e.is_input() => {
                return Err(ScenarioError::BadInput {
                    line,
                    directive: d.cmd.clone(),
                    source: e,
                })
            }
            Err(e) if e.is_storage() => {
                return Err(ScenarioError::Storage {
                    line,
                    directive: text.to_string(),
                    source: e,
                })
            }
            Err(EngineError::EventLog(source)) => {
                return Err(ScenarioError::EventLog {
                    line,
                    directive: text.to_string(),
                    source,
                })
            }
            Err(e) => out.push(format!("error: {e}")),
        }
        if out.is_empty() {
            out.push("ok".to_string());
        }
        Ok(out)
    }

    fn dispatch(&mut self, d: &Directive, out: &mut Vec<String>) -> Result<(), EngineError> {
        match d.cmd.as_str() {
            // set KEY [ttl=SECONDS] [vb=N] [value=V]
            "set" => self.do_set(d, out)?,
            // delete KEY [vb=N]
            "delete" => {
                let key = d.key.as_deref().expect("checked by parse");
                let seqno = self.cluster.delete(d.vb, key)?;
                self.writes += 1;
                out.push(format!("vb {} seqno {seqno}: delete {key}", d.vb));
            }
            // get KEY [vb=N]
            "get" => self.do_get(d, out)?,
            // advance-clock SECONDS
            "advance-clock" => {
                self.cluster
                    .advance_clock(d.secs.expect("checked by parse"))?;
                out.push(format!("clock {}", self.cluster.clock()));
            }
            // compact [vb=N]
            "compact" => {
                let vb = d.vb;
                let before = self.cluster.active_items(vb).unwrap_or_default();
                let seqnos = self.cluster.compact(vb)?;
                self.print_expiries(vb, &before, &seqnos, out);
            }
            // expiry-pager
            "expiry-pager" => self.do_expiry_pager(out)?,
            // expire KEY [vb=N]
            "expire" => {
                let key = d.key.as_deref().expect("checked by parse");
                let vb = d.vb;
                let before = self.cluster.active_items(vb).unwrap_or_default();
                let seqno = self.cluster.expire_item(vb, key)?;
                self.print_expiries(vb, &before, &[seqno], out);
            }
            // fail-next-flushes N
            "fail-next-flushes" => {
                let n = d.count.expect("checked by parse");
                self.cluster.fail_next_flushes(n);
                out.push(format!(
                    "the next {n} commit{} of the active's data files fail (ENOSPC)",
                    if n == 1 { "" } else { "s" }
                ));
            }
            // flush [vb=N]
            "flush" => self.do_flush(d, out)?,
            // crash
            "crash" => {
                let before = self.cluster.view();
                let was = self.cluster.process();
                self.cluster.crash()?;
                out.push(format!("active crashed (was {})", describe_process(was)));
                self.print_losses(&before, out);
                self.print_flag(out);
            }
            // shutdown
            "shutdown" => self.do_shutdown(out)?,
            // shutdown-begin
            "shutdown-begin" => self.do_shutdown_begin(out)?,
            // shutdown-write-flag
            "shutdown-write-flag" => {
                let before = self.cluster.view();
                self.cluster.shutdown_write_clean_flag()?;
                out.push(self.flag_written());
                self.print_if_down(&before, out);
            }
            // shutdown-stop-tasks
            "shutdown-stop-tasks" => self.do_shutdown_stop_tasks(out)?,
            // shutdown-stop-flusher
            "shutdown-stop-flusher" => {
                let before = self.cluster.view();
                self.cluster.shutdown_stop_flusher()?;
                out.push("flusher stopped".into());
                self.print_if_down(&before, out);
            }
            // warmup [until=PHASE]
            "warmup" => self.do_warmup(d, out)?,
            // fail-over REPLICA: the down active is failed over, REPLICA promoted
            "fail-over" => self.do_fail_over(d, out)?,
            // add-back: the failed-over node rejoins as the last replica
            "add-back" => self.do_add_back(out)?,
            // stats-snapshot
            "stats-snapshot" => {
                self.cluster.stats_snapshot()?;
                out.push("stats.json rewritten without ep_force_shutdown (not clean)".into());
            }
            // connect REPLICA [vb=N]
            "connect" => self.do_connect(d, out)?,
            // stream REPLICA [vb=N]
            "stream" => self.do_stream(d, out)?,
            // disk [vb=N]
            "disk" => self.do_disk(d, out)?,
            // show
            "show" => out.push(self.cluster.view().to_json()),
            // check-divergence
            "check-divergence" => self.check_divergence(out),
            other => unreachable!("Directive::parse accepted {other}"),
        }
        Ok(())
    }

    /// `set KEY [ttl=SECONDS] [vb=N] [value=V]`: a client set; the value defaults to `KEY@N`, N the
    /// number of writes so far.
    fn do_set(&mut self, d: &Directive, out: &mut Vec<String>) -> Result<(), EngineError> {
        let key = d.key.as_deref().expect("checked by parse");
        let vb = d.vb;
        let value = match &d.value {
            Some(v) => v.clone(),
            None => format!("{key}@{}", self.writes + 1),
        };
        let seqno = self.cluster.set(vb, key, &value, d.ttl)?;
        self.writes += 1;
        let mut l = format!("vb {vb} seqno {seqno}: set {key}={value}");
        if let Some(ttl) = d.ttl.filter(|t| *t > 0) {
            // `set` refused an expiry past the clock's limit, so this does not saturate.
            l.push_str(&format!(
                " ttl={ttl} (expires at {})",
                self.cluster.clock().saturating_add(ttl)
            ));
        }
        out.push(l);
        Ok(())
    }

    /// `get KEY [vb=N]`: a client get, which expires the item when it is due.
    fn do_get(&mut self, d: &Directive, out: &mut Vec<String>) -> Result<(), EngineError> {
        let key = d.key.as_deref().expect("checked by parse");
        let vb = d.vb;
        let before = self.cluster.active_items(vb).unwrap_or_default();
        let value = self.cluster.get(vb, key)?;
        let after = self.cluster.active_items(vb).unwrap_or_default();
        if after.len() > before.len() {
            let expiry = newest_expiry(&before, key);
            out.push(format!(
                "vb {vb} seqno {}: expire {key} (expired at {}, clock {})",
                after.len(),
                expiry.map_or("?".into(), |e| e.to_string()),
                self.cluster.clock()
            ));
        } else {
            match value {
                Some(v) => out.push(format!("vb {vb}: get {key} = {v}")),
                None => out.push(format!("vb {vb}: get {key}: not found")),
            }
        }
        Ok(())
    }

    /// `expiry-pager`: one run of the expiry pager over every vb.
    fn do_expiry_pager(&mut self, out: &mut Vec<String>) -> Result<(), EngineError> {
        let before: Vec<Vec<Item>> = (0..self.cluster.vbuckets())
            .map(|vb| self.cluster.active_items(vb).unwrap_or_default())
            .collect();
        let expired = self.cluster.run_expiry_pager()?;
        for vb in 0..self.cluster.vbuckets() {
            let seqnos: Vec<u64> = expired
                .iter()
                .filter(|(v, _)| *v == vb)
                .map(|(_, s)| *s)
                .collect();
            if !seqnos.is_empty() {
                self.print_expiries(vb, &before[vb as usize], &seqnos, out);
            }
        }
        if expired.is_empty() {
            out.push("nothing expired".into());
        }
        Ok(())
    }

    /// `flush [vb=N]`: flush that vb, or every notified vb.
    fn do_flush(&mut self, d: &Directive, out: &mut Vec<String>) -> Result<(), EngineError> {
        if d.vb_given {
            self.flush_one(d.vb, out)?;
        } else {
            let vbs = self.cluster.notified_vbs();
            if vbs.is_empty() {
                out.push("nothing to flush (no vb notified)".into());
            }
            for vb in vbs {
                self.flush_one(vb, out)?;
            }
        }
        Ok(())
    }

    /// `shutdown`: a whole clean shutdown, its steps in the design's order.
    fn do_shutdown(&mut self, out: &mut Vec<String>) -> Result<(), EngineError> {
        let mut before = self.cluster.view();
        self.cluster.shutdown_begin()?;
        out.push("shutdown-begin: traffic, expiry and DCP stopped".into());
        let steps: &[&str] = if self.flag_before_flush() {
            &["flag", "flush", "stop", "tasks"]
        } else {
            &["flush", "stop", "tasks", "flag"]
        };
        for step in steps {
            before = self.cluster.view(); // losses are judged just before the last step
            match *step {
                "flag" => {
                    self.cluster.shutdown_write_clean_flag()?;
                    out.push(format!("shutdown-write-flag: {}", self.flag_written()));
                }
                "tasks" => {
                    self.cluster.shutdown_stop_tasks()?;
                    out.push(
                        "shutdown-stop-tasks: warmup, expiry pager and compaction stopped".into(),
                    );
                }
                "flush" => {
                    for vb in self.cluster.notified_vbs() {
                        self.flush_one(vb, out)?;
                    }
                }
                _ => {
                    self.cluster.shutdown_stop_flusher()?;
                    out.push("shutdown-stop-flusher: flusher stopped".into());
                }
            }
        }
        self.print_if_down(&before, out);
        Ok(())
    }

    /// `shutdown-begin`: the first step of a clean shutdown alone.
    fn do_shutdown_begin(&mut self, out: &mut Vec<String>) -> Result<(), EngineError> {
        let was = self.cluster.process();
        self.cluster.shutdown_begin()?;
        let mut l = "client traffic and DCP stopped; streams dropped".to_string();
        if let Process::Warming(p) = was {
            l.push_str(&format!(
                "; warmup (after {p}) goes on until the tasks stop"
            ));
        }
        out.push(l);
        Ok(())
    }

    /// `shutdown-stop-tasks`: stop warmup, the expiry pager and compaction.
    fn do_shutdown_stop_tasks(&mut self, out: &mut Vec<String>) -> Result<(), EngineError> {
        let before = self.cluster.view();
        self.cluster.shutdown_stop_tasks()?;
        out.push("warmup, expiry pager and compaction stopped".into());
        for (b, a) in before
            .active
            .vbuckets
            .iter()
            .zip(&self.cluster.view().active.vbuckets)
        {
            if a.queued != b.queued {
                out.push(format!(
                    "vb {}: warmup stopped: set_vbucket_state queued (never flushed: the flusher stopped)",
                    a.vb
                ));
            }
        }
        self.print_if_down(&before, out);
        Ok(())
    }

    /// `warmup [until=PHASE]`: warmup steps until PHASE (default: complete).
    fn do_warmup(&mut self, d: &Directive, out: &mut Vec<String>) -> Result<(), EngineError> {
        let until = d.until.unwrap_or(Phase::Complete);
        loop {
            let done = match self.cluster.process() {
                Process::Warming(p) => p >= until,
                Process::ShuttingDown { warmup, .. } => warmup.is_none_or(|p| p >= until),
                Process::Running => until == Phase::Complete,
                Process::Down => false,
            };
            if done {
                break;
            }
            let before = self.cluster.view();
            let phase = self.cluster.warmup_step()?;
            self.print_phase(phase, &before, out);
        }
        Ok(())
    }

    /// `fail-over REPLICA`: the down active is failed over, REPLICA promoted.
    fn do_fail_over(&mut self, d: &Directive, out: &mut Vec<String>) -> Result<(), EngineError> {
        let r = d.replica.expect("checked by parse");
        let name = crate::engine::replica_name(r);
        self.cluster.fail_over(r)?;
        let roles = self.cluster.roles().clone();
        out.push(format!(
            "failed over: {name} (node {}) promoted; node {} is out",
            crate::engine::node_name(roles.active),
            roles
                .failed_over
                .map_or("-".into(), crate::engine::node_name)
        ));
        for vb in 0..self.cluster.vbuckets() {
            if let Some(t) = self.cluster.active_failover(vb) {
                out.push(format!("vb {vb}: table {t} (set_vbucket_state queued)"));
            }
        }
        Ok(())
    }

    /// `add-back`: the failed-over node rejoins as the last replica.
    fn do_add_back(&mut self, out: &mut Vec<String>) -> Result<(), EngineError> {
        let node = self.cluster.roles().failed_over;
        self.cluster.add_back()?;
        let r = self.cluster.replicas() - 1;
        out.push(format!(
            "added back: node {} is {}",
            node.map_or("-".into(), crate::engine::node_name),
            crate::engine::replica_name(r)
        ));
        for vb in 0..self.cluster.vbuckets() {
            let t = self.cluster.replica_failover(r, vb);
            out.push(format!("vb {vb}: table {t}"));
        }
        Ok(())
    }

    /// `connect REPLICA [vb=N]`: stream requests until the producer accepts (at most 64).
    fn do_connect(&mut self, d: &Directive, out: &mut Vec<String>) -> Result<(), EngineError> {
        let r = d.replica.expect("checked by parse");
        let vb = d.vb;
        let name = crate::engine::replica_name(r);
        for _ in 0..64 {
            let view = self.cluster.view();
            let rv = &view.replicas[r].vbuckets[vb as usize];
            let req = format!(
                "{name} vb {vb}: request start {} uuid U{} snap [{},{}]",
                rv.high_seqno,
                rv.failover.first().map_or(0, |e| e.id),
                rv.snap_start,
                rv.snap_end
            );
            let outcome = self.cluster.stream_request(r, vb)?;
            let table = self.cluster.replica_failover(r, vb);
            let rv = self.cluster.replica_items(r, vb);
            match outcome {
                StreamOutcome::Accepted => {
                    out.push(format!("{req} -> accepted, adopted {table}"));
                    return Ok(());
                }
                StreamOutcome::RolledBack {
                    to,
                    dropped_entry: true,
                } => out.push(format!(
                    "{req} -> rollback to {to}: dropped newest entry, now {table}"
                )),
                StreamOutcome::RolledBack { to, .. } => out.push(format!(
                    "{req} -> rollback to {to}: rewound to {}, now {table}",
                    rv.len()
                )),
            }
        }
        out.push("gave up after 64 round trips".into());
        Ok(())
    }

    /// `stream REPLICA [vb=N]`: deliver every mutation the replica lacks.
    fn do_stream(&mut self, d: &Directive, out: &mut Vec<String>) -> Result<(), EngineError> {
        let r = d.replica.expect("checked by parse");
        let vb = d.vb;
        let name = crate::engine::replica_name(r);
        let seqnos = self.cluster.stream_all(r, vb)?;
        if seqnos.is_empty() {
            out.push(format!(
                "{name} vb {vb}: up to date at {}",
                self.cluster.replica_items(r, vb).len()
            ));
        } else {
            let items = self.cluster.replica_items(r, vb);
            let what: Vec<String> = seqnos
                .iter()
                .map(|s| format!("{s}:{}", items[*s as usize - 1].describe()))
                .collect();
            out.push(format!("{name} vb {vb}: received {}", what.join(" ")));
        }
        Ok(())
    }

    /// `disk [vb=N]`: what the vb's data file holds.
    fn do_disk(&mut self, d: &Directive, out: &mut Vec<String>) -> Result<(), EngineError> {
        let vb = d.vb;
        let view = self.cluster.view();
        let v = &view.active.vbuckets[vb as usize];
        let items = self.cluster.active_items_on_disk(vb);
        out.push(format!(
            "vb {vb} disk: high {}, failover {}, items {}",
            v.persisted_seqno,
            show_table(&v.failover_on_disk),
            show_items(&items)
        ));
        Ok(())
    }

    fn flag_before_flush(&self) -> bool {
        self.cluster.variant().shutdown_flag == crate::engine::ShutdownFlag::BeforeFlush
            || self.cluster.bugs().clean_flag_before_final_flush
    }

    /// What the shutdown's flag step did to stats.json.
    fn flag_written(&self) -> String {
        if self.cluster.view().active.clean_shutdown_flag {
            "stats.json says clean".into()
        } else {
            "stats.json left as it is (not clean): warmup did not persist every vbstate".into()
        }
    }

    fn flush_one(&mut self, vb: u16, out: &mut Vec<String>) -> Result<(), EngineError> {
        let seqnos = match self.cluster.flush(vb) {
            Ok(s) => s,
            Err(e @ EngineError::FlushFailed { .. }) => {
                let view = self.cluster.view();
                let v = &view.active.vbuckets[vb as usize];
                out.push(format!(
                    "vb {vb}: flush failed ({}): nothing committed; disk high {}, failover {}; \
                     still queued {}, flusher {}notified",
                    root_cause(&e),
                    v.persisted_seqno,
                    show_table(&v.failover_on_disk),
                    v.queued.as_ref().map_or(String::new(), |q| q.join(" ")),
                    if v.flusher_notified { "" } else { "not " }
                ));
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        let view = self.cluster.view();
        let v = &view.active.vbuckets[vb as usize];
        let what = if seqnos.is_empty() {
            "commit (no mutations)".to_string()
        } else {
            format!("commit {}", show_seqnos(&seqnos))
        };
        out.push(format!(
            "vb {vb}: {what}; disk high {}, failover {}",
            v.persisted_seqno,
            show_table(&v.failover_on_disk)
        ));
        Ok(())
    }

    fn print_expiries(&self, vb: u16, before: &[Item], seqnos: &[u64], out: &mut Vec<String>) {
        if seqnos.is_empty() {
            out.push(format!("vb {vb}: nothing expired"));
        }
        let after = self.cluster.active_items(vb).unwrap_or_default();
        for s in seqnos {
            let key = &after[*s as usize - 1].key;
            out.push(format!(
                "vb {vb} seqno {s}: expire {key} (expired at {}, clock {})",
                newest_expiry(before, key).map_or("?".into(), |e| e.to_string()),
                self.cluster.clock()
            ));
        }
    }

    fn print_flag(&self, out: &mut Vec<String>) {
        let clean = self.cluster.view().active.clean_shutdown_flag;
        out.push(format!(
            "stats.json says {}",
            if clean { "clean" } else { "not clean" }
        ));
    }

    /// What the node lost going down: unpersisted seqnos and queued set_vbucket_state items.
    fn print_losses(&self, before: &View, out: &mut Vec<String>) {
        let after = self.cluster.view();
        for (b, a) in before.active.vbuckets.iter().zip(&after.active.vbuckets) {
            if let Some(high) = b.high_seqno {
                if high > a.persisted_seqno {
                    out.push(format!(
                        "vb {}: lost {} (persisted {})",
                        b.vb,
                        show_seqnos(&(a.persisted_seqno + 1..=high).collect::<Vec<_>>()),
                        a.persisted_seqno
                    ));
                }
            }
            let lost_state = b
                .queued
                .as_ref()
                .is_some_and(|q| q.iter().any(|x| x == "set_vbucket_state"));
            if lost_state {
                out.push(format!(
                    "vb {}: lost queued set_vbucket_state (disk failover {})",
                    b.vb,
                    show_table(&a.failover_on_disk)
                ));
            }
        }
    }

    fn print_if_down(&self, before: &View, out: &mut Vec<String>) {
        if self.cluster.process() == Process::Down {
            out.push("active down (clean shutdown)".into());
            self.print_losses(before, out);
        }
    }

    fn print_phase(&self, phase: Phase, before: &View, out: &mut Vec<String>) {
        let after = self.cluster.view();
        match phase {
            Phase::Initialize => {
                let mut l = format!(
                    "initialize: stats.json says {}",
                    if after.active.warmup_read_clean == Some(true) {
                        "clean"
                    } else {
                        "not clean"
                    }
                );
                if self.cluster.variant().shutdown_flag.after_flush() {
                    l.push_str("; ep_force_shutdown=true written");
                }
                out.push(l);
            }
            Phase::CreateVBuckets => {
                let unclean = after.active.warmup_read_clean == Some(false);
                for v in &after.active.vbuckets {
                    let table = v.failover.as_deref().unwrap_or_default();
                    let mut l = format!(
                        "create-vbuckets: vb {} high {}, failover {}",
                        v.vb,
                        v.high_seqno.unwrap_or(0),
                        show_table(table)
                    );
                    if unclean
                        && (table.len() > v.failover_on_disk.len()
                            || table.first() != v.failover_on_disk.first())
                    {
                        let e = table[0];
                        l.push_str(&format!(" (unclean: new entry U{} at {}", e.id, e.seq));
                        if v.queued.as_ref().is_some_and(|q| !q.is_empty()) {
                            l.push_str("; set_vbucket_state queued, flusher not notified");
                        }
                        l.push(')');
                    } else if unclean {
                        l.push_str(" (unclean, but no new entry)");
                    } else {
                        l.push_str(" (clean: no new entry)");
                    }
                    out.push(l);
                }
            }
            Phase::PopulateVBucketMap => {
                for (b, v) in before.active.vbuckets.iter().zip(&after.active.vbuckets) {
                    let mut l = format!("populate-vbucket-map: vb {} in the map", v.vb);
                    if v.failover_on_disk != b.failover_on_disk {
                        l.push_str(&format!(
                            " (after a sync flush: disk failover {})",
                            show_table(&v.failover_on_disk)
                        ));
                    } else if v.flusher_notified {
                        l.push_str(&format!(
                            " (queued {}, flusher notified)",
                            v.queued.as_ref().map_or(String::new(), |q| q.join(" "))
                        ));
                    } else if v.queued.as_ref().is_some_and(|q| !q.is_empty()) {
                        l.push_str(&format!(
                            " (queued {}, flusher not notified)",
                            v.queued.as_ref().map_or(String::new(), |q| q.join(" "))
                        ));
                    }
                    out.push(l);
                }
                if after.active.traffic_refused && !before.active.traffic_refused {
                    out.push(
                        "populate-vbucket-map: a synchronous vbstate flush failed \
                         (failedToSetAVbucketState): client writes refused until restart"
                            .into(),
                    );
                }
            }
            Phase::LoadingData => out.push("loading-data".into()),
            Phase::Done => out.push("done".into()),
            Phase::Complete => {
                let mut l = match self.cluster.process() {
                    Process::Running => "complete: running".to_string(),
                    _ => "complete: warmup ended (the node is shutting down)".to_string(),
                };
                let queued: Vec<String> = after
                    .active
                    .vbuckets
                    .iter()
                    .zip(&before.active.vbuckets)
                    .filter(|(a, b)| a.queued != b.queued)
                    .map(|(a, _)| a.vb.to_string())
                    .collect();
                if !queued.is_empty() {
                    l.push_str(&format!(
                        "; set_vbucket_state queued for vb {}",
                        queued.join(", ")
                    ));
                }
                out.push(l);
            }
        }
    }

    fn check_divergence(&self, out: &mut Vec<String>) {
        let before = out.len();
        for vb in 0..self.cluster.vbuckets() {
            let (active, whose) = match self.cluster.active_items(vb) {
                Some(items) => (items, "active"),
                None => (self.cluster.active_items_on_disk(vb), "active (on disk)"),
            };
            for r in 0..self.cluster.replicas() {
                let items = self.cluster.replica_items(r, vb);
                let stream = self.cluster.replica_stream(r, vb);
                for (x, y) in items.iter().zip(&active) {
                    if !x.same_content(y) {
                        out.push(format!(
                            "diverged: vb {vb} {} seqno {}: {whose} has {}, replica has {} (stream {stream})",
                            crate::engine::replica_name(r),
                            x.seqno,
                            y.describe(),
                            x.describe()
                        ));
                        break;
                    }
                }
            }
        }
        if out.len() == before {
            out.push("no divergence".into());
        }
    }
}

/// The storage backend a scenario uses when none is given.
fn default_backend() -> StorageBackend {
    crate::engine::default_backend()
}

// ---------------------------------------------------------------------------------------------
// Directive parsing
// ---------------------------------------------------------------------------------------------

/// A parsed directive: the command and its arguments, checked for shape (not for state).
#[derive(Debug)]
struct Directive {
    cmd: String,
    key: Option<String>,
    value: Option<String>,
    ttl: Option<u64>,
    vb: u16,
    vb_given: bool,
    secs: Option<u64>,
    count: Option<u32>,
    until: Option<Phase>,
    replica: Option<usize>,
}

/// Per command: positional argument kinds and the `name=` options it takes.
fn grammar(cmd: &str) -> Option<(&'static [&'static str], &'static [&'static str])> {
    Some(match cmd {
        "set" => (&["KEY"], &["ttl", "vb", "value"]),
        "delete" | "get" | "expire" => (&["KEY"], &["vb"]),
        "advance-clock" => (&["SECONDS"], &[]),
        "fail-next-flushes" => (&["COUNT"], &[]),
        "compact" | "flush" | "disk" => (&[], &["vb"]),
        "connect" | "stream" | "fail-over" => (&["REPLICA"], &["vb"]),
        "warmup" => (&[], &["until"]),
        "expiry-pager"
        | "crash"
        | "shutdown"
        | "shutdown-begin"
        | "shutdown-write-flag"
        | "shutdown-stop-flusher"
        | "shutdown-stop-tasks"
        | "stats-snapshot"
        | "add-back"
        | "show"
        | "check-divergence" => (&[], &[]),
        _ => return None,
    })
}

const COMMANDS: &str = "set, delete, get, advance-clock, compact, expiry-pager, expire, flush, \
    fail-next-flushes, crash, shutdown, shutdown-begin, shutdown-write-flag, \
    shutdown-stop-flusher, shutdown-stop-tasks, warmup, stats-snapshot, connect, stream, \
    fail-over, add-back, disk, show, check-divergence";

impl Directive {
    fn parse(line: usize, text: &str) -> Result<Directive, ScenarioError> {
        let bad = |what: String| ScenarioError::BadDirective { line, what };
        let mut words = text.split_whitespace();
        let cmd = words.next().expect("a directive is not blank").to_string();
        let Some((positional, options)) = grammar(&cmd) else {
            return Err(bad(format!(
                "unknown directive '{cmd}' (known: {COMMANDS})"
            )));
        };
        let usage = || {
            let mut u = cmd.clone();
            for p in positional {
                u.push(' ');
                u.push_str(p);
            }
            for o in options {
                u.push_str(&format!(" [{o}=...]"));
            }
            u
        };
        let mut d = Directive {
            cmd: cmd.clone(),
            key: None,
            value: None,
            ttl: None,
            vb: 0,
            vb_given: false,
            secs: None,
            count: None,
            until: None,
            replica: None,
        };
        let mut args = Vec::new();
        for w in words {
            match w.split_once('=') {
                Some((name, v)) => {
                    if !options.contains(&name) {
                        return Err(bad(format!(
                            "{cmd}: unknown option '{name}' (usage: {})",
                            usage()
                        )));
                    }
                    let num = |v: &str| {
                        v.parse::<u64>()
                            .ok()
                            .filter(|n| *n <= MAX_SECONDS)
                            .ok_or_else(|| {
                                bad(format!(
                                    "{cmd}: {name}={v} is not a whole number of seconds in \
                                     0..={MAX_SECONDS}"
                                ))
                            })
                    };
                    match name {
                        "ttl" => d.ttl = Some(num(v)?),
                        "vb" => {
                            d.vb = v.parse::<u16>().map_err(|_| {
                                bad(format!("{cmd}: vb={v} is not a vbucket number"))
                            })?;
                            d.vb_given = true;
                        }
                        "value" => d.value = Some(v.to_string()),
                        "until" => {
                            d.until = Some(
                                v.parse::<Phase>()
                                    .map_err(|e| bad(format!("{cmd}: until: {e}")))?,
                            )
                        }
                        _ => unreachable!("options are listed in grammar()"),
                    }
                }
                None => args.push(w),
            }
        }
        if args.len() != positional.len() {
            return Err(bad(format!(
                "{cmd}: expected {} argument{}, got {} (usage: {})",
                positional.len(),
                if positional.len() == 1 { "" } else { "s" },
                args.len(),
                usage()
            )));
        }
        for (kind, a) in positional.iter().zip(args) {
            match *kind {
                "KEY" => d.key = Some(a.to_string()),
                "SECONDS" => {
                    d.secs = Some(
                        a.parse::<u64>()
                            .ok()
                            .filter(|n| *n <= MAX_SECONDS)
                            .ok_or_else(|| {
                                bad(format!(
                                    "{cmd}: '{a}' is not a number of seconds in 0..={MAX_SECONDS}"
                                ))
                            })?,
                    )
                }
                "COUNT" => {
                    d.count = Some(a.parse::<u32>().map_err(|_| {
                        bad(format!("{cmd}: '{a}' is not a count (0..={})", u32::MAX))
                    })?)
                }
                "REPLICA" => {
                    // Spelled one way only (`r1`, not `r01` or `r+1`): a lenient reading
                    // makes two names one replica.
                    let n = a
                        .strip_prefix('r')
                        .filter(|n| n.bytes().all(|b| b.is_ascii_digit()) && !n.starts_with('0'))
                        .and_then(|n| n.parse::<usize>().ok())
                        .filter(|n| *n >= 1)
                        .ok_or_else(|| {
                            bad(format!("{cmd}: '{a}' is not a replica name (r1, r2, ...)"))
                        })?;
                    d.replica = Some(n - 1);
                }
                _ => unreachable!("positional kinds are listed in grammar()"),
            }
        }
        Ok(d)
    }
}

impl Runner {
    /// Reject directives naming a vb or replica this cluster does not have, before running.
    fn check_targets(&self, line: usize, d: &Directive) -> Result<(), ScenarioError> {
        let bad = |what: String| ScenarioError::BadDirective { line, what };
        if d.vb >= self.cluster.vbuckets() {
            return Err(bad(format!(
                "{}: no vb {} (this scenario has vbuckets 0..{})",
                d.cmd,
                d.vb,
                self.cluster.vbuckets()
            )));
        }
        if let Some(r) = d.replica {
            if r >= self.cluster.replicas() {
                let names: Vec<String> = (0..self.cluster.replicas())
                    .map(crate::engine::replica_name)
                    .collect();
                return Err(bad(format!(
                    "{}: no replica r{} (this scenario has {} replica{}: {})",
                    d.cmd,
                    r + 1,
                    self.cluster.replicas(),
                    if self.cluster.replicas() == 1 {
                        ""
                    } else {
                        "s"
                    },
                    names.join(", ")
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_script_renders_as_a_data_file() {
        let out = run_script("# hello\nset a\n\nshow\n", ScenarioOptions::default()).unwrap();
        assert!(
            out.starts_with("# hello\nset a\n----\nvb 0 seqno 1: set a=a@1\n\nshow\n----\n{"),
            "{out}"
        );
        assert!(!out.ends_with("\n\n"), "no blank line at the end: {out}");
        assert_eq!(parse_data(&out).len(), 3, "{out}");
    }

    #[test]
    fn a_data_file_runs_as_a_script_ignoring_its_expected_blocks() {
        let first = run_script("set a\nflush\n", ScenarioOptions::default()).unwrap();
        let second = run_script(&first, ScenarioOptions::default()).unwrap();
        assert_eq!(first, second);
    }

    #[test]
    fn per_variant_groups_split_back_into_each_variants_lines() {
        let per = vec![
            ("v6.5.1".to_string(), vec!["a".to_string()]),
            (
                "current".to_string(),
                vec!["b".to_string(), "c".to_string()],
            ),
        ];
        let merged = merge_variant_outputs(&per);
        assert_eq!(merged, vec!["[v6.5.1]", "a", "[current]", "b", "c"]);
        let names = vec!["v6.5.1".to_string(), "current".to_string()];
        assert_eq!(
            expected_for_variant(&merged, "current", &names),
            vec!["b", "c"]
        );
        assert_eq!(
            expected_for_variant(&["x".into()], "current", &names),
            vec!["x"]
        );
    }

    #[test]
    fn an_unknown_directive_names_its_line() {
        let err = run_script("set a\n\nfrobnicate\n", ScenarioOptions::default()).unwrap_err();
        assert_eq!(
            err.to_string().split(" (known").next().unwrap(),
            "line 3: unknown directive 'frobnicate'"
        );
    }

    #[test]
    fn connect_to_a_replica_that_does_not_exist_is_a_scenario_error() {
        let err = run_script("connect r9\n", ScenarioOptions::default()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "line 1: connect: no replica r9 (this scenario has 1 replica: r1)"
        );
    }

    #[test]
    fn a_refused_call_prints_an_error_and_the_script_goes_on() {
        let out = run_script("crash\nset a\nwarmup\nset a\n", ScenarioOptions::default()).unwrap();
        assert!(
            out.contains(
                "set a\n----\nerror: TemporaryFailure: vb 0 is not taking traffic (down)\n"
            ),
            "{out}"
        );
        assert!(out.contains("vb 0 seqno 1: set a=a@1"), "{out}");
    }
}
