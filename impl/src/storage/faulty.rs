//! [`FaultyBackend`]: an in-memory file system with a *volatile* and a *durable* image, for
//! crash tests.
//!
//! - File content: every write lands in the volatile image; a file sync copies the file's
//!   volatile content to its durable content.
//! - Directory entries (create, rename, exchange, remove): volatile at once, durable after
//!   [`Backend::sync_dir`] of the parent. Directories themselves are durable once created.
//! - [`FaultyBackend::crash`] throws the volatile image away: volatile := durable, where the
//!   [`Tear`] says how much of what was written but not synced survives anyway.
//! - Sync points (every file sync and every directory sync) are counted;
//!   [`FaultyBackend::crash_at_sync`] makes the n-th one fail, after which every write is refused
//!   until [`FaultyBackend::crash`].
//!
//! Crashing at sync point n with every [`Tear`] covers crashing anywhere between sync points
//! n-1 and n: nothing written since sync point n-1 is durable, except what the tear keeps.
//!
//! Areas not modelled: in-place overwrites (the seam has none); reordering *inside* one write
//! (a tear keeps a prefix plus garbage, [`Tear::Scatter`] reorders whole writes, neither
//! scatters the sectors of one write; the format does not rely on any order without an fsync);
//! cross-directory renames (refused); directory removal; disk-full.

use super::backend::{Backend, BackendFile};
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

/// What survives, at a crash, of the bytes written to a file since its last sync.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tear {
    /// Nothing: every file is exactly as last synced, every directory as last synced.
    None,
    /// The first `n` unsynced bytes of each file survive (written over what was durable there,
    /// e.g. over a tail the volatile image had truncated away); `Prefix(usize::MAX)` keeps every
    /// write but still loses unsynced directory entries.
    Prefix(usize),
    /// Per file, a random number of the unsynced bytes survive, optionally followed by up to 64
    /// bytes of garbage in place of the next unsynced bytes (a torn sector); per directory, a
    /// random prefix of the unsynced operations (in order, as a journal would) survives.
    /// Deterministic in the seed.
    Random(u64),
    /// No order among the unsynced writes of a file (a disk cache without barriers): each write
    /// since the last sync independently survives whole, survives as a prefix, or is lost;
    /// lost bytes below the end of a surviving later write read as zeros. Per directory, as
    /// `Random`. Deterministic in the seed. Correct code never has two writes that must be
    /// ordered inside one sync window, so this tear only hurts code that does.
    Scatter(u64),
}

/// The in-memory crashable file system. Cloning gives another handle to the same file system.
#[derive(Clone, Debug, Default)]
pub struct FaultyBackend {
    inner: Arc<Mutex<State>>,
}

#[derive(Debug, Default)]
struct State {
    /// Inode contents, by inode number.
    inodes: BTreeMap<u64, Inode>,
    next_inode: u64,
    /// The durable directory entries: path -> inode.
    durable_dir: BTreeMap<PathBuf, u64>,
    /// The volatile directory entries: durable ones with `pending` applied.
    volatile_dir: BTreeMap<PathBuf, u64>,
    /// Directory operations not yet made durable, by parent directory, oldest first.
    pending: BTreeMap<PathBuf, Vec<DirOp>>,
    /// Sync points so far.
    syncs: u64,
    /// The sync point that will fail, if armed.
    fail_at: Option<u64>,
    /// A sync point failed: writes are refused until `crash()`.
    failed_at: Option<u64>,
    /// Bumped by every crash; handles from an older epoch are stale.
    epoch: u64,
}

#[derive(Debug, Default, Clone)]
struct Inode {
    durable: Vec<u8>,
    volatile: Vec<u8>,
    /// The shortest the volatile content has been since the last sync: bytes from here on are
    /// unsynced (`volatile[..floor] == durable[..floor]`).
    floor: usize,
    /// The unsynced writes, oldest first: (offset, length), all at or above `floor`.
    writes: Vec<(usize, usize)>,
}

#[derive(Debug, Clone)]
enum DirOp {
    Link(PathBuf, u64),
    Unlink(PathBuf),
    /// Two names of one directory swap their inodes, atomically (one op, so a tear keeps
    /// both halves or neither).
    Exchange(PathBuf, PathBuf),
}

/// Swaps the inodes of names `a` and `b` (either may be missing: then the other name goes).
fn swap_entries(dir: &mut BTreeMap<PathBuf, u64>, a: &Path, b: &Path) {
    let (ino_a, ino_b) = (dir.remove(a), dir.remove(b));
    if let Some(ino) = ino_b {
        dir.insert(a.to_path_buf(), ino);
    }
    if let Some(ino) = ino_a {
        dir.insert(b.to_path_buf(), ino);
    }
}

