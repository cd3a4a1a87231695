//! What the readers of model-side input check before the model sees it: bounds within what
//! `Bounds::into_model` takes, actions whose vb, replica and key exist within those bounds, and
//! model states (`validate --from`, `workload --resume`) that fit the bounds and are well
//! formed. One check per format, shared by every command that reads it; each names the field
//! that does not fit. The model itself asserts these things: a reader must never let input
//! reach those asserts.

use std::path::Path;
use warmcheck_impl::input::{self, Limits, MIB};
use warmcheck_model::failover::Table;
use warmcheck_model::{Action, Bounds, History, Node, Op, Phase, Queued, State, Warmup};

/// The largest bounds the model takes (`Bounds::into_model`, and the CLI's flags).
pub const MAX_VBUCKETS: u8 = 8;
pub const MAX_REPLICAS: u8 = 8;
pub const MAX_KEYS: u8 = 64;
pub const MAX_WRITES: u8 = 60;
pub const MAX_CRASHES: u8 = 20;
pub const MAX_SHUTDOWNS: u8 = 20;
pub const MAX_FAILOVERS: u8 = 20;

/// Bounds within what the model takes, or which field is out of range.
pub fn check_bounds(b: &Bounds) -> Result<(), String> {
    let fields: [(&str, u8, u8, u8); 8] = [
        ("vbuckets", b.vbuckets, 1, MAX_VBUCKETS),
        ("replicas", b.replicas, 0, MAX_REPLICAS),
        ("keys", b.keys, 1, MAX_KEYS),
        ("writes", b.writes, 0, MAX_WRITES),
        ("crashes", b.crashes, 0, MAX_CRASHES),
        ("shutdowns", b.shutdowns, 0, MAX_SHUTDOWNS),
        ("flush_failures", b.flush_failures, 0, 20),
        // `Bounds::into_model` asserts at most 20: a trace or story file saying more is refused
        // here, named, instead of stopping the process.
        ("failovers", b.failovers, 0, MAX_FAILOVERS),
    ];
    for (name, value, lo, hi) in fields {
        if !(lo..=hi).contains(&value) {
            return Err(format!(
                "bounds: {name} is {value}; the model takes {lo}..={hi}"
            ));
        }
    }
    Ok(())
}

/// An action whose vb, replica and key exist within `b`, or which field does not.
pub fn check_action(b: &Bounds, a: &Action) -> Result<(), String> {
    let (vb, replica, key) = match *a {
        Action::ClientSets { vb, key, .. }
        | Action::ClientDeletes { vb, key }
        | Action::ItemExpires { vb, key } => (Some(vb), None, Some(key)),
        Action::FlusherCommits { vb } | Action::FlusherCommitFails { vb } => (Some(vb), None, None),
        Action::ReplicaRequestsStream { replica, vb }
        | Action::ReplicaReceives { replica, vb, .. } => (Some(vb), Some(replica), None),
        Action::ClusterFailsOverToReplica { replica } => (None, Some(replica), None),
        // Named one by one, with no catch-all: an action added with a field to check does not
        // compile until it is looked at here (issue 26).
        Action::ClockAdvances
        | Action::StatsSnapshotRewritesStatsJson
        | Action::ActiveCrashes
        | Action::ShutdownBegins
        | Action::ShutdownWritesCleanFlag
        | Action::ShutdownStopsFlusher
        | Action::ShutdownStopsTasks
        | Action::WarmupInitializes
        | Action::WarmupCreatesVBuckets
        | Action::WarmupPopulatesVBucketMap
        | Action::WarmupPopulatesVBucketMapFlushFailing
        | Action::WarmupLoadsData
        | Action::WarmupReachesDone
        | Action::WarmupCompletes
        | Action::FailedOverNodeIsAddedBack => (None, None, None),
    };
    if let Some(vb) = vb.filter(|vb| *vb >= b.vbuckets) {
        return Err(format!(
            "vb {vb} is out of range (the bounds have vbuckets 0..{})",
            b.vbuckets
        ));
    }
    if let Some(r) = replica.filter(|r| *r >= b.replicas) {
        return Err(format!(
            "replica {r} is out of range (the bounds have {} replica{})",
            b.replicas,
            if b.replicas == 1 { "" } else { "s" }
        ));
    }
    if let Some(k) = key.filter(|k| k.0 >= b.keys) {
        return Err(format!(
            "key {k} is out of range (the bounds have keys k0..k{})",
            b.keys - 1
        ));
    }
    Ok(())
}

