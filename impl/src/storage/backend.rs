//! The storage-backend seam: every byte the engine reads or writes (data files and stats.json)
//! goes through a [`Backend`]. [`FileBackend`] is real files with real fsync;
//! [`super::FaultyBackend`] is an in-memory file system that can crash.
//!
//! The seam is deliberately small: append-only files (plus truncate), whole-file reads and
//! writes for small files, rename, and the two kinds of fsync. Anything the engine needs to be
//! durable must be followed by a sync; the backends promise nothing else.

use rustix::fs::{AtFlags, Mode, OFlags, RenameFlags};
use rustix::io::Errno;
use std::collections::HashMap;
use std::ffi::OsStr;
use std::fmt;
use std::fs::{self, File};
use std::io::{self, Write};
use std::os::fd::OwnedFd;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// A file system, as the storage layer sees it. Object safe: the engine holds an
/// `Arc<dyn Backend>`.
pub trait Backend: Send + Sync + fmt::Debug {
    /// Opens `path` for reading and appending, creating it (empty) if it does not exist. A newly
    /// created file's directory entry is durable only after [`Backend::sync_dir`] of its parent.
    fn open(&self, path: &Path) -> io::Result<Box<dyn BackendFile>>;
    /// The whole content of `path`, or `None` if it does not exist.
    fn read_all(&self, path: &Path) -> io::Result<Option<Vec<u8>>>;
    /// The content of `path` up to `max` bytes (a longer file's first `max`), or `None` if it
    /// does not exist: for a file whose format has a size limit, so that a larger one costs no
    /// more than the limit to refuse. The in-memory backends hold only what was written
    /// through them and read it all.
    fn read_within(&self, path: &Path, max: u64) -> io::Result<Option<Vec<u8>>> {
        let _ = max;
        self.read_all(path)
    }
    /// Creates or truncates `path` and writes `data` to it. Not durable until
    /// [`Backend::sync_file`] (and, for a new file, [`Backend::sync_dir`]).
    fn write_new(&self, path: &Path, data: &[u8]) -> io::Result<()>;
    /// fsync of the file at `path` (data and size).
    fn sync_file(&self, path: &Path) -> io::Result<()>;
    /// [`Backend::write_new`] then [`Backend::sync_file`], through one open handle where the
    /// backend can; the error says which of the two failed.
    fn write_new_synced(&self, path: &Path, data: &[u8]) -> Result<(), SyncedWriteError> {
        self.write_new(path, data)
            .map_err(SyncedWriteError::Write)?;
        self.sync_file(path).map_err(SyncedWriteError::Sync)
    }
    /// Atomically renames `from` over `to`. Durable only after [`Backend::sync_dir`].
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Atomically swaps the names `a` and `b` of one directory, both of which exist
    /// (`renameat2` with `RENAME_EXCHANGE`): a replace that keeps the replaced file under the
    /// other name instead of deleting it. Durable only after [`Backend::sync_dir`]. An error of
    /// kind `Unsupported` where the file system cannot; `NotFound` if either name is missing.
    fn exchange(&self, a: &Path, b: &Path) -> io::Result<()>;
    /// fsync of a directory: makes the creates, renames and removes inside it durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
    /// Creates `dir` and its parents. Directories are assumed durable once created.
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;
    /// Removes the file at `path`. Durable only after [`Backend::sync_dir`].
    fn remove_file(&self, path: &Path) -> io::Result<()>;
}

/// Which half of [`Backend::write_new_synced`] failed.
#[derive(Debug)]
pub enum SyncedWriteError {
    /// Creating, truncating or writing the file.
    Write(io::Error),
    /// Its fsync.
    Sync(io::Error),
}

/// An open file: positional reads, appends at the end, truncation, fsync.
pub trait BackendFile: Send + fmt::Debug {
    /// The current length of the file (including unsynced appends).
    fn len(&self) -> io::Result<u64>;
    /// Whether the file is empty.
    fn is_empty(&self) -> io::Result<bool> {
        Ok(self.len()? == 0)
    }
    /// Fills `buf` with the bytes at `offset..offset + buf.len()`; an error if they are not all
    /// there.
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()>;
    /// Appends `data` at the end of the file. Not durable until [`BackendFile::sync`].
    fn append(&mut self, data: &[u8]) -> io::Result<()>;
    /// fsync: everything appended or truncated so far is durable once this returns `Ok`.
    fn sync(&mut self) -> io::Result<()>;
    /// Cuts the file to `len` bytes (`len` <= current length). Not durable until
    /// [`BackendFile::sync`].
    fn truncate(&mut self, len: u64) -> io::Result<()>;
}

