//! Failover and add-back: what the cluster manager (ns_server) asks of kv_engine when a node
//! fails, and what kv_engine does. Promotion is `KVBucket::setVBucketState` (to active, no
//! takeover) -> `KVBucket::continueToActive` -> `VBucket::processFailover`; add-back (delta
//! recovery) is the failed-over node's warmup (`VBucketLoader::createVBucket`) followed by
//! `setVBucketState` to replica, persisted, and the consumer's stream requests.
//! `docs/fidelity.md` ("Failover and add-back") cites each step at kv_engine `eba429898`.
//!
//! Only a down active node is failed over, and one node is out at a time. Every vb of the
//! failed node is promoted on the same replica node, so the new active is one node as the old
//! one was. The cluster manager's map (which node is active, which are replicas in which order,
//! which is failed over) is `<dir>/cluster-map.json`, written durably at each change; a bucket
//! that never failed over has none and keeps the layout it was created with.

use super::disk::{self, StatsDisk, VbDisk};
use super::event::Call;
use super::vbucket::{ActiveVb, Queued, ReplicaVb, VbMem};
use super::{node_dir, node_vb_path, replica_name, tmpfail, Cluster, EngineError, Process};
use super::{StorageBackend, StreamState};
use crate::failover::FailoverTable;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The cluster manager's map's file name, in the data directory.
pub const CLUSTER_MAP_FILE: &str = "cluster-map.json";

/// The largest cluster map read: a map of 1 + 255 nodes named `r255` is about 2 KiB.
const MAX_MAP_BYTES: u64 = 64 * 1024;

/// Node `n`'s name and directory: `active` for node 0 (the node that is active when the
/// bucket is created), `r<n>` for the others (replica `n`'s node at creation).
pub fn node_name(n: usize) -> String {
    if n == 0 {
        "active".into()
    } else {
        format!("r{n}")
    }
}

fn node_of(name: &str, nodes: usize) -> Option<usize> {
    let n = if name == "active" {
        0
    } else {
        let digits = name.strip_prefix('r')?;
        if digits.starts_with('0') || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        digits.parse().ok()?
    };
    (n < nodes).then_some(n)
}

/// Which node has which role.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Roles {
    /// The active node (of every vb).
    pub active: usize,
    /// The replica nodes, in replica order: replica `r` is node `replicas[r]`.
    pub replicas: Vec<usize>,
    /// The failed-over node, until it is added back.
    pub failed_over: Option<usize>,
}

impl Roles {
    /// As created: node 0 active, node `r + 1` replica `r`.
    pub fn initial(replicas: usize) -> Roles {
        Roles {
            active: 0,
            replicas: (1..=replicas).collect(),
            failed_over: None,
        }
    }
}

/// The map as its file spells it.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct MapJson {
    active: String,
    replicas: Vec<String>,
    failed_over: Option<String>,
}

/// `cluster-map.json`: its bytes as last read or written (`None`: no file), and its write
/// generation for the conformance seam's images.
pub(super) struct MapFile {
    pub(super) path: PathBuf,
    pub(super) bytes: Option<Arc<Vec<u8>>>,
    pub(super) generation: u64,
}

impl MapFile {
    /// A bucket that has never failed over: no file.
    pub(super) fn absent(dir: &Path) -> MapFile {
        MapFile {
            path: dir.join(CLUSTER_MAP_FILE),
            bytes: None,
            generation: disk::next_generation(),
        }
    }

    /// Read the map of a bucket of `replicas + 1` nodes: the initial roles if there is no file.
    /// A file that is not a map of exactly these nodes, each in one role, is refused, naming
    /// the file and what is wrong.
    pub(super) fn read(
        backend: &StorageBackend,
        dir: &Path,
        replicas: usize,
    ) -> Result<(Roles, MapFile), EngineError> {
        let mut file = MapFile::absent(dir);
        let bytes = backend
            .as_dyn()
            .read_within(&file.path, MAX_MAP_BYTES + 1)
            .map_err(|e| disk::io_err(&file.path, e))?;
        let Some(bytes) = bytes else {
            return Ok((Roles::initial(replicas), file));
        };
        let roles = parse_map(&file.path, &bytes, replicas)?;
        file.bytes = Some(Arc::new(bytes));
        Ok((roles, file))
    }