/// The most a model-state file may hold.
pub const STATE_LIMITS: Limits = Limits {
    what: "model state file",
    max_bytes: 16 * MIB,
    max_line: 16 * MIB,
};

/// Read a model state (JSON, as `workload --resume` and `validate --from` take) from the file
/// at `path` and check it fits `model` ([`check_state`]).
pub fn load_state(path: &Path, model: &Warmup) -> Result<State, String> {
    let text = input::read_file(path, STATE_LIMITS, false).map_err(|e| e.to_string())?;
    parse_state(text.as_bytes(), model).map_err(|e| format!("{}: {e}", path.display()))
}

/// A model state from bytes, checked to fit `model`: the entry point the fuzz targets and
/// property tests call.
pub fn parse_state(bytes: &[u8], model: &Warmup) -> Result<State, String> {
    if bytes.len() > STATE_LIMITS.max_bytes {
        return Err(format!(
            "larger than {} bytes, the most a model state file may hold",
            STATE_LIMITS.max_bytes
        ));
    }
    let state: State = serde_json::from_slice(bytes).map_err(|e| {
        format!(
            "not a model state (line {}, column {}): {e}",
            e.line(),
            e.column()
        )
    })?;
    check_state(model, &state).map_err(|e| format!("not a state of this model: {e}"))?;
    Ok(state)
}

