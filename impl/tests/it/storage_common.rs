//! Helpers shared by the storage tests: small docs, vbstates, and a workload of commits with the
//! state each one should leave behind.
#![allow(dead_code)]

use warmcheck_impl::storage::{Doc, FailoverEntryJson, Op, VbFile, VbState, VbStateKind};

pub fn set(seqno: u64, key: &str, value: &str) -> Doc {
    Doc {
        seqno,
        key: key.to_string(),
        op: Op::Set,
        value: Some(value.to_string()),
        expiry: None,
        cas: 1000 + seqno,
    }
}

pub fn set_ttl(seqno: u64, key: &str, value: &str, expiry: u64) -> Doc {
    Doc {
        expiry: Some(expiry),
        ..set(seqno, key, value)
    }
}

pub fn expire(seqno: u64, key: &str) -> Doc {
    Doc {
        seqno,
        key: key.to_string(),
        op: Op::Expire,
        value: None,
        expiry: None,
        cas: 1000 + seqno,
    }
}

pub fn delete(seqno: u64, key: &str) -> Doc {
    Doc {
        op: Op::Delete,
        ..expire(seqno, key)
    }
}

/// A vbstate with the table `entries` ((uuid, seqno), newest first) and snapshot [s, s].
pub fn vbstate(entries: &[(u64, u64)], snap: u64) -> VbState {
    VbState {
        state: VbStateKind::Active,
        failover_table: entries
            .iter()
            .map(|&(id, seq)| FailoverEntryJson { id, seq })
            .collect(),
        snap_start: snap,
        snap_end: snap,
        max_cas: 1000 + snap,
    }
}

/// One commit of a workload.
#[derive(Clone, Debug)]
pub struct Step {
    pub docs: Vec<Doc>,
    pub vbstate: VbState,
}

/// What a reopen must find after some prefix of a workload's commits.
#[derive(Clone, Debug, PartialEq)]
pub struct Seen {
    pub high_seqno: u64,
    pub vbstate: Option<VbState>,
    pub docs: Vec<Doc>,
}

impl Seen {
    pub fn of(vb: &VbFile) -> Seen {
        Seen {
            high_seqno: vb.high_seqno(),
            vbstate: vb.vbstate().cloned(),
            docs: vb.docs().expect("docs of an opened file"),
        }
    }
}

/// The state after the first `n` steps (n = 0: no commit).
pub fn expected_after(steps: &[Step], n: usize) -> Seen {
    let docs: Vec<Doc> = steps[..n].iter().flat_map(|s| s.docs.clone()).collect();
    Seen {
        high_seqno: docs.last().map_or(0, |d| d.seqno),
        vbstate: n.checked_sub(1).map(|i| steps[i].vbstate.clone()),
        docs,
    }
}

/// The MB-41942 story as a data file sees it: a bucket-creation commit, two sets, a
/// vbstate-only commit carrying a new failover entry, an expiry, a delete.
pub fn story() -> Vec<Step> {
    vec![
        Step {
            docs: vec![],
            vbstate: vbstate(&[(1, 0)], 0),
        },
        Step {
            docs: vec![set_ttl(1, "e", "v1", 5), set(2, "k", "v2")],
            vbstate: vbstate(&[(1, 0)], 2),
        },
        Step {
            docs: vec![],
            vbstate: vbstate(&[(2, 2), (1, 0)], 2),
        },
        Step {
            docs: vec![expire(3, "e")],
            vbstate: vbstate(&[(2, 2), (1, 0)], 3),
        },
        Step {
            docs: vec![
                delete(4, "k"),
                set(5, "k", "a longer value to make the record longer"),
            ],
            vbstate: vbstate(&[(3, 5), (2, 2), (1, 0)], 5),
        },
    ]
}
