//! The command line itself: clap's own consistency checks, every count flag bounded (stated in
//! its help, refused past it with exit code 2), one spelling of the backend flag.

use crate::common;

use clap::{CommandFactory, Parser};
use common::warmcheck;
use warmcheck_conformance::cli::Cli;

#[test]
fn the_command_line_is_well_formed() {
    Cli::command().debug_assert();
}

/// Every flag that takes a count: (subcommand, flag, smallest, largest).
const COUNTS: &[(&str, &str, u64, u64)] = &[
    ("check", "vbuckets", 1, 8),
    ("check", "replicas", 0, 8),
    ("check", "keys", 1, 8),
    ("check", "writes", 0, 60),
    ("check", "crashes", 0, 20),
    ("check", "shutdowns", 0, 20),
    ("check", "flush-failures", 0, 20),
    ("check", "threads", 1, 1024),
    ("check", "max-depth", 0, 10_000),
    ("check", "failovers", 0, 20),
    ("explore", "failovers", 0, 20),
    ("simulate", "failovers", 0, 20),
    ("conform", "failovers", 0, 20),
    ("workload", "failovers", 0, 20),
    ("soak", "failovers", 0, 20),
    ("check", "flush-failures", 0, 20),
    ("explore", "flush-failures", 0, 20),
    ("simulate", "flush-failures", 0, 20),
    ("conform", "flush-failures", 0, 20),
    ("explore", "vbuckets", 1, 8),
    ("explore", "replicas", 0, 8),
    ("explore", "keys", 1, 8),
    ("explore", "writes", 0, 60),
    ("explore", "crashes", 0, 20),
    ("explore", "shutdowns", 0, 20),
    ("explore", "flush-failures", 0, 20),
    ("simulate", "vbuckets", 1, 8),
    ("simulate", "replicas", 0, 8),
    ("simulate", "keys", 1, 8),
    ("simulate", "writes", 0, 60),
    ("simulate", "crashes", 0, 20),
    ("simulate", "shutdowns", 0, 20),
    ("simulate", "flush-failures", 0, 20),
    ("simulate", "runs", 1, 1_000_000_000),
    ("simulate", "depth", 0, 10_000),
    ("scenario", "replicas", 0, 8),
    ("scenario", "vbuckets", 1, 1024),
    ("conform", "vbuckets", 1, 8),
    ("conform", "replicas", 0, 8),
    ("conform", "keys", 1, 8),
    ("conform", "writes", 0, 60),
    ("conform", "crashes", 0, 20),
    ("conform", "shutdowns", 0, 20),
    ("conform", "flush-failures", 0, 20),
    ("conform", "jobs", 1, 1024),
    ("validate", "vbuckets", 1, 8),
    ("validate", "replicas", 0, 8),
    ("validate", "keys", 1, 64),
    ("validate", "writes", 0, 60),
    ("validate", "crashes", 0, 20),
    ("validate", "shutdowns", 0, 20),
    ("validate", "max-candidates", 1, 100_000_000),
    ("soak", "steps", 1, 1_000_000_000),
    ("soak", "vbuckets", 1, 8),
    ("soak", "replicas", 0, 8),
    ("soak", "keys", 1, 8),
    ("soak", "probes", 0, 100),
    ("soak", "torn", 0, 100),
    ("workload", "vbuckets", 1, 8),
    ("workload", "replicas", 0, 8),
    ("workload", "keys", 1, 8),
    ("workload", "steps", 1, 1_000_000_000),
    ("workload", "clock", 0, 1_000_000),
    ("workload", "writes", 0, 60),
    ("workload", "crashes", 0, 20),
    ("workload", "shutdowns", 0, 20),
    ("workload", "probes", 0, 100),
];

/// Flags that take something other than a count (a name, a path, an address, a seed, ...).
const NOT_COUNTS: &[&str] = &[
    "variant",
    "persist-entry",
    "shutdown-flag",
    "rollback-retry",
    "stop-warmup",
    "revert-fix",
    "strategy",
    "json",
    "junit",
    "trace-dir",
    "property",
    "addr",
    "trace",
    "seed",
    "dir",
    "backend",
    "shard",
    "timeout",
    "sut",
    "sut-timeout",
    "omit",
    "rollback-retry",
    "stop-warmup",
    "revert-fix",
    "seeded-bug",
    "from",
    "unlogged",
    "log",
    "resume",
    "file",
    "expect",
    "write-expected",
    "stories",
    "help",
    "version",
];

