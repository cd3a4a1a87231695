//! The subcommands' bodies. Each returns the process exit code.

pub mod check;
pub mod conform;
pub mod explore;
pub mod implementation;
pub mod replay;
pub mod simulate;
pub mod soak;
pub mod validate;
pub mod workload;
