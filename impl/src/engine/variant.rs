//! The designs kv_engine shipped (domain brief, section 4), and `proposed`: four knobs and six
//! presets, named exactly as the model names them (`docs/vocabulary.md`).
//!
//! Two versions on purpose: the model keeps its own designs and knobs (`model/src/variant.rs`).
//! The architecture forbids either crate depending on the other, so each states the designs in
//! its own types; `docs/vocabulary.md` fixes the names, and conformance (`mapping::impl_variant`)
//! maps one onto the other and checks, transition by transition, that they behave alike.

use std::fmt;
use std::str::FromStr;

/// Where the vbstate carrying warmup's new failover entry is persisted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PersistEntry {
    /// `warmupCompleted()` queues set_vbucket_state for every vb; the next flush persists it
    /// (v6.5.1).
    AtComplete,
    /// Queued in CreateVBuckets right after `createEntry`; the vb is not in the map, so the
    /// flusher is not notified (MB-41942's fix).
    QueueAtCreate,
    /// Queued in PopulateVBucketMap after the vb entered the map, which notifies the flusher
    /// (MB-43744's fix).
    QueueAtPopulate,
    /// Flushed synchronously in PopulateVBucketMap before the vb enters the map (MB-41257).
    SyncFlush,
}

/// When the shutdown path writes `ep_force_shutdown=false`, and what the guarded kinds read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ShutdownFlag {
    /// Before the flushers stop (before MB-45756).
    BeforeFlush,
    /// After the flusher and the bucket's tasks stopped (`KVBucket::persistShutdownContext` at
    /// the end of `EPBucket::deinitialize`), whatever warmup had reached; and warmup's
    /// Initialize resets the flag to `true` when it read `false` (MB-45756 / MB-46361).
    AfterFlush,
    /// `after-flush`, guarded by `hasLoadedMetaData() && !hasSetVbucketStateFailure()` read
    /// at `persistShutdownContext`: true after `Warmup::stop` forced the state to Done.
    AfterFlushIfHasLoadedMetadata,
    /// `proposed`: `after-flush`, guarded by "`populateVBucketMap` finished its last shard in
    /// this process" (which a forced stop does not set) and no failed vbstate flush.
    AfterFlushIfVbMapPopulated,
    /// `after-flush`, guarded by `hasLoadedMetaData()` as `EPBucket::stopWarmup` read it
    /// before `Warmup::stop`, and no failed vbstate flush.
    AfterFlushIfLoadedBeforeStop,
}

/// Where a shutdown stops warmup (`EPBucket::stopWarmup` -> `Warmup::stop`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StopWarmup {
    /// In `EPBucket::deinitialize`, after the flusher stopped (v6.5.1 to v7.0.1); `done()`
    /// calls `warmupCompleted`.
    InDeinitialize,
    /// When the shutdown begins (`EPBucket::initiateShutdown`; kv_engine today); `done()`
    /// runs nothing (MB-64849).
    InInitiateShutdown,
}

impl ShutdownFlag {
    /// Whether the flag is written after the flusher and the tasks stopped (and Initialize
    /// rewrites it to `true`).
    pub fn after_flush(self) -> bool {
        !matches!(self, ShutdownFlag::BeforeFlush)
    }
}

/// What a DCP consumer does when the producer answers "roll back to 0" while its failover
/// table has an older entry (`DcpConsumer::handleRollbackResponse`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RollbackRetry {
    /// Drop the newest entry and ask again with the older uuid (before MB-48398).
    Always,
    /// Only when the newest entry's seqno equals the request's start seqno; otherwise roll
    /// back to 0 (MB-48398).
    IfEntryAtStart,
}

/// Older fixes of the bug family a design may lack (`docs/fidelity.md`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Reverted {
    /// MB-11085: `createEntry` adds nothing at the newest entry's seqno.
    pub mb11085: bool,
    /// MB-21769: a set_vbucket_state counted in the persisted snapshot range. Not implemented:
    /// this engine's reader refuses a vbstate whose snapshot starts above the high seqno, the
    /// invariant the fix restored, so `Cluster::create` and `open` refuse the design.
    pub mb21769: bool,
    /// MB-37920: the cached vbstate updated before a vbstate-only write.
    pub mb37920: bool,
    /// MB-20822: `createEntry` left every second stale entry. Not implemented: it matters
    /// only at a promotion, which this engine does not have yet, so `Cluster::create` and
    /// `open` refuse the design.
    pub mb20822: bool,
}

