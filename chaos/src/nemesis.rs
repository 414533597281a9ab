//! The nemesis: carries out a schedule's fault plan against a running cluster.
//!
//! It walks the time-ordered [`PlannedFault`]s, starting each at its offset and healing it
//! at its end (restart a killed node, resume a paused one, heal the network), and records
//! every start and stop as a nemesis op in the history (`start-kill`, `stop-kill`, ...,
//! with `value.id` pairing them). Whatever is still active when the run ends, or when the
//! controller is told to stop (Ctrl-C, SIGTERM), is healed before [`run_plan`] returns:
//! the nemesis never leaves a fault behind on purpose, and [`crate::cluster::Cluster`]'s
//! `Drop` covers a panic.
//!
//! A kill may carry disk faults ([`crate::disk`]): right after the kill (the node reaped),
//! its faultfs forgets what it did not fsync and its files are corrupted or truncated, each
//! recorded as a nemesis event of its own (`lose-unfsynced`, `corrupt`, `truncate`, with the
//! kill's `id`), before the node restarts at the kill's end.
//!
//! A `chase-leader` partition is the one fault that acts while it lasts: the loop also wakes
//! every [`CHASE_POLL_MS`] ms to ask who leads, and moves the cut to a new leader once that
//! leader has led for the fault's grace (see `crate::schedule`, "The schedule language").

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::cluster::{Cluster, ClusterError};
use crate::network::Link;
use crate::schedule::{
    ClockFault, FaultAction, Impairment, PlannedFault, PlannedLinks, PlannedPartition, Target,
};
use workloads::recorder::{Recorder, RecorderError};

/// Errors that stop the nemesis. Faults already started are healed before it returns one.
#[derive(Debug, thiserror::Error)]
pub enum NemesisError {
    #[error("fault #{id} ({what}): {source}")]
    Cluster {
        id: u64,
        what: String,
        source: ClusterError,
    },
    #[error("recording a nemesis event: {0}")]
    Recorder(#[from] RecorderError),
}

/// The one node on every link of `links` (the node a leader partition isolates), if any.
pub fn isolated_node(links: &[Link]) -> Option<&str> {
    let first = links.first()?;
    [first.from.as_str(), first.to.as_str()]
        .into_iter()
        .find(|node| links.iter().all(|l| l.from == *node || l.to == *node))
}

/// A planned fault in place, with its targets resolved (for the history and for undoing it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveFault {
    pub action: FaultAction,
    /// The nodes killed, paused or with a moved clock (the leader resolved at start).
    pub nodes: Vec<String>,
    /// The links cut, delayed or lossy.
    pub links: Vec<Link>,
}

/// Puts a planned fault in place on `cluster`, resolving `leader` targets now. A fault
/// whose leader is unknown (none elected) affects nothing and says so with empty
/// `nodes`/`links`.
pub async fn start_fault(
    cluster: &mut Cluster,
    action: &FaultAction,
) -> Result<ActiveFault, ClusterError> {
    let mut active = ActiveFault {
        action: action.clone(),
        nodes: Vec::new(),
        links: Vec::new(),
    };
    match action {
        FaultAction::Kill(target) | FaultAction::Pause(target) => {
            active.nodes = resolve(cluster, target).await;
            for node in &active.nodes {
                if matches!(action, FaultAction::Kill(_)) {
                    cluster.kill(node).await?;
                } else {
                    cluster.pause(node).await?;
                }
            }
        }
        FaultAction::Partition(PlannedPartition::Links { links, .. }) => {
            active.links = links.clone();
            cluster.cut_all(active.links.iter()).await?;
        }
        FaultAction::Partition(
            PlannedPartition::IsolateLeader | PlannedPartition::ChaseLeader { .. },
        ) => {
            if let Some(leader) = cluster.leader().await {
                active.links = cluster.isolating(&leader)?;
            }
            cluster.cut_all(active.links.iter()).await?;
        }
        FaultAction::Clock { target, fault } => {
            active.nodes = resolve(cluster, target).await;
            for node in &active.nodes {
                match *fault {
                    ClockFault::Bump { offset_ms } => {
                        cluster.set_clock_offset(node, offset_ms).await?
                    }
                    ClockFault::Strobe { delta, period } => {
                        cluster.strobe_clock(node, delta, period).await?
                    }
                }
            }
        }
        FaultAction::Impair { impairment, links } => {
            active.links = match links {
                PlannedLinks::Links(links) => links.clone(),
                PlannedLinks::AroundLeader => match cluster.leader().await {
                    Some(leader) => cluster.isolating(&leader)?,
                    None => Vec::new(),
                },
            };
            let (latency, jitter, loss) = match *impairment {
                Impairment::Delay { latency, jitter } => (latency, jitter, 0),
                Impairment::Loss { percent } => (Duration::ZERO, Duration::ZERO, percent),
            };
            cluster
                .impair(active.links.iter(), latency, jitter, loss)
                .await?;
        }
    }
    Ok(active)
}

