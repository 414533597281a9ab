//! Nodes on remote hosts over OpenSSH: the `ssh` implementation of [`NodeControl`].
//!
//! One host per node, listed in a hosts file ([`load_hosts`]):
//!
//! ```yaml
//! identity: /root/.ssh/faultline          # default for every host (optional)
//! known_hosts: /root/.ssh/known_hosts     # optional; new host keys are accepted
//! hosts:
//!   - node: n1
//!     ssh: root@10.0.0.11:22              # user@host[:port]
//!     dir: /var/lib/faultline             # where runs live on the host
//!     addr: 10.0.0.11                     # the node listens here (default: the ssh host)
//! ```
//!
//! Each host needs the node's program at the path the controller gives (faultline's own
//! systems run the controller's own executable: copy it to the same path on every host),
//! and `sh`, `setsid`, `flock`, `nft`. Addresses are IPv4 (`ip daddr` rules).
//!
//! # Connections
//!
//! The system `ssh` client, one ControlMaster connection per host for the whole run
//! (`ssh -M -N`, started by a local [`Supervisor`] so that it dies with the controller, even
//! on SIGKILL); every command is a multiplexed session over it (`-o ControlMaster=no`), so a
//! fault costs one round trip, not a handshake. Why the system client and not an SSH crate:
//! it reads the user's own `~/.ssh/config`, agent, known hosts and jump hosts as they are,
//! multiplexing is built in, and it is what operators already debug with. Every remote
//! command has a timeout ([`REMOTE_TIMEOUT_MS`]); a host that does not answer within
//! [`CONNECT_TIMEOUT_MS`] is an error naming it, and nothing is left started on the others.
//!
//! # On each host, for run `R` (`<dir>/R/`)
//!
//! - `nodes/<id>.log`: the node's stdout and stderr, copied to the local `nodes/<id>.log`
//!   when the nodes are killed at the end ([`NodeControl::kill_all`]);
//! - `data/<id>/`: its data directory (mode 700);
//! - `pgids`: every process group started, one a line (the node is started with `setsid`,
//!   so its pid is its group's id: kill -9, SIGSTOP and SIGCONT go to the whole group);
//! - a watchdog (`sh`, a session of the host's ControlMaster connection): when that
//!   connection drops (the controller died: its master `ssh` dies with it), it deletes the
//!   run's nftables table `inet faultline-R` and SIGCONTs and SIGKILLs every group in
//!   `pgids`. It polls its parent, the sshd process of the connection, every 100 ms. A
//!   normal end stops it first (the file `stop`). A command the controller sent just before
//!   it died may still be running on the host: node starts and rule changes therefore take
//!   the run's lock (`flock lock`) and do nothing once the watchdog, under the same lock,
//!   has left the file `dead` ([`locked`]).
//!
//! `faultline cleanup --hosts FILE` does the watchdog's work by hand for every run on the
//! hosts ([`cleanup_hosts`]).

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::supervisor::{NodeControl, NodeSpec, NodeState, Supervisor, SupervisorError, run_tool};

/// Timeout of one remote command.
pub const REMOTE_TIMEOUT_MS: u64 = 10_000;
/// How long a host's ControlMaster connection may take to come up.
pub const CONNECT_TIMEOUT_MS: u64 = 10_000;
/// How long a killed node's group may take to disappear on its host.
const REMOTE_REAP_POLLS: u32 = 500;
/// A shell function, `fields PID`: sets `state` (the letter of `/proc/PID/stat`, `Z` when
/// there is no such process) and `pgrp`, without forking a program.
const STAT_FIELDS: &str = "fields() { state=Z; pgrp=; read -r l 2>/dev/null < /proc/$1/stat || return 0; set -- ${l##*) }; state=$1; pgrp=$3; }";
/// Prefix of the nftables tables faultline makes on hosts.
pub const TABLE_PREFIX: &str = "faultline-";

/// One node's host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostSpec {
    pub node: String,
    /// `user@host` (or `host`).
    pub target: String,
    pub port: u16,
    pub identity: Option<PathBuf>,
    pub known_hosts: Option<PathBuf>,
    /// Where runs live on the host.
    pub dir: PathBuf,
    /// The address the node listens on and its peers reach it at.
    pub addr: IpAddr,
}

