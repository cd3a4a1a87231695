//! The conformance seam of a data file: what a [`VbFile`] knows of its file at one moment,
//! copied without the open handle, and the return to that moment by cutting the file back in
//! place through its open handle. Not part of kv_engine; no engine call uses it.
//!
//! `Cluster::restore_image` used to rewrite every changed file from its image's bytes and reopen
//! it (three path lookups and a full re-read and re-verify per file). A data file is append-only
//! between two opens except for cuts (`rewind_to`, undoing a failed commit), so the file an image
//! saw is almost always a prefix of the file now: cutting back to it and taking back the
//! recovered commit points gives the same bytes and the same `VbFile`, for one `pread`, one
//! `ftruncate` and one `fdatasync` instead of three opens and a re-read.

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

    /// Go back to `image`, taken of the file at this path while it held exactly `bytes`, by
    /// cutting the file back to `bytes.len()` through the open handle and syncing: the same
    /// bytes, made durable, as rewriting the file would give. The handle need not be the one
    /// the image was taken with (the file may have been reopened since, at a crash or warmup).
    /// `Ok(false)`, with nothing changed, when cutting back would not give the image's file: an
    /// earlier write failed, or the file's first `bytes.len()` bytes are not `bytes` (it was cut
    /// below them and written again). The caller then rewrites the file and reopens it.
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
        if now_len < image.len {
            return Ok(false);
        }
        let mut now = vec![0u8; bytes.len()];
        self.file.read_at(0, &mut now).map_err(read_err)?;
        if now != bytes {
            return Ok(false);
        }
        // Synced whether or not anything is cut: the rewrite this replaces left the bytes durable.
        let result = if now_len > image.len {
            self.file.truncate(image.len)
        } else {
            Ok(())
        }
        .and_then(|()| self.file.sync())
        .map_err(|source| StoreError::Rewind {
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
