//! Storage tests: round trips, torn and corrupt tails, compaction and snapshots, and a
//! crash test in the style of sled's: a child process (this test binary, re-executed)
//! appends and fsyncs records and reports each durable batch, the parent kills it with
//! SIGKILL at a random moment, then recovery must hold every reported record and nothing
//! else but a clean prefix of what followed.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use rand::RngExt;

use super::*;
use crate::raft::types::Payload;

fn entry(index: u64, term: u64) -> Entry {
    Entry {
        term,
        index,
        payload: Payload::Noop,
    }
}

fn entries(range: std::ops::RangeInclusive<u64>, term: u64) -> Vec<Entry> {
    range.map(|i| entry(i, term)).collect()
}

#[test]
fn fresh_dir_recovers_empty() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, recovered) = Storage::open(dir.path()).expect("open");
    assert_eq!(recovered.hard_state, HardState::default());
    assert!(recovered.entries.is_empty());
    assert!(recovered.snapshot.is_none());
}

#[test]
fn hard_state_and_entries_survive_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut storage, _) = Storage::open(dir.path()).expect("open");
    let hard_state = HardState {
        term: 5,
        voted_for: Some("n2".into()),
    };
    storage.set_hard_state(&hard_state);
    storage.append_entries(&entries(1..=10, 5));
    storage.sync().expect("sync");
    drop(storage);
    let (_, recovered) = Storage::open(dir.path()).expect("reopen");
    assert_eq!(recovered.hard_state, hard_state);
    assert_eq!(recovered.entries, entries(1..=10, 5));
}

#[test]
fn rewritten_suffix_replaces_the_old_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut storage, _) = Storage::open(dir.path()).expect("open");
    storage.append_entries(&entries(1..=5, 1));
    storage.append_entries(&entries(3..=4, 2));
    storage.sync().expect("sync");
    drop(storage);
    let (_, recovered) = Storage::open(dir.path()).expect("reopen");
    let mut expected = entries(1..=2, 1);
    expected.extend(entries(3..=4, 2));
    assert_eq!(recovered.entries, expected);
}

#[test]
fn torn_last_record_is_dropped_at_every_cut_point() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut storage, _) = Storage::open(dir.path()).expect("open");
    storage.append_entries(&entries(1..=3, 1));
    storage.sync().expect("sync");
    drop(storage);
    let wal = dir.path().join(WAL_FILE);
    let full = fs::read(&wal).expect("read");
    let mut one_more = Vec::new();
    encode_record(&mut one_more, &WalRecord::Entry(entry(4, 1)));
    for cut in 1..one_more.len() {
        let mut torn = full.clone();
        torn.extend_from_slice(&one_more[..cut]);
        fs::write(&wal, &torn).expect("write");
        let (_, recovered) = Storage::open(dir.path()).expect("reopen after tear");
        assert_eq!(recovered.entries, entries(1..=3, 1), "cut at {cut}");
        assert_eq!(recovered.torn_bytes, cut as u64);
        assert_eq!(fs::read(&wal).expect("read").len(), full.len());
    }
}

#[test]
fn flipped_byte_in_last_record_fails_its_checksum() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut storage, _) = Storage::open(dir.path()).expect("open");
    storage.append_entries(&entries(1..=3, 1));
    storage.sync().expect("sync");
    drop(storage);
    let wal = dir.path().join(WAL_FILE);
    let mut bytes = fs::read(&wal).expect("read");
    let last = bytes.len() - 3;
    bytes[last] ^= 0x55;
    fs::write(&wal, &bytes).expect("write");
    let (_, recovered) = Storage::open(dir.path()).expect("reopen");
    assert_eq!(recovered.entries, entries(1..=2, 1));
}

#[test]
fn compaction_and_snapshot_survive_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut storage, _) = Storage::open(dir.path()).expect("open");
    storage.append_entries(&entries(1..=10, 1));
    storage.sync().expect("sync");
    let snapshot = SnapshotFile {
        meta: SnapshotMeta { index: 8, term: 1 },
        data: "{\"x\":1}".into(),
    };
    storage.write_snapshot(&snapshot).expect("snapshot");
    storage
        .rewrite_log(6, 1, &entries(7..=10, 1))
        .expect("compact");
    storage.append_entries(&entries(11..=12, 2));
    storage.sync().expect("sync");
    drop(storage);
    let (_, recovered) = Storage::open(dir.path()).expect("reopen");
    assert_eq!(recovered.snapshot, Some(snapshot));
    assert_eq!((recovered.log_offset, recovered.log_offset_term), (6, 1));
    let mut expected = entries(7..=10, 1);
    expected.extend(entries(11..=12, 2));
    assert_eq!(recovered.entries, expected);
}

