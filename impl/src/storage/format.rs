//! The byte layout of a vbucket data file (`docs/on-disk-format.md` is the reference; keep the
//! two in step). All integers are little-endian.
//!
//! ```text
//! file   := magic record*
//! magic  := "wcvbfile" version:u32=1 reserved:u32=0                        (16 bytes)
//! record := len:u32 kind:u8 reserved:[u8;3]=0 crc:u32 payload:[u8; len]     (12 + len bytes)
//!           crc = CRC-32 (IEEE, as crc32fast computes it) of frame bytes 0..8 ++ payload
//! kind   := 1 doc | 2 vbstate (JSON) | 3 header (64 bytes)
//! ```

use super::vbfile::{Doc, Op};

/// The first 8 bytes of every data file.
pub const MAGIC: [u8; 8] = *b"wcvbfile";
/// The format version this build writes and reads.
pub const VERSION: u32 = 1;
/// Length of the magic block (magic, version, reserved).
pub const MAGIC_LEN: u64 = 16;

/// Length of a record frame (length, kind, reserved, checksum).
pub const FRAME_LEN: usize = 12;
/// Largest payload a record may have (a sanity bound: anything larger is a torn or corrupt
/// length field). kv_engine's largest value is 20 MiB.
pub const MAX_PAYLOAD: u32 = 64 << 20;

/// Record kinds.
pub const KIND_DOC: u8 = 1;
pub const KIND_VBSTATE: u8 = 2;
pub const KIND_HEADER: u8 = 3;

/// Length of a header payload.
pub const HEADER_LEN: usize = 64;
/// `prev_header_offset` of the first header.
pub const NO_PREV: u64 = u64::MAX;

/// Length of the fixed part of a doc payload (before key and value).
pub const DOC_FIXED_LEN: usize = 32;
const DOC_FLAG_EXPIRY: u8 = 1;
const DOC_FLAG_VALUE: u8 = 2;

/// The magic block.
pub fn magic_block() -> [u8; MAGIC_LEN as usize] {
    let mut out = [0u8; MAGIC_LEN as usize];
    out[..8].copy_from_slice(&MAGIC);
    out[8..12].copy_from_slice(&VERSION.to_le_bytes());
    out
}

/// A decoded frame (the payload follows it in the file).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame {
    pub payload_len: u32,
    pub kind: u8,
    pub reserved_zero: bool,
    pub crc: u32,
}

impl Frame {
    pub fn parse(bytes: &[u8]) -> Frame {
        assert!(bytes.len() >= FRAME_LEN);
        Frame {
            payload_len: u32::from_le_bytes(bytes[0..4].try_into().unwrap()),
            kind: bytes[4],
            reserved_zero: bytes[5..8] == [0, 0, 0],
            crc: u32::from_le_bytes(bytes[8..12].try_into().unwrap()),
        }
    }

    /// Whether the frame could be one this build writes: known kind, zero reserved bytes, sane
    /// length (a header's is exact).
    pub fn plausible(&self) -> bool {
        self.reserved_zero
            && self.payload_len <= MAX_PAYLOAD
            && match self.kind {
                KIND_DOC => self.payload_len as usize >= DOC_FIXED_LEN,
                KIND_VBSTATE => true,
                KIND_HEADER => self.payload_len as usize == HEADER_LEN,
                _ => false,
            }
    }

    pub fn record_len(&self) -> u64 {
        FRAME_LEN as u64 + u64::from(self.payload_len)
    }
}

/// The checksum of a record (frame and payload): CRC-32 of the frame's first 8 bytes (length,
/// kind, reserved) followed by the payload. Covering the length means a damaged length field
/// fails the checksum instead of sending the reader elsewhere.
pub fn record_crc(record: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&record[..8]);
    h.update(&record[FRAME_LEN..]);
    h.finalize()
}

/// Whether `record` (frame + payload, exactly) verifies.
pub fn record_verifies(record: &[u8]) -> bool {
    let frame = Frame::parse(record);
    record.len() as u64 == frame.record_len() && record_crc(record) == frame.crc
}

/// Appends one record (frame + payload) to `out`; the payload is produced in place by `write`.
pub fn push_record(out: &mut Vec<u8>, kind: u8, write: impl FnOnce(&mut Vec<u8>)) {
    let start = out.len();
    out.extend_from_slice(&[0u8; FRAME_LEN]);
    write(out);
    let payload_len = out.len() - start - FRAME_LEN;
    assert!(
        payload_len <= MAX_PAYLOAD as usize,
        "record of {payload_len} bytes is too large"
    );
    out[start..start + 4].copy_from_slice(&(payload_len as u32).to_le_bytes());
    out[start + 4] = kind;
    let crc = record_crc(&out[start..]);
    out[start + 8..start + 12].copy_from_slice(&crc.to_le_bytes());
    // Paired with the check at read time.
    debug_assert!(record_verifies(&out[start..]));
}

