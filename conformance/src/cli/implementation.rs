//! The implementation's own subcommands: `scenario` and `failover-decide`.

use std::io::BufReader;
use std::path::{Path, PathBuf};
use warmcheck_impl::engine::StorageBackend;
use warmcheck_impl::scenario::{run_script, ScenarioOptions};

pub fn scenario(
    file: &Path,
    design: warmcheck_model::Variant,
    replicas: usize,
    vbuckets: u16,
    dir: Option<PathBuf>,
    faulty: bool,
) -> u8 {
    let text = match warmcheck_impl::input::read_file(file, warmcheck_impl::scenario::LIMITS, true)
    {
        Ok(t) => t,
        Err(e) => {
            eprintln!("warmcheck: {e}");
            return 2;
        }
    };
    let opts = ScenarioOptions {
        variant: crate::mapping::impl_variant(design),
        replicas,
        vbuckets,
        dir,
        backend: Some(if faulty {
            StorageBackend::faulty()
        } else {
            StorageBackend::file()
        }),
        ..ScenarioOptions::default()
    };
    match run_script(&text, opts) {
        Ok(out) => {
            print!("{out}");
            0
        }
        Err(e) => {
            eprintln!("warmcheck: {}: {e}", file.display());
            2
        }
    }
}

pub fn failover_decide() -> u8 {
    let stdin = std::io::stdin();
    let stdout = std::io::stdout();
    match warmcheck_impl::decide::decide_lines(BufReader::new(stdin.lock()), stdout.lock()) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("warmcheck failover-decide: {e}");
            2
        }
    }
}
