//! How the scenario runner prints what a call did: processes, tables, items, seqnos.

use crate::engine::{Item, Process};
use crate::failover::FailoverTable;

pub(super) fn describe_process(p: Process) -> String {
    match p {
        Process::Warming(ph) => format!("warming, after {}", ph.name()),
        Process::ShuttingDown { .. } => "shutting down".into(),
        p => p.name().into(),
    }
}

/// The innermost cause of an error (e.g. `No space left on device (os error 28)`), without the
/// paths the outer layers name (a scenario's directory is a temporary one).
pub(super) fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

pub(super) fn newest_expiry(items: &[Item], key: &str) -> Option<u64> {
    items
        .iter()
        .rev()
        .find(|i| i.key == key)
        .and_then(|i| i.expiry)
}

pub(super) fn show_table(t: &[crate::engine::EntryView]) -> String {
    if t.is_empty() {
        return "[]".into();
    }
    FailoverTable::from_entries(
        t.iter()
            .map(|e| crate::failover::Entry {
                id: e.id,
                seq: e.seq,
            })
            .collect(),
    )
    .to_string()
}

pub(super) fn show_items(items: &[Item]) -> String {
    if items.is_empty() {
        return "(none)".into();
    }
    items
        .iter()
        .map(|i| format!("{}:{}", i.seqno, i.describe()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// `seqno 3`, `seqnos 1..=3`, or `seqnos 1,3`.
pub(super) fn show_seqnos(s: &[u64]) -> String {
    match s {
        [] => "no seqnos".into(),
        [one] => format!("seqno {one}"),
        [first, .., last] if last - first + 1 == s.len() as u64 => {
            format!("seqnos {first}..={last}")
        }
        _ => format!(
            "seqnos {}",
            s.iter().map(u64::to_string).collect::<Vec<_>>().join(",")
        ),
    }
}
