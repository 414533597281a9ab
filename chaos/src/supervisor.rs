//! The supervisor: the one place in faultline that starts node processes and signals them.
//!
//! Node control sits behind [`NodeControl`] so that other backends (nodes on remote hosts
//! driven over SSH, say) plug in without touching the runner. [`Supervisor`] is the local
//! backend: every node is an OS process of this machine.
//!
//! # How a node is started
//!
//! - In its own process group (`setpgid(0, 0)`), so that kill, stop and continue reach the
//!   node and anything it forked, and a Ctrl-C on the terminal does not reach it directly.
//! - With `PR_SET_PDEATHSIG(SIGKILL)`, so that the node dies with the controller even when
//!   the controller is killed with SIGKILL and no destructor runs. Right after `prctl` the
//!   child compares `getppid()` with the controller's pid: if the controller died between
//!   `fork` and `prctl`, the signal would never come, so the child refuses to start.
//! - stdout and stderr appended to `nodes/<id>.log`, so that a restart keeps the old log.
//! - Optionally inside a network namespace: the child `setns()`es into it before `exec`.
//!
//! # Why a dedicated spawner thread
//!
//! Linux delivers the parent-death signal when the *thread* that forked the child exits,
//! not when the process does. A node forked from a tokio blocking-pool thread would be
//! killed whenever the pool retires that idle thread: nodes would die at random. Every node
//! is therefore forked by one long-lived thread that the [`Supervisor`] owns; it receives
//! spawn requests over a channel and lives until the supervisor is dropped, which kills and
//! reaps every node first.
//!
//! # Killing
//!
//! SIGKILL to the whole process group, SIGCONT as well (so that no member of a paused group
//! is left stopped), then `waitpid` with a bounded wait. Dropping the supervisor kills and
//! reaps every node.
//!
//! [`run_tool`] runs short-lived helper programs (`ip`, `nft`) with a timeout, [`run_probe`]
//! a user's probe command (own group, death signal), and [`PipedSpawner`] the processes a
//! run talks to over pipes (stdio client adapters), from a spawner thread like the nodes';
//! they live here so that all process creation is in this file.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

/// How long a killed node may take to be reaped before we report an error.
pub const REAP_TIMEOUT_MS: u64 = 5_000;

/// How often a bounded wait polls `waitpid`.
const WAIT_POLL_MS: u64 = 2;

/// Everything needed to start (and restart) one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeSpec {
    /// The node's id, e.g. `n1`.
    pub id: String,
    /// The executable.
    pub program: PathBuf,
    /// Its arguments (not including the program itself).
    pub args: Vec<String>,
    /// stdout and stderr are appended here.
    pub log_path: PathBuf,
    /// A network namespace file (e.g. `/run/netns/fl-...-n1`) to enter before `exec`.
    pub netns: Option<PathBuf>,
}

/// What the supervisor knows about a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeState {
    /// Started and not stopped.
    Running,
    /// Stopped with SIGSTOP.
    Paused,
    /// Killed by us, or never started.
    Down,
    /// Exited on its own (crash or normal exit); holds the exit code if there was one.
    Exited(Option<i32>),
}

/// Errors of node control.
#[derive(Debug, thiserror::Error)]
pub enum SupervisorError {
    #[error("unknown node {0:?}")]
    UnknownNode(String),
    #[error("node {0:?} is already running")]
    AlreadyRunning(String),
    #[error("node {0:?} is not running")]
    NotRunning(String),
    #[error("cannot open log file {path}: {source}")]
    Log { path: PathBuf, source: io::Error },
    #[error("cannot open network namespace {path}: {source}")]
    Netns { path: PathBuf, source: io::Error },
    #[error("cannot start node {id:?} ({program}): {source}")]
    Spawn {
        id: String,
        program: PathBuf,
        source: io::Error,
    },
    #[error("cannot signal node {id:?} with {signal}: {source}")]
    Signal {
        id: String,
        signal: Signal,
        source: nix::Error,
    },
    #[error("node {id:?} (pid {pid}) was not reaped within {timeout_ms} ms after SIGKILL")]
    ReapTimeout {
        id: String,
        pid: u32,
        timeout_ms: u64,
    },
    #[error("waiting for node {id:?}: {source}")]
    Wait { id: String, source: io::Error },
    #[error("the spawner thread is gone")]
    SpawnerGone,
    #[error("{program} {args:?} failed: {detail}")]
    Tool {
        program: String,
        args: Vec<String>,
        detail: String,
    },
}

