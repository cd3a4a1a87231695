//! Reading an [`Action`] back from its `Debug` form, the form `warmcheck check` prints and story
//! files (`conformance/testdata/`) hold one a line:
//!
//! ```text
//! ActiveCrashes
//! ClientSets { vb: 0, key: k0, ttl: false }
//! ReplicaReceives { replica: 0, vb: 0, seqno: 1 }
//! ```
//!
//! A name, then, for actions with fields, `{ field: value, ... }` with every field of the
//! action once, in any order. Values: numbers 0..=255, keys `k<N>`, `true` or `false`. Spaces
//! around the punctuation are optional. No I/O here: the caller reads the text.

use crate::{Action, Key};
use std::collections::BTreeMap;
use std::str::FromStr;

/// Every action name, with its fields in `Debug` order.
const SHAPES: &[(&str, &[&str])] = &[
    ("ClientSets", &["vb", "key", "ttl"]),
    ("ClientDeletes", &["vb", "key"]),
    ("ClockAdvances", &[]),
    ("ItemExpires", &["vb", "key"]),
    ("FlusherCommits", &["vb"]),
    ("FlusherCommitFails", &["vb"]),
    ("StatsSnapshotRewritesStatsJson", &[]),
    ("ActiveCrashes", &[]),
    ("ShutdownBegins", &[]),
    ("ShutdownWritesCleanFlag", &[]),
    ("ShutdownStopsFlusher", &[]),
    ("ShutdownStopsTasks", &[]),
    ("WarmupInitializes", &[]),
    ("WarmupCreatesVBuckets", &[]),
    ("WarmupPopulatesVBucketMap", &[]),
    ("WarmupPopulatesVBucketMapFlushFailing", &[]),
    ("WarmupLoadsData", &[]),
    ("WarmupReachesDone", &[]),
    ("WarmupCompletes", &[]),
    ("ReplicaRequestsStream", &["replica", "vb"]),
    ("ReplicaReceives", &["replica", "vb", "seqno"]),
    ("ClusterFailsOverToReplica", &["replica"]),
    ("FailedOverNodeIsAddedBack", &[]),
];

impl FromStr for Action {
    type Err = String;

