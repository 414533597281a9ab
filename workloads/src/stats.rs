//! Live counters for the progress display, and latency records derived from a history.
//!
//! One source of truth: the history. [`LiveStats`] is only a set of counters the recorder
//! bumps as it records (readable from any task without locks on the hot path: atomics, plus
//! one small mutex for errors by kind); everything a report needs per operation (latency,
//! throughput over time) is derived afterwards from `history.jsonl` by [`latency_records`].
//!
//! "Ops/s over the last second" counts completions in ten 100 ms buckets, excluding the
//! bucket in progress, so it lags by at most 100 ms and never counts a partial bucket.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::time::Instant;

use checker::history::OpType;
/// The latency records and the one percentile live in the checker (the latency check uses
/// them); re-exported here for the driver, the report and the benchmarks.
pub use checker::latency::{LatencyRecord, LatencySummary, latency_records, percentile};

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
