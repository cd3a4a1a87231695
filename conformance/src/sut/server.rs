//! `warmcheck sut`: warmcheck's own implementation (`impl/`'s `Cluster`) behind the protocol.
//! Each action request is performed by [`mapping::perform`], the same code in-process conform
//! uses, so the two modes make the same engine calls. Images are `Cluster::save_image`'s, kept
//! here under a handle.

use super::protocol::{self, Call, Designs, Reply, Request};
use crate::mapping;
use serde_json::Value;
use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::path::PathBuf;
use warmcheck_impl::engine::{
    Cluster, ClusterImage, Config, CounterUuids, SeededBugs, StorageBackend,
};
use warmcheck_model::Variant;

/// How `warmcheck sut` serves.
pub struct ServerOptions {
    /// The designs it announces (`None`: all).
    pub design: Option<Variant>,
    pub bugs: SeededBugs,
    pub backend: StorageBackend,
    /// The data directory; each `reset` makes a fresh bucket below it.
    pub dir: PathBuf,
    /// Announce the snapshot and restore capabilities.
    pub snapshots: bool,
    /// View fields left out of `observe` and declared in `omits`.
    pub omits: Vec<String>,
}

struct Server {
    opts: ServerOptions,
    cluster: Option<Cluster>,
    resets: u64,
    /// The bucket directory this process created (with the file backend): the only one it
    /// ever removes.
    owned: Option<PathBuf>,
    images: HashMap<String, ClusterImage>,
    next_handle: u64,
}

/// The most snapshots held at once (conform holds one per state on its depth-first path that
/// has more than one action: far fewer). A peer that only takes snapshots is refused past it,
/// not served until memory runs out.
pub const MAX_IMAGES: usize = 10_000;

/// How many taken `bucketN` names a reset skips before it gives up.
const MAX_TAKEN: u64 = 1000;

/// The longest request line `warmcheck sut` reads (the largest request, a `reset` or a `set`,
/// is a few hundred bytes).
pub const MAX_REQUEST_LINE: usize = 1 << 20;

/// Serve requests from `input` until it ends, one reply line per request line. A request line
/// longer than [`MAX_REQUEST_LINE`] is answered with an error naming it and ends the serving
/// (`Err`: where the next request begins is lost); a line that is not UTF-8 or not a request is
/// answered with an error naming it, and serving goes on.
pub fn serve(
    mut input: impl BufRead,
    mut output: impl Write,
    opts: ServerOptions,
) -> Result<(), String> {
    let mut server = Server {
        opts,
        cluster: None,
        resets: 0,
        owned: None,
        images: HashMap::new(),
        next_handle: 0,
    };
    let mut buf = Vec::new();
    let mut n = 0usize;
    loop {
        n += 1;
        let (reply, fatal) =
            match warmcheck_impl::input::read_line(&mut input, &mut buf, MAX_REQUEST_LINE) {
                Ok(false) => return Ok(()),
                Ok(true) => match std::str::from_utf8(&buf) {
                    Ok(line) if line.trim().is_empty() => continue,
                    Ok(line) => (server.answer_line(n, line), None),
                    Err(e) => (
                        error(
                            0,
                            format!("request line {n} is not UTF-8 (byte {})", e.valid_up_to()),
                        ),
                        None,
                    ),
                },
                Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                    let what = format!(
                        "request line {n} is longer than {MAX_REQUEST_LINE} bytes, the most a \
                         request may hold"
                    );
                    (error(0, what.clone()), Some(what))
                }
                Err(e) => return Err(format!("reading stdin: {e}")),
            };
        let text = serde_json::to_string(&reply).expect("replies serialise");
        writeln!(output, "{text}")
            .and_then(|()| output.flush())
            .map_err(|e| format!("writing stdout: {e}"))?;
        if let Some(e) = fatal {
            return Err(e);
        }
    }
}

fn error(id: u64, e: String) -> Reply {
    Reply {
        id,
        ok: false,
        error: Some(e),
        ..Reply::default()
    }
}

impl Server {
    /// The reply to request line `n`, `line`.
    fn answer_line(&mut self, n: usize, line: &str) -> Reply {
        match serde_json::from_str::<Request>(line) {
            Ok(req) => self.answer(req),
            Err(e) => {
                // Answer with the id if there is one, so the client can match the error.
                let id = serde_json::from_str::<Value>(line)
                    .ok()
                    .and_then(|v| v.get("id").and_then(Value::as_u64))
                    .unwrap_or(0);
                error(id, format!("request line {n}: {e}"))
            }
        }
    }

    fn answer(&mut self, req: Request) -> Reply {
        let id = req.id;
        match self.handle(req.call) {
            Ok(mut r) => {
                r.id = id;
                r
            }
            Err(Failure::Refused(e)) => Reply {
                id,
                ok: false,
                refused: Some(e),
                ..Reply::default()
            },
            Err(Failure::Error(e)) => error(id, e),
        }
    }

    fn cluster(&mut self) -> Result<&mut Cluster, Failure> {
        self.cluster
            .as_mut()
            .ok_or_else(|| Failure::Error("no bucket yet: send reset first".into()))
    }

