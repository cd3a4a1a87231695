//! What a conform mismatch means: the path as the story tells it (the model's expectation at
//! every step, as `replay` prints it), the first field that differs, and one sentence of what
//! the model expected the engine to do at the mismatching step and why.
//!
//! The sentence comes from a small table keyed by (action kind, differing field); a mismatch
//! no row covers gets a generic sentence naming the action's engine call and kv_engine function
//! (docs/vocabulary.md).

use crate::mapping::Difference;
use serde_json::Value;
use stateright::Model;
use warmcheck_model::{story, Action, State, Warmup};

/// The action's variant name, e.g. `WarmupCreatesVBuckets`.
pub fn action_kind(action: &Action) -> String {
    let s = format!("{action:?}");
    s.split([' ', '{']).next().unwrap_or_default().to_string()
}

/// A view path with its list indices as `*` (`/active/vbuckets/0/failover` ->
/// `/active/vbuckets/*/failover`): the field, whichever vb, replica or element.
pub fn field_of(path: &str) -> String {
    path.split('/')
        .map(|s| {
            if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
                "*"
            } else {
                s
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// What identifies a mismatch for de-duplication: the action's kind and the first differing
/// field (or `(call)` when the call itself failed or answered differently).
pub fn kind_of(
    trace: &[Action],
    error: Option<&str>,
    differences: &[Difference],
) -> (String, String) {
    let kind = trace
        .last()
        .map_or_else(|| "(initial state)".to_string(), action_kind);
    let field = match (error, differences.first()) {
        (Some(_), _) | (None, None) => "(call)".to_string(),
        (None, Some(d)) => field_of(&d.path),
    };
    (kind, field)
}

/// The model's story of every step of `trace` from the initial state: one line per step, as
/// `replay` prints it after `model:`. The steps must be enabled in turn (a conform path is).
pub fn story_of(model: &Warmup, trace: &[Action]) -> Vec<String> {
    let mut state = model.init_states().remove(0);
    let mut out = Vec::new();
    for a in trace {
        let Some(next) = model.next_state(&state, a.clone()) else {
            out.push(format!("not enabled in design `{}`", model.variant));
            break;
        };
        out.push(story::describe_step(&state, a, &next));
        state = next;
    }
    out
}

/// A view value as the story writes it: failover tables as `[(U2,0),(U1,0)]`, the rest as
/// compact JSON.
pub fn show(v: &Value) -> String {
    let entry = |e: &Value| -> Option<String> {
        let o = e.as_object()?;
        if o.len() != 2 {
            return None;
        }
        Some(format!("(U{},{})", o.get("id")?, o.get("seq")?))
    };
    if let Some(list) = v.as_array() {
        if !list.is_empty() {
            if let Some(entries) = list.iter().map(entry).collect::<Option<Vec<_>>>() {
                return format!("[{}]", entries.join(","));
            }
        }
    }
    v.to_string()
}

/// The engine call a model action is performed as, and the kv_engine function it stands for
/// (docs/vocabulary.md).
pub fn engine_call(kind: &str) -> (&'static str, &'static str) {
    match kind {
        "ClientSets" => (
            "set(vb, key, value, ttl)",
            "KVBucket::set -> VBucket::queueItem",
        ),
        "ClientDeletes" => ("delete(vb, key)", "KVBucket::deleteItem"),
        "ClockAdvances" => ("advance_clock(1)", "ep_current_time()"),
        "ItemExpires" => (
            "get(vb, key) or expire_item(vb, key)",
            "VBucket::processExpiredItem",
        ),
        "FlusherCommits" => ("flush(vb)", "EPBucket::flushVBucket"),
        "FlusherCommitFails" => ("flush(vb) failing", "EPBucket::flushVBucket"),
        "StatsSnapshotRewritesStatsJson" => ("stats_snapshot()", "StatSnap"),
        "ActiveCrashes" => ("crash()", "kill -9 of the node"),
        "ShutdownBegins" => (
            "shutdown_begin()",
            "EventuallyPersistentEngine::destroyInner",
        ),
        "ShutdownWritesCleanFlag" => (
            "shutdown_write_clean_flag()",
            "KVBucket::persistShutdownContext",
        ),
        "ShutdownStopsFlusher" => ("shutdown_stop_flusher()", "EPBucket::stopFlusher"),
        "ShutdownStopsTasks" => (
            "shutdown_stop_tasks()",
            "EPBucket::stopWarmup -> Warmup::stop; KVBucket::deinitialize",
        ),
        "WarmupInitializes" => ("warmup_step()", "Warmup::initialize"),
        "WarmupCreatesVBuckets" => ("warmup_step()", "Warmup::createVBuckets"),
        "WarmupPopulatesVBucketMap" | "WarmupPopulatesVBucketMapFlushFailing" => {
            ("warmup_step()", "Warmup::populateVBucketMap")
        }
        "WarmupLoadsData" => ("warmup_step()", "Warmup::loadDataforShard"),
        "WarmupReachesDone" => ("warmup_step()", "Warmup::done"),
        "WarmupCompletes" => ("warmup_step()", "Warmup::done -> KVBucket::warmupCompleted"),
        "ReplicaRequestsStream" => (
            "stream_request(replica, vb)",
            "DcpProducer::streamRequest -> FailoverTable::needsRollback",
        ),
        "ReplicaReceives" => ("stream_deliver(replica, vb)", "ActiveStream"),
        "ClusterFailsOverToReplica" => (
            "fail_over(replica)",
            "KVBucket::setVBucketState -> VBucket::processFailover",
        ),
        "FailedOverNodeIsAddedBack" => (
            "add_back()",
            "VBucketLoader::createVBucket; KVBucket::setVBucketState (replica)",
        ),
        _ => ("(no call)", "bucket creation"),
    }
}

/// What a rule is given to word its sentence.
pub struct Ctx<'a> {
    pub model: &'a Warmup,
    pub before: &'a State,
    pub action: Option<&'a Action>,
    pub after: &'a State,
    pub error: Option<&'a str>,
    pub first: Option<&'a Difference>,
    /// The model's story of the step.
    pub story: String,
}

impl Ctx<'_> {
    /// The model's value of the first differing field, as the story writes it.
    fn m(&self) -> String {
        self.first.map_or_else(String::new, |d| show(&d.model))
    }
    /// The implementation's value of the first differing field.
    fn i(&self) -> String {
        self.first
            .map_or_else(String::new, |d| show(&d.implementation))
    }
    /// The vb (and, for a replica field, the replica) the first difference is in, as text.
    fn vb(&self) -> String {
        let path = self.first.map_or("", |d| d.path.as_str());
        let parts: Vec<&str> = path.split('/').collect();
        let after = |name: &str| {
            parts
                .iter()
                .position(|p| *p == name)
                .and_then(|i| parts.get(i + 1))
                .map(|s| s.to_string())
        };
        match (after("replicas"), after("vbuckets")) {
            (Some(r), Some(vb)) => format!(
                "r{} vb {vb}",
                r.parse::<u32>().map_or(r.clone(), |n| (n + 1).to_string())
            ),
            (None, Some(vb)) => format!("vb {vb}"),
            _ => "the vb".to_string(),
        }
    }
    /// The model's value at a path of the view after the step.
    fn model_at(&self, pointer: &str) -> Value {
        crate::mapping::project_model(self.model, self.after)
            .pointer(pointer)
            .cloned()
            .unwrap_or(Value::Null)
    }
    /// What the engine did instead: its error, or its value of the field.
    fn engine(&self) -> String {
        match self.error {
            Some(e) => format!("instead, {e}"),
            None => format!("the engine has {}", self.i()),
        }
    }
}

type Rule = fn(&Ctx) -> String;

/// (action kind, field) -> the sentence. `*` as the kind matches any action; the field matches
/// a differing field that starts with it (after [`field_of`]); `(call)` is the call's own error.
const RULES: &[(&str, &str, Rule)] = &[
    (
        "WarmupCreatesVBuckets",
        "/active/vbuckets/*/failover",
        |c| {
            if c.before.read_clean == Some(false) {
                format!(
                "after an unclean shutdown warmup must create a failover entry at the persisted \
                 snapshot (FailoverTable::createEntry in Warmup::createVBuckets), giving {} the \
                 table {}; the engine kept {}",
                c.vb(),
                c.m(),
                c.i()
            )
            } else {
                format!(
                    "after a clean shutdown warmup must take {}'s failover table from its vbstate \
                 as it is, {}, with no new entry (no createEntry); the engine has {}",
                    c.vb(),
                    c.m(),
                    c.i()
                )
            }
        },
    ),
    (
        "WarmupCreatesVBuckets",
        "/active/vbuckets/*/high_seqno",
        |c| {
            format!(
                "warmup must build {} from its vbstate with the persisted high seqno {} \
             (Warmup::createVBuckets); the engine has {}",
                c.vb(),
                c.m(),
                c.i()
            )
        },
    ),
    ("WarmupCreatesVBuckets", "/active/vbuckets/*/queued", |c| {
        format!(
            "with persist-entry={} CreateVBuckets leaves {}'s queue {} (queue-at-create queues \
             a set_vbucket_state for the new entry, the others do not); the engine has {}",
            c.model.variant.persist_entry,
            c.vb(),
            c.m(),
            c.i()
        )
    }),
    (
        "WarmupPopulatesVBucketMap",
        "/active/vbuckets/*/failover_on_disk",
        |c| {
            format!(
                "with persist-entry={} PopulateVBucketMap must persist {}'s new failover entry \
                 (the set_vbucket_state carrying the table) before the vb enters the vb map \
                 (Warmup::populateVBucketMap; the flusher writes the table the vbstate carries), \
                 so the table on disk is {}; the engine's is {}",
                c.model.variant.persist_entry,
                c.vb(),
                c.m(),
                c.i()
            )
        },
    ),
    (
        "FlusherCommits",
        "/active/vbuckets/*/failover_on_disk",
        |c| {
            format!(
                "a flush whose batch holds a set_vbucket_state must write the failover table it \
             carries into the vbstate (EPBucket::flushVBucket), so {}'s table on disk is {}; \
             the engine's is {}",
                c.vb(),
                c.m(),
                c.i()
            )
        },
    ),
    ("FlusherCommits", "/active/vbuckets/*/items_on_disk", |c| {
        format!(
            "the flush must commit everything queued for {} in one atomic commit \
             (EPBucket::flushVBucket), so its data file holds {}; the engine's holds {}",
            c.vb(),
            c.m(),
            c.i()
        )
    }),
    (
        "ReplicaRequestsStream",
        "/replicas/*/vbuckets/*/failover",
        |c| {
            let path = c.first.map_or("", |d| d.path.as_str());
            let stream = c.model_at(&path.replace("/failover", "/stream"));
            if stream
                .as_str()
                .is_some_and(|s| s.starts_with("rolled-back"))
            {
                format!(
                "{} rolls back ({}), and a replica rolling back must prune its failover entries \
                 above its new high seqno (KVBucket::rollback), leaving {}; the engine kept {}",
                c.vb(),
                stream.as_str().unwrap_or("?"),
                c.m(),
                c.i()
            )
            } else {
                format!(
                    "{}'s stream is {} and the replica adopts the producer's failover table \
                 (DcpConsumer), {}; the engine has {}",
                    c.vb(),
                    stream.as_str().unwrap_or("?"),
                    c.m(),
                    c.i()
                )
            }
        },
    ),
    (
        "ReplicaRequestsStream",
        "/replicas/*/vbuckets/*/stream",
        |c| {
            format!(
            "the producer must decide {}'s stream request as FailoverTable::needsRollback does \
             (the model: {}), so the stream is {}; the engine's is {}",
            c.vb(),
            c.story,
            c.m(),
            c.i()
        )
        },
    ),
    ("ReplicaRequestsStream", "(call)", |c| {
        format!(
            "the producer must decide the stream request as FailoverTable::needsRollback does \
             (start, uuid, snapshot against its table; the model: {}); {}",
            c.story,
            c.engine()
        )
    }),
    ("ShutdownStopsFlusher", "(call)", |c| {
        format!(
            "with shutdown-flag={} the flusher stops once no vb is notified (EPBucket::stopFlusher), \
             {} the clean flag is written (the model: {}); {}",
            c.model.variant.shutdown_flag,
            if c.model.variant.shutdown_flag.to_string() == "before-flush" {
                "after"
            } else {
                "before"
            },
            c.story,
            c.engine()
        )
    }),
    ("*", "/active/clean_shutdown_flag", |c| {
        format!(
            "with shutdown-flag={} stats.json must say clean={} after this step \
             (KVBucket::persistShutdownContext writes ep_force_shutdown; Warmup::initialize \
             resets it), so the next warmup knows whether to create a failover entry; \
             the engine's says {}",
            c.model.variant.shutdown_flag,
            c.m(),
            c.i()
        )
    }),
    ("WarmupInitializes", "/active/warmup_read_clean", |c| {
        format!(
            "Warmup::initialize must read stats.json as clean exactly when ep_force_shutdown is \
             \"false\": the model read {}; the engine read {}",
            c.m(),
            c.i()
        )
    }),
    ("ActiveCrashes", "/", |c| {
        format!(
            "a crash must lose every volatile thing (memory, checkpoints, notifications, \
             streams) and keep exactly what was synced to disk (the model: {}); {} has {}",
            c.story,
            c.first.map_or("the engine", |d| d.path.as_str()),
            c.i()
        )
    }),
    ("ReplicaReceives", "/replicas", |c| {
        format!(
            "the producer sends {} its next seqno (ActiveStream), opening a snapshot when the \
             last one is complete, and the replica commits it with the snapshot range (the \
             model: {}); the model has {} = {}, the engine {}",
            c.vb(),
            c.story,
            c.first.map_or("", |d| d.path.as_str()),
            c.m(),
            c.i()
        )
    }),
];

/// One sentence of what the model expected the engine to do at the mismatching step, and why.
/// `before` and `after` are the model's states around the step's `action` (`None` for the
/// initial state, when both are the initial state).
pub fn explain(
    model: &Warmup,
    before: &State,
    action: Option<&Action>,
    after: &State,
    error: Option<&str>,
    differences: &[Difference],
) -> String {
    let kind = action.map_or_else(|| "(initial state)".to_string(), action_kind);
    let first = if error.is_some() {
        None
    } else {
        differences.first()
    };
    let field = first.map_or_else(|| "(call)".to_string(), |d| field_of(&d.path));
    let c = Ctx {
        model,
        before,
        action,
        after,
        error,
        first,
        story: action.map_or_else(
            || "the bucket as created".to_string(),
            |a| story::describe_step(before, a, after),
        ),
    };
    let rule = RULES.iter().find(|(k, f, _)| {
        (*k == kind || *k == "*") && (field == *f || (f.starts_with('/') && field.starts_with(f)))
    });
    let sentence = match rule {
        Some((_, _, r)) => r(&c),
        None => generic(&c, &kind, &field),
    };
    let mut s = sentence;
    s.push('.');
    s
}

/// The sentence when no rule covers the mismatch: the action's engine call and kv_engine
/// function, and what the model has after it.
fn generic(c: &Ctx, kind: &str, field: &str) -> String {
    let (call, function) = engine_call(kind);
    if c.action.is_none() {
        return format!(
            "the bucket as created must already agree with the model: {} = {}; the engine has {}",
            field,
            c.m(),
            c.i()
        );
    }
    match c.error {
        Some(_) => format!(
            "the model's {kind} is the engine's {call} ({function}), which the model expects to \
             do this: {}; {}",
            c.story,
            c.engine()
        ),
        None => format!(
            "the model's {kind} is the engine's {call} ({function}), which the model expects to \
             do this: {}; after it the model has {} = {}, {}",
            c.story,
            c.first.map_or("", |d| d.path.as_str()),
            c.m(),
            c.engine()
        ),
    }
}

/// The model states along `trace` (the initial state first): `None` if a step is not enabled.
pub fn states_along(model: &Warmup, trace: &[Action]) -> Option<Vec<State>> {
    let mut states = vec![model.init_states().remove(0)];
    for a in trace {
        let next = model.next_state(states.last()?, a.clone())?;
        states.push(next);
    }
    Some(states)
}

/// [`explain`] for a mismatch at the end of `trace` (the model states recomputed).
pub fn explain_trace(
    model: &Warmup,
    trace: &[Action],
    error: Option<&str>,
    differences: &[Difference],
) -> String {
    let Some(states) = states_along(model, trace) else {
        return format!(
            "The path is not enabled in design `{}`: the model cannot say.",
            model.variant
        );
    };
    let after = states.last().expect("the initial state");
    let before = if trace.is_empty() {
        after
    } else {
        &states[states.len() - 2]
    };
    explain(model, before, trace.last(), after, error, differences)
}

/// The mismatches as `conform` prints them: each distinct (action kind, first differing field)
/// once, in the order given (shortest first), with the path as the story tells it, the step's
/// comparison, the first difference and the sentence; a count of the further occurrences.
pub fn render_mismatches(model: &Warmup, mismatches: &[crate::conform::Mismatch]) -> String {
    use std::fmt::Write;
    let mut groups: Vec<((String, String), usize, &crate::conform::Mismatch)> = Vec::new();
    for m in mismatches {
        let key = kind_of(&m.trace, m.error.as_deref(), &m.differences);
        match groups.iter_mut().find(|(k, _, _)| *k == key) {
            Some(g) => g.1 += 1,
            None => groups.push((key, 0, m)),
        }
    }
    let mut out = String::new();
    let w = &mut out;
    for (i, ((kind, field), further, m)) in groups.iter().enumerate() {
        if i > 0 {
            w.push('\n');
        }
        let _ = writeln!(w, "MISMATCH after {} steps:", m.trace.len());
        let stories = story_of(model, &m.trace);
        for (n, a) in m.trace.iter().enumerate() {
            let _ = writeln!(w, "  {:>2}. {a:?}", n + 1);
            if let Some(s) = stories.get(n) {
                let _ = writeln!(w, "      model: {s}");
            }
            if n + 1 < m.trace.len() {
                let _ = writeln!(w, "      implementation: same projection");
            }
        }
        if m.trace.is_empty() {
            let _ = writeln!(w, "   0. (initial state)");
        }
        let _ = writeln!(w, "      MISMATCH");
        if let Some(e) = &m.error {
            let _ = writeln!(w, "  the implementation: {e}");
        }
        if !m.differences.is_empty() {
            w.push_str(&crate::replay::render_differences(&m.differences));
        }
        if let (None, Some(d)) = (&m.error, m.differences.first()) {
            let _ = writeln!(
                w,
                "  First difference: {}: the model has {}, the implementation {}",
                d.path,
                show(&d.model),
                show(&d.implementation)
            );
        }
        let _ = writeln!(w, "  Expected: {}", m.explanation);
        if *further > 0 {
            let _ = writeln!(
                w,
                "  ({further} more mismatch{} of the same kind, {kind} with {} differing, \
                 not shown.)",
                if *further == 1 { "" } else { "es" },
                if field == "(call)" {
                    "the call's answer"
                } else {
                    field
                }
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_lose_their_indices_and_tables_read_as_the_story_writes_them() {
        assert_eq!(
            field_of("/active/vbuckets/0/items/3/value"),
            "/active/vbuckets/*/items/*/value"
        );
        let t = serde_json::json!([{"id": 2, "seq": 0}, {"id": 1, "seq": 0}]);
        assert_eq!(show(&t), "[(U2,0),(U1,0)]");
        assert_eq!(show(&serde_json::json!([])), "[]");
        assert_eq!(show(&serde_json::json!("accepted")), "\"accepted\"");
    }

    #[test]
    fn every_action_kind_names_an_engine_call() {
        let model =
            warmcheck_model::Bounds::default().into_model(warmcheck_model::Variant::current());
        let mut actions = Vec::new();
        let s = model.init_states().remove(0);
        model.actions(&s, &mut actions);
        for a in actions {
            assert_ne!(engine_call(&action_kind(&a)).0, "(no call)", "{a:?}");
        }
    }
}
