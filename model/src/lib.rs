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
//! **What is left out, deliberately.** Replica crashes and promotion (the bug needs neither);
//! de-duplication (every seqno is streamed; compaction never drops old revisions); purging
//! (`purge_seqno` is always 0); flush failures; the warmup phases
//! that do not matter here (collection counts, key dump, access log). Each is discussed in
//! `docs/model.md`.
//!
//! The model does no I/O and knows nothing of the implementation.

pub mod failover;
pub mod parse;
pub mod story;
pub mod svg;
pub mod variant;
pub mod view;

use failover::{Seqno, StreamRequest, Table, Uuid};
use im::Vector;
use serde::{Deserialize, Serialize};
use stateright::{Model, Property, Representative};
use std::fmt;
pub use variant::{PersistEntry, ShutdownFlag, Variant};

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
        }
    }
}

impl fmt::Display for Bounds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} vbucket{}, {} replica{}, {} key{}, {} client write{}, {} crash{}, {} clean shutdown{}",
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
        )
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
    /// The deletion of an expired item. `in_warmup` is ghost state: whether the active node
    /// was still warming up when it expired the item.
    Expire { in_warmup: bool },
}

/// One mutation, at the seqno given by its position in a history.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Mutation {
    pub key: Key,
    pub op: Op,
    /// Ghost: the uuid of the active's newest failover entry when the mutation was made, i.e.
    /// the branch of history it belongs to.
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
    pub history: Vector<Mutation>,
    pub failover: Table,
    /// The checkpoint queue: what the flusher has not persisted yet.
    pub queue: Vec<Queued>,
    /// The flusher was notified about this vb.
    pub notified: bool,
    /// CreateVBuckets created a failover entry in this warmup.
    pub new_entry: bool,
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
    pub history: Vector<Mutation>,
    /// The failover table of the committed `_local/vbstate`.
    pub failover: Table,
    pub snap_start: Seqno,
    pub snap_end: Seqno,
}

impl DiskVb {
    pub fn persisted_seqno(&self) -> Seqno {
        self.history.len() as Seqno
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
    pub history: Vector<Mutation>,
    pub failover: Table,
    pub snap_start: Seqno,
    pub snap_end: Seqno,
    pub stream: Stream,
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
    pub replicas: Vec<ReplicaVb>,
}

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

/// How the active node went down, and whether anything queued was lost (ghost state).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Down {
    Crashed { in_warmup: bool, lost_queued: bool },
    ShutDown { lost_queued: bool },
}

/// The active node's process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Node {
    Running,
    Warming(Phase),
    ShuttingDown {
        flag_written: bool,
        flusher_stopped: bool,
    },
    Down(Down),
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct State {
    pub node: Node,
    /// stats.json on disk says `ep_force_shutdown: "false"`.
    pub clean_flag: bool,
    /// What warmup's Initialize read from stats.json; kept until the node goes down.
    pub read_clean: Option<bool>,
    /// Ticks passed.
    pub clock: u8,
    pub vbs: Vec<Vb>,
    /// The next uuid `createEntry` hands out (ghost of the random generator).
    pub next_uuid: Uuid,
    pub writes: u8,
    pub crashes: u8,
    pub shutdowns: u8,
}

impl State {
    /// Whether the DCP producer, expiry and the vb map are live: warming from
    /// PopulateVBucketMap on, or running.
    fn serves_vb_map(&self) -> bool {
        matches!(self.node, Node::Running)
            || matches!(self.node, Node::Warming(p) if p >= Phase::PopulateVBucketMap)
    }

