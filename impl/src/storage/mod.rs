//! Storage: append-only vbucket data files, the storage-backend seam, the data-directory lock.
//!
//! - [`Backend`] / [`BackendFile`]: the seam every byte goes through. [`FileBackend`] is real
//!   files with real fsync; [`FaultyBackend`] is an in-memory file system with a volatile and a
//!   durable image that can [crash](FaultyBackend::crash) (optionally tearing unsynced writes)
//!   and fail at a chosen [sync point](FaultyBackend::crash_at_sync).
//! - [`DiskFull`]: wraps any backend so that chosen appends fail as on a full disk (a short
//!   write, then `ENOSPC`): the engine's failed-flush test seam.
//! - [`VbFile`]: one append-only data file per vbucket. A commit appends docs and the
//!   `_local/vbstate` record, fsyncs, appends a checksummed header, fsyncs. Open recovers the
//!   newest commit, ignores a torn tail, and refuses a file whose committed data is corrupt;
//!   [`VbFile::open_and_load`] does that and decodes every doc in one pass (warmup's load).
//!   [`StorageBugs`] seeds deliberate bugs for tests. Byte map and crash analysis:
//!   `docs/on-disk-format.md`.
//! - [`DirLock`]: one process per data directory.
//!
//! Architecture invariant: storage knows nothing of warmup, failover decisions or the model. It
//! stores what it is given and hands back exactly the newest durable commit.

mod backend;
mod disk_full;
mod error;
mod faulty;
mod format;
mod lock;
mod vbfile;

pub use backend::{Backend, BackendFile, FileBackend, SyncedWriteError};
pub use disk_full::DiskFull;
pub use error::StoreError;
pub use faulty::{FaultyBackend, Tear};
pub use lock::DirLock;
pub use vbfile::{
    CommitInfo, CommitPoint, Doc, FailoverEntryJson, Op, StorageBugs, VbFile, VbFileImage, VbState,
    VbStateKind,
};

/// Byte-level constants of the data file, for tests that craft or damage files
/// (`docs/on-disk-format.md` describes them).
pub mod layout {
    pub use super::format::{
        FRAME_LEN, HEADER_LEN, KIND_DOC, KIND_HEADER, KIND_VBSTATE, MAGIC, MAGIC_LEN, VERSION,
    };
}
