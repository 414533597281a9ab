//! Shared by the process tests: finding (or building) the raft-node binary, cluster configs.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use chaos::cluster::{ClusterConfig, NetworkKind};

/// The node program: the `faultline` binary of this package (cargo builds it before the
/// integration tests run), started as `faultline node ...`.
pub fn node_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_faultline"))
}

/// The arguments before the node's own: `faultline node`.
pub fn node_args_prefix() -> Vec<String> {
    vec!["node".to_string()]
}

/// A config for a small, fast raft cluster.
pub fn raft_config(base_dir: &Path, nodes: usize, network: NetworkKind) -> ClusterConfig {
    ClusterConfig {
        nodes,
        base_dir: base_dir.to_path_buf(),
        network,
        program: node_binary(),
        program_args_prefix: node_args_prefix(),
        extra_args: [
            "--election-timeout-min-ms",
            "150",
            "--election-timeout-max-ms",
            "300",
            "--heartbeat-ms",
            "50",
        ]
        .map(String::from)
        .to_vec(),
    }
}

/// Polls `check` every 50 ms until it returns `Some`, for at most `timeout`.
pub async fn eventually<T, F, Fut>(timeout: Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    while tokio::time::Instant::now() < deadline {
        if let Some(value) = check().await {
            return Some(value);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

/// The state letter of /proc/<pid>/stat (R, S, T, Z...), or None if the process is gone.
pub fn proc_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?.1.trim_start().chars().next()
}

/// `POST /kv` with a JSON body over a fresh connection; (status code, body), or None on a
/// transport error or after `timeout`.
pub async fn post_kv(
    addr: std::net::SocketAddr,
    body: &str,
    timeout: Duration,
) -> Option<(u16, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await.ok()?;
        let request = format!(
            "POST /kv HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(request.as_bytes()).await.ok()?;
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await.ok()?;
        let answer = String::from_utf8_lossy(&answer).into_owned();
        let code = answer.split_whitespace().nth(1)?.parse().ok()?;
        let body = answer
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default();
        Some((code, body))
    };
    tokio::time::timeout(timeout, exchange).await.ok().flatten()
}

/// Writes `value` to `key` through `addr`; true on 200.
pub async fn write(addr: std::net::SocketAddr, key: &str, value: i64) -> bool {
    let body = format!(r#"{{"op":"write","key":"{key}","value":{value}}}"#);
    matches!(
        post_kv(addr, &body, Duration::from_secs(2)).await,
        Some((200, _))
    )
}

/// A test that needs a tool (a browser, root) and cannot find it: under CI (`CI=true`),
/// where every tool is installed, that is a failure; locally the test skips with `reason`
/// printed.
pub fn tool_missing(reason: &str) {
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CI=true and a required tool is missing: {reason}"
    );
    println!("skipped: {reason}");
}

/// Waits (bounded) until none of `pids` is alive (gone or a zombie about to be reaped) and
/// asserts that none is stopped.
pub fn assert_nodes_gone(pids: &[u32]) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let states: Vec<Option<char>> = pids.iter().map(|p| proc_state(*p)).collect();
        assert!(
            !states.contains(&Some('T')),
            "a node is left stopped: {states:?}"
        );
        if states.iter().all(|s| matches!(s, None | Some('Z'))) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "nodes survived the controller: {states:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn wait_exit(child: &mut Child) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "controller did not exit");
        std::thread::sleep(Duration::from_millis(20));
    }
}
