//! The event log's lines (`docs/event-log.md`): one [`Event`] per successful single-step call,
//! the call's arguments and what it returned, and optionally the projected [`View`] after it.
//! The same types write the log (`Cluster::set_event_log`, `Cluster::add_event_log`) and read
//! it back (`warmcheck validate`), so the two cannot drift apart.
//!
//! A line is one JSON object: `"call"` names the call, the call's fields follow, and `"state"`
//! (when the log carries states) comes last. Field names and order are the format; a reader
//! ignores fields it does not know.

use super::view::{EntryView, View};
use serde::{Deserialize, Serialize};

/// One line of the event log. `S` is the state's type: [`View`] when writing (borrowed), any
/// JSON value when reading.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event<S = View> {
    #[serde(flatten)]
    pub call: Call,
    /// The projected view after the call; absent in a log without states.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<S>,
}

/// One expiry of a compaction or an expiry-pager run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Expired {
    pub vb: u16,
    pub key: String,
    /// The seqno the expiry took.
    pub seqno: u64,
}

/// A call and its results, one variant per engine call that logs (composite helpers such as
/// `connect` or `shutdown` log the single steps they are made of).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "call", rename_all = "snake_case")]
pub enum Call {
    /// Not an engine call: a freshly created bucket of this shape begins here. A log without
    /// states starts with one; a writer that starts over on a fresh bucket writes another.
    Create {
        vbuckets: u16,
        replicas: usize,
    },
    Set {
        vb: u16,
        key: String,
        value: String,
        /// Seconds until the item expires (`null` or 0: never).
        ttl: Option<u64>,
        /// The seqno the set took.
        seqno: u64,
    },
    Delete {
        vb: u16,
        key: String,
        seqno: u64,
    },
    Get {
        vb: u16,
        key: String,
        /// The value returned (`null`: not found, deleted or expired).
        result: Option<String>,
        /// The seqno of the expiry this get made (`null`: none).
        expired_seqno: Option<u64>,
    },
    /// The expiry pager's visit of one item.
    ExpireItem {
        vb: u16,
        key: String,
        seqno: u64,
    },
    Compact {
        vb: u16,
        expired: Vec<Expired>,
    },
    RunExpiryPager {
        expired: Vec<Expired>,
    },
    AdvanceClock {
        secs: u64,
    },
    StatsSnapshot,
    Flush {
        vb: u16,
        /// The seqnos committed (a flush of a set_vbucket_state alone commits none); absent
        /// when the flush failed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        seqnos: Option<Vec<u64>>,
        /// Why the flush failed (nothing was committed); absent when it did not.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        failed: Option<String>,
    },
    Crash {
        /// How the crash tore unsynced writes (the fault-injecting backend); absent for a plain
        /// crash.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tear: Option<String>,
    },
    ShutdownBegin,
    ShutdownWriteCleanFlag {
        /// Whether stats.json now says the shutdown was clean.
        clean: bool,
    },
    ShutdownStopFlusher,
    ShutdownStopTasks,
    WarmupStep {
        /// The phase completed (`initialize`, ..., `complete`).
        phase: String,
        /// The vbs whose synchronous vbstate flush failed at PopulateVBucketMap; absent when
        /// none did.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        failed_vbstate_flushes: Vec<u16>,
    },
    /// The cluster manager failed the down active node over and promoted this replica.
    FailOver {
        /// `r1`, `r2`, ...: the replica's position before the failover.
        replica: String,
    },
    /// The failed-over node was added back as the last replica.
    AddBack {
        /// The node's name (`active`, `r1`, ...: its directory).
        node: String,
    },
    StreamRequest {
        /// `r1`, `r2`, ...
        replica: String,
        vb: u16,
        /// What the replica asked with.
        start: u64,
        uuid: u64,
        snap_start: u64,
        snap_end: u64,
        /// The producer's failover table, newest first.
        producer_failover: Vec<EntryView>,
        /// `accepted` or `rolled-back:N`.
        outcome: String,
        /// For a rollback: whether the replica dropped its newest entry instead of rewinding.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        dropped_entry: Option<bool>,
        /// For a rollback: kv_engine's reason.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    StreamDeliver {
        replica: String,
        vb: u16,
        /// The seqno delivered.
        seqno: u64,
    },
}

