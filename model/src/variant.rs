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

/// Older fixes of this bug family that a design may lack, each a one-line rule in kv_engine,
/// so that its MB's story can be shown (`--revert-fix NAME`; `docs/fidelity.md` cites each).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(
    feature = "schemars",
    derive(schemars::JsonSchema),
    schemars(deny_unknown_fields)
)]
pub struct Reverted {
    /// MB-11085 (2cd67ee0f, ecf226e91; v3.0.0): `FailoverTable::createEntry` added no entry when
    /// the newest entry's seqno already equalled the new one, so an unclean restart at the
    /// branch point kept the old uuid.
    #[serde(default)]
    pub mb11085: bool,
    /// MB-21769 (36d700b11; the bug shipped only in v4.6.0-DP): `flushVBucket` counted a
    /// set_vbucket_state item, stamped high seqno + 1, in the persisted snapshot range, so a
    /// vbstate-only flush wrote `[high+1, high+1]` and the next unclean warmup put its entry
    /// above the high seqno.
    #[serde(default)]
    pub mb21769: bool,
    /// MB-37920 (f9c1af5f0; v7.0.0): the KVStore's cached vbstate was updated before a
    /// vbstate-only write, so when the write failed the retry found the cache equal to what it
    /// had to write and skipped the commit.
    #[serde(default)]
    pub mb37920: bool,
    /// MB-20822 (4eae12aa7, 3fb0f02cb; v4.6.0): `FailoverTable::createEntry`'s loop erasing
    /// the entries above the new seqno stepped past the entry after each one it erased, so
    /// every second stale entry survived. Only a promotion meets two stale entries here
    /// (`--failovers`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub mb20822: bool,
}

impl Reverted {
    pub const NAMES: &'static [&'static str] = &["mb11085", "mb21769", "mb37920", "mb20822"];

    pub fn is_empty(&self) -> bool {
        *self == Reverted::default()
    }

    /// Revert the fix called `name` (one of [`Reverted::NAMES`]).
    pub fn revert(&mut self, name: &str) -> Result<(), String> {
        let flag = match name {
            "mb11085" => &mut self.mb11085,
            "mb21769" => &mut self.mb21769,
            "mb37920" => &mut self.mb37920,
            "mb20822" => &mut self.mb20822,
            _ => {
                return Err(format!(
                    "unknown fix '{name}' (expected one of: {})",
                    Self::NAMES.join(", ")
                ))
            }
        };
        *flag = true;
        Ok(())
    }

    /// The names of the reverted fixes, joined by `+`.
    pub fn names(&self) -> String {
        [
            (self.mb11085, "mb11085"),
            (self.mb21769, "mb21769"),
            (self.mb37920, "mb37920"),
            (self.mb20822, "mb20822"),
        ]
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, n)| *n)
        .collect::<Vec<_>>()
        .join("+")
    }
}

impl FromStr for Reverted {
    type Err = String;
    /// `mb11085+mb37920`, or `none`.
    fn from_str(s: &str) -> Result<Self, String> {
        let mut r = Reverted::default();
        if s != "none" {
            for name in s.split('+') {
                r.revert(name)?;
            }
        }
        Ok(r)
    }
}

/// A design: the four knobs, the fixes it lacks, and the preset's name if it is one.
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
    /// Older fixes this design lacks (none in most designs).
    #[serde(default, skip_serializing_if = "Reverted::is_empty")]
    pub reverted: Reverted,
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
        // MB-37920's fix (f9c1af5f0, 2021-01-08) is after v6.5.1 and MB-41942's (41a54a2ad,
        // 2020-11-30): those two designs lack it. It matters only with flush failures.
        let reverted = Reverted {
            mb37920: matches!(name, "v6.5.1" | "mb41942"),
            ..Reverted::default()
        };
        Some(Variant {
            persist_entry,
            shutdown_flag,
            rollback_retry,
            stop_warmup,
            reverted,
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
            None => {
                write!(
                    f,
                    "persist-entry={} shutdown-flag={} rollback-retry={} stop-warmup={}",
                    self.persist_entry, self.shutdown_flag, self.rollback_retry, self.stop_warmup
                )?;
                if !self.reverted.is_empty() {
                    write!(f, " revert-fix={}", self.reverted.names())?;
                }
                Ok(())
            }
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
