//! The projected view of a state: the JSON object of `docs/vocabulary.md`, which the
//! implementation's `show` prints too. Conformance compares the two field by field.

use crate::failover::Table;
use crate::{Mutation, Node, Op, Queued, State, Stream, Warmup};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;

/// A text field of the view: the fixed names (`running`, `set`, `k0`, ...) are borrowed, not
/// allocated, in a view built after every step conformance replays; JSON is the same.
pub type Text = Cow<'static, str>;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct View {
    pub clock: u64,
    pub active: ActiveView,
    pub replicas: Vec<ReplicaView>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActiveView {
    pub process: Text,
    pub warmup_phase: Option<Text>,
    /// `Warmup::stop` forced warmup to Done during a shutdown (`warmup_phase` keeps the last
    /// phase that ran).
    pub warmup_stopped: bool,
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
    pub queued: Option<Vec<Text>>,
    pub flusher_notified: bool,
    pub items: Option<Vec<ItemView>>,
    pub items_on_disk: Vec<ItemView>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicaView {
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
    pub stream: Text,
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
    pub key: Text,
    pub op: Text,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Text>,
}

fn table(t: &Table) -> Vec<EntryView> {
    t.0.iter()
        .map(|e| EntryView {
            id: e.uuid as u64,
            seq: e.seqno as u64,
        })
        .collect()
}

/// `prefix` followed by `n` in decimal, as `format!("{prefix}{n}")` gives: borrowed from
/// `names` (the first few, spelled out) when it is there, built otherwise.
fn numbered(names: &'static [&'static str], prefix: &str, n: u64) -> Text {
    if let Some(name) = names.get(n as usize) {
        debug_assert_eq!(*name, format!("{prefix}{n}"));
        return Cow::Borrowed(name);
    }
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut rest = n;
    loop {
        at -= 1;
        digits[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    let mut out = String::with_capacity(prefix.len() + digits.len() - at);
    out.push_str(prefix);
    out.extend(digits[at..].iter().map(|&d| d as char));
    Cow::Owned(out)
}

/// Keys (at most 8), values and seqnos (below 64) as the view spells them.
const KEYS: [&str; 8] = ["k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7"];
const VALUES: [&str; 64] = [
    "v0", "v1", "v2", "v3", "v4", "v5", "v6", "v7", "v8", "v9", "v10", "v11", "v12", "v13", "v14",
    "v15", "v16", "v17", "v18", "v19", "v20", "v21", "v22", "v23", "v24", "v25", "v26", "v27",
    "v28", "v29", "v30", "v31", "v32", "v33", "v34", "v35", "v36", "v37", "v38", "v39", "v40",
    "v41", "v42", "v43", "v44", "v45", "v46", "v47", "v48", "v49", "v50", "v51", "v52", "v53",
    "v54", "v55", "v56", "v57", "v58", "v59", "v60", "v61", "v62", "v63",
];
const SEQNOS: [&str; 64] = [
    "seqno:0", "seqno:1", "seqno:2", "seqno:3", "seqno:4", "seqno:5", "seqno:6", "seqno:7",
    "seqno:8", "seqno:9", "seqno:10", "seqno:11", "seqno:12", "seqno:13", "seqno:14", "seqno:15",
    "seqno:16", "seqno:17", "seqno:18", "seqno:19", "seqno:20", "seqno:21", "seqno:22", "seqno:23",
    "seqno:24", "seqno:25", "seqno:26", "seqno:27", "seqno:28", "seqno:29", "seqno:30", "seqno:31",
    "seqno:32", "seqno:33", "seqno:34", "seqno:35", "seqno:36", "seqno:37", "seqno:38", "seqno:39",
    "seqno:40", "seqno:41", "seqno:42", "seqno:43", "seqno:44", "seqno:45", "seqno:46", "seqno:47",
    "seqno:48", "seqno:49", "seqno:50", "seqno:51", "seqno:52", "seqno:53", "seqno:54", "seqno:55",
    "seqno:56", "seqno:57", "seqno:58", "seqno:59", "seqno:60", "seqno:61", "seqno:62", "seqno:63",
];

fn items<'a>(h: impl IntoIterator<Item = &'a Mutation>) -> Vec<ItemView> {
    h.into_iter()
        .enumerate()
        .map(|(i, m)| ItemView {
            seqno: i as u64 + 1,
            key: numbered(&KEYS, "k", m.key.0 as u64),
            op: Cow::Borrowed(match m.op {
                Op::Set { .. } => "set",
                Op::Delete => "delete",
                Op::Expire { .. } => "expire",
            }),
            value: match m.op {
                Op::Set { value, .. } => Some(numbered(&VALUES, "v", value as u64)),
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
        let phase = s.warmup_phase().map(|p| Cow::Borrowed(p.name()));
        let warmup_stopped = matches!(s.node, Node::ShuttingDown(sd) if sd.warmup_stopped);
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
                                Queued::Mutation(s) => numbered(&SEQNOS, "seqno:", *s as u64),
                                Queued::SetVbState(_) => Cow::Borrowed("set_vbucket_state"),
                            })
                            .collect()
                    }),
                    flusher_notified: a.is_some_and(|a| a.notified),
                    items: a.map(|a| items(&a.history)),
                    items_on_disk: items(&vb.disk.history),
                }
            })
            .collect();
        // The replicas present: all of them but while a failed-over node is out (every vb has
        // the same number).
        let present = s.vbs.first().map_or(0, |vb| vb.replicas.len());
        let replicas = (0..present)
            .map(|r| ReplicaView {
                name: numbered(&[], "r", r as u64 + 1),
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
                                Stream::None => Cow::Borrowed("none"),
                                Stream::Accepted => Cow::Borrowed("accepted"),
                                Stream::RolledBack(rb) => Cow::Owned(format!("rolled-back:{rb}")),
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
                process: Cow::Borrowed(process),
                warmup_phase: phase,
                warmup_stopped,
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
    use super::{numbered, KEYS, SEQNOS, VALUES};

    #[test]
    fn numbered_is_format() {
        for n in [0, 1, 7, 8, 9, 10, 63, 64, 99, 100, 12345, u64::MAX] {
            for (names, prefix) in [
                (&KEYS[..], "k"),
                (&VALUES, "v"),
                (&SEQNOS, "seqno:"),
                (&[], "r"),
            ] {
                assert_eq!(numbered(names, prefix, n), format!("{prefix}{n}"));
            }
        }
    }
}
