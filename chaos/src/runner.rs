//! One run, end to end: the heart of `faultline run` and of each campaign job.
//!
//! 1. Create the run's directory in the store and write `schedule.yaml` (seed filled in).
//! 2. Start the cluster (every node's log in `nodes/<id>.log`).
//! 3. Drive the workload and the nemesis side by side for the schedule's duration; the
//!    recorder appends every op to `history.jsonl` as it happens.
//! 4. The final phase: heal everything, quiesce, final reads.
//! 5. Stop the cluster, check the history (each check with a time budget: a run never hangs
//!    in checking, it says `unknown`), write `results.json` and `report.html`. The nodes'
//!    data dirs (`data/<id>`) are kept only when the verdict is not `valid`.
//!
//! Ctrl-C and SIGTERM set the shutdown signal: the workload stops, every fault is healed,
//! the cluster is stopped and the history recorded so far is still checked and written up,
//! with `interrupted: true`. A panic drops the [`Cluster`], whose `Drop` kills the nodes.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::watch;

use checker::check::{CheckOptions, check_file};
use checker::format::Format;
use checker::model::ModelKind;
use checker::verdict::{CheckResult, Verdict};
use workloads::client::{RaftClient, RaftClientConfig};
use workloads::driver::{DriverOptions, FinalReadOptions, run_final_reads, run_workload};
use workloads::generator::{self, Generator};
use workloads::recorder::{Recorder, read_history};
use workloads::stats::latency_records;

use crate::cluster::{Cluster, ClusterConfig, ClusterError};
use crate::nemesis::{ActiveFaults, NemesisError, run_plan};
use crate::progress::Progress;
use crate::report::{CheckSummary, ReportInput, write_report};
use crate::schedule::{CheckKind, Schedule, WorkloadKind, format_duration};
use crate::store::{RunDir, StoreError, create_run_dir};
use crate::supervisor::NodeState;

/// How long the linearizability check of one run may take before it says `unknown`.
pub const CHECK_TIME_LIMIT: Duration = Duration::from_secs(60);
/// Memory the linearizability check of one run may use for its memo tables before it says
/// `unknown`: generous, because runs happen on machines sized for clusters (the checker's
/// own default of 160 MiB suits `faultline check` on a laptop), and bounded all the same.
pub const CHECK_MEMO_LIMIT_BYTES: usize = 1 << 30;
/// How long to wait for a first leader before the workload starts.
const FIRST_LEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// Everything one run needs besides the schedule.
#[derive(Debug, Clone)]
pub struct RunRequest {
    pub schedule: Schedule,
    /// The seed of this run (the schedule's, an override, or a campaign's).
    pub seed: u64,
    pub store: PathBuf,
    /// The node executable and the arguments before the node's own (`faultline node`).
    pub node_program: PathBuf,
    pub node_args_prefix: Vec<String>,
    /// Appended to every node's command line.
    pub extra_node_args: Vec<String>,
    /// Draw a progress bar on the terminal.
    pub progress: bool,
}

