//! A running cluster: the nodes (through [`NodeControl`]), the network between them, and the
//! addresses clients use. This is the API the runner, the nemesis and the process tests use.
//!
//! A cluster is a list of nodes with roles, given by a [`SystemLayout`] (a
//! [`crate::system::System`] and the programs of faultline's own nodes); [`ClusterConfig`]
//! is the Raft shorthand. Node `id` keeps its data in `base_dir/data/<id>` (mode 700) and
//! its stdout and stderr in `base_dir/nodes/<id>.log`. Its command line comes from its
//! system ([`SystemLayout::command`]), given its client address, its peer address (the same
//! unless the system has a peer port of its own, as etcd does) and the addresses at which
//! it reaches the others, which depend on the network:
//!
//! - [`NetworkKind::Direct`]: peers' own listen addresses; no network faults.
//! - [`NetworkKind::Proxy`]: one controller-owned proxy per directed link
//!   ([`crate::network::proxy`]); cuts and latency without privileges.
//! - [`NetworkKind::Netns`]: one network namespace per node ([`crate::network::netns`]);
//!   root only.
//!
//! Clients always reach node `id` at [`Cluster::client_addr`], never through a faulty link.
//! [`Cluster::start`] and [`Cluster::restart`] return once the node passes its system's
//! readiness probe; [`Cluster::leader`] asks the system's leader probe. What a fault does
//! (kill, pause, cut, and undoing each) is the nemesis's business ([`crate::nemesis`]).
//!
//! With [`Cluster::start_layout_on`] and a [`FaultfsProgram`], every data dir is a faultfs
//! mount ([`crate::disk::mount`]) that [`Cluster::lose_unfsynced`] empties of what the node
//! did not fsync; it is unmounted after the nodes are killed.
//!
//! Cleanup: [`Cluster::shutdown`] heals, kills and reaps every node, unmounts faultfs and
//! removes namespaces;
//! `Drop` does the same as a best effort (it also runs when the controller panics); and the
//! nodes die with the controller even on SIGKILL (see [`crate::supervisor`]).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use crate::clock::{ClockError, Clocks};
use crate::disk::{DiskError, Faultfs, FaultfsProgram, LossReport};
use crate::layout::{NodeAddrs, SystemLayout};
pub use crate::network::NetworkKind;
use crate::network::netns::{NetnsError, NetnsNetwork};
use crate::network::proxy::{ProxyError, ProxyNetwork};
use crate::network::ssh::SshNetwork;
use crate::network::{Link, ShapeError, links_between_groups};
use crate::node_control::ssh::{HostSpec, SshError, SshHosts, SshNodes};
use crate::supervisor::{NodeControl, NodeSpec, NodeState, Supervisor, SupervisorError};
use crate::system::{LeaderClaim, NodeRole};
use workloads::client::pool::NodePool;

/// How long `start` and `restart` wait for a node to be ready.
pub const READY_TIMEOUT_MS: u64 = 10_000;
/// Timeout of one readiness, status or leader probe.
pub const STATUS_TIMEOUT_MS: u64 = 200;

/// A Raft cluster to start (the shorthand for [`Cluster::start_layout`] with
/// [`SystemLayout::raft`]).
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// Number of nodes; ids are `n1`..`nN`.
    pub nodes: usize,
    /// Data dirs are `base_dir/data/<id>`, logs `base_dir/nodes/<id>.log`.
    pub base_dir: PathBuf,
    pub network: NetworkKind,
    /// The node executable, e.g. `target/debug/raft-node` or `faultline`.
    pub program: PathBuf,
    /// Arguments before the node's own, e.g. `["node"]` for `faultline node`.
    pub program_args_prefix: Vec<String>,
    /// Appended to every node's arguments, e.g. `["--heartbeat-ms", "50"]`.
    pub extra_args: Vec<String>,
}

