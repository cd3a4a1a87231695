//! What the bounds or the design rule out before any state is explored: the actions that
//! cannot fire and the `sometimes` properties that cannot be reached. `check` reports a dead
//! action as a possible modelling bug only when it is not ruled out here, and JUnit reports a
//! ruled-out unreached property as skipped with the reason, not as a failure.
//!
//! Each rule is a necessary condition read off the model (`model/src/lib.rs`, `actions`), and
//! only those: a rule that said "ruled out" where the model can fire the action would hide a
//! real dead action. The tests below run the checker at every combination of small bounds the
//! rules distinguish and fail if a ruled-out action fires or a ruled-out property is reached.

use warmcheck_model::{Bounds, PersistEntry, Variant};

/// The reason failover's steps do not fire at `--failovers 0` (the default).
pub const NO_FAILOVERS: &str = "--failovers 0";

/// Why `kind` (a name of [`crate::explored::ACTION_KINDS`]) cannot fire within `bounds` in
/// `variant`; `None` if it may.
pub fn action(bounds: &Bounds, variant: &Variant, kind: &str) -> Option<&'static str> {
    let restarts = bounds.crashes as u32 + bounds.shutdowns as u32;
    match kind {
        "ClientSets" | "ClockAdvances" | "ItemExpires" if bounds.writes == 0 => Some("--writes 0"),
        "ClientDeletes" if bounds.writes < 2 => {
            Some("fewer than 2 --writes: a delete needs a set before it")
        }
        "FlusherCommits" if bounds.writes == 0 && restarts == 0 => {
            Some("--writes 0 and no restart: nothing is ever queued")
        }
        "FlusherCommitFails" | "WarmupPopulatesVBucketMapFlushFailing"
            if bounds.flush_failures == 0 =>
        {
            Some("--flush-failures 0")
        }
        "WarmupPopulatesVBucketMapFlushFailing"
            if variant.persist_entry != PersistEntry::SyncFlush =>
        {
            Some("the design flushes no vbstate synchronously at PopulateVBucketMap")
        }
        "StatsSnapshotRewritesStatsJson" if bounds.shutdowns == 0 => {
            Some("--shutdowns 0: stats.json never says clean")
        }
        "StatsSnapshotRewritesStatsJson" if variant.shutdown_flag.after_flush() => Some(
            "the design's warmup rewrites stats.json unclean at Initialize, so it never says \
             clean while the node runs",
        ),
        "ActiveCrashes" if bounds.crashes == 0 => Some("--crashes 0"),
        "ShutdownBegins"
        | "ShutdownWritesCleanFlag"
        | "ShutdownStopsFlusher"
        | "ShutdownStopsTasks"
            if bounds.shutdowns == 0 =>
        {
            Some("--shutdowns 0")
        }
        k if k.starts_with("Warmup") && restarts == 0 => {
            Some("--crashes 0 and --shutdowns 0: the node never restarts")
        }
        "ReplicaRequestsStream" | "ReplicaReceives" if bounds.replicas == 0 => Some("--replicas 0"),
        "ClusterFailsOverToReplica" | "FailedOverNodeIsAddedBack" if bounds.failovers == 0 => {
            Some(NO_FAILOVERS)
        }
        "ClusterFailsOverToReplica" | "FailedOverNodeIsAddedBack" if bounds.replicas == 0 => {
            Some("--replicas 0: no replica to promote")
        }
        "ClusterFailsOverToReplica" | "FailedOverNodeIsAddedBack" if restarts == 0 => {
            Some("--crashes 0 and --shutdowns 0: the active never goes down to be failed over")
        }
        _ => None,
    }
}

