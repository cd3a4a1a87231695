//! The wire types of the SUT protocol (`docs/sut-protocol.md`), shared by the client
//! (`warmcheck conform --sut`, [`super::client`]) and the server (`warmcheck sut`,
//! [`super::server`]). One JSON object per line each way.

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use warmcheck_model::Variant;

/// The newest protocol version this build speaks: 2 adds failover (`fail_over`, `add_back`).
pub const VERSION: u32 = 2;

/// Every protocol version this build speaks, oldest first. A version-1 SUT is driven at
/// `failovers` 0 only.
pub const VERSIONS: [u32; 2] = [1, 2];

/// The first version with failover and add-back.
pub const FAILOVER_VERSION: u32 = 2;

/// The phases a `warmup_step` reply names.
pub const PHASES: &[&str] = &[
    "initialize",
    "create-vbuckets",
    "populate-vbucket-map",
    "loading-data",
    "done",
    "complete",
];

/// The capabilities a SUT may announce.
pub const SNAPSHOT: &str = "snapshot";
pub const RESTORE: &str = "restore";

/// One request: its id, the model action it performs (for the SUT's logs only), and the call.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(title = "warmcheck SUT protocol: a request (warmcheck to the SUT)")]
pub struct Request {
    pub id: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    #[serde(flatten)]
    pub call: Call,
}

/// What a request asks for. `op` names it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Call {
    /// The handshake: the protocol versions warmcheck speaks.
    Hello { protocol: Vec<u32> },
    /// Back to bucket creation, in this design and shape.
    Reset {
        design: Variant,
        vbuckets: u8,
        replicas: u8,
        #[serde(default)]
        keys: u8,
    },
    /// `ClientSets`: `ttl` is `Some(1)` for a set that expires one clock second later.
    Set {
        vb: u16,
        key: String,
        value: String,
        #[serde(default)]
        ttl: Option<u64>,
    },
    /// `ClientDeletes`.
    Delete { vb: u16, key: String },
    /// `ClockAdvances`.
    AdvanceClock { secs: u64 },
    /// `ItemExpires` while client traffic flows: a get that finds the item expired.
    Get { vb: u16, key: String },
    /// `ItemExpires` while shutting down: the expiry pager's visit of one item.
    ExpireItem { vb: u16, key: String },
    /// `FlusherCommits` (`fail: false`) or `FlusherCommitFails` (`fail: true`).
    Flush {
        vb: u16,
        #[serde(default)]
        fail: bool,
    },
    /// `StatsSnapshotRewritesStatsJson`.
    StatsSnapshot,
    /// `ActiveCrashes`.
    Crash,
    /// `ShutdownBegins`.
    ShutdownBegin,
    /// `ShutdownWritesCleanFlag`.
    ShutdownWriteCleanFlag,
    /// `ShutdownStopsFlusher`.
    ShutdownStopFlusher,
    /// `ShutdownStopsTasks`.
    ShutdownStopTasks,
    /// Every warmup action: the next phase, with this many synchronous vbstate flushes failing
    /// (`WarmupPopulatesVBucketMapFlushFailing`; 0 otherwise).
    WarmupStep {
        #[serde(default)]
        fail_vbstate_flushes: u32,
    },
    /// `ClusterFailsOverToReplica` (protocol 2): the down active node is failed over and
    /// replica `replica` (`r1`, `r2`, ...) of every vb promoted.
    FailOver { replica: String },
    /// `FailedOverNodeIsAddedBack` (protocol 2): the failed-over node warms up from its own
    /// files and joins every vb as the last replica.
    AddBack,
    /// `ReplicaRequestsStream`; `replica` is `r1`, `r2`, ...
    StreamRequest { replica: String, vb: u16 },
    /// `ReplicaReceives`.
    StreamDeliver { replica: String, vb: u16 },
    /// The projected view.
    Observe,
    /// Capture the whole state; the reply's `handle` names it.
    Snapshot,
    /// Return to a captured state.
    Restore { handle: String },
    /// These handles will not be restored again.
    Release { handles: Vec<String> },
}

