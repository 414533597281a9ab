//! `faultline bench raft`: throughput, latency and failover time of the Raft store.
//!
//! Starts a 3-node cluster (real processes, fsync on as always, the `Direct` network: no
//! proxies in the way) and measures, through the one client of faultline
//! ([`workloads::client::RaftClient`]):
//!
//! - acknowledged writes per second and p50/p99 latency of acknowledged writes at each
//!   concurrency level (1, 16, 64 clients by default), each for a few seconds, closed loop;
//! - failover: the time from `kill -9` of the leader to the next acknowledged write, repeated
//!   (the killed node is restarted and the cluster settles between repeats); the median is
//!   reported.
//!
//! Latency is measured only over acknowledged writes; failed and unknown ones are counted.
//!
//! `faultline bench etcd` runs the same throughput driver (same 50 keys, same client counts,
//! same closed loop, through the client trait every workload uses) against a 3-member
//! etcd cluster (real `etcd` processes, fsync on, the `Direct` network, etcd's own client
//! [`workloads::client::EtcdClient`] through its JSON gateway, each client thread bound to
//! one member), and then against the Raft store, so the two tables sit side by side.
//! Failover is measured for the Raft store only.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde_json::json;
use tokio::time::{Instant, sleep};
use workloads::client::{
    Client, EtcdClient, EtcdClientConfig, Invocation, Outcome, RaftClient, RaftClientConfig,
};
use workloads::stats::percentile;

use crate::cluster::{Cluster, ClusterConfig, ClusterError, NetworkKind};
use crate::layout::SystemLayout;
use crate::system::{NodePrograms, SystemSpec};

/// How long to wait for a leader before giving up.
const LEADER_WAIT_MS: u64 = 10_000;
/// Keys the throughput clients spread their writes over: 50, as the hand measurements with
/// wrk that anchor these numbers (etcd and the store, issue 11) used.
const KEYS: u64 = 50;
/// Client timeout while measuring failover: short, so a request stuck on a dead or
/// not-yet-elected node does not hide the moment the new leader commits.
const FAILOVER_CLIENT_TIMEOUT_MS: u64 = 250;

/// What to run.
#[derive(Debug, Clone)]
pub struct RaftBenchOptions {
    /// The node executable (`raft-node`, or `faultline` with `program_args_prefix = ["node"]`).
    pub program: PathBuf,
    pub program_args_prefix: Vec<String>,
    /// Arguments added to every node's command line.
    pub extra_args: Vec<String>,
    /// Where data dirs and logs go; a temporary directory when `None`.
    pub base_dir: Option<PathBuf>,
    /// Concurrent clients of each throughput measurement.
    pub concurrency: Vec<usize>,
    /// Length of each throughput measurement.
    pub duration_ms: u64,
    /// How many times the leader is killed.
    pub failover_repeats: usize,
    /// Client timeout of the throughput measurements.
    pub client_timeout_ms: u64,
}

impl RaftBenchOptions {
    /// The defaults of `faultline bench raft` for a given node program.
    pub fn new(program: PathBuf, program_args_prefix: Vec<String>) -> Self {
        Self {
            program,
            program_args_prefix,
            extra_args: Vec::new(),
            base_dir: None,
            concurrency: vec![1, 16, 64],
            duration_ms: 3000,
            failover_repeats: 5,
            client_timeout_ms: 2000,
        }
    }
}

/// One throughput measurement.
#[derive(Debug, Clone, Serialize)]
pub struct ThroughputRow {
    pub clients: usize,
    pub duration_ms: u64,
    pub acknowledged: u64,
    pub failed: u64,
    pub unknown: u64,
    pub writes_per_s: f64,
    pub latency_ms_p50: f64,
    pub latency_ms_p99: f64,
}

/// Everything measured.
#[derive(Debug, Clone, Serialize)]
pub struct RaftBenchReport {
    pub nodes: usize,
    pub throughput: Vec<ThroughputRow>,
    /// Each kill of the leader to the next acknowledged write.
    pub failover_ms: Vec<f64>,
    pub failover_ms_median: Option<f64>,
}

