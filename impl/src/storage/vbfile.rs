//! One append-only data file per vbucket, couchstore in spirit: documents and `_local/vbstate`
//! records are appended, then a commit header that covers them; a commit is durable once its
//! header is synced. `docs/on-disk-format.md` has the byte map and the crash analysis.
//!
//! Commit order (each step only after the previous one returned `Ok`):
//! 1. cut away any tail left after the newest header by an earlier failed commit;
//! 2. for an empty file: write the magic block to `<name>.creating`, fsync it, rename it over
//!    the file, fsync the directory (so the magic is only ever seen whole); for a file that has
//!    its magic but no commit yet, fsync the directory;
//! 3. append the docs and the vbstate record (one write), fsync;
//! 4. append the header, fsync. The commit is durable when this fsync returns.
//!
//! Recovery ([`VbFile::open`]) scans forward from the magic: every record's checksum, then every
//! header's agreement with the records before it. The first defect (torn or corrupt frame,
//! failing checksum, record out of place) ends the scan. If a valid header lies anywhere after
//! the defect, the defect is inside committed data: an error. Otherwise it is the torn tail of
//! an unfinished commit: ignored, and cut away by the next commit.

use super::backend::{Backend, BackendFile, SyncedWriteError};
use super::error::StoreError;
use super::format::{
    self, Frame, Header, FRAME_LEN, HEADER_LEN, KIND_DOC, KIND_HEADER, KIND_VBSTATE, MAGIC,
    MAGIC_LEN, NO_PREV, VERSION,
};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

mod image;
pub use image::VbFileImage;

/// What a mutation did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    /// A client set: the doc has a value.
    Set,
    /// A client delete: no value.
    Delete,
    /// An expiry (a delete made by the active when it found the item expired): no value.
    Expire,
}

/// One mutation, as persisted. A `Set` has `Some(value)`; a `Delete` or `Expire` has `None`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Doc {
    pub seqno: u64,
    pub key: String,
    pub op: Op,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiry: Option<u64>,
    pub cas: u64,
}

/// The vbucket's state, as in kv_engine's `vbucket_state`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VbStateKind {
    Active,
    Replica,
}

/// One failover-table entry as kv_engine writes it into `_local/vbstate`:
/// `{"id":<vb_uuid>,"seq":<seqno>}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FailoverEntryJson {
    pub id: u64,
    pub seq: u64,
}

/// The `_local/vbstate` document: state, failover table (newest first), snapshot range, max
/// CAS. Serialised like kv_engine's, which writes the snapshot range and max CAS as decimal
/// strings: `{"state":"active","failover_table":[{"id":2,"seq":1},{"id":1,"seq":0}],
/// "snap_start":"1","snap_end":"1","max_cas":"0"}`. High and purge seqno live in the header.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct VbState {
    pub state: VbStateKind,
    pub failover_table: Vec<FailoverEntryJson>,
    #[serde(with = "u64_string")]
    pub snap_start: u64,
    #[serde(with = "u64_string")]
    pub snap_end: u64,
    #[serde(with = "u64_string")]
    pub max_cas: u64,
}

impl VbState {
    /// Why this vbstate may not be written (or, read back, trusted): an empty failover table,
    /// seqnos increasing towards the newest entry, a zero or repeated uuid, or a snapshot that
    /// ends before it starts. `None` if well formed.
    pub fn defect(&self) -> Option<String> {
        self.defect_allowing(false)
    }

    /// [`VbState::defect`], with `unordered` ([`StorageBugs::unordered_failover_tables`])
    /// allowing seqnos that increase towards the newest entry.
    pub fn defect_allowing(&self, unordered: bool) -> Option<String> {
        if self.failover_table.is_empty() {
            return Some("the failover table is empty".into());
        }
        for pair in self.failover_table.windows(2) {
            if pair[0].seq < pair[1].seq && !unordered {
                return Some(format!(
                    "failover entries are not newest first: {{id {}, seq {}}} before {{id {}, seq {}}}",
                    pair[0].id, pair[0].seq, pair[1].id, pair[1].seq
                ));
            }
        }
        let mut ids = HashSet::new();
        for entry in &self.failover_table {
            if entry.id == 0 {
                return Some("a failover entry has uuid 0".into());
            }
            if !ids.insert(entry.id) {
                return Some(format!(
                    "uuid {} appears twice in the failover table",
                    entry.id
                ));
            }
        }
        if self.snap_start > self.snap_end {
            return Some(format!(
                "snapshot [{}, {}] ends before it starts",
                self.snap_start, self.snap_end
            ));
        }
        None
    }
}

/// kv_engine writes 64-bit counters of the vbstate as JSON strings.
mod u64_string {
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(v)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        let text = String::deserialize(d)?;
        text.parse()
            .map_err(|e| D::Error::custom(format!("{text:?} is not a u64: {e}")))
    }
}

