//! After the controller ends, however it ends (SIGKILL, SIGTERM, a panic), no node process
//! is left, none stopped; and `cleanup_stale` removes namespaces a SIGKILLed controller left.
//!
//! The controller is this very test binary, re-run with `HOLD_CLUSTER` set so that only
//! [`hold_cluster_controller`] runs: it starts a 3-node cluster, puts faults in place (n1
//! paused, n2 isolated), prints the node pids, then waits for a signal or panics.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;

use chaos::cluster::{Cluster, NetworkKind};
use std::process::{Child, Command, Stdio};

use common::{assert_nodes_gone, proc_state, raft_config, wait_exit};

/// The controller mode: does nothing unless `HOLD_CLUSTER="MODE NETWORK BASE_DIR"` is set.
#[test]
fn hold_cluster_controller() {
    let Ok(spec) = std::env::var("HOLD_CLUSTER") else {
        return;
    };
    let parts: Vec<&str> = spec.splitn(3, ' ').collect();
    let [mode, network, base_dir] = parts[..] else {
        panic!("bad HOLD_CLUSTER {spec:?}");
    };
    let network = if network == "netns" {
        NetworkKind::Netns
    } else {
        NetworkKind::Proxy
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let mut signals = chaos::cleanup::ShutdownSignals::install().expect("signal handlers");
        let mut cluster = Cluster::start(raft_config(Path::new(base_dir), 3, network))
            .await
            .expect("cluster start");
        cluster.pause("n1").await.expect("pause");
        cluster
            .partition(&[vec!["n2".into()]])
            .await
            .expect("partition");
        let pids: Vec<String> = cluster
            .node_ids()
            .iter()
            .map(|id| cluster.pid(id).expect("running").to_string())
            .collect();
        println!("PIDS {}", pids.join(" "));
        println!("RUN {}", cluster.run_id());
        println!("READY");
        if mode == "panic" {
            panic!("controller panics with faults in place");
        }
        let signal = signals.recv().await;
        cluster.shutdown().await.expect("shutdown");
        println!("CLEAN after {signal}");
    });
}

struct Controller {
    child: Child,
    pids: Vec<u32>,
    run_id: String,
    _dir: tempfile::TempDir,
}

impl Drop for Controller {
    /// A failed assertion must not leave the controller (and its cluster) running.
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            self.child.kill().ok();
            self.child.wait().ok();
        }
    }
}

fn start_controller(mode: &str, network: &str) -> Controller {
    let dir = tempfile::tempdir().unwrap();
    let spec = format!("{mode} {network} {}", dir.path().display());
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "hold_cluster_controller",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env("HOLD_CLUSTER", spec)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let (mut pids, mut run_id) = (Vec::new(), String::new());
    for line in lines.by_ref() {
        let line = line.unwrap();
        // The harness may print "test hold_cluster_controller ... " on the same line.
        if let Some((_, list)) = line.split_once("PIDS ") {
            pids = list.split(' ').map(|p| p.parse().unwrap()).collect();
        } else if let Some(id) = line.strip_prefix("RUN ") {
            run_id = id.to_string();
        } else if line == "READY" {
            break;
        }
    }
    assert_eq!(pids.len(), 3, "controller did not start its cluster");
    // Keep draining stdout so that the controller never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    for pid in &pids {
        assert!(proc_state(*pid).is_some(), "node {pid} not running");
    }
    Controller {
        child,
        pids,
        run_id,
        _dir: dir,
    }
}

#[test]
fn sigkill_of_the_controller_leaves_no_node_process() {
    let mut controller = start_controller("wait", "proxy");
    controller.child.kill().unwrap(); // SIGKILL: no destructor runs
    wait_exit(&mut controller.child);
    assert_nodes_gone(&controller.pids);
}

#[test]
fn sigterm_shuts_the_cluster_down_cleanly() {
    let mut controller = start_controller("wait", "proxy");
    let pid = nix::unistd::Pid::from_raw(controller.child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let status = wait_exit(&mut controller.child);
    assert!(status.success(), "controller failed on SIGTERM: {status}");
    assert_nodes_gone(&controller.pids);
}

#[test]
fn a_panicking_controller_kills_and_resumes_its_nodes() {
    let mut controller = start_controller("panic", "proxy");
    let status = wait_exit(&mut controller.child);
    assert!(!status.success());
    assert_nodes_gone(&controller.pids);
}

#[test]
fn cleanup_stale_removes_namespaces_of_a_sigkilled_controller() {
    if let Err(reason) = chaos::network::netns::check_available() {
        common::tool_missing(&reason.to_string());
        return;
    }
    let mut controller = start_controller("wait", "netns");
    let namespace = chaos::network::netns::namespace_name(&controller.run_id, "n1");
    assert!(std::path::Path::new("/run/netns").join(&namespace).exists());
    controller.child.kill().unwrap();
    wait_exit(&mut controller.child);
    assert_nodes_gone(&controller.pids);
    // The namespaces outlive a SIGKILLed controller; cleanup recognises them by name.
    assert!(std::path::Path::new("/run/netns").join(&namespace).exists());
    let report = chaos::cleanup::cleanup_stale(false).unwrap();
    assert!(report.namespaces_removed.contains(&namespace), "{report:?}");
    assert!(!std::path::Path::new("/run/netns").join(&namespace).exists());
}
