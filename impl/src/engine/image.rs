//! The conformance test seam: a copy of the whole cluster (memory and the bytes of every file)
//! and the return to it. Not part of kv_engine; no engine call uses it and it is not logged.

use super::disk::{self, StatsDisk, VbDisk, VbDiskImage};
use super::{active_dir, active_vb_path, replica_vb_path, Cluster, EngineError, Process, VbMem};
use super::{Item, StreamState, UuidGen};
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
    mem: Vec<Option<VbMem>>,
    replicas: Vec<Vec<ReplicaMem>>,
    /// Every data file and stats.json, in the order of [`Cluster::generations`].
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

impl Cluster {
    /// A copy of the whole cluster, memory and the bytes of every file, for
    /// [`restore_image`](Self::restore_image). A testing seam: conformance walks the model's
    /// graph and must return the cluster to an earlier state cheaply. It is not part of
    /// kv_engine, no engine call uses it, and it is not logged.
    pub fn save_image(&mut self) -> Result<ClusterImage, EngineError> {
        let backend = self.backend.as_dyn();
        let disks: Vec<&VbDisk> = self
            .vbs
            .iter()
            .map(|v| &v.disk)
            .chain(self.replicas.iter().flatten().map(|r| &r.disk))
            .collect();
        let generations = self.generations();
        self.image_cache.resize(generations.len(), None);
        let mut files = Vec::with_capacity(generations.len());
        for (i, generation) in generations.into_iter().enumerate() {
            // Read a file only when it changed since it was last read for an image.
            let saved = match &self.image_cache[i] {
                Some(saved) if saved.generation == generation => saved.clone(),
                cached => {
                    let vb_disk = disks.get(i);
                    let path: Arc<Path> = match (cached, vb_disk) {
                        (Some(saved), _) => saved.path.clone(),
                        (None, Some(d)) => d.path().into(),
                        (None, None) => self.stats.path().into(),
                    };
                    let bytes = match (vb_disk, self.stats.known_bytes()) {
                        // A data file: through its open file, which is the file at `path`.
                        (Some(d), _) => Some(Arc::new(d.read_all()?)),
                        // stats.json, as the engine last read or wrote it.
                        (None, Some(known)) => known.clone(),
                        (None, None) => backend
                            .read_all(&path)
                            .map_err(|e| disk::io_err(&path, e))?
                            .map(Arc::new),
                    };
                    let disk = vb_disk.and_then(|d| d.image()).map(Arc::new);
                    let saved = SavedFile {
                        path,
                        generation,
                        bytes,
                        disk,
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
    /// written since are rewritten (and synced) with the image's bytes and reopened; memory is
    /// replaced.
    pub fn restore_image(&mut self, image: &ClusterImage) -> Result<(), EngineError> {
        let backend = self.backend.as_dyn();
        let current = self.generations();
        assert_eq!(current.len(), image.files.len(), "an image of this cluster");
        for (saved, now) in image.files.iter().zip(current) {
            let (path, generation) = (&*saved.path, &saved.generation);
            if now == *generation {
                continue; // not written since the image: the same bytes
            }
            if let (Some(disk_image), Some(bytes)) = (&saved.disk, &saved.bytes) {
                // Usually only appended to since the image: cut back in place.
                let disk = self
                    .vbs
                    .iter_mut()
                    .map(|v| &mut v.disk)
                    .chain(self.replicas.iter_mut().flatten().map(|r| &mut r.disk))
                    .find(|d| d.path() == path);
                if let Some(disk) = disk {
                    if disk.return_to(disk_image, bytes, *generation)? {
                        continue;
                    }
                }
            }
            if path == self.stats.path() && self.stats.known_bytes() == Some(&saved.bytes) {
                // Written since, but with the same bytes (or read since a crash reopened it).
                self.stats.generation = *generation;
                continue;
            }
            match &saved.bytes {
                Some(b) => backend
                    .write_new_synced(path, b)
                    .map_err(|e| match e {
                        SyncedWriteError::Write(e) | SyncedWriteError::Sync(e) => e,
                    })
                    .map_err(|e| disk::io_err(path, e))?,
                None => backend
                    .remove_file(path)
                    .map_err(|e| disk::io_err(path, e))?,
            }
            if path == self.stats.path() {
                self.stats = StatsDisk::restored(
                    &self.backend,
                    &active_dir(&self.dir),
                    *generation,
                    saved.bytes.clone(),
                );
                continue;
            }
            for vb in 0..self.vbuckets() {
                if active_vb_path(&self.dir, vb) == *path {
                    let backend = disk::with_disk_full(&self.backend, &self.disk_full);
                    let mut d = VbDisk::open(&backend, self.bugs.storage(), path)?;
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

    /// The write generation of every data file (the active's, then each replica's) and of
    /// stats.json, in that order: the order of an image's files.
    fn generations(&self) -> Vec<u64> {
        let mut generations: Vec<u64> = self.vbs.iter().map(|v| v.disk.generation).collect();
        for row in &self.replicas {
            generations.extend(row.iter().map(|rv| rv.disk.generation));
        }
        generations.push(self.stats.generation);
        generations
    }
}