/// Whether `s` is a well-formed state of `model`: its shape fits the bounds (vbuckets,
/// replicas, keys, counters), the node's process agrees with what is in memory, every failover
/// table is well formed with uuids already handed out, and seqnos are consistent (disk a prefix
/// of memory, the checkpoint queue the contiguous seqnos after the persisted one, values naming
/// client writes made). The error names the field. Every state the model reaches passes.
// Long: one check per field of State, each naming the field.
#[allow(clippy::too_many_lines)]
pub fn check_state(model: &Warmup, s: &State) -> Result<(), String> {
    let b = &model.bounds;
    check_bounds(b)?;
    let counter = |name: &str, value: u8, bound: u8| {
        if value > bound {
            Err(format!(
                "{name} is {value}, above the bound of {bound} {name}"
            ))
        } else {
            Ok(())
        }
    };
    counter("writes", s.writes, b.writes)?;
    counter("crashes", s.crashes, b.crashes)?;
    counter("shutdowns", s.shutdowns, b.shutdowns)?;
    // Seqnos, uuids, values and ticks are u8: one per write, crash or tick at most.
    let small = MAX_WRITES * 3;
    if s.clock > small {
        return Err(format!("clock is {}, above {small}", s.clock));
    }
    if s.next_uuid == 0 {
        return Err("next_uuid is 0; uuids are handed out from 1".to_string());
    }
    if s.vbs.len() != b.vbuckets as usize {
        return Err(format!(
            "vbs holds {} vbuckets; the bounds have {}",
            s.vbs.len(),
            b.vbuckets
        ));
    }
    // Warmup creates the vbuckets in memory at CreateVBuckets; a clean shutdown may begin
    // before that (its `warmup` is the last phase completed), and then they are not there yet.
    let in_memory = match s.node {
        Node::Running => true,
        Node::ShuttingDown(sd) => sd.warmup.is_none_or(|p| p >= Phase::CreateVBuckets),
        Node::Warming(p) => p >= Phase::CreateVBuckets,
        Node::Down(_) => false,
    };
    // Warmup reads the flag at Initialize and forgets it when the node goes down (a freshly
    // created bucket runs without having read it).
    let read_clean_fits = match s.node {
        Node::Down(_) => s.read_clean.is_none(),
        Node::Warming(_) => s.read_clean.is_some(),
        Node::Running | Node::ShuttingDown { .. } => true,
    };
    if !read_clean_fits {
        return Err(format!(
            "read_clean is {:?} while the node is {:?}",
            s.read_clean, s.node
        ));
    }
    let table = |what: &str, t: &Table| -> Result<(), String> {
        if !t.is_well_formed() {
            return Err(format!("{what} {t} is not a well-formed failover table"));
        }
        if let Some(e) = t.0.iter().find(|e| e.uuid >= s.next_uuid) {
            return Err(format!(
                "{what} {t} holds uuid {} not yet handed out (next_uuid {})",
                e.uuid, s.next_uuid
            ));
        }
        Ok(())
    };
    let history = |what: &str, h: &History| -> Result<(), String> {
        if h.len() > small as usize {
            return Err(format!("{what} holds {} mutations, above {small}", h.len()));
        }
        for (i, m) in h.iter().enumerate() {
            if m.key.0 >= b.keys {
                return Err(format!(
                    "{what} seqno {}: key {} is out of range (keys k0..k{})",
                    i + 1,
                    m.key,
                    b.keys - 1
                ));
            }
            if let Op::Set { value, expiry } = m.op {
                if value == 0 || value > s.writes {
                    return Err(format!(
                        "{what} seqno {}: value v{value} names no client write made (writes {})",
                        i + 1,
                        s.writes
                    ));
                }
                if expiry.is_some_and(|e| e > s.clock.saturating_add(1)) {
                    return Err(format!(
                        "{what} seqno {}: expiry {expiry:?} is after the next tick",
                        i + 1
                    ));
                }
            }
        }
        Ok(())
    };
    for (i, vb) in s.vbs.iter().enumerate() {
        let at = |f: &str| format!("vbs[{i}].{f}");
        history(&at("disk.history"), &vb.disk.history)?;
        table(&at("disk.failover"), &vb.disk.failover)?;
        match &vb.active {
            None if in_memory => {
                return Err(format!(
                    "{} is missing while the node is {:?}",
                    at("active"),
                    s.node
                ))
            }
            Some(_) if !in_memory => {
                return Err(format!(
                    "{} is in memory while the node is {:?}",
                    at("active"),
                    s.node
                ))
            }
            None => {}
            Some(a) => {
                history(&at("active.history"), &a.history)?;
                table(&at("active.failover"), &a.failover)?;
                let persisted = vb.disk.history.len();
                if a.history.len() < persisted
                    || a.history.iter().take(persisted).ne(vb.disk.history.iter())
                {
                    return Err(format!(
                        "{} is not a prefix of {}",
                        at("disk.history"),
                        at("active.history")
                    ));
                }
                let mut next = persisted + 1;
                for q in &a.queue {
                    match q {
                        Queued::Mutation(seqno) => {
                            if *seqno as usize != next || next > a.history.len() {
                                return Err(format!(
                                    "{} queues seqno {seqno} where seqno {next} (at most {}) \
                                     comes next",
                                    at("active.queue"),
                                    a.history.len()
                                ));
                            }
                            next += 1;
                        }
                        Queued::SetVbState(t) => table(&at("active.queue"), t)?,
                    }
                }
            }
        }
        if vb.replicas.len() != b.replicas as usize {
            return Err(format!(
                "{} holds {} replicas; the bounds have {}",
                at("replicas"),
                vb.replicas.len(),
                b.replicas
            ));
        }
        for (r, rv) in vb.replicas.iter().enumerate() {
            history(&at(&format!("replicas[{r}].history")), &rv.history)?;
            table(&at(&format!("replicas[{r}].failover")), &rv.failover)?;
            // A replica is always inside the last snapshot it received (the producer would
            // answer ERANGE otherwise, and the model asserts it never asks so).
            let high = rv.high_seqno();
            if !(rv.snap_start <= high && high <= rv.snap_end) {
                return Err(format!(
                    "{}: high seqno {high} is outside the snapshot [{}, {}]",
                    at(&format!("replicas[{r}]")),
                    rv.snap_start,
                    rv.snap_end
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use stateright::Model;

    #[test]
    fn every_state_the_model_reaches_fits_it() {
        let model = Bounds::default().into_model(warmcheck_model::Variant::current());
        let mut seen = std::collections::HashSet::new();
        let mut todo = model.init_states();
        let mut actions = Vec::new();
        while let Some(s) = todo.pop() {
            if seen.len() > 20_000 || !seen.insert(s.clone()) {
                continue;
            }
            check_state(&model, &s).unwrap_or_else(|e| panic!("{e}: {s:?}"));
            actions.clear();
            model.actions(&s, &mut actions);
            for a in actions.drain(..) {
                todo.extend(model.next_state(&s, a));
            }
        }
        assert!(seen.len() > 1_000);
    }

    #[test]
    fn bounds_out_of_range_name_the_field() {
        let mut b = Bounds {
            vbuckets: 0,
            ..Bounds::default()
        };
        assert_eq!(
            check_bounds(&b).unwrap_err(),
            "bounds: vbuckets is 0; the model takes 1..=8"
        );
        b.vbuckets = 1;
        b.writes = 61;
        assert_eq!(
            check_bounds(&b).unwrap_err(),
            "bounds: writes is 61; the model takes 0..=60"
        );
    }
}
