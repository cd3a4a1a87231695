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
//! One `Cluster`, its methods spread over files along kv_engine's own seams:
//! - this file: [`Config`], [`EngineError`], [`Process`], the [`Cluster`] struct, `create`,
//!   `open` (and reopening after a crash), accessors, the event log;
//! - `item.rs`: [`Item`] (`item.h`); `vbucket.rs`: the in-memory vbuckets, queueing, CAS
//!   (`vbucket.cc`);
//! - `kv_bucket.rs`: set, delete, get, compaction, the expiry pager, the clock, the stats
//!   snapshot (`kv_bucket.cc`, `ep_bucket.cc`);
//! - `flusher.rs`: flush (`flusher.cc`, `EPBucket::flushVBucket`);
//! - `warmup.rs`: [`Phase`] and every warmup step (`warmup.cc`);
//! - `shutdown.rs`: crash and the clean shutdown (`EventuallyPersistentEngine::destroy`,
//!   `KVBucket::deinitialize`);
//! - `dcp.rs`: stream requests, rollback, the mutation stream (`dcp/`);
//! - `image.rs`: the conformance test seam (not kv_engine);
//! - `view.rs`: the projected [`View`]; `disk.rs`: the adapter to `storage` and `stats`;
//!   `variant.rs`: the designs and seeded bugs.
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

mod dcp;
mod disk;
pub mod event;
mod flusher;
mod image;
mod item;
mod kv_bucket;
mod promotion;
mod shutdown;
pub mod variant;
mod vbucket;
pub mod view;
mod warmup;

pub use crate::failover::{CounterUuids, RandomUuids, UuidGen};
pub use crate::storage::{DiskFull, FaultyBackend, FileBackend, Tear};
pub use dcp::{StreamOutcome, StreamState};
pub use disk::StorageBackend;
pub use image::ClusterImage;
pub use item::{Item, ItemOp};
pub use promotion::{node_name, Roles, CLUSTER_MAP_FILE};
pub use variant::{
    PersistEntry, Reverted, RollbackRetry, SeededBugs, ShutdownFlag, StopWarmup, Variant,
};
pub use view::{ActiveVbView, ActiveView, EntryView, ItemView, ReplicaVbView, ReplicaView, View};
pub use warmup::Phase;

use crate::failover::FailoverTable;
use crate::stats::StatsError;
use crate::storage::StoreError;
use disk::{DiskState, StatsDisk, VbDisk};
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use vbucket::{ActiveVb, Queued, ReplicaVb, VbMem};

/// The largest number of vbuckets a cluster may hold (kv_engine's default is 1024).
pub const MAX_VBUCKETS: u16 = 1024;

/// The clock's limit, in seconds: its value in nanoseconds (the unit of the hybrid logical
/// clock behind CAS) must fit in a `u64`, so about 584 years. Time never passes it, and no
/// expiry time lies beyond it.
pub const MAX_CLOCK_SECS: u64 = u64::MAX / NANOS_PER_SEC;

/// Nanoseconds in a second (CAS is in nanoseconds, the clock in seconds).
const NANOS_PER_SEC: u64 = 1_000_000_000;

/// The longest key kv_engine takes, in bytes (`KEY_MAX_LENGTH`); an empty key is refused too.
pub const MAX_KEY_BYTES: usize = 250;

/// The largest value a set may carry, in bytes: kv_engine's default `max_item_size`
/// (20 MiB; a larger one is refused with `E2BIG`).
pub const MAX_VALUE_BYTES: usize = 20 * 1024 * 1024;

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
    pub backend: StorageBackend,
    /// Where new vb_uuids come from.
    pub uuids: Box<dyn UuidGen>,
    /// Test-only deliberate bugs; all off by default.
    pub bugs: SeededBugs,
}

