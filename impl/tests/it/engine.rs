//! Claims about the engine's calls, each against `docs/vocabulary.md` or the domain brief.

use std::io::Write;
use std::sync::{Arc, Mutex};
use warmcheck_impl::engine::{
    default_backend, Cluster, Config, CounterUuids, EngineError, Phase, Process, SeededBugs,
    StreamOutcome, StreamState, Variant,
};

fn config(variant: &str, vbuckets: u16, replicas: usize, dir: &std::path::Path) -> Config {
    Config {
        variant: variant.parse().unwrap(),
        vbuckets,
        replicas,
        dir: dir.to_path_buf(),
        backend: default_backend(),
        uuids: Box::new(CounterUuids::new()),
        bugs: SeededBugs::default(),
    }
}

fn cluster(variant: &str, vbuckets: u16, replicas: usize) -> (Cluster, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let c = Cluster::create(config(variant, vbuckets, replicas, dir.path())).unwrap();
    (c, dir)
}

fn with_bug(variant: &str, bug: &str) -> (Cluster, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(variant, 1, 1, dir.path());
    cfg.bugs.enable(bug).unwrap();
    (Cluster::create(cfg).unwrap(), dir)
}

fn ids(t: &warmcheck_impl::failover::FailoverTable) -> Vec<(u64, u64)> {
    t.entries().iter().map(|e| (e.id, e.seq)).collect()
}

fn disk_table(c: &Cluster, vb: u16) -> Vec<(u64, u64)> {
    c.view().active.vbuckets[vb as usize]
        .failover_on_disk
        .iter()
        .map(|e| (e.id, e.seq))
        .collect()
}