/// Control over the nodes of a cluster, whatever runs them.
///
/// Methods are synchronous and short: each one either signals a process or starts one.
pub trait NodeControl: Send {
    /// Starts a node that is not running. A later [`NodeControl::restart`] reuses `spec`.
    fn start(&mut self, spec: NodeSpec) -> Result<(), SupervisorError>;
    /// kill -9 the node and reap it. Killing a node that is already down is not an error.
    fn kill(&mut self, id: &str) -> Result<(), SupervisorError>;
    /// Starts a node again with the spec of its last start (same data directory).
    fn restart(&mut self, id: &str) -> Result<(), SupervisorError>;
    /// SIGSTOP the node.
    fn pause(&mut self, id: &str) -> Result<(), SupervisorError>;
    /// SIGCONT the node. Resuming a node that is not paused is not an error.
    fn resume(&mut self, id: &str) -> Result<(), SupervisorError>;
    /// The node's state; notices nodes that exited on their own.
    fn state(&mut self, id: &str) -> Result<NodeState, SupervisorError>;
    /// The node's process id while it runs (local backends only).
    fn pid(&self, id: &str) -> Option<u32>;
    /// Resumes and kills every node, reaping each; returns the first error after trying all.
    fn kill_all(&mut self) -> Result<(), SupervisorError>;
}

/// What the spawner thread starts: a node, or a piped process (a stdio adapter).
enum SpawnJob {
    Node(NodeSpec),
    Piped(PipedSpec),
}

impl SpawnJob {
    fn id(&self) -> &str {
        match self {
            SpawnJob::Node(spec) => &spec.id,
            SpawnJob::Piped(spec) => &spec.id,
        }
    }
}

struct SpawnRequest {
    job: SpawnJob,
    reply: mpsc::SyncSender<Result<Child, SupervisorError>>,
}

/// A process the controller talks to over its stdin and stdout (a stdio client adapter):
/// started like a node (own process group, `PR_SET_PDEATHSIG`), stdin and stdout piped,
/// stderr appended to `log_path`, with `env` added to the controller's environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipedSpec {
    /// For messages, e.g. `adapter 3`.
    pub id: String,
    pub program: PathBuf,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub log_path: PathBuf,
}

/// The long-lived thread that forks every node (see the module docs for why).
struct Spawner {
    requests: Option<mpsc::SyncSender<SpawnRequest>>,
    thread: Option<JoinHandle<()>>,
}

impl Spawner {
    fn start() -> io::Result<Spawner> {
        // A small bound: callers wait for each reply, so the queue never grows beyond them.
        let (tx, rx) = mpsc::sync_channel::<SpawnRequest>(8);
        let thread = std::thread::Builder::new()
            .name("faultline-spawner".into())
            .spawn(move || {
                for request in rx {
                    let result = match &request.job {
                        SpawnJob::Node(spec) => spawn_node_process(spec),
                        SpawnJob::Piped(spec) => spawn_piped_process(spec),
                    };
                    // The requester may have given up; the child is then killed below.
                    if let Err(mpsc::SendError(Ok(mut child))) = request.reply.send(result) {
                        kill_group_and_reap(request.job.id(), &mut child).ok();
                    }
                }
            })?;
        Ok(Spawner {
            requests: Some(tx),
            thread: Some(thread),
        })
    }

