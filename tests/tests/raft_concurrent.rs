//! Concurrent clients against 3- and 5-node clusters: every acknowledged write is visible
//! afterwards, and the last acknowledged write of a key shared by sequential writers wins.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chaos::cluster::NetworkKind;
use serde_json::{Value, json};
use tests::{TestCluster, mismatches, until_ok};
use workloads::client::{Invocation, Outcome, RaftClient};

const WRITES_PER_CLIENT: u64 = 60;

/// Client `c` writes `c-{i}` = i for its own keys; returns the acknowledged writes and the
/// number of unknown outcomes.
async fn run_writer(client: Arc<RaftClient>, c: u64) -> (BTreeMap<String, Value>, usize) {
    let mut acked = BTreeMap::new();
    let mut unknown = 0;
    for i in 0..WRITES_PER_CLIENT {
        let key = format!("c{c}-{i}");
        match client.run(&Invocation::write(key.clone(), json!(i))).await {
            Outcome::Ok(_) => {
                acked.insert(key, json!(i));
            }
            Outcome::Info(_) => unknown += 1,
            Outcome::Fail(_) => {}
        }
    }
    (acked, unknown)
}

async fn every_acknowledged_write_is_visible(nodes: usize, network: NetworkKind, clients: u64) {
    let tc = TestCluster::start(nodes, network, &[]).await;
    tc.wait_for_leader(&tc.node_ids(), Duration::from_secs(10))
        .await;
    let tasks: Vec<_> = (0..clients)
        .map(|c| {
            // Separate clients: separate connections, sessions and leader memory.
            let client = Arc::new(tc.new_client(2000));
            tokio::spawn(run_writer(client, c))
        })
        .collect();
    let mut acked = BTreeMap::new();
    let mut unknown = 0;
    for task in tasks {
        let (writes, infos) = task.await.expect("writer task");
        acked.extend(writes);
        unknown += infos;
    }
    let attempted = (clients * WRITES_PER_CLIENT) as usize;
    assert!(
        acked.len() * 10 >= attempted * 9,
        "a healthy cluster acknowledged only {} of {attempted} writes ({unknown} unknown)\n{}",
        acked.len(),
        tc.log_tails(20)
    );
    let wrong = mismatches(&tc.client, &acked, Duration::from_secs(10)).await;
    assert!(
        wrong.is_empty(),
        "acknowledged writes not visible (key, written, read): {wrong:?}"
    );
    tc.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_direct_sixteen_clients() {
    every_acknowledged_write_is_visible(3, NetworkKind::Direct, 16).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_nodes_through_proxies_eight_clients() {
    every_acknowledged_write_is_visible(5, NetworkKind::Proxy, 8).await;
}

/// Writers take turns on one key (a lock makes their writes sequential), so the value read
/// afterwards must be the last acknowledged one, or one of the unknown writes after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_acknowledged_write_of_a_shared_key_wins() {
    let tc = TestCluster::start(3, NetworkKind::Direct, &[]).await;
    tc.wait_for_leader(&tc.node_ids(), Duration::from_secs(10))
        .await;
    // The writes in the order they were made: (value, acknowledged?), failed ones left out.
    let order = Arc::new(tokio::sync::Mutex::new(Vec::<(u64, bool)>::new()));
    let tasks: Vec<_> = (0..8u64)
        .map(|c| {
            let client = Arc::new(tc.new_client(2000));
            let order = order.clone();
            tokio::spawn(async move {
                for i in 0..20u64 {
                    let value = c * 1000 + i;
                    let mut order = order.lock().await;
                    match client.run(&Invocation::write("shared", json!(value))).await {
                        Outcome::Ok(_) => order.push((value, true)),
                        Outcome::Info(_) => order.push((value, false)),
                        Outcome::Fail(_) => {}
                    }
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("writer task");
    }
    let order = order.lock().await.clone();
    let last_acked = order
        .iter()
        .rposition(|(_, acked)| *acked)
        .expect("some write acknowledged");
    let allowed: Vec<Value> = order[last_acked..].iter().map(|(v, _)| json!(v)).collect();
    let read = until_ok(
        &tc.client,
        &Invocation::read("shared"),
        Duration::from_secs(10),
    )
    .await;
    let read = read.expect("the shared key is readable");
    assert!(
        allowed.contains(&read),
        "read {read}, but the last acknowledged write and the unknown ones after it are {allowed:?}"
    );
    tc.shutdown().await;
}
