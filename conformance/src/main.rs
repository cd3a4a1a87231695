//! `warmcheck`: model-check kv_engine's warmup designs, run the reference implementation, and
//! relate the two. `warmcheck --help` lists the subcommands; each has its own `--help`. The
//! commands live in `warmcheck_conformance::cli`; this file only parses and dispatches.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::Parser;
use std::process::ExitCode;
use warmcheck_conformance::cli::{self, Cli, Command};
use warmcheck_conformance::signals;

fn main() -> ExitCode {
    // Temporary directories are removed whatever ends the process (SIGINT, SIGTERM, SIGPIPE);
    // a broken pipe (`warmcheck check | head`) ends it quietly, as other command-line tools do.
    signals::install();
    env_logger::init();
    let code = match Cli::parse().command {
        Command::Check(a) => cli::check::run(a),
        Command::Explore(a) => cli::explore::run(a),
        Command::Simulate(a) => cli::simulate::run(a),
        Command::Scenario(a) => cli::scenario::run(a),
        Command::FailoverDecide(a) => cli::failover_decide::run(a),
        Command::Replay(a) => cli::replay::run(a),
        Command::Conform(a) => cli::conform::run(a),
        Command::Merge(a) => cli::merge::run(a),
        Command::Validate(a) => cli::validate::run(a),
        Command::Soak(a) => cli::soak::run(a),
        Command::Sut(a) => cli::sut::run(a),
        Command::Workload(a) => cli::workload::run(a),
    };
    ExitCode::from(code)
}