    fn spawn(&self, job: SpawnJob) -> Result<Child, SupervisorError> {
        let (reply_tx, reply_rx) = mpsc::sync_channel(1);
        let requests = self.requests.as_ref().ok_or(SupervisorError::SpawnerGone)?;
        requests
            .send(SpawnRequest {
                job,
                reply: reply_tx,
            })
            .map_err(|_| SupervisorError::SpawnerGone)?;
        reply_rx.recv().map_err(|_| SupervisorError::SpawnerGone)?
    }
}

impl Drop for Spawner {
    fn drop(&mut self) {
        self.requests.take();
        if let Some(thread) = self.thread.take() {
            thread.join().ok();
        }
    }
}

/// Makes the child of `command` die with the calling thread's process (and so never
/// outlive the controller, even one killed by SIGKILL): its own process group, so that a
/// kill reaches everything it starts, and `PR_SET_PDEATHSIG(SIGKILL)`, checked against the
/// race where the parent died before `prctl` ran. With `netns`, the child enters that
/// network namespace before exec. Note that the death signal follows the *thread* that
/// forked: spawn from a thread that lives as long as the child should.
pub fn die_with_parent(command: &mut Command, netns: Option<OwnedFd>) {
    let parent_pid = nix::unistd::getpid();
    command.process_group(0);
    // SAFETY: the closure runs between fork and exec in the child and only makes
    // async-signal-safe system calls (prctl, getppid, setns); it allocates nothing.
    unsafe {
        command.pre_exec(move || {
            nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(io::Error::from)?;
            if nix::unistd::getppid() != parent_pid {
                // The parent died before prctl: the death signal will never come.
                return Err(io::Error::from_raw_os_error(nix::libc::ESRCH));
            }
            if let Some(fd) = &netns {
                nix::sched::setns(fd, nix::sched::CloneFlags::CLONE_NEWNET)
                    .map_err(io::Error::from)?;
            }
            Ok(())
        });
    }
}

/// Runs on the spawner thread: forks and execs one node.
fn spawn_node_process(spec: &NodeSpec) -> Result<Child, SupervisorError> {
    let log = open_log(&spec.log_path)?;
    let log_for_stderr = log.try_clone().map_err(|source| SupervisorError::Log {
        path: spec.log_path.clone(),
        source,
    })?;
    let netns_fd: Option<OwnedFd> = match &spec.netns {
        Some(path) => Some(
            File::open(path)
                .map_err(|source| SupervisorError::Netns {
                    path: path.clone(),
                    source,
                })?
                .into(),
        ),
        None => None,
    };
    let mut command = Command::new(&spec.program);
    command
        .args(&spec.args)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_for_stderr);
    die_with_parent(&mut command, netns_fd);
    command.spawn().map_err(|source| SupervisorError::Spawn {
        id: spec.id.clone(),
        program: spec.program.clone(),
        source,
    })
}

/// Runs on the spawner thread: forks and execs one piped process.
fn spawn_piped_process(spec: &PipedSpec) -> Result<Child, SupervisorError> {
    let log = open_log(&spec.log_path)?;
    let mut command = Command::new(&spec.program);
    command
        .args(&spec.args)
        .envs(spec.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(log);
    die_with_parent(&mut command, None);
    command.spawn().map_err(|source| SupervisorError::Spawn {
        id: spec.id.clone(),
        program: spec.program.clone(),
        source,
    })
}

/// Starts the processes a run talks to over pipes (stdio client adapters) from a thread of
/// its own, for the reason in the module docs: each dies with the controller, and with
/// this spawner's thread (so dropping the spawner after its processes were killed leaves
/// none behind). Kill with [`PipedSpawner::kill`]: the whole group, reaped.
pub struct PipedSpawner {
    spawner: Spawner,
}

impl PipedSpawner {
    /// Starts the spawner thread.
    pub fn new() -> Result<PipedSpawner, SupervisorError> {
        let spawner = Spawner::start().map_err(|source| SupervisorError::Spawn {
            id: "<piped spawner thread>".into(),
            program: PathBuf::new(),
            source,
        })?;
        Ok(PipedSpawner { spawner })
    }

    /// Starts `spec` (see [`PipedSpec`]).
    pub fn spawn(&self, spec: PipedSpec) -> Result<Child, SupervisorError> {
        self.spawner.spawn(SpawnJob::Piped(spec))
    }

    /// SIGKILL (and SIGCONT) `child`'s process group, then reaps it with a bounded wait.
    pub fn kill(&self, id: &str, child: &mut Child) -> Result<(), SupervisorError> {
        kill_group_and_reap(id, child).map(|_| ())
    }
}

fn open_log(path: &Path) -> Result<File, SupervisorError> {
    let open = || -> io::Result<File> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        OpenOptions::new().create(true).append(true).open(path)
    };
    open().map_err(|source| SupervisorError::Log {
        path: path.to_path_buf(),
        source,
    })
}

