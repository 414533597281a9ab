//! The Raft store's WAL (`system-under-test/src/storage.rs`) on faultfs: with its
//! fdatasync, acknowledged entries survive a loss of unfsynced writes; under the planted
//! bug `skip-fsync` they survive a plain reopen (what a kill -9 leaves: the page cache
//! keeps them) but not the loss.

mod common;

use common::Mounted;
use system_under_test::raft::types::{Entry, HardState, Payload};
use system_under_test::storage::Storage;

fn entries(range: std::ops::RangeInclusive<u64>, term: u64) -> Vec<Entry> {
    range
        .map(|index| Entry {
            term,
            index,
            payload: Payload::Noop,
        })
        .collect()
}

fn write_ten_entries(fs: &Mounted, skip_fsync: bool) -> std::path::PathBuf {
    let dir = fs.path("node");
    let (mut storage, recovered) = Storage::open(&dir).expect("open on faultfs");
    assert!(recovered.entries.is_empty());
    storage.set_skip_fsync(skip_fsync);
    storage.set_hard_state(&HardState {
        term: 3,
        voted_for: Some("n1".into()),
    });
    storage.append_entries(&entries(1..=10, 3));
    storage.sync().expect("sync");
    dir
}

#[test]
fn synced_entries_survive_a_loss() {
    let Some(fs) = Mounted::start() else { return };
    let dir = write_ten_entries(&fs, false);
    fs.lose_unfsynced();
    let (_, recovered) = Storage::open(&dir).expect("reopen");
    assert_eq!(recovered.entries, entries(1..=10, 3));
    assert_eq!(recovered.hard_state.term, 3);
}

#[test]
fn skip_fsync_survives_a_reopen_but_not_a_loss() {
    let Some(fs) = Mounted::start() else { return };
    let dir = write_ten_entries(&fs, true);
    let (_, recovered) = Storage::open(&dir).expect("reopen as after a kill -9");
    assert_eq!(
        recovered.entries,
        entries(1..=10, 3),
        "the writes reached the file"
    );
    fs.lose_unfsynced();
    let (_, recovered) = Storage::open(&dir).expect("reopen after the loss");
    assert!(
        recovered.entries.is_empty(),
        "acknowledged entries lost: {:?}",
        recovered.entries
    );
    assert_eq!(
        recovered.hard_state,
        HardState::default(),
        "the vote is lost too"
    );
}
