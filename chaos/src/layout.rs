//! The one place that knows each system's nodes and builds their command lines.
//!
//! A cluster is a list of nodes with roles ([`NodeRole`]); each node's command line is
//! built from its own listen address, its data directory and the address at which *it*
//! reaches each node it talks to (with the proxy network, a proxy per directed link, so
//! that cutting `a -> b` cuts exactly what `a` sends to `b`). [`crate::cluster::Cluster`]
//! asks [`SystemLayout::command_line`] for every node and knows nothing else about systems.
//!
//! - Raft (`n1..nN`): `PROGRAM [raft prefix] --id nK --listen ADDR --data-dir DIR
//!   --peers nJ=ADDR,... [raft extra args]` (exactly the command line the Raft store has
//!   always been started with; a one-node cluster gets no `--peers`).
//! - Bank coordinator (`c1..cK`): `PROGRAM [bank prefix] coordinator --id cK --listen ADDR
//!   --data-dir DIR --accounts N --participants p1=ADDR,...`, plus with a replicated
//!   coordinator `--replicated-coordinator --decision-store r1=ADDR,r2=ADDR,r3=ADDR`.
//! - Bank participant (`p1..pP`): `PROGRAM [bank prefix] participant --id pI --listen ADDR
//!   --coordinator ADDR[,ADDR...] --data-dir DIR --accounts N --initial-balance B
//!   --shard I-1 --shards P` (the coordinators' addresses, asked in turn).
//! - Decision store (`r1..r3`): Raft nodes, started like the Raft system's nodes with the
//!   other `r` nodes as peers.
//!
//! A bank bug (`--bug NAME`) goes only to the role that has it (see
//! [`crate::schedule::BANK_BUGS`]); a Raft bug goes into the Raft extra args (the runner
//! puts it there, as before).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use crate::schedule::{BANK_BUGS, NodeRole, SystemKind, SystemSpec};

