//! Shared helpers for the end-to-end tests in `tests/tests/`: locating the built binaries,
//! starting clusters as OS processes on loopback, and cleaning up after them.
//!
//! These helpers panic with a clear message instead of returning errors: they run only
//! inside tests, where a panic *is* the report.
//!
//! The node program: `FAULTLINE_NODE_BIN` if set; otherwise `raft-node` in the test
//! executable's profile directory (`target/<profile>/`), built first (once per test
//! process, a no-op when fresh) so that a test never runs an outdated node.
//!
//! The bank's `bank-node` binary ([`bank_node_program`]): `FAULTLINE_BANK_NODE_BIN` if set;
//! otherwise built the same way.
//!
//! The `faultline` binary, for the tests that run it as a process ([`FaultlineProcess`]):
//! `FAULTLINE_BIN` if set; otherwise built the same way. Both are built with
//! `cargo build --workspace --bins --tests`, see [`cargo_build`] for why not `-p`.

pub mod register_history;

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;

use chaos::cluster::{Cluster, ClusterConfig, NetworkKind};
use serde_json::Value;
use tokio::time::Instant;
use workloads::client::{Invocation, NodeStatus, Outcome, RaftClient, RaftClientConfig};

/// Short election timeouts so that failover takes a fraction of a second.
pub const FAST_TIMEOUTS: &[&str] = &[
    "--election-timeout-min-ms",
    "150",
    "--election-timeout-max-ms",
    "300",
    "--heartbeat-ms",
    "50",
];

/// Set this environment variable to keep every test's cluster directory (it is always kept
/// when the test fails).
pub const KEEP_DIRS_ENV: &str = "FAULTLINE_KEEP_TEST_DIRS";

/// Extra node arguments for every test cluster, whitespace-separated: e.g.
/// `FAULTLINE_TEST_NODE_ARGS="--bug stale-read"` shows that a test catches a planted bug.
pub const EXTRA_NODE_ARGS_ENV: &str = "FAULTLINE_TEST_NODE_ARGS";

/// Timeout of one client operation in the tests.
pub const CLIENT_TIMEOUT_MS: u64 = 1000;
/// Timeout of a `/status` probe: short, because a paused node never answers.
pub const STATUS_TIMEOUT_MS: u64 = 250;

/// The node executable and the arguments that come before the node's own.
#[derive(Debug, Clone)]
pub struct NodeProgram {
    pub program: PathBuf,
    pub args_prefix: Vec<String>,
}

/// The node program (see the module docs); built at most once per test process.
pub fn node_program() -> NodeProgram {
    static PROGRAM: OnceLock<NodeProgram> = OnceLock::new();
    PROGRAM.get_or_init(locate_node_program).clone()
}

fn locate_node_program() -> NodeProgram {
    if let Some(path) = std::env::var_os("FAULTLINE_NODE_BIN") {
        return NodeProgram {
            program: PathBuf::from(path),
            args_prefix: Vec::new(),
        };
    }
    NodeProgram {
        program: built_binary("raft-node"),
        args_prefix: Vec::new(),
    }
}

/// The bank's `bank-node` binary: `FAULTLINE_BANK_NODE_BIN` if set, otherwise built like
/// the node program; built at most once per test process.
pub fn bank_node_program() -> PathBuf {
    static PROGRAM: OnceLock<PathBuf> = OnceLock::new();
    PROGRAM
        .get_or_init(|| match std::env::var_os("FAULTLINE_BANK_NODE_BIN") {
            Some(path) => PathBuf::from(path),
            None => built_binary("bank-node"),
        })
        .clone()
}

/// The `faultline` binary (see the module docs); built at most once per test process.
pub fn faultline_program() -> PathBuf {
    static PROGRAM: OnceLock<PathBuf> = OnceLock::new();
    PROGRAM
        .get_or_init(|| match std::env::var_os("FAULTLINE_BIN") {
            Some(path) => PathBuf::from(path),
            None => built_binary("faultline"),
        })
        .clone()
}

