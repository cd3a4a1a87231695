//! What the test files that drive the engine and read its event log share (`mod common;`).

// Each test file is its own crate and uses only part of this.
#![allow(dead_code)]

use std::io::Write;
use std::sync::{Arc, Mutex};
use warmcheck_conformance::mapping;
use warmcheck_impl::engine::{Cluster, Config, CounterUuids, StorageBackend};
use warmcheck_model::Variant;

/// An event-log sink the test keeps a handle on: the bytes the engine wrote, in memory.
#[derive(Clone, Default)]
pub struct LogBuf(Arc<Mutex<Vec<u8>>>);

impl Write for LogBuf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl LogBuf {
    /// A sink set as `cluster`'s event log.
    pub fn attach(cluster: &mut Cluster) -> LogBuf {
        let log = LogBuf::default();
        cluster.set_event_log(Box::new(log.clone()));
        log
    }

    pub fn bytes(&self) -> Vec<u8> {
        self.0.lock().unwrap().clone()
    }

    /// The log so far (the engine writes UTF-8 JSON lines).
    pub fn text(&self) -> String {
        String::from_utf8(self.bytes()).unwrap()
    }
}

/// A new cluster at `root` on the in-memory crashable backend, in `design`, with uuids from a
/// counter (so logs are the same every run), and its event log.
pub fn logged_cluster(root: &str, design: Variant) -> (Cluster, LogBuf) {
    let mut config = Config::new(
        root,
        StorageBackend::faulty(),
        mapping::impl_variant(design),
    );
    config.uuids = Box::new(CounterUuids::new());
    let mut cluster = Cluster::create(config).unwrap();
    let log = LogBuf::attach(&mut cluster);
    (cluster, log)
}

/// Run the `warmcheck` binary built with the tests: exit code (-1 if killed), stdout, stderr.
pub fn warmcheck(args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_warmcheck"))
        .args(args)
        .output()
        .expect("run warmcheck");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