/// SIGKILL (and SIGCONT) the child's process group, then reap the child with a bounded wait.
fn kill_group_and_reap(id: &str, child: &mut Child) -> Result<ExitStatus, SupervisorError> {
    let group = Pid::from_raw(child.id() as i32);
    for signal in [Signal::SIGKILL, Signal::SIGCONT] {
        match killpg(group, signal) {
            // ESRCH: the group is gone already (its leader may still need reaping).
            Ok(()) | Err(nix::Error::ESRCH) => {}
            Err(source) => {
                return Err(SupervisorError::Signal {
                    id: id.to_string(),
                    signal,
                    source,
                });
            }
        }
    }
    wait_bounded(id, child, Duration::from_millis(REAP_TIMEOUT_MS))
}

fn wait_bounded(
    id: &str,
    child: &mut Child,
    timeout: Duration,
) -> Result<ExitStatus, SupervisorError> {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Ok(status),
            Ok(None) if Instant::now() >= deadline => {
                return Err(SupervisorError::ReapTimeout {
                    id: id.to_string(),
                    pid: child.id(),
                    timeout_ms: timeout.as_millis() as u64,
                });
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(WAIT_POLL_MS)),
            Err(source) => {
                return Err(SupervisorError::Wait {
                    id: id.to_string(),
                    source,
                });
            }
        }
    }
}

/// How long `pause` waits for the node to show as stopped in /proc.
const STOP_TIMEOUT_MS: u64 = 1_000;

/// Polls /proc/<pid>/stat until the process is stopped (`T`), gone, or `timeout` passes.
fn wait_until_stopped(pid: u32, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            return;
        };
        // The state letter follows the command name, which is in parentheses.
        let state = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.trim_start().chars().next());
        if matches!(state, Some('T') | Some('t') | Some('Z') | None) {
            return;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    tracing::warn!(
        pid,
        "node not stopped {} ms after SIGSTOP",
        timeout.as_millis()
    );
}

struct NodeEntry {
    spec: NodeSpec,
    child: Option<Child>,
    paused: bool,
    exited: Option<Option<i32>>,
}

/// The local node backend: nodes are processes of this machine.
pub struct Supervisor {
    nodes: BTreeMap<String, NodeEntry>,
    // Declared last so that it is dropped after every node has been killed in `drop`.
    spawner: Spawner,
}

impl Supervisor {
    /// Starts the spawner thread.
    pub fn new() -> Result<Supervisor, SupervisorError> {
        let spawner = Spawner::start().map_err(|source| SupervisorError::Spawn {
            id: "<spawner thread>".into(),
            program: PathBuf::new(),
            source,
        })?;
        Ok(Supervisor {
            nodes: BTreeMap::new(),
            spawner,
        })
    }

    fn entry(&mut self, id: &str) -> Result<&mut NodeEntry, SupervisorError> {
        self.nodes
            .get_mut(id)
            .ok_or_else(|| SupervisorError::UnknownNode(id.to_string()))
    }

    fn signal_running(&mut self, id: &str, signal: Signal) -> Result<(), SupervisorError> {
        let entry = self.entry(id)?;
        let child = entry
            .child
            .as_ref()
            .ok_or_else(|| SupervisorError::NotRunning(id.to_string()))?;
        killpg(Pid::from_raw(child.id() as i32), signal).map_err(|source| SupervisorError::Signal {
            id: id.to_string(),
            signal,
            source,
        })
    }

