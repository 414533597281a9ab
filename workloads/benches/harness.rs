//! Throughput of the workload harness: generator + driver + recorder, end to end.
//!
//! Two setups, both running the default register workload with unlimited rate:
//!
//! - `raft_client_loopback_http`: through the real [`RaftClient`] against a trivial hyper
//!   server on 127.0.0.1 that answers every request `200 {"ok":true,"value":null}`, so the
//!   number includes HTTP encoding, keep-alive connections and loopback TCP;
//! - `fake_client_in_process`: through an in-process client that answers at once, so the
//!   number is the harness alone (generator lock, rate check, two records per op, writer).
//!
//! Each sample runs the workload until the generator has handed out `iters` operations, then
//! fires the shutdown signal (the few in-flight ops end `info` "interrupted"), and times that
//! run. Throughput is reported in operations per second; the target is >= 50,000 ops/s.
//! Run: `cargo bench -p workloads --bench harness`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::runtime::Runtime;
use tokio::sync::watch;
use workloads::client::{Client, Invocation, Outcome, RaftClient, RaftClientConfig};
use workloads::driver::{DriverOptions, run_workload};
use workloads::generator::{Generator, RegisterConfig, RegisterGenerator};
use workloads::recorder::Recorder;

/// Logical threads: enough to keep both cores busy through loopback round trips.
const CLIENTS: usize = 32;

/// A generator that stops the run after it handed out `limit` operations.
struct CountedGenerator {
    inner: RegisterGenerator,
    handed_out: u64,
    limit: u64,
    stop: watch::Sender<bool>,
}

impl Generator for CountedGenerator {
    fn next_invocation(&mut self) -> Invocation {
        self.handed_out += 1;
        if self.handed_out == self.limit {
            let _no_receiver_left_is_fine = self.stop.send(true);
        }
        self.inner.next_invocation()
    }

    fn final_reads(&self) -> Vec<Invocation> {
        self.inner.final_reads()
    }
}

/// Answers at once, like a store that applies every op.
struct InstantClient;

impl Client for InstantClient {
    async fn invoke(&self, _thread: usize, inv: &Invocation) -> Outcome {
        Outcome::Ok(inv.value.clone())
    }
}

async fn answer(
    _request: Request<hyper::body::Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let body = Bytes::from_static(br#"{"ok":true,"value":null}"#);
    Ok(Response::builder()
        .header("content-type", "application/json")
        .body(Full::new(body))
        .expect("static response is valid"))
}

/// Starts the trivial server on 127.0.0.1 (port chosen by the OS) in the runtime.
async fn start_trivial_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move {
        loop {
            let Ok((stream, _peer)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let connection = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service_fn(answer));
                match connection.await {
                    // Each sample's shutdown abandons in-flight requests mid-message.
                    Err(error) if error.is_incomplete_message() => {}
                    Err(error) => eprintln!("trivial server connection: {error}"),
                    Ok(()) => {}
                }
            });
        }
    });
    addr
}

/// Runs a workload of `ops` operations through `client`; returns how long it took.
async fn timed_run<C: Client + 'static>(
    client: Arc<C>,
    ops: u64,
    dir: &tempfile::TempDir,
) -> Duration {
    let recorder = Recorder::create(dir.path().join("history.jsonl")).expect("create history");
    let (stop, shutdown) = watch::channel(false);
    let generator = CountedGenerator {
        inner: RegisterGenerator::new(&RegisterConfig::default(), 1).expect("generator"),
        handed_out: 0,
        limit: ops.max(1),
        stop,
    };
    let options = DriverOptions {
        clients: CLIENTS,
        rate_per_s: 0.0,
        duration: Duration::from_secs(3_600),
        op_timeout: Duration::from_secs(1),
    };
    let started = Instant::now();
    let summary = run_workload(client, generator, &recorder, &options, shutdown)
        .await
        .expect("workload runs");
    let elapsed = started.elapsed();
    let totals = recorder.close().await.expect("close history");
    assert!(summary.ops_invoked >= ops.max(1), "{summary:?}");
    assert_eq!(totals.invokes, summary.ops_invoked);
    elapsed
}

fn harness(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let addr = runtime.block_on(start_trivial_server());
    let raft_client = Arc::new(
        RaftClient::new(
            [("n1".to_string(), addr)],
            RaftClientConfig {
                max_idle_per_node: CLIENTS * 2,
                ..RaftClientConfig::default()
            },
        )
        .expect("client"),
    );
    let mut group = c.benchmark_group("harness");
    group.throughput(Throughput::Elements(1));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    group.bench_function("raft_client_loopback_http", |b| {
        b.iter_custom(|iters| run_blocking(&runtime, Arc::clone(&raft_client), iters, &dir))
    });
    group.bench_function("fake_client_in_process", |b| {
        b.iter_custom(|iters| run_blocking(&runtime, Arc::new(InstantClient), iters, &dir))
    });
    group.finish();
}

fn run_blocking<C: Client + 'static>(
    runtime: &Runtime,
    client: Arc<C>,
    ops: u64,
    dir: &tempfile::TempDir,
) -> Duration {
    runtime.block_on(timed_run(client, ops, dir))
}

criterion_group!(benches, harness);
criterion_main!(benches);
