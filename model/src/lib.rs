//! A model of kv_engine's vBucket warmup and the MB-41942 bug family.
//!
//! **What is modelled.** One active node holding `V` vbuckets and `R` replica nodes. On the
//! active: client writes (set, with or without a TTL; delete), time passing, expiry (by get,
//! compaction or the pager: one action, they have the same effect), the checkpoint queue with
//! set_vbucket_state items, the flusher and its notification rule, the disk (committed history,
//! committed vbstate, stats.json's clean-shutdown flag), crashes at any point, a clean shutdown
//! as its separate steps, and warmup as its phases. Between the nodes: DCP stream requests
//! decided by kv_engine 6.5's `needsRollback`, replica rollback, and streaming of mutations
//! (unpersisted ones included). The designs of section 4 of the domain brief are [`Variant`]s.
//!
//! A clean shutdown may begin at any moment, warmup included; warmup, the expiry pager and
//! compaction go on through it until the bucket's tasks are stopped; flushes may fail (bounded
//! by `Bounds::flush_failures`). `docs/fidelity.md` gives the kv_engine source of each.
//!
//! With `Bounds::failovers` above 0 (default 0), the cluster manager may also fail a down
//! active over, promoting a replica, and add the failed-over node back as a replica
//! (`promotion.rs`).
//!
//! **What is left out, deliberately.** Replica crashes (the bug needs none);
//! de-duplication (every seqno is streamed; compaction never drops old revisions); purging
//! (`purge_seqno` is always 0); the warmup phases that do not matter here (collection counts,
//! key dump, access log). Each is discussed in `docs/fidelity.md`.
//!
//! The model does no I/O and knows nothing of the implementation.

mod clone;
mod dcp;
pub mod failover;
mod fingerprint;
mod flusher;
mod history;
pub mod parse;
mod promotion;
pub mod properties;
mod shutdown;
pub mod story;
pub mod svg;
pub mod variant;
pub mod view;
mod warmup;

use failover::{Seqno, Table, Uuid};
pub use history::History;
use serde::{Deserialize, Serialize};
use smallvec::SmallVec;
use stateright::{Model, Property, Representative};
use std::fmt;
pub use variant::{PersistEntry, Reverted, RollbackRetry, ShutdownFlag, StopWarmup, Variant};

// ---------------------------------------------------------------------------------------------
// Bounds
// ---------------------------------------------------------------------------------------------

/// The bounds of a check. `into_model` pairs them with a design.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(
    feature = "schemars",
    derive(schemars::JsonSchema),
    schemars(deny_unknown_fields)
)]
pub struct Bounds {
    /// Vbuckets on the active node.
    #[cfg_attr(feature = "schemars", schemars(range(min = 1)))]
    pub vbuckets: u8,
    /// Replica nodes.
    pub replicas: u8,
    /// Distinct keys clients write.
    #[cfg_attr(feature = "schemars", schemars(range(min = 1)))]
    pub keys: u8,
    /// Client writes (sets and deletes) in a whole behaviour, across restarts.
    pub writes: u8,
    /// Crashes of the active node.
    pub crashes: u8,
    /// Clean shutdowns of the active node.
    pub shutdowns: u8,
    /// Failed flushes (the flusher's or warmup's synchronous vbstate flush), in a whole
    /// behaviour. Traces written before flush failures were modelled carry none: 0.
    #[serde(default)]
    pub flush_failures: u8,
    /// Failovers: the cluster manager promotes a replica of a down active node
    /// (`KVBucket::setVBucketState`), and the failed-over node may later be added back as a
    /// replica. 0 (the default) leaves every behaviour, count and report as it was before
    /// failover was modelled; traces written before then carry none.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub failovers: u8,
}

fn is_zero(n: &u8) -> bool {
    *n == 0
}

impl Default for Bounds {
    /// Deep enough for the domain brief's MB-41942 story: two writes, two crashes.
    fn default() -> Self {
        Bounds {
            vbuckets: 1,
            replicas: 1,
            keys: 2,
            writes: 2,
            crashes: 2,
            shutdowns: 1,
            flush_failures: 0,
            failovers: 0,
        }
    }
}

impl fmt::Display for Bounds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} vbucket{}, {} replica{}, {} key{}, {} client write{}, {} crash{}, {} clean shutdown{}, {} flush failure{}",
            self.vbuckets,
            plural(self.vbuckets, "s"),
            self.replicas,
            plural(self.replicas, "s"),
            self.keys,
            plural(self.keys, "s"),
            self.writes,
            plural(self.writes, "s"),
            self.crashes,
            plural(self.crashes, "es"),
            self.shutdowns,
            plural(self.shutdowns, "s"),
            self.flush_failures,
            plural(self.flush_failures, "s"),
        )?;
        // Printed only when asked for, so that every report of a check without failovers
        // reads as it did before they were modelled.
        if self.failovers > 0 {
            write!(
                f,
                ", {} failover{}",
                self.failovers,
                plural(self.failovers, "s")
            )?;
        }
        Ok(())
    }
}