    fn flusher_runs(&self) -> bool {
        match self.node {
            Node::Running | Node::Warming(_) => true,
            Node::ShuttingDown {
                flusher_stopped, ..
            } => !flusher_stopped,
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

    fn any_queued(&self) -> bool {
        self.vbs
            .iter()
            .any(|vb| vb.active.as_ref().is_some_and(|a| !a.queue.is_empty()))
    }

    fn any_notified(&self) -> bool {
        self.vbs
            .iter()
            .any(|vb| vb.active.as_ref().is_some_and(|a| a.notified))
    }

    /// Lose everything volatile: the node is down, streams drop.
    fn go_down(&mut self, how: Down) {
        self.node = Node::Down(how);
        self.read_clean = None;
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

    fn queue_set_vbstate(&mut self, vb: u8) {
        let a = self.active_mut(vb);
        let table = a.failover.clone();
        a.queue.push(Queued::SetVbState(table));
        if a.in_map {
            a.notified = true;
        }
    }

    /// The flusher's atomic commit of everything queued for `vb` (`EPBucket::flushVBucket`).
    fn commit(&mut self, vb: u8) {
        let slot = &mut self.vbs[vb as usize];
        let a = slot.active.as_mut().expect("flushing a vb in memory");
        let disk = &mut slot.disk;
        for q in a.queue.iter() {
            match q {
                Queued::Mutation(s) => {
                    assert_eq!(*s, disk.persisted_seqno() + 1, "commits are contiguous");
                    disk.history.push_back(a.history[*s as usize - 1]);
                }
                // The cached vbstate's table changes only through a set_vbucket_state item.
                Queued::SetVbState(t) => disk.failover = t.clone(),
            }
        }
        disk.snap_start = disk.persisted_seqno();
        disk.snap_end = disk.persisted_seqno();
        a.queue.clear();
        a.notified = false;
    }
}

impl Representative for State {
    /// Replicas are interchangeable per vb (nothing couples a replica's vbs), and so are vbs.
    fn representative(&self) -> Self {
        let mut s = self.clone();
        for vb in s.vbs.iter_mut() {
            vb.replicas.sort();
        }
        s.vbs.sort();
        s
    }
}

// ---------------------------------------------------------------------------------------------
// Actions
// ---------------------------------------------------------------------------------------------

/// Every step the system can take. The `Debug` form is what counterexamples and Explorer print.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(
    feature = "schemars",
    derive(schemars::JsonSchema),
    schemars(deny_unknown_fields)
)]
pub enum Action {
    ClientSets { vb: u8, key: Key, ttl: bool },
    ClientDeletes { vb: u8, key: Key },
    ClockAdvances,
    ItemExpires { vb: u8, key: Key },
    FlusherCommits { vb: u8 },
    StatsSnapshotRewritesStatsJson,
    ActiveCrashes,
    ShutdownBegins,
    ShutdownWritesCleanFlag,
    ShutdownStopsFlusher,
    WarmupInitializes,
    WarmupCreatesVBuckets,
    WarmupPopulatesVBucketMap,
    WarmupLoadsData,
    WarmupReachesDone,
    WarmupCompletes,
    ReplicaRequestsStream { replica: u8, vb: u8 },
    ReplicaReceives { replica: u8, vb: u8, seqno: Seqno },
}

impl Model for Warmup {
    type State = State;
    type Action = Action;

