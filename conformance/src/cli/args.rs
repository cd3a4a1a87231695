//! The argument groups several subcommands share: the design (a preset and its knobs), the
//! model's bounds, the report outputs, and the storage backend. A new model flag belongs in
//! [`DesignArgs`] (a knob of the design) or [`BoundsArgs`] (a bound of the model), so that every
//! command studying the model takes it at once.
//!
//! Every count has an upper bound, stated in its help and enforced by clap (exit 2), chosen
//! from what the model and the implementation can represent: the model keeps seqnos, uuids and
//! values in a `u8` (`Bounds::into_model` asserts at most 60 client writes, 20 crashes and 8
//! vbuckets), so no flag lets a value reach that assert.

use std::path::{Path, PathBuf};
use warmcheck_impl::engine::StorageBackend;
use warmcheck_model::{
    Bounds, PersistEntry, Reverted, RollbackRetry, ShutdownFlag, StopWarmup, Variant,
};

/// The largest vbucket count, client writes, crashes and clean shutdowns the model takes
/// (`Bounds::into_model`).
pub use crate::validate::{MAX_CRASHES, MAX_SHUTDOWNS, MAX_VBUCKETS, MAX_WRITES};
/// The largest replica count the model takes (and the implementation's commands allow).
pub const MAX_REPLICAS: u8 = 8;
/// The largest key count the model's exhaustive commands take.
pub const MAX_KEYS: u8 = 8;
/// The most threads (checker threads, conform jobs) a command starts.
pub const MAX_THREADS: u64 = 1024;
/// The most steps, walks or calls a seeded run makes.
pub const MAX_STEPS: u64 = 1_000_000_000;

/// Which design to study: a preset, optionally with one knob overridden.
#[derive(clap::Args, Clone, Debug)]
pub struct DesignArgs {
    /// The design: v6.5.1, mb41942, mb43744, mb41257, current or proposed.
    #[arg(long, default_value = "current", value_parser = parse_variant)]
    variant: Variant,
    /// Where the vbstate carrying a new failover entry is persisted (overrides the preset):
    /// at-complete, queue-at-create, queue-at-populate or sync-flush.
    #[arg(long, value_parser = |s: &str| s.parse::<PersistEntry>())]
    persist_entry: Option<PersistEntry>,
    /// When the clean-shutdown flag is written, and what guards it (overrides the preset):
    /// before-flush, after-flush, after-flush-if-has-loaded-metadata (the literal
    /// hasLoadedMetaData() guard, which diverges), after-flush-if-vb-map-populated (proposed)
    /// or after-flush-if-loaded-before-stop.
    #[arg(long, value_parser = |s: &str| s.parse::<ShutdownFlag>())]
    shutdown_flag: Option<ShutdownFlag>,
    /// Whether a consumer told to roll back to 0 retries with its older uuid (overrides the
    /// preset): always (before MB-48398) or if-entry-at-start.
    #[arg(long, value_parser = |s: &str| s.parse::<RollbackRetry>())]
    rollback_retry: Option<RollbackRetry>,
    /// Where a shutdown stops warmup (overrides the preset): in-deinitialize (after the
    /// flusher stopped; v6.5.1 to v7.0.1) or in-initiate-shutdown (when the shutdown begins;
    /// MB-47851 on, kv_engine today).
    #[arg(long, value_parser = |s: &str| s.parse::<StopWarmup>())]
    stop_warmup: Option<StopWarmup>,
    /// Revert an older fix of the family, to see its MB's story (repeatable, or joined with
    /// +): mb11085 (no entry at the newest entry's seqno), mb21769 (a set_vbucket_state
    /// counted in the snapshot range), mb37920 (the vbstate cache updated before the write),
    /// mb20822 (createEntry leaves every second stale entry; shows only with --failovers).
    /// `none` clears the preset's (v6.5.1 and mb41942 lack MB-37920's fix).
    #[arg(long, value_parser = |s: &str| s.parse::<Reverted>())]
    revert_fix: Vec<Reverted>,
}

pub fn parse_variant(s: &str) -> Result<Variant, String> {
    s.parse()
}

impl DesignArgs {
    /// The preset with the knobs given applied.
    pub fn design(&self) -> Variant {
        self.apply_knobs(self.variant)
    }

