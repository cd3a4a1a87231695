//! The integration tests of warmcheck-conformance, in one binary: each module is one former
//! test file (`tests/NAME.rs`, now `tests/it/NAME.rs`), `common` what they share. One binary
//! instead of 23 is compiled and linked once (each linked the implementation, the model and
//! stateright): `docs/performance.md`, "CI". `cargo test -p warmcheck-conformance --test it
//! NAME` runs the tests whose path contains NAME, e.g. `reports::` for a whole file.
//!
//! Four test files keep a binary of their own, each a libtest-mimic harness
//! (`harness = false` in Cargo.toml) that a `#[test]` cannot be: `counterexamples` (one test
//! case per story file), `docs` (one per documented command), `explorer_browser` and
//! `python_sut` (ignored at run time, with the reason, where Chromium or python3 is missing).
//! `crash_kill` is a binary of its own for another reason: it holds a data directory's lock in
//! this process while its children must take it, and a child any other test forks holds a copy
//! of that lock until it execs; here, every test that runs warmcheck would race it. And
//! `peak_memory` measures children's peak memory, which includes their parent's at the spawn:
//! this process, running every test here, is too big a parent.

mod bad_input;
mod ci_gate_doc;
mod cli;
mod common;
mod conform_walk;
mod dfs_threads;
mod expect;
mod extending;
mod files_and_processes;
mod fuzz;
mod levels;
mod mismatch_explained;
#[path = "../../../impl/tests/it/mutate.rs"]
mod mutate;
mod reports;
mod schemas;
mod sensitivity;
mod shards;
mod soak;
mod stories;
mod sut_cleanup;
mod sut_onramp;
mod sut_protocol;
mod validate;
mod validate_results;
mod validate_stateless;
