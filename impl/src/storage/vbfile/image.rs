//! The conformance seam of a data file: what a [`VbFile`] knows of its file at one moment,
//! copied without the open handle, and the return to that moment in place through its open
//! handle. Not part of kv_engine; no engine call uses it.
//!
//! `Cluster::restore_image` used to rewrite every changed file from its image's bytes and reopen
//! it (three path lookups and a full re-read and re-verify per file). A data file is append-only
//! between two opens except for cuts (`rewind_to` at a replica's rollback, undoing a failed
//! commit), so the file now and the file an image saw share a prefix and differ by a tail:
//! cutting the file back to the shared prefix, appending the image's tail and taking back the
//! recovered commit points gives the same bytes and the same `VbFile`, for one `pread`, at most
//! one `ftruncate` and one `pwrite`, and one `fdatasync`, instead of three opens and a re-read.

use super::{CommitPoint, StoreError, VbFile, VbState};

/// What a [`VbFile`] knew of its file, without the handle: see [`VbFile::image`].
#[derive(Clone, Debug)]
pub struct VbFileImage {
    commits: Vec<CommitPoint>,
    vbstate: Option<VbState>,
    len: u64,
    has_magic: bool,
    entry_durable: bool,
}

impl VbFile {
    /// What this `VbFile` knows of its file now, for [`VbFile::return_to`]; `None` after a
    /// failed write (the file's state is unknown until it is reopened).
    pub fn image(&self) -> Option<VbFileImage> {
        (!self.poisoned).then(|| VbFileImage {
            commits: self.commits.clone(),
            vbstate: self.vbstate.clone(),
            len: self.len,
            has_magic: self.has_magic,
            entry_durable: self.entry_durable,
        })
    }

    /// The whole file as it is now (committed or not), read through the open handle.
    pub fn read_all(&self) -> Result<Vec<u8>, StoreError> {
        let read_err = |len| {
            let path = self.path.clone();
            move |source| StoreError::Read {
                path,
                offset: 0,
                len,
                source,
            }
        };
        let len = self.file.len().map_err(read_err(0))?;
        let mut bytes = vec![0u8; len as usize];
        self.file.read_at(0, &mut bytes).map_err(read_err(len))?;
        Ok(bytes)
    }

    /// Go back to `image`, taken of the file at this path while it held exactly `bytes`, in place
    /// through the open handle: the file is cut back to the longest prefix it shares with
    /// `bytes`, the rest of `bytes` is appended, and the file is synced if that changed it. The
    /// same bytes, as durable as rewriting the file would leave them, without a path lookup or
    /// a rescan. The handle
    /// need not be the one the image was taken with (the file may have been reopened since, at a
    /// crash or warmup; it is always the file at this path, since a created file is reopened
    /// after its rename). `Ok(false)`, with nothing changed, after a failed write (the file's
    /// state is unknown until it is reopened): the caller then rewrites the file and reopens it.
    pub fn return_to(&mut self, image: &VbFileImage, bytes: &[u8]) -> Result<bool, StoreError> {
        if self.poisoned || image.len != bytes.len() as u64 {
            return Ok(false);
        }
        let read_err = |source| StoreError::Read {
            path: self.path.clone(),
            offset: 0,
            len: image.len,
            source,
        };
        let now_len = self.file.len().map_err(read_err)?;
        let mut now = vec![0u8; now_len.min(image.len) as usize];
        self.file.read_at(0, &mut now).map_err(read_err)?;
        let shared = now.iter().zip(bytes).take_while(|(a, b)| a == b).count();
        // Usually the file was only appended to since the image (nothing to append), or cut by
        // a rollback (nothing to cut), or reopened at a crash (nothing to do: the bytes are as
        // durable as the engine left them, which syncs what it writes before a call returns).
        let cut = now_len > shared as u64;
        let tail = &bytes[shared..];
        let result = if cut {
            self.file.truncate(shared as u64)
        } else {
            Ok(())
        }
        .and_then(|()| match tail {
            [] => Ok(()),
            tail => self.file.append(tail),
        })
        .and_then(|()| match cut || !tail.is_empty() {
            true => self.file.sync(),
            false => Ok(()),
        })
        .map_err(|source| StoreError::ReturnToImage {
            path: self.path.clone(),
            len: image.len,
            source,
        });
        if let Err(e) = result {
            self.poisoned = true;
            return Err(e);
        }
        self.commits.clone_from(&image.commits);
        self.vbstate.clone_from(&image.vbstate);
        self.len = image.len;
        self.has_magic = image.has_magic;
        self.entry_durable = image.entry_durable;
        // Paired with `image`: the file is as long as the image says, and what was recovered
        // from it ends where the file's commits end (or the file has no commit).
        debug_assert_eq!(self.file.len().ok(), Some(self.len));
        assert!(self.committed_len() <= self.len);
        Ok(true)
    }
}
