use super::*;
use stateright::{Checker, Model};
use Action::*;

fn design(persist_entry: PersistEntry, shutdown_flag: ShutdownFlag) -> Variant {
    Variant {
        persist_entry,
        shutdown_flag,
        rollback_retry: RollbackRetry::Always,
        stop_warmup: StopWarmup::InDeinitialize,
        reverted: Reverted::default(),
    }
}

/// Run `actions` from the initial state, asserting each is enabled; return the final state.
fn run(model: &Warmup, actions: &[Action]) -> State {
    let mut s = model.init_states().remove(0);
    for (i, a) in actions.iter().enumerate() {
        let mut enabled = Vec::new();
        model.actions(&s, &mut enabled);
        assert!(
            enabled.contains(a),
            "step {}: {a:?} not enabled; enabled: {enabled:?}",
            i + 1
        );
        s = model.next_state(&s, a.clone()).unwrap();
    }
    s
}

const CLEAN_FLAG: &str =
    "stats.json says clean only when no branch point or streamable mutation was lost";

const E: Key = Key(0);
const K: Key = Key(1);

// The stories below are spelled out in full, one action per line, although most open alike
// (a replica streams a mutation the active has not persisted, the active crashes) and close
// alike (a full warmup, a new write, the replica reconnects). Factored into shared pieces they
// would be shorter, but no longer read as `check` prints them, where step N is line N of the
// story; the repetition is deliberate.

/// The domain brief's section 5, action for action.
#[rustfmt::skip]
fn brief_story() -> Vec<Action> {
    vec![
        ClientSets { vb: 0, key: E, ttl: true },
        FlusherCommits { vb: 0 },
        ClientSets { vb: 0, key: K, ttl: false },
        ReplicaRequestsStream { replica: 0, vb: 0 },
        ReplicaReceives { replica: 0, vb: 0, seqno: 1 },
        ReplicaReceives { replica: 0, vb: 0, seqno: 2 },
        ActiveCrashes,
        WarmupInitializes,
        WarmupCreatesVBuckets,
        WarmupPopulatesVBucketMap,
        ClockAdvances,
        ItemExpires { vb: 0, key: E },
        FlusherCommits { vb: 0 },
        ActiveCrashes,
        WarmupInitializes,
        WarmupCreatesVBuckets,
        WarmupPopulatesVBucketMap,
        ReplicaRequestsStream { replica: 0, vb: 0 },
    ]
}

/// The MB-45756 story: the clean-shutdown flag is written, the node is killed before the final
/// flush, and warmup believes the shutdown clean. The shortest divergence of every design that
/// writes the flag before the final flush.
#[rustfmt::skip]
fn mb45756_story() -> Vec<Action> {
    vec![
        ClientSets { vb: 0, key: E, ttl: false },
        ReplicaRequestsStream { replica: 0, vb: 0 },
        ReplicaReceives { replica: 0, vb: 0, seqno: 1 },
        ShutdownBegins,
        ShutdownWritesCleanFlag,
        ActiveCrashes,
        WarmupInitializes,
        WarmupCreatesVBuckets,
        WarmupPopulatesVBucketMap,
        WarmupLoadsData,
        WarmupReachesDone,
        WarmupCompletes,
        ClientSets { vb: 0, key: E, ttl: false },
        ReplicaRequestsStream { replica: 0, vb: 0 },
    ]
}

/// The MB-43744 story: the entry queued at CreateVBuckets never wakes the flusher, a clean
/// shutdown drops it, and the next (clean) warmup has no record of the branch.
#[rustfmt::skip]
fn mb43744_story() -> Vec<Action> {
    vec![
        ClientSets { vb: 0, key: E, ttl: false },
        ReplicaRequestsStream { replica: 0, vb: 0 },
        ReplicaReceives { replica: 0, vb: 0, seqno: 1 },
        ActiveCrashes,
        WarmupInitializes,
        WarmupCreatesVBuckets,
        WarmupPopulatesVBucketMap,
        WarmupLoadsData,
        WarmupReachesDone,
        WarmupCompletes,
        ShutdownBegins,
        ShutdownStopsFlusher,
        ShutdownStopsTasks,
        ShutdownWritesCleanFlag,
        WarmupInitializes,
        WarmupCreatesVBuckets,
        WarmupPopulatesVBucketMap,
        WarmupLoadsData,
        WarmupReachesDone,
        WarmupCompletes,
        ClientSets { vb: 0, key: E, ttl: false },
        ReplicaRequestsStream { replica: 0, vb: 0 },
    ]
}

/// Small enough for `cargo test`, deep enough for every story with one key (MB-45756,
/// MB-43744) and for every `sometimes` property. The default bounds are checked by CI
/// (`warmcheck check`), not here.
fn one_key() -> Bounds {
    Bounds {
        vbuckets: 1,
        replicas: 1,
        keys: 1,
        writes: 2,
        crashes: 2,
        shutdowns: 1,
        flush_failures: 0,
        failovers: 0,
    }
}

