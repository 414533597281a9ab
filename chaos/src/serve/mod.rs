//! `faultline serve`: the store in a browser, read-only (DESIGN.md, "Runs, campaigns, the
//! store").
//!
//! A hyper 1 server; every page is HTML rendered here, with a few lines of plain JavaScript
//! only where a run in progress updates live. No endpoint writes anything.
//!
//! | URL | page |
//! |-----|------|
//! | `/?verdict=&name=&page=` | [`runs`]: every run, newest first, filtered, paginated |
//! | `/run/<name>/<run>` | [`run`]: one run: verdicts, files, node logs, reproduce, report |
//! | `/run/<name>/<run>/files/<file>` | a run's file (`?download=1` to save it), streamed |
//! | `/run/<name>/<run>/live.json` | a run in progress: counters, active faults, series ([`live`]) |
//! | `/campaigns` | [`campaigns`]: schedules x seeds, coloured by verdict |
//! | `/diff?a=<name>/<run>&b=<name>/<run>` | [`diff`]: two runs' schedules line by line |
//!
//! Safety ([`paths`]): a URL path with `%`, `\`, `.` or `..` segments is refused with 400;
//! file names must be plain; every resolved path is canonicalized and must lie inside the
//! store (a symlink out of it is 404); every text from the store is escaped ([`html`]); files
//! are streamed in 64 KiB chunks, so a huge history is never held in memory. Only GET and
//! HEAD are answered. Loopback by default: any other address is served only when given
//! with `--listen`, and a warning line says so.
//!
//! [`route`] is the whole request handler as a plain function (no sockets), which the
//! benchmark and the unit tests call directly; [`serve`] puts it behind hyper.

pub mod campaigns;
pub mod diff;
pub mod html;
pub mod index;
pub mod live;
pub mod paths;
pub mod run;
pub mod runs;

use std::convert::Infallible;
use std::io::Read;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use http_body_util::combinators::BoxBody;
use hyper::body::{Body, Frame};
use hyper::{Method, Request, Response, StatusCode};
use tokio::sync::{Semaphore, mpsc, watch};

use index::{RunRef, RunState, SummaryCache, is_run_name};
use live::LiveRuns;
use paths::{PathRefusal, plain_segment, query_pairs, resolve_in_store, split_url_path};

/// Connections served at once; more wait to be accepted.
pub const CONNECTIONS_MAX: usize = 256;
/// Bytes per chunk of a streamed file.
pub const FILE_CHUNK_BYTES: usize = 64 << 10;
/// Chunks buffered between the file reader and the socket.
pub const FILE_CHUNKS_BUFFERED: usize = 4;
/// A client must send its request headers within this.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Errors of the server itself (not of a request: those are answered with a status).
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("the store {path}: {source}")]
    Store {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// What the server knows: the canonical store root and its caches.
#[derive(Debug)]
pub struct ServeState {
    pub root: PathBuf,
    pub summaries: SummaryCache,
    pub live: LiveRuns,
}

impl ServeState {
    /// The state for `store`, which must exist.
    pub fn open(store: &Path) -> Result<ServeState, ServeError> {
        let root = std::fs::canonicalize(store).map_err(|source| ServeError::Store {
            path: store.to_path_buf(),
            source,
        })?;
        Ok(ServeState {
            root,
            summaries: SummaryCache::default(),
            live: LiveRuns::default(),
        })
    }
}

/// A handler's answer, before it becomes an HTTP response.
#[derive(Debug)]
pub enum Reply {
    Html(StatusCode, String),
    Json(String),
    /// A file inside the store, streamed.
    File {
        path: PathBuf,
        content_type: &'static str,
        download: Option<String>,
    },
}

fn error_page(status: StatusCode, message: &str) -> Reply {
    Reply::Html(
        status,
        html::page(
            status.as_str(),
            &format!("<h1>{}</h1><p>{}</p>", status.as_str(), html::text(message)),
        ),
    )
}

fn refusal(r: PathRefusal) -> Reply {
    match r {
        PathRefusal::BadRequest => error_page(StatusCode::BAD_REQUEST, "malformed path"),
        PathRefusal::NotFound => error_page(StatusCode::NOT_FOUND, "no such page in the store"),
    }
}

fn content_type(file: &str) -> &'static str {
    match file.rsplit('.').next() {
        Some("html") => "text/html; charset=utf-8",
        Some("json") => "application/json",
        _ => "text/plain; charset=utf-8",
    }
}