fn plural(n: u8, suffix: &str) -> &str {
    if n == 1 {
        ""
    } else {
        suffix
    }
}

impl Bounds {
    pub fn into_model(self, variant: Variant) -> Warmup {
        assert!(self.vbuckets >= 1, "at least one vbucket");
        assert!(self.keys >= 1, "at least one key");
        // Seqnos, uuids and values are u8: keep the bounds far from overflow.
        assert!(self.writes <= 60 && self.crashes <= 20 && self.vbuckets <= 8);
        assert!(self.flush_failures <= 20 && self.shutdowns <= 20 && self.failovers <= 20);
        Warmup {
            bounds: self,
            variant,
            only: None,
        }
    }
}

/// The model: a design checked within bounds.
#[derive(Clone, Debug)]
pub struct Warmup {
    pub bounds: Bounds,
    pub variant: Variant,
    /// Check only these properties (all when `None`).
    pub only: Option<Vec<String>>,
}

// ---------------------------------------------------------------------------------------------
// Actions
// ---------------------------------------------------------------------------------------------

/// Every step the system can take, each named after what it does so that a counterexample
/// reads as a story. The `Debug` form is what counterexamples, story files and Explorer print.
/// `docs/fidelity.md` cites the kv_engine source of each.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(
    feature = "schemars",
    derive(schemars::JsonSchema),
    schemars(deny_unknown_fields)
)]
pub enum Action {
    /// A client set, with or without a TTL (`KVBucket::set` -> `VBucket::queueItem`).
    ClientSets { vb: u8, key: Key, ttl: bool },
    /// A client delete of a live key (`KVBucket::deleteItem`).
    ClientDeletes { vb: u8, key: Key },
    /// Time passes (`ep_current_time()`).
    ClockAdvances,
    /// A get, compaction or the expiry pager deletes an expired item at a new seqno
    /// (`VBucket::processExpiredItem`, `EPBucket::compactionCompletionCallback`,
    /// `ExpiredItemPager`).
    ItemExpires { vb: u8, key: Key },
    /// The flusher's atomic commit of a vb's queued items with the cached vbstate
    /// (`EPBucket::flushVBucket`).
    FlusherCommits { vb: u8 },
    /// A flush of the vb fails (`flushVBucket` returns `MoreAvailable::Yes`): nothing is
    /// written, the items stay queued and the vb stays in the flusher's queue for a retry
    /// (`Flusher::flushVB` -> `lpVbs.pushUnique`).
    FlusherCommitFails { vb: u8 },
    /// The periodic `StatSnap` task rewrites stats.json without `ep_force_shutdown`
    /// (kv_engine before MB-52054).
    StatsSnapshotRewritesStatsJson,
    /// kill -9 of the active node.
    ActiveCrashes,
    /// A bucket shutdown begins (`EventuallyPersistentEngine::destroyInner`): client traffic
    /// and DCP connections stop (`shutdownAllConnections`); warmup, the expiry pager and
    /// compaction go on.
    ShutdownBegins,
    /// stats.json gets `ep_force_shutdown=false` (v6.5.1: `KVBucket::snapshotStats` in
    /// `destroyInner`; today `KVBucket::persistShutdownContext`).
    ShutdownWritesCleanFlag,
    /// The flusher's final pass is done and it stops (`EPBucket::stopFlusher`).
    ShutdownStopsFlusher,
    /// Warmup is stopped and the bucket's tasks are unregistered (`EPBucket::stopWarmup` ->
    /// `Warmup::stop` -> `done()`; `KVBucket::deinitialize` -> `unregisterTaskable`).
    ShutdownStopsTasks,
    /// `Warmup::initialize`: reads stats.json; since MB-45756 writes `ep_force_shutdown=true`.
    WarmupInitializes,
    /// `Warmup::createVBuckets`: vbs from their vbstate; `createEntry` if active and unclean.
    WarmupCreatesVBuckets,
    /// `Warmup::populateVBucketMap`: the vbs enter the vb map (with the design's persistence
    /// of the new entry).
    WarmupPopulatesVBucketMap,
    /// `Warmup::populateVBucketMap` in a `sync-flush` design whose synchronous vbstate flush
    /// fails: the vbs enter the map all the same, the set_vbucket_state stays queued, and the
    /// node sets `failedToSetAVbucketState` (MB-41257).
    WarmupPopulatesVBucketMapFlushFailing,
    /// `Warmup::loadKVPairsforShard` / `loadDataforShard`.
    WarmupLoadsData,
    /// Warmup reaches its Done state.
    WarmupReachesDone,
    /// `Warmup::done` -> `KVBucket::warmupCompleted`: traffic is enabled (unless a vbstate
    /// flush failed).
    WarmupCompletes,
    /// A replica's stream request (`DcpProducer::streamRequest` -> `FailoverTable::needsRollback`)
    /// and the consumer's answer to a rollback (`DcpConsumer::handleRollbackResponse`,
    /// `KVBucket::rollback`).
    ReplicaRequestsStream { replica: u8, vb: u8 },
    /// The producer sends the replica its next mutation (`ActiveStream`), opening a snapshot
    /// when the last one is complete.
    ReplicaReceives { replica: u8, vb: u8, seqno: Seqno },
    /// The cluster manager fails the down active node over: in every vb, replica `replica` is
    /// promoted (`KVBucket::setVBucketState` -> `continueToActive` -> `processFailover`: a new
    /// failover entry at the design's promotion seqno, and a queued set_vbucket_state); the
    /// other replicas' streams drop and they ask the new active. The failed-over node keeps
    /// its disk and stats.json.
    ClusterFailsOverToReplica { replica: u8 },
    /// The failed-over node is added back (delta recovery): it restarts and warms up from its
    /// own disk (its vbstate says active, so an unclean shutdown gets a new entry,
    /// `VBucketLoader::createVBucket`), then the cluster manager makes it a replica of every
    /// vb and its consumer asks the new active for a stream from its own failover table.
    FailedOverNodeIsAddedBack,
}