/// Undoes a fault started with [`start_fault`]: restarts killed nodes, resumes paused
/// ones, heals a partition (schedules never hold two partitions at once, so removing every
/// cut is exact), sets clocks right, lifts a delay or loss from its links.
pub async fn end_fault(cluster: &mut Cluster, fault: &ActiveFault) -> Result<(), ClusterError> {
    match &fault.action {
        FaultAction::Kill(_) => {
            for node in &fault.nodes {
                if cluster.pid(node).is_none() {
                    cluster.restart(node).await?;
                }
            }
        }
        FaultAction::Pause(_) => {
            for node in &fault.nodes {
                cluster.resume(node).await?;
            }
        }
        FaultAction::Partition(_) => cluster.heal_cuts().await?,
        FaultAction::Clock { .. } => {
            for node in &fault.nodes {
                cluster.set_clock_offset(node, 0).await?;
            }
        }
        FaultAction::Impair { .. } => {
            cluster
                .impair(fault.links.iter(), Duration::ZERO, Duration::ZERO, 0)
                .await?
        }
    }
    Ok(())
}

/// Moves a leader partition (`fault`) onto `node`: heals the network, then cuts `node`
/// off from every other node.
pub async fn move_isolation(
    cluster: &mut Cluster,
    fault: &mut ActiveFault,
    node: &str,
) -> Result<(), ClusterError> {
    let links = cluster.isolating(node)?;
    cluster.heal_cuts().await?;
    cluster.cut_all(links.iter()).await?;
    fault.links = links;
    Ok(())
}

/// The nodes a target names now (the leader asked at this moment).
async fn resolve(cluster: &Cluster, target: &Target) -> Vec<String> {
    match target {
        Target::Nodes(nodes) => nodes.clone(),
        Target::Leader => cluster.leader().await.into_iter().collect(),
    }
}

/// The fault labels currently active, for the progress line.
pub type ActiveFaults = Arc<Mutex<Vec<String>>>;

/// A fault that has started, with its targets resolved.
#[derive(Debug, Clone)]
struct Started {
    id: u64,
    end: Duration,
    fault: ActiveFault,
    /// For a `chase-leader` fault: the new leader seen, and when it was first seen.
    chase_seen: Option<(String, Instant)>,
}

fn kind(fault: &ActiveFault) -> &'static str {
    match fault.action {
        FaultAction::Kill(_) => "kill",
        FaultAction::Pause(_) => "pause",
        FaultAction::Partition(_) => "partition",
        FaultAction::Clock { .. } => "clock",
        FaultAction::Impair { impairment, .. } => impairment.kind().name(),
    }
}