impl Config {
    /// `variant`, one vbucket, one replica, counter uuids, no bugs, on `backend`.
    pub fn new(dir: impl Into<PathBuf>, backend: StorageBackend, variant: Variant) -> Config {
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
pub fn default_backend() -> StorageBackend {
    StorageBackend::file()
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// Why a call failed. Split by cause; storage errors keep the storage layer's typed error
/// (`EngineError::Storage(StoreError::Locked { .. })` can be matched) and name the file.
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
    /// A key kv_engine refuses (`EINVAL`): empty, or longer than [`MAX_KEY_BYTES`]. Nothing
    /// changed.
    #[error(
        "InvalidKey: a key of {len} bytes (kv_engine takes keys of 1 to {MAX_KEY_BYTES} bytes)"
    )]
    InvalidKey { len: usize },
    /// A value larger than kv_engine's `max_item_size` ([`MAX_VALUE_BYTES`], `E2BIG`). Nothing
    /// changed.
    #[error(
        "TooBig: a value of {len} bytes (kv_engine's max_item_size is {MAX_VALUE_BYTES} bytes)"
    )]
    TooBig { len: usize },
    /// A number would overflow: the clock or an expiry time past [`MAX_CLOCK_SECS`], a seqno
    /// or CAS past `u64::MAX`. Nothing changed.
    #[error("Overflow: {0}")]
    Overflow(String),
    /// The data directory already holds a bucket (`create`) or holds none (`open`).
    #[error("{0}")]
    Directory(String),
    /// A data file could not be opened, read, committed to or rewound, or the data directory
    /// could not be locked. The storage layer's error names the file (and the byte offset).
    #[error("storage: {0}")]
    Storage(#[from] StoreError),
    /// stats.json could not be read or replaced.
    #[error("storage: {0}")]
    Stats(#[from] StatsError),
    /// A backend call on a path failed (creating the data directories, checking for
    /// stats.json, copying a file for an image).
    #[error("storage: {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A data file that the storage layer reads back whole but that no engine could have
    /// written: no commit, documents that are not seqnos `1..=high`, a snapshot that starts
    /// above the high seqno.
    #[error("storage: data file {}: {what}", path.display())]
    BadDataFile { path: PathBuf, what: String },
    /// A commit to a data file failed (a full disk, say) and the storage layer undid it:
    /// nothing was committed, the file is as of its last commit and usable. A flush keeps the
    /// vb's items queued and the flusher notified, so a later flush retries; warmup's
    /// synchronous vbstate flush refuses client writes until the node restarts (MB-41257).
    /// The cluster stays usable. The storage layer's error names the file.
    #[error("FlushFailed: {0}")]
    FlushFailed(#[source] StoreError),
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
    /// Whether the caller's input was refused: an argument that does not exist, a key or value
    /// outside kv_engine's limits, a number that would overflow (the scenario runner stops on
    /// those, naming the line).
    pub fn is_input(&self) -> bool {
        matches!(
            self,
            EngineError::InvalidArgument(_)
                | EngineError::InvalidKey { .. }
                | EngineError::TooBig { .. }
                | EngineError::Overflow(_)
        )
    }

    /// Whether this is a storage error (the scenario runner aborts on those).
    pub fn is_storage(&self) -> bool {
        matches!(
            self,
            EngineError::Storage(_)
                | EngineError::Stats(_)
                | EngineError::Io { .. }
                | EngineError::BadDataFile { .. }
                | EngineError::Poisoned(_)
        )
    }
}

fn tmpfail(msg: impl Into<String>) -> EngineError {
    EngineError::TemporaryFailure(msg.into())
}

// ---------------------------------------------------------------------------------------------
// The node's process
// ---------------------------------------------------------------------------------------------

/// The active node's process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Process {
    /// Warmup completed (traffic on, unless a vbstate flush failed: see
    /// [`Cluster::traffic_refused`]).
    Running,
    /// Warming up; the phase is the last one completed (never `Complete`).
    Warming(Phase),
    /// Between `shutdown_begin` and the step that ends the shutdown
    /// (`EventuallyPersistentEngine::destroyInner` -> `EPBucket::deinitialize`).
    ShuttingDown {
        /// This shutdown wrote stats.json (`ep_force_shutdown=false`, or, when a guarded design's
        /// guard is false, `true`).
        flag_written: bool,
        /// The flusher made its final pass and stopped (`EPBucket::stopFlusher`).
        flusher_stopped: bool,
        /// Warmup, the expiry pager and compaction were stopped
        /// (`EPBucket::stopWarmup`, `KVBucket::deinitialize` -> `unregisterTaskable`).
        tasks_stopped: bool,
        /// The last warmup phase completed, if warmup had not completed when the shutdown
        /// began (never `Complete`): warmup goes on through the shutdown until it is stopped
        /// or the tasks stop.
        warmup: Option<Phase>,
        /// `Warmup::stop` cancelled warmup's pending tasks and forced its state to Done: no
        /// phase runs any more and `hasLoadedMetaData()` is true.
        warmup_stopped: bool,
        /// `hasLoadedMetaData()` as `EPBucket::stopWarmup` read it before `Warmup::stop`
        /// (recorded by `after-flush-if-loaded-before-stop` only).
        loaded_at_stop: bool,
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

    /// The last warmup phase completed, while warming up or shutting down during warmup.
    pub fn warmup_phase(self) -> Option<Phase> {
        match self {
            Process::Warming(p) => Some(p),
            Process::ShuttingDown { warmup, .. } => warmup,
            _ => None,
        }
    }

    /// `Warmup::hasLoadedMetaData()`: the vb map was populated, or warmup was forced to Done.
    pub fn has_loaded_metadata(self) -> bool {
        match self {
            Process::ShuttingDown {
                warmup_stopped: true,
                ..
            } => true,
            p => p.vb_map_populated(),
        }
    }

    /// The vb map has been populated in this run of the process: running, or warmup got past
    /// PopulateVBucketMap (shutting down included). A forced stop does not populate it.
    pub fn vb_map_populated(self) -> bool {
        match self {
            Process::Running => true,
            Process::Warming(p) => p >= Phase::PopulateVBucketMap,
            Process::ShuttingDown { warmup, .. } => {
                warmup.is_none_or(|p| p >= Phase::PopulateVBucketMap)
            }
            Process::Down => false,
        }
    }

    /// The DCP producer serves the vb map: populated, and no shutdown has closed the
    /// connections (`shutdownAllConnections` comes first in a shutdown).
    fn serves_dcp(self) -> bool {
        self.vb_map_populated() && !matches!(self, Process::ShuttingDown { .. })
    }

    /// Expiry runs (gets while not shutting down; compaction and the expiry pager also through
    /// a shutdown until the tasks stop): the vb map is populated and the tasks run.
    fn expiry_runs(self) -> bool {
        self.vb_map_populated()
            && !matches!(
                self,
                Process::ShuttingDown {
                    tasks_stopped: true,
                    ..
                }
            )
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
                tasks_stopped,
                warmup,
                warmup_stopped,
                ..
            } => {
                let stopped = |b: bool| if b { "stopped" } else { "running" };
                let mut d = format!(
                    "shutting down, clean flag {}written, flusher {}, tasks {}",
                    if flag_written { "" } else { "not " },
                    stopped(flusher_stopped),
                    stopped(tasks_stopped)
                );
                if let Some(p) = warmup {
                    d.push_str(&format!(", warmup after {}", p.name()));
                    if warmup_stopped {
                        d.push_str(" (stopped: forced to Done)");
                    }
                }
                d
            }
            p => p.name().to_string(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The cluster
// ---------------------------------------------------------------------------------------------

/// The active node, the replicas, their files, the clock. See the module docs.
pub struct Cluster {
    variant: Variant,
    bugs: SeededBugs,
    dir: PathBuf,
    backend: StorageBackend,
    uuids: Box<dyn UuidGen>,
    clock: u64,
    process: Process,
    read_clean: Option<bool>,
    /// Every node's stats.json, by node (`node_name`); the active node's is
    /// `stats[roles.active]`. A replica node's is written only when it is promoted.
    stats: Vec<StatsDisk>,
    /// Cache of what the active node's stats.json says; re-read at every open and crash.
    clean_flag: bool,
    /// The active node's vbuckets.
    vbs: Vec<ActiveVb>,
    /// `replicas[r][vb]`: replica `r` is node `roles.replicas[r]`.
    replicas: Vec<Vec<ReplicaVb>>,
    /// Which node has which role (the cluster manager's map), and its file.
    roles: Roles,
    map_file: promotion::MapFile,
    /// The failed-over node's data files, from its failover until it is added back.
    failed_over: Option<Vec<VbDisk>>,
    /// `failedToSetAVbucketState`: warmup's synchronous vbstate flush failed; client writes
    /// are refused until the node restarts (MB-41257).
    traffic_refused: bool,
    /// The test seam that makes the active's data-file commits fail
    /// ([`Cluster::fail_next_flushes`]); every active data file is opened through it.
    disk_full: DiskFull,
    /// Where each logged call goes, and whether with the state after it.
    event_logs: Vec<(Box<dyn Write + Send>, event::States)>,
    /// Created by `create` and no call logged since: a log added now starts with `create`.
    fresh: bool,
    poisoned: Option<String>,
    _lock: Option<crate::storage::DirLock>,
    /// What was last read of each file for an image, by path.
    image_cache: Vec<Option<image::SavedFile>>,
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

/// The file layout: one directory per node, named by [`node_name`]; node 0 (`active`) is the
/// node that is active when the bucket is created, node `i` (`r<i>`) its replica `i`.
pub fn node_dir(dir: &Path, node: usize) -> PathBuf {
    dir.join(node_name(node))
}

/// Node `node`'s data file for `vb`.
pub fn node_vb_path(dir: &Path, node: usize, vb: u16) -> PathBuf {
    node_dir(dir, node).join(format!("vb{vb}.couch"))
}

/// The directory of node 0, the node that is active when the bucket is created.
pub fn active_dir(dir: &Path) -> PathBuf {
    node_dir(dir, 0)
}

/// Node 0's data file for `vb` (the active's until a failover).
pub fn active_vb_path(dir: &Path, vb: u16) -> PathBuf {
    node_vb_path(dir, 0, vb)
}

/// Node `r + 1`'s data file for `vb`: replica `r`'s (0-based) until a failover.
pub fn replica_vb_path(dir: &Path, r: usize, vb: u16) -> PathBuf {
    node_vb_path(dir, r + 1, vb)
}

/// `r1` for replica index 0.
pub fn replica_name(r: usize) -> String {
    format!("r{}", r + 1)
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
        check_design(variant)?;
        let storage = crate::storage::StorageBugs {
            unordered_failover_tables: variant.reverted.mb20822,
            ..bugs.storage()
        };
        let mut dirs = vec![dir.clone()];
        dirs.extend((0..=replicas).map(|n| node_dir(&dir, n)));
        disk::make_dirs(&backend, &dirs)?;
        let lock = disk::lock_dir(&backend, &dir)?;
        if disk::bucket_exists(&backend, &active_dir(&dir))? {
            return Err(EngineError::Directory(format!(
                "{} already holds a bucket (use open)",
                dir.display()
            )));
        }
        let disk_full = DiskFull::new();
        let active_backend = disk::with_disk_full(&backend, &disk_full);
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
            let disk = VbDisk::create(&active_backend, storage, &active_vb_path(&dir, vb), &state)?;
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
                let disk =
                    VbDisk::create(&backend, storage, &replica_vb_path(&dir, r, vb), &state)?;
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
        let mut stats: Vec<StatsDisk> = (0..=replicas)
            .map(|n| StatsDisk::open(&backend, &node_dir(&dir, n)))
            .collect();
        stats[0].write(None)?;
        Ok(Cluster {
            variant,
            bugs,
            roles: Roles::initial(replicas),
            map_file: promotion::MapFile::absent(&dir),
            failed_over: None,
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
            traffic_refused: false,
            disk_full,
            event_logs: Vec::new(),
            fresh: true,
            poisoned: None,
            _lock: lock,
            image_cache: Vec::new(),
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
        check_design(variant)?;
        let storage = crate::storage::StorageBugs {
            unordered_failover_tables: variant.reverted.mb20822,
            ..bugs.storage()
        };
        let lock = disk::lock_dir(&backend, &dir)?;
        if !disk::bucket_exists(&backend, &active_dir(&dir))? {
            return Err(EngineError::Directory(format!(
                "{} holds no bucket (no {}; use create)",
                dir.display(),
                active_dir(&dir).join("stats.json").display()
            )));
        }
        let (roles, map_file) = promotion::MapFile::read(&backend, &dir, replicas)?;
        let mut stats: Vec<StatsDisk> = (0..=replicas)
            .map(|n| StatsDisk::open(&backend, &node_dir(&dir, n)))
            .collect();
        let clean_flag = stats[roles.active].read_force_shutdown()?.as_deref() == Some("false");
        let disk_full = DiskFull::new();
        let active_backend = disk::with_disk_full(&backend, &disk_full);
        let mut vbs = Vec::new();
        for vb in 0..vbuckets {
            let path = node_vb_path(&dir, roles.active, vb);
            let disk = VbDisk::open(&active_backend, storage, &path)?;
            vbs.push(ActiveVb { disk, mem: None });
        }
        let mut replica_vbs = Vec::new();
        for &node in &roles.replicas {
            let mut row = Vec::new();
            for vb in 0..vbuckets {
                let path = node_vb_path(&dir, node, vb);
                let disk = VbDisk::open(&backend, storage, &path)?;
                row.push(ReplicaVb::from_disk(disk));
            }
            replica_vbs.push(row);
        }
        let failed_over = match roles.failed_over {
            Some(node) => Some(
                (0..vbuckets)
                    .map(|vb| VbDisk::open(&backend, storage, &node_vb_path(&dir, node, vb)))
                    .collect::<Result<Vec<_>, _>>()?,
            ),
            None => None,
        };
        Ok(Cluster {
            variant,
            bugs,
            roles,
            map_file,
            failed_over,
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
            traffic_refused: false,
            disk_full,
            event_logs: Vec::new(),
            fresh: false,
            poisoned: None,
            _lock: lock,
            image_cache: Vec::new(),
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

    /// `failedToSetAVbucketState`: a synchronous vbstate flush of this warmup failed, so client
    /// writes are refused until the node restarts (MB-41257).
    pub fn traffic_refused(&self) -> bool {
        self.traffic_refused
    }

    /// Test seam (not kv_engine, not logged): the next `n` commits to the active's data files
    /// (flushes, and warmup's synchronous vbstate flushes) fail as on a full disk, through the
    /// storage seam: each one's first write is cut short with `ENOSPC`, whatever the backend
    /// (real files included). The storage layer undoes each failed commit; the engine survives
    /// it ([`EngineError::FlushFailed`]). 0 disarms.
    pub fn fail_next_flushes(&mut self, n: u32) {
        self.disk_full.fail_next_appends(u64::from(n));
    }

    /// How many commits [`fail_next_flushes`](Self::fail_next_flushes) still has to fail.
    pub fn armed_flush_failures(&self) -> u32 {
        u32::try_from(self.disk_full.armed()).unwrap_or(u32::MAX)
    }

    /// Every successful call from now on appends one NDJSON line to `w` (and to no other log):
    /// `{"call":"set","vb":0,"key":"k0","value":"v1","ttl":1,"seqno":1,"state":<view>}`.
    /// The lines are [`event::Event`]s (`docs/event-log.md`).
    pub fn set_event_log(&mut self, w: Box<dyn Write + Send>) {
        self.event_logs.clear();
        self.add_event_log(w, event::States::With);
    }

    /// Every successful call from now on appends one NDJSON line to `w` too, with the state
    /// after the call or without. A log without states of a fresh cluster (no call made since
    /// `create`) starts with a `create` line giving its shape; an error writing it is the
    /// first logged call's.
    pub fn add_event_log(&mut self, mut w: Box<dyn Write + Send>, states: event::States) {
        if states == event::States::Without && self.fresh {
            let create = event::Call::Create {
                vbuckets: self.vbuckets(),
                replicas: self.replicas(),
            };
            // A failed write shows at the next call's, which writes to the same sink.
            let _ = w.write_all(event::line(&create, None).as_bytes());
        }
        self.event_logs.push((w, states));
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

    fn in_map(&self, vb: u16) -> bool {
        self.vbs[vb as usize].mem.as_ref().is_some_and(|m| m.in_map)
    }

    /// Reopen the active node's data files from what storage has (after a crash). The replica nodes
    /// did not crash: their files are reopened only when the fault-injecting backend crashed
    /// the machine under them (its handles are stale then), or when a failed write left a
    /// replica's file and memory apart. Replicas commit every mutation durably, so a reopened
    /// replica file must come back exactly as it was.
    fn reopen_files(&mut self) -> Result<(), EngineError> {
        let machine_crashed = matches!(self.backend, StorageBackend::Faulty(_));
        let storage = self.storage_rules();
        let active_backend = disk::with_disk_full(&self.backend, &self.disk_full);
        for vb in 0..self.vbuckets() {
            let path = node_vb_path(&self.dir, self.roles.active, vb);
            let disk = VbDisk::open(&active_backend, storage, &path)?;
            self.vbs[vb as usize].disk = disk;
        }
        if machine_crashed {
            // The failed-over node's files were closed; the machine's crash reaches them too.
            if let (Some(disks), Some(node)) = (&mut self.failed_over, self.roles.failed_over) {
                for (vb, d) in disks.iter_mut().enumerate() {
                    let path = node_vb_path(&self.dir, node, vb as u16);
                    *d = VbDisk::open(&self.backend, storage, &path)?;
                }
            }
        }
        for row in self.replicas.iter_mut() {
            for rv in row.iter_mut() {
                if !machine_crashed && !rv.failed_write {
                    continue;
                }
                let path = rv.disk.path().to_path_buf();
                let disk = VbDisk::open(&self.backend, storage, &path)?;
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
        // stats.json is as the engine last read or replaced it, unless the machine crashed or
        // a replacement failed: then it is read again (warmup reads it anyway).
        let active = self.roles.active;
        if machine_crashed || self.stats[active].known_bytes().is_none() {
            self.stats[active] = StatsDisk::open(&self.backend, &node_dir(&self.dir, active));
            self.clean_flag = self.stats[active].read_force_shutdown()?.as_deref() == Some("false");
        }
        Ok(())
    }

    /// Append `call` to every event log (the state after it to those that carry states).
    fn log(&mut self, call: event::Call) -> Result<(), EngineError> {
        self.fresh = false;
        if self.event_logs.is_empty() {
            return Ok(());
        }
        let with_states = self
            .event_logs
            .iter()
            .any(|(_, s)| *s == event::States::With);
        let view = with_states.then(|| self.view());
        let (mut bare, mut full) = (None, None);
        for (w, states) in &mut self.event_logs {
            let line = match states {
                event::States::With => {
                    full.get_or_insert_with(|| event::line(&call, view.as_ref()))
                }
                event::States::Without => bare.get_or_insert_with(|| event::line(&call, None)),
            };
            w.write_all(line.as_bytes())
                .and_then(|()| w.flush())
                .map_err(EngineError::EventLog)?;
        }
        Ok(())
    }
}

/// The designs this engine implements: all but MB-21769's fix reverted (see [`Reverted`]).
fn check_design(variant: Variant) -> Result<(), EngineError> {
    if variant.reverted.mb21769 {
        return Err(EngineError::InvalidArgument(
            "the design reverts MB-21769's fix (a set_vbucket_state counted in the snapshot \
             range), which this engine does not implement: its reader refuses a vbstate whose \
             snapshot starts above the high seqno"
                .into(),
        ));
    }
    Ok(())
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