/// The brief's story needs two keys (e and k) and no clean shutdown.
fn two_keys() -> Bounds {
    Bounds {
        keys: 2,
        shutdowns: 0,
        ..one_key()
    }
}

fn bfs(model: Warmup) -> impl Checker<Warmup> {
    model.checker().threads(2).spawn_bfs().join()
}

#[test]
fn v651_replica_diverges_when_the_clean_flag_is_written_before_the_final_flush() {
    let model = one_key().into_model(Variant::preset("v6.5.1").unwrap());
    let c = bfs(model);
    c.assert_discovery("no replica diverges", mb45756_story());
    c.assert_discovery(
        CLEAN_FLAG,
        vec![
            ClientSets {
                vb: 0,
                key: E,
                ttl: false,
            },
            ShutdownBegins,
            ShutdownWritesCleanFlag,
            ActiveCrashes,
        ],
    );
}

#[test]
fn v651_replica_diverges_in_the_briefs_mb41942_story() {
    let model = two_keys().into_model(Variant::preset("v6.5.1").unwrap());
    let s = run(&model, &brief_story());
    assert!(!properties::no_replica_diverges(&s));
    // The expiry reached disk under the stale table: the branch it belongs to is not named.
    let s_after_flush = run(&model, &brief_story()[..13]);
    assert!(!properties::disk_branches_named(&s_after_flush));
}

#[test]
fn the_mb41942_window_alone_diverges_with_the_briefs_story() {
    // at-complete with the MB-45756 fix: only the MB-41942 window is left open.
    let model = two_keys().into_model(design(PersistEntry::AtComplete, ShutdownFlag::AfterFlush));
    let c = bfs(model);
    c.assert_discovery("no replica diverges", brief_story());
    c.assert_discovery(
        "every mutation on disk is on a branch the disk's failover table names",
        brief_story()[..13].to_vec(),
    );
    c.assert_no_discovery(CLEAN_FLAG);
}

#[test]
fn the_briefs_story_is_rolled_back_in_every_fixed_design() {
    // The brief's story needs no clean shutdown, so the MB-41942 fix alone closes it.
    for name in ["mb41942", "mb43744", "mb41257", "current"] {
        let model = Bounds::default().into_model(Variant::preset(name).unwrap());
        let s = run(&model, &brief_story());
        let r = &s.vbs[0].replicas[0];
        assert_eq!(
            r.stream,
            Stream::RolledBack(1),
            "{name}: the replica is told to roll back to 1"
        );
        assert_eq!(r.high_seqno(), 1, "{name}");
        assert!(properties::no_replica_diverges(&s), "{name}");
    }
}

#[test]
fn mb41942_loses_the_entry_queued_at_create_on_a_clean_shutdown() {
    let model = one_key().into_model(design(
        PersistEntry::QueueAtCreate,
        ShutdownFlag::AfterFlush,
    ));
    let c = bfs(model);
    c.assert_discovery("no replica diverges", mb43744_story());
    c.assert_discovery(CLEAN_FLAG, mb43744_story()[..14].to_vec());
    // Queuing at PopulateVBucketMap (MB-43744's fix) notifies the flusher, and the shutdown
    // flushes the entry: the same steps leave no divergence.
    let fixed = one_key().into_model(design(
        PersistEntry::QueueAtPopulate,
        ShutdownFlag::AfterFlush,
    ));
    let mut enabled = Vec::new();
    let s = run(&fixed, &mb43744_story()[..11]);
    fixed.actions(&s, &mut enabled);
    assert!(
        !enabled.contains(&ShutdownStopsFlusher),
        "the notified vb must be flushed first"
    );
}

#[test]
fn every_design_that_writes_the_flag_before_the_final_flush_diverges() {
    for name in ["v6.5.1", "mb41942", "mb43744", "mb41257"] {
        let model = Bounds::default().into_model(Variant::preset(name).unwrap());
        let s = run(&model, &mb45756_story());
        assert!(!properties::no_replica_diverges(&s), "{name}");
    }
}

/// `current`'s window: a replica holds a mutation the active lost in a crash; the restart
/// reads "unclean", but a clean shutdown begins before warmup has created (let alone persisted)
/// the new failover entry, and `persistShutdownContext` writes `ep_force_shutdown=false`
/// all the same. The next warmup is clean, creates no entry, and seqno 1 is reused under U1.
#[rustfmt::skip]
fn shutdown_during_warmup_story() -> Vec<Action> {
    vec![
        ClientSets { vb: 0, key: E, ttl: false },
        ReplicaRequestsStream { replica: 0, vb: 0 },
        ReplicaReceives { replica: 0, vb: 0, seqno: 1 },
        ActiveCrashes,
        WarmupInitializes,
        ShutdownBegins,
        ShutdownStopsFlusher,
        ShutdownStopsTasks,
        ShutdownWritesCleanFlag,
        WarmupInitializes,
        WarmupCreatesVBuckets,
        WarmupPopulatesVBucketMap,
        WarmupLoadsData,
        WarmupReachesDone,
        WarmupCompletes,
        ClientSets { vb: 0, key: E, ttl: false },
        ReplicaRequestsStream { replica: 0, vb: 0 },
    ]
}

