//! What to start: a system with the programs that run its nodes, and the one place that
//! turns a node's addresses into its command line.
//!
//! [`crate::cluster::Cluster`] asks [`SystemLayout::command`] for every node and knows
//! nothing else about systems: each system builds its own nodes' command lines
//! ([`crate::system::System::command`]; the Raft store's and the bank's are documented in
//! [`crate::system::raft`] and [`crate::system::bank`], etcd's in [`crate::system::etcd`]),
//! from the node's own client and peer addresses, its data directory and the address at
//! which *it* reaches each node it talks to (with the proxy network, a proxy per directed
//! link, so that cutting `a -> b` cuts exactly what `a` sends to `b`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::system::raft::RaftSystem;
use crate::system::{NodeCommand, NodeEnv, NodePrograms, NodeRole, SystemSpec};

/// What to start: the system's shape and the programs that run its nodes.
#[derive(Debug, Clone)]
pub struct SystemLayout {
    pub system: SystemSpec,
    pub programs: NodePrograms,
}

/// A node's addresses, as the cluster's network gives them.
pub struct NodeAddrs<'a> {
    /// Where it listens for clients.
    pub client_listen: SocketAddr,
    /// Where it listens for peers (its client address unless the system has a peer port).
    pub peer_listen: SocketAddr,
    /// The address at which it reaches another node's peer port.
    pub reach: &'a dyn Fn(&str) -> SocketAddr,
    /// Every node's own peer address.
    pub peer_addrs: &'a dyn Fn(&str) -> SocketAddr,
}

impl SystemLayout {
    /// A Raft cluster of `nodes` nodes.
    pub fn raft(
        nodes: usize,
        program: PathBuf,
        raft_args_prefix: Vec<String>,
        raft_extra_args: Vec<String>,
    ) -> SystemLayout {
        SystemLayout {
            system: SystemSpec::new(Arc::new(RaftSystem { nodes }), None),
            programs: NodePrograms {
                program,
                raft_args_prefix,
                bank_args_prefix: Vec::new(),
                raft_extra_args,
            },
        }
    }

    /// Every node with its role, in start order.
    pub fn nodes(&self) -> Vec<(String, NodeRole)> {
        self.system.nodes_with_roles()
    }

    /// The program and arguments of node `id`.
    ///
    /// # Panics
    /// If `id` is not a node of this layout.
    pub fn command(&self, id: &str, addrs: &NodeAddrs<'_>, data_dir: &Path) -> NodeCommand {
        let role = self
            .nodes()
            .into_iter()
            .find(|(node, _)| node == id)
            .map(|(_, role)| role)
            .expect("a node of this layout");
        self.system.system().command(&NodeEnv {
            id,
            role,
            client_listen: addrs.client_listen,
            peer_listen: addrs.peer_listen,
            data_dir,
            reach: addrs.reach,
            peer_addrs: addrs.peer_addrs,
            bug: self.system.bug.as_deref(),
            programs: &self.programs,
        })
    }

    /// The arguments (after the program) of node `id` listening on `listen` for both
    /// clients and peers: [`SystemLayout::command`] for the store's and the bank's nodes.
    pub fn command_line(
        &self,
        id: &str,
        listen: SocketAddr,
        data_dir: &Path,
        reach: &dyn Fn(&str) -> SocketAddr,
    ) -> Vec<String> {
        let addrs = NodeAddrs {
            client_listen: listen,
            peer_listen: listen,
            reach,
            peer_addrs: reach,
        };
        self.command(id, &addrs, data_dir).args
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::system::BankSystemSpec;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    /// Node `a` reaches node `b` at a port that names both (10 * a-index + b-index).
    fn reach_from(me: &str) -> impl Fn(&str) -> SocketAddr + '_ {
        move |other: &str| {
            let n = |id: &str| id[1..].parse::<u16>().unwrap();
            addr(20_000 + 100 * n(me) + n(other))
        }
    }

    fn bank(replicated: bool, bug: Option<&str>) -> SystemLayout {
        SystemLayout {
            system: SystemSpec::new(
                Arc::new(BankSystemSpec {
                    participants: 2,
                    accounts: 6,
                    initial_balance: 50,
                    replicated_coordinator: replicated,
                    coordinators: if replicated { 2 } else { 1 },
                }),
                bug.map(String::from),
            ),
            programs: NodePrograms {
                program: PathBuf::from("faultline"),
                raft_args_prefix: vec!["node".into()],
                bank_args_prefix: vec!["bank".into()],
                raft_extra_args: vec!["--heartbeat-ms".into(), "50".into()],
            },
        }
    }

