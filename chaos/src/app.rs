//! The subcommands of `faultline`, from parsed arguments to an exit code.
//!
//! `main.rs` only parses the command line and calls [`main_with`]; each subcommand here
//! turns its arguments into validated configuration and hands over to the library
//! (runner, campaign, cluster, bench, checker). anyhow is used only at this edge.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::watch;

use crate::cli::{BenchTarget, ClusterAction, Command, NetworkArg, RunArgs};
use crate::cluster::{Cluster, ClusterConfig, NetworkKind};
use crate::exit;
use crate::runner::{RunRequest, describe, execute};
use crate::schedule::{Schedule, ScheduleError, default_schedule, load_schedule};

/// Runs one parsed command line.
pub fn main_with(command: Command) -> ExitCode {
    match command {
        // The node builds its own runtime: it is the system under test, not the controller.
        Command::Node(args) => match system_under_test::node_main(args) {
            Ok(()) => exit::code(exit::VALID),
            Err(e) => {
                eprintln!("faultline node: {e}");
                exit::code(exit::HARNESS_FAILURE)
            }
        },
        Command::Bank(args) => match system_under_test::bank::bank_main(args) {
            Ok(()) => exit::code(exit::VALID),
            Err(e) => {
                eprintln!("faultline bank: {e}");
                exit::code(exit::HARNESS_FAILURE)
            }
        },
        Command::Check(args) => report(crate::cmd_check::run(&args)),
        other => {
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(e) => {
                    eprintln!("faultline: cannot start the async runtime: {e}");
                    return exit::code(exit::HARNESS_FAILURE);
                }
            };
            report(runtime.block_on(controller_command(other)))
        }
    }
}

fn report(result: anyhow::Result<ExitCode>) -> ExitCode {
    result.unwrap_or_else(|e| {
        eprintln!("faultline: {e:#}");
        match e.downcast_ref::<ScheduleError>() {
            Some(_) => exit::code(exit::BAD_INPUT),
            None => exit::code(exit::HARNESS_FAILURE),
        }
    })
}

async fn controller_command(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Run(args) => run(args).await,
        Command::Campaign(args) => crate::campaign::run(args, shutdown_on_signals()).await,
        Command::Cluster(args) => match args.action {
            ClusterAction::Up {
                nodes,
                network,
                dir,
                node_args,
            } => cluster_up(nodes, network, dir, node_args).await,
        },
        Command::Bench(args) => match args.target {
            BenchTarget::Raft { seconds, json } => bench_raft(seconds, json).await,
        },
        Command::Serve(args) => {
            crate::serve::serve(&args.store, args.listen, shutdown_on_signals()).await?;
            Ok(exit::code(exit::VALID))
        }
        Command::Cleanup => {
            let report = crate::cleanup::cleanup_stale(false)?;
            println!(
                "removed {} namespaces {:?} and {} nftables tables {:?}; kept {:?} (controller alive)",
                report.namespaces_removed.len(),
                report.namespaces_removed,
                report.nft_tables_removed.len(),
                report.nft_tables_removed,
                report.kept_live
            );
            Ok(exit::code(exit::VALID))
        }
        Command::Node(_) | Command::Bank(_) | Command::Check(_) => {
            unreachable!("handled before the runtime")
        }
    }
}

/// The node program: this very binary, as `faultline node ...`.
pub fn node_program() -> anyhow::Result<(PathBuf, Vec<String>)> {
    let exe = std::env::current_exe().context("locating the faultline binary")?;
    Ok((exe, vec!["node".to_string()]))
}

/// The arguments before a bank node's role: this binary embeds it as `faultline bank ...`.
pub fn bank_args_prefix() -> Vec<String> {
    vec!["bank".to_string()]
}

/// Loads the schedule named on the command line, or the built-in default.
pub fn schedule_from(path: Option<&PathBuf>) -> Result<Schedule, ScheduleError> {
    match path {
        Some(path) => load_schedule(path),
        None => Ok(default_schedule()),
    }
}

/// A seed for a schedule that names none: from the clock, recorded in the run's files.
pub fn fresh_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64 % 1_000_000)
        .unwrap_or(0)
}

async fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let schedule = schedule_from(args.schedule.as_ref())?;
    let seed = args.seed.or(schedule.seed).unwrap_or_else(fresh_seed);
    let (node_program, node_args_prefix) = node_program()?;
    eprintln!("faultline: running {}", describe(&schedule, seed));
    let request = RunRequest {
        schedule,
        seed,
        store: args.store,
        node_program,
        node_args_prefix,
        bank_args_prefix: bank_args_prefix(),
        extra_node_args: args.node_args,
        progress: !args.quiet,
    };
    let shutdown = shutdown_on_signals();
    let outcome = execute(request, shutdown.clone()).await?;
    let results = &outcome.results;
    for check in &results.checks {
        println!(
            "{:<13} {:<8} {}",
            check.check,
            check.verdict.name(),
            check.summary
        );
        for window in &check.blocked {
            println!(
                "  {:<9} #{:<3} {:>7.3}-{:<7.3} s: {:>4} ok transfers, longest without ok {:>6.0} ms, until first ok {}",
                window.fault,
                window.id.map_or("-".to_string(), |id| id.to_string()),
                window.start_ns as f64 / 1e9,
                window.stop_ns as f64 / 1e9,
                window.ok_transfers,
                window.longest_without_ok_ns as f64 / 1e6,
                window
                    .until_first_ok_ns
                    .map_or("never".to_string(), |ns| format!(
                        "{:.0} ms",
                        ns as f64 / 1e6
                    )),
            );
        }
    }
    println!(
        "verdict: {}{}  ({} ops: {} ok, {} fail, {} info; {} nemesis events)",
        results.verdict.name(),
        if results.interrupted {
            " (interrupted)"
        } else {
            ""
        },
        results.stats.ops,
        results.stats.ok,
        results.stats.fail,
        results.stats.info,
        results.stats.nemesis_events
    );
    println!("report:  {}", outcome.dir.report().display());
    if results.interrupted {
        return Ok(exit::code(exit::INTERRUPTED));
    }
    Ok(exit::code(results.verdict.exit_code()))
}

/// A watch that turns `true` on the first Ctrl-C or SIGTERM; a second one exits at once
/// (the nodes still die with us through PR_SET_PDEATHSIG).
pub fn shutdown_on_signals() -> watch::Receiver<bool> {
    let (sender, receiver) = watch::channel(false);
    let mut signals = match crate::cleanup::ShutdownSignals::install() {
        Ok(signals) => signals,
        Err(e) => {
            eprintln!("faultline: cannot catch SIGINT/SIGTERM ({e}); Ctrl-C will kill the run");
            return receiver;
        }
    };
    tokio::spawn(async move {
        let name = signals.recv().await;
        eprintln!(
            "faultline: {name}: healing every fault and stopping the cluster (again to quit at once)"
        );
        let _ = sender.send(true);
        signals.recv().await;
        std::process::exit(i32::from(exit::INTERRUPTED));
    });
    receiver
}

async fn cluster_up(
    nodes: usize,
    network: NetworkArg,
    dir: Option<PathBuf>,
    node_args: Vec<String>,
) -> anyhow::Result<ExitCode> {
    let temp = tempfile::Builder::new()
        .prefix("faultline-cluster-")
        .tempdir()?;
    let base_dir = dir.unwrap_or_else(|| temp.path().to_path_buf());
    let (program, program_args_prefix) = node_program()?;
    let network = match network {
        NetworkArg::Direct => NetworkKind::Direct,
        NetworkArg::Proxy => NetworkKind::Proxy,
        NetworkArg::Netns => NetworkKind::Netns,
    };
    let cluster = Cluster::start(ClusterConfig {
        nodes,
        base_dir: base_dir.clone(),
        network,
        program,
        program_args_prefix,
        extra_args: node_args,
    })
    .await?;
    for id in cluster.node_ids() {
        println!(
            "{id} http://{}  log {}",
            cluster.client_addr(&id),
            cluster.log_path(&id).display()
        );
    }
    println!(
        "data and logs under {}; Ctrl-C tears everything down",
        base_dir.display()
    );
    let mut shutdown = shutdown_on_signals();
    let _ = shutdown.wait_for(|stop| *stop).await;
    cluster.shutdown().await?;
    Ok(exit::code(exit::VALID))
}

async fn bench_raft(seconds: u64, json: bool) -> anyhow::Result<ExitCode> {
    let (program, prefix) = node_program()?;
    let mut options = crate::bench::RaftBenchOptions::new(program, prefix);
    options.duration_ms = Duration::from_secs(seconds).as_millis() as u64;
    let report = crate::bench::raft_bench(options).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("{report}");
    }
    Ok(exit::code(exit::VALID))
}
