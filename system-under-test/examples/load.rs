//! A quick load generator for a running cluster (manual use, not a test): N clients
//! send writes to the leader for a few seconds and print throughput and latency.
//!
//! `cargo run --release --example load -- 127.0.0.1:7101 64 5`

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let leader = args
        .get(1)
        .cloned()
        .unwrap_or_else(|| "127.0.0.1:7101".into());
    let clients: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(64);
    let seconds: u64 = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(5);
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for c in 0..clients {
        let client = client.clone();
        let url = format!("http://{leader}/kv");
        tasks.push(tokio::spawn(async move {
            let mut latencies_us = Vec::new();
            let mut errors = 0u64;
            let mut seq = 0u64;
            while Instant::now() < deadline {
                seq += 1;
                let body = format!(
                    r#"{{"op":"write","key":"k{}","value":{seq},"client":"c{}-{c}","seq":{seq}}}"#,
                    seq % 8,
                    std::process::id()
                );
                let request = hyper::Request::post(&url)
                    .body(Full::new(Bytes::from(body)))
                    .expect("request");
                let started = Instant::now();
                let ok = match tokio::time::timeout(Duration::from_secs(2), client.request(request))
                    .await
                {
                    Ok(Ok(response)) => {
                        let status = response.status();
                        let _ = response.into_body().collect().await;
                        status.is_success()
                    }
                    _ => false,
                };
                if ok {
                    latencies_us.push(started.elapsed().as_micros() as u64);
                } else {
                    errors += 1;
                }
            }
            (latencies_us, errors)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    for task in tasks {
        let (latencies, task_errors) = task.await.expect("task");
        all.extend(latencies);
        errors += task_errors;
    }
    all.sort_unstable();
    let pick = |q: f64| {
        all.get(((all.len() as f64 * q) as usize).min(all.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0)
    };
    println!(
        "clients={clients} ok={} errors={errors} writes_per_s={:.0} p50_us={} p99_us={}",
        all.len(),
        all.len() as f64 / seconds as f64,
        pick(0.5),
        pick(0.99)
    );
}
