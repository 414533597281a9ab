//! `GET /status`, which every node of every system under test answers (DESIGN.md): the
//! one status type and the one way to ask for it, used by the clients and by the
//! controller's cluster (to find the leader and to see that a node is up).

use bytes::Bytes;
use hyper::Method;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::Transport;
use super::pool::NodePool;

/// `GET /status` of one node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeStatus {
    pub id: String,
    /// `follower`, `candidate` or `leader`.
    pub role: String,
    pub term: u64,
    pub leader: Option<String>,
    #[serde(default)]
    pub commit_index: u64,
    #[serde(default)]
    pub applied_index: u64,
    #[serde(default)]
    pub last_log_index: u64,
}

/// Asks the node behind `pool` for its status, answering by `deadline`; the error says
/// what went wrong (no answer, another HTTP status, a body that is not a status).
pub async fn fetch_status(pool: &NodePool, deadline: Instant) -> Result<NodeStatus, String> {
    match pool
        .send(Method::GET, "/status", Bytes::new(), deadline)
        .await
    {
        Transport::Answered { status: 200, body } => serde_json::from_slice(&body)
            .map_err(|e| format!("bad body {:?}: {e}", String::from_utf8_lossy(&body))),
        Transport::Answered { status, .. } => Err(format!("HTTP {status}")),
        other => Err(format!("{other:?}")),
    }
}

/// Whether the node behind `pool` answers `GET /status` with 200 by `deadline`, whatever
/// the body says: every system's nodes answer it (the bank's with bodies of their own), so
/// this is how a controller sees that any node is up.
pub async fn answers_status(pool: &NodePool, deadline: Instant) -> bool {
    matches!(
        pool.send(Method::GET, "/status", Bytes::new(), deadline)
            .await,
        Transport::Answered { status: 200, .. }
    )
}