    fn spawn_entry(&mut self, spec: NodeSpec) -> Result<(), SupervisorError> {
        let id = spec.id.clone();
        let child = self.spawner.spawn(SpawnJob::Node(spec.clone()))?;
        tracing::debug!(node = %id, pid = child.id(), "node started");
        self.nodes.insert(
            id,
            NodeEntry {
                spec,
                child: Some(child),
                paused: false,
                exited: None,
            },
        );
        Ok(())
    }

    /// Notes a node that exited by itself, so that its state says so.
    fn poll_exit(&mut self, id: &str) -> Result<(), SupervisorError> {
        let entry = self.entry(id)?;
        if let Some(child) = entry.child.as_mut() {
            let status = child.try_wait().map_err(|source| SupervisorError::Wait {
                id: id.to_string(),
                source,
            })?;
            if let Some(status) = status {
                // Kill the rest of its group, if anything of it is left.
                killpg(Pid::from_raw(child.id() as i32), Signal::SIGKILL).ok();
                entry.child = None;
                entry.paused = false;
                entry.exited = Some(status.code());
            }
        }
        Ok(())
    }
}

impl NodeControl for Supervisor {
    fn start(&mut self, spec: NodeSpec) -> Result<(), SupervisorError> {
        if self.nodes.contains_key(&spec.id) {
            self.poll_exit(&spec.id)?;
            if self.nodes[&spec.id].child.is_some() {
                return Err(SupervisorError::AlreadyRunning(spec.id));
            }
        }
        self.spawn_entry(spec)
    }

    fn kill(&mut self, id: &str) -> Result<(), SupervisorError> {
        let entry = self.entry(id)?;
        if let Some(mut child) = entry.child.take() {
            entry.paused = false;
            kill_group_and_reap(id, &mut child)?;
            tracing::debug!(node = %id, "node killed");
        }
        Ok(())
    }

    fn restart(&mut self, id: &str) -> Result<(), SupervisorError> {
        let spec = self.entry(id)?.spec.clone();
        self.start(spec)
    }

    fn pause(&mut self, id: &str) -> Result<(), SupervisorError> {
        self.signal_running(id, Signal::SIGSTOP)?;
        self.entry(id)?.paused = true;
        // SIGSTOP takes effect asynchronously; return once the node is really stopped, so
        // that a fault's start time is when the node stopped.
        if let Some(pid) = self.pid(id) {
            wait_until_stopped(pid, Duration::from_millis(STOP_TIMEOUT_MS));
        }
        Ok(())
    }

    fn resume(&mut self, id: &str) -> Result<(), SupervisorError> {
        if self.entry(id)?.child.is_none() {
            return Ok(());
        }
        self.signal_running(id, Signal::SIGCONT)?;
        self.entry(id)?.paused = false;
        Ok(())
    }

    fn state(&mut self, id: &str) -> Result<NodeState, SupervisorError> {
        self.poll_exit(id)?;
        let entry = self.entry(id)?;
        Ok(match (&entry.child, entry.paused, entry.exited) {
            (Some(_), true, _) => NodeState::Paused,
            (Some(_), false, _) => NodeState::Running,
            (None, _, Some(code)) => NodeState::Exited(code),
            (None, _, None) => NodeState::Down,
        })
    }

    fn pid(&self, id: &str) -> Option<u32> {
        self.nodes.get(id)?.child.as_ref().map(Child::id)
    }

