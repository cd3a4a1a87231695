//! Real process crashes. The implementation runs as a child process (`warmcheck workload`) on
//! real files and is killed with SIGKILL at a random moment; the test then opens the directory
//! again, checks what is there against the model, warms it up, and starts the next child on the
//! same directory. Several rounds per seed.
//!
//! After each kill:
//! 1. the child's event log is validated against the model from where the round started
//!    (the last line may be cut short by the kill: exactly that one unfinished line is set
//!    aside, nothing else is tolerated). The model is then at state M.
//! 2. The directory is opened (`Cluster::open`) and its projection compared with what the
//!    model allows after `ActiveCrashes` from M, or from one of M's successors: the call in
//!    flight at the kill may or may not have reached disk. This is checked file by file (a
//!    call may write several files, e.g. a sync-flush warmup commits each vb in turn): each
//!    data file and stats.json must be as in M or as in that successor. So nothing committed
//!    is lost and nothing uncommitted appears.
//! 3. Warmup runs to completion in-process, its event log validated from that state; then the
//!    cluster is dropped (another crash, of a running node) and the next child resumes from
//!    there.
//!
//! The replicas live in the same process and die with it. The model's replicas never restart,
//! so the test says what a replica's file holds: its newest commit. A replica commits once per
//! mutation received (with the table and snapshot it has then), a rollback rewinds its file
//! to an older commit, and after each stream request's answer the replica commits its vbstate
//! alone if it changed (a table adopted or pruned, a rollback's snapshot). The snapshot range
//! a replica's vbstate holds is f40669692's, so a reopened replica whose last snapshot is
//! complete starts it at its end, not at the marker's first seqno. The test keeps, beside the
//! model, each replica file's commits (seqno, snapshot as reopened, table), checks the reopened
//! replica against the newest, and continues the model from the replica as its file has it.
//!
//! uuids: the child hands out uuids from a counter, as the model does. A restart continues the
//! counter past every uuid the killed process could have handed out (the largest next uuid of
//! M and of its successors), so no uuid is handed out twice and the model and the
//! implementation keep naming entries alike.
//!
//! The clock: kv_engine's is wall time and keeps going across a restart; the engine's starts at
//! 0 at `open`. The resumed child moves it back to where the killed one was (unlogged) so that
//! expiry times on disk keep their meaning.
//!
//! Seeded: the seed fixes the workloads and the kill targets (a number of log lines, a delay);
//! where exactly the kill lands depends on timing. On failure the directory and the logs are
//! kept and their path printed.

// The one shared helper module of `tests/it` (this file cannot be one of its modules: see
// `tests/it/main.rs`); this binary uses part of it.
#[allow(dead_code)]
#[path = "it/common.rs"]
mod common;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;
use stateright::Model;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use warmcheck_conformance::mapping;
use warmcheck_conformance::validate::{self, Validator};
use warmcheck_impl::engine::{Cluster, Config, CounterUuids, Roles, StorageBackend};
use warmcheck_model::failover::Table;
use warmcheck_model::{Action, State, Stream, Variant, Warmup};

const ROUNDS: usize = 5;
const VBUCKETS: u8 = 2;
const REPLICAS: u8 = 1;
const KEYS: u8 = 2;
/// The whole test stops starting new rounds after this long.
const TIME_BUDGET: Duration = Duration::from_secs(25);

fn variant_of(seed: u64) -> &'static str {
    Variant::PRESETS[((seed - 1) % Variant::PRESETS.len() as u64) as usize]
}

// ---------------------------------------------------------------------------------------------
// What each replica's file holds
// ---------------------------------------------------------------------------------------------

/// One commit of a replica's data file.
#[derive(Clone, Debug, PartialEq)]
struct FileCommit {
    high: u8,
    snap_start: u8,
    snap_end: u8,
    table: Table,
}

impl FileCommit {
    /// What a replica's file holds after it commits, as a reopen reads it back: a complete
    /// snapshot starts at its end (f40669692's vbstate), a partial one at its marker's start.
    fn of(r: &warmcheck_model::ReplicaVb) -> FileCommit {
        let high = r.high_seqno();
        FileCommit {
            high,
            snap_start: if high == r.snap_end {
                r.snap_end
            } else {
                r.snap_start
            },
            snap_end: r.snap_end,
            table: r.failover.clone(),
        }
    }
}

