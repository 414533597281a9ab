//! The control channel: one JSON request line, one JSON response line, over a Unix stream
//! socket. The response to `lose-unfsynced` is written after the caches are forgotten
//! and the kernel's caches of those files invalidated, so a controller that restarts a
//! node after reading it knows the node sees only what was fsynced.
//!
//! ```text
//! -> {"op":"lose-unfsynced"}
//! <- {"ok":true,"loss":{"files":2,"dirty_bytes":8192},"stats":{...}}
//! -> {"op":"status"}
//! <- {"ok":true,"stats":{"dirty_files":0,...}}
//! ```
//!
//! The socket is bound only once the filesystem is mounted: a connection that succeeds
//! means the mount is up ([`wait_ready`]).

use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::time::{Duration, Instant};

use fuser::{INodeNo, Notifier};
use serde::{Deserialize, Serialize};

use crate::fs::{FaultFs, Loss, Stats};

/// Longest request line accepted.
const MAX_REQUEST_BYTES: u64 = 4096;

/// A request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Request {
    /// Forget every unfsynced write and size change.
    LoseUnfsynced,
    /// Report the counters.
    Status,
}

/// A response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Response {
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss: Option<Loss>,
    #[serde(default)]
    pub stats: Stats,
}

/// Sends one request to the daemon listening on `socket` and waits for its answer.
pub fn request(socket: &Path, request: Request, timeout: Duration) -> io::Result<Response> {
    let mut stream = UnixStream::connect(socket)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    let mut line = serde_json::to_vec(&request).expect("requests always serialize");
    line.push(b'\n');
    stream.write_all(&line)?;
    let mut answer = String::new();
    BufReader::new(stream).read_line(&mut answer)?;
    let response: Response = serde_json::from_str(&answer).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}: bad control response {answer:?}: {e}", socket.display()),
        )
    })?;
    if !response.ok {
        return Err(io::Error::other(format!(
            "{}: {:?} failed: {}",
            socket.display(),
            request,
            response.error.as_deref().unwrap_or("no reason given")
        )));
    }
    Ok(response)
}

/// Waits until the daemon answers `status` on `socket` (it is mounted), polling every
/// 10 ms for at most `timeout`.
pub fn wait_ready(socket: &Path, timeout: Duration) -> io::Result<Stats> {
    let deadline = Instant::now() + timeout;
    loop {
        match request(socket, Request::Status, Duration::from_secs(5)) {
            Ok(response) => return Ok(response.stats),
            Err(error) if Instant::now() >= deadline => {
                return Err(io::Error::new(
                    error.kind(),
                    format!(
                        "{}: faultfs not ready after {} ms: {error}",
                        socket.display(),
                        timeout.as_millis()
                    ),
                ));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
}

/// Serves requests on `listener` one connection at a time, forever.
pub fn serve(listener: UnixListener, fs: FaultFs, notifier: Notifier) {
    for stream in listener.incoming() {
        match stream {
            Ok(stream) => {
                if let Err(error) = serve_one(stream, &fs, &notifier) {
                    tracing::warn!(%error, "control connection failed");
                }
            }
            Err(error) => tracing::warn!(%error, "control accept failed"),
        }
    }
}

fn serve_one(stream: UnixStream, fs: &FaultFs, notifier: &Notifier) -> io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut line = String::new();
    BufReader::new(&stream)
        .take(MAX_REQUEST_BYTES)
        .read_line(&mut line)?;
    let response = match serde_json::from_str::<Request>(&line) {
        Ok(request) => handle(request, fs, notifier),
        Err(e) => Response {
            ok: false,
            error: Some(format!("bad request {line:?}: {e}")),
            loss: None,
            stats: fs.lock().stats(),
        },
    };
    let mut out = serde_json::to_vec(&response).expect("responses always serialize");
    out.push(b'\n');
    (&stream).write_all(&out)
}

fn handle(request: Request, fs: &FaultFs, notifier: &Notifier) -> Response {
    match request {
        Request::Status => Response {
            ok: true,
            error: None,
            loss: None,
            stats: fs.lock().stats(),
        },
        Request::LoseUnfsynced => {
            let loss = fs.lock().lose_unfsynced();
            // Unlocked: invalidating a page the kernel is reading waits for our reply.
            let mut failure = None;
            for &ino in &loss.inodes {
                match notifier.inval_inode(INodeNo(ino), 0, 0) {
                    Ok(()) => {}
                    // The kernel had already forgotten the inode: nothing of it is cached.
                    Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
                    Err(e) => failure = Some(format!("invalidating inode {ino}: {e}")),
                }
            }
            tracing::info!(
                files = loss.files,
                dirty_bytes = loss.dirty_bytes,
                "lost unfsynced writes"
            );
            Response {
                ok: failure.is_none(),
                error: failure,
                loss: Some(loss),
                stats: fs.lock().stats(),
            }
        }
    }
}
