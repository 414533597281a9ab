//! The overhead of the stdio adapter's pipe (issue 12): one client worker's ops per second
//! through the built-in Raft client vs through a stdio adapter, against the same trivial
//! HTTP server on 127.0.0.1 (it answers every request `200 {"ok":true,"value":null}`).
//!
//! - `builtin_client_http`: [`RaftClient`] straight to the server (Rust, keep-alive);
//! - `stdio_forward_adapter_http`: [`StdioClient`] -> JSON line over the pipe -> a Python
//!   adapter (`benches/adapters/forward.py`, standard library `http.client`, keep-alive) ->
//!   the same server -> reply line back;
//! - `stdio_echo_adapter`: [`StdioClient`] -> a Python adapter that answers at once
//!   (`benches/adapters/echo.py`): the pipe round trip and both sides' JSON alone.
//!
//! Each is one worker sending writes one after another (an adapter serves one request at a
//! time), through the real spawner ([`RunAdapters`], the controller's own). Throughput is
//! in operations per second. Run from the repository root or the crate:
//! `cargo bench -p chaos --bench adapter`. Needs `python3`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use chaos::system::command::RunAdapters;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use workloads::client::{
    Client, Invocation, Outcome, RaftClient, RaftClientConfig, StdioClient, StdioClientConfig,
};

async fn answer(
    request: Request<hyper::body::Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    // Read the request's body, so that the connection stays open for the next request.
    let _ = http_body_util::BodyExt::collect(request.into_body()).await;
    let body = Bytes::from_static(br#"{"ok":true,"value":null}"#);
    Ok(Response::builder()
        .header("content-type", "application/json")
        .body(Full::new(body))
        .expect("static response is valid"))
}

async fn start_trivial_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service_fn(answer))
                    .await;
            });
        }
    });
    addr
}

/// `iters` writes through `client`, one after another; each must be `ok`.
async fn timed<C: Client>(client: &C, iters: u64) -> Duration {
    let started = Instant::now();
    for i in 0..iters {
        let outcome = client
            .invoke(0, &Invocation::write("k0", serde_json::json!(i)))
            .await;
        assert!(matches!(outcome, Outcome::Ok(_)), "{outcome:?}");
    }
    started.elapsed()
}

fn adapter_script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("benches/adapters")
        .join(name)
}

fn stdio_client(
    script: &str,
    addr: SocketAddr,
    logs: &tempfile::TempDir,
) -> StdioClient<RunAdapters> {
    let command = format!(
        "python3 {} {{client_addr}}",
        adapter_script(script).display()
    );
    let spawner = RunAdapters::new(
        &command,
        vec![("n1".to_string(), addr)],
        logs.path().to_path_buf(),
        PathBuf::from("faultline"),
    )
    .expect("spawner");
    StdioClient::new(
        Arc::new(spawner),
        StdioClientConfig {
            timeout_ms: 5_000,
            nodes: vec!["n1".to_string()],
        },
    )
}

fn pipe(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let addr = runtime.block_on(start_trivial_server());
    let logs = tempfile::tempdir().expect("tempdir");
    let builtin = RaftClient::new(
        vec![("n1".to_string(), addr)],
        RaftClientConfig {
            timeout_ms: 5_000,
            ..RaftClientConfig::default()
        },
    )
    .expect("client");
    let forward = stdio_client("forward.py", addr, &logs);
    let echo = stdio_client("echo.py", addr, &logs);
    // Start the adapters (and warm every connection) before measuring.
    runtime.block_on(async {
        timed(&builtin, 10).await;
        timed(&forward, 10).await;
        timed(&echo, 10).await;
    });
    let mut group = c.benchmark_group("pipe");
    group.throughput(Throughput::Elements(1));
    group.measurement_time(Duration::from_secs(5));
    group.bench_function("builtin_client_http", |b| {
        b.iter_custom(|iters| runtime.block_on(timed(&builtin, iters)))
    });
    group.bench_function("stdio_forward_adapter_http", |b| {
        b.iter_custom(|iters| runtime.block_on(timed(&forward, iters)))
    });
    group.bench_function("stdio_echo_adapter", |b| {
        b.iter_custom(|iters| runtime.block_on(timed(&echo, iters)))
    });
    group.finish();
    runtime.block_on(async {
        forward.shutdown().await;
        echo.shutdown().await;
    });
}

criterion_group!(benches, pipe);
criterion_main!(benches);
