//! `faultline run` against a real 3-member etcd cluster (etcd 3.4 on `PATH`), each member an
//! OS process in its own network namespace (root), under real kills, pauses and partitions:
//!
//! - with linearizable reads, a run with a kill of the leader, a pause and a partition of
//!   the leader ends `valid` (etcd is a correct system);
//! - with serializable reads (etcd documents them as not linearizable), cutting a member off
//!   while the majority keeps writing makes its clients read overwritten values: the run
//!   ends `invalid` and the explanation names the key;
//! - a controller killed by SIGKILL mid-run leaves no etcd process running or stopped, and
//!   `faultline cleanup` finds and removes its namespaces.
//!
//! Without root or etcd these tests skip locally and fail under `CI=true`.

use std::ffi::OsStr;
use std::path::Path;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use tests::{FaultlineProcess, explained_key, processes_mentioning, read_json, run_faultline};

/// Whether this machine can run etcd under faultline; the reason when not.
fn etcd_available() -> Result<(), String> {
    chaos::network::netns::check_available().map_err(|e| e.to_string())?;
    match chaos::system::etcd::find_executable(chaos::system::etcd::DEFAULT_BINARY) {
        Some(_) => Ok(()),
        None => Err("no `etcd` on PATH (Debian: etcd-server)".into()),
    }
}

/// Linearizable reads: one fault of each kind, a few seconds each.
const LINEARIZABLE: &str = "name: etcd-e2e
seed: 3
system: { kind: etcd, nodes: 3 }
duration: 12s
workload: { kind: register, keys: 4, clients: 6, rate: 60/s, timeout: 1s, read: linearizable }
network: netns
nemesis:
  - at: 1s
    kill: leader
    restart_after: 2s
  - at: 5s
    pause: random
    for: 1500ms
  - at: 8s
    partition: leader
    for: 2500ms
final: { heal: true, quiesce: 1s, final_reads: true }
checks: [linearizable, latency]
";

/// Serializable reads and two members cut off in turn while the others keep writing.
const SERIALIZABLE: &str = "name: etcd-e2e-serializable
seed: 1
system: { kind: etcd, nodes: 3 }
duration: 10s
workload: { kind: register, keys: 2, clients: 9, rate: 120/s, timeout: 1s, read: serializable }
network: netns
nemesis:
  - at: 1s
    partition: isolate
    for: 3s
  - at: 5500ms
    partition: leader
    for: 3s
final: { heal: true, quiesce: 1s, final_reads: true }
checks: [linearizable, latency]
";

/// Runs `schedule` with the store `work/store`, given as an absolute path so that the
/// members' command lines (`--data-dir`) name it.
fn run(schedule: &str, work: &Path) -> tests::FaultlineOutput {
    std::fs::write(work.join("s.yaml"), schedule).expect("write schedule");
    let store = work.join("store");
    let args: [&OsStr; 5] = [
        "run".as_ref(),
        "s.yaml".as_ref(),
        "--store".as_ref(),
        store.as_os_str(),
        "--quiet".as_ref(),
    ];
    run_faultline(args, work)
}

/// A work directory for a run, or `None` (the reason printed, or a failure under CI) when
/// this machine cannot run etcd under faultline.
fn work_dir() -> Option<tempfile::TempDir> {
    match etcd_available() {
        Ok(()) => Some(tempfile::tempdir().expect("tempdir")),
        Err(reason) => {
            tests::tool_missing(&reason);
            None
        }
    }
}

#[test]
fn etcd_with_linearizable_reads_is_valid_under_kill_pause_and_partition() {
    let Some(work) = work_dir() else { return };
    let out = run(LINEARIZABLE, work.path());
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let results = read_json(&work.path().join("store/latest/results.json"));
    assert_eq!(results["verdict"], "valid", "{results:#}");
    assert!(
        results["stats"]["ok"].as_u64().unwrap_or(0) > 100,
        "the clients got answers: {results:#}"
    );
    // Every fault happened: the history has each kind's start.
    let history = std::fs::read_to_string(work.path().join("store/latest/history.jsonl"))
        .expect("history.jsonl");
    for kind in ["start-kill", "start-pause", "start-partition"] {
        assert!(history.contains(kind), "no {kind} in the history");
    }
    // Each member logged to nodes/<id>.log (etcd's zap logger on stderr).
    for id in ["n1", "n2", "n3"] {
        let log = std::fs::read_to_string(work.path().join(format!("store/latest/nodes/{id}.log")))
            .unwrap_or_else(|e| panic!("nodes/{id}.log: {e}"));
        assert!(
            log.contains("\"level\""),
            "{id}'s log is etcd's: {log:.300}"
        );
    }
    assert!(
        processes_mentioning(&work.path().join("store")).is_empty(),
        "no etcd member outlives the run"
    );
}

