//! `--bug NAME` on `faultline run` and `faultline campaign`, as the README lists the planted
//! bugs: a known name turns the bug on in the nodes (the run's `schedule.yaml` records it,
//! each node's log says it serves with it); an unknown name, or a bug of another system,
//! is refused with the list of valid names (exit 65) before anything starts.

use std::path::Path;

use tests::run_faultline;

/// Two seconds, no faults: the run is about the flag, not about finding the bug.
const QUIET: &str = "name: bug-flag
seed: 3
system: { kind: raft, nodes: 3 }
duration: 2s
workload: { kind: register, keys: 2, clients: 2, rate: 20/s, timeout: 1s }
final: { heal: true, quiesce: 500ms, final_reads: true }
checks: [linearizable]
";

const RAFT_BUGS: &str = "stale-read, vote-without-log-check, skip-prev-check, \
                         commit-old-term, ack-before-write, no-dedup, skip-fsync, \
                         txn-reads-before-commit";

#[test]
fn an_unknown_bug_is_refused_with_the_valid_names() {
    let work = tempfile::tempdir().expect("tempdir");
    std::fs::write(work.path().join("quiet.yaml"), QUIET).expect("write schedule");
    for command in ["run", "campaign"] {
        let out = run_faultline(
            [
                command,
                "quiet.yaml",
                "--bug",
                "stale-reed",
                "--store",
                "store",
            ],
            work.path(),
        );
        assert_eq!(out.code, Some(65), "{command}: {}", out.describe());
        assert_eq!(
            out.stderr,
            format!(
                "faultline: --bug stale-reed for schedule bug-flag: expected a planted bug of \
                 the raft store ({RAFT_BUGS}), found `stale-reed`\n"
            ),
            "{command}"
        );
        assert!(!work.path().join("store").exists(), "{command} started");
    }
}

#[test]
fn a_bug_of_another_system_says_whose_it_is() {
    let work = tempfile::tempdir().expect("tempdir");
    let bank = Path::new(env!("CARGO_MANIFEST_DIR")).join("../chaos/schedules/bank.yaml");
    let out = run_faultline(
        [
            "run".as_ref(),
            bank.as_os_str(),
            "--bug".as_ref(),
            "stale-read".as_ref(),
            "--store".as_ref(),
            "store".as_ref(),
        ],
        work.path(),
    );
    assert_eq!(out.code, Some(65), "{}", out.describe());
    assert!(
        out.stderr.ends_with(
            "expected a planted bug of the bank (2pc-commit-without-all-votes, \
             2pc-forget-prepared), found `stale-read` (a bug of the raft store; this \
             schedule's system is the bank)\n"
        ),
        "{}",
        out.describe()
    );
    assert!(!work.path().join("store").exists());
}

#[test]
fn a_known_bug_reaches_the_nodes_and_the_stored_schedule() {
    let work = tempfile::tempdir().expect("tempdir");
    std::fs::write(work.path().join("quiet.yaml"), QUIET).expect("write schedule");
    let out = run_faultline(
        [
            "run",
            "quiet.yaml",
            "--bug",
            "no-dedup",
            "--store",
            "store",
            "--quiet",
        ],
        work.path(),
    );
    assert!(
        matches!(out.code, Some(0 | 1)),
        "a verdict, not an error: {}",
        out.describe()
    );
    assert!(
        out.stderr.contains("3 nodes, planted bug no-dedup, "),
        "the run's first line names the bug: {}",
        out.describe()
    );
    let run = work.path().join("store/latest");
    let schedule = std::fs::read_to_string(run.join("schedule.yaml")).expect("schedule.yaml");
    assert!(
        schedule.contains("bug: no-dedup"),
        "the run's schedule records the bug:\n{schedule}"
    );
    for node in ["n1", "n2", "n3"] {
        let log = std::fs::read_to_string(run.join(format!("nodes/{node}.log")))
            .unwrap_or_else(|e| panic!("{node}'s log: {e}"));
        assert!(
            log.contains("bug=Some(NoDedup)"),
            "{node} serves with the bug on:\n{log}"
        );
    }
}
