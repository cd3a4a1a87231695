//! The deterministic core: one active node holding `V` vbuckets and `R` replica nodes, stepped
//! one call at a time. The caller owns time (`advance_clock`) and scheduling (which call comes
//! next); the engine owns nothing that runs by itself. Seams: the clock, the uuid generator
//! ([`UuidGen`]) and the storage backend.
//!
//! Each public call stands for one model action of `docs/vocabulary.md` (the table there is
//! the contract) and for one kv_engine function (see `docs/impl.md`). A call the current state
//! does not allow is refused with [`EngineError::TemporaryFailure`] and changes nothing.
//!
//! Architecture invariant: the engine knows nothing of the model or of stateright; it agrees
//! with them only through the vocabulary and the projected [`View`].
//!
//! Areas verified by the assertions here (they panic: a failure is a bug in this crate or in
//! the storage layer, never bad input):
//! - before each commit: the queued seqnos are contiguous after the persisted seqno, the table
//!   written is well formed and (on the active) its newest entry is at or below the new high
//!   seqno; after it: the file's high seqno and vbstate are what was written.
//! - after each warmup read: the documents are exactly seqnos `1..=high`, the sanitized table is
//!   well formed.
//!
//! Areas not verified: values (the engine stores what it is given); CAS monotonicity across a
//! restart beyond `max(max_cas+1, clock)`.

mod disk;
pub mod variant;
pub mod view;

pub use crate::failover::{CounterUuids, RandomUuids, UuidGen};
pub use crate::storage::{FaultyBackend, FileBackend, Tear};
pub use disk::{BackendRef, PathIoError, StorageBackend};
pub use variant::{PersistEntry, SeededBugs, ShutdownFlag, Variant};
pub use view::{ActiveVbView, ActiveView, EntryView, ItemView, ReplicaVbView, ReplicaView, View};

use crate::failover::{Entry, FailoverTable, StreamRequest};
use disk::{DiskState, StatsDisk, VbDisk};
use serde_json::{json, Value};
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The largest number of vbuckets a cluster may hold (kv_engine's default is 1024).
pub const MAX_VBUCKETS: u16 = 1024;

// ---------------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------------

/// How to build a [`Cluster`].
pub struct Config {
    /// The design under test.
    pub variant: Variant,
    /// vbuckets on the active node (vb 0..V-1, all active).
    pub vbuckets: u16,
    /// Replica nodes `r1`..`rR`, each with a replica of every vb.
    pub replicas: usize,
    /// The data directory: `<dir>/active/vb<N>.couch`, `<dir>/active/stats.json`,
    /// `<dir>/r<i>/vb<N>.couch`.
    pub dir: PathBuf,
    /// The storage backend (real files, or the fault-injecting one).
    pub backend: BackendRef,
    /// Where new vb_uuids come from.
    pub uuids: Box<dyn UuidGen>,
    /// Test-only deliberate bugs; all off by default.
    pub bugs: SeededBugs,
}

impl Config {
    /// `variant`, one vbucket, one replica, counter uuids, no bugs, on `backend`.
    pub fn new(dir: impl Into<PathBuf>, backend: BackendRef, variant: Variant) -> Config {
        Config {
            variant,
            vbuckets: 1,
            replicas: 1,
            dir: dir.into(),
            backend,
            uuids: Box::new(CounterUuids::new()),
            bugs: SeededBugs::default(),
        }
    }
}

/// The backend used when a caller does not choose one: real files.
pub fn default_backend() -> BackendRef {
    StorageBackend::file()
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// Why a call failed. Split by cause; storage errors keep their source and name the file.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The call is not allowed in the current state (kv_engine's `ENGINE_TMPFAIL` and friends).
    /// Nothing changed.
    #[error("TemporaryFailure: {0}")]
    TemporaryFailure(String),
    /// The key does not exist (or is deleted or expired). Nothing changed.
    #[error("NotFound: {0}")]
    NotFound(String),
    /// A vb, replica or argument that does not exist in this cluster. Nothing changed.
    #[error("InvalidArgument: {0}")]
    InvalidArgument(String),
    /// The data directory already holds a bucket (`create`) or holds none (`open`).
    #[error("{0}")]
    Directory(String),
    /// A file could not be read, parsed, written or locked. `file` is the file (or directory)
    /// concerned; the message (the source's) names it too.
    #[error("storage: {source}")]
    Storage {
        file: PathBuf,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A storage error happened earlier; the cluster's state is no longer trustworthy.
    #[error("the cluster is unusable after an earlier storage error: {0}")]
    Poisoned(String),
    /// A loop of calls (`connect`) made no progress within its bound; each call took effect.
    #[error("no progress: {0}")]
    NoProgress(String),
    /// The event log could not be written (the call itself took effect).
    #[error("event log: {0}")]
    EventLog(#[source] std::io::Error),
}

impl EngineError {
    /// Whether this is a storage error (the scenario runner aborts on those).
    pub fn is_storage(&self) -> bool {
        matches!(self, EngineError::Storage { .. } | EngineError::Poisoned(_))
    }
}

fn tmpfail(msg: impl Into<String>) -> EngineError {
    EngineError::TemporaryFailure(msg.into())
}

// ---------------------------------------------------------------------------------------------
// Items, processes, phases
// ---------------------------------------------------------------------------------------------

/// What a mutation did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ItemOp {
    Set,
    Delete,
    /// The deletion of an expired item (a new seqno).
    Expire,
}

impl ItemOp {
    pub fn name(self) -> &'static str {
        match self {
            ItemOp::Set => "set",
            ItemOp::Delete => "delete",
            ItemOp::Expire => "expire",
        }
    }
}

/// The mutation at one seqno.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Item {
    pub seqno: u64,
    pub key: String,
    pub op: ItemOp,
    /// The client's value; `None` for deletes and expiries.
    pub value: Option<String>,
    /// Absolute expiry time in seconds on the engine's clock.
    pub expiry: Option<u64>,
    pub cas: u64,
}

impl Item {
    fn view(&self) -> ItemView {
        ItemView {
            seqno: self.seqno,
            key: self.key.clone(),
            op: self.op.name().to_string(),
            value: self.value.clone(),
        }
    }

    /// Whether this is a set whose expiry time has passed at `now`.
    fn is_expired_set(&self, now: u64) -> bool {
        self.op == ItemOp::Set && self.expiry.is_some_and(|e| e <= now)
    }

    /// `set k@2`-style, for divergence reports.
    pub fn describe(&self) -> String {
        match &self.value {
            Some(v) => format!("{} {}={v}", self.op.name(), self.key),
            None => format!("{} {}", self.op.name(), self.key),
        }
    }

    /// Two nodes hold "the same mutation" when key, op and value agree.
    pub fn same_content(&self, other: &Item) -> bool {
        self.key == other.key && self.op == other.op && self.value == other.value
    }
}

/// The warmup phases that matter here, in order (`warmup.cc`), plus `Complete`
/// (`warmupCompleted()`), which leaves warmup.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Phase {
    Initialize,
    CreateVBuckets,
    PopulateVBucketMap,
    LoadingData,
    Done,
    Complete,
}

impl Phase {
    pub const ALL: [Phase; 6] = [
        Phase::Initialize,
        Phase::CreateVBuckets,
        Phase::PopulateVBucketMap,
        Phase::LoadingData,
        Phase::Done,
        Phase::Complete,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Phase::Initialize => "initialize",
            Phase::CreateVBuckets => "create-vbuckets",
            Phase::PopulateVBucketMap => "populate-vbucket-map",
            Phase::LoadingData => "loading-data",
            Phase::Done => "done",
            Phase::Complete => "complete",
        }
    }

    fn next(self) -> Option<Phase> {
        Phase::ALL
            .iter()
            .position(|p| *p == self)
            .and_then(|i| Phase::ALL.get(i + 1).copied())
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Phase {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Phase::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Phase::ALL.iter().map(|p| p.name()).collect();
                format!(
                    "unknown phase '{s}' (expected one of: {})",
                    names.join(", ")
                )
            })
    }
}

/// The active node's process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Process {
    /// Traffic on.
    Running,
    /// Warming up; the phase is the last one completed (never `Complete`).
    Warming(Phase),
    /// Between `shutdown_begin` and the step that ends the shutdown.
    ShuttingDown {
        flag_written: bool,
        flusher_stopped: bool,
    },
    /// Crashed or shut down: nothing in memory.
    Down,
}