/// `current` with a failed flush: MB-41257's synchronous vbstate flush fails, the
/// set_vbucket_state stays queued without a flusher notification, the clean shutdown's final
/// flush never sees it, and the flag says clean.
#[rustfmt::skip]
fn failed_vbstate_flush_story() -> Vec<Action> {
    vec![
        ClientSets { vb: 0, key: E, ttl: false },
        ReplicaRequestsStream { replica: 0, vb: 0 },
        ReplicaReceives { replica: 0, vb: 0, seqno: 1 },
        ActiveCrashes,
        WarmupInitializes,
        WarmupCreatesVBuckets,
        WarmupPopulatesVBucketMapFlushFailing,
        WarmupLoadsData,
        WarmupReachesDone,
        WarmupCompletes,
        ShutdownBegins,
        ShutdownStopsFlusher,
        ShutdownStopsTasks,
        ShutdownWritesCleanFlag,
        WarmupInitializes,
        WarmupCreatesVBuckets,
        WarmupPopulatesVBucketMap,
        WarmupLoadsData,
        WarmupReachesDone,
        WarmupCompletes,
        ClientSets { vb: 0, key: E, ttl: false },
        ReplicaRequestsStream { replica: 0, vb: 0 },
    ]
}

fn with_flush_failures(b: Bounds, n: u8) -> Bounds {
    Bounds {
        flush_failures: n,
        ..b
    }
}

#[test]
fn current_diverges_when_a_clean_shutdown_during_warmup_forgets_an_unclean_restart() {
    let model = one_key().into_model(Variant::current());
    let s = run(&model, &shutdown_during_warmup_story());
    assert!(!properties::no_replica_diverges(&s));
    // The clean flag was written over a restart that had read "unclean": the cause, seen
    // before any replica is involved.
    let down = run(&model, &shutdown_during_warmup_story()[..9]);
    assert!(!properties::clean_flag_honest(&down));
    // `proposed` leaves the flag alone there: the next warmup creates an entry and the
    // replica is rolled back.
    let fixed = one_key().into_model(Variant::preset("proposed").unwrap());
    let s = run(&fixed, &shutdown_during_warmup_story());
    assert!(properties::no_replica_diverges(&s));
    assert_eq!(s.vbs[0].replicas[0].stream, Stream::RolledBack(0));
}

fn literal_guard() -> Variant {
    Variant {
        shutdown_flag: ShutdownFlag::AfterFlushIfHasLoadedMetadata,
        ..Variant::current()
    }
}

#[test]
fn the_literal_has_loaded_metadata_guard_diverges_because_stop_forces_done() {
    // `hasLoadedMetaData() && !hasSetVbucketStateFailure()`, read where kv_engine would read
    // it: after `Warmup::stop` forced the state to Done. The guard holds though no vbstate was
    // persisted, so `current`'s story goes through unchanged.
    let model = one_key().into_model(literal_guard());
    let story = shutdown_during_warmup_story();
    let stopped = run(&model, &story[..6]);
    let Node::ShuttingDown(sd) = stopped.node else {
        panic!("shutting down after step 6: {:?}", stopped.node)
    };
    assert!(sd.warmup_stopped, "Warmup::stop forces Done in Initialize");
    assert_eq!(sd.warmup, Some(Phase::Initialize));
    assert!(stopped.has_loaded_metadata());
    assert!(!stopped.vb_map_populated());
    let s = run(&model, &story);
    assert!(!properties::no_replica_diverges(&s));
    let down = run(&model, &story[..9]);
    assert!(down.clean_flag && !properties::clean_flag_honest(&down));
    // Both guards kv_engine can implement leave the flag unclean at the same step.
    for flag in [
        ShutdownFlag::AfterFlushIfVbMapPopulated,
        ShutdownFlag::AfterFlushIfLoadedBeforeStop,
    ] {
        let fixed = one_key().into_model(Variant {
            shutdown_flag: flag,
            ..Variant::current()
        });
        let down = run(&fixed, &story[..9]);
        assert!(!down.clean_flag, "{flag}");
        let s = run(&fixed, &story);
        assert!(properties::no_replica_diverges(&s), "{flag}");
    }
}

