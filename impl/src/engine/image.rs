//! The conformance test seam: a copy of the whole cluster (memory and the bytes of every file)
//! and the return to it. Not part of kv_engine; no engine call uses it and it is not logged.

use super::disk::{self, StatsDisk, VbDisk, VbDiskImage};
use super::vbucket::{ActiveVb, ReplicaVb};
use super::{node_dir, node_vb_path, Cluster, EngineError, Process, Roles, VbMem};
use super::{Item, StorageBackend, StreamState, UuidGen};
use crate::failover::FailoverTable;
use crate::storage::SyncedWriteError;
use std::path::Path;
use std::sync::Arc;

/// A file's bytes in an image, or `None` if it did not exist.
pub(super) type FileImage = Option<Arc<Vec<u8>>>;

/// A file in an image, as `save_image` last read it (kept by position between images).
#[derive(Clone)]
pub(super) struct SavedFile {
    path: Arc<Path>,
    /// The file's write generation when it was read.
    generation: u64,
    bytes: FileImage,
    /// For a data file, what its `VbDisk` knew then (`None` for stats.json, or after a failed
    /// write): lets `restore_image` cut the file back in place instead of rewriting it.
    disk: Option<Arc<VbDiskImage>>,
}

/// A copy of a cluster taken by [`Cluster::save_image`], for [`Cluster::restore_image`].
pub struct ClusterImage {
    clock: u64,
    process: Process,
    read_clean: Option<bool>,
    clean_flag: bool,
    traffic_refused: bool,
    armed_flush_failures: u64,
    poisoned: Option<String>,
    uuids: Box<dyn UuidGen>,
    roles: Roles,
    mem: Vec<Option<VbMem>>,
    replicas: Vec<Vec<ReplicaMem>>,
    /// Every file of the cluster, in the order of [`Cluster::slots`].
    files: Vec<SavedFile>,
}

/// A replica's memory, in an image.
struct ReplicaMem {
    history: Vec<Item>,
    failover: FailoverTable,
    snap_start: u64,
    snap_end: u64,
    max_cas: u64,
    stream: StreamState,
    failed_write: bool,
}

/// One file of the cluster: the same list, in the same order, whichever node has which role.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Slot {
    /// Node `node`'s data file for `vb`.
    Data { node: usize, vb: u16 },
    /// Node `node`'s stats.json.
    Stats { node: usize },
    /// The cluster manager's map.
    Map,
}

impl Cluster {
    /// Every file of the cluster: each node's data files then its stats.json, node by node,
    /// then the cluster map.
    fn slots(&self) -> Vec<Slot> {
        let mut slots = Vec::new();
        for node in 0..self.stats.len() {
            slots.extend((0..self.vbuckets()).map(|vb| Slot::Data { node, vb }));
            slots.push(Slot::Stats { node });
        }
        slots.push(Slot::Map);
        slots
    }

    /// Node `node`'s open data file for `vb`, wherever its role keeps it.
    fn node_disk(&self, node: usize, vb: u16) -> &VbDisk {
        let vb = vb as usize;
        if node == self.roles.active {
            return &self.vbs[vb].disk;
        }
        if let Some(r) = self.roles.replicas.iter().position(|&n| n == node) {
            return &self.replicas[r][vb].disk;
        }
        &self.failed_over.as_ref().expect("every node has a role")[vb]
    }

    fn node_disk_mut(&mut self, node: usize, vb: u16) -> &mut VbDisk {
        let vb = vb as usize;
        if node == self.roles.active {
            return &mut self.vbs[vb].disk;
        }
        if let Some(r) = self.roles.replicas.iter().position(|&n| n == node) {
            return &mut self.replicas[r][vb].disk;
        }
        &mut self.failed_over.as_mut().expect("every node has a role")[vb]
    }

    fn generation(&self, slot: Slot) -> u64 {
        match slot {
            Slot::Data { node, vb } => self.node_disk(node, vb).generation,
            Slot::Stats { node } => self.stats[node].generation,
            Slot::Map => self.map_file.generation,
        }
    }

    /// The backend node `node`'s data files are opened through: the active's through the
    /// full-disk seam.
    fn backend_of(&self, node: usize) -> StorageBackend {
        if node == self.roles.active {
            disk::with_disk_full(&self.backend, &self.disk_full)
        } else {
            self.backend.clone()
        }
    }