/// `files[vb][replica]`: the commits of each replica file, oldest first.
#[derive(Clone, Debug)]
struct ReplicaFiles(Vec<Vec<Vec<FileCommit>>>);

impl ReplicaFiles {
    /// At bucket creation each replica file holds one commit: the active's table, seqno 0.
    fn created(s: &State) -> ReplicaFiles {
        ReplicaFiles(
            s.vbs
                .iter()
                .map(|vb| {
                    vb.replicas
                        .iter()
                        .map(|r| {
                            vec![FileCommit {
                                high: 0,
                                snap_start: 0,
                                snap_end: 0,
                                table: r.failover.clone(),
                            }]
                        })
                        .collect()
                })
                .collect(),
        )
    }

    /// Follow one model step.
    fn step(&mut self, before: &State, action: &Action, after: &State) {
        match *action {
            Action::ReplicaReceives { replica, vb, .. } => {
                let r = &after.vbs[vb as usize].replicas[replica as usize];
                self.0[vb as usize][replica as usize].push(FileCommit::of(r));
            }
            Action::ReplicaRequestsStream { replica, vb } => {
                let (vb, replica) = (vb as usize, replica as usize);
                if let Stream::RolledBack(rb) = after.vbs[vb].replicas[replica].stream {
                    let dropped_entry =
                        rb == 0 && before.vbs[vb].replicas[replica].failover.len() > 1;
                    if !dropped_entry {
                        // A rewind: back to the newest commit at or below rb.
                        self.0[vb][replica].retain(|c| c.high <= rb);
                    }
                }
                // Then the vbstate alone, if it changed.
                let now = FileCommit::of(&after.vbs[vb].replicas[replica]);
                if self.newest(vb, replica) != &now {
                    self.0[vb][replica].push(now);
                }
            }
            _ => {}
        }
    }

    fn newest(&self, vb: usize, replica: usize) -> &FileCommit {
        self.0[vb][replica]
            .last()
            .expect("a replica file keeps its first commit")
    }

    /// `s` with each replica as its file has it (after the process restarted).
    fn restarted(&self, s: &State) -> State {
        let mut s = s.clone();
        for (vb, slot) in s.vbs.iter_mut().enumerate() {
            for (i, r) in slot.replicas.iter_mut().enumerate() {
                let c = self.newest(vb, i);
                assert_eq!(
                    r.high_seqno(),
                    c.high,
                    "vb {vb} replica {i}: every mutation a replica holds is committed"
                );
                r.snap_start = c.snap_start;
                r.snap_end = c.snap_end;
                r.failover = c.table.clone();
            }
        }
        s
    }
}

// ---------------------------------------------------------------------------------------------
// Comparing a reopened directory with the model, file by file
// ---------------------------------------------------------------------------------------------

/// A projection cut into the files it describes, plus "memory" (the rest).
fn files(view: &Value) -> BTreeMap<String, Value> {
    let mut rest = view.clone();
    let mut out = BTreeMap::new();
    out.insert(
        "stats.json".to_string(),
        rest["active"]["clean_shutdown_flag"].take(),
    );
    if let Some(vbs) = rest["active"]["vbuckets"].as_array_mut() {
        for (i, vb) in vbs.iter_mut().enumerate() {
            let mut file = serde_json::Map::new();
            for field in ["persisted_seqno", "failover_on_disk", "items_on_disk"] {
                file.insert(field.to_string(), vb[field].take());
            }
            out.insert(format!("active/vb{i}.couch"), Value::Object(file));
        }
    }
    if let Some(replicas) = rest["replicas"].as_array_mut() {
        for (r, replica) in replicas.iter_mut().enumerate() {
            if let Some(vbs) = replica["vbuckets"].as_array_mut() {
                for (i, vb) in vbs.iter_mut().enumerate() {
                    out.insert(format!("r{}/vb{i}.couch", r + 1), vb.take());
                }
            }
        }
    }
    out.insert("memory".to_string(), rest);
    out
}

