//! The vbucket data file on real files: recovery sees exactly a commit prefix, a torn tail is
//! ignored and cut away, committed data that is damaged is refused with its offset.

use crate::storage_common;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use storage_common::*;
use warmcheck_impl::storage::{layout, Backend, FileBackend, StoreError, VbFile};

fn backend() -> Arc<dyn Backend> {
    Arc::new(FileBackend::new())
}

fn open(path: &Path) -> VbFile {
    VbFile::open(backend(), path).expect("open")
}

/// Writes `steps` to a fresh file; returns its path (inside `dir`) and the bytes.
fn write_steps(dir: &Path, steps: &[Step]) -> (PathBuf, Vec<u8>) {
    let path = dir.join("vb0.couch");
    let mut vb = open(&path);
    for step in steps {
        vb.commit(&step.docs, &step.vbstate).expect("commit");
    }
    (path.clone(), fs::read(&path).unwrap())
}

fn flip(path: &Path, offset: u64) {
    let mut bytes = fs::read(path).unwrap();
    bytes[offset as usize] ^= 0x40;
    fs::write(path, bytes).unwrap();
}

#[test]
fn committed_docs_and_vbstate_come_back_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let steps = story();
    let (path, _) = write_steps(dir.path(), &steps);
    let vb = open(&path);
    assert_eq!(Seen::of(&vb), expected_after(&steps, steps.len()));
    assert_eq!(vb.headers().len(), steps.len());
    let highs: Vec<u64> = vb.headers().iter().map(|c| c.high_seqno).collect();
    assert_eq!(highs, [0, 2, 2, 3, 5]);
}

#[test]
fn missing_or_empty_file_has_no_commit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vb0.couch");
    let vb = open(&path);
    assert_eq!(vb.high_seqno(), 0);
    assert_eq!(vb.vbstate(), None);
    assert!(vb.docs().unwrap().is_empty());
    assert!(vb.headers().is_empty());
}

#[test]
fn every_cut_of_the_last_commit_opens_as_the_previous_commit_and_accepts_a_new_one() {
    let dir = tempfile::tempdir().unwrap();
    let steps = story();
    let (path, bytes) = write_steps(dir.path(), &steps);
    let last = *open(&path).headers().last().unwrap();
    let previous = expected_after(&steps, steps.len() - 1);
    let next = Step {
        docs: vec![set(previous.high_seqno + 1, "n", "after the cut")],
        vbstate: vbstate(&[(9, previous.high_seqno), (1, 0)], previous.high_seqno + 1),
    };
    for cut in last.first_record_offset..last.end {
        fs::write(&path, &bytes[..cut as usize]).unwrap();
        let mut vb = open(&path);
        assert_eq!(Seen::of(&vb), previous, "cut at {cut}");
        vb.commit(&next.docs, &next.vbstate)
            .expect("commit after the cut");
        let mut with_next = steps[..steps.len() - 1].to_vec();
        with_next.push(next.clone());
        assert_eq!(
            Seen::of(&open(&path)),
            expected_after(&with_next, with_next.len()),
            "reopen after committing over the cut at {cut}"
        );
    }
    fs::write(&path, &bytes).unwrap();
    assert_eq!(Seen::of(&open(&path)), expected_after(&steps, steps.len()));
}

#[test]
fn every_cut_of_the_file_opens_as_the_newest_commit_that_fits() {
    let dir = tempfile::tempdir().unwrap();
    let steps = story();
    let (path, bytes) = write_steps(dir.path(), &steps);
    let ends: Vec<u64> = open(&path).headers().iter().map(|c| c.end).collect();
    for cut in 0..=bytes.len() as u64 {
        fs::write(&path, &bytes[..cut as usize]).unwrap();
        if (1..layout::MAGIC_LEN).contains(&cut) {
            // Never produced by a crash: the magic is renamed into place whole.
            let err = VbFile::open(backend(), &path).expect_err("a cut magic");
            assert!(
                matches!(err, StoreError::NotADataFile { .. }),
                "cut at {cut}: {err}"
            );
            continue;
        }
        let fitting = ends.iter().filter(|&&end| end <= cut).count();
        let expected = expected_after(&steps, fitting);
        assert_eq!(Seen::of(&open(&path)), expected, "cut at {cut}");
        let (_, docs) = VbFile::open_and_load(backend(), &path).unwrap();
        assert_eq!(docs, expected.docs, "one-pass load, cut at {cut}");
    }
}