/// Errors of cluster control.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error(transparent)]
    Supervisor(#[from] SupervisorError),
    #[error(transparent)]
    Proxy(#[from] ProxyError),
    #[error(transparent)]
    Netns(#[from] NetnsError),
    #[error(transparent)]
    Shape(#[from] ShapeError),
    #[error(transparent)]
    Ssh(#[from] SshError),
    /// Boxed: the largest of the errors, and rare.
    #[error(transparent)]
    Disk(Box<DiskError>),
    #[error("unknown node {0:?}")]
    UnknownNode(String),
    #[error("a cluster needs at least one node")]
    NoNodes,
    #[error("the {network:?} network does not support {operation}")]
    Unsupported {
        network: NetworkKind,
        operation: &'static str,
    },
    #[error(
        "node {id:?} was not ready within {timeout_ms} ms (last probe: {last_error}); last log lines:\n{log_tail}"
    )]
    NotReady {
        id: String,
        timeout_ms: u64,
        last_error: String,
        log_tail: String,
    },
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    #[error("GET /status of {id:?}: {detail}")]
    Status { id: String, detail: String },
    #[error(transparent)]
    Clock(#[from] ClockError),
    #[error("clock faults need a cluster started with clocks under libfaketime")]
    NoClocks,
}

impl From<DiskError> for ClusterError {
    fn from(error: DiskError) -> ClusterError {
        ClusterError::Disk(Box::new(error))
    }
}

pub use workloads::client::NodeStatus;

enum ClusterNetwork {
    Direct,
    Proxy(ProxyNetwork),
    Netns(NetnsNetwork),
    /// Nodes on SSH hosts, cut with the hosts' nftables ([`Cluster::start_on_hosts`]).
    Ssh(SshNetwork),
}

/// A running cluster. See the module docs.
pub struct Cluster {
    kind: NetworkKind,
    run_id: String,
    ids: Vec<String>,
    roles: BTreeMap<String, NodeRole>,
    layout: SystemLayout,
    client_addrs: BTreeMap<String, SocketAddr>,
    /// One keep-alive connection per node for [`Cluster::leader`], which a `chase-leader`
    /// partition calls every few milliseconds (a fresh connection per call would leave
    /// hundreds of sockets a second in TIME_WAIT). A connection to a node that was killed
    /// is closed, and the pool then connects afresh.
    leader_probes: BTreeMap<String, Arc<NodePool>>,
    base_dir: PathBuf,
    supervisor: Box<dyn NodeControl>,
    network: ClusterNetwork,
    /// The data dirs' faultfs mounts, when the cluster was started on faultfs.
    disk: Option<Faultfs>,
    /// The nodes' clock files when they run under libfaketime ([`crate::clock`]).
    clocks: Option<Clocks>,
}

/// A run id unique on this machine while the controller lives: `<pid hex>x<seq hex>`. Its
/// pid part lets [`crate::cleanup::cleanup_stale`] tell a dead controller's leftovers from a
/// live one's. At most 9 characters, so that `flbr-<id>` fits an interface name.
pub fn new_run_id() -> String {
    static SEQUENCE: AtomicU32 = AtomicU32::new(0);
    let seq = SEQUENCE.fetch_add(1, Ordering::Relaxed) % 256;
    format!("{:x}x{seq:x}", std::process::id())
}

fn io_error(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> ClusterError {
    let context = context.into();
    move |source| ClusterError::Io { context, source }
}

/// Reserves a free loopback port by binding port 0; the caller releases it (drops the
/// listener) just before the node binds it. Holding it while the proxies bind their own
/// port-0 listeners keeps the kernel from handing a node's port to a proxy (which once left
/// a node unable to listen while its "status" was answered through that proxy by another
/// node). The race left, with other programs, is small and accepted: the node must bind the
/// port itself.
fn reserve_loopback_port() -> Result<(SocketAddr, std::net::TcpListener), ClusterError> {
    let listener =
        std::net::TcpListener::bind(("127.0.0.1", 0)).map_err(io_error("binding 127.0.0.1:0"))?;
    let addr = listener.local_addr().map_err(io_error("local_addr"))?;
    Ok((addr, listener))
}

impl Cluster {
    /// Starts a Raft cluster: [`Cluster::start_layout`] with [`SystemLayout::raft`].
    pub async fn start(cfg: ClusterConfig) -> Result<Cluster, ClusterError> {
        let layout = SystemLayout::raft(
            cfg.nodes,
            cfg.program,
            cfg.program_args_prefix,
            cfg.extra_args,
        );
        Cluster::start_layout(layout, cfg.base_dir, cfg.network).await
    }

    /// Starts the network and every node of `layout`, and waits until each answers
    /// `GET /status`.
    pub async fn start_layout(
        layout: SystemLayout,
        base_dir: PathBuf,
        network_kind: NetworkKind,
    ) -> Result<Cluster, ClusterError> {
        Cluster::start_layout_on(layout, base_dir, network_kind, None, false).await
    }

    /// [`Cluster::start_layout`]; with `clocks`, every node runs under libfaketime so that
    /// clock faults can move its wall clock ([`crate::clock`]).
    pub async fn start_layout_with_clocks(
        layout: SystemLayout,
        base_dir: PathBuf,
        network_kind: NetworkKind,
        clocks: bool,
    ) -> Result<Cluster, ClusterError> {
        Cluster::start_layout_on(layout, base_dir, network_kind, None, clocks).await
    }

    /// [`Cluster::start_layout`], with every node's data dir on faultfs when `faultfs`
    /// names the daemon's program (see [`crate::disk::mount`]) and, with `clocks`, every
    /// node under libfaketime ([`crate::clock`]).
    pub async fn start_layout_on(
        layout: SystemLayout,
        base_dir: PathBuf,
        network_kind: NetworkKind,
        faultfs: Option<&FaultfsProgram>,
        clocks: bool,
    ) -> Result<Cluster, ClusterError> {
        let nodes = layout.nodes();
        if nodes.is_empty() {
            return Err(ClusterError::NoNodes);
        }
        let ids: Vec<String> = nodes.iter().map(|(id, _)| id.clone()).collect();
        let run_id = new_run_id();
        let peer_port = layout.system.system().separate_peer_port();
        let built = build_network(network_kind, &run_id, &ids, peer_port).await?;
        let supervisor = Box::new(Supervisor::new()?);
        Cluster::launch(
            layout,
            base_dir,
            network_kind,
            run_id,
            built,
            supervisor,
            faultfs,
            clocks,
        )
        .await
    }

    /// Starts every node of `layout` on its host over SSH ([`crate::node_control::ssh`]),
    /// one host per node (`hosts` may list more), partitions with the hosts' nftables. Each
    /// node listens on its host's address, on the netns network's ports. A host that does
    /// not answer is an error naming it, and nothing is left started on the others.
    pub async fn start_on_hosts(
        layout: SystemLayout,
        base_dir: PathBuf,
        hosts: Vec<HostSpec>,
    ) -> Result<Cluster, ClusterError> {
        use crate::network::netns::{NODE_PORT, PEER_PORT};
        let nodes = layout.nodes();
        if nodes.is_empty() {
            return Err(ClusterError::NoNodes);
        }
        let ids: Vec<String> = nodes.iter().map(|(id, _)| id.clone()).collect();
        let mut mine = Vec::with_capacity(ids.len());
        for id in &ids {
            let host = hosts.iter().find(|h| &h.node == id);
            mine.push(host.cloned().ok_or_else(|| SshError::NoHost(id.clone()))?);
        }
        let run_id = new_run_id();
        let peer_port = layout.system.system().separate_peer_port();
        let connect_dir = base_dir.join("nodes");
        let connect_run = run_id.clone();
        let hosts = tokio::task::spawn_blocking(move || {
            SshHosts::connect(&connect_run, mine, &connect_dir)
        })
        .await
        .map_err(|e| ClusterError::Io {
            context: "connecting to the hosts".into(),
            source: std::io::Error::other(e.to_string()),
        })??;
        let hosts = Arc::new(hosts);
        let mut client_listen = Addrs::new();
        let mut peer_listen = Addrs::new();
        for id in &ids {
            client_listen.insert(id.clone(), hosts.addr(id, NODE_PORT)?);
            let peer = if peer_port { PEER_PORT } else { NODE_PORT };
            peer_listen.insert(id.clone(), hosts.addr(id, peer)?);
        }
        let links = direct_links(&ids, &peer_listen);
        let built = BuiltNetwork {
            network: ClusterNetwork::Ssh(SshNetwork::new(Arc::clone(&hosts))),
            clients: client_listen.clone(),
            addrs: NetworkAddrs {
                client_listen,
                peer_listen,
                links,
            },
        };
        let supervisor = Box::new(SshNodes::new(hosts));
        Cluster::launch(
            layout,
            base_dir,
            NetworkKind::Netns,
            run_id,
            built,
            supervisor,
            None,
            false,
        )
        .await
    }

    /// Starts every node of `layout` with `supervisor` on the network `built` (data dirs on
    /// faultfs with `faultfs`, nodes under libfaketime with `clocks`), and waits until each
    /// passes its readiness probe.
    #[allow(clippy::too_many_arguments)]
    async fn launch(
        layout: SystemLayout,
        base_dir: PathBuf,
        network_kind: NetworkKind,
        run_id: String,
        built: BuiltNetwork,
        supervisor: Box<dyn NodeControl>,
        faultfs: Option<&FaultfsProgram>,
        clocks: bool,
    ) -> Result<Cluster, ClusterError> {
        let nodes = layout.nodes();
        let ids: Vec<String> = nodes.iter().map(|(id, _)| id.clone()).collect();
        let client_addrs = built.clients.clone();
        let leader_probes = client_addrs
            .iter()
            .map(|(id, addr)| (id.clone(), Arc::new(NodePool::new(*addr, 1))))
            .collect();
        let mut cluster = Cluster {
            kind: network_kind,
            run_id,
            ids: ids.clone(),
            roles: nodes.into_iter().collect(),
            layout,
            client_addrs,
            leader_probes,
            base_dir,
            supervisor,
            network: built.network,
            disk: None,
            clocks: None,
        };
        if clocks {
            cluster.clocks = Some(Clocks::create(&cluster.run_id, &ids)?);
        }
        if let Some(program) = faultfs {
            let data_root = cluster.base_dir.join("data");
            let logs = cluster.base_dir.join("nodes");
            cluster.disk = Some(Faultfs::mount(
                program,
                &cluster.run_id,
                &ids,
                &data_root,
                &logs,
            )?);
        }
        for id in &ids {
            let spec = cluster.node_spec(id, &built.addrs)?;
            cluster.supervisor.start(spec)?;
        }
        for id in &ids {
            cluster.wait_ready(id).await?;
        }
        Ok(cluster)
    }

    fn node_spec(&self, id: &str, addrs: &NetworkAddrs) -> Result<NodeSpec, ClusterError> {
        let data_dir = self.data_dir(id);
        // On an SSH host, the data lives there: the backend makes it (mode 700) at start.
        let data_dir = if let ClusterNetwork::Ssh(net) = &self.network {
            net.hosts().data_dir(id)?
        } else {
            data_dir
        };
        if !matches!(self.network, ClusterNetwork::Ssh(_)) {
            std::fs::create_dir_all(&data_dir)
                .map_err(io_error(format!("creating {}", data_dir.display())))?;
            // Private, as databases want their data (etcd refuses a group- or world-readable one).
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&data_dir, std::fs::Permissions::from_mode(0o700))
                    .map_err(io_error(format!("chmod 700 {}", data_dir.display())))?;
            }
        }
        let reach = |peer: &str| addrs.links[&Link::new(id, peer)];
        let peer_addrs = |peer: &str| addrs.peer_listen[peer];
        let command = self.layout.command(
            id,
            &NodeAddrs {
                client_listen: addrs.client_listen[id],
                peer_listen: addrs.peer_listen[id],
                reach: &reach,
                peer_addrs: &peer_addrs,
            },
            &data_dir,
        );
        let netns = match &self.network {
            ClusterNetwork::Netns(net) => net.namespace_path(id),
            _ => None,
        };
        let (program, args) = match &self.clocks {
            Some(clocks) => clocks.wrap(id, command.program, command.args)?,
            None => (command.program, command.args),
        };
        Ok(NodeSpec {
            id: id.to_string(),
            program,
            args,
            log_path: self.log_path(id),
            netns,
        })
    }

    /// The node ids, in start order (`n1`..`nN` for Raft).
    pub fn node_ids(&self) -> Vec<String> {
        self.ids.clone()
    }

    /// The role of node `id` (`None` if it is not a node of this cluster).
    pub fn role(&self, id: &str) -> Option<NodeRole> {
        self.roles.get(id).copied()
    }

    /// The ids of the nodes of one role, in start order.
    pub fn ids_of_role(&self, role: NodeRole) -> Vec<String> {
        self.ids
            .iter()
            .filter(|id| self.role(id) == Some(role))
            .cloned()
            .collect()
    }

    /// Where clients connect to node `id` (never through a faulty link).
    ///
    /// # Panics
    /// If `id` is not a node of this cluster.
    pub fn client_addr(&self, id: &str) -> SocketAddr {
        self.client_addrs[id]
    }

    /// The run id carried by every name this cluster creates.
    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// The network this cluster runs on.
    pub fn network_kind(&self) -> NetworkKind {
        self.kind
    }

    /// `base_dir/data/<id>`.
    pub fn data_dir(&self, id: &str) -> PathBuf {
        self.base_dir.join("data").join(id)
    }

    /// `base_dir/nodes/<id>.log`.
    pub fn log_path(&self, id: &str) -> PathBuf {
        self.base_dir.join("nodes").join(format!("{id}.log"))
    }

    /// Whether the data dirs are on faultfs.
    pub fn on_faultfs(&self) -> bool {
        self.disk.is_some()
    }

    /// Makes node `id`'s faultfs forget what the node did not fsync (kill it first).
    pub fn lose_unfsynced(&self, id: &str) -> Result<LossReport, ClusterError> {
        self.check_node(id)?;
        let disk = self
            .disk
            .as_ref()
            .ok_or_else(|| DiskError::NotMountedNode(id.to_string()))?;
        Ok(disk.lose_unfsynced(id)?)
    }

    /// The node's process id while it runs.
    pub fn pid(&self, id: &str) -> Option<u32> {
        self.supervisor.pid(id)
    }

    /// What the supervisor knows about the node (notices a node that crashed).
    pub fn node_state(&mut self, id: &str) -> Result<NodeState, ClusterError> {
        self.check_node(id)?;
        Ok(self.supervisor.state(id)?)
    }

    fn check_node(&self, id: &str) -> Result<(), ClusterError> {
        if self.ids.iter().any(|known| known == id) {
            Ok(())
        } else {
            Err(ClusterError::UnknownNode(id.to_string()))
        }
    }

    /// kill -9 the node (and its process group) and reap it.
    pub async fn kill(&mut self, id: &str) -> Result<(), ClusterError> {
        self.check_node(id)?;
        Ok(self.supervisor.kill(id)?)
    }

    /// Starts the node again on the same data directory and waits until it answers.
    pub async fn restart(&mut self, id: &str) -> Result<(), ClusterError> {
        self.check_node(id)?;
        self.supervisor.restart(id)?;
        self.wait_ready(id).await
    }

    /// SIGSTOP the node.
    pub async fn pause(&mut self, id: &str) -> Result<(), ClusterError> {
        self.check_node(id)?;
        Ok(self.supervisor.pause(id)?)
    }

    /// SIGCONT the node.
    pub async fn resume(&mut self, id: &str) -> Result<(), ClusterError> {
        self.check_node(id)?;
        Ok(self.supervisor.resume(id)?)
    }

    /// One-way cut: messages from `from` to `to` are lost until [`Cluster::heal`].
    pub async fn cut(&mut self, from: &str, to: &str) -> Result<(), ClusterError> {
        self.check_node(from)?;
        self.check_node(to)?;
        let link = Link::new(from, to);
        match &mut self.network {
            ClusterNetwork::Direct => Err(self.unsupported("cutting links")),
            ClusterNetwork::Proxy(proxy) => Ok(proxy.cut(&link)?),
            ClusterNetwork::Netns(netns) => Ok(netns.cut(&link)?),
            ClusterNetwork::Ssh(ssh) => Ok(ssh.cut(&link)?),
        }
    }

    /// Cuts every link (both directions) between nodes of different groups; nodes in no
    /// group form one more group together, so `[[n1]]` isolates `n1`.
    pub async fn partition(&mut self, groups: &[Vec<String>]) -> Result<(), ClusterError> {
        let links = links_between_groups(&self.ids, groups)?;
        self.cut_all(links.iter()).await
    }

    /// Cuts each of `links` (e.g. the output of [`crate::network::cut_links`]).
    pub async fn cut_all<'a>(
        &mut self,
        links: impl IntoIterator<Item = &'a Link>,
    ) -> Result<(), ClusterError> {
        let links: Vec<&Link> = links.into_iter().collect();
        if matches!(self.network, ClusterNetwork::Ssh(_)) {
            for link in &links {
                self.check_node(&link.from)?;
                self.check_node(&link.to)?;
            }
            if let ClusterNetwork::Ssh(ssh) = &mut self.network {
                return Ok(ssh.cut_all(links)?);
            }
        }
        for link in links {
            self.cut(&link.from, &link.to).await?;
        }
        Ok(())
    }

    /// Removes every cut, keeping delays and losses ([`Cluster::impair`]).
    pub async fn heal_cuts(&mut self) -> Result<(), ClusterError> {
        match &mut self.network {
            ClusterNetwork::Direct => Ok(()),
            ClusterNetwork::Proxy(proxy) => {
                proxy.heal_cuts();
                Ok(())
            }
            ClusterNetwork::Netns(netns) => Ok(netns.heal_cuts()?),
            // The hosts' tables hold cuts only.
            ClusterNetwork::Ssh(ssh) => Ok(ssh.heal()?),
        }
    }

    /// Delays (proxy only) and loses messages on each of `links`, replacing what was set
    /// on them before; zeros lift it. The netns network cannot delay (no netem): it refuses
    /// a latency, as the schedule does.
    pub async fn impair<'a>(
        &mut self,
        links: impl IntoIterator<Item = &'a Link>,
        latency: Duration,
        jitter: Duration,
        loss_percent: u8,
    ) -> Result<(), ClusterError> {
        for link in links {
            self.check_node(&link.from)?;
            self.check_node(&link.to)?;
            match &mut self.network {
                ClusterNetwork::Proxy(proxy) => {
                    proxy.impair(link, latency, jitter, loss_percent)?
                }
                ClusterNetwork::Netns(netns) if latency.is_zero() && jitter.is_zero() => {
                    netns.set_loss(link, loss_percent)?
                }
                ClusterNetwork::Netns(_) => return Err(self.unsupported("delays (no netem)")),
                ClusterNetwork::Direct => return Err(self.unsupported("delays and losses")),
                ClusterNetwork::Ssh(_) => {
                    return Err(self.unsupported("delays and losses on SSH hosts"));
                }
            }
        }
        Ok(())
    }

    /// The links currently delayed or losing messages.
    pub fn impaired_links(&self) -> Vec<Link> {
        match &self.network {
            ClusterNetwork::Direct => Vec::new(),
            ClusterNetwork::Proxy(proxy) => proxy.impaired_links(),
            ClusterNetwork::Netns(netns) => netns.lossy_links(),
            ClusterNetwork::Ssh(_) => Vec::new(),
        }
    }

    fn clocks(&mut self) -> Result<&mut Clocks, ClusterError> {
        self.clocks.as_mut().ok_or(ClusterError::NoClocks)
    }

    /// Sets node `id`'s wall-clock offset (0 heals it), stopping a strobe.
    pub async fn set_clock_offset(&mut self, id: &str, offset_ms: i64) -> Result<(), ClusterError> {
        self.check_node(id)?;
        Ok(self.clocks()?.set_offset(id, offset_ms)?)
    }

    /// Flips node `id`'s wall clock between `+delta` and its true time every `period`
    /// until [`Cluster::set_clock_offset`].
    pub async fn strobe_clock(
        &mut self,
        id: &str,
        delta: Duration,
        period: Duration,
    ) -> Result<(), ClusterError> {
        self.check_node(id)?;
        Ok(self.clocks()?.start_strobe(id, delta, period)?)
    }

    /// The directory of the nodes' clock files, when they run under libfaketime.
    pub fn clock_dir(&self) -> Option<PathBuf> {
        self.clocks.as_ref().map(|c| c.dir().to_path_buf())
    }

    /// Removes every cut, delay and loss, and sets every clock right. Nodes are not touched.
    pub async fn heal(&mut self) -> Result<(), ClusterError> {
        if let Some(clocks) = &mut self.clocks {
            clocks.reset_all()?;
        }
        match &mut self.network {
            ClusterNetwork::Direct => Ok(()),
            ClusterNetwork::Proxy(proxy) => {
                proxy.heal();
                Ok(())
            }
            ClusterNetwork::Netns(netns) => Ok(netns.heal()?),
            ClusterNetwork::Ssh(ssh) => Ok(ssh.heal()?),
        }
    }

    /// The links currently cut.
    pub fn cut_links(&self) -> Vec<Link> {
        match &self.network {
            ClusterNetwork::Direct => Vec::new(),
            ClusterNetwork::Proxy(proxy) => proxy.cut_links(),
            ClusterNetwork::Netns(netns) => netns.cut_links(),
            ClusterNetwork::Ssh(ssh) => ssh.cut_links(),
        }
    }

    /// Delays messages from `from` to `to` by `latency_ms` (0 removes the delay).
    pub async fn set_latency(
        &mut self,
        from: &str,
        to: &str,
        latency_ms: u64,
    ) -> Result<(), ClusterError> {
        self.check_node(from)?;
        self.check_node(to)?;
        match &self.network {
            ClusterNetwork::Proxy(proxy) => {
                Ok(proxy.set_latency(&Link::new(from, to), Duration::from_millis(latency_ms))?)
            }
            _ => Err(self.unsupported("latency")),
        }
    }

    fn unsupported(&self, operation: &'static str) -> ClusterError {
        ClusterError::Unsupported {
            network: self.kind,
            operation,
        }
    }

    /// `GET /status` of one node of faultline's own systems, with a [`STATUS_TIMEOUT_MS`]
    /// timeout.
    pub async fn status(&self, id: &str) -> Result<NodeStatus, ClusterError> {
        self.check_node(id)?;
        fetch_status(id, self.client_addr(id)).await
    }

    /// The leader: among running nodes that can lead, the one that claims to (by its
    /// system's leader probe, [`crate::system::System::claim_leadership`]) with the highest
    /// term. `None` if no node claims it or the system has no leader. Nodes are asked
    /// concurrently, so this takes at most about [`STATUS_TIMEOUT_MS`].
    pub async fn leader(&self) -> Option<String> {
        let system = self.layout.system.system();
        let mut asks = tokio::task::JoinSet::new();
        for id in &self.ids {
            if self.supervisor.pid(id).is_none() {
                continue;
            }
            let role = self.role(id).expect("a node of this cluster");
            let pool = Arc::clone(&self.leader_probes[id]);
            let deadline = tokio::time::Instant::now() + Duration::from_millis(STATUS_TIMEOUT_MS);
            if let Some(probe) = system.claim_leadership(id, role, pool, deadline) {
                asks.spawn(probe);
            }
        }
        let mut best: Option<LeaderClaim> = None;
        while let Some(answer) = asks.join_next().await {
            if let Ok(Some(claim)) = answer
                && best.as_ref().is_none_or(|b| claim.term > b.term)
            {
                best = Some(claim);
            }
        }
        best.map(|claim| claim.id)
    }

    /// Waits until the node passes its system's readiness probe
    /// ([`crate::system::System::ready`]; `GET /status` answering 200 for faultline's own
    /// systems), or fails with its log's tail (at once if the node exits).
    pub async fn wait_ready(&mut self, id: &str) -> Result<(), ClusterError> {
        self.check_node(id)?;
        let deadline = tokio::time::Instant::now() + Duration::from_millis(READY_TIMEOUT_MS);
        let mut last_error = String::from("no probe ran");
        while tokio::time::Instant::now() < deadline {
            let probe_deadline =
                tokio::time::Instant::now() + Duration::from_millis(STATUS_TIMEOUT_MS);
            // No idle connection is kept: the node may be killed next.
            let pool = Arc::new(NodePool::new(self.client_addr(id), 0));
            let ready = self
                .layout
                .system
                .system()
                .ready_or_why(id, pool, probe_deadline)
                .await;
            // A node that exited answers nothing: whatever answered is not it.
            let exited = matches!(self.supervisor.state(id)?, NodeState::Exited(_));
            match ready {
                Ok(()) if !exited => return Ok(()),
                Ok(()) => {}
                Err(error) => last_error = error,
            }
            if let NodeState::Exited(code) = self.supervisor.state(id)? {
                last_error = format!("the node exited (exit code {code:?}); before: {last_error}");
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Err(ClusterError::NotReady {
            id: id.to_string(),
            timeout_ms: READY_TIMEOUT_MS,
            last_error,
            log_tail: log_tail(&self.log_path(id), 20),
        })
    }

    /// Heals the network, resumes and kills every node (reaping each), and removes the
    /// namespaces. Reports the first error after trying everything.
    pub async fn shutdown(mut self) -> Result<(), ClusterError> {
        let healed = self.heal().await;
        let killed = self.supervisor.kill_all().map_err(ClusterError::from);
        let unmounted = match &mut self.disk {
            Some(disk) => disk.unmount_all().map_err(ClusterError::from),
            None => Ok(()),
        };
        let removed = match &mut self.network {
            ClusterNetwork::Netns(netns) => netns.remove().map_err(ClusterError::from),
            _ => Ok(()),
        };
        healed.and(killed).and(unmounted).and(removed)
    }
}

impl Cluster {
    /// Heals the network, resumes every node and restarts every node that is down: the
    /// state a run's end (and its final reads) needs, whatever faults were in place.
    pub async fn heal_all(&mut self) -> Result<(), ClusterError> {
        self.heal().await?;
        for id in self.ids.clone() {
            match self.supervisor.state(&id)? {
                NodeState::Paused => self.resume(&id).await?,
                NodeState::Down | NodeState::Exited(_) => self.restart(&id).await?,
                NodeState::Running => {}
            }
        }
        Ok(())
    }

    /// The links that cut `node` off from every other node, both ways.
    pub fn isolating(&self, node: &str) -> Result<Vec<Link>, ClusterError> {
        Ok(links_between_groups(&self.ids, &[vec![node.to_string()]])?
            .into_iter()
            .collect())
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // Nodes first (SIGKILL also ends any pause), then the network they used.
        if let Err(error) = self.supervisor.kill_all() {
            tracing::error!(%error, "dropping cluster: cannot kill every node");
        }
        if let Some(disk) = &mut self.disk
            && let Err(error) = disk.unmount_all()
        {
            tracing::error!(%error, "dropping cluster: cannot unmount every faultfs");
        }
        if let ClusterNetwork::Netns(netns) = &mut self.network
            && let Err(error) = netns.remove()
        {
            tracing::error!(%error, "dropping cluster: cannot remove namespaces");
        }
        if let ClusterNetwork::Ssh(ssh) = &mut self.network
            && let Err(error) = ssh.heal()
        {
            tracing::error!(%error, "dropping cluster: cannot heal the hosts' network");
        }
    }
}

type Addrs = BTreeMap<String, SocketAddr>;

/// Every address of a cluster's network.
struct NetworkAddrs {
    /// Where each node listens for clients.
    client_listen: Addrs,
    /// Where each node listens for peers (its client address unless the system has a
    /// peer port), which it advertises.
    peer_listen: Addrs,
    /// The address each directed link uses to reach the other end's peer port.
    links: BTreeMap<Link, SocketAddr>,
}

/// A cluster's network, set up.
struct BuiltNetwork {
    network: ClusterNetwork,
    addrs: NetworkAddrs,
    /// Where clients in the controller reach each node.
    clients: Addrs,
}

/// Every directed link straight to the other end's peer address.
fn direct_links(ids: &[String], peer_listen: &Addrs) -> BTreeMap<Link, SocketAddr> {
    let mut links = BTreeMap::new();
    for from in ids {
        for to in ids.iter().filter(|to| *to != from) {
            links.insert(Link::new(from.clone(), to.clone()), peer_listen[to]);
        }
    }
    links
}

/// Sets up the network; `peer_port`: nodes listen for peers on a port of their own.
async fn build_network(
    kind: NetworkKind,
    run_id: &str,
    ids: &[String],
    peer_port: bool,
) -> Result<BuiltNetwork, ClusterError> {
    let mut client_listen = Addrs::new();
    let mut peer_listen = Addrs::new();
    match kind {
        NetworkKind::Direct | NetworkKind::Proxy => {
            let mut reservations = Vec::with_capacity(ids.len() * 2);
            for id in ids {
                let (addr, reservation) = reserve_loopback_port()?;
                client_listen.insert(id.clone(), addr);
                reservations.push(reservation);
                let peer = if peer_port {
                    let (addr, reservation) = reserve_loopback_port()?;
                    reservations.push(reservation);
                    addr
                } else {
                    addr
                };
                peer_listen.insert(id.clone(), peer);
            }
            let (network, links) = if kind == NetworkKind::Proxy {
                let proxy = ProxyNetwork::start(&peer_listen).await?;
                let mut links = BTreeMap::new();
                for from in ids {
                    for to in ids.iter().filter(|to| *to != from) {
                        let addr = proxy.proxy_addr(from, to).expect("proxy for every link");
                        links.insert(Link::new(from.clone(), to.clone()), addr);
                    }
                }
                (ClusterNetwork::Proxy(proxy), links)
            } else {
                (ClusterNetwork::Direct, direct_links(ids, &peer_listen))
            };
            // The proxies hold their ports now: free the nodes' for the nodes to bind.
            drop(reservations);
            let clients = client_listen.clone();
            Ok(BuiltNetwork {
                network,
                addrs: NetworkAddrs {
                    client_listen,
                    peer_listen,
                    links,
                },
                clients,
            })
        }
        NetworkKind::Netns => {
            let mut netns = NetnsNetwork::create(run_id, ids)?;
            for id in ids {
                let client = netns.node_addr(id).expect("node created");
                client_listen.insert(id.clone(), client);
                let peer = if peer_port {
                    netns.peer_addr(id).expect("node created")
                } else {
                    client
                };
                peer_listen.insert(id.clone(), peer);
            }
            let links = direct_links(ids, &peer_listen);
            let clients = netns.start_client_forwarders().await?;
            Ok(BuiltNetwork {
                network: ClusterNetwork::Netns(netns),
                addrs: NetworkAddrs {
                    client_listen,
                    peer_listen,
                    links,
                },
                clients,
            })
        }
    }
}

/// `GET /status` of the node at `addr`, with a [`STATUS_TIMEOUT_MS`] timeout.
async fn fetch_status(id: &str, addr: SocketAddr) -> Result<NodeStatus, ClusterError> {
    let deadline = tokio::time::Instant::now() + Duration::from_millis(STATUS_TIMEOUT_MS);
    // No idle connection is kept: a status probe is rare and the node may be killed next.
    let pool = workloads::client::pool::NodePool::new(addr, 0);
    workloads::client::fetch_status(&pool, deadline)
        .await
        .map_err(|detail| ClusterError::Status {
            id: id.to_string(),
            detail,
        })
}

/// The last `lines` lines of a log file, for error messages.
pub fn log_tail(path: &std::path::Path, lines: usize) -> String {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let all: Vec<&str> = text.lines().collect();
            all[all.len().saturating_sub(lines)..].join("\n")
        }
        Err(error) => format!("(cannot read {}: {error})", path.display()),
    }
}