/// The whole request handler: method, raw path and raw query to a reply.
pub fn route(state: &ServeState, method: &Method, path: &str, query: Option<&str>) -> Reply {
    if method != Method::GET && method != Method::HEAD {
        return error_page(
            StatusCode::METHOD_NOT_ALLOWED,
            "read-only: GET and HEAD only",
        );
    }
    let segments = match split_url_path(path) {
        Ok(s) => s,
        Err(r) => return refusal(r),
    };
    let pairs = query_pairs(query);
    let param = |k: &str| {
        pairs
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    };
    match segments.as_slice() {
        [] => Reply::Html(
            StatusCode::OK,
            runs::runs_page(
                &state.root,
                &state.summaries,
                &runs::RunsQuery::from_pairs(&pairs),
            ),
        ),
        ["campaigns"] => Reply::Html(
            StatusCode::OK,
            campaigns::campaigns_page(&state.root, &state.summaries),
        ),
        ["diff"] => match diff::diff_page(&state.root, param("a"), param("b")) {
            Ok(html) => Reply::Html(StatusCode::OK, html),
            Err(r) => refusal(r),
        },
        ["run", name, run_name, rest @ ..] => {
            if !plain_segment(name) || !is_run_name(run_name) {
                return refusal(PathRefusal::BadRequest);
            }
            let dir = match resolve_in_store(&state.root, &[name, run_name]) {
                Ok(d) if d.is_dir() => d,
                Ok(_) => return refusal(PathRefusal::NotFound),
                Err(r) => return refusal(r),
            };
            let run = RunRef {
                name: name.to_string(),
                run: run_name.to_string(),
            };
            run_route(state, &run, &dir, rest, param("download") == "1")
        }
        _ => refusal(PathRefusal::NotFound),
    }
}

fn run_route(state: &ServeState, run: &RunRef, dir: &Path, rest: &[&str], download: bool) -> Reply {
    match rest {
        [] => Reply::Html(
            StatusCode::OK,
            run::run_page(&state.root, run, dir, &state.summaries, &state.live),
        ),
        ["live.json"] => {
            let finished = !matches!(state.summaries.state(dir), RunState::InProgress);
            match state.live.poll(dir, finished) {
                Ok(view) => Reply::Json(view.to_string()),
                Err(_) => refusal(PathRefusal::NotFound),
            }
        }
        ["files", file @ ..] => {
            let allowed = match file {
                [f] => run::RUN_FILES.contains(f),
                ["nodes", log] => log.ends_with(".log"),
                _ => false,
            };
            if !allowed {
                return refusal(PathRefusal::NotFound);
            }
            let mut segments = vec![run.name.as_str(), run.run.as_str()];
            segments.extend_from_slice(file);
            match resolve_in_store(&state.root, &segments) {
                Ok(path) if path.is_file() => {
                    let last = file[file.len() - 1];
                    Reply::File {
                        path,
                        content_type: content_type(last),
                        download: download.then(|| format!("{}-{}-{last}", run.name, run.run)),
                    }
                }
                Ok(_) => refusal(PathRefusal::NotFound),
                Err(r) => refusal(r),
            }
        }
        _ => refusal(PathRefusal::NotFound),
    }
}

/// The response body: a whole page, or a file's chunks from a reader thread.
pub type ServeBody = BoxBody<Bytes, std::io::Error>;

/// A body fed by a bounded channel of chunks.
struct ChunkBody {
    chunks: mpsc::Receiver<std::io::Result<Bytes>>,
}

impl Body for ChunkBody {
    type Data = Bytes;
    type Error = std::io::Error;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        self.chunks
            .poll_recv(cx)
            .map(|chunk| chunk.map(|r| r.map(Frame::data)))
    }
}

fn full(bytes: impl Into<Bytes>) -> ServeBody {
    http_body_util::Full::new(bytes.into())
        .map_err(|never: Infallible| match never {})
        .boxed()
}

