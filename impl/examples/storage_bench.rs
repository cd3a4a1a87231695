//! Storage benchmark (figures and the machine are recorded in docs/perf-impl.md).
//!
//! ```text
//! cargo run --release -p warmcheck-impl --example storage_bench -- [--items N] [--per-commit N]
//!     [--value-len N] [--runs N] [--dir PATH] [--no-flusher]
//! ```
//!
//! What it measures, each `runs` times, reporting the median:
//! - setup: one vbucket file of `items` docs in commits of `per-commit` docs (fsync disabled);
//! - (a) a raw sequential read of the file in 1 MiB reads: the physical limit. From the page
//!   cache: the file was just written, and dropping the page cache needs root;
//! - (b) warmup's load: `VbFile::open` (scan and verify every record) + `docs()` (read again,
//!   re-verify, decode every doc); `VbFile::open_and_load` (the same in one pass); and the
//!   floor of any load that returns owned docs: cloning the same `Vec<Doc>` in memory;
//! - (c) the flusher: commits/s and docs/s for batches of 1 and 100 docs, with an fsync per
//!   commit (the real `FileBackend`) and with fsync disabled (`FileBackend::without_fsync`).

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use warmcheck_impl::storage::{
    Backend, Doc, FailoverEntryJson, FileBackend, Op, VbFile, VbState, VbStateKind,
};

struct Args {
    items: u64,
    per_commit: u64,
    value_len: usize,
    runs: usize,
    dir: Option<PathBuf>,
    flusher: bool,
}

fn parse_args() -> Args {
    let mut args = Args {
        items: 1_000_000,
        per_commit: 1_000,
        value_len: 100,
        runs: 7,
        dir: None,
        flusher: true,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--items" => args.items = value().parse().expect("--items N"),
            "--per-commit" => args.per_commit = value().parse().expect("--per-commit N"),
            "--value-len" => args.value_len = value().parse().expect("--value-len N"),
            "--runs" => args.runs = value().parse().expect("--runs N"),
            "--dir" => args.dir = Some(PathBuf::from(value())),
            "--no-flusher" => args.flusher = false,
            other => panic!("unknown flag {other}"),
        }
    }
    assert!(args.runs >= 1 && args.per_commit >= 1);
    args
}

fn vbstate(snap: u64) -> VbState {
    VbState {
        state: VbStateKind::Active,
        failover_table: vec![FailoverEntryJson { id: 1, seq: 0 }],
        snap_start: snap,
        snap_end: snap,
        max_cas: snap,
    }
}

