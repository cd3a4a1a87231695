//! The designs kv_engine shipped, as three knobs and six presets (domain brief, section 4, and
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

/// When the clean-shutdown flag is written relative to the final flush.
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
    /// Initialize rewrites it to `true` as soon as it has read it (MB-45756 92fed9e6b, MB-46310
    /// 81259bed6, kv_engine today).
    AfterFlush,
    /// The `proposed` design: as `after-flush`, but `persistShutdownContext` writes `false` only
    /// if warmup got past PopulateVBucketMap (every vbstate, and so every new failover entry,
    /// was persisted) and no vbstate flush failed (`failedToSetAVbucketState` is false);
    /// otherwise it leaves `true`, so the next warmup creates a failover entry.
    AfterFlushIfStatePersisted,
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

/// A design: the three knobs, and the preset's name if it is one.
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
}

impl RollbackRetry {
    fn always() -> Self {
        RollbackRetry::Always
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
        let (persist_entry, shutdown_flag, rollback_retry) = match name {
            "v6.5.1" => (AtComplete, BeforeFlush, Always),
            "mb41942" => (QueueAtCreate, BeforeFlush, Always),
            "mb43744" => (QueueAtPopulate, BeforeFlush, Always),
            "mb41257" => (SyncFlush, BeforeFlush, Always),
            "current" => (SyncFlush, AfterFlush, IfEntryAtStart),
            "proposed" => (SyncFlush, AfterFlushIfStatePersisted, IfEntryAtStart),
            _ => return None,
        };
        Some(Variant {
            persist_entry,
            shutdown_flag,
            rollback_retry,
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
                "persist-entry={} shutdown-flag={} rollback-retry={}",
                self.persist_entry, self.shutdown_flag, self.rollback_retry
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
    AfterFlushIfStatePersisted => "after-flush-if-state-persisted",
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
