//! The data-directory lock: one process at a time may own a data directory. Real files only
//! (the in-memory backend has one owner by construction).
//!
//! `<dir>/LOCK` is locked with `File::try_lock` (an exclusive `flock` on Linux: per open file
//! description, so a second acquire in the same process fails too) and released when the
//! [`DirLock`] is dropped or the process dies. The holder writes its pid into the file, for the
//! error message of whoever comes second.

use super::error::StoreError;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// The most of the lock file read for the holder's pid.
const MAX_PID_TEXT: u64 = 24;

/// Exclusive ownership of a data directory, held until dropped.
#[derive(Debug)]
pub struct DirLock {
    dir: PathBuf,
    _file: File,
}

impl DirLock {
    /// The name of the lock file inside the data directory.
    pub const FILE_NAME: &'static str = "LOCK";

    /// Creates `dir` if needed and locks it; fails if another process (or another `DirLock` in
    /// this one) holds it.
    pub fn acquire(dir: &Path) -> Result<DirLock, StoreError> {
        let path = dir.join(Self::FILE_NAME);
        let open_err = |source| StoreError::LockOpen {
            dir: dir.to_path_buf(),
            path: path.clone(),
            source,
        };
        fs::create_dir_all(dir).map_err(open_err)?;
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(open_err)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                // The holder wrote its pid; read no more than a pid takes, and say only a
                // pid (the file is anyone's to write: not megabytes into the message).
                let mut text = String::new();
                let _ = (&mut file).take(MAX_PID_TEXT).read_to_string(&mut text);
                let holder = match text.trim() {
                    pid if !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()) => {
                        format!("process {pid}")
                    }
                    _ => "an unknown process".to_string(),
                };
                return Err(StoreError::Locked {
                    dir: dir.to_path_buf(),
                    path,
                    holder,
                });
            }
            Err(fs::TryLockError::Error(source)) => return Err(open_err(source)),
        }
        // Best effort: the pid is for humans, the lock is what counts.
        let _ = file
            .set_len(0)
            .and_then(|()| file.seek(SeekFrom::Start(0)))
            .and_then(|_| writeln!(file, "{}", std::process::id()));
        Ok(DirLock {
            dir: dir.to_path_buf(),
            _file: file,
        })
    }

    /// The locked directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}