    /// Replace the file durably with `roles` (a temporary, synced, renamed over it, the
    /// directory synced).
    fn write(&mut self, backend: &StorageBackend, roles: &Roles) -> Result<(), EngineError> {
        let json = MapJson {
            active: node_name(roles.active),
            replicas: roles.replicas.iter().map(|&n| node_name(n)).collect(),
            failed_over: roles.failed_over.map(node_name),
        };
        let mut text = serde_json::to_vec(&json).expect("a map serializes");
        text.push(b'\n');
        let nodes = 1 + roles.replicas.len() + usize::from(roles.failed_over.is_some());
        // Paired with `read`: what is written reads back as these roles.
        assert_eq!(
            parse_map(&self.path, &text, nodes - 1).ok().as_ref(),
            Some(roles),
            "{}: the map reads back as written",
            self.path.display()
        );
        let b = backend.as_dyn();
        let tmp = self.path.with_extension("json.tmp");
        self.generation = disk::next_generation();
        self.bytes = None;
        match b.remove_file(&tmp) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(disk::io_err(&tmp, e))
            }
            _ => {}
        }
        b.write_new_synced(&tmp, &text)
            .map_err(|e| match e {
                crate::storage::SyncedWriteError::Write(e)
                | crate::storage::SyncedWriteError::Sync(e) => e,
            })
            .map_err(|e| disk::io_err(&tmp, e))?;
        b.rename(&tmp, &self.path)
            .map_err(|e| disk::io_err(&self.path, e))?;
        let dir = self
            .path
            .parent()
            .expect("the map is in the data directory");
        b.sync_dir(dir).map_err(|e| disk::io_err(dir, e))?;
        self.bytes = Some(Arc::new(text));
        Ok(())
    }
}

/// The roles `bytes` (the file at `path`) give a bucket of `replicas + 1` nodes.
fn parse_map(path: &Path, bytes: &[u8], replicas: usize) -> Result<Roles, EngineError> {
    let bad = |what: String| {
        EngineError::Directory(format!(
            "{}: not a cluster map of this bucket: {what}",
            path.display()
        ))
    };
    if bytes.len() as u64 > MAX_MAP_BYTES {
        return Err(bad(format!(
            "{} bytes or more (a map is at most {MAX_MAP_BYTES})",
            bytes.len()
        )));
    }
    let text = std::str::from_utf8(bytes)
        .map_err(|e| bad(format!("not UTF-8 at byte {}", e.valid_up_to())))?;
    let json: MapJson = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
    let nodes = replicas + 1;
    let node = |name: &str| {
        node_of(name, nodes).ok_or_else(|| {
            bad(format!(
                "no node {name:?} in a bucket of {nodes} nodes (active, r1..r{replicas})"
            ))
        })
    };
    let roles = Roles {
        active: node(&json.active)?,
        replicas: json
            .replicas
            .iter()
            .map(|n| node(n))
            .collect::<Result<_, _>>()?,
        failed_over: json.failed_over.as_deref().map(node).transpose()?,
    };
    let mut seen = vec![false; nodes];
    let all = std::iter::once(roles.active)
        .chain(roles.replicas.iter().copied())
        .chain(roles.failed_over);
    for n in all {
        if std::mem::replace(&mut seen[n], true) {
            return Err(bad(format!("node {} has two roles", node_name(n))));
        }
    }
    if let Some(n) = seen.iter().position(|s| !s) {
        return Err(bad(format!("node {} has no role", node_name(n))));
    }
    Ok(roles)
}

impl Cluster {
    /// The cluster's roles: which node is active, which are replicas, which is failed over.
    pub fn roles(&self) -> &Roles {
        &self.roles
    }

    /// The cluster manager fails the down active node over and promotes replica `replica`
    /// (0 = `r1`) of every vb (`KVBucket::setVBucketState` to active -> `processFailover`):
    /// each promoted vb gets a new failover entry at the end of the last snapshot it received
    /// in full, and queues a set_vbucket_state (the flusher is notified); until that is
    /// flushed its file's vbstate still says replica. The promoted node has run all along: it
    /// is running, and its stats.json says what its own start wrote (not clean). The other
    /// replicas' streams drop (they stream from the new active next). The failed-over node
    /// keeps its files until it is added back.
    pub fn fail_over(&mut self, replica: usize) -> Result<(), EngineError> {
        self.usable()?;
        self.check_replica(replica)?;
        if self.process != Process::Down {
            return Err(tmpfail(format!(
                "only a down active node is failed over (node {})",
                self.process.describe()
            )));
        }
        if let Some(node) = self.roles.failed_over {
            return Err(tmpfail(format!(
                "one node is out at a time: {} is failed over and not added back",
                node_name(node)
            )));
        }
        let mut roles = self.roles.clone();
        let promoted = roles.replicas.remove(replica);
        roles.failed_over = Some(roles.active);
        roles.active = promoted;
        // The promoted node's stats.json, as its start wrote it; then the cluster's map.
        let mut stats = StatsDisk::open(&self.backend, &node_dir(&self.dir, promoted));
        stats.write(None)?;
        self.stats[promoted] = stats;
        if let Err(e) = self.map_file.write(&self.backend, &roles) {
            self.poisoned = Some(e.to_string());
            return Err(e);
        }
        // Its files, reopened as the active's (through the full-disk seam).
        let active_backend = disk::with_disk_full(&self.backend, &self.disk_full);
        let row = self.replicas.remove(replica);
        let mut vbs = Vec::with_capacity(row.len());
        for (vb, r) in row.into_iter().enumerate() {
            let path = node_vb_path(&self.dir, promoted, vb as u16);
            let disk = VbDisk::open(&active_backend, self.storage_rules(), &path)?;
            let cached = disk
                .state()
                .expect("an opened data file has a commit")
                .clone();
            assert!(
                cached.replica && cached == r.vbstate(),
                "{}: a replica's file holds the vbstate its memory has",
                path.display()
            );
            let at = r.last_complete_snapshot_end();
            let mut failover = r.failover.clone();
            self.create_entry(&mut failover, at);
            let queue = vec![Queued::SetVbState(failover.clone())];
            vbs.push(ActiveVb {
                disk,
                mem: Some(VbMem {
                    in_map: true,
                    history: r.history,
                    failover,
                    queue,
                    notified: true,
                    new_entry: false,
                    max_cas: r.max_cas,
                    cached,
                }),
            });
        }
        let old = std::mem::replace(&mut self.vbs, vbs);
        self.failed_over = Some(old.into_iter().map(|a| a.disk).collect());
        self.roles = roles;
        for row in &mut self.replicas {
            for r in row {
                r.stream = StreamState::None;
            }
        }
        self.process = Process::Running;
        self.clean_flag = false;
        self.read_clean = None;
        self.traffic_refused = false;
        self.log(Call::FailOver {
            replica: replica_name(replica),
        })
    }

