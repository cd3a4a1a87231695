//! The model's view in the implementation's view type, for the in-process fast path of the
//! comparison: two `View`s compared with `==` instead of two JSON strings built and compared.
//!
//! The two sides declare the same JSON object (`docs/vocabulary.md`) as their own structs
//! (`docs/ARCHITECTURE.md`, "no vocabulary crate"); this moves each field of one into the other.
//! Equal views serialise to equal JSON and the conversion serialises to exactly the model's own
//! JSON (checked at every reachable state of small bounds by the test below), so `==` here says
//! what comparing the JSON strings says. On a difference the caller falls back to the
//! field-by-field JSON comparison, which names the fields.

use warmcheck_impl::engine::view as i;
use warmcheck_model::view as m;

/// `v`, field by field, as the implementation's view type.
pub fn to_impl_view(v: m::View) -> i::View {
    i::View {
        clock: v.clock,
        active: active(v.active),
        replicas: v.replicas.into_iter().map(replica).collect(),
    }
}

fn active(a: m::ActiveView) -> i::ActiveView {
    i::ActiveView {
        process: a.process,
        warmup_phase: a.warmup_phase,
        warmup_stopped: a.warmup_stopped,
        warmup_read_clean: a.warmup_read_clean,
        flusher_stopped: a.flusher_stopped,
        tasks_stopped: a.tasks_stopped,
        traffic_refused: a.traffic_refused,
        clean_shutdown_flag: a.clean_shutdown_flag,
        vbuckets: a.vbuckets.into_iter().map(active_vb).collect(),
    }
}

fn active_vb(v: m::ActiveVbView) -> i::ActiveVbView {
    i::ActiveVbView {
        vb: v.vb,
        in_vbucket_map: v.in_vbucket_map,
        high_seqno: v.high_seqno,
        persisted_seqno: v.persisted_seqno,
        failover: v.failover.map(entries),
        failover_on_disk: entries(v.failover_on_disk),
        queued: v.queued,
        flusher_notified: v.flusher_notified,
        items: v.items.map(items),
        items_on_disk: items(v.items_on_disk),
    }
}

fn replica(r: m::ReplicaView) -> i::ReplicaView {
    i::ReplicaView {
        name: r.name,
        vbuckets: r.vbuckets.into_iter().map(replica_vb).collect(),
    }
}

fn replica_vb(v: m::ReplicaVbView) -> i::ReplicaVbView {
    i::ReplicaVbView {
        vb: v.vb,
        high_seqno: v.high_seqno,
        snap_start: v.snap_start,
        snap_end: v.snap_end,
        failover: entries(v.failover),
        stream: v.stream,
        items: items(v.items),
    }
}

fn entries(t: Vec<m::EntryView>) -> Vec<i::EntryView> {
    t.into_iter()
        .map(|e| i::EntryView {
            id: e.id,
            seq: e.seq,
        })
        .collect()
}

fn items(t: Vec<m::ItemView>) -> Vec<i::ItemView> {
    t.into_iter()
        .map(|x| i::ItemView {
            seqno: x.seqno,
            key: x.key,
            op: x.op,
            value: x.value,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use stateright::Model;
    use std::collections::HashSet;
    use warmcheck_model::{Bounds, Variant};

    /// At every reachable state, for every design, at bounds with a failed flush, and with two
    /// vbuckets and two replicas, the converted view serialises to the model's own JSON, byte
    /// for byte: `==` on converted views is `==` on the JSON.
    #[test]
    fn the_converted_view_is_the_models_json_at_every_reachable_state() {
        let one = Bounds {
            keys: 1,
            writes: 1,
            crashes: 1,
            flush_failures: 1,
            ..Bounds::default()
        };
        let wide = Bounds {
            vbuckets: 2,
            replicas: 2,
            keys: 1,
            writes: 1,
            crashes: 1,
            shutdowns: 0,
            ..Bounds::default()
        };
        for bounds in [one, wide] {
            for name in Variant::PRESETS {
                let model = bounds.into_model(Variant::preset(name).unwrap());
                let mut seen = HashSet::new();
                let mut stack = model.init_states();
                let mut actions = Vec::new();
                while let Some(s) = stack.pop() {
                    if !seen.insert(s.clone()) {
                        continue;
                    }
                    let view = model.view(&s);
                    let want = serde_json::to_string(&view).unwrap();
                    let got = serde_json::to_string(&to_impl_view(view)).unwrap();
                    assert_eq!(want, got, "{name} at {bounds}");
                    model.actions(&s, &mut actions);
                    stack.extend(actions.drain(..).filter_map(|a| model.next_state(&s, a)));
                }
                assert!(
                    seen.len() > 1_000,
                    "{name} at {bounds}: {} states",
                    seen.len()
                );
            }
        }
    }
}
