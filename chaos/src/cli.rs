//! The command line of `faultline`, as clap types only.
//!
//! Parsing lives here; turning arguments into validated configuration (schedules, cluster
//! configs) is each subcommand's module's job, so that the same configuration can come from
//! a file, a test or the command line.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// faultline: a Jepsen-style chaos testing service.
#[derive(Debug, Parser)]
#[command(name = "faultline", version, about, max_term_width = 100)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run one schedule against a fresh cluster, check the history, write the run's files.
    Run(RunArgs),
    /// Run every (schedule, seed) pair: the nightly job. Skips pairs already in the store.
    Campaign(CampaignArgs),
    /// Check a history file (ours, Jepsen's or Porcupine's) or a stored run directory.
    Check(crate::cmd_check::CheckArgs),
    /// Run one node of the Raft key-value store (the system under test).
    Node(system_under_test::NodeArgs),
    /// Run one process of the two-phase-commit bank (coordinator or participant).
    Bank(system_under_test::bank::BankArgs),
    /// Start a cluster for poking at by hand; tears everything down on Ctrl-C.
    Cluster(ClusterArgs),
    /// Measure the system under test: throughput, latency, failover.
    Bench(BenchArgs),
    /// Serve the store read-only in a browser: runs, one run, campaigns, live runs.
    Serve(ServeArgs),
    /// Remove network namespaces and nftables tables left by a controller that was killed.
    Cleanup,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The schedule (YAML). Without one, the built-in default schedule runs.
    pub schedule: Option<PathBuf>,
    /// Where runs are stored.
    #[arg(long, default_value = "store")]
    pub store: PathBuf,
    /// Overrides the schedule's seed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Extra arguments for every node, e.g. `--node-arg=--bug --node-arg=stale-read`.
    #[arg(long = "node-arg", allow_hyphen_values = true)]
    pub node_args: Vec<String>,
    /// No progress bar (also off when stderr is not a terminal).
    #[arg(long)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The store to serve.
    #[arg(long, default_value = "store")]
    pub store: PathBuf,
    /// The address to listen on; loopback unless another address is asked for.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: std::net::SocketAddr,
}

#[derive(Debug, Args)]
pub struct CampaignArgs {
    /// The schedules to run.
    #[arg(required = true)]
    pub schedules: Vec<PathBuf>,
    /// Seeds per schedule: the schedule's own seed, then seed+1, ...
    #[arg(long, default_value_t = 1)]
    pub seeds: u64,
    /// Where runs are stored.
    #[arg(long, default_value = "store")]
    pub store: PathBuf,
    /// The JUnit XML file to write (default: `<store>/junit.xml`).
    #[arg(long)]
    pub junit: Option<PathBuf>,
    /// Run pairs even when the store already holds a finished run of them.
    #[arg(long)]
    pub no_resume: bool,
    /// Extra arguments for every node of every run.
    #[arg(long = "node-arg", allow_hyphen_values = true)]
    pub node_args: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ClusterArgs {
    #[command(subcommand)]
    pub action: ClusterAction,
}

#[derive(Debug, Subcommand)]
pub enum ClusterAction {
    /// Start a cluster and keep it up until Ctrl-C.
    Up {
        #[arg(long, default_value_t = 5)]
        nodes: usize,
        #[arg(long, value_enum, default_value_t = NetworkArg::Proxy)]
        network: NetworkArg,
        /// Where data dirs and logs go (default: a temporary directory).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Extra arguments for every node.
        #[arg(long = "node-arg", allow_hyphen_values = true)]
        node_args: Vec<String>,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum NetworkArg {
    Direct,
    Proxy,
    Netns,
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub target: BenchTarget,
}

#[derive(Debug, Subcommand)]
pub enum BenchTarget {
    /// A 3-node Raft cluster with fsync on: writes/s, p50/p99 latency, failover time.
    Raft {
        /// Seconds per concurrency level.
        #[arg(long, default_value_t = 5)]
        seconds: u64,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
}