/// Renames and exchanges stay inside one directory here (others are not modelled).
fn one_directory(a: &Path, b: &Path, op: &str) -> io::Result<()> {
    if parent_of(a) == parent_of(b) {
        return Ok(());
    }
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        format!("faulty backend: cross-directory {op}"),
    ))
}

fn parent_of(path: &Path) -> PathBuf {
    path.parent().map(Path::to_path_buf).unwrap_or_default()
}

fn not_found(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("faulty backend: no such file {}", path.display()),
    )
}

impl State {
    fn check_writable(&self) -> io::Result<()> {
        match self.failed_at {
            Some(n) => Err(io::Error::other(format!(
                "faulty backend: crashed at sync point {n}; refusing writes until crash()"
            ))),
            None => Ok(()),
        }
    }

    /// Counts a sync point; fails it if it is the armed one.
    fn sync_point(&mut self) -> io::Result<()> {
        self.check_writable()?;
        self.syncs += 1;
        if self.fail_at == Some(self.syncs) {
            self.fail_at = None;
            self.failed_at = Some(self.syncs);
            return Err(io::Error::other(format!(
                "faulty backend: injected failure at sync point {}",
                self.syncs
            )));
        }
        Ok(())
    }

    fn inode_of(&self, path: &Path) -> io::Result<u64> {
        self.volatile_dir
            .get(path)
            .copied()
            .ok_or_else(|| not_found(path))
    }

    fn new_inode(&mut self) -> u64 {
        self.next_inode += 1;
        self.inodes.insert(self.next_inode, Inode::default());
        self.next_inode
    }

    fn dir_op(&mut self, op: DirOp) {
        let path = match &op {
            DirOp::Link(p, ino) => {
                self.volatile_dir.insert(p.clone(), *ino);
                p
            }
            DirOp::Unlink(p) => {
                self.volatile_dir.remove(p);
                p
            }
            DirOp::Exchange(a, b) => {
                swap_entries(&mut self.volatile_dir, a, b);
                a
            }
        };
        self.pending.entry(parent_of(path)).or_default().push(op);
    }

    fn apply_durably(&mut self, op: &DirOp) {
        match op {
            DirOp::Link(p, ino) => {
                self.durable_dir.insert(p.clone(), *ino);
            }
            DirOp::Unlink(p) => {
                self.durable_dir.remove(p);
            }
            DirOp::Exchange(a, b) => swap_entries(&mut self.durable_dir, a, b),
        }
    }

    fn sync_inode(&mut self, ino: u64) {
        let inode = self.inodes.get_mut(&ino).expect("inode of a live entry");
        inode.durable.clone_from(&inode.volatile);
        inode.floor = inode.volatile.len();
        inode.writes.clear();
    }
}

impl Inode {
    fn truncate(&mut self, len: usize) {
        assert!(len <= self.volatile.len());
        self.volatile.truncate(len);
        self.floor = self.floor.min(len);
        self.writes.retain(|&(offset, _)| offset < len);
        for write in &mut self.writes {
            write.1 = write.1.min(len - write.0);
        }
    }

    fn append(&mut self, data: &[u8]) {
        self.writes.push((self.volatile.len(), data.len()));
        self.volatile.extend_from_slice(data);
    }

    /// The content after a crash with [`Tear::Scatter`].
    fn after_scatter(&self, rng: &mut rand::rngs::StdRng) -> Vec<u8> {
        let kept: Vec<usize> = self
            .writes
            .iter()
            .map(|&(_, len)| match rng.random_range(0..3) {
                0 => 0,
                1 => len,
                _ => rng.random_range(0..=len),
            })
            .collect();
        let end = self
            .writes
            .iter()
            .zip(&kept)
            .filter(|(_, &keep)| keep > 0)
            .map(|(&(offset, _), &keep)| offset + keep)
            .max()
            .unwrap_or(0);
        let mut out = self.durable.clone();
        if out.len() < end {
            out.resize(end, 0);
        }
        // Writes never overlap: each is an append, and a truncation clips the earlier ones.
        for (&(offset, len), &keep) in self.writes.iter().zip(&kept) {
            let hole_end = (offset + len).min(end);
            if offset + keep < hole_end {
                out[offset + keep..hole_end].fill(0);
            }
            if keep > 0 {
                out[offset..offset + keep].copy_from_slice(&self.volatile[offset..offset + keep]);
            }
        }
        out
    }