impl Call {
    /// The request's `op`, as on the wire.
    pub fn op(&self) -> &'static str {
        match self {
            Call::Hello { .. } => "hello",
            Call::Reset { .. } => "reset",
            Call::Set { .. } => "set",
            Call::Delete { .. } => "delete",
            Call::AdvanceClock { .. } => "advance_clock",
            Call::Get { .. } => "get",
            Call::ExpireItem { .. } => "expire_item",
            Call::Flush { .. } => "flush",
            Call::StatsSnapshot => "stats_snapshot",
            Call::Crash => "crash",
            Call::ShutdownBegin => "shutdown_begin",
            Call::ShutdownWriteCleanFlag => "shutdown_write_clean_flag",
            Call::ShutdownStopFlusher => "shutdown_stop_flusher",
            Call::ShutdownStopTasks => "shutdown_stop_tasks",
            Call::WarmupStep { .. } => "warmup_step",
            Call::FailOver { .. } => "fail_over",
            Call::AddBack => "add_back",
            Call::StreamRequest { .. } => "stream_request",
            Call::StreamDeliver { .. } => "stream_deliver",
            Call::Observe => "observe",
            Call::Snapshot => "snapshot",
            Call::Restore { .. } => "restore",
            Call::Release { .. } => "release",
        }
    }
}

/// The designs a SUT implements: `"all"`, or a list.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Designs {
    /// Every design. Any other string is read, and refused at the handshake.
    #[schemars(extend("const" = "all"))]
    All(String),
    Some(Vec<Variant>),
}

impl Designs {
    /// Whether `v` is among them (`Err` when the string is not `"all"`).
    pub fn includes(&self, v: &Variant) -> Result<bool, String> {
        match self {
            Designs::All(s) if s == "all" => Ok(true),
            Designs::All(s) => Err(format!("\"designs\" is {s:?}: expected \"all\" or a list")),
            Designs::Some(list) => Ok(list.contains(v)),
        }
    }
}

/// A reply. Which fields are present depends on the request (`docs/sut-protocol.md`). A result
/// that may be `null` is an `Option<Option<_>>`: `None` when absent (not compared),
/// `Some(None)` when `null`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(title = "warmcheck SUT protocol: a reply (the SUT to warmcheck)")]
pub struct Reply {
    /// The id of the request it answers.
    pub id: u64,
    /// `true`: served; `false`: `refused` or `error` says why.
    pub ok: bool,
    /// The engine refused the call (and changed nothing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused: Option<String>,
    /// The SUT could not serve the request at all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// `hello`: the protocol version chosen, one of the request's list (required there).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub protocol: Option<u32>,
    /// `hello`: the implementation's name and version (required there).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `hello`: the designs it implements (required there).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub designs: Option<Designs>,
    /// `hello`: the optional requests it answers, `snapshot` and `restore` (both or neither);
    /// others are ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capabilities: Option<Vec<String>>,
    /// `hello`: the view fields `observe` leaves out; only these may be.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("items" = {"enum": OMITTABLE}))]
    pub omits: Option<Vec<String>>,
    /// `set`, `delete`: the seqno it took; `stream_deliver`: the seqno delivered (`null`:
    /// nothing to send).
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "Option<u64>")]
    pub seqno: Option<Option<u64>>,
    /// `get`: the value returned (`null`: not found).
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "Option<String>")]
    pub result: Option<Option<String>>,
    /// `get`, `expire_item`: the seqno of the expiry it made (`null`: none).
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "Option<u64>")]
    pub expired_seqno: Option<Option<u64>>,
    /// `flush`: the seqnos committed, ascending.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seqnos: Option<Vec<u64>>,
    /// `flush`: whether the commit failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed: Option<bool>,
    /// `warmup_step`: the phase it completed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = PHASES))]
    pub phase: Option<String>,
    /// `stream_request`: `accepted` or `rolled-back:N`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^(accepted|rolled-back:[0-9]+)$"))]
    pub outcome: Option<String>,
    /// `observe`: the projected view (`docs/vocabulary.md`, "The projected view").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub view: Option<Value>,
    /// `snapshot`: the opaque name of the image taken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handle: Option<String>,
}

impl Reply {
    /// A successful reply with no fields yet.
    pub fn ok(id: u64) -> Self {
        Reply {
            id,
            ok: true,
            ..Reply::default()
        }
    }
}

/// The JSON Schemas of the protocol's two kinds of line, generated from [`Request`] and
/// [`Reply`] for `docs/schemas/`: `sut-request.schema.json` (every request, one `oneOf` branch
/// per `op`) and `sut-reply.schema.json` (every reply; a reply does not name its request, so
/// which fields it must carry is the request's, `docs/sut-protocol.md`). Each describes a line
/// as its reading end reads it: `warmcheck sut` reads requests, `warmcheck conform --sut`
/// replies, and both ignore unknown fields.
pub fn schemas() -> Vec<(String, Value)> {
    use crate::report::{schema_file, Direction};
    vec![
        schema_file::<Request>("sut-request", Direction::Read),
        schema_file::<Reply>("sut-reply", Direction::Read),
    ]
}