#[test]
fn etcd_with_serializable_reads_under_a_partition_is_invalid_naming_the_key() {
    let Some(work) = work_dir() else { return };
    let out = run(SERIALIZABLE, work.path());
    assert_eq!(out.code, Some(1), "{}", out.describe());
    let results = read_json(&work.path().join("store/latest/results.json"));
    let key = explained_key(&results);
    assert!(
        ["k0", "k1"].contains(&key.as_str()),
        "the explanation names one of the workload's keys, found {key:?}"
    );
    assert!(
        out.stdout.contains("verdict: invalid"),
        "{}",
        out.describe()
    );
}

/// The etcd members whose data dirs are under `store` (the controller's own command line
/// names the store too).
fn etcd_members(store: &Path) -> Vec<(u32, String)> {
    processes_mentioning(store)
        .into_iter()
        .filter(|(_, cmd)| cmd.contains("--initial-cluster "))
        .collect()
}

#[test]
fn sigkill_of_the_controller_leaves_no_etcd_member_and_cleanup_removes_its_namespaces() {
    let Some(work) = work_dir() else { return };
    // A long pause from 1 s, so that one member is stopped when the controller dies.
    let schedule = "name: etcd-sigkill
seed: 1
system: { kind: etcd, nodes: 3 }
duration: 60s
workload: { kind: register, keys: 2, clients: 3, rate: 20/s, timeout: 1s }
network: netns
nemesis:
  - at: 1s
    pause: n2
    for: 50s
";
    std::fs::write(work.path().join("s.yaml"), schedule).expect("write schedule");
    let store = work.path().join("store");
    // An absolute store: the members' command lines (`--data-dir`) then name it.
    let args: [&OsStr; 5] = [
        "run".as_ref(),
        "s.yaml".as_ref(),
        "--store".as_ref(),
        store.as_os_str(),
        "--quiet".as_ref(),
    ];
    let controller = FaultlineProcess::spawn(args, work.path());
    let pid = controller.pid();
    // Wait (bounded) until the pause is in place: n2 stopped (state T in /proc).
    let deadline = Instant::now() + Duration::from_secs(60);
    let stopped_member = loop {
        let members = etcd_members(&store);
        let stopped = members.iter().find(|(pid, cmd)| {
            cmd.contains("--name n2")
                && std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
                    stat.rsplit(')')
                        .next()
                        .is_some_and(|s| s.trim_start().starts_with('T'))
                })
        });
        if let (3, Some((pid, _))) = (members.len(), stopped) {
            break *pid;
        }
        assert!(
            Instant::now() < deadline,
            "the three members never ran with n2 paused: {members:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    controller.signal(Signal::SIGKILL);
    let out = controller.wait();
    assert_eq!(out.code, None, "killed by a signal: {}", out.describe());
    // Every member dies with the controller, the stopped one too (bounded wait).
    let deadline = Instant::now() + Duration::from_secs(20);
    while !processes_mentioning(&store).is_empty() {
        assert!(
            Instant::now() < deadline,
            "processes outlived the controller (n2 was pid {stopped_member}): {:?}",
            processes_mentioning(&store)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // The namespaces outlive a SIGKILLed controller; cleanup removes them by its pid.
    let prefix = format!("fl-{pid:x}x");
    let ours = || -> Vec<String> {
        std::fs::read_dir("/run/netns")
            .map(|dir| {
                dir.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|name| name.starts_with(&prefix))
                    .collect()
            })
            .unwrap_or_default()
    };
    assert!(!ours().is_empty(), "the run had namespaces {prefix}*");
    let cleanup = run_faultline(["cleanup"], work.path());
    assert_eq!(cleanup.code, Some(0), "{}", cleanup.describe());
    assert!(ours().is_empty(), "left behind: {:?}", ours());
}
