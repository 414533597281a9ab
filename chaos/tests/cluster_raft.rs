//! Real clusters of the raft-node binary under the proxy network: partitions, one-way cuts,
//! kill and restart, pause and resume. Election timeouts are 150-300 ms, so each phase
//! settles within a second or two; the generous polling bounds only matter on a slow machine.

mod common;

use std::time::Duration;

use chaos::cluster::{Cluster, NetworkKind};
use chaos::supervisor::NodeState;
use common::{eventually, proc_state, raft_config, write};

const SETTLE: Duration = Duration::from_secs(10);

async fn start(nodes: usize) -> (tempfile::TempDir, Cluster) {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(raft_config(dir.path(), nodes, NetworkKind::Proxy))
        .await
        .unwrap();
    (dir, cluster)
}

async fn some_leader(cluster: &Cluster) -> String {
    eventually(SETTLE, || cluster.leader())
        .await
        .expect("no leader elected")
}

/// Waits for a leader other than `old`.
async fn new_leader(cluster: &Cluster, old: &str) -> String {
    eventually(SETTLE, || async {
        cluster.leader().await.filter(|leader| leader != old)
    })
    .await
    .unwrap_or_else(|| panic!("no leader other than {old}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_isolated_leader_stops_committing_and_a_new_leader_takes_over() {
    let (_dir, mut cluster) = start(3).await;
    let old = some_leader(&cluster).await;
    assert!(
        write(cluster.client_addr(&old), "k", 1).await,
        "write before the partition"
    );

    cluster.partition(&[vec![old.clone()]]).await.unwrap();
    assert_eq!(cluster.cut_links().len(), 4);
    let new = new_leader(&cluster, &old).await;
    assert!(
        write(cluster.client_addr(&new), "k", 2).await,
        "the majority side commits"
    );
    assert!(
        !write(cluster.client_addr(&old), "k", 3).await,
        "the isolated old leader must not commit"
    );

    cluster.heal().await.unwrap();
    assert!(cluster.cut_links().is_empty());
    let new_term = cluster.status(&new).await.unwrap().term;
    let caught_up = eventually(SETTLE, || async {
        let status = cluster.status(&old).await.ok()?;
        (status.role == "follower" && status.term >= new_term).then_some(())
    })
    .await;
    assert!(
        caught_up.is_some(),
        "the old leader did not rejoin as a follower"
    );
    cluster.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_whose_outgoing_messages_are_lost_is_replaced() {
    let (_dir, mut cluster) = start(3).await;
    let old = some_leader(&cluster).await;
    for peer in cluster.node_ids().into_iter().filter(|p| *p != old) {
        cluster.cut(&old, &peer).await.unwrap();
    }
    // Only old -> peer is cut: the peers stop hearing heartbeats and elect someone else.
    let new = new_leader(&cluster, &old).await;
    assert_ne!(new, old);
    assert!(write(cluster.client_addr(&new), "k", 1).await);
    cluster.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_and_restart_keep_the_data_dir() {
    let (_dir, mut cluster) = start(3).await;
    let old = some_leader(&cluster).await;
    assert!(write(cluster.client_addr(&old), "durable", 42).await);
    let old_pid = cluster.pid(&old).unwrap();

    cluster.kill(&old).await.unwrap();
    assert_eq!(proc_state(old_pid), None, "killed node not reaped");
    assert_eq!(cluster.node_state(&old).unwrap(), NodeState::Down);
    let new = new_leader(&cluster, &old).await;

    cluster.restart(&old).await.unwrap();
    assert_ne!(cluster.pid(&old), Some(old_pid));
    // The restarted node recovers its log from disk and follows the new leader.
    let status = eventually(SETTLE, || async {
        let status = cluster.status(&old).await.ok()?;
        (status.leader.as_deref() == Some(new.as_str())).then_some(status)
    })
    .await
    .expect("restarted node did not follow the new leader");
    assert!(status.commit_index >= 1);
    let body = r#"{"op":"read","key":"durable"}"#;
    let (code, answer) = common::post_kv(cluster.client_addr(&new), body, Duration::from_secs(2))
        .await
        .unwrap();
    assert_eq!(code, 200, "{answer}");
    assert!(answer.contains("42"), "{answer}");
    let log = std::fs::read_to_string(cluster.log_path(&old)).unwrap_or_default();
    assert!(!log.is_empty() || std::fs::metadata(cluster.log_path(&old)).is_ok());
    cluster.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_leader_is_replaced_and_follows_after_resume() {
    let (_dir, mut cluster) = start(3).await;
    let old = some_leader(&cluster).await;
    let pid = cluster.pid(&old).unwrap();
    cluster.pause(&old).await.unwrap();
    assert_eq!(proc_state(pid), Some('T'));
    assert_eq!(cluster.node_state(&old).unwrap(), NodeState::Paused);
    let new = new_leader(&cluster, &old).await;

    cluster.resume(&old).await.unwrap();
    let followed = eventually(SETTLE, || async {
        let status = cluster.status(&old).await.ok()?;
        (status.role == "follower" && status.leader.as_deref() == Some(new.as_str())).then_some(())
    })
    .await;
    assert!(followed.is_some(), "resumed node did not follow {new}");
    // Shut down while paused: nothing may be left stopped.
    cluster.pause(&old).await.unwrap();
    let pids: Vec<u32> = cluster
        .node_ids()
        .iter()
        .filter_map(|id| cluster.pid(id))
        .collect();
    cluster.shutdown().await.unwrap();
    for pid in pids {
        assert_eq!(proc_state(pid), None, "node {pid} left behind");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_network_refuses_network_faults() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::start(raft_config(dir.path(), 1, NetworkKind::Direct))
        .await
        .unwrap();
    let error = cluster.cut("n1", "n1").await.unwrap_err().to_string();
    assert!(error.contains("does not support cutting links"), "{error}");
    assert!(cluster.status("n9").await.is_err());
    some_leader(&cluster).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn planned_faults_start_resolve_the_leader_and_end_healed() {
    use chaos::nemesis::{end_fault, start_fault};
    use chaos::schedule::{FaultAction, PlannedPartition, Target};
    let (_dir, mut cluster) = start(3).await;
    let leader = some_leader(&cluster).await;

    let kill = start_fault(&mut cluster, &FaultAction::Kill(Target::Leader))
        .await
        .unwrap();
    assert_eq!(kill.nodes, vec![leader.clone()]);
    assert_eq!(cluster.pid(&leader), None);
    end_fault(&mut cluster, &kill).await.unwrap();
    assert!(
        cluster.pid(&leader).is_some(),
        "killed leader not restarted"
    );

    let current = some_leader(&cluster).await;
    let isolate = FaultAction::Partition(PlannedPartition::IsolateLeader);
    let partition = start_fault(&mut cluster, &isolate).await.unwrap();
    assert_eq!(partition.links.len(), 4);
    assert!(
        partition
            .links
            .iter()
            .all(|l| l.from == current || l.to == current)
    );
    assert_eq!(cluster.cut_links().len(), 4);
    end_fault(&mut cluster, &partition).await.unwrap();
    assert!(cluster.cut_links().is_empty());

    // Faults left in place are all undone by heal_all.
    let pause = FaultAction::Pause(Target::Nodes(vec!["n2".into()]));
    start_fault(&mut cluster, &pause).await.unwrap();
    start_fault(
        &mut cluster,
        &FaultAction::Kill(Target::Nodes(vec!["n3".into()])),
    )
    .await
    .unwrap();
    cluster.cut("n1", "n2").await.unwrap();
    cluster.heal_all().await.unwrap();
    for id in cluster.node_ids() {
        assert_eq!(cluster.node_state(&id).unwrap(), NodeState::Running, "{id}");
    }
    assert!(cluster.cut_links().is_empty());
    cluster.shutdown().await.unwrap();
}

/// `partition: chase-leader` (nemesis): every leader elected while it lasts is cut off,
/// the cut moves to each new one (a new election each time), every move is in the history
/// as the end of one isolation and the start of the next, and nothing stays cut.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_chase_isolates_each_new_leader_in_turn() {
    use chaos::nemesis::run_plan;
    use chaos::schedule::{FaultAction, PlannedFault, PlannedPartition};
    use workloads::recorder::{Recorder, read_history};

    let (dir, mut cluster) = start(3).await;
    let first = some_leader(&cluster).await;
    let history = dir.path().join("history.jsonl");
    let recorder = Recorder::create(&history).unwrap();
    let plan = [PlannedFault {
        start: Duration::ZERO,
        end: Duration::from_millis(2500),
        action: FaultAction::Partition(PlannedPartition::ChaseLeader {
            grace: Duration::from_millis(20),
        }),
        line: 1,
        disk: Default::default(),
        disk_seed: 0,
    }];
    let (_stop, shutdown) = tokio::sync::watch::channel(false);
    run_plan(
        &mut cluster,
        &plan,
        &recorder,
        tokio::time::Instant::now(),
        Duration::from_secs(3),
        shutdown,
        Default::default(),
    )
    .await
    .unwrap();
    recorder.close().await.unwrap();
    assert!(cluster.cut_links().is_empty(), "the chase left cuts behind");

    let ops = read_history(&history).unwrap();
    let isolated: Vec<String> = ops
        .iter()
        .filter(|op| op.f == "start-partition")
        .map(|op| {
            let shape = op.value["shape"].as_str().unwrap();
            shape.strip_prefix("chase leader ").unwrap().to_string()
        })
        .collect();
    let stops = ops.iter().filter(|op| op.f == "stop-partition").count();
    assert_eq!(
        isolated.first(),
        Some(&first),
        "the leader at the start is cut first"
    );
    // An election takes 150-300 ms plus the grace: 2.5 s hold several.
    assert!(isolated.len() >= 3, "the cut moved only {isolated:?}");
    assert!(
        isolated.windows(2).all(|pair| pair[0] != pair[1]),
        "each move goes to another node: {isolated:?}"
    );
    assert_eq!(stops, isolated.len(), "every isolation ends");
    let pairing = checker::calls::pair_fault_windows(&ops);
    assert!(pairing.warnings.is_empty(), "{:?}", pairing.warnings);
    assert_eq!(pairing.windows.len(), isolated.len());
    // The cluster recovers a leader once the chase is over.
    some_leader(&cluster).await;
    cluster.shutdown().await.unwrap();
}
