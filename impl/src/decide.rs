//! `warmcheck failover-decide`: kv_engine 6.5's rollback decision as a JSON-lines filter.
//!
//! Each input line is one stream request against one producer table:
//!
//! ```text
//! {"table":[{"id":3,"seq":2},{"id":1,"seq":0}],"start":2,"cur":2,"uuid":1,"snap_start":2,"snap_end":2}
//! ```
//!
//! (`table` newest first; `purge` defaults to 0, `strict` to false). Each output line is one
//! of
//!
//! - `{"rollback":false}`: the stream is accepted;
//! - `{"rollback":true,"seqno":N,"reason":"..."}`: the consumer must roll back to `N`;
//! - `{"error":"ERANGE","reason":"..."}`: the producer refuses the request before deciding
//!   anything, because `snap_start <= start <= snap_end` does not hold
//!   (`DcpProducer::streamRequest` checks it before `needsRollback`).
//!
//! Blank lines are skipped. The table is used as given (not sanitized), so a malformed table is
//! judged the way kv_engine would judge it in memory.

use crate::failover::{Entry, FailoverTable, StreamRequest};
use serde::{Deserialize, Serialize};
use std::io::{BufRead, Write};

/// One input line.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecideRequest {
    /// The producer's failover table, newest first. Must not be empty.
    pub table: Vec<Entry>,
    /// The consumer's start seqno (its high seqno).
    pub start: u64,
    /// The producer's high seqno.
    pub cur: u64,
    /// The consumer's newest uuid.
    pub uuid: u64,
    pub snap_start: u64,
    pub snap_end: u64,
    /// The producer's purge seqno.
    #[serde(default)]
    pub purge: u64,
    #[serde(default)]
    pub strict: bool,
}

/// One output line.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct DecideAnswer {
    /// Absent when the request is refused (`error`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollback: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seqno: Option<u64>,
    /// `ERANGE` when the producer refuses the request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum DecideError {
    /// A line is not a request: not JSON, a missing or mistyped field, an empty table.
    #[error("line {line}: {what}")]
    BadLine { line: usize, what: String },
    /// Reading the input or writing the output failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

/// Decide one request.
pub fn decide(req: &DecideRequest) -> DecideAnswer {
    if !(req.snap_start <= req.start && req.start <= req.snap_end) {
        return DecideAnswer {
            rollback: None,
            seqno: None,
            error: Some("ERANGE"),
            reason: Some(format!(
                "snap_start <= start <= snap_end does not hold ({} <= {} <= {})",
                req.snap_start, req.start, req.snap_end
            )),
        };
    }
    let table = FailoverTable::from_entries(req.table.clone());
    let stream = StreamRequest {
        start: req.start,
        uuid: req.uuid,
        snap_start: req.snap_start,
        snap_end: req.snap_end,
        strict: req.strict,
    };
    match table.decide(stream, req.cur, req.purge, false) {
        None => DecideAnswer {
            rollback: Some(false),
            seqno: None,
            error: None,
            reason: None,
        },
        Some((seqno, reason)) => DecideAnswer {
            rollback: Some(true),
            seqno: Some(seqno),
            error: None,
            reason: Some(reason.to_string()),
        },
    }
}

/// Parse one line (1-based `line` for messages).
pub fn parse_line(text: &str, line: usize) -> Result<DecideRequest, DecideError> {
    let req: DecideRequest = serde_json::from_str(text).map_err(|e| DecideError::BadLine {
        line,
        what: format!("not a stream request ({e})"),
    })?;
    if req.table.is_empty() {
        return Err(DecideError::BadLine {
            line,
            what: "\"table\" is empty: a failover table has at least one entry".into(),
        });
    }
    Ok(req)
}

/// The longest input line taken: far more than any failover table kv_engine keeps (25
/// entries), and little enough that an endless line (`< /dev/zero`) ends quickly.
pub const MAX_LINE: usize = crate::input::MIB;

/// Parse one line given as bytes (1-based `line` for messages): the entry point the fuzz
/// targets and property tests call. Refuses a line longer than [`MAX_LINE`] or not UTF-8.
pub fn parse_bytes(bytes: &[u8], line: usize) -> Result<DecideRequest, DecideError> {
    if bytes.len() > MAX_LINE {
        return Err(DecideError::BadLine {
            line,
            what: format!("longer than {MAX_LINE} bytes"),
        });
    }
    let text = std::str::from_utf8(bytes).map_err(|e| DecideError::BadLine {
        line,
        what: format!("not UTF-8 text (byte {})", e.valid_up_to()),
    })?;
    parse_line(text, line)
}