#[test]
fn corrupt_byte_in_a_committed_record_is_refused_naming_the_offset() {
    let dir = tempfile::tempdir().unwrap();
    let steps = story();
    let (path, bytes) = write_steps(dir.path(), &steps);
    let headers = open(&path).headers().to_vec();
    // Every byte of every committed record except the newest header (whose damage is
    // indistinguishable from a torn header write: see the next test).
    let newest = *headers.last().unwrap();
    let mut record_start = layout::MAGIC_LEN;
    for offset in layout::MAGIC_LEN..newest.offset {
        // Track which record `offset` falls in: records are length-prefixed.
        let len = u32::from_le_bytes(bytes[record_start as usize..][..4].try_into().unwrap());
        let record_end = record_start + layout::FRAME_LEN as u64 + u64::from(len);
        if offset == record_end {
            record_start = record_end;
        }
        fs::write(&path, &bytes).unwrap();
        flip(&path, offset);
        let err = VbFile::open(backend(), &path).expect_err("damaged committed data must not open");
        let msg = err.to_string();
        match &err {
            StoreError::CommittedCorrupt { offset: at, .. } => {
                assert_eq!(*at, record_start, "byte {offset}: {msg}");
            }
            other => panic!("byte {offset}: expected CommittedCorrupt, got {other}"),
        }
        assert!(msg.contains(&path.display().to_string()), "{msg}");
        assert!(msg.contains(&format!("offset {record_start}")), "{msg}");
        assert!(msg.contains("committed data is corrupt"), "{msg}");
    }
}

#[test]
fn corrupt_newest_header_falls_back_to_the_previous_commit() {
    let dir = tempfile::tempdir().unwrap();
    let steps = story();
    let (path, bytes) = write_steps(dir.path(), &steps);
    let newest = *open(&path).headers().last().unwrap();
    for offset in newest.offset..newest.end {
        fs::write(&path, &bytes).unwrap();
        flip(&path, offset);
        assert_eq!(
            Seen::of(&open(&path)),
            expected_after(&steps, steps.len() - 1),
            "header byte {offset} flipped"
        );
    }
}

#[test]
fn corrupt_middle_header_is_refused_because_a_later_header_covers_it() {
    let dir = tempfile::tempdir().unwrap();
    let steps = story();
    let (path, _) = write_steps(dir.path(), &steps);
    let middle = open(&path).headers()[2];
    flip(&path, middle.offset + 20);
    match VbFile::open(backend(), &path) {
        Err(StoreError::CommittedCorrupt { offset, .. }) => assert_eq!(offset, middle.offset),
        other => panic!("expected CommittedCorrupt, got {other:?}"),
    }
}

#[test]
fn garbage_in_the_torn_tail_is_ignored_and_cut_by_the_next_commit() {
    let dir = tempfile::tempdir().unwrap();
    let steps = story();
    let (path, bytes) = write_steps(dir.path(), &steps[..4]);
    // A torn fifth commit: its docs and vbstate made it (one damaged byte), its header did not.
    let other = tempfile::tempdir().unwrap();
    let (_, full) = write_steps(other.path(), &steps);
    let fifth = {
        let vb = open(&dir.path().join("vb0.couch"));
        vb.headers().last().unwrap().end as usize
    };
    assert_eq!(&full[..fifth], &bytes[..]);
    let header_len = layout::FRAME_LEN + layout::HEADER_LEN;
    let mut torn = full[..full.len() - header_len].to_vec();
    let damaged = fifth + 20;
    torn[damaged] ^= 0xff;
    torn.extend_from_slice(b"\x00\x13garbage after the tear");
    fs::write(&path, &torn).unwrap();

    let mut vb = open(&path);
    assert_eq!(Seen::of(&vb), expected_after(&steps, 4));
    vb.commit(&steps[4].docs, &steps[4].vbstate).unwrap();
    assert_eq!(
        fs::read(&path).unwrap(),
        full,
        "the tail was cut before appending"
    );
    assert_eq!(Seen::of(&open(&path)), expected_after(&steps, 5));
}

