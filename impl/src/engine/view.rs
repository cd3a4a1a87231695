//! The projected view (`docs/vocabulary.md`, "The projected view"): what `show` prints and
//! what conformance compares, field by field, with the model's view. Field order, `null`s and
//! the omitted `value` of deletes and expiries are part of the contract.

use super::vbucket::{Queued, VbMem};
use super::{replica_name, Cluster, Item, Process};
use crate::failover::Entry;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;

/// A text field of the view: the fixed names (`running`, `set`, `k0`, ...) are borrowed, not
/// allocated, in a view built after every step conformance replays; JSON is the same.
pub type Text = Cow<'static, str>;

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
    pub process: Text,
    /// The last warmup phase completed, while warming up or shutting down during warmup;
    /// `null` otherwise.
    pub warmup_phase: Option<Text>,
    /// `Warmup::stop` forced warmup to Done during a shutdown (`warmup_phase` keeps the last
    /// phase that ran).
    pub warmup_stopped: bool,
    /// What Initialize read from stats.json; kept until the node goes down.
    pub warmup_read_clean: Option<bool>,
    /// Only ever true while shutting down.
    pub flusher_stopped: bool,
    /// The bucket's tasks (warmup, expiry pager, compaction) were stopped; only ever true while
    /// shutting down.
    pub tasks_stopped: bool,
    /// `failedToSetAVbucketState`: a warmup vbstate flush failed; client writes are refused
    /// until the node restarts.
    pub traffic_refused: bool,
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
    pub queued: Option<Vec<Text>>,
    pub flusher_notified: bool,
    pub items: Option<Vec<ItemView>>,
    pub items_on_disk: Vec<ItemView>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicaView {
    /// `r1`, `r2`, ...
    pub name: Text,
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
    pub stream: Text,
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
    pub key: Text,
    /// `set | delete | expire`.
    pub op: Text,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Text>,
}

impl View {
    /// One line of JSON, the form `show` prints and the event log embeds.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a view serialises")
    }
}

fn table_view(t: &[Entry]) -> Vec<EntryView> {
    t.iter()
        .map(|e| EntryView {
            id: e.id,
            seq: e.seq,
        })
        .collect()
}

impl Cluster {
    /// The projected view of `docs/vocabulary.md`.
    pub fn view(&self) -> View {
        let warmup_phase = self.process.warmup_phase().map(|p| Cow::Borrowed(p.name()));
        let warmup_stopped = matches!(
            self.process,
            Process::ShuttingDown {
                warmup_stopped: true,
                ..
            }
        );
        let (flusher_stopped, tasks_stopped) = match self.process {
            Process::ShuttingDown {
                flusher_stopped,
                tasks_stopped,
                ..
            } => (flusher_stopped, tasks_stopped),
            _ => (false, false),
        };
        let vbuckets = self
            .vbs
            .iter()
            .enumerate()
            .map(|(i, a)| {
                let m = a.mem.as_ref();
                ActiveVbView {
                    vb: i as u16,
                    in_vbucket_map: m.is_some_and(|m| m.in_map),
                    high_seqno: m.map(VbMem::high_seqno),
                    persisted_seqno: a.disk.high_seqno(),
                    failover: m.map(|m| table_view(m.failover.entries())),
                    failover_on_disk: table_view(a.disk.table()),
                    queued: m.map(|m| {
                        m.queue
                            .iter()
                            .map(|q| match q {
                                Queued::Mutation(s) => Cow::Owned(format!("seqno:{s}")),
                                Queued::SetVbState(_) => Cow::Borrowed("set_vbucket_state"),
                            })
                            .collect()
                    }),
                    flusher_notified: m.is_some_and(|m| m.notified),
                    items: m.map(|m| m.history.iter().map(Item::view).collect()),
                    items_on_disk: a.disk.items().iter().map(Item::view).collect(),
                }
            })
            .collect();
        let replicas = self
            .replicas
            .iter()
            .enumerate()
            .map(|(r, row)| ReplicaView {
                name: Cow::Owned(replica_name(r)),
                vbuckets: row
                    .iter()
                    .enumerate()
                    .map(|(vb, rv)| ReplicaVbView {
                        vb: vb as u16,
                        high_seqno: rv.high_seqno(),
                        snap_start: rv.snap_start,
                        snap_end: rv.snap_end,
                        failover: table_view(rv.failover.entries()),
                        stream: Cow::Owned(rv.stream.to_string()),
                        items: rv.history.iter().map(Item::view).collect(),
                    })
                    .collect(),
            })
            .collect();
        View {
            clock: self.clock,
            active: ActiveView {
                process: Cow::Borrowed(self.process.name()),
                warmup_phase,
                warmup_stopped,
                warmup_read_clean: self.read_clean,
                flusher_stopped,
                tasks_stopped,
                traffic_refused: self.traffic_refused,
                clean_shutdown_flag: self.clean_flag,
                vbuckets,
            },
            replicas,
        }
    }
}