/// The arguments a subcommand needs besides the one under test.
fn required(cmd: &str) -> Vec<&'static str> {
    match cmd {
        "scenario" | "replay" | "validate" => vec!["x"],
        "workload" => vec!["--dir", "d", "--seed", "1", "--log", "l"],
        _ => vec![],
    }
}

fn parse(args: &[&str]) -> Result<(), clap::Error> {
    Cli::try_parse_from(std::iter::once("warmcheck").chain(args.iter().copied())).map(drop)
}

#[test]
fn every_count_flag_is_listed_here() {
    for sub in Cli::command().get_subcommands() {
        for arg in sub.get_arguments() {
            let Some(long) = arg.get_long() else { continue };
            if !arg.get_action().takes_values() {
                continue;
            }
            let listed = COUNTS
                .iter()
                .any(|(c, f, _, _)| *c == sub.get_name() && *f == long);
            assert!(
                listed || NOT_COUNTS.contains(&long),
                "`{} --{long}`: a count flag needs a bound (list it in COUNTS), or list it in \
                 NOT_COUNTS",
                sub.get_name()
            );
        }
    }
}

#[test]
fn every_count_flag_states_its_bounds_and_refuses_values_past_them() {
    let cli = Cli::command();
    for &(cmd, flag, min, max) in COUNTS {
        let sub = cli.find_subcommand(cmd).expect(cmd);
        let arg = sub
            .get_arguments()
            .find(|a| a.get_long() == Some(flag))
            .unwrap_or_else(|| panic!("{cmd} --{flag}"));
        let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
        assert!(
            help.contains(&format!("{min}..={max}")),
            "{cmd} --{flag}: the help {help:?} does not state {min}..={max}"
        );
        let with = |v: u64| {
            let flag = format!("--{flag}");
            let value = v.to_string();
            let mut args = vec![cmd];
            args.extend(required(cmd));
            args.extend([flag.as_str(), value.as_str()]);
            parse(&args)
        };
        for ok in [min, max] {
            if let Err(e) = with(ok) {
                panic!("{cmd} --{flag} {ok} refused: {e}");
            }
        }
        let mut refused = vec![max + 1];
        if min > 0 {
            refused.push(min - 1);
        }
        for bad in refused {
            let e = with(bad).expect_err(&format!("{cmd} --{flag} {bad} accepted"));
            assert_eq!(e.exit_code(), 2, "{cmd} --{flag} {bad}");
            assert!(
                e.to_string().contains(&format!("is not in {min}..={max}")),
                "{cmd} --{flag} {bad}: {e}"
            );
        }
    }
}

#[test]
fn threads_and_jobs_zero_are_refused_and_seeds_take_any_u64() {
    let e = parse(&["check", "--threads", "0"]).unwrap_err();
    assert!(e.to_string().contains("0 is not in 1..=1024"), "{e}");
    let e = parse(&["conform", "--jobs", "0"]).unwrap_err();
    assert!(e.to_string().contains("0 is not in 1..=1024"), "{e}");
    parse(&["soak", "--seed", "18446744073709551615"]).unwrap();
    parse(&["soak", "--seed", "18446744073709551616"]).unwrap_err();
    let e = parse(&["conform", "--shard", "0/65537"]).unwrap_err();
    assert!(e.to_string().contains("at most 65536"), "{e}");
}

