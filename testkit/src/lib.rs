//! warmcheck-testkit: the one harness behind the story files, `impl/testdata/*.txt` (run by
//! `impl/tests/scenarios.rs`) and `conformance/testdata/*.txt` (run by
//! `conformance/tests/counterexamples.rs`), and behind the files the tests regenerate
//! (`docs/schemas/*.schema.json`). A dev-dependency only: it knows nothing of the model or of the
//! implementation.
//!
//! - Each story file is its own test case, named after the file without `.txt`, so
//!   `cargo test -p warmcheck-conformance --test counterexamples mb41942` runs only the stories
//!   whose name contains `mb41942` (libtest's usual filter; `--exact NAME` for one).
//! - A story's expected output lives in the file itself. The test runs the story, builds the
//!   text the file should hold, and fails with a line diff (from the `similar` crate) when the
//!   file holds something else.
//! - `REWRITE=1` (any value but empty or `0`) writes that text over the file instead, so a
//!   deliberate change of output is accepted with `REWRITE=1 cargo test ...` and reviewed with
//!   `git diff`. A story's other claims (a replay that must match, a property that must be
//!   violated) still fail the test under `REWRITE=1`: rewriting never hides them.
//!
//! A test file using it sets `harness = false` for itself in its crate's `Cargo.toml` and has
//! a `main` calling [`run_stories`] with its directory, its [`Story`] runner and any other test
//! cases (as [`Trial`]s: a `#[test]` function in such a file would not run).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

pub use libtest_mimic::{Failed, Trial};

/// The environment variable that turns comparison into rewriting.
pub const REWRITE: &str = "REWRITE";

/// Whether `REWRITE` asks for expected output to be rewritten: set, and neither empty nor `0`.
pub fn rewrite_requested() -> bool {
    rewrite_value_means_rewrite(std::env::var_os(REWRITE).as_deref())
}

fn rewrite_value_means_rewrite(value: Option<&std::ffi::OsStr>) -> bool {
    value.is_some_and(|v| !v.is_empty() && v != "0")
}

/// What running one story gives.
pub struct Run {
    /// The text the file should hold: its input as it is, its expected output regenerated from
    /// this run.
    pub text: String,
    /// The story's claims beyond its text; an error fails the test even under `REWRITE=1`.
    pub claims: Result<(), String>,
}

/// A story runner: the file's path and text in, the run out; `Err` when the story cannot be
/// run at all (a parse error naming the line, say).
pub type Story = fn(&Path, &str) -> Result<Run, String>;

/// The story files of `dir` (relative to the test's crate): every `*.txt`, sorted by name.
pub fn story_files(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| format!("{}: cannot list: {e}", dir.display()))?;
    let mut paths = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(|e| format!("{}: cannot list: {e}", dir.display()))?
            .path();
        if path.extension().is_some_and(|e| e == "txt") {
            paths.push(path);
        }
    }
    paths.sort();
    if paths.is_empty() {
        return Err(format!("no story files (*.txt) in {}", dir.display()));
    }
    Ok(paths)
}

/// A story file's test name: its file name without `.txt`, which must be lower_snake_case.
pub fn story_name(path: &Path) -> Result<String, String> {
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    if stem.is_empty()
        || !stem
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        return Err(format!(
            "{}: story files are named in lower_snake_case after their story",
            path.display()
        ));
    }
    Ok(stem.to_string())
}

/// Check one story file: run it, then compare (or, under `REWRITE=1`, rewrite) its text.
pub fn check_story(path: &Path, story: Story) -> Result<(), String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    let run = story(path, &text)?;
    if rewrite_requested() {
        expect_file(path, &run.text)?;
        return run.claims;
    }
    run.claims?;
    expect_file(path, &run.text)
}

/// `path` should hold `actual`. Under `REWRITE=1` it is made to (and the change printed);
/// otherwise a difference is an error carrying the diff.
pub fn expect_file(path: &Path, actual: &str) -> Result<(), String> {
    compare_or_rewrite(path, actual, rewrite_requested())
}

fn compare_or_rewrite(path: &Path, actual: &str, rewrite: bool) -> Result<(), String> {
    let current = match std::fs::read_to_string(path) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(format!("{}: cannot read: {e}", path.display())),
    };
    if current.as_deref() == Some(actual) {
        return Ok(());
    }
    if rewrite {
        std::fs::write(path, actual)
            .map_err(|e| format!("{}: cannot rewrite: {e}", path.display()))?;
        eprintln!("rewrote {}", path.display());
        return Ok(());
    }
    Err(format!(
        "{} differs from what the test produces ({REWRITE}=1 rewrites it; review the change \
         with git diff):\n{}",
        path.display(),
        diff(current.as_deref().unwrap_or(""), actual)
    ))
}

