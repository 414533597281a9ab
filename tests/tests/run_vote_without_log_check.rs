//! faultline finds the Raft store's planted `vote-without-log-check` bug (the election
//! restriction of section 5.4.1 skipped) with the shipped schedule
//! `chaos/schedules/bugs/vote-without-log-check.yaml`: n5 is cut off while n1-n4 commit,
//! their leader is paused, and `partition: { star: n5 }` leaves n5 the only node that can
//! gather a majority of votes. The run ends `invalid` (exit 1); the node logs show why
//! (a leader truncated committed entries on its followers), and `history.jsonl` shows what a
//! user sees: a read of the explained key returned a value overwritten by a write that had
//! completed before the read began.
//!
//! The schedule forces the interleaving in every 3 s cycle, so it is not a race per run
//! (20/20 seeds, README.md next to it); the test still tries up to [`MAX_SEEDS`] seeds and
//! prints how many it took, so that a run disturbed by a loaded machine is not a failure
//! but a bug that is not found at all is.

use std::path::{Path, PathBuf};

use tests::register_history::assert_a_stale_read_of;
use tests::{explained_key, run_until_invalid};

const MAX_SEEDS: u64 = 2;

fn schedule_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../chaos/schedules/bugs/vote-without-log-check.yaml")
}

#[test]
fn a_stale_candidate_elected_without_the_log_check_loses_acknowledged_writes_5_4_1() {
    let work = tempfile::tempdir().expect("tempdir");
    let run = run_until_invalid(
        &schedule_path(),
        "vote-without-log-check",
        MAX_SEEDS,
        work.path(),
    );
    let key = explained_key(&run.results);
    assert_a_stale_read_of(&run, &key);
    // The mechanism, from the nodes themselves: the stale leader n5 made the others drop
    // entries they had committed.
    let overwrites: usize = ["n1", "n2", "n3", "n4"]
        .iter()
        .map(|node| {
            let log = std::fs::read_to_string(run.dir.join("nodes").join(format!("{node}.log")))
                .unwrap_or_else(|e| panic!("{node}.log: {e}"));
            log.matches("leader overwrites a committed entry").count()
        })
        .sum();
    assert!(
        overwrites > 0,
        "seed {}: no follower logged a committed entry overwritten",
        run.seed
    );
}
