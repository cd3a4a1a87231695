//! `Cluster::save_image` / `restore_image`, the testing seam conformance walks the model with:
//! after a restore the cluster's view and every file's bytes are exactly those of the image,
//! whatever happened in between (commits, a replica rewind, a crash, a warmup).

use warmcheck_impl::engine::{Cluster, Config, StorageBackend, Variant};

fn files(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for sub in ["active", "r1"] {
        let mut names: Vec<_> = std::fs::read_dir(dir.join(sub))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| !p.ends_with("LOCK"))
            .collect();
        names.sort();
        for p in names {
            out.push((p.display().to_string(), std::fs::read(&p).unwrap()));
        }
    }
    out
}

#[test]
fn restore_image_returns_the_view_and_every_file_to_the_image() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let mut c = Cluster::create(Config::new(
        &dir,
        StorageBackend::file(),
        Variant::preset("v6.5.1").unwrap(),
    ))
    .unwrap();
    c.set(0, "k0", "v1", Some(1)).unwrap();
    c.flush(0).unwrap();
    c.set(0, "k1", "v2", None).unwrap();
    c.connect(0, 0).unwrap();
    c.stream_all(0, 0).unwrap();
    let image = c.save_image().unwrap();
    let view = c.view().to_json();
    let bytes = files(&dir);

    // Move far away: a crash, an unclean warmup with a new entry, expiry, a flush, a replica
    // rollback (which rewinds the replica's file).
    c.crash().unwrap();
    c.warmup_until(warmcheck_impl::engine::Phase::PopulateVBucketMap)
        .unwrap();
    c.advance_clock(1).unwrap();
    assert_eq!(c.get(0, "k0").unwrap(), None);
    c.flush(0).unwrap();
    c.crash().unwrap();
    c.warmup_step().unwrap();
    c.warmup_step().unwrap();
    c.warmup_step().unwrap();
    c.connect(0, 0).unwrap();
    assert_ne!(c.view().to_json(), view);
    assert_ne!(files(&dir), bytes);

    c.restore_image(&image).unwrap();
    assert_eq!(c.view().to_json(), view);
    assert_eq!(files(&dir), bytes);
    // And the restored cluster carries on as the original would.
    c.set(0, "k1", "v3", None).unwrap();
    c.flush(0).unwrap();
    assert_eq!(c.view().active.vbuckets[0].persisted_seqno, 3);
}
