//! The netns network with a real raft cluster (root only: a failure under `CI=true` without
//! it, skipped with a printed reason otherwise): nodes in their own namespaces, kernel-level
//! cuts, everything removed after.

mod common;

use std::path::Path;
use std::time::Duration;

use chaos::cluster::{Cluster, NetworkKind};
use chaos::network::netns::{check_available, namespace_name};
use common::{eventually, raft_config, write};

const SETTLE: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn netns_cluster_partitions_heals_and_removes_its_namespaces() {
    if let Err(reason) = check_available() {
        common::tool_missing(&reason.to_string());
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::start(raft_config(dir.path(), 3, NetworkKind::Netns))
        .await
        .unwrap();
    let run_id = cluster.run_id().to_string();
    let namespaces: Vec<String> = cluster
        .node_ids()
        .iter()
        .map(|id| namespace_name(&run_id, id))
        .collect();
    for namespace in &namespaces {
        assert!(
            Path::new("/run/netns").join(namespace).exists(),
            "{namespace}"
        );
    }
    let old = eventually(SETTLE, || cluster.leader())
        .await
        .expect("no leader");
    assert!(write(cluster.client_addr(&old), "k", 1).await);

    cluster.partition(&[vec![old.clone()]]).await.unwrap();
    let new = eventually(SETTLE, || async {
        cluster.leader().await.filter(|leader| *leader != old)
    })
    .await
    .expect("no new leader behind the kernel-level partition");
    assert!(write(cluster.client_addr(&new), "k", 2).await);
    assert!(
        !write(cluster.client_addr(&old), "k", 3).await,
        "isolated leader committed"
    );

    cluster.heal().await.unwrap();
    let rejoined = eventually(SETTLE, || async {
        let status = cluster.status(&old).await.ok()?;
        (status.role == "follower").then_some(())
    })
    .await;
    assert!(rejoined.is_some(), "old leader did not rejoin after heal");
    let error = cluster
        .set_latency("n1", "n2", 5)
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("does not support latency"), "{error}");

    cluster.shutdown().await.unwrap();
    for namespace in &namespaces {
        assert!(
            !Path::new("/run/netns").join(namespace).exists(),
            "{namespace} left behind"
        );
    }
    let hub = format!("fl-{run_id}-hub");
    assert!(!Path::new("/run/netns").join(hub).exists());
}