/// Why the benchmark could not run.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    #[error("creating the client: {0}")]
    Client(#[from] workloads::client::ClientError),
    #[error("creating the etcd client: {0}")]
    EtcdClient(#[from] workloads::client::EtcdClientError),
    #[error("no `{0}` executable found (install etcd, e.g. Debian's etcd-server)")]
    NoEtcd(String),
    #[error("creating a temporary directory: {0}")]
    TempDir(std::io::Error),
    #[error("no leader within {LEADER_WAIT_MS} ms ({context})")]
    NoLeader { context: String },
    #[error("no write acknowledged within {timeout_ms} ms after killing leader {leader}")]
    NoFailover { leader: String, timeout_ms: u64 },
}

/// Runs the benchmark; the cluster is shut down whatever happens.
pub async fn raft_bench(opts: RaftBenchOptions) -> Result<RaftBenchReport, BenchError> {
    let temp = match &opts.base_dir {
        Some(_) => None,
        None => Some(
            tempfile::Builder::new()
                .prefix("faultline-bench-")
                .tempdir()
                .map_err(BenchError::TempDir)?,
        ),
    };
    let base_dir = opts
        .base_dir
        .clone()
        .unwrap_or_else(|| temp.as_ref().expect("temp dir").path().to_path_buf());
    let config = ClusterConfig {
        nodes: 3,
        base_dir,
        network: NetworkKind::Direct,
        program: opts.program.clone(),
        program_args_prefix: opts.program_args_prefix.clone(),
        extra_args: opts.extra_args.clone(),
    };
    let mut cluster = Cluster::start(config).await?;
    let measured = measure(&mut cluster, &opts).await;
    let stopped = cluster.shutdown().await;
    let report = measured?;
    stopped?;
    Ok(report)
}

async fn measure(
    cluster: &mut Cluster,
    opts: &RaftBenchOptions,
) -> Result<RaftBenchReport, BenchError> {
    wait_for_leader(cluster, "after start").await?;
    let client = Arc::new(client_of(cluster, opts.client_timeout_ms)?);
    let mut throughput = Vec::new();
    for &clients in &opts.concurrency {
        throughput.push(measure_throughput(client.clone(), clients, opts.duration_ms).await);
    }
    let mut failover_ms = Vec::new();
    for _ in 0..opts.failover_repeats {
        failover_ms.push(measure_failover(cluster).await?);
    }
    Ok(RaftBenchReport {
        nodes: 3,
        throughput,
        failover_ms_median: median(&failover_ms),
        failover_ms,
    })
}

fn client_of(cluster: &Cluster, timeout_ms: u64) -> Result<RaftClient, BenchError> {
    let nodes = cluster.node_ids().into_iter().map(|id| {
        let addr = cluster.client_addr(&id);
        (id, addr)
    });
    let config = RaftClientConfig {
        timeout_ms,
        max_idle_per_node: 128,
        ..RaftClientConfig::default()
    };
    Ok(RaftClient::new(nodes, config)?)
}

async fn wait_for_leader(cluster: &Cluster, context: &str) -> Result<String, BenchError> {
    let deadline = Instant::now() + Duration::from_millis(LEADER_WAIT_MS);
    while Instant::now() < deadline {
        if let Some(leader) = cluster.leader().await {
            return Ok(leader);
        }
        sleep(Duration::from_millis(10)).await;
    }
    Err(BenchError::NoLeader {
        context: context.into(),
    })
}

/// Counts of one client task.
#[derive(Default)]
struct Tally {
    latencies_us: Vec<u64>,
    failed: u64,
    unknown: u64,
}

async fn measure_throughput<C: Client + 'static>(
    client: Arc<C>,
    clients: usize,
    duration_ms: u64,
) -> ThroughputRow {
    let start = Instant::now();
    let end = start + Duration::from_millis(duration_ms);
    let tasks: Vec<_> = (0..clients)
        .map(|c| {
            let client = client.clone();
            tokio::spawn(async move { write_until(client.as_ref(), c as u64, end).await })
        })
        .collect();
    let mut total = Tally::default();
    for task in tasks {
        // A panicking client task is a bug of this module: let it surface.
        let tally = task.await.expect("benchmark client task");
        total.latencies_us.extend(tally.latencies_us);
        total.failed += tally.failed;
        total.unknown += tally.unknown;
    }
    let elapsed_s = start.elapsed().as_secs_f64();
    total.latencies_us.sort_unstable();
    ThroughputRow {
        clients,
        duration_ms,
        acknowledged: total.latencies_us.len() as u64,
        failed: total.failed,
        unknown: total.unknown,
        writes_per_s: total.latencies_us.len() as f64 / elapsed_s,
        latency_ms_p50: percentile_ms(&total.latencies_us, 50),
        latency_ms_p99: percentile_ms(&total.latencies_us, 99),
    }
}