#[test]
fn warmup_stop_is_a_no_op_while_populate_vbucket_map_is_pending() {
    // `WarmupLoadPreparedSyncWrites` and `WarmupPopulateVBucketMap` do not register in
    // warmup's taskSet: a stop right after CreateVBuckets finds nothing to cancel, and
    // PopulateVBucketMap may still run (and flush the new entry) before the tasks stop.
    let model = one_key().into_model(Variant::current());
    let prefix = [
        ActiveCrashes,
        WarmupInitializes,
        WarmupCreatesVBuckets,
        ShutdownBegins,
    ];
    let s = run(&model, &prefix);
    let Node::ShuttingDown(sd) = s.node else {
        panic!("shutting down: {:?}", s.node)
    };
    assert!(!sd.warmup_stopped);
    assert!(!s.has_loaded_metadata());
    let mut enabled = Vec::new();
    model.actions(&s, &mut enabled);
    assert!(enabled.contains(&WarmupPopulatesVBucketMap), "{enabled:?}");
    let s = run(
        &model,
        &[&prefix[..], &[WarmupPopulatesVBucketMap]].concat(),
    );
    assert!(s.vb_map_populated() && s.has_loaded_metadata());
    assert_eq!(
        s.vbs[0].disk.failover.len(),
        2,
        "the sync flush persisted the entry"
    );
    // In every other phase the stop forces Done and no warmup step is enabled any more.
    for done in [
        &[ActiveCrashes, WarmupInitializes][..],
        &[
            ActiveCrashes,
            WarmupInitializes,
            WarmupCreatesVBuckets,
            WarmupPopulatesVBucketMap,
        ],
        &[
            ActiveCrashes,
            WarmupInitializes,
            WarmupCreatesVBuckets,
            WarmupPopulatesVBucketMap,
            WarmupLoadsData,
            WarmupReachesDone,
        ],
    ] {
        let s = run(&model, &[done, &[ShutdownBegins]].concat());
        let Node::ShuttingDown(sd) = s.node else {
            panic!("shutting down: {:?}", s.node)
        };
        assert!(sd.warmup_stopped, "after {done:?}");
        let mut enabled = Vec::new();
        model.actions(&s, &mut enabled);
        assert!(
            !enabled
                .iter()
                .any(|a| format!("{a:?}").starts_with("Warmup")),
            "after {done:?}: {enabled:?}"
        );
    }
}

#[test]
fn in_deinitialize_stops_warmup_only_after_the_flusher() {
    // Before MB-47851 warmup went on through the shutdown until `EPBucket::deinitialize`
    // stopped it, after `stopFlusher`.
    let model = one_key().into_model(Variant::preset("mb41257").unwrap());
    let s = run(
        &model,
        &[
            ActiveCrashes,
            WarmupInitializes,
            ShutdownBegins,
            ShutdownWritesCleanFlag,
            WarmupCreatesVBuckets,
            WarmupPopulatesVBucketMap,
            ShutdownStopsFlusher,
        ],
    );
    let Node::ShuttingDown(sd) = s.node else {
        panic!("shutting down: {:?}", s.node)
    };
    assert!(!sd.warmup_stopped);
    assert_eq!(sd.warmup, Some(Phase::PopulateVBucketMap));
    let s = run(
        &model,
        &[
            ActiveCrashes,
            WarmupInitializes,
            ShutdownBegins,
            ShutdownWritesCleanFlag,
            ShutdownStopsFlusher,
            ShutdownStopsTasks,
        ],
    );
    assert!(matches!(s.node, Node::Down(Down::ShutDown { .. })));
}

#[test]
fn current_diverges_when_the_vbstate_flush_at_populate_fails() {
    let model = with_flush_failures(one_key(), 1).into_model(Variant::current());
    let s = run(&model, &failed_vbstate_flush_story());
    assert!(!properties::no_replica_diverges(&s));
    let fixed = with_flush_failures(one_key(), 1).into_model(Variant::preset("proposed").unwrap());
    let s = run(&fixed, &failed_vbstate_flush_story());
    assert!(properties::no_replica_diverges(&s));
}

#[test]
fn an_expiry_lost_in_a_clean_shutdown_is_benign() {
    // A TTL item is persisted; a shutdown stops the flusher; the pager expires the item, which
    // is queued but never written; the flag says clean. Nothing a DCP client could see, and no
    // branch point, was lost: the item is still on disk with its TTL.
    let model = one_key().into_model(Variant::current());
    let s = run(
        &model,
        &[
            ClientSets {
                vb: 0,
                key: E,
                ttl: true,
            },
            FlusherCommits { vb: 0 },
            ShutdownBegins,
            ShutdownStopsFlusher,
            ClockAdvances,
            ItemExpires { vb: 0, key: E },
            ShutdownStopsTasks,
            ShutdownWritesCleanFlag,
        ],
    );
    assert!(s.clean_flag);
    assert!(matches!(
        s.node,
        Node::Down(Down::ShutDown {
            harmful_loss: false,
            ..
        })
    ));
    assert!(properties::clean_flag_honest(&s));
    assert_eq!(s.vbs[0].disk.persisted_seqno(), 1);
}

#[test]
fn proposed_holds_every_property_and_reaches_every_sometimes() {
    let c = bfs(one_key().into_model(Variant::preset("proposed").unwrap()));
    c.assert_properties();
    let c = bfs(with_flush_failures(one_key(), 1).into_model(Variant::preset("proposed").unwrap()));
    c.assert_properties();
}