    /// The failed-over node is added back (delta recovery): it warms up from its own files
    /// (`VBucketLoader::createVBucket`: an active vbstate gets a new entry if its stats.json
    /// says the shutdown was unclean; a replica vbstate never does), the cluster manager makes
    /// each vb a replica (`setVBucketState`, persisted), and it joins as the last replica, with
    /// no stream.
    pub fn add_back(&mut self) -> Result<(), EngineError> {
        self.usable()?;
        let Some(node) = self.roles.failed_over else {
            return Err(tmpfail("no node is failed over"));
        };
        let clean = self.stats[node].read_force_shutdown()?.as_deref() == Some("false");
        let mut roles = self.roles.clone();
        roles.failed_over = None;
        roles.replicas.push(node);
        let disks = self
            .failed_over
            .take()
            .expect("the failed-over node's files");
        let mut row = Vec::with_capacity(disks.len());
        for d in disks {
            let path = d.path().to_path_buf();
            // Reopened as a replica's (no full-disk seam), read as warmup reads it.
            let d = VbDisk::open(&self.backend, self.storage_rules(), &path)?;
            let state = d.state().expect("an opened data file has a commit").clone();
            let at = state.entry_seqno(d.high_seqno());
            let mut r = ReplicaVb::from_disk(d);
            if !self.variant.reverted.mb20822 {
                // Loading a table drops erroneous entries since MB-20822's fix (3fb0f02cb).
                let (sanitized, _) = FailoverTable::sanitized(
                    state.table.clone(),
                    r.high_seqno(),
                    self.uuids.as_mut(),
                );
                r.failover = sanitized;
            }
            if !clean && !state.replica {
                let mut t = r.failover.clone();
                self.create_entry(&mut t, at);
                r.failover = t;
            }
            if let Err(e) = r.persist_vbstate() {
                self.poisoned = Some(e.to_string());
                return Err(e);
            }
            row.push(r);
        }
        self.replicas.push(row);
        if let Err(e) = self.map_file.write(&self.backend, &roles) {
            self.poisoned = Some(e.to_string());
            return Err(e);
        }
        self.roles = roles;
        self.log(Call::AddBack {
            node: node_name(node),
        })
    }

    /// `createEntry(at)` as the design has it, wherever it is called from (warmup, a
    /// promotion, an add-back): before MB-11085's fix it added nothing when the newest entry's
    /// seqno already was `at`; before MB-20822's its erase loop left every second stale entry.
    /// Whether it added an entry.
    pub(super) fn create_entry(&mut self, table: &mut FailoverTable, at: u64) -> bool {
        let reverted = self.variant.reverted;
        if reverted.mb11085 && table.newest().seq == at {
            return false;
        }
        if reverted.mb20822 {
            table.create_entry_skipping_every_second_stale(at, self.uuids.as_mut());
        } else {
            table.create_entry(at, self.uuids.as_mut());
        }
        true
    }

    /// What the storage layer is asked to take: the seeded bugs, and the tables a design that
    /// reverts MB-20822's fix writes.
    pub(super) fn storage_rules(&self) -> crate::storage::StorageBugs {
        crate::storage::StorageBugs {
            unordered_failover_tables: self.variant.reverted.mb20822,
            ..self.bugs.storage()
        }
    }

    /// A promoted vb whose node crashed before its first flush warmed up from a vbstate that
    /// says replica, with no entry; the cluster manager, which holds it as the vb's active,
    /// promotes it again once it is in the map (MB-25197): an entry at the checkpoint's
    /// failover seqno, built from the same vbstate (a77d6b50f), and a set_vbucket_state.
    pub(super) fn promote_again(&mut self, vb: u16) {
        let m = self.mem(vb);
        let at = m.cached.entry_seqno(m.high_seqno());
        let mut failover = m.failover.clone();
        self.create_entry(&mut failover, at);
        self.mem_mut(vb).failover = failover;
        self.queue_set_vbstate(vb);
    }
}
