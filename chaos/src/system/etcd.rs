//! etcd, a real Raft database nobody here wrote: `system: { kind: etcd, nodes: 3 }` (3 or 5
//! members; `binary:` optional, default `etcd` on `PATH`; tested with etcd 3.4).
//!
//! # Members
//!
//! Members `n1..nN`, each an OS process under the supervisor like any node: its own data
//! directory (`data/<id>`, kept across a kill -9 and its restart), `--name nK`, a client URL
//! on its client address and a peer URL on a port of its own
//! ([`System::separate_peer_port`]), and the whole `--initial-cluster` (every member's peer
//! URL). Its log (etcd's zap logger on stderr) goes to `nodes/<id>.log` like every node's.
//!
//! ```text
//! etcd --name n1 --data-dir DIR
//!      --listen-client-urls http://C1 --advertise-client-urls http://C1
//!      --listen-peer-urls http://P1 --initial-advertise-peer-urls http://P1
//!      --initial-cluster n1=http://P1,n2=http://P2,n3=http://P3
//!      --initial-cluster-state new --initial-cluster-token faultline
//!      --logger zap --log-outputs stderr
//! ```
//!
//! On a restart etcd finds its member directory and ignores the `--initial-*` flags.
//! (etcd 3.4 with `--log-outputs FILE` and its default logger exits at start: hence zap on
//! stderr, which the supervisor sends to the log file.)
//!
//! # Networks: netns only
//!
//! etcd derives the cluster id from the advertised peer URLs, and every member advertises
//! *one* peer URL to all the others. The proxy network gives each directed link its own
//! address (a member would have to advertise a different URL to each peer), so it cannot
//! stand between etcd members: a schedule with `network: proxy` is refused at validation,
//! and an etcd schedule's default network is `netns` (root). There member `k` listens on
//! `10.213.0.k:7000` for clients and `10.213.0.k:7001` for peers, every member advertises
//! the same URLs to all, and nftables cuts exactly the links a partition names. (The
//! `direct` network, for `faultline cluster up` and tests, gives each member two loopback
//! ports and no faults of the network.)
//!
//! # Readiness and the leader
//!
//! A member is ready when its client port answers `GET /version` with 200: etcd serves its
//! client port only once the member has joined the cluster (published itself through Raft),
//! so a cluster is ready when every member answers. The leader probe asks each running
//! member's JSON gateway `POST /v3/maintenance/status`: a member whose `leader` is its own
//! `header.member_id` claims to lead in `raftTerm`, and the highest term wins, as with the
//! Raft store.
//!
//! # Clients and workloads
//!
//! The workloads `register`, `set` and `append` go through [`workloads::client::EtcdClient`]
//! (etcd's v3 KV API over its JSON gateway, each client thread bound to one member); the
//! workload's `read: linearizable | serializable` picks etcd's read mode (linearizable by
//! default). Planted bugs are faultline's own systems' business: `bug:` is refused.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use hyper::Method;
use serde_saphyr::Location;
use workloads::client::Transport;
use workloads::client::pool::NodePool;

use super::{
    ClientSpec, LeaderClaim, NodeCommand, NodeEnv, NodeRole, Probe, RawSystem, System, SystemError,
    numbered, numbered_nodes,
};
use crate::network::NetworkKind;
use crate::workload::{ReadMode, WorkloadKind};

/// The `kind:` of etcd.
pub const KIND: &str = "etcd";
/// An etcd member.
pub const MEMBER: NodeRole = NodeRole::new("etcd-member");
/// The member counts a schedule may ask for.
pub const MEMBER_COUNTS: [u64; 2] = [3, 5];
/// The executable looked up on `PATH` when the schedule names none.
pub const DEFAULT_BINARY: &str = "etcd";
/// The cluster token every member is started with (the data dirs are fresh per run).
pub const CLUSTER_TOKEN: &str = "faultline";

/// An etcd cluster of `nodes` members run by `binary`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EtcdSystem {
    pub nodes: usize,
    /// The executable as the schedule names it (`etcd` unless `binary:` says otherwise).
    pub binary_name: String,
    /// Where it was found at validation.
    pub binary: PathBuf,
}