impl Reverted {
    pub fn is_empty(&self) -> bool {
        *self == Reverted::default()
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
    fn from_str(s: &str) -> Result<Self, String> {
        let mut r = Reverted::default();
        if s == "none" {
            return Ok(r);
        }
        for name in s.split('+') {
            match name {
                "mb11085" => r.mb11085 = true,
                "mb21769" => r.mb21769 = true,
                "mb37920" => r.mb37920 = true,
                "mb20822" => r.mb20822 = true,
                _ => {
                    return Err(format!(
                        "unknown fix '{name}' (expected mb11085, mb21769, mb37920 or mb20822)"
                    ))
                }
            }
        }
        Ok(r)
    }
}

/// A design: the four knobs and the older fixes it lacks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Variant {
    pub persist_entry: PersistEntry,
    pub shutdown_flag: ShutdownFlag,
    pub rollback_retry: RollbackRetry,
    pub stop_warmup: StopWarmup,
    pub reverted: Reverted,
}

impl Variant {
    pub const PRESETS: [&'static str; 6] = [
        "v6.5.1", "mb41942", "mb43744", "mb41257", "current", "proposed",
    ];

    /// `v6.5.1` = at-complete + before-flush, `mb41942` = queue-at-create + before-flush,
    /// `mb43744` = queue-at-populate + before-flush, `mb41257` = sync-flush + before-flush,
    /// each with rollback-retry `always` and stop-warmup `in-deinitialize`; `current` =
    /// sync-flush + after-flush + if-entry-at-start + in-initiate-shutdown; `proposed` =
    /// sync-flush + after-flush-if-vb-map-populated + if-entry-at-start + in-initiate-shutdown.
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
        // MB-37920's fix (f9c1af5f0) is later than v6.5.1 and MB-41942's fix.
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

    /// The preset this variant is, if it is one.
    pub fn preset_name(&self) -> Option<&'static str> {
        Self::PRESETS
            .into_iter()
            .find(|n| Variant::preset(n) == Some(*self))
    }
}

impl Default for Variant {
    fn default() -> Self {
        Variant::current()
    }
}

/// A preset's name, or `persist-entry=<knob> shutdown-flag=<knob> rollback-retry=<knob>` for
/// other combinations.
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

/// A preset name, or the `Display` form of a combination
/// (`persist-entry=queue-at-create shutdown-flag=after-flush rollback-retry=always`, any order,
/// separated by spaces or commas). `rollback-retry` may be left out: it is then `always`, the
/// rule of every design before MB-48398 (and of combinations written before the knob existed);
/// so may `stop-warmup`: then `in-deinitialize`, the rule before MB-47851.
impl FromStr for Variant {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if let Some(v) = Variant::preset(s.trim()) {
            return Ok(v);
        }
        let mut persist_entry = None;
        let mut shutdown_flag = None;
        let mut rollback_retry = None;
        let mut stop_warmup = None;
        let mut reverted = Reverted::default();
        for part in s.split([' ', ',']).filter(|p| !p.is_empty()) {
            match part.split_once('=') {
                Some(("persist-entry", v)) => persist_entry = Some(v.parse::<PersistEntry>()?),
                Some(("shutdown-flag", v)) => shutdown_flag = Some(v.parse::<ShutdownFlag>()?),
                Some(("rollback-retry", v)) => rollback_retry = Some(v.parse::<RollbackRetry>()?),
                Some(("stop-warmup", v)) => stop_warmup = Some(v.parse::<StopWarmup>()?),
                Some(("revert-fix", v)) => reverted = v.parse::<Reverted>()?,
                _ => {
                    return Err(format!(
                        "unknown variant '{s}' (expected one of: {}, or \
                         persist-entry=<{}> shutdown-flag=<{}> [rollback-retry=<{}>] \
                         [stop-warmup=<{}>])",
                        Self::PRESETS.join(", "),
                        PersistEntry::NAMES.join("|"),
                        ShutdownFlag::NAMES.join("|"),
                        RollbackRetry::NAMES.join("|"),
                        StopWarmup::NAMES.join("|"),
                    ))
                }
            }
        }
        match (persist_entry, shutdown_flag) {
            (Some(persist_entry), Some(shutdown_flag)) => Ok(Variant {
                persist_entry,
                shutdown_flag,
                rollback_retry: rollback_retry.unwrap_or(RollbackRetry::Always),
                stop_warmup: stop_warmup.unwrap_or(StopWarmup::InDeinitialize),
                reverted,
            }),
            _ => Err(format!(
                "variant '{s}' lacks a knob (persist-entry= and shutdown-flag= are both needed)"
            )),
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
                    _ => Err(format!(
                        "unknown value '{s}' (expected one of: {})",
                        Self::NAMES.join(", ")
                    )),
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

/// Deliberate bugs, for the conformance suite's sensitivity test only: it checks that the
/// step-by-step comparison with the model notices each one. All off by default; never turn one
/// on outside tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SeededBugs {
    /// The flusher ignores a queued set_vbucket_state: the cached vbstate's table is never
    /// replaced, so warmup's new failover entry never reaches disk.
    pub flusher_ignores_set_vbstate: bool,
    /// `needsRollback` step 5 compares `snap_end < upper` where kv_engine compares `<=`.
    pub needs_rollback_uses_lt: bool,
    /// CreateVBuckets creates no failover entry after an unclean shutdown.
    pub no_entry_after_unclean_shutdown: bool,
    /// A replica rolling back does not prune its failover entries above its new high seqno.
    pub rollback_does_not_prune: bool,
    /// After-flush variants write the clean-shutdown flag before the final flush, as
    /// before-flush variants do (the shutdown order only; Initialize still resets the flag).
    pub clean_flag_before_final_flush: bool,
    /// Storage layer: write the commit header before the documents are synced. Carried for the
    /// storage layer; the engine does not read it.
    pub header_before_docs_synced: bool,
    /// Storage layer: accept a commit header whose checksum does not match. Carried for the
    /// storage layer; the engine does not read it.
    pub accept_bad_header_checksum: bool,
}

impl SeededBugs {
    /// No bug (the default).
    pub fn none() -> Self {
        Self::default()
    }

