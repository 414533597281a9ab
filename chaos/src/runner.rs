//! One run, end to end: the heart of `faultline run` and of each campaign job.
//!
//! 1. Create the run's directory in the store and write `schedule.yaml` (seed filled in)
//!    and `node-args.json` (the extra node arguments, a JSON array of strings).
//! 2. Start the cluster (every node's log in `nodes/<id>.log`): the schedule's system, laid
//!    out by [`crate::layout`] (Raft nodes, or the bank's coordinators, participants and
//!    decision store).
//! 3. Drive the workload and the nemesis side by side for the schedule's duration; the
//!    recorder appends every op to `history.jsonl` as it happens. Raft workloads go through
//!    the [`RaftClient`] once a leader is elected; the bank workload through the
//!    [`BankClient`] (every coordinator), after the decision store elected a leader when
//!    the coordinator is replicated.
//! 4. The final phase: heal everything, quiesce, final reads.
//! 5. Stop the cluster, check the history (each check with a time budget: a run never hangs
//!    in checking, it says `unknown`), write `results.json` and `report.html`. The nodes'
//!    data dirs (`data/<id>`) are kept only when the verdict is not `valid`. The bank check
//!    knows the accounts and the total from the schedule (it does not trust a first read),
//!    and its availability table (longest time transfers were blocked, per fault window)
//!    goes into `results.json` and the report.
//!
//! Ctrl-C and SIGTERM set the shutdown signal: the workload stops, every fault is healed,
//! the cluster is stopped and the history recorded so far is still checked and written up,
//! with `interrupted: true`. A panic drops the [`Cluster`], whose `Drop` kills the nodes.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::watch;

use checker::bank::{BankOptions, BankResult, check_bank};
use checker::check::{CheckOptions, check_file};
use checker::format::Format;
use checker::model::ModelKind;
use checker::verdict::{CheckResult, Verdict};
use workloads::bank::{BankConfig, BankGenerator};
use workloads::client::{
    AdapterReport, BankClient, BankClientConfig, Client, EtcdClient, EtcdClientConfig,
    EtcdWorkload, RaftClient, RaftClientConfig, StdioClient, StdioClientConfig,
};
use workloads::driver::{DriverOptions, FinalReadOptions, run_final_reads, run_workload};
use workloads::generator::{self, Generator};
use workloads::recorder::{Recorder, read_history};
use workloads::stats::LatencySummary;
use workloads::txn::TxnConfig;

use crate::cluster::{Cluster, ClusterError};
use crate::layout::SystemLayout;
use crate::nemesis::{ActiveFaults, NemesisError, run_plan};
use crate::progress::Progress;
use crate::report::{CheckSummary, ReportInput, write_report};
use crate::schedule::{CheckKind, Schedule, WorkloadKind, format_duration};
use crate::store::{RunDir, StoreError, create_run_dir};
use crate::supervisor::NodeState;
use crate::system::command::RunAdapters;
use crate::system::{ClientSpec, NodePrograms, NodeRole};
use checker::blocked::{BlockedWindow, blocked_windows};

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
    /// The programs of faultline's own systems' nodes ([`this_binary`]: `faultline node`,
    /// `faultline bank`) and the extra arguments of every Raft node (`--node-arg`).
    pub programs: NodePrograms,
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
    #[error("the etcd client: {0}")]
    EtcdClient(#[from] workloads::client::EtcdClientError),
    #[error("the bank client: {0}")]
    BankClient(#[from] workloads::client::BankClientError),
    #[error("the bank workload: {0}")]
    BankGenerator(#[from] workloads::bank::BankGeneratorError),
    #[error("reading back the history: {0}")]
    History(String),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("no leader was elected within {0:?} of starting the cluster")]
    NoLeader(Duration),
    #[error("the stdio adapters: {0}")]
    Adapters(#[from] crate::supervisor::SupervisorError),
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
    /// The bank check's full result: bad reads and availability per fault window.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bank: Option<BankResult>,
    /// The bank's blocked wall time per fault window ([`checker::blocked`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub blocked: Vec<BlockedWindow>,
}

/// Counts and latencies of the run's client ops.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RunStats {
    /// Client ops invoked (an op is an invoke line and, unless in flight at the end, a
    /// completion line of the history).
    pub ops: u64,
    pub ok: u64,
    pub fail: u64,
    pub info: u64,
    /// Fail and info completions per error (`none` when one named no error), e.g.
    /// `{"cas-mismatch": 1584, "not-leader": 36}`.
    pub fail_by_error: std::collections::BTreeMap<String, u64>,
    pub info_by_error: std::collections::BTreeMap<String, u64>,
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
    /// The stdio adapter workers that misbehaved (timeouts, exits, garbage, failed starts);
    /// absent when none did or the run had no adapter.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub adapters: Vec<AdapterReport>,
}

/// A finished run.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    pub dir: RunDir,
    pub results: RunResults,
}