fn doc(seqno: u64, value: &str) -> Doc {
    Doc {
        seqno,
        key: format!("key{seqno:09}"),
        op: Op::Set,
        value: Some(value.to_string()),
        expiry: None,
        cas: seqno,
    }
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn time<T>(runs: usize, mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut samples = Vec::with_capacity(runs);
    let mut last = None;
    for _ in 0..runs {
        let start = Instant::now();
        let out = f();
        samples.push(start.elapsed());
        last = Some(out);
    }
    (median(samples), last.expect("runs >= 1"))
}

fn raw_read(path: &Path) -> u64 {
    let mut file = File::open(path).unwrap();
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = file.read(&mut buf).unwrap();
        if n == 0 {
            return total;
        }
        total += n as u64;
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Flusher throughput: `commits` commits of `batch` docs each on a fresh file.
fn flusher(dir: &Path, backend: FileBackend, batch: u64, commits: u64, value: &str) -> Duration {
    let path = dir.join(format!("flusher-{batch}-{}.couch", backend.fsyncs()));
    let _ = std::fs::remove_file(&path);
    let backend: Arc<dyn Backend> = Arc::new(backend);
    let mut vb = VbFile::open(backend, &path).unwrap();
    // The first commit creates the file (extra syncs); not part of the steady state.
    vb.commit(&[], &vbstate(0)).unwrap();
    let mut seqno = 0;
    let start = Instant::now();
    for _ in 0..commits {
        let docs: Vec<Doc> = (0..batch)
            .map(|_| {
                seqno += 1;
                doc(seqno, value)
            })
            .collect();
        vb.commit(&docs, &vbstate(seqno)).unwrap();
    }
    let elapsed = start.elapsed();
    drop(vb);
    std::fs::remove_file(&path).unwrap();
    elapsed
}

fn main() {
    let args = parse_args();
    let tmp = match &args.dir {
        Some(dir) => tempfile::tempdir_in(dir),
        None => tempfile::tempdir(),
    }
    .unwrap();
    let path = tmp.path().join("vb0.couch");
    let value = "v".repeat(args.value_len);
    println!(
        "storage_bench: {} items in commits of {}, values of {} bytes, keys of 12 bytes, median of {} runs, in {}",
        args.items,
        args.per_commit,
        args.value_len,
        args.runs,
        tmp.path().display()
    );

    // Setup: write the file.
    let start = Instant::now();
    {
        let backend: Arc<dyn Backend> = Arc::new(FileBackend::without_fsync());
        let mut vb = VbFile::open(backend, &path).unwrap();
        let mut seqno = 0;
        while seqno < args.items {
            let n = args.per_commit.min(args.items - seqno);
            let docs: Vec<Doc> = (0..n)
                .map(|_| {
                    seqno += 1;
                    doc(seqno, &value)
                })
                .collect();
            vb.commit(&docs, &vbstate(seqno)).unwrap();
        }
    }
    File::open(&path).unwrap().sync_all().unwrap();
    let setup = start.elapsed();
    let size = std::fs::metadata(&path).unwrap().len();
    println!(
        "setup: wrote {:.1} MiB in {:.0} ms",
        size as f64 / (1 << 20) as f64,
        ms(setup)
    );

    // (a) raw sequential read.
    let (raw, read) = time(args.runs, || raw_read(&path));
    assert_eq!(read, size);
    println!(
        "(a) raw sequential read:     {:8.1} ms  {:6.0} MiB/s",
        ms(raw),
        size as f64 / (1 << 20) as f64 / raw.as_secs_f64()
    );

    // (b) warmup's load.
    let backend: Arc<dyn Backend> = Arc::new(FileBackend::new());
    let (open, vb) = time(args.runs, || VbFile::open(backend.clone(), &path).unwrap());
    assert_eq!(vb.high_seqno(), args.items);
    let (docs_t, docs) = time(args.runs, || vb.docs().unwrap());
    assert_eq!(docs.len() as u64, args.items);
    drop(docs);
    let (load, docs) = time(args.runs, || {
        let vb = VbFile::open(backend.clone(), &path).unwrap();
        vb.docs().unwrap()
    });
    assert_eq!(docs.len() as u64, args.items);
    drop(docs);
    let (fused, (_, docs)) = time(args.runs, || {
        VbFile::open_and_load(backend.clone(), &path).unwrap()
    });
    assert_eq!(docs.len() as u64, args.items);
    drop(docs);
    // The floor of any load that hands back owned docs: cloning the same docs from memory (two
    // allocations and two copies per doc, no I/O, no checksum, no UTF-8 check).
    let template: Vec<Doc> = (1..=args.items).map(|seqno| doc(seqno, &value)).collect();
    let (floor, docs) = time(args.runs, || template.clone());
    drop(docs);
    drop(template);
    println!("(b) VbFile::open (verify):   {:8.1} ms", ms(open));
    println!("    docs() (re-read+decode): {:8.1} ms", ms(docs_t));
    println!(
        "    open + docs():           {:8.1} ms  {:6.2} M items/s  {:.2}x the raw read",
        ms(load),
        args.items as f64 / load.as_secs_f64() / 1e6,
        load.as_secs_f64() / raw.as_secs_f64()
    );
    println!(
        "    open_and_load (1 pass):  {:8.1} ms  {:6.2} M items/s  {:.2}x the raw read",
        ms(fused),
        args.items as f64 / fused.as_secs_f64() / 1e6,
        fused.as_secs_f64() / raw.as_secs_f64()
    );
    println!(
        "    floor: clone the same Vec<Doc> in memory: {:8.1} ms ({:.2}x the raw read)",
        ms(floor),
        floor.as_secs_f64() / raw.as_secs_f64()
    );

    // (c) flusher.
    if !args.flusher {
        return;
    }
    for (batch, fsync_commits, nofsync_commits) in [(1u64, 300u64, 20_000u64), (100, 300, 2_000)] {
        for (label, backend, commits) in [
            ("fsync per commit", FileBackend::new(), fsync_commits),
            (
                "fsync disabled  ",
                FileBackend::without_fsync(),
                nofsync_commits,
            ),
        ] {
            let runs = args.runs.min(5);
            let samples: Vec<Duration> = (0..runs)
                .map(|_| flusher(tmp.path(), backend.clone(), batch, commits, &value))
                .collect();
            let t = median(samples);
            println!(
                "(c) flusher, batch {batch:3}, {label}: {:9.0} commits/s {:10.0} docs/s ({commits} commits, median of {runs})",
                commits as f64 / t.as_secs_f64(),
                (commits * batch) as f64 / t.as_secs_f64(),
            );
        }
    }
}