// ---------------------------------------------------------------------------------------------
// State
// ---------------------------------------------------------------------------------------------

/// A key a client writes. Printed `k0`, `k1`, ...
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct Key(pub u8);

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "k{}", self.0)
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// What a mutation did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Op {
    /// A client set. `value` is the number of the client write (1-based, counted across
    /// restarts), so it names the write uniquely; `expiry` is the tick it expires at.
    Set { value: u8, expiry: Option<u8> },
    /// A client delete.
    Delete,
    /// The deletion of an expired item. Ghost state: `in_warmup`, whether the active node was
    /// still warming up when it expired the item; `in_shutdown`, whether a clean shutdown had
    /// begun (DCP connections were closed, so no DCP client can have seen it).
    Expire { in_warmup: bool, in_shutdown: bool },
}

/// One mutation, at the seqno given by its position in a history.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Mutation {
    pub key: Key,
    pub op: Op,
    /// Ghost: the uuid of the active's newest failover entry when the mutation was made, i.e.
    /// the branch of history it belongs to; for a mutation a promoted replica holds above its
    /// new entry's seqno, that entry's uuid (the entry says the history from there on is its).
    pub branch: Uuid,
}

impl Mutation {
    /// Two nodes hold "the same mutation" at a seqno when key, op and value agree (ghost
    /// fields aside): what a DCP client or a promoted replica would observe.
    pub fn same_content(&self, other: &Mutation) -> bool {
        self.key == other.key
            && match (self.op, other.op) {
                (Op::Set { value: a, .. }, Op::Set { value: b, .. }) => a == b,
                (Op::Delete, Op::Delete) => true,
                (Op::Expire { .. }, Op::Expire { .. }) => true,
                _ => false,
            }
    }
}

impl fmt::Debug for Mutation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.op {
            Op::Set { value, expiry } => {
                write!(f, "set {} v{}", self.key, value)?;
                if expiry.is_some() {
                    f.write_str(" (ttl)")?;
                }
                Ok(())
            }
            Op::Delete => write!(f, "delete {}", self.key),
            Op::Expire { .. } => write!(f, "expire {}", self.key),
        }
    }
}

/// An item in a checkpoint queue.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Queued {
    Mutation(Seqno),
    /// A set_vbucket_state meta item carrying a copy of the failover table.
    SetVbState(Table),
}

impl fmt::Debug for Queued {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Queued::Mutation(s) => write!(f, "seqno {s}"),
            Queued::SetVbState(t) => write!(f, "set_vbucket_state {t}"),
        }
    }
}

/// A vbucket in the active node's memory: lost at a crash.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ActiveVb {
    /// In the vb map: takes DCP, expiry, and flusher notifications.
    pub in_map: bool,
    /// The mutation at each seqno, seqno `i + 1` at index `i`. `high_seqno` is its length.
    pub history: History,
    pub failover: Table,
    /// The checkpoint queue: what the flusher has not persisted yet.
    pub queue: Queue,
    /// The flusher was notified about this vb.
    pub notified: bool,
    /// CreateVBuckets created a failover entry in this warmup.
    pub new_entry: bool,
    /// Ghost: a flush of this vb failed and nothing has been committed for it since.
    pub flush_failed: bool,
    /// The KVStore's cached vbstate holds a table the disk does not: a vbstate-only flush
    /// failed after updating the cache (only with MB-37920's fix reverted).
    pub cache_ahead: bool,
}

impl ActiveVb {
    pub fn high_seqno(&self) -> Seqno {
        self.history.len() as Seqno
    }