    /// A copy of the whole cluster, memory and the bytes of every file, for
    /// [`restore_image`](Self::restore_image). A testing seam: conformance walks the model's
    /// graph and must return the cluster to an earlier state cheaply. It is not part of
    /// kv_engine, no engine call uses it, and it is not logged.
    pub fn save_image(&mut self) -> Result<ClusterImage, EngineError> {
        let backend = self.backend.as_dyn();
        let slots = self.slots();
        self.image_cache.resize(slots.len(), None);
        let mut files = Vec::with_capacity(slots.len());
        for (i, slot) in slots.into_iter().enumerate() {
            let generation = self.generation(slot);
            // Read a file only when it changed since it was last read for an image.
            let saved = match &self.image_cache[i] {
                Some(saved) if saved.generation == generation => saved.clone(),
                _ => {
                    let saved = match slot {
                        Slot::Data { node, vb } => {
                            // Through its open file, which is the file at its path.
                            let d = self.node_disk(node, vb);
                            SavedFile {
                                path: d.path().into(),
                                generation,
                                bytes: Some(Arc::new(d.read_all()?)),
                                disk: d.image().map(Arc::new),
                            }
                        }
                        Slot::Stats { node } => {
                            let stats = &self.stats[node];
                            let path: Arc<Path> = stats.path().into();
                            let bytes = match stats.known_bytes() {
                                // As the engine last read or wrote it.
                                Some(known) => known.clone(),
                                None => backend
                                    .read_all(&path)
                                    .map_err(|e| disk::io_err(&path, e))?
                                    .map(Arc::new),
                            };
                            SavedFile {
                                path,
                                generation,
                                bytes,
                                disk: None,
                            }
                        }
                        Slot::Map => SavedFile {
                            path: self.map_file.path.as_path().into(),
                            generation,
                            bytes: self.map_file.bytes.clone(),
                            disk: None,
                        },
                    };
                    self.image_cache[i] = Some(saved.clone());
                    saved
                }
            };
            files.push(saved);
        }
        Ok(ClusterImage {
            clock: self.clock,
            process: self.process,
            read_clean: self.read_clean,
            clean_flag: self.clean_flag,
            traffic_refused: self.traffic_refused,
            armed_flush_failures: self.disk_full.armed(),
            poisoned: self.poisoned.clone(),
            uuids: self.uuids.fork(),
            roles: self.roles.clone(),
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

    /// Return to an image of this cluster taken by [`save_image`](Self::save_image): files
    /// written since are rewritten (and synced) with the image's bytes and reopened; memory
    /// and the roles are replaced.
    pub fn restore_image(&mut self, image: &ClusterImage) -> Result<(), EngineError> {
        let backend = self.backend.as_dyn();
        let slots = self.slots();
        assert_eq!(slots.len(), image.files.len(), "an image of this cluster");
        for (saved, slot) in image.files.iter().zip(slots) {
            let (path, generation) = (&*saved.path, saved.generation);
            if self.generation(slot) == generation {
                continue; // not written since the image: the same bytes
            }
            match slot {
                Slot::Data { node, vb } => {
                    if let (Some(disk_image), Some(bytes)) = (&saved.disk, &saved.bytes) {
                        // Usually only appended to since the image: cut back in place.
                        let disk = self.node_disk_mut(node, vb);
                        if disk.return_to(disk_image, bytes, generation)? {
                            continue;
                        }
                    }
                }
                Slot::Stats { node } => {
                    if self.stats[node].known_bytes() == Some(&saved.bytes) {
                        // Written since, but with the same bytes (or read since a crash
                        // reopened it).
                        self.stats[node].generation = generation;
                        continue;
                    }
                }
                Slot::Map => {}
            }
            match &saved.bytes {
                Some(b) => backend
                    .write_new_synced(path, b)
                    .map_err(|e| match e {
                        SyncedWriteError::Write(e) | SyncedWriteError::Sync(e) => e,
                    })
                    .map_err(|e| disk::io_err(path, e))?,
                None => match backend.remove_file(path) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                        return Err(disk::io_err(path, e))
                    }
                    _ => {}
                },
            }
            match slot {
                Slot::Data { node, vb } => {
                    let mut d = VbDisk::open(&self.backend_of(node), self.storage_rules(), path)?;
                    d.generation = generation;
                    *self.node_disk_mut(node, vb) = d;
                }
                Slot::Stats { node } => {
                    self.stats[node] = StatsDisk::restored(
                        &self.backend,
                        &node_dir(&self.dir, node),
                        generation,
                        saved.bytes.clone(),
                    );
                }
                Slot::Map => {
                    self.map_file.bytes = saved.bytes.clone();
                    self.map_file.generation = generation;
                }
            }
        }
        if self.roles != image.roles {
            self.take_roles(&image.roles)?;
        }
        self.clock = image.clock;
        self.process = image.process;
        self.read_clean = image.read_clean;
        self.clean_flag = image.clean_flag;
        self.traffic_refused = image.traffic_refused;
        self.disk_full.fail_next_appends(image.armed_flush_failures);
        self.poisoned = image.poisoned.clone();
        self.uuids = image.uuids.fork();
        for (v, m) in self.vbs.iter_mut().zip(&image.mem) {
            v.mem = m.clone();
        }
        for (row, srow) in self.replicas.iter_mut().zip(&image.replicas) {
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

    /// Rearrange the open data files by `roles` (an image's, whose files are in place): each
    /// reopened through the backend its new role uses, keeping its generation. Memory is set
    /// by the caller.
    fn take_roles(&mut self, roles: &Roles) -> Result<(), EngineError> {
        let nodes = self.stats.len();
        let mut generations = vec![Vec::new(); nodes];
        for (node, g) in generations.iter_mut().enumerate() {
            *g = (0..self.vbuckets())
                .map(|vb| self.node_disk(node, vb).generation)
                .collect();
        }
        self.roles = roles.clone();
        let open = |c: &Cluster, node: usize| -> Result<Vec<VbDisk>, EngineError> {
            let backend = c.backend_of(node);
            (0..c.vbuckets())
                .map(|vb| {
                    let path = node_vb_path(&c.dir, node, vb);
                    let mut d = VbDisk::open(&backend, c.storage_rules(), &path)?;
                    d.generation = generations[node][vb as usize];
                    Ok(d)
                })
                .collect()
        };
        let active = open(self, roles.active)?;
        let mut replicas = Vec::new();
        for &node in &roles.replicas {
            replicas.push(
                open(self, node)?
                    .into_iter()
                    .map(ReplicaVb::from_disk)
                    .collect(),
            );
        }
        self.failed_over = roles.failed_over.map(|n| open(self, n)).transpose()?;
        self.vbs = active
            .into_iter()
            .map(|disk| ActiveVb { disk, mem: None })
            .collect();
        self.replicas = replicas;
        Ok(())
    }
}