    fn kill_all(&mut self) -> Result<(), SupervisorError> {
        let ids: Vec<String> = self.nodes.keys().cloned().collect();
        let mut first_error = None;
        for id in ids {
            if let Err(error) = self.kill(&id) {
                tracing::warn!(node = %id, %error, "kill failed");
                first_error.get_or_insert(error);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        if let Err(error) = self.kill_all() {
            tracing::error!(%error, "could not kill every node while dropping the supervisor");
        }
    }
}

/// What a probe command ([`run_probe`]) did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeOutput {
    /// Whether it exited with status 0.
    pub success: bool,
    /// How it ended (`exit status: 1`), for messages.
    pub status: String,
    pub stdout: String,
    pub stderr: String,
}

/// Runs a user's probe command (a system's `ready: { exec }` or `leader: { exec }`) to
/// completion within `timeout`, with `env` added: in its own process group with
/// `PR_SET_PDEATHSIG`, so that neither a hung probe (its group is killed at the timeout)
/// nor a controller killed meanwhile leaves it behind. The calling thread blocks until it
/// ends, which keeps the death signal armed (call from a blocking task).
pub fn run_probe(
    program: &str,
    args: &[String],
    env: &[(String, String)],
    timeout: Duration,
) -> Result<ProbeOutput, SupervisorError> {
    let spawn_error = |source| SupervisorError::Spawn {
        id: "<probe>".into(),
        program: PathBuf::from(program),
        source,
    };
    let mut command = Command::new(program);
    command
        .args(args)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    die_with_parent(&mut command, None);
    let mut child = command.spawn().map_err(spawn_error)?;
    // Drain both pipes on helper threads so that a chatty probe cannot block on a full pipe.
    let drain = |pipe: Option<Box<dyn io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut text = Vec::new();
            if let Some(mut pipe) = pipe {
                // At most 64 KiB is kept; the rest is read and dropped.
                let mut buffer = [0u8; 8192];
                while let Ok(n) = pipe.read(&mut buffer) {
                    if n == 0 {
                        break;
                    }
                    if text.len() < 65_536 {
                        text.extend_from_slice(&buffer[..n]);
                    }
                }
            }
            String::from_utf8_lossy(&text).into_owned()
        })
    };
    use std::io::Read;
    let stdout = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn io::Read + Send>),
    );
    let stderr = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn io::Read + Send>),
    );
    let waited = wait_bounded("<probe>", &mut child, timeout);
    let status = match waited {
        Ok(status) => status,
        Err(SupervisorError::ReapTimeout { .. }) => {
            kill_group_and_reap("<probe>", &mut child)?;
            return Ok(ProbeOutput {
                success: false,
                status: format!("timed out after {} ms", timeout.as_millis()),
                stdout: String::new(),
                stderr: String::new(),
            });
        }
        Err(other) => return Err(other),
    };
    // The probe's own children may hold the pipes open: kill what is left of its group.
    killpg(Pid::from_raw(child.id() as i32), Signal::SIGKILL).ok();
    Ok(ProbeOutput {
        success: status.success(),
        status: status.to_string(),
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    })
}

/// Runs a short-lived tool (`ip`, `nft`) to completion with a timeout, feeding it `stdin`.
/// Fails with the tool's stderr when it exits unsuccessfully.
pub fn run_tool(
    program: &str,
    args: &[&str],
    stdin: Option<&str>,
    timeout: Duration,
) -> Result<String, SupervisorError> {
    let tool_error = |detail: String| SupervisorError::Tool {
        program: program.to_string(),
        args: args.iter().map(|a| a.to_string()).collect(),
        detail,
    };
    let mut child = Command::new(program)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| tool_error(e.to_string()))?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(text.as_bytes())
            .map_err(|e| tool_error(format!("writing stdin: {e}")))?;
    }
    // Collect the output on a helper thread so that a chatty tool cannot block on a full
    // pipe while we wait; give up (and kill it) after `timeout`.
    let pid = Pid::from_raw(child.id() as i32);
    let (done_tx, done_rx) = mpsc::sync_channel(1);
    std::thread::spawn(move || done_tx.send(child.wait_with_output()).ok());
    let output = match done_rx.recv_timeout(timeout) {
        Ok(result) => result.map_err(|e| tool_error(e.to_string()))?,
        Err(_) => {
            nix::sys::signal::kill(pid, Signal::SIGKILL).ok();
            return Err(tool_error(format!(
                "timed out after {} ms",
                timeout.as_millis()
            )));
        }
    };
    let status = output.status;
    if !status.success() {
        return Err(tool_error(format!(
            "{status}: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}
