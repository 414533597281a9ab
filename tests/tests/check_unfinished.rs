//! `faultline check store/latest` while that run is still going says so (the run has no
//! `results.json` yet) before checking what was recorded, and says the run was interrupted
//! once Ctrl-C stopped it (a finished run gets no notice: `chaos::store`'s unit tests).

use std::path::Path;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use tests::{FaultlineProcess, run_faultline};

const LONG: &str = "name: unfinished
seed: 2
system: { kind: raft, nodes: 3 }
duration: 60s
workload: { kind: register, keys: 2, clients: 2, rate: 40/s, timeout: 1s }
final: { heal: true, quiesce: 500ms, final_reads: true }
checks: [linearizable]
";

/// A liveness bound for the run to start recording, not a speed assertion.
const START_BOUND: Duration = Duration::from_secs(120);

fn history_lines(store: &Path) -> usize {
    std::fs::read_to_string(store.join("latest/history.jsonl"))
        .map(|text| text.lines().count())
        .unwrap_or(0)
}

#[test]
fn checking_a_run_in_progress_says_it_is_not_finished() {
    let work = tempfile::tempdir().expect("tempdir");
    std::fs::write(work.path().join("long.yaml"), LONG).expect("write schedule");
    let store = work.path().join("store");
    let mut run = FaultlineProcess::spawn(
        ["run", "long.yaml", "--store", "store", "--quiet"],
        work.path(),
    );
    let deadline = Instant::now() + START_BOUND;
    while history_lines(&store) < 10 {
        assert!(
            !run.has_exited(),
            "the run ended before it recorded anything"
        );
        assert!(
            Instant::now() < deadline,
            "nothing recorded in {START_BOUND:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    let check = run_faultline(["check", "store/latest"], work.path());
    let first = check.stderr.lines().next().unwrap_or_default();
    assert!(
        first.starts_with(
            "faultline check: store/latest: this run is not finished (no results.json yet: \
             still running, or its controller died): checking the "
        ) && first.ends_with(" history lines recorded so far; check again once it is done"),
        "{}",
        check.describe()
    );
    assert!(
        matches!(check.code, Some(0..=2)),
        "what was recorded is still checked: {}",
        check.describe()
    );

    run.signal(Signal::SIGINT);
    let out = run.wait();
    assert_eq!(out.code, Some(130), "{}", out.describe());
    let check = run_faultline(["check", "store/latest"], work.path());
    assert!(
        check.stderr.starts_with(
            "faultline check: store/latest: this run was interrupted (Ctrl-C or SIGTERM) \
             before its end: checking the "
        ),
        "{}",
        check.describe()
    );
}
