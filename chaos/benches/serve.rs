//! The runs page of a 10,000-run store, through the real request handler
//! ([`chaos::serve::route`]): directory listing, sorting, the page's `results.json` reads
//! (through the summary cache) and the HTML, without the socket.
//!
//! The store is synthetic: 20 schedules x 500 runs, each run directory holding a small
//! `results.json` shaped like the runner's; a tenth of them invalid.

use criterion::{Criterion, criterion_group, criterion_main};
use hyper::Method;

use chaos::serve::{Reply, ServeState, route};

const SCHEDULES: usize = 20;
const RUNS_PER_SCHEDULE: usize = 500;

fn synthetic_store() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for s in 0..SCHEDULES {
        for r in 0..RUNS_PER_SCHEDULE {
            let i = s * RUNS_PER_SCHEDULE + r;
            let run = dir.path().join(format!("sched-{s:02}")).join(format!(
                "2026{:02}{:02}T{:02}{:02}{:02}-seed{r}",
                1 + i % 12,
                1 + i % 28,
                i % 24,
                i % 60,
                (i / 60) % 60
            ));
            std::fs::create_dir_all(run.join("nodes")).expect("run dir");
            let verdict = if i.is_multiple_of(10) {
                "invalid"
            } else {
                "valid"
            };
            std::fs::write(
                run.join("results.json"),
                format!(
                    r#"{{"name":"sched-{s:02}","seed":{r},"run":"x","verdict":"{verdict}","interrupted":false,
"checks":[{{"check":"linearizable","verdict":"{verdict}","summary":"s"}},{{"check":"latency","verdict":"valid","summary":"s"}}],
"stats":{{"ops":{i},"ok":1,"fail":0,"info":0,"nemesis_events":6,"latency_ms_p50":1.0,"latency_ms_p99":9.0,"latency_ms_max":20.0,"duration_s":61.5}}}}"#
                ),
            )
            .expect("results.json");
        }
    }
    dir
}

fn html_len(reply: Reply) -> usize {
    match reply {
        Reply::Html(status, html) => {
            assert!(status.is_success(), "{status}");
            html.len()
        }
        other => panic!("not a page: {other:?}"),
    }
}

fn bench(c: &mut Criterion) {
    let store = synthetic_store();
    let state = ServeState::open(store.path()).expect("state");
    let mut group = c.benchmark_group("serve_10000_runs");
    group.sample_size(20);
    group.bench_function("runs_page_first", |b| {
        b.iter(|| html_len(route(&state, &Method::GET, "/", None)))
    });
    group.bench_function("runs_page_50_of_name", |b| {
        b.iter(|| {
            html_len(route(
                &state,
                &Method::GET,
                "/",
                Some("name=sched-07&page=3"),
            ))
        })
    });
    group.bench_function("runs_page_verdict_filter_cached", |b| {
        b.iter(|| {
            html_len(route(
                &state,
                &Method::GET,
                "/",
                Some("verdict=invalid&page=2"),
            ))
        })
    });
    // A cold cache: a fresh state per iteration, so every results.json is read again.
    group.bench_function("runs_page_verdict_filter_cold", |b| {
        b.iter(|| {
            let cold = ServeState::open(store.path()).expect("state");
            html_len(route(&cold, &Method::GET, "/", Some("verdict=invalid")))
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