/// A present field, `null` included (`Some(None)`); absent fields take the `default`.
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// The view fields an implementation may leave out of `observe` (declared in the handshake's
/// `omits`), as paths with `*` for any array index.
pub const OMITTABLE: &[&str] = &[
    "/clock",
    "/active/warmup_phase",
    "/active/warmup_stopped",
    "/active/warmup_read_clean",
    "/active/flusher_stopped",
    "/active/tasks_stopped",
    "/active/traffic_refused",
    "/active/clean_shutdown_flag",
    "/active/vbuckets/*/in_vbucket_map",
    "/active/vbuckets/*/persisted_seqno",
    "/active/vbuckets/*/failover_on_disk",
    "/active/vbuckets/*/queued",
    "/active/vbuckets/*/flusher_notified",
    "/active/vbuckets/*/items_on_disk",
    "/replicas/*/vbuckets/*/snap_start",
    "/replicas/*/vbuckets/*/snap_end",
];

/// Remove the field at `pattern` (a path with `*` for any array index) wherever it occurs.
pub fn remove_path(v: &mut Value, pattern: &str) {
    let parts: Vec<&str> = pattern.trim_start_matches('/').split('/').collect();
    remove_at(v, &parts);
}

fn remove_at(v: &mut Value, parts: &[&str]) {
    match parts {
        [] => {}
        [last] => {
            if let Some(o) = v.as_object_mut() {
                o.remove(*last);
            }
        }
        ["*", rest @ ..] => {
            if let Some(a) = v.as_array_mut() {
                for e in a {
                    remove_at(e, rest);
                }
            }
        }
        [k, rest @ ..] => {
            if let Some(e) = v.get_mut(*k) {
                remove_at(e, rest);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_read_as_the_doc_writes_them() {
        let r: Request = serde_json::from_str(
            r#"{"id":4,"op":"set","action":"ClientSets { vb: 0, key: k0, ttl: false }","vb":0,"key":"k0","value":"v1","ttl":null}"#,
        )
        .unwrap();
        assert_eq!(
            r.call,
            Call::Set {
                vb: 0,
                key: "k0".into(),
                value: "v1".into(),
                ttl: None
            }
        );
        let back = serde_json::to_string(&r).unwrap();
        assert!(back.starts_with(r#"{"id":4,"action":"#), "{back}");
        let o: Request = serde_json::from_str(r#"{"id":9,"op":"observe"}"#).unwrap();
        assert_eq!(o.call, Call::Observe);
        assert_eq!(
            serde_json::to_string(&o).unwrap(),
            r#"{"id":9,"op":"observe"}"#
        );
    }

    #[test]
    fn null_and_absent_results_differ() {
        let r: Reply = serde_json::from_str(r#"{"id":1,"ok":true,"seqno":null}"#).unwrap();
        assert_eq!(r.seqno, Some(None));
        assert_eq!(r.expired_seqno, None);
        let r: Reply = serde_json::from_str(r#"{"id":1,"ok":true,"seqno":3}"#).unwrap();
        assert_eq!(r.seqno, Some(Some(3)));
    }

    #[test]
    fn designs_are_all_or_a_list() {
        let v = Variant::current();
        let all: Designs = serde_json::from_str(r#""all""#).unwrap();
        assert!(all.includes(&v).unwrap());
        let bad: Designs = serde_json::from_str(r#""every""#).unwrap();
        assert!(bad.includes(&v).is_err());
        let list: Designs =
            serde_json::from_str(&format!("[{}]", serde_json::to_string(&v).unwrap())).unwrap();
        assert!(list.includes(&v).unwrap());
    }

    #[test]
    fn paths_with_stars_remove_every_occurrence() {
        let mut v = serde_json::json!({"active": {"vbuckets": [{"vb": 0, "queued": []}, {"vb": 1, "queued": null}]}});
        remove_path(&mut v, "/active/vbuckets/*/queued");
        assert_eq!(
            v,
            serde_json::json!({"active": {"vbuckets": [{"vb": 0}, {"vb": 1}]}})
        );
    }
}