/// Streams a file in chunks from a blocking thread; memory is bounded by the channel.
fn stream_file(path: PathBuf) -> ServeBody {
    let (tx, rx) = mpsc::channel(FILE_CHUNKS_BUFFERED);
    tokio::task::spawn_blocking(move || {
        let mut file = match std::fs::File::open(&path) {
            Ok(f) => f,
            Err(e) => {
                let _ = tx.blocking_send(Err(e));
                return;
            }
        };
        let mut buf = vec![0u8; FILE_CHUNK_BYTES];
        loop {
            match file.read(&mut buf) {
                Ok(0) => return,
                Ok(n) => {
                    if tx
                        .blocking_send(Ok(Bytes::copy_from_slice(&buf[..n])))
                        .is_err()
                    {
                        return; // The client went away.
                    }
                }
                Err(e) => {
                    let _ = tx.blocking_send(Err(e));
                    return;
                }
            }
        }
    });
    ChunkBody { chunks: rx }.boxed()
}

/// A reply as an HTTP response with the headers every answer carries.
pub fn into_response(reply: Reply, head_only: bool) -> Response<ServeBody> {
    let builder = Response::builder()
        .header("x-content-type-options", "nosniff")
        .header("referrer-policy", "no-referrer")
        .header("cache-control", "no-store");
    let (builder, body) = match reply {
        Reply::Html(status, html) => (
            builder
                .status(status)
                .header("content-type", "text/html; charset=utf-8")
                .header("content-security-policy", "default-src 'self'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'self'"),
            full(html),
        ),
        Reply::Json(json) => (
            builder.header("content-type", "application/json"),
            full(json),
        ),
        Reply::File {
            path,
            content_type,
            download,
        } => {
            let mut b = builder.header("content-type", content_type);
            if let Ok(meta) = std::fs::metadata(&path) {
                b = b.header("content-length", meta.len());
            }
            if let Some(name) = download {
                b = b.header(
                    "content-disposition",
                    format!("attachment; filename=\"{name}\""),
                );
            }
            let body = if head_only { full(Bytes::new()) } else { stream_file(path) };
            (b, body)
        }
    };
    let body = if head_only { full(Bytes::new()) } else { body };
    builder.body(body).unwrap_or_else(|e| {
        let mut r = Response::new(full(format!("response error: {e}")));
        *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
        r
    })
}

async fn handle(
    state: Arc<ServeState>,
    request: Request<hyper::body::Incoming>,
) -> Result<Response<ServeBody>, Infallible> {
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let query = request.uri().query().map(str::to_string);
    let head_only = method == Method::HEAD;
    let reply =
        tokio::task::spawn_blocking(move || route(&state, &method, &path, query.as_deref()))
            .await
            .unwrap_or_else(|e| {
                error_page(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    &format!("handler failed: {e}"),
                )
            });
    Ok(into_response(reply, head_only))
}

/// Whether an address is loopback (127.0.0.0/8 or ::1).
pub fn is_loopback(addr: &SocketAddr) -> bool {
    addr.ip().is_loopback()
}

/// Serves `store` on `listen` until `shutdown` turns true. Prints one line with the URL
/// (the actual port, so `--listen 127.0.0.1:0` is usable), and a warning line first when
/// the address is not loopback.
pub async fn serve(
    store: &Path,
    listen: SocketAddr,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), ServeError> {
    let state = Arc::new(ServeState::open(store)?);
    if !is_loopback(&listen) {
        println!(
            "faultline serve: warning: listening on {listen}, not loopback: anyone who can reach this address can read the whole store"
        );
    }
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|source| ServeError::Listen {
            addr: listen,
            source,
        })?;
    let bound = listener.local_addr().map_err(|source| ServeError::Listen {
        addr: listen,
        source,
    })?;
    println!(
        "faultline serve: http://{bound}/ (store {}, read-only)",
        state.root.display()
    );
    use std::io::Write;
    let _ = std::io::stdout().flush();
    let permits = Arc::new(Semaphore::new(CONNECTIONS_MAX));
    loop {
        let permit = tokio::select! {
            _ = shutdown.changed() => return Ok(()),
            permit = permits.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
        };
        let (stream, _) = tokio::select! {
            _ = shutdown.changed() => return Ok(()),
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    eprintln!("faultline serve: accept: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let state = state.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| handle(state.clone(), req));
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
            // A client that hangs up mid-response is not the server's error.
            let _ = conn.await;
            drop(permit);
        });
    }
}
