//! The commands `README.md` and `docs/tutorial.md` show run, and print what the docs say they
//! print.
//!
//! The convention (the tutorial states it for its readers too):
//!
//! - A ` ```console ` block is run; any other block (` ```sh `, ` ``` `) is shown, not run.
//! - In a console block, a line `$ warmcheck ARGS` (continued over lines ending in `\`) runs the
//!   binary this test was built with, with `ARGS` split as a shell would; the lines up to the
//!   next `$ ` line are its standard output (standard error, where progress goes, is not
//!   shown). `$ echo $?` prints the previous command's exit status. No other command runs.
//!   A doc's blocks run in order in one empty directory, as a reader would run them, so a
//!   later command reads the files an earlier one wrote (`warmcheck-traces/`); slow blocks run
//!   apart from the others, in a directory of their own, and may not need them.
//! - `…` in an output line stands for text that varies between runs: it matches any text. The
//!   test writes it itself for what always varies (timings, the total `states` and the
//!   `max depth` of a check on several threads, temporary directories' random names); a doc
//!   may write it for more.
//! - ` ```console slow `: a block that takes minutes (a check at the default bounds). Its test
//!   case, `<doc>_slow`, is ignored by default; CI runs it
//!   (`cargo test -p warmcheck-conformance --test docs -- --ignored`).
//! - `WARMCHECK_BIN=PATH` runs that binary instead of the one built with the test (say
//!   `target/release/warmcheck`, for the slow blocks).
//! - `REWRITE=1` (the repository's one meaning, `warmcheck-testkit`) writes each block's output
//!   from this run, keeping a doc's `…` on every line that still matches it; review the change
//!   with `git diff`.

use libtest_mimic::{Arguments, Trial};
use regex::Regex;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{LazyLock, Mutex};

/// The docs whose console blocks run, by test name.
const DOCS: [(&str, &str); 2] = [("readme", "README.md"), ("tutorial", "docs/tutorial.md")];

/// The stand-in for text that varies between runs.
const VARIES: &str = "…";

fn main() {
    let args = Arguments::from_args();
    let mut trials = vec![Trial::test(
        "the_convention_reads_blocks_and_matches_lines",
        || Ok(the_convention_reads_blocks_and_matches_lines()?),
    )];
    for (name, file) in DOCS {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(file);
        let blocks = match std::fs::read_to_string(&path)
            .map_err(|e| format!("{file}: cannot read: {e}"))
            .and_then(|text| parse(file, &text))
        {
            Ok(b) => b,
            Err(e) => {
                trials.push(Trial::test(name, move || Err(e.into())));
                continue;
            }
        };
        for slow in [false, true] {
            let chosen: Vec<usize> = (0..blocks.len())
                .filter(|&i| blocks[i].slow == slow)
                .collect();
            if chosen.is_empty() {
                continue;
            }
            let path = path.clone();
            let trial_name = if slow {
                format!("{name}_slow")
            } else {
                name.to_string()
            };
            let trial = Trial::test(trial_name, move || Ok(run_blocks(&path, &chosen)?));
            trials.push(if slow {
                trial.with_kind("slow").with_ignored_flag(true)
            } else {
                trial
            });
        }
    }
    libtest_mimic::run(&args, trials).exit();
}

/// A console block: its commands, and where it stands in the doc.
#[derive(Debug, PartialEq)]
struct Block {
    /// The line (0-based) of the opening fence; the body follows it.
    fence: usize,
    /// The number of lines in the body, the closing fence excluded.
    len: usize,
    slow: bool,
    commands: Vec<Shown>,
}

/// A command as the doc shows it.
#[derive(Debug, PartialEq)]
struct Shown {
    /// The command's lines as written, `$ ` and continuations included.
    source: Vec<String>,
    /// What follows `$ `, continuations joined.
    command: String,
    /// The output lines the doc shows.
    output: Vec<String>,
}

