//! Bring your own system (issue 12): `system: { kind: command }` and the stdio client adapter,
//! end to end with Debian's real `redis-server` and the example's Python adapter
//! (`examples/redis/`), each run a `faultline run` process.
//!
//! - Redis with no persistence, killed with kill -9 and restarted, loses acknowledged
//!   writes: the run is `invalid` and names a key whose read went back to `null` after an
//!   `ok` write of it (checked against `history.jsonl`). With `--appendonly yes
//!   --appendfsync always` the same schedule is `valid`.
//! - A deliberately broken adapter (`tests/adapters/broken.py`: hangs, prints garbage,
//!   names an unknown reply type, exits): the run goes on and checks `valid`, every case is
//!   `info` (a read: `fail`) with the right error, no invoke is left without its
//!   completion, `results.json` and the run's output say which workers misbehaved, and no
//!   adapter or node process is left afterwards (read from `/proc`).
//! - Bad input and a node that never gets ready: exit 65 with `file:line:column`, exit 70
//!   naming the node and the probe's last error, nothing left running.
//!
//! The schedules are the shipped examples cut short (seconds, not the campaign's 12 s).
//! Under `CI=true` a missing `redis-server` or `python3` fails the tests.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::Value;
use tests::{
    FaultlineOutput, explained_key, processes_mentioning, read_history_records, read_json,
    run_faultline, tool_missing,
};

/// The repository's root: the adapters' paths in the schedules are relative to it.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .expect("the repository root")
}

fn have(tool: &str) -> bool {
    chaos::system::etcd::find_executable(tool).is_some()
}

fn tools_present() -> bool {
    for tool in ["redis-server", "python3"] {
        if !have(tool) {
            tool_missing(&format!("no `{tool}` on PATH"));
            return false;
        }
    }
    true
}

/// The example schedule `file` cut to a 6 s run with two kills, its adapter command given
/// an extra (ignored) argument naming `marker`, so that `/proc` shows whether any adapter
/// process is left.
fn short_example(file: &str, marker: &Path) -> String {
    let text = std::fs::read_to_string(root().join("examples/redis").join(file)).expect("example");
    let text = text
        .replace("duration: 12s", "duration: 6s")
        .replace("until: 10s", "until: 5s")
        .replace(
            "adapter.py {client_addr}",
            &format!("adapter.py {{client_addr}} {}", marker.display()),
        );
    assert!(text.contains("duration: 6s") && text.contains(&marker.display().to_string()));
    text
}

/// One run at a time: each run starts a Python adapter per worker, and eight runs at once
/// on a loaded 2-core machine spend their seconds starting interpreters, not testing.
fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static RUNS: std::sync::Mutex<()> = std::sync::Mutex::new(());
    RUNS.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Writes `schedule` under `work` and runs it with `seed` (store `work/store`), from the
/// repository's root.
fn run(work: &Path, schedule: &str, seed: u64) -> FaultlineOutput {
    let _one = one_at_a_time();
    let path = work.join("schedule.yaml");
    std::fs::write(&path, schedule).expect("writing the schedule");
    let store = work.join("store");
    let seed = seed.to_string();
    run_faultline(
        [
            "run".as_ref(),
            path.as_os_str(),
            "--store".as_ref(),
            store.as_os_str(),
            "--seed".as_ref(),
            seed.as_ref(),
            "--quiet".as_ref(),
        ],
        &root(),
    )
}

fn assert_nothing_left(work: &Path) {
    let left = processes_mentioning(work);
    assert!(left.is_empty(), "processes left behind: {left:?}");
}