/// The node programs of faultline's own systems: this very binary, as `faultline node ...`
/// (the Raft store) and `faultline bank ...` (the bank), with `raft_extra_args` appended to
/// every Raft node's arguments.
pub fn this_binary(raft_extra_args: Vec<String>) -> std::io::Result<NodePrograms> {
    Ok(NodePrograms {
        program: std::env::current_exe()?,
        raft_args_prefix: vec!["node".to_string()],
        bank_args_prefix: vec!["bank".to_string()],
        raft_extra_args,
    })
}

/// Runs one schedule; see the module docs.
pub async fn execute(
    request: RunRequest,
    shutdown: watch::Receiver<bool>,
) -> Result<RunOutcome, RunError> {
    let schedule = &request.schedule;
    let dir = create_run_dir(&request.store, &schedule.name, request.seed)?;
    write_file(&dir.schedule(), &schedule.to_yaml(request.seed))?;
    // The extra node arguments, for `faultline serve`'s exact reproduce line (issue 14).
    let node_args =
        serde_json::to_string(&request.programs.raft_extra_args).expect("strings serialise");
    write_file(&dir.path.join("node-args.json"), &node_args)?;
    let recorder = Recorder::create(dir.history())?;
    let phase = drive(&request, &dir, &recorder, shutdown.clone()).await;
    // The history is closed whatever happened, so that what was recorded is kept.
    let summary = recorder.close().await;
    let adapters = phase?;
    summary?;
    let interrupted = *shutdown.borrow();
    let results = check_and_report(&request, &dir, interrupted, adapters)?;
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
) -> Result<Vec<AdapterReport>, RunError> {
    let layout = SystemLayout {
        system: request.schedule.system.clone(),
        programs: request.programs.clone(),
    };
    let mut cluster =
        Cluster::start_layout(layout, dir.path.clone(), request.schedule.network).await?;
    let system = request.schedule.system.system();
    let client = system.client(request.schedule.workload.read);
    let mut adapters = Vec::new();
    let outcome = match (&request.schedule.workload.client_command, client) {
        (Some(command), _) => drive_stdio(request, dir, command, &mut cluster, recorder, shutdown)
            .await
            .map(|misbehaved| adapters = misbehaved),
        (None, ClientSpec::Stdio) => unreachable!("validated: a stdio system names its adapter"),
        (None, ClientSpec::Raft) => drive_raft(request, &mut cluster, recorder, shutdown).await,
        (
            None,
            ClientSpec::Bank {
                coordinators,
                accounts,
            },
        ) => {
            let bank = BankDrive {
                coordinators,
                accounts,
                has_leader: request.schedule.system.has_leader(),
            };
            drive_bank(request, &bank, &mut cluster, recorder, shutdown).await
        }
        (None, ClientSpec::Etcd { read }) => {
            drive_etcd(request, read, &mut cluster, recorder, shutdown).await
        }
    };
    let stopped = cluster.shutdown().await;
    outcome?;
    stopped?;
    Ok(adapters)
}

