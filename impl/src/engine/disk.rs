//! ADAPTER between the engine and the storage layer (`crate::storage`, `crate::stats`).
//!
//! Everything the engine asks of the disk goes through this file, so a change in the storage
//! API is absorbed here. It also keeps, per data file, a cache of the committed documents and
//! vbstate (the view is computed after every call; re-reading every file each time would make
//! the event log quadratic). The cache is paired with the file: warmup re-reads the file and
//! asserts the two agree.

use super::{EngineError, Item, ItemOp};
use crate::failover::Entry;
use crate::stats::StatsFile;
use crate::storage::{
    Backend, DirLock, DiskFull, Doc, FailoverEntryJson, FaultyBackend, FileBackend, Op,
    StorageBugs, Tear, VbFile, VbFileImage, VbState, VbStateKind,
};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The storage backend a cluster writes through.
#[derive(Clone, Debug)]
pub enum StorageBackend {
    /// Real files with real fsync. The data directory is locked (`<dir>/LOCK`). A `crash`
    /// keeps everything written (a process crash; the page cache survives).
    File(FileBackend),
    /// The in-memory crashable file system. A `crash` also crashes it: only synced bytes
    /// survive (plus what the `Tear` of [`super::Cluster::crash_torn`] keeps).
    Faulty(FaultyBackend),
    /// Any other backend: no lock, a `crash` keeps everything written.
    Other(Arc<dyn Backend>),
}

impl StorageBackend {
    /// Real files, real fsync.
    pub fn file() -> Self {
        StorageBackend::File(FileBackend::new())
    }

    /// A fresh in-memory crashable file system.
    pub fn faulty() -> Self {
        StorageBackend::Faulty(FaultyBackend::new())
    }

    /// The backend as the storage layer takes it.
    pub fn as_dyn(&self) -> Arc<dyn Backend> {
        match self {
            StorageBackend::File(b) => Arc::new(b.clone()),
            StorageBackend::Faulty(b) => Arc::new(b.clone()),
            StorageBackend::Other(b) => b.clone(),
        }
    }
}

impl From<FileBackend> for StorageBackend {
    fn from(b: FileBackend) -> Self {
        StorageBackend::File(b)
    }
}

impl From<FaultyBackend> for StorageBackend {
    fn from(b: FaultyBackend) -> Self {
        StorageBackend::Faulty(b)
    }
}

impl From<Arc<dyn Backend>> for StorageBackend {
    fn from(b: Arc<dyn Backend>) -> Self {
        StorageBackend::Other(b)
    }
}

pub(crate) fn io_err(path: &Path, source: std::io::Error) -> EngineError {
    EngineError::Io {
        path: path.to_path_buf(),
        source,
    }
}

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

impl DiskState {
    /// Where a new failover entry for a vb with this vbstate and high seqno `high` goes
    /// (`VBucketLoader::createVBucket`, and `getFailoverSeqno` built from it): the snapshot's
    /// end if everything up to it is on disk, else its start.
    pub fn entry_seqno(&self, high: u64) -> u64 {
        if high == self.snap_end {
            self.snap_end
        } else {
            self.snap_start
        }
    }

    fn to_vbstate(&self) -> VbState {
        VbState {
            state: if self.replica {
                VbStateKind::Replica
            } else {
                VbStateKind::Active
            },
            failover_table: self
                .table
                .iter()
                .map(|e| FailoverEntryJson {
                    id: e.id,
                    seq: e.seq,
                })
                .collect(),
            snap_start: self.snap_start,
            snap_end: self.snap_end,
            max_cas: self.max_cas,
        }
    }

    fn from_vbstate(v: &VbState) -> DiskState {
        DiskState {
            replica: v.state == VbStateKind::Replica,
            table: v
                .failover_table
                .iter()
                .map(|e| Entry {
                    id: e.id,
                    seq: e.seq,
                })
                .collect(),
            snap_start: v.snap_start,
            snap_end: v.snap_end,
            max_cas: v.max_cas,
        }
    }
}

fn to_doc(i: &Item) -> Doc {
    Doc {
        seqno: i.seqno,
        key: i.key.clone(),
        op: match i.op {
            ItemOp::Set => Op::Set,
            ItemOp::Delete => Op::Delete,
            ItemOp::Expire => Op::Expire,
        },
        value: i.value.clone(),
        expiry: i.expiry,
        cas: i.cas,
    }
}

