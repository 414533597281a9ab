//! `faultline campaign` end to end: two schedules times two seeds, interrupted with SIGINT
//! during its second or third run, then run again.
//!
//! - Interrupted: exit 130, no node process left behind, the JUnit file written with the
//!   pairs finished so far, the cut-off run written up as `interrupted`.
//! - Resumed: the pairs finished before are reported "already in the store" and not run
//!   again (one finished run directory per pair, counted on disk), the rest run, the exit
//!   code is 0 (all valid) and the JUnit file has all four test cases.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use serde_json::Value;
use tests::{FaultlineProcess, processes_mentioning};

/// A short run: three nodes, three seconds, one fault.
fn schedule(name: &str, fault: &str) -> String {
    format!(
        "name: {name}
seed: 1
system: {{ kind: raft, nodes: 3 }}
duration: 3s
workload: {{ kind: register, keys: 2, clients: 4, rate: 40/s, timeout: 1s }}
nemesis:
  - at: 1s
    {fault}
    for: 1s
final: {{ heal: true, quiesce: 1s, final_reads: true }}
checks: [linearizable]
"
    )
}

const SCHEDULES: [&str; 2] = ["camp-partition", "camp-pause"];
const SEEDS: [u64; 2] = [1, 2];
/// A liveness bound for waiting on the first campaign's progress, not a speed assertion.
const PROGRESS_BOUND: Duration = Duration::from_secs(120);

/// A run directory of the store: its pair and whether it finished (`None`: no results).
#[derive(Debug, Clone)]
struct StoredRun {
    schedule: String,
    seed: u64,
    interrupted: Option<bool>,
    verdict: Option<String>,
}

fn stored_runs(store: &Path) -> Vec<StoredRun> {
    let mut runs = Vec::new();
    for schedule in SCHEDULES {
        let Ok(entries) = std::fs::read_dir(store.join(schedule)) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let seed = name
                .split_once("-seed")
                .and_then(|(_, rest)| rest.split('-').next())
                .and_then(|seed| seed.parse().ok())
                .unwrap_or_else(|| panic!("run directory {name} names no seed"));
            let results = std::fs::read_to_string(entry.path().join("results.json"))
                .ok()
                .map(|text| serde_json::from_str::<Value>(&text).expect("results.json"));
            runs.push(StoredRun {
                schedule: schedule.to_string(),
                seed,
                interrupted: results.as_ref().and_then(|r| r["interrupted"].as_bool()),
                verdict: results.and_then(|r| r["verdict"].as_str().map(str::to_string)),
            });
        }
    }
    runs
}

fn finished(runs: &[StoredRun]) -> Vec<&StoredRun> {
    runs.iter()
        .filter(|r| r.interrupted == Some(false))
        .collect()
}

