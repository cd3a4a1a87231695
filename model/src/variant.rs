//! The designs kv_engine shipped, as two knobs and five presets (domain brief, section 4).

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
    /// `ep_force_shutdown=false` is written before the flushers stop (before MB-45756).
    BeforeFlush,
    /// Written after the flushers stopped, and warmup's Initialize resets it to `true`
    /// (MB-45756 / MB-46361).
    AfterFlush,
}

/// A design: the two knobs, and the preset's name if it is one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(
    feature = "schemars",
    derive(schemars::JsonSchema),
    schemars(deny_unknown_fields)
)]
pub struct Variant {
    pub persist_entry: PersistEntry,
    pub shutdown_flag: ShutdownFlag,
}

impl Variant {
    pub const PRESETS: [&'static str; 5] = ["v6.5.1", "mb41942", "mb43744", "mb41257", "current"];

    pub fn preset(name: &str) -> Option<Variant> {
        use PersistEntry::*;
        use ShutdownFlag::*;
        let (persist_entry, shutdown_flag) = match name {
            "v6.5.1" => (AtComplete, BeforeFlush),
            "mb41942" => (QueueAtCreate, BeforeFlush),
            "mb43744" => (QueueAtPopulate, BeforeFlush),
            "mb41257" => (SyncFlush, BeforeFlush),
            "current" => (SyncFlush, AfterFlush),
            _ => return None,
        };
        Some(Variant {
            persist_entry,
            shutdown_flag,
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
                "persist-entry={} shutdown-flag={}",
                self.persist_entry, self.shutdown_flag
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
});

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