/// Why the `sometimes` property `name` cannot be reached within `bounds`; `None` if it may.
pub fn property(bounds: &Bounds, name: &str) -> Option<&'static str> {
    let restarts = bounds.crashes as u32 + bounds.shutdowns as u32;
    let no_restart = "--crashes 0 and --shutdowns 0: the node never restarts";
    match name {
        "the active crashes during warmup" if bounds.crashes == 0 => Some("--crashes 0"),
        "the active crashes during warmup" if bounds.crashes == 1 && bounds.shutdowns == 0 => {
            Some("one crash and no clean shutdown: the only warmup follows the only crash")
        }
        "an expiry made during warmup reaches disk" if bounds.writes == 0 => {
            Some("--writes 0: nothing expires")
        }
        "an expiry made during warmup reaches disk" if restarts == 0 => Some(no_restart),
        "a replica holds a mutation the active has not persisted" if bounds.writes == 0 => {
            Some("--writes 0")
        }
        "a replica holds a mutation the active has not persisted"
        | "a replica rolls back"
        | "a replica rolls back to 0"
        | "a replica is accepted after an unclean restart"
            if bounds.replicas == 0 =>
        {
            Some("--replicas 0")
        }
        "a replica rolls back"
        | "a replica rolls back to 0"
        | "a replica is accepted after an unclean restart"
            if restarts == 0 =>
        {
            Some(no_restart)
        }
        "a clean shutdown completes"
        | "a clean shutdown during warmup completes"
        | "an expiry is queued after the flusher stopped"
            if bounds.shutdowns == 0 =>
        {
            Some("--shutdowns 0")
        }
        "a clean shutdown during warmup completes"
            if bounds.crashes == 0 && bounds.shutdowns < 2 =>
        {
            Some("one clean shutdown and no crash: no warmup runs before the only shutdown")
        }
        "an expiry is queued after the flusher stopped" if bounds.writes == 0 => {
            Some("--writes 0: nothing expires")
        }
        "a failed flush is retried" if bounds.flush_failures == 0 => Some("--flush-failures 0"),
        "a replica is promoted"
        | "a failed-over node is added back"
        | "an added-back node rolls back"
        | "an added-back node is accepted by the new active"
            if bounds.replicas == 0 =>
        {
            Some("--replicas 0: no replica to promote")
        }
        "a replica is promoted"
        | "a failed-over node is added back"
        | "an added-back node rolls back"
        | "an added-back node is accepted by the new active"
            if restarts == 0 =>
        {
            Some("--crashes 0 and --shutdowns 0: the active never goes down to be failed over")
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::{self, CheckOptions};
    use crate::explored::ACTION_KINDS;

    /// Every rule, checked against the model: at small bounds that trigger each rule, in a
    /// design of each kind, no ruled-out action fires and no ruled-out property is reached;
    /// and at bounds that trigger none, every action fires (so the rules are not vacuous).
    #[test]
    fn nothing_ruled_out_fires_or_is_reached() {
        let base = Bounds {
            vbuckets: 1,
            replicas: 1,
            keys: 1,
            writes: 1,
            crashes: 1,
            shutdowns: 1,
            flush_failures: 0,
            failovers: 0,
        };
        let with = |f: &dyn Fn(&mut Bounds)| {
            let mut b = base;
            f(&mut b);
            b
        };
        let bounds = [
            base,
            with(&|b| b.writes = 0),
            with(&|b| b.writes = 2),
            with(&|b| b.replicas = 0),
            with(&|b| b.crashes = 0),
            with(&|b| b.shutdowns = 0),
            with(&|b| {
                b.crashes = 0;
                b.shutdowns = 0
            }),
            with(&|b| {
                b.crashes = 0;
                b.shutdowns = 2
            }),
            with(&|b| {
                b.writes = 0;
                b.crashes = 0;
                b.shutdowns = 0
            }),
            with(&|b| b.flush_failures = 1),
            with(&|b| b.failovers = 1),
            with(&|b| {
                b.failovers = 1;
                b.replicas = 0
            }),
            with(&|b| {
                b.failovers = 1;
                b.crashes = 0;
                b.shutdowns = 0
            }),
        ];
        let mut fired_somewhere = [false; ACTION_KINDS.len()];
        let mut ruled = 0;
        for b in bounds {
            for design in ["v6.5.1", "mb41942", "current"] {
                let variant = Variant::preset(design).unwrap();
                let model = b.into_model(variant);
                let opts = CheckOptions {
                    threads: 2,
                    ..CheckOptions::default()
                };
                let outcome = check::run(&model, &opts);
                assert!(outcome.complete);
                for (i, kind) in ACTION_KINDS.iter().enumerate() {
                    let n = outcome.coverage.0[i];
                    fired_somewhere[i] |= n > 0;
                    if let Some(why) = action(&b, &variant, kind) {
                        ruled += 1;
                        assert_eq!(n, 0, "{kind} fired in {design} within {b}, yet {why}");
                    }
                }
                for p in &outcome.properties {
                    if let Some(why) = property(&b, &p.name) {
                        ruled += 1;
                        assert_eq!(
                            p.status, "unreached",
                            "{:?} in {design} within {b}, yet {why}",
                            p.name
                        );
                    }
                }
            }
        }
        assert!(ruled > 50, "the rules were exercised: {ruled}");
        for (i, kind) in ACTION_KINDS.iter().enumerate() {
            assert!(
                fired_somewhere[i],
                "{kind} never fired at any of these bounds"
            );
        }
    }
}