#[test]
fn snapshot_beyond_the_log_restarts_the_log_after_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut storage, _) = Storage::open(dir.path()).expect("open");
    storage.append_entries(&entries(1..=3, 1));
    storage.sync().expect("sync");
    let snapshot = SnapshotFile {
        meta: SnapshotMeta { index: 50, term: 4 },
        data: "{}".into(),
    };
    storage.write_snapshot(&snapshot).expect("snapshot");
    drop(storage);
    let (mut storage, recovered) = Storage::open(dir.path()).expect("reopen");
    assert_eq!((recovered.log_offset, recovered.log_offset_term), (50, 4));
    assert!(recovered.entries.is_empty());
    storage.append_entries(&entries(51..=52, 4));
    storage.sync().expect("sync");
    drop(storage);
    let (_, recovered) = Storage::open(dir.path()).expect("reopen again");
    assert_eq!(recovered.entries, entries(51..=52, 4));
}

/// A crash between writing a received snapshot and rewriting the log leaves the old log,
/// whose entry at the snapshot's index conflicts (an uncommitted suffix of another term):
/// recovery must drop that log, not splice it after the snapshot.
#[test]
fn crash_between_snapshot_install_and_log_rewrite_drops_a_conflicting_log() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut storage, _) = Storage::open(dir.path()).expect("open");
    storage.append_entries(&entries(1..=8, 2));
    storage.sync().expect("sync");
    let snapshot = SnapshotFile {
        meta: SnapshotMeta { index: 5, term: 3 },
        data: "{}".into(),
    };
    storage.write_snapshot(&snapshot).expect("snapshot");
    drop(storage);
    let (_, recovered) = Storage::open(dir.path()).expect("reopen");
    assert_eq!((recovered.log_offset, recovered.log_offset_term), (5, 3));
    assert!(recovered.entries.is_empty(), "{:?}", recovered.entries);
}

/// The same crash after a local snapshot (whose index the log holds with the same term):
/// the log is kept, entries after the snapshot included.
#[test]
fn crash_between_local_snapshot_and_compaction_keeps_the_log() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut storage, _) = Storage::open(dir.path()).expect("open");
    storage.append_entries(&entries(1..=8, 2));
    storage.sync().expect("sync");
    let snapshot = SnapshotFile {
        meta: SnapshotMeta { index: 5, term: 2 },
        data: "{}".into(),
    };
    storage.write_snapshot(&snapshot).expect("snapshot");
    drop(storage);
    let (_, recovered) = Storage::open(dir.path()).expect("reopen");
    assert_eq!(recovered.log_offset, 0);
    assert_eq!(recovered.entries, entries(1..=8, 2));
    assert_eq!(recovered.snapshot.map(|s| s.meta), Some(snapshot.meta));
}

const CRASH_CHILD_DIR: &str = "RAFT_STORAGE_CRASH_CHILD_DIR";

/// The child half of the crash test: does nothing unless re-executed by the parent.
#[test]
fn crash_child_appends_until_killed() {
    let Ok(dir) = std::env::var(CRASH_CHILD_DIR) else {
        return;
    };
    let (mut storage, recovered) = Storage::open(Path::new(&dir)).expect("child open");
    let mut next = recovered.entries.last().map_or(1, |e| e.index + 1);
    let mut out = std::io::stdout().lock();
    // Bounded: the parent kills us long before this ends.
    for _ in 0..200_000 {
        let batch = entries(next..=next + 49, 1);
        storage.append_entries(&batch);
        storage.sync().expect("child sync");
        next += 50;
        writeln!(out, "durable {}", next - 1).expect("stdout");
        out.flush().expect("flush");
    }
}

/// Kills the child on drop, so a failing assertion leaves no process behind.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        // Already dead in the normal path; kill only matters on a panic.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn crash_sigkill_mid_append_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut rng = rand::rng();
    let mut most_acknowledged = 0;
    for round in 0..5 {
        let child = Command::new(std::env::current_exe().expect("test binary"))
            .args([
                "--exact",
                "storage::tests::crash_child_appends_until_killed",
            ])
            .args(["--nocapture", "--test-threads=1"])
            .env(CRASH_CHILD_DIR, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn child");
        let mut child = KillOnDrop(child);
        let stdout = child.0.stdout.take().expect("piped stdout");
        let reader = std::thread::spawn(move || {
            let mut acknowledged = 0u64;
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(index) = line.strip_prefix("durable ") {
                    acknowledged = index.parse().expect("index");
                }
            }
            acknowledged
        });
        std::thread::sleep(Duration::from_millis(rng.random_range(20..200)));
        child.0.kill().expect("SIGKILL");
        child.0.wait().expect("reap");
        let acknowledged = reader.join().expect("reader");
        let (_, recovered) = Storage::open(dir.path()).expect("recover after SIGKILL");
        let last = recovered.entries.last().map_or(0, |e| e.index);
        assert!(
            last >= acknowledged,
            "round {round}: acknowledged {acknowledged} but recovered only up to {last}"
        );
        for (position, entry) in recovered.entries.iter().enumerate() {
            assert_eq!(
                entry,
                &self::entry(position as u64 + 1, 1),
                "round {round}: garbage"
            );
        }
        most_acknowledged = most_acknowledged.max(acknowledged);
    }
    assert!(
        most_acknowledged > 0,
        "the child never reported a durable batch"
    );
}
