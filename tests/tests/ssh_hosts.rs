//! Nodes on remote hosts over OpenSSH (issue 15 §1), on one machine: each "host" is a
//! network namespace made by the test, with its own Debian `sshd` on its own address
//! (10.217.S.k on a bridge the test makes), keys made per test run. Root only; under
//! `CI=true` a missing `sshd`, `ssh`, `ip` or `nft` fails the tests.
//!
//! - `faultline run --hosts FILE`: a 3-node Raft store on 3 SSH hosts under kill, pause and
//!   a partition: `valid`, and after the run no node process, no stopped process and no
//!   nftables table on any host.
//! - The controller SIGKILLed mid-partition: within a bounded time the hosts' watchdogs
//!   have removed every `faultline-*` table and killed every node; nothing but sshd is left
//!   in any host namespace, nothing stopped.
//! - The cost of a fault over SSH vs locally (kill, partition): printed, not asserted.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use tests::{FaultlineProcess, run_faultline, tool_missing};

const HOSTS: usize = 3;
/// A liveness bound for the watchdogs, not a speed assertion.
const WATCHDOG_BOUND: Duration = Duration::from_secs(20);

fn sh(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program} {args:?}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Why the lab cannot run here, if it cannot.
fn missing() -> Option<String> {
    if !nix::unistd::geteuid().is_root() {
        return Some("the SSH host tests need root (network namespaces)".into());
    }
    for tool in ["/usr/sbin/sshd", "/usr/bin/ssh", "/usr/bin/ssh-keygen"] {
        if !Path::new(tool).exists() {
            return Some(format!(
                "{tool} is missing (apt-get install openssh-server)"
            ));
        }
    }
    for tool in ["ip", "nft"] {
        if Command::new(tool).arg("-V").output().is_err() {
            return Some(format!("`{tool}` is missing (iproute2, nftables)"));
        }
    }
    None
}

/// Three SSH "hosts": namespaces on a bridge, each with its own sshd.
struct Lab {
    dir: tempfile::TempDir,
    bridge: String,
    namespaces: Vec<String>,
    addrs: Vec<Ipv4Addr>,
    sshds: Vec<Child>,
}