/// A workload through the schedule's stdio adapter (`client: { command }`, one process per
/// client worker, [`StdioClient`]), once a leader is elected if the system has a leader
/// probe. Every adapter is killed and reaped before this returns; the workers whose
/// adapter misbehaved are returned for the report.
async fn drive_stdio(
    request: &RunRequest,
    dir: &RunDir,
    command: &str,
    cluster: &mut Cluster,
    recorder: &Recorder,
    shutdown: watch::Receiver<bool>,
) -> Result<Vec<AdapterReport>, RunError> {
    let schedule = &request.schedule;
    if schedule.system.has_leader() {
        wait_for_leader(cluster).await?;
    }
    let ids = cluster.node_ids();
    let spawner = Arc::new(RunAdapters::new(
        command,
        client_addrs(cluster, &ids),
        dir.path.join("adapters"),
        request.programs.program.clone(),
    )?);
    let client = Arc::new(StdioClient::new(
        spawner,
        StdioClientConfig {
            timeout_ms: schedule.workload.timeout.as_millis() as u64,
            nodes: ids,
        },
    ));
    let generator = workload_spec(schedule).generator(request.seed)?;
    let driven = drive_workload(
        request,
        cluster,
        client.clone(),
        generator,
        recorder,
        shutdown,
    )
    .await;
    client.shutdown().await;
    driven?;
    Ok(client.misbehaviour())
}

/// The Raft system: a register or set workload through the Raft client, once a leader is
/// elected.
async fn drive_raft(
    request: &RunRequest,
    cluster: &mut Cluster,
    recorder: &Recorder,
    shutdown: watch::Receiver<bool>,
) -> Result<(), RunError> {
    let schedule = &request.schedule;
    wait_for_leader(cluster).await?;
    let client = Arc::new(RaftClient::new(
        client_addrs(cluster, &cluster.node_ids()),
        RaftClientConfig {
            timeout_ms: schedule.workload.timeout.as_millis() as u64,
            ..RaftClientConfig::default()
        },
    )?);
    let generator = workload_spec(schedule).generator(request.seed)?;
    drive_workload(request, cluster, client, generator, recorder, shutdown).await
}

/// etcd: the workload through etcd's v3 client (every member; each client thread bound
/// to one), once a leader is elected.
async fn drive_etcd(
    request: &RunRequest,
    read_mode: workloads::client::ReadMode,
    cluster: &mut Cluster,
    recorder: &Recorder,
    shutdown: watch::Receiver<bool>,
) -> Result<(), RunError> {
    let schedule = &request.schedule;
    wait_for_leader(cluster).await?;
    let workload = match schedule.workload.kind {
        WorkloadKind::Register => EtcdWorkload::Register,
        WorkloadKind::Set => EtcdWorkload::Set,
        WorkloadKind::Append => EtcdWorkload::Append,
        WorkloadKind::ListAppend => EtcdWorkload::ListAppend,
        WorkloadKind::RwRegister => EtcdWorkload::RwRegister,
        WorkloadKind::Bank => unreachable!("validated: etcd takes no bank workload"),
    };
    let client = Arc::new(EtcdClient::new(
        client_addrs(cluster, &cluster.node_ids()),
        EtcdClientConfig {
            timeout_ms: schedule.workload.timeout.as_millis() as u64,
            read_mode,
            workload,
            ..EtcdClientConfig::default()
        },
    )?);
    let generator = workload_spec(schedule).generator(request.seed)?;
    drive_workload(request, cluster, client, generator, recorder, shutdown).await
}

/// What the bank's driver needs to know of the bank.
struct BankDrive {
    coordinators: NodeRole,
    accounts: usize,
    /// A replicated coordinator's decision store, which must elect a leader first.
    has_leader: bool,
}

