//! `warmcheck scenario`: a scenario script on the implementation.

use super::args::{Backend, MAX_REPLICAS};
use crate::signals;
use std::io::Write;
use std::path::PathBuf;
use warmcheck_impl::engine::MAX_VBUCKETS;
use warmcheck_impl::scenario::{run_script_with, ScenarioOptions};

/// Run a scenario script on the implementation, on real files, printing each directive's
/// output as it runs.
///
/// One directive a line, `#` comments: set KEY [ttl=S] [vb=N] [value=V], delete KEY, get KEY,
/// advance-clock S, compact, expiry-pager, flush [vb=N], crash, shutdown (or its steps
/// shutdown-begin, shutdown-write-flag, shutdown-stop-flusher), warmup [until=PHASE]
/// (initialize, create-vbuckets, populate-vbucket-map, loading-data, done, complete),
/// stats-snapshot, connect REPLICA, stream REPLICA, show (the whole state as one JSON line),
/// check-divergence. FILE `-` reads standard input. See impl/testdata/ for stories.
///
/// With --dir D holding a bucket (a previous run's), the script continues it: the bucket is
/// opened in the shape it was created with and warmed up first, as kv_engine does at a
/// restart (--vbuckets or --replicas that differ from its shape are refused).
///
/// Exit codes: 0 the script ran; 2 a directive makes no sense (its line number is named), a
/// storage error, or the file cannot be read.
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// The script.
    file: PathBuf,
    #[command(flatten)]
    design: super::args::DesignArgs,
    /// Replica nodes (r1, r2, ...), 0..=8 (default: 1, or a continued bucket's).
    #[arg(long, value_parser = clap::value_parser!(u8).range(0..=MAX_REPLICAS as i64))]
    replicas: Option<u8>,
    /// Vbuckets on the active node, 1..=1024 (default: 1, or a continued bucket's).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=MAX_VBUCKETS as i64))]
    vbuckets: Option<u16>,
    /// The data directory (default: a fresh temporary one, removed afterwards). One holding a
    /// bucket is continued. Needs --backend file.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Where the implementation keeps its files (faulty: a crash then keeps only what was
    /// synced).
    #[arg(long, value_enum, default_value_t = Backend::File)]
    backend: Backend,
    /// The old spelling of --backend faulty.
    #[arg(long, hide = true, conflicts_with = "backend")]
    faulty: bool,
    /// Write the engine's event log to LOG: calls and results, without states, as a real
    /// engine's log would be (docs/event-log.md); `warmcheck validate LOG` checks it.
    #[arg(long, value_name = "LOG")]
    log: Option<PathBuf>,
}

pub fn run(a: Args) -> u8 {
    let backend = a.backend.or_faulty(a.faulty);
    if let Err(e) = backend.check_dir(a.dir.as_deref()) {
        return super::usage_error(e);
    }
    let file = a.file.as_path();
    if let Some(log) = &a.log {
        if let Err(e) = super::args::check_not_an_input("--log", log, &[file]) {
            return super::usage_error(e);
        }
    }
    // Bounded in size and line length: `/dev/zero` ends with an error, not all the memory.
    let text = match warmcheck_impl::input::read_file(file, warmcheck_impl::scenario::LIMITS, true)
    {
        Ok(t) => t,
        Err(e) => return super::usage_error(e.to_string()),
    };
    let (dir, _tmp) = match a.dir {
        Some(d) => (d, None),
        None => match signals::temp_dir("warmcheck-scenario-", None) {
            Ok(t) => (t.path().to_path_buf(), Some(t)),
            Err(e) => return super::usage_error(format!("cannot make a temporary directory: {e}")),
        },
    };
    let opts = ScenarioOptions {
        variant: crate::mapping::impl_variant(a.design.design()),
        replicas: usize::from(a.replicas.unwrap_or(1)),
        vbuckets: a.vbuckets.unwrap_or(1),
        shape_given: (a.vbuckets.is_some(), a.replicas.is_some()),
        dir: Some(dir),
        backend: Some(backend.storage()),
        log: a.log,
        ..ScenarioOptions::default()
    };
    let mut stdout = std::io::stdout();
    let result = run_script_with(&text, opts, |piece| {
        print!("{piece}");
        let _ = stdout.flush();
    });
    match result {
        Ok(()) => 0,
        Err(e) => super::usage_error(format!("{}: {e}", file.display())),
    }
}