impl Process {
    pub fn name(self) -> &'static str {
        match self {
            Process::Running => "running",
            Process::Warming(_) => "warming",
            Process::ShuttingDown { .. } => "shutting-down",
            Process::Down => "down",
        }
    }

    /// The DCP producer, expiry and the vb map are live: running, or warming from
    /// PopulateVBucketMap on.
    fn serves_vb_map(self) -> bool {
        match self {
            Process::Running => true,
            Process::Warming(p) => p >= Phase::PopulateVBucketMap,
            _ => false,
        }
    }

    fn flusher_runs(self) -> bool {
        match self {
            Process::Running | Process::Warming(_) => true,
            Process::ShuttingDown {
                flusher_stopped, ..
            } => !flusher_stopped,
            Process::Down => false,
        }
    }

    /// For error messages: `warming, phase create-vbuckets`.
    fn describe(self) -> String {
        match self {
            Process::Warming(p) => format!("warming, phase {}", p.name()),
            Process::ShuttingDown {
                flag_written,
                flusher_stopped,
            } => format!(
                "shutting down, clean flag {}written, flusher {}",
                if flag_written { "" } else { "not " },
                if flusher_stopped {
                    "stopped"
                } else {
                    "running"
                }
            ),
            p => p.name().to_string(),
        }
    }
}

/// The answer to one DCP stream request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamOutcome {
    /// The producer accepted; the replica adopted its failover table.
    Accepted,
    /// The producer asked for a rollback to `to`. `dropped_entry`: the replica dropped its
    /// newest failover entry instead of rewinding (rollback to 0 with an older uuid to try).
    RolledBack { to: u64, dropped_entry: bool },
}

impl fmt::Display for StreamOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StreamOutcome::Accepted => f.write_str("accepted"),
            StreamOutcome::RolledBack { to, .. } => write!(f, "rolled-back:{to}"),
        }
    }
}

/// A replica's stream for one vb.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamState {
    None,
    RolledBack(u64),
    Accepted,
}

