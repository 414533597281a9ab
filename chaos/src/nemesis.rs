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

use crate::cluster::{ActiveFault, Cluster, ClusterError};
use crate::schedule::{FaultAction, PlannedFault, PlannedPartition};
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
    fault: ActiveFault,
}

fn kind(fault: &ActiveFault) -> &'static str {
    match fault.action {
        FaultAction::Kill(_) => "kill",
        FaultAction::Pause(_) => "pause",
        FaultAction::Partition(_) => "partition",
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
            // The isolated leader is the one node on every cut link.
            let on_every_link =
                |node: &str| fault.links.iter().all(|l| l.from == node || l.to == node);
            let isolated = fault
                .links
                .first()
                .and_then(|l| [&l.from, &l.to].into_iter().find(|n| on_every_link(n)))
                .map(String::as_str)
                .unwrap_or("?");
            format!("partition isolate leader {isolated}")
        }
    }
}

/// The `value` of a nemesis op: the fault's id (pairing start and stop) and its targets.
fn describe(id: u64, fault: &ActiveFault) -> Value {
    match &fault.action {
        FaultAction::Kill(_) | FaultAction::Pause(_) => json!({"id": id, "nodes": fault.nodes}),
        FaultAction::Partition(_) => {
            let cut: Vec<String> = fault
                .links
                .iter()
                .map(|l| format!("{}->{}", l.from, l.to))
                .collect();
            json!({"id": id, "shape": label(fault).trim_start_matches("partition ").to_string(), "cut": cut})
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
    let mut labels = labels
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    *labels = active.iter().map(|s| label(&s.fault)).collect();
}

/// Puts the fault in place (targets resolved by the cluster) and records `start-<kind>`.
/// `None` when the fault had nobody to hit (no leader at that moment), recorded as
/// `skip-fault`.
async fn start_fault(
    cluster: &mut Cluster,
    recorder: &Recorder,
    planned: &PlannedFault,
    id: u64,
) -> Result<Option<Started>, NemesisError> {
    let fault = cluster
        .start_fault(&planned.action)
        .await
        .map_err(|source| NemesisError::Cluster {
            id,
            what: format!("{:?}", planned.action),
            source,
        })?;
    if fault.nodes.is_empty() && fault.links.is_empty() {
        let reason = json!({"id": id, "reason": "no leader to target", "line": planned.line});
        recorder.record_nemesis("skip-fault", reason).await?;
        return Ok(None);
    }
    let f = format!("start-{}", kind(&fault));
    recorder.record_nemesis(&f, describe(id, &fault)).await?;
    Ok(Some(Started {
        id,
        end: planned.end,
        fault,
    }))
}

/// Heals one fault and records `stop-<kind>`, also when healing failed (the error is
/// returned after recording, so the history shows where the fault ended).
async fn stop_fault(
    cluster: &mut Cluster,
    recorder: &Recorder,
    started: &Started,
) -> Result<(), NemesisError> {
    let healed = cluster.end_fault(&started.fault).await;
    let f = format!("stop-{}", kind(&started.fault));
    recorder
        .record_nemesis(&f, describe(started.id, &started.fault))
        .await?;
    healed.map_err(|source| NemesisError::Cluster {
        id: started.id,
        what: label(&started.fault),
        source,
    })
}
