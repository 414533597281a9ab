//! The `netns` network (root only): real kernel-level partitions with namespaces and nftables.
//!
//! Layout for run id `R` (see [`crate::cleanup`] for the id's format):
//!
//! - a hub namespace `fl-R-hub` holding the bridge `flbr-R` (no address at all);
//! - one namespace per node, `fl-R-<id>`, with loopback up and `eth0`, one end of a veth
//!   pair whose other end (`v<id>`) is enslaved to the bridge; node k gets `10.213.0.k/24`;
//! - in every node namespace an nftables table `inet fl-R` with an output chain that drops
//!   packets to the nodes this node must not reach.
//!
//! Nothing is created in the host namespace: no address, no route, no rule; the private
//! range exists only inside namespaces this module creates, so nothing can be routed
//! outside. Removing the namespaces removes everything (including the nft tables).
//!
//! Cutting `i -> j` drops every packet `i` sends to `j`: `i`'s requests to `j` and its
//! replies (even TCP acknowledgements) to `j`'s requests. That is the same "messages from i
//! to j are lost" model as the proxy network.
//!
//! Clients in the controller reach a node through a forwarder on `127.0.0.1` in the host
//! namespace whose outgoing connections are opened by a thread that has entered the node's
//! namespace (a socket belongs to the namespace it was created in).
//!
//! Latency is not supported on this backend (it would need `tc netem`).

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpStream as StdTcpStream};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::Link;
use crate::supervisor::{SupervisorError, run_tool};

/// Port every node listens on inside its own namespace (for clients, and for peers too
/// unless its system has a peer port of its own).
pub const NODE_PORT: u16 = 7000;
/// Port a node listens on for its peers when its system has a separate peer port (etcd).
pub const PEER_PORT: u16 = 7001;
/// Timeout of one `ip` or `nft` invocation.
const TOOL_TIMEOUT: Duration = Duration::from_secs(10);
/// Timeout of one connection attempt from the host into a namespace.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(1_000);

