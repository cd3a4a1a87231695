//! Accepted verdicts: `warmcheck check --expect FILE` and `--write-expected FILE`
//! (`docs/ci-gate.md`, "Gating on accepted verdicts").
//!
//! The file is text, one line per property, `VERDICT: NAME`:
//!
//! ```text
//! # warmcheck check --write-expected: design `current` within 1 vbucket, ...
//! violated in 17 steps: no replica diverges
//! holds: failover tables are well formed
//! reached: the active crashes during warmup
//! ```
//!
//! `VERDICT` is `holds`, `violated in N steps`, `reached` or `unreached`. Lines starting with
//! `#` and blank lines are ignored. A check with `--expect` passes (exit 0) when each property
//! it checked has exactly the verdict the file gives it and the file names no property the
//! check has not, whatever the verdicts themselves are; otherwise it prints the differences and
//! exits 1. State counts are not part of it: they change with every model refinement that
//! leaves the verdicts alone.

use crate::check::PropertyResult;
use std::path::Path;

/// An expect file is one line per property: anything this large is not one.
pub const MAX_BYTES: u64 = 1 << 20;

/// One property's verdict as the file states it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Holds,
    Violated(usize),
    Reached,
    Unreached,
    /// Not decided: the run stopped early. Never in a file; only ever a difference.
    Unknown,
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Verdict::Holds => f.write_str("holds"),
            Verdict::Violated(n) => write!(f, "violated in {n} steps"),
            Verdict::Reached => f.write_str("reached"),
            Verdict::Unreached => f.write_str("unreached"),
            Verdict::Unknown => f.write_str("unknown"),
        }
    }
}

impl Verdict {
    pub fn of(p: &PropertyResult) -> Verdict {
        match p.status.as_str() {
            "holds" => Verdict::Holds,
            "violated" => Verdict::Violated(p.steps.unwrap_or(0)),
            "reached" => Verdict::Reached,
            "unreached" => Verdict::Unreached,
            _ => Verdict::Unknown,
        }
    }

    fn parse(s: &str) -> Result<Verdict, String> {
        match s {
            "holds" => return Ok(Verdict::Holds),
            "reached" => return Ok(Verdict::Reached),
            "unreached" => return Ok(Verdict::Unreached),
            _ => {}
        }
        let steps = s
            .strip_prefix("violated in ")
            .and_then(|r| r.strip_suffix(" steps").or_else(|| r.strip_suffix(" step")))
            .ok_or_else(|| {
                format!(
                    "unknown verdict {s:?}: expected holds, violated in N steps, reached or \
                     unreached"
                )
            })?;
        match steps.parse::<usize>() {
            Ok(n) if n > 0 => Ok(Verdict::Violated(n)),
            _ => Err(format!("{steps:?} is not a number of steps (1 or more)")),
        }
    }
}

/// The verdicts of a file, in its order: (property, verdict).
pub type Expected = Vec<(String, Verdict)>;

/// Parse an expect file's text; errors name the line (`FILE:LINE: ...` once the caller adds
/// the file).
pub fn parse(text: &str) -> Result<Expected, String> {
    let mut out: Expected = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let at = |e: String| format!("line {}: {e}", i + 1);
        let (verdict, name) = line.split_once(": ").ok_or_else(|| {
            at(format!(
                "expected `VERDICT: PROPERTY` (e.g. `holds: failover tables are well formed`), \
                 got {line:?}"
            ))
        })?;
        let verdict = Verdict::parse(verdict.trim()).map_err(at)?;
        let name = name.trim();
        if name.is_empty() {
            return Err(at("no property name after the verdict".to_string()));
        }
        if out.iter().any(|(n, _)| n == name) {
            return Err(at(format!("property {name:?} is listed twice")));
        }
        out.push((name.to_string(), verdict));
    }
    if out.is_empty() {
        return Err(
            "no verdict lines (write one with `warmcheck check --write-expected FILE`)".to_string(),
        );
    }
    Ok(out)
}

/// Read and parse `path`; every error names the file (and the line).
pub fn read(path: &Path) -> Result<Expected, String> {
    let name = path.display();
    let meta = std::fs::metadata(path).map_err(|e| format!("{name}: cannot read: {e}"))?;
    if !meta.is_file() {
        return Err(format!("{name}: not a file"));
    }
    if meta.len() > MAX_BYTES {
        return Err(format!(
            "{name}: {} bytes; an expect file is one line per property (at most {MAX_BYTES} \
             bytes)",
            meta.len()
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| format!("{name}: cannot read: {e}"))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let line = e.as_bytes()[..at].iter().filter(|b| **b == b'\n').count() + 1;
        format!("{name}:{line}: not UTF-8 (byte {at})")
    })?;
    parse(&text).map_err(|e| match e.strip_prefix("line ") {
        Some(rest) => format!("{name}:{rest}"),
        None => format!("{name}: {e}"),
    })
}

