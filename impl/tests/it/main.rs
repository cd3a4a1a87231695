//! The integration tests of warmcheck-impl, in one binary: each module is one former test
//! file (`tests/NAME.rs`, now `tests/it/NAME.rs`); `storage_common` and `mutate` are what they
//! share. One binary instead of 10 is compiled and linked once (`docs/performance.md`, "CI").
//! `cargo test -p warmcheck-impl --test it NAME` runs the tests whose path contains NAME, e.g.
//! `storage_crash::` for a whole file.
//!
//! `scenarios` keeps a binary of its own: a libtest-mimic harness (`harness = false`) with one
//! test case per story file of `testdata/`, which a `#[test]` cannot be.

mod bad_input;
mod engine;
mod fuzz;
mod image;
mod mutate;
mod random_walk;
mod storage_common;
mod storage_crash;
mod storage_lock;
mod storage_prop;
mod storage_stats;
mod storage_vbfile;
