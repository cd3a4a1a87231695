//! The storage-backend seam: every byte the engine reads or writes (data files and stats.json)
//! goes through a [`Backend`]. [`FileBackend`] is real files with real fsync;
//! [`super::FaultyBackend`] is an in-memory file system that can crash.
//!
//! The seam is deliberately small: append-only files (plus truncate), whole-file reads and
//! writes for small files, rename, and the two kinds of fsync. Anything the engine needs to be
//! durable must be followed by a sync; the backends promise nothing else.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// A file system, as the storage layer sees it. Object safe: the engine holds an
/// `Arc<dyn Backend>`.
pub trait Backend: Send + Sync + fmt::Debug {
    /// Opens `path` for reading and appending, creating it (empty) if it does not exist. A newly
    /// created file's directory entry is durable only after [`Backend::sync_dir`] of its parent.
    fn open(&self, path: &Path) -> io::Result<Box<dyn BackendFile>>;
    /// The whole content of `path`, or `None` if it does not exist.
    fn read_all(&self, path: &Path) -> io::Result<Option<Vec<u8>>>;
    /// Creates or truncates `path` and writes `data` to it. Not durable until
    /// [`Backend::sync_file`] (and, for a new file, [`Backend::sync_dir`]).
    fn write_new(&self, path: &Path, data: &[u8]) -> io::Result<()>;
    /// fsync of the file at `path` (data and size).
    fn sync_file(&self, path: &Path) -> io::Result<()>;
    /// Atomically renames `from` over `to`. Durable only after [`Backend::sync_dir`].
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// fsync of a directory: makes the creates, renames and removes inside it durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
    /// Creates `dir` and its parents. Directories are assumed durable once created.
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;
    /// Removes the file at `path`. Durable only after [`Backend::sync_dir`].
    fn remove_file(&self, path: &Path) -> io::Result<()>;
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
/// Unix only (positional I/O through `std::os::unix::fs::FileExt`).
#[derive(Clone, Debug)]
pub struct FileBackend {
    fsync: bool,
}

impl FileBackend {
    /// The real thing: every sync is an fsync.
    pub fn new() -> Self {
        FileBackend { fsync: true }
    }

    /// **Unsafe for real use (benchmarks and tests only).** Every sync (file and directory)
    /// becomes a no-op, so nothing is durable across a power loss or kernel crash: a "committed"
    /// header may be lost, or survive while the records it covers do not. Exists to measure
    /// what fsync costs the flusher.
    pub fn without_fsync() -> Self {
        FileBackend { fsync: false }
    }

    /// Whether syncs really fsync.
    pub fn fsyncs(&self) -> bool {
        self.fsync
    }
}

impl Default for FileBackend {
    fn default() -> Self {
        Self::new()
    }
}

impl Backend for FileBackend {
    fn open(&self, path: &Path) -> io::Result<Box<dyn BackendFile>> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        let len = file.metadata()?.len();
        Ok(Box::new(RealFile {
            file,
            path: path.to_path_buf(),
            len,
            fsync: self.fsync,
        }))
    }

    fn read_all(&self, path: &Path) -> io::Result<Option<Vec<u8>>> {
        let file = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        // Only a regular file has an end: a device or a pipe (stats.json -> /dev/zero) would be
        // read forever.
        if !file.metadata()?.is_file() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "not a regular file",
            ));
        }
        let mut data = Vec::new();
        io::Read::read_to_end(&mut &file, &mut data)?;
        Ok(Some(data))
    }

    fn write_new(&self, path: &Path, data: &[u8]) -> io::Result<()> {
        let mut file = File::create(path)?;
        file.write_all(data)
    }

    fn sync_file(&self, path: &Path) -> io::Result<()> {
        if !self.fsync {
            return Ok(());
        }
        // Opened for writing so that platforms which refuse fsync on read-only handles agree.
        OpenOptions::new().write(true).open(path)?.sync_all()
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::rename(from, to)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        if !self.fsync {
            return Ok(());
        }
        File::open(dir)?.sync_all()
    }

    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        fs::create_dir_all(dir)
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        fs::remove_file(path)
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
