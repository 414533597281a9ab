//! `faultline serve` end to end: a store made by a real `faultline run`, the server started
//! as a process on a free loopback port, and its pages fetched over real TCP (plain
//! HTTP/1.1) and in Debian's headless chromium: the runs page lists the run with its
//! verdict, the verdict filter keeps or drops it, the run page links its report and files,
//! and paths that try to leave the store are refused (400 or 404), a symlink out of the
//! store included.
//!
//! Under `CI=true` a missing chromium fails the test; locally it skips that part with a
//! printed reason.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tests::{faultline_program, run_faultline};

/// Three nodes, four seconds, one pause: a valid run with every store file.
const SHORT: &str = "name: serve-e2e
seed: 7
system: { kind: raft, nodes: 3 }
duration: 4s
workload: { kind: register, keys: 3, clients: 4, rate: 40/s, timeout: 1s }
nemesis:
  - at: 1s
    pause: random
    for: 1s
final: { heal: true, quiesce: 500ms, final_reads: true }
checks: [linearizable, latency]
";

const CHROMIUM: &str = "/usr/bin/chromium";

/// The server process, killed when dropped (also when an assertion fails).
struct Server {
    child: Child,
    addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_server(store: &Path) -> Server {
    let mut child = Command::new(faultline_program())
        .arg("serve")
        .arg("--store")
        .arg(store)
        .args(["--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn faultline serve");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("read the server's first line");
    // "faultline serve: http://127.0.0.1:PORT/ (store ..., read-only)"
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_else(|| panic!("no URL in the server's first line: {line:?}"))
        .to_string();
    Server { child, addr }
}

/// One GET over a fresh connection: (status code, body).
fn get(addr: &str, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).expect("connect to faultline serve");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("read timeout");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("send request");
    let mut response = Vec::new();
    stream.read_to_end(&mut response).expect("read response");
    let text = String::from_utf8_lossy(&response).into_owned();
    let status: u16 = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

#[test]
fn serve_lists_a_real_run_filters_it_and_refuses_paths_out_of_the_store() {
    let work = tempfile::tempdir().expect("tempdir");
    std::fs::write(work.path().join("short.yaml"), SHORT).expect("write schedule");
    let out = run_faultline(
        ["run", "short.yaml", "--store", "store", "--quiet"],
        work.path(),
    );
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let store = work.path().join("store");
    let run = std::fs::canonicalize(store.join("latest")).expect("store/latest resolves");
    let run_name = run.file_name().unwrap().to_string_lossy().into_owned();

    // A node log that is a symlink out of the store: must never be served.
    let outside = work.path().join("secret.txt");
    std::fs::write(&outside, "SECRET-OUTSIDE-THE-STORE").expect("write outside file");
    let link = run.join("nodes").join("escape.log");
    std::os::unix::fs::symlink(&outside, &link).expect("symlink");

    let server = start_server(&store);
    let addr = server.addr.clone();

    let (status, runs) = get(&addr, "/");
    assert_eq!(status, 200, "{runs}");
    assert!(
        runs.contains(&run_name),
        "runs page lists {run_name}: {runs}"
    );
    assert!(runs.contains("serve-e2e"), "runs page names the schedule");
    assert!(runs.contains("valid"), "runs page shows the verdict");

    let (status, kept) = get(&addr, "/?verdict=valid");
    assert_eq!(status, 200);
    assert!(kept.contains(&run_name), "the valid filter keeps the run");
    let (status, dropped) = get(&addr, "/?verdict=invalid");
    assert_eq!(status, 200);
    assert!(
        !dropped.contains(&run_name),
        "the invalid filter drops the valid run: {dropped}"
    );

    let run_path = format!("/run/serve-e2e/{run_name}/");
    let (status, page) = get(&addr, &run_path);
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains("report.html"),
        "the run page links its report"
    );
    assert!(
        page.contains("faultline run"),
        "the run page has a reproduce line"
    );
    let (status, report) = get(&addr, &format!("{run_path}files/report.html"));
    assert_eq!(status, 200);
    assert!(
        report.contains("<svg"),
        "the report is served with its charts"
    );
    let (status, history) = get(&addr, &format!("{run_path}files/history.jsonl"));
    assert_eq!(status, 200);
    assert!(history.lines().count() > 10, "the history is downloadable");

    for bad in [
        "/run/../../etc/passwd",
        "/run/%2e%2e/x/files/report.html",
        "/run/serve-e2e/%2e%2e/files/report.html",
        "/run/serve-e2e/x%2fy/files/report.html",
        "//etc/passwd",
    ] {
        let (status, body) = get(&addr, bad);
        assert!(
            status == 400 || status == 404,
            "{bad} answered {status}: {body}"
        );
        assert!(!body.contains("root:"), "{bad} leaked a file");
    }
    let (status, body) = get(&addr, &format!("{run_path}files/nodes/escape.log"));
    assert_eq!(status, 404, "a symlink out of the store is refused: {body}");
    assert!(!body.contains("SECRET-OUTSIDE-THE-STORE"));

    check_in_chromium(&addr, &run_name);
}

/// The runs page as the browser builds it: the run and its verdict in the DOM.
fn check_in_chromium(addr: &str, run_name: &str) {
    if !Path::new(CHROMIUM).exists() {
        tests::tool_missing(&format!(
            "the browser check: {CHROMIUM} is not installed (apt-get install chromium)"
        ));
        return;
    }
    let profile = tempfile::tempdir().expect("chromium profile dir");
    let output = Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("--dump-dom")
        .arg(format!("http://{addr}/"))
        .output()
        .expect("run chromium");
    let dom = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "chromium: {}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        dom.contains(run_name),
        "the DOM chromium built lists {run_name}: {dom}"
    );
    assert!(dom.contains("valid"), "the DOM shows the verdict");
}