/// What the model allows the directory to hold after a kill at model state `m` (with replica
/// files `rf`): returns the model state to continue from, its replica files, and the call in
/// flight if it reached disk; or why nothing fits.
fn state_after_kill(
    model: &Warmup,
    m: &State,
    rf: &ReplicaFiles,
    found: &Value,
) -> Result<(State, ReplicaFiles, Option<Action>), String> {
    let crash = |s: &State, rf: &ReplicaFiles| {
        let down = model
            .next_state(s, Action::ActiveCrashes)
            .expect("a crash always has a next state");
        rf.restarted(&down)
    };
    let mut enabled = Vec::new();
    model.actions(m, &mut enabled);
    // The call in flight: none (the stutter), or one of the successors.
    let mut candidates = vec![(None, m.clone(), rf.clone())];
    for a in enabled {
        let next = model.next_state(m, a.clone()).expect("enabled");
        let mut rf_next = rf.clone();
        rf_next.step(m, &a, &next);
        candidates.push((Some(a), next, rf_next));
    }
    let next_uuid = candidates
        .iter()
        .map(|(_, s, _)| s.next_uuid)
        .max()
        .unwrap();
    let found_files = files(found);
    let base = crash(m, rf);
    let base_files = files(&mapping::project_model(model, &base));
    for (action, c, rf_c) in &candidates {
        let after = crash(c, rf_c);
        let after_files = files(&mapping::project_model(model, &after));
        let fits = found_files.iter().all(|(name, v)| {
            if name == "memory" {
                *v == after_files[name] && *v == base_files[name]
            } else {
                *v == base_files[name] || *v == after_files[name]
            }
        });
        if !fits {
            continue;
        }
        // Continue from the successor, with each file that is still as in M taken from M.
        let mut k = after;
        let mut rf_k = rf_c.clone();
        for (name, v) in &found_files {
            if *v != after_files[name] {
                if name == "stats.json" {
                    k.clean_flag = base.clean_flag;
                } else if let Some(vb) = name.strip_prefix("active/vb") {
                    let vb: usize = vb.trim_end_matches(".couch").parse().unwrap();
                    k.vbs[vb].disk = base.vbs[vb].disk.clone();
                } else if let Some((r, vb)) =
                    name.strip_prefix('r').and_then(|x| x.split_once("/vb"))
                {
                    let r: usize = r.parse::<usize>().unwrap() - 1;
                    let vb: usize = vb.trim_end_matches(".couch").parse().unwrap();
                    k.vbs[vb].replicas[r] = base.vbs[vb].replicas[r].clone();
                    rf_k.0[vb][r] = rf.0[vb][r].clone();
                }
            }
        }
        k.next_uuid = next_uuid;
        let check = mapping::diff(&mapping::project_model(model, &k), found);
        assert!(
            check.is_empty(),
            "the mixed state projects as found: {check:?}"
        );
        return Ok((k, rf_k, action.clone()));
    }
    Err(format!(
        "the reopened directory holds what the model allows neither after a crash at the last \
         logged state nor after any of its {} successors; against the crash at the last logged \
         state:\n{}",
        candidates.len() - 1,
        validate::render_differences(&mapping::diff(&mapping::project_model(model, &base), found))
    ))
}

// ---------------------------------------------------------------------------------------------
// The rounds
// ---------------------------------------------------------------------------------------------

fn open(model: &Warmup, dir: &Path, next_uuid: u8) -> Result<Cluster, String> {
    let mut config = Config::new(
        dir.to_path_buf(),
        StorageBackend::file(),
        mapping::impl_variant(model.variant),
    );
    config.vbuckets = model.bounds.vbuckets as u16;
    config.replicas = model.bounds.replicas as usize;
    config.uuids = Box::new(CounterUuids::starting_at(u64::from(next_uuid)));
    Cluster::open(config).map_err(|e| format!("cannot reopen {}: {e}", dir.display()))
}

fn count_lines(path: &Path) -> usize {
    std::fs::read(path)
        .map(|b| b.iter().filter(|c| **c == b'\n').count())
        .unwrap_or(0)
}

