//! The nemesis: carries out a schedule's fault plan against a running cluster.
//!
//! It walks the time-ordered [`PlannedFault`]s, starting each at its offset and healing it
//! at its end (restart a killed node, resume a paused one, heal the network), and records
//! every start and stop as a nemesis op in the history (`start-kill`, `stop-kill`, ...,
//! with `value.id` pairing them). Whatever is still active when the run ends, or when the
//! controller is told to stop (Ctrl-C, SIGTERM), is healed before [`run_plan`] returns:
//! the nemesis never leaves a fault behind on purpose, and [`crate::cluster::Cluster`]'s
//! `Drop` covers a panic.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::cluster::{Cluster, ClusterError};
use crate::network::Link;
use crate::schedule::{FaultAction, PlannedFault, PlannedPartition, Target};
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

/// The fault labels currently active, for the progress line.
pub type ActiveFaults = Arc<Mutex<Vec<String>>>;

/// A fault that has started, with its targets resolved.
#[derive(Debug, Clone)]
struct Started {
    id: u64,
    end: Duration,
    applied: Applied,
}

#[derive(Debug, Clone)]
enum Applied {
    Kill(Vec<String>),
    Pause(Vec<String>),
    Partition { shape: String, links: Vec<Link> },
}

impl Applied {
    fn kind(&self) -> &'static str {
        match self {
            Applied::Kill(_) => "kill",
            Applied::Pause(_) => "pause",
            Applied::Partition { .. } => "partition",
        }
    }

    fn label(&self) -> String {
        match self {
            Applied::Kill(nodes) => format!("kill {}", nodes.join(",")),
            Applied::Pause(nodes) => format!("pause {}", nodes.join(",")),
            Applied::Partition { shape, .. } => format!("partition {shape}"),
        }
    }

    fn describe(&self, id: u64) -> Value {
        match self {
            Applied::Kill(nodes) | Applied::Pause(nodes) => json!({"id": id, "nodes": nodes}),
            Applied::Partition { shape, links } => {
                let cut: Vec<String> = links.iter().map(|l| format!("{}->{}", l.from, l.to)).collect();
                json!({"id": id, "shape": shape, "cut": cut})
            }
        }
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
        if *shutdown.borrow() {
            break;
        }
        tokio::select! {
            _ = tokio::time::sleep_until(run_start + wake) => {}
            _ = shutdown.changed() => break,
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
        let fault = &plan[next];
        let id = next as u64;
        next += 1;
        match start_fault(cluster, recorder, fault, id).await {
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
    let mut labels = labels.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    *labels = active.iter().map(|s| s.applied.label()).collect();
}

/// Resolves the fault's targets, applies it and records `start-<kind>`. `None` when the
/// fault had nobody to hit (no leader at that moment), which is recorded too.
async fn start_fault(
    cluster: &mut Cluster,
    recorder: &Recorder,
    fault: &PlannedFault,
    id: u64,
) -> Result<Option<Started>, NemesisError> {
    let Some(applied) = resolve(cluster, &fault.action).await else {
        recorder
            .record_nemesis("skip-fault", json!({"id": id, "reason": "no leader to target", "line": fault.line}))
            .await?;
        return Ok(None);
    };
    let fail = |source| NemesisError::Cluster { id, what: applied.label(), source };
    match &applied {
        Applied::Kill(nodes) => {
            for node in nodes {
                cluster.kill(node).await.map_err(fail)?;
            }
        }
        Applied::Pause(nodes) => {
            for node in nodes {
                cluster.pause(node).await.map_err(fail)?;
            }
        }
        Applied::Partition { links, .. } => cluster.cut_all(links.iter()).await.map_err(fail)?,
    }
    let f = format!("start-{}", applied.kind());
    recorder.record_nemesis(&f, applied.describe(id)).await?;
    Ok(Some(Started { id, end: fault.end, applied }))
}

async fn resolve(cluster: &Cluster, action: &FaultAction) -> Option<Applied> {
    Some(match action {
        FaultAction::Kill(target) => Applied::Kill(target_nodes(cluster, target).await?),
        FaultAction::Pause(target) => Applied::Pause(target_nodes(cluster, target).await?),
        FaultAction::Partition(PlannedPartition::Links { shape, links }) => Applied::Partition {
            shape: shape.clone(),
            links: links.clone(),
        },
        FaultAction::Partition(PlannedPartition::IsolateLeader) => {
            let leader = cluster.leader().await?;
            let links = cluster
                .node_ids()
                .into_iter()
                .filter(|other| *other != leader)
                .flat_map(|other| [Link::new(&leader, &other), Link::new(&other, &leader)])
                .collect();
            Applied::Partition {
                shape: format!("isolate leader {leader}"),
                links,
            }
        }
    })
}

async fn target_nodes(cluster: &Cluster, target: &Target) -> Option<Vec<String>> {
    match target {
        Target::Nodes(nodes) => Some(nodes.clone()),
        Target::Leader => cluster.leader().await.map(|leader| vec![leader]),
    }
}

/// Heals one fault and records `stop-<kind>`. Every node is attempted even if one fails.
async fn stop_fault(
    cluster: &mut Cluster,
    recorder: &Recorder,
    started: &Started,
) -> Result<(), NemesisError> {
    let mut first_error = None;
    match &started.applied {
        Applied::Kill(nodes) => {
            for node in nodes {
                if let Err(e) = cluster.restart(node).await {
                    first_error.get_or_insert(e);
                }
            }
        }
        Applied::Pause(nodes) => {
            for node in nodes {
                if let Err(e) = cluster.resume(node).await {
                    first_error.get_or_insert(e);
                }
            }
        }
        // The schedule refuses overlapping network faults, so healing the whole network
        // ends exactly this partition.
        Applied::Partition { .. } => {
            if let Err(e) = cluster.heal().await {
                first_error.get_or_insert(e);
            }
        }
    }
    let f = format!("stop-{}", started.applied.kind());
    recorder.record_nemesis(&f, started.applied.describe(started.id)).await?;
    match first_error {
        None => Ok(()),
        Some(source) => Err(NemesisError::Cluster {
            id: started.id,
            what: started.applied.label(),
            source,
        }),
    }
}