#[test]
fn mb48398_keeps_a_replica_from_retrying_an_incompatible_uuid() {
    // Replica table [(U3,2),(U1,0)] asking from start 1: the newest entry is above the start,
    // so after MB-48398 the consumer does not retry with U1 but rolls back to 0.
    let mut r = ReplicaVb {
        history: History::new(),
        failover: failover::Table(failover::Entries::new()),
        snap_start: 1,
        snap_end: 1,
        stream: Stream::None,
        added_back: false,
    };
    r.failover.0.push(failover::Entry { uuid: 3, seqno: 2 });
    r.failover.0.push(failover::Entry { uuid: 1, seqno: 0 });
    r.history.push_back(Mutation {
        key: E,
        op: Op::Delete,
        branch: 1,
    });
    let mut s = one_key()
        .into_model(Variant::current())
        .init_states()
        .remove(0);
    s.vbs[0].replicas[0] = r.clone();
    // The producer has never heard of U3: rollback to 0.
    let mut after = s.clone();
    after.stream_request(Variant::current(), 0, 0);
    assert_eq!(after.vbs[0].replicas[0].stream, Stream::RolledBack(0));
    assert_eq!(after.vbs[0].replicas[0].high_seqno(), 0, "rewound to 0");
    let mut old = s.clone();
    old.stream_request(Variant::preset("mb41257").unwrap(), 0, 0);
    assert_eq!(old.vbs[0].replicas[0].stream, Stream::RolledBack(0));
    assert_eq!(
        old.vbs[0].replicas[0].high_seqno(),
        1,
        "kept, retrying with U1"
    );
    assert_eq!(old.vbs[0].replicas[0].failover.len(), 1);
}

#[test]
fn every_sometimes_property_is_reached_in_every_design() {
    for name in Variant::PRESETS {
        let model = one_key().into_model(Variant::preset(name).unwrap());
        let c = bfs(model.clone());
        for p in model.properties() {
            if p.expectation == stateright::Expectation::Sometimes {
                assert!(
                    c.discovery(p.name).is_some(),
                    "{name}: \"{}\" never reached",
                    p.name
                );
            }
        }
    }
}

#[test]
fn unique_state_counts_are_pinned() {
    // Any change to the model's semantics changes these; update them in review, knowingly.
    let small = Bounds {
        vbuckets: 1,
        replicas: 1,
        keys: 1,
        writes: 1,
        crashes: 1,
        shutdowns: 1,
        flush_failures: 0,
        failovers: 0,
    };
    let c = bfs(small.into_model(Variant::current()));
    assert_eq!(c.unique_state_count(), 4_499);
    let c = bfs(one_key().into_model(Variant::current()));
    assert_eq!(c.unique_state_count(), 611_371);
}

#[test]
fn symmetry_reduces_replicas_without_changing_verdicts() {
    let b = Bounds {
        replicas: 2,
        keys: 1,
        writes: 1,
        crashes: 2,
        shutdowns: 1,
        ..Bounds::default()
    };
    let proposed = Variant::preset("proposed").unwrap();
    let plain = bfs(b.into_model(proposed));
    let sym = b
        .into_model(proposed)
        .checker()
        .symmetry()
        .spawn_dfs()
        .join();
    plain.assert_properties();
    assert!(sym.unique_state_count() < plain.unique_state_count());
    for p in b.into_model(proposed).properties() {
        assert_eq!(
            plain.discovery(p.name).is_some(),
            sym.discovery(p.name).is_some(),
            "{}",
            p.name
        );
    }
}

#[test]
fn needs_rollback_follows_kv_engine() {
    use failover::{Entry, StreamRequest};
    let t = failover::Table(
        [Entry { uuid: 3, seqno: 2 }, Entry { uuid: 1, seqno: 0 }]
            .into_iter()
            .collect(),
    );
    let req = |start, uuid, snap_start, snap_end| StreamRequest {
        start,
        uuid,
        snap_start,
        snap_end,
        strict: false,
    };
    // The brief's step 7: U1's upper is the next newer entry's seqno, 2: no rollback.
    assert_eq!(t.needs_rollback(req(2, 1, 2, 2), 2, 0), None);
    // With the MB-41942 fix the table names (U2,1): U1's upper is 1, roll back to 1.
    let fixed = failover::Table(
        [
            Entry { uuid: 3, seqno: 2 },
            Entry { uuid: 2, seqno: 1 },
            Entry { uuid: 1, seqno: 0 },
        ]
        .into_iter()
        .collect(),
    );
    assert_eq!(fixed.needs_rollback(req(2, 1, 2, 2), 2, 0), Some(1));
    // Unknown uuid: no common history.
    assert_eq!(t.needs_rollback(req(2, 9, 2, 2), 2, 0), Some(0));
    // Starting from 0 never rolls back unless strict.
    assert_eq!(t.needs_rollback(req(0, 9, 0, 0), 2, 0), None);
    assert_eq!(
        t.needs_rollback(
            StreamRequest {
                strict: true,
                ..req(0, 9, 0, 0)
            },
            2,
            0
        ),
        Some(0)
    );
    // Purged past the consumer's start.
    assert_eq!(t.needs_rollback(req(1, 1, 1, 1), 2, 2), Some(0));
    // Newest entry: upper is the producer's high seqno; a consumer ahead of it rolls back
    // to its snapshot start, or to upper if that is lower.
    assert_eq!(t.needs_rollback(req(4, 3, 4, 4), 3, 0), Some(3));
    assert_eq!(t.needs_rollback(req(4, 3, 3, 5), 3, 0), Some(3));
    assert_eq!(t.needs_rollback(req(4, 3, 2, 5), 3, 0), Some(2));
}