/// One seed: `ROUNDS` child processes on one directory, each killed.
fn run_seed(seed: u64, tmp: &Path, started: Instant) -> Result<(), String> {
    let variant = Variant::preset(variant_of(seed)).unwrap();
    let model = validate::generous_bounds(VBUCKETS, REPLICAS, KEYS).into_model(variant);
    let data = tmp.join("data");
    let mut rng = StdRng::seed_from_u64(seed);
    let mut start = model.init_states().remove(0);
    let mut rf = ReplicaFiles::created(&start);
    let mut clock = 0u64;
    for round in 0..ROUNDS {
        if started.elapsed() > TIME_BUDGET {
            println!("  (time budget spent: stopping before round {round})");
            break;
        }
        let log = tmp.join(format!("round-{round}.ndjson"));
        let resume = tmp.join(format!("round-{round}.state.json"));
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_warmcheck"));
        cmd.args(["workload", "--variant", variant_of(seed)])
            .arg("--dir")
            .arg(&data)
            .arg("--log")
            .arg(&log)
            .args(["--seed", &(seed * 1000 + round as u64).to_string()])
            .args(["--vbuckets", &VBUCKETS.to_string()])
            .args(["--replicas", &REPLICAS.to_string()])
            .args(["--keys", &KEYS.to_string()])
            // Spread the client writes over the rounds, and leave room for the kills and the
            // test's own restarts (two crashes a round) within the model's 20.
            .args(["--writes", &(60 * (round + 1) / ROUNDS).to_string()])
            .args(["--crashes", &(20 - 2 * (ROUNDS - round)).to_string()]);
        if round > 0 {
            std::fs::write(&resume, serde_json::to_string(&start).unwrap()).unwrap();
            cmd.arg("--resume")
                .arg(&resume)
                .args(["--clock", &clock.to_string()]);
        }
        let delay = Duration::from_millis(rng.random_range(5..=200));
        let lines_target = rng.random_range(1..=300);
        let spawned = Instant::now();
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start warmcheck workload: {e}"))?;
        let exited = loop {
            std::thread::sleep(Duration::from_millis(1));
            if let Some(status) = child.try_wait().unwrap() {
                break Some(status);
            }
            let lines = count_lines(&log);
            // The first round's child creates the bucket: kill it only once it logged a call.
            let created = round > 0 || lines > 0;
            if created && (lines >= lines_target || spawned.elapsed() >= delay) {
                child.kill().unwrap(); // SIGKILL
                child.wait().unwrap();
                break None;
            }
        };
        let output = child.wait_with_output().unwrap();
        if let Some(status) = exited {
            if !status.success() {
                return Err(format!(
                    "round {round}: the child failed ({status}):\n{}{}",
                    String::from_utf8_lossy(&output.stdout),
                    String::from_utf8_lossy(&output.stderr)
                ));
            }
        }
        // 1. The log so far follows the model.
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let mut validator = Validator::starting_at(model.clone(), start.clone());
        let mut before = start.clone();
        let summary = validate::validate_text(&mut validator, &text, true, |step| {
            for (a, after) in &step.actions {
                rf.step(&before, a, after);
                before = after.clone();
            }
        })
        .map_err(|e| format!("round {round}: {}: {e}", log.display()))?;
        let m = summary.state.clone();
        if let Some(last) = text.lines().take(summary.events).last() {
            let event: Value = serde_json::from_str(last).unwrap();
            clock = event["state"]["clock"].as_u64().unwrap();
        }
        println!(
            "  round {round}: {} after {summary}{}",
            if exited.is_some() { "exited" } else { "killed" },
            if summary.cut_tail.is_some() {
                "; the next line was cut short"
            } else {
                ""
            },
        );
        // 2. What the directory holds is what the model allows after a crash there.
        let probe = open(&model, &data, 1)?;
        let found = mapping::project_impl(&probe);
        drop(probe);
        let (k, rf_k, in_flight) = state_after_kill(&model, &m, &rf, &found)
            .map_err(|e| format!("round {round}, after {} events: {e}", summary.events))?;
        if let Some(a) = in_flight {
            println!("    the call in flight had reached disk: {a:?}");
        }
        rf = rf_k;
        // 3. Warm up, validated; then drop the cluster: a crash of the running node.
        let mut cluster = open(&model, &data, k.next_uuid)?;
        let buf = common::LogBuf::attach(&mut cluster);
        for _ in 0..6 {
            cluster
                .warmup_step()
                .map_err(|e| format!("round {round}: warmup after the kill: {e}"))?;
        }
        let warm_log = buf.text();
        let mut validator = Validator::starting_at(model.clone(), k);
        let warm = validate::validate_log(&mut validator, &warm_log, |_| {})
            .map_err(|e| format!("round {round}: warmup after the kill: {e}"))?;
        let live = mapping::diff(
            &mapping::project_model(&model, &warm.state),
            &mapping::project_impl(&cluster),
        );
        if !live.is_empty() {
            return Err(format!(
                "round {round}: after warmup the engine differs from the model:\n{}",
                validate::render_differences(&live)
            ));
        }
        drop(cluster);
        start = model
            .next_state(&warm.state, Action::ActiveCrashes)
            .unwrap();
    }
    Ok(())
}