/// The workspace binary `bin` in the test executable's profile directory, built first.
fn built_binary(bin: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    // Test executables live in target/<profile>/deps/.
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .unwrap_or_else(|| panic!("{} is not in target/<profile>/deps", exe.display()));
    cargo_build(profile_dir, bin);
    let program = profile_dir.join(bin);
    assert!(
        program.is_file(),
        "{} missing after building it",
        program.display()
    );
    program
}

/// Builds the workspace's binaries (`bin` among them) into the test's own target directory. Cargo releases its
/// build lock before running test executables, so this does not deadlock inside
/// `cargo test`.
///
/// It builds every binary and test target of the workspace rather than `-p <package>`:
/// that resolves features exactly as `cargo test --workspace` did (dev-dependencies such
/// as tokio's `test-util` included), so the binaries `cargo test` already built are
/// fresh. `-p` alone would rebuild tokio, hyper and everything above them a second time,
/// doubling the target directory (CI once ran out of disk on exactly that).
fn cargo_build(profile_dir: &Path, bin: &str) {
    let target_dir = profile_dir
        .parent()
        .expect("target dir above the profile dir");
    let profile = profile_dir
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("debug");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command.args(["build", "--quiet", "--workspace", "--bins", "--tests"]);
    command.arg("--target-dir").arg(target_dir);
    if profile != "debug" {
        command.args([
            "--profile",
            if profile == "release" {
                "release"
            } else {
                profile
            },
        ]);
    }
    let status = command
        .status()
        .unwrap_or_else(|e| panic!("running cargo to build {bin}: {e}"));
    assert!(status.success(), "cargo build of {bin} failed: {status}");
}

/// A cluster of real node processes plus a client of it. The cluster's processes die when
/// this is dropped; its directory is kept (and its path printed) if the test panicked or
/// [`KEEP_DIRS_ENV`] is set.
pub struct TestCluster {
    cluster: Option<Cluster>,
    pub client: RaftClient,
    /// A client with a short timeout for `/status` probes.
    prober: RaftClient,
    dir: Option<tempfile::TempDir>,
}

impl TestCluster {
    /// Starts `nodes` nodes with [`FAST_TIMEOUTS`] and `extra_args`.
    pub async fn start(nodes: usize, network: NetworkKind, extra_args: &[&str]) -> TestCluster {
        let program = node_program();
        let dir = tempfile::Builder::new()
            .prefix("faultline-test-")
            .tempdir()
            .expect("tempdir");
        let mut args: Vec<String> = FAST_TIMEOUTS.iter().map(|s| s.to_string()).collect();
        args.extend(extra_args.iter().map(|s| s.to_string()));
        if let Ok(more) = std::env::var(EXTRA_NODE_ARGS_ENV) {
            args.extend(more.split_whitespace().map(str::to_string));
        }
        let config = ClusterConfig {
            nodes,
            base_dir: dir.path().to_path_buf(),
            network,
            program: program.program,
            program_args_prefix: program.args_prefix,
            extra_args: args,
        };
        let cluster = Cluster::start(config)
            .await
            .unwrap_or_else(|e| panic!("starting a {nodes}-node cluster: {e}"));
        let addrs: Vec<_> = cluster
            .node_ids()
            .into_iter()
            .map(|id| (id.clone(), cluster.client_addr(&id)))
            .collect();
        let client = new_client(&addrs, CLIENT_TIMEOUT_MS);
        let prober = new_client(&addrs, STATUS_TIMEOUT_MS);
        TestCluster {
            cluster: Some(cluster),
            client,
            prober,
            dir: Some(dir),
        }
    }

    pub fn cluster(&self) -> &Cluster {
        self.cluster
            .as_ref()
            .expect("cluster present until shutdown")
    }

    pub fn cluster_mut(&mut self) -> &mut Cluster {
        self.cluster
            .as_mut()
            .expect("cluster present until shutdown")
    }

    pub fn node_ids(&self) -> Vec<String> {
        self.cluster().node_ids()
    }

