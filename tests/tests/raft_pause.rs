//! SIGSTOP the leader of a 3-node cluster, keep writing through the others, SIGCONT it.
//!
//! Checked throughout: at most one node claims leadership per term (every node's `/status`
//! is polled all along), and no read answered by the old leader (while paused, on resume,
//! afterwards) returns a value older than the latest write acknowledged before the read was
//! sent. After the resume the old leader learns the new term and steps down.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chaos::cluster::NetworkKind;
use serde_json::json;
use tests::{STATUS_TIMEOUT_MS, TestCluster};
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep};
use workloads::client::{Invocation, Outcome, RaftClient};

const KEY: &str = "register";

/// Terms and the nodes that claimed to lead in them.
type Claims = Arc<Mutex<BTreeMap<u64, BTreeSet<String>>>>;

fn poll_leadership_claims(
    tc: &TestCluster,
    stop: Arc<AtomicBool>,
) -> (Claims, Vec<JoinHandle<()>>) {
    let claims: Claims = Arc::default();
    let tasks = tc
        .node_ids()
        .into_iter()
        .map(|id| {
            let prober = tc.new_client(STATUS_TIMEOUT_MS);
            let (claims, stop) = (claims.clone(), stop.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::SeqCst) {
                    if let Ok(status) = prober.status(&id).await
                        && status.role == "leader"
                    {
                        claims
                            .lock()
                            .unwrap()
                            .entry(status.term)
                            .or_default()
                            .insert(status.id);
                    }
                    sleep(Duration::from_millis(10)).await;
                }
            })
        })
        .collect();
    (claims, tasks)
}

/// Writes 1, 2, 3, ... to the key, one at a time; `latest_acked` is the last acknowledged.
fn write_increasing(
    client: RaftClient,
    latest_acked: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
) -> JoinHandle<u64> {
    tokio::spawn(async move {
        let mut next = 1u64;
        while !stop.load(Ordering::SeqCst) {
            if let Outcome::Ok(_) = client.run(&Invocation::write(KEY, json!(next))).await {
                latest_acked.store(next, Ordering::SeqCst);
            }
            next += 1;
        }
        next
    })
}

/// Reads the key from `node` only, over and over; returns the stale reads (reads of an older
/// value than was acknowledged before the read was sent, described) and the count of
/// successful reads.
fn read_from(
    node: String,
    client: Arc<RaftClient>,
    latest_acked: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    start: Instant,
) -> JoinHandle<(Vec<String>, u64)> {
    tokio::spawn(async move {
        let (mut stale, mut answered) = (Vec::new(), 0);
        while !stop.load(Ordering::SeqCst) {
            let acknowledged_before = latest_acked.load(Ordering::SeqCst);
            match client.run_on(&node, &Invocation::read(KEY)).await {
                Outcome::Ok(read) => {
                    answered += 1;
                    if read.as_u64().unwrap_or(0) < acknowledged_before {
                        let at_ms = start.elapsed().as_millis();
                        stale.push(format!("read {read} at {at_ms} ms, after {acknowledged_before} was acknowledged"));
                    }
                }
                Outcome::Fail(_) | Outcome::Info(_) => sleep(Duration::from_millis(20)).await,
            }
        }
        (stale, answered)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_leader_steps_down_and_never_serves_a_stale_read() {
    let mut tc = TestCluster::start(3, NetworkKind::Direct, &[]).await;
    let ids = tc.node_ids();
    let old_leader = tc.wait_for_leader(&ids, Duration::from_secs(10)).await;
    let old_term = tc.status(&old_leader).await.expect("leader answers").term;
    let start = Instant::now();

    let stop_polling = Arc::new(AtomicBool::new(false));
    let (claims, pollers) = poll_leadership_claims(&tc, stop_polling.clone());
    let stop = Arc::new(AtomicBool::new(false));
    let latest_acked = Arc::new(AtomicU64::new(0));
    let writer = write_increasing(tc.new_client(1000), latest_acked.clone(), stop.clone());
    // Several readers with long timeouts keep reads queued at the paused leader, so some
    // are answered the moment it resumes, before it has heard of the new term.
    let read_client = Arc::new(tc.new_client(1500));
    let readers: Vec<_> = (0..32)
        .map(|_| {
            read_from(
                old_leader.clone(),
                read_client.clone(),
                latest_acked.clone(),
                stop.clone(),
                start,
            )
        })
        .collect();

    wait_for_acked(&latest_acked, 5, &tc).await;
    tc.cluster_mut()
        .pause(&old_leader)
        .await
        .expect("SIGSTOP the leader");
    let acked_at_pause = latest_acked.load(Ordering::SeqCst);
    sleep(Duration::from_secs(2)).await;
    let acked_while_paused = latest_acked.load(Ordering::SeqCst) - acked_at_pause;
    tc.cluster_mut()
        .resume(&old_leader)
        .await
        .expect("SIGCONT the leader");
    let resumed_at_ms = start.elapsed().as_millis();

    let stepped_down = wait_for_new_term(&tc, &old_leader, old_term).await;
    sleep(Duration::from_secs(1)).await;
    stop.store(true, Ordering::SeqCst);
    writer.await.expect("writer task");
    let mut stale = Vec::new();
    let mut answered = 0;
    for reader in readers {
        let (s, a) = reader.await.expect("reader task");
        stale.extend(s);
        answered += a;
    }
    stop_polling.store(true, Ordering::SeqCst);
    for poller in pollers {
        poller.await.expect("poller task");
    }

    eprintln!(
        "old leader {old_leader} (term {old_term}): {answered} reads answered by it, {acked_while_paused} writes acknowledged while it was paused, leaders by term {:?}",
        claims.lock().unwrap()
    );
    assert!(
        acked_while_paused > 0,
        "no write acknowledged by the two live nodes while {old_leader} was paused\n{}",
        tc.log_tails(30)
    );
    assert!(
        stale.is_empty(),
        "stale reads from {old_leader} (resumed at {resumed_at_ms} ms; {answered} reads answered): {stale:?}\n{}",
        tc.log_tails(30)
    );
    let claims = claims.lock().unwrap().clone();
    let doubles: Vec<_> = claims
        .iter()
        .filter(|(_, leaders)| leaders.len() > 1)
        .collect();
    assert!(doubles.is_empty(), "two leaders in one term: {doubles:?}");
    assert!(
        claims.keys().any(|term| *term > old_term),
        "no leader observed after term {old_term}: {claims:?}"
    );
    assert!(
        stepped_down.term > old_term,
        "{old_leader} still in term {old_term}: {stepped_down:?}"
    );
    tc.shutdown().await;
}

async fn wait_for_acked(latest_acked: &AtomicU64, at_least: u64, tc: &TestCluster) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while latest_acked.load(Ordering::SeqCst) < at_least {
        assert!(
            Instant::now() < deadline,
            "fewer than {at_least} writes acknowledged in 10 s\n{}",
            tc.log_tails(20)
        );
        sleep(Duration::from_millis(10)).await;
    }
}

/// Waits until the resumed node reports a term after `old_term`: it has heard of the new
/// leader (and so no longer leads in `old_term`).
async fn wait_for_new_term(
    tc: &TestCluster,
    node: &str,
    old_term: u64,
) -> workloads::client::NodeStatus {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = tc.status(node).await
            && status.term > old_term
        {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "{node} did not learn a term after {old_term} within 10 s of SIGCONT\n{}",
            tc.log_tails(30)
        );
        sleep(Duration::from_millis(20)).await;
    }
}