/// The two kill tests take turns. Each spawns children while it holds a data directory's
/// lock in this process now and then (reopening it between rounds); a child forked by the other
/// test's thread holds a copy of that lock's file until it execs, and a round's child that
/// starts in that moment finds the directory locked ("in use by another process"). The lock is
/// right to refuse; the tests must not race each other for it.
static KILL_TESTS: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn killed_processes_leave_what_the_model_allows_on_disk_and_warm_up_as_the_model_says() {
    let _turn = KILL_TESTS.lock().unwrap_or_else(|e| e.into_inner());
    let seeds: Vec<u64> = match std::env::var("WARMCHECK_KILL_SEED") {
        Ok(s) => vec![s.parse().expect("WARMCHECK_KILL_SEED is a number")],
        Err(_) => vec![1, 2, 3, 4, 5],
    };
    let started = Instant::now();
    for seed in seeds {
        println!("seed={seed} variant={}", variant_of(seed));
        let parent = if Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        let tmp = tempfile::Builder::new()
            .prefix("warmcheck-kill-")
            .tempdir_in(parent)
            .unwrap();
        if let Err(e) = run_seed(seed, tmp.path(), started) {
            let kept = tmp.keep();
            panic!(
                "seed {seed} ({}): {e}\nthe data directory and the round logs are kept in {}\n\
                 reproduce with: WARMCHECK_KILL_SEED={seed} cargo test -p warmcheck-conformance \
                 --test crash_kill -- --nocapture (the kill moments depend on timing)",
                variant_of(seed),
                kept.display()
            );
        }
    }
    println!("PASSED in {:.1}s", started.elapsed().as_secs_f64());
}

/// The model state after `actions` from the initial state, with the replica files alongside.
fn walk(model: &Warmup, actions: &[Action]) -> (State, ReplicaFiles) {
    let mut s = model.init_states().remove(0);
    let mut rf = ReplicaFiles::created(&s);
    for a in actions {
        let mut enabled = Vec::new();
        model.actions(&s, &mut enabled);
        assert!(enabled.contains(a), "{a:?} is enabled");
        let next = model.next_state(&s, a.clone()).unwrap();
        rf.step(&s, a, &next);
        s = next;
    }
    (s, rf)
}

fn set_flush_set() -> Vec<Action> {
    let k = |n| warmcheck_model::Key(n);
    vec![
        Action::ClientSets {
            vb: 0,
            key: k(0),
            ttl: false,
        },
        Action::FlusherCommits { vb: 0 },
        Action::ClientSets {
            vb: 0,
            key: k(1),
            ttl: false,
        },
    ]
}

#[test]
fn the_check_after_a_kill_refuses_a_directory_that_lost_a_committed_mutation() {
    let model = validate::generous_bounds(1, 1, 2).into_model(Variant::current());
    let (m, rf) = walk(&model, &set_flush_set());
    let down = rf.restarted(&model.next_state(&m, Action::ActiveCrashes).unwrap());
    let mut found = mapping::project_model(&model, &down);
    assert!(state_after_kill(&model, &m, &rf, &found).is_ok());
    found["active"]["vbuckets"][0]["items_on_disk"]
        .as_array_mut()
        .unwrap()
        .clear();
    found["active"]["vbuckets"][0]["persisted_seqno"] = 0.into();
    let err = state_after_kill(&model, &m, &rf, &found).unwrap_err();
    assert!(err.contains("items_on_disk"), "{err}");
}