impl HostSpec {
    /// The run's directory on the host.
    pub fn run_dir(&self, run_id: &str) -> PathBuf {
        self.dir.join(run_id)
    }
}

/// Errors of the SSH backend and of the hosts file.
#[derive(Debug, thiserror::Error)]
pub enum SshError {
    #[error("{file}: {detail}")]
    HostsFile { file: String, detail: String },
    #[error("host of {node} ({target}): {detail}")]
    Host {
        node: String,
        target: String,
        detail: String,
    },
    #[error("no host for node {0:?} in the hosts file")]
    NoHost(String),
    #[error(transparent)]
    Supervisor(#[from] SupervisorError),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHosts {
    identity: Option<PathBuf>,
    known_hosts: Option<PathBuf>,
    hosts: Vec<RawHost>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHost {
    node: String,
    ssh: String,
    identity: Option<PathBuf>,
    dir: PathBuf,
    addr: Option<IpAddr>,
}

/// Reads a hosts file (see the module docs); errors name the file (and line and column).
pub fn load_hosts(path: &Path) -> Result<Vec<HostSpec>, SshError> {
    let file = path.display().to_string();
    let bad = |detail: String| SshError::HostsFile {
        file: file.clone(),
        detail,
    };
    let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
    let raw: RawHosts = serde_saphyr::from_str(&text).map_err(|e| bad(e.to_string()))?;
    let mut hosts = Vec::with_capacity(raw.hosts.len());
    for host in raw.hosts {
        let (target, port) =
            parse_ssh(&host.ssh).map_err(|detail| bad(format!("{}: {detail}", host.node)))?;
        let name = target.rsplit('@').next().unwrap_or(&target).to_string();
        let addr = match host.addr {
            Some(addr) => addr,
            None => name.parse().map_err(|_| {
                bad(format!(
                    "{}: `addr` is needed when the ssh host {name:?} is not an IP address",
                    host.node
                ))
            })?,
        };
        let dir = host.dir.to_string_lossy().into_owned();
        if !host.dir.is_absolute() || dir.contains(['\'', '"', '$', '`', '\\', ' ']) {
            return Err(bad(format!(
                "{}: `dir` must be an absolute path without quotes, spaces, `$` or backslashes, got {dir:?}",
                host.node
            )));
        }
        if hosts.iter().any(|h: &HostSpec| h.node == host.node) {
            return Err(bad(format!("node {} is listed twice", host.node)));
        }
        hosts.push(HostSpec {
            node: host.node,
            target,
            port,
            identity: host.identity.or_else(|| raw.identity.clone()),
            known_hosts: raw.known_hosts.clone(),
            dir: host.dir,
            addr,
        });
    }
    Ok(hosts)
}

/// `user@host[:port]` to (`user@host`, port).
fn parse_ssh(text: &str) -> Result<(String, u16), String> {
    let expected = || format!("expected `ssh: user@host[:port]`, got {text:?}");
    let (target, port) = match text.rsplit_once(':') {
        Some((target, port)) => (target, port.parse::<u16>().map_err(|_| expected())?),
        None => (text, 22),
    };
    if target.is_empty() || target.contains(char::is_whitespace) {
        return Err(expected());
    }
    Ok((target.to_string(), port))
}

/// A string as one word of a POSIX shell command line.
pub fn shell_quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', "'\\''"))
}

/// One host's ControlMaster connection (its `ssh -M` runs under [`SshHosts`]' supervisor).
#[derive(Debug)]
pub struct SshHost {
    pub spec: HostSpec,
    control_path: PathBuf,
}

impl SshHost {
    fn base_args(&self) -> Vec<String> {
        let mut args = vec![
            "-o".to_string(),
            format!("ControlPath={}", self.control_path.display()),
            "-o".into(),
            "BatchMode=yes".into(),
            "-o".into(),
            "ConnectTimeout=5".into(),
            "-o".into(),
            "ServerAliveInterval=2".into(),
            "-o".into(),
            "ServerAliveCountMax=3".into(),
            "-p".into(),
            self.spec.port.to_string(),
        ];
        if let Some(identity) = &self.spec.identity {
            args.extend([
                "-i".into(),
                identity.display().to_string(),
                "-o".into(),
                "IdentitiesOnly=yes".into(),
            ]);
        }
        if let Some(known) = &self.spec.known_hosts {
            args.extend([
                "-o".into(),
                format!("UserKnownHostsFile={}", known.display()),
                "-o".into(),
                "StrictHostKeyChecking=accept-new".into(),
            ]);
        }
        args
    }