/// Real files, real fsync (`fdatasync` for data files, `fsync` for stats.json and directories).
/// Unix only (positional I/O through `std::os::unix::fs::FileExt`, `*at` calls through rustix).
///
/// A file named by an absolute path is opened, renamed and removed relative to its directory,
/// which the backend opens once and keeps open (as the engine keeps its data files open): the
/// kernel then resolves one name instead of every component of the path, and a directory is
/// synced through its open handle. So a directory must not be replaced (removed and created
/// again at the same path) while a backend that has used it lives; the data directory is
/// locked for the cluster's life, and nothing in warmcheck removes a directory. Relative paths
/// go through the path as given. Clones share the open directories.
#[derive(Clone, Debug)]
pub struct FileBackend {
    fsync: bool,
    dirs: Arc<Mutex<HashMap<PathBuf, Arc<OwnedFd>>>>,
}

impl FileBackend {
    /// The real thing: every sync is an fsync.
    pub fn new() -> Self {
        FileBackend {
            fsync: true,
            dirs: Arc::default(),
        }
    }

    /// **Unsafe for real use (benchmarks and tests only).** Every sync (file and directory)
    /// becomes a no-op, so nothing is durable across a power loss or kernel crash: a "committed"
    /// header may be lost, or survive while the records it covers do not. Exists to measure
    /// what fsync costs the flusher.
    pub fn without_fsync() -> Self {
        FileBackend {
            fsync: false,
            dirs: Arc::default(),
        }
    }

    /// Whether syncs really fsync.
    pub fn fsyncs(&self) -> bool {
        self.fsync
    }

    /// The open directory `dir` (an absolute path), opened now if it is not yet.
    fn dir(&self, dir: &Path) -> io::Result<Arc<OwnedFd>> {
        let mut dirs = self.dirs.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(fd) = dirs.get(dir) {
            return Ok(fd.clone());
        }
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let fd = Arc::new(rustix::fs::open(dir, flags, Mode::empty())?);
        dirs.insert(dir.to_path_buf(), fd.clone());
        Ok(fd)
    }

    /// Where `path` is: its open directory and its name there, for a `*at` call; `None` for a
    /// relative path (or one without a file name), used as it is.
    fn at<'p>(&self, path: &'p Path) -> io::Result<Option<(Arc<OwnedFd>, &'p OsStr)>> {
        match (path.is_absolute(), path.parent(), path.file_name()) {
            (true, Some(dir), Some(name)) => Ok(Some((self.dir(dir)?, name))),
            _ => Ok(None),
        }
    }

    /// `path` opened with `flags` (plus `O_CLOEXEC`; mode 0666 less the umask when created).
    fn open_with(&self, path: &Path, flags: OFlags) -> io::Result<File> {
        let flags = flags | OFlags::CLOEXEC;
        let mode = Mode::from_raw_mode(0o666);
        let fd = match self.at(path)? {
            Some((dir, name)) => rustix::fs::openat(&*dir, name, flags, mode)?,
            None => rustix::fs::open(path, flags, mode)?,
        };
        Ok(File::from(fd))
    }
}

impl Default for FileBackend {
    fn default() -> Self {
        Self::new()
    }
}

impl Backend for FileBackend {
    fn open(&self, path: &Path) -> io::Result<Box<dyn BackendFile>> {
        let file = self.open_with(path, OFlags::RDWR | OFlags::CREATE)?;
        let len = file.metadata()?.len();
        Ok(Box::new(RealFile {
            file,
            path: path.to_path_buf(),
            len,
            fsync: self.fsync,
        }))
    }

    fn read_all(&self, path: &Path) -> io::Result<Option<Vec<u8>>> {
        self.read_within(path, u64::MAX)
    }