#[test]
fn the_check_after_a_kill_refuses_a_directory_holding_an_uncommitted_mutation() {
    let model = validate::generous_bounds(1, 1, 2).into_model(Variant::current());
    let (m, rf) = walk(&model, &set_flush_set());
    // The flush of seqno 2 may have been in flight: the directory may hold it.
    let flushed = model
        .next_state(&m, Action::FlusherCommits { vb: 0 })
        .unwrap();
    let down = rf.restarted(&model.next_state(&flushed, Action::ActiveCrashes).unwrap());
    let found = mapping::project_model(&model, &down);
    assert!(state_after_kill(&model, &m, &rf, &found).is_ok());
    // But no further: seqno 2 is on disk only if flushed, and then nothing else changed.
    let mut invented = found.clone();
    invented["active"]["vbuckets"][0]["items_on_disk"][1]["value"] = "v3".into();
    assert!(state_after_kill(&model, &m, &rf, &invented).is_err());
    // Nor may a replica hold what was never streamed to it.
    let mut replica = mapping::project_model(
        &model,
        &rf.restarted(&model.next_state(&m, Action::ActiveCrashes).unwrap()),
    );
    replica["replicas"][0]["vbuckets"][0]["items"] =
        serde_json::json!([{"seqno": 1, "key": "k0", "op": "set", "value": "v1"}]);
    replica["replicas"][0]["vbuckets"][0]["high_seqno"] = 1.into();
    assert!(state_after_kill(&model, &m, &rf, &replica).is_err());
}

// ---------------------------------------------------------------------------------------------
// Killed while failing over and adding back (issue 22)
// ---------------------------------------------------------------------------------------------

/// The roles after the logged calls: replica positions as the view names them, by node.
fn roles_after(log: &str, replicas: usize) -> Roles {
    let mut roles = Roles::initial(replicas);
    for line in log.lines() {
        let Ok(event) = serde_json::from_str::<Value>(line) else {
            break; // the line the kill cut short
        };
        match event["call"].as_str() {
            Some("fail_over") => {
                let name = event["replica"].as_str().unwrap();
                let r: usize = name[1..].parse::<usize>().unwrap() - 1;
                let promoted = roles.replicas.remove(r);
                roles.failed_over = Some(roles.active);
                roles.active = promoted;
            }
            Some("add_back") => {
                let node = roles.failed_over.take().unwrap();
                roles.replicas.push(node);
            }
            _ => {}
        }
    }
    roles
}

/// Every role map one more fail_over or add_back can make from `roles`.
fn one_step_on(roles: &Roles) -> Vec<(Roles, Option<usize>)> {
    let mut out = vec![(roles.clone(), None)];
    match roles.failed_over {
        Some(node) => {
            let mut r = roles.clone();
            r.failed_over = None;
            r.replicas.push(node);
            out.push((r, None));
        }
        None => {
            for i in 0..roles.replicas.len() {
                let mut r = roles.clone();
                let promoted = r.replicas.remove(i);
                r.failed_over = Some(r.active);
                r.active = promoted;
                out.push((r, Some(i)));
            }
        }
    }
    out
}

