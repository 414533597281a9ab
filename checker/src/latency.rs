//! Latency of a history's ops: invokes paired with completions ([`latency_records`]), the
//! project's one percentile function ([`percentile`], nearest rank) and the p50/p99/max
//! summary of `ok` ops ([`LatencySummary`]). The `latency` check
//! ([`crate::check::latency`]), the run's stats, the report and the benchmarks all use them.

use std::collections::HashMap;

use crate::history::{Op, OpType, Process};

/// One completed client operation, for latency and throughput plots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LatencyRecord {
    /// When it was invoked, ns since the run began.
    pub invoke_time_ns: u64,
    pub latency_ns: u64,
    /// How it ended: `Ok`, `Fail` or `Info`.
    pub kind: OpType,
    pub f: String,
    pub process: u64,
}

/// Pairs every client completion with its invoke (by process) and yields its latency.
///
/// Streams: memory is bounded by the number of operations in flight at once. Invokes never
/// completed (the run ended first) yield nothing; nemesis events are skipped.
pub fn latency_records<I: IntoIterator<Item = Op>>(history: I) -> Vec<LatencyRecord> {
    let mut open_invokes: HashMap<u64, u64> = HashMap::new();
    let mut records = Vec::new();
    for op in history {
        let Process::Client(process) = op.process else {
            continue;
        };
        if op.kind == OpType::Invoke {
            open_invokes.insert(process, op.time_ns);
        } else if let Some(invoke_time_ns) = open_invokes.remove(&process) {
            records.push(LatencyRecord {
                invoke_time_ns,
                latency_ns: op.time_ns.saturating_sub(invoke_time_ns),
                kind: op.kind,
                f: op.f,
                process,
            });
        }
    }
    records
}

/// The project's one percentile: nearest rank. Of `sorted` (ascending, n values), the
/// `percent`-th percentile is the value of 1-based rank `ceil(percent / 100 * n)` (at
/// least 1): p50 of `[1, 2]` is 1, p99 of 100 values is the 99th, p100 the maximum. Always
/// a value that occurred, never an interpolation. `None` when `sorted` is empty.
///
/// Every latency percentile faultline reports goes through this function over the
/// latencies of `ok` ops only (a `fail` or `info` op's time says nothing about how fast
/// the system answers): `results.json` and the run summary ([`LatencySummary`] of the
/// run), the report's table per function, and `faultline bench raft`.
pub fn percentile<T: Copy>(sorted: &[T], percent: u32) -> Option<T> {
    assert!(
        (1..=100).contains(&percent),
        "percentile {percent} outside 1..=100"
    );
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    let rank = (n * percent as usize).div_ceil(100).clamp(1, n);
    Some(sorted[rank - 1])
}

/// p50, p99 and maximum of a set of latencies (nanoseconds), by [`percentile`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LatencySummary {
    pub p50_ns: u64,
    pub p99_ns: u64,
    pub max_ns: u64,
}

impl LatencySummary {
    /// The summary of `latencies_ns` (any order); `None` when there are none. Callers pass
    /// the latencies of `ok` ops (see [`percentile`]).
    pub fn of(mut latencies_ns: Vec<u64>) -> Option<LatencySummary> {
        latencies_ns.sort_unstable();
        Some(LatencySummary {
            p50_ns: percentile(&latencies_ns, 50)?,
            p99_ns: percentile(&latencies_ns, 99)?,
            max_ns: percentile(&latencies_ns, 100)?,
        })
    }

    /// The summary of a history's `ok` client ops (paired by [`latency_records`]).
    pub fn of_ok_ops<I: IntoIterator<Item = Op>>(history: I) -> Option<LatencySummary> {
        LatencySummary::of(
            latency_records(history)
                .into_iter()
                .filter(|r| r.kind == OpType::Ok)
                .map(|r| r.latency_ns)
                .collect(),
        )
    }
}