#[test]
fn create_entry_prunes_above_high_and_caps_at_25() {
    let mut t = failover::Table::new(1);
    t.create_entry(2, 5);
    t.create_entry(3, 3); // (2,5) is above 3: dropped
    assert_eq!(format!("{t:?}"), "[(U3,3),(U1,0)]");
    for u in 4..40 {
        t.create_entry(u, 3);
    }
    assert_eq!(t.len(), failover::MAX_ENTRIES);
    assert!(t.is_well_formed());
    assert_eq!(t.newest().uuid, 39);
}

#[test]
fn the_timeline_marks_the_divergence_of_the_briefs_story() {
    let model = Bounds::default().into_model(Variant::preset("v6.5.1").unwrap());
    let mut path = Vec::new();
    let mut s = model.init_states().remove(0);
    for a in brief_story() {
        let n = model.next_state(&s, a.clone()).unwrap();
        path.push((s, Some(a)));
        s = n;
    }
    path.push((s, None));
    let svg = svg::timeline(&model, &path);
    if let Ok(out) = std::env::var("WARMCHECK_SVG_OUT") {
        std::fs::write(out, &svg).unwrap();
    }
    assert!(svg.contains("class=\"divergence\""));
    assert!(svg.contains("DIVERGED: r1 holds seqno 2 = set k1 v2, the active holds exp k0"));
    assert_eq!(svg.matches("class=\"crash-band\"").count(), 2);
    assert!(svg.contains("(U2,1) created"));
    assert!(svg.contains("stale table"));
    assert!(svg.contains("adopts (U3,2)"));
    assert!(!svg.contains('@'), "the CLI's notation (U1,0), not U1@0");
    assert!(svg.contains("VIOLATES: no replica diverges"));
    assert!(svg.contains("read unclean"));
    assert!(svg.contains("class=\"legend\""));
    assert!(
        svg.contains("class=\"crash-lost\""),
        "the crash lost an unflushed seqno"
    );
    let w: usize = svg
        .split("width=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(w <= 1200, "fits a 1280-pixel window: {w}");
    // The decisive loss: the entry created in warmup, only in memory when the active crashed.
    assert!(
        svg.contains("class=\"entry-lost\"") && svg.contains("lost (U2,1) (memory only)"),
        "the crash's lost failover entry is drawn"
    );
    // Events that are not failover entries are plain text, not the legend's diamonds.
    for note in ["stale-table", "warmup-reads-flag"] {
        assert!(
            svg.contains(&format!("<text class=\"{note}\"")),
            "{note} is text"
        );
        assert!(
            !svg.contains(&format!("<polygon class=\"{note}\"")),
            "{note}"
        );
    }
    // The story view: rows at full size, each within a 1280-pixel window, no text under 11.
    let rows = svg::story(&model, &path);
    assert!(rows.len() >= 2, "a long story is split into rows");
    for row in &rows {
        let w: usize = row
            .split("width=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!(w <= 1264, "a story row fits a 1280-pixel window: {w}");
        for size in row.split("font-size=\"").skip(1) {
            let size: usize = size.split('"').next().unwrap().parse().unwrap();
            assert!(size >= 11, "story text is 11 px or more: {size}");
        }
    }
    assert!(rows
        .last()
        .unwrap()
        .contains("VIOLATES: no replica diverges"));
    assert!(rows.last().unwrap().contains("class=\"legend\""));
    // The same steps in `current` roll the replica back: nothing is marked.
    let fixed = Bounds::default().into_model(Variant::current());
    let mut path = Vec::new();
    let mut s = fixed.init_states().remove(0);
    for a in brief_story() {
        let n = fixed.next_state(&s, a.clone()).unwrap();
        path.push((s, Some(a)));
        s = n;
    }
    path.push((s, None));
    let svg = svg::timeline(&fixed, &path);
    assert!(!svg.contains("class=\"divergence\""));
    assert!(svg.contains("rollback to 1"));
    assert!(svg.contains("(U2,1) persisted"));
    assert!(
        !svg.contains("VIOLATES"),
        "the path violates nothing in `current`"
    );
}

/// Each reduction (replicas and vbs; keys and values; both) against none, at bounds where each
/// has something to reduce (two replicas and two keys, one write; or two keys and two writes,
/// one replica): the same verdict for every `always`, the same reachability for every
/// `sometimes`, and fewer states wherever the reduction has something to merge.
#[test]
fn symmetry_over_keys_and_values_keeps_verdicts_and_reachability() {
    let two_replicas = Bounds {
        replicas: 2,
        keys: 2,
        writes: 1,
        crashes: 1,
        shutdowns: 1,
        ..Bounds::default()
    };
    let two_writes = Bounds {
        replicas: 1,
        keys: 2,
        writes: 2,
        crashes: 1,
        shutdowns: 0,
        ..Bounds::default()
    };
    type Reduction = (&'static str, fn(&State) -> State);
    let replicas: Reduction = ("replicas and vbs", |s| {
        stateright::Representative::representative(s)
    });
    let data: Reduction = ("keys and values", State::representative_data);
    let both: Reduction = ("both", State::representative_all);
    for (b, reductions) in [
        (two_replicas, [replicas, data, both]),
        (two_writes, [data, both, both]),
    ] {
        for name in ["v6.5.1", "current", "proposed"] {
            let model = b.into_model(Variant::preset(name).unwrap());
            let plain = model.clone().checker().threads(2).spawn_dfs().join();
            for (what, f) in reductions {
                let reduced = model
                    .clone()
                    .checker()
                    .threads(2)
                    .symmetry_fn(f)
                    .spawn_dfs()
                    .join();
                assert!(
                    reduced.unique_state_count() < plain.unique_state_count(),
                    "{name}, {b}, {what}: {} states, {} without",
                    reduced.unique_state_count(),
                    plain.unique_state_count()
                );
                for p in model.properties() {
                    assert_eq!(
                        plain.discovery(p.name).is_some(),
                        reduced.discovery(p.name).is_some(),
                        "{name}, {b}, {what}: {}",
                        p.name
                    );
                }
            }
        }
    }
}

/// The data representative renames keys and values by where they first appear: two states
/// that differ only by a renaming have the same one, and it keeps the values fresh.
#[test]
fn renaming_keys_and_values_is_canonical() {
    let model = two_keys().into_model(Variant::current());
    let set = |key, ttl| ClientSets { vb: 0, key, ttl };
    let a = run(&model, &[set(Key(0), false), set(Key(1), true)]);
    let b = run(&model, &[set(Key(1), false), set(Key(0), true)]);
    assert_ne!(a, b);
    assert_eq!(a.representative_data(), b.representative_data());
    let r = b.representative_data();
    let h = &r.vbs[0].active.as_ref().unwrap().history;
    assert_eq!(format!("{h:?}"), "[set k0 v1, set k1 v2 (ttl)]");
    assert!(r.writes >= 2, "the next write's value is still fresh");
}

/// `State::clone` (clone.rs) copies a state's bytes when nothing has spilled to the heap and
/// clones part by part otherwise. Either way the clone must equal the original and stay equal
/// after the original is changed and dropped: checked at every state reachable within bounds
/// where vbs, replicas, histories and checkpoint queues spill, and where nothing does.
#[test]
fn a_clone_equals_its_state_whether_or_not_a_part_has_spilled() {
    let spills = [
        // Two vbs (one inline) and three replicas (two inline).
        Bounds {
            vbuckets: 2,
            replicas: 3,
            keys: 1,
            writes: 1,
            crashes: 0,
            shutdowns: 0,
            flush_failures: 0,
            failovers: 0,
        },
        // Four writes with a TTL and their expiries: histories of eight (six inline), queues
        // of more than four.
        Bounds {
            vbuckets: 1,
            replicas: 0,
            keys: 1,
            writes: 4,
            crashes: 0,
            shutdowns: 0,
            flush_failures: 0,
            failovers: 0,
        },
        one_key(),
        // A failover and an add-back: the failed-over node's disk, a replica vbstate, a
        // replica list that shrinks and grows again (two vbs: the second copy of each spills).
        Bounds {
            vbuckets: 2,
            replicas: 1,
            keys: 1,
            writes: 1,
            crashes: 1,
            shutdowns: 0,
            flush_failures: 0,
            failovers: 1,
        },
    ];
    let mut inline_states = 0;
    let mut spilled_states = 0;
    for bounds in spills {
        let model = bounds.into_model(Variant::preset("current").unwrap());
        let mut seen = std::collections::HashSet::new();
        let mut todo = model.init_states();
        while let Some(s) = todo.pop() {
            if !seen.insert(s.clone()) {
                continue;
            }
            let copy = s.clone();
            assert_eq!(copy, s);
            assert_eq!(format!("{copy:?}"), format!("{s:?}"));
            if super::clone::inline_for_test(&s) {
                inline_states += 1;
            } else {
                spilled_states += 1;
            }
            let mut actions = Vec::new();
            model.actions(&s, &mut actions);
            for a in actions {
                let next = model.next_state(&s, a).unwrap();
                if model.within_boundary(&next) {
                    todo.push(next);
                }
            }
            // The copy outlives a changed and dropped original.
            let before = format!("{copy:?}");
            let mut original = s;
            original.vbs.clear();
            drop(original);
            assert_eq!(format!("{copy:?}"), before);
        }
    }
    assert!(inline_states > 1000, "{inline_states} inline states");
    assert!(spilled_states > 1000, "{spilled_states} spilled states");
}

#[test]
fn mb20822_create_entry_left_every_second_stale_entry() {
    // kv_engine's story (docs/failover-sources.md): B adopted [(U2,2),(U1,2),(U0,0)] and is
    // promoted at 1. The fixed createEntry drops both stale entries; the old loop erased U2,
    // stepped past U1, and left a table whose entries are out of order.
    let table = || {
        let mut t = failover::Table(failover::Entries::new());
        for (uuid, seqno) in [(3, 2), (2, 2), (1, 0)] {
            t.0.push(failover::Entry { uuid, seqno });
        }
        t
    };
    let mut fixed = table();
    fixed.create_entry(9, 1);
    assert_eq!(format!("{fixed:?}"), "[(U9,1),(U1,0)]");
    assert!(fixed.is_well_formed());
    let mut old = table();
    old.create_entry_skipping_every_second_stale(9, 1);
    assert_eq!(format!("{old:?}"), "[(U9,1),(U2,2),(U1,0)]");
    assert!(!old.is_well_formed());
    // With one stale entry, or none, the two agree.
    for entries in [vec![(2, 2), (1, 0)], vec![(1, 0)]] {
        let mut a = failover::Table(failover::Entries::new());
        for (uuid, seqno) in entries {
            a.0.push(failover::Entry { uuid, seqno });
        }
        let mut b = a.clone();
        a.create_entry(9, 1);
        b.create_entry_skipping_every_second_stale(9, 1);
        assert_eq!(a, b);
    }
}

/// Every state within small bounds with a failover and an add-back has a view and a story
/// for each step, and walks through promotions and add-backs draw a timeline (no index past a
/// replica list a promotion shortened).
#[test]
fn failover_states_have_views_timelines_and_stories() {
    let b = Bounds {
        vbuckets: 1,
        replicas: 2,
        keys: 1,
        writes: 1,
        crashes: 1,
        shutdowns: 1,
        flush_failures: 0,
        failovers: 2,
    };
    let model = b.into_model(Variant::current());
    let mut seen = std::collections::HashSet::new();
    let mut todo = model.init_states();
    let mut actions = Vec::new();
    while let Some(s) = todo.pop() {
        if !seen.insert(s.clone()) {
            continue;
        }
        let _ = model.view(&s);
        actions.clear();
        model.actions(&s, &mut actions);
        for a in actions.drain(..) {
            let next = model.next_state(&s, a.clone()).unwrap();
            assert!(!story::describe_step(&s, &a, &next).is_empty());
            todo.push(next);
        }
    }
    assert!(seen.iter().any(|s| s.failovers == 2));
    // Walks chosen by a fixed linear congruential sequence, each drawn when it promoted.
    let mut x: u64 = 7;
    let mut drawn = 0;
    for _ in 0..300 {
        let mut path: Vec<(State, Option<Action>)> = Vec::new();
        let mut s = model.init_states().pop().unwrap();
        for _ in 0..40 {
            model.actions(&s, &mut actions);
            if actions.is_empty() {
                break;
            }
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let a = actions[(x >> 33) as usize % actions.len()].clone();
            actions.clear();
            let next = model.next_state(&s, a.clone()).unwrap();
            path.push((s, Some(a)));
            s = next;
        }
        if s.failovers > 0 {
            path.push((s, None));
            let svg = svg::timeline(&model, &path);
            assert!(svg.starts_with("<svg"), "{svg}");
            // The promotion is marked on the timeline (and the add-back, if the walk took it).
            assert!(svg.contains("failover: r"), "{svg}");
            let added_back = path
                .iter()
                .any(|(_, a)| *a == Some(Action::FailedOverNodeIsAddedBack));
            assert_eq!(svg.contains("old active added back"), added_back);
            drawn += 1;
        }
    }
    assert!(drawn > 10, "{drawn} walks through a failover drawn");
}

/// With failovers the timeline has a pair of lanes per node (memory, disk), and a node keeps
/// its lanes through its roles: after r1 is promoted, the new active's writes are drawn on node
/// 1's lane (the third lane), not on node 0's.
#[test]
fn with_failovers_the_timeline_follows_each_node_in_its_own_lanes() {
    let b = Bounds {
        failovers: 1,
        ..Bounds::default()
    };
    let model = b.into_model(Variant::current());
    let mut s = model.init_states().pop().unwrap();
    let mut path = Vec::new();
    for a in [
        Action::ActiveCrashes,
        Action::ClusterFailsOverToReplica { replica: 0 },
        Action::ClientSets {
            vb: 0,
            key: Key(0),
            ttl: false,
        },
    ] {
        let next = model.next_state(&s, a.clone()).expect("enabled");
        path.push((s, Some(a)));
        s = next;
    }
    path.push((s, None));
    let svg = svg::timeline(&model, &path);
    for lane in ["node 0", "node 0 disk", "node 1", "node 1 disk"] {
        assert!(svg.contains(&format!(">{lane}<")), "lane {lane:?}: {svg}");
    }
    // Lane 2 (node 1's memory) starts at y = 46 + 2 * 54; a mutation box sits 6 below.
    assert!(
        svg.contains(r#"<rect class="mutation" x="308" y="160""#),
        "the set is on node 1's lane: {svg}"
    );
    // Without failovers the lanes are the roles', as before.
    let plain = Bounds::default().into_model(Variant::current());
    let svg = svg::timeline(&plain, &path);
    assert!(
        svg.contains(">active disk<") && !svg.contains(">node 0<"),
        "{svg}"
    );
}