/// Every invoke of the history has exactly one completion of its process after it.
fn assert_complete(history: &[Value]) {
    let mut open: HashMap<String, usize> = HashMap::new();
    for op in history {
        if op["process"] == "nemesis" {
            continue;
        }
        let process = op["process"].to_string();
        match op["type"].as_str() {
            Some("invoke") => {
                assert!(
                    open.insert(process.clone(), 1).is_none(),
                    "process {process} invoked twice: {op}"
                );
            }
            Some(_) => {
                assert!(
                    open.remove(&process).is_some(),
                    "completion without invoke: {op}"
                );
            }
            None => panic!("no type: {op}"),
        }
    }
    assert!(open.is_empty(), "invokes without completion: {open:?}");
}

/// Keys with an `ok` read of `null` after an `ok` write (or cas) of the key had completed.
fn keys_read_back_to_null(history: &[Value]) -> Vec<String> {
    let mut written: HashMap<String, u64> = HashMap::new();
    let mut invoked: HashMap<String, u64> = HashMap::new();
    let mut keys = Vec::new();
    for op in history {
        let process = op["process"].to_string();
        let time = op["time"].as_u64().unwrap_or_default();
        let key = op["key"].as_str().unwrap_or_default().to_string();
        match (op["type"].as_str(), op["f"].as_str()) {
            (Some("invoke"), _) => {
                invoked.insert(process, time);
            }
            (Some("ok"), Some("write" | "cas")) => {
                written.entry(key).or_insert(time);
            }
            (Some("ok"), Some("read")) if op["value"].is_null() => {
                let began = invoked.get(&process).copied().unwrap_or_default();
                if written.get(&key).is_some_and(|done| *done < began) && !keys.contains(&key) {
                    keys.push(key);
                }
            }
            _ => {}
        }
    }
    keys
}

#[test]
fn redis_without_persistence_loses_acknowledged_writes() {
    if !tools_present() {
        return;
    }
    let work = tempfile::tempdir().expect("tempdir");
    let schedule = short_example("redis-no-aof.yaml", work.path());
    // A lost write shows once a read comes between a restart and the next write of its
    // key: nearly always; three seeds keep one unlucky seed from failing the test.
    let mut tries = Vec::new();
    for seed in 1..=3 {
        let out = run(work.path(), &schedule, seed);
        assert_nothing_left(work.path());
        match out.code {
            Some(1) => {
                let dir = work.path().join("store/latest");
                let results = read_json(&dir.join("results.json"));
                let key = explained_key(&results);
                let history = read_history_records(&dir.join("history.jsonl"));
                assert_complete(&history);
                let lost = keys_read_back_to_null(&history);
                assert!(
                    lost.contains(&key),
                    "seed {seed}: the explained key {key} has no read of null after an ok write; keys that have: {lost:?}"
                );
                assert!(
                    out.stdout.contains(&format!("read of {key} by process")),
                    "{}",
                    out.describe()
                );
                // Each worker's stderr is kept.
                assert!(dir.join("adapters/0.log").exists());
                return;
            }
            Some(0) => tries.push(seed),
            _ => panic!("seed {seed}: {}", out.describe()),
        }
    }
    panic!("no acknowledged write was found lost in seeds {tries:?}");
}

#[test]
fn redis_with_an_fsynced_append_only_file_is_valid() {
    if !tools_present() {
        return;
    }
    let work = tempfile::tempdir().expect("tempdir");
    let schedule = short_example("redis-aof-always.yaml", work.path());
    let out = run(work.path(), &schedule, 1);
    assert_eq!(out.code, Some(0), "{}", out.describe());
    assert_nothing_left(work.path());
    let dir = work.path().join("store/latest");
    let history = read_history_records(&dir.join("history.jsonl"));
    assert_complete(&history);
    let kills = history.iter().filter(|op| op["f"] == "start-kill").count();
    assert!(kills >= 1, "the node was killed: {kills} kills");
    let ok_reads = history
        .iter()
        .filter(|op| op["type"] == "ok" && op["f"] == "read" && !op["value"].is_null())
        .count();
    assert!(ok_reads > 0, "reads saw written values");
    // The schedule as run reproduces the run: the command and the adapter are in it.
    let as_run = std::fs::read_to_string(dir.join("schedule.yaml")).expect("schedule.yaml");
    assert!(as_run.contains("--appendfsync always"), "{as_run}");
    assert!(
        as_run.contains("client: { command: \"python3 examples/redis/adapter.py"),
        "{as_run}"
    );
}

