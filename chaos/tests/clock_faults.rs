//! Clock faults and link impairments on real processes: a program under the nodes'
//! libfaketime preload sees its wall clock moved and its monotonic clock not; a cluster
//! started with clocks takes bumps and strobes through the nemesis and is healed by each
//! fault's end; delays and losses go on and off their links, and a partition's end leaves
//! them alone; the clock files go with the cluster, on SIGTERM (the Ctrl-C path) and, after
//! a SIGKILL of the controller, with `faultline cleanup`.
//!
//! The SIGKILL and SIGTERM tests re-run this binary with `HOLD_CLOCKS` set, as
//! `cleanup_guarantees.rs` does: only [`hold_clock_controller`] then runs.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chaos::clock::{CLOCK_ROOT, Clocks, LIBFAKETIME};
use chaos::cluster::{Cluster, NetworkKind};
use chaos::layout::SystemLayout;
use chaos::nemesis::{end_fault, start_fault};
use chaos::network::Link;
use chaos::schedule::{
    ClockFault, FaultAction, Impairment, PlannedLinks, PlannedPartition, Target,
};
use common::{assert_nodes_gone, eventually, raft_config, wait_exit};

/// Whether libfaketime is here; under CI its absence is a failure (`.ci/run` installs it).
fn libfaketime_present() -> bool {
    if Path::new(LIBFAKETIME).exists() {
        return true;
    }
    common::tool_missing("libfaketime (Debian package faketime) is not installed");
    false
}

fn now_s() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs_f64()
}

/// Runs `program args` as node `id`'s command under `clocks`, returns its stdout.
fn run_wrapped(clocks: &Clocks, id: &str, program: &str, args: &[&str]) -> String {
    let (program, args) = clocks
        .wrap(
            id,
            PathBuf::from(program),
            args.iter().map(|a| a.to_string()).collect(),
        )
        .expect("a dynamic program");
    let output = Command::new(program).args(args).output().expect("running");
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout).expect("utf-8")
}

#[test]
fn a_preloaded_program_sees_its_wall_clock_moved_and_its_monotonic_clock_not() {
    if !libfaketime_present() {
        return;
    }
    let ids = vec!["n1".to_string()];
    let mut clocks = Clocks::create(&chaos::cluster::new_run_id(), &ids).unwrap();
    let seen = |clocks: &Clocks| -> f64 {
        run_wrapped(clocks, "n1", "/usr/bin/date", &["+%s.%N"])
            .trim()
            .parse()
            .expect("seconds")
    };
    let offset = |clocks: &Clocks| {
        let before = now_s();
        let fake = seen(clocks);
        let after = now_s();
        (fake - before, fake - after)
    };
    let (high, low) = offset(&clocks);
    assert!(
        high < 1.0 && low > -1.0,
        "offset 0 moved the clock: {low}..{high}"
    );
    clocks.set_offset("n1", 3_600_000).unwrap();
    let (high, low) = offset(&clocks);
    assert!(high > 3599.0 && low < 3601.0, "+1h: {low}..{high}");
    clocks.set_offset("n1", -250_000).unwrap();
    let (high, low) = offset(&clocks);
    assert!(high > -251.0 && low < -249.0, "-250s: {low}..{high}");
    // CLOCK_MONOTONIC is the machine's: the preloaded child's reading lies between two
    // readings of unpreloaded children (python3's time.monotonic is CLOCK_MONOTONIC).
    if Path::new("/usr/bin/python3").exists() {
        let script = ["-c", "import time; print(time.monotonic())"];
        let plain = || -> f64 {
            let output = Command::new("/usr/bin/python3")
                .args(script)
                .output()
                .unwrap();
            String::from_utf8_lossy(&output.stdout)
                .trim()
                .parse()
                .expect("seconds")
        };
        clocks.set_offset("n1", 3_600_000).unwrap();
        let before = plain();
        let child: f64 = run_wrapped(&clocks, "n1", "/usr/bin/python3", &script)
            .trim()
            .parse()
            .expect("seconds");
        let after = plain();
        assert!(
            before <= child && child <= after,
            "monotonic moved: {child} not in {before}..{after}"
        );
    } else {
        common::tool_missing("python3 (reads CLOCK_MONOTONIC under the preload)");
    }
    let dir = clocks.dir().to_path_buf();
    drop(clocks);
    assert!(!dir.exists(), "the clock files outlived their Clocks");
}

fn clock_file(cluster: &Cluster, id: &str) -> String {
    let dir = cluster.clock_dir().expect("started with clocks");
    std::fs::read_to_string(dir.join(format!("{id}.rc")))
        .expect("clock file")
        .trim()
        .to_string()
}