    fn handle(&mut self, call: Call) -> Result<Reply, Failure> {
        let mut reply = Reply::ok(0);
        match call {
            Call::Hello { protocol } => {
                // The newest version both speak.
                let Some(version) = protocol::VERSIONS
                    .iter()
                    .rev()
                    .find(|v| protocol.contains(v))
                else {
                    return Err(Failure::Error(format!(
                        "this SUT speaks protocol {:?}, not {protocol:?}",
                        protocol::VERSIONS
                    )));
                };
                reply.protocol = Some(*version);
                reply.name = Some(format!("warmcheck-impl {}", env!("CARGO_PKG_VERSION")));
                reply.designs = Some(match self.opts.design {
                    Some(v) => Designs::Some(vec![v]),
                    None => Designs::All("all".into()),
                });
                reply.capabilities = Some(if self.opts.snapshots {
                    vec![protocol::SNAPSHOT.into(), protocol::RESTORE.into()]
                } else {
                    vec![]
                });
                reply.omits = Some(self.opts.omits.clone());
            }
            Call::Reset {
                design,
                vbuckets,
                replicas,
                ..
            } => self.reset(design, vbuckets, replicas)?,
            Call::Observe => {
                let mut view =
                    serde_json::to_value(self.cluster()?.view()).expect("views serialise");
                for path in &self.opts.omits {
                    protocol::remove_path(&mut view, path);
                }
                reply.view = Some(view);
            }
            Call::Snapshot => {
                if self.images.len() >= MAX_IMAGES {
                    return Err(Failure::Error(format!(
                        "{MAX_IMAGES} snapshots are held, the most this SUT keeps: release some \
                         first"
                    )));
                }
                let image = self
                    .cluster()?
                    .save_image()
                    .map_err(|e| Failure::Error(format!("snapshot: {e}")))?;
                self.next_handle += 1;
                let handle = self.next_handle.to_string();
                self.images.insert(handle.clone(), image);
                reply.handle = Some(handle);
            }
            Call::Restore { handle } => {
                let image = self
                    .images
                    .remove(&handle)
                    .ok_or_else(|| Failure::Error(format!("no snapshot {handle:?}")))?;
                let restored = self.cluster()?.restore_image(&image);
                self.images.insert(handle, image);
                restored.map_err(|e| Failure::Error(format!("restore: {e}")))?;
            }
            Call::Release { handles } => {
                for h in handles {
                    self.images.remove(&h);
                }
            }
            action => {
                let cluster = self.cluster()?;
                return match mapping::perform(cluster, &action) {
                    Ok(Some(r)) => Ok(r),
                    Ok(None) => Err(Failure::Error(format!("{} is not an action", action.op()))),
                    Err(e) => Err(Failure::Refused(e.to_string())),
                };
            }
        }
        Ok(reply)
    }

    fn reset(&mut self, design: Variant, vbuckets: u8, replicas: u8) -> Result<(), Failure> {
        if let Some(v) = self.opts.design.filter(|v| *v != design) {
            return Err(Failure::Error(format!(
                "this SUT implements design `{v}` only, not `{design}`"
            )));
        }
        if !(1..=8).contains(&vbuckets) || replicas > 8 {
            return Err(Failure::Error(format!(
                "{vbuckets} vbuckets and {replicas} replicas: expected 1 to 8 vbuckets and at \
                 most 8 replicas"
            )));
        }
        // Drop the old bucket (and its directory lock) before making the new one, and remove
        // its directory only if this process made it: never one another process holds.
        self.cluster = None;
        self.images.clear();
        if let Some(old) = self.owned.take() {
            std::fs::remove_dir_all(&old)
                .map_err(|e| Failure::Error(format!("removing {}: {e}", old.display())))?;
        }
        let (root, backend) = match &self.opts.backend {
            StorageBackend::File(_) => (self.claim_dir()?, self.opts.backend.clone()),
            other => {
                let root = self.opts.dir.join(format!("bucket{}", self.resets));
                self.resets += 1;
                let backend = match other {
                    // A fresh in-memory file system per bucket.
                    StorageBackend::Faulty(_) => StorageBackend::faulty(),
                    other => other.clone(),
                };
                (root, backend)
            }
        };
        let mut config = Config::new(root, backend, mapping::impl_variant(design));
        config.vbuckets = u16::from(vbuckets);
        config.replicas = usize::from(replicas);
        config.uuids = Box::new(CounterUuids::new());
        config.bugs = self.opts.bugs;
        let cluster = Cluster::create(config)
            .map_err(|e| Failure::Error(format!("cannot create the bucket: {e}")))?;
        self.cluster = Some(cluster);
        Ok(())
    }
}

impl Server {
    /// Create a new directory `bucketN` under `--dir` for the next bucket, N the first number
    /// not taken (`create_dir` fails on a name that exists, so two processes never share
    /// one), and record it as this process's own.
    fn claim_dir(&mut self) -> Result<PathBuf, Failure> {
        let parent = &self.opts.dir;
        std::fs::create_dir_all(parent)
            .map_err(|e| Failure::Error(format!("creating {}: {e}", parent.display())))?;
        for _ in 0..MAX_TAKEN {
            let dir = parent.join(format!("bucket{}", self.resets));
            self.resets += 1;
            match std::fs::create_dir(&dir) {
                Ok(()) => {
                    self.owned = Some(dir.clone());
                    return Ok(dir);
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(Failure::Error(format!("creating {}: {e}", dir.display()))),
            }
        }
        Err(Failure::Error(format!(
            "cannot create the bucket: {MAX_TAKEN} bucket directories under {} are taken (by \
             another process?)",
            parent.display()
        )))
    }
}

enum Failure {
    Refused(String),
    Error(String),
}