    /// `base` with the knobs given applied.
    pub fn apply_knobs(&self, mut base: Variant) -> Variant {
        if let Some(p) = self.persist_entry {
            base.persist_entry = p;
        }
        if let Some(f) = self.shutdown_flag {
            base.shutdown_flag = f;
        }
        if let Some(r) = self.rollback_retry {
            base.rollback_retry = r;
        }
        if let Some(w) = self.stop_warmup {
            base.stop_warmup = w;
        }
        for r in &self.revert_fix {
            if r.is_empty() {
                base.reverted = Reverted::default();
            }
            base.reverted.mb11085 |= r.mb11085;
            base.reverted.mb21769 |= r.mb21769;
            base.reverted.mb37920 |= r.mb37920;
            base.reverted.mb20822 |= r.mb20822;
        }
        base
    }
}

/// The bounds of the model.
#[derive(clap::Args, Clone, Debug)]
pub struct BoundsArgs {
    /// Vbuckets on the active node (1..=8).
    #[arg(long, default_value_t = Bounds::default().vbuckets, value_parser = clap::value_parser!(u8).range(1..=MAX_VBUCKETS as i64))]
    vbuckets: u8,
    /// Replica nodes (0..=8).
    #[arg(long, default_value_t = Bounds::default().replicas, value_parser = clap::value_parser!(u8).range(0..=MAX_REPLICAS as i64))]
    replicas: u8,
    /// Distinct keys clients write (1..=8).
    #[arg(long, default_value_t = Bounds::default().keys, value_parser = clap::value_parser!(u8).range(1..=MAX_KEYS as i64))]
    keys: u8,
    /// Client writes (sets and deletes) in a whole behaviour (0..=60).
    #[arg(long, default_value_t = Bounds::default().writes, value_parser = clap::value_parser!(u8).range(0..=MAX_WRITES as i64))]
    writes: u8,
    /// Crashes of the active node (0..=20).
    #[arg(long, default_value_t = Bounds::default().crashes, value_parser = clap::value_parser!(u8).range(0..=MAX_CRASHES as i64))]
    crashes: u8,
    /// Clean shutdowns of the active node (0..=20).
    #[arg(long, default_value_t = Bounds::default().shutdowns, value_parser = clap::value_parser!(u8).range(0..=MAX_SHUTDOWNS as i64))]
    shutdowns: u8,
    /// Failed flushes (the flusher's, or warmup's synchronous vbstate flush) in a whole
    /// behaviour (0..=20).
    #[arg(long, default_value_t = Bounds::default().flush_failures, value_parser = clap::value_parser!(u8).range(0..=MAX_FLUSH_FAILURES as i64))]
    flush_failures: u8,
    /// Failovers: the cluster manager promotes a replica of the down active, and may add the
    /// failed-over node back as a replica (0..=20; `conform` and `replay` drive them on the
    /// implementation, and on a SUT that speaks protocol version 2).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=20))]
    failovers: u8,
}

/// The most failed flushes a behaviour may have (`Bounds::into_model`).
pub const MAX_FLUSH_FAILURES: u8 = 20;

impl BoundsArgs {
    pub fn bounds(&self) -> Bounds {
        Bounds {
            vbuckets: self.vbuckets,
            replicas: self.replicas,
            keys: self.keys,
            writes: self.writes,
            crashes: self.crashes,
            shutdowns: self.shutdowns,
            flush_failures: self.flush_failures,
            failovers: self.failovers,
        }
    }
}

/// The cluster's shape for the seeded workloads (`soak`, `workload`); their counters take the
/// model's largest bounds.
#[derive(clap::Args, Clone, Debug)]
pub struct ShapeArgs {
    /// Vbuckets on the active node (1..=8).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u8).range(1..=MAX_VBUCKETS as i64))]
    pub vbuckets: u8,
    /// Replica nodes (0..=8).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(0..=MAX_REPLICAS as i64))]
    pub replicas: u8,
    /// Distinct keys clients write (1..=8).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u8).range(1..=MAX_KEYS as i64))]
    pub keys: u8,
}