fn from_doc(d: Doc) -> Item {
    Item {
        seqno: d.seqno,
        key: d.key,
        op: match d.op {
            Op::Set => ItemOp::Set,
            Op::Delete => ItemOp::Delete,
            Op::Expire => ItemOp::Expire,
        },
        value: d.value,
        expiry: d.expiry,
        cas: d.cas,
    }
}

/// A fresh write generation. Every write to a file gives it a new one, so two moments at which
/// a file has the same generation see the same bytes; `Cluster::save_image`/`restore_image` use this
/// to skip files that did not change.
pub fn next_generation() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// A vbucket data file and a cache of its newest commit.
pub struct VbDisk {
    file: VbFile,
    items: Vec<Item>,
    state: Option<DiskState>,
    /// See [`next_generation`].
    pub generation: u64,
}

impl VbDisk {
    /// Open an existing file and read its newest commit. A file with no commit is an error
    /// (every data file is created with one), and so is one that no engine could have written
    /// (documents other than seqnos `1..=high`, a snapshot starting above the high seqno).
    pub fn open(
        backend: &StorageBackend,
        bugs: StorageBugs,
        path: &Path,
    ) -> Result<VbDisk, EngineError> {
        // Warmup's read in one pass: open (verifying every record) and decode the documents.
        let (file, docs) = VbFile::open_and_load_with_bugs(backend.as_dyn(), path, bugs)
            .map_err(EngineError::Storage)?;
        let Some(vbstate) = file.vbstate() else {
            return Err(EngineError::BadDataFile {
                path: path.to_path_buf(),
                what: "holds no commit (no vbstate); the bucket was never fully created, or the \
                       file was replaced"
                    .into(),
            });
        };
        let bad = |what: String| EngineError::BadDataFile {
            path: path.to_path_buf(),
            what,
        };
        let high = file.high_seqno();
        let items: Vec<Item> = docs.into_iter().map(from_doc).collect();
        // Nothing here de-duplicates or purges: the documents are exactly seqnos 1..=high. The
        // storage layer checks only that they ascend.
        let gap = (1..)
            .zip(&items)
            .find(|(expected, item)| item.seqno != *expected);
        if let Some((expected, item)) = gap {
            return Err(bad(format!(
                "document {expected} has seqno {}, expected {expected} (the documents of a data \
                 file are seqnos 1..=high, high {high})",
                item.seqno
            )));
        }
        if items.len() as u64 != high {
            return Err(bad(format!(
                "{} documents for high seqno {high} (expected seqnos 1..={high})",
                items.len()
            )));
        }
        if vbstate.snap_start > high {
            return Err(bad(format!(
                "the vbstate's snapshot [{}, {}] starts above the high seqno {high}",
                vbstate.snap_start, vbstate.snap_end
            )));
        }
        let state = Some(DiskState::from_vbstate(vbstate));
        Ok(VbDisk {
            file,
            items,
            state,
            generation: next_generation(),
        })
    }

    /// A new file holding one commit: no documents, `state`.
    pub fn create(
        backend: &StorageBackend,
        bugs: StorageBugs,
        path: &Path,
        state: &DiskState,
    ) -> Result<VbDisk, EngineError> {
        let file =
            VbFile::open_with_bugs(backend.as_dyn(), path, bugs).map_err(EngineError::Storage)?;
        if file.vbstate().is_some() {
            return Err(EngineError::Directory(format!(
                "{} already holds a data file",
                path.display()
            )));
        }
        let mut d = VbDisk {
            file,
            items: Vec::new(),
            state: None,
            generation: next_generation(),
        };
        d.commit(&[], state)?;
        Ok(d)
    }

    pub fn path(&self) -> &Path {
        self.file.path()
    }