    /// The content after a crash with `tear`.
    fn after_crash(&self, tear: Tear, rng: &mut rand::rngs::StdRng) -> Vec<u8> {
        debug_assert_eq!(self.volatile[..self.floor], self.durable[..self.floor]);
        if let Tear::Scatter(_) = tear {
            return self.after_scatter(rng);
        }
        let unsynced = &self.volatile[self.floor..];
        let (keep, garbage) = match tear {
            Tear::None => (0, 0),
            Tear::Scatter(_) => unreachable!(),
            Tear::Prefix(n) => (n.min(unsynced.len()), 0),
            Tear::Random(_) => {
                let keep = rng.random_range(0..=unsynced.len());
                // Garbage only where a write was in flight: a torn sector holds neither the old
                // nor the new bytes. Never beyond what was written, never in a file that saw
                // no write (a truncation alone cannot garble anything).
                let room = unsynced.len() - keep;
                let garbage = if room > 0 && rng.random::<bool>() {
                    rng.random_range(1..=room.min(64))
                } else {
                    0
                };
                (keep, garbage)
            }
        };
        let mut out = self.durable.clone();
        let mut overlay = unsynced[..keep].to_vec();
        overlay.extend((0..garbage).map(|_| rng.random::<u8>()));
        let end = self.floor + overlay.len();
        if out.len() < end {
            out.resize(end, 0);
        }
        out[self.floor..end].copy_from_slice(&overlay);
        out
    }
}

impl FaultyBackend {
    /// An empty file system.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock (an assertion in a test) must not hide the state.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The machine crashes and restarts: every file and directory keeps its durable image plus
    /// what `tear` says survives. Open handles become stale (every call on them fails); a sync
    /// failure armed by [`FaultyBackend::crash_at_sync`] is disarmed and writes are accepted
    /// again.
    pub fn crash(&self, tear: Tear) {
        let mut st = self.lock();
        let seed = match tear {
            Tear::Random(seed) | Tear::Scatter(seed) => seed,
            _ => 0,
        };
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        for inode in st.inodes.values_mut() {
            let content = inode.after_crash(tear, &mut rng);
            inode.durable.clone_from(&content);
            inode.volatile = content;
            inode.floor = inode.volatile.len();
            inode.writes.clear();
        }
        let pending = std::mem::take(&mut st.pending);
        if let Tear::Random(_) | Tear::Scatter(_) = tear {
            for ops in pending.values() {
                let keep = rng.random_range(0..=ops.len());
                for op in &ops[..keep] {
                    st.apply_durably(op);
                }
            }
        }
        st.volatile_dir = st.durable_dir.clone();
        let live: Vec<u64> = st.durable_dir.values().copied().collect();
        st.inodes.retain(|ino, _| live.contains(ino));
        st.fail_at = None;
        st.failed_at = None;
        st.epoch += 1;
    }

    /// Arms a failure: the `n`-th sync point from now (1 = the next file or directory sync)
    /// returns an error, and every write after it is refused until [`FaultyBackend::crash`].
    /// The failing sync makes nothing durable (a tear at the crash may keep some of it).
    pub fn crash_at_sync(&self, n: u64) {
        assert!(n >= 1, "sync points are counted from 1");
        let mut st = self.lock();
        let at = st.syncs + n;
        st.fail_at = Some(at);
    }

    /// The number of sync points so far (successful or failed).
    pub fn sync_count(&self) -> u64 {
        self.lock().syncs
    }

    /// Whether an armed sync failure has fired (writes are refused until a crash).
    pub fn has_failed(&self) -> bool {
        self.lock().failed_at.is_some()
    }

    /// Sets the byte at `offset` of the file at `path` to `byte`, in both images (bit rot).
    pub fn inject_corruption(&self, path: &Path, offset: u64, byte: u8) -> io::Result<()> {
        let mut st = self.lock();
        let ino = st.inode_of(path)?;
        let inode = st.inodes.get_mut(&ino).expect("inode of a live entry");
        let at = offset as usize;
        for image in [&mut inode.durable, &mut inode.volatile] {
            if at >= image.len() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("{}: offset {offset} beyond the end", path.display()),
                ));
            }
            image[at] = byte;
        }
        Ok(())
    }

    /// Cuts the file at `path` to `len` bytes in both images (a test helper).
    pub fn cut(&self, path: &Path, len: u64) -> io::Result<()> {
        let mut st = self.lock();
        let ino = st.inode_of(path)?;
        let inode = st.inodes.get_mut(&ino).expect("inode of a live entry");
        let len = len as usize;
        inode.durable.truncate(len);
        inode.truncate(len.min(inode.volatile.len()));
        Ok(())
    }

    /// The durable content of the file at `path` as a crash with [`Tear::None`] would leave it,
    /// or `None` if its durable directory entry does not exist.
    pub fn durable_content(&self, path: &Path) -> Option<Vec<u8>> {
        let st = self.lock();
        let ino = st.durable_dir.get(path)?;
        Some(st.inodes[ino].durable.clone())
    }

    /// The paths of the volatile directory entries.
    pub fn paths(&self) -> Vec<PathBuf> {
        self.lock().volatile_dir.keys().cloned().collect()
    }
}