    /// A fresh client of every node (its own connections and request-id sessions).
    pub fn new_client(&self, timeout_ms: u64) -> RaftClient {
        let addrs: Vec<_> = self
            .node_ids()
            .into_iter()
            .map(|id| (id.clone(), self.cluster().client_addr(&id)))
            .collect();
        new_client(&addrs, timeout_ms)
    }

    /// `/status` of one node with a short timeout.
    pub async fn status(&self, id: &str) -> Option<NodeStatus> {
        self.prober.status(id).await.ok()
    }

    /// Waits until exactly one of `among` claims leadership in the highest term any of
    /// them reports and returns its id.
    pub async fn wait_for_leader(&self, among: &[String], within: Duration) -> String {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Some(leader) = self.current_leader(among).await {
                return leader;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!(
            "no leader among {among:?} within {within:?}\n{}",
            self.log_tails(30)
        );
    }

    async fn current_leader(&self, among: &[String]) -> Option<String> {
        let mut statuses = Vec::new();
        for id in among {
            statuses.extend(self.status(id).await);
        }
        let top_term = statuses.iter().map(|s| s.term).max()?;
        let leaders: Vec<_> = statuses
            .iter()
            .filter(|s| s.role == "leader" && s.term == top_term)
            .collect();
        match leaders.as_slice() {
            [one] => Some(one.id.clone()),
            _ => None,
        }
    }

    /// The last `lines` lines of every node's log, for failure messages.
    pub fn log_tails(&self, lines: usize) -> String {
        let mut out = String::new();
        for id in self.node_ids() {
            let tail = chaos::cluster::log_tail(&self.cluster().log_path(&id), lines);
            out.push_str(&format!("--- {id} ---\n{tail}\n"));
        }
        out
    }

    /// Kills every node and waits for them to be reaped.
    pub async fn shutdown(mut self) {
        if let Some(cluster) = self.cluster.take() {
            cluster.shutdown().await.expect("cluster shutdown");
        }
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        // The cluster's own Drop kills every node.
        drop(self.cluster.take());
        let keep = std::thread::panicking() || std::env::var_os(KEEP_DIRS_ENV).is_some();
        if keep && let Some(dir) = self.dir.take() {
            let kept = dir.keep();
            eprintln!(
                "cluster directory (data, node logs) kept at {}",
                kept.display()
            );
        }
    }
}

fn new_client(addrs: &[(String, std::net::SocketAddr)], timeout_ms: u64) -> RaftClient {
    let config = RaftClientConfig {
        timeout_ms,
        ..RaftClientConfig::default()
    };
    RaftClient::new(addrs.iter().cloned(), config).expect("a client of at least one node")
}

/// Repeats `inv` until it is acknowledged or `within` passes; `None` if never acknowledged.
/// Only for invocations whose repetition is harmless (reads, and writes of one fixed value
/// to a key that nothing else writes).
pub async fn until_ok(client: &RaftClient, inv: &Invocation, within: Duration) -> Option<Value> {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        match client.run(inv).await {
            Outcome::Ok(value) => return Some(value),
            Outcome::Fail(_) | Outcome::Info(_) => {
                tokio::time::sleep(Duration::from_millis(20)).await
            }
        }
    }
    None
}

/// Reads every key of `expected` (retrying failed reads) and returns the keys whose value
/// differs, with what was read.
pub async fn mismatches(
    client: &RaftClient,
    expected: &BTreeMap<String, Value>,
    within: Duration,
) -> Vec<(String, Value, Option<Value>)> {
    let mut wrong = Vec::new();
    for (key, value) in expected {
        let read = until_ok(client, &Invocation::read(key.clone()), within).await;
        if read.as_ref() != Some(value) {
            wrong.push((key.clone(), value.clone(), read));
        }
    }
    wrong
}

/// How long a `faultline` process may take before a test gives up on it: a liveness bound
/// against hangs, not a speed assertion.
pub const FAULTLINE_LIVENESS_BOUND: Duration = Duration::from_secs(180);

/// A `faultline` process started by a test. It runs in its own process group with
/// `PR_SET_PDEATHSIG(SIGKILL)`; dropping this kills the whole group (its nodes also die with
/// it through their own death signal). Its stdout and stderr go to files, read at the end.
pub struct FaultlineProcess {
    child: Child,
    output_dir: tempfile::TempDir,
    reaped: bool,
}