/// One durable commit point: a header and what it covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CommitPoint {
    /// The commit's high seqno.
    pub high_seqno: u64,
    /// The commit's purge seqno.
    pub purge_seqno: u64,
    /// Offset of the commit's header record.
    pub offset: u64,
    /// Offset just after the header record: the committed length of the file at this commit.
    pub end: u64,
    /// Offset of the commit's first record (docs, then the vbstate).
    pub first_record_offset: u64,
    /// Offset of the commit's vbstate record.
    pub vbstate_offset: u64,
    /// Docs in this commit.
    pub docs_count: u64,
    /// Docs in this commit and all before it.
    pub docs_total: u64,
}

/// What a successful [`VbFile::commit`] made durable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CommitInfo {
    /// The new high seqno.
    pub high_seqno: u64,
    /// Where the commit's header landed.
    pub header_offset: u64,
    /// Bytes appended (records, header, and the magic for a new file).
    pub bytes_written: u64,
}

/// An open vbucket data file. Holds the list of commit points (one small entry per commit) and
/// the newest vbstate; the docs stay on disk until [`VbFile::docs`] reads them.
pub struct VbFile {
    backend: Arc<dyn Backend>,
    path: PathBuf,
    file: Box<dyn BackendFile>,
    /// Every commit in the file, oldest first.
    commits: Vec<CommitPoint>,
    /// The newest commit's vbstate.
    vbstate: Option<VbState>,
    /// Length of the file as far as we know (may exceed the committed length: a torn tail).
    len: u64,
    /// Whether the file starts with a complete magic block.
    has_magic: bool,
    /// Whether the file's directory entry is known durable (it holds a commit, or this
    /// instance created it and synced the directory).
    entry_durable: bool,
    /// A write failed: the file's state is unknown until it is reopened.
    poisoned: bool,
    /// Seeded bugs (all off unless a test asks).
    bugs: StorageBugs,
}

impl fmt::Debug for VbFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VbFile")
            .field("path", &self.path)
            .field("high_seqno", &self.high_seqno())
            .field("commits", &self.commits.len())
            .field("len", &self.len)
            .field("poisoned", &self.poisoned)
            .finish()
    }
}

/// Read-ahead size for scans.
const CHUNK: usize = 1 << 20;

/// Sequential reads through a window of the file.
struct Reader<'a> {
    file: &'a dyn BackendFile,
    path: &'a Path,
    len: u64,
    buf: Vec<u8>,
    start: u64,
}

impl<'a> Reader<'a> {
    fn new(file: &'a dyn BackendFile, path: &'a Path, len: u64) -> Self {
        Reader {
            file,
            path,
            len,
            buf: Vec::new(),
            start: 0,
        }
    }

    /// `n` bytes at `offset`, or `None` if the file ends before them.
    fn get(&mut self, offset: u64, n: usize) -> Result<Option<&[u8]>, StoreError> {
        let Some(end) = offset.checked_add(n as u64) else {
            return Ok(None);
        };
        if end > self.len {
            return Ok(None);
        }
        let buf_end = self.start + self.buf.len() as u64;
        if offset < self.start || end > buf_end {
            let want = (self.len - offset).min(CHUNK.max(n) as u64) as usize;
            self.buf.resize(want, 0);
            self.start = offset;
            if let Err(source) = self.file.read_at(offset, &mut self.buf) {
                self.buf.clear();
                return Err(StoreError::Read {
                    path: self.path.to_path_buf(),
                    offset,
                    len: want as u64,
                    source,
                });
            }
        }
        let at = (offset - self.start) as usize;
        Ok(Some(&self.buf[at..at + n]))
    }

    /// The header at `offset` if its frame is a plausible header frame that fits in the file,
    /// whatever its checksum says (for [`StorageBugs::accept_bad_header_checksum`] only).
    fn header_ignoring_checksum(&mut self, offset: u64) -> Result<Option<Header>, StoreError> {
        let Some(bytes) = self.get(offset, FRAME_LEN + HEADER_LEN)? else {
            return Ok(None);
        };
        let frame = Frame::parse(bytes);
        if frame.kind != KIND_HEADER || !frame.plausible() {
            return Ok(None);
        }
        Ok(Some(Header::decode(&bytes[FRAME_LEN..])))
    }

    /// The record at `offset` if its frame is plausible, it fits in the file and its checksum
    /// verifies: `(frame, payload)`. Otherwise what is wrong with it.
    fn record(&mut self, offset: u64) -> Result<Result<(Frame, &[u8]), String>, StoreError> {
        let Some(head) = self.get(offset, FRAME_LEN)? else {
            return Ok(Err(format!(
                "is cut short: its {FRAME_LEN}-byte frame runs past the end of the file ({} bytes)",
                self.len
            )));
        };
        let frame = Frame::parse(head);
        if !frame.plausible() {
            return Ok(Err(format!(
                "has an impossible frame (kind {}, length {}, reserved bytes zero: {})",
                frame.kind, frame.payload_len, frame.reserved_zero
            )));
        }
        let len = self.len;
        let Some(record) = self.get(offset, frame.record_len() as usize)? else {
            return Ok(Err(format!(
                "is cut short: its {} bytes run past the end of the file ({len} bytes)",
                frame.record_len()
            )));
        };
        if format::record_crc(record) != frame.crc {
            return Ok(Err("fails its checksum".into()));
        }
        Ok(Ok((frame, &record[FRAME_LEN..])))
    }
}