/// The executable `name`: a path if it has a `/`, else the first match on `PATH`.
pub fn find_executable(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let executable = |path: &Path| {
        path.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if name.contains('/') {
        let path = PathBuf::from(name);
        return executable(&path).then_some(path);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| executable(candidate))
}

/// `system: { kind: etcd, nodes: N, binary: B }`.
pub fn parse(raw: &RawSystem, here: Location) -> Result<Arc<dyn System>, SystemError> {
    if let Some(bug) = &raw.bug {
        return Err(SystemError::new(
            bug.referenced,
            "expected no planted bug for an etcd system (bugs are planted only in the systems faultline ships: raft, bank), found `bug`",
        ));
    }
    let nodes = numbered_nodes(raw, here, &["nodes", "binary"], "an etcd")?;
    if !MEMBER_COUNTS.contains(&nodes.value) {
        return Err(SystemError::new(
            nodes.referenced,
            format!(
                "expected 3 or 5 members for an etcd system, found {}",
                nodes.value
            ),
        ));
    }
    let (binary_name, location) = match &raw.binary {
        Some(binary) => (binary.value.clone(), binary.referenced),
        None => (DEFAULT_BINARY.to_string(), raw.kind.referenced),
    };
    let Some(binary) = find_executable(&binary_name) else {
        let found = if binary_name.contains('/') {
            format!("no executable file `{binary_name}`")
        } else {
            format!("no `{binary_name}` on PATH")
        };
        return Err(SystemError::new(
            location,
            format!(
                "expected the etcd executable (install etcd, e.g. Debian's etcd-server, or name it with `binary: /path/to/etcd`), found {found}"
            ),
        ));
    };
    Ok(Arc::new(EtcdSystem {
        nodes: nodes.value as usize,
        binary_name,
        binary,
    }))
}

fn url(addr: std::net::SocketAddr) -> String {
    format!("http://{addr}")
}

/// A member's answer to `/v3/maintenance/status` (64-bit numbers are strings in etcd's JSON).
#[derive(Debug, serde::Deserialize)]
struct MaintenanceStatus {
    header: StatusHeader,
    #[serde(default)]
    leader: Option<String>,
    #[serde(default, rename = "raftTerm")]
    raft_term: Option<String>,
}

#[derive(Debug, serde::Deserialize)]
struct StatusHeader {
    member_id: String,
}

/// The claim in a status answer: the member leads if its leader is itself.
fn claim_from(id: &str, body: &[u8]) -> Option<LeaderClaim> {
    let status: MaintenanceStatus = serde_json::from_slice(body).ok()?;
    let leader = status.leader?;
    (leader == status.header.member_id && leader != "0").then(|| LeaderClaim {
        id: id.to_string(),
        term: status
            .raft_term
            .and_then(|t| t.parse().ok())
            .unwrap_or_default(),
    })
}

impl System for EtcdSystem {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn nodes(&self) -> Vec<(String, NodeRole)> {
        numbered("n", self.nodes, MEMBER).collect()
    }

    fn yaml_fields(&self) -> String {
        // A JSON string is a YAML double-quoted scalar: any path survives.
        format!(
            "nodes: {}, binary: {}",
            self.nodes,
            serde_json::Value::String(self.binary_name.clone())
        )
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

    fn read_modes(&self) -> bool {
        true
    }

    fn network_refusal(&self, network: NetworkKind) -> Option<String> {
        (network == NetworkKind::Proxy).then(|| {
            "expected `network: netns` for an etcd system (etcd advertises one peer URL per member to every member, so per-link proxies cannot stand between its members), found `proxy`".to_string()
        })
    }

    fn default_network(&self) -> NetworkKind {
        NetworkKind::Netns
    }

    fn separate_peer_port(&self) -> bool {
        true
    }

    fn command(&self, env: &NodeEnv<'_>) -> NodeCommand {
        let initial_cluster: Vec<String> = self
            .nodes()
            .iter()
            .map(|(id, _)| format!("{id}={}", url((env.peer_addrs)(id))))
            .collect();
        let client = url(env.client_listen);
        let peer = url(env.peer_listen);
        let args = [
            ("--name", env.id.to_string()),
            ("--data-dir", env.data_dir.display().to_string()),
            ("--listen-client-urls", client.clone()),
            ("--advertise-client-urls", client),
            ("--listen-peer-urls", peer.clone()),
            ("--initial-advertise-peer-urls", peer),
            ("--initial-cluster", initial_cluster.join(",")),
            ("--initial-cluster-state", "new".into()),
            ("--initial-cluster-token", CLUSTER_TOKEN.into()),
            ("--logger", "zap".into()),
            ("--log-outputs", "stderr".into()),
        ]
        .into_iter()
        .flat_map(|(flag, value)| [flag.to_string(), value])
        .collect();
        NodeCommand {
            program: self.binary.clone(),
            args,
        }
    }

    fn ready(&self, pool: Arc<NodePool>, deadline: tokio::time::Instant) -> Probe<bool> {
        Box::pin(async move {
            matches!(
                pool.send(Method::GET, "/version", Bytes::new(), deadline)
                    .await,
                Transport::Answered { status: 200, .. }
            )
        })
    }

    fn claim_leadership(
        &self,
        id: &str,
        _role: NodeRole,
        pool: Arc<NodePool>,
        deadline: tokio::time::Instant,
    ) -> Option<Probe<Option<LeaderClaim>>> {
        let id = id.to_string();
        Some(Box::pin(async move {
            match pool
                .send(
                    Method::POST,
                    "/v3/maintenance/status",
                    Bytes::from_static(b"{}"),
                    deadline,
                )
                .await
            {
                Transport::Answered { status: 200, body } => claim_from(&id, &body),
                _ => None,
            }
        }))
    }

    fn client(&self, read: Option<ReadMode>) -> ClientSpec {
        ClientSpec::Etcd {
            read: read.unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_member_claims_to_lead_only_when_it_is_its_own_leader() {
        // The shape of etcd 3.4's answer (trimmed).
        let leader = br#"{"header":{"cluster_id":"1","member_id":"42","revision":"5","raft_term":"3"},"version":"3.4.23","leader":"42","raftIndex":"9","raftTerm":"3"}"#;
        assert_eq!(
            claim_from("n2", leader),
            Some(LeaderClaim {
                id: "n2".into(),
                term: 3
            })
        );
        let follower = br#"{"header":{"member_id":"7"},"leader":"42","raftTerm":"3"}"#;
        assert_eq!(claim_from("n1", follower), None);
        let no_leader = br#"{"header":{"member_id":"7"},"leader":"0","raftTerm":"3"}"#;
        assert_eq!(claim_from("n1", no_leader), None);
        assert_eq!(claim_from("n1", b"not json"), None);
    }
}