    /// The newest mutation of `key`, if any.
    pub fn newest(&self, key: Key) -> Option<Mutation> {
        self.history.iter().rev().find(|m| m.key == key).copied()
    }
}

/// What the active node's data file for a vb holds as of its newest commit.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct DiskVb {
    pub history: History,
    /// The failover table of the committed `_local/vbstate`.
    pub failover: Table,
    pub snap_start: Seqno,
    pub snap_end: Seqno,
    /// The committed vbstate's `state` is `replica`: a promoted copy whose node has not
    /// flushed since its promotion (the first flush writes the queued set_vbucket_state, and
    /// with it `active`). Its table is the producer's, adopted at the stream's acceptance, so
    /// entries above this copy's high seqno are expected there.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub replica: bool,
}

impl DiskVb {
    pub fn persisted_seqno(&self) -> Seqno {
        self.history.len() as Seqno
    }

    /// Where warmup puts a new failover entry for this vb (`VBucketLoader::createVBucket`):
    /// the snapshot's end if everything up to it is on disk, else its start.
    pub fn entry_seqno(&self) -> Seqno {
        if self.persisted_seqno() == self.snap_end {
            self.snap_end
        } else {
            self.snap_start
        }
    }
}

/// The state of a replica's DCP stream for a vb.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Stream {
    /// No stream (never opened, or dropped when the active crashed or shut down).
    None,
    /// The producer answered the last request with a rollback to this seqno; the consumer has
    /// rolled back and must ask again.
    RolledBack(Seqno),
    /// The producer accepted the stream; mutations flow.
    Accepted,
}

/// A replica node's copy of a vb. Replicas never crash, so memory and disk agree.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ReplicaVb {
    pub history: History,
    pub failover: Table,
    pub snap_start: Seqno,
    pub snap_end: Seqno,
    pub stream: Stream,
    /// Ghost: this copy is the failed-over node's, added back (`FailedOverNodeIsAddedBack`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub added_back: bool,
}

impl ReplicaVb {
    pub fn high_seqno(&self) -> Seqno {
        self.history.len() as Seqno
    }
}

/// Everything about one vb: the active's memory (if up), its disk, and each replica's copy.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Vb {
    pub active: Option<ActiveVb>,
    pub disk: DiskVb,
    pub replicas: Replicas,
    /// The failed-over node's disk for this vb, from the failover until it is added back.
    /// Boxed: a state without failover (every state at `--failovers 0`) stays as small as
    /// before it was modelled, which is what a breadth-first level holds millions of.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_over: Option<Box<DiskVb>>,
}

/// A checkpoint queue; up to 4 items inline.
pub type Queue = SmallVec<[Queued; 4]>;
/// A vb's replicas; up to 2 inline.
pub type Replicas = SmallVec<[ReplicaVb; 2]>;
/// The vbs; one inline (the default bounds).
pub type Vbs = SmallVec<[Vb; 1]>;

/// The warmup phases, in order. A node in `Warming(p)` has completed phase `p`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Phase {
    Initialize,
    CreateVBuckets,
    PopulateVBucketMap,
    LoadingData,
    Done,
}

impl Phase {
    pub fn name(self) -> &'static str {
        match self {
            Phase::Initialize => "initialize",
            Phase::CreateVBuckets => "create-vbuckets",
            Phase::PopulateVBucketMap => "populate-vbucket-map",
            Phase::LoadingData => "loading-data",
            Phase::Done => "done",
        }
    }
}

/// How the active node went down (ghost state). `harmful_loss`: it lost something that matters
/// if the next warmup believes the shutdown clean: a failover entry not on disk, or a mutation a
/// DCP client could have seen (see [`State::harmful_loss`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Down {
    Crashed { in_warmup: bool, harmful_loss: bool },
    ShutDown { in_warmup: bool, harmful_loss: bool },
}

/// How far a clean shutdown (`EventuallyPersistentEngine::destroyInner` ->
/// `EPBucket::deinitialize`) has got.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Shutdown {
    /// stats.json was written with `ep_force_shutdown=false` by this shutdown.
    pub flag_written: bool,
    /// The flusher made its final pass and stopped (`EPBucket::stopFlusher`).
    pub flusher_stopped: bool,
    /// The bucket's tasks (warmup, expiry pager, compaction) were stopped
    /// (`KVBucket::deinitialize` -> `ExecutorPool::unregisterTaskable`).
    pub tasks_stopped: bool,
    /// The last warmup phase completed, if warmup had not completed when the shutdown began.
    /// Warmup's tasks go on through the shutdown until warmup is stopped or the tasks are.
    pub warmup: Option<Phase>,
    /// `Warmup::stop` found warmup tasks in its `taskSet`, cancelled them and forced the
    /// warmup state to Done (`transition(Done, true)`): no warmup phase runs any more, and
    /// `Warmup::hasLoadedMetaData()` is true. `warmup` keeps the last phase that really ran.
    pub warmup_stopped: bool,
    /// `hasLoadedMetaData()` as `EPBucket::stopWarmup` read it before calling `Warmup::stop`;
    /// recorded only by the design that reads it (`after-flush-if-loaded-before-stop`), so
    /// that it adds no states to the others.
    pub loaded_at_stop: bool,
}