/// A shared buffer standing in for the event-log file.
#[derive(Clone, Default)]
struct Buf(Arc<Mutex<Vec<u8>>>);
impl Write for Buf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
impl Buf {
    fn lines(&self) -> Vec<serde_json::Value> {
        String::from_utf8(self.0.lock().unwrap().clone())
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

#[test]
fn a_new_bucket_is_the_vocabularys_initial_state() {
    let (c, _d) = cluster("current", 2, 1);
    let json = c.view().to_json();
    let vb = |i: u64| {
        format!(
            r#"{{"vb":{i},"in_vbucket_map":true,"high_seqno":0,"persisted_seqno":0,"failover":[{{"id":{u},"seq":0}}],"failover_on_disk":[{{"id":{u},"seq":0}}],"queued":[],"flusher_notified":false,"items":[],"items_on_disk":[]}}"#,
            u = i + 1
        )
    };
    let rvb = |i: u64| {
        format!(
            r#"{{"vb":{i},"high_seqno":0,"snap_start":0,"snap_end":0,"failover":[{{"id":{u},"seq":0}}],"stream":"none","items":[]}}"#,
            u = i + 1
        )
    };
    let expected = format!(
        r#"{{"clock":0,"active":{{"process":"running","warmup_phase":null,"warmup_stopped":false,"warmup_read_clean":null,"flusher_stopped":false,"tasks_stopped":false,"traffic_refused":false,"clean_shutdown_flag":false,"vbuckets":[{},{}]}},"replicas":[{{"name":"r1","vbuckets":[{},{}]}}]}}"#,
        vb(0),
        vb(1),
        rvb(0),
        rvb(1)
    );
    assert_eq!(json, expected);
}

#[test]
fn the_view_omits_the_value_of_deletes_and_expiries_and_nulls_memory_while_down() {
    let (mut c, _d) = cluster("current", 1, 1);
    c.set(0, "k0", "v1", Some(1)).unwrap();
    c.set(0, "k1", "v2", None).unwrap();
    c.delete(0, "k1").unwrap();
    c.advance_clock(1).unwrap();
    assert_eq!(c.get(0, "k0").unwrap(), None);
    let view = c.view();
    let items = serde_json::to_string(&view.active.vbuckets[0].items).unwrap();
    assert_eq!(
        items,
        r#"[{"seqno":1,"key":"k0","op":"set","value":"v1"},{"seqno":2,"key":"k1","op":"set","value":"v2"},{"seqno":3,"key":"k1","op":"delete"},{"seqno":4,"key":"k0","op":"expire"}]"#
    );
    assert_eq!(
        serde_json::to_string(&view.active.vbuckets[0].queued).unwrap(),
        r#"["seqno:1","seqno:2","seqno:3","seqno:4"]"#
    );
    c.crash().unwrap();
    let v = serde_json::to_value(c.view()).unwrap();
    let vb = &v["active"]["vbuckets"][0];
    for field in ["high_seqno", "failover", "queued", "items"] {
        assert!(vb[field].is_null(), "{field} is null while down: {vb}");
    }
    assert_eq!(vb["in_vbucket_map"], false);
    assert_eq!(v["active"]["process"], "down");
}

#[test]
fn every_successful_call_logs_one_line_with_its_arguments_and_the_view_after_it() {
    let (mut c, _d) = cluster("current", 1, 1);
    let buf = Buf::default();
    c.set_event_log(Box::new(buf.clone()));
    c.set(0, "k0", "v1", Some(1)).unwrap();
    assert!(c.delete(0, "nope").is_err()); // refused: no line
    c.flush(0).unwrap();
    c.connect(0, 0).unwrap();
    c.stream_deliver(0, 0).unwrap();
    c.crash().unwrap();
    c.warmup_until(Phase::Complete).unwrap();
    let lines = buf.lines();
    let calls: Vec<&str> = lines.iter().map(|l| l["call"].as_str().unwrap()).collect();
    assert_eq!(
        calls,
        [
            "set",
            "flush",
            "stream_request",
            "stream_deliver",
            "crash",
            "warmup_step",
            "warmup_step",
            "warmup_step",
            "warmup_step",
            "warmup_step",
            "warmup_step"
        ]
    );
    let set = &lines[0];
    assert_eq!(set["vb"], 0);
    assert_eq!(set["key"], "k0");
    assert_eq!(set["value"], "v1");
    assert_eq!(set["ttl"], 1);
    assert_eq!(set["state"]["active"]["vbuckets"][0]["high_seqno"], 1);
    let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    assert!(text.starts_with(r#"{"call":"set","vb":0,"key":"k0","value":"v1","ttl":1,"#));
    assert_eq!(lines[2]["outcome"], "accepted");
    assert_eq!(lines[2]["replica"], "r1");
    assert_eq!(lines[5]["phase"], "initialize");
    assert_eq!(lines[10]["phase"], "complete");
    assert_eq!(
        lines.last().unwrap()["state"],
        serde_json::to_value(c.view()).unwrap()
    );
}

#[test]
fn counter_uuids_go_to_vbs_in_order_at_creation_and_at_each_unclean_warmup() {
    let (mut c, _d) = cluster("current", 2, 0);
    c.crash().unwrap();
    c.warmup_until(Phase::CreateVBuckets).unwrap();
    assert_eq!(ids(&c.active_failover(0).unwrap()), [(3, 0), (1, 0)]);
    assert_eq!(ids(&c.active_failover(1).unwrap()), [(4, 0), (2, 0)]);
}

#[test]
fn a_new_entry_is_created_at_snap_end_when_the_high_seqno_is_snap_end() {
    let (mut c, _d) = cluster("current", 1, 0);
    c.set(0, "k0", "v1", None).unwrap();
    c.set(0, "k1", "v2", None).unwrap();
    c.flush(0).unwrap();
    c.set(0, "k0", "v3", None).unwrap(); // lost
    c.crash().unwrap();
    c.warmup_until(Phase::CreateVBuckets).unwrap();
    assert_eq!(ids(&c.active_failover(0).unwrap()), [(2, 2), (1, 0)]);
}

#[test]
fn an_item_queued_outside_the_vb_map_does_not_notify_the_flusher() {
    let (mut c, _d) = cluster("mb41942", 1, 0);
    c.crash().unwrap();
    c.warmup_until(Phase::CreateVBuckets).unwrap();
    let vb = &c.view().active.vbuckets[0];
    assert_eq!(
        vb.queued.as_deref(),
        Some(&["set_vbucket_state".into()][..])
    );
    assert!(!vb.flusher_notified);
    assert!(matches!(c.flush(0), Err(EngineError::TemporaryFailure(_))));
    // A later mutation in the map notifies, and its flush carries the queued state along.
    c.warmup_until(Phase::Complete).unwrap();
    c.set(0, "k0", "v1", None).unwrap();
    c.flush(0).unwrap();
    assert_eq!(disk_table(&c, 0), [(2, 0), (1, 0)]);
}

#[test]
fn sync_flush_persists_the_new_entry_before_the_vb_enters_the_map() {
    let (mut c, _d) = cluster("mb41257", 1, 0);
    c.crash().unwrap();
    c.warmup_until(Phase::CreateVBuckets).unwrap();
    assert_eq!(disk_table(&c, 0), [(1, 0)]);
    c.warmup_step().unwrap();
    assert_eq!(disk_table(&c, 0), [(2, 0), (1, 0)]);
    let vb = &c.view().active.vbuckets[0];
    assert!(vb.in_vbucket_map);
    assert_eq!(vb.queued.as_deref(), Some(&[][..]));
}

#[test]
fn queue_at_populate_notifies_the_flusher() {
    let (mut c, _d) = cluster("mb43744", 1, 0);
    c.crash().unwrap();
    c.warmup_until(Phase::PopulateVBucketMap).unwrap();
    assert_eq!(c.notified_vbs(), [0]);
    c.flush(0).unwrap();
    assert_eq!(disk_table(&c, 0), [(2, 0), (1, 0)]);
}

#[test]
fn at_complete_queues_set_vbucket_state_for_every_vb_even_after_a_clean_shutdown() {
    let (mut c, _d) = cluster("v6.5.1", 2, 0);
    c.shutdown().unwrap();
    c.warmup_until(Phase::Done).unwrap();
    assert!(c.notified_vbs().is_empty());
    c.warmup_step().unwrap();
    assert_eq!(c.notified_vbs(), [0, 1]);
}

#[test]
fn after_flush_initialize_resets_the_clean_flag_and_before_flush_does_not() {
    for (variant, flag_after_initialize) in [("current", false), ("mb41257", true)] {
        let (mut c, _d) = cluster(variant, 1, 0);
        c.shutdown().unwrap();
        assert!(c.view().active.clean_shutdown_flag);
        c.warmup_step().unwrap();
        let v = c.view();
        assert_eq!(v.active.warmup_read_clean, Some(true));
        assert_eq!(
            v.active.clean_shutdown_flag, flag_after_initialize,
            "{variant}"
        );
    }
}

#[test]
fn the_shutdown_steps_follow_the_variants_order() {
    let (mut c, _d) = cluster("mb41257", 1, 0);
    c.set(0, "k0", "v1", None).unwrap();
    c.shutdown_begin().unwrap();
    assert!(c.shutdown_stop_flusher().is_err()); // a vb is notified
    c.flush(0).unwrap();
    assert!(c.shutdown_stop_flusher().is_err()); // before-flush: flag first
    c.shutdown_write_clean_flag().unwrap();
    c.shutdown_stop_flusher().unwrap();
    c.shutdown_stop_tasks().unwrap(); // before-flush: flag, flusher, tasks
    assert_eq!(c.process(), Process::Down);

    let (mut c, _d) = cluster("current", 1, 0);
    c.shutdown_begin().unwrap();
    assert!(c.shutdown_write_clean_flag().is_err()); // after-flush: flusher first
    c.shutdown_stop_flusher().unwrap();
    assert!(c.view().active.flusher_stopped);
    assert!(c.shutdown_write_clean_flag().is_err()); // after-flush: the tasks stop first
    c.shutdown_stop_tasks().unwrap();
    assert!(c.view().active.tasks_stopped);
    c.shutdown_write_clean_flag().unwrap();
    assert_eq!(c.process(), Process::Down);
    assert!(!c.view().active.flusher_stopped);
}

#[test]
fn a_crash_drops_memory_and_streams_and_keeps_the_disk() {
    let (mut c, _d) = cluster("current", 1, 1);
    c.set(0, "k0", "v1", None).unwrap();
    c.flush(0).unwrap();
    c.set(0, "k1", "v2", None).unwrap();
    c.connect(0, 0).unwrap();
    assert_eq!(c.replica_stream(0, 0), StreamState::Accepted);
    c.crash().unwrap();
    assert_eq!(c.replica_stream(0, 0), StreamState::None);
    assert_eq!(c.active_items(0), None);
    assert_eq!(c.active_items_on_disk(0).len(), 1);
    assert!(
        c.crash().is_err(),
        "a node that is down does not crash again"
    );
}

#[test]
fn a_replica_streams_unpersisted_mutations_one_commit_each() {
    let (mut c, _d) = cluster("current", 1, 1);
    c.set(0, "k0", "v1", None).unwrap();
    c.set(0, "k1", "v2", None).unwrap();
    assert!(c.stream_deliver(0, 0).is_err(), "no stream yet");
    c.connect(0, 0).unwrap();
    assert_eq!(c.stream_deliver(0, 0).unwrap(), Some(1));
    assert_eq!(c.stream_all(0, 0).unwrap(), [2]);
    assert_eq!(c.stream_deliver(0, 0).unwrap(), None);
    // One snapshot marker covered everything the producer had when the first mutation went
    // out: [1, 2]; both mutations arrived inside it.
    let r = &c.view().replicas[0].vbuckets[0];
    assert_eq!((r.high_seqno, r.snap_start, r.snap_end), (2, 1, 2));
}

#[test]
fn a_replica_rewinds_to_min_of_the_rollback_seqno_and_its_high_seqno() {
    let (mut c, _d) = cluster("current", 1, 1);
    c.set(0, "k0", "v1", None).unwrap();
    c.flush(0).unwrap();
    c.set(0, "k1", "v2", None).unwrap();
    c.set(0, "k2", "v3", None).unwrap();
    c.connect(0, 0).unwrap();
    c.stream_all(0, 0).unwrap();
    c.crash().unwrap();
    c.warmup_until(Phase::Complete).unwrap();
    assert_eq!(
        c.stream_request(0, 0).unwrap(),
        StreamOutcome::RolledBack {
            to: 1,
            dropped_entry: false
        }
    );
    assert_eq!(c.replica_items(0, 0).len(), 1);
    assert_eq!(c.replica_stream(0, 0), StreamState::RolledBack(1));
    assert_eq!(c.stream_request(0, 0).unwrap(), StreamOutcome::Accepted);
    assert_eq!(ids(&c.replica_failover(0, 0)), [(2, 1), (1, 0)]);
}

#[test]
fn compaction_expires_every_expired_key_in_the_order_of_their_newest_seqno() {
    let (mut c, _d) = cluster("current", 1, 0);
    c.set(0, "k1", "v1", Some(1)).unwrap();
    c.set(0, "k0", "v2", Some(1)).unwrap();
    c.set(0, "k2", "v3", Some(5)).unwrap();
    c.advance_clock(1).unwrap();
    assert_eq!(c.compact(0).unwrap(), [4, 5]);
    let items = c.active_items(0).unwrap();
    assert_eq!(items[3].key, "k1");
    assert_eq!(items[4].key, "k0");
    assert!(c.run_expiry_pager().unwrap().is_empty());
    c.advance_clock(4).unwrap();
    assert_eq!(c.run_expiry_pager().unwrap(), [(0, 6)]);
}

#[test]
fn cas_is_a_hybrid_clock_that_never_goes_back() {
    let (mut c, _d) = cluster("current", 1, 0);
    c.set(0, "k0", "v1", None).unwrap();
    c.set(0, "k0", "v2", None).unwrap();
    c.advance_clock(3).unwrap();
    c.set(0, "k0", "v3", None).unwrap();
    let cas: Vec<u64> = c.active_items(0).unwrap().iter().map(|i| i.cas).collect();
    assert_eq!(cas, [1, 2, 3_000_000_000]);
}

#[test]
fn open_finds_the_active_down_and_ready_to_warm_up() {
    let dir = tempfile::tempdir().unwrap();
    let backend = default_backend();
    let mut cfg = config("current", 1, 1, dir.path());
    cfg.backend = backend.clone();
    let mut c = Cluster::create(cfg).unwrap();
    c.set(0, "k0", "v1", None).unwrap();
    c.shutdown().unwrap();
    drop(c);
    let mut cfg = config("current", 1, 1, dir.path());
    cfg.backend = backend.clone();
    assert!(
        Cluster::create(cfg).is_err(),
        "create refuses an existing bucket"
    );
    let mut cfg = config("current", 1, 1, dir.path());
    cfg.backend = backend;
    let mut c = Cluster::open(cfg).unwrap();
    assert_eq!(c.process(), Process::Down);
    assert!(c.view().active.clean_shutdown_flag);
    c.warmup_until(Phase::Complete).unwrap();
    assert_eq!(c.active_items(0).unwrap().len(), 1);
}

// Seeded bugs: each one changes an observable outcome (what conformance must notice).

#[test]
fn seeded_flusher_ignores_set_vbstate_keeps_the_old_table_on_disk() {
    let (mut c, _d) = with_bug("current", "flusher_ignores_set_vbstate");
    c.crash().unwrap();
    c.warmup_until(Phase::PopulateVBucketMap).unwrap();
    assert_eq!(disk_table(&c, 0), [(1, 0)]);
}

#[test]
fn seeded_needs_rollback_uses_lt_rolls_back_a_replica_that_is_level() {
    let (mut c, _d) = with_bug("current", "needs_rollback_uses_lt");
    c.set(0, "k0", "v1", None).unwrap();
    c.connect(0, 0).unwrap();
    c.stream_all(0, 0).unwrap();
    c.crash().unwrap();
    c.warmup_until(Phase::Complete).unwrap();
    c.set(0, "k0", "v2", None).unwrap();
    // Replica at 1 on U1; producer [(U2,0),(U1,0)]: upper for U1 is 0 -> rollback either way.
    // Level case: replica at 0 after that, asking with U1 at start 0: rule 1, accepted.
    let outcome = c.connect(0, 0).unwrap();
    assert_eq!(outcome.last(), Some(&StreamOutcome::Accepted));
    // The bug shows when the replica's snapshot ends exactly at upper.
    let (mut c, _d) = with_bug("current", "needs_rollback_uses_lt");
    c.set(0, "k0", "v1", None).unwrap();
    c.flush(0).unwrap();
    c.connect(0, 0).unwrap();
    c.stream_all(0, 0).unwrap();
    c.crash().unwrap();
    c.warmup_until(Phase::Complete).unwrap(); // [(U2,1),(U1,0)]
    assert_eq!(
        c.stream_request(0, 0).unwrap(),
        StreamOutcome::RolledBack {
            to: 1,
            dropped_entry: false
        }
    );
}

#[test]
fn seeded_no_entry_after_unclean_shutdown_keeps_the_disk_table() {
    let (mut c, _d) = with_bug("current", "no_entry_after_unclean_shutdown");
    c.crash().unwrap();
    c.warmup_until(Phase::CreateVBuckets).unwrap();
    assert_eq!(ids(&c.active_failover(0).unwrap()), [(1, 0)]);
}

#[test]
fn seeded_rollback_does_not_prune_keeps_entries_above_the_new_high() {
    let (mut c, _d) = with_bug("current", "rollback_does_not_prune");
    c.set(0, "k0", "v1", None).unwrap();
    c.flush(0).unwrap();
    c.connect(0, 0).unwrap();
    c.stream_all(0, 0).unwrap();
    c.crash().unwrap();
    c.warmup_until(Phase::Complete).unwrap(); // [(U2,1),(U1,0)]
    c.connect(0, 0).unwrap(); // accepted: adopts [(U2,1),(U1,0)]
    c.set(0, "k1", "v2", None).unwrap();
    c.stream_all(0, 0).unwrap(); // replica at 2
    c.crash().unwrap();
    c.warmup_until(Phase::Complete).unwrap(); // [(U3,1),(U2,1),(U1,0)]: seqno 2 lost
    let first = c.stream_request(0, 0).unwrap();
    assert_eq!(
        first,
        StreamOutcome::RolledBack {
            to: 1,
            dropped_entry: false
        }
    );
    assert_eq!(ids(&c.replica_failover(0, 0)), [(2, 1), (1, 0)]);
}

#[test]
fn seeded_clean_flag_before_final_flush_lets_after_flush_write_the_flag_first() {
    let (mut c, _d) = with_bug("current", "clean_flag_before_final_flush");
    c.shutdown_begin().unwrap();
    c.shutdown_write_clean_flag().unwrap();
    assert!(c.view().active.clean_shutdown_flag);
}

#[test]
fn bad_vb_and_replica_numbers_are_invalid_arguments() {
    let (mut c, _d) = cluster("current", 1, 1);
    assert!(matches!(
        c.set(3, "k", "v", None),
        Err(EngineError::InvalidArgument(_))
    ));
    assert!(matches!(
        c.stream_request(4, 0),
        Err(EngineError::InvalidArgument(_))
    ));
    let _ = Variant::current();
}

/// stats.json changed behind the engine's back while it ran (a crash no longer rereads it when
/// the process knows what it last wrote): warmup's Initialize reads the file, and the file wins,
/// rather than the engine tripping over its own cached flag.
#[test]
fn warmup_believes_stats_json_even_when_it_changed_behind_the_engine() {
    let (mut c, dir) = cluster("current", 1, 0);
    assert!(!c.view().active.clean_shutdown_flag);
    let stats = dir.path().join("active").join("stats.json");
    std::fs::write(&stats, "{\"ep_force_shutdown\":\"false\"}\n").unwrap();
    c.crash().unwrap();
    c.warmup_until(Phase::Initialize).unwrap();
    let view = c.view();
    assert_eq!(view.active.warmup_read_clean, Some(true));
}

// ---------------------------------------------------------------------------------------------
// Failover and add-back (docs/vocabulary.md; model/src/promotion.rs)
// ---------------------------------------------------------------------------------------------

fn table_of(c: &Cluster, vb: u16) -> Vec<(u64, u64)> {
    ids(&c.active_failover(vb).expect("in memory"))
}

#[test]
fn only_a_down_active_is_failed_over_and_only_a_failed_over_node_added_back() {
    let (mut c, _d) = cluster("current", 1, 2);
    let refused = |r: Result<(), EngineError>| matches!(r, Err(EngineError::TemporaryFailure(_)));
    assert!(
        refused(c.fail_over(0)),
        "a running active is not failed over"
    );
    assert!(refused(c.add_back()), "no node is out");
    c.crash().unwrap();
    assert!(matches!(
        c.fail_over(2),
        Err(EngineError::InvalidArgument(_))
    ));
    c.fail_over(1).unwrap(); // r2's node is the active now; r1 stays r1
    assert_eq!(c.process(), Process::Running, "the promoted node runs");
    assert_eq!(c.roles().active, 2);
    assert_eq!(c.roles().replicas, vec![1]);
    c.crash().unwrap();
    assert!(refused(c.fail_over(0)), "one node is out at a time");
    c.add_back().unwrap();
    assert_eq!(
        c.roles().replicas,
        vec![1, 0],
        "added back as the last replica"
    );
    assert!(refused(c.add_back()), "added back once");
}

#[test]
fn a_promotion_puts_its_entry_at_the_end_of_the_last_complete_snapshot() {
    let (mut c, _d) = cluster("current", 1, 1);
    c.set(0, "k0", "v1", None).unwrap();
    c.connect(0, 0).unwrap();
    c.stream_all(0, 0).unwrap(); // snapshot [1,1], complete
    c.set(0, "k1", "v2", None).unwrap();
    c.set(0, "k0", "v3", None).unwrap();
    assert_eq!(c.stream_deliver(0, 0).unwrap(), Some(2)); // snapshot [2,3], partial
    c.crash().unwrap();
    c.fail_over(0).unwrap();
    assert_eq!(table_of(&c, 0), vec![(2, 1), (1, 0)]);
    let v = c.view();
    assert_eq!(v.active.vbuckets[0].high_seqno, Some(2));
    assert_eq!(
        v.active.vbuckets[0].queued.as_deref().map(|q| q.len()),
        Some(1)
    );
    assert!(v.active.vbuckets[0].flusher_notified);
    // Until the set_vbucket_state is flushed the disk keeps the replica's table.
    assert_eq!(disk_table(&c, 0), vec![(1, 0)]);
    c.flush(0).unwrap();
    assert_eq!(disk_table(&c, 0), vec![(2, 1), (1, 0)]);
}

#[test]
fn a_promoted_copy_that_crashes_before_its_first_flush_is_promoted_again_at_populate() {
    let (mut c, _d) = cluster("current", 1, 1);
    c.set(0, "k0", "v1", None).unwrap();
    c.connect(0, 0).unwrap();
    c.stream_all(0, 0).unwrap();
    c.crash().unwrap();
    c.fail_over(0).unwrap();
    assert_eq!(table_of(&c, 0), vec![(2, 1), (1, 0)]);
    c.crash().unwrap(); // before the flush: the vbstate still says replica
    c.warmup_until(Phase::CreateVBuckets).unwrap();
    assert_eq!(
        table_of(&c, 0),
        vec![(1, 0)],
        "a replica vbstate gets no warmup entry, unclean as the restart is"
    );
    c.warmup_step().unwrap(); // PopulateVBucketMap
    assert_eq!(table_of(&c, 0), vec![(3, 1), (1, 0)], "promoted again");
    assert!(c.view().active.vbuckets[0].in_vbucket_map);
}

#[test]
fn an_added_back_node_rolls_back_to_the_branch_point_and_its_file_follows() {
    let (mut c, d) = cluster("current", 1, 1);
    c.set(0, "k0", "v1", None).unwrap();
    c.connect(0, 0).unwrap();
    c.stream_all(0, 0).unwrap(); // snapshot [1,1]
    c.set(0, "k0", "v2", None).unwrap();
    c.flush(0).unwrap(); // seqnos 1 and 2 in one commit; 2 never streamed
    c.crash().unwrap();
    c.fail_over(0).unwrap(); // the branch point: (U2,1)
    c.flush(0).unwrap();
    c.set(0, "k1", "v3", None).unwrap(); // seqno 2 on the new branch
    c.add_back().unwrap();
    // Unclean (crashed) and its vbstate active: a warmup entry at its high seqno, 2.
    assert_eq!(ids(&c.replica_failover(0, 0)), vec![(3, 2), (1, 0)]);
    let rounds = c.connect(0, 0).unwrap();
    assert_eq!(
        rounds,
        vec![
            StreamOutcome::RolledBack {
                to: 0,
                dropped_entry: true
            },
            StreamOutcome::RolledBack {
                to: 1,
                dropped_entry: false
            },
            StreamOutcome::Accepted
        ]
    );
    // Seqno 1 is kept: the file had it only in the commit with seqno 2, so it rewound to the
    // creation commit and committed seqno 1 again.
    let items = c.replica_items(0, 0);
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].value.as_deref(), Some("v1"));
    drop(c);
    let c = Cluster::open(config("current", 1, 1, d.path())).unwrap();
    assert_eq!(
        c.replica_items(0, 0),
        items,
        "the file holds what memory held"
    );
    assert_eq!(ids(&c.replica_failover(0, 0)), vec![(2, 1), (1, 0)]);
    assert_eq!(c.roles().replicas, vec![0]);
}

#[test]
fn a_promoted_nodes_files_take_the_full_disk_seam_after_failover_and_add_back() {
    let (mut c, _d) = cluster("current", 2, 2);
    c.set(0, "k0", "v1", None).unwrap();
    c.connect(0, 0).unwrap();
    c.stream_all(0, 0).unwrap();
    c.crash().unwrap();
    c.fail_over(0).unwrap();
    for round in 0..2 {
        c.fail_next_flushes(1);
        assert!(
            matches!(c.flush(0), Err(EngineError::FlushFailed(_))),
            "round {round}: the promoted node's commit fails when a failure is armed"
        );
        c.fail_next_flushes(0);
    }
    c.flush(1).unwrap();
    c.add_back().unwrap();
    c.fail_next_flushes(1);
    assert!(
        matches!(c.flush(0), Err(EngineError::FlushFailed(_))),
        "after the add-back too"
    );
    c.fail_next_flushes(0);
    c.flush(0).unwrap();
}