/// Rewrites the payload of the record at `offset` and fixes its length and checksum, as the
/// on-disk format document describes them.
fn rewrite_record(path: &Path, offset: u64, payload: &[u8]) {
    let bytes = fs::read(path).unwrap();
    let at = offset as usize;
    let old_len = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
    let mut frame = bytes[at..at + layout::FRAME_LEN].to_vec();
    frame[..4].copy_from_slice(&(payload.len() as u32).to_le_bytes());
    let mut h = crc32fast::Hasher::new();
    h.update(&frame[..8]);
    h.update(payload);
    frame[8..12].copy_from_slice(&h.finalize().to_le_bytes());
    let mut out = bytes[..at].to_vec();
    out.extend_from_slice(&frame);
    out.extend_from_slice(payload);
    out.extend_from_slice(&bytes[at + layout::FRAME_LEN + old_len..]);
    fs::write(path, out).unwrap();
}

#[test]
fn vbstate_that_does_not_parse_is_refused_naming_file_and_offset() {
    let dir = tempfile::tempdir().unwrap();
    let steps = story();
    let (path, bytes) = write_steps(dir.path(), &steps);
    let newest = *open(&path).headers().last().unwrap();
    // Same length, so the header still agrees with the file; checksum fixed, so only the JSON
    // is wrong.
    let at = newest.vbstate_offset as usize;
    let len = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
    let mut payload = vec![b'x'; len];
    payload[0] = b'{';
    rewrite_record(&path, newest.vbstate_offset, &payload);
    let err = VbFile::open(backend(), &path).expect_err("unparsable vbstate");
    assert!(
        matches!(err, StoreError::VbStateUnparsable { offset, .. } if offset == newest.vbstate_offset)
    );
    let msg = err.to_string();
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert!(
        msg.contains(&format!("offset {}", newest.vbstate_offset)),
        "{msg}"
    );
    assert!(msg.contains("line 1 column"), "{msg}");
}

#[test]
fn vbstate_with_an_empty_failover_table_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let steps = story();
    let (path, bytes) = write_steps(dir.path(), &steps);
    let newest = *open(&path).headers().last().unwrap();
    let at = newest.vbstate_offset as usize;
    let len = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
    let mut json =
        br#"{"state":"active","failover_table":[],"snap_start":"5","snap_end":"5","max_cas":"0"}"#
            .to_vec();
    assert!(json.len() <= len);
    json.resize(len, b' ');
    rewrite_record(&path, newest.vbstate_offset, &json);
    let err = VbFile::open(backend(), &path).expect_err("empty table");
    assert!(matches!(err, StoreError::VbStateInvalid { .. }), "{err}");
    assert!(err.to_string().contains("failover table is empty"), "{err}");
}

#[test]
fn vbstate_is_stored_as_kv_engine_writes_it() {
    let dir = tempfile::tempdir().unwrap();
    let steps = story();
    let (_, bytes) = write_steps(dir.path(), &steps);
    let text = String::from_utf8_lossy(&bytes);
    assert!(text.contains(
        r#"{"state":"active","failover_table":[{"id":3,"seq":5},{"id":2,"seq":2},{"id":1,"seq":0}],"snap_start":"5","snap_end":"5","max_cas":"1005"}"#
    ));
}

