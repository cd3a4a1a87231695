//! The implementation's own subcommands: `scenario` and `failover-decide`.

use std::io::{BufReader, Read};
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
    let text = if file == Path::new("-") {
        let mut s = String::new();
        if let Err(e) = std::io::stdin().read_to_string(&mut s) {
            eprintln!("warmcheck: standard input: {e}");
            return 2;
        }
        s
    } else {
        match std::fs::read_to_string(file) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("warmcheck: {}: cannot read: {e}", file.display());
                return 2;
            }
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
