//! The JSON Schemas in `docs/schemas/` are generated from the report structs
//! (`warmcheck_conformance::report::schemas`, `schemars`): every file there equals its
//! generated schema, and every generated schema has its file.
//!
//! `REWRITE=1 cargo test -p warmcheck-conformance --test schemas` regenerates the files (the
//! same `REWRITE` as the story files: `warmcheck-testkit`); review the change with
//! `git diff docs/schemas`. `conformance/tests/reports.rs` validates real reports against them.

use std::path::{Path, PathBuf};
use warmcheck_conformance::report;

fn schemas_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/schemas")
}

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
        // The one schema written by hand (tests/reports.rs validates real ITF files against
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