    fn init_states(&self) -> Vec<State> {
        let vbs = (0..self.bounds.vbuckets)
            .map(|i| {
                let table = Table::new(i + 1);
                let replica = ReplicaVb {
                    history: Vector::new(),
                    failover: table.clone(),
                    snap_start: 0,
                    snap_end: 0,
                    stream: Stream::None,
                };
                Vb {
                    active: Some(ActiveVb {
                        in_map: true,
                        history: Vector::new(),
                        failover: table.clone(),
                        queue: Vec::new(),
                        notified: false,
                        new_entry: false,
                    }),
                    disk: DiskVb {
                        history: Vector::new(),
                        failover: table,
                        snap_start: 0,
                        snap_end: 0,
                    },
                    replicas: (0..self.bounds.replicas).map(|_| replica.clone()).collect(),
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
        }]
    }

    fn actions(&self, s: &State, actions: &mut Vec<Action>) {
        let b = &self.bounds;
        let vbs = 0..b.vbuckets;
        let keys = (0..b.keys).map(Key);
        match s.node {
            Node::Running => {
                if s.writes < b.writes {
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
                if s.clean_flag {
                    actions.push(Action::StatsSnapshotRewritesStatsJson);
                }
                if s.shutdowns < b.shutdowns {
                    actions.push(Action::ShutdownBegins);
                }
            }
            Node::Warming(phase) => actions.push(match phase {
                Phase::Initialize => Action::WarmupCreatesVBuckets,
                Phase::CreateVBuckets => Action::WarmupPopulatesVBucketMap,
                Phase::PopulateVBucketMap => Action::WarmupLoadsData,
                Phase::LoadingData => Action::WarmupReachesDone,
                Phase::Done => Action::WarmupCompletes,
            }),
            Node::ShuttingDown {
                flag_written,
                flusher_stopped,
            } => {
                let before = self.variant.shutdown_flag == ShutdownFlag::BeforeFlush;
                if !flag_written && (before || flusher_stopped) {
                    actions.push(Action::ShutdownWritesCleanFlag);
                }
                if !flusher_stopped && !s.any_notified() && (!before || flag_written) {
                    actions.push(Action::ShutdownStopsFlusher);
                }
            }
            Node::Down(_) => actions.push(Action::WarmupInitializes),
        }
        if !matches!(s.node, Node::Down(_)) && s.crashes < b.crashes {
            actions.push(Action::ActiveCrashes);
        }
        if self.some_ttl_unexpired(s) {
            actions.push(Action::ClockAdvances);
        }
        for vb in vbs {
            let Some(a) = s.active(vb) else { continue };
            if a.notified && s.flusher_runs() {
                actions.push(Action::FlusherCommits { vb });
            }
            if !(a.in_map && s.serves_vb_map()) {
                continue;
            }
            for key in keys.clone() {
                if let Some(Mutation {
                    op: Op::Set {
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
            for (replica, r) in s.vbs[vb as usize].replicas.iter().enumerate() {
                let replica = replica as u8;
                match r.stream {
                    Stream::None | Stream::RolledBack(_) => {
                        actions.push(Action::ReplicaRequestsStream { replica, vb })
                    }
                    Stream::Accepted => {
                        if r.high_seqno() < a.high_seqno() {
                            actions.push(Action::ReplicaReceives {
                                replica,
                                vb,
                                seqno: r.high_seqno() + 1,
                            });
                        }
                    }
                }
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
                let in_warmup = matches!(s.node, Node::Warming(_));
                s.queue_mutation(vb, key, Op::Expire { in_warmup });
            }
            Action::FlusherCommits { vb } => s.commit(vb),
            Action::StatsSnapshotRewritesStatsJson => s.clean_flag = false,
            Action::ActiveCrashes => {
                s.crashes += 1;
                let in_warmup = matches!(s.node, Node::Warming(_));
                let lost_queued = s.any_queued();
                s.go_down(Down::Crashed {
                    in_warmup,
                    lost_queued,
                });
            }
            Action::ShutdownBegins => {
                s.shutdowns += 1;
                s.node = Node::ShuttingDown {
                    flag_written: false,
                    flusher_stopped: false,
                };
                s.drop_streams();
            }
            Action::ShutdownWritesCleanFlag | Action::ShutdownStopsFlusher => {
                let Node::ShuttingDown {
                    mut flag_written,
                    mut flusher_stopped,
                } = s.node
                else {
                    unreachable!("shutdown steps run while shutting down")
                };
                if action == Action::ShutdownWritesCleanFlag {
                    s.clean_flag = true;
                    flag_written = true;
                } else {
                    flusher_stopped = true;
                }
                s.node = Node::ShuttingDown {
                    flag_written,
                    flusher_stopped,
                };
                if flag_written && flusher_stopped {
                    // Whatever is still queued belongs to vbs the flusher was never told about.
                    let lost_queued = s.any_queued();
                    s.go_down(Down::ShutDown { lost_queued });
                }
            }
            Action::WarmupInitializes => {
                s.node = Node::Warming(Phase::Initialize);
                s.read_clean = Some(s.clean_flag);
                if variant.shutdown_flag == ShutdownFlag::AfterFlush {
                    // MB-46361: a crash from here on counts as unclean.
                    s.clean_flag = false;
                }
            }
            Action::WarmupCreatesVBuckets => {
                s.node = Node::Warming(Phase::CreateVBuckets);
                let unclean = s.read_clean == Some(false);
                for i in 0..s.vbs.len() {
                    let disk = s.vbs[i].disk.clone();
                    let high = disk.persisted_seqno();
                    let mut a = ActiveVb {
                        in_map: false,
                        history: disk.history,
                        failover: disk.failover,
                        queue: Vec::new(),
                        notified: false,
                        new_entry: false,
                    };
                    if unclean {
                        // Unflushed mutations were lost: any replica that saw them is on
                        // another branch, so start a new one.
                        let at = if high == disk.snap_end {
                            disk.snap_end
                        } else {
                            disk.snap_start
                        };
                        a.failover.create_entry(s.next_uuid, at);
                        s.next_uuid += 1;
                        a.new_entry = true;
                    }
                    s.vbs[i].active = Some(a);
                    if unclean && variant.persist_entry == PersistEntry::QueueAtCreate {
                        s.queue_set_vbstate(i as u8); // not in the map: no notification
                    }
                }
            }
            Action::WarmupPopulatesVBucketMap => {
                s.node = Node::Warming(Phase::PopulateVBucketMap);
                for i in 0..s.vbs.len() {
                    let vb = i as u8;
                    let new_entry = s.active(vb).is_some_and(|a| a.new_entry);
                    match variant.persist_entry {
                        PersistEntry::SyncFlush if new_entry => {
                            s.queue_set_vbstate(vb);
                            s.commit(vb);
                        }
                        _ => {}
                    }
                    s.active_mut(vb).in_map = true;
                    if new_entry && variant.persist_entry == PersistEntry::QueueAtPopulate {
                        s.queue_set_vbstate(vb);
                    }
                }
            }
            Action::WarmupLoadsData => s.node = Node::Warming(Phase::LoadingData),
            Action::WarmupReachesDone => s.node = Node::Warming(Phase::Done),
            Action::WarmupCompletes => {
                s.node = Node::Running;
                if variant.persist_entry == PersistEntry::AtComplete {
                    for vb in 0..self.bounds.vbuckets {
                        s.queue_set_vbstate(vb);
                    }
                }
            }
            Action::ReplicaRequestsStream { replica, vb } => {
                let slot = &mut s.vbs[vb as usize];
                let a = slot
                    .active
                    .as_ref()
                    .expect("the producer serves vbs in memory");
                let r = &mut slot.replicas[replica as usize];
                let req = StreamRequest {
                    start: r.high_seqno(),
                    uuid: r.failover.newest().uuid,
                    snap_start: r.snap_start,
                    snap_end: r.snap_end,
                    strict: false,
                };
                match a.failover.needs_rollback(req, a.high_seqno(), 0) {
                    None => {
                        r.failover = a.failover.clone();
                        r.stream = Stream::Accepted;
                    }
                    Some(0) if r.failover.len() > 1 => {
                        r.failover.drop_newest();
                        r.stream = Stream::RolledBack(0);
                    }
                    Some(rb) => {
                        // Every received mutation is its own commit, so the newest commit at or
                        // below rb is min(rb, high).
                        let high = rb.min(r.high_seqno());
                        r.history.truncate(high as usize);
                        r.snap_start = high;
                        r.snap_end = high;
                        r.failover.prune_entries(high);
                        r.stream = Stream::RolledBack(rb);
                    }
                }
            }
            Action::ReplicaReceives { replica, vb, seqno } => {
                let slot = &mut s.vbs[vb as usize];
                let a = slot
                    .active
                    .as_ref()
                    .expect("the producer streams vbs in memory");
                let r = &mut slot.replicas[replica as usize];
                assert_eq!(seqno, r.high_seqno() + 1);
                if r.high_seqno() == r.snap_end {
                    // The last snapshot is complete: the producer opens a new one (a snapshot
                    // marker) covering everything it has now.
                    r.snap_start = seqno;
                    r.snap_end = a.high_seqno();
                }
                r.history.push_back(a.history[seqno as usize - 1]);
            }
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
    /// Every property of the model, whatever `only` says.
    pub fn all_properties(&self) -> Vec<Property<Self>> {
        vec![
            Property::always("no replica diverges", |_, s: &State| {
                properties::no_replica_diverges(s)
            }),
            Property::always("failover tables are well formed", |_, s: &State| {
                properties::failover_tables_well_formed(s)
            }),
            Property::always(
                "the disk holds a prefix of the active's history",
                |_, s: &State| properties::disk_is_prefix_of_memory(s),
            ),
            Property::always(
                "the checkpoint holds exactly the unpersisted seqnos",
                |_, s: &State| properties::checkpoint_holds_unpersisted(s),
            ),
            Property::always(
                "every mutation on disk is on a branch the disk's failover table names",
                |_, s: &State| properties::disk_branches_named(s),
            ),
            Property::always(
                "stats.json says clean only when nothing queued was lost",
                |_, s: &State| properties::clean_flag_honest(s),
            ),
            Property::sometimes("the active crashes during warmup", |_, s: &State| {
                matches!(
                    s.node,
                    Node::Down(Down::Crashed {
                        in_warmup: true,
                        ..
                    })
                )
            }),
            Property::sometimes(
                "an expiry made during warmup reaches disk",
                |_, s: &State| {
                    s.vbs.iter().any(|vb| {
                        vb.disk
                            .history
                            .iter()
                            .any(|m| m.op == Op::Expire { in_warmup: true })
                    })
                },
            ),
            Property::sometimes(
                "a replica holds a mutation the active has not persisted",
                |_, s: &State| {
                    s.vbs.iter().any(|vb| {
                        vb.replicas
                            .iter()
                            .any(|r| r.high_seqno() > vb.disk.persisted_seqno())
                    })
                },
            ),
            Property::sometimes("a replica rolls back", |_, s: &State| {
                replica_streams(s).any(|st| matches!(st, Stream::RolledBack(_)))
            }),
            Property::sometimes("a replica rolls back to 0", |_, s: &State| {
                replica_streams(s).any(|st| st == Stream::RolledBack(0))
            }),
            Property::sometimes(
                "a replica is accepted after an unclean restart",
                |_, s: &State| {
                    s.read_clean == Some(false)
                        && replica_streams(s).any(|st| st == Stream::Accepted)
                },
            ),
            Property::sometimes("a clean shutdown completes", |_, s: &State| {
                matches!(s.node, Node::Down(Down::ShutDown { .. }))
            }),
        ]
    }
}

fn replica_streams(s: &State) -> impl Iterator<Item = Stream> + '_ {
    s.vbs
        .iter()
        .flat_map(|vb| vb.replicas.iter().map(|r| r.stream))
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
        })
    }

    /// The property this model calls `name`.
    pub fn property_named(&self, name: &str) -> Option<Property<Self>> {
        self.all_properties().into_iter().find(|p| p.name == name)
    }
}

/// The `always` properties as plain predicates, so the implementation's projected state can be
/// judged by the same code in conformance.
pub mod properties {
    use super::*;

    /// A replica whose stream the active has accepted holds, at every seqno it has, the same
    /// mutation as the active.
    pub fn no_replica_diverges(s: &State) -> bool {
        s.vbs.iter().all(|vb| {
            vb.replicas
                .iter()
                .filter(|r| r.stream == Stream::Accepted)
                .all(|r| {
                    let Some(a) = &vb.active else { return false };
                    r.high_seqno() <= a.high_seqno()
                        && r.history
                            .iter()
                            .zip(a.history.iter())
                            .all(|(x, y)| x.same_content(y))
                })
        })
    }

    pub fn failover_tables_well_formed(s: &State) -> bool {
        s.vbs.iter().all(|vb| {
            let disk_ok = vb.disk.failover.is_well_formed()
                && vb.disk.failover.newest().seqno <= vb.disk.persisted_seqno();
            let active_ok = vb.active.as_ref().is_none_or(|a| {
                a.failover.is_well_formed() && a.failover.newest().seqno <= a.high_seqno()
            });
            let replicas_ok = vb.replicas.iter().all(|r| r.failover.is_well_formed());
            disk_ok && active_ok && replicas_ok
        })
    }

    /// Persisted seqno at or below high seqno, and what is on disk is what memory holds.
    pub fn disk_is_prefix_of_memory(s: &State) -> bool {
        s.vbs.iter().all(|vb| {
            vb.active.as_ref().is_none_or(|a| {
                vb.disk.persisted_seqno() <= a.high_seqno()
                    && vb
                        .disk
                        .history
                        .iter()
                        .zip(a.history.iter())
                        .all(|(d, m)| d == m)
            })
        })
    }

    pub fn checkpoint_holds_unpersisted(s: &State) -> bool {
        s.vbs.iter().all(|vb| {
            vb.active.as_ref().is_none_or(|a| {
                let queued: Vec<Seqno> = a
                    .queue
                    .iter()
                    .filter_map(|q| match q {
                        Queued::Mutation(s) => Some(*s),
                        Queued::SetVbState(_) => None,
                    })
                    .collect();
                let expected: Vec<Seqno> =
                    (vb.disk.persisted_seqno() + 1..=a.high_seqno()).collect();
                queued == expected
            })
        })
    }

    /// Every mutation on disk was made under a failover entry that the table on disk names, so
    /// a restart that loses memory can still tell replicas where its history branched.
    pub fn disk_branches_named(s: &State) -> bool {
        s.vbs.iter().all(|vb| {
            vb.disk
                .history
                .iter()
                .all(|m| vb.disk.failover.contains_uuid(m.branch))
        })
    }

    /// stats.json may say "clean" while the node is down only if the node lost nothing queued.
    pub fn clean_flag_honest(s: &State) -> bool {
        match s.node {
            Node::Down(Down::Crashed { lost_queued, .. } | Down::ShutDown { lost_queued }) => {
                !(s.clean_flag && lost_queued)
            }
            _ => true,
        }
    }
}

#[cfg(test)]
mod tests;
