//! Errors of the storage layer, split by the operation that raises them. Every message names the
//! file, the byte offset where there is one, and what is wrong.

use std::io;
use std::path::PathBuf;

/// Everything that can go wrong opening, committing to, reading or rewinding a vbucket data
/// file, or locking the data directory.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    // ---- VbFile::open -------------------------------------------------------------------
    /// The data file could not be opened (or created).
    #[error("data file {path}: cannot open: {source}")]
    Open { path: PathBuf, source: io::Error },

    /// A read of the data file failed.
    #[error("data file {path}: read of {len} bytes at offset {offset} failed: {source}")]
    Read {
        path: PathBuf,
        offset: u64,
        len: u64,
        source: io::Error,
    },

    /// The file does not start with the file magic: it is not a vbucket data file.
    #[error(
        "data file {path}: does not start with the vbucket file magic (first bytes {found}); \
         not a warmcheck data file, refusing to open"
    )]
    NotADataFile { path: PathBuf, found: String },

    /// The file magic names a format version this build cannot read.
    #[error("data file {path}: format version {version} at offset 8 is not supported (this build reads version {supported})")]
    UnsupportedVersion {
        path: PathBuf,
        version: u32,
        supported: u32,
    },

    /// A record that a valid commit header covers fails its checksum or does not fit in the
    /// file: the committed data is corrupt.
    #[error(
        "data file {path}: record at offset {offset} {what} (committed data is corrupt: the \
         valid commit header at offset {header_offset} covers it; refusing to open)"
    )]
    CommittedCorrupt {
        path: PathBuf,
        offset: u64,
        header_offset: u64,
        what: String,
    },

    /// A record whose checksum verifies says something impossible (a header that disagrees with
    /// the records before it, seqnos out of order, a malformed document): a bug that wrote it,
    /// or a crafted file.
    #[error("data file {path}: record at offset {offset} is malformed: {what}; refusing to open")]
    Malformed {
        path: PathBuf,
        offset: u64,
        what: String,
    },

    /// The committed vbstate record verifies its checksum but its JSON does not parse.
    #[error(
        "data file {path}: vbstate record at offset {offset} does not parse as a vbstate: {source}"
    )]
    VbStateUnparsable {
        path: PathBuf,
        offset: u64,
        source: serde_json::Error,
    },

    /// The committed vbstate parses but is not well formed (e.g. an empty failover table).
    #[error("data file {path}: vbstate record at offset {offset} is not well formed: {what}")]
    VbStateInvalid {
        path: PathBuf,
        offset: u64,
        what: String,
    },

    // ---- VbFile::commit -----------------------------------------------------------------
    /// Cutting away the torn tail of an earlier, failed commit failed.
    #[error("data file {path}: truncating the torn tail to {len} bytes failed: {source}")]
    TruncateTail {
        path: PathBuf,
        len: u64,
        source: io::Error,
    },

    /// Creating the file (the magic block, via a temporary file renamed into place) failed.
    #[error("data file {path}: creating it failed ({step} of {tmp}): {source}")]
    Create {
        path: PathBuf,
        tmp: PathBuf,
        step: &'static str,
        source: io::Error,
    },

    /// Appending records failed.
    #[error("data file {path}: append of {len} bytes at offset {offset} failed: {source}")]
    Append {
        path: PathBuf,
        offset: u64,
        len: u64,
        source: io::Error,
    },

    /// fsync of the data file failed (the commit is not durable; reopen before writing again).
    #[error("data file {path}: fsync failed ({step}): {source}")]
    Sync {
        path: PathBuf,
        step: &'static str,
        source: io::Error,
    },

    /// fsync of the directory that holds a newly created data file failed.
    #[error("directory {path}: fsync failed (making the new data file's entry durable): {source}")]
    SyncDir { path: PathBuf, source: io::Error },

    /// An earlier write to this file failed; its on-disk state is unknown until it is reopened.
    #[error("data file {path}: an earlier write failed, the file must be reopened before it is used again")]
    Poisoned { path: PathBuf },

    // ---- VbFile::rewind_to ------------------------------------------------------------------
    /// Truncating the file back to an older commit failed.
    #[error("data file {path}: rewind to the commit ending at offset {len} failed: {source}")]
    Rewind {
        path: PathBuf,
        len: u64,
        source: io::Error,
    },

    /// Returning the file to a conformance image (`VbFile::return_to`) failed.
    #[error("data file {path}: returning it to an image of {len} bytes failed: {source}")]
    ReturnToImage {
        path: PathBuf,
        len: u64,
        source: io::Error,
    },

    // ---- VbFile::docs -----------------------------------------------------------------------
    /// A record that verified at open fails to verify when read again: the file changed under us.
    #[error("data file {path}: record at offset {offset} {what} on re-read (it verified at open; the file changed underneath)")]
    ChangedSinceOpen {
        path: PathBuf,
        offset: u64,
        what: String,
    },

    // ---- DirLock::acquire -------------------------------------------------------------------
    /// The data directory or its LOCK file could not be created or opened.
    #[error("data directory {dir}: cannot open lock file {path}: {source}")]
    LockOpen {
        dir: PathBuf,
        path: PathBuf,
        source: io::Error,
    },

    /// Another process (or another open of the directory in this one) holds the lock.
    #[error("data directory {dir} is in use by another process ({holder} holds the lock on {path}); refusing to start")]
    Locked {
        dir: PathBuf,
        path: PathBuf,
        holder: String,
    },
}
