//! stats.json and its clean-shutdown flag (`ep_force_shutdown`).
//!
//! Warmup's Initialize reads it: the previous shutdown was clean only if the key is present and
//! equal to `"false"`. The shutdown path writes `{"ep_force_shutdown":"false"}`; the periodic
//! stats snapshot rewrites the file without the key (`{}`); with MB-46361 warmup writes
//! `"true"` as soon as it has read the flag.
//!
//! Every write is an atomic replace: write `stats.json.tmp`, fsync it, exchange its name with
//! `stats.json`'s (`renameat2` with `RENAME_EXCHANGE`; a rename over it where there is no
//! stats.json yet or the file system cannot exchange), fsync the directory. A crash at any
//! point leaves either the old or the new content at `stats.json`, never neither and never a
//! mix. After an exchange `stats.json.tmp` holds the previous content, which nothing reads; the
//! next write truncates and reuses it, except the first through a new handle, which removes it
//! and creates it afresh. Other keys are not kept: kv_engine's
//! stats.json holds more, but nothing here reads them.

use crate::storage::{Backend, SyncedWriteError};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// The key that holds the clean-shutdown flag.
pub const FORCE_SHUTDOWN_KEY: &str = "ep_force_shutdown";

/// What can go wrong reading or replacing stats.json.
#[derive(Debug, thiserror::Error)]
pub enum StatsError {
    // ---- StatsFile::read ----------------------------------------------------------------
    /// stats.json exists but could not be read.
    #[error("stats file {path}: cannot read: {source}")]
    Read { path: PathBuf, source: io::Error },

    /// stats.json is not JSON (serde's message names the line and column).
    #[error("stats file {path}: not valid JSON (line {line}, column {column}): {source}")]
    NotJson {
        path: PathBuf,
        line: usize,
        column: usize,
        source: serde_json::Error,
    },

    /// stats.json is larger than [`MAX_BYTES`] (`len`: the bytes read before that was known).
    #[error("stats file {path}: more than the {max} bytes a stats file may hold", max = MAX_BYTES)]
    TooLarge { path: PathBuf, len: usize },

    /// stats.json is JSON but not an object.
    #[error("stats file {path}: expected a JSON object, found {found}")]
    NotAnObject { path: PathBuf, found: String },

    /// `ep_force_shutdown` is present but not a string.
    #[error("stats file {path}: \"ep_force_shutdown\" should be a string such as \"false\", found {found}")]
    FlagNotAString { path: PathBuf, found: String },

    // ---- StatsFile::write ---------------------------------------------------------------
    /// Writing the temporary file failed.
    #[error("stats file {path}: writing the replacement failed: {source}")]
    WriteTemp { path: PathBuf, source: io::Error },

    /// fsync of the temporary file failed.
    #[error("stats file {path}: fsync of the replacement failed: {source}")]
    SyncTemp { path: PathBuf, source: io::Error },

    /// Exchanging the temporary file with stats.json (or renaming it over it) failed.
    #[error("stats file {to}: replacing it with {from} failed: {source}")]
    Rename {
        from: PathBuf,
        to: PathBuf,
        source: io::Error,
    },

    /// fsync of the directory after the rename failed (the new content may not be durable).
    #[error("directory {dir}: fsync after replacing stats.json failed: {source}")]
    SyncDir { dir: PathBuf, source: io::Error },
}

/// The most stats.json may hold: the file written here is a few bytes, kv_engine's a few KiB.
pub const MAX_BYTES: usize = crate::input::MIB;

/// The value of `ep_force_shutdown` in stats.json's content `bytes` (`path` for messages):
/// `None` if the key is missing. The one reader of stats.json, and the entry point the fuzz
/// targets and property tests call.
pub fn parse_flag(path: &Path, bytes: &[u8]) -> Result<Option<String>, StatsError> {
    if bytes.len() > MAX_BYTES {
        return Err(StatsError::TooLarge {
            path: path.to_path_buf(),
            len: bytes.len(),
        });
    }
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|source| StatsError::NotJson {
            path: path.to_path_buf(),
            line: source.line(),
            column: source.column(),
            source,
        })?;
    let serde_json::Value::Object(map) = value else {
        return Err(StatsError::NotAnObject {
            path: path.to_path_buf(),
            found: value.to_string(),
        });
    };
    match map.get(FORCE_SHUTDOWN_KEY) {
        None => Ok(None),
        Some(serde_json::Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(StatsError::FlagNotAString {
            path: path.to_path_buf(),
            found: other.to_string(),
        }),
    }
}

/// `<dir>/stats.json`, through a storage backend.
#[derive(Debug)]
pub struct StatsFile {
    backend: Arc<dyn Backend>,
    dir: PathBuf,
    path: PathBuf,
    tmp: PathBuf,
    /// Whether a write through this handle has removed whatever stats.json.tmp it found (see
    /// [`StatsFile::write`]).
    tmp_fresh: AtomicBool,
}

