//! What the test modules that drive the engine, run the binary and read its event log share
//! (`use crate::common;` in `tests/it`; `tests/crash_kill.rs` includes it by path).

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

/// Poll `done` for 30 s at most (generous: a loaded machine is slow, not wrong).
pub fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    use std::time::{Duration, Instant};
    let until = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < until, "{what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The JSON document in file `p`.
pub fn read_json(p: &std::path::Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

/// `docs/schemas/`, where the JSON Schemas are.
pub fn schemas_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/schemas")
}

/// `v`, a JSON number, plus one.
pub fn plus_one(v: &serde_json::Value) -> serde_json::Value {
    serde_json::json!(v.as_u64().unwrap() + 1)
}