/// A unified line diff of `expected` (the file) against `actual` (this run), three lines of
/// context; empty when they are equal.
pub fn diff(expected: &str, actual: &str) -> String {
    if expected == actual {
        return String::new();
    }
    similar::TextDiff::from_lines(expected, actual)
        .unified_diff()
        .context_radius(3)
        .header("expected", "actual")
        .to_string()
}

/// The test binary's `main`: one test case per story file in `dir`, plus `extra` test cases,
/// run with libtest's command line (filters, `--exact`, `--ignored`, `--list`,
/// `--test-threads`).
pub fn run_stories(dir: &Path, story: Story, extra: Vec<Trial>) -> ExitCode {
    let args = libtest_mimic::Arguments::from_args();
    let mut trials = match story_files(dir) {
        Ok(paths) => paths
            .into_iter()
            .map(|path| match story_name(&path) {
                Ok(name) => Trial::test(name, move || Ok(check_story(&path, story)?)),
                Err(e) => Trial::test(path.display().to_string(), move || Err(e.into())),
            })
            .collect(),
        Err(e) => vec![Trial::test("story_files", move || Err(e.into()))],
    };
    trials.extend(extra);
    libtest_mimic::run(&args, trials).exit_code()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    #[test]
    fn rewrite_means_set_and_neither_empty_nor_zero() {
        let means = |v: Option<&str>| rewrite_value_means_rewrite(v.map(OsStr::new));
        assert!(means(Some("1")));
        assert!(means(Some("yes")));
        assert!(!means(None));
        assert!(!means(Some("")));
        assert!(!means(Some("0")));
    }

    #[test]
    fn the_diff_shows_changed_lines_with_context() {
        let expected = "a\nb\nc\nd\ne\nf\ng\nh\n";
        let actual = "a\nb\nc\nd\nE\nf\ng\nh\n";
        assert_eq!(diff(expected, expected), "");
        assert_eq!(
            diff(expected, actual),
            "--- expected\n+++ actual\n@@ -2,7 +2,7 @@\n b\n c\n d\n-e\n+E\n f\n g\n h\n"
        );
    }

    #[test]
    fn story_names_are_lower_snake_case_stems() {
        assert_eq!(
            story_name(Path::new("testdata/mb41942_expiry.txt")),
            Ok("mb41942_expiry".to_string())
        );
        assert!(story_name(Path::new("testdata/MB41942.txt"))
            .unwrap_err()
            .contains("lower_snake_case"));
        assert!(story_name(Path::new("testdata/a-b.txt")).is_err());
    }

    #[test]
    fn a_difference_fails_with_the_diff_unless_rewriting() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("story.txt");
        std::fs::write(&path, "same\nold\n").unwrap();
        assert_eq!(compare_or_rewrite(&path, "same\nold\n", false), Ok(()));
        let err = compare_or_rewrite(&path, "same\nnew\n", false).unwrap_err();
        assert!(err.contains("REWRITE=1 rewrites it"), "{err}");
        assert!(
            err.ends_with("@@ -1,2 +1,2 @@\n same\n-old\n+new\n"),
            "{err}"
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "same\nold\n");
        assert_eq!(compare_or_rewrite(&path, "same\nnew\n", true), Ok(()));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "same\nnew\n");
        // A file that does not exist yet is all difference, or written when rewriting.
        let fresh = tmp.path().join("fresh.json");
        assert!(compare_or_rewrite(&fresh, "{}\n", false).is_err());
        assert_eq!(compare_or_rewrite(&fresh, "{}\n", true), Ok(()));
        assert_eq!(std::fs::read_to_string(&fresh).unwrap(), "{}\n");
    }

    #[test]
    fn a_missing_directory_or_an_empty_one_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let tmp = dir.path().join("testdata");
        assert!(story_files(&tmp).unwrap_err().contains("cannot list"));
        std::fs::create_dir_all(&tmp).unwrap();
        assert!(story_files(&tmp).unwrap_err().starts_with("no story files"));
        std::fs::write(tmp.join("b.txt"), "").unwrap();
        std::fs::write(tmp.join("a.txt"), "").unwrap();
        std::fs::write(tmp.join("notes.md"), "").unwrap();
        let names: Vec<String> = story_files(&tmp)
            .unwrap()
            .iter()
            .map(|p| story_name(p).unwrap())
            .collect();
        assert_eq!(names, ["a", "b"]);
    }
}