/// What to start: the system's shape and the programs that run its nodes.
#[derive(Debug, Clone)]
pub struct SystemLayout {
    pub system: SystemSpec,
    /// The executable of every node, e.g. `faultline` or `target/debug/raft-node`.
    pub program: PathBuf,
    /// Arguments before a Raft node's own, e.g. `["node"]` for `faultline node`.
    pub raft_args_prefix: Vec<String>,
    /// Arguments before a bank node's role, e.g. `["bank"]` for `faultline bank`.
    pub bank_args_prefix: Vec<String>,
    /// Appended to every Raft node's arguments (Raft system and decision store).
    pub raft_extra_args: Vec<String>,
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
            system: SystemSpec {
                kind: SystemKind::Raft,
                nodes,
                bug: None,
                bank: None,
            },
            program,
            raft_args_prefix,
            bank_args_prefix: Vec::new(),
            raft_extra_args,
        }
    }

    /// Every node with its role, in start order.
    pub fn nodes(&self) -> Vec<(String, NodeRole)> {
        self.system.nodes_with_roles()
    }

    /// The command line (after the program) of node `id`: see the module docs. `reach`
    /// gives the address at which this node reaches another node.
    pub fn command_line(
        &self,
        id: &str,
        listen: SocketAddr,
        data_dir: &Path,
        reach: &dyn Fn(&str) -> SocketAddr,
    ) -> Vec<String> {
        let role = self
            .nodes()
            .into_iter()
            .find(|(node, _)| node == id)
            .map_or(NodeRole::RaftNode, |(_, role)| role);
        let common = NodeArgs {
            id,
            listen,
            data_dir,
        };
        match role {
            NodeRole::RaftNode => self.raft_node(&common, NodeRole::RaftNode, reach),
            NodeRole::DecisionStore => self.raft_node(&common, NodeRole::DecisionStore, reach),
            NodeRole::Coordinator => self.coordinator(&common, reach),
            NodeRole::Participant => self.participant(&common, reach),
        }
    }

    /// `id=ADDR,...` for the nodes of `role` other than `me`, as `me` reaches them.
    fn named_addrs(&self, role: NodeRole, me: &str, reach: &dyn Fn(&str) -> SocketAddr) -> String {
        self.system
            .ids_of_role(role)
            .into_iter()
            .filter(|other| other != me)
            .map(|other| format!("{other}={}", reach(&other)))
            .collect::<Vec<_>>()
            .join(",")
    }

    fn raft_node(
        &self,
        node: &NodeArgs<'_>,
        role: NodeRole,
        reach: &dyn Fn(&str) -> SocketAddr,
    ) -> Vec<String> {
        let mut args = self.raft_args_prefix.clone();
        args.extend(node.common());
        let peers = self.named_addrs(role, node.id, reach);
        // A one-node cluster has no peers, and an empty `--peers` value is refused.
        if !peers.is_empty() {
            args.extend(["--peers".to_string(), peers]);
        }
        args.extend(self.raft_extra_args.iter().cloned());
        args
    }

    fn coordinator(&self, node: &NodeArgs<'_>, reach: &dyn Fn(&str) -> SocketAddr) -> Vec<String> {
        let bank = self.system.bank.expect("a bank layout has a bank spec");
        let mut args = self.bank_args_prefix.clone();
        args.push("coordinator".into());
        args.extend(node.common());
        args.extend([
            "--accounts".to_string(),
            bank.accounts.to_string(),
            "--participants".into(),
            self.named_addrs(NodeRole::Participant, node.id, reach),
        ]);
        if bank.replicated_coordinator {
            args.extend([
                "--replicated-coordinator".to_string(),
                "--decision-store".into(),
                self.named_addrs(NodeRole::DecisionStore, node.id, reach),
            ]);
        }
        args.extend(self.bank_bug(NodeRole::Coordinator));
        args
    }

    fn participant(&self, node: &NodeArgs<'_>, reach: &dyn Fn(&str) -> SocketAddr) -> Vec<String> {
        let bank = self.system.bank.expect("a bank layout has a bank spec");
        let shard = self
            .system
            .ids_of_role(NodeRole::Participant)
            .iter()
            .position(|p| p == node.id)
            .expect("a participant of this layout");
        let coordinators: Vec<String> = self
            .system
            .ids_of_role(NodeRole::Coordinator)
            .iter()
            .map(|c| reach(c).to_string())
            .collect();
        let mut args = self.bank_args_prefix.clone();
        args.push("participant".into());
        args.extend(node.common());
        args.extend([
            "--coordinator".to_string(),
            coordinators.join(","),
            "--accounts".into(),
            bank.accounts.to_string(),
            "--initial-balance".into(),
            bank.initial_balance.to_string(),
            "--shard".into(),
            shard.to_string(),
            "--shards".into(),
            bank.participants.to_string(),
        ]);
        args.extend(self.bank_bug(NodeRole::Participant));
        args
    }

    /// `--bug NAME` when the schedule's bank bug belongs to `role`.
    fn bank_bug(&self, role: NodeRole) -> Vec<String> {
        match &self.system.bug {
            Some(bug) if BANK_BUGS.iter().any(|(name, r)| name == bug && *r == role) => {
                vec!["--bug".into(), bug.clone()]
            }
            _ => Vec::new(),
        }
    }
}

/// The arguments every node takes.
struct NodeArgs<'a> {
    id: &'a str,
    listen: SocketAddr,
    data_dir: &'a Path,
}

impl NodeArgs<'_> {
    fn common(&self) -> [String; 6] {
        [
            "--id".into(),
            self.id.into(),
            "--listen".into(),
            self.listen.to_string(),
            "--data-dir".into(),
            self.data_dir.display().to_string(),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule::BankSystemSpec;

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
            system: SystemSpec {
                kind: SystemKind::Bank,
                nodes: 0,
                bug: bug.map(String::from),
                bank: Some(BankSystemSpec {
                    participants: 2,
                    accounts: 6,
                    initial_balance: 50,
                    replicated_coordinator: replicated,
                    coordinators: if replicated { 2 } else { 1 },
                }),
            },
            program: PathBuf::from("faultline"),
            raft_args_prefix: vec!["node".into()],
            bank_args_prefix: vec!["bank".into()],
            raft_extra_args: vec!["--heartbeat-ms".into(), "50".into()],
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
}
