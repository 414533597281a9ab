//! `faultline run` end to end against the two-phase-commit bank (real processes, real TCP
//! through the proxy network):
//!
//! - the correct bank under kill -9, SIGSTOP and partitions of a participant and of the
//!   coordinator ends `valid`, with a bank verdict, an availability row per fault window,
//!   a successful read after the heal, and `faultline check` of the stored run picks the
//!   bank check by itself;
//! - the bank with `--replicated-coordinator` under a coordinator kill, a kill of the
//!   decision store's leader, a participant pause and a partition ends `valid`;
//! - the bank with `2pc-commit-without-all-votes` under participant partitions ends
//!   `invalid`, and the explanation names the bad read: its balances and what they sum to
//!   against the total. Measured 6/6 seeds (and 20/20 for the longer schedule in
//!   `chaos/schedules/bugs`); the test still tries up to [`COMMIT_WITHOUT_VOTES_SEEDS`]
//!   seeds and prints how many it took, so that one disturbed run on a loaded machine is
//!   not a failure. (`2pc-forget-prepared` is found less surely in short runs, 4/5 in
//!   10 s, so it is left to its schedule.)

use std::path::{Path, PathBuf};

use checker::history::{OpType, Process};
use serde_json::Value;
use tests::{read_json, run_faultline, run_until_invalid};
use workloads::recorder::read_history;

/// One fault of each kind on a participant and on the coordinator, ~10 s of faults.
const FAULTS: &str = "name: e2e-bank
seed: 2
system: { kind: bank, participants: 3, accounts: 6, initial_balance: 100 }
duration: 12s
workload: { kind: bank, clients: 6, rate: 60/s, timeout: 1s }
nemesis:
  - at: 1s
    kill: participant
    restart_after: 1500ms
  - at: 3s
    kill: coordinator
    restart_after: 1500ms
  - at: 5s
    pause: p2
    for: 1s
  - at: 6500ms
    pause: coordinator
    for: 1s
  - at: 8s
    partition: [[p3], [c1, p1, p2]]
    for: 1500ms
  - at: 10s
    partition: [[c1], [p1, p2, p3]]
    for: 1500ms
final: { heal: true, quiesce: 1s, final_reads: true }
";

/// The replicated coordinator (c1..c3, decision store r1..r3) under a coordinator kill, a
/// kill of the decision store's leader, a participant pause and a partition.
const REPLICATED_FAULTS: &str = "name: e2e-bank-replicated
seed: 1
system: { kind: bank, participants: 3, accounts: 6, initial_balance: 100, replicated_coordinator: true, coordinators: 3 }
duration: 10s
workload: { kind: bank, clients: 6, rate: 60/s, timeout: 1s }
nemesis:
  - at: 1s
    kill: coordinator
    restart_after: 1500ms
  - at: 3s
    kill: leader
    restart_after: 1500ms
  - at: 5s
    pause: participant
    for: 1s
  - at: 7s
    partition: [[c1, p1], [c2, c3, p2, p3, r1, r2, r3]]
    for: 1500ms
final: { heal: true, quiesce: 1s, final_reads: true }
";

/// A participant cut off from everyone for 1.2 s every 2.5 s: prepares to it go
/// unanswered, and the bug commits without its vote.
const COMMIT_WITHOUT_VOTES: &str = "name: e2e-bank-commit-without-all-votes
seed: 1
system: { kind: bank, participants: 3, accounts: 8, initial_balance: 100, bug: 2pc-commit-without-all-votes }
duration: 8s
workload: { kind: bank, clients: 8, rate: 100/s, timeout: 1s }
nemesis:
  - every: 2500ms
    from: 1s
    one_of: [partition]
    target: participant
    for: 1200ms
final: { heal: true, quiesce: 1s, final_reads: true }
";

/// The most seeds the commit-without-all-votes test tries before it fails.
const COMMIT_WITHOUT_VOTES_SEEDS: u64 = 3;

/// Runs `schedule` in a fresh store; returns the run directory and faultline's output.
fn run(work: &Path, schedule: &str) -> (PathBuf, tests::FaultlineOutput) {
    std::fs::write(work.join("s.yaml"), schedule).expect("write schedule");
    let out = run_faultline(["run", "s.yaml", "--store", "store", "--quiet"], work);
    let run = std::fs::canonicalize(work.join("store").join("latest"))
        .unwrap_or_else(|e| panic!("store/latest: {e}\n{}", out.describe()));
    (run, out)
}

fn bank_check(results: &Value) -> &Value {
    results["checks"]
        .as_array()
        .and_then(|checks| checks.iter().find(|c| c["check"] == "bank"))
        .unwrap_or_else(|| panic!("no bank check in {results:#}"))
}