/// Closed loop: one write at a time until `end`, as the client's logical thread `c` (its
/// own leader guess, or its own etcd member, as each of a workload's threads has).
async fn write_until<C: Client>(client: &C, c: u64, end: Instant) -> Tally {
    let mut tally = Tally::default();
    let mut i = 0u64;
    while Instant::now() < end {
        let key = format!("k{}", (c * 7919 + i) % KEYS);
        let sent = Instant::now();
        match client
            .invoke(
                c as usize,
                &Invocation::write(key, json!(c * 1_000_000 + i)),
            )
            .await
        {
            Outcome::Ok(_) => tally.latencies_us.push(sent.elapsed().as_micros() as u64),
            Outcome::Fail(_) => tally.failed += 1,
            Outcome::Info(_) => tally.unknown += 1,
        }
        i += 1;
    }
    tally
}

/// `sorted` in microseconds; its percentile ([`percentile`], the project's one definition:
/// nearest rank) in milliseconds (0 when empty).
fn percentile_ms(sorted: &[u64], percent: u32) -> f64 {
    percentile(sorted, percent).map_or(0.0, |us| us as f64 / 1000.0)
}

fn median(values: &[f64]) -> Option<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => None,
        n if n % 2 == 1 => Some(sorted[n / 2]),
        n => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2.0),
    }
}

/// Kills the leader, times the next acknowledged write, then restarts the node and waits
/// until the cluster has a leader again.
async fn measure_failover(cluster: &mut Cluster) -> Result<f64, BenchError> {
    let leader = wait_for_leader(cluster, "before a failover").await?;
    let client = client_of(cluster, FAILOVER_CLIENT_TIMEOUT_MS)?;
    // Teach the client the current leader, as a long-running client would know it.
    let warmup = client.run(&Invocation::write("failover", json!(0))).await;
    let give_up_ms = LEADER_WAIT_MS;
    cluster.kill(&leader).await?;
    let killed = Instant::now();
    let deadline = killed + Duration::from_millis(give_up_ms);
    let mut n = 1u64;
    let elapsed_ms = loop {
        if let Outcome::Ok(_) = client.run(&Invocation::write("failover", json!(n))).await {
            break killed.elapsed().as_secs_f64() * 1000.0;
        }
        if Instant::now() >= deadline {
            return Err(BenchError::NoFailover {
                leader,
                timeout_ms: give_up_ms,
            });
        }
        n += 1;
    };
    cluster.restart(&leader).await?;
    wait_for_leader(cluster, "after restarting the killed leader").await?;
    // Let the restarted node catch up before the next kill.
    sleep(Duration::from_millis(500)).await;
    tracing::debug!(?warmup, elapsed_ms, "failover measured");
    Ok(elapsed_ms)
}

/// What `faultline bench etcd` measures of etcd: the Raft benchmark's throughput rows.
#[derive(Debug, Clone, Serialize)]
pub struct EtcdBenchReport {
    pub members: usize,
    /// The etcd executable run.
    pub binary: PathBuf,
    pub throughput: Vec<ThroughputRow>,
}