/// The bank: transfers and reads through every coordinator; a replicated coordinator's
/// decision store must have elected a leader first.
async fn drive_bank(
    request: &RunRequest,
    bank: &BankDrive,
    cluster: &mut Cluster,
    recorder: &Recorder,
    shutdown: watch::Receiver<bool>,
) -> Result<(), RunError> {
    let schedule = &request.schedule;
    if bank.has_leader {
        wait_for_leader(cluster).await?;
    }
    let coordinators = cluster.ids_of_role(bank.coordinators);
    let client = Arc::new(BankClient::new(
        client_addrs(cluster, &coordinators),
        BankClientConfig {
            timeout_ms: schedule.workload.timeout.as_millis() as u64,
            ..BankClientConfig::default()
        },
    )?);
    let config = BankConfig {
        accounts: bank.accounts,
        ..BankConfig::default()
    };
    let generator: Box<dyn Generator> = Box::new(BankGenerator::new(&config, request.seed)?);
    drive_workload(request, cluster, client, generator, recorder, shutdown).await
}

/// `(id, client address)` of each of `ids`.
fn client_addrs(cluster: &Cluster, ids: &[String]) -> Vec<(String, std::net::SocketAddr)> {
    ids.iter()
        .map(|id| (id.clone(), cluster.client_addr(id)))
        .collect()
}

/// The workload and the nemesis side by side, then the final phase.
async fn drive_workload<C: Client + 'static>(
    request: &RunRequest,
    cluster: &mut Cluster,
    client: Arc<C>,
    generator: Box<dyn Generator>,
    recorder: &Recorder,
    shutdown: watch::Receiver<bool>,
) -> Result<(), RunError> {
    let schedule = &request.schedule;
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
async fn final_phase<C: Client + 'static>(
    request: &RunRequest,
    cluster: &mut Cluster,
    client: Arc<C>,
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
        WorkloadKind::ListAppend => generator::WorkloadSpec::ListAppend(TxnConfig {
            keys: schedule.workload.keys,
            ..Default::default()
        }),
        WorkloadKind::RwRegister => generator::WorkloadSpec::RwRegister(TxnConfig {
            keys: schedule.workload.keys,
            ..Default::default()
        }),
        WorkloadKind::Bank => unreachable!("the bank workload is built by drive_bank"),
    }
}

/// Step 5: the checks, `results.json` and `report.html`.
fn check_and_report(
    request: &RunRequest,
    dir: &RunDir,
    interrupted: bool,
    adapters: Vec<AdapterReport>,
) -> Result<RunResults, RunError> {
    let schedule = &request.schedule;
    let ops = read_history(dir.history()).map_err(|e| RunError::History(e.to_string()))?;
    let stats = run_stats(&ops);
    let mut checks = Vec::new();
    for check in &schedule.checks {
        let model = schedule.workload.kind.model();
        checks.push(match (check, model) {
            // The set check is Jepsen's set-full (lost, stale, unexpected), not a model.
            (CheckKind::Set, _) => set_full_check(&ops),
            (CheckKind::Linearizable, Some(model)) => linearizability(dir, model),
            (CheckKind::Bank, _) => bank_check(schedule, &ops),
            (CheckKind::Elle, _) => elle_check(dir),
            (CheckKind::Latency, _) => latency_summary(&stats),
            (CheckKind::Linearizable, None) => {
                unreachable!("validated: the check fits the workload, which has a model")
            }
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
        adapters,
    };
    let json = serde_json::to_string_pretty(&results).expect("results serialise");
    write_file(&dir.results(), &json)?;
    let explanation_html = results
        .checks
        .iter()
        .filter_map(|c| c.result.as_ref())
        .find(|r| r.verdict == Verdict::Invalid)
        .map(|r| crate::report::counterexample_html(r, &ops));
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
        extra_sections: results
            .checks
            .iter()
            .filter_map(|c| c.bank.as_ref().map(|bank| (bank, &c.blocked)))
            .map(|(bank, blocked)| crate::report::bank_section(bank, blocked))
            .chain(adapter_section(&results.adapters))
            .collect(),
    };
    write_report(&dir.report(), &input).map_err(|source| RunError::Io {
        path: dir.report(),
        source,
    })?;
    Ok(results)
}

/// One line per misbehaving adapter worker: what it did, for the terminal and the report.
pub fn adapter_lines(adapters: &[AdapterReport]) -> Vec<String> {
    adapters
        .iter()
        .map(|a| {
            let mut parts = Vec::new();
            for (count, what) in [
                (a.timeouts, "timeout"),
                (a.exits, "exit"),
                (a.garbage, "garbage line"),
                (a.start_failures, "failed start"),
            ] {
                if count > 0 {
                    parts.push(format!(
                        "{count} {what}{}",
                        if count == 1 { "" } else { "s" }
                    ));
                }
            }
            let mut line = format!(
                "worker {}: {} ({} adapter process{} started)",
                a.worker,
                parts.join(", "),
                a.starts,
                if a.starts == 1 { "" } else { "es" }
            );
            if let Some(garbage) = &a.first_garbage {
                line.push_str(&format!("; first garbage line: {garbage:?}"));
            }
            if let Some(error) = &a.first_start_error {
                line.push_str(&format!("; first start error: {error}"));
            }
            line
        })
        .collect()
}

/// The report's section on misbehaving adapters, if any misbehaved.
fn adapter_section(adapters: &[AdapterReport]) -> Option<crate::report::ReportSection> {
    if adapters.is_empty() {
        return None;
    }
    let items: String = adapter_lines(adapters)
        .iter()
        .map(|line| format!("<li>{}</li>", html_escape::encode_text(line)))
        .collect();
    Some(crate::report::ReportSection {
        title: "The stdio adapter misbehaved".to_string(),
        body_html: format!(
            "<p>Each case is an <code>info</code> (or, for a read, a <code>fail</code>) in the history, and the worker got a fresh adapter; stderr is in <code>adapters/&lt;worker&gt;.log</code>.</p><ul>{items}</ul>"
        ),
    })
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
            bank: None,
            blocked: Vec::new(),
        },
        // Our own history failing to parse is a harness bug; it must not read as valid.
        Err(e) => CheckOutcome {
            check: "linearizable".into(),
            verdict: Verdict::Unknown,
            summary: format!("the history could not be checked: {e}"),
            result: None,
            bank: None,
            blocked: Vec::new(),
        },
    }
}