#[test]
fn checksummed_but_inconsistent_header_inside_committed_data_is_malformed() {
    let dir = tempfile::tempdir().unwrap();
    let steps = story();
    let (path, bytes) = write_steps(dir.path(), &steps);
    let second = open(&path).headers()[1];
    let at = second.offset as usize + layout::FRAME_LEN;
    let mut payload = bytes[at..at + layout::HEADER_LEN].to_vec();
    payload[16] += 1; // high seqno off by one
    rewrite_record(&path, second.offset, &payload);
    let err = VbFile::open(backend(), &path).expect_err("inconsistent header");
    assert!(
        matches!(err, StoreError::Malformed { offset, .. } if offset == second.offset),
        "{err}"
    );
    assert!(err.to_string().contains("high seqno"), "{err}");
}

#[test]
fn file_that_does_not_start_with_the_magic_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vb0.couch");
    fs::write(&path, b"{\"not\": \"a data file\"}").unwrap();
    let err = VbFile::open(backend(), &path).expect_err("not a data file");
    assert!(matches!(err, StoreError::NotADataFile { .. }), "{err}");
    assert!(err.to_string().contains(&path.display().to_string()));
    // The magic is renamed into place whole, so even a prefix of it is not ours.
    fs::write(&path, &layout::MAGIC[..5]).unwrap();
    assert!(matches!(
        VbFile::open(backend(), &path),
        Err(StoreError::NotADataFile { .. })
    ));
    fs::write(&path, b"").unwrap();
    assert!(
        VbFile::open(backend(), &path).is_ok(),
        "an empty file has no commit"
    );
}

#[test]
fn rewind_lands_on_the_newest_header_at_or_below_the_seqno() {
    let dir = tempfile::tempdir().unwrap();
    let steps = story(); // highs 0, 2, 2, 3, 5
    let (path, bytes) = write_steps(dir.path(), &steps);
    for (seqno, kept_steps) in [(9, 5), (5, 5), (4, 4), (3, 4), (2, 3), (1, 1), (0, 1)] {
        fs::write(&path, &bytes).unwrap();
        let mut vb = open(&path);
        let expected = expected_after(&steps, kept_steps);
        assert_eq!(
            vb.rewind_to(seqno).unwrap(),
            expected.high_seqno,
            "rewind to {seqno}"
        );
        assert_eq!(Seen::of(&vb), expected, "in memory after rewind to {seqno}");
        assert_eq!(
            Seen::of(&open(&path)),
            expected,
            "reopened after rewind to {seqno}"
        );
    }
}

#[test]
fn rewind_below_the_first_commit_leaves_no_commit_and_the_file_usable() {
    let dir = tempfile::tempdir().unwrap();
    let steps = story();
    let (path, _) = write_steps(dir.path(), &steps[1..]); // first commit has high 2
    let mut vb = open(&path);
    assert_eq!(vb.rewind_to(1).unwrap(), 0);
    assert_eq!(vb.vbstate(), None);
    assert_eq!(Seen::of(&open(&path)), expected_after(&steps, 0));
    vb.commit(&steps[1].docs, &steps[1].vbstate).unwrap();
    assert_eq!(Seen::of(&open(&path)), expected_after(&steps[1..2], 1));
}

#[test]
#[should_panic(expected = "not above")]
fn commit_of_a_seqno_not_above_the_high_seqno_is_a_bug() {
    let dir = tempfile::tempdir().unwrap();
    let steps = story();
    let (path, _) = write_steps(dir.path(), &steps[..2]);
    let mut vb = open(&path);
    let _ = vb.commit(&[set(2, "k", "again")], &steps[1].vbstate);
}

#[test]
#[should_panic(expected = "uuid 0")]
fn commit_of_a_vbstate_with_uuid_zero_is_a_bug() {
    let dir = tempfile::tempdir().unwrap();
    let mut vb = open(&dir.path().join("vb0.couch"));
    let _ = vb.commit(&[], &vbstate(&[(0, 0)], 0));
}

