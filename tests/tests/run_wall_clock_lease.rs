//! faultline finds the Raft store's planted `wall-clock-lease` bug (a read lease judged by
//! CLOCK_REALTIME) with a clock fault, and only with it: the shipped schedule
//! `chaos/schedules/bugs/wall-clock-lease.yaml` (the leader's wall clock bumped 3 s ahead
//! for 2 s, then the leader cut off as the bump is undone) ends `invalid`, and its history
//! shows the clock faults as nemesis events, paired by id, on the node that led; the same
//! schedule without its `clock` entries stays `valid` (the lease is safe with true clocks).
//! Measured: 10/10 invalid with the clock fault, 0/10 without (chaos/schedules/bugs/README.md).

use std::path::{Path, PathBuf};

use serde_json::Value;
use tests::{explained_key, read_history_records, run_faultline, run_until_invalid};

const MAX_SEEDS: u64 = 3;

fn schedule_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../chaos/schedules/bugs/wall-clock-lease.yaml")
}

fn libfaketime_present() -> bool {
    if Path::new(chaos::clock::LIBFAKETIME).exists() {
        return true;
    }
    tests::tool_missing("libfaketime (Debian package faketime) is not installed");
    false
}

/// The nemesis events of a history, as (f, value).
fn nemesis_events(history: &[Value]) -> Vec<(String, Value)> {
    history
        .iter()
        .filter(|op| op["process"] == "nemesis")
        .map(|op| {
            (
                op["f"].as_str().unwrap_or_default().to_string(),
                op["value"].clone(),
            )
        })
        .collect()
}

#[test]
fn the_planted_wall_clock_lease_bug_is_found_by_the_clock_fault() {
    if !libfaketime_present() {
        return;
    }
    let work = tempfile::tempdir().expect("tempdir");
    let run = run_until_invalid(&schedule_path(), "wall-clock-lease", MAX_SEEDS, work.path());
    let key = explained_key(&run.results);
    assert!(["k0", "k1"].contains(&key.as_str()), "{key}");
    let events = nemesis_events(&read_history_records(&run.dir.join("history.jsonl")));
    let starts: Vec<&Value> = events
        .iter()
        .filter(|(f, _)| f == "start-clock")
        .map(|(_, v)| v)
        .collect();
    let stops: Vec<&Value> = events
        .iter()
        .filter(|(f, _)| f == "stop-clock")
        .map(|(_, v)| v)
        .collect();
    assert_eq!(starts.len(), 2, "{events:?}");
    assert_eq!(starts, stops, "every clock fault is healed: {events:?}");
    for start in &starts {
        assert_eq!(start["bump_ms"], 3000, "{start}");
        assert_eq!(start["nodes"].as_array().map(Vec::len), Some(1), "{start}");
    }
    // The first partition isolated the node whose clock had just been set back.
    let first_cut = events
        .iter()
        .find(|(f, _)| f == "start-partition")
        .map(|(_, v)| v["shape"].as_str().unwrap_or_default().to_string())
        .expect("a partition");
    let bumped = starts[0]["nodes"][0].as_str().unwrap_or_default();
    assert_eq!(first_cut, format!("isolate leader {bumped}"), "{events:?}");
    // No clock file is left behind.
    let leftovers: Vec<String> = std::fs::read_dir(chaos::clock::CLOCK_ROOT)
        .map(|dir| {
            dir.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    let store_runs = std::fs::read_to_string(run.dir.join("schedule.yaml")).unwrap();
    assert!(store_runs.contains("clock: { bump: 3s }"), "{store_runs}");
    assert!(
        !leftovers.iter().any(|name| {
            // This test's controllers were children: their pids are dead now.
            chaos::cleanup::controller_pid_of(name)
                .is_some_and(|pid| !Path::new(&format!("/proc/{pid}")).exists())
        }),
        "clock files of finished runs left in {}: {leftovers:?}",
        chaos::clock::CLOCK_ROOT
    );
}

#[test]
fn without_the_clock_fault_the_same_schedule_stays_valid() {
    let work = tempfile::tempdir().expect("tempdir");
    let text = std::fs::read_to_string(schedule_path()).unwrap();
    // Drop both `clock` entries (five lines each, starting with `- every:`).
    let lines: Vec<&str> = text.lines().collect();
    let mut kept = Vec::new();
    let mut index = 0;
    while index < lines.len() {
        if lines[index].starts_with("  - every:")
            && lines
                .get(index + 2)
                .is_some_and(|l| l.starts_with("    clock:"))
        {
            index += 5;
            continue;
        }
        kept.push(lines[index]);
        index += 1;
    }
    let control = kept
        .join("\n")
        .replace("name: wall-clock-lease", "name: no-clock");
    assert!(!control.contains("clock:") && control.contains("partition: leader"));
    assert!(control.contains("bug: wall-clock-lease"));
    let file = work.path().join("no-clock.yaml");
    std::fs::write(&file, control).unwrap();
    let out = run_faultline(
        [
            "run",
            file.to_str().unwrap(),
            "--store",
            "store",
            "--seed",
            "1",
            "--quiet",
        ],
        work.path(),
    );
    assert_eq!(out.code, Some(0), "{}", out.describe());
}
