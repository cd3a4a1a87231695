//! The designs kv_engine shipped, as four knobs and six presets (domain brief, section 4, and
//! `docs/fidelity.md` for the source of each). The implementation keeps its own copy of this
//! table (`impl/src/engine/variant.rs`) on purpose: neither may depend on the other, and
//! conformance checks that they agree.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Where the vbstate carrying a new failover entry is persisted during warmup.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum PersistEntry {
    /// `warmupCompleted()` queues set_vbucket_state for every vb; the next flush persists it.
    AtComplete,
    /// Queued in CreateVBuckets right after `createEntry`; the vb is not in the map yet, so the
    /// flusher is not notified (MB-41942's fix).
    QueueAtCreate,
    /// Queued in PopulateVBucketMap after the vb is in the map, which notifies the flusher
    /// (MB-43744's fix).
    QueueAtPopulate,
    /// Flushed synchronously in PopulateVBucketMap before the vb enters the map (MB-41257).
    SyncFlush,
}

/// When the clean-shutdown flag is written relative to the final flush, and, for the guarded
/// kinds, what the shutdown path reads to decide whether to write `false` (clean). Each guarded
/// kind writes `false` only if its predicate holds on the state kv_engine holds at
/// `KVBucket::persistShutdownContext` (after `Warmup::stop`, forced Done included) and no
/// vbstate flush failed (`Warmup::hasSetVbucketStateFailure()`); otherwise it writes `true`,
/// so the next warmup creates a failover entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum ShutdownFlag {
    /// `ep_force_shutdown=false` is written before the flushers stop: v6.5.1's
    /// `EventuallyPersistentEngine::destroyInner` calls `KVBucket::snapshotStats` before
    /// `EPBucket::deinitialize` stops the flusher (before MB-45756).
    BeforeFlush,
    /// Written by `KVBucket::persistShutdownContext` at the end of `EPBucket::deinitialize`,
    /// after the flusher and the bucket's tasks stopped, whatever warmup had reached; warmup's
    /// Initialize rewrites it to `true` when it read `false` (MB-45756 92fed9e6b, MB-46310
    /// 81259bed6, kv_engine today).
    AfterFlush,
    /// The fix as a kv_engine engineer would first write it: `after-flush`, guarded by
    /// `warmupTask->hasLoadedMetaData() && !warmupTask->hasSetVbucketStateFailure()` read in
    /// `persistShutdownContext`. `Warmup::hasLoadedMetaData()` is a pure function of the warmup
    /// state, and `Warmup::stop()` forces that state to Done, where it is true: after a stop in
    /// Initialize or CreateVBuckets the guard holds though no vbstate was persisted. Diverges.
    AfterFlushIfHasLoadedMetadata,
    /// The `proposed` design: `after-flush`, guarded by a member of `Warmup` set only where
    /// `Warmup::populateVBucketMap` finishes its last shard (every vbstate, and so every new
    /// failover entry, flushed), which `Warmup::stop()` cannot set, and by
    /// `!hasSetVbucketStateFailure()` (docs/proposed-fix.md).
    #[serde(alias = "after-flush-if-state-persisted")]
    AfterFlushIfVbMapPopulated,
    /// An alternative guard: `after-flush`, guarded by `hasLoadedMetaData()` as
    /// `EPBucket::stopWarmup` read it before calling `Warmup::stop()` (recorded in a member of
    /// `EPBucket`), and by `!hasSetVbucketStateFailure()`. Holds, but leaves stats.json unclean
    /// after a stop that found PopulateVBucketMap still to run even when it then ran.
    AfterFlushIfLoadedBeforeStop,
}

/// Where a bucket shutdown stops warmup (`EPBucket::stopWarmup` -> `Warmup::stop`), and what the
/// `done()` that a forced stop calls runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum StopWarmup {
    /// `EPBucket::deinitialize` calls `stopWarmup` after `stopFlusher`, just before
    /// `KVBucket::deinitialize` unregisters the bucket's tasks (v6.5.1 to v7.0.1); `done()`
    /// calls `KVBucket::warmupCompleted`.
    InDeinitialize,
    /// `stopWarmup` runs when the shutdown begins, right after the DCP connections are closed
    /// (MB-47851 1110bbc38, v7.0.2, from `releaseBlockedCookies`; MB-56646 439f7514f, v7.6.0,
    /// from `EPBucket::initiateShutdown`), before the flusher stops; `Warmup::stop` empties the
    /// done function first, so `done()` runs nothing (MB-64849 5f9f736bf, v8.0.0; kv_engine
    /// today).
    InInitiateShutdown,
}

/// What a DCP consumer does when the producer answers "roll back to 0" and its failover table
/// has an older entry (`DcpConsumer::handleRollbackResponse`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum RollbackRetry {
    /// Drop the newest entry and ask again with the older uuid, whatever its seqno (before
    /// MB-48398).
    Always,
    /// Only when the newest entry's seqno equals the stream's start seqno; otherwise roll back
    /// to 0 (MB-48398, 9a0f49a66).
    IfEntryAtStart,
}

