//! faultline finds the Raft store's planted `stale-read` bug with a realistic workload: the
//! shipped schedule `chaos/schedules/bugs/stale-read.yaml` (the leader cut off three times,
//! client threads bound to their own leader guess) ends `invalid` (exit 1), and
//! `results.json` names the key whose history cannot be linearized and the read that
//! shows it. The key is checked against `history.jsonl`: some read of it really returned a
//! stale value (see `tests::register_history::keys_with_a_stale_read`). `faultline run` itself says why in words,
//! as `faultline check` of the stored run does.
//!
//! Finding a race is a matter of chance per run. The schedule was measured to find the bug
//! in most seeds (see its comments); this test tries up to [`MAX_SEEDS`] seeds and stops at
//! the first invalid run, so that one unlucky seed is not a failure but a bug that is not
//! found at all is.

use std::path::{Path, PathBuf};

use tests::register_history::assert_a_stale_read_of;
use tests::{explained_key, run_faultline, run_until_invalid};

const MAX_SEEDS: u64 = 3;

fn schedule_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../chaos/schedules/bugs/stale-read.yaml")
}

#[test]
fn the_planted_stale_read_bug_is_found() {
    let work = tempfile::tempdir().expect("tempdir");
    let run = run_until_invalid(&schedule_path(), "stale-read", MAX_SEEDS, work.path());
    let key = explained_key(&run.results);
    assert!(
        ["k0", "k1"].contains(&key.as_str()),
        "the explanation names a workload key: {key}"
    );
    assert_a_stale_read_of(&run, &key);
    // The run's own output explains in words, the same sentences `check` prints.
    let words: Vec<&str> = run
        .stdout
        .lines()
        .filter(|line| line.starts_with("  in words: "))
        .collect();
    assert!(
        words.iter().any(|line| line
            .starts_with(&format!("  in words: read of {key} by process "))
            && line.contains("had completed before that read began")),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("history lines"), "{}", run.stdout);
    let check = run_faultline(["check", "store/latest"], work.path());
    assert_eq!(check.code, Some(1), "{}", check.describe());
    for line in &words {
        assert!(
            check.stdout.contains(line.trim_start()),
            "check prints {line:?} too: {}",
            check.stdout
        );
    }
}
