//! What the `serve_*` tests share: the `faultline serve` process (or `faultline run --serve`)
//! and its URL line, plain HTTP GETs over real TCP, and Debian's headless chromium driven
//! from the command line (`--dump-dom` after the page's JavaScript ran, `--screenshot`),
//! with a PNG check that a screenshot is not blank.
//!
//! Chromium runs in its own process group with a fresh profile and the flags it needs as
//! root; a chromium that does not finish within [`CHROMIUM_TIMEOUT`] is killed (its whole
//! group) and the test fails.

#![allow(dead_code)] // Each test crate uses a part of it.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use tests::faultline_program;

pub const CHROMIUM: &str = "/usr/bin/chromium";
/// One chromium invocation, at most (it is slow to start on a loaded machine).
pub const CHROMIUM_TIMEOUT: Duration = Duration::from_secs(90);
/// How long JavaScript may run before the DOM is dumped or the screenshot taken, in
/// chromium's virtual time (it waits for the page's fetches).
pub const SCRIPT_BUDGET_MS: u64 = 2500;

/// A `faultline` process that serves the store (`serve`, or `run --serve`), killed when
/// dropped (also when an assertion fails). Its stdout is read line by line by a thread.
pub struct Served {
    pub child: Child,
    /// `127.0.0.1:PORT`, from the process's first `faultline serve: http://...` line.
    pub addr: String,
    lines: mpsc::Receiver<String>,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Served {
    /// Starts `faultline <args>` in `cwd`; `args` must make it serve with
    /// `--listen 127.0.0.1:0`. Waits for the URL line.
    pub fn start(args: &[&str], cwd: &Path) -> Served {
        let mut child = Command::new(faultline_program())
            .args(args)
            .current_dir(cwd)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn faultline");
        let lines = read_lines(child.stdout.take().expect("piped stdout"));
        let mut served = Served {
            child,
            addr: String::new(),
            lines,
        };
        let line = served
            .wait_for_line("faultline serve: http://", Duration::from_secs(60))
            .unwrap_or_else(|| panic!("faultline {args:?} printed no URL line"));
        // "faultline serve: http://127.0.0.1:PORT/ (store ..., read-only)"
        served.addr = line
            .split("http://")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .unwrap_or_else(|| panic!("no URL in {line:?}"))
            .to_string();
        served
    }

    /// The next stdout line containing `needle`, within `timeout`; `None` on timeout or
    /// when stdout closed.
    pub fn wait_for_line(&mut self, needle: &str, timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return Some(line),
                Ok(_) => {}
                Err(_) => return None,
            }
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

fn read_lines(stdout: ChildStdout) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            println!("faultline: {line}");
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

/// One GET over a fresh connection: (status code, body).
pub fn get(addr: &str, path: &str) -> (u16, String) {
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

/// Whether chromium is there; when not, fails under CI (`tests::tool_missing`) and
/// otherwise tells the caller to skip.
pub fn chromium_available() -> bool {
    if Path::new(CHROMIUM).exists() {
        return true;
    }
    tests::tool_missing(&format!(
        "the browser check: {CHROMIUM} is not installed (apt-get install chromium)"
    ));
    false
}

/// Runs headless chromium with `args` then `url`; returns its stdout. Panics on a failure
/// or a timeout (after killing chromium's process group).
fn chromium(args: &[String], url: &str) -> String {
    let profile = tempfile::tempdir().expect("chromium profile dir");
    let mut child = Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .arg(url)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .expect("run chromium");
    let group = Pid::from_raw(child.id() as i32);
    let mut stdout = child.stdout.take().expect("piped stdout");
    let mut stderr = child.stderr.take().expect("piped stderr");
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + CHROMIUM_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for chromium") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = killpg(group, Signal::SIGKILL);
            let _ = child.wait();
            panic!("chromium did not finish {url} within {CHROMIUM_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let stdout = out.join().expect("stdout reader");
    let stderr = err.join().expect("stderr reader");
    assert!(status.success(), "chromium {url}: {status}\n{stderr}");
    stdout
}

/// The DOM of `url` as chromium has it after the page's scripts ran for
/// [`SCRIPT_BUDGET_MS`] of virtual time.
pub fn dump_dom(url: &str) -> String {
    chromium(
        &[
            format!("--virtual-time-budget={SCRIPT_BUDGET_MS}"),
            "--dump-dom".to_string(),
        ],
        url,
    )
}

/// A screenshot of `url` (after the scripts ran) into `png`, `width` x `height` pixels.
/// A run of its own: with `--dump-dom` in the same run, chromium was seen to exit before
/// the PNG was completely written.
pub fn screenshot(url: &str, png: &Path, width: u32, height: u32) {
    chromium(
        &[
            format!("--virtual-time-budget={SCRIPT_BUDGET_MS}"),
            format!("--window-size={width},{height}"),
            format!("--screenshot={}", png.display()),
        ],
        url,
    );
}

/// What a screenshot holds, colour-wise.
#[derive(Debug)]
pub struct Colours {
    pub width: u32,
    pub height: u32,
    pub distinct: usize,
    /// The share of pixels in the most common colour.
    pub dominant_share: f64,
}

/// Decodes an 8-bit RGB(A) PNG and counts its colours.
pub fn colours(png_path: &Path) -> Colours {
    let file =
        std::fs::File::open(png_path).unwrap_or_else(|e| panic!("{}: {e}", png_path.display()));
    let decoder = png::Decoder::new(BufReader::new(file));
    let mut reader = decoder
        .read_info()
        .unwrap_or_else(|e| panic!("{}: not a PNG: {e}", png_path.display()));
    let mut buf = vec![0; reader.output_buffer_size().expect("a sane PNG size")];
    let info = reader
        .next_frame(&mut buf)
        .unwrap_or_else(|e| panic!("{}: {e}", png_path.display()));
    assert_eq!(
        info.bit_depth,
        png::BitDepth::Eight,
        "{}",
        png_path.display()
    );
    let channels = info.color_type.samples();
    assert!(
        channels >= 3,
        "{}: {:?}",
        png_path.display(),
        info.color_type
    );
    let mut counts: HashMap<[u8; 3], u64> = HashMap::new();
    let pixels = &buf[..info.buffer_size()];
    for px in pixels.chunks_exact(channels) {
        *counts.entry([px[0], px[1], px[2]]).or_default() += 1;
    }
    let total: u64 = counts.values().sum();
    let dominant = counts.values().copied().max().unwrap_or(0);
    Colours {
        width: info.width,
        height: info.height,
        distinct: counts.len(),
        dominant_share: dominant as f64 / total.max(1) as f64,
    }
}

/// Asserts that a screenshot is a real page: the size asked for, many colours (text is
/// anti-aliased), and no single colour covering almost everything.
pub fn assert_not_blank(png_path: &Path, width: u32, height: u32) {
    let c = colours(png_path);
    assert_eq!(
        (c.width, c.height),
        (width, height),
        "{}",
        png_path.display()
    );
    assert!(
        c.distinct >= 32 && c.dominant_share < 0.97,
        "{} looks blank: {c:?}",
        png_path.display()
    );
}

/// The text of the element with `id` in a dumped DOM (up to the next tag).
pub fn text_of_id<'a>(dom: &'a str, id: &str) -> Option<&'a str> {
    let marker = format!("id=\"{id}\"");
    let at = dom.find(&marker)?;
    let rest = &dom[at + marker.len()..];
    let start = rest.find('>')? + 1;
    let end = rest[start..].find('<')? + start;
    Some(rest[start..end].trim())
}

/// The text of the element with `id` in a dumped DOM, tags inside it dropped (up to its
/// closing `</tag>`; the element must not nest one of its own kind).
pub fn text_content_of_id(dom: &str, id: &str) -> Option<String> {
    let open = tag_of_id(dom, id)?;
    let name: String = open[1..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric())
        .collect();
    let start = dom.find(open)? + open.len();
    let end = dom[start..].find(&format!("</{name}>"))? + start;
    let mut text = String::new();
    let mut in_tag = false;
    for c in dom[start..end].chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    Some(text.trim().to_string())
}

/// The opening tag of the element with `id` in a dumped DOM.
pub fn tag_of_id<'a>(dom: &'a str, id: &str) -> Option<&'a str> {
    let marker = format!("id=\"{id}\"");
    let at = dom.find(&marker)?;
    let open = dom[..at].rfind('<')?;
    let close = dom[at..].find('>')? + at;
    Some(&dom[open..=close])
}

/// Where to keep the screenshots: `FAULTLINE_SCREENSHOTS_DIR` if set (to look at them),
/// else `fallback`.
pub fn screenshot_dir(fallback: &Path) -> std::path::PathBuf {
    match std::env::var_os("FAULTLINE_SCREENSHOTS_DIR") {
        Some(dir) => {
            let dir = std::path::PathBuf::from(dir);
            std::fs::create_dir_all(&dir).expect("create the screenshots dir");
            dir
        }
        None => fallback.to_path_buf(),
    }
}