    #[test]
    fn raft_command_lines_are_as_before() {
        let layout = SystemLayout::raft(
            3,
            PathBuf::from("raft-node"),
            vec!["node".into()],
            vec!["--bug".into(), "stale-read".into()],
        );
        let args = layout.command_line("n2", addr(9002), Path::new("/d/n2"), &reach_from("n2"));
        assert_eq!(
            args.join(" "),
            "node --id n2 --listen 127.0.0.1:9002 --data-dir /d/n2 \
             --peers n1=127.0.0.1:20201,n3=127.0.0.1:20203 --bug stale-read"
        );
        let single = SystemLayout::raft(1, PathBuf::from("raft-node"), vec![], vec![]);
        let args = single.command_line("n1", addr(9001), Path::new("/d"), &reach_from("n1"));
        assert!(!args.contains(&"--peers".to_string()), "{args:?}");
    }

    #[test]
    fn bank_command_lines_name_what_each_node_reaches() {
        let layout = bank(false, Some("2pc-forget-prepared"));
        let ids: Vec<String> = layout.nodes().into_iter().map(|(id, _)| id).collect();
        assert_eq!(ids, ["c1", "p1", "p2"]);
        let c1 = layout.command_line("c1", addr(9000), Path::new("/d/c1"), &reach_from("c1"));
        assert_eq!(
            c1.join(" "),
            "bank coordinator --id c1 --listen 127.0.0.1:9000 --data-dir /d/c1 --accounts 6 \
             --participants p1=127.0.0.1:20101,p2=127.0.0.1:20102"
        );
        let p2 = layout.command_line("p2", addr(9002), Path::new("/d/p2"), &reach_from("p2"));
        assert_eq!(
            p2.join(" "),
            "bank participant --id p2 --listen 127.0.0.1:9002 --data-dir /d/p2 \
             --coordinator 127.0.0.1:20201 --accounts 6 --initial-balance 50 --shard 1 \
             --shards 2 --bug 2pc-forget-prepared"
        );
    }

    #[test]
    fn replicated_bank_adds_the_decision_store() {
        let layout = bank(true, Some("2pc-commit-without-all-votes"));
        let ids: Vec<String> = layout.nodes().into_iter().map(|(id, _)| id).collect();
        assert_eq!(ids, ["c1", "c2", "p1", "p2", "r1", "r2", "r3"]);
        let c2 = layout
            .command_line("c2", addr(9000), Path::new("/d"), &reach_from("c2"))
            .join(" ");
        assert!(
            c2.ends_with(
                "--replicated-coordinator --decision-store \
                 r1=127.0.0.1:20201,r2=127.0.0.1:20202,r3=127.0.0.1:20203 \
                 --bug 2pc-commit-without-all-votes"
            ),
            "{c2}"
        );
        let p1 = layout
            .command_line("p1", addr(9000), Path::new("/d"), &reach_from("p1"))
            .join(" ");
        assert!(
            p1.contains("--coordinator 127.0.0.1:20101,127.0.0.1:20102 "),
            "{p1}"
        );
        assert!(!p1.contains("--bug"), "the coordinator's bug only: {p1}");
        let r3 = layout
            .command_line("r3", addr(9000), Path::new("/d"), &reach_from("r3"))
            .join(" ");
        assert_eq!(
            r3,
            "node --id r3 --listen 127.0.0.1:9000 --data-dir /d \
             --peers r1=127.0.0.1:20301,r2=127.0.0.1:20302 --heartbeat-ms 50"
        );
    }

    #[test]
    fn etcd_members_advertise_the_same_peer_urls_and_listen_on_two_ports() {
        let system = crate::system::etcd::EtcdSystem {
            nodes: 3,
            binary_name: "etcd".into(),
            binary: PathBuf::from("/usr/bin/etcd"),
        };
        let layout = SystemLayout {
            system: SystemSpec::new(Arc::new(system), None),
            programs: NodePrograms::default(),
        };
        let peer = |id: &str| addr(2380 + id[1..].parse::<u16>().unwrap());
        let reach = reach_from("n2");
        let addrs = NodeAddrs {
            client_listen: addr(2379),
            peer_listen: peer("n2"),
            reach: &reach,
            peer_addrs: &peer,
        };
        let command = layout.command("n2", &addrs, Path::new("/d/n2"));
        assert_eq!(command.program, PathBuf::from("/usr/bin/etcd"));
        assert_eq!(
            command.args.join(" "),
            "--name n2 --data-dir /d/n2 \
             --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
             --listen-peer-urls http://127.0.0.1:2382 --initial-advertise-peer-urls http://127.0.0.1:2382 \
             --initial-cluster n1=http://127.0.0.1:2381,n2=http://127.0.0.1:2382,n3=http://127.0.0.1:2383 \
             --initial-cluster-state new --initial-cluster-token faultline --logger zap --log-outputs stderr"
        );
    }
}
