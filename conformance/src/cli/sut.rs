//! `warmcheck sut`: warmcheck's implementation behind the SUT protocol.

use super::args::{check_fresh_dir, parse_variant, Backend};
use crate::signals;
use crate::sut::server::{self, ServerOptions};
use std::path::PathBuf;
use warmcheck_model::{PersistEntry, RollbackRetry, ShutdownFlag, StopWarmup, Variant};

/// Serve warmcheck's own implementation over the SUT protocol on stdin and stdout
/// (docs/sut-protocol.md), for `warmcheck conform --sut 'warmcheck sut'` and
/// `warmcheck replay FILE --sut 'warmcheck sut'`: the reference for anyone writing a SUT for
/// their own engine, and the check that protocol mode and in-process mode agree.
///
/// Announces every design unless --variant or a knob is given, and the snapshot and restore
/// capabilities unless --no-snapshot. Each `reset` creates a fresh bucket under --dir.
///
/// Bounds: a request line holds at most 1 MiB (a longer one is answered with an error naming
/// it, and ends the SUT: exit 2); a line that is not UTF-8 or not a request is answered with an
/// error naming it. At most 10000 snapshots are held at once. Each reset makes a new directory
/// bucketN under --dir (a name another process made is skipped, never used or removed) and
/// removes only the one this process made before it.
///
/// Exit codes: 0 stdin ended; 2 usage error, stdin or stdout failed, or a request line too long.
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// Implement only this design: v6.5.1, mb41942, mb43744, mb41257, current or proposed.
    #[arg(long, value_parser = parse_variant)]
    variant: Option<Variant>,
    /// Override one knob of the design (implies --variant current when none is given).
    #[arg(long, value_parser = |s: &str| s.parse::<PersistEntry>())]
    persist_entry: Option<PersistEntry>,
    /// Override one knob of the design (implies --variant current when none is given).
    #[arg(long, value_parser = |s: &str| s.parse::<ShutdownFlag>())]
    shutdown_flag: Option<ShutdownFlag>,
    /// Override one knob of the design (implies --variant current when none is given).
    #[arg(long, value_parser = |s: &str| s.parse::<RollbackRetry>())]
    rollback_retry: Option<RollbackRetry>,
    /// Override one knob of the design (implies --variant current when none is given).
    #[arg(long, value_parser = |s: &str| s.parse::<StopWarmup>())]
    stop_warmup: Option<StopWarmup>,
    /// The data directory, absent or empty (default: a fresh one, removed on exit, under
    /// $WARMCHECK_TMPDIR when set (conform and replay --sut set it to a directory they remove
    /// once this process has ended), else under /dev/shm, or the temp dir). Needs --backend
    /// file.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Where the implementation keeps its files.
    #[arg(long, value_enum, default_value_t = Backend::File)]
    backend: Backend,
    /// Do not announce the snapshot and restore capabilities (conform then replays paths
    /// from reset).
    #[arg(long)]
    no_snapshot: bool,
    /// Test only: leave this view field out of observe and declare it in the handshake's
    /// omits (a path with * for array indexes, e.g. /active/vbuckets/*/queued).
    #[arg(long, hide = true, value_name = "PATH")]
    omit: Vec<String>,
    /// Test only: switch on a deliberate implementation bug (see SeededBugs).
    #[arg(long, hide = true, value_name = "NAME")]
    seeded_bug: Vec<String>,
}

pub fn run(a: Args) -> u8 {
    let checks = a
        .backend
        .check_dir(a.dir.as_deref())
        .and_then(|()| a.dir.as_deref().map_or(Ok(()), check_fresh_dir));
    if let Err(e) = checks {
        return super::usage_error(e);
    }
    let bugs = match super::seeded_bugs(&a.seeded_bug) {
        Ok(b) => b,
        Err(code) => return code,
    };
    let knobs = a.persist_entry.is_some()
        || a.shutdown_flag.is_some()
        || a.rollback_retry.is_some()
        || a.stop_warmup.is_some();
    let design = (a.variant.is_some() || knobs).then(|| {
        let mut v = a.variant.unwrap_or_else(Variant::current);
        if let Some(p) = a.persist_entry {
            v.persist_entry = p;
        }
        if let Some(f) = a.shutdown_flag {
            v.shutdown_flag = f;
        }
        if let Some(r) = a.rollback_retry {
            v.rollback_retry = r;
        }
        if let Some(w) = a.stop_warmup {
            v.stop_warmup = w;
        }
        v
    });
    let tmp;
    let dir = match a.dir {
        Some(d) => d,
        None => {
            let parent = match temp_parent() {
                Ok(p) => p,
                Err(e) => return super::usage_error(e),
            };
            // The pid in the name says whose it is (the process that removes it on exit).
            let prefix = format!("warmcheck-sut-{}-", std::process::id());
            tmp = match signals::temp_dir(&prefix, Some(&parent)) {
                Ok(t) => t,
                Err(e) => {
                    return super::usage_error(format!(
                        "cannot make a temporary directory in {}: {e}",
                        parent.display()
                    ))
                }
            };
            tmp.path().to_path_buf()
        }
    };
    let opts = ServerOptions {
        design,
        bugs,
        backend: a.backend.storage(),
        dir,
        snapshots: !a.no_snapshot,
        omits: a.omit,
    };
    let stdin = std::io::stdin();
    let stdout = std::io::stdout();
    match server::serve(stdin.lock(), stdout.lock(), opts) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("warmcheck sut: {e}");
            2
        }
    }
}

/// Where the temporary directory goes: `$WARMCHECK_TMPDIR` when set and not empty (it must be
/// a directory), else tmpfs or the system's temporary directory.
fn temp_parent() -> Result<PathBuf, String> {
    let var = crate::sut::client::TMPDIR_VAR;
    match std::env::var_os(var) {
        Some(v) if !v.is_empty() => {
            let p = PathBuf::from(v);
            if p.is_dir() {
                Ok(p)
            } else {
                Err(format!(
                    "{var}={} is not a directory (unset it, or name an existing directory)",
                    p.display()
                ))
            }
        }
        _ => Ok(signals::tmpfs_or_temp()),
    }
}