/// How a `faultline` process ended.
#[derive(Debug)]
pub struct FaultlineOutput {
    /// The exit code; `None` if a signal ended it.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl FaultlineOutput {
    /// The exit code and both streams, for assertion messages.
    pub fn describe(&self) -> String {
        format!(
            "exit code {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

impl FaultlineProcess {
    /// Starts `faultline ARGS...` in `cwd`.
    pub fn spawn<I, S>(args: I, cwd: &Path) -> FaultlineProcess
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let output_dir = tempfile::Builder::new()
            .prefix("faultline-output-")
            .tempdir()
            .expect("tempdir for faultline's output");
        let create = |name: &str| {
            std::fs::File::create(output_dir.path().join(name))
                .unwrap_or_else(|e| panic!("creating {name}: {e}"))
        };
        let mut command = Command::new(faultline_program());
        command
            .args(args)
            .current_dir(cwd)
            .stdin(Stdio::null())
            .stdout(create("stdout"))
            .stderr(create("stderr"));
        // The same guarantee as the controller's nodes: faultline dies with the test.
        chaos::supervisor::die_with_parent(&mut command, None);
        let child = command.spawn().expect("spawning faultline");
        FaultlineProcess {
            child,
            output_dir,
            reaped: false,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` to the faultline process itself (not its group), as a terminal's
    /// Ctrl-C reaches a foreground program that handles it.
    pub fn signal(&self, signal: Signal) {
        kill(Pid::from_raw(self.child.id() as i32), signal)
            .unwrap_or_else(|e| panic!("sending {signal} to faultline: {e}"));
    }

    /// What the process has written to stdout so far (it may still be running).
    pub fn stdout_so_far(&self) -> String {
        self.output(None).stdout
    }

    /// Whether the process has exited (it is reaped then).
    pub fn has_exited(&mut self) -> bool {
        match self.child.try_wait() {
            Ok(Some(_)) => {
                self.reaped = true;
                true
            }
            Ok(None) => false,
            Err(e) => panic!("waiting for faultline: {e}"),
        }
    }

    /// Waits for the process to exit (panicking after [`FAULTLINE_LIVENESS_BOUND`]) and
    /// returns its exit code and output.
    pub fn wait(mut self) -> FaultlineOutput {
        let deadline = std::time::Instant::now() + FAULTLINE_LIVENESS_BOUND;
        let status = loop {
            match self.child.try_wait().expect("waiting for faultline") {
                Some(status) => break status,
                None if std::time::Instant::now() >= deadline => {
                    let so_far = self.output(None);
                    panic!(
                        "faultline did not exit within {FAULTLINE_LIVENESS_BOUND:?}\n{}",
                        so_far.describe()
                    );
                }
                None => std::thread::sleep(Duration::from_millis(50)),
            }
        };
        self.reaped = true;
        if let Some(signal) = status.signal() {
            eprintln!("faultline was ended by signal {signal}");
        }
        self.output(status.code())
    }

    fn output(&self, code: Option<i32>) -> FaultlineOutput {
        let read = |name: &str| {
            std::fs::read_to_string(self.output_dir.path().join(name)).unwrap_or_default()
        };
        FaultlineOutput {
            code,
            stdout: read("stdout"),
            stderr: read("stderr"),
        }
    }
}

impl Drop for FaultlineProcess {
    fn drop(&mut self) {
        if !self.reaped {
            // The group holds faultline (its nodes are in groups of their own and die with
            // it through PR_SET_PDEATHSIG).
            let _ = killpg(Pid::from_raw(self.child.id() as i32), Signal::SIGKILL);
            let _ = self.child.wait();
        }
    }
}

/// Runs `faultline ARGS...` in `cwd` to the end.
pub fn run_faultline<I, S>(args: I, cwd: &Path) -> FaultlineOutput
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    FaultlineProcess::spawn(args, cwd).wait()
}

/// Processes whose command line mentions `path` (e.g. nodes whose data directory is under a
/// test's store), as `(pid, command line)`. Read from `/proc`; processes that exit while it
/// is read are skipped.
pub fn processes_mentioning(path: &Path) -> Vec<(u32, String)> {
    let needle = path.to_string_lossy().into_owned();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        panic!("/proc is not readable");
    };
    let mut found = Vec::new();
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(raw) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&raw).replace('\0', " ");
        if cmdline.contains(&needle) && !is_zombie(pid) {
            found.push((pid, cmdline));
        }
    }
    found
}

fn is_zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            // The state follows the command name, which is in parentheses.
            let after = &stat[stat.rfind(')')? + 1..];
            after.split_whitespace().next().map(|state| state == "Z")
        })
        .unwrap_or(true)
}

/// A JSON file (e.g. a run's `results.json`), parsed.
pub fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A `history.jsonl`, one JSON value per record (for tests that look at raw records).
pub fn read_history_records(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{line}: {e}")))
        .collect()
}

/// The first invalid run of a planted-bug schedule.
pub struct InvalidRun {
    pub seed: u64,
    pub dir: PathBuf,
    pub results: Value,
    /// What `faultline run` printed.
    pub stdout: String,
}

/// Runs `schedule` (which must turn on `bug`) with seeds 1, 2, ... up to `max_seeds` in a
/// store under `work`, until one run ends `invalid`; panics if none does, or if a run ends
/// neither valid nor invalid.
pub fn run_until_invalid(schedule: &Path, bug: &str, max_seeds: u64, work: &Path) -> InvalidRun {
    let text =
        std::fs::read_to_string(schedule).unwrap_or_else(|e| panic!("{}: {e}", schedule.display()));
    assert!(
        text.contains(&format!("bug: {bug}")),
        "{} turns the {bug} bug on",
        schedule.display()
    );
    let mut tries = Vec::new();
    for seed in 1..=max_seeds {
        let seed_text = seed.to_string();
        let args: [&OsStr; 7] = [
            "run".as_ref(),
            schedule.as_os_str(),
            "--store".as_ref(),
            "store".as_ref(),
            "--seed".as_ref(),
            seed_text.as_ref(),
            "--quiet".as_ref(),
        ];
        let out = run_faultline(args, work);
        let dir = work.join("store/latest");
        match out.code {
            Some(1) => {
                let results = read_json(&dir.join("results.json"));
                assert_eq!(results["verdict"], "invalid", "{results:#}");
                eprintln!("{bug} found with seed {seed} (before: {tries:?})");
                return InvalidRun {
                    seed,
                    dir,
                    results,
                    stdout: out.stdout,
                };
            }
            Some(0) => tries.push((seed, "valid")),
            _ => panic!("seed {seed}: neither valid nor invalid: {}", out.describe()),
        }
    }
    panic!("the planted {bug} bug was not found in {max_seeds} seeds: {tries:?}");
}

/// The key that the invalid linearizability check of `results` explains; asserts that the
/// explanation also names the op that cannot be linearized.
pub fn explained_key(results: &Value) -> String {
    let check = results["checks"]
        .as_array()
        .and_then(|checks| checks.iter().find(|c| c["check"] == "linearizable"))
        .expect("a linearizable check");
    assert_eq!(check["verdict"], "invalid", "{check:#}");
    let explanation = &check["details"]["explanation"];
    let culprit = explanation["culprit"]["op"].as_str().unwrap_or_default();
    assert!(
        !culprit.is_empty(),
        "the explanation names the op that cannot be linearized: {explanation:#}"
    );
    explanation["key"]
        .as_str()
        .unwrap_or_else(|| panic!("the explanation names a key: {explanation:#}"))
        .to_string()
}

/// A test that needs a tool (a browser, root) and cannot find it: under CI (`CI=true`),
/// where every tool is installed, that is a failure; locally the test skips with `reason`
/// printed.
pub fn tool_missing(reason: &str) {
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CI=true and a required tool is missing: {reason}"
    );
    println!("skipped: {reason}");
}