#[test]
fn the_backend_is_one_flag_everywhere_and_faulty_is_its_hidden_old_spelling() {
    for cmd in ["scenario", "replay", "conform", "soak"] {
        let (code, help, _) = warmcheck(&[cmd, "--help"]);
        assert_eq!(code, 0);
        assert!(help.contains("--backend <BACKEND>"), "{cmd}: {help}");
        assert!(
            help.contains("- file:") && help.contains("- faulty:"),
            "{help}"
        );
        assert!(!help.contains("--faulty"), "{cmd}: {help}");
    }
    // The defaults stay: file for conform, scenario and replay, faulty for soak.
    for (cmd, default) in [
        ("conform", "file"),
        ("scenario", "file"),
        ("replay", "file"),
        ("soak", "faulty"),
    ] {
        let (_, help, _) = warmcheck(&[cmd, "--help"]);
        let backend = &help[help.find("--backend <BACKEND>").unwrap()..];
        let default_line = backend.lines().find(|l| l.contains("[default:")).unwrap();
        assert!(
            default_line.contains(&format!("[default: {default}]")),
            "{cmd}: {default_line}"
        );
    }
    // --faulty still means the faulty backend (which has no directory on disk to keep).
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("data");
    for cmd in ["scenario", "replay"] {
        for spelling in [&["--faulty"][..], &["--backend", "faulty"][..]] {
            let mut args = vec![cmd, "x", "--dir", dir.to_str().unwrap()];
            args.extend(spelling);
            let (code, _, err) = warmcheck(&args);
            assert_eq!(code, 2, "{args:?}");
            assert!(err.contains("needs --backend file"), "{args:?}: {err}");
        }
        let (code, _, err) = warmcheck(&[cmd, "x", "--faulty", "--backend", "file"]);
        assert_eq!(code, 2, "{err}");
        assert!(err.contains("cannot be used with"), "{err}");
    }
}

#[test]
fn simulate_names_the_whole_command_that_reproduces_a_failure() {
    let (code, out, _) = warmcheck(&[
        "simulate",
        "--variant",
        "v6.5.1",
        "--seed",
        "1",
        "--keys",
        "1",
        "--writes",
        "2",
        "--crashes",
        "1",
        "--shutdowns",
        "1",
    ]);
    assert_eq!(code, 1, "{out}");
    let last = out.lines().last().unwrap();
    let command = last
        .split_once(": warmcheck ")
        .unwrap_or_else(|| panic!("no command in {last:?}"))
        .1;
    let (code, again, _) = warmcheck(&command.split(' ').collect::<Vec<_>>());
    assert_eq!(code, 1, "{again}");
    let untimed = |s: &str| -> Vec<String> {
        s.lines()
            .filter(|l| !l.contains("sometimes-properties reached"))
            .map(str::to_string)
            .collect()
    };
    assert_eq!(
        untimed(&again),
        untimed(&out),
        "the printed command runs the same walks"
    );
}

#[test]
fn the_design_flags_refuse_values_they_do_not_know_naming_the_choices() {
    // --stop-warmup and --revert-fix (issue 21): unknown, empty, mis-cased, a half-valid list,
    // and a huge value are usage errors (exit 2) that name what is accepted; none panics.
    let huge = "mb".repeat(30_000); // 60 KB: one argument may not exceed 128 KiB
    for (flag, value, want) in [
        (
            "--stop-warmup",
            "at-shutdown",
            "in-deinitialize, in-initiate-shutdown",
        ),
        ("--stop-warmup", "", "in-deinitialize, in-initiate-shutdown"),
        (
            "--stop-warmup",
            "IN-DEINITIALIZE",
            "in-deinitialize, in-initiate-shutdown",
        ),
        ("--revert-fix", "mb1", "mb11085, mb21769, mb37920, mb20822"),
        (
            "--revert-fix",
            "mb11085+",
            "mb11085, mb21769, mb37920, mb20822",
        ),
        (
            "--revert-fix",
            "mb11085,mb37920",
            "mb11085, mb21769, mb37920, mb20822",
        ),
        ("--revert-fix", &huge, "mb11085, mb21769, mb37920, mb20822"),
        (
            "--shutdown-flag",
            "after-flush-if-state-persisted",
            "after-flush-if-vb-map-populated",
        ),
    ] {
        for cmd in ["check", "conform", "sut"] {
            if cmd == "sut" && flag == "--revert-fix" {
                continue; // the SUT takes the design from each reset
            }
            let (code, _, err) = warmcheck(&[cmd, flag, value]);
            assert_eq!(
                code,
                2,
                "{cmd} {flag} {}: {err}",
                &value[..value.len().min(40)]
            );
            assert!(err.contains(want), "{cmd} {flag}: {err}");
            assert!(!err.contains("panicked"), "{cmd} {flag}: {err}");
        }
    }
    // Accepted: every name, a `+` list, and `none`.
    let (code, out, err) = warmcheck(&[
        "check",
        "--variant",
        "proposed",
        "--revert-fix",
        "none",
        "--stop-warmup",
        "in-initiate-shutdown",
        "--keys",
        "1",
        "--writes",
        "1",
        "--crashes",
        "1",
        "--quiet",
    ]);
    assert_eq!(code, 0, "{out}{err}");
}
