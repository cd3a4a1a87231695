//! ADAPTER between the engine and the storage layer (`crate::storage`, `crate::stats`).
//!
//! Everything the engine asks of the disk goes through this file, so a change in the storage
//! API is absorbed here. TEMPORARY: until the storage layer lands, this file holds a small
//! in-memory stand-in with the same shape (`StubBackend`); it is replaced by calls to
//! `storage::VbFile` / `stats::StatsFile` as soon as those exist.

use super::{EngineError, Item};
use crate::failover::Entry;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// The storage backend the engine writes through.
pub type BackendRef = Arc<StubBackend>;

/// The vbstate written next to each commit (`_local/vbstate`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiskState {
    pub replica: bool,
    /// Newest first, as read (not sanitized).
    pub table: Vec<Entry>,
    pub snap_start: u64,
    pub snap_end: u64,
    pub max_cas: u64,
}

#[derive(Clone, Debug)]
struct StubCommit {
    items: Vec<Item>,
    state: DiskState,
}

/// TEMPORARY in-memory backend standing in for the storage layer.
#[derive(Default, Debug)]
pub struct StubBackend {
    files: Mutex<HashMap<PathBuf, Vec<StubCommit>>>,
    stats: Mutex<HashMap<PathBuf, Option<String>>>,
}

impl StubBackend {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }
}

/// A vbucket data file.
pub struct VbDisk {
    backend: BackendRef,
    path: PathBuf,
    commits: Vec<StubCommit>,
}

impl VbDisk {
    pub fn open(backend: &BackendRef, path: &Path) -> Result<VbDisk, EngineError> {
        let files = backend.files.lock().unwrap();
        let commits = files
            .get(path)
            .cloned()
            .ok_or_else(|| EngineError::Storage {
                file: path.to_path_buf(),
                source: "no such file".into(),
            })?;
        Ok(VbDisk {
            backend: backend.clone(),
            path: path.to_path_buf(),
            commits,
        })
    }

    /// A new file holding one commit: no documents, `state`.
    pub fn create(
        backend: &BackendRef,
        path: &Path,
        state: &DiskState,
    ) -> Result<VbDisk, EngineError> {
        {
            let mut files = backend.files.lock().unwrap();
            if files.contains_key(path) {
                return Err(EngineError::Storage {
                    file: path.to_path_buf(),
                    source: "file exists".into(),
                });
            }
            files.insert(path.to_path_buf(), Vec::new());
        }
        let mut d = VbDisk::open(backend, path)?;
        d.commit(&[], state)?;
        Ok(d)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// One atomic commit: `items` appended, `state` as the new vbstate.
    pub fn commit(&mut self, items: &[Item], state: &DiskState) -> Result<(), EngineError> {
        let mut all = self
            .commits
            .last()
            .map(|c| c.items.clone())
            .unwrap_or_default();
        all.extend_from_slice(items);
        self.commits.push(StubCommit {
            items: all,
            state: state.clone(),
        });
        self.backend
            .files
            .lock()
            .unwrap()
            .insert(self.path.clone(), self.commits.clone());
        Ok(())
    }

    pub fn high_seqno(&self) -> u64 {
        self.commits
            .last()
            .and_then(|c| c.items.last())
            .map_or(0, |i| i.seqno)
    }

    pub fn state(&self) -> DiskState {
        self.commits
            .last()
            .expect("a file has a commit")
            .state
            .clone()
    }

    pub fn items(&self) -> Vec<Item> {
        self.commits
            .last()
            .map(|c| c.items.clone())
            .unwrap_or_default()
    }

    /// Rewind to the newest commit whose high seqno is `<= seqno`; returns the new high seqno.
    pub fn rewind_to(&mut self, seqno: u64) -> Result<u64, EngineError> {
        while self.commits.len() > 1 {
            let high = self
                .commits
                .last()
                .and_then(|c| c.items.last())
                .map_or(0, |i| i.seqno);
            if high <= seqno {
                break;
            }
            self.commits.pop();
        }
        self.backend
            .files
            .lock()
            .unwrap()
            .insert(self.path.clone(), self.commits.clone());
        Ok(self.high_seqno())
    }
}

/// stats.json.
pub struct StatsDisk {
    backend: BackendRef,
    path: PathBuf,
}

impl StatsDisk {
    pub fn open(backend: &BackendRef, dir: &Path) -> StatsDisk {
        StatsDisk {
            backend: backend.clone(),
            path: dir.join("stats.json"),
        }
    }

    /// The value of `ep_force_shutdown`, if stats.json has one.
    pub fn read_force_shutdown(&self) -> Result<Option<String>, EngineError> {
        Ok(self
            .backend
            .stats
            .lock()
            .unwrap()
            .get(&self.path)
            .cloned()
            .flatten())
    }

    /// Replace stats.json, with `ep_force_shutdown` set to `value` or absent.
    pub fn write(&mut self, value: Option<&str>) -> Result<(), EngineError> {
        self.backend
            .stats
            .lock()
            .unwrap()
            .insert(self.path.clone(), value.map(str::to_string));
        Ok(())
    }
}

/// A process crash: with a fault-injecting backend only synced bytes survive.
pub fn crash_backend(_backend: &BackendRef) {}

/// Held while the cluster owns its directory (file backend only).
pub struct DirGuard;

pub fn lock_dir(_backend: &BackendRef, _dir: &Path) -> Result<Option<DirGuard>, EngineError> {
    Ok(None)
}

/// Whether the data directory already holds a bucket.
pub fn bucket_exists(backend: &BackendRef, dir: &Path) -> bool {
    backend
        .stats
        .lock()
        .unwrap()
        .contains_key(&dir.join("active").join("stats.json"))
}

/// Create the directories a bucket needs.
pub fn make_dirs(_backend: &BackendRef, _dirs: &[PathBuf]) -> Result<(), EngineError> {
    Ok(())
}