/// The model's counters for a long run on the implementation (`validate`, `workload`): by
/// default the largest the model takes.
#[derive(clap::Args, Clone, Debug)]
pub struct BudgetArgs {
    /// Client writes (sets and deletes) in the whole log (0..=60).
    #[arg(long, default_value_t = MAX_WRITES, value_parser = clap::value_parser!(u8).range(0..=MAX_WRITES as i64))]
    pub writes: u8,
    /// Crashes of the active node (0..=20).
    #[arg(long, default_value_t = MAX_CRASHES, value_parser = clap::value_parser!(u8).range(0..=MAX_CRASHES as i64))]
    pub crashes: u8,
    /// Clean shutdowns of the active node (0..=20).
    #[arg(long, default_value_t = MAX_SHUTDOWNS, value_parser = clap::value_parser!(u8).range(0..=MAX_SHUTDOWNS as i64))]
    pub shutdowns: u8,
}

/// The number of cores (1 if unknown): the default of `check --threads` and `conform --jobs`.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The machine-readable reports a gating command writes (docs/reports.md).
#[derive(clap::Args, Clone, Debug)]
pub struct ReportArgs {
    /// Write a JSON report (schema: docs/reports.md).
    #[arg(long, value_name = "PATH")]
    pub json: Option<PathBuf>,
    /// Write a JUnit XML report (its test cases: docs/reports.md).
    #[arg(long, value_name = "PATH")]
    pub junit: Option<PathBuf>,
}

impl ReportArgs {
    /// Refuse, before a long run starts, a report path that cannot be written, and two reports
    /// written to one file.
    pub fn check_writable(&self) -> Result<(), String> {
        for path in self.json.iter().chain(&self.junit) {
            check_file_writable(path)?;
        }
        check_outputs_apart(&[
            ("--json", self.json.as_deref()),
            ("--junit", self.junit.as_deref()),
        ])
    }
}

/// The file `path` names, for telling whether two paths are one file: its device and inode if
/// it exists, else its directory's canonical path and its name.
fn file_identity(path: &Path) -> Option<Result<(u64, u64), PathBuf>> {
    use std::os::unix::fs::MetadataExt;
    if let Ok(m) = std::fs::metadata(path) {
        return Some(Ok((m.dev(), m.ino())));
    }
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    Some(Err(std::fs::canonicalize(parent)
        .ok()?
        .join(path.file_name()?)))
}

/// Refuse an output (`flag`, `output`) that is one of the `inputs` (through any path or link):
/// writing it would destroy what the command reads, before or while it reads it.
pub fn check_not_an_input(flag: &str, output: &Path, inputs: &[&Path]) -> Result<(), String> {
    let out = file_identity(output);
    for input in inputs {
        if out.is_some() && file_identity(input) == out {
            return Err(format!(
                "{flag} {}: that is the input {}; refusing to overwrite it",
                output.display(),
                input.display()
            ));
        }
    }
    Ok(())
}

/// Refuse two outputs (`flag`, path) that are one file: the second would overwrite the first.
pub fn check_outputs_apart(outputs: &[(&str, Option<&Path>)]) -> Result<(), String> {
    let given: Vec<(&str, &Path)> = outputs
        .iter()
        .filter_map(|(f, p)| p.map(|p| (*f, p)))
        .collect();
    for (i, (flag, path)) in given.iter().enumerate() {
        let id = file_identity(path);
        for (other_flag, other) in &given[i + 1..] {
            if id.is_some() && file_identity(other) == id {
                return Err(format!(
                    "{flag} {} and {other_flag} {} are one file: one would overwrite the other",
                    path.display(),
                    other.display()
                ));
            }
        }
    }
    Ok(())
}

/// Where counterexample or mismatch traces go.
#[derive(clap::Args, Clone, Debug)]
pub struct TraceDirArgs {
    /// Where traces are written (created when a trace is).
    #[arg(long, value_name = "DIR", default_value = "warmcheck-traces")]
    pub trace_dir: PathBuf,
}

impl TraceDirArgs {
    /// Refuse, before a long run starts, a trace directory that cannot be made or written. The
    /// directory itself is not created until a trace is written.
    pub fn check_writable(&self) -> Result<(), String> {
        check_dir_writable(&self.trace_dir)
    }
}

/// Where the implementation keeps its files.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// Real files with real fsync calls (a crash is a process crash; tears do not apply).
    File,
    /// The in-memory crashable backend (a crash keeps only synced bytes, or what a tear keeps).
    Faulty,
}