/// The active node's process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Node {
    Running,
    Warming(Phase),
    ShuttingDown(Shutdown),
    Down(Down),
}

/// A state of the model. Every sequence in it is kept inline at the usual bounds, so a state
/// is one block; its `Hash` (the checker's fingerprint) hashes a packed encoding of it in one
/// pass (`fingerprint.rs`); its `Clone` copies it in one `memcpy` when nothing has spilled to
/// the heap (`clone.rs`).
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct State {
    pub node: Node,
    /// stats.json on disk says `ep_force_shutdown: "false"`.
    pub clean_flag: bool,
    /// What warmup's Initialize read from stats.json; kept until the node goes down.
    pub read_clean: Option<bool>,
    /// Ticks passed.
    pub clock: u8,
    pub vbs: Vbs,
    /// The next uuid `createEntry` hands out (ghost of the random generator).
    pub next_uuid: Uuid,
    pub writes: u8,
    pub crashes: u8,
    pub shutdowns: u8,
    pub flush_failures: u8,
    /// `failedToSetAVbucketState`: warmup's synchronous vbstate flush failed, so the node
    /// refuses EnableTraffic (client writes) until it restarts (MB-41257).
    pub traffic_refused: bool,
    /// Ghost: a flush that had failed was later committed.
    pub flush_retried: bool,
    /// Failovers so far.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub failovers: u8,
    /// The failed-over node, from its failover until it is added back: its stats.json
    /// (`ep_force_shutdown: "false"`); its disk is in each [`Vb::failed_over`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_over: Option<FailedOverNode>,
}

/// A node the cluster manager failed over, out of the cluster until it is added back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct FailedOverNode {
    /// Its stats.json says `ep_force_shutdown: "false"`: its warmup at add-back will believe
    /// the shutdown clean.
    pub clean_flag: bool,
}

impl State {
    /// The last warmup phase completed, while warming up (or shutting down during warmup).
    pub fn warmup_phase(&self) -> Option<Phase> {
        match self.node {
            Node::Warming(p) => Some(p),
            Node::ShuttingDown(sd) => sd.warmup,
            _ => None,
        }
    }

    /// `Warmup::hasLoadedMetaData()` on the state kv_engine holds: true once
    /// `populateVBucketMap` finished its last shard (the state moved on to KeyDump,
    /// CheckForAccessLog or Done), and true at Done however Done was reached, a forced stop
    /// included.
    pub fn has_loaded_metadata(&self) -> bool {
        match self.node {
            Node::ShuttingDown(sd) if sd.warmup_stopped => true,
            _ => self.vb_map_populated(),
        }
    }

    /// Whether the vb map has been populated in this run of the process: running, or warmup
    /// got past PopulateVBucketMap (shutting down included). A forced stop does not populate
    /// it: this is the member `proposed` adds, which only `Warmup::populateVBucketMap` sets.
    pub fn vb_map_populated(&self) -> bool {
        match self.node {
            Node::Running => true,
            Node::Warming(p) => p >= Phase::PopulateVBucketMap,
            Node::ShuttingDown(sd) => sd.warmup.is_none_or(|p| p >= Phase::PopulateVBucketMap),
            Node::Down(_) => false,
        }
    }

    /// Whether the DCP producer serves the vb map: populated, and no shutdown has closed the
    /// connections (`shutdownAllConnections` comes first in a shutdown).
    fn serves_dcp(&self) -> bool {
        self.vb_map_populated() && !matches!(self.node, Node::ShuttingDown(_))
    }

    /// Whether the expiry pager and compaction run: the vb map is populated and the bucket's
    /// tasks have not been stopped (they run through a shutdown until `unregisterTaskable`).
    fn expiry_runs(&self) -> bool {
        self.vb_map_populated() && !matches!(self.node, Node::ShuttingDown(sd) if sd.tasks_stopped)
    }

    fn flusher_runs(&self) -> bool {
        match self.node {
            Node::Running | Node::Warming(_) => true,
            Node::ShuttingDown(sd) => !sd.flusher_stopped,
            Node::Down(_) => false,
        }
    }

    fn active(&self, vb: u8) -> Option<&ActiveVb> {
        self.vbs[vb as usize].active.as_ref()
    }

    fn active_mut(&mut self, vb: u8) -> &mut ActiveVb {
        self.vbs[vb as usize]
            .active
            .as_mut()
            .expect("the active vb is in memory")
    }

    fn any_notified(&self) -> bool {
        self.vbs
            .iter()
            .any(|vb| vb.active.as_ref().is_some_and(|a| a.notified))
    }