    fn from_str(text: &str) -> Result<Action, String> {
        let s = text.trim();
        let name_end = s
            .find(|c: char| !c.is_ascii_alphanumeric())
            .unwrap_or(s.len());
        let (name, rest) = s.split_at(name_end);
        if name.is_empty() {
            return Err(format!("'{text}': expected an action name"));
        }
        let Some(&(_, shape)) = SHAPES.iter().find(|(n, _)| *n == name) else {
            let names: Vec<&str> = SHAPES.iter().map(|(n, _)| *n).collect();
            return Err(format!(
                "unknown action '{name}' (expected one of: {})",
                names.join(", ")
            ));
        };
        let fields = parse_fields(name, rest.trim())?;
        for f in fields.keys() {
            if !shape.contains(f) {
                return Err(if shape.is_empty() {
                    format!("{name} has no fields, found '{f}'")
                } else {
                    format!(
                        "{name} has no field '{f}' (its fields: {})",
                        shape.join(", ")
                    )
                });
            }
        }
        let get = |field: &str| -> Result<&str, String> {
            fields
                .get(field)
                .copied()
                .ok_or_else(|| format!("{name}: missing field '{field}'"))
        };
        let num = |field: &str| -> Result<u8, String> {
            let v = get(field)?;
            v.parse::<u8>()
                .map_err(|_| format!("{name}: field '{field}': '{v}' is not a number in 0..=255"))
        };
        let key = || -> Result<Key, String> {
            let v = get("key")?;
            v.strip_prefix('k')
                .and_then(|n| n.parse::<u8>().ok())
                .map(Key)
                .ok_or_else(|| format!("{name}: field 'key': '{v}' is not a key k0..k255"))
        };
        let flag = |field: &str| -> Result<bool, String> {
            match get(field)? {
                "true" => Ok(true),
                "false" => Ok(false),
                v => Err(format!(
                    "{name}: field '{field}': '{v}' is not true or false"
                )),
            }
        };
        Ok(match name {
            "ClientSets" => Action::ClientSets {
                vb: num("vb")?,
                key: key()?,
                ttl: flag("ttl")?,
            },
            "ClientDeletes" => Action::ClientDeletes {
                vb: num("vb")?,
                key: key()?,
            },
            "ClockAdvances" => Action::ClockAdvances,
            "ItemExpires" => Action::ItemExpires {
                vb: num("vb")?,
                key: key()?,
            },
            "FlusherCommits" => Action::FlusherCommits { vb: num("vb")? },
            "FlusherCommitFails" => Action::FlusherCommitFails { vb: num("vb")? },
            "StatsSnapshotRewritesStatsJson" => Action::StatsSnapshotRewritesStatsJson,
            "ActiveCrashes" => Action::ActiveCrashes,
            "ShutdownBegins" => Action::ShutdownBegins,
            "ShutdownWritesCleanFlag" => Action::ShutdownWritesCleanFlag,
            "ShutdownStopsFlusher" => Action::ShutdownStopsFlusher,
            "ShutdownStopsTasks" => Action::ShutdownStopsTasks,
            "WarmupInitializes" => Action::WarmupInitializes,
            "WarmupCreatesVBuckets" => Action::WarmupCreatesVBuckets,
            "WarmupPopulatesVBucketMap" => Action::WarmupPopulatesVBucketMap,
            "WarmupPopulatesVBucketMapFlushFailing" => {
                Action::WarmupPopulatesVBucketMapFlushFailing
            }
            "WarmupLoadsData" => Action::WarmupLoadsData,
            "WarmupReachesDone" => Action::WarmupReachesDone,
            "WarmupCompletes" => Action::WarmupCompletes,
            "ReplicaRequestsStream" => Action::ReplicaRequestsStream {
                replica: num("replica")?,
                vb: num("vb")?,
            },
            "ReplicaReceives" => Action::ReplicaReceives {
                replica: num("replica")?,
                vb: num("vb")?,
                seqno: num("seqno")?,
            },
            "ClusterFailsOverToReplica" => Action::ClusterFailsOverToReplica {
                replica: num("replica")?,
            },
            "FailedOverNodeIsAddedBack" => Action::FailedOverNodeIsAddedBack,
            _ => unreachable!("every name in SHAPES has an arm"),
        })
    }
}

