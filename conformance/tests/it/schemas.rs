//! The JSON Schemas in `docs/schemas/` are generated from the report structs and the SUT
//! protocol's wire types (`warmcheck_conformance::report::schemas`, `schemars`): every file
//! there equals its generated schema, and every generated schema has its file. Every message
//! docs/sut-protocol.md shows validates against the protocol's.
//!
//! `REWRITE=1 cargo test -p warmcheck-conformance --test it schemas::` regenerates the files (the
//! same `REWRITE` as the story files: `warmcheck-testkit`); review the change with
//! `git diff docs/schemas`. `conformance/tests/it/reports.rs` validates real reports against them;
//! `conformance/tests/it/sut_protocol.rs` drives real SUTs over the protocol whose messages the
//! `sut-*` schemas describe.

use crate::common::schemas_dir;
use warmcheck_conformance::report;

#[test]
fn the_schemas_in_docs_are_the_generated_ones() {
    let generated = report::schemas();
    let mut failures = Vec::new();
    for (name, schema) in &generated {
        let text = serde_json::to_string_pretty(schema).unwrap() + "\n";
        if let Err(e) = warmcheck_testkit::expect_file(&schemas_dir().join(name), &text) {
            failures.push(e);
        }
    }
    let mut stale = Vec::new();
    for entry in std::fs::read_dir(schemas_dir()).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        // The one schema written by hand (tests/it/reports.rs validates real ITF files against
        // it): ITF is Apalache's and Quint's format, not a struct of ours. `itf::document`
        // builds it with a serde Serializer of its own (integers as {"#bigint"}, tuples as
        // {"#tup"}, maps as {"#map"}, enums as {"tag", "value"}) over the model's State, so a
        // schema schemars derives from State would describe its plain JSON, not its ITF; and
        // the recursive ITF value the states hold is a union no struct spells. A typed
        // ItfDocument with a hand-written JsonSchema for the value would be more code than the
        // schema, and no more checked.
        const HAND_WRITTEN: [&str; 1] = ["itf.schema.json"];
        if name.ends_with(".json")
            && !generated.iter().any(|(n, _)| *n == name)
            && !HAND_WRITTEN.contains(&name.as_str())
        {
            stale.push(name);
        }
    }
    assert!(
        stale.is_empty(),
        "docs/schemas holds files no report generates: {stale:?}"
    );
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// The generated schemas keep what the hand-written ones said: every field required, no other
/// field, the enums and constants of the documents.
#[test]
fn the_generated_schemas_are_strict() {
    let schemas: Vec<(String, serde_json::Value)> = report::schemas();
    let get = |name: &str| {
        schemas
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, s)| s.clone())
            .unwrap()
    };
    let check = get("check-report.schema.json");
    assert_eq!(check["additionalProperties"], false);
    assert_eq!(
        check["properties"]["schema"]["const"],
        "warmcheck-check-report/1"
    );
    let required = check["required"].as_array().unwrap();
    assert_eq!(
        required.len(),
        check["properties"].as_object().unwrap().len(),
        "every field of the check report is required"
    );
    let property = &check["$defs"]["PropertyResult"];
    assert_eq!(property["additionalProperties"], false);
    for field in ["steps", "trace"] {
        assert!(
            property["required"]
                .as_array()
                .unwrap()
                .contains(&field.into()),
            "an Option field is written as null, so it is required: {field}"
        );
    }
    let trace = get("trace.schema.json");
    assert_eq!(trace["properties"]["format"]["const"], "warmcheck-trace/1");
    assert_eq!(
        trace["$defs"]["Bounds"]["properties"]["vbuckets"]["minimum"],
        1
    );
    assert_eq!(trace["$defs"]["Bounds"]["additionalProperties"], false);
    let conform = get("conform-report.schema.json");
    assert_eq!(
        conform["properties"]["backend"]["enum"],
        serde_json::json!(["file", "faulty", "sut"])
    );
    assert_eq!(
        conform["$defs"]["Shard"]["properties"]["count"]["minimum"],
        1
    );
    assert_eq!(conform["$defs"]["Mismatch"]["additionalProperties"], false);
    let replay = get("replay-report.schema.json");
    assert_eq!(
        replay["$defs"]["StepReport"]["properties"]["outcome"]["enum"],
        serde_json::json!(["matched", "refused by both", "mismatch"])
    );
    let simulate = get("simulate-report.schema.json");
    assert_eq!(
        simulate["properties"]["schema"]["const"],
        "warmcheck-simulate-report/1"
    );
    assert_eq!(simulate["additionalProperties"], false);
    assert_eq!(
        simulate["$defs"]["SimProperty"]["properties"]["status"]["enum"],
        serde_json::json!(["violated", "not violated", "reached", "unreached"])
    );
    let soak = get("soak-report.schema.json");
    assert_eq!(soak["properties"]["segments"]["minimum"], 1);
    assert_eq!(soak["$defs"]["SoakFailure"]["additionalProperties"], false);
    // Only the root names the file; a shared type inside it does not re-root its references.
    for (name, schema) in &schemas {
        assert_eq!(
            schema["$id"],
            format!("https://warmcheck.invalid/schemas/{name}")
        );
        for (def, body) in schema["$defs"].as_object().into_iter().flatten() {
            assert!(body.get("$id").is_none(), "{name}: $defs/{def} has an $id");
        }
    }
}