fn label(fault: &ActiveFault) -> String {
    match &fault.action {
        FaultAction::Kill(_) | FaultAction::Pause(_) => {
            format!("{} {}", kind(fault), fault.nodes.join(","))
        }
        FaultAction::Partition(PlannedPartition::Links { shape, .. }) => {
            format!("partition {shape}")
        }
        FaultAction::Partition(PlannedPartition::IsolateLeader) => {
            let isolated = isolated_node(&fault.links).unwrap_or("?");
            format!("partition isolate leader {isolated}")
        }
        FaultAction::Partition(PlannedPartition::ChaseLeader { .. }) => {
            let isolated = isolated_node(&fault.links).unwrap_or("(no leader yet)");
            format!("partition chase leader {isolated}")
        }
        FaultAction::Clock { fault: clock, .. } => {
            format!(
                "clock {} {}",
                fault.nodes.join(","),
                crate::schedule::clock_yaml(clock)
            )
        }
        FaultAction::Impair { .. } => format!("{} {} links", kind(fault), fault.links.len()),
    }
}

fn link_names(links: &[Link]) -> Vec<String> {
    links
        .iter()
        .map(|l| format!("{}->{}", l.from, l.to))
        .collect()
}

/// The `value` of a nemesis op: the fault's id (pairing start and stop) and its targets.
fn describe(id: u64, fault: &ActiveFault) -> Value {
    match &fault.action {
        FaultAction::Kill(_) | FaultAction::Pause(_) => json!({"id": id, "nodes": fault.nodes}),
        FaultAction::Partition(_) => {
            let cut = link_names(&fault.links);
            json!({"id": id, "shape": label(fault).trim_start_matches("partition ").to_string(), "cut": cut})
        }
        FaultAction::Clock {
            fault: ClockFault::Bump { offset_ms },
            ..
        } => json!({"id": id, "nodes": fault.nodes, "bump_ms": offset_ms}),
        FaultAction::Clock {
            fault: ClockFault::Strobe { delta, period },
            ..
        } => json!({
            "id": id,
            "nodes": fault.nodes,
            "strobe_delta_ms": delta.as_millis() as u64,
            "strobe_period_ms": period.as_millis() as u64,
        }),
        FaultAction::Impair {
            impairment: Impairment::Delay { latency, jitter },
            ..
        } => json!({
            "id": id,
            "latency_ms": latency.as_millis() as u64,
            "jitter_ms": jitter.as_millis() as u64,
            "links": link_names(&fault.links),
        }),
        FaultAction::Impair {
            impairment: Impairment::Loss { percent },
            ..
        } => json!({"id": id, "percent": percent, "links": link_names(&fault.links)}),
    }
}

/// Runs `plan` (offsets from `run_start`) until every fault has ended, `run_length` has
/// passed, or `shutdown` turns true; then heals what is still active and returns.
pub async fn run_plan(
    cluster: &mut Cluster,
    plan: &[PlannedFault],
    recorder: &Recorder,
    run_start: Instant,
    run_length: Duration,
    mut shutdown: watch::Receiver<bool>,
    active_labels: ActiveFaults,
) -> Result<(), NemesisError> {
    let mut active: Vec<Started> = Vec::new();
    let mut next = 0usize;
    let mut outcome = Ok(());
    loop {
        let next_start = plan.get(next).map(|f| f.start).filter(|s| *s < run_length);
        let next_end = active.iter().map(|s| s.end.min(run_length)).min();
        let Some(wake) = [next_start, next_end].into_iter().flatten().min() else {
            break;
        };
        let chasing = active.iter().any(|s| is_chase(&s.fault));
        let wake = if chasing {
            wake.min(run_start.elapsed() + Duration::from_millis(CHASE_POLL_MS))
        } else {
            wake
        };
        if *shutdown.borrow() {
            break;
        }
        tokio::select! {
            _ = tokio::time::sleep_until(run_start + wake) => {}
            // Only a `true` stops the plan: a dropped sender means "never asked to stop"
            // (as in the driver), and must not skip every fault.
            Ok(_) = shutdown.wait_for(|stop| *stop) => break,
        }
        if let Some(position) = active.iter().position(|s| s.end.min(run_length) <= wake) {
            let ended = active.remove(position);
            set_labels(&active_labels, &active);
            if let Err(e) = stop_fault(cluster, recorder, &ended).await {
                outcome = Err(e);
                break;
            }
            continue;
        }
        if next_start.is_none_or(|start| start > wake) {
            // Woken only to look for a new leader.
            if let Err(e) = chase_leaders(cluster, recorder, &mut active).await {
                outcome = Err(e);
                break;
            }
            set_labels(&active_labels, &active);
            continue;
        }
        let fault = &plan[next];
        let id = next as u64;
        next += 1;
        match start_planned(cluster, recorder, fault, id).await {
            Ok(Some(started)) => active.push(started),
            Ok(None) => {}
            Err(e) => {
                outcome = Err(e);
                break;
            }
        }
        set_labels(&active_labels, &active);
    }
    // Heal in reverse start order; keep healing past an error so nothing is left behind.
    while let Some(started) = active.pop() {
        set_labels(&active_labels, &active);
        if let Err(e) = stop_fault(cluster, recorder, &started).await
            && outcome.is_ok()
        {
            outcome = Err(e);
        }
    }
    outcome
}