impl Call {
    /// The call's name, as the log spells it.
    pub fn name(&self) -> &'static str {
        match self {
            Call::Create { .. } => "create",
            Call::Set { .. } => "set",
            Call::Delete { .. } => "delete",
            Call::Get { .. } => "get",
            Call::ExpireItem { .. } => "expire_item",
            Call::Compact { .. } => "compact",
            Call::RunExpiryPager { .. } => "run_expiry_pager",
            Call::AdvanceClock { .. } => "advance_clock",
            Call::StatsSnapshot => "stats_snapshot",
            Call::Flush { .. } => "flush",
            Call::Crash { .. } => "crash",
            Call::ShutdownBegin => "shutdown_begin",
            Call::ShutdownWriteCleanFlag { .. } => "shutdown_write_clean_flag",
            Call::ShutdownStopFlusher => "shutdown_stop_flusher",
            Call::ShutdownStopTasks => "shutdown_stop_tasks",
            Call::WarmupStep { .. } => "warmup_step",
            Call::FailOver { .. } => "fail_over",
            Call::AddBack { .. } => "add_back",
            Call::StreamRequest { .. } => "stream_request",
            Call::StreamDeliver { .. } => "stream_deliver",
        }
    }

    /// Every call name, in the order of the enum.
    pub const NAMES: [&'static str; 20] = [
        "create",
        "set",
        "delete",
        "get",
        "expire_item",
        "compact",
        "run_expiry_pager",
        "advance_clock",
        "stats_snapshot",
        "flush",
        "crash",
        "shutdown_begin",
        "shutdown_write_clean_flag",
        "shutdown_stop_flusher",
        "shutdown_stop_tasks",
        "warmup_step",
        "fail_over",
        "add_back",
        "stream_request",
        "stream_deliver",
    ];
}

/// Whether a log carries the state after each call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum States {
    /// Each line ends with `"state"`: the projected view after the call.
    With,
    /// Calls and results only, as a real engine's log would be; the log starts with a `create`
    /// line when the cluster is fresh.
    Without,
}

/// One line of JSON (with its newline) for `call`, with `state` if given.
pub fn line(call: &Call, state: Option<&View>) -> String {
    let event = Event {
        call: call.clone(),
        state,
    };
    let mut text = serde_json::to_string(&event).expect("events serialise");
    text.push('\n');
    text
}

/// Read one line of a log (without its newline), with its state as any JSON value. The error
/// names the field serde found wrong (`missing field `seqno``, `unknown variant ...`).
pub fn parse(text: &str) -> Result<Event<serde_json::Value>, serde_json::Error> {
    serde_json::from_str(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_reads_back_as_it_was_written() {
        let calls = vec![
            Call::Set {
                vb: 0,
                key: "k0".into(),
                value: "v1".into(),
                ttl: None,
                seqno: 1,
            },
            Call::Flush {
                vb: 1,
                seqnos: Some(vec![1, 2]),
                failed: None,
            },
            Call::WarmupStep {
                phase: "initialize".into(),
                failed_vbstate_flushes: vec![],
            },
            Call::StreamRequest {
                replica: "r1".into(),
                vb: 0,
                start: 2,
                uuid: 1,
                snap_start: 0,
                snap_end: 2,
                producer_failover: vec![EntryView { id: 2, seq: 1 }],
                outcome: "rolled-back:1".into(),
                dropped_entry: Some(false),
                reason: Some("why".into()),
            },
            Call::ShutdownBegin,
            Call::Create {
                vbuckets: 2,
                replicas: 1,
            },
        ];
        for call in calls {
            let text = line(&call, None);
            let back = parse(text.trim_end()).unwrap();
            assert_eq!(back.call, call, "{text}");
            assert_eq!(back.state, None);
        }
    }

    #[test]
    fn the_format_is_as_documented() {
        let text = line(
            &Call::Set {
                vb: 0,
                key: "k0".into(),
                value: "v1".into(),
                ttl: Some(1),
                seqno: 1,
            },
            None,
        );
        assert_eq!(
            text,
            "{\"call\":\"set\",\"vb\":0,\"key\":\"k0\",\"value\":\"v1\",\"ttl\":1,\"seqno\":1}\n"
        );
        assert_eq!(
            line(&Call::ShutdownBegin, None),
            "{\"call\":\"shutdown_begin\"}\n"
        );
        let e = parse("{\"call\":\"set\",\"vb\":0,\"key\":\"k0\"}").unwrap_err();
        assert!(e.to_string().contains("missing field `value`"), "{e}");
        let e = parse("{\"call\":\"sett\"}").unwrap_err();
        assert!(e.to_string().contains("unknown variant `sett`"), "{e}");
    }
}