impl StatsFile {
    /// The file name inside the data directory.
    pub const FILE_NAME: &'static str = "stats.json";
    /// The temporary file a write goes through.
    pub const TMP_NAME: &'static str = "stats.json.tmp";

    /// stats.json in `dir` (nothing is read or written yet).
    pub fn new(backend: Arc<dyn Backend>, dir: &Path) -> Self {
        StatsFile {
            backend,
            dir: dir.to_path_buf(),
            path: dir.join(Self::FILE_NAME),
            tmp: dir.join(Self::TMP_NAME),
            tmp_fresh: AtomicBool::new(false),
        }
    }

    /// This handle's first write truncates and reuses stats.json.tmp like every later one,
    /// instead of removing it first: for a handle made between two calls that each completed
    /// their replaces (the conformance seam's restore), so that no crash in the middle of one
    /// can have left half a rename behind.
    pub fn trusting_temporary(self) -> Self {
        self.tmp_fresh.store(true, Ordering::Relaxed);
        self
    }

    /// The path of stats.json.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The value of `ep_force_shutdown`: `None` if the file or the key is missing.
    pub fn read(&self) -> Result<Option<String>, StatsError> {
        match self.read_bytes()? {
            Some(bytes) => parse_flag(&self.path, &bytes),
            None => Ok(None),
        }
    }

    /// The whole of stats.json, or `None` if it does not exist (not parsed). At most one byte
    /// more than [`MAX_BYTES`] is read: a larger file is refused by [`parse_flag`] for that.
    pub fn read_bytes(&self) -> Result<Option<Vec<u8>>, StatsError> {
        self.backend
            .read_within(&self.path, MAX_BYTES as u64 + 1)
            .map_err(|source| StatsError::Read {
                path: self.path.clone(),
                source,
            })
    }

    /// The value of `ep_force_shutdown` in `bytes`, stats.json's content as
    /// [`read_bytes`](Self::read_bytes) returned it.
    pub fn parse(&self, bytes: Option<&[u8]>) -> Result<Option<String>, StatsError> {
        bytes.map_or(Ok(None), |b| parse_flag(&self.path, b))
    }

    /// Whether the previous shutdown was clean: `ep_force_shutdown` is present and `"false"`.
    pub fn is_clean(&self) -> Result<bool, StatsError> {
        Ok(self.read()?.as_deref() == Some("false"))
    }

    /// Atomically replaces stats.json with `{"ep_force_shutdown":"<value>"}`, or `{}` for
    /// `None`, and returns the bytes written. Durable when it returns `Ok`; after an error
    /// stats.json holds the old or the new content.
    pub fn write(&self, force_shutdown: Option<&str>) -> Result<Vec<u8>, StatsError> {
        let mut map = serde_json::Map::new();
        if let Some(value) = force_shutdown {
            map.insert(FORCE_SHUTDOWN_KEY.into(), value.into());
        }
        let mut text = serde_json::Value::Object(map).to_string();
        text.push('\n');
        // Paired with `read`: what is written reads back as the value given.
        assert_eq!(
            parse_flag(&self.path, text.as_bytes())
                .expect("a written stats file parses")
                .as_deref(),
            force_shutdown,
            "{}: the replacement reads back as written",
            self.path.display()
        );
        // The first write through this handle (a process that just started, or a machine that
        // just crashed) removes a leftover temporary instead of truncating it in place: a crash
        // that kept half a rename can leave it a second name of stats.json itself (the
        // fault-injecting backend models a rename that way), and an exchange of two names of one
        // file changes nothing, so every write would then go to the live file.
        if !self.tmp_fresh.swap(true, Ordering::Relaxed) {
            match self.backend.remove_file(&self.tmp) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => {
                    self.tmp_fresh.store(false, Ordering::Relaxed);
                    return Err(StatsError::WriteTemp {
                        path: self.tmp.clone(),
                        source: e,
                    });
                }
                _ => {}
            }
        }
        self.backend
            .write_new_synced(&self.tmp, text.as_bytes())
            .map_err(|e| match e {
                SyncedWriteError::Write(source) => StatsError::WriteTemp {
                    path: self.tmp.clone(),
                    source,
                },
                SyncedWriteError::Sync(source) => StatsError::SyncTemp {
                    path: self.tmp.clone(),
                    source,
                },
            })?;
        // Exchanged rather than renamed over stats.json where the file system can: the same
        // atomic replace, but the replaced file lives on as the next write's temporary file
        // instead of being deleted and created again (on tmpfs, 11 us against 16 us a write).
        let replaced = match self.backend.exchange(&self.tmp, &self.path) {
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::Unsupported
                ) =>
            {
                // No stats.json yet (or no exchange here): a rename does it.
                self.backend.rename(&self.tmp, &self.path)
            }
            other => other,
        };
        replaced.map_err(|source| StatsError::Rename {
            from: self.tmp.clone(),
            to: self.path.clone(),
            source,
        })?;
        self.backend
            .sync_dir(&self.dir)
            .map_err(|source| StatsError::SyncDir {
                dir: self.dir.clone(),
                source,
            })?;
        Ok(text.into_bytes())
    }
}