/// Waits until one or two runs have finished and another has started, then SIGINTs.
fn interrupt_during_second_or_third_run(campaign: &mut FaultlineProcess, store: &Path) {
    let deadline = Instant::now() + PROGRESS_BOUND;
    loop {
        assert!(
            !campaign.has_exited(),
            "the campaign ended before it could be interrupted"
        );
        assert!(
            Instant::now() < deadline,
            "no progress within {PROGRESS_BOUND:?}"
        );
        let runs = stored_runs(store);
        let done = finished(&runs).len();
        let in_progress = runs.iter().filter(|r| r.interrupted.is_none()).count();
        if (1..=2).contains(&done) && in_progress == 1 {
            // A pair's line is printed before the next pair's run directory exists.
            let so_far = campaign.stdout_so_far();
            assert_eq!(
                finished_lines(&so_far).len(),
                done,
                "one line per finished run, as it finishes:\n{so_far}"
            );
            // Let the cluster start and the workload get going before the signal.
            std::thread::sleep(Duration::from_millis(1500));
            campaign.signal(Signal::SIGINT);
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The lines `[i/4] schedule seed s: ...` a campaign prints as each pair finishes.
fn finished_lines(stdout: &str) -> Vec<&str> {
    stdout
        .lines()
        .filter(|line| line.starts_with('[') && line.contains("/4] camp-"))
        .collect()
}

/// The `time` of the JUnit test case `seed-<seed>` in the suite `schedule`.
fn junit_time(xml: &str, schedule: &str, seed: u64) -> String {
    let suite = xml
        .split("<testsuite ")
        .find(|suite| suite.contains(&format!("name=\"{schedule}\"")))
        .unwrap_or_else(|| panic!("no suite {schedule} in {xml}"));
    let case = suite
        .split("<testcase ")
        .find(|case| case.contains(&format!("name=\"seed-{seed}\"")))
        .unwrap_or_else(|| panic!("no case seed-{seed} in {suite}"));
    let time = case.split("time=\"").nth(1).expect("a time attribute");
    time[..time.find('"').expect("a closing quote")].to_string()
}

fn campaign_args(junit: &Path) -> Vec<String> {
    let mut args = vec!["campaign".to_string()];
    args.extend(SCHEDULES.iter().map(|s| format!("{s}.yaml")));
    args.extend(["--seeds", "2", "--store", "store", "--junit"].map(String::from));
    args.push(junit.display().to_string());
    args
}

fn junit_cases(junit: &Path) -> usize {
    let xml = std::fs::read_to_string(junit).expect("the JUnit file");
    xml.matches("<testcase").count()
}

#[test]
fn campaign_writes_junit_and_resumes_after_sigint() {
    let work = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        work.path().join("camp-partition.yaml"),
        schedule("camp-partition", "partition: leader"),
    )
    .unwrap();
    std::fs::write(
        work.path().join("camp-pause.yaml"),
        schedule("camp-pause", "pause: leader"),
    )
    .unwrap();
    let store = work.path().join("store");
    let junit = work.path().join("junit.xml");

    // First campaign: interrupted during its second or third run.
    let mut first = FaultlineProcess::spawn(campaign_args(&junit), work.path());
    interrupt_during_second_or_third_run(&mut first, &store);
    let out = first.wait();
    assert_eq!(out.code, Some(130), "{}", out.describe());
    let leftover = processes_mentioning(&store);
    assert!(leftover.is_empty(), "processes left behind: {leftover:?}");
    let runs = stored_runs(&store);
    let done_before: Vec<(String, u64)> = finished(&runs)
        .iter()
        .map(|r| (r.schedule.clone(), r.seed))
        .collect();
    assert!(
        (1..=2).contains(&done_before.len()),
        "finished before the interrupt: {runs:?}"
    );
    let cut_off: Vec<_> = runs
        .iter()
        .filter(|r| r.interrupted != Some(false))
        .collect();
    assert_eq!(cut_off.len(), 1, "one run was cut off: {runs:?}");
    assert_eq!(
        cut_off[0].interrupted,
        Some(true),
        "the cut-off run is written up as interrupted: {runs:?}"
    );
    assert_eq!(junit_cases(&junit), done_before.len(), "{}", out.describe());

    // Second campaign: the finished pairs are not run again.
    let out = FaultlineProcess::spawn(campaign_args(&junit), work.path()).wait();
    assert_eq!(out.code, Some(0), "{}", out.describe());
    assert_eq!(
        out.stdout.matches("already in the store").count(),
        done_before.len(),
        "{}",
        out.describe()
    );
    let runs = stored_runs(&store);
    let mut finished_per_pair: BTreeMap<(String, u64), usize> = BTreeMap::new();
    for run in finished(&runs) {
        *finished_per_pair
            .entry((run.schedule.clone(), run.seed))
            .or_default() += 1;
        assert_eq!(run.verdict.as_deref(), Some("valid"), "{run:?}");
    }
    let expected: BTreeMap<(String, u64), usize> = SCHEDULES
        .iter()
        .flat_map(|s| SEEDS.map(|seed| ((s.to_string(), seed), 1)))
        .collect();
    assert_eq!(
        finished_per_pair, expected,
        "every pair finished exactly once: {runs:?}"
    );
    for pair in &done_before {
        let dirs = runs
            .iter()
            .filter(|r| (&r.schedule, r.seed) == (&pair.0, pair.1))
            .count();
        assert_eq!(dirs, 1, "{pair:?} was run again: {runs:?}");
    }
    assert_eq!(junit_cases(&junit), 4);
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        !xml.contains("<failure") && !xml.contains("<error"),
        "{xml}"
    );
    for name in SCHEDULES {
        assert!(xml.contains(name), "the JUnit file names {name}: {xml}");
    }

    // What the terminal shows: a line per pair in order, "from the store" for the pairs
    // run before, then the table and a totals line.
    let lines = finished_lines(&out.stdout);
    assert_eq!(lines.len(), 4, "{}", out.describe());
    let mut index = 0;
    for name in SCHEDULES {
        for seed in SEEDS {
            index += 1;
            let line = lines[index - 1];
            assert!(
                line.starts_with(&format!("[{index}/4] {name} seed {seed}: valid")),
                "{line}"
            );
            let stored = done_before.contains(&(name.to_string(), seed));
            assert_eq!(line.contains(", from the store  "), stored, "{line}");
            assert_eq!(
                line.contains(" s (linearizable: valid)  "),
                !stored,
                "{line}"
            );
        }
    }
    let totals = format!(
        "totals: 4 of 4 pairs: 4 valid, 0 invalid, 0 unknown, 0 harness errors ({} from the store); ",
        done_before.len()
    );
    assert!(
        out.stdout
            .lines()
            .any(|line| line.starts_with(&totals) && line.ends_with(" s of runs")),
        "no {totals:?} line: {}",
        out.describe()
    );
    // A pair found in the store keeps its stored run's length as its JUnit time.
    for (name, seed) in &done_before {
        let run = std::fs::read_dir(store.join(name))
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .find(|p| {
                p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .ends_with(&format!("-seed{seed}"))
                    && p.join("results.json").is_file()
            })
            .expect("the stored run");
        let results = tests::read_json(&run.join("results.json"));
        let stored = results["stats"]["duration_s"].as_f64().expect("duration_s");
        assert!(stored > 0.0, "{results}");
        assert_eq!(
            junit_time(&xml, name, *seed),
            format!("{stored:.3}"),
            "{xml}"
        );
    }
    assert!(processes_mentioning(&store).is_empty());
}
