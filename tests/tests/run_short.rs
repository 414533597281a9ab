//! `faultline run` end to end against the correct Raft store: a short run with a partition,
//! a kill and a pause ends `valid` (exit 0) and leaves every file of the store behind, each
//! readable and saying what happened; `store/latest` points at the run; the report renders
//! in a real browser when Debian's chromium is installed (`.ci/check-report.sh`).

use std::path::{Path, PathBuf};
use std::process::Command;

use chaos::schedule::load_schedule;
use checker::history::{OpType, Process};
use tests::{read_json, run_faultline};
use workloads::recorder::read_history;

/// Three nodes, eight seconds, one fault of each kind, a short quiesce.
const SHORT: &str = "name: e2e-short
seed: 5
system: { kind: raft, nodes: 3 }
duration: 8s
workload: { kind: register, keys: 4, clients: 6, rate: 60/s, timeout: 1s }
nemesis:
  - at: 1s
    partition: leader
    for: 1500ms
  - at: 3500ms
    kill: leader
    restart_after: 1500ms
  - at: 6s
    pause: random
    for: 1s
final: { heal: true, quiesce: 1s, final_reads: true }
checks: [linearizable, latency]
";

const FAULT_KINDS: [&str; 3] = ["partition", "kill", "pause"];

const CHROMIUM: &str = "/usr/bin/chromium";

#[test]
fn short_run_is_valid_writes_every_store_file_and_its_report_renders() {
    let work = tempfile::tempdir().expect("tempdir");
    std::fs::write(work.path().join("short.yaml"), SHORT).expect("write schedule");
    let store = work.path().join("store");
    let out = run_faultline(
        ["run", "short.yaml", "--store", "store", "--quiet"],
        work.path(),
    );
    assert_eq!(out.code, Some(0), "{}", out.describe());
    assert!(out.stdout.contains("verdict: valid"), "{}", out.describe());

    let run = std::fs::canonicalize(store.join("latest")).expect("store/latest resolves");
    assert_eq!(
        run.parent(),
        Some(store.join("e2e-short").canonicalize().unwrap().as_path())
    );
    let run_name = run.file_name().unwrap().to_string_lossy().into_owned();
    assert!(run_name.ends_with("-seed5"), "run directory {run_name}");
    assert!(
        out.stdout.contains(&format!("{run_name}/report.html")),
        "the report's path is printed: {}",
        out.describe()
    );

    check_schedule_as_run(&run);
    check_history(&run);
    check_results(&run);
    check_report(&run);
    for node in ["n1", "n2", "n3"] {
        let log = run.join("nodes").join(format!("{node}.log"));
        let size = std::fs::metadata(&log).map(|m| m.len());
        assert!(
            matches!(size, Ok(bytes) if bytes > 0),
            "{}: {size:?}",
            log.display()
        );
    }
    assert!(
        !run.join("data").exists(),
        "a valid run's node data directories are removed"
    );
    check_report_renders(&run.join("report.html"));
}

/// `schedule.yaml` is the schedule as run: it loads back with the seed filled in.
fn check_schedule_as_run(run: &Path) {
    let schedule = load_schedule(&run.join("schedule.yaml")).expect("schedule.yaml loads back");
    assert_eq!(schedule.name, "e2e-short");
    assert_eq!(schedule.seed, Some(5));
    assert_eq!(schedule.system.nodes, 3);
    assert_eq!(schedule.plan(5).len(), 3, "the three faults");
}

/// Every fault kind started and stopped, in that order; client ops completed on both sides.
fn check_history(run: &Path) {
    let ops = read_history(run.join("history.jsonl")).expect("history.jsonl parses");
    let nemesis: Vec<(usize, &str)> = ops
        .iter()
        .enumerate()
        .filter(|(_, op)| op.process == Process::Nemesis)
        .map(|(position, op)| (position, op.f.as_str()))
        .collect();
    for kind in FAULT_KINDS {
        let start = nemesis.iter().find(|(_, f)| *f == format!("start-{kind}"));
        let stop = nemesis.iter().find(|(_, f)| *f == format!("stop-{kind}"));
        match (start, stop) {
            (Some((started, _)), Some((stopped, _))) => assert!(started < stopped, "{kind}"),
            _ => panic!("no start-{kind}/stop-{kind} pair among the nemesis events {nemesis:?}"),
        }
    }
    let ok_ops = ops.iter().filter(|op| op.kind == OpType::Ok).count();
    assert!(ok_ops > 50, "only {ok_ops} ok ops in an 8 s run");
    let first_fault = nemesis[0].0;
    let last_heal = nemesis.last().unwrap().0;
    assert!(ops[..first_fault].iter().any(|op| op.kind == OpType::Ok));
    assert!(
        ops[last_heal..]
            .iter()
            .any(|op| op.kind == OpType::Ok && op.f == "read"),
        "final reads after the last heal"
    );
}

fn check_results(run: &Path) {
    let results = read_json(&run.join("results.json"));
    assert_eq!(results["verdict"], "valid", "{results:#}");
    assert_eq!(results["interrupted"], false);
    assert_eq!(results["seed"], 5);
    let checks = results["checks"].as_array().expect("checks");
    let linearizable = checks
        .iter()
        .find(|c| c["check"] == "linearizable")
        .expect("a linearizable check");
    assert_eq!(linearizable["verdict"], "valid", "{linearizable:#}");
    assert!(
        results["stats"]["ok"].as_u64().unwrap_or(0) > 50,
        "{results:#}"
    );
    assert!(results["stats"]["nemesis_events"].as_u64().unwrap_or(0) >= 6);
}

fn check_report(run: &Path) {
    let html = std::fs::read_to_string(run.join("report.html")).expect("report.html");
    assert!(html.starts_with("<!DOCTYPE html>") || html.starts_with("<!doctype html>"));
    assert!(html.contains("e2e-short"), "the report names the schedule");
    assert!(html.contains("valid"), "the report shows the verdict");
    assert!(html.contains("<svg"), "the report has its charts");
}

/// `.ci/check-report.sh` on the run's report when chromium is installed.
fn check_report_renders(report: &Path) {
    if !Path::new(CHROMIUM).exists() {
        tests::tool_missing(&format!(
            "the browser check of {}: {CHROMIUM} is not installed (apt-get install chromium)",
            report.display()
        ));
        return;
    }
    let script = repo_root().join(".ci/check-report.sh");
    let output = Command::new("bash")
        .arg(&script)
        .arg(report)
        .output()
        .expect("running .ci/check-report.sh");
    assert!(
        output.status.success(),
        "{} {}: {}\n{}\n{}",
        script.display(),
        report.display(),
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    eprint!("{}", String::from_utf8_lossy(&output.stdout));
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is in the workspace root")
        .to_path_buf()
}