    /// Whether going down now loses something that matters if the next warmup believes the
    /// shutdown clean: the knowledge that the last shutdown was unclean (warmup read "unclean"
    /// but has not yet created a vb's new failover entry), a failover table in memory that is
    /// not the one on disk (a branch point that would be forgotten), or a queued mutation that
    /// a DCP client could have seen. A
    /// mutation queued after the shutdown closed every DCP connection (an expiry by the pager
    /// or compaction) cannot have been seen; losing it is benign, since the item is still on
    /// disk with its TTL and the next access expires it again (`docs/model.md`).
    pub fn harmful_loss(&self) -> bool {
        let unclean = self.read_clean == Some(false);
        self.vbs.iter().any(|vb| {
            (unclean && vb.active.is_none())
                || vb.active.as_ref().is_some_and(|a| {
                    // A replica vbstate on disk is promoted again, with a new entry, by the
                    // next warmup whatever stats.json says: its entry is not lost.
                    (a.failover != vb.disk.failover && !vb.disk.replica)
                        || a.queue.iter().any(|q| match q {
                            Queued::Mutation(s) => !matches!(
                                a.history[*s as usize - 1].op,
                                Op::Expire {
                                    in_shutdown: true,
                                    ..
                                }
                            ),
                            Queued::SetVbState(t) => *t != vb.disk.failover && !vb.disk.replica,
                        })
                })
        })
    }

    /// Lose everything volatile: the node is down, streams drop.
    fn go_down(&mut self, how: Down) {
        self.node = Node::Down(how);
        self.read_clean = None;
        self.traffic_refused = false;
        for vb in self.vbs.iter_mut() {
            vb.active = None;
        }
        self.drop_streams();
    }

    fn drop_streams(&mut self) {
        for vb in self.vbs.iter_mut() {
            for r in vb.replicas.iter_mut() {
                r.stream = Stream::None;
            }
        }
    }

    /// Queue a mutation at the next seqno of `vb`, notifying the flusher if the vb is in the map.
    fn queue_mutation(&mut self, vb: u8, key: Key, op: Op) {
        let a = self.active_mut(vb);
        let branch = a.failover.newest().uuid;
        a.history.push_back(Mutation { key, op, branch });
        let seqno = a.high_seqno();
        a.queue.push(Queued::Mutation(seqno));
        if a.in_map {
            a.notified = true;
        }
    }

    /// `CheckpointManager::queueSetVBState`: the flusher is notified only if the vb is in the
    /// map.
    fn queue_set_vbstate(&mut self, vb: u8) {
        let a = self.active_mut(vb);
        let table = a.failover.clone();
        a.queue.push(Queued::SetVbState(table));
        if a.in_map {
            a.notified = true;
        }
    }
}

impl Representative for State {
    /// Replicas are interchangeable per vb (nothing couples a replica's vbs), and so are vbs.
    fn representative(&self) -> Self {
        let mut s = self.clone();
        s.sort_replicas_and_vbs();
        s
    }
}

impl State {
    fn sort_replicas_and_vbs(&mut self) {
        for vb in self.vbs.iter_mut() {
            vb.replicas.sort();
        }
        self.vbs.sort();
    }

    /// The representative under data independence: keys are interchangeable (every action is
    /// offered for every key alike, and no property names a key), and values matter only by
    /// equality (a client write's value is fresh, `writes + 1`; properties compare values
    /// only for equality). Keys and values are renamed in the order they first appear in the
    /// state's histories (vb by vb: the active's, the disk's, each replica's), which depends
    /// only on where they appear, not on their names: two states that differ by a renaming of
    /// keys and of values have the same representative. Renamed values stay within
    /// `1..=writes`, so the next write's value is still fresh.
    pub fn representative_data(&self) -> State {
        let mut s = self.clone();
        s.rename_data();
        s
    }

    /// Both reductions: keys and values renamed ([`State::representative_data`]), then
    /// replicas and vbs sorted ([`Representative::representative`]).
    pub fn representative_all(&self) -> State {
        let mut s = self.clone();
        s.rename_data();
        s.sort_replicas_and_vbs();
        s
    }

    fn rename_data(&mut self) {
        const NONE: u8 = u8::MAX;
        let mut keys = [NONE; 256];
        let mut next_key = 0u8;
        let mut values = [NONE; 256];
        let mut next_value = 1u8;
        let mut rename = |h: &mut History| {
            for m in h.as_mut_slice() {
                let k = &mut keys[m.key.0 as usize];
                if *k == NONE {
                    *k = next_key;
                    next_key += 1;
                }
                m.key = Key(*k);
                if let Op::Set { value, .. } = &mut m.op {
                    let v = &mut values[*value as usize];
                    if *v == NONE {
                        *v = next_value;
                        next_value += 1;
                    }
                    *value = *v;
                }
            }
        };
        for vb in self.vbs.iter_mut() {
            if let Some(a) = vb.active.as_mut() {
                rename(&mut a.history);
            }
            rename(&mut vb.disk.history);
            for r in vb.replicas.iter_mut() {
                rename(&mut r.history);
            }
            if let Some(d) = vb.failed_over.as_mut() {
                rename(&mut d.history);
            }
        }
    }
}

