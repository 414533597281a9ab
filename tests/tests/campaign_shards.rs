//! A campaign fanned out as a batch scheduler would (issue 15 §2): two `faultline campaign
//! --shard I/2` processes started at once on one store, then `faultline campaign --summary`.
//!
//! - Every (schedule, seed) pair is run exactly once over the two shards: one run
//!   directory per pair on disk, none run by both, and each shard's JUnit file holds its own
//!   pairs only.
//! - `latest` names a whole run and no temporary link is left in the store.
//! - The summary reads both shards' runs into one table of all four pairs and one JUnit
//!   file of four test cases, exit 0 (all valid); asked for a schedule x seed that was never
//!   run, it reports the missing pair as a harness error (exit 70).

use std::collections::BTreeMap;
use std::path::Path;

use tests::{FaultlineProcess, processes_mentioning, run_faultline};

fn schedule(name: &str, fault: &str) -> String {
    format!(
        "name: {name}
seed: 1
system: {{ kind: raft, nodes: 3 }}
duration: 2s
workload: {{ kind: register, keys: 2, clients: 3, rate: 30/s, timeout: 1s }}
nemesis:
  - at: 1s
    {fault}
final: {{ heal: true, quiesce: 1s, final_reads: true }}
checks: [linearizable]
"
    )
}

const SCHEDULES: [&str; 2] = ["shard-kill", "shard-pause"];

/// `(schedule, seed) -> number of run directories` under `store`.
fn runs_per_pair(store: &Path) -> BTreeMap<(String, u64), usize> {
    let mut runs = BTreeMap::new();
    for name in SCHEDULES {
        let Ok(entries) = std::fs::read_dir(store.join(name)) else {
            continue;
        };
        for entry in entries.flatten() {
            let dir = entry.file_name().to_string_lossy().into_owned();
            let seed: u64 = dir
                .split_once("-seed")
                .and_then(|(_, rest)| rest.split('-').next())
                .and_then(|s| s.parse().ok())
                .unwrap_or_else(|| panic!("run directory {dir} names no seed"));
            assert!(
                entry.path().join("results.json").is_file(),
                "{dir} has no results.json"
            );
            *runs.entry((name.to_string(), seed)).or_default() += 1;
        }
    }
    runs
}

fn cases(xml: &str) -> Vec<String> {
    let mut cases = Vec::new();
    for suite in xml.split("<testsuite ").skip(1) {
        let name = suite
            .split("name=\"")
            .nth(1)
            .and_then(|s| s.split('"').next());
        for case in suite.split("<testcase ").skip(1) {
            let seed = case
                .split("name=\"")
                .nth(1)
                .and_then(|s| s.split('"').next());
            cases.push(format!("{}/{}", name.unwrap_or("?"), seed.unwrap_or("?")));
        }
    }
    cases.sort();
    cases
}

#[test]
fn two_concurrent_shards_cover_the_campaign_once_and_merge_into_one_summary() {
    let work = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        work.path().join("shard-kill.yaml"),
        schedule("shard-kill", "kill: leader\n    restart_after: 300ms"),
    )
    .unwrap();
    std::fs::write(
        work.path().join("shard-pause.yaml"),
        schedule("shard-pause", "pause: random\n    for: 500ms"),
    )
    .unwrap();
    let store = work.path().join("store");
    let shard_args = |index: u32| {
        vec![
            "campaign".to_string(),
            "shard-kill.yaml".into(),
            "shard-pause.yaml".into(),
            "--seeds".into(),
            "2".into(),
            "--store".into(),
            "store".into(),
            "--shard".into(),
            format!("{index}/2"),
        ]
    };
    let first = FaultlineProcess::spawn(shard_args(0), work.path());
    let second = FaultlineProcess::spawn(shard_args(1), work.path());
    let outs = [first.wait(), second.wait()];
    for out in &outs {
        assert_eq!(out.code, Some(0), "{}", out.describe());
    }

    let expected: BTreeMap<(String, u64), usize> = SCHEDULES
        .iter()
        .flat_map(|s| [1, 2].map(|seed| ((s.to_string(), seed), 1)))
        .collect();
    assert_eq!(
        runs_per_pair(&store),
        expected,
        "every pair run exactly once"
    );

    // Each shard ran and reported its own two pairs, and together all four.
    let mut shard_cases = Vec::new();
    for (index, out) in outs.iter().enumerate() {
        assert!(
            out.stdout.contains("totals: 2 of 2 pairs: 2 valid"),
            "{}",
            out.describe()
        );
        let junit = store.join(format!("junit-shard-{index}-of-2.xml"));
        let mine = cases(&std::fs::read_to_string(&junit).expect("the shard's JUnit file"));
        assert_eq!(mine.len(), 2, "{mine:?}");
        shard_cases.extend(mine);
    }
    shard_cases.sort();
    let all = vec![
        "shard-kill/seed-1",
        "shard-kill/seed-2",
        "shard-pause/seed-1",
        "shard-pause/seed-2",
    ];
    assert_eq!(
        shard_cases, all,
        "the shards' pairs are disjoint and cover all"
    );

    let latest = std::fs::canonicalize(store.join("latest")).expect("latest resolves");
    assert!(latest.join("results.json").is_file(), "{latest:?}");
    let stray: Vec<String> = std::fs::read_dir(&store)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with('.') || name.contains(".tmp"))
        .collect();
    assert!(
        stray.is_empty(),
        "temporary files left in the store: {stray:?}"
    );

    // One merged summary: every pair, from both shards, one JUnit file.
    let out = run_faultline(["campaign", "--summary", "store"], work.path());
    assert_eq!(out.code, Some(0), "{}", out.describe());
    assert!(
        out.stdout
            .contains("totals: 4 of 4 pairs: 4 valid, 0 invalid, 0 unknown, 0 harness errors"),
        "{}",
        out.describe()
    );
    for name in SCHEDULES {
        for seed in [1, 2] {
            assert!(
                out.stdout.lines().any(|line| {
                    let words: Vec<&str> = line.split_whitespace().collect();
                    words.len() > 3
                        && words[0] == name
                        && words[1] == seed.to_string()
                        && words[2] == "valid"
                        && line.contains("linearizable: valid")
                }),
                "no summary row for {name} seed {seed}: {}",
                out.describe()
            );
        }
    }
    let merged = std::fs::read_to_string(store.join("junit.xml")).expect("the merged JUnit");
    assert_eq!(cases(&merged), all);

    // Asked for three seeds where two were run: the third pair of each schedule is missing.
    let out = run_faultline(
        [
            "campaign",
            "shard-kill.yaml",
            "shard-pause.yaml",
            "--seeds",
            "3",
            "--summary",
            "store",
            "--junit",
            "three.xml",
        ],
        work.path(),
    );
    assert_eq!(out.code, Some(70), "{}", out.describe());
    assert_eq!(
        out.stdout.matches("no finished run in the store").count(),
        2,
        "{}",
        out.describe()
    );
    assert!(processes_mentioning(&store).is_empty());
}