/// Answer every request of `input`, one JSON line each, on `output`. Stops at the first bad
/// line (one longer than [`MAX_LINE`] included).
pub fn decide_lines(mut input: impl BufRead, mut output: impl Write) -> Result<(), DecideError> {
    let mut buf = Vec::new();
    let mut line = 0;
    loop {
        line += 1;
        match crate::input::read_line(&mut input, &mut buf, MAX_LINE) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                return Err(DecideError::BadLine {
                    line,
                    what: format!("longer than {MAX_LINE} bytes"),
                })
            }
            Err(e) => return Err(e.into()),
        }
        if buf.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let req = parse_bytes(&buf, line)?;
        let answer = decide(&req);
        serde_json::to_writer(&mut output, &answer).map_err(std::io::Error::other)?;
        output.write_all(b"\n")?;
    }
    output.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(input: &str) -> Result<String, DecideError> {
        let mut out = Vec::new();
        decide_lines(input.as_bytes(), &mut out)?;
        Ok(String::from_utf8(out).unwrap())
    }

    #[test]
    fn the_mb41942_table_accepts_the_diverged_replica_and_the_fixed_one_rolls_it_back() {
        let input = r#"{"table":[{"id":3,"seq":2},{"id":1,"seq":0}],"start":2,"cur":2,"uuid":1,"snap_start":2,"snap_end":2}

{"table":[{"id":3,"seq":2},{"id":2,"seq":1},{"id":1,"seq":0}],"start":2,"cur":2,"uuid":1,"snap_start":2,"snap_end":2,"purge":0,"strict":false}
"#;
        let out = run(input).unwrap();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], r#"{"rollback":false}"#);
        assert!(lines[1].starts_with(r#"{"rollback":true,"seqno":1,"reason":"consumer ahead"#));
        assert_eq!(lines.len(), 2);
    }

    #[test]
    fn an_unknown_uuid_rolls_back_to_zero() {
        let out = run(r#"{"table":[{"id":1,"seq":0}],"start":4,"cur":9,"uuid":5,"snap_start":4,"snap_end":4}"#)
            .unwrap();
        assert!(out.starts_with(r#"{"rollback":true,"seqno":0,"reason":"vBucket UUID not found"#));
    }

    #[test]
    fn a_start_outside_the_snapshot_is_refused_with_erange_before_any_rollback_decision() {
        // The uuid is unknown, so needsRollback would say "roll back to 0": the ERANGE check
        // comes first.
        let out = run(concat!(
            r#"{"table":[{"id":1,"seq":0}],"start":5,"cur":9,"uuid":7,"snap_start":2,"snap_end":4}"#,
            "\n",
            r#"{"table":[{"id":1,"seq":0}],"start":1,"cur":9,"uuid":1,"snap_start":2,"snap_end":4}"#,
            "\n",
            r#"{"table":[{"id":1,"seq":0}],"start":4,"cur":9,"uuid":1,"snap_start":2,"snap_end":4}"#,
        ))
        .unwrap();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            lines[0],
            r#"{"error":"ERANGE","reason":"snap_start <= start <= snap_end does not hold (2 <= 5 <= 4)"}"#
        );
        assert_eq!(
            lines[1],
            r#"{"error":"ERANGE","reason":"snap_start <= start <= snap_end does not hold (2 <= 1 <= 4)"}"#
        );
        assert_eq!(
            lines[2], r#"{"rollback":false}"#,
            "start == snap_end is in range"
        );
    }

    #[test]
    fn a_bad_line_is_named_by_number_with_serdes_column() {
        let input = "{\"table\":[{\"id\":1,\"seq\":0}],\"start\":0,\"cur\":0,\"uuid\":1,\"snap_start\":0,\"snap_end\":0}\n{\"table\":[],\"start\":\"x\"}\n";
        let err = run(input).unwrap_err().to_string();
        assert!(err.starts_with("line 2: "), "{err}");
        assert!(err.contains("column"), "{err}");
    }

    #[test]
    fn an_empty_table_is_refused() {
        let err = run(r#"{"table":[],"start":0,"cur":0,"uuid":1,"snap_start":0,"snap_end":0}"#)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "line 1: \"table\" is empty: a failover table has at least one entry"
        );
    }

    #[test]
    fn an_endless_line_is_refused_by_number() {
        let input = std::io::Read::chain(&b"\n"[..], std::io::repeat(0));
        let err = decide_lines(std::io::BufReader::new(input), Vec::new()).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("line 2: longer than {MAX_LINE} bytes")
        );
    }

    #[test]
    fn a_missing_field_is_refused() {
        let err = run(r#"{"table":[{"id":1,"seq":0}],"start":0}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("missing field `cur`"), "{err}");
    }
}
