//! `conform --stories`: the known counterexample stories replayed on an engine, each judged
//! prevented, REPRODUCED or NOT FOLLOWED (`warmcheck_conformance::stories`). Here on the
//! in-process implementation and on `warmcheck sut` over the protocol; the Python SUT and the
//! skeleton adapter are in `python_sut.rs` (they need python3). Bad input: every case exits 2
//! with a message naming the file.

use crate::common;

use common::warmcheck as run;
use std::path::{Path, PathBuf};
use warmcheck_conformance::stories;

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata")
}

/// The built-in stories are exactly `conformance/testdata/*.txt`, byte for byte: a story
/// added there and not to `stories::BUILT_IN` fails here.
#[test]
fn the_built_in_stories_are_the_testdata_files() {
    let mut on_disk: Vec<(String, String)> = std::fs::read_dir(testdata())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read_to_string(&p).unwrap(),
            )
        })
        .collect();
    on_disk.sort();
    let built_in: Vec<(String, String)> = stories::BUILT_IN
        .iter()
        .map(|(n, t)| (n.to_string(), t.to_string()))
        .collect();
    assert_eq!(
        built_in.iter().map(|(n, _)| n).collect::<Vec<_>>(),
        on_disk.iter().map(|(n, _)| n).collect::<Vec<_>>(),
        "stories::BUILT_IN lists conformance/testdata's story files, in name order"
    );
    assert_eq!(built_in, on_disk);
    assert_eq!(stories::built_in().unwrap().len(), on_disk.len());
}

/// `current` (kv_engine today) reproduces the stories its own model reproduces (its 17-step
/// divergence, the literal guard's, and the 6-step clean-flag cause); every other story it
/// prevents. Exit 1; the JUnit file has one case per story with its own time and property.
#[test]
fn current_reproduces_its_own_stories_and_prevents_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("stories.xml");
    let (code, out, err) = run(&[
        "conform",
        "--variant",
        "current",
        "--stories",
        "--quiet",
        "--junit",
        junit.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains("13 stories: 10 prevented, 3 reproduced (3 of them as design `current` itself does), 0 not followed"),
        "{out}"
    );
    for line in [
        "REPRODUCED   current_clean_shutdown_during_warmup_forgets_unclean_restart",
        "REPRODUCED   literal_has_loaded_metadata_guard_diverges_after_forced_done",
        "REPRODUCED   literal_guard_writes_clean_after_a_stop_in_initialize",
        "prevented    mb41942_expiry_during_warmup_overtakes_replica",
        "the engine's data diverged: vb 0 seqno 1: <data>/r1/vb0.couch holds set k0=v1",
    ] {
        assert!(out.contains(line), "no {line:?} in:\n{out}");
    }
    let xml = std::fs::read_to_string(&junit).unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let cases: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .collect();
    assert_eq!(cases.len(), 13, "{xml}");
    let failures: Vec<&str> = doc
        .descendants()
        .filter(|n| n.has_tag_name("failure"))
        .filter_map(|n| n.attribute("message"))
        .collect();
    assert_eq!(failures.len(), 3, "{xml}");
    assert!(
        failures.contains(&"reproduced: \"no replica diverges\" violated after 17 steps"),
        "{failures:?}"
    );
    let times: Vec<f64> = cases
        .iter()
        .map(|c| c.attribute("time").unwrap().parse().unwrap())
        .collect();
    assert!(
        times.iter().all(|t| *t > 0.0),
        "each case its own time: {times:?}"
    );
    assert!(
        cases
            .iter()
            .all(|c| c.attribute("name").unwrap().contains("is prevented (\"")),
        "each case names its property: {xml}"
    );
}