fn set_labels(labels: &ActiveFaults, active: &[Started]) {
    let mut labels = labels
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    *labels = active.iter().map(|s| label(&s.fault)).collect();
}

/// Puts the fault in place ([`start_fault`]) and records `start-<kind>`.
/// `None` when the fault had nobody to hit (no leader at that moment), recorded as
/// `skip-fault`.
async fn start_planned(
    cluster: &mut Cluster,
    recorder: &Recorder,
    planned: &PlannedFault,
    id: u64,
) -> Result<Option<Started>, NemesisError> {
    let fault = start_fault(cluster, &planned.action)
        .await
        .map_err(|source| NemesisError::Cluster {
            id,
            what: format!("{:?}", planned.action),
            source,
        })?;
    if is_chase(&fault) && fault.links.is_empty() {
        // No leader yet: the chase isolates the first one elected (see `chase_leaders`).
        return Ok(Some(Started {
            id,
            end: planned.end,
            fault,
            chase_seen: None,
        }));
    }
    if fault.nodes.is_empty() && fault.links.is_empty() {
        let reason = json!({"id": id, "reason": "no leader to target", "line": planned.line});
        recorder.record_nemesis("skip-fault", reason).await?;
        return Ok(None);
    }
    let f = format!("start-{}", kind(&fault));
    recorder.record_nemesis(&f, describe(id, &fault)).await?;
    if matches!(fault.action, FaultAction::Kill(_))
        && let Err(error) = damage_disks(cluster, recorder, planned, &fault, id).await
    {
        // Restart what was killed (recorded as its stop) before giving up.
        let started = Started {
            id,
            end: planned.end,
            fault,
            chase_seen: None,
        };
        stop_fault(cluster, recorder, &started).await.ok();
        return Err(error);
    }
    Ok(Some(Started {
        id,
        end: planned.end,
        fault,
        chase_seen: None,
    }))
}

/// A kill's disk faults ([`crate::disk`]) on each killed node, each recorded as a nemesis
/// event with the kill's id: `lose-unfsynced` (what faultfs forgot), then `corrupt` and
/// `truncate` (which files, how). The nodes are down: they restart at the kill's end.
async fn damage_disks(
    cluster: &mut Cluster,
    recorder: &Recorder,
    planned: &PlannedFault,
    fault: &ActiveFault,
    id: u64,
) -> Result<(), NemesisError> {
    let disk = &planned.disk;
    let failed = |node: &str, source: ClusterError| NemesisError::Cluster {
        id,
        what: format!("disk faults of the kill of {node}"),
        source,
    };
    for (index, node) in fault.nodes.iter().enumerate() {
        // Each node its own bit positions.
        let seed = planned.disk_seed.wrapping_add(index as u64);
        if disk.lose_unfsynced {
            let loss = cluster.lose_unfsynced(node).map_err(|e| failed(node, e))?;
            let value = json!({"id": id, "node": node, "files": loss.files,
                "dirty_bytes": loss.dirty_bytes, "writeback_bytes": loss.writeback_bytes});
            recorder.record_nemesis("lose-unfsynced", value).await?;
        }
        let data_dir = cluster.data_dir(node);
        if let Some(corrupt) = &disk.corrupt {
            let files = crate::disk::corrupt_files(&data_dir, corrupt, seed)
                .map_err(|e| failed(node, e.into()))?;
            let value = json!({"id": id, "node": node, "file": corrupt.file,
                "bitflip": corrupt.bitflip.0, "files": files});
            recorder.record_nemesis("corrupt", value).await?;
        }
        if let Some(truncate) = &disk.truncate {
            let files = crate::disk::truncate_files(&data_dir, truncate)
                .map_err(|e| failed(node, e.into()))?;
            let value = json!({"id": id, "node": node, "file": truncate.file,
                "bytes": truncate.bytes, "files": files});
            recorder.record_nemesis("truncate", value).await?;
        }
    }
    Ok(())
}

