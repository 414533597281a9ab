//! Live counters and latency records derived from a history.

use tokio::time::Instant;

use checker::history::{Op, OpType, Process};
use serde_json::Value;
use workloads::stats::{LiveStats, MAX_ERROR_KINDS, OTHER_ERRORS, latency_records};

fn op(index: u64, time_ns: u64, process: Process, kind: OpType) -> Op {
    Op {
        index,
        time_ns,
        process,
        kind,
        f: "read".into(),
        key: Some("k0".into()),
        value: Value::Null,
        error: None,
    }
}

#[test]
fn latencies_pair_completions_with_their_invokes() {
    let history = vec![
        op(0, 100, Process::Client(0), OpType::Invoke),
        op(1, 150, Process::Client(1), OpType::Invoke),
        op(2, 175, Process::Nemesis, OpType::Info),
        op(3, 400, Process::Client(1), OpType::Ok),
        op(4, 500, Process::Client(0), OpType::Info),
        op(5, 600, Process::Client(2), OpType::Invoke), // never completed
    ];
    let records = latency_records(history);
    assert_eq!(records.len(), 2);
    assert_eq!(
        (
            records[0].process,
            records[0].invoke_time_ns,
            records[0].latency_ns
        ),
        (1, 150, 250)
    );
    assert_eq!(records[0].kind, OpType::Ok);
    assert_eq!(
        (records[1].process, records[1].latency_ns, records[1].kind),
        (0, 400, OpType::Info)
    );
}

#[test]
fn counters_and_bounded_error_kinds() {
    let stats = LiveStats::new(Instant::now());
    stats.count_client_op(OpType::Invoke, None);
    stats.count_client_op(OpType::Ok, None);
    stats.count_client_op(OpType::Fail, Some("not-leader"));
    stats.count_client_op(OpType::Fail, Some("not-leader"));
    for kind in 0..MAX_ERROR_KINDS + 5 {
        stats.count_client_op(OpType::Info, Some(&format!("e{kind}")));
    }
    stats.count_nemesis_event();
    let snapshot = stats.snapshot();
    assert_eq!((snapshot.invokes, snapshot.oks, snapshot.fails), (1, 1, 2));
    assert_eq!(snapshot.infos as usize, MAX_ERROR_KINDS + 5);
    assert_eq!(snapshot.nemesis_events, 1);
    assert_eq!(snapshot.errors_by_kind["not-leader"], 2);
    assert_eq!(
        snapshot.errors_by_kind.len(),
        MAX_ERROR_KINDS + 1,
        "capped, plus 'other'"
    );
    assert_eq!(snapshot.errors_by_kind[OTHER_ERRORS], 6);
    // Completions in the bucket in progress are not yet in the last full second.
    assert!(snapshot.completions_last_second <= 2 + MAX_ERROR_KINDS as u64 + 5);
}

/// The one percentile definition: nearest rank, always a value that occurred.
#[test]
fn percentiles_are_nearest_rank() {
    use workloads::stats::{LatencySummary, percentile};
    let hundred: Vec<u64> = (1..=100).collect();
    assert_eq!(percentile(&hundred, 50), Some(50));
    assert_eq!(percentile(&hundred, 99), Some(99));
    assert_eq!(percentile(&hundred, 100), Some(100));
    assert_eq!(percentile(&hundred, 1), Some(1));
    assert_eq!(percentile(&[1, 2], 50), Some(1), "no interpolation");
    assert_eq!(percentile(&[7], 99), Some(7));
    let ten: Vec<u64> = (1..=10).collect();
    assert_eq!(percentile(&ten, 99), Some(10), "rank ceil(0.99 * 10) = 10");
    assert_eq!(percentile(&ten, 91), Some(10));
    assert_eq!(percentile(&ten, 90), Some(9));
    assert_eq!(percentile::<u64>(&[], 50), None);

    // Only ok ops count: a slow timeout (info) and a failure leave the summary alone.
    let history = vec![
        op(0, 0, Process::Client(0), OpType::Invoke),
        op(1, 10, Process::Client(0), OpType::Ok),
        op(2, 10, Process::Client(1), OpType::Invoke),
        op(3, 5_000, Process::Client(1), OpType::Info),
        op(4, 20, Process::Client(0), OpType::Invoke),
        op(5, 50, Process::Client(0), OpType::Ok),
        op(6, 60, Process::Client(2), OpType::Invoke),
        op(7, 900, Process::Client(2), OpType::Fail),
    ];
    assert_eq!(
        LatencySummary::of_ok_ops(history),
        Some(LatencySummary {
            p50_ns: 10,
            p99_ns: 30,
            max_ns: 30
        })
    );
}