/// Elle's check of a transactional history for strict serializability; the summary is
/// the verdict, the anomaly types, the models ruled out and the first explained example.
/// (Issue 13: one local call until whole-history checks share one registry.)
fn elle_check(dir: &RunDir) -> CheckOutcome {
    /// Lines of the checker's text kept in the one-line summary.
    const MAX_SUMMARY_LINES: usize = 16;
    let options = checker::elle::ElleOptions {
        model: checker::elle::Model::StrictSerializable,
        time_limit: Some(CHECK_TIME_LIMIT),
        ..checker::elle::ElleOptions::default()
    };
    let (verdict, summary) = match checker::elle::check_file(&dir.history(), Format::Jsonl, &options)
    {
        Ok(result) => {
            let text = result.to_text();
            let lines: Vec<&str> = text
                .lines()
                .map(str::trim)
                .filter(|line| !line.is_empty() && !line.starts_with("time:"))
                .collect();
            let kept = lines.len().min(MAX_SUMMARY_LINES);
            let mut summary = lines[..kept].join("; ");
            if lines.len() > kept {
                summary.push_str(&format!("; ({} more lines)", lines.len() - kept));
            }
            (result.verdict, summary)
        }
        Err(e) => (
            Verdict::Unknown,
            format!("the history could not be checked: {e}"),
        ),
    };
    CheckOutcome {
        check: "elle".into(),
        verdict,
        summary,
        result: None,
        bank: None,
        blocked: Vec::new(),
    }
}

/// Jepsen's set-full check (lost, stale, unexpected elements), as a schedule's `set`
/// check: its text, the counts and the first examples, is the summary.
fn set_full_check(ops: &[checker::history::Op]) -> CheckOutcome {
    /// Example lines (lost, stale, unexpected elements) kept in the one-line summary.
    const MAX_EXAMPLES: usize = 3;
    let (verdict, summary) = match checker::set_check::check_set(ops) {
        Ok(result) => {
            let text = result.to_text();
            let lines: Vec<&str> = text.lines().collect();
            let kept = lines.len().min(2 + MAX_EXAMPLES);
            let mut summary = lines[..kept].join("; ");
            if lines.len() > kept {
                summary.push_str(&format!("; ({} more)", lines.len() - kept));
            }
            (result.verdict, summary)
        }
        Err(e) => (
            Verdict::Unknown,
            format!("the history could not be checked: {e}"),
        ),
    };
    CheckOutcome {
        check: "set-full".into(),
        verdict,
        summary,
        result: None,
        bank: None,
        blocked: Vec::new(),
    }
}

