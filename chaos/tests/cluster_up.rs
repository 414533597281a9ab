//! `faultline cluster up`: prints every node's address and pid and the leader, serves
//! requests, and tears the whole cluster down on Ctrl-C (SIGINT), leaving no node process
//! behind; without `--dir`, the logs stay where it says.

use std::io::{BufRead, BufReader, Lines};
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// Pids of live processes whose command line mentions `needle`.
fn processes_mentioning(needle: &str) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let zombie = state
                .rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'));
            !zombie && String::from_utf8_lossy(&cmdline).contains(needle)
        })
        .collect()
}

/// A node's line: `n1 http://ADDR  pid PID  log PATH`.
struct NodeLine {
    id: String,
    address: String,
    pid: u32,
}

fn node_lines(printed: &[String]) -> Vec<NodeLine> {
    printed
        .iter()
        .filter_map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            match words.as_slice() {
                [id, url, "pid", pid, "log", _] => Some(NodeLine {
                    id: id.to_string(),
                    address: url.strip_prefix("http://")?.to_string(),
                    pid: pid.parse().ok()?,
                }),
                _ => None,
            }
        })
        .collect()
}

/// The `leader: nX http://ADDR ...` line's id and address.
fn leader_of(printed: &[String]) -> (String, String) {
    let line = printed
        .iter()
        .find(|line| line.starts_with("leader: "))
        .unwrap_or_else(|| panic!("no leader line in {printed:#?}"));
    let words: Vec<&str> = line.split_whitespace().collect();
    let address = words
        .get(2)
        .and_then(|url| url.strip_prefix("http://"))
        .unwrap_or_else(|| panic!("no leader address in {line}"));
    (words[1].to_string(), address.to_string())
}

/// `faultline cluster up ARGS...`, its stdout lines, and what it printed up to the line
/// that says Ctrl-C tears everything down.
fn cluster_up(args: &[&str]) -> (Child, Lines<BufReader<ChildStdout>>, Vec<String>) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_faultline"));
    command
        .args(["cluster", "up"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    chaos::supervisor::die_with_parent(&mut command, None);
    let mut child = command.spawn().expect("starting faultline cluster up");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut printed = Vec::new();
    for line in lines.by_ref() {
        let line = line.expect("reading faultline's output");
        printed.push(line.clone());
        if line.contains("Ctrl-C") {
            break;
        }
    }
    (child, lines, printed)
}

/// Waits for `cluster up` to exit after SIGINT (a liveness bound, not a speed assertion).
fn exit_status(child: &mut Child) -> ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "cluster up did not stop within 15 s of SIGINT"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn cluster_up_prints_addresses_serves_and_tears_down_on_sigint() {
    let dir = tempfile::tempdir().unwrap();
    let dir_text = dir.path().to_str().unwrap().to_string();
    // Only the nodes' command lines name their data dirs (the controller's names `dir`).
    let node_marker = format!("{dir_text}/data/");
    let (mut child, _lines, printed) = cluster_up(&["--nodes", "3", "--dir", &dir_text]);
    let mut addresses = Vec::new();
    let nodes = node_lines(&printed);
    for node in &nodes {
        addresses.push(node.address.clone());
    }
    assert_eq!(addresses.len(), 3, "one address per node: {printed:#?}");
    let mut live = processes_mentioning(&node_marker);
    live.sort();
    let mut pids: Vec<u32> = nodes.iter().map(|n| n.pid).collect();
    pids.sort();
    assert_eq!(pids, live, "the printed pids are the node processes'");
    let (leader, leader_address) = leader_of(&printed);
    assert!(
        nodes
            .iter()
            .any(|n| n.id == leader && n.address == leader_address),
        "the leader is one of the nodes, at its address: {printed:#?}"
    );

    // Each node answers GET /status over plain HTTP.
    for address in &addresses {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(address).expect("connecting to a node");
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        write!(
            stream,
            "GET /status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(answer.contains("\"role\""), "{answer}");
    }

    kill(Pid::from_raw(child.id() as i32), Signal::SIGINT).unwrap();
    assert_eq!(exit_status(&mut child).code(), Some(0));
    assert!(
        processes_mentioning(&node_marker).is_empty(),
        "node processes left behind: {:?}",
        processes_mentioning(&node_marker)
    );
}

#[test]
fn without_dir_ctrl_c_keeps_the_logs_and_says_where() {
    let (mut child, lines, printed) = cluster_up(&["--nodes", "1"]);
    let last = printed.last().expect("output");
    let dir = last
        .strip_prefix("data and logs under ")
        .and_then(|rest| {
            rest.strip_suffix(
                " (temporary: Ctrl-C removes the data and keeps the logs); Ctrl-C tears \
                 everything down",
            )
        })
        .unwrap_or_else(|| panic!("{printed:#?}"))
        .to_string();
    assert_eq!(leader_of(&printed).0, "n1", "{printed:#?}");
    kill(Pid::from_raw(child.id() as i32), Signal::SIGINT).unwrap();
    let rest: Vec<String> = lines.map(|line| line.expect("reading")).collect();
    assert_eq!(exit_status(&mut child).code(), Some(0));
    assert_eq!(rest, [format!("logs kept in {dir}/nodes")]);
    let dir = std::path::PathBuf::from(dir);
    let log = std::fs::read_to_string(dir.join("nodes/n1.log")).expect("the kept log");
    assert!(log.contains("serving"), "{log}");
    assert!(!dir.join("data").exists(), "the data is removed");
    std::fs::remove_dir_all(&dir).unwrap();
}