#[test]
fn the_bank_under_faults_on_participants_and_coordinator_is_valid() {
    let work = tempfile::tempdir().expect("tempdir");
    let (run, out) = run(work.path(), FAULTS);
    assert_eq!(out.code, Some(0), "{}", out.describe());
    assert!(out.stdout.contains("verdict: valid"), "{}", out.describe());

    let results = read_json(&run.join("results.json"));
    let bank = bank_check(&results);
    assert_eq!(bank["verdict"], "valid", "{bank:#}");
    let result = &bank["details"];
    assert_eq!(result["total"], 600);
    assert_eq!(result["bad_reads"], 0);
    assert!(
        result["transfers"]["ok"].as_u64().unwrap() > 50,
        "{result:#}"
    );
    assert!(result["reads"]["ok"].as_u64().unwrap() > 5, "{result:#}");
    let windows: Vec<&str> = result["availability"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["window"]["fault"].as_str().unwrap())
        .collect();
    assert_eq!(
        windows,
        ["kill", "kill", "pause", "pause", "partition", "partition"],
        "one availability row per fault window"
    );
    assert_eq!(
        bank["details"]["blocked"].as_array().unwrap().len(),
        6,
        "{bank:#}"
    );

    let ops = read_history(run.join("history.jsonl")).expect("history parses");
    let killed: Vec<String> = ops
        .iter()
        .filter(|op| op.process == Process::Nemesis && op.f == "start-kill")
        .map(|op| op.value["nodes"][0].as_str().unwrap().to_string())
        .collect();
    assert_eq!(killed.len(), 2);
    assert!(killed[0].starts_with('p'), "a participant: {killed:?}");
    assert_eq!(killed[1], "c1", "the coordinator");
    // (Before the coordinator ran each transfer in a task of its own, the SIGSTOP here left
    // it with transfers in flight for good, and every later transfer and read failed.)
    assert_live_after_the_last_heal(&ops);
    let report = std::fs::read_to_string(run.join("report.html")).unwrap();
    assert!(report.contains("Bank: availability per fault window"));

    // A stored bank run is checked with the bank check, without saying so.
    let check = run_faultline(["check".as_ref(), run.as_os_str()], work.path());
    assert_eq!(check.code, Some(0), "{}", check.describe());
    assert!(
        check.stdout.starts_with("bank: valid"),
        "{}",
        check.describe()
    );
    assert!(check.stdout.contains("total 600"), "{}", check.describe());
}

#[test]
fn the_replicated_bank_under_faults_on_coordinators_participants_and_store_is_valid() {
    let work = tempfile::tempdir().expect("tempdir");
    let (run, out) = run(work.path(), REPLICATED_FAULTS);
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let results = read_json(&run.join("results.json"));
    let bank = bank_check(&results);
    assert_eq!(bank["verdict"], "valid", "{bank:#}");
    assert_eq!(bank["details"]["bad_reads"], 0, "{bank:#}");
    assert!(
        bank["details"]["transfers"]["ok"].as_u64().unwrap() > 50,
        "{bank:#}"
    );

    let ops = read_history(run.join("history.jsonl")).expect("history parses");
    let targets: Vec<String> = ops
        .iter()
        .filter(|op| op.process == Process::Nemesis && op.f.starts_with("start-"))
        .map(|op| op.value["nodes"][0].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(targets.len(), 4, "{targets:?}");
    assert!(targets[0].starts_with('c'), "a coordinator: {targets:?}");
    assert!(
        targets[1].starts_with('r'),
        "the store's leader: {targets:?}"
    );
    assert!(targets[2].starts_with('p'), "a participant: {targets:?}");
    assert_live_after_the_last_heal(&ops);
}

#[test]
fn committing_without_every_vote_is_found_and_the_bad_read_is_named() {
    let work = tempfile::tempdir().expect("tempdir");
    let schedule = work.path().join("commit-without-all-votes.yaml");
    std::fs::write(&schedule, COMMIT_WITHOUT_VOTES).expect("write schedule");
    let found = run_until_invalid(
        &schedule,
        "2pc-commit-without-all-votes",
        COMMIT_WITHOUT_VOTES_SEEDS,
        work.path(),
    );
    assert!(
        found.stdout.contains("verdict: invalid"),
        "{}",
        found.stdout
    );
    let run = std::fs::canonicalize(&found.dir).expect("store/latest");
    let results = found.results;
    let bank = bank_check(&results);
    assert_eq!(bank["verdict"], "invalid", "{bank:#}");
    let first = &bank["details"]["first_bad_read"];
    let balances = first["balances"]
        .as_object()
        .expect("the bad read's balances");
    assert_eq!(balances.len(), 8, "every account read: {first:#}");
    let sum: i64 = balances.values().map(|b| b.as_i64().unwrap()).sum();
    assert_eq!(first["sum"].as_i64(), Some(sum));
    assert_ne!(sum, 800, "{first:#}");
    assert_eq!(first["expected_total"], 800);

    // The summary names the read: its op, its balances and the sums.
    let summary = bank["summary"].as_str().unwrap();
    let op = first["index"].as_u64().unwrap();
    assert!(
        summary.contains(&format!("first bad read: op {op} at "))
            && summary.contains(&format!("sums to {sum} (expected 800)")),
        "{summary}"
    );
    // And the recorded history really holds that read, completed ok.
    let ops = read_history(run.join("history.jsonl")).expect("history parses");
    let read = ops
        .iter()
        .find(|o| o.index == op)
        .expect("the bad read's op");
    assert_eq!((read.f.as_str(), read.kind), ("read", OpType::Ok));
    let check = run_faultline(["check".as_ref(), run.as_os_str()], work.path());
    assert_eq!(check.code, Some(1), "{}", check.describe());
    assert!(check.stdout.contains("bad reads"), "{}", check.describe());
    assert!(
        run.join("data").join("p1").exists(),
        "an invalid run keeps the nodes' data"
    );
}

/// The bank is live again after the last heal: a read of every balance succeeds.
fn assert_live_after_the_last_heal(ops: &[checker::history::Op]) {
    let last_heal = ops
        .iter()
        .rposition(|op| op.process == Process::Nemesis)
        .expect("the run had faults");
    assert!(
        ops[last_heal..]
            .iter()
            .any(|op| op.f == "read" && op.kind == OpType::Ok),
        "a successful read after the last heal"
    );
}
