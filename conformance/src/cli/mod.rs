//! The `warmcheck` command line. Each subcommand's module owns its clap `Args` (whose doc
//! comment is the command's `--help`) and a `run` returning the process exit code; the argument
//! groups several commands share live in [`args`]. `main.rs` only parses and dispatches.

pub mod args;
pub mod check;
pub mod conform;
pub mod explore;
pub mod failover_decide;
pub mod merge;
pub mod replay;
pub mod scenario;
pub mod simulate;
pub mod soak;
pub mod sut;
pub mod validate;
pub mod workload;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "warmcheck",
    version,
    about = "Model-check kv_engine's warmup designs (the MB-41942 bug family), run the reference \
             implementation on real files, and check that the two agree.",
    after_help = "Exit codes: 0 success; 1 a property failed, a mismatch or a divergence was \
                  found; 2 usage or input error."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    Check(check::Args),
    Explore(explore::Args),
    Simulate(simulate::Args),
    Scenario(scenario::Args),
    FailoverDecide(failover_decide::Args),
    Replay(replay::Args),
    Conform(conform::Args),
    Merge(merge::Args),
    Validate(validate::Args),
    Soak(soak::Args),
    Sut(sut::Args),
    #[command(hide = true)]
    Workload(workload::Args),
}

/// The seeded bugs called `names`, or exit code 2 after saying which name is unknown.
pub fn seeded_bugs(names: &[String]) -> Result<warmcheck_impl::engine::SeededBugs, u8> {
    let mut bugs = warmcheck_impl::engine::SeededBugs::default();
    for name in names {
        if let Err(e) = bugs.enable(name) {
            eprintln!("warmcheck: {e}");
            return Err(2);
        }
    }
    Ok(bugs)
}

/// Print a usage error and return exit code 2.
pub fn usage_error(message: impl std::fmt::Display) -> u8 {
    eprintln!("warmcheck: {message}");
    2
}
