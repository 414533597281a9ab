//! A follower that is down while thousands of writes commit catches up through a snapshot.
//!
//! Nodes compact their log every 100 entries (`--snapshot-every 100`, keeping 10 below the
//! snapshot), so by the time the
//! killed follower returns, the entries it lacks are gone from the leader's log and only an
//! InstallSnapshot can bring it up to date. Proof that it did: its `/status` applied index
//! reaches the leader's commit index, its data dir now holds a snapshot, and — after the
//! leader is killed and the third node's disk is wiped — it is the only node that has the
//! data, becomes leader, and serves every acknowledged write.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chaos::cluster::NetworkKind;
use serde_json::{Value, json};
use tests::{TestCluster, mismatches};
use tokio::time::{Instant, sleep};
use workloads::client::{Invocation, Outcome, RaftClient};

const SNAPSHOT_EVERY: &str = "100";
/// Entries a leader keeps below its snapshot: few, so that a lagging follower needs the snapshot.
const LOG_RETAIN: &str = "10";
const WRITERS: u64 = 16;
const WRITES_PER_WRITER: u64 = 150;
/// The file the node keeps its snapshot in (system-under-test's storage module).
const SNAPSHOT_FILE: &str = "snapshot.bin";

async fn write_many(client: Arc<RaftClient>, writer: u64) -> BTreeMap<String, Value> {
    let mut acked = BTreeMap::new();
    for i in 0..WRITES_PER_WRITER {
        let key = format!("w{writer}-{i}");
        if let Outcome::Ok(_) = client.run(&Invocation::write(key.clone(), json!(i))).await {
            acked.insert(key, json!(i));
        }
    }
    acked
}

fn has_snapshot(data_dir: &Path) -> bool {
    std::fs::metadata(data_dir.join(SNAPSHOT_FILE)).is_ok_and(|m| m.len() > 0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_down_during_thousands_of_writes_catches_up_through_a_snapshot() {
    let mut tc = TestCluster::start(
        3,
        NetworkKind::Direct,
        &[
            "--snapshot-every",
            SNAPSHOT_EVERY,
            "--log-retain-entries",
            LOG_RETAIN,
        ],
    )
    .await;
    let ids = tc.node_ids();
    let leader = tc.wait_for_leader(&ids, Duration::from_secs(10)).await;
    let followers: Vec<String> = ids.iter().filter(|id| **id != leader).cloned().collect();
    let (lagger, other) = (followers[0].clone(), followers[1].clone());
    let lagger_dir = tc.cluster().data_dir(&lagger);
    assert!(
        !has_snapshot(&lagger_dir),
        "{lagger} has a snapshot before any write"
    );

    tc.cluster_mut()
        .kill(&lagger)
        .await
        .expect("kill -9 a follower");
    let tasks: Vec<_> = (0..WRITERS)
        .map(|w| tokio::spawn(write_many(Arc::new(tc.new_client(2000)), w)))
        .collect();
    let mut acked = BTreeMap::new();
    for task in tasks {
        acked.extend(task.await.expect("writer task"));
    }
    assert!(
        acked.len() as u64 >= WRITERS * WRITES_PER_WRITER * 9 / 10,
        "only {} writes acknowledged by a healthy majority\n{}",
        acked.len(),
        tc.log_tails(20)
    );

    let commit_index = tc
        .status(&leader)
        .await
        .expect("leader answers")
        .commit_index;
    tc.cluster_mut()
        .restart(&lagger)
        .await
        .expect("restart the follower");
    wait_for_applied(&tc, &lagger, commit_index).await;
    assert!(
        has_snapshot(&lagger_dir),
        "{lagger} caught up to index {commit_index} but holds no {SNAPSHOT_FILE}"
    );

    // Only the lagger keeps the data now: the leader dies and the other follower loses its disk.
    tc.cluster_mut()
        .kill(&leader)
        .await
        .expect("kill -9 the leader");
    tc.cluster_mut()
        .kill(&other)
        .await
        .expect("kill -9 the other follower");
    wipe(&tc.cluster().data_dir(&other));
    tc.cluster_mut()
        .restart(&other)
        .await
        .expect("restart the wiped follower");
    let new_leader = tc
        .wait_for_leader(&[lagger.clone(), other.clone()], Duration::from_secs(10))
        .await;
    assert_eq!(new_leader, lagger, "the only node with a log must lead");
    let wrong = mismatches(&tc.client, &acked, Duration::from_secs(10)).await;
    assert!(
        wrong.is_empty(),
        "{} of {} acknowledged writes missing on the caught-up node (key, written, read), first: {:?}\n{}",
        wrong.len(),
        acked.len(),
        wrong.first(),
        tc.log_tails(30)
    );
    tc.shutdown().await;
}

async fn wait_for_applied(tc: &TestCluster, node: &str, index: u64) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let applied = tc.status(node).await.map(|s| s.applied_index);
        if applied.is_some_and(|a| a >= index) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{node} applied {applied:?}, not {index}, within 20 s\n{}",
            tc.log_tails(30)
        );
        sleep(Duration::from_millis(50)).await;
    }
}

/// Empties a data dir (a replaced disk).
fn wipe(dir: &Path) {
    std::fs::remove_dir_all(dir).unwrap_or_else(|e| panic!("removing {}: {e}", dir.display()));
    std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("recreating {}: {e}", dir.display()));
}