/// `proposed` prevents every story: exit 0.
#[test]
fn proposed_prevents_every_story() {
    let (code, out, err) = run(&["conform", "--variant", "proposed", "--stories", "--quiet"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("13 stories: 13 prevented, 0 reproduced, 0 not followed"),
        "{out}"
    );
    assert!(
        out.contains("The engine prevents every known story."),
        "{out}"
    );
}

/// A planted bug (the clean flag written before the final flush) makes the engine depart from
/// `proposed` on the stories with a clean shutdown: NOT FOLLOWED, with the step and what the
/// model expected there; exit 1. In process and over the protocol alike.
#[test]
fn a_planted_bug_is_not_followed_with_the_step_and_the_model_s_expectation() {
    let bin = env!("CARGO_BIN_EXE_warmcheck");
    let sut = format!("{bin} sut --seeded-bug clean_flag_before_final_flush");
    for extra in [
        vec!["--seeded-bug", "clean_flag_before_final_flush"],
        vec!["--sut", sut.as_str()],
    ] {
        let mut args = vec!["conform", "--variant", "proposed", "--stories", "--quiet"];
        args.extend(extra.iter().copied());
        let (code, out, err) = run(&args);
        assert_eq!(code, 1, "{out}{err}");
        assert!(
            out.contains("NOT FOLLOWED mb45756_kill_between_clean_flag_and_final_flush"),
            "{out}"
        );
        assert!(
            out.contains("the engine departed from design `proposed` at step "),
            "{out}"
        );
        assert!(out.contains(" not followed ("), "{out}");
        assert!(
            out.contains("`warmcheck conform` walks every transition and names each fix"),
            "{out}"
        );
    }
}

/// Over the protocol, `warmcheck sut` prevents every story in `proposed`, as in process.
#[test]
fn warmcheck_sut_prevents_every_story_over_the_protocol() {
    let bin = env!("CARGO_BIN_EXE_warmcheck");
    let sut = format!("{bin} sut");
    let (code, out, err) = run(&[
        "conform",
        "--variant",
        "proposed",
        "--stories",
        "--quiet",
        "--sut",
        &sut,
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("on the SUT `"), "{out}");
    assert!(out.contains("13 stories: 13 prevented"), "{out}");
}

/// `--stories DIR` reads that directory's story files: one story copied there runs alone.
#[test]
fn stories_dir_reads_its_own_story_files() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        testdata().join("mb41942_expiry_during_warmup_overtakes_replica.txt"),
        dir.path().join("mine.txt"),
    )
    .unwrap();
    std::fs::write(dir.path().join("notes.md"), "not a story").unwrap();
    let (code, out, err) = run(&[
        "conform",
        "--variant",
        "v6.5.1",
        "--stories",
        dir.path().to_str().unwrap(),
        "--quiet",
    ]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains("Replaying 1 known counterexample stories"),
        "{out}"
    );
    assert!(out.contains("REPRODUCED   mine"), "{out}");
    assert!(
        out.contains(
            "1 stories: 0 prevented, 1 reproduced (1 of them as design `v6.5.1` itself does)"
        ),
        "{out}"
    );
}