impl fmt::Display for StreamState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StreamState::None => f.write_str("none"),
            StreamState::Accepted => f.write_str("accepted"),
            StreamState::RolledBack(rb) => write!(f, "rolled-back:{rb}"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// State
// ---------------------------------------------------------------------------------------------

/// An item in a checkpoint queue.
#[derive(Clone, Debug)]
enum Queued {
    Mutation(u64),
    /// A set_vbucket_state meta item carrying a copy of the failover table
    /// (`queueSetVBState`).
    SetVbState(FailoverTable),
}

/// A vbucket in the active node's memory: lost at a crash.
#[derive(Clone)]
struct VbMem {
    in_map: bool,
    /// The mutation at each seqno, seqno `i + 1` at index `i`.
    history: Vec<Item>,
    failover: FailoverTable,
    queue: Vec<Queued>,
    notified: bool,
    /// CreateVBuckets created a failover entry in this warmup.
    new_entry: bool,
    /// The hybrid logical clock's last value.
    max_cas: u64,
    /// The last persisted vbstate (kv_engine's cached vbstate); the flusher writes it, with the
    /// table replaced only by a queued set_vbucket_state.
    cached: DiskState,
}

impl VbMem {
    fn high_seqno(&self) -> u64 {
        self.history.len() as u64
    }

    /// The newest mutation of `key`, if any.
    fn newest(&self, key: &str) -> Option<&Item> {
        self.history.iter().rev().find(|i| i.key == key)
    }
}

struct ActiveVb {
    disk: VbDisk,
    mem: Option<VbMem>,
}

/// A replica node's copy of a vb. Replicas never crash, so memory is the truth and the file
/// follows it (one commit per received mutation).
struct ReplicaVb {
    disk: VbDisk,
    history: Vec<Item>,
    failover: FailoverTable,
    snap_start: u64,
    snap_end: u64,
    max_cas: u64,
    stream: StreamState,
    /// A commit or rewind of this replica's file failed since the last reopen.
    failed_write: bool,
}

impl ReplicaVb {
    fn high_seqno(&self) -> u64 {
        self.history.len() as u64
    }
}

/// A file's bytes in a snapshot, or `None` if it did not exist.
type FileImage = Option<Arc<Vec<u8>>>;

/// A copy of a cluster taken by [`Cluster::snapshot`].
pub struct ClusterSnapshot {
    clock: u64,
    process: Process,
    read_clean: Option<bool>,
    clean_flag: bool,
    poisoned: Option<String>,
    uuids: Box<dyn UuidGen>,
    mem: Vec<Option<VbMem>>,
    replicas: Vec<Vec<ReplicaMem>>,
    /// Every data file and stats.json: its write generation and its bytes (`None` if it did
    /// not exist).
    files: Vec<(PathBuf, u64, FileImage)>,
}

/// A replica's memory, in a snapshot.
struct ReplicaMem {
    history: Vec<Item>,
    failover: FailoverTable,
    snap_start: u64,
    snap_end: u64,
    max_cas: u64,
    stream: StreamState,
    failed_write: bool,
}

/// The active node, the replicas, their files, the clock. See the module docs.
pub struct Cluster {
    variant: Variant,
    bugs: SeededBugs,
    dir: PathBuf,
    backend: BackendRef,
    uuids: Box<dyn UuidGen>,
    clock: u64,
    process: Process,
    read_clean: Option<bool>,
    stats: StatsDisk,
    /// Cache of what stats.json says; re-read at every open and crash.
    clean_flag: bool,
    vbs: Vec<ActiveVb>,
    /// `replicas[r][vb]`.
    replicas: Vec<Vec<ReplicaVb>>,
    event_log: Option<Box<dyn Write + Send>>,
    poisoned: Option<String>,
    _lock: Option<disk::DirGuard>,
    /// The bytes last read for a snapshot, by path, with their write generation.
    snapshot_cache: std::collections::HashMap<PathBuf, (u64, FileImage)>,
}

impl fmt::Debug for Cluster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cluster")
            .field("variant", &self.variant)
            .field("dir", &self.dir)
            .field("process", &self.process)
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

/// The file layout.
pub fn active_dir(dir: &Path) -> PathBuf {
    dir.join("active")
}

pub fn active_vb_path(dir: &Path, vb: u16) -> PathBuf {
    active_dir(dir).join(format!("vb{vb}.couch"))
}

/// Replica `r` (0-based) lives in `<dir>/r<r+1>`.
pub fn replica_vb_path(dir: &Path, r: usize, vb: u16) -> PathBuf {
    dir.join(replica_name(r)).join(format!("vb{vb}.couch"))
}

/// `r1` for replica index 0.
pub fn replica_name(r: usize) -> String {
    format!("r{}", r + 1)
}

fn table_view(t: &[Entry]) -> Vec<EntryView> {
    t.iter()
        .map(|e| EntryView {
            id: e.id,
            seq: e.seq,
        })
        .collect()
}

fn json_table(t: &FailoverTable) -> Value {
    Value::Array(
        t.entries()
            .iter()
            .map(|e| json!({"id": e.id, "seq": e.seq}))
            .collect(),
    )
}

impl Cluster {
    // -----------------------------------------------------------------------------------------
    // Creating and opening
    // -----------------------------------------------------------------------------------------

    /// A fresh bucket (vocabulary.md, "Bucket creation"): the active node running, every vb in
    /// the map, each data file holding one commit (no documents, table `[(uuid, 0)]`), replicas
    /// holding a copy of each table at high seqno 0, stats.json present but not clean.
    pub fn create(config: Config) -> Result<Cluster, EngineError> {
        let Config {
            variant,
            vbuckets,
            replicas,
            dir,
            backend,
            mut uuids,
            bugs,
        } = config;
        check_shape(vbuckets)?;
        let mut dirs = vec![dir.clone(), active_dir(&dir)];
        dirs.extend((0..replicas).map(|r| dir.join(replica_name(r))));
        disk::make_dirs(&backend, &dirs)?;
        let lock = disk::lock_dir(&backend, &dir)?;
        if disk::bucket_exists(&backend, &active_dir(&dir))? {
            return Err(EngineError::Directory(format!(
                "{} already holds a bucket (use open)",
                dir.display()
            )));
        }
        let mut vbs = Vec::new();
        let mut tables = Vec::new();
        for vb in 0..vbuckets {
            let uuid = crate::failover::draw_uuid(uuids.as_mut(), |_| false);
            let table = FailoverTable::new(uuid);
            let state = DiskState {
                replica: false,
                table: table.entries().to_vec(),
                snap_start: 0,
                snap_end: 0,
                max_cas: 0,
            };
            let disk = VbDisk::create(&backend, bugs.storage(), &active_vb_path(&dir, vb), &state)?;
            vbs.push(ActiveVb {
                disk,
                mem: Some(VbMem {
                    in_map: true,
                    history: Vec::new(),
                    failover: table.clone(),
                    queue: Vec::new(),
                    notified: false,
                    new_entry: false,
                    max_cas: 0,
                    cached: state,
                }),
            });
            tables.push(table);
        }
        let mut replica_vbs = Vec::new();
        for r in 0..replicas {
            let mut row = Vec::new();
            for (vb, table) in (0..vbuckets).zip(&tables) {
                let state = DiskState {
                    replica: true,
                    table: table.entries().to_vec(),
                    snap_start: 0,
                    snap_end: 0,
                    max_cas: 0,
                };
                let disk = VbDisk::create(
                    &backend,
                    bugs.storage(),
                    &replica_vb_path(&dir, r, vb),
                    &state,
                )?;
                row.push(ReplicaVb {
                    disk,
                    history: Vec::new(),
                    failover: table.clone(),
                    snap_start: 0,
                    snap_end: 0,
                    max_cas: 0,
                    stream: StreamState::None,
                    failed_write: false,
                });
            }
            replica_vbs.push(row);
        }
        // Last: a directory holds a bucket once its stats.json exists.
        let mut stats = StatsDisk::open(&backend, &active_dir(&dir));
        stats.write(None)?;
        Ok(Cluster {
            variant,
            bugs,
            dir,
            backend,
            uuids,
            clock: 0,
            process: Process::Running,
            read_clean: None,
            stats,
            clean_flag: false,
            vbs,
            replicas: replica_vbs,
            event_log: None,
            poisoned: None,
            _lock: lock,
            snapshot_cache: std::collections::HashMap::new(),
        })
    }

    /// An existing bucket: the active node down, ready to warm up; replicas as their files
    /// say, with no stream. The clock starts at 0.
    pub fn open(config: Config) -> Result<Cluster, EngineError> {
        let Config {
            variant,
            vbuckets,
            replicas,
            dir,
            backend,
            uuids,
            bugs,
        } = config;
        check_shape(vbuckets)?;
        let lock = disk::lock_dir(&backend, &dir)?;
        if !disk::bucket_exists(&backend, &active_dir(&dir))? {
            return Err(EngineError::Directory(format!(
                "{} holds no bucket (no {}; use create)",
                dir.display(),
                active_dir(&dir).join("stats.json").display()
            )));
        }
        let stats = StatsDisk::open(&backend, &active_dir(&dir));
        let clean_flag = stats.read_force_shutdown()?.as_deref() == Some("false");
        let mut vbs = Vec::new();
        for vb in 0..vbuckets {
            let disk = VbDisk::open(&backend, bugs.storage(), &active_vb_path(&dir, vb))?;
            vbs.push(ActiveVb { disk, mem: None });
        }
        let mut replica_vbs = Vec::new();
        for r in 0..replicas {
            let mut row = Vec::new();
            for vb in 0..vbuckets {
                let disk = VbDisk::open(&backend, bugs.storage(), &replica_vb_path(&dir, r, vb))?;
                let state = disk
                    .state()
                    .expect("an opened data file has a commit")
                    .clone();
                if state.table.is_empty() {
                    return Err(EngineError::Storage {
                        file: disk.path().to_path_buf(),
                        source: "the vbstate's failover table is empty".into(),
                    });
                }
                let history = disk.items().to_vec();
                check_contiguous(&history, disk.high_seqno(), disk.path());
                row.push(ReplicaVb {
                    history,
                    failover: FailoverTable::from_entries(state.table.clone()),
                    snap_start: state.snap_start,
                    snap_end: state.snap_end,
                    max_cas: state.max_cas,
                    stream: StreamState::None,
                    failed_write: false,
                    disk,
                });
            }
            replica_vbs.push(row);
        }
        Ok(Cluster {
            variant,
            bugs,
            dir,
            backend,
            uuids,
            clock: 0,
            process: Process::Down,
            read_clean: None,
            stats,
            clean_flag,
            vbs,
            replicas: replica_vbs,
            event_log: None,
            poisoned: None,
            _lock: lock,
            snapshot_cache: std::collections::HashMap::new(),
        })
    }

    // -----------------------------------------------------------------------------------------
    // Inspection
    // -----------------------------------------------------------------------------------------

    pub fn variant(&self) -> Variant {
        self.variant
    }

    pub fn bugs(&self) -> SeededBugs {
        self.bugs
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn vbuckets(&self) -> u16 {
        self.vbs.len() as u16
    }

    pub fn replicas(&self) -> usize {
        self.replicas.len()
    }

    pub fn clock(&self) -> u64 {
        self.clock
    }

    pub fn process(&self) -> Process {
        self.process
    }

    /// What the active's vb holds in memory at each seqno (`None` while down or before
    /// CreateVBuckets).
    pub fn active_items(&self, vb: u16) -> Option<Vec<Item>> {
        let a = self.vbs.get(vb as usize)?;
        a.mem.as_ref().map(|m| m.history.clone())
    }

    /// What the active's data file for `vb` holds.
    pub fn active_items_on_disk(&self, vb: u16) -> Vec<Item> {
        self.vbs[vb as usize].disk.items().to_vec()
    }

    /// Replica `r`'s items for `vb`.
    pub fn replica_items(&self, r: usize, vb: u16) -> Vec<Item> {
        self.replicas[r][vb as usize].history.clone()
    }

    pub fn replica_stream(&self, r: usize, vb: u16) -> StreamState {
        self.replicas[r][vb as usize].stream
    }

    /// Replica `r`'s failover table for `vb`.
    pub fn replica_failover(&self, r: usize, vb: u16) -> FailoverTable {
        self.replicas[r][vb as usize].failover.clone()
    }

    /// The active's in-memory failover table for `vb`, if the vb is in memory.
    pub fn active_failover(&self, vb: u16) -> Option<FailoverTable> {
        self.vbs[vb as usize]
            .mem
            .as_ref()
            .map(|m| m.failover.clone())
    }

    /// The vbs the flusher has been notified about and not flushed yet.
    pub fn notified_vbs(&self) -> Vec<u16> {
        (0..self.vbuckets())
            .filter(|vb| {
                self.vbs[*vb as usize]
                    .mem
                    .as_ref()
                    .is_some_and(|m| m.notified)
            })
            .collect()
    }

    /// Every successful call from now on appends one NDJSON line to `w`:
    /// `{"call":"set","vb":0,"key":"k0","value":"v1","ttl":1,"state":<view>}`.
    pub fn set_event_log(&mut self, w: Box<dyn Write + Send>) {
        self.event_log = Some(w);
    }

    /// The projected view of `docs/vocabulary.md`.
    pub fn view(&self) -> View {
        let (warmup_phase, flusher_stopped) = match self.process {
            Process::Warming(p) => (Some(p.name().to_string()), false),
            Process::ShuttingDown {
                flusher_stopped, ..
            } => (None, flusher_stopped),
            _ => (None, false),
        };
        let vbuckets = self
            .vbs
            .iter()
            .enumerate()
            .map(|(i, a)| {
                let m = a.mem.as_ref();
                ActiveVbView {
                    vb: i as u16,
                    in_vbucket_map: m.is_some_and(|m| m.in_map),
                    high_seqno: m.map(VbMem::high_seqno),
                    persisted_seqno: a.disk.high_seqno(),
                    failover: m.map(|m| table_view(m.failover.entries())),
                    failover_on_disk: table_view(a.disk.table()),
                    queued: m.map(|m| {
                        m.queue
                            .iter()
                            .map(|q| match q {
                                Queued::Mutation(s) => format!("seqno:{s}"),
                                Queued::SetVbState(_) => "set_vbucket_state".to_string(),
                            })
                            .collect()
                    }),
                    flusher_notified: m.is_some_and(|m| m.notified),
                    items: m.map(|m| m.history.iter().map(Item::view).collect()),
                    items_on_disk: a.disk.items().iter().map(Item::view).collect(),
                }
            })
            .collect();
        let replicas = self
            .replicas
            .iter()
            .enumerate()
            .map(|(r, row)| ReplicaView {
                name: replica_name(r),
                vbuckets: row
                    .iter()
                    .enumerate()
                    .map(|(vb, rv)| ReplicaVbView {
                        vb: vb as u16,
                        high_seqno: rv.high_seqno(),
                        snap_start: rv.snap_start,
                        snap_end: rv.snap_end,
                        failover: table_view(rv.failover.entries()),
                        stream: rv.stream.to_string(),
                        items: rv.history.iter().map(Item::view).collect(),
                    })
                    .collect(),
            })
            .collect();
        View {
            clock: self.clock,
            active: ActiveView {
                process: self.process.name().to_string(),
                warmup_phase,
                warmup_read_clean: self.read_clean,
                flusher_stopped,
                clean_shutdown_flag: self.clean_flag,
                vbuckets,
            },
            replicas,
        }
    }

    // -----------------------------------------------------------------------------------------
    // Client calls
    // -----------------------------------------------------------------------------------------

    /// A client set (`EPBucket::set` -> `VBucket::set`): only while running. Takes the next
    /// seqno, queues it in the checkpoint, notifies the flusher. `ttl` in seconds; `Some(0)`
    /// means no expiry, as in kv_engine. Returns the seqno.
    pub fn set(
        &mut self,
        vb: u16,
        key: &str,
        value: &str,
        ttl: Option<u64>,
    ) -> Result<u64, EngineError> {
        self.usable()?;
        self.check_vb(vb)?;
        self.check_traffic(vb)?;
        let expiry = ttl.filter(|t| *t > 0).map(|t| self.clock + t);
        let seqno = self.queue_mutation(vb, key, ItemOp::Set, Some(value.to_string()), expiry);
        self.log(
            "set",
            &[
                ("vb", json!(vb)),
                ("key", json!(key)),
                ("value", json!(value)),
                ("ttl", json!(ttl)),
                ("seqno", json!(seqno)),
            ],
        )?;
        Ok(seqno)
    }

    /// A client delete (`VBucket::deleteItem`): only while running and the key is live. Next
    /// seqno, op `delete`. Returns the seqno.
    pub fn delete(&mut self, vb: u16, key: &str) -> Result<u64, EngineError> {
        self.usable()?;
        self.check_vb(vb)?;
        self.check_traffic(vb)?;
        let now = self.clock;
        let m = self.mem(vb);
        let live = m
            .newest(key)
            .is_some_and(|i| i.op == ItemOp::Set && !i.is_expired_set(now));
        if !live {
            return Err(EngineError::NotFound(format!(
                "vb {vb}: key {key} is not live (absent, deleted or expired)"
            )));
        }
        let seqno = self.queue_mutation(vb, key, ItemOp::Delete, None, None);
        self.log(
            "delete",
            &[
                ("vb", json!(vb)),
                ("key", json!(key)),
                ("seqno", json!(seqno)),
            ],
        )?;
        Ok(seqno)
    }

    /// A get (`VBucket::getInternal` -> `handleExpiredItem`): when the vb is in the vb map
    /// (warming from PopulateVBucketMap on, or running). A live set returns its value; an
    /// expired one is deleted as a new mutation (op `expire`) and `None` is returned; a deleted
    /// or absent key returns `None`.
    pub fn get(&mut self, vb: u16, key: &str) -> Result<Option<String>, EngineError> {
        self.usable()?;
        self.check_vb(vb)?;
        self.check_expiry_allowed(vb)?;
        let now = self.clock;
        let (value, expired) = match self.mem(vb).newest(key) {
            Some(i) if i.is_expired_set(now) => (None, true),
            Some(i) if i.op == ItemOp::Set => (i.value.clone(), false),
            _ => (None, false),
        };
        let seqno = expired.then(|| self.queue_mutation(vb, key, ItemOp::Expire, None, None));
        self.log(
            "get",
            &[
                ("vb", json!(vb)),
                ("key", json!(key)),
                ("result", json!(value)),
                ("expired_seqno", json!(seqno)),
            ],
        )?;
        Ok(value)
    }

    /// Compaction of `vb` (`EPBucket::compactInternal`'s expiry callback): expires every
    /// expired item, each a new seqno, oldest newest-mutation first. Returns the new seqnos.
    pub fn compact(&mut self, vb: u16) -> Result<Vec<u64>, EngineError> {
        self.usable()?;
        self.check_vb(vb)?;
        self.check_expiry_allowed(vb)?;
        let expired = self.expire_all(vb);
        self.log(
            "compact",
            &[("vb", json!(vb)), ("expired", expired_json(vb, &expired))],
        )?;
        Ok(expired.into_iter().map(|(_, s)| s).collect())
    }

    /// The expiry pager (`ExpiredItemPager`): expires every expired item of every vb in the
    /// map. Returns `(vb, seqno)` of each expiry.
    pub fn run_expiry_pager(&mut self) -> Result<Vec<(u16, u64)>, EngineError> {
        self.usable()?;
        if !self.process.serves_vb_map() {
            return Err(tmpfail(format!(
                "the expiry pager does not run while the node is {}",
                self.process.describe()
            )));
        }
        let mut all = Vec::new();
        let mut lines = Vec::new();
        for vb in 0..self.vbuckets() {
            if !self.mem(vb).in_map {
                continue;
            }
            let expired = self.expire_all(vb);
            for (key, seqno) in &expired {
                lines.push(json!({"vb": vb, "key": key, "seqno": seqno}));
                all.push((vb, *seqno));
            }
        }
        self.log("run_expiry_pager", &[("expired", Value::Array(lines))])?;
        Ok(all)
    }

    /// Time passes. Allowed in every state.
    pub fn advance_clock(&mut self, secs: u64) -> Result<(), EngineError> {
        self.usable()?;
        self.clock += secs;
        self.log("advance_clock", &[("secs", json!(secs))])
    }

    // -----------------------------------------------------------------------------------------
    // Flusher, stats
    // -----------------------------------------------------------------------------------------

    /// The flusher's visit to `vb` (`EPBucket::flushVBucket`): when notified and not stopped,
    /// one atomic commit of everything queued for the vb, with the cached vbstate whose table is
    /// replaced only by a queued set_vbucket_state. Clears the notification. Returns the seqnos
    /// committed.
    pub fn flush(&mut self, vb: u16) -> Result<Vec<u64>, EngineError> {
        self.usable()?;
        self.check_vb(vb)?;
        if !self.process.flusher_runs() {
            return Err(tmpfail(format!(
                "the flusher is not running (node {})",
                self.process.describe()
            )));
        }
        if !self.vbs[vb as usize]
            .mem
            .as_ref()
            .is_some_and(|m| m.notified)
        {
            return Err(tmpfail(format!("vb {vb}: the flusher was not notified")));
        }
        let seqnos = self.commit_queue(vb)?;
        self.log("flush", &[("vb", json!(vb)), ("seqnos", json!(seqnos))])?;
        Ok(seqnos)
    }

    /// The periodic stats snapshot (`StatSnap`): when running and stats.json says clean,
    /// rewrites stats.json without `ep_force_shutdown`, so a crash from now on is unclean.
    pub fn stats_snapshot(&mut self) -> Result<(), EngineError> {
        self.usable()?;
        if self.process != Process::Running {
            return Err(tmpfail(format!(
                "the stats snapshot runs only while running (node {})",
                self.process.describe()
            )));
        }
        if !self.clean_flag {
            return Err(tmpfail(
                "stats.json does not say clean: the snapshot would change nothing",
            ));
        }
        self.write_stats(None)?;
        self.log("stats_snapshot", &[])
    }

    // -----------------------------------------------------------------------------------------
    // Crash and shutdown
    // -----------------------------------------------------------------------------------------

    /// The active node dies (whenever it is not down): memory, checkpoints, notifications and
    /// streams are lost; the disk keeps what it has (with the fault-injecting backend, only
    /// what was synced: it crashes with [`Tear::None`]). The files are reopened from what
    /// storage has. Also allowed after a storage error (it clears the cluster's poisoning if
    /// the files reopen).
    pub fn crash(&mut self) -> Result<(), EngineError> {
        self.crash_torn(Tear::None)
    }

    /// [`crash`](Self::crash), with the fault-injecting backend keeping what `tear` says of the
    /// unsynced bytes (other backends ignore `tear`). Logged as `crash`, with a `tear` field
    /// unless it is `Tear::None`.
    pub fn crash_torn(&mut self, tear: Tear) -> Result<(), EngineError> {
        if self.process == Process::Down && self.poisoned.is_none() {
            return Err(tmpfail("the node is already down"));
        }
        self.go_down();
        disk::crash_backend(&self.backend, tear);
        match self.reopen_files() {
            Ok(()) => self.poisoned = None,
            Err(e) => {
                self.poisoned = Some(e.to_string());
                return Err(e);
            }
        }
        match tear {
            Tear::None => self.log("crash", &[]),
            t => self.log("crash", &[("tear", json!(format!("{t:?}")))]),
        }
    }

    /// How far the shutdown is (flag written, flusher stopped), or an error saying that `what`
    /// happens only during a shutdown.
    fn shutdown_progress(&self, what: &str) -> Result<(bool, bool), EngineError> {
        match self.process {
            Process::ShuttingDown {
                flag_written,
                flusher_stopped,
            } => Ok((flag_written, flusher_stopped)),
            _ => Err(tmpfail(format!(
                "{what} only during a shutdown (node {})",
                self.process.describe()
            ))),
        }
    }

    /// Clean shutdown begins (`EventuallyPersistentEngine::destroy`): only while running.
    /// Client traffic, expiry and DCP stop; streams drop.
    pub fn shutdown_begin(&mut self) -> Result<(), EngineError> {
        self.usable()?;
        if self.process != Process::Running {
            return Err(tmpfail(format!(
                "shutdown begins only while running (node {})",
                self.process.describe()
            )));
        }
        self.process = Process::ShuttingDown {
            flag_written: false,
            flusher_stopped: false,
        };
        self.drop_streams();
        self.log("shutdown_begin", &[])
    }

    /// The shutdown path writes `ep_force_shutdown=false`. Before-flush: any time during the
    /// shutdown; after-flush: once the flusher stopped, and this ends the shutdown.
    pub fn shutdown_write_clean_flag(&mut self) -> Result<(), EngineError> {
        self.usable()?;
        let (flag_written, flusher_stopped) =
            self.shutdown_progress("the clean flag is written")?;
        if flag_written {
            return Err(tmpfail("the clean flag is already written"));
        }
        if !self.flag_before_flush() && !flusher_stopped {
            return Err(tmpfail(format!(
                "{}: the clean flag is written only after the flusher stopped",
                self.variant.shutdown_flag
            )));
        }
        self.write_stats(Some("false"))?;
        self.process = Process::ShuttingDown {
            flag_written: true,
            flusher_stopped,
        };
        self.end_shutdown_if_done();
        self.log("shutdown_write_clean_flag", &[])
    }

    /// The flushers stop (`KVBucket::deinitialize`): when no vb is notified (the final flushes
    /// are ordinary `flush` calls). Before-flush: needs the flag written, and this ends the
    /// shutdown. Queued items of vbs that were never notified are lost (MB-43744).
    pub fn shutdown_stop_flusher(&mut self) -> Result<(), EngineError> {
        self.usable()?;
        let (flag_written, flusher_stopped) = self.shutdown_progress("the flusher stops")?;
        if flusher_stopped {
            return Err(tmpfail("the flusher is already stopped"));
        }
        let notified = self.notified_vbs();
        if !notified.is_empty() {
            return Err(tmpfail(format!(
                "the flusher still has notified vbs to flush: {notified:?}"
            )));
        }
        if self.flag_before_flush() && !flag_written {
            return Err(tmpfail(format!(
                "{}: the flusher stops only after the clean flag is written",
                self.variant.shutdown_flag
            )));
        }
        self.process = Process::ShuttingDown {
            flag_written,
            flusher_stopped: true,
        };
        self.end_shutdown_if_done();
        self.log("shutdown_stop_flusher", &[])
    }

    /// The whole clean shutdown in the variant's order: begin; before-flush: flag, final
    /// flushes, stop; after-flush: final flushes, stop, flag. Each step is its own call (and
    /// its own event-log line).
    pub fn shutdown(&mut self) -> Result<(), EngineError> {
        self.shutdown_begin()?;
        if self.flag_before_flush() {
            self.shutdown_write_clean_flag()?;
            self.flush_all()?;
            self.shutdown_stop_flusher()?;
        } else {
            self.flush_all()?;
            self.shutdown_stop_flusher()?;
            self.shutdown_write_clean_flag()?;
        }
        Ok(())
    }

    /// `flush` every notified vb, in vb order. Returns the vbs flushed.
    pub fn flush_all(&mut self) -> Result<Vec<u16>, EngineError> {
        let vbs = self.notified_vbs();
        for vb in &vbs {
            self.flush(*vb)?;
        }
        Ok(vbs)
    }

    // -----------------------------------------------------------------------------------------
    // Warmup
    // -----------------------------------------------------------------------------------------

    /// Run exactly one warmup phase: from down, Initialize; then CreateVBuckets,
    /// PopulateVBucketMap, LoadingData, Done, and Complete (`warmupCompleted()`, after which the
    /// node is running). Returns the phase just completed.
    pub fn warmup_step(&mut self) -> Result<Phase, EngineError> {
        self.usable()?;
        let phase = match self.process {
            Process::Down => Phase::Initialize,
            Process::Warming(p) => p.next().expect("warming never rests at Complete"),
            _ => {
                return Err(tmpfail(format!(
                    "warmup runs only from down (node {})",
                    self.process.describe()
                )))
            }
        };
        match phase {
            Phase::Initialize => self.warmup_initialize()?,
            Phase::CreateVBuckets => self.warmup_create_vbuckets()?,
            Phase::PopulateVBucketMap => self.warmup_populate_vbucket_map()?,
            Phase::LoadingData | Phase::Done => self.process = Process::Warming(phase),
            Phase::Complete => self.warmup_complete(),
        }
        self.log("warmup_step", &[("phase", json!(phase.name()))])?;
        Ok(phase)
    }

    /// `warmup_step` until `phase` is completed (from down, or from an earlier phase).
    pub fn warmup_until(&mut self, phase: Phase) -> Result<(), EngineError> {
        let done = |p: Process| match p {
            Process::Warming(q) => q >= phase,
            Process::Running => phase == Phase::Complete,
            _ => false,
        };
        if done(self.process) {
            return Err(tmpfail(format!(
                "warmup is already past {} (node {})",
                phase.name(),
                self.process.describe()
            )));
        }
        while !done(self.process) {
            self.warmup_step()?;
        }
        Ok(())
    }

    fn warmup_initialize(&mut self) -> Result<(), EngineError> {
        let flag = self.stats.read_force_shutdown()?;
        let clean = flag.as_deref() == Some("false");
        assert_eq!(
            clean, self.clean_flag,
            "the cached clean flag follows stats.json"
        );
        self.read_clean = Some(clean);
        self.process = Process::Warming(Phase::Initialize);
        if self.variant.shutdown_flag == ShutdownFlag::AfterFlush {
            // MB-46361: a crash from here on counts as unclean.
            self.write_stats(Some("true"))?;
        }
        Ok(())
    }

    fn warmup_create_vbuckets(&mut self) -> Result<(), EngineError> {
        let unclean = self.read_clean == Some(false);
        let queue_at_create = self.variant.persist_entry == PersistEntry::QueueAtCreate;
        let mut mems = Vec::new();
        for a in &self.vbs {
            let (history, state) = a.disk.read()?;
            let state = state.ok_or_else(|| EngineError::Storage {
                file: a.disk.path().to_path_buf(),
                source: format!("data file {}: holds no commit", a.disk.path().display()).into(),
            })?;
            let high = a.disk.high_seqno();
            check_contiguous(&history, high, a.disk.path());
            let (mut failover, _erased) =
                FailoverTable::sanitized(state.table.clone(), high, self.uuids.as_mut());
            assert!(
                failover.is_well_formed(),
                "{}: sanitized table {failover} is not well formed",
                a.disk.path().display()
            );
            let new_entry = unclean && !self.bugs.no_entry_after_unclean_shutdown;
            if new_entry {
                // Unflushed mutations were lost: any replica that saw them is on another
                // branch, so start a new one.
                let at = if high == state.snap_end {
                    state.snap_end
                } else {
                    state.snap_start
                };
                failover.create_entry(at, self.uuids.as_mut());
            }
            let max_cas = history.iter().map(|i| i.cas).fold(state.max_cas, u64::max);
            let mut queue = Vec::new();
            if new_entry && queue_at_create {
                queue.push(Queued::SetVbState(failover.clone())); // not in the map: no notify
            }
            mems.push(VbMem {
                in_map: false,
                history,
                failover,
                queue,
                notified: false,
                new_entry,
                max_cas,
                cached: state,
            });
        }
        for (a, m) in self.vbs.iter_mut().zip(mems) {
            a.mem = Some(m);
        }
        self.process = Process::Warming(Phase::CreateVBuckets);
        Ok(())
    }

    fn warmup_populate_vbucket_map(&mut self) -> Result<(), EngineError> {
        let persist = self.variant.persist_entry;
        for vb in 0..self.vbuckets() {
            let new_entry = self.mem(vb).new_entry;
            if persist == PersistEntry::SyncFlush && new_entry {
                // MB-41257: persist the new entry before the vb takes traffic. If this fails the
                // vb stays out of the map (and the error is returned).
                self.queue_set_vbstate(vb);
                self.commit_queue(vb)?;
            }
            self.mem_mut(vb).in_map = true;
            if persist == PersistEntry::QueueAtPopulate && new_entry {
                self.queue_set_vbstate(vb); // in the map: notifies
            }
        }
        self.process = Process::Warming(Phase::PopulateVBucketMap);
        Ok(())
    }

    fn warmup_complete(&mut self) {
        self.process = Process::Running;
        if self.variant.persist_entry == PersistEntry::AtComplete {
            for vb in 0..self.vbuckets() {
                self.queue_set_vbstate(vb);
            }
        }
    }

    // -----------------------------------------------------------------------------------------
    // DCP
    // -----------------------------------------------------------------------------------------

    /// One DCP stream-request round trip of replica `replica` (0 = `r1`) for `vb`
    /// (`DcpProducer::streamRequest` -> `FailoverTable::needsRollback`, and the consumer's
    /// handling of the answer). When the vb is in the active's map, the active is not shutting
    /// down, and the replica has no accepted stream.
    pub fn stream_request(
        &mut self,
        replica: usize,
        vb: u16,
    ) -> Result<StreamOutcome, EngineError> {
        self.usable()?;
        self.check_vb(vb)?;
        self.check_replica(replica)?;
        self.check_dcp(vb)?;
        let bug_lt = self.bugs.needs_rollback_uses_lt;
        let no_prune = self.bugs.rollback_does_not_prune;
        let a = self.vbs[vb as usize]
            .mem
            .as_ref()
            .expect("checked by check_dcp");
        let (producer_table, cur) = (a.failover.clone(), a.high_seqno());
        let r = &mut self.replicas[replica][vb as usize];
        if r.stream == StreamState::Accepted {
            return Err(tmpfail(format!(
                "{} vb {vb}: the stream is already accepted",
                replica_name(replica)
            )));
        }
        let req = StreamRequest {
            start: r.high_seqno(),
            uuid: r.failover.newest().id,
            snap_start: r.snap_start,
            snap_end: r.snap_end,
            strict: false,
        };
        let decision = producer_table.decide(req, cur, 0, bug_lt);
        let (outcome, reason) = match decision {
            None => {
                r.failover.replace(&producer_table);
                r.stream = StreamState::Accepted;
                (StreamOutcome::Accepted, None)
            }
            Some((0, reason)) if r.failover.len() > 1 => {
                let dropped = r.failover.drop_newest();
                assert!(dropped, "a table of two or more entries drops its newest");
                r.stream = StreamState::RolledBack(0);
                (
                    StreamOutcome::RolledBack {
                        to: 0,
                        dropped_entry: true,
                    },
                    Some(reason),
                )
            }
            Some((rb, reason)) => {
                // Every received mutation is its own commit, so the newest commit at or below
                // rb is min(rb, high).
                let expected = rb.min(r.high_seqno());
                let high = match r.disk.rewind_to(rb) {
                    Ok(h) => h,
                    Err(e) => {
                        r.failed_write = true;
                        self.poisoned = Some(e.to_string());
                        return Err(e);
                    }
                };
                assert_eq!(high, expected, "a replica rewinds to min(rb, high)");
                r.history.truncate(high as usize);
                assert_eq!(
                    r.disk.items(),
                    &r.history[..],
                    "the rewound file holds the prefix"
                );
                r.snap_start = high;
                r.snap_end = high;
                if !no_prune {
                    let pruned = r.failover.prune_entries(high);
                    assert!(
                        pruned,
                        "a replica table keeps an entry at or below its high seqno"
                    );
                }
                r.stream = StreamState::RolledBack(rb);
                (
                    StreamOutcome::RolledBack {
                        to: rb,
                        dropped_entry: false,
                    },
                    Some(reason),
                )
            }
        };
        let mut args = vec![
            ("replica", json!(replica_name(replica))),
            ("vb", json!(vb)),
            ("start", json!(req.start)),
            ("uuid", json!(req.uuid)),
            ("snap_start", json!(req.snap_start)),
            ("snap_end", json!(req.snap_end)),
            ("producer_failover", json_table(&producer_table)),
            ("outcome", json!(outcome.to_string())),
        ];
        if let StreamOutcome::RolledBack { dropped_entry, .. } = outcome {
            args.push(("dropped_entry", json!(dropped_entry)));
            args.push(("reason", json!(reason)));
        }
        self.log("stream_request", &args)?;
        Ok(outcome)
    }

    /// Stream requests until one is accepted (each round trip its own call). Gives up after
    /// 64 rounds with [`EngineError::NoProgress`] (a table has at most 25 entries and each
    /// round drops one or rewinds, so kv_engine's rule always converges; a seeded bug may not).
    pub fn connect(&mut self, replica: usize, vb: u16) -> Result<Vec<StreamOutcome>, EngineError> {
        let mut rounds = Vec::new();
        for _ in 0..64 {
            let outcome = self.stream_request(replica, vb)?;
            rounds.push(outcome);
            if outcome == StreamOutcome::Accepted {
                return Ok(rounds);
            }
        }
        Err(EngineError::NoProgress(format!(
            "{} vb {vb}: no stream accepted after 64 round trips: {rounds:?}",
            replica_name(replica)
        )))
    }

    /// The producer sends replica `replica` the next mutation of `vb` (persisted on the active
    /// or not); the replica appends it as one snapshot `[s, s]` and commits it. `None` when the
    /// replica has everything the active has.
    pub fn stream_deliver(&mut self, replica: usize, vb: u16) -> Result<Option<u64>, EngineError> {
        self.usable()?;
        self.check_vb(vb)?;
        self.check_replica(replica)?;
        if self.replicas[replica][vb as usize].stream != StreamState::Accepted {
            return Err(tmpfail(format!(
                "{} vb {vb}: no accepted stream (stream {})",
                replica_name(replica),
                self.replicas[replica][vb as usize].stream
            )));
        }
        self.check_dcp(vb)?;
        let a = self.vbs[vb as usize]
            .mem
            .as_ref()
            .expect("checked by check_dcp");
        let r = &mut self.replicas[replica][vb as usize];
        let seqno = r.high_seqno() + 1;
        if seqno > a.high_seqno() {
            return Ok(None);
        }
        let item = a.history[seqno as usize - 1].clone();
        assert_eq!(item.seqno, seqno, "history is indexed by seqno");
        // A snapshot marker (`ActiveStream::snapshot` -> `PassiveStream::processMarker`): when
        // the replica's last snapshot is complete, the producer opens a new one covering
        // everything it has now; otherwise this mutation continues the open snapshot.
        let (snap_start, snap_end) = if r.high_seqno() == r.snap_end {
            (seqno, a.high_seqno())
        } else {
            (r.snap_start, r.snap_end)
        };
        r.max_cas = r.max_cas.max(item.cas);
        let state = DiskState {
            replica: true,
            table: r.failover.entries().to_vec(),
            snap_start,
            snap_end,
            max_cas: r.max_cas,
        };
        assert!(
            r.failover.is_well_formed(),
            "replica table {} is well formed",
            r.failover
        );
        if let Err(e) = r.disk.commit(std::slice::from_ref(&item), &state) {
            r.failed_write = true;
            self.poisoned = Some(e.to_string());
            return Err(e);
        }
        assert_eq!(r.disk.high_seqno(), seqno, "the replica commit is durable");
        r.history.push(item);
        r.snap_start = snap_start;
        r.snap_end = snap_end;
        self.log(
            "stream_deliver",
            &[
                ("replica", json!(replica_name(replica))),
                ("vb", json!(vb)),
                ("seqno", json!(seqno)),
            ],
        )?;
        Ok(Some(seqno))
    }

    /// `stream_deliver` until the replica has everything. Returns the seqnos delivered.
    pub fn stream_all(&mut self, replica: usize, vb: u16) -> Result<Vec<u64>, EngineError> {
        let mut seqnos = Vec::new();
        while let Some(s) = self.stream_deliver(replica, vb)? {
            seqnos.push(s);
        }
        Ok(seqnos)
    }

    // -----------------------------------------------------------------------------------------
    // Internals
    // -----------------------------------------------------------------------------------------

    fn usable(&self) -> Result<(), EngineError> {
        match &self.poisoned {
            Some(e) => Err(EngineError::Poisoned(e.clone())),
            None => Ok(()),
        }
    }

    fn check_vb(&self, vb: u16) -> Result<(), EngineError> {
        if (vb as usize) < self.vbs.len() {
            Ok(())
        } else {
            Err(EngineError::InvalidArgument(format!(
                "vb {vb} does not exist (vbuckets 0..{})",
                self.vbs.len()
            )))
        }
    }

    fn check_replica(&self, r: usize) -> Result<(), EngineError> {
        if r < self.replicas.len() {
            Ok(())
        } else {
            Err(EngineError::InvalidArgument(format!(
                "replica {} does not exist ({} replica{})",
                replica_name(r),
                self.replicas.len(),
                if self.replicas.len() == 1 { "" } else { "s" }
            )))
        }
    }

    fn check_traffic(&self, vb: u16) -> Result<(), EngineError> {
        if self.process == Process::Running {
            Ok(())
        } else {
            Err(tmpfail(format!(
                "vb {vb} is not taking traffic ({})",
                self.process.describe()
            )))
        }
    }

    fn in_live_map(&self, vb: u16) -> bool {
        self.process.serves_vb_map() && self.vbs[vb as usize].mem.as_ref().is_some_and(|m| m.in_map)
    }

    fn check_expiry_allowed(&self, vb: u16) -> Result<(), EngineError> {
        if self.in_live_map(vb) {
            Ok(())
        } else {
            Err(tmpfail(format!(
                "vb {vb} is not in the vb map ({})",
                self.process.describe()
            )))
        }
    }

    fn check_dcp(&self, vb: u16) -> Result<(), EngineError> {
        if self.in_live_map(vb) {
            Ok(())
        } else {
            Err(tmpfail(format!(
                "vb {vb}: DCP is not served ({})",
                self.process.describe()
            )))
        }
    }

    fn flag_before_flush(&self) -> bool {
        self.variant.shutdown_flag == ShutdownFlag::BeforeFlush
            || self.bugs.clean_flag_before_final_flush
    }

    fn mem(&self, vb: u16) -> &VbMem {
        self.vbs[vb as usize]
            .mem
            .as_ref()
            .expect("the vb is in memory")
    }

    fn mem_mut(&mut self, vb: u16) -> &mut VbMem {
        self.vbs[vb as usize]
            .mem
            .as_mut()
            .expect("the vb is in memory")
    }

    /// The hybrid logical clock: `max(max_cas + 1, now in ns)`.
    fn next_cas(&mut self, vb: u16) -> u64 {
        let now_ns = self.clock.saturating_mul(1_000_000_000);
        let m = self.mem_mut(vb);
        m.max_cas = (m.max_cas + 1).max(now_ns);
        m.max_cas
    }

    /// Queue a mutation at the next seqno, notifying the flusher if the vb is in the map
    /// (`NotifyFlusherCB`). Returns the seqno.
    fn queue_mutation(
        &mut self,
        vb: u16,
        key: &str,
        op: ItemOp,
        value: Option<String>,
        expiry: Option<u64>,
    ) -> u64 {
        let cas = self.next_cas(vb);
        let m = self.mem_mut(vb);
        let seqno = m.high_seqno() + 1;
        m.history.push(Item {
            seqno,
            key: key.to_string(),
            op,
            value,
            expiry,
            cas,
        });
        m.queue.push(Queued::Mutation(seqno));
        if m.in_map {
            m.notified = true;
        }
        seqno
    }

    /// `queueSetVBState`: a set_vbucket_state carrying the current table.
    fn queue_set_vbstate(&mut self, vb: u16) {
        let m = self.mem_mut(vb);
        m.queue.push(Queued::SetVbState(m.failover.clone()));
        if m.in_map {
            m.notified = true;
        }
    }

    /// Expire every expired key of `vb`, oldest newest-mutation first. Returns (key, seqno).
    fn expire_all(&mut self, vb: u16) -> Vec<(String, u64)> {
        let now = self.clock;
        let m = self.mem(vb);
        let mut keys: Vec<(u64, String)> = Vec::new();
        for item in m.history.iter().rev() {
            if keys.iter().any(|(_, k)| *k == item.key) {
                continue;
            }
            keys.push((item.seqno, item.key.clone()));
        }
        keys.retain(|(s, _)| m.history[*s as usize - 1].is_expired_set(now));
        keys.sort();
        keys.into_iter()
            .map(|(_, key)| {
                let seqno = self.queue_mutation(vb, &key, ItemOp::Expire, None, None);
                (key, seqno)
            })
            .collect()
    }

    /// The flusher's atomic commit of everything queued for `vb`.
    fn commit_queue(&mut self, vb: u16) -> Result<Vec<u64>, EngineError> {
        let ignore_set_vbstate = self.bugs.flusher_ignores_set_vbstate;
        let a = &mut self.vbs[vb as usize];
        let m = a.mem.as_mut().expect("flushing a vb in memory");
        let persisted = a.disk.high_seqno();
        let mut items = Vec::new();
        let mut table: Option<&FailoverTable> = None;
        for q in &m.queue {
            match q {
                Queued::Mutation(s) => items.push(m.history[*s as usize - 1].clone()),
                Queued::SetVbState(t) if !ignore_set_vbstate => table = Some(t),
                Queued::SetVbState(_) => {}
            }
        }
        let high = persisted + items.len() as u64;
        let mut state = m.cached.clone();
        if let Some(t) = table {
            state.table = t.entries().to_vec();
        }
        state.snap_start = high;
        state.snap_end = high;
        state.max_cas = items.iter().map(|i| i.cas).fold(state.max_cas, u64::max);
        // Before the commit: what is written is contiguous and well formed.
        for (i, item) in items.iter().enumerate() {
            assert_eq!(
                item.seqno,
                persisted + 1 + i as u64,
                "vb {vb}: queued seqnos are contiguous after the persisted seqno {persisted}"
            );
        }
        let written = FailoverTable::from_entries(state.table.clone());
        if let Some(why) = written.well_formed_error() {
            panic!("vb {vb}: the table to persist {written} is not well formed: {why}");
        }
        assert!(
            written.newest().seq <= high,
            "vb {vb}: the newest entry {:?} is above the new high seqno {high}",
            written.newest()
        );
        if let Err(e) = a.disk.commit(&items, &state) {
            self.poisoned = Some(e.to_string());
            return Err(e);
        }
        // After the commit: the file says what was written.
        assert_eq!(a.disk.high_seqno(), high, "vb {vb}: the commit is durable");
        assert_eq!(
            a.disk.state(),
            Some(&state),
            "vb {vb}: the vbstate reads back as written"
        );
        m.cached = state;
        m.queue.clear();
        m.notified = false;
        Ok(items.iter().map(|i| i.seqno).collect())
    }

    fn write_stats(&mut self, value: Option<&str>) -> Result<(), EngineError> {
        if let Err(e) = self.stats.write(value) {
            self.poisoned = Some(e.to_string());
            return Err(e);
        }
        self.clean_flag = value == Some("false");
        let read = self.stats.read_force_shutdown()?;
        assert_eq!(read.as_deref(), value, "stats.json reads back as written");
        Ok(())
    }

    /// Lose everything volatile.
    fn go_down(&mut self) {
        self.process = Process::Down;
        self.read_clean = None;
        for a in &mut self.vbs {
            a.mem = None;
        }
        self.drop_streams();
    }

    fn drop_streams(&mut self) {
        for row in &mut self.replicas {
            for r in row {
                r.stream = StreamState::None;
            }
        }
    }

    fn end_shutdown_if_done(&mut self) {
        if let Process::ShuttingDown {
            flag_written: true,
            flusher_stopped: true,
        } = self.process
        {
            self.go_down();
        }
    }

    /// Reopen the active node's files from what storage has (after a crash).
    /// Reopen every file from what storage has (after a crash: the fault-injecting backend's
    /// handles are stale then). Replicas commit every mutation durably, so theirs must come
    /// back exactly as they were.
    /// A copy of the whole cluster, memory and the bytes of every file, for
    /// [`restore`](Self::restore). A testing seam: conformance walks the model's graph and must
    /// return the cluster to an earlier state cheaply. It is not part of kv_engine, no engine
    /// call uses it, and it is not logged.
    pub fn snapshot(&mut self) -> Result<ClusterSnapshot, EngineError> {
        let backend = self.backend.as_dyn();
        let mut files = Vec::new();
        for (path, generation) in self.data_files() {
            // Read a file only when it changed since it was last read for a snapshot.
            let bytes = match self.snapshot_cache.get(&path) {
                Some((g, bytes)) if *g == generation => bytes.clone(),
                _ => {
                    let bytes = backend
                        .read_all(&path)
                        .map_err(|e| disk::io_err(&path, e))?
                        .map(Arc::new);
                    self.snapshot_cache
                        .insert(path.clone(), (generation, bytes.clone()));
                    bytes
                }
            };
            files.push((path, generation, bytes));
        }
        Ok(ClusterSnapshot {
            clock: self.clock,
            process: self.process,
            read_clean: self.read_clean,
            clean_flag: self.clean_flag,
            poisoned: self.poisoned.clone(),
            uuids: self.uuids.fork(),
            mem: self.vbs.iter().map(|v| v.mem.clone()).collect(),
            replicas: self
                .replicas
                .iter()
                .map(|row| {
                    row.iter()
                        .map(|r| ReplicaMem {
                            history: r.history.clone(),
                            failover: r.failover.clone(),
                            snap_start: r.snap_start,
                            snap_end: r.snap_end,
                            max_cas: r.max_cas,
                            stream: r.stream,
                            failed_write: r.failed_write,
                        })
                        .collect()
                })
                .collect(),
            files,
        })
    }

    /// Return to a [`snapshot`](Self::snapshot) of this cluster: files written since are
    /// rewritten (and synced) with the snapshot's bytes and reopened; memory is replaced.
    pub fn restore(&mut self, snap: &ClusterSnapshot) -> Result<(), EngineError> {
        let backend = self.backend.as_dyn();
        let current: std::collections::HashMap<PathBuf, u64> =
            self.data_files().into_iter().collect();
        for (path, generation, bytes) in &snap.files {
            if current.get(path) == Some(generation) {
                continue; // not written since the snapshot: the same bytes
            }
            match bytes {
                Some(b) => backend
                    .write_new(path, b)
                    .and_then(|()| backend.sync_file(path))
                    .map_err(|e| disk::io_err(path, e))?,
                None => backend
                    .remove_file(path)
                    .map_err(|e| disk::io_err(path, e))?,
            }
            if *path == self.stats.path() {
                self.stats = StatsDisk::open(&self.backend, &active_dir(&self.dir));
                self.stats.generation = *generation;
                continue;
            }
            for vb in 0..self.vbuckets() {
                if active_vb_path(&self.dir, vb) == *path {
                    let mut d = VbDisk::open(&self.backend, self.bugs.storage(), path)?;
                    d.generation = *generation;
                    self.vbs[vb as usize].disk = d;
                }
            }
            for (r, row) in self.replicas.iter_mut().enumerate() {
                for (vb, rv) in row.iter_mut().enumerate() {
                    if replica_vb_path(&self.dir, r, vb as u16) == *path {
                        let mut d = VbDisk::open(&self.backend, self.bugs.storage(), path)?;
                        d.generation = *generation;
                        rv.disk = d;
                    }
                }
            }
        }
        self.clock = snap.clock;
        self.process = snap.process;
        self.read_clean = snap.read_clean;
        self.clean_flag = snap.clean_flag;
        self.poisoned = snap.poisoned.clone();
        self.uuids = snap.uuids.fork();
        for (v, m) in self.vbs.iter_mut().zip(&snap.mem) {
            v.mem = m.clone();
        }
        for (row, srow) in self.replicas.iter_mut().zip(&snap.replicas) {
            for (r, s) in row.iter_mut().zip(srow) {
                r.history = s.history.clone();
                r.failover = s.failover.clone();
                r.snap_start = s.snap_start;
                r.snap_end = s.snap_end;
                r.max_cas = s.max_cas;
                r.stream = s.stream;
                r.failed_write = s.failed_write;
            }
        }
        Ok(())
    }

    /// Every data file and stats.json, with its write generation.
    fn data_files(&self) -> Vec<(PathBuf, u64)> {
        let mut files: Vec<(PathBuf, u64)> = self
            .vbs
            .iter()
            .map(|v| (v.disk.path().to_path_buf(), v.disk.generation))
            .collect();
        for row in &self.replicas {
            for rv in row {
                files.push((rv.disk.path().to_path_buf(), rv.disk.generation));
            }
        }
        files.push((self.stats.path().to_path_buf(), self.stats.generation));
        files
    }

    fn reopen_files(&mut self) -> Result<(), EngineError> {
        for vb in 0..self.vbuckets() {
            let disk = VbDisk::open(
                &self.backend,
                self.bugs.storage(),
                &active_vb_path(&self.dir, vb),
            )?;
            self.vbs[vb as usize].disk = disk;
        }
        for (r, row) in self.replicas.iter_mut().enumerate() {
            for (vb, rv) in row.iter_mut().enumerate() {
                let disk = VbDisk::open(
                    &self.backend,
                    self.bugs.storage(),
                    &replica_vb_path(&self.dir, r, vb as u16),
                )?;
                if disk.items() != &rv.history[..] {
                    // Only a replica commit that failed (an injected storage fault) leaves the
                    // file and memory apart, by that one mutation or rewind: the file wins.
                    let (file_high, mem_high) = (disk.high_seqno(), rv.high_seqno());
                    assert!(
                        rv.failed_write,
                        "{}: a replica's file survives the active's crash (file high \
                         {file_high}, memory high {mem_high})",
                        disk.path().display()
                    );
                    rv.history = disk.items().to_vec();
                    rv.snap_start = file_high;
                    rv.snap_end = file_high;
                }
                rv.failed_write = false;
                rv.disk = disk;
            }
        }
        self.stats = StatsDisk::open(&self.backend, &active_dir(&self.dir));
        self.clean_flag = self.stats.read_force_shutdown()?.as_deref() == Some("false");
        Ok(())
    }

    fn log(&mut self, call: &str, args: &[(&str, Value)]) -> Result<(), EngineError> {
        if self.event_log.is_none() {
            return Ok(());
        }
        let mut line = String::from("{\"call\":");
        line.push_str(&Value::from(call).to_string());
        for (name, value) in args {
            line.push(',');
            line.push_str(&Value::from(*name).to_string());
            line.push(':');
            line.push_str(&value.to_string());
        }
        line.push_str(",\"state\":");
        line.push_str(&self.view().to_json());
        line.push_str("}\n");
        let w = self.event_log.as_mut().expect("checked above");
        w.write_all(line.as_bytes())
            .and_then(|()| w.flush())
            .map_err(EngineError::EventLog)
    }
}

fn expired_json(vb: u16, expired: &[(String, u64)]) -> Value {
    Value::Array(
        expired
            .iter()
            .map(|(k, s)| json!({"vb": vb, "key": k, "seqno": s}))
            .collect(),
    )
}

fn check_shape(vbuckets: u16) -> Result<(), EngineError> {
    if vbuckets == 0 || vbuckets > MAX_VBUCKETS {
        return Err(EngineError::InvalidArgument(format!(
            "vbuckets must be 1..={MAX_VBUCKETS}, not {vbuckets}"
        )));
    }
    Ok(())
}

/// After a read: the documents are exactly seqnos `1..=high` (every seqno is kept; there is no
/// de-duplication).
fn check_contiguous(items: &[Item], high: u64, path: &Path) {
    assert_eq!(
        items.len() as u64,
        high,
        "{}: {} documents for high seqno {high}",
        path.display(),
        items.len()
    );
    for (i, item) in items.iter().enumerate() {
        assert_eq!(
            item.seqno,
            i as u64 + 1,
            "{}: documents are seqnos 1..={high}",
            path.display()
        );
    }
}