    /// The names accepted by [`SeededBugs::enable`].
    pub const NAMES: &'static [&'static str] = &[
        "flusher_ignores_set_vbstate",
        "needs_rollback_uses_lt",
        "no_entry_after_unclean_shutdown",
        "rollback_does_not_prune",
        "clean_flag_before_final_flush",
        "header_before_docs_synced",
        "accept_bad_header_checksum",
    ];

    /// Turn on the bug called `name` (one of [`SeededBugs::NAMES`]).
    /// The storage layer's share of the seeded bugs.
    pub fn storage(&self) -> crate::storage::StorageBugs {
        crate::storage::StorageBugs {
            header_before_docs_synced: self.header_before_docs_synced,
            accept_bad_header_checksum: self.accept_bad_header_checksum,
            unordered_failover_tables: false,
        }
    }

    pub fn enable(&mut self, name: &str) -> Result<(), String> {
        let flag = match name {
            "flusher_ignores_set_vbstate" => &mut self.flusher_ignores_set_vbstate,
            "needs_rollback_uses_lt" => &mut self.needs_rollback_uses_lt,
            "no_entry_after_unclean_shutdown" => &mut self.no_entry_after_unclean_shutdown,
            "rollback_does_not_prune" => &mut self.rollback_does_not_prune,
            "clean_flag_before_final_flush" => &mut self.clean_flag_before_final_flush,
            "header_before_docs_synced" => &mut self.header_before_docs_synced,
            "accept_bad_header_checksum" => &mut self.accept_bad_header_checksum,
            _ => {
                return Err(format!(
                    "unknown seeded bug '{name}' (expected one of: {})",
                    Self::NAMES.join(", ")
                ))
            }
        };
        *flag = true;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_round_trip_through_their_names() {
        for name in Variant::PRESETS {
            let v: Variant = name.parse().unwrap();
            assert_eq!(v.to_string(), name);
        }
    }

    #[test]
    fn a_knob_combination_that_is_no_preset_parses_from_its_display_form() {
        let v = Variant {
            persist_entry: PersistEntry::QueueAtCreate,
            shutdown_flag: ShutdownFlag::AfterFlush,
            rollback_retry: RollbackRetry::IfEntryAtStart,
            stop_warmup: StopWarmup::InInitiateShutdown,
            reverted: Reverted::default(),
        };
        let shown = v.to_string();
        assert_eq!(
            shown,
            "persist-entry=queue-at-create shutdown-flag=after-flush \
             rollback-retry=if-entry-at-start stop-warmup=in-initiate-shutdown"
        );
        assert_eq!(shown.parse::<Variant>().unwrap(), v);
    }

    #[test]
    fn a_combination_without_rollback_retry_or_stop_warmup_has_the_older_rules() {
        let v: Variant = "persist-entry=sync-flush shutdown-flag=after-flush-if-vb-map-populated"
            .parse()
            .unwrap();
        assert_eq!(v.rollback_retry, RollbackRetry::Always);
        assert_eq!(v.stop_warmup, StopWarmup::InDeinitialize);
        assert_eq!(v.shutdown_flag, ShutdownFlag::AfterFlushIfVbMapPopulated);
        assert_eq!(
            Variant::preset("proposed").unwrap(),
            Variant {
                rollback_retry: RollbackRetry::IfEntryAtStart,
                stop_warmup: StopWarmup::InInitiateShutdown,
                reverted: Reverted::default(),
                ..v
            }
        );
    }

    #[test]
    fn unknown_names_are_refused_with_the_choices() {
        let err = "v7".parse::<Variant>().unwrap_err();
        assert!(err.contains("v6.5.1"), "{err}");
        assert!("sometimes".parse::<PersistEntry>().is_err());
    }
}
