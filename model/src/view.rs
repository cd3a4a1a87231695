//! The projected view of a state: the JSON object of `docs/vocabulary.md`, which the
//! implementation's `show` prints too. Conformance compares the two field by field.

use crate::failover::Table;
use crate::{Mutation, Node, Op, Queued, State, Stream, Warmup};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct View {
    pub clock: u64,
    pub active: ActiveView,
    pub replicas: Vec<ReplicaView>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActiveView {
    pub process: String,
    pub warmup_phase: Option<String>,
    pub warmup_read_clean: Option<bool>,
    pub flusher_stopped: bool,
    /// The bucket's tasks (warmup, expiry pager, compaction) were stopped by a shutdown.
    pub tasks_stopped: bool,
    /// `failedToSetAVbucketState`: a warmup vbstate flush failed; client traffic is refused.
    pub traffic_refused: bool,
    pub clean_shutdown_flag: bool,
    pub vbuckets: Vec<ActiveVbView>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActiveVbView {
    pub vb: u16,
    pub in_vbucket_map: bool,
    pub high_seqno: Option<u64>,
    pub persisted_seqno: u64,
    pub failover: Option<Vec<EntryView>>,
    pub failover_on_disk: Vec<EntryView>,
    pub queued: Option<Vec<String>>,
    pub flusher_notified: bool,
    pub items: Option<Vec<ItemView>>,
    pub items_on_disk: Vec<ItemView>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicaView {
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
    pub stream: String,
    pub items: Vec<ItemView>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryView {
    pub id: u64,
    pub seq: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemView {
    pub seqno: u64,
    pub key: String,
    pub op: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

fn table(t: &Table) -> Vec<EntryView> {
    t.0.iter()
        .map(|e| EntryView {
            id: e.uuid as u64,
            seq: e.seqno as u64,
        })
        .collect()
}

/// `prefix` followed by `n` in decimal, as `format!("{prefix}{n}")` gives, without the
/// formatting machinery: a view is built after every step conformance replays.
fn numbered(prefix: &str, mut n: u64) -> String {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let mut out = String::with_capacity(prefix.len() + digits.len() - at);
    out.push_str(prefix);
    out.extend(digits[at..].iter().map(|&d| d as char));
    out
}

fn items<'a>(h: impl IntoIterator<Item = &'a Mutation>) -> Vec<ItemView> {
    h.into_iter()
        .enumerate()
        .map(|(i, m)| ItemView {
            seqno: i as u64 + 1,
            key: numbered("k", m.key.0 as u64),
            op: match m.op {
                Op::Set { .. } => "set",
                Op::Delete => "delete",
                Op::Expire { .. } => "expire",
            }
            .to_string(),
            value: match m.op {
                Op::Set { value, .. } => Some(numbered("v", value as u64)),
                _ => None,
            },
        })
        .collect()
}

impl Warmup {
    /// Project a state onto the shared view.
    pub fn view(&self, s: &State) -> View {
        let (process, flusher_stopped, tasks_stopped) = match s.node {
            Node::Running => ("running", false, false),
            Node::Warming(_) => ("warming", false, false),
            Node::ShuttingDown(sd) => ("shutting-down", sd.flusher_stopped, sd.tasks_stopped),
            Node::Down(_) => ("down", false, false),
        };
        let phase = s.warmup_phase().map(|p| p.name().to_string());
        let vbuckets = s
            .vbs
            .iter()
            .enumerate()
            .map(|(i, vb)| {
                let a = vb.active.as_ref();
                ActiveVbView {
                    vb: i as u16,
                    in_vbucket_map: a.is_some_and(|a| a.in_map),
                    high_seqno: a.map(|a| a.high_seqno() as u64),
                    persisted_seqno: vb.disk.persisted_seqno() as u64,
                    failover: a.map(|a| table(&a.failover)),
                    failover_on_disk: table(&vb.disk.failover),
                    queued: a.map(|a| {
                        a.queue
                            .iter()
                            .map(|q| match q {
                                Queued::Mutation(s) => numbered("seqno:", *s as u64),
                                Queued::SetVbState(_) => "set_vbucket_state".to_string(),
                            })
                            .collect()
                    }),
                    flusher_notified: a.is_some_and(|a| a.notified),
                    items: a.map(|a| items(&a.history)),
                    items_on_disk: items(&vb.disk.history),
                }
            })
            .collect();
        let replicas = (0..self.bounds.replicas as usize)
            .map(|r| ReplicaView {
                name: numbered("r", r as u64 + 1),
                vbuckets: s
                    .vbs
                    .iter()
                    .enumerate()
                    .map(|(i, vb)| {
                        let rv = &vb.replicas[r];
                        ReplicaVbView {
                            vb: i as u16,
                            high_seqno: rv.high_seqno() as u64,
                            snap_start: rv.snap_start as u64,
                            snap_end: rv.snap_end as u64,
                            failover: table(&rv.failover),
                            stream: match rv.stream {
                                Stream::None => "none".to_string(),
                                Stream::Accepted => "accepted".to_string(),
                                Stream::RolledBack(rb) => format!("rolled-back:{rb}"),
                            },
                            items: items(&rv.history),
                        }
                    })
                    .collect(),
            })
            .collect();
        View {
            clock: s.clock as u64,
            active: ActiveView {
                process: process.to_string(),
                warmup_phase: phase,
                warmup_read_clean: s.read_clean,
                flusher_stopped,
                tasks_stopped,
                traffic_refused: s.traffic_refused,
                clean_shutdown_flag: s.clean_flag,
                vbuckets,
            },
            replicas,
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn numbered_is_format() {
        for n in [0, 1, 9, 10, 99, 100, 12345, u64::MAX] {
            for prefix in ["", "k", "seqno:"] {
                assert_eq!(super::numbered(prefix, n), format!("{prefix}{n}"));
            }
        }
    }
}
