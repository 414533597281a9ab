//! kill -9 the leader of a 3-node cluster: a new leader is elected, and every acknowledged
//! write is still readable after every node is killed and restarted from its data dir.

use std::collections::BTreeMap;
use std::time::Duration;

use chaos::cluster::NetworkKind;
use serde_json::{Value, json};
use tests::{TestCluster, mismatches, until_ok};
use workloads::client::{Invocation, Outcome, RaftClient};

/// Writes `key{i}` = i for i in `range`, each once; returns the acknowledged ones.
async fn write_keys(client: &RaftClient, range: std::ops::Range<u64>) -> BTreeMap<String, Value> {
    let mut acked = BTreeMap::new();
    for i in range {
        let key = format!("key{i}");
        if let Outcome::Ok(_) = client.run(&Invocation::write(key.clone(), json!(i))).await {
            acked.insert(key, json!(i));
        }
    }
    acked
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_leader_elects_another_and_loses_no_acknowledged_write() {
    let mut tc = TestCluster::start(3, NetworkKind::Direct, &[]).await;
    let ids = tc.node_ids();
    let old_leader = tc.wait_for_leader(&ids, Duration::from_secs(10)).await;
    let old_term = tc
        .status(&old_leader)
        .await
        .expect("leader answers /status")
        .term;

    let mut acked = write_keys(&tc.client, 0..50).await;
    assert!(
        acked.len() >= 45,
        "a healthy cluster acknowledges writes: only {} of 50\n{}",
        acked.len(),
        tc.log_tails(20)
    );

    tc.cluster_mut()
        .kill(&old_leader)
        .await
        .expect("kill -9 the leader");
    let survivors: Vec<String> = ids
        .iter()
        .filter(|id| **id != old_leader)
        .cloned()
        .collect();
    let new_leader = tc
        .wait_for_leader(&survivors, Duration::from_secs(10))
        .await;
    let new_term = tc
        .status(&new_leader)
        .await
        .expect("new leader answers")
        .term;
    assert!(
        new_term > old_term,
        "the new leader {new_leader} is in term {new_term}, not after {old_term}"
    );

    // Writes go on through the survivors; the client learns the new leader by itself.
    let first = until_ok(
        &tc.client,
        &Invocation::write("key50", json!(50)),
        Duration::from_secs(10),
    )
    .await;
    assert!(
        first.is_some(),
        "no write acknowledged after failover\n{}",
        tc.log_tails(30)
    );
    acked.insert("key50".into(), json!(50));
    acked.extend(write_keys(&tc.client, 51..100).await);

    for id in &survivors {
        tc.cluster_mut().kill(id).await.expect("kill -9 a survivor");
    }
    for id in &ids {
        tc.cluster_mut()
            .restart(id)
            .await
            .expect("restart from the data dir");
    }
    tc.wait_for_leader(&ids, Duration::from_secs(10)).await;
    let wrong = mismatches(&tc.client, &acked, Duration::from_secs(10)).await;
    assert!(
        wrong.is_empty(),
        "acknowledged writes lost or changed after restart (key, written, read): {wrong:?}\n{}",
        tc.log_tails(30)
    );
    tc.shutdown().await;
}