impl Model for Warmup {
    type State = State;
    type Action = Action;

    fn init_states(&self) -> Vec<State> {
        let vbs = (0..self.bounds.vbuckets)
            .map(|i| {
                let table = Table::new(i + 1);
                let replica = ReplicaVb {
                    history: History::new(),
                    failover: table.clone(),
                    snap_start: 0,
                    snap_end: 0,
                    stream: Stream::None,
                    added_back: false,
                };
                Vb {
                    active: Some(ActiveVb {
                        in_map: true,
                        history: History::new(),
                        failover: table.clone(),
                        queue: Queue::new(),
                        notified: false,
                        new_entry: false,
                        flush_failed: false,
                        cache_ahead: false,
                    }),
                    disk: DiskVb {
                        history: History::new(),
                        failover: table,
                        snap_start: 0,
                        snap_end: 0,
                        replica: false,
                    },
                    replicas: (0..self.bounds.replicas).map(|_| replica.clone()).collect(),
                    failed_over: None,
                }
            })
            .collect();
        vec![State {
            node: Node::Running,
            clean_flag: false,
            read_clean: None,
            clock: 0,
            vbs,
            next_uuid: self.bounds.vbuckets + 1,
            writes: 0,
            crashes: 0,
            shutdowns: 0,
            flush_failures: 0,
            traffic_refused: false,
            flush_retried: false,
            failovers: 0,
            failed_over: None,
        }]
    }

    fn actions(&self, s: &State, actions: &mut Vec<Action>) {
        let b = &self.bounds;
        let vbs = 0..b.vbuckets;
        let keys = (0..b.keys).map(Key);
        if matches!(s.node, Node::Running) && !s.traffic_refused && s.writes < b.writes {
            for vb in vbs.clone() {
                for key in keys.clone() {
                    actions.push(Action::ClientSets {
                        vb,
                        key,
                        ttl: false,
                    });
                    actions.push(Action::ClientSets { vb, key, ttl: true });
                    if self.is_live(s, vb, key) {
                        actions.push(Action::ClientDeletes { vb, key });
                    }
                }
            }
        }
        if matches!(s.node, Node::Running) && s.clean_flag {
            actions.push(Action::StatsSnapshotRewritesStatsJson);
        }
        let warming = matches!(s.node, Node::Warming(_));
        if (matches!(s.node, Node::Running) || warming) && s.shutdowns < b.shutdowns {
            actions.push(Action::ShutdownBegins);
        }
        // Warmup's next phase, while warming or, until the tasks stop, shutting down.
        let warmup_runs = match s.node {
            Node::Warming(p) => Some(p),
            Node::ShuttingDown(sd) if !sd.tasks_stopped && !sd.warmup_stopped => sd.warmup,
            _ => None,
        };
        if let Some(phase) = warmup_runs {
            self.warmup_steps(s, phase, actions);
        }
        if let Node::ShuttingDown(sd) = s.node {
            self.shutdown_steps(s, sd, actions);
        }
        if matches!(s.node, Node::Down(_)) {
            actions.push(Action::WarmupInitializes);
        }
        if !matches!(s.node, Node::Down(_)) && s.crashes < b.crashes {
            actions.push(Action::ActiveCrashes);
        }
        if self.some_ttl_unexpired(s) {
            actions.push(Action::ClockAdvances);
        }
        self.failover_steps(s, actions);
        for vb in vbs {
            let Some(a) = s.active(vb) else { continue };
            if a.notified && s.flusher_runs() {
                actions.push(Action::FlusherCommits { vb });
                // A flush that writes nothing cannot fail: with MB-37920's fix reverted, a
                // vbstate-only batch whose table the KVStore's cache already took is skipped
                // (found by `soak --failovers`: a promotion queues such batches often).
                let skipped = self.variant.reverted.mb37920
                    && a.cache_ahead
                    && flusher::vbstate_only(&a.queue)
                    && a.queue.last().is_some_and(|q| {
                        matches!(q, Queued::SetVbState(t) if *t != s.vbs[vb as usize].disk.failover)
                    });
                if s.flush_failures < b.flush_failures && !skipped {
                    actions.push(Action::FlusherCommitFails { vb });
                }
            }
            if a.in_map && s.expiry_runs() {
                for key in keys.clone() {
                    if let Some(Mutation {
                        op:
                            Op::Set {
                                expiry: Some(e), ..
                            },
                        ..
                    }) = a.newest(key)
                    {
                        if e <= s.clock {
                            actions.push(Action::ItemExpires { vb, key });
                        }
                    }
                }
            }
            if a.in_map && s.serves_dcp() {
                self.dcp_steps(s, vb, a, actions);
            }
        }
    }