/// The file's text for these results: a comment saying what was checked, then one line per
/// property in the check's order.
pub fn render(header: &str, properties: &[PropertyResult]) -> String {
    let mut out = String::new();
    for line in header.lines() {
        out += &format!("# {line}\n");
    }
    for p in properties {
        out += &format!("{}: {}\n", Verdict::of(p), p.name);
    }
    out
}

/// The differences between the accepted verdicts and this run's, as diff lines (`-` the
/// file's, `+` this run's); empty when they agree. `checked_all`: the run checked every
/// property (no `--property`), so a property the file names and the run lacks is a difference.
pub fn compare(
    expected: &Expected,
    properties: &[PropertyResult],
    checked_all: bool,
) -> Vec<String> {
    let mut out = Vec::new();
    for p in properties {
        let got = Verdict::of(p);
        match expected.iter().find(|(n, _)| *n == p.name) {
            Some((_, want)) if *want == got => {}
            Some((_, want)) => {
                out.push(format!("- {want}: {}", p.name));
                out.push(format!("+ {got}: {}", p.name));
            }
            None => out.push(format!("+ {got}: {} (not in the file)", p.name)),
        }
    }
    if checked_all {
        for (name, want) in expected {
            if !properties.iter().any(|p| p.name == *name) {
                out.push(format!("- {want}: {name} (no such property in this check)"));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(name: &str, status: &str, steps: Option<usize>) -> PropertyResult {
        PropertyResult {
            name: name.to_string(),
            expectation: "always".to_string(),
            status: status.to_string(),
            steps,
            shortest: steps.is_some(),
            seconds: 0.0,
            trace: None,
            ruled_out: None,
        }
    }

    #[test]
    fn render_then_parse_gives_the_same_verdicts() {
        let props = vec![
            result("no replica diverges", "violated", Some(17)),
            result("failover tables are well formed", "holds", None),
            result("a replica rolls back", "reached", None),
            result("a clean shutdown completes", "unreached", None),
        ];
        let text = render("design `current`\nwithin the default bounds", &props);
        assert!(text.starts_with("# design `current`\n# within"), "{text}");
        let parsed = parse(&text).unwrap();
        assert_eq!(parsed.len(), 4);
        assert_eq!(
            parsed[0],
            ("no replica diverges".into(), Verdict::Violated(17))
        );
        assert!(compare(&parsed, &props, true).is_empty());
    }

    #[test]
    fn every_kind_of_change_is_a_difference() {
        let expected =
            parse("violated in 17 steps: a\nholds: b\nreached: c\nholds: gone\n").unwrap();
        let props = vec![
            result("a", "violated", Some(16)), // a changed length
            result("b", "violated", Some(3)),  // a new violation
            result("c", "reached", None),      // unchanged
            result("new", "holds", None),      // not in the file
        ];
        let d = compare(&expected, &props, true);
        assert_eq!(
            d,
            vec![
                "- violated in 17 steps: a",
                "+ violated in 16 steps: a",
                "- holds: b",
                "+ violated in 3 steps: b",
                "+ holds: new (not in the file)",
                "- holds: gone (no such property in this check)",
            ]
        );
        // A fix is a difference too; with --property the file's other lines are not asked.
        let fixed = vec![result("a", "holds", None)];
        assert_eq!(compare(&expected, &fixed, false).len(), 2);
        // A partial run's unknown verdict never matches.
        let unknown = vec![result("b", "unknown", None)];
        assert_eq!(
            compare(&expected, &unknown, false),
            vec!["- holds: b", "+ unknown: b"]
        );
    }

    #[test]
    fn bad_lines_are_refused_with_their_line_number() {
        for (text, want) in [
            ("", "no verdict lines"),
            ("# only a comment\n\n", "no verdict lines"),
            (
                "holds failover tables",
                "line 1: expected `VERDICT: PROPERTY`",
            ),
            ("\nmaybe: x", "line 2: unknown verdict \"maybe\""),
            ("violated: x", "line 1: unknown verdict"),
            (
                "violated in many steps: x",
                "line 1: \"many\" is not a number",
            ),
            ("violated in 0 steps: x", "line 1: \"0\" is not a number"),
            (
                "violated in 99999999999999999999999 steps: x",
                "is not a number",
            ),
            (
                "holds: x\nreached: x",
                "line 2: property \"x\" is listed twice",
            ),
            ("unknown: x", "unknown verdict \"unknown\""),
            ("holds:  ", "expected `VERDICT: PROPERTY`"),
        ] {
            let e = parse(text).unwrap_err();
            assert!(e.contains(want), "{text:?}: {e}");
        }
    }
}