/// A workload that fails over and adds back (`workload --failovers`), SIGKILLed at a random
/// moment, on real files. The reopened directory must: open (its `cluster-map.json` whole and
/// naming the roles of the last logged call, or of one more failover or add-back the kill
/// interrupted after its map was written); hold on the active node's files every mutation the
/// last logged state says the node that is active now had committed (its own disk, or, after
/// an unlogged promotion, the promoted replica's copy); and warm up to completion. The log up to
/// the kill must follow the model.
#[test]
fn killed_while_failing_over_the_roles_and_committed_data_survive() {
    let _turn = KILL_TESTS.lock().unwrap_or_else(|e| e.into_inner());
    const REPLICAS: usize = 2;
    let started = Instant::now();
    let mut seeds = 0;
    let mut failovers_seen = 0;
    for seed in 1..=40u64 {
        if started.elapsed() > Duration::from_secs(5) && seeds >= 6 {
            break;
        }
        seeds += 1;
        let variant = variant_of(seed);
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("data");
        let log = tmp.path().join("log.ndjson");
        let mut rng = StdRng::seed_from_u64(seed);
        let lines_target = rng.random_range(20..=600);
        let mut child = Command::new(env!("CARGO_BIN_EXE_warmcheck"))
            .args([
                "workload",
                "--variant",
                variant,
                "--seed",
                &seed.to_string(),
            ])
            .arg("--dir")
            .arg(&data)
            .arg("--log")
            .arg(&log)
            .args(["--vbuckets", "1", "--replicas", &REPLICAS.to_string()])
            .args(["--keys", "2", "--failovers", "6", "--steps", "1000000"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let spawned = Instant::now();
        loop {
            std::thread::sleep(Duration::from_millis(1));
            if let Some(status) = child.try_wait().unwrap() {
                panic!("seed {seed}: the workload ended before the kill: {status}");
            }
            if count_lines(&log) >= lines_target || spawned.elapsed() > Duration::from_secs(5) {
                child.kill().unwrap(); // SIGKILL
                child.wait().unwrap();
                break;
            }
        }
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        // The log up to the kill follows the model.
        let mut bounds = validate::generous_bounds(1, REPLICAS as u8, 2);
        bounds.failovers = 6;
        let model = bounds.into_model(Variant::preset(variant).unwrap());
        let mut validator = Validator::new(model);
        let summary = validate::validate_text(&mut validator, &text, true, |_| {})
            .unwrap_or_else(|e| panic!("seed {seed}: {}: {e}", log.display()));
        let logged = &text
            .lines()
            .take(summary.events)
            .collect::<Vec<_>>()
            .join("\n");
        failovers_seen += logged.matches("\"call\":\"fail_over\"").count();
        let last: Value = match logged.lines().last() {
            Some(l) => serde_json::from_str(l).unwrap(),
            None => continue,
        };
        let state = &last["state"];
        // The roles on disk: the logged ones, or one more step's.
        let roles = roles_after(logged, REPLICAS);
        let mut config = Config::new(
            data.clone(),
            StorageBackend::file(),
            mapping::impl_variant(Variant::preset(variant).unwrap()),
        );
        config.replicas = REPLICAS;
        config.uuids = Box::new(CounterUuids::starting_at(1000));
        let mut cluster = Cluster::open(config)
            .unwrap_or_else(|e| panic!("seed {seed}: the killed directory does not open: {e}"));
        let found = cluster.roles().clone();
        let (_, promoted) = one_step_on(&roles)
            .into_iter()
            .find(|(r, _)| *r == found)
            .unwrap_or_else(|| {
                panic!(
                    "seed {seed}: the map says {found:?}; the log allows {roles:?} or one step on"
                )
            });
        // What the node now active had committed by the last logged state.
        let committed: &Value = match promoted {
            None if found.active == roles.active => {
                &state["active"]["vbuckets"][0]["items_on_disk"]
            }
            None => unreachable!("an add-back leaves the active"),
            Some(r) => &state["replicas"][r]["vbuckets"][0]["items"],
        };
        let committed = committed.as_array().unwrap();
        let on_disk =
            serde_json::to_value(&cluster.view().active.vbuckets[0].items_on_disk).unwrap();
        let on_disk = on_disk.as_array().unwrap();
        assert!(
            on_disk.len() >= committed.len() && on_disk[..committed.len()] == committed[..],
            "seed {seed}: the active node's file lost committed mutations:\n  committed {committed:?}\n  on disk   {on_disk:?}"
        );
        cluster
            .warmup_until(warmcheck_impl::engine::Phase::Complete)
            .unwrap_or_else(|e| panic!("seed {seed}: warmup after the kill: {e}"));
    }
    println!("{seeds} seeds, {failovers_seen} failovers logged before the kills");
    assert!(failovers_seen > 0, "the kills never came after a failover");
}