/// The first place the forward scan could not go past.
struct Defect {
    offset: u64,
    what: String,
    /// The record's checksum verified (it is structurally wrong, not damaged).
    checksum_ok: bool,
}

/// The records seen since the newest accepted header.
struct Pending {
    first_record_offset: u64,
    docs: u64,
    last_seqno: u64,
    vbstate_offset: Option<u64>,
}

impl Pending {
    /// Nothing seen yet after `commit`.
    fn after(commit: &CommitPoint) -> Pending {
        Pending {
            first_record_offset: commit.end,
            docs: 0,
            last_seqno: commit.high_seqno,
            vbstate_offset: None,
        }
    }
}

impl CommitPoint {
    /// The commit point of `header`, found at `offset`.
    fn of(header: &Header, offset: u64) -> CommitPoint {
        CommitPoint {
            high_seqno: header.high_seqno,
            purge_seqno: header.purge_seqno,
            offset,
            end: offset + (FRAME_LEN + HEADER_LEN) as u64,
            first_record_offset: header.first_record_offset,
            vbstate_offset: header.vbstate_offset,
            docs_count: header.docs_count,
            docs_total: header.docs_total,
        }
    }
}

/// Deliberately wrong storage behaviours, all off by default, so that crash tests and the
/// conformance suite can show they notice a broken storage layer. Never for real use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StorageBugs {
    /// `commit` appends the docs and vbstate, then the header, and fsyncs once: the header can
    /// reach the disk before the records it covers (seen with [`super::Tear::Scatter`]).
    pub header_before_docs_synced: bool,
    /// `open` accepts a header record whose checksum fails, and trusts its fields without
    /// checking them against the records before it (seen with a torn or damaged header).
    pub accept_bad_header_checksum: bool,
    /// Not a bug of the storage layer but of a design: before MB-20822's fix (4eae12aa7,
    /// 3fb0f02cb) `createEntry` could leave a stale entry above a newer one, and kv_engine wrote
    /// and read such a table as it was. A file opened with this writes and reads a failover
    /// table whose seqnos increase towards the newest entry; every other rule stands.
    pub unordered_failover_tables: bool,
}

impl VbFile {
    /// Opens (creating if missing) the data file at `path` and recovers its newest commit.
    /// A missing, empty or torn-at-creation file has no commit (high seqno 0, no vbstate).
    /// Never writes: a torn tail is cut away by the next commit.
    pub fn open(backend: Arc<dyn Backend>, path: &Path) -> Result<VbFile, StoreError> {
        Self::open_inner(backend, path, None, StorageBugs::default())
    }

    /// [`VbFile::open`] with seeded bugs (tests and the conformance suite only).
    pub fn open_with_bugs(
        backend: Arc<dyn Backend>,
        path: &Path,
        bugs: StorageBugs,
    ) -> Result<VbFile, StoreError> {
        Self::open_inner(backend, path, None, bugs)
    }

    /// Warmup's load in one pass: [`VbFile::open`] and [`VbFile::docs`] together, decoding each
    /// doc as its record is verified instead of reading the file twice. Same checks, same
    /// errors; the docs of a torn tail are dropped.
    pub fn open_and_load(
        backend: Arc<dyn Backend>,
        path: &Path,
    ) -> Result<(VbFile, Vec<Doc>), StoreError> {
        Self::open_and_load_with_bugs(backend, path, StorageBugs::default())
    }