impl Backend for FaultyBackend {
    fn open(&self, path: &Path) -> io::Result<Box<dyn BackendFile>> {
        let mut st = self.lock();
        let ino = match st.volatile_dir.get(path) {
            Some(ino) => *ino,
            None => {
                st.check_writable()?;
                let ino = st.new_inode();
                st.dir_op(DirOp::Link(path.to_path_buf(), ino));
                ino
            }
        };
        Ok(Box::new(FaultyFile {
            fs: self.clone(),
            path: path.to_path_buf(),
            ino,
            epoch: st.epoch,
        }))
    }

    fn read_all(&self, path: &Path) -> io::Result<Option<Vec<u8>>> {
        let st = self.lock();
        Ok(st
            .volatile_dir
            .get(path)
            .map(|ino| st.inodes[ino].volatile.clone()))
    }

    fn write_new(&self, path: &Path, data: &[u8]) -> io::Result<()> {
        let mut st = self.lock();
        st.check_writable()?;
        let ino = match st.volatile_dir.get(path) {
            Some(ino) => *ino,
            None => {
                let ino = st.new_inode();
                st.dir_op(DirOp::Link(path.to_path_buf(), ino));
                ino
            }
        };
        let inode = st.inodes.get_mut(&ino).expect("inode of a live entry");
        inode.truncate(0);
        inode.append(data);
        Ok(())
    }

    fn sync_file(&self, path: &Path) -> io::Result<()> {
        let mut st = self.lock();
        let ino = st.inode_of(path)?;
        st.sync_point()?;
        st.sync_inode(ino);
        Ok(())
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut st = self.lock();
        st.check_writable()?;
        one_directory(from, to, "rename")?;
        let ino = st.inode_of(from)?;
        // Link before unlink: a Random tear that keeps only the first op leaves both names on
        // the new inode (as a hard link would), never neither.
        st.dir_op(DirOp::Link(to.to_path_buf(), ino));
        st.dir_op(DirOp::Unlink(from.to_path_buf()));
        Ok(())
    }

    fn exchange(&self, a: &Path, b: &Path) -> io::Result<()> {
        let mut st = self.lock();
        st.check_writable()?;
        one_directory(a, b, "exchange")?;
        st.inode_of(a)?;
        st.inode_of(b)?;
        st.dir_op(DirOp::Exchange(a.to_path_buf(), b.to_path_buf()));
        Ok(())
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let mut st = self.lock();
        st.sync_point()?;
        if let Some(ops) = st.pending.remove(dir) {
            for op in &ops {
                st.apply_durably(op);
            }
        }
        Ok(())
    }

    fn create_dir_all(&self, _dir: &Path) -> io::Result<()> {
        self.lock().check_writable()
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        let mut st = self.lock();
        st.check_writable()?;
        st.inode_of(path)?;
        st.dir_op(DirOp::Unlink(path.to_path_buf()));
        Ok(())
    }
}

/// A handle on a [`FaultyBackend`] file. Stale after a crash.
#[derive(Debug)]
struct FaultyFile {
    fs: FaultyBackend,
    path: PathBuf,
    ino: u64,
    epoch: u64,
}

impl FaultyFile {
    fn with<T>(&self, f: impl FnOnce(&mut State, u64) -> io::Result<T>) -> io::Result<T> {
        let mut st = self.fs.lock();
        if st.epoch != self.epoch || !st.inodes.contains_key(&self.ino) {
            return Err(io::Error::other(format!(
                "faulty backend: handle on {} is stale (the machine crashed since it was opened)",
                self.path.display()
            )));
        }
        f(&mut st, self.ino)
    }
}

impl BackendFile for FaultyFile {
    fn len(&self) -> io::Result<u64> {
        self.with(|st, ino| Ok(st.inodes[&ino].volatile.len() as u64))
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        self.with(|st, ino| {
            let data = &st.inodes[&ino].volatile;
            let start = offset as usize;
            let end = start.checked_add(buf.len());
            match end {
                Some(end) if end <= data.len() => {
                    buf.copy_from_slice(&data[start..end]);
                    Ok(())
                }
                _ => Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!(
                        "faulty backend: read of {} bytes at {offset} beyond the end ({})",
                        buf.len(),
                        data.len()
                    ),
                )),
            }
        })
    }

    fn append(&mut self, data: &[u8]) -> io::Result<()> {
        self.with(|st, ino| {
            st.check_writable()?;
            st.inodes.get_mut(&ino).expect("checked").append(data);
            Ok(())
        })
    }

    fn sync(&mut self) -> io::Result<()> {
        self.with(|st, ino| {
            st.sync_point()?;
            st.sync_inode(ino);
            Ok(())
        })
    }

    fn truncate(&mut self, len: u64) -> io::Result<()> {
        self.with(|st, ino| {
            st.check_writable()?;
            st.inodes
                .get_mut(&ino)
                .expect("checked")
                .truncate(len as usize);
            Ok(())
        })
    }
}
