//! The command line of `faultline`, as clap types only.
//!
//! Parsing lives here; turning arguments into validated configuration (schedules, cluster
//! configs) is each subcommand's module's job, so that the same configuration can come from
//! a file, a test or the command line.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// What `faultline --help` opens with: what it does for its user.
const ABOUT: &str = "\
faultline finds consistency bugs in distributed stores: it starts a real cluster, drives
clients against it while it kills, pauses and partitions nodes on a YAML schedule, records
every operation and checks the history for anomalies (linearizability, the bank's
invariants). Each run leaves its history, verdict and an HTML report in the store.";

/// Shown after the commands of `faultline --help`.
const QUICK_START: &str = "\
Start here:
  faultline run                              one minute of faults on the built-in schedule
  faultline run chaos/schedules/bugs/stale-read.yaml
                                             a planted bug it should find (exit 1, invalid)
  faultline check store/latest               check the last run's history again
  faultline serve                            browse the stored runs in a browser

Exit codes: 0 valid, 1 invalid, 2 unknown, 64 bad usage, 65 bad input (names file:line:column),
70 harness failure, 130 interrupted.";

#[derive(Debug, Parser)]
#[command(
    name = "faultline",
    version,
    about = ABOUT,
    after_help = QUICK_START,
    max_term_width = 100
)]
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
    /// Validate a schedule and print its fault timeline for a seed, starting nothing.
    Plan(PlanArgs),
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
    /// Remove network namespaces, nftables tables and faultfs mounts left by a controller
    /// that was killed.
    Cleanup(CleanupArgs),
    /// Run one faultfs daemon (a node's data dir that can lose what was not fsynced);
    /// started by the controller for schedules with `lose_unfsynced`.
    #[command(hide = true)]
    Faultfs(faultfs::daemon::Args),
}

/// `--bug`'s long help, listing every system's planted bugs by the names of their own
/// enums (through the system registry); the name is checked against the schedule's system
/// when the schedule is loaded (see [`crate::planted`]).
pub fn bug_help() -> String {
    let lists: Vec<String> = crate::system::REGISTRY
        .iter()
        .filter_map(|entry| {
            let names = (entry.bugs)();
            (!names.is_empty()).then(|| format!("{}: {}.", entry.title, names.join(", ")))
        })
        .collect();
    format!(
        "Turns on a planted bug, overriding the schedule's `bug:`. {} An unknown name, or one \
         of another system, is refused (exit 65) before anything starts.",
        lists.join(" ")
    )
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
    /// Turns on a planted bug, overriding the schedule's `bug:` (`--help` lists them).
    #[arg(long, value_name = "NAME", long_help = bug_help())]
    pub bug: Option<String>,
    /// Extra arguments for every node (a planted bug: `--bug NAME`, which checks the name).
    #[arg(long = "node-arg", allow_hyphen_values = true)]
    pub node_args: Vec<String>,
    /// No progress bar (also off when stderr is not a terminal).
    #[arg(long)]
    pub quiet: bool,
    /// Run every node on its own host over SSH, as this hosts file says (YAML, see
    /// `node_control::ssh`); partitions with the hosts' nftables.
    #[arg(long, value_name = "FILE")]
    pub hosts: Option<PathBuf>,
    /// Also serve the store in a browser (as `faultline serve`) while the run goes, and
    /// after it until Ctrl-C.
    #[arg(long)]
    pub serve: bool,
    /// The address `--serve` listens on; loopback unless another address is asked for.
    #[arg(long, default_value = "127.0.0.1:8080", requires = "serve")]
    pub listen: std::net::SocketAddr,
}

#[derive(Debug, Args)]
pub struct CleanupArgs {
    /// Also clean the SSH hosts of this hosts file: their `faultline-*` nftables tables and
    /// the nodes of runs whose watchdog is gone.
    #[arg(long, value_name = "FILE")]
    pub hosts: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// The schedule file (YAML).
    pub schedule: PathBuf,
    /// The seed whose faults to print (default: the schedule's `seed:`; required when it
    /// has none, since a run would draw one at random).
    #[arg(long)]
    pub seed: Option<u64>,
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
    /// The schedules to run (with `--summary`: the schedules whose pairs the summary covers;
    /// without any, every pair found in the store).
    #[arg(required_unless_present = "summary")]
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
    /// Turns on a planted bug in every schedule, overriding their `bug:` (names as in
    /// `faultline run --help`); only runs with the same bug count as already in the store.
    #[arg(long, value_name = "NAME")]
    pub bug: Option<String>,
    /// Run pairs even when the store already holds a finished run of them.
    #[arg(long)]
    pub no_resume: bool,
    /// Extra arguments for every node of every run.
    #[arg(long = "node-arg", allow_hyphen_values = true)]
    pub node_args: Vec<String>,
    /// Run every node on its own host over SSH, as this hosts file says.
    #[arg(long, value_name = "FILE")]
    pub hosts: Option<PathBuf>,
    /// Run only the I-th of N slices of the (schedule, seed) pairs (I from 0, as a batch
    /// scheduler's job index): N jobs with I = 0..N-1 cover the campaign exactly once.
    /// The JUnit file defaults to `<store>/junit-shard-I-of-N.xml`.
    #[arg(long, value_name = "I/N", value_parser = crate::campaign::parse_shard)]
    pub shard: Option<crate::campaign::Shard>,
    /// Run nothing: read every shard's runs from STORE into one summary table and one
    /// JUnit file (default `STORE/junit.xml`); a pair of the given schedules with no
    /// finished run is a harness error.
    #[arg(long, value_name = "STORE", conflicts_with_all = ["shard", "no_resume", "store"])]
    pub summary: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ClusterArgs {
    #[command(subcommand)]
    pub action: ClusterAction,
}

#[derive(Debug, Subcommand)]
pub enum ClusterAction {
    /// Start a cluster and keep it up until Ctrl-C.
    /// Prints each node's address, pid and log, and the leader. Without `--dir`, Ctrl-C
    /// removes the data and keeps the logs (the path is printed).
    Up {
        /// How many Raft nodes (n1, n2, ...).
        #[arg(long, default_value_t = 5)]
        nodes: usize,
        /// How the nodes reach each other.
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
    /// Straight to each other's address: no network faults possible.
    Direct,
    /// Through controller-owned TCP proxies that can cut links (no privileges needed).
    Proxy,
    /// Each node in its own network namespace, links cut with nftables (needs root).
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
    /// A 3-member etcd cluster and then the Raft store, same driver: writes/s, p50/p99.
    Etcd {
        /// Seconds per concurrency level.
        #[arg(long, default_value_t = 5)]
        seconds: u64,
        /// The etcd executable (a path, or a name looked up on PATH).
        #[arg(long, default_value = "etcd")]
        binary: String,
        /// Print both reports as JSON.
        #[arg(long)]
        json: bool,
    },
}