/// A commit header: the payload of a `KIND_HEADER` record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// The file offset of this header record (its frame): a header copied or read elsewhere
    /// does not verify.
    pub self_offset: u64,
    /// The previous header's offset, or [`NO_PREV`].
    pub prev_header_offset: u64,
    /// High seqno of the commit: its last doc's seqno, or the previous high seqno.
    pub high_seqno: u64,
    /// Purge seqno (always 0 so far: nothing purges).
    pub purge_seqno: u64,
    /// Offset of the commit's first record (the end of the previous header, or of the magic).
    pub first_record_offset: u64,
    /// Docs in this commit.
    pub docs_count: u64,
    /// Offset of this commit's vbstate record.
    pub vbstate_offset: u64,
    /// Docs in this commit and all before it.
    pub docs_total: u64,
}

impl Header {
    pub fn encode(&self, out: &mut Vec<u8>) {
        for v in [
            self.self_offset,
            self.prev_header_offset,
            self.high_seqno,
            self.purge_seqno,
            self.first_record_offset,
            self.docs_count,
            self.vbstate_offset,
            self.docs_total,
        ] {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }

    pub fn decode(payload: &[u8]) -> Header {
        assert_eq!(payload.len(), HEADER_LEN);
        let f = |i: usize| u64::from_le_bytes(payload[i * 8..i * 8 + 8].try_into().unwrap());
        Header {
            self_offset: f(0),
            prev_header_offset: f(1),
            high_seqno: f(2),
            purge_seqno: f(3),
            first_record_offset: f(4),
            docs_count: f(5),
            vbstate_offset: f(6),
            docs_total: f(7),
        }
    }
}

fn op_code(op: Op) -> u8 {
    match op {
        Op::Set => 1,
        Op::Delete => 2,
        Op::Expire => 3,
    }
}

/// Encodes a doc payload:
/// `seqno:u64 cas:u64 expiry:u64 op:u8 flags:u8 key_len:u16 value_len:u32 key value`.
pub fn encode_doc(doc: &Doc, out: &mut Vec<u8>) {
    let key = doc.key.as_bytes();
    let value = doc.value.as_deref().unwrap_or("").as_bytes();
    assert!(key.len() <= u16::MAX as usize, "key of {} bytes", key.len());
    assert!(
        value.len() <= MAX_PAYLOAD as usize,
        "value of {} bytes",
        value.len()
    );
    let mut flags = 0;
    if doc.expiry.is_some() {
        flags |= DOC_FLAG_EXPIRY;
    }
    if doc.value.is_some() {
        flags |= DOC_FLAG_VALUE;
    }
    out.reserve(DOC_FIXED_LEN + key.len() + value.len());
    out.extend_from_slice(&doc.seqno.to_le_bytes());
    out.extend_from_slice(&doc.cas.to_le_bytes());
    out.extend_from_slice(&doc.expiry.unwrap_or(0).to_le_bytes());
    out.push(op_code(doc.op));
    out.push(flags);
    out.extend_from_slice(&(key.len() as u16).to_le_bytes());
    out.extend_from_slice(&(value.len() as u32).to_le_bytes());
    out.extend_from_slice(key);
    out.extend_from_slice(value);
}

/// The fixed part of a doc payload, checked for consistency with the payload length.
#[derive(Clone, Copy, Debug)]
pub struct DocHead {
    pub seqno: u64,
    pub cas: u64,
    pub expiry: Option<u64>,
    pub op: Op,
    pub has_value: bool,
    pub key_len: usize,
    pub value_len: usize,
}

/// Decodes the fixed part of a doc payload and checks it against the payload's length and the
/// doc invariants; `Err` says what is wrong.
pub fn decode_doc_head(payload: &[u8]) -> Result<DocHead, String> {
    if payload.len() < DOC_FIXED_LEN {
        return Err(format!(
            "doc payload of {} bytes is shorter than {DOC_FIXED_LEN}",
            payload.len()
        ));
    }
    let u64_at = |i: usize| u64::from_le_bytes(payload[i..i + 8].try_into().unwrap());
    let op = match payload[24] {
        1 => Op::Set,
        2 => Op::Delete,
        3 => Op::Expire,
        other => return Err(format!("unknown op code {other}")),
    };
    let flags = payload[25];
    if flags & !(DOC_FLAG_EXPIRY | DOC_FLAG_VALUE) != 0 {
        return Err(format!("unknown doc flags {flags:#04x}"));
    }
    let key_len = u16::from_le_bytes(payload[26..28].try_into().unwrap()) as usize;
    let value_len = u32::from_le_bytes(payload[28..32].try_into().unwrap()) as usize;
    if DOC_FIXED_LEN + key_len + value_len != payload.len() {
        return Err(format!(
            "key ({key_len}) and value ({value_len}) lengths do not add up to the payload ({})",
            payload.len()
        ));
    }
    let has_value = flags & DOC_FLAG_VALUE != 0;
    if !has_value && value_len != 0 {
        return Err("value bytes present but the value flag is clear".into());
    }
    if (op == Op::Set) != has_value {
        return Err(format!("op {op:?} with value flag {has_value} (a set has a value, a delete or expiry has none)"));
    }
    let seqno = u64_at(0);
    if seqno == 0 {
        return Err("seqno 0".into());
    }
    let expiry = if flags & DOC_FLAG_EXPIRY != 0 {
        Some(u64_at(16))
    } else {
        None
    };
    Ok(DocHead {
        seqno,
        cas: u64_at(8),
        expiry,
        op,
        has_value,
        key_len,
        value_len,
    })
}

/// Decodes a whole doc payload (head, then key and value as UTF-8).
pub fn decode_doc(payload: &[u8]) -> Result<Doc, String> {
    let head = decode_doc_head(payload)?;
    let key_end = DOC_FIXED_LEN + head.key_len;
    let key = std::str::from_utf8(&payload[DOC_FIXED_LEN..key_end])
        .map_err(|e| format!("key is not UTF-8: {e}"))?
        .to_owned();
    let value = if head.has_value {
        Some(
            std::str::from_utf8(&payload[key_end..key_end + head.value_len])
                .map_err(|e| format!("value is not UTF-8: {e}"))?
                .to_owned(),
        )
    } else {
        None
    };
    Ok(Doc {
        seqno: head.seqno,
        key,
        op: head.op,
        value,
        expiry: head.expiry,
        cas: head.cas,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(op: Op, value: Option<&str>, expiry: Option<u64>) -> Doc {
        Doc {
            seqno: 7,
            key: "clé".into(),
            op,
            value: value.map(str::to_string),
            expiry,
            cas: 0xdead_beef,
        }
    }

    #[test]
    fn every_doc_shape_round_trips_through_a_record() {
        for d in [
            doc(Op::Set, Some("v1"), None),
            doc(Op::Set, Some(""), Some(0)),
            doc(Op::Set, Some("ünïcode"), Some(u64::MAX)),
            doc(Op::Delete, None, None),
            doc(Op::Expire, None, Some(3)),
        ] {
            let mut rec = Vec::new();
            push_record(&mut rec, KIND_DOC, |out| encode_doc(&d, out));
            assert!(record_verifies(&rec));
            assert!(Frame::parse(&rec).plausible());
            assert_eq!(decode_doc(&rec[FRAME_LEN..]).unwrap(), d);
        }
    }

    #[test]
    fn any_flipped_bit_in_a_record_fails_its_checksum() {
        let mut rec = Vec::new();
        push_record(&mut rec, KIND_DOC, |out| {
            encode_doc(&doc(Op::Set, Some("v"), None), out)
        });
        for byte in 0..rec.len() {
            for bit in 0..8 {
                let mut bad = rec.clone();
                bad[byte] ^= 1 << bit;
                assert!(!record_verifies(&bad), "byte {byte} bit {bit}");
            }
        }
    }

    #[test]
    fn header_round_trips_and_has_a_fixed_length() {
        let h = Header {
            self_offset: 1,
            prev_header_offset: NO_PREV,
            high_seqno: 3,
            purge_seqno: 4,
            first_record_offset: 5,
            docs_count: 6,
            vbstate_offset: 7,
            docs_total: 8,
        };
        let mut payload = Vec::new();
        h.encode(&mut payload);
        assert_eq!(payload.len(), HEADER_LEN);
        assert_eq!(Header::decode(&payload), h);
    }

    #[test]
    fn doc_whose_lengths_do_not_add_up_is_rejected() {
        let mut payload = Vec::new();
        encode_doc(&doc(Op::Set, Some("value"), None), &mut payload);
        payload.push(0);
        assert!(decode_doc_head(&payload)
            .unwrap_err()
            .contains("do not add up"));
        let mut payload = Vec::new();
        encode_doc(&doc(Op::Delete, None, None), &mut payload);
        payload[24] = 9;
        assert!(decode_doc_head(&payload)
            .unwrap_err()
            .contains("unknown op"));
    }
}
