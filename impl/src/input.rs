//! Reading input with bounds: every reader of user-supplied text (scenario scripts, failover
//! requests, and in `warmcheck-conformance` traces, event logs and state files) reads through
//! here, so that a file too large for its format, or a line too long, ends in an error naming
//! the input and the limit, never in gigabytes of memory (`warmcheck validate /dev/zero`).

use std::io::{self, BufRead, Read};
use std::path::Path;

/// One MiB.
pub const MIB: usize = 1 << 20;

/// Why input could not be read within its bounds.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("{name}: cannot read: {source}")]
    Io { name: String, source: io::Error },
    #[error("{name}: larger than {limit} bytes, the most a {what} may hold")]
    TooLarge {
        name: String,
        what: &'static str,
        limit: usize,
    },
    #[error("{name}: line {line} is longer than {limit} bytes, the most a {what} line may hold")]
    LineTooLong {
        name: String,
        what: &'static str,
        line: usize,
        limit: usize,
    },
    #[error("{name}: not UTF-8 text (byte {offset})")]
    NotUtf8 { name: String, offset: usize },
}

/// The limits of one input format.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// What the input is, for messages ("scenario script", "event log", ...).
    pub what: &'static str,
    /// The most bytes the whole input may hold.
    pub max_bytes: usize,
    /// The most bytes one line may hold (without its newline).
    pub max_line: usize,
}

/// Read all of `reader` (called `name` in messages) as UTF-8 text within `limits`. Stops
/// reading as soon as a limit is passed.
pub fn read_text(reader: impl Read, name: &str, limits: Limits) -> Result<String, InputError> {
    let mut bytes = Vec::new();
    let mut limited = reader.take(limits.max_bytes as u64 + 1);
    let mut line = 1;
    let mut line_start = 0;
    let mut chunk = [0u8; 64 * 1024];
    loop {
        let n = match limited.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(source) => {
                return Err(InputError::Io {
                    name: name.to_string(),
                    source,
                })
            }
        };
        for &b in &chunk[..n] {
            if b == b'\n' {
                line += 1;
                line_start = bytes.len() + 1;
            } else if bytes.len() - line_start >= limits.max_line {
                return Err(InputError::LineTooLong {
                    name: name.to_string(),
                    what: limits.what,
                    line,
                    limit: limits.max_line,
                });
            }
            bytes.push(b);
        }
        if bytes.len() > limits.max_bytes {
            return Err(InputError::TooLarge {
                name: name.to_string(),
                what: limits.what,
                limit: limits.max_bytes,
            });
        }
    }
    String::from_utf8(bytes).map_err(|e| InputError::NotUtf8 {
        name: name.to_string(),
        offset: e.utf8_error().valid_up_to(),
    })
}

/// [`read_text`] of the file at `path`, or of standard input when `path` is `-` and
/// `stdin_dash` is set.
pub fn read_file(path: &Path, limits: Limits, stdin_dash: bool) -> Result<String, InputError> {
    if stdin_dash && path == Path::new("-") {
        return read_text(io::stdin().lock(), "standard input", limits);
    }
    let name = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|source| InputError::Io {
        name: name.clone(),
        source,
    })?;
    read_text(file, &name, limits)
}

/// Read one line (without its `\n`) of at most `max_line` bytes into `buf`; `Ok(false)` at the
/// end of the input. A longer line is an error of kind `InvalidData` once `max_line + 1` bytes
/// were read, so a line without end costs no more than that.
pub fn read_line(
    reader: &mut impl BufRead,
    buf: &mut Vec<u8>,
    max_line: usize,
) -> io::Result<bool> {
    buf.clear();
    let n = reader.take(max_line as u64 + 1).read_until(b'\n', buf)?;
    if n == 0 {
        return Ok(false);
    }
    if buf.last() == Some(&b'\n') {
        buf.pop();
    } else if buf.len() > max_line {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("a line is longer than {max_line} bytes"),
        ));
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: Limits = Limits {
        what: "test input",
        max_bytes: 100,
        max_line: 10,
    };

    #[test]
    fn text_within_the_limits_is_read() {
        assert_eq!(read_text(&b"a\nbb\n"[..], "t", SMALL).unwrap(), "a\nbb\n");
        let exact = "0123456789\n".repeat(9);
        assert_eq!(read_text(exact.as_bytes(), "t", SMALL).unwrap(), exact);
    }

    #[test]
    fn an_endless_input_stops_at_the_limit() {
        let err = read_text(io::repeat(0), "zeros", SMALL).unwrap_err();
        assert_eq!(
            err.to_string(),
            "zeros: line 1 is longer than 10 bytes, the most a test input line may hold"
        );
        let err = read_text(io::repeat(b'\n'), "newlines", SMALL).unwrap_err();
        assert_eq!(
            err.to_string(),
            "newlines: larger than 100 bytes, the most a test input may hold"
        );
    }

    #[test]
    fn a_long_line_is_named_by_number() {
        let err = read_text(&b"ok\n0123456789x\n"[..], "t", SMALL).unwrap_err();
        assert!(err.to_string().contains("line 2 is longer"), "{err}");
    }

    #[test]
    fn bytes_that_are_not_utf8_are_named_by_offset() {
        let err = read_text(&b"ab\xff"[..], "t", SMALL).unwrap_err();
        assert_eq!(err.to_string(), "t: not UTF-8 text (byte 2)");
    }

    #[test]
    fn read_line_bounds_each_line() {
        let mut r = io::BufReader::new(&b"abc\n0123456789\n"[..]);
        let mut buf = Vec::new();
        assert!(read_line(&mut r, &mut buf, 10).unwrap());
        assert_eq!(buf, b"abc");
        assert!(read_line(&mut r, &mut buf, 10).unwrap());
        assert_eq!(buf, b"0123456789");
        assert!(!read_line(&mut r, &mut buf, 10).unwrap());
        let mut zeros = io::BufReader::new(io::repeat(0));
        let err = read_line(&mut zeros, &mut buf, 10).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    }
}