/// One broken-adapter run: `mode` every 4th request of each adapter process.
fn broken_run(mode: &str, expected_error: &str) {
    if !tools_present() {
        return;
    }
    let work = tempfile::tempdir().expect("tempdir");
    let schedule = short_example("redis-aof-always.yaml", work.path())
        .replace(
            "python3 examples/redis/adapter.py {client_addr}",
            &format!("python3 tests/adapters/broken.py {mode} 4 {{client_addr}}"),
        )
        .replace("duration: 6s", "duration: 4s")
        .replace("until: 5s", "until: 3s");
    assert!(schedule.contains("broken.py"), "{schedule}");
    let out = run(work.path(), &schedule, 1);
    // The broken cases never reached Redis: the history is still linearizable.
    assert_eq!(out.code, Some(0), "{mode}: {}", out.describe());
    assert_nothing_left(work.path());
    let dir = work.path().join("store/latest");
    let history = read_history_records(&dir.join("history.jsonl"));
    assert_complete(&history);
    let broken: Vec<&Value> = history
        .iter()
        .filter(|op| {
            op["error"]
                .as_str()
                .is_some_and(|e| e.starts_with(expected_error))
        })
        .collect();
    assert!(
        !broken.is_empty(),
        "{mode}: some op ended with {expected_error}: {}",
        out.describe()
    );
    for op in &broken {
        let expected_type = if op["f"] == "read" { "fail" } else { "info" };
        assert_eq!(op["type"], expected_type, "{mode}: {op}");
    }
    // The run went on after each case: ok ops follow the first broken one.
    let first_broken = broken[0]["index"].as_u64().expect("index");
    assert!(
        history
            .iter()
            .any(|op| op["type"] == "ok" && op["index"].as_u64() > Some(first_broken)),
        "{mode}: the run went on"
    );
    let results = read_json(&dir.join("results.json"));
    let adapters = results["adapters"].as_array().cloned().unwrap_or_default();
    assert!(
        !adapters.is_empty(),
        "{mode}: results.json names the misbehaving workers: {results:#}"
    );
    let counted: u64 = adapters
        .iter()
        .map(|a| {
            ["timeouts", "exits", "garbage"]
                .iter()
                .map(|k| a[k].as_u64().unwrap_or_default())
                .sum::<u64>()
        })
        .sum();
    assert!(
        counted as usize >= broken.len(),
        "{mode}: {adapters:?} vs {} broken ops",
        broken.len()
    );
    assert!(
        out.stdout.contains("adapter: misbehaved on"),
        "{mode}: {}",
        out.describe()
    );
    let report = std::fs::read_to_string(dir.join("report.html")).expect("report");
    assert!(report.contains("The stdio adapter misbehaved"), "{mode}");
    // Each worker's stderr is in its own log; the adapters said what they did there.
    let logs: String = std::fs::read_dir(dir.join("adapters"))
        .expect("adapters/")
        .map(|entry| std::fs::read_to_string(entry.expect("entry").path()).unwrap_or_default())
        .collect();
    assert!(
        logs.contains(&format!("misbehaving ({mode})")),
        "{mode}: {logs}"
    );
}

#[test]
fn an_adapter_that_hangs_is_timed_out_and_replaced() {
    broken_run("hang", "timeout");
}

#[test]
fn an_adapter_that_prints_garbage_is_info_and_replaced() {
    broken_run("garbage", "adapter-garbage: this is not json {");
}

#[test]
fn an_adapter_that_names_an_unknown_type_is_info_and_replaced() {
    broken_run("unknown", "adapter-garbage: {\"type\": \"maybe\"");
}