    /// One atomic commit: `items` appended, `state` as the new vbstate. Durable when `Ok`. A
    /// failure the storage layer undid (the file is as of its last commit and usable) is
    /// [`EngineError::FlushFailed`]; any other is [`EngineError::Storage`].
    pub fn commit(&mut self, items: &[Item], state: &DiskState) -> Result<(), EngineError> {
        let docs: Vec<Doc> = items.iter().map(to_doc).collect();
        let path = self.file.path().to_path_buf();
        self.generation = next_generation();
        if let Err(e) = self.file.commit(&docs, &state.to_vbstate()) {
            if self.file.is_poisoned() {
                return Err(EngineError::Storage(e));
            }
            return Err(EngineError::FlushFailed(e));
        }
        self.items.extend_from_slice(items);
        self.state = Some(state.clone());
        // Paired with the checks before the commit: the file says what was written.
        assert_eq!(
            self.file.high_seqno(),
            self.items.last().map_or(0, |i| i.seqno),
            "{}: high seqno after the commit",
            path.display()
        );
        assert_eq!(
            self.file.vbstate().map(DiskState::from_vbstate).as_ref(),
            Some(state),
            "{}: the vbstate reads back as written",
            path.display()
        );
        Ok(())
    }

    /// The high seqno of the newest commit.
    pub fn high_seqno(&self) -> u64 {
        self.file.high_seqno()
    }

    /// The newest commit's vbstate (cached; `None` only for a file rewound below its first
    /// commit).
    pub fn state(&self) -> Option<&DiskState> {
        self.state.as_ref()
    }

    /// The newest commit's table, or an empty list.
    pub fn table(&self) -> &[Entry] {
        self.state.as_ref().map_or(&[], |s| &s.table)
    }

    /// The committed documents (cached).
    pub fn items(&self) -> &[Item] {
        &self.items
    }

    /// Read the committed documents and vbstate from the file again (warmup's read), and check
    /// them against the cache.
    pub fn read(&self) -> Result<(Vec<Item>, Option<DiskState>), EngineError> {
        let path = self.file.path();
        let items: Vec<Item> = self
            .file
            .docs()
            .map_err(EngineError::Storage)?
            .into_iter()
            .map(from_doc)
            .collect();
        let state = self.file.vbstate().map(DiskState::from_vbstate);
        assert_eq!(
            items,
            self.items,
            "{}: the cache follows the file",
            path.display()
        );
        assert_eq!(
            state,
            self.state,
            "{}: the cache follows the file",
            path.display()
        );
        Ok((items, state))
    }

    /// Rewind to the newest commit whose high seqno is `<= seqno`; returns the new high seqno.
    pub fn rewind_to(&mut self, seqno: u64) -> Result<u64, EngineError> {
        self.generation = next_generation();
        let high = self.file.rewind_to(seqno).map_err(EngineError::Storage)?;
        self.items
            .truncate(self.items.partition_point(|i| i.seqno <= high));
        self.state = self.file.vbstate().map(DiskState::from_vbstate);
        Ok(high)
    }

    /// What this `VbDisk` knows now, for [`VbDisk::return_to`] (a testing seam, see
    /// `engine/image.rs`); `None` after a failed write.
    pub fn image(&self) -> Option<VbDiskImage> {
        Some(VbDiskImage {
            file: self.file.image()?,
            items: self.items.clone(),
            state: self.state.clone(),
        })
    }

    /// The file's bytes now, read through the open file (no path lookup).
    pub fn read_all(&self) -> Result<Vec<u8>, EngineError> {
        self.file.read_all().map_err(EngineError::Storage)
    }

    /// Go back to `image`, taken at write generation `generation` while the file held `bytes`,
    /// in place ([`VbFile::return_to`]); `Ok(false)` with nothing changed when that cannot be
    /// done (the caller rewrites the file and reopens it).
    pub fn return_to(
        &mut self,
        image: &VbDiskImage,
        bytes: &[u8],
        generation: u64,
    ) -> Result<bool, EngineError> {
        if !self
            .file
            .return_to(&image.file, bytes)
            .map_err(EngineError::Storage)?
        {
            return Ok(false);
        }
        self.items.clone_from(&image.items);
        self.state.clone_from(&image.state);
        self.generation = generation;
        // Paired with `image`: the cache follows the file.
        assert_eq!(
            self.file.high_seqno(),
            self.items.last().map_or(0, |i| i.seqno),
            "{}: high seqno after returning to an image",
            self.path().display()
        );
        Ok(true)
    }
}

/// A [`VbDisk`] without its open file: see [`VbDisk::image`].
pub struct VbDiskImage {
    file: VbFileImage,
    items: Vec<Item>,
    state: Option<DiskState>,
}