/// The console blocks of a doc, or an error naming the line that breaks the convention.
fn parse(file: &str, text: &str) -> Result<Vec<Block>, String> {
    let lines: Vec<&str> = text.lines().collect();
    let mut blocks = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let Some(info) = lines[i].strip_prefix("```") else {
            i += 1;
            continue;
        };
        let close = (i + 1..lines.len())
            .find(|&j| lines[j].trim_end() == "```")
            .ok_or_else(|| format!("{file}:{}: a code block that is never closed", i + 1))?;
        let mut words = info.split_whitespace();
        if words.next() == Some("console") {
            let slow = match words.next() {
                None => false,
                Some("slow") => true,
                Some(other) => {
                    return Err(format!(
                        "{file}:{}: unknown console block mark {other:?} (only `slow`)",
                        i + 1
                    ))
                }
            };
            let commands = parse_body(file, i + 1, &lines[i + 1..close])?;
            blocks.push(Block {
                fence: i,
                len: close - i - 1,
                slow,
                commands,
            });
        }
        i = close + 1;
    }
    Ok(blocks)
}

/// The commands of a console block's body, which starts at line `first` (0-based).
fn parse_body(file: &str, first: usize, body: &[&str]) -> Result<Vec<Shown>, String> {
    let mut commands: Vec<Shown> = Vec::new();
    let mut i = 0;
    while i < body.len() {
        let Some(start) = body[i].strip_prefix("$ ") else {
            match commands.last_mut() {
                Some(c) => c.output.push(body[i].to_string()),
                None => {
                    return Err(format!(
                        "{file}:{}: a console block starts with a `$ ` command line",
                        first + i + 1
                    ))
                }
            }
            i += 1;
            continue;
        };
        let mut source = vec![body[i].to_string()];
        let mut command = start.to_string();
        while command.ends_with('\\') {
            i += 1;
            let next = body.get(i).ok_or_else(|| {
                format!(
                    "{file}:{}: the block ends inside a continued command",
                    first + i
                )
            })?;
            command.pop();
            command.push(' ');
            command.push_str(next.trim_start());
            source.push(next.to_string());
        }
        if command != "echo $?" && !command.starts_with("warmcheck ") {
            return Err(format!(
                "{file}:{}: only `$ warmcheck ARGS` and `$ echo $?` run in a console block, \
                 not `{command}` (show it in a ```sh block)",
                first + i + 1
            ));
        }
        commands.push(Shown {
            source,
            command,
            output: Vec::new(),
        });
        i += 1;
    }
    Ok(commands)
}

/// Run the blocks `chosen` of the doc at `path` in order, in one new directory; compare their
/// outputs with the doc's, or under `REWRITE=1` write them into it.
fn run_blocks(path: &Path, chosen: &[usize]) -> Result<(), String> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| format!("{file}: cannot read: {e}"))?;
    let blocks = parse(&file, &text)?;
    let dir = tempfile::tempdir().map_err(|e| format!("cannot make a directory: {e}"))?;
    let mut failures = Vec::new();
    for &b in chosen {
        let block = &blocks[b];
        let outputs = run_block(block, dir.path())?;
        let mut differs = false;
        for (shown, actual) in block.commands.iter().zip(&outputs) {
            if !output_matches(&shown.output, actual) {
                differs = true;
                failures.push(format!(
                    "{file}:{}: `{}` printed something else (- the doc, + this run; `{VARIES}` \
                     matches any text):\n{}",
                    block.fence + 1,
                    shown.command,
                    warmcheck_testkit::diff(
                        &(shown.output.join("\n") + "\n"),
                        &(actual.join("\n") + "\n")
                    )
                ));
            }
        }
        if differs && warmcheck_testkit::rewrite_requested() {
            rewrite_block(path, b, &outputs)?;
        }
    }
    if failures.is_empty() || warmcheck_testkit::rewrite_requested() {
        Ok(())
    } else {
        Err(format!(
            "{}\n({}=1 writes this run's outputs into the doc; review with git diff)",
            failures.join("\n"),
            warmcheck_testkit::REWRITE
        ))
    }
}