/// The bank check with the accounts and total the schedule created.
fn bank_check(schedule: &Schedule, ops: &[checker::history::Op]) -> CheckOutcome {
    let bank = schedule
        .system
        .system()
        .bank_facts()
        .expect("validated: the bank workload runs on a bank system");
    let options = BankOptions {
        accounts: bank.accounts,
        total: bank.total,
    };
    match check_bank(ops, &options) {
        Ok(result) => {
            let blocked = blocked_windows(ops);
            CheckOutcome {
                check: "bank".into(),
                verdict: result.verdict,
                summary: bank_summary(&result, &blocked),
                result: None,
                bank: Some(result),
                blocked,
            }
        }
        Err(e) => CheckOutcome {
            check: "bank".into(),
            verdict: Verdict::Unknown,
            summary: format!("the history could not be checked: {e}"),
            result: None,
            bank: None,
            blocked: Vec::new(),
        },
    }
}

/// One line: counts, the longest blocked stretch, and for an invalid verdict the first bad
/// read (which accounts, what they summed to).
fn bank_summary(result: &BankResult, blocked: &[BlockedWindow]) -> String {
    let ms = |ns: u64| ns as f64 / 1e6;
    let longest_gap_ns = result
        .availability
        .iter()
        .map(|row| row.longest_gap_ns)
        .max();
    let longest_blocked_ns = blocked.iter().map(|w| w.longest_without_ok_ns).max();
    let mut line = format!(
        "{} ok, {} fail, {} info; {} ok; {}; in fault windows: longest without an ok transfer {:.0} ms, longest gap with transfers in flight {:.0} ms",
        checker::verdict::count(result.transfers.ok, "transfer", "transfers"),
        result.transfers.fail,
        result.transfers.info,
        checker::verdict::count(result.reads.ok, "read", "reads"),
        checker::verdict::count(result.bad_reads, "bad read", "bad reads"),
        ms(longest_blocked_ns.unwrap_or(0)),
        ms(longest_gap_ns.unwrap_or(0)),
    );
    if let Some(read) = &result.first_bad_read {
        line.push_str(&format!("; first bad read: {}", read.describe()));
    }
    line
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
        bank: None,
        blocked: Vec::new(),
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
        let by_error = match (op.process, op.kind) {
            (Process::Client(_), OpType::Fail) => &mut stats.fail_by_error,
            (Process::Client(_), OpType::Info) => &mut stats.info_by_error,
            _ => continue,
        };
        *by_error
            .entry(op.error.clone().unwrap_or_else(|| "none".into()))
            .or_default() += 1;
    }
    stats.duration_s = ops.last().map(|op| op.time_ns as f64 / 1e9).unwrap_or(0.0);
    // The one percentile definition (nearest rank over ok ops), as the report uses.
    if let Some(latency) = LatencySummary::of_ok_ops(ops.iter().cloned()) {
        stats.latency_ms_p50 = latency.p50_ns as f64 / 1e6;
        stats.latency_ms_p99 = latency.p99_ns as f64 / 1e6;
        stats.latency_ms_max = latency.max_ns as f64 / 1e6;
    }
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
    let nodes = schedule.system.system().describe();
    let bug = match &schedule.system.bug {
        Some(bug) => format!(", planted bug {bug}"),
        None => String::new(),
    };
    format!(
        "{} (seed {seed}, {nodes}{bug}, {}, {} faults planned)",
        schedule.name,
        format_duration(schedule.duration),
        schedule.plan(seed).len()
    )
}