async fn start_with_clocks(dir: &Path) -> Cluster {
    let cfg = raft_config(dir, 3, NetworkKind::Proxy);
    let layout = SystemLayout::raft(
        cfg.nodes,
        cfg.program,
        cfg.program_args_prefix,
        cfg.extra_args,
    );
    Cluster::start_layout_with_clocks(layout, dir.to_path_buf(), NetworkKind::Proxy, true)
        .await
        .expect("cluster start")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clock_faults_move_a_nodes_clock_file_and_their_end_heals_it() {
    if !libfaketime_present() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = start_with_clocks(dir.path()).await;
    let leader = eventually(Duration::from_secs(10), || cluster.leader())
        .await
        .expect("a leader under libfaketime");
    let pid = cluster.pid("n1").expect("running");
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
    let environ = String::from_utf8_lossy(&environ);
    assert!(
        environ.contains(&format!("LD_PRELOAD={LIBFAKETIME}"))
            && environ.contains("FAKETIME_DONT_FAKE_MONOTONIC=1"),
        "n1 does not run under libfaketime: {environ}"
    );
    assert_eq!(clock_file(&cluster, "n1"), "+0.000");

    let bump = FaultAction::Clock {
        target: Target::Leader,
        fault: ClockFault::Bump { offset_ms: 5_000 },
    };
    let active = start_fault(&mut cluster, &bump).await.unwrap();
    assert_eq!(active.nodes, vec![leader.clone()]);
    assert_eq!(clock_file(&cluster, &leader), "+5.000");
    end_fault(&mut cluster, &active).await.unwrap();
    assert_eq!(clock_file(&cluster, &leader), "+0.000");

    let strobe = FaultAction::Clock {
        target: Target::Nodes(vec!["n2".into()]),
        fault: ClockFault::Strobe {
            delta: Duration::from_millis(200),
            period: Duration::from_millis(10),
        },
    };
    let active = start_fault(&mut cluster, &strobe).await.unwrap();
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..200 {
        seen.insert(clock_file(&cluster, "n2"));
        if seen.len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
    assert_eq!(
        seen,
        ["+0.000".to_string(), "+0.200".to_string()].into(),
        "the strobe flips the offset"
    );
    // The cluster still elects and answers with a strobing member.
    assert!(
        eventually(Duration::from_secs(10), || cluster.leader())
            .await
            .is_some()
    );
    end_fault(&mut cluster, &active).await.unwrap();
    for _ in 0..5 {
        assert_eq!(
            clock_file(&cluster, "n2"),
            "+0.000",
            "the strobe stopped at 0"
        );
        tokio::time::sleep(Duration::from_millis(15)).await;
    }

    // A bump left in place is undone by the cluster's heal (the run's end).
    let active = start_fault(
        &mut cluster,
        &FaultAction::Clock {
            target: Target::Nodes(vec!["n3".into()]),
            fault: ClockFault::Bump { offset_ms: -2_000 },
        },
    )
    .await
    .unwrap();
    assert_eq!(active.nodes, vec!["n3".to_string()]);
    assert_eq!(clock_file(&cluster, "n3"), "-2.000");
    cluster.heal_all().await.unwrap();
    assert_eq!(clock_file(&cluster, "n3"), "+0.000");

    let clock_dir = cluster.clock_dir().unwrap();
    cluster.shutdown().await.unwrap();
    assert!(!clock_dir.exists(), "shutdown left {}", clock_dir.display());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delays_and_losses_go_on_and_off_their_links_and_partitions_leave_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::start(raft_config(dir.path(), 3, NetworkKind::Proxy))
        .await
        .unwrap();
    let delay = FaultAction::Impair {
        impairment: Impairment::Delay {
            latency: Duration::from_millis(30),
            jitter: Duration::from_millis(10),
        },
        links: PlannedLinks::Links(vec![Link::new("n1", "n2"), Link::new("n2", "n1")]),
    };
    let active = start_fault(&mut cluster, &delay).await.unwrap();
    assert_eq!(
        cluster.impaired_links(),
        vec![Link::new("n1", "n2"), Link::new("n2", "n1")]
    );
    // A partition that starts and ends meanwhile leaves the delay in place.
    let partition = FaultAction::Partition(PlannedPartition::Links {
        shape: "isolate n3".into(),
        links: cluster.isolating("n3").unwrap(),
    });
    let cut = start_fault(&mut cluster, &partition).await.unwrap();
    assert_eq!(cluster.cut_links().len(), 4);
    end_fault(&mut cluster, &cut).await.unwrap();
    assert!(cluster.cut_links().is_empty());
    assert_eq!(
        cluster.impaired_links().len(),
        2,
        "the partition's end lifted the delay"
    );
    end_fault(&mut cluster, &active).await.unwrap();
    assert!(cluster.impaired_links().is_empty());

    let leader = eventually(Duration::from_secs(10), || cluster.leader())
        .await
        .expect("a leader");
    let loss = FaultAction::Impair {
        impairment: Impairment::Loss { percent: 20 },
        links: PlannedLinks::AroundLeader,
    };
    let active = start_fault(&mut cluster, &loss).await.unwrap();
    assert_eq!(active.links, cluster.isolating(&leader).unwrap());
    assert_eq!(cluster.impaired_links().len(), 4);
    // The run's heal lifts it too.
    cluster.heal_all().await.unwrap();
    assert!(cluster.impaired_links().is_empty());
    cluster.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn netns_losses_are_nftables_rules_that_heal_removes() {
    if let Err(reason) = chaos::network::netns::check_available() {
        common::tool_missing(&reason.to_string());
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::start(raft_config(dir.path(), 3, NetworkKind::Netns))
        .await
        .unwrap();
    let rules = |cluster: &Cluster| {
        let namespace = chaos::network::netns::namespace_name(cluster.run_id(), "n1");
        let output = Command::new("ip")
            .args(["netns", "exec", &namespace, "nft", "list", "ruleset"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let loss = FaultAction::Impair {
        impairment: Impairment::Loss { percent: 30 },
        links: PlannedLinks::Links(vec![Link::new("n1", "n2")]),
    };
    let active = start_fault(&mut cluster, &loss).await.unwrap();
    assert!(
        rules(&cluster).contains("numgen random mod 100 < 30 drop"),
        "{}",
        rules(&cluster)
    );
    // A cut next to it and its heal keep the loss.
    cluster.cut("n1", "n3").await.unwrap();
    cluster.heal_cuts().await.unwrap();
    assert!(rules(&cluster).contains("numgen random mod 100 < 30 drop"));
    end_fault(&mut cluster, &active).await.unwrap();
    assert!(!rules(&cluster).contains("numgen"), "{}", rules(&cluster));
    // A delay is refused there: there is no netem.
    let delay = FaultAction::Impair {
        impairment: Impairment::Delay {
            latency: Duration::from_millis(5),
            jitter: Duration::ZERO,
        },
        links: PlannedLinks::Links(vec![Link::new("n1", "n2")]),
    };
    assert!(start_fault(&mut cluster, &delay).await.is_err());
    cluster.shutdown().await.unwrap();
}

/// The controller mode: does nothing unless `HOLD_CLOCKS=BASE_DIR` is set. Starts a
/// cluster with clocks, bumps n1's, prints its pids and clock dir, waits for a signal.
#[test]
fn hold_clock_controller() {
    let Ok(base_dir) = std::env::var("HOLD_CLOCKS") else {
        return;
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let mut signals = chaos::cleanup::ShutdownSignals::install().expect("signal handlers");
        let mut cluster = start_with_clocks(Path::new(&base_dir)).await;
        cluster.set_clock_offset("n1", 5_000).await.expect("bump");
        let pids: Vec<String> = cluster
            .node_ids()
            .iter()
            .map(|id| cluster.pid(id).expect("running").to_string())
            .collect();
        println!("PIDS {}", pids.join(" "));
        println!("CLOCKS {}", cluster.clock_dir().unwrap().display());
        println!("READY");
        signals.recv().await;
        cluster.shutdown().await.expect("shutdown");
        println!("CLEAN");
    });
}

struct Controller {
    child: Child,
    pids: Vec<u32>,
    clock_dir: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Controller {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            self.child.kill().ok();
            self.child.wait().ok();
        }
    }
}

fn start_controller() -> Controller {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "hold_clock_controller",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env("HOLD_CLOCKS", dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let (mut pids, mut clock_dir) = (Vec::new(), PathBuf::new());
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some((_, list)) = line.split_once("PIDS ") {
            pids = list.split(' ').map(|p| p.parse().unwrap()).collect();
        } else if let Some(path) = line.strip_prefix("CLOCKS ") {
            clock_dir = PathBuf::from(path);
        } else if line == "READY" {
            break;
        }
    }
    assert_eq!(pids.len(), 3, "controller did not start its cluster");
    std::thread::spawn(move || lines.for_each(drop));
    assert!(clock_dir.starts_with(CLOCK_ROOT), "{}", clock_dir.display());
    Controller {
        child,
        pids,
        clock_dir,
        _dir: dir,
    }
}

#[test]
fn sigterm_removes_the_clock_files() {
    if !libfaketime_present() {
        return;
    }
    let mut controller = start_controller();
    assert!(controller.clock_dir.join("n1.rc").exists());
    let pid = nix::unistd::Pid::from_raw(controller.child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    assert!(wait_exit(&mut controller.child).success());
    assert_nodes_gone(&controller.pids);
    assert!(!controller.clock_dir.exists());
}

#[test]
fn cleanup_removes_the_clock_files_of_a_sigkilled_controller() {
    if !libfaketime_present() {
        return;
    }
    if !nix::unistd::geteuid().is_root() {
        common::tool_missing("root (faultline cleanup needs it)");
        return;
    }
    let mut controller = start_controller();
    controller.child.kill().unwrap();
    wait_exit(&mut controller.child);
    assert_nodes_gone(&controller.pids);
    // The nodes died with the controller; their clock files stay until cleanup.
    assert!(controller.clock_dir.join("n1.rc").exists());
    let name = controller
        .clock_dir
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let report = chaos::cleanup::cleanup_stale(false).unwrap();
    assert!(report.clock_dirs_removed.contains(&name), "{report:?}");
    assert!(!controller.clock_dir.exists());
}