    /// [`VbFile::open_and_load`] of a data file holding `bytes` (durably, on an in-memory
    /// backend): the entry point the fuzz targets and property tests call. Then every doc is
    /// read back with [`VbFile::docs`] too, the other reader of a data file.
    pub fn open_bytes(bytes: &[u8]) -> Result<(VbFile, Vec<Doc>), StoreError> {
        let backend = Arc::new(super::FaultyBackend::new());
        let path = Path::new("/fuzz/vb0.couch");
        let io = |source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        };
        backend.create_dir_all(Path::new("/fuzz")).map_err(io)?;
        backend.write_new(path, bytes).map_err(io)?;
        backend.sync_file(path).map_err(io)?;
        backend.sync_dir(Path::new("/fuzz")).map_err(io)?;
        let (vb, docs) = Self::open_and_load(backend, path)?;
        vb.docs()?;
        Ok((vb, docs))
    }

    /// [`VbFile::open_and_load`] with seeded bugs (tests and the conformance suite only).
    pub fn open_and_load_with_bugs(
        backend: Arc<dyn Backend>,
        path: &Path,
        bugs: StorageBugs,
    ) -> Result<(VbFile, Vec<Doc>), StoreError> {
        let mut docs = Vec::new();
        let vb = Self::open_inner(backend, path, Some(&mut docs), bugs)?;
        // Paired with the header checks of the scan (which only a seeded bug skips).
        let total = vb.commits.last().map_or(0, |c| c.docs_total);
        let last_seqno = docs.last().map_or(vb.high_seqno(), |d| d.seqno);
        if docs.len() as u64 != total || last_seqno != vb.high_seqno() {
            return Err(StoreError::Malformed {
                path: vb.path.clone(),
                offset: vb.commits.last().map_or(0, |c| c.offset),
                what: format!(
                    "the newest header says {total} docs up to seqno {}, the file has {} up to {last_seqno}",
                    vb.high_seqno(),
                    docs.len()
                ),
            });
        }
        Ok((vb, docs))
    }

    fn open_inner(
        backend: Arc<dyn Backend>,
        path: &Path,
        docs: Option<&mut Vec<Doc>>,
        bugs: StorageBugs,
    ) -> Result<VbFile, StoreError> {
        let file = backend.open(path).map_err(|source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        let len = file.len().map_err(|source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        let mut vb = VbFile {
            backend,
            path: path.to_path_buf(),
            file,
            commits: Vec::new(),
            vbstate: None,
            len,
            has_magic: false,
            entry_durable: false,
            poisoned: false,
            bugs,
        };
        // One reader for the magic, the scan and the newest vbstate: a small file is read with
        // one pread.
        let (has_magic, commits, vbstate) = {
            let mut reader = Reader::new(&*vb.file, &vb.path, vb.len);
            let has_magic = vb.check_magic(&mut reader)?;
            let commits = match has_magic {
                true => vb.scan(&mut reader, docs)?,
                false => Vec::new(),
            };
            let vbstate = match commits.last() {
                Some(newest) => Some(vb.vbstate_at(&mut reader, newest)?),
                None => None,
            };
            (has_magic, commits, vbstate)
        };
        vb.has_magic = has_magic;
        vb.entry_durable = !commits.is_empty();
        vb.commits = commits;
        vb.vbstate = vbstate;
        Ok(vb)
    }

    /// Whether the file starts with a complete magic block (`false`: the file is empty).
    /// Anything else is an error: the magic only ever appears whole (it is written to a
    /// temporary file, synced, and renamed into place), so a file with other first bytes is not
    /// ours and must not be overwritten.
    fn check_magic(&self, reader: &mut Reader<'_>) -> Result<bool, StoreError> {
        if self.len == 0 {
            return Ok(false);
        }
        let n = self.len.min(MAGIC_LEN) as usize;
        let head = reader
            .get(0, n)?
            .expect("the file holds its first min(len, MAGIC_LEN) bytes");
        if n < MAGIC_LEN as usize || head[..MAGIC.len()] != MAGIC {
            return Err(StoreError::NotADataFile {
                path: self.path.clone(),
                found: format!("{:02x?}", &head[..n.min(MAGIC.len())]),
            });
        }
        let version = u32::from_le_bytes(head[8..12].try_into().unwrap());
        if version != VERSION {
            return Err(StoreError::UnsupportedVersion {
                path: self.path.clone(),
                version,
                supported: VERSION,
            });
        }
        if head[12..16] != [0, 0, 0, 0] {
            return Err(StoreError::Malformed {
                path: self.path.clone(),
                offset: 12,
                what: format!(
                    "magic block's reserved bytes are {:02x?}, not zero",
                    &head[12..16]
                ),
            });
        }
        Ok(true)
    }

    /// The forward scan: every commit whose header and records verify, up to the first defect;
    /// an error if a valid header lies after that defect.
    /// With `docs`, also decodes every doc of the committed prefix into it.
    fn scan(
        &self,
        reader: &mut Reader<'_>,
        mut docs: Option<&mut Vec<Doc>>,
    ) -> Result<Vec<CommitPoint>, StoreError> {
        let mut commits: Vec<CommitPoint> = Vec::new();
        let mut pending = Pending {
            first_record_offset: MAGIC_LEN,
            docs: 0,
            last_seqno: 0,
            vbstate_offset: None,
        };
        let mut pos = MAGIC_LEN;
        let defect = loop {
            if pos == self.len {
                break None;
            }
            let (frame, payload) = match reader.record(pos)? {
                Ok(rec) => rec,
                Err(what) => {
                    if self.bugs.accept_bad_header_checksum {
                        // SEEDED BUG: trust a header whose checksum fails, unchecked.
                        if let Some(header) = reader.header_ignoring_checksum(pos)? {
                            let commit = CommitPoint::of(&header, pos);
                            commits.push(commit);
                            pending = Pending::after(&commit);
                            pos = commit.end;
                            continue;
                        }
                    }
                    break Some(Defect {
                        offset: pos,
                        what,
                        checksum_ok: false,
                    });
                }
            };
            let structural = |what: String| Defect {
                offset: pos,
                what,
                checksum_ok: true,
            };
            match frame.kind {
                KIND_DOC => {
                    if pending.vbstate_offset.is_some() {
                        break Some(structural("is a doc after its commit's vbstate".into()));
                    }
                    let seqno = match docs.as_deref_mut() {
                        None => format::decode_doc_head(payload).map(|head| head.seqno),
                        Some(docs) => format::decode_doc(payload).map(|doc| {
                            let seqno = doc.seqno;
                            docs.push(doc);
                            seqno
                        }),
                    };
                    let seqno = match seqno {
                        Ok(seqno) => seqno,
                        Err(what) => break Some(structural(format!("is a bad doc: {what}"))),
                    };
                    if seqno <= pending.last_seqno {
                        break Some(structural(format!(
                            "is a doc with seqno {seqno} not above the previous seqno {}",
                            pending.last_seqno
                        )));
                    }
                    pending.last_seqno = seqno;
                    pending.docs += 1;
                }
                KIND_VBSTATE => {
                    if pending.vbstate_offset.is_some() {
                        break Some(structural("is a second vbstate in one commit".into()));
                    }
                    pending.vbstate_offset = Some(pos);
                }
                KIND_HEADER => {
                    let header = Header::decode(payload);
                    if let Some(what) = header_disagrees(&header, pos, commits.last(), &pending) {
                        break Some(structural(format!("is a header that {what}")));
                    }
                    let commit = CommitPoint::of(&header, pos);
                    commits.push(commit);
                    pending = Pending::after(&commit);
                }
                _ => unreachable!("Frame::plausible admits known kinds only"),
            }
            pos += frame.record_len();
        };
        if let Some(docs) = docs {
            // The docs of the torn tail were never committed.
            docs.truncate(commits.last().map_or(0, |c| c.docs_total) as usize);
        }
        if let Some(defect) = defect {
            if let Some(header_offset) = find_header_after(reader, defect.offset)? {
                return Err(if defect.checksum_ok {
                    StoreError::Malformed {
                        path: self.path.clone(),
                        offset: defect.offset,
                        what: format!(
                            "it {} (the valid commit header at offset {header_offset} covers it)",
                            defect.what
                        ),
                    }
                } else {
                    StoreError::CommittedCorrupt {
                        path: self.path.clone(),
                        offset: defect.offset,
                        header_offset,
                        what: defect.what,
                    }
                });
            }
            log::debug!(
                "{}: ignoring the torn tail from offset {} ({} bytes): record there {}",
                self.path.display(),
                defect.offset,
                self.len - defect.offset,
                defect.what
            );
        }
        Ok(commits)
    }

    /// Reads, verifies and parses the vbstate record of `commit`.
    fn read_vbstate(&self, commit: &CommitPoint) -> Result<VbState, StoreError> {
        let mut reader = Reader::new(&*self.file, &self.path, self.len);
        self.vbstate_at(&mut reader, commit)
    }

    /// [`VbFile::read_vbstate`] through `reader`.
    fn vbstate_at(
        &self,
        reader: &mut Reader<'_>,
        commit: &CommitPoint,
    ) -> Result<VbState, StoreError> {
        let offset = commit.vbstate_offset;
        let payload = match reader.record(offset)? {
            Ok((frame, payload)) if frame.kind == KIND_VBSTATE => payload,
            Ok((frame, _)) => {
                return Err(StoreError::ChangedSinceOpen {
                    path: self.path.clone(),
                    offset,
                    what: format!("is a record of kind {}, not a vbstate", frame.kind),
                })
            }
            Err(what) => {
                return Err(StoreError::ChangedSinceOpen {
                    path: self.path.clone(),
                    offset,
                    what,
                })
            }
        };
        let vbstate: VbState =
            serde_json::from_slice(payload).map_err(|source| StoreError::VbStateUnparsable {
                path: self.path.clone(),
                offset,
                source,
            })?;
        // Paired with the check in `commit`.
        if let Some(what) = vbstate.defect_allowing(self.bugs.unordered_failover_tables) {
            return Err(StoreError::VbStateInvalid {
                path: self.path.clone(),
                offset,
                what,
            });
        }
        Ok(vbstate)
    }

    /// The path of the data file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The high seqno of the newest commit (0 if none).
    pub fn high_seqno(&self) -> u64 {
        self.commits.last().map_or(0, |c| c.high_seqno)
    }

    /// The purge seqno of the newest commit (0 if none; nothing purges yet).
    pub fn purge_seqno(&self) -> u64 {
        self.commits.last().map_or(0, |c| c.purge_seqno)
    }

    /// The newest commit's vbstate (`None` if the file has no commit).
    pub fn vbstate(&self) -> Option<&VbState> {
        self.vbstate.as_ref()
    }

    /// Every commit point, oldest first.
    pub fn headers(&self) -> &[CommitPoint] {
        &self.commits
    }

    /// The committed length of the file: the end of the newest header (0 if no commit).
    pub fn committed_len(&self) -> u64 {
        self.commits.last().map_or(0, |c| c.end)
    }

    /// Every doc of the committed prefix, in seqno order. Reads the file again and re-verifies
    /// every checksum: an error if anything changed since open.
    pub fn docs(&self) -> Result<Vec<Doc>, StoreError> {
        let Some(newest) = self.commits.last() else {
            return Ok(Vec::new());
        };
        let mut reader = Reader::new(&*self.file, &self.path, newest.end);
        let mut docs = Vec::with_capacity(newest.docs_total as usize);
        let changed = |offset: u64, what: String| StoreError::ChangedSinceOpen {
            path: self.path.clone(),
            offset,
            what,
        };
        let mut pos = MAGIC_LEN;
        while pos < newest.offset {
            let (frame, payload) = reader.record(pos)?.map_err(|what| changed(pos, what))?;
            if frame.kind == KIND_DOC {
                let doc = format::decode_doc(payload).map_err(|what| changed(pos, what))?;
                // Paired with the seqno checks in `commit` and `scan`.
                if let Some(prev) = docs.last().map(|d: &Doc| d.seqno) {
                    if doc.seqno <= prev {
                        return Err(changed(
                            pos,
                            format!("has seqno {} after {prev}", doc.seqno),
                        ));
                    }
                }
                docs.push(doc);
            }
            pos += frame.record_len();
        }
        if pos != newest.offset || docs.len() as u64 != newest.docs_total {
            return Err(changed(
                newest.offset,
                format!(
                    "covers {} docs ending at {pos}, the header says {}",
                    docs.len(),
                    newest.docs_total
                ),
            ));
        }
        if let Some(last) = docs.last() {
            if last.seqno != newest.high_seqno {
                return Err(changed(
                    newest.offset,
                    format!(
                        "has high seqno {} but the last doc is {}",
                        newest.high_seqno, last.seqno
                    ),
                ));
            }
        }
        Ok(docs)
    }

    fn check_usable(&self) -> Result<(), StoreError> {
        if self.poisoned {
            return Err(StoreError::Poisoned {
                path: self.path.clone(),
            });
        }
        Ok(())
    }

    /// Atomically commits `docs` (seqnos strictly increasing, above the current high seqno) and
    /// `vbstate` (well formed; see [`VbState::defect`]). Durable when this returns `Ok`. On an
    /// error the commit is undone if it can be: the file is cut back to its last commit and the
    /// cut is synced, so the file stays usable, as of that commit, and a later commit retries (a
    /// full disk, say). If the undo fails too, the file is poisoned: nothing may be assumed
    /// about the commit until the file is reopened (after a crash, or at least a re-scan).
    /// [`VbFile::is_poisoned`] tells the two apart.
    ///
    /// # Panics
    /// If the docs or the vbstate break the rules above: those are bugs of the caller.
    pub fn commit(&mut self, docs: &[Doc], vbstate: &VbState) -> Result<CommitInfo, StoreError> {
        self.check_usable()?;
        // Check everything before writing a byte (paired with the checks in `scan` and
        // `read_vbstate` after reading).
        let high_before = self.high_seqno();
        let mut last_seqno = high_before;
        for doc in docs {
            assert!(
                doc.seqno > last_seqno,
                "{}: doc seqno {} not above {last_seqno}",
                self.path.display(),
                doc.seqno
            );
            assert!(
                !doc.key.is_empty(),
                "{}: doc {} has an empty key",
                self.path.display(),
                doc.seqno
            );
            if doc.op == Op::Set {
                assert!(
                    doc.value.is_some(),
                    "{}: set {} without a value",
                    self.path.display(),
                    doc.seqno
                );
            } else {
                assert!(
                    doc.value.is_none(),
                    "{}: {:?} {} with a value",
                    self.path.display(),
                    doc.op,
                    doc.seqno
                );
            }
            last_seqno = doc.seqno;
        }
        if let Some(what) = vbstate.defect_allowing(self.bugs.unordered_failover_tables) {
            panic!(
                "{}: refusing to write a vbstate: {what}",
                self.path.display()
            );
        }
        let result = self.commit_unchecked(docs, vbstate, last_seqno);
        if result.is_err() && !self.undo_failed_commit() {
            self.poisoned = true;
        }
        result
    }

    /// Whether an earlier failure left the file unusable until it is reopened.
    pub fn is_poisoned(&self) -> bool {
        self.poisoned
    }

    /// After a failed commit: cut away whatever it appended (a short write leaves bytes the
    /// file's own length does not count) and sync the cut, so that the file is durably its last
    /// commit again. Whether that worked. A file that failed while getting its magic is left
    /// to be reopened.
    fn undo_failed_commit(&mut self) -> bool {
        if !self.has_magic {
            return false;
        }
        let base = self.committed_len().max(MAGIC_LEN);
        match self.file.truncate(base).and_then(|()| self.file.sync()) {
            Ok(()) => {
                self.len = base;
                true
            }
            Err(_) => false,
        }
    }

    fn commit_unchecked(
        &mut self,
        docs: &[Doc],
        vbstate: &VbState,
        high_seqno: u64,
    ) -> Result<CommitInfo, StoreError> {
        let mut bytes_written = 0;
        // 1. Cut away a torn tail.
        let base = if self.has_magic {
            self.committed_len().max(MAGIC_LEN)
        } else {
            0
        };
        if self.len != base {
            assert!(self.len > base);
            self.file
                .truncate(base)
                .map_err(|source| StoreError::TruncateTail {
                    path: self.path.clone(),
                    len: base,
                    source,
                })?;
            self.len = base;
        }
        // 2. A file without a commit: make the magic and the directory entry durable first.
        if !self.has_magic {
            self.create()?;
            bytes_written += MAGIC_LEN;
        } else if !self.entry_durable {
            self.sync_dir()?;
            self.entry_durable = true;
        }
        // 3. Docs and vbstate, one write, one fsync.
        let first_record_offset = self.len;
        let mut buf =
            Vec::with_capacity(docs.iter().map(|d| 64 + d.key.len()).sum::<usize>() + 256);
        for doc in docs {
            format::push_record(&mut buf, KIND_DOC, |out| format::encode_doc(doc, out));
        }
        let vbstate_offset = first_record_offset + buf.len() as u64;
        let json = serde_json::to_vec(vbstate).expect("a VbState always serialises");
        format::push_record(&mut buf, KIND_VBSTATE, |out| out.extend_from_slice(&json));
        self.append(&buf)?;
        if !self.bugs.header_before_docs_synced {
            self.sync("after the docs and vbstate")?;
        }
        bytes_written += buf.len() as u64;
        // 4. The header, one fsync: durable from here.
        let previous = self.commits.last();
        let header_offset = self.len;
        let header = Header {
            self_offset: header_offset,
            prev_header_offset: previous.map_or(NO_PREV, |c| c.offset),
            high_seqno,
            purge_seqno: self.purge_seqno(),
            first_record_offset,
            docs_count: docs.len() as u64,
            vbstate_offset,
            docs_total: previous.map_or(0, |c| c.docs_total) + docs.len() as u64,
        };
        buf.clear();
        format::push_record(&mut buf, KIND_HEADER, |out| header.encode(out));
        assert_eq!(buf.len(), FRAME_LEN + HEADER_LEN);
        self.append(&buf)?;
        self.sync("after the header")?;
        bytes_written += buf.len() as u64;
        let commit = CommitPoint {
            high_seqno,
            purge_seqno: header.purge_seqno,
            offset: header_offset,
            end: self.len,
            first_record_offset,
            vbstate_offset,
            docs_count: header.docs_count,
            docs_total: header.docs_total,
        };
        self.commits.push(commit);
        self.vbstate = Some(vbstate.clone());
        Ok(CommitInfo {
            high_seqno,
            header_offset,
            bytes_written,
        })
    }

    /// The directory holding the data file.
    fn dir(&self) -> &Path {
        match self.path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        }
    }

    fn sync_dir(&self) -> Result<(), StoreError> {
        let dir = self.dir();
        self.backend
            .sync_dir(dir)
            .map_err(|source| StoreError::SyncDir {
                path: dir.to_path_buf(),
                source,
            })
    }

    /// The temporary file the magic block is created in.
    fn creation_path(&self) -> PathBuf {
        let mut name = self.path.file_name().unwrap_or_default().to_os_string();
        name.push(".creating");
        self.path.with_file_name(name)
    }

    /// Puts a file holding exactly the magic block at the path, durably: write it to a
    /// temporary file, fsync, rename over the (empty) file, fsync the directory. A crash leaves
    /// either the empty or missing file, or the whole magic; never a part of it.
    fn create(&mut self) -> Result<(), StoreError> {
        assert_eq!(self.len, 0, "only an empty file is replaced");
        let tmp = self.creation_path();
        let err = |step: &'static str| {
            let path = self.path.clone();
            let tmp = tmp.clone();
            move |source| StoreError::Create {
                path,
                tmp,
                step,
                source,
            }
        };
        self.backend
            .write_new_synced(&tmp, &format::magic_block())
            .map_err(|e| match e {
                SyncedWriteError::Write(source) => err("write")(source),
                SyncedWriteError::Sync(source) => err("fsync")(source),
            })?;
        self.backend
            .rename(&tmp, &self.path)
            .map_err(err("rename"))?;
        self.sync_dir()?;
        self.file = self.backend.open(&self.path).map_err(err("reopen"))?;
        self.len = self.file.len().map_err(err("reopen"))?;
        // Paired with `check_magic` at open.
        assert_eq!(self.len, MAGIC_LEN);
        self.has_magic = true;
        self.entry_durable = true;
        Ok(())
    }

    fn append(&mut self, data: &[u8]) -> Result<(), StoreError> {
        self.file
            .append(data)
            .map_err(|source| StoreError::Append {
                path: self.path.clone(),
                offset: self.len,
                len: data.len() as u64,
                source,
            })?;
        self.len += data.len() as u64;
        Ok(())
    }

    fn sync(&mut self, step: &'static str) -> Result<(), StoreError> {
        self.file.sync().map_err(|source| StoreError::Sync {
            path: self.path.clone(),
            step,
            source,
        })
    }

    /// Goes back to the newest commit whose high seqno is `<= seqno` (couchstore's rewind, for
    /// a replica's rollback): cuts the file after that commit's header and fsyncs. Rewinding
    /// below the first commit leaves a file with no commit. Returns the new high seqno.
    pub fn rewind_to(&mut self, seqno: u64) -> Result<u64, StoreError> {
        self.check_usable()?;
        let keep = self.commits.partition_point(|c| c.high_seqno <= seqno);
        if keep == self.commits.len() {
            return Ok(self.high_seqno());
        }
        let (new_len, vbstate) = match keep.checked_sub(1).map(|i| self.commits[i]) {
            Some(commit) => (commit.end, Some(self.read_vbstate(&commit)?)),
            None => (MAGIC_LEN, None),
        };
        assert!(self.has_magic, "a file with commits has its magic");
        let result = self
            .file
            .truncate(new_len)
            .and_then(|()| self.file.sync())
            .map_err(|source| StoreError::Rewind {
                path: self.path.clone(),
                len: new_len,
                source,
            });
        if let Err(e) = result {
            self.poisoned = true;
            return Err(e);
        }
        self.len = new_len;
        self.commits.truncate(keep);
        self.vbstate = vbstate;
        // Paired: what we kept is what a reopen would find.
        assert_eq!(self.committed_len().max(MAGIC_LEN), self.len);
        Ok(self.high_seqno())
    }
}