/// The messages docs/sut-protocol.md shows: every line of its code blocks that is a JSON object
/// (bare, or after the full session's `> ` and `< `), and every request of its action table
/// (an inline `{"op":...}`, which the page writes without its `id`, a number it explains
/// as `N`). Lines that shorten a view
/// with `...` are not JSON and are returned apart.
struct Examples {
    messages: Vec<(usize, serde_json::Value)>,
    shortened: Vec<usize>,
}

fn sut_protocol_examples() -> Examples {
    let page = std::fs::read_to_string(schemas_dir().join("../sut-protocol.md")).unwrap();
    let mut examples = Examples {
        messages: Vec::new(),
        shortened: Vec::new(),
    };
    let mut in_block = false;
    for (i, line) in page.lines().enumerate() {
        let n = i + 1;
        if line.trim_start().starts_with("```") {
            in_block = !in_block;
            continue;
        }
        if in_block {
            let t = line.trim();
            let t = t
                .strip_prefix("> ")
                .or_else(|| t.strip_prefix("< "))
                .unwrap_or(t);
            if !t.starts_with('{') {
                continue;
            }
            match serde_json::from_str(t) {
                Ok(v) => examples.messages.push((n, v)),
                Err(e) => {
                    assert!(
                        t.contains("..."),
                        "docs/sut-protocol.md:{n}: not JSON ({e}) and not shortened with ...: {t}"
                    );
                    examples.shortened.push(n);
                }
            }
        } else if line.starts_with("| ") {
            for span in line.split('`').skip(1).step_by(2) {
                if let Some(rest) = span
                    .strip_prefix('{')
                    .filter(|_| span.starts_with("{\"op\":"))
                {
                    // The table writes a number the row explains as `N`.
                    let with_id = format!("{{\"id\":0,{}", rest.replace(":N", ":1"));
                    let v = serde_json::from_str(&with_id).unwrap_or_else(|e| {
                        panic!("docs/sut-protocol.md:{n}: {span} is not JSON: {e}")
                    });
                    examples.messages.push((n, v));
                }
            }
        }
    }
    examples
}

fn protocol_validators() -> (jsonschema::Validator, jsonschema::Validator) {
    let schemas = warmcheck_conformance::sut::protocol::schemas();
    let load = |name: &str| {
        let doc: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(schemas_dir().join(name)).unwrap())
                .unwrap();
        assert!(
            schemas.iter().any(|(n, _)| n == name),
            "{name} is not a protocol schema"
        );
        jsonschema::validator_for(&doc).unwrap_or_else(|e| panic!("{name}: {e}"))
    };
    (
        load("sut-request.schema.json"),
        load("sut-reply.schema.json"),
    )
}