/// Errors of the netns network.
#[derive(Debug, thiserror::Error)]
pub enum NetnsError {
    #[error("the netns network needs root (effective uid is {0}); use the proxy network instead")]
    NotRoot(u32),
    #[error(
        "the netns network needs the `{0}` program, which was not found in PATH (install iproute2 / nftables, or use the proxy network)"
    )]
    MissingTool(&'static str),
    #[error(transparent)]
    Tool(#[from] SupervisorError),
    #[error("no node {0:?} in this network")]
    UnknownNode(String),
    #[error("latency is not supported by the netns network")]
    LatencyUnsupported,
    #[error("cannot open a client forwarder on 127.0.0.1: {0}")]
    Forwarder(io::Error),
    #[error("too many nodes for the netns network ({0}, at most 250)")]
    TooManyNodes(usize),
}

/// The namespace name of `node` in run `run_id`.
pub fn namespace_name(run_id: &str, node: &str) -> String {
    format!("fl-{run_id}-{node}")
}

fn hub_name(run_id: &str) -> String {
    format!("fl-{run_id}-hub")
}

fn table_name(run_id: &str) -> String {
    format!("fl-{run_id}")
}

/// Checks root and the tools, with an error a user can act on.
pub fn check_available() -> Result<(), NetnsError> {
    let uid = nix::unistd::geteuid().as_raw();
    if uid != 0 {
        return Err(NetnsError::NotRoot(uid));
    }
    for tool in ["ip", "nft"] {
        if !program_in_path(tool) {
            return Err(NetnsError::MissingTool(tool));
        }
    }
    Ok(())
}

fn program_in_path(program: &str) -> bool {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
        .any(|dir| dir.join(program).is_file())
}

fn ip(args: &[&str]) -> Result<String, NetnsError> {
    Ok(run_tool("ip", args, None, TOOL_TIMEOUT)?)
}

/// Per node: its namespace and address.
struct NodeNet {
    namespace: String,
    addr: Ipv4Addr,
}

/// The namespaces, bridge and rules of one run. Dropping it removes them.
pub struct NetnsNetwork {
    run_id: String,
    nodes: BTreeMap<String, NodeNet>,
    cuts: BTreeSet<Link>,
    /// Links losing a share of their packets (percent), see [`NetnsNetwork::set_loss`].
    losses: BTreeMap<Link, u8>,
    forwarders: Vec<JoinHandle<()>>,
    client_addrs: BTreeMap<String, SocketAddr>,
    removed: bool,
}

impl NetnsNetwork {
    /// Creates the hub, the bridge and one namespace per node. On any failure, whatever was
    /// created is removed again.
    pub fn create(run_id: &str, node_ids: &[String]) -> Result<NetnsNetwork, NetnsError> {
        check_available()?;
        if node_ids.len() > 250 {
            return Err(NetnsError::TooManyNodes(node_ids.len()));
        }
        let mut network = NetnsNetwork {
            run_id: run_id.to_string(),
            nodes: BTreeMap::new(),
            cuts: BTreeSet::new(),
            losses: BTreeMap::new(),
            forwarders: Vec::new(),
            client_addrs: BTreeMap::new(),
            removed: false,
        };
        // On error `network` is dropped here, which removes what was made so far.
        network.create_hub()?;
        for (index, id) in node_ids.iter().enumerate() {
            let addr = Ipv4Addr::new(10, 213, 0, index as u8 + 1);
            network.create_node(id, addr)?;
        }
        Ok(network)
    }

    fn create_hub(&mut self) -> Result<(), NetnsError> {
        let hub = hub_name(&self.run_id);
        let bridge = format!("flbr-{}", self.run_id);
        ip(&["netns", "add", &hub])?;
        ip(&["-n", &hub, "link", "add", &bridge, "type", "bridge"])?;
        ip(&["-n", &hub, "link", "set", &bridge, "up"])?;
        Ok(())
    }

    fn create_node(&mut self, id: &str, addr: Ipv4Addr) -> Result<(), NetnsError> {
        let namespace = namespace_name(&self.run_id, id);
        let hub = hub_name(&self.run_id);
        let bridge = format!("flbr-{}", self.run_id);
        let hub_end = format!("v{id}");
        ip(&["netns", "add", &namespace])?;
        self.nodes.insert(
            id.to_string(),
            NodeNet {
                namespace: namespace.clone(),
                addr,
            },
        );
        ip(&[
            "link", "add", "eth0", "netns", &namespace, "type", "veth", "peer", "name", &hub_end,
            "netns", &hub,
        ])?;
        ip(&["-n", &hub, "link", "set", &hub_end, "master", &bridge])?;
        ip(&["-n", &hub, "link", "set", &hub_end, "up"])?;
        let cidr = format!("{addr}/24");
        ip(&["-n", &namespace, "addr", "add", &cidr, "dev", "eth0"])?;
        ip(&["-n", &namespace, "link", "set", "eth0", "up"])?;
        ip(&["-n", &namespace, "link", "set", "lo", "up"])?;
        self.apply_rules(id)?;
        Ok(())
    }

    /// The run id this network's names carry.
    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// The namespace file a node process must enter.
    pub fn namespace_path(&self, id: &str) -> Option<PathBuf> {
        let node = self.nodes.get(id)?;
        Some(Path::new("/run/netns").join(&node.namespace))
    }

    /// The address a node listens on inside its namespace (and its peers reach it at).
    pub fn node_addr(&self, id: &str) -> Option<SocketAddr> {
        let node = self.nodes.get(id)?;
        Some(SocketAddr::V4(SocketAddrV4::new(node.addr, NODE_PORT)))
    }

    /// The address a node listens on for peers when its system has a separate peer port.
    pub fn peer_addr(&self, id: &str) -> Option<SocketAddr> {
        let node = self.nodes.get(id)?;
        Some(SocketAddr::V4(SocketAddrV4::new(node.addr, PEER_PORT)))
    }

    /// Starts one forwarder per node on `127.0.0.1`, so that clients in the host namespace
    /// reach the nodes; returns their addresses. Needs a tokio runtime.
    pub async fn start_client_forwarders(
        &mut self,
    ) -> Result<BTreeMap<String, SocketAddr>, NetnsError> {
        for id in self.nodes.keys().cloned().collect::<Vec<_>>() {
            let connector = NamespaceConnector::start(
                &self.namespace_path(&id).expect("known node"),
                self.node_addr(&id).expect("known node"),
            )
            .map_err(NetnsError::Forwarder)?;
            let listener = TcpListener::bind(("127.0.0.1", 0))
                .await
                .map_err(NetnsError::Forwarder)?;
            let addr = listener.local_addr().map_err(NetnsError::Forwarder)?;
            self.forwarders
                .push(tokio::spawn(forward_clients(listener, connector)));
            self.client_addrs.insert(id, addr);
        }
        Ok(self.client_addrs.clone())
    }

    /// Messages from `link.from` to `link.to` are dropped from now on.
    pub fn cut(&mut self, link: &Link) -> Result<(), NetnsError> {
        for id in [&link.from, &link.to] {
            if !self.nodes.contains_key(id) {
                return Err(NetnsError::UnknownNode(id.clone()));
            }
        }
        self.cuts.insert(link.clone());
        self.apply_rules(&link.from)
    }

    /// Removes every cut and every loss.
    pub fn heal(&mut self) -> Result<(), NetnsError> {
        let mut from: BTreeSet<String> = self.losses.keys().map(|l| l.from.clone()).collect();
        self.losses.clear();
        from.extend(self.cuts.iter().map(|l| l.from.clone()));
        self.cuts.clear();
        from.iter().try_for_each(|id| self.apply_rules(id))
    }

    /// Removes every cut, keeping the losses.
    pub fn heal_cuts(&mut self) -> Result<(), NetnsError> {
        let from: BTreeSet<String> = self.cuts.iter().map(|l| l.from.clone()).collect();
        self.cuts.clear();
        from.iter().try_for_each(|id| self.apply_rules(id))
    }

    /// `percent`% of the packets from `link.from` to `link.to` are dropped from now on, by
    /// nftables' `numgen random mod 100 < percent` in `from`'s output chain (0 removes it).
    /// TCP retransmits them, so the nodes see delays and, at high rates, timeouts.
    pub fn set_loss(&mut self, link: &Link, percent: u8) -> Result<(), NetnsError> {
        assert!(percent <= 100, "a percentage");
        for id in [&link.from, &link.to] {
            if !self.nodes.contains_key(id) {
                return Err(NetnsError::UnknownNode(id.clone()));
            }
        }
        if percent == 0 {
            self.losses.remove(link);
        } else {
            self.losses.insert(link.clone(), percent);
        }
        self.apply_rules(&link.from)
    }

    /// The links currently losing packets.
    pub fn lossy_links(&self) -> Vec<Link> {
        self.losses.keys().cloned().collect()
    }

    /// The links currently cut.
    pub fn cut_links(&self) -> Vec<Link> {
        self.cuts.iter().cloned().collect()
    }

    /// Replaces the node's whole nft table atomically with its current cuts.
    fn apply_rules(&self, id: &str) -> Result<(), NetnsError> {
        let node = self
            .nodes
            .get(id)
            .ok_or_else(|| NetnsError::UnknownNode(id.to_string()))?;
        let table = table_name(&self.run_id);
        let dropped: Vec<String> = self
            .cuts
            .iter()
            .filter(|link| link.from == id)
            .filter_map(|link| self.nodes.get(&link.to))
            .map(|to| to.addr.to_string())
            .collect();
        let mut rule = if dropped.is_empty() {
            String::new()
        } else {
            format!("ip daddr {{ {} }} drop", dropped.join(", "))
        };
        for (link, percent) in self.losses.range(Link::new(id, "")..) {
            if link.from != id {
                break;
            }
            if let Some(to) = self.nodes.get(&link.to) {
                rule.push_str(&format!(
                    "\n  ip daddr {} numgen random mod 100 < {percent} drop",
                    to.addr
                ));
            }
        }
        // `add` then `delete` then the full table: atomic in one transaction, and works
        // whether or not the table existed.
        let script = format!(
            "add table inet {table}\ndelete table inet {table}\n\
             table inet {table} {{\n chain output {{\n  type filter hook output priority 0; policy accept;\n  {rule}\n }}\n}}\n"
        );
        run_tool(
            "ip",
            &["netns", "exec", &node.namespace, "nft", "-f", "-"],
            Some(&script),
            TOOL_TIMEOUT,
        )?;
        Ok(())
    }

    /// Stops the forwarders and deletes every namespace of the run. Idempotent.
    pub fn remove(&mut self) -> Result<(), NetnsError> {
        if self.removed {
            return Ok(());
        }
        self.removed = true;
        for forwarder in self.forwarders.drain(..) {
            forwarder.abort();
        }
        let mut first_error = None;
        let namespaces = self
            .nodes
            .values()
            .map(|n| n.namespace.clone())
            .chain([hub_name(&self.run_id)]);
        for namespace in namespaces {
            if let Err(error) = ip(&["netns", "del", &namespace]) {
                tracing::warn!(%namespace, %error, "cannot delete namespace");
                first_error.get_or_insert(error);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

impl Drop for NetnsNetwork {
    fn drop(&mut self) {
        if let Err(error) = self.remove() {
            tracing::error!(%error, "netns network not fully removed; run `faultline cleanup`");
        }
    }
}

type ConnectReply = oneshot::Sender<io::Result<StdTcpStream>>;

/// A thread that lives inside a node's namespace and opens connections there.
struct NamespaceConnector {
    requests: mpsc::SyncSender<ConnectReply>,
}

impl NamespaceConnector {
    fn start(namespace: &Path, target: SocketAddr) -> io::Result<NamespaceConnector> {
        let namespace_file = File::open(namespace)?;
        let (requests, incoming) = mpsc::sync_channel::<ConnectReply>(64);
        let (ready_tx, ready_rx) = mpsc::sync_channel(1);
        std::thread::Builder::new()
            .name("faultline-netns-connector".into())
            .spawn(move || {
                // setns changes only this thread's namespace; sockets it creates stay there.
                let entered =
                    nix::sched::setns(&namespace_file, nix::sched::CloneFlags::CLONE_NEWNET)
                        .map_err(io::Error::from);
                let failed = entered.is_err();
                ready_tx.send(entered).ok();
                if failed {
                    return;
                }
                for reply in incoming {
                    let stream = StdTcpStream::connect_timeout(&target, CONNECT_TIMEOUT);
                    reply.send(stream).ok();
                }
            })?;
        ready_rx
            .recv()
            .map_err(|_| io::Error::other("netns connector thread died"))??;
        Ok(NamespaceConnector { requests })
    }

    async fn connect(&self) -> io::Result<TcpStream> {
        let (reply, answer) = oneshot::channel();
        self.requests
            .try_send(reply)
            .map_err(|_| io::Error::other("netns connector busy or gone"))?;
        let stream = tokio::time::timeout(CONNECT_TIMEOUT * 2, answer)
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect into namespace"))?
            .map_err(|_| io::Error::other("netns connector gone"))??;
        stream.set_nonblocking(true)?;
        TcpStream::from_std(stream)
    }
}

async fn forward_clients(listener: TcpListener, connector: NamespaceConnector) {
    let connector = std::sync::Arc::new(connector);
    loop {
        let Ok((mut client, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let connector = connector.clone();
        tokio::spawn(async move {
            match connector.connect().await {
                Ok(mut node) => {
                    tokio::io::copy_bidirectional(&mut client, &mut node)
                        .await
                        .ok();
                }
                Err(error) => {
                    tracing::debug!(%error, "forwarder cannot reach node");
                    client.set_zero_linger().ok();
                }
            }
        });
    }
}