/// Bad input exits 2 with the file named: no directory, an empty one, a story cut short, a
/// story that lies (an action the design never enables is fine, a property that does not
/// exist is not), non-UTF-8, a huge file; flags that make no sense with --stories; a SUT that
/// dies at once.
#[test]
fn bad_story_input_exits_2_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("absent");
    let (code, _, err) = run(&["conform", "--stories", missing.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("absent: cannot list"), "{err}");

    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let (code, _, err) = run(&["conform", "--stories", empty.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no story files (*.txt) in"), "{err}");

    let story = std::fs::read_to_string(
        testdata().join("mb41942_expiry_during_warmup_overtakes_replica.txt"),
    )
    .unwrap();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        // Cut before the directives are complete.
        (
            "cut.txt",
            story.as_bytes()[..story.find("bounds:").unwrap()].to_vec(),
            "cut.txt: ",
        ),
        // A property that does not exist.
        (
            "lies.txt",
            story
                .replace(
                    "violates: no replica diverges",
                    "violates: the moon is cheese",
                )
                .into_bytes(),
            "lies.txt: ",
        ),
        (
            "binary.txt",
            b"# t\ndesign: v6.5.1\n\xff\xfe\n".to_vec(),
            "binary.txt: not UTF-8 (byte offset 19)",
        ),
        (
            "huge.txt",
            vec![b'#'; (stories::MAX_FILE_BYTES + 1) as usize],
            "huge.txt: 1048577 bytes",
        ),
    ];
    for (name, bytes, want) in cases {
        let d = dir.path().join(name.trim_end_matches(".txt"));
        std::fs::create_dir(&d).unwrap();
        std::fs::write(d.join(name), bytes).unwrap();
        let (code, out, err) = run(&["conform", "--stories", d.to_str().unwrap()]);
        assert_eq!(code, 2, "{name}: {out}{err}");
        assert!(err.contains(want), "{name}: want {want:?} in: {err}");
    }

    for flags in [
        vec!["--jobs", "2"],
        vec!["--shard", "0/2"],
        vec!["--timeout", "5"],
        vec!["--json", "r.json"],
    ] {
        let mut args = vec!["conform", "--stories"];
        args.extend(flags.iter().copied());
        let (code, _, err) = run(&args);
        assert_eq!(code, 2, "{flags:?}: {err}");
        assert!(err.contains("cannot be used with"), "{flags:?}: {err}");
    }

    // The failover stories replay on the implementation like the others: `current` prevents
    // both.
    let failover = testdata().join("failover");
    let (code, out, err) = run(&["conform", "--stories", failover.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("2 stories: 2 prevented, 0 reproduced, 0 not followed"),
        "{out}"
    );

    let (code, out, err) = run(&["conform", "--stories", "--quiet", "--sut", "exit 0"]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains("warmcheck: story current_clean_shutdown"),
        "{err}"
    );
}

/// Issue 22: failovers reach the implementation. `conform --failovers 1` covers every
/// transition at small bounds with no mismatch; `replay` of MB-48398's story (as a trace)
/// follows the model step by step; a SUT that speaks protocol 1 (no failover) or a version
/// warmcheck does not speak is refused with exit 2, naming the version. The model takes them
/// too: `check --failovers` at tiny bounds runs and reports the failover witnesses.
#[test]
fn failovers_run_on_the_implementation_and_a_version_1_sut_is_refused() {
    let (code, out, err) = run(&[
        "conform",
        "--failovers",
        "1",
        "--keys",
        "1",
        "--writes",
        "1",
        "--crashes",
        "1",
        "--shutdowns",
        "0",
        "--variant",
        "current",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("1 failover") && out.contains("(100.0%)") && out.contains("No mismatch"),
        "{out}"
    );

    let story = warmcheck_conformance::story_file::StoryFile::parse(
        &std::fs::read_to_string(
            testdata()
                .join("failover")
                .join("mb48398_added_back_node_retries_with_an_older_uuid_it_diverged_from.txt"),
        )
        .unwrap(),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("mb48398.trace.json");
    story.trace(story.design).save(&trace).unwrap();
    let (code, out, err) = run(&["replay", trace.to_str().unwrap()]);
    assert_ne!(code, 2, "{out}{err}");
    assert!(
        out.contains("FailedOverNodeIsAddedBack") && !out.contains("MISMATCH"),
        "{out}{err}"
    );
    // A SUT that answers the handshake with version 1 has no failover: refused, naming it; one
    // that answers a version warmcheck does not speak is refused too.
    for (version, says) in [(1, "which has no failover"), (3, "speaks protocol 3")] {
        let sut = format!(
            "read l; echo '{{\"id\":0,\"ok\":true,\"protocol\":{version},\"name\":\"v{version}\",\"designs\":\"all\"}}'; cat >/dev/null"
        );
        let (code, out, err) = run(&["replay", trace.to_str().unwrap(), "--sut", &sut]);
        assert_eq!(code, 2, "protocol {version}: {out}{err}");
        assert!(err.contains(says), "protocol {version}: {err}");
    }

    let (code, out, err) = run(&[
        "check",
        "--failovers",
        "1",
        "--keys",
        "1",
        "--writes",
        "1",
        "--crashes",
        "1",
        "--shutdowns",
        "0",
        "--variant",
        "proposed",
        "--trace-dir",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    for witness in [
        "reached    sometimes  a replica is promoted",
        "reached    sometimes  a failed-over node is added back",
        "1 failover,",
    ] {
        assert!(out.contains(witness), "{witness:?} in:\n{out}");
    }
}