/// Run a block's commands in order in `dir`; each one's output, masked.
fn run_block(block: &Block, dir: &Path) -> Result<Vec<Vec<String>>, String> {
    let mut status = None;
    let mut outputs = Vec::new();
    for shown in &block.commands {
        if shown.command == "echo $?" {
            let code = status.ok_or("`echo $?` before any command")?;
            outputs.push(vec![format!("{code}")]);
            continue;
        }
        let args = shlex::split(&shown.command["warmcheck ".len()..])
            .ok_or_else(|| format!("`{}`: unbalanced quotes", shown.command))?;
        let out = Command::new(binary())
            .args(&args)
            .current_dir(dir)
            .env("TMPDIR", "/tmp")
            .stdin(Stdio::null())
            .output()
            .map_err(|e| {
                format!(
                    "`{}`: cannot run {}: {e}",
                    shown.command,
                    binary().display()
                )
            })?;
        let code = out
            .status
            .code()
            .ok_or_else(|| format!("`{}` was killed ({})", shown.command, out.status))?;
        if code == 2 {
            return Err(format!(
                "`{}` refused its arguments (exit 2): {}",
                shown.command,
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        status = Some(code);
        let stdout = String::from_utf8_lossy(&out.stdout);
        outputs.push(stdout.lines().map(mask).collect());
    }
    Ok(outputs)
}

/// The binary the commands run: the one built with this test, or `WARMCHECK_BIN` (say
/// `target/release/warmcheck`, faster for the slow blocks; it must be built from this tree). A
/// relative path is the workspace root's, where `cargo test` is typed (cargo runs the test in
/// `conformance/`, and the commands in a temporary directory).
fn binary() -> std::path::PathBuf {
    match std::env::var_os("WARMCHECK_BIN") {
        Some(bin) => {
            let bin = std::path::PathBuf::from(bin);
            if bin.is_relative() {
                std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("..")
                    .join(bin)
            } else {
                bin
            }
        }
        None => env!("CARGO_BIN_EXE_warmcheck").into(),
    }
}

/// What always varies between runs, replaced by `…`.
static MASKS: LazyLock<Vec<(Regex, &str)>> = LazyLock::new(|| {
    [
        // The counts line of a check: the timings; the total of generated states, and the
        // depth at which each state was first reached, which depend on how several threads
        // interleave (the unique states of a complete run do not vary).
        (r"^(\S+ +)?states \d+,", "${1}states …,"),
        (r"unique states/s \d+", "unique states/s …"),
        (r"max depth \d+", "max depth …"),
        (r"seconds \d+(\.\d+)?", "seconds …"),
        // tempfile's random suffix of a temporary directory.
        (r"(warmcheck-[a-z]+-)[A-Za-z0-9]{6}\b", "${1}…"),
    ]
    .into_iter()
    .map(|(re, with)| (Regex::new(re).expect("mask"), with))
    .collect()
});

fn mask(line: &str) -> String {
    let mut out = line.to_string();
    for (re, with) in MASKS.iter() {
        out = re.replace_all(&out, *with).into_owned();
    }
    out
}

fn output_matches(shown: &[String], actual: &[String]) -> bool {
    shown.len() == actual.len() && shown.iter().zip(actual).all(|(s, a)| line_matches(s, a))
}

/// Whether `line` is `pattern` with each `…` standing for any text (empty included).
fn line_matches(pattern: &str, line: &str) -> bool {
    let parts: Vec<&str> = pattern.split(VARIES).collect();
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if parts.len() == 1 {
        return pattern == line;
    }
    let Some(mut rest) = line.strip_prefix(first) else {
        return false;
    };
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(at) => rest = &rest[at + middle.len()..],
            None => return false,
        }
    }
    rest.ends_with(last)
}

/// The doc's lines for an output: the doc's own line where it still matches (keeping its `…`),
/// this run's otherwise.
fn merged(shown: &[String], actual: &[String]) -> Vec<String> {
    if shown.len() != actual.len() {
        return actual.to_vec();
    }
    shown
        .iter()
        .zip(actual)
        .map(|(s, a)| if line_matches(s, a) { s } else { a }.clone())
        .collect()
}

/// Several trials may rewrite one doc: one at a time, each on the doc as the last one left it.
static REWRITING: Mutex<()> = Mutex::new(());

/// Write `outputs` as the outputs of the doc's console block number `b`.
fn rewrite_block(path: &Path, b: usize, outputs: &[Vec<String>]) -> Result<(), String> {
    let _one_at_a_time = REWRITING.lock().unwrap_or_else(|e| e.into_inner());
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| format!("{file}: cannot read: {e}"))?;
    let blocks = parse(&file, &text)?;
    let block = blocks
        .get(b)
        .ok_or_else(|| format!("{file}: console block {b} is gone"))?;
    let mut body = Vec::new();
    for (shown, actual) in block.commands.iter().zip(outputs) {
        body.extend(shown.source.iter().cloned());
        body.extend(merged(&shown.output, actual));
    }
    let lines: Vec<&str> = text.lines().collect();
    let mut out: Vec<&str> = lines[..=block.fence].to_vec();
    out.extend(body.iter().map(String::as_str));
    out.extend(&lines[block.fence + 1 + block.len..]);
    let mut new = out.join("\n");
    if text.ends_with('\n') {
        new.push('\n');
    }
    std::fs::write(path, new).map_err(|e| format!("{file}: cannot rewrite: {e}"))?;
    eprintln!(
        "rewrote a console block of {file} (line {})",
        block.fence + 1
    );
    Ok(())
}

