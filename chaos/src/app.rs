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
use crate::runner::{RunRequest, describe, execute, this_binary};
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
        let bad_input = e.downcast_ref::<ScheduleError>().is_some()
            || e.downcast_ref::<crate::planted::UnknownBug>().is_some();
        if bad_input {
            exit::code(exit::BAD_INPUT)
        } else {
            exit::code(exit::HARNESS_FAILURE)
        }
    })
}

async fn controller_command(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Run(args) => run(args).await,
        Command::Campaign(args) => {
            let campaign = crate::campaign::run(args, shutdown_on_signals()).await?;
            Ok(exit::code(campaign.exit_code()))
        }
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
            BenchTarget::Etcd {
                seconds,
                binary,
                json,
            } => bench_etcd(seconds, &binary, json).await,
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
    let mut schedule = schedule_from(args.schedule.as_ref())?;
    if let Some(bug) = &args.bug {
        crate::planted::apply_bug_flag(&mut schedule, bug)?;
    }
    let seed = args.seed.or(schedule.seed).unwrap_or_else(fresh_seed);
    let programs = this_binary(args.node_args).context("locating the faultline binary")?;
    eprintln!("faultline: running {}", describe(&schedule, seed));
    let request = RunRequest {
        schedule,
        seed,
        store: args.store.clone(),
        programs,
        progress: !args.quiet,
    };
    let shutdown = shutdown_on_signals();
    let server = if args.serve {
        Some(serve_alongside(&args.store, args.listen, shutdown.clone()).await?)
    } else {
        None
    };
    let outcome = execute(request, shutdown.clone()).await?;
    let results = &outcome.results;
    for check in &results.checks {
        println!(
            "{:<13} {:<8} {}",
            check.check,
            check.verdict.name(),
            check.summary
        );
        print!(
            "{}",
            check
                .result
                .as_ref()
                .map(|r| r.in_words())
                .unwrap_or_default()
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
        "verdict: {}{}  ({}: {} ok, {} fail{}, {} info{}; {})",
        results.verdict.name(),
        if results.interrupted {
            " (interrupted)"
        } else {
            ""
        },
        checker::verdict::count(results.stats.ops, "op", "ops"),
        results.stats.ok,
        results.stats.fail,
        by_error(&results.stats.fail_by_error),
        results.stats.info,
        by_error(&results.stats.info_by_error),
        checker::verdict::count(
            results.stats.nemesis_events,
            "nemesis event",
            "nemesis events"
        ),
    );
    if !results.adapters.is_empty() {
        println!(
            "adapter: misbehaved on {}",
            checker::verdict::count(results.adapters.len() as u64, "worker", "workers")
        );
        for line in crate::runner::adapter_lines(&results.adapters) {
            println!("  {line}");
        }
    }
    println!("report:  {}", outcome.dir.report().display());
    if let Some((addr, server)) = server {
        if !*shutdown.borrow() {
            println!("faultline: the run is over; still serving http://{addr}/ until Ctrl-C");
        }
        let _ = server.await;
    }
    if results.interrupted {
        return Ok(exit::code(exit::INTERRUPTED));
    }
    Ok(exit::code(results.verdict.exit_code()))
}

/// `faultline run --serve`: binds (a busy port fails the command before the run starts) and
/// serves the store until `shutdown`, in a task of its own.
async fn serve_alongside(
    store: &std::path::Path,
    listen: std::net::SocketAddr,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<(std::net::SocketAddr, tokio::task::JoinHandle<()>)> {
    std::fs::create_dir_all(store).with_context(|| format!("creating {}", store.display()))?;
    let server = crate::serve::Server::bind(store, listen).await?;
    Ok((server.addr, tokio::spawn(server.run(shutdown))))
}

/// ` (cas-mismatch 1,584, not-leader 36)`, most frequent first; empty for none.
fn by_error(counts: &std::collections::BTreeMap<String, u64>) -> String {
    if counts.is_empty() {
        return String::new();
    }
    format!(" ({})", crate::report::by_error(counts))
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
    // Caught from the start: a Ctrl-C as soon as the addresses show still tears down.
    let mut shutdown = shutdown_on_signals();
    // Without --dir, a temporary directory whose logs outlive the cluster (see cluster_up).
    let temp = match dir {
        Some(_) => None,
        None => Some(
            tempfile::Builder::new()
                .prefix("faultline-cluster-")
                .tempdir()?,
        ),
    };
    let base_dir = dir.unwrap_or_else(|| temp.as_ref().expect("made above").path().to_path_buf());
    let programs = this_binary(Vec::new()).context("locating the faultline binary")?;
    let network = match network {
        NetworkArg::Direct => NetworkKind::Direct,
        NetworkArg::Proxy => NetworkKind::Proxy,
        NetworkArg::Netns => NetworkKind::Netns,
    };
    let cluster = Cluster::start(ClusterConfig {
        nodes,
        base_dir: base_dir.clone(),
        network,
        program: programs.program,
        program_args_prefix: programs.raft_args_prefix,
        extra_args: node_args,
    })
    .await?;
    print!("{}", crate::cluster_up::node_lines(&cluster));
    println!("{}", crate::cluster_up::leader_line(&cluster).await);
    println!(
        "data and logs under {}{}; Ctrl-C tears everything down",
        base_dir.display(),
        if temp.is_some() {
            " (temporary: Ctrl-C removes the data and keeps the logs)"
        } else {
            ""
        }
    );
    let _ = shutdown.wait_for(|stop| *stop).await;
    cluster.shutdown().await?;
    if let Some(temp) = temp {
        let kept = crate::cluster_up::keep_logs_only(temp)?;
        println!("logs kept in {}", kept.join("nodes").display());
    }
    Ok(exit::code(exit::VALID))
}

/// etcd, then the Raft store, with the same driver and options.
async fn bench_etcd(seconds: u64, binary: &str, json: bool) -> anyhow::Result<ExitCode> {
    let programs = this_binary(Vec::new()).context("locating the faultline binary")?;
    let mut options =
        crate::bench::RaftBenchOptions::new(programs.program, programs.raft_args_prefix);
    options.duration_ms = Duration::from_secs(seconds).as_millis() as u64;
    let etcd = crate::bench::etcd_bench(&options, binary).await?;
    let raft = crate::bench::raft_bench(options).await?;
    if json {
        let both = serde_json::json!({"etcd": etcd, "raft": raft});
        println!("{}", serde_json::to_string_pretty(&both)?);
    } else {
        println!("{etcd}\n{raft}");
    }
    Ok(exit::code(exit::VALID))
}

async fn bench_raft(seconds: u64, json: bool) -> anyhow::Result<ExitCode> {
    let programs = this_binary(Vec::new()).context("locating the faultline binary")?;
    let mut options =
        crate::bench::RaftBenchOptions::new(programs.program, programs.raft_args_prefix);
    options.duration_ms = Duration::from_secs(seconds).as_millis() as u64;
    let report = crate::bench::raft_bench(options).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("{report}");
    }
    Ok(exit::code(exit::VALID))
}
