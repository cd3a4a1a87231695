//! warmcheck-conformance: the only crate that sees both the model and the implementation. It
//! runs the model checker, relates implementation states to model states, and hosts the
//! `warmcheck` binary's subcommands.

pub mod check;
pub mod checked;
pub mod cli;
pub mod conform;
pub mod expect;
pub mod explain;
pub mod explored;
pub mod itf;
pub mod levels;
pub mod mapping;
pub mod progress;
pub mod replay;
pub mod report;
pub mod ruled_out;
pub mod signals;
pub mod soak;
pub mod stories;
pub mod story_file;
pub mod sut;
pub mod trace;
pub mod validate;
pub mod visited;
