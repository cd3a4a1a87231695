//! `warmcheck soak`: seeded random workloads on the implementation, validated against the
//! model at every step. It passes on the implementation as it is, in a correct design and in a
//! buggy one; it is deterministic; and it notices each deliberate implementation bug.

use std::process::Command;
use warmcheck_conformance::soak::{soak, Knobs, SoakBackend, SoakConfig, SoakReport};
use warmcheck_impl::engine::SeededBugs;
use warmcheck_model::Variant;

fn config(variant: &str, seed: u64, steps: u64) -> SoakConfig {
    SoakConfig {
        seed,
        steps,
        design: Variant::preset(variant).unwrap(),
        vbuckets: 2,
        replicas: 1,
        keys: 2,
        backend: SoakBackend::Faulty,
        bugs: SeededBugs::default(),
        knobs: Knobs::default(),
        failovers: 0,
    }
}

fn run(cfg: &SoakConfig) -> SoakReport {
    soak(cfg, |_| true).expect("the soak sets up")
}

fn warmcheck(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_warmcheck"))
        .args(args)
        .output()
        .expect("run warmcheck");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// The output without the one thing that varies from run to run: the time taken.
fn without_timing(out: &str) -> String {
    out.lines()
        .map(|l| match l.rfind("; ") {
            Some(i) if l.ends_with('s') && l[i + 2..l.len() - 1].parse::<f64>().is_ok() => &l[..i],
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn soak_passes_in_current_and_in_v6_5_1_over_a_few_seeds() {
    for variant in ["current", "v6.5.1"] {
        for seed in 1..=3 {
            let r = run(&config(variant, seed, 700));
            assert!(r.passed, "{variant} seed {seed}: {:#?}", r.failure);
            assert_eq!(r.steps, 700);
            assert!(r.crashes > 0 && r.torn_crashes > 0, "{r:?}");
            assert!(r.refused > 0, "probes are refused now and then: {r:?}");
            assert!(r.model_steps > 0 && r.stutters > 0, "{r:?}");
            if variant == "current" {
                assert_eq!(r.divergences, 0, "current never diverges: {r:?}");
            }
        }
    }
}

#[test]
fn soak_in_a_buggy_design_passes_while_the_model_sees_replicas_diverge() {
    // v6.5.1 diverges (MB-41942); the implementation diverging exactly as the model does is no
    // failure of the soak.
    let mut seen = Vec::new();
    for seed in 1..=10 {
        let r = run(&config("v6.5.1", seed, 3000));
        assert!(r.passed, "seed {seed}: {:#?}", r.failure);
        seen.push((seed, r.divergences));
        if r.divergences > 0 {
            println!(
                "v6.5.1: the model saw replicas diverge {} times with seed {seed}",
                r.divergences
            );
            return;
        }
    }
    panic!("no divergence seen in v6.5.1: {seen:?}");
}

/// Soak with failovers (issue 22): the in-memory crashable backend, torn crashes, two replicas,
/// in a design that lacks MB-37920's fix and in `current`; the log shows the failovers and
/// add-backs it made, and validates segment by segment.
#[test]
fn soak_passes_with_failovers_and_its_log_shows_them() {
    for variant in ["v6.5.1", "current"] {
        for seed in [3u64, 9] {
            let dir = tempfile::tempdir().unwrap();
            let log = dir.path().join("soak.ndjson");
            let (code, out) = warmcheck(&[
                "soak",
                "--seed",
                &seed.to_string(),
                "--steps",
                "6000",
                "--variant",
                variant,
                "--replicas",
                "2",
                "--failovers",
                "5",
                "--quiet",
                "--log",
                log.to_str().unwrap(),
            ]);
            assert_eq!(code, 0, "{variant} seed {seed}: {out}");
            let text = std::fs::read_to_string(&log).unwrap();
            assert!(
                text.contains("\"call\":\"fail_over\"") && text.contains("\"call\":\"add_back\""),
                "{variant} seed {seed}: no failover logged"
            );
            let (code, out) = warmcheck(&["validate", log.to_str().unwrap(), "--variant", variant]);
            assert_eq!(code, 0, "{variant} seed {seed}: {out}");
            assert!(
                out.contains(", 5 failovers") && out.trim_end().ends_with(": VALID"),
                "{out}"
            );
        }
    }
}

#[test]
fn soak_passes_on_real_files() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config("current", 4, 300);
    cfg.backend = SoakBackend::File(dir.path().to_path_buf());
    cfg.knobs.torn_percent = 0;
    let r = run(&cfg);
    assert!(r.passed, "{:#?}", r.failure);
    assert!(r.crashes > 0);
}

#[test]
fn soak_is_deterministic_for_a_seed() {
    let a = run(&config("v6.5.1", 9, 600));
    let b = run(&config("v6.5.1", 9, 600));
    let strip = |r: &SoakReport| {
        let mut v = serde_json::to_value(r).unwrap();
        v.as_object_mut().unwrap().remove("seconds");
        v
    };
    assert_eq!(strip(&a), strip(&b));
    let args = [
        "soak",
        "--seed",
        "9",
        "--steps",
        "600",
        "--variant",
        "v6.5.1",
        "--quiet",
    ];
    let (code1, out1) = warmcheck(&args);
    let (code2, out2) = warmcheck(&args);
    assert_eq!((code1, code2), (0, 0), "{out1}");
    assert_eq!(without_timing(&out1), without_timing(&out2));
    assert!(out1.starts_with("seed=9\n"), "{out1}");
    assert!(out1.trim_end().ends_with("PASSED"), "{out1}");
    // A failing run is reproduced exactly too, events and all.
    let bug = [
        "soak",
        "--seed",
        "2",
        "--quiet",
        "--seeded-bug",
        "needs_rollback_uses_lt",
    ];
    let (code1, out1) = warmcheck(&bug);
    let (code2, out2) = warmcheck(&bug);
    assert_eq!((code1, code2), (1, 1), "{out1}");
    assert_eq!(without_timing(&out1), without_timing(&out2));
}

#[test]
fn a_failing_soak_shows_the_step_the_last_events_and_how_to_reproduce() {
    let (code, out) = warmcheck(&[
        "soak",
        "--seed",
        "1",
        "--quiet",
        "--seeded-bug",
        "no_entry_after_unclean_shutdown",
    ]);
    assert_eq!(code, 1, "{out}");
    let failed = out
        .lines()
        .find(|l| l.starts_with("FAILED at step "))
        .expect(&out);
    let step: u64 = failed["FAILED at step ".len()..]
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(out.contains("the last "), "{out}");
    let last = out.lines().last().unwrap();
    assert!(
        last.starts_with("reproduce with --seed 1: warmcheck soak --seed 1 --steps ")
            && last.contains("--seeded-bug no_entry_after_unclean_shutdown"),
        "{last}"
    );
    // The reproduce line's flags fail at the same step.
    let flags: Vec<&str> = last
        .split_once("warmcheck soak ")
        .unwrap()
        .1
        .split(' ')
        .collect();
    let mut args = vec!["soak", "--quiet"];
    args.extend(flags);
    let (code, again) = warmcheck(&args);
    assert_eq!(code, 1);
    assert!(
        again.contains(&format!("FAILED at step {step} ")),
        "{again}"
    );
}

#[test]
fn soak_writes_json_and_junit_reports() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("soak.json");
    let junit = dir.path().join("soak.xml");
    let (code, out) = warmcheck(&[
        "soak",
        "--seed",
        "3",
        "--steps",
        "200",
        "--quiet",
        "--json",
        json.to_str().unwrap(),
        "--junit",
        junit.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["schema"], "warmcheck-soak-report/1");
    for field in [
        "seed",
        "steps",
        "variant",
        "passed",
        "model_steps",
        "stutters",
        "crashes",
        "torn_crashes",
        "divergences",
        "failure",
        "seconds",
    ] {
        assert!(report.get(field).is_some(), "no {field} in {report}");
    }
    assert_eq!(report["seed"], 3);
    assert_eq!(report["passed"], true);
    assert!(report["failure"].is_null());
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("name=\"soak seed=3\""), "{xml}");
    assert!(xml.contains("failures=\"0\""), "{xml}");
}

/// For each seeded bug, the first seed (of up to `SEEDS`, `STEPS` steps each) whose soak fails.
#[test]
fn soak_catches_each_seeded_bug() {
    const SEEDS: u64 = 20;
    const STEPS: u64 = 3000;
    let bugs = [
        "flusher_ignores_set_vbstate",
        "needs_rollback_uses_lt",
        "no_entry_after_unclean_shutdown",
        "rollback_does_not_prune",
        "clean_flag_before_final_flush",
    ];
    for bug in bugs {
        let mut caught = None;
        for seed in 1..=SEEDS {
            let mut cfg = config("current", seed, STEPS);
            cfg.bugs.enable(bug).unwrap();
            let r = run(&cfg);
            if let Some(f) = r.failure {
                caught = Some((seed, f));
                break;
            }
        }
        let (seed, f) = caught.unwrap_or_else(|| {
            panic!("{bug}: no soak of seeds 1..={SEEDS} ({STEPS} steps each) noticed it")
        });
        println!(
            "{bug}: caught by seed {seed} at step {} ({}): {}",
            f.step,
            f.call,
            f.message.lines().next().unwrap_or("")
        );
    }
}

#[test]
fn soak_log_on_a_full_disk_is_an_io_error_not_the_implementations_failure() {
    if !std::path::Path::new("/dev/full").exists() {
        eprintln!("skipped: no /dev/full");
        return;
    }
    let out = Command::new(env!("CARGO_BIN_EXE_warmcheck"))
        .args(["soak", "--seed", "1", "--steps", "50", "--log", "/dev/full"])
        .output()
        .unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(2), "{all}");
    assert!(
        all.contains("--log: step 1: ") && all.contains("writing the event log failed"),
        "{all}"
    );
    assert!(all.contains("not of the implementation"), "{all}");
    assert!(!all.contains("reproduce with"), "{all}");
}

#[test]
fn soak_never_uses_or_removes_a_segment_directory_it_did_not_make() {
    // Another process's directory where the soak's second segment would go.
    let dir = tempfile::tempdir().unwrap();
    let theirs = dir.path().join("segment-2");
    std::fs::create_dir(&theirs).unwrap();
    std::fs::write(theirs.join("theirs.txt"), "not the soak's").unwrap();
    let mut cfg = config("current", 4, 5000);
    cfg.backend = SoakBackend::File(dir.path().to_path_buf());
    cfg.knobs.torn_percent = 0;
    let err = soak(&cfg, |_| true).expect_err("segment-2 is not the soak's to use");
    assert!(err.contains("segment-2"), "{err}");
    assert!(err.contains("neither used nor removed"), "{err}");
    assert_eq!(
        std::fs::read_to_string(theirs.join("theirs.txt")).unwrap(),
        "not the soak's"
    );
    assert_eq!(
        std::fs::read_dir(&theirs).unwrap().count(),
        1,
        "nothing added"
    );
}