#[test]
fn a_hundred_thousand_items_load_in_seqno_order_across_read_chunks() {
    // Not a timing test (see examples/storage_bench.rs): checks the index and the chunked
    // reader at a size where records straddle many read-ahead chunks.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vb0.couch");
    let backend: Arc<dyn Backend> = Arc::new(FileBackend::without_fsync());
    let mut vb = VbFile::open(backend.clone(), &path).unwrap();
    let (commits, per_commit) = (100u64, 1000u64);
    for c in 0..commits {
        let docs: Vec<_> = (1..=per_commit)
            .map(|i| {
                let seqno = c * per_commit + i;
                set(
                    seqno,
                    &format!("key{seqno}"),
                    &"v".repeat((seqno % 50) as usize + 1),
                )
            })
            .collect();
        vb.commit(&docs, &vbstate(&[(1, 0)], (c + 1) * per_commit))
            .unwrap();
    }
    let vb = VbFile::open(backend, &path).unwrap();
    let docs = vb.docs().unwrap();
    assert_eq!(docs.len() as u64, commits * per_commit);
    assert!(docs
        .iter()
        .enumerate()
        .all(|(i, d)| d.seqno == i as u64 + 1));
    assert_eq!(
        docs[12345].value.as_deref().unwrap().len(),
        (12346 % 50) + 1
    );
}

/// The conformance seam (`VbFile::image` / `return_to`): after more commits, returning to an
/// image cuts the file back to the image's bytes and finds what a reopen of those bytes finds;
/// after a rewind below the image and a new commit (the file and the image then share only a
/// prefix) it cuts back to that prefix and appends the image's tail, with the same result.
#[test]
fn return_to_an_image_is_a_reopen_of_its_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let steps = story();
    let path = dir.path().join("vb0.couch");
    let mut vb = open(&path);
    for step in &steps[..2] {
        vb.commit(&step.docs, &step.vbstate).unwrap();
    }
    let image = vb.image().expect("not poisoned");
    let bytes = fs::read(&path).unwrap();
    assert_eq!(vb.read_all().unwrap(), bytes);
    for step in &steps[2..] {
        vb.commit(&step.docs, &step.vbstate).unwrap();
    }
    assert!(vb.return_to(&image, &bytes).unwrap());
    assert_eq!(fs::read(&path).unwrap(), bytes);
    assert_eq!(Seen::of(&vb), expected_after(&steps, 2));
    assert_eq!(Seen::of(&vb), Seen::of(&open(&path)));
    // The file goes on from there as a reopened one would.
    vb.commit(&steps[2].docs, &steps[2].vbstate).unwrap();
    assert_eq!(Seen::of(&open(&path)), expected_after(&steps, 3));

    // Cut below the image and written again: the image's bytes are not a prefix of the file.
    let image = vb.image().unwrap();
    let bytes = fs::read(&path).unwrap();
    vb.rewind_to(0).unwrap();
    vb.commit(&steps[3].docs, &steps[3].vbstate).unwrap();
    let after = fs::read(&path).unwrap();
    assert_ne!(
        after[..bytes.len().min(after.len())],
        bytes[..bytes.len().min(after.len())]
    );
    assert!(vb.return_to(&image, &bytes).unwrap());
    assert_eq!(fs::read(&path).unwrap(), bytes);
    assert_eq!(Seen::of(&vb), expected_after(&steps, 3));
    assert_eq!(Seen::of(&vb), Seen::of(&open(&path)));

    // Cut below the image and not written again: the file is a prefix of the image's bytes.
    vb.rewind_to(0).unwrap();
    assert!(fs::read(&path).unwrap().len() < bytes.len());
    assert!(vb.return_to(&image, &bytes).unwrap());
    assert_eq!(fs::read(&path).unwrap(), bytes);
    assert_eq!(Seen::of(&vb), Seen::of(&open(&path)));
    vb.commit(&steps[3].docs, &steps[3].vbstate).unwrap();
    assert_eq!(Seen::of(&vb), Seen::of(&open(&path)));
}