    fn read_within(&self, path: &Path, max: u64) -> io::Result<Option<Vec<u8>>> {
        let file = match self.open_with(path, OFlags::RDONLY) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        // Only a regular file has an end: a device or a pipe (stats.json -> /dev/zero) would be
        // read forever.
        let meta = file.metadata()?;
        if !meta.is_file() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "not a regular file",
            ));
        }
        // Sized from the one fstat above (`read_to_end` on a `File` would fstat and seek again);
        // read to the end whatever the size said, in case the file grew.
        let size = meta.len().min(max);
        let mut data = Vec::with_capacity((size as usize).saturating_add(1).min(1 << 20));
        io::Read::read_to_end(&mut io::Read::take(&file, max), &mut data)?;
        Ok(Some(data))
    }

    fn write_new(&self, path: &Path, data: &[u8]) -> io::Result<()> {
        let mut file = self.open_with(path, OFlags::WRONLY | OFlags::CREATE | OFlags::TRUNC)?;
        file.write_all(data)
    }

    fn write_new_synced(&self, path: &Path, data: &[u8]) -> Result<(), SyncedWriteError> {
        let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::TRUNC;
        let mut file = self
            .open_with(path, flags)
            .map_err(SyncedWriteError::Write)?;
        file.write_all(data).map_err(SyncedWriteError::Write)?;
        if self.fsync {
            file.sync_all().map_err(SyncedWriteError::Sync)?;
        }
        Ok(())
    }

    fn sync_file(&self, path: &Path) -> io::Result<()> {
        if !self.fsync {
            return Ok(());
        }
        // Opened for writing so that platforms which refuse fsync on read-only handles agree.
        self.open_with(path, OFlags::WRONLY)?.sync_all()
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        match (self.at(from)?, self.at(to)?) {
            (Some((from_dir, from_name)), Some((to_dir, to_name))) => Ok(rustix::fs::renameat(
                &*from_dir, from_name, &*to_dir, to_name,
            )?),
            _ => fs::rename(from, to),
        }
    }

    fn exchange(&self, a: &Path, b: &Path) -> io::Result<()> {
        let (a_dir, b_dir) = (self.at(a)?, self.at(b)?);
        let result = match (&a_dir, &b_dir) {
            (Some((a_dir, a_name)), Some((b_dir, b_name))) => rustix::fs::renameat_with(
                &**a_dir,
                *a_name,
                &**b_dir,
                *b_name,
                RenameFlags::EXCHANGE,
            ),
            _ => rustix::fs::renameat_with(
                rustix::fs::CWD,
                a,
                rustix::fs::CWD,
                b,
                RenameFlags::EXCHANGE,
            ),
        };
        result.map_err(|e| match e {
            // Not every file system can exchange (EINVAL), nor every kernel (ENOSYS).
            Errno::INVAL | Errno::NOSYS | Errno::OPNOTSUPP => io::Error::new(
                io::ErrorKind::Unsupported,
                format!("{}: cannot exchange names here: {e}", a.display()),
            ),
            e => e.into(),
        })
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        if !self.fsync {
            return Ok(());
        }
        if dir.is_absolute() {
            Ok(rustix::fs::fsync(&*self.dir(dir)?)?)
        } else {
            File::open(dir)?.sync_all()
        }
    }

    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        fs::create_dir_all(dir)
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        match self.at(path)? {
            Some((dir, name)) => Ok(rustix::fs::unlinkat(&*dir, name, AtFlags::empty())?),
            None => fs::remove_file(path),
        }
    }
}

/// A real file opened by [`FileBackend`]. The length is tracked here: appends are positional
/// writes at `len`.
#[derive(Debug)]
struct RealFile {
    file: File,
    path: PathBuf,
    len: u64,
    fsync: bool,
}

impl BackendFile for RealFile {
    fn len(&self) -> io::Result<u64> {
        Ok(self.len)
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        self.file.read_exact_at(buf, offset)
    }

    fn append(&mut self, data: &[u8]) -> io::Result<()> {
        self.file.write_all_at(data, self.len)?;
        self.len += data.len() as u64;
        Ok(())
    }

    fn sync(&mut self) -> io::Result<()> {
        if !self.fsync {
            return Ok(());
        }
        // fdatasync: flushes the data and the size (needed to read the data back), which is
        // all an append-only file needs.
        self.file.sync_data()
    }

    fn truncate(&mut self, len: u64) -> io::Result<()> {
        assert!(
            len <= self.len,
            "{}: truncate to {len} beyond the length {}",
            self.path.display(),
            self.len
        );
        self.file.set_len(len)?;
        self.len = len;
        Ok(())
    }
}