    fn master_args(&self) -> Vec<String> {
        let mut args = vec![
            "-M".to_string(),
            "-N".into(),
            "-o".into(),
            "ControlPersist=no".into(),
        ];
        args.extend(self.base_args());
        args.push(self.spec.target.clone());
        args
    }

    /// `ssh ... target -- CMD` over the master connection.
    fn session_args(&self, remote_command: &str) -> Vec<String> {
        let mut args = vec!["-o".to_string(), "ControlMaster=no".into()];
        args.extend(self.base_args());
        args.extend([
            self.spec.target.clone(),
            "--".into(),
            remote_command.to_string(),
        ]);
        args
    }

    /// Runs `script` with `sh -s` on the host, over the master connection; its stdout.
    pub fn run(&self, script: &str) -> Result<String, SshError> {
        let args = self.session_args("sh -s");
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        run_tool(
            "ssh",
            &refs,
            Some(script),
            Duration::from_millis(REMOTE_TIMEOUT_MS),
        )
        .map_err(|e| self.error(e.to_string()))
    }

    fn error(&self, detail: String) -> SshError {
        SshError::Host {
            node: self.spec.node.clone(),
            target: self.spec.target.clone(),
            detail,
        }
    }

    /// Whether the master connection is up (`ssh -O check`).
    fn master_up(&self) -> bool {
        let mut args = vec!["-O".to_string(), "check".into()];
        args.extend(self.base_args());
        args.push(self.spec.target.clone());
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        run_tool("ssh", &refs, None, Duration::from_millis(REMOTE_TIMEOUT_MS)).is_ok()
    }
}

/// The hosts of one run: a connection and a watchdog on each. Shared by the node backend
/// ([`SshNodes`]) and the hosts' network ([`crate::network::ssh::SshNetwork`]).
pub struct SshHosts {
    run_id: String,
    hosts: BTreeMap<String, SshHost>,
    /// The local `ssh` processes: masters and the watchdogs' sessions.
    local: Mutex<Supervisor>,
    /// The nodes whose host runs a watchdog of ours (stood down on drop).
    watched: Vec<String>,
    _control_dir: tempfile::TempDir,
}

impl std::fmt::Debug for SshHosts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SshHosts")
            .field("run_id", &self.run_id)
            .field("hosts", &self.hosts)
            .finish()
    }
}

/// A local `ssh` process of the backend (a master or a watchdog's session).
fn local_ssh(id: String, args: Vec<String>, log_dir: &Path) -> NodeSpec {
    NodeSpec {
        log_path: log_dir.join(format!("{id}.log")),
        id,
        program: PathBuf::from("ssh"),
        args,
        netns: None,
    }
}

impl SshHosts {
    /// Connects to every host (in parallel) and starts a watchdog on each. On any failure
    /// everything started is stopped again and the error names the host. `log_dir` gets
    /// the local `ssh` processes' logs.
    pub fn connect(
        run_id: &str,
        hosts: Vec<HostSpec>,
        log_dir: &Path,
    ) -> Result<SshHosts, SshError> {
        let control_dir = tempfile::Builder::new()
            .prefix("fl-ssh-")
            .tempdir_in("/tmp")
            .map_err(|e| {
                SshError::Supervisor(SupervisorError::Log {
                    path: "/tmp".into(),
                    source: e,
                })
            })?;
        std::fs::create_dir_all(log_dir).map_err(|source| SupervisorError::Log {
            path: log_dir.to_path_buf(),
            source,
        })?;
        let mut local = Supervisor::new()?;
        let mut connected = BTreeMap::new();
        for (k, spec) in hosts.into_iter().enumerate() {
            let host = SshHost {
                control_path: control_dir.path().join(format!("h{k}")),
                spec,
            };
            local.start(local_ssh(
                format!("ssh-{}", host.spec.node),
                host.master_args(),
                log_dir,
            ))?;
            connected.insert(host.spec.node.clone(), host);
        }
        let mut hosts = SshHosts {
            run_id: run_id.to_string(),
            hosts: connected,
            local: Mutex::new(local),
            watched: Vec::new(),
            _control_dir: control_dir,
        };
        // On an error `hosts` is dropped: its supervisor kills every master started.
        hosts.wait_masters(log_dir)?;
        let nodes: Vec<String> = hosts.hosts.keys().cloned().collect();
        for node in nodes {
            let host = &hosts.hosts[&node];
            let run = host.spec.run_dir(run_id);
            host.run(&format!(
                "set -e; mkdir -p {run}/nodes {run}/data; chmod 700 {run}/data; : > {run}/pgids; rm -f {run}/stop\n",
                run = run.display()
            ))?;
            let session =
                host.session_args(&format!("exec sh -c '{}'", watchdog_script(&run, run_id)));
            hosts
                .local
                .lock()
                .expect("local supervisor")
                .start(local_ssh(format!("watchdog-{node}"), session, log_dir))?;
            hosts.watched.push(node);
        }
        for host in hosts.hosts.values() {
            hosts.wait_watchdog(host)?;
        }
        Ok(hosts)
    }