/// `""` (no fields) or `{ a: 1, b: k0 }` into field -> value, rejecting duplicates.
fn parse_fields<'a>(name: &str, rest: &'a str) -> Result<BTreeMap<&'a str, &'a str>, String> {
    let mut out = BTreeMap::new();
    if rest.is_empty() {
        return Ok(out);
    }
    let Some(inner) = rest.strip_prefix('{') else {
        return Err(format!(
            "{name}: expected '{{' or the end of the line after the name, found '{rest}'"
        ));
    };
    let Some(inner) = inner.strip_suffix('}') else {
        return Err(format!("{name}: expected the fields to end with '}}'"));
    };
    if inner.contains(['{', '}']) {
        return Err(format!("{name}: unbalanced braces in '{rest}'"));
    }
    for part in inner.split(',') {
        let part = part.trim();
        if part.is_empty() {
            return Err(format!("{name}: an empty field in '{rest}'"));
        }
        let Some((field, value)) = part.split_once(':') else {
            return Err(format!("{name}: expected 'field: value', found '{part}'"));
        };
        let (field, value) = (field.trim(), value.trim());
        if field.is_empty() || value.is_empty() {
            return Err(format!("{name}: expected 'field: value', found '{part}'"));
        }
        if out.insert(field, value).is_some() {
            return Err(format!("{name}: field '{field}' given twice"));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Bounds, Variant};
    use stateright::Model;
    use std::collections::{HashSet, VecDeque};

    /// Every distinct action enabled in the first `limit` states reached, breadth-first or
    /// depth-first (which reaches the deep ones, e.g. a stats snapshot after a clean restart).
    fn reachable_actions(variant: Variant, limit: usize, depth_first: bool) -> HashSet<Action> {
        let bounds = Bounds {
            flush_failures: 1,
            failovers: 1,
            ..Bounds::default()
        };
        let model = bounds.into_model(variant);
        let mut seen = HashSet::new();
        let mut queue: VecDeque<_> = model.init_states().into();
        let mut out = HashSet::new();
        let mut actions = Vec::new();
        while let Some(s) = if depth_first {
            queue.pop_back()
        } else {
            queue.pop_front()
        } {
            if seen.len() >= limit {
                break;
            }
            if !seen.insert(s.clone()) {
                continue;
            }
            actions.clear();
            model.actions(&s, &mut actions);
            for a in actions.drain(..) {
                if let Some(n) = model.next_state(&s, a.clone()) {
                    queue.push_back(n);
                }
                out.insert(a);
            }
        }
        out
    }

    #[test]
    fn every_reachable_action_round_trips_through_its_debug_form() {
        let mut all = HashSet::new();
        for name in Variant::PRESETS {
            let variant = Variant::preset(name).unwrap();
            all.extend(reachable_actions(variant, 3_000, false));
            all.extend(reachable_actions(variant, 3_000, true));
        }
        for a in &all {
            let text = format!("{a:?}");
            assert_eq!(text.parse::<Action>().as_ref(), Ok(a), "{text}");
        }
        // Every kind of action was produced, so the round trip covers every arm.
        let kinds: HashSet<&str> = all
            .iter()
            .map(|a| {
                let text = format!("{a:?}");
                let name = text.split(' ').next().unwrap();
                SHAPES.iter().find(|(n, _)| *n == name).unwrap().0
            })
            .collect();
        let missing: Vec<&str> = SHAPES
            .iter()
            .map(|(n, _)| *n)
            .filter(|n| !kinds.contains(n))
            .collect();
        assert!(missing.is_empty(), "never produced: {missing:?}");
    }

    #[test]
    fn fields_may_come_in_any_order_and_without_spaces() {
        assert_eq!(
            "ReplicaReceives{seqno:3,vb:0,replica:1}".parse::<Action>(),
            Ok(Action::ReplicaReceives {
                replica: 1,
                vb: 0,
                seqno: 3
            })
        );
        assert_eq!("  ActiveCrashes  ".parse(), Ok(Action::ActiveCrashes));
    }

    #[test]
    fn errors_name_what_is_wrong() {
        let err = |s: &str| s.parse::<Action>().unwrap_err();
        assert!(err("ActiveCrash").starts_with("unknown action 'ActiveCrash'"));
        assert!(err("").contains("expected an action name"));
        assert_eq!(
            err("ClientSets { vb: 0, key: k0 }"),
            "ClientSets: missing field 'ttl'"
        );
        assert_eq!(
            err("ClientSets { vb: 0, key: k0, ttl: yes }"),
            "ClientSets: field 'ttl': 'yes' is not true or false"
        );
        assert_eq!(
            err("FlusherCommits { vb: 256 }"),
            "FlusherCommits: field 'vb': '256' is not a number in 0..=255"
        );
        assert_eq!(
            err("ItemExpires { vb: 0, key: 0 }"),
            "ItemExpires: field 'key': '0' is not a key k0..k255"
        );
        assert_eq!(
            err("FlusherCommits { vb: 0, vb: 1 }"),
            "FlusherCommits: field 'vb' given twice"
        );
        assert_eq!(
            err("FlusherCommits { vb: 0, replica: 1 }"),
            "FlusherCommits has no field 'replica' (its fields: vb)"
        );
        assert_eq!(
            err("ActiveCrashes { vb: 0 }"),
            "ActiveCrashes has no fields, found 'vb'"
        );
        assert_eq!(
            err("FlusherCommits { vb: 0"),
            "FlusherCommits: expected the fields to end with '}'"
        );
        assert_eq!(
            err("ActiveCrashes now"),
            "ActiveCrashes: expected '{' or the end of the line after the name, found 'now'"
        );
    }
}