    fn next_state(&self, last: &State, action: Action) -> Option<State> {
        let mut s = last.clone();
        let variant = self.variant;
        match action {
            Action::ClientSets { vb, key, ttl } => {
                s.writes += 1;
                let expiry = ttl.then_some(s.clock + 1);
                let op = Op::Set {
                    value: s.writes,
                    expiry,
                };
                s.queue_mutation(vb, key, op);
            }
            Action::ClientDeletes { vb, key } => {
                s.writes += 1;
                s.queue_mutation(vb, key, Op::Delete);
            }
            Action::ClockAdvances => s.clock += 1,
            Action::ItemExpires { vb, key } => {
                let op = Op::Expire {
                    in_warmup: s.warmup_phase().is_some(),
                    in_shutdown: matches!(s.node, Node::ShuttingDown(_)),
                };
                s.queue_mutation(vb, key, op);
            }
            Action::FlusherCommits { vb } => s.commit(vb, variant),
            Action::FlusherCommitFails { vb } => s.fail_flush(vb, variant),
            Action::StatsSnapshotRewritesStatsJson => s.clean_flag = false,
            Action::ActiveCrashes => {
                s.crashes += 1;
                let how = Down::Crashed {
                    in_warmup: s.warmup_phase().is_some(),
                    harmful_loss: s.harmful_loss(),
                };
                s.go_down(how);
            }
            Action::ShutdownBegins => s.begin_shutdown(variant),
            Action::ShutdownWritesCleanFlag => s.write_clean_flag(variant),
            Action::ShutdownStopsFlusher => s.stop_flusher(),
            Action::ShutdownStopsTasks => s.stop_tasks(variant),
            Action::WarmupInitializes => s.warmup_initialize(variant),
            Action::WarmupCreatesVBuckets => s.warmup_create_vbuckets(variant),
            Action::WarmupPopulatesVBucketMap => s.warmup_populate_vbucket_map(variant, true),
            Action::WarmupPopulatesVBucketMapFlushFailing => {
                s.warmup_populate_vbucket_map(variant, false)
            }
            Action::WarmupLoadsData => s.set_warmup_phase(Phase::LoadingData),
            Action::WarmupReachesDone => s.set_warmup_phase(Phase::Done),
            Action::WarmupCompletes => s.warmup_complete(variant),
            Action::ReplicaRequestsStream { replica, vb } => s.stream_request(variant, replica, vb),
            Action::ReplicaReceives { replica, vb, seqno } => s.receive(replica, vb, seqno),
            Action::ClusterFailsOverToReplica { replica } => s.fail_over(variant, replica),
            Action::FailedOverNodeIsAddedBack => s.add_back(variant),
        }
        if matches!(s.node, Node::ShuttingDown(_)) {
            s.end_shutdown_if_done(variant);
        }
        Some(s)
    }

    fn format_action(&self, action: &Action) -> String {
        format!("{action:?}")
    }

    fn format_step(&self, last: &State, action: Action) -> Option<String> {
        let next = self.next_state(last, action.clone())?;
        Some(story::describe_step(last, &action, &next))
    }

    fn as_svg(&self, path: stateright::Path<State, Action>) -> Option<String> {
        Some(svg::timeline(self, &path.into_vec()))
    }

    fn properties(&self) -> Vec<Property<Self>> {
        let mut all = self.all_properties();
        if let Some(only) = &self.only {
            all.retain(|p| only.iter().any(|n| n == p.name));
        }
        all
    }
}

impl Warmup {
    fn is_live(&self, s: &State, vb: u8, key: Key) -> bool {
        let Some(a) = s.active(vb) else { return false };
        match a.newest(key) {
            Some(Mutation {
                op: Op::Set { expiry, .. },
                ..
            }) => expiry.is_none_or(|e| e > s.clock),
            _ => false,
        }
    }

    /// Time passing changes something only while some item with a TTL has not expired yet.
    fn some_ttl_unexpired(&self, s: &State) -> bool {
        let unexpired =
            |m: &Mutation| matches!(m.op, Op::Set { expiry: Some(e), .. } if e > s.clock);
        s.vbs.iter().any(|vb| {
            vb.disk.history.iter().any(unexpired)
                || vb
                    .active
                    .as_ref()
                    .is_some_and(|a| a.history.iter().any(unexpired))
                // A replica's or a failed-over node's copy expires only once it is promoted;
                // when no failover is left (none at all by default), time passing changes
                // nothing for it.
                || (s.failovers < self.bounds.failovers
                    && (vb.replicas.iter().any(|r| r.history.iter().any(unexpired))
                        || vb
                            .failed_over
                            .as_ref()
                            .is_some_and(|d| d.history.iter().any(unexpired))))
        })
    }
}

#[cfg(test)]
mod tests;