/// Why a header whose checksum verifies cannot be the next commit point, if it cannot.
fn header_disagrees(
    header: &Header,
    offset: u64,
    previous: Option<&CommitPoint>,
    pending: &Pending,
) -> Option<String> {
    let prev_offset = previous.map_or(NO_PREV, |c| c.offset);
    let prev_high = previous.map_or(0, |c| c.high_seqno);
    let prev_total = previous.map_or(0, |c| c.docs_total);
    let checks: [(&str, u64, u64); 7] = [
        ("its own offset", header.self_offset, offset),
        (
            "the previous header's offset",
            header.prev_header_offset,
            prev_offset,
        ),
        (
            "the commit's first record",
            header.first_record_offset,
            pending.first_record_offset,
        ),
        ("the commit's doc count", header.docs_count, pending.docs),
        (
            "the total doc count",
            header.docs_total,
            prev_total + pending.docs,
        ),
        (
            "the high seqno",
            header.high_seqno,
            if pending.docs > 0 {
                pending.last_seqno
            } else {
                prev_high
            },
        ),
        (
            "the vbstate's offset",
            header.vbstate_offset,
            pending.vbstate_offset.unwrap_or(u64::MAX),
        ),
    ];
    for (what, says, actual) in checks {
        if says != actual {
            return Some(format!(
                "says {says} for {what} where the file has {actual}"
            ));
        }
    }
    if header.purge_seqno > header.high_seqno {
        return Some(format!(
            "has purge seqno {} above its high seqno {}",
            header.purge_seqno, header.high_seqno
        ));
    }
    None
}

/// The offset of the first record after `defect` that is a valid header *at its own offset*:
/// proof that the bytes before it were committed.
fn find_header_after(reader: &mut Reader<'_>, defect: u64) -> Result<Option<u64>, StoreError> {
    let record_len = FRAME_LEN + HEADER_LEN;
    let mut pos = defect + 1;
    while let Some(bytes) = reader.get(pos, record_len)? {
        // Cheap tests first: a header frame has a fixed length and kind.
        let frame = Frame::parse(bytes);
        if frame.kind == KIND_HEADER
            && frame.plausible()
            && format::record_verifies(bytes)
            && Header::decode(&bytes[FRAME_LEN..]).self_offset == pos
        {
            return Ok(Some(pos));
        }
        pos += 1;
    }
    Ok(None)
}