/// Heals one fault and records `stop-<kind>`, also when healing failed (the error is
/// returned after recording, so the history shows where the fault ended).
async fn stop_fault(
    cluster: &mut Cluster,
    recorder: &Recorder,
    started: &Started,
) -> Result<(), NemesisError> {
    let healed = end_fault(cluster, &started.fault).await;
    // A chase that never found a leader never recorded its start.
    let recorded = !(is_chase(&started.fault) && started.fault.links.is_empty());
    if recorded {
        let f = format!("stop-{}", kind(&started.fault));
        recorder
            .record_nemesis(&f, describe(started.id, &started.fault))
            .await?;
    }
    healed.map_err(|source| NemesisError::Cluster {
        id: started.id,
        what: label(&started.fault),
        source,
    })
}

/// How often a `chase-leader` partition asks the nodes who leads. A new leader is seen
/// within about this long of winning its election (plus one `GET /status` round), and cut
/// off once the fault's grace has passed since it was first seen: leaders then lead, with
/// the cluster, for about the grace, which is the point of the chase.
pub const CHASE_POLL_MS: u64 = 5;

/// The grace of a `chase-leader` fault; `None` for every other fault.
fn chase_grace(fault: &ActiveFault) -> Option<Duration> {
    match fault.action {
        FaultAction::Partition(PlannedPartition::ChaseLeader { grace }) => Some(grace),
        _ => None,
    }
}

fn is_chase(fault: &ActiveFault) -> bool {
    chase_grace(fault).is_some()
}

/// Moves every active `chase-leader` cut to the current leader. A move is recorded as the
/// end of one isolation and the start of the next, under the same fault id, so the
/// history's fault windows say exactly which node was cut off when.
async fn chase_leaders(
    cluster: &mut Cluster,
    recorder: &Recorder,
    active: &mut [Started],
) -> Result<(), NemesisError> {
    for started in active.iter_mut() {
        let Some(grace) = chase_grace(&started.fault) else {
            continue;
        };
        let Some(leader) = cluster.leader().await else {
            continue;
        };
        if isolated_node(&started.fault.links) == Some(leader.as_str()) {
            started.chase_seen = None;
            continue;
        }
        let now = Instant::now();
        let first_seen = match &started.chase_seen {
            Some((seen, at)) if *seen == leader => *at,
            _ => {
                started.chase_seen = Some((leader.clone(), now));
                now
            }
        };
        if now.duration_since(first_seen) < grace {
            continue;
        }
        let before = started.fault.clone();
        move_isolation(cluster, &mut started.fault, &leader)
            .await
            .map_err(|source| NemesisError::Cluster {
                id: started.id,
                what: label(&before),
                source,
            })?;
        started.chase_seen = None;
        if !before.links.is_empty() {
            recorder
                .record_nemesis("stop-partition", describe(started.id, &before))
                .await?;
        }
        recorder
            .record_nemesis("start-partition", describe(started.id, &started.fault))
            .await?;
    }
    Ok(())
}