/// A design: the four knobs, and the preset's name if it is one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(
    feature = "schemars",
    derive(schemars::JsonSchema),
    schemars(deny_unknown_fields)
)]
pub struct Variant {
    pub persist_entry: PersistEntry,
    pub shutdown_flag: ShutdownFlag,
    /// Traces written before this knob existed carry none: they were of the older rule.
    #[serde(default = "RollbackRetry::always")]
    pub rollback_retry: RollbackRetry,
    /// Traces written before this knob existed carry none: they were made with warmup stopped
    /// in `EPBucket::deinitialize`.
    #[serde(default = "StopWarmup::in_deinitialize")]
    pub stop_warmup: StopWarmup,
}

impl RollbackRetry {
    fn always() -> Self {
        RollbackRetry::Always
    }
}

impl StopWarmup {
    fn in_deinitialize() -> Self {
        StopWarmup::InDeinitialize
    }
}

impl Variant {
    pub const PRESETS: [&'static str; 6] = [
        "v6.5.1", "mb41942", "mb43744", "mb41257", "current", "proposed",
    ];

    pub fn preset(name: &str) -> Option<Variant> {
        use PersistEntry::*;
        use RollbackRetry::*;
        use ShutdownFlag::*;
        use StopWarmup::*;
        let (persist_entry, shutdown_flag, rollback_retry, stop_warmup) = match name {
            "v6.5.1" => (AtComplete, BeforeFlush, Always, InDeinitialize),
            "mb41942" => (QueueAtCreate, BeforeFlush, Always, InDeinitialize),
            "mb43744" => (QueueAtPopulate, BeforeFlush, Always, InDeinitialize),
            "mb41257" => (SyncFlush, BeforeFlush, Always, InDeinitialize),
            "current" => (SyncFlush, AfterFlush, IfEntryAtStart, InInitiateShutdown),
            "proposed" => (
                SyncFlush,
                AfterFlushIfVbMapPopulated,
                IfEntryAtStart,
                InInitiateShutdown,
            ),
            _ => return None,
        };
        Some(Variant {
            persist_entry,
            shutdown_flag,
            rollback_retry,
            stop_warmup,
        })
    }

    pub fn current() -> Variant {
        Variant::preset("current").expect("current is a preset")
    }

    /// The preset this variant is, if any.
    pub fn preset_name(&self) -> Option<&'static str> {
        Self::PRESETS
            .into_iter()
            .find(|n| Variant::preset(n) == Some(*self))
    }
}

impl fmt::Display for Variant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.preset_name() {
            Some(n) => f.write_str(n),
            None => write!(
                f,
                "persist-entry={} shutdown-flag={} rollback-retry={} stop-warmup={}",
                self.persist_entry, self.shutdown_flag, self.rollback_retry, self.stop_warmup
            ),
        }
    }
}

macro_rules! knob_names {
    ($ty:ident { $($variant:ident => $name:literal),* $(,)? }) => {
        impl $ty {
            pub const NAMES: &'static [&'static str] = &[$($name),*];
            pub fn name(self) -> &'static str {
                match self { $($ty::$variant => $name),* }
            }
        }
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }
        impl FromStr for $ty {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($name => Ok($ty::$variant),)*
                    _ => Err(format!("unknown value '{s}' (expected one of: {})", Self::NAMES.join(", "))),
                }
            }
        }
    };
}

knob_names!(PersistEntry {
    AtComplete => "at-complete",
    QueueAtCreate => "queue-at-create",
    QueueAtPopulate => "queue-at-populate",
    SyncFlush => "sync-flush",
});

knob_names!(ShutdownFlag {
    BeforeFlush => "before-flush",
    AfterFlush => "after-flush",
    AfterFlushIfHasLoadedMetadata => "after-flush-if-has-loaded-metadata",
    AfterFlushIfVbMapPopulated => "after-flush-if-vb-map-populated",
    AfterFlushIfLoadedBeforeStop => "after-flush-if-loaded-before-stop",
});

knob_names!(StopWarmup {
    InDeinitialize => "in-deinitialize",
    InInitiateShutdown => "in-initiate-shutdown",
});

knob_names!(RollbackRetry {
    Always => "always",
    IfEntryAtStart => "if-entry-at-start",
});

impl ShutdownFlag {
    /// Whether the flag is written after the flusher and the tasks stopped.
    pub fn after_flush(self) -> bool {
        !matches!(self, ShutdownFlag::BeforeFlush)
    }
}

impl FromStr for Variant {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Variant::preset(s).ok_or_else(|| {
            format!(
                "unknown variant '{s}' (expected one of: {})",
                Self::PRESETS.join(", ")
            )
        })
    }
}