/// Measures etcd's throughput with the Raft benchmark's driver and `opts`'s client counts,
/// length and client timeout (`opts.program` is not used: etcd brings its own binary).
pub async fn etcd_bench(
    opts: &RaftBenchOptions,
    etcd_binary: &str,
) -> Result<EtcdBenchReport, BenchError> {
    let binary = crate::system::etcd::find_executable(etcd_binary)
        .ok_or_else(|| BenchError::NoEtcd(etcd_binary.to_string()))?;
    let temp = tempfile::Builder::new()
        .prefix("faultline-bench-etcd-")
        .tempdir()
        .map_err(BenchError::TempDir)?;
    let system = crate::system::etcd::EtcdSystem {
        nodes: 3,
        binary_name: etcd_binary.to_string(),
        binary: binary.clone(),
    };
    let layout = SystemLayout {
        system: SystemSpec::new(Arc::new(system), None),
        programs: NodePrograms::default(),
    };
    let cluster =
        Cluster::start_layout(layout, temp.path().to_path_buf(), NetworkKind::Direct).await?;
    let measured = async {
        wait_for_leader(&cluster, "after start").await?;
        let members = cluster
            .node_ids()
            .into_iter()
            .map(|id| (id.clone(), cluster.client_addr(&id)));
        let client = Arc::new(EtcdClient::new(
            members,
            EtcdClientConfig {
                timeout_ms: opts.client_timeout_ms,
                max_idle_per_node: 128,
                ..EtcdClientConfig::default()
            },
        )?);
        let mut throughput = Vec::new();
        for &clients in &opts.concurrency {
            throughput.push(measure_throughput(client.clone(), clients, opts.duration_ms).await);
        }
        Ok::<_, BenchError>(throughput)
    }
    .await;
    let stopped = cluster.shutdown().await;
    let throughput = measured?;
    stopped?;
    Ok(EtcdBenchReport {
        members: 3,
        binary,
        throughput,
    })
}

/// The throughput table both reports print.
fn throughput_table(f: &mut fmt::Formatter<'_>, rows: &[ThroughputRow]) -> fmt::Result {
    writeln!(
        f,
        "{:>8} {:>12} {:>10} {:>10} {:>8} {:>8}",
        "clients", "writes/s", "p50 ms", "p99 ms", "failed", "unknown"
    )?;
    for row in rows {
        writeln!(
            f,
            "{:>8} {:>12.0} {:>10.2} {:>10.2} {:>8} {:>8}",
            row.clients,
            row.writes_per_s,
            row.latency_ms_p50,
            row.latency_ms_p99,
            row.failed,
            row.unknown
        )?;
    }
    Ok(())
}

impl fmt::Display for EtcdBenchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "etcd ({}), {} members, fsync on, direct network, JSON gateway",
            self.binary.display(),
            self.members
        )?;
        throughput_table(f, &self.throughput)
    }
}

impl fmt::Display for RaftBenchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "Raft store, {} nodes, fsync on, direct network",
            self.nodes
        )?;
        throughput_table(f, &self.throughput)?;
        let runs: Vec<String> = self
            .failover_ms
            .iter()
            .map(|ms| format!("{ms:.0}"))
            .collect();
        match self.failover_ms_median {
            Some(median) => writeln!(
                f,
                "failover (kill -9 leader -> next acknowledged write): median {median:.0} ms; runs [{}] ms",
                runs.join(", ")
            ),
            None => writeln!(f, "failover: not measured"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let us: Vec<u64> = (1..=100).map(|i| i * 1000).collect();
        assert_eq!(percentile_ms(&us, 50), 50.0);
        assert_eq!(percentile_ms(&us, 99), 99.0);
        assert_eq!(percentile_ms(&[7000], 99), 7.0);
        assert_eq!(percentile_ms(&[], 50), 0.0);
    }

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&[]), None);
    }
}
