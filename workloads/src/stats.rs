//! Live counters for the progress display, and latency records derived from a history.
//!
//! One source of truth: the history. [`LiveStats`] is only a set of counters the recorder
//! bumps as it records (readable from any task without locks on the hot path: atomics, plus
//! one small mutex for errors by kind); everything a report needs per operation (latency,
//! throughput over time) is derived afterwards from `history.jsonl` by [`latency_records`].
//!
//! "Ops/s over the last second" counts completions in ten 100 ms buckets, excluding the
//! bucket in progress, so it lags by at most 100 ms and never counts a partial bucket.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::time::Instant;

use checker::history::{Op, OpType, Process};

/// Width of one throughput bucket.
const BUCKET_MS: u64 = 100;
/// Buckets in the last-second window.
const WINDOW_BUCKETS: u64 = 1000 / BUCKET_MS;
/// Ring size: the window plus slack so a bucket being reset is never one being read.
const RING_BUCKETS: usize = 2 * WINDOW_BUCKETS as usize;
/// Distinct error kinds tracked by name; more are counted under [`OTHER_ERRORS`].
pub const MAX_ERROR_KINDS: usize = 64;
/// The error-kind name that collects kinds beyond [`MAX_ERROR_KINDS`].
pub const OTHER_ERRORS: &str = "other";

#[derive(Debug, Default)]
struct Bucket {
    /// Which 100 ms epoch (since start) this bucket currently counts.
    epoch: AtomicU64,
    count: AtomicU64,
}

/// Counters a recorder updates as it records; cheap to read from another task.
#[derive(Debug)]
pub struct LiveStats {
    start: Instant,
    invokes: AtomicU64,
    oks: AtomicU64,
    fails: AtomicU64,
    infos: AtomicU64,
    nemesis_events: AtomicU64,
    buckets: [Bucket; RING_BUCKETS],
    errors_by_kind: Mutex<BTreeMap<String, u64>>,
}

/// A consistent-enough copy of the counters (each read atomically, not all together).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StatsSnapshot {
    pub elapsed_ms: u64,
    pub invokes: u64,
    pub oks: u64,
    pub fails: u64,
    pub infos: u64,
    pub nemesis_events: u64,
    /// Completions (ok + fail + info) during the last full second.
    pub completions_last_second: u64,
    /// `fail` and `info` completions by their `error`.
    pub errors_by_kind: BTreeMap<String, u64>,
}

impl LiveStats {
    /// Counters for a run that starts at `start` (the recorder's time origin).
    pub fn new(start: Instant) -> Self {
        LiveStats {
            start,
            invokes: AtomicU64::new(0),
            oks: AtomicU64::new(0),
            fails: AtomicU64::new(0),
            infos: AtomicU64::new(0),
            nemesis_events: AtomicU64::new(0),
            buckets: Default::default(),
            errors_by_kind: Mutex::new(BTreeMap::new()),
        }
    }

    /// Counts one recorded client op (invoke or completion).
    pub fn count_client_op(&self, kind: OpType, error: Option<&str>) {
        let counter = match kind {
            OpType::Invoke => &self.invokes,
            OpType::Ok => &self.oks,
            OpType::Fail => &self.fails,
            OpType::Info => &self.infos,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        if kind != OpType::Invoke {
            self.count_completion_in_window();
        }
        if let Some(error) = error {
            self.count_error(error);
        }
    }

    /// Counts one nemesis event.
    pub fn count_nemesis_event(&self) {
        self.nemesis_events.fetch_add(1, Ordering::Relaxed);
    }

    fn current_epoch(&self) -> u64 {
        self.start.elapsed().as_millis() as u64 / BUCKET_MS
    }

    fn count_completion_in_window(&self) {
        let epoch = self.current_epoch();
        let bucket = &self.buckets[(epoch % RING_BUCKETS as u64) as usize];
        let seen = bucket.epoch.load(Ordering::Acquire);
        // The first completer of a new epoch resets the bucket; a racing increment may be
        // lost or land in the old epoch: an approximate display counter accepts that.
        if seen != epoch
            && bucket
                .epoch
                .compare_exchange(seen, epoch, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            bucket.count.store(0, Ordering::Release);
        }
        bucket.count.fetch_add(1, Ordering::Relaxed);
    }

    fn completions_last_second(&self) -> u64 {
        let now = self.current_epoch();
        (1..=WINDOW_BUCKETS)
            .filter_map(|back| now.checked_sub(back))
            .map(|epoch| {
                let bucket = &self.buckets[(epoch % RING_BUCKETS as u64) as usize];
                // A bucket still holding an older epoch saw no completion in this one.
                if bucket.epoch.load(Ordering::Acquire) == epoch {
                    bucket.count.load(Ordering::Relaxed)
                } else {
                    0
                }
            })
            .sum()
    }

    fn count_error(&self, error: &str) {
        let mut by_kind = self
            .errors_by_kind
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(count) = by_kind.get_mut(error) {
            *count += 1;
        } else if by_kind.len() < MAX_ERROR_KINDS {
            by_kind.insert(error.to_string(), 1);
        } else {
            *by_kind.entry(OTHER_ERRORS.to_string()).or_insert(0) += 1;
        }
    }

    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            elapsed_ms: self.start.elapsed().as_millis() as u64,
            invokes: self.invokes.load(Ordering::Relaxed),
            oks: self.oks.load(Ordering::Relaxed),
            fails: self.fails.load(Ordering::Relaxed),
            infos: self.infos.load(Ordering::Relaxed),
            nemesis_events: self.nemesis_events.load(Ordering::Relaxed),
            completions_last_second: self.completions_last_second(),
            errors_by_kind: self
                .errors_by_kind
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .clone(),
        }
    }
}

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
