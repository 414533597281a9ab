//! `faultline cluster up`: prints every node's address, serves requests, and tears the
//! whole cluster down on Ctrl-C (SIGINT), leaving no node process behind.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
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

#[test]
fn cluster_up_prints_addresses_serves_and_tears_down_on_sigint() {
    let dir = tempfile::tempdir().unwrap();
    let dir_text = dir.path().to_str().unwrap().to_string();
    // Only the nodes' command lines name their data dirs (the controller's names `dir`).
    let node_marker = format!("{dir_text}/data/");
    let mut command = Command::new(env!("CARGO_BIN_EXE_faultline"));
    command
        .args(["cluster", "up", "--nodes", "3", "--dir", &dir_text])
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    chaos::supervisor::die_with_parent(&mut command, None);
    let mut child = command.spawn().expect("starting faultline cluster up");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut addresses = Vec::new();
    for line in lines.by_ref() {
        let line = line.expect("reading faultline's output");
        if let Some(rest) = line
            .split_once(" http://")
            .map(|(_, rest)| rest.to_string())
        {
            addresses.push(rest.split_whitespace().next().unwrap().to_string());
        }
        if line.contains("Ctrl-C") {
            break;
        }
    }
    assert_eq!(addresses.len(), 3, "one address per node: {addresses:?}");
    assert_eq!(
        processes_mentioning(&node_marker).len(),
        3,
        "three node processes"
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
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "cluster up did not stop within 15 s of SIGINT"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(0));
    assert!(
        processes_mentioning(&node_marker).is_empty(),
        "node processes left behind: {:?}",
        processes_mentioning(&node_marker)
    );
}
