//! The scenario data-file format: a script's chunks (comments, blank lines, directives with
//! their expected blocks), and rendering a run's outputs back into the same format.

use std::collections::BTreeMap;

/// One piece of a scenario file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Chunk {
    /// A comment or blank line, kept as it is.
    Verbatim(String),
    /// A directive (1-based line number) and the expected block under it, if any (without
    /// the `----` line and the closing blank line).
    Directive {
        line: usize,
        text: String,
        expected: Option<Vec<String>>,
    },
}

/// Split a scenario file into comments, directives and their expected blocks.
pub fn parse_data(text: &str) -> Vec<Chunk> {
    let lines: Vec<&str> = text.lines().collect();
    let mut chunks = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            chunks.push(Chunk::Verbatim(line.to_string()));
            i += 1;
            continue;
        }
        let line_no = i + 1;
        i += 1;
        let mut expected = None;
        if lines.get(i).is_some_and(|l| l.trim() == "----") {
            i += 1;
            let mut block = Vec::new();
            while i < lines.len() && !lines[i].trim().is_empty() {
                block.push(lines[i].to_string());
                i += 1;
            }
            i += 1; // the closing blank line
            expected = Some(block);
        }
        chunks.push(Chunk::Directive {
            line: line_no,
            text: trimmed.to_string(),
            expected,
        });
    }
    chunks
}

/// Render chunks with each directive's output block (`outputs[k]` for the k-th directive).
pub fn render_data(chunks: &[Chunk], outputs: &[Vec<String>]) -> String {
    let mut out = String::new();
    let mut k = 0;
    for i in 0..chunks.len() {
        let output = match chunks[i] {
            Chunk::Directive { .. } => {
                k += 1;
                Some(outputs[k - 1].as_slice())
            }
            Chunk::Verbatim(_) => None,
        };
        out += &render_chunk(chunks, i, output);
    }
    out
}

/// Render `chunks[i]`, with `output` under it if it is a directive.
pub(super) fn render_chunk(chunks: &[Chunk], i: usize, output: Option<&[String]>) -> String {
    let mut out = String::new();
    match &chunks[i] {
        Chunk::Verbatim(l) => {
            out.push_str(l);
            out.push('\n');
        }
        Chunk::Directive { text, .. } => {
            out.push_str(text);
            out.push_str("\n----\n");
            for l in output.unwrap_or_default() {
                out.push_str(l);
                out.push('\n');
            }
            // The blank line closing the block, unless one follows anyway (or the file ends).
            let next_is_blank = match chunks.get(i + 1) {
                None => true,
                Some(Chunk::Verbatim(l)) => l.trim().is_empty(),
                Some(Chunk::Directive { .. }) => false,
            };
            if !next_is_blank {
                out.push('\n');
            }
        }
    }
    out
}

/// Group per-variant outputs of one directive: one shared block if they agree, else a
/// `[variant]` group per variant.
pub fn merge_variant_outputs(per_variant: &[(String, Vec<String>)]) -> Vec<String> {
    let first = &per_variant[0].1;
    if per_variant.iter().all(|(_, o)| o == first) {
        return first.clone();
    }
    let mut out = Vec::new();
    for (name, lines) in per_variant {
        out.push(format!("[{name}]"));
        out.extend(lines.iter().cloned());
    }
    out
}

/// The expected lines for `variant` in a block written by [`merge_variant_outputs`].
pub fn expected_for_variant(block: &[String], variant: &str, variants: &[String]) -> Vec<String> {
    let header = |l: &str| {
        l.strip_prefix('[')
            .and_then(|l| l.strip_suffix(']'))
            .filter(|n| variants.iter().any(|v| v == n))
            .map(str::to_string)
    };
    if block.first().and_then(|l| header(l)).is_none() {
        return block.to_vec();
    }
    let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut current = String::new();
    for l in block {
        match header(l) {
            Some(n) => {
                current = n;
                groups.entry(current.clone()).or_default();
            }
            None => groups.entry(current.clone()).or_default().push(l.clone()),
        }
    }
    groups.remove(variant).unwrap_or_default()
}