#[test]
fn an_adapter_that_exits_is_info_and_replaced() {
    broken_run("exit", "adapter-exited");
}

const BAD_BASE: &str = "name: bad\nsystem:\n  kind: command\n  nodes: 1\n  start: \"START\"\n  ready: { tcp: \"{client_addr}\" }\nduration: 2s\nworkload: { kind: register, client: { command: \"CLIENT\" } }\n";

#[test]
fn bad_templates_are_refused_with_their_position() {
    if !tools_present() {
        return;
    }
    let cases = [
        (
            "redis-server --port {clientport}",
            "true",
            5,
            "found `{clientport}`",
        ),
        ("", "true", 5, "expected a command, found an empty string"),
        (
            "redis-server 'unterminated",
            "true",
            5,
            "expected a closing `'`",
        ),
        ("redis-server", "true {node} {wat}", 8, "found `{wat}`"),
        (
            "no-such-program-here --x",
            "true",
            5,
            "found no `no-such-program-here` on PATH",
        ),
    ];
    for (start, client, line, message) in cases {
        let work = tempfile::tempdir().expect("tempdir");
        let schedule = BAD_BASE.replace("START", start).replace("CLIENT", client);
        let out = run(work.path(), &schedule, 1);
        assert_eq!(out.code, Some(65), "{start:?}: {}", out.describe());
        assert!(
            out.stderr.contains(&format!("schedule.yaml:{line}:")),
            "{start:?}: {}",
            out.describe()
        );
        assert!(
            out.stderr.contains(message),
            "{start:?}: {}",
            out.describe()
        );
        assert!(!work.path().join("store").exists(), "nothing started");
    }
}

#[test]
fn a_node_that_never_gets_ready_fails_the_run_and_is_torn_down() {
    if !tools_present() {
        return;
    }
    let work = tempfile::tempdir().expect("tempdir");
    // The node runs but never listens; its command line names its data dir (in the store),
    // so /proc shows whether it is left.
    let schedule = BAD_BASE
        .replace(
            "START",
            "python3 -c 'import time; time.sleep(60)' {data_dir}",
        )
        .replace("CLIENT", "true");
    let out = run(work.path(), &schedule, 1);
    assert_eq!(out.code, Some(70), "{}", out.describe());
    assert!(
        out.stderr.contains("node \"n1\" was not ready"),
        "{}",
        out.describe()
    );
    assert!(
        out.stderr.contains("last probe: tcp 127.0.0.1:"),
        "{}",
        out.describe()
    );
    assert!(
        out.stderr.contains("Connection refused"),
        "{}",
        out.describe()
    );
    assert_nothing_left(work.path());
}

#[test]
fn a_controller_killed_with_sigkill_leaves_no_adapter_or_node() {
    if !tools_present() {
        return;
    }
    let _one = one_at_a_time();
    let work = tempfile::tempdir().expect("tempdir");
    let schedule = short_example("redis-aof-always.yaml", work.path());
    let path = work.path().join("schedule.yaml");
    std::fs::write(&path, schedule).expect("writing the schedule");
    let store = work.path().join("store");
    let faultline = tests::FaultlineProcess::spawn(
        [
            "run".as_ref(),
            path.as_os_str(),
            "--store".as_ref(),
            store.as_os_str(),
            "--quiet".as_ref(),
        ],
        &root(),
    );
    // Wait (bounded) until the adapters run: their command lines name the marker.
    let adapters_up = |found: &[(u32, String)]| found.iter().any(|(_, c)| c.contains("adapter.py"));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !adapters_up(&processes_mentioning(work.path())) {
        assert!(
            std::time::Instant::now() < deadline,
            "the adapters never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    faultline.signal(nix::sys::signal::Signal::SIGKILL);
    let _ended = faultline.wait();
    // PR_SET_PDEATHSIG kills nodes and adapters; give the kernel a bounded moment.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let left = processes_mentioning(work.path());
        if left.is_empty() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "left after SIGKILL: {left:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
