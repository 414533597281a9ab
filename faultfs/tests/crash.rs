//! Crash test in the style of sled's: a child process appends records of random sizes
//! to a file on faultfs and fsyncs at random moments, telling the parent before
//! (`syncing N`) and after (`synced N`) each fsync; the parent SIGKILLs it at a random
//! moment, makes faultfs lose what was unfsynced, and checks the file: whole records
//! only, each intact, and exactly as many as at one of the fsyncs the child may have
//! completed (at least the last `synced`, at most the last `syncing`).
//!
//! The child is this test binary run again with `FAULTFS_CRASH_CHILD` set (see
//! [`child_writer_entry_point`]).

mod common;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::Mounted;

const CHILD_ENV: &str = "FAULTFS_CRASH_CHILD";
const ROUNDS: u64 = 6;

/// xorshift64*: a small seeded generator, enough to vary sizes and timings.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Record `seq`: `len: u32 LE | seq: u32 LE | len bytes derived from seq`.
fn record(seq: u32, len: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + len as usize);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend((0..len).map(|i| (seq as u64 * 31 + i as u64 % 253) as u8));
    out
}

/// Parses the file: the number of whole, intact, consecutive records, or what is wrong.
fn parse(bytes: &[u8]) -> Result<u32, String> {
    let mut position = 0usize;
    let mut seq = 0u32;
    while position < bytes.len() {
        let header = bytes
            .get(position..position + 8)
            .ok_or_else(|| format!("torn header at byte {position} after {seq} records"))?;
        let len = u32::from_le_bytes(header[..4].try_into().expect("4 bytes"));
        let got_seq = u32::from_le_bytes(header[4..].try_into().expect("4 bytes"));
        let expected = record(seq, len);
        let got = bytes
            .get(position..position + expected.len())
            .ok_or_else(|| format!("torn record {seq} at byte {position}"))?;
        if got_seq != seq || got != expected.as_slice() {
            return Err(format!(
                "record {seq} at byte {position} is corrupt (seq field {got_seq})"
            ));
        }
        position += expected.len();
        seq += 1;
    }
    Ok(seq)
}

/// The child: appends and fsyncs until killed.
#[test]
fn child_writer_entry_point() {
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return; // run as an ordinary test: nothing to do
    };
    let seed: u64 = std::env::var("FAULTFS_CRASH_SEED")
        .expect("seed")
        .parse()
        .expect("seed");
    let mut rng = Rng(seed | 1);
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o644)
        .open(&path)
        .expect("open the log");
    let mut out = std::io::stdout().lock();
    for seq in 0u32.. {
        let len = match rng.below(4) {
            0 => rng.below(16),
            1 | 2 => rng.below(600),
            _ => rng.below(20_000),
        } as u32;
        file.write_all(&record(seq, len)).expect("append");
        if rng.below(3) == 0 {
            writeln!(out, "syncing {}", seq + 1).expect("stdout");
            out.flush().expect("stdout");
            file.sync_data().expect("fdatasync");
            writeln!(out, "synced {}", seq + 1).expect("stdout");
            out.flush().expect("stdout");
        }
        if rng.below(8) == 0 {
            std::thread::sleep(Duration::from_micros(rng.below(2000)));
        }
    }
}

fn run_round(fs: &Mounted, name: &str, seed: u64, kill_after: Duration) -> (u32, u32, u32) {
    let path = fs.path(name);
    let mut child = Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "child_writer_entry_point",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env(CHILD_ENV, &path)
        .env("FAULTFS_CRASH_SEED", seed.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the child writer");
    let stdout = child.stdout.take().expect("piped");
    let reader = std::thread::spawn(move || {
        let (mut synced, mut syncing) = (0u32, 0u32);
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(n) = line.strip_prefix("syncing ") {
                syncing = n.parse().expect("count");
            } else if let Some(n) = line.strip_prefix("synced ") {
                synced = n.parse().expect("count");
            }
        }
        (synced, syncing)
    });
    std::thread::sleep(kill_after);
    child.kill().expect("SIGKILL the writer");
    child.wait().expect("reap the writer");
    let (synced, syncing) = reader.join().expect("reader thread");

    let before = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    fs.lose_unfsynced();
    let bytes = std::fs::read(&path).expect("read the log");
    let count = parse(&bytes).unwrap_or_else(|e| panic!("seed {seed}, {name}: {e}"));
    assert!(
        count >= synced && count <= syncing.max(synced),
        "seed {seed}, {name}: {count} records after the loss, but the last fsync begun was of \
         {syncing} and the last completed of {synced}"
    );
    assert!(bytes.len() as u64 <= before, "a loss never adds bytes");
    (synced, syncing, count)
}

#[test]
fn every_fsynced_record_survives_a_kill_and_a_loss() {
    if std::env::var(CHILD_ENV).is_ok() {
        return;
    }
    let Some(fs) = Mounted::start() else { return };
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_nanos() as u64;
    println!("seed {seed}");
    let mut rng = Rng(seed | 1);
    let mut kept = Vec::new();
    for round in 0..ROUNDS {
        let name = format!("log-{round}");
        let kill_after = Duration::from_millis(50 + rng.below(400));
        let (synced, syncing, count) = run_round(&fs, &name, rng.next(), kill_after);
        println!(
            "round {round}: killed after {kill_after:?}: synced {synced}, syncing {syncing}, kept {count}"
        );
        kept.push((
            name,
            std::fs::read(fs.path(&format!("log-{round}"))).expect("read"),
        ));
    }
    // Later losses never touch what earlier rounds fsynced.
    for (name, bytes) in &kept {
        assert_eq!(
            &std::fs::read(Path::new(&fs.mount).join(name)).expect("read"),
            bytes,
            "{name}"
        );
    }
    let lost = fs.status().stats.lost_bytes;
    println!("lost bytes over all rounds: {lost}");
}