impl Lab {
    fn start() -> Lab {
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let seq = SEQ.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        let subnet = ((pid * 3 + seq) % 250) as u8;
        let dir = tempfile::Builder::new()
            .prefix("fl-lab-")
            .tempdir_in("/tmp")
            .unwrap();
        let d = dir.path().display().to_string();
        sh(
            "ssh-keygen",
            &[
                "-q",
                "-t",
                "ed25519",
                "-N",
                "",
                "-f",
                &format!("{d}/host_key"),
            ],
        );
        sh(
            "ssh-keygen",
            &[
                "-q",
                "-t",
                "ed25519",
                "-N",
                "",
                "-f",
                &format!("{d}/user_key"),
            ],
        );
        std::fs::copy(format!("{d}/user_key.pub"), format!("{d}/authorized_keys")).unwrap();
        std::fs::create_dir_all("/run/sshd").unwrap();
        let bridge = format!("flsb{pid:x}{seq}");
        let mut lab = Lab {
            dir,
            bridge: bridge.clone(),
            namespaces: Vec::new(),
            addrs: Vec::new(),
            sshds: Vec::new(),
        };
        sh("ip", &["link", "add", &bridge, "type", "bridge"]);
        sh(
            "ip",
            &[
                "addr",
                "add",
                &format!("10.217.{subnet}.1/24"),
                "dev",
                &bridge,
            ],
        );
        sh("ip", &["link", "set", &bridge, "up"]);
        for k in 1..=HOSTS {
            let ns = format!("flssh-{pid:x}-{seq}-{k}");
            let veth = format!("vs{pid:x}{seq}{k}");
            let addr = Ipv4Addr::new(10, 217, subnet, 1 + k as u8);
            sh("ip", &["netns", "add", &ns]);
            lab.namespaces.push(ns.clone());
            sh(
                "ip",
                &[
                    "link", "add", &veth, "type", "veth", "peer", "name", "eth0", "netns", &ns,
                ],
            );
            sh("ip", &["link", "set", &veth, "master", &bridge, "up"]);
            sh(
                "ip",
                &[
                    "-n",
                    &ns,
                    "addr",
                    "add",
                    &format!("{addr}/24"),
                    "dev",
                    "eth0",
                ],
            );
            sh("ip", &["-n", &ns, "link", "set", "eth0", "up"]);
            sh("ip", &["-n", &ns, "link", "set", "lo", "up"]);
            std::fs::create_dir_all(format!("{d}/h{k}")).unwrap();
            let sshd = Command::new("ip")
                .args([
                    "netns",
                    "exec",
                    &ns,
                    "/usr/sbin/sshd",
                    "-D",
                    "-e",
                    "-f",
                    "/dev/null",
                ])
                .args(["-o", &format!("ListenAddress={addr}:22")])
                .args(["-o", &format!("HostKey={d}/host_key")])
                .args(["-o", &format!("AuthorizedKeysFile={d}/authorized_keys")])
                .args(["-o", &format!("PidFile={d}/sshd{k}.pid")])
                .args([
                    "-o",
                    "PermitRootLogin=prohibit-password",
                    "-o",
                    "StrictModes=no",
                ])
                .args([
                    "-o",
                    "UsePAM=no",
                    "-o",
                    "MaxSessions=50",
                    "-o",
                    "MaxStartups=50",
                ])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(format!("{d}/sshd{k}.log")).unwrap())
                .spawn()
                .expect("starting sshd");
            lab.sshds.push(sshd);
            lab.addrs.push(addr);
        }
        for k in 1..=HOSTS {
            let log = format!("{d}/sshd{k}.log");
            let deadline = Instant::now() + Duration::from_secs(10);
            while !std::fs::read_to_string(&log)
                .unwrap_or_default()
                .contains("Server listening")
            {
                assert!(Instant::now() < deadline, "sshd {k} did not start: {log}");
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let mut hosts = format!("identity: {d}/user_key\nknown_hosts: {d}/known_hosts\nhosts:\n");
        for (k, addr) in lab.addrs.iter().enumerate() {
            hosts.push_str(&format!(
                "  - {{ node: n{}, ssh: \"root@{addr}:22\", dir: {d}/h{} }}\n",
                k + 1,
                k + 1
            ));
        }
        std::fs::write(lab.hosts_file(), hosts).unwrap();
        lab
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn hosts_file(&self) -> PathBuf {
        self.path().join("hosts.yaml")
    }

    /// The `faultline-*` nftables tables of every host.
    fn tables(&self) -> Vec<String> {
        let mut tables = Vec::new();
        for ns in &self.namespaces {
            for line in sh("ip", &["netns", "exec", ns, "nft", "list", "tables"]).lines() {
                if line.contains("faultline-") {
                    tables.push(format!("{ns}: {line}"));
                }
            }
        }
        tables
    }

    /// Processes in the host namespaces other than sshd, as `ns pid state comm`.
    fn leftovers(&self) -> Vec<String> {
        let mut left = Vec::new();
        for ns in &self.namespaces {
            for pid in sh("ip", &["netns", "pids", ns]).split_whitespace() {
                let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                    continue;
                };
                let comm = stat
                    .split('(')
                    .nth(1)
                    .and_then(|s| s.split(')').next())
                    .unwrap_or("?");
                let state = stat
                    .rsplit(") ")
                    .next()
                    .and_then(|s| s.chars().next())
                    .unwrap_or('?');
                if comm != "sshd" && state != 'Z' {
                    left.push(format!("{ns} {pid} {state} {comm}"));
                }
            }
        }
        left
    }

    fn wait_until_clean(&self, bound: Duration) -> Result<(), String> {
        let deadline = Instant::now() + bound;
        loop {
            let (tables, left) = (self.tables(), self.leftovers());
            if tables.is_empty() && left.is_empty() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!("tables {tables:?}, processes {left:?}"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn logs(&self) -> String {
        let mut text = String::new();
        for k in 1..=HOSTS {
            let log = self.path().join(format!("sshd{k}.log"));
            text.push_str(&format!(
                "--- {} ---\n{}\n",
                log.display(),
                std::fs::read_to_string(&log).unwrap_or_default()
            ));
        }
        text
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for sshd in &mut self.sshds {
            let _ = sshd.kill();
            let _ = sshd.wait();
        }
        for ns in &self.namespaces {
            // `ip netns exec` execs sshd, so the kills above ended them; anything else left in
            // a host namespace would be a leak the tests report, but must not outlive them.
            for pid in sh("ip", &["netns", "pids", ns]).split_whitespace() {
                let _ = Command::new("kill")
                    .args(["-9", pid])
                    .stderr(Stdio::null())
                    .status();
            }
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
        let _ = Command::new("ip")
            .args(["link", "del", &self.bridge])
            .status();
    }
}

fn system_schedule(name: &str, kind: &str, duration: &str, nemesis: &str) -> String {
    format!(
        "name: {name}
seed: 3
system: {{ kind: {kind}, nodes: 3 }}
network: netns
duration: {duration}
workload: {{ kind: register, keys: 2, clients: 3, rate: 30/s, timeout: 1s }}
nemesis:
{nemesis}
final: {{ heal: true, quiesce: 1s, final_reads: true }}
checks: [linearizable]
"
    )
}

/// The faults of the valid runs: a kill of the leader, a pause, a partition of the leader.
const FAULTS: &str = "  - at: 1s\n    kill: leader\n    restart_after: 500ms\n  - at: 2500ms\n    pause: random\n    for: 1s\n  - at: 4s\n    partition: leader\n    for: 1s\n";

/// `faultline run` of a 6 s schedule of `kind` under [`FAULTS`] on the lab's hosts: exit 0,
/// `valid`, every fault in the history, each node's log fetched from its host, and the
/// hosts clean at once after a normal end, with no watchdog having had to act.
fn run_valid_on_hosts(kind: &str) {
    let lab = Lab::start();
    let name = format!("ssh-{kind}");
    std::fs::write(
        lab.path().join("s.yaml"),
        system_schedule(&name, kind, "6s", FAULTS),
    )
    .unwrap();
    let hosts = lab.hosts_file().display().to_string();
    let out = run_faultline(
        [
            "run", "s.yaml", "--hosts", &hosts, "--store", "store", "--quiet",
        ],
        lab.path(),
    );
    assert_eq!(out.code, Some(0), "{}\n{}", out.describe(), lab.logs());
    let results = tests::read_json(&lab.path().join("store/latest/results.json"));
    assert_eq!(results["verdict"], "valid", "{results}");
    let history = tests::read_history_records(&lab.path().join("store/latest/history.jsonl"));
    let faults: Vec<&str> = history
        .iter()
        .filter(|r| r["process"] == "nemesis")
        .filter_map(|r| r["f"].as_str())
        .collect();
    for f in ["kill", "pause", "start-partition"] {
        assert!(faults.iter().any(|g| g.contains(f)), "no {f} in {faults:?}");
    }
    // The nodes ran on their hosts: each listened on its host's own address (which exists
    // only in that host's namespace), and its log was fetched from there.
    for k in 1..=HOSTS {
        let log = std::fs::read_to_string(lab.path().join(format!("store/latest/nodes/n{k}.log")))
            .unwrap_or_default();
        assert!(!log.is_empty(), "n{k}'s log was not fetched");
    }
    lab.wait_until_clean(Duration::ZERO)
        .unwrap_or_else(|e| panic!("after the run: {e}"));
    for k in 1..=HOSTS {
        let runs = lab.path().join(format!("h{k}")).read_dir().unwrap();
        assert!(
            !runs
                .flatten()
                .any(|run| run.path().join("watchdog.log").exists()),
            "a watchdog acted after a normal end"
        );
    }
}

#[test]
fn raft_on_three_ssh_hosts_is_valid_under_kill_pause_and_partition() {
    if let Some(reason) = missing() {
        return tool_missing(&reason);
    }
    run_valid_on_hosts("raft");
}

#[test]
fn etcd_on_three_ssh_hosts_is_valid_under_kill_pause_and_partition() {
    if let Some(reason) = missing() {
        return tool_missing(&reason);
    }
    if !Path::new("/usr/bin/etcd").exists() {
        return tool_missing("/usr/bin/etcd is missing (apt-get install etcd-server)");
    }
    run_valid_on_hosts("etcd");
}

#[test]
fn sigkill_of_the_controller_mid_partition_leaves_nothing_on_any_host() {
    if let Some(reason) = missing() {
        return tool_missing(&reason);
    }
    let lab = Lab::start();
    let nemesis = "  - at: 1s\n    pause: n3\n    for: 20s\n  - at: 1500ms\n    partition: [[n1], [n2, n3]]\n    for: 20s\n";
    std::fs::write(
        lab.path().join("s.yaml"),
        system_schedule("ssh-sigkill", "raft", "30s", nemesis),
    )
    .unwrap();
    let hosts = lab.hosts_file().display().to_string();
    let controller = FaultlineProcess::spawn(
        [
            "run", "s.yaml", "--hosts", &hosts, "--store", "store", "--quiet",
        ],
        lab.path(),
    );
    // Wait for the partition (a table on a host) and the pause (a stopped node).
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let stopped = lab
            .leftovers()
            .iter()
            .any(|p| p.split_whitespace().nth(2) == Some("T"));
        if !lab.tables().is_empty() && stopped {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no partition and pause within 60 s: {}",
            controller.stdout_so_far()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    controller.signal(Signal::SIGKILL);
    let killed = Instant::now();
    let clean = lab.wait_until_clean(WATCHDOG_BOUND);
    eprintln!(
        "hosts clean {:?} after the controller's SIGKILL",
        killed.elapsed()
    );
    drop(controller);
    clean.unwrap_or_else(|e| panic!("{WATCHDOG_BOUND:?} after SIGKILL: {e}"));
    let acted = (1..=HOSTS)
        .filter(|k| {
            lab.path()
                .join(format!("h{k}"))
                .read_dir()
                .unwrap()
                .flatten()
                .any(|run| {
                    std::fs::read_to_string(run.path().join("watchdog.log"))
                        .is_ok_and(|log| log.contains("controller connection lost"))
                })
        })
        .count();
    assert_eq!(acted, HOSTS, "every host's watchdog acted");
}

/// The median of `samples`, in milliseconds.
fn median_ms(mut samples: Vec<Duration>) -> f64 {
    samples.sort();
    samples[samples.len() / 2].as_secs_f64() * 1000.0
}

/// Start-to-effect of a kill (the call returns once the node's group is gone) and of a
/// partition (once every host's rules are in place), over SSH and locally (the netns
/// network, nftables too): medians of 3, printed for the README. The effect is asserted,
/// the time is not.
async fn fault_costs(cluster: &mut chaos::cluster::Cluster) -> (f64, f64) {
    let (mut kills, mut cuts) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        let started = Instant::now();
        cluster.kill("n3").await.expect("kill");
        kills.push(started.elapsed());
        assert_eq!(
            cluster.node_state("n3").unwrap(),
            chaos::supervisor::NodeState::Down
        );
        cluster.restart("n3").await.expect("restart");
        let started = Instant::now();
        cluster
            .partition(&[vec!["n1".to_string()]])
            .await
            .expect("partition");
        cuts.push(started.elapsed());
        assert_eq!(cluster.cut_links().len(), 4);
        cluster.heal().await.expect("heal");
    }
    (median_ms(kills), median_ms(cuts))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fault_over_ssh_costs_a_round_trip() {
    if let Some(reason) = missing() {
        return tool_missing(&reason);
    }
    let lab = Lab::start();
    let program = tests::node_program();
    let args: Vec<String> = tests::FAST_TIMEOUTS.iter().map(|s| s.to_string()).collect();
    let layout = || {
        chaos::layout::SystemLayout::raft(
            3,
            program.program.clone(),
            program.args_prefix.clone(),
            args.clone(),
        )
    };
    let hosts = chaos::node_control::ssh::load_hosts(&lab.hosts_file()).unwrap();
    let mut remote =
        chaos::cluster::Cluster::start_on_hosts(layout(), lab.path().join("ssh-run"), hosts)
            .await
            .unwrap_or_else(|e| panic!("{e}\n{}", lab.logs()));
    let (ssh_kill, ssh_cut) = fault_costs(&mut remote).await;
    remote.shutdown().await.expect("shutdown");
    lab.wait_until_clean(Duration::ZERO).unwrap();
    let local_dir = lab.path().join("local-run");
    let mut local = chaos::cluster::Cluster::start_layout(
        layout(),
        local_dir,
        chaos::cluster::NetworkKind::Netns,
    )
    .await
    .expect("a local netns cluster");
    let (local_kill, local_cut) = fault_costs(&mut local).await;
    local.shutdown().await.expect("shutdown");
    println!(
        "fault cost, median of 3 (3 Raft nodes): kill -9 ssh {ssh_kill:.1} ms, local {local_kill:.1} ms; \
         partition (isolate n1, 4 links) ssh {ssh_cut:.1} ms, local netns {local_cut:.1} ms"
    );
}

#[test]
fn cleanup_hosts_removes_tables_and_nodes_a_dead_controller_left() {
    if let Some(reason) = missing() {
        return tool_missing(&reason);
    }
    let lab = Lab::start();
    // What a controller leaves when its watchdog is gone too: a table, and a stopped node
    // group listed in a run directory with no live watchdog.
    let ns = &lab.namespaces[1];
    sh(
        "ip",
        &[
            "netns",
            "exec",
            ns,
            "nft",
            "add",
            "table",
            "inet",
            "faultline-deadbeef",
        ],
    );
    let run = lab.path().join("h2/deadbeef");
    std::fs::create_dir_all(&run).unwrap();
    let script = "setsid sleep 600 < /dev/null > /dev/null 2>&1 & echo $!";
    let pgid = sh("ip", &["netns", "exec", ns, "sh", "-c", script]);
    let pgid = pgid.trim().to_string();
    // Stop it only once setsid has made it a group leader (under load the child may not
    // have run yet when `sh` prints its pid).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let stat = std::fs::read_to_string(format!("/proc/{pgid}/stat")).unwrap_or_default();
        let pgrp = stat
            .rsplit(") ")
            .next()
            .and_then(|rest| rest.split(' ').nth(2));
        if pgrp == Some(pgid.as_str()) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "setsid did not make {pgid} a group leader: {stat}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    sh("kill", &["-STOP", &pgid]);
    std::fs::write(run.join("pgids"), format!("{pgid}\n")).unwrap();
    assert!(!lab.tables().is_empty() && !lab.leftovers().is_empty());

    let hosts = lab.hosts_file().display().to_string();
    let out = run_faultline(["cleanup", "--hosts", &hosts], lab.path());
    assert_eq!(out.code, Some(0), "{}", out.describe());
    assert!(
        out.stdout.contains("n2 (root@")
            && out
                .stdout
                .contains("tables removed: 1, process groups killed: 1"),
        "{}",
        out.describe()
    );
    lab.wait_until_clean(Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("after cleanup --hosts: {e}"));
}
