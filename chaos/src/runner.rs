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
//! 5. Stop the cluster, run the schedule's checks on the history (the checker's registry,
//!    [`checker::check`]: each with a time budget, so a run never hangs in checking, it
//!    says `unknown`), write `results.json` (per check: name, verdict, summary and its
//!    `details`, the same fields for every check) and `report.html` (each check's own
//!    section). The nodes' data dirs (`data/<id>`) are kept only when the verdict is not
//!    `valid`. The checks are told the workload's model, the bank's accounts and total as
//!    the schedule created them (the bank check does not trust a first read) and the
//!    elle models ([`check_settings`]).
//!
//! Ctrl-C and SIGTERM set the shutdown signal: the workload stops, every fault is healed,
//! the cluster is stopped and the history recorded so far is still checked and written up,
//! with `interrupted: true`. A panic drops the [`Cluster`], whose `Drop` kills the nodes.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::watch;

use checker::bank::BankOptions;
use checker::check::{CheckKind, CheckReport, CheckSettings, LinearizabilityOptions};
use checker::format::Format;
use checker::verdict::Verdict;
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
use crate::schedule::{Schedule, WorkloadKind, format_duration};
use crate::store::{RunDir, StoreError, create_run_dir};
use crate::supervisor::NodeState;
use crate::system::command::RunAdapters;
use crate::system::{ClientSpec, NodePrograms, NodeRole};

/// How long each check of one run may take before it says `unknown`.
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
    /// Nodes on SSH hosts (`--hosts FILE`, [`crate::node_control::ssh`]); empty: local.
    pub hosts: Vec<crate::node_control::ssh::HostSpec>,
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
    /// A schedule asks for a fault the node backend cannot give (e.g. faultfs over SSH).
    #[error("{0}")]
    Unsupported(String),
    #[error("the stdio adapters: {0}")]
    Adapters(#[from] crate::supervisor::SupervisorError),
}

/// One check's outcome in `results.json`: the same fields for every check.
#[derive(Debug, Clone, Serialize)]
pub struct CheckOutcome {
    pub check: String,
    pub verdict: Verdict,
    pub summary: String,
    /// The check's findings ([`CheckReport::details`]); absent when the history could not
    /// be checked.
    #[serde(skip_serializing_if = "serde_json::Value::is_null")]
    pub details: serde_json::Value,
    /// The report itself, for the terminal's evidence lines and the HTML report; `None`
    /// when the history could not be checked.
    #[serde(skip)]
    pub report: Option<Arc<dyn CheckReport>>,
}

impl CheckOutcome {
    /// Runs `check` on the history file `history`.
    pub fn of(check: CheckKind, history: &Path, settings: &CheckSettings) -> CheckOutcome {
        match check.run(history, settings) {
            Ok(report) => CheckOutcome {
                check: check.name().to_string(),
                verdict: report.verdict(),
                summary: report.summary(),
                details: report.details(),
                report: Some(Arc::from(report)),
            },
            // Our own history failing to parse is a harness bug; it must not read as valid.
            Err(e) => CheckOutcome {
                check: check.name().to_string(),
                verdict: Verdict::Unknown,
                summary: format!("the history could not be checked: {e}"),
                details: serde_json::Value::Null,
                report: None,
            },
        }
    }

    /// The evidence lines `faultline run` prints below the summary.
    pub fn evidence(&self) -> String {
        self.report
            .as_ref()
            .map(|r| r.evidence())
            .unwrap_or_default()
    }
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
        // Nodes on SSH hosts keep their data there: no local `data` then.
        if data.exists() {
            std::fs::remove_dir_all(&data).map_err(|source| RunError::Io { path: data, source })?;
        }
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
    // A schedule that loses unfsynced writes runs every data dir on faultfs, whose daemon is
    // this binary's hidden `faultfs` subcommand.
    let faultfs = request
        .schedule
        .uses_faultfs()
        .then(|| crate::disk::FaultfsProgram {
            program: request.programs.program.clone(),
            args_prefix: vec!["faultfs".to_string()],
        });
    // Nodes run under libfaketime only when the schedule moves a clock (crate::clock).
    let clocks = request
        .schedule
        .fault_kinds()
        .contains(&crate::schedule::FaultKind::Clock);
    if !request.hosts.is_empty() && faultfs.is_some() {
        return Err(RunError::Unsupported(
            "`lose_unfsynced` needs each data dir on this machine's faultfs; it is not available with --hosts".into(),
        ));
    }
    if !request.hosts.is_empty() && clocks {
        return Err(RunError::Unsupported(
            "clock faults need the nodes under this machine's libfaketime; they are not available with --hosts".into(),
        ));
    }
    let mut cluster = if request.hosts.is_empty() {
        Cluster::start_layout_on(
            layout,
            dir.path.clone(),
            request.schedule.network,
            faultfs.as_ref(),
            clocks,
        )
        .await?
    } else {
        Cluster::start_on_hosts(layout, dir.path.clone(), request.hosts.clone()).await?
    };
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
    client.start_workers(schedule.workload.clients).await;
    let generator = workload_spec(schedule).generator(request.seed)?;
    // The driver's hard timeout must let a fresh adapter's first reply take its start-up
    // grace (the client still times out warm adapters at the schedule's timeout).
    let mut request = request.clone();
    request.schedule.workload.timeout = client.longest_call();
    let driven = drive_workload(
        &request,
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
    let settings = check_settings(schedule);
    let checks: Vec<CheckOutcome> = schedule
        .checks
        .iter()
        .map(|check| CheckOutcome::of(*check, &dir.history(), &settings))
        .collect();
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
        schedule_yaml: schedule.to_yaml(request.seed),
        check_sections: results
            .checks
            .iter()
            .filter_map(|c| c.report.as_ref()?.html_section(&ops))
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
fn adapter_section(adapters: &[AdapterReport]) -> Option<checker::check::HtmlSection> {
    if adapters.is_empty() {
        return None;
    }
    let items: String = adapter_lines(adapters)
        .iter()
        .map(|line| format!("<li>{}</li>", html_escape::encode_text(line)))
        .collect();
    Some(checker::check::HtmlSection {
        title: "The stdio adapter misbehaved".to_string(),
        body_html: format!(
            "<p>Each case is an <code>info</code> (or, for a read, a <code>fail</code>) in the history, and the worker got a fresh adapter; stderr is in <code>adapters/&lt;worker&gt;.log</code>.</p><ul>{items}</ul>"
        ),
    })
}

/// The run's verdict: invalid if any check is, else unknown if any is, else valid.
pub fn overall_verdict(checks: &[CheckOutcome]) -> Verdict {
    Verdict::worst(checks.iter().map(|c| c.verdict))
}

/// What the checks are told: the workload's model, the bank's accounts and total as the
/// schedule created them (the bank check does not trust a first read), the elle models,
/// and the budgets.
pub fn check_settings(schedule: &Schedule) -> CheckSettings {
    CheckSettings {
        format: Format::Jsonl,
        time_limit: Some(CHECK_TIME_LIMIT),
        model: schedule.workload.kind.model(),
        linearizability: LinearizabilityOptions {
            memo_limit_bytes: CHECK_MEMO_LIMIT_BYTES,
            ..LinearizabilityOptions::default()
        },
        bank: schedule
            .system
            .system()
            .bank_facts()
            .map(|bank| BankOptions {
                accounts: bank.accounts,
                total: bank.total,
            }),
        elle_models: schedule.elle_models.clone(),
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