/// stats.json.
pub struct StatsDisk {
    file: StatsFile,
    /// See [`next_generation`].
    pub generation: u64,
    /// stats.json's bytes as this `StatsDisk` last read them or replaced them with (`Some(None)`:
    /// there was no file), or `None` if it does not know them: since it was opened, and after a
    /// failed write. Nothing else writes the file while it is open (a machine crash reopens
    /// it), so these are the file's bytes now. Used where reading the file again would tell
    /// nothing new: a process crash (`reopen_files`) and the conformance seam
    /// (`engine/image.rs`). Warmup's Initialize always reads the file, and the file wins.
    seen: Option<Option<Arc<Vec<u8>>>>,
}

impl StatsDisk {
    pub fn open(backend: &StorageBackend, dir: &Path) -> StatsDisk {
        StatsDisk {
            file: StatsFile::new(backend.as_dyn(), dir),
            generation: next_generation(),
            seen: None,
        }
    }

    /// stats.json in `dir` just after the conformance seam rewrote it with `bytes` (or removed
    /// it, for `None`) and synced it, as of write generation `generation`.
    pub fn restored(
        backend: &StorageBackend,
        dir: &Path,
        generation: u64,
        bytes: Option<Arc<Vec<u8>>>,
    ) -> StatsDisk {
        StatsDisk {
            file: StatsFile::new(backend.as_dyn(), dir).trusting_temporary(),
            generation,
            seen: Some(bytes),
        }
    }

    pub fn path(&self) -> &Path {
        self.file.path()
    }

    /// The value of `ep_force_shutdown`, if stats.json has one.
    pub fn read_force_shutdown(&mut self) -> Result<Option<String>, EngineError> {
        let bytes = self.file.read_bytes().map_err(EngineError::Stats)?;
        let flag = self.file.parse(bytes.as_deref());
        self.seen = Some(bytes.map(Arc::new));
        flag.map_err(EngineError::Stats)
    }

    /// stats.json's bytes now if this `StatsDisk` knows them without reading the file (it read
    /// or wrote them last); `None` if it does not.
    pub fn known_bytes(&self) -> Option<&Option<Arc<Vec<u8>>>> {
        self.seen.as_ref()
    }

    /// Atomically replace stats.json, with `ep_force_shutdown` set to `value` or absent.
    pub fn write(&mut self, value: Option<&str>) -> Result<(), EngineError> {
        self.generation = next_generation();
        self.seen = None;
        let written = self.file.write(value).map_err(EngineError::Stats)?;
        self.seen = Some(Some(Arc::new(written)));
        Ok(())
    }

    /// Whether stats.json exists.
    pub fn exists(backend: &StorageBackend, dir: &Path) -> Result<bool, EngineError> {
        let path = dir.join(StatsFile::FILE_NAME);
        backend
            .as_dyn()
            .read_within(&path, 0)
            .map(|c| c.is_some())
            .map_err(|e| io_err(&path, e))
    }
}

/// `backend` with its appends subject to `switch`: how the active's data files are opened, so
/// that [`super::Cluster::fail_next_flushes`] reaches them (and only them).
pub fn with_disk_full(backend: &StorageBackend, switch: &DiskFull) -> StorageBackend {
    StorageBackend::Other(switch.wrap(backend.as_dyn()))
}

/// A process crash. With the fault-injecting backend the machine crashes too: only synced
/// bytes survive, plus what `tear` keeps.
pub fn crash_backend(backend: &StorageBackend, tear: Tear) {
    if let StorageBackend::Faulty(b) = backend {
        b.crash(tear);
    }
}

/// Lock the data directory for the cluster's life (file backend only; `None` otherwise).
pub fn lock_dir(backend: &StorageBackend, dir: &Path) -> Result<Option<DirLock>, EngineError> {
    match backend {
        StorageBackend::File(_) => DirLock::acquire(dir)
            .map(Some)
            .map_err(EngineError::Storage),
        _ => Ok(None),
    }
}

/// Whether the data directory already holds a bucket (its stats.json exists: it is written
/// last at creation).
pub fn bucket_exists(backend: &StorageBackend, active_dir: &Path) -> Result<bool, EngineError> {
    StatsDisk::exists(backend, active_dir)
}

/// Create the directories a bucket needs.
pub fn make_dirs(backend: &StorageBackend, dirs: &[PathBuf]) -> Result<(), EngineError> {
    let b = backend.as_dyn();
    for d in dirs {
        b.create_dir_all(d).map_err(|e| io_err(d, e))?;
    }
    Ok(())
}
