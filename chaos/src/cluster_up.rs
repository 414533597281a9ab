//! What `faultline cluster up` tells its user: each node's address, pid and log, the
//! leader, and where the logs stay once Ctrl-C has torn the cluster down.
//!
//! Without `--dir` the cluster lives in a temporary directory; on Ctrl-C its data dirs are
//! removed and its logs are kept ([`keep_logs_only`]), so that what the nodes said while
//! being poked at can still be read.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::cluster::Cluster;

/// How long `cluster up` waits for a first leader before saying there is none yet.
pub const LEADER_WAIT_MS: u64 = 10_000;

/// One line per node: `n1 http://127.0.0.1:40001  pid 4242  log DIR/nodes/n1.log`.
pub fn node_lines(cluster: &Cluster) -> String {
    let mut out = String::new();
    for id in cluster.node_ids() {
        let pid = cluster
            .pid(&id)
            .map_or_else(|| "not running".to_string(), |pid| pid.to_string());
        out.push_str(&format!(
            "{id} http://{}  pid {pid}  log {}\n",
            cluster.client_addr(&id),
            cluster.log_path(&id).display()
        ));
    }
    out
}

/// `leader: n2 http://127.0.0.1:40002` once a node claims to lead (asked every 100 ms, for
/// at most [`LEADER_WAIT_MS`]), or a line saying there is none yet.
pub async fn leader_line(cluster: &Cluster) -> String {
    let deadline = Instant::now() + Duration::from_millis(LEADER_WAIT_MS);
    loop {
        if let Some(leader) = cluster.leader().await {
            return format!(
                "leader: {leader} http://{} (another node answers a write with \
                 {{\"error\":\"not-leader\",\"leader\":\"{leader}\"}}: the leader's id, above)",
                cluster.client_addr(&leader)
            );
        }
        if Instant::now() >= deadline {
            return format!(
                "leader: none after {} s (GET /status on a node says its role and term)",
                LEADER_WAIT_MS / 1000
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Removes `dir/data` and keeps the rest of the temporary directory (the node logs),
/// returning its path.
pub fn keep_logs_only(temp: tempfile::TempDir) -> std::io::Result<PathBuf> {
    let dir = temp.keep();
    remove_data(&dir)?;
    Ok(dir)
}

fn remove_data(dir: &Path) -> std::io::Result<()> {
    match std::fs::remove_dir_all(dir.join("data")) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeping_logs_removes_the_data_only() {
        let temp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(temp.path().join("data/n1")).unwrap();
        std::fs::create_dir_all(temp.path().join("nodes")).unwrap();
        std::fs::write(temp.path().join("nodes/n1.log"), "serving").unwrap();
        let dir = keep_logs_only(temp).unwrap();
        assert!(!dir.join("data").exists());
        assert_eq!(
            std::fs::read_to_string(dir.join("nodes/n1.log")).unwrap(),
            "serving"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
