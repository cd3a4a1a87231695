//! [`DiskFull`]: a switch that makes appends through a wrapped [`Backend`] fail the way a full
//! disk fails them: a short write (the first half of the bytes land), then `ENOSPC`. It wraps
//! any backend, real files included, so a failed flush is exercised on the real code path.
//!
//! The switch is armed with a count: each of the next `n` appends through any backend it wraps
//! fails, then appends succeed again. Nothing else (reads, truncation, syncs, renames) is
//! affected, so the storage layer's recovery from the failure (truncating the partial bytes
//! away) runs as it would on a disk that is full for one write.

use super::backend::{Backend, BackendFile, SyncedWriteError};
use std::fmt;
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// `ENOSPC` on Linux and the BSDs.
const ENOSPC: i32 = 28;

/// The switch. Cloning gives another handle to the same count.
#[derive(Clone, Debug, Default)]
pub struct DiskFull {
    armed: Arc<AtomicU64>,
}

impl DiskFull {
    /// A disarmed switch.
    pub fn new() -> Self {
        Self::default()
    }

    /// The next `n` appends through a backend this switch wraps fail; 0 disarms.
    pub fn fail_next_appends(&self, n: u64) {
        self.armed.store(n, Ordering::SeqCst);
    }

    /// How many appends are still to fail.
    pub fn armed(&self) -> u64 {
        self.armed.load(Ordering::SeqCst)
    }

    /// `backend`, with its appends subject to this switch.
    pub fn wrap(&self, backend: Arc<dyn Backend>) -> Arc<dyn Backend> {
        Arc::new(Wrapped {
            inner: backend,
            switch: self.clone(),
        })
    }

    /// Whether this append fails (and counts it).
    fn take(&self) -> bool {
        self.armed
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    }
}

struct Wrapped {
    inner: Arc<dyn Backend>,
    switch: DiskFull,
}

impl fmt::Debug for Wrapped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DiskFull")
            .field("inner", &self.inner)
            .field("armed", &self.switch.armed())
            .finish()
    }
}

impl Backend for Wrapped {
    fn open(&self, path: &Path) -> io::Result<Box<dyn BackendFile>> {
        Ok(Box::new(WrappedFile {
            inner: self.inner.open(path)?,
            switch: self.switch.clone(),
        }))
    }
    fn read_all(&self, path: &Path) -> io::Result<Option<Vec<u8>>> {
        self.inner.read_all(path)
    }
    fn read_within(&self, path: &Path, max: u64) -> io::Result<Option<Vec<u8>>> {
        self.inner.read_within(path, max)
    }
    fn write_new(&self, path: &Path, data: &[u8]) -> io::Result<()> {
        self.inner.write_new(path, data)
    }
    fn sync_file(&self, path: &Path) -> io::Result<()> {
        self.inner.sync_file(path)
    }
    fn write_new_synced(&self, path: &Path, data: &[u8]) -> Result<(), SyncedWriteError> {
        self.inner.write_new_synced(path, data)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.inner.rename(from, to)
    }
    fn exchange(&self, a: &Path, b: &Path) -> io::Result<()> {
        self.inner.exchange(a, b)
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.inner.sync_dir(dir)
    }
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        self.inner.create_dir_all(dir)
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.inner.remove_file(path)
    }
}

#[derive(Debug)]
struct WrappedFile {
    inner: Box<dyn BackendFile>,
    switch: DiskFull,
}

impl BackendFile for WrappedFile {
    fn len(&self) -> io::Result<u64> {
        self.inner.len()
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        self.inner.read_at(offset, buf)
    }
    fn append(&mut self, data: &[u8]) -> io::Result<()> {
        if self.switch.take() {
            // A full disk: part of the write lands, then ENOSPC.
            self.inner.append(&data[..data.len() / 2])?;
            return Err(io::Error::from_raw_os_error(ENOSPC));
        }
        self.inner.append(data)
    }
    fn sync(&mut self) -> io::Result<()> {
        self.inner.sync()
    }
    fn truncate(&mut self, len: u64) -> io::Result<()> {
        self.inner.truncate(len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::FaultyBackend;

    #[test]
    fn an_armed_append_writes_half_and_fails_with_enospc_then_appends_succeed() {
        let switch = DiskFull::new();
        let backend = switch.wrap(Arc::new(FaultyBackend::new()));
        backend.create_dir_all(Path::new("/d")).unwrap();
        let mut f = backend.open(Path::new("/d/f")).unwrap();
        switch.fail_next_appends(1);
        let err = f.append(b"abcdef").unwrap_err();
        assert_eq!(err.raw_os_error(), Some(ENOSPC));
        assert_eq!(f.len().unwrap(), 3, "a short write landed");
        assert_eq!(switch.armed(), 0);
        f.truncate(0).unwrap();
        f.append(b"xy").unwrap();
        assert_eq!(f.len().unwrap(), 2);
    }

    #[test]
    fn zero_disarms() {
        let switch = DiskFull::new();
        switch.fail_next_appends(3);
        switch.fail_next_appends(0);
        assert!(!switch.take());
    }
}