/// Every request and reply docs/sut-protocol.md shows validates against the schema of its
/// direction (a request has `op`, a reply `ok`), and the protocol's Rust types read it too.
#[test]
fn every_message_in_sut_protocol_md_validates() {
    use warmcheck_conformance::sut::protocol::{Reply, Request};
    let (request, reply) = protocol_validators();
    let examples = sut_protocol_examples();
    let (mut requests, mut replies) = (0, 0);
    let mut failures = Vec::new();
    for (n, v) in &examples.messages {
        let (validator, read) = match (v.get("op"), v.get("ok")) {
            (Some(_), None) => {
                requests += 1;
                (
                    &request,
                    serde_json::from_value::<Request>(v.clone()).map(drop),
                )
            }
            (None, Some(_)) => {
                replies += 1;
                (&reply, serde_json::from_value::<Reply>(v.clone()).map(drop))
            }
            _ => panic!("docs/sut-protocol.md:{n}: neither a request nor a reply: {v}"),
        };
        for e in validator.iter_errors(v) {
            failures.push(format!(
                "docs/sut-protocol.md:{n}: {e} at {} in {v}",
                e.instance_path()
            ));
        }
        if let Err(e) = read {
            failures.push(format!(
                "docs/sut-protocol.md:{n}: the Rust type refuses {v}: {e}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // The page's handshake, reset, action table, observe, snapshot/restore/release, errors and
    // full session: far more than a handful, so an extraction that stops finding them fails.
    assert!(requests >= 30, "only {requests} requests found");
    assert!(replies >= 15, "only {replies} replies found");
    assert!(
        examples.shortened.len() < 12,
        "{} shortened lines (lines {:?}): the page shows too few messages whole",
        examples.shortened.len(),
        examples.shortened
    );
}

/// The protocol schemas refuse what the protocol refuses, so the test above can fail.
#[test]
fn the_protocol_schemas_refuse_bad_messages() {
    let (request, reply) = protocol_validators();
    let bad_requests = [
        r#"{"op":"observe"}"#,                      // no id
        r#"{"id":1,"op":"teleport"}"#,              // no such op
        r#"{"id":1,"op":"set","vb":0,"key":"k0"}"#, // no value
        r#"{"id":1,"op":"flush","vb":-1}"#,         // vb not a u16
        r#"{"id":1,"op":"reset","design":{"persist_entry":"later","shutdown_flag":"after-flush"},"vbuckets":1,"replicas":1}"#,
    ];
    for r in bad_requests {
        let v: serde_json::Value = serde_json::from_str(r).unwrap();
        assert!(!request.is_valid(&v), "the request schema accepts {r}");
    }
    let bad_replies = [
        r#"{"id":1}"#,                                       // no ok
        r#"{"id":1,"ok":"yes"}"#,                            // ok not a bool
        r#"{"id":1,"ok":true,"phase":"warming"}"#,           // no such phase
        r#"{"id":1,"ok":true,"outcome":"rolled-back"}"#,     // no seqno
        r#"{"id":1,"ok":true,"designs":"every"}"#,           // "all" or a list
        r#"{"id":1,"ok":true,"omits":["/active/process"]}"#, // may not be omitted
        r#"{"id":1,"ok":true,"seqnos":[1,"2"]}"#,
    ];
    for r in bad_replies {
        let v: serde_json::Value = serde_json::from_str(r).unwrap();
        assert!(!reply.is_valid(&v), "the reply schema accepts {r}");
    }
    // Unknown fields are ignored both ways (docs/sut-protocol.md, "Framing").
    let v = serde_json::json!({"id": 1, "op": "observe", "trace_id": "x"});
    assert!(request.is_valid(&v));
    let v = serde_json::json!({"id": 1, "ok": true, "elapsed_ms": 3});
    assert!(reply.is_valid(&v));
}
