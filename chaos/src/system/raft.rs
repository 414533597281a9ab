//! The Raft key-value store of `system-under-test`: `system: { kind: raft, nodes: N, bug: B }`.
//!
//! Nodes `n1..nN`, each `PROGRAM [raft prefix] --id nK --listen ADDR --data-dir DIR
//! --peers nJ=ADDR,... [raft extra args] [--bug B]` (exactly the command line the store has
//! always been started with; a one-node cluster gets no `--peers`). Ready when `GET /status`
//! answers; the leader is the node whose status says `leader` with the highest term. A bug
//! must be one of the store's own [`Bug`] names (refused at validation, not at node start).

use std::sync::Arc;

use clap::ValueEnum;
use serde_saphyr::Location;
use system_under_test::Bug;
use workloads::client::pool::NodePool;

use super::{
    ClientSpec, LeaderClaim, NodeCommand, NodeEnv, NodeRole, Probe, RawSystem, System, SystemError,
    bounded, known_bug, named_addrs, numbered, numbered_nodes,
};
use crate::workload::{ReadMode, WorkloadKind};

/// The `kind:` of the Raft store.
pub const KIND: &str = "raft";
/// Most nodes a schedule may ask for.
pub const MAX_NODES: u64 = 64;
/// The store's one role.
pub const RAFT_NODE: NodeRole = NodeRole::new("raft-node");

/// The Raft store's planted bugs' names, from its own enum.
pub fn bug_names() -> Vec<String> {
    Bug::value_variants().iter().map(Bug::to_string).collect()
}

/// A Raft store of `nodes` nodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RaftSystem {
    pub nodes: usize,
}

/// `system: { kind: raft, ... }`.
pub fn parse(raw: &RawSystem, here: Location) -> Result<Arc<dyn System>, SystemError> {
    let nodes = numbered_nodes(raw, here, &["nodes", "bug"], "a raft")?;
    let nodes = bounded(nodes, "a number of nodes", 1, MAX_NODES)?;
    known_bug(&raw.bug, KIND)?;
    Ok(Arc::new(RaftSystem { nodes }))
}

/// A Raft node's arguments (also the bank's decision store's): the common ones, the
/// other nodes of `role` as peers, the extra arguments.
pub fn raft_node_args(env: &NodeEnv<'_>, nodes: &[(String, NodeRole)]) -> Vec<String> {
    let mut args = env.programs.raft_args_prefix.clone();
    args.extend(common_args(env));
    let peers = named_addrs(nodes, env.role, env.id, env.reach);
    // A one-node cluster has no peers, and an empty `--peers` value is refused.
    if !peers.is_empty() {
        args.extend(["--peers".to_string(), peers]);
    }
    args.extend(env.programs.raft_extra_args.iter().cloned());
    args
}

/// `--id ID --listen ADDR --data-dir DIR`: what every node of faultline's systems takes.
pub fn common_args(env: &NodeEnv<'_>) -> [String; 6] {
    [
        "--id".into(),
        env.id.into(),
        "--listen".into(),
        env.client_listen.to_string(),
        "--data-dir".into(),
        env.data_dir.display().to_string(),
    ]
}

impl System for RaftSystem {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn nodes(&self) -> Vec<(String, NodeRole)> {
        numbered("n", self.nodes, RAFT_NODE).collect()
    }

    fn yaml_fields(&self) -> String {
        format!("nodes: {}", self.nodes)
    }

    fn node_list(&self) -> String {
        format!("n1..n{}", self.nodes)
    }

    fn workloads(&self) -> &'static [WorkloadKind] {
        &[
            WorkloadKind::Register,
            WorkloadKind::Set,
            WorkloadKind::Append,
            WorkloadKind::ListAppend,
            WorkloadKind::RwRegister,
        ]
    }

    fn command(&self, env: &NodeEnv<'_>) -> NodeCommand {
        let mut args = raft_node_args(env, &self.nodes());
        if let Some(bug) = env.bug {
            args.extend(["--bug".to_string(), bug.to_string()]);
        }
        NodeCommand {
            program: env.programs.program.clone(),
            args,
        }
    }

    fn ready(&self, pool: Arc<NodePool>, deadline: tokio::time::Instant) -> Probe<bool> {
        super::answers_status(pool, deadline)
    }

    fn claim_leadership(
        &self,
        _id: &str,
        _role: NodeRole,
        pool: Arc<NodePool>,
        deadline: tokio::time::Instant,
    ) -> Option<Probe<Option<LeaderClaim>>> {
        Some(super::raft_status_claim(pool, deadline))
    }

    fn client(&self, _read: Option<ReadMode>) -> ClientSpec {
        ClientSpec::Raft
    }
}