impl Backend {
    /// `--faulty`, the old spelling of `--backend faulty` (hidden; kept for one release).
    pub fn or_faulty(self, faulty: bool) -> Backend {
        if faulty {
            Backend::Faulty
        } else {
            self
        }
    }

    pub fn storage(self) -> StorageBackend {
        match self {
            Backend::File => StorageBackend::file(),
            Backend::Faulty => StorageBackend::faulty(),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Backend::File => "file",
            Backend::Faulty => "faulty",
        }
    }

    /// `--dir` names a directory on disk: it needs the file backend (the faulty one keeps its
    /// files in memory).
    pub fn check_dir(self, dir: Option<&Path>) -> Result<(), String> {
        match (self, dir) {
            (Backend::Faulty, Some(d)) => Err(format!(
                "--dir {} needs --backend file: the faulty backend keeps its files in memory",
                d.display()
            )),
            _ => Ok(()),
        }
    }
}

/// A `--dir` a command creates a fresh bucket in: absent or empty, so that a second run does
/// not stumble on the first one's bucket.
pub fn check_fresh_dir(dir: &Path) -> Result<(), String> {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => match entries.next() {
            None => Ok(()),
            Some(_) => Err(format!(
                "--dir {}: not empty; this command creates a fresh bucket: give a new or empty \
                 directory",
                dir.display()
            )),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => check_dir_writable(dir),
        Err(e) => Err(format!("--dir {}: {e}", dir.display())),
    }
}

/// `path` can be written as a file: its directory exists and takes a new file, and `path` is
/// not a directory.
pub fn check_file_writable(path: &Path) -> Result<(), String> {
    if path.is_dir() {
        return Err(format!("{}: cannot write: is a directory", path.display()));
    }
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !parent.is_dir() {
        return Err(format!(
            "{}: cannot write: {} is not a directory",
            path.display(),
            parent.display()
        ));
    }
    if path.exists() {
        std::fs::OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(|e| format!("{}: cannot write: {e}", path.display()))?;
        return Ok(());
    }
    tempfile::Builder::new()
        .prefix(".warmcheck-probe-")
        .tempfile_in(parent)
        .map(drop)
        .map_err(|e| format!("{}: cannot write: {e}", path.display()))
}

/// `dir` is a writable directory, or can be created: its nearest existing ancestor is a
/// writable directory. Nothing is created.
pub fn check_dir_writable(dir: &Path) -> Result<(), String> {
    let mut probe = dir;
    loop {
        if probe.exists() {
            break;
        }
        match probe.parent() {
            Some(p) if !p.as_os_str().is_empty() => probe = p,
            _ => {
                probe = Path::new(".");
                break;
            }
        }
    }
    if !probe.is_dir() {
        return Err(format!(
            "{}: cannot write: {} is not a directory",
            dir.display(),
            probe.display()
        ));
    }
    tempfile::Builder::new()
        .prefix(".warmcheck-probe-")
        .tempfile_in(probe)
        .map(drop)
        .map_err(|e| format!("{}: cannot write: {e}", dir.display()))
}

/// `--sut CMD` and its timeout: drive a system under test over the protocol
/// (`docs/sut-protocol.md`) instead of the in-process implementation.
#[derive(clap::Args, Clone, Debug)]
pub struct SutArgs {
    /// Drive this command (run with `sh -c`) over the SUT protocol (docs/sut-protocol.md)
    /// instead of the in-process implementation, e.g. --sut 'warmcheck sut'.
    #[arg(long, value_name = "CMD")]
    pub sut: Option<String>,
    /// Seconds the SUT may take to answer one request (0.001..=3600).
    #[arg(long, value_name = "SECS", default_value_t = 10.0, value_parser = parse_timeout)]
    pub sut_timeout: f64,
}

impl SutArgs {
    pub fn timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs_f64(self.sut_timeout)
    }
}

fn parse_timeout(s: &str) -> Result<f64, String> {
    let secs: f64 = s
        .parse()
        .map_err(|_| format!("{s:?} is not a number of seconds"))?;
    if (0.001..=3600.0).contains(&secs) {
        Ok(secs)
    } else {
        Err(format!("{s}: expected 0.001 to 3600 seconds"))
    }
}
