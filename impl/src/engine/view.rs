//! The projected view (`docs/vocabulary.md`, "The projected view"): what `show` prints and
//! what conformance compares, field by field, with the model's view. Field order, `null`s and
//! the omitted `value` of deletes and expiries are part of the contract.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct View {
    /// Seconds on the engine's clock (one model tick is one second).
    pub clock: u64,
    pub active: ActiveView,
    pub replicas: Vec<ReplicaView>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActiveView {
    /// `running | warming | shutting-down | down`.
    pub process: String,
    /// The last warmup phase completed; `null` unless warming.
    pub warmup_phase: Option<String>,
    /// What Initialize read from stats.json; kept until the node goes down.
    pub warmup_read_clean: Option<bool>,
    /// Only ever true while shutting down.
    pub flusher_stopped: bool,
    /// stats.json on disk says `ep_force_shutdown` is `"false"`.
    pub clean_shutdown_flag: bool,
    pub vbuckets: Vec<ActiveVbView>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActiveVbView {
    pub vb: u16,
    pub in_vbucket_map: bool,
    /// In memory: `null` while down or before CreateVBuckets.
    pub high_seqno: Option<u64>,
    /// The high seqno of the newest durable commit.
    pub persisted_seqno: u64,
    pub failover: Option<Vec<EntryView>>,
    pub failover_on_disk: Vec<EntryView>,
    /// The checkpoint queue: `seqno:N` and `set_vbucket_state`.
    pub queued: Option<Vec<String>>,
    pub flusher_notified: bool,
    pub items: Option<Vec<ItemView>>,
    pub items_on_disk: Vec<ItemView>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicaView {
    /// `r1`, `r2`, ...
    pub name: String,
    pub vbuckets: Vec<ReplicaVbView>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicaVbView {
    pub vb: u16,
    pub high_seqno: u64,
    pub snap_start: u64,
    pub snap_end: u64,
    pub failover: Vec<EntryView>,
    /// `none | accepted | rolled-back:N`.
    pub stream: String,
    pub items: Vec<ItemView>,
}

/// One failover entry, as kv_engine writes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryView {
    pub id: u64,
    pub seq: u64,
}

/// The mutation at one seqno. `value` is absent for `delete` and `expire`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemView {
    pub seqno: u64,
    pub key: String,
    /// `set | delete | expire`.
    pub op: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

impl View {
    /// One line of JSON, the form `show` prints and the event log embeds.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a view serialises")
    }
}
