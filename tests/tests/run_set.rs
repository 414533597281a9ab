//! `faultline run` of a set workload against the Raft store: the schedule's `set` check is
//! Jepsen's set-full (lost, stale, unexpected elements), not the linearizable set model,
//! and `faultline check` of the stored run picks set-full by itself.

use tests::{read_json, run_faultline};

/// Three nodes, a few seconds of adds and reads with one leader partition.
const SET: &str = "name: e2e-set
seed: 3
system: { kind: raft, nodes: 3 }
duration: 5s
workload: { kind: set, keys: 2, clients: 4, rate: 60/s, timeout: 1s }
nemesis:
  - at: 1s
    partition: leader
    for: 1500ms
final: { heal: true, quiesce: 1s, final_reads: true }
checks: [set, latency]
";

#[test]
fn a_set_run_is_checked_by_set_full() {
    let work = tempfile::tempdir().expect("tempdir");
    std::fs::write(work.path().join("set.yaml"), SET).expect("write schedule");
    let out = run_faultline(
        ["run", "set.yaml", "--store", "store", "--quiet"],
        work.path(),
    );
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let run = std::fs::canonicalize(work.path().join("store/latest")).expect("store/latest");
    let results = read_json(&run.join("results.json"));
    let checks = results["checks"].as_array().expect("checks");
    let set = checks
        .iter()
        .find(|c| c["check"] == "set-full")
        .unwrap_or_else(|| panic!("a set-full check: {results:#}"));
    assert_eq!(set["verdict"], "valid", "{set:#}");
    let summary = set["summary"].as_str().expect("a summary");
    assert!(summary.starts_with("set: valid"), "{summary}");
    assert!(summary.contains("0 lost"), "{summary}");
    assert!(
        !checks.iter().any(|c| c["check"] == "linearizable"),
        "{results:#}"
    );

    let check = run_faultline(["check".as_ref(), run.as_os_str()], work.path());
    assert_eq!(check.code, Some(0), "{}", check.describe());
    assert!(
        check.stdout.starts_with("set: valid"),
        "{}",
        check.describe()
    );
}