/// The convention's own rules, on a small doc.
fn the_convention_reads_blocks_and_matches_lines() -> Result<(), String> {
    let doc = "text\n```sh\n$ cargo build\n```\n```console slow\n$ warmcheck check \\\n    --property \"a b\"\nout 1\n$ echo $?\n1\n```\n";
    let blocks = parse("doc.md", doc)?;
    let want = vec![Block {
        fence: 4,
        len: 5,
        slow: true,
        commands: vec![
            Shown {
                source: vec![
                    "$ warmcheck check \\".into(),
                    "    --property \"a b\"".into(),
                ],
                command: "warmcheck check  --property \"a b\"".into(),
                output: vec!["out 1".into()],
            },
            Shown {
                source: vec!["$ echo $?".into()],
                command: "echo $?".into(),
                output: vec!["1".into()],
            },
        ],
    }];
    if blocks != want {
        return Err(format!("parsed {blocks:?}"));
    }
    for bad in [
        "```console\nout\n```\n",
        "```console\n$ ls\n```\n",
        "```console x\n```\n",
    ] {
        if parse("doc.md", bad).is_ok() {
            return Err(format!("accepted {bad:?}"));
        }
    }
    let cases = [
        ("seconds …", "seconds 1.5", true),
        ("a … b … c", "a x b y c", true),
        ("a … c", "a x b", false),
        ("exact", "exact", true),
        ("exact", "other", false),
        ("…/vb0", "/tmp/x/vb0", true),
    ];
    for (pattern, line, want) in cases {
        if line_matches(pattern, line) != want {
            return Err(format!("{pattern:?} ~ {line:?} should be {want}"));
        }
    }
    let counts = "states 12, unique states 7, unique states/s 70, max depth 4, seconds 0.10";
    if mask(counts) != "states …, unique states 7, unique states/s …, max depth …, seconds …"
    {
        return Err(format!("masked {:?}", mask(counts)));
    }
    if mask("/tmp/warmcheck-replay-1r1gjN/data") != "/tmp/warmcheck-replay-…/data" {
        return Err("the temporary directory's name is not masked".into());
    }
    Ok(())
}