    fn wait_masters(&self, log_dir: &Path) -> Result<(), SshError> {
        let deadline = Instant::now() + Duration::from_millis(CONNECT_TIMEOUT_MS);
        for host in self.hosts.values() {
            loop {
                if host.master_up() {
                    break;
                }
                let id = format!("ssh-{}", host.spec.node);
                let exited = matches!(
                    self.local.lock().expect("local supervisor").state(&id)?,
                    NodeState::Exited(_)
                );
                if exited || Instant::now() >= deadline {
                    let log = crate::cluster::log_tail(&log_dir.join(format!("{id}.log")), 5);
                    return Err(host.error(format!(
                        "no SSH connection within {CONNECT_TIMEOUT_MS} ms{}: {log}",
                        if exited { " (ssh exited)" } else { "" }
                    )));
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        Ok(())
    }

    fn wait_watchdog(&self, host: &SshHost) -> Result<(), SshError> {
        let run = host.spec.run_dir(&self.run_id);
        let deadline = Instant::now() + Duration::from_millis(REMOTE_TIMEOUT_MS);
        while Instant::now() < deadline {
            if host
                .run(&format!(
                    "test -s {}/watchdog.pid && echo up || true\n",
                    run.display()
                ))?
                .trim()
                == "up"
            {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(host.error("its watchdog did not start".into()))
    }

    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// The host of `node`.
    pub fn host(&self, node: &str) -> Result<&SshHost, SshError> {
        self.hosts
            .get(node)
            .ok_or_else(|| SshError::NoHost(node.to_string()))
    }

    pub fn hosts(&self) -> impl Iterator<Item = &SshHost> {
        self.hosts.values()
    }

    /// The nftables table of this run on every host (`inet faultline-<run>`).
    pub fn table(&self) -> String {
        format!("{TABLE_PREFIX}{}", self.run_id)
    }

    /// Where node `id` keeps its data on its host.
    pub fn data_dir(&self, id: &str) -> Result<PathBuf, SshError> {
        Ok(self
            .host(id)?
            .spec
            .run_dir(&self.run_id)
            .join("data")
            .join(id))
    }

    /// Where node `id` listens, on its host's address.
    pub fn addr(&self, id: &str, port: u16) -> Result<SocketAddr, SshError> {
        Ok(SocketAddr::new(self.host(id)?.spec.addr, port))
    }
}

impl Drop for SshHosts {
    fn drop(&mut self) {
        // A normal end: the watchdogs stand down (the nodes are gone and the network healed
        // by now), then the local supervisor kills the sessions and the masters.
        for host in self.watched.iter().filter_map(|node| self.hosts.get(node)) {
            let run = host.spec.run_dir(&self.run_id);
            let stop = format!(
                "touch {run}/stop; i=0; while [ -e /proc/$(cat {run}/watchdog.pid 2>/dev/null || echo 0) ] && [ $i -lt 50 ]; do sleep 0.02; i=$((i+1)); done\n",
                run = run.display()
            );
            if let Err(error) = host.run(&stop) {
                tracing::error!(%error, "stopping a host's watchdog");
            }
        }
    }
}

/// `script` under the run's lock, and only while the run's watchdog has not acted: a
/// command still in flight when the controller died cannot start a node or cut a link
/// after the watchdog cleaned up. Fd 9 holds the lock; whatever `script` starts for good
/// must close it (`9>&-`).
pub fn locked(run: &Path, script: &str) -> String {
    let run = run.display();
    format!(
        "exec 9> {run}/lock; flock 9
         if [ -e {run}/dead ]; then echo \"the host's watchdog has cleaned up this run: the controller's connection was lost\" >&2; exit 1; fi
         {script}"
    )
}

/// The watchdog (see the module docs); only double quotes, it runs inside `sh -c '...'`.
fn watchdog_script(run: &Path, run_id: &str) -> String {
    let run = run.display();
    format!(
        "echo $$ > {run}/watchdog.pid; trap \"\" HUP PIPE INT TERM; \
         while kill -0 $PPID 2>/dev/null && [ ! -e {run}/stop ]; do sleep 0.1; done; \
         if [ ! -e {run}/stop ]; then \
           exec 9> {run}/lock; flock 9; touch {run}/dead; \
           nft delete table inet {TABLE_PREFIX}{run_id} 2>/dev/null; \
           for g in $(cat {run}/pgids 2>/dev/null); do kill -CONT -$g 2>/dev/null; kill -KILL -$g 2>/dev/null; done; \
           echo \"$(date -u +%FT%TZ) controller connection lost: partition healed, nodes killed\" >> {run}/watchdog.log; \
         fi; rm -f {run}/watchdog.pid"
    )
}

/// What the backend knows about one node.
struct RemoteNode {
    spec: NodeSpec,
    /// The node's process group (= its pid) while it was started and not killed by us.
    pgid: Option<u32>,
}

/// The `ssh` node backend: each node on its own host (see the module docs).
pub struct SshNodes {
    hosts: Arc<SshHosts>,
    nodes: BTreeMap<String, RemoteNode>,
}

impl SshNodes {
    pub fn new(hosts: Arc<SshHosts>) -> SshNodes {
        SshNodes {
            hosts,
            nodes: BTreeMap::new(),
        }
    }

    fn remote_error(e: SshError) -> SupervisorError {
        match e {
            SshError::Supervisor(e) => e,
            other => SupervisorError::Tool {
                program: "ssh".into(),
                args: Vec::new(),
                detail: other.to_string(),
            },
        }
    }

    fn node(&mut self, id: &str) -> Result<&mut RemoteNode, SupervisorError> {
        self.nodes
            .get_mut(id)
            .ok_or_else(|| SupervisorError::UnknownNode(id.to_string()))
    }

    fn run_on(&self, id: &str, script: &str) -> Result<String, SupervisorError> {
        let host = self.hosts.host(id).map_err(Self::remote_error)?;
        host.run(script).map_err(Self::remote_error)
    }

    fn spawn(&mut self, spec: NodeSpec) -> Result<(), SupervisorError> {
        let host = self.hosts.host(&spec.id).map_err(Self::remote_error)?;
        let run = host.spec.run_dir(self.hosts.run_id());
        let mut command = shell_quote(&spec.program.display().to_string());
        for arg in &spec.args {
            command.push(' ');
            command.push_str(&shell_quote(arg));
        }
        // No job control in `sh -s`: the background child is no group leader, so setsid
        // makes it one without forking, and its pid is its group's id (checked below).
        let script = format!(
            "set -e; mkdir -p -m 700 {run}/data/{id}; cd {run}\n\
             setsid {command} >> {run}/nodes/{id}.log 2>&1 < /dev/null 9>&- &\n\
             p=$!; echo $p >> {run}/pgids; i=0\n\
             {STAT_FIELDS}\n\
             while [ \"$(fields $p; echo $pgrp)\" != \"$p\" ] && [ $i -lt 100 ]; do sleep 0.01; i=$((i+1)); done\n\
             echo $p $(fields $p; echo $pgrp)\n",
            run = run.display(),
            id = spec.id,
        );
        let out = self.run_on(&spec.id, &locked(&run, &script))?;
        let mut words = out.split_whitespace();
        let pid: u32 =
            words
                .next()
                .and_then(|w| w.parse().ok())
                .ok_or_else(|| SupervisorError::Tool {
                    program: "ssh".into(),
                    args: vec![spec.id.clone()],
                    detail: format!("starting the node printed {out:?}"),
                })?;
        if words.next() != Some(pid.to_string().as_str()) {
            tracing::warn!(node = %spec.id, pid, "the node is not its own process group leader (it may have exited at once)");
        }
        self.nodes.insert(
            spec.id.clone(),
            RemoteNode {
                spec,
                pgid: Some(pid),
            },
        );
        Ok(())
    }

    /// The node's process state letter on its host (`R`, `S`, `T`, ...; `-` when gone or a
    /// zombie).
    fn remote_state(&self, id: &str, pgid: u32) -> Result<char, SupervisorError> {
        let out = self.run_on(
            id,
            &format!(
                "{STAT_FIELDS}\nfields {pgid}; [ \"$state\" != Z ] && echo $state || echo -\n"
            ),
        )?;
        Ok(out.trim().chars().next().unwrap_or('-'))
    }

    fn signal_group(&mut self, id: &str, signal: &str) -> Result<(), SupervisorError> {
        let pgid = self
            .node(id)?
            .pgid
            .ok_or_else(|| SupervisorError::NotRunning(id.to_string()))?;
        // `kill -SIG -PGID`: dash's kill takes no `--`.
        self.run_on(id, &format!("kill -{signal} -{pgid}\n"))?;
        Ok(())
    }

    /// Copies the node's log from its host to the local `nodes/<id>.log`.
    fn fetch_log(&self, id: &str) -> Result<(), SupervisorError> {
        let Some(node) = self.nodes.get(id) else {
            return Ok(());
        };
        let host = self.hosts.host(id).map_err(Self::remote_error)?;
        let remote = host
            .spec
            .run_dir(self.hosts.run_id())
            .join("nodes")
            .join(format!("{id}.log"));
        let text = self.run_on(
            id,
            &format!("cat {} 2>/dev/null || true\n", remote.display()),
        )?;
        if let Some(parent) = node.spec.log_path.parent() {
            std::fs::create_dir_all(parent).map_err(|source| SupervisorError::Log {
                path: parent.to_path_buf(),
                source,
            })?;
        }
        std::fs::write(&node.spec.log_path, text).map_err(|source| SupervisorError::Log {
            path: node.spec.log_path.clone(),
            source,
        })
    }
}

impl NodeControl for SshNodes {
    fn start(&mut self, spec: NodeSpec) -> Result<(), SupervisorError> {
        if self.nodes.get(&spec.id).is_some_and(|n| n.pgid.is_some())
            && self.state(&spec.id)? != NodeState::Down
        {
            return Err(SupervisorError::AlreadyRunning(spec.id));
        }
        self.spawn(spec)
    }

    fn kill(&mut self, id: &str) -> Result<(), SupervisorError> {
        let Some(pgid) = self.node(id)?.pgid else {
            return Ok(());
        };
        // SIGCONT too, so that no member of a paused group is left stopped; then wait until
        // the group leader is gone (or a zombie) on its host.
        let out = self.run_on(
            id,
            &format!(
                "kill -KILL -{pgid} 2>/dev/null; kill -CONT -{pgid} 2>/dev/null; i=0\n\
                 {STAT_FIELDS}\n\
                 alive() {{ fields {pgid}; [ \"$state\" != Z ]; }}\n\
                 while alive && [ $i -lt {REMOTE_REAP_POLLS} ]; do sleep 0.01; i=$((i+1)); done\n\
                 alive && echo alive || echo gone\n"
            ),
        )?;
        if out.trim() != "gone" {
            return Err(SupervisorError::ReapTimeout {
                id: id.to_string(),
                pid: pgid,
                timeout_ms: u64::from(REMOTE_REAP_POLLS) * 10,
            });
        }
        self.node(id)?.pgid = None;
        Ok(())
    }

    fn restart(&mut self, id: &str) -> Result<(), SupervisorError> {
        let spec = self.node(id)?.spec.clone();
        self.kill(id)?;
        self.spawn(spec)
    }

    fn pause(&mut self, id: &str) -> Result<(), SupervisorError> {
        self.signal_group(id, "STOP")
    }

    fn resume(&mut self, id: &str) -> Result<(), SupervisorError> {
        if self.node(id)?.pgid.is_none() {
            return Ok(());
        }
        self.signal_group(id, "CONT")
    }

    fn state(&mut self, id: &str) -> Result<NodeState, SupervisorError> {
        let Some(pgid) = self.node(id)?.pgid else {
            return Ok(NodeState::Down);
        };
        Ok(match self.remote_state(id, pgid)? {
            'T' | 't' => NodeState::Paused,
            '-' => NodeState::Exited(None),
            _ => NodeState::Running,
        })
    }

    fn pid(&self, id: &str) -> Option<u32> {
        self.nodes.get(id).and_then(|n| n.pgid)
    }

    fn kill_all(&mut self) -> Result<(), SupervisorError> {
        let ids: Vec<String> = self.nodes.keys().cloned().collect();
        let mut first = Ok(());
        for id in ids {
            let result = self.kill(&id).and_then(|()| self.fetch_log(&id));
            if first.is_ok() {
                first = result;
            }
        }
        first
    }
}

/// `faultline cleanup --hosts FILE`: on every host, deletes every `inet faultline-*`
/// nftables table and SIGCONTs and SIGKILLs every process group of every run under its
/// `dir` whose watchdog is gone (all of them with `force`). Returns one line per host.
pub fn cleanup_hosts(hosts: Vec<HostSpec>, force: bool) -> Result<Vec<String>, SshError> {
    let log_dir = tempfile::tempdir().map_err(|source| SupervisorError::Log {
        path: "tmp".into(),
        source,
    })?;
    let connected = SshHosts::connect(
        &format!("cleanup-{:x}", std::process::id()),
        hosts,
        log_dir.path(),
    )?;
    let mut lines = Vec::new();
    for host in connected.hosts() {
        let dir = host.spec.dir.display();
        let force = if force { 1 } else { 0 };
        let script = format!(
            "tables=$(nft list tables 2>/dev/null | awk '$2 == \"inet\" && $3 ~ /^{TABLE_PREFIX}/ {{print $3}}')\n\
             for t in $tables; do nft delete table inet $t; done\n\
             killed=0\n\
             for run in {dir}/*/; do\n\
               w=$(cat $run/watchdog.pid 2>/dev/null || echo 0)\n\
               if [ {force} = 1 ] || [ ! -e /proc/$w ] || [ $w = 0 ]; then\n\
                 for g in $(cat $run/pgids 2>/dev/null); do kill -CONT -$g 2>/dev/null && killed=$((killed+1)); kill -KILL -$g 2>/dev/null; done\n\
                 : > $run/pgids 2>/dev/null || true\n\
               fi\n\
             done\n\
             echo \"tables removed: $(echo $tables | wc -w), process groups killed: $killed\"\n"
        );
        let out = host.run(&script)?;
        lines.push(format!(
            "{} ({}): {}",
            host.spec.node,
            host.spec.target,
            out.trim()
        ));
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssh_targets_and_quoting() {
        assert_eq!(parse_ssh("root@h:2222"), Ok(("root@h".into(), 2222)));
        assert_eq!(parse_ssh("h"), Ok(("h".into(), 22)));
        assert!(parse_ssh("root@h:x").is_err());
        assert!(parse_ssh("").is_err());
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
    }

    #[test]
    fn hosts_file_fills_defaults_and_refuses_bad_entries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hosts.yaml");
        std::fs::write(
            &path,
            "identity: /k\nhosts:\n  - { node: n1, ssh: root@10.0.0.1, dir: /var/fl }\n  - { node: n2, ssh: h2:2200, dir: /var/fl, addr: 10.0.0.2 }\n",
        )
        .unwrap();
        let hosts = load_hosts(&path).unwrap();
        assert_eq!(hosts[0].port, 22);
        assert_eq!(hosts[0].addr, "10.0.0.1".parse::<IpAddr>().unwrap());
        assert_eq!(hosts[1].identity.as_deref(), Some(Path::new("/k")));
        for bad in [
            "hosts:\n  - { node: n1, ssh: h1, dir: /var/fl }\n",
            "hosts:\n  - { node: n1, ssh: 10.0.0.1, dir: var }\n",
            "hosts:\n  - { node: n1, ssh: 10.0.0.1, dir: /v, colour: red }\n",
        ] {
            std::fs::write(&path, bad).unwrap();
            let error = load_hosts(&path).unwrap_err().to_string();
            assert!(error.starts_with(&path.display().to_string()), "{error}");
        }
    }
}