/// Why a run could not produce a verdict: a failure of the harness, not of the system.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("starting the cluster: {0}")]
    Cluster(#[from] ClusterError),
    #[error("the nemesis failed: {0}")]
    Nemesis(#[from] NemesisError),
    #[error("the workload failed: {0}")]
    Driver(#[from] workloads::driver::DriverError),
    #[error(transparent)]
    Recorder(#[from] workloads::recorder::RecorderError),
    #[error("the workload: {0}")]
    Generator(#[from] generator::GeneratorError),
    #[error("the client: {0}")]
    Client(#[from] workloads::client::ClientError),
    #[error("reading back the history: {0}")]
    History(String),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("no leader was elected within {0:?} of starting the cluster")]
    NoLeader(Duration),
}

/// One check's outcome in `results.json`.
#[derive(Debug, Clone, Serialize)]
pub struct CheckOutcome {
    pub check: String,
    pub verdict: Verdict,
    pub summary: String,
    /// The checker's full result (evidence for an invalid verdict), when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<CheckResult>,
}

/// Counts and latencies of the run's client ops.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RunStats {
    pub ops: u64,
    pub ok: u64,
    pub fail: u64,
    pub info: u64,
    pub nemesis_events: u64,
    pub latency_ms_p50: f64,
    pub latency_ms_p99: f64,
    pub latency_ms_max: f64,
    pub duration_s: f64,
}

/// `results.json`.
#[derive(Debug, Clone, Serialize)]
pub struct RunResults {
    pub name: String,
    pub seed: u64,
    pub run: String,
    pub verdict: Verdict,
    pub interrupted: bool,
    pub checks: Vec<CheckOutcome>,
    pub stats: RunStats,
}

/// A finished run.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    pub dir: RunDir,
    pub results: RunResults,
}

/// Runs one schedule; see the module docs.
pub async fn execute(
    request: RunRequest,
    shutdown: watch::Receiver<bool>,
) -> Result<RunOutcome, RunError> {
    let schedule = &request.schedule;
    let dir = create_run_dir(&request.store, &schedule.name, request.seed)?;
    write_file(&dir.schedule(), &schedule.to_yaml(request.seed))?;
    let recorder = Recorder::create(dir.history())?;
    let phase = drive(&request, &dir, &recorder, shutdown.clone()).await;
    // The history is closed whatever happened, so that what was recorded is kept.
    let summary = recorder.close().await;
    phase?;
    summary?;
    let interrupted = *shutdown.borrow();
    let results = check_and_report(&request, &dir, interrupted)?;
    // The nodes' data dirs are evidence only when something is wrong; nightly campaigns
    // would otherwise fill the disk with WALs of valid runs.
    if results.verdict == Verdict::Valid {
        let data = dir.path.join("data");
        std::fs::remove_dir_all(&data).map_err(|source| RunError::Io { path: data, source })?;
    }
    Ok(RunOutcome { dir, results })
}

/// Steps 2 to 4: the cluster, the workload, the nemesis, the final phase.
async fn drive(
    request: &RunRequest,
    dir: &RunDir,
    recorder: &Recorder,
    shutdown: watch::Receiver<bool>,
) -> Result<(), RunError> {
    let mut cluster = Cluster::start(cluster_config(request, &dir.path)).await?;
    let outcome = drive_cluster(request, &mut cluster, recorder, shutdown).await;
    let stopped = cluster.shutdown().await;
    outcome?;
    stopped?;
    Ok(())
}

async fn drive_cluster(
    request: &RunRequest,
    cluster: &mut Cluster,
    recorder: &Recorder,
    shutdown: watch::Receiver<bool>,
) -> Result<(), RunError> {
    let schedule = &request.schedule;
    wait_for_leader(cluster).await?;
    let nodes = cluster
        .node_ids()
        .into_iter()
        .map(|id| {
            let addr = cluster.client_addr(&id);
            (id, addr)
        })
        .collect::<Vec<_>>();
    let client = Arc::new(RaftClient::new(
        nodes,
        RaftClientConfig {
            timeout_ms: schedule.workload.timeout.as_millis() as u64,
            ..RaftClientConfig::default()
        },
    )?);
    let generator = workload_spec(schedule).generator(request.seed)?;
    let final_reads = generator.final_reads();
    let options = DriverOptions {
        clients: schedule.workload.clients,
        rate_per_s: schedule.workload.rate_per_s,
        duration: schedule.duration,
        op_timeout: schedule.workload.timeout,
    };
    let active = ActiveFaults::default();
    let progress = Progress::start(
        request.progress,
        schedule.duration,
        recorder.stats(),
        active.clone(),
    );
    let run_start = tokio::time::Instant::now();
    let plan = schedule.plan(request.seed);
    let workload = {
        let (client, recorder, shutdown) = (client.clone(), recorder.clone(), shutdown.clone());
        tokio::spawn(
            async move { run_workload(client, generator, &recorder, &options, shutdown).await },
        )
    };
    let nemesis = run_plan(
        cluster,
        &plan,
        recorder,
        run_start,
        schedule.duration,
        shutdown.clone(),
        active,
    )
    .await;
    let summary = match workload.await {
        Ok(result) => result,
        Err(join) => Err(workloads::driver::DriverError::ThreadPanicked(
            join.to_string(),
        )),
    };
    progress.finish();
    nemesis?;
    let summary = summary?;
    if summary.interrupted || *shutdown.borrow() {
        return Ok(());
    }
    final_phase(
        request,
        cluster,
        client,
        recorder,
        final_reads,
        summary.next_process,
        shutdown,
    )
    .await
}

/// Heal (the nemesis already healed its own faults: this also catches nodes that died by
/// themselves), quiesce, then read every key once more.
async fn final_phase(
    request: &RunRequest,
    cluster: &mut Cluster,
    client: Arc<RaftClient>,
    recorder: &Recorder,
    reads: Vec<workloads::client::Invocation>,
    first_process: u64,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), RunError> {
    let final_spec = request.schedule.final_phase;
    if final_spec.heal {
        record_crashed_nodes(cluster, recorder).await?;
        cluster.heal_all().await?;
    }
    tokio::select! {
        _ = tokio::time::sleep(final_spec.quiesce) => {}
        // A dropped sender means "never asked to stop", not "stop" (as in the driver).
        Ok(_) = shutdown.wait_for(|stop| *stop) => return Ok(()),
    }
    if final_spec.final_reads && !reads.is_empty() {
        let options = FinalReadOptions {
            op_timeout: request.schedule.workload.timeout,
            ..FinalReadOptions::default()
        };
        run_final_reads(client, reads, recorder, first_process, &options, shutdown).await?;
    }
    Ok(())
}

/// The nemesis restarts what it killed, so a node found exited before the final phase
/// crashed on its own: a failure of the system under test, recorded in the history as a
/// nemesis event so that it shows in the report.
async fn record_crashed_nodes(cluster: &mut Cluster, recorder: &Recorder) -> Result<(), RunError> {
    for id in cluster.node_ids() {
        if let NodeState::Exited(code) = cluster.node_state(&id)? {
            let event = serde_json::json!({"node": id, "exit_code": code});
            recorder.record_nemesis("node-exited", event).await?;
        }
    }
    Ok(())
}

async fn wait_for_leader(cluster: &Cluster) -> Result<(), RunError> {
    let deadline = tokio::time::Instant::now() + FIRST_LEADER_TIMEOUT;
    while tokio::time::Instant::now() < deadline {
        if cluster.leader().await.is_some() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(RunError::NoLeader(FIRST_LEADER_TIMEOUT))
}

fn cluster_config(request: &RunRequest, base_dir: &Path) -> ClusterConfig {
    let schedule = &request.schedule;
    let mut extra_args = request.extra_node_args.clone();
    if let Some(bug) = &schedule.system.bug {
        extra_args.extend(["--bug".to_string(), bug.clone()]);
    }
    ClusterConfig {
        nodes: schedule.system.nodes,
        base_dir: base_dir.to_path_buf(),
        network: schedule.network,
        program: request.node_program.clone(),
        program_args_prefix: request.node_args_prefix.clone(),
        extra_args,
    }
}

fn workload_spec(schedule: &Schedule) -> generator::WorkloadSpec {
    match schedule.workload.kind {
        WorkloadKind::Register => generator::WorkloadSpec::Register(generator::RegisterConfig {
            keys: schedule.workload.keys,
            ..Default::default()
        }),
        WorkloadKind::Set => generator::WorkloadSpec::Set(generator::SetConfig {
            keys: schedule.workload.keys,
            ..Default::default()
        }),
        WorkloadKind::Append => generator::WorkloadSpec::Append(generator::AppendConfig {
            keys: schedule.workload.keys,
            ..Default::default()
        }),
    }
}

/// Step 5: the checks, `results.json` and `report.html`.
fn check_and_report(
    request: &RunRequest,
    dir: &RunDir,
    interrupted: bool,
) -> Result<RunResults, RunError> {
    let schedule = &request.schedule;
    let ops = read_history(dir.history()).map_err(|e| RunError::History(e.to_string()))?;
    let stats = run_stats(&ops);
    let mut checks = Vec::new();
    for check in &schedule.checks {
        checks.push(match check {
            CheckKind::Linearizable if schedule.workload.kind == WorkloadKind::Append => {
                linearizability(dir, ModelKind::KvAppend)
            }
            CheckKind::Linearizable => linearizability(dir, ModelKind::CasRegister),
            CheckKind::Set => linearizability(dir, ModelKind::Set),
            CheckKind::Latency => latency_summary(&stats),
        });
    }
    let verdict = overall_verdict(&checks);
    let run = dir
        .path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let results = RunResults {
        name: schedule.name.clone(),
        seed: request.seed,
        run: run.clone(),
        verdict,
        interrupted,
        checks,
        stats,
    };
    let json = serde_json::to_string_pretty(&results).expect("results serialise");
    write_file(&dir.results(), &json)?;
    let explanation_html = results
        .checks
        .iter()
        .filter_map(|c| c.result.as_ref())
        .find(|r| r.verdict == Verdict::Invalid)
        .map(checker::html::fragment);
    let input = ReportInput {
        title: schedule.name.clone(),
        seed: request.seed,
        run_id: run,
        verdicts: results
            .checks
            .iter()
            .map(|c| CheckSummary {
                check: c.check.clone(),
                verdict: c.verdict.name().to_string(),
                summary: c.summary.clone(),
            })
            .collect(),
        ops: &ops,
        explanation_html,
        schedule_yaml: schedule.to_yaml(request.seed),
    };
    write_report(&dir.report(), &input).map_err(|source| RunError::Io {
        path: dir.report(),
        source,
    })?;
    Ok(results)
}

/// The run's verdict: invalid if any check is, else unknown if any is, else valid.
pub fn overall_verdict(checks: &[CheckOutcome]) -> Verdict {
    let any = |v: Verdict| checks.iter().any(|c| c.verdict == v);
    if any(Verdict::Invalid) {
        Verdict::Invalid
    } else if any(Verdict::Unknown) {
        Verdict::Unknown
    } else {
        Verdict::Valid
    }
}

fn linearizability(dir: &RunDir, model: ModelKind) -> CheckOutcome {
    let options = CheckOptions {
        time_limit: Some(CHECK_TIME_LIMIT),
        memo_limit_bytes: CHECK_MEMO_LIMIT_BYTES,
        ..CheckOptions::default()
    };
    match check_file(&dir.history(), Format::Jsonl, Some(model), &options) {
        Ok(result) => CheckOutcome {
            check: "linearizable".into(),
            verdict: result.verdict,
            summary: result.summary_line(),
            result: Some(result),
        },
        // Our own history failing to parse is a harness bug; it must not read as valid.
        Err(e) => CheckOutcome {
            check: "linearizable".into(),
            verdict: Verdict::Unknown,
            summary: format!("the history could not be checked: {e}"),
            result: None,
        },
    }
}

/// Latency is reported, not judged: its verdict is always valid and says so.
fn latency_summary(stats: &RunStats) -> CheckOutcome {
    CheckOutcome {
        check: "latency".into(),
        verdict: Verdict::Valid,
        summary: format!(
            "informational: ok-op latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms over {} ops",
            stats.latency_ms_p50, stats.latency_ms_p99, stats.latency_ms_max, stats.ok
        ),
        result: None,
    }
}

fn run_stats(ops: &[checker::history::Op]) -> RunStats {
    use checker::history::{OpType, Process};
    let mut stats = RunStats::default();
    for op in ops {
        match (op.process, op.kind) {
            (Process::Nemesis, _) => stats.nemesis_events += 1,
            (_, OpType::Invoke) => stats.ops += 1,
            (_, OpType::Ok) => stats.ok += 1,
            (_, OpType::Fail) => stats.fail += 1,
            (_, OpType::Info) => stats.info += 1,
        }
    }
    stats.duration_s = ops.last().map(|op| op.time_ns as f64 / 1e9).unwrap_or(0.0);
    let mut ok_latencies_ms: Vec<f64> = latency_records(ops.iter().cloned())
        .into_iter()
        .filter(|r| r.kind == OpType::Ok)
        .map(|r| r.latency_ns as f64 / 1e6)
        .collect();
    ok_latencies_ms.sort_by(f64::total_cmp);
    let quantile = |q: f64| -> f64 {
        if ok_latencies_ms.is_empty() {
            return 0.0;
        }
        let rank = ((ok_latencies_ms.len() - 1) as f64 * q).round() as usize;
        ok_latencies_ms[rank]
    };
    stats.latency_ms_p50 = quantile(0.5);
    stats.latency_ms_p99 = quantile(0.99);
    stats.latency_ms_max = quantile(1.0);
    stats
}

fn write_file(path: &Path, text: &str) -> Result<(), RunError> {
    std::fs::write(path, text).map_err(|source| RunError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// A one-line description of a schedule, for logs.
pub fn describe(schedule: &Schedule, seed: u64) -> String {
    format!(
        "{} (seed {seed}, {} nodes, {}, {} faults planned)",
        schedule.name,
        schedule.system.nodes,
        format_duration(schedule.duration),
        schedule.plan(seed).len()
    )
}
