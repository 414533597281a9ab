//! The recorder: appends every operation to `history.jsonl` as it happens.
//!
//! Ordering: [`Recorder::record`] takes the timestamp, assigns the next `index` and queues the
//! op while holding one lock, so indices are strictly increasing, times never decrease
//! (monotonic clock, ns since the recorder was opened) and the file's line order is the
//! real-time order of the events. The lock is a short synchronous one: room in the queue is
//! reserved before it is taken, so no one waits on the disk while holding it. The clock is
//! tokio's `Instant` (the OS monotonic clock, except under tokio's paused test clock, where
//! histories then carry virtual time).
//!
//! Durability: a dedicated OS thread owns the file. It takes whatever is queued (up to
//! [`MAX_BATCH_OPS`]), writes it through a `BufWriter`, and flushes to the kernel before it
//! takes the next batch. A crash of the controller therefore loses at most the ops still in
//! the queue; what reached the kernel survives a process crash (fsync happens once, at
//! [`Recorder::close`]: per-batch fsync would cap throughput for protection against power
//! loss only). The queue is bounded ([`QUEUE_CAPACITY`]): if the disk falls behind,
//! recording waits for room (and the op is stamped when it gets it), so memory stays bounded.
//!
//! Memory: the recorder keeps no ops. After the run, re-read the file with
//! [`read_history`] (the file is the one source of truth for checkers and reports).

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex as StdMutex, MutexGuard};
use std::thread::JoinHandle;
use tokio::time::Instant;

use checker::history::{Op, OpType, Process};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use crate::stats::LiveStats;

/// Ops queued between recording and the writer thread.
pub const QUEUE_CAPACITY: usize = 16_384;
/// The most ops the writer takes in one batch before it flushes.
pub const MAX_BATCH_OPS: usize = 1_024;
/// The writer's buffer size.
const WRITE_BUFFER_BYTES: usize = 256 * 1024;

/// Why recording failed.
#[derive(Debug, thiserror::Error)]
pub enum RecorderError {
    #[error("cannot create history file {path}: {source}")]
    Create {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot start the history writer thread: {0}")]
    Spawn(std::io::Error),
    #[error("writing history file {path} failed: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot serialise op {index}: {source}")]
    Serialise {
        index: u64,
        source: serde_json::Error,
    },
    #[error("the recorder is closed (or its writer stopped after an error; close() tells which)")]
    Closed,
    #[error("the history writer thread panicked")]
    WriterPanicked,
}

/// Totals of a closed recorder: what `history.jsonl` holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RecorderSummary {
    pub ops_written: u64,
    pub invokes: u64,
    pub oks: u64,
    pub fails: u64,
    pub infos: u64,
    pub nemesis_events: u64,
}

impl RecorderSummary {
    fn count(&mut self, op: &Op) {
        self.ops_written += 1;
        match (op.process, op.kind) {
            (Process::Nemesis, _) => self.nemesis_events += 1,
            (_, OpType::Invoke) => self.invokes += 1,
            (_, OpType::Ok) => self.oks += 1,
            (_, OpType::Fail) => self.fails += 1,
            (_, OpType::Info) => self.infos += 1,
        }
    }
}

/// What one call to [`Recorder::record`] appends, before it gets its index and time.
#[derive(Debug, Clone, PartialEq)]
pub struct OpRecord {
    pub process: Process,
    pub kind: OpType,
    pub f: String,
    pub key: Option<String>,
    pub value: Value,
    pub error: Option<String>,
}

struct Sequencer {
    next_index: u64,
    /// `None` once closed.
    queue: Option<mpsc::Sender<Op>>,
}

struct RecorderShared {
    start: Instant,
    path: PathBuf,
    sequencer: StdMutex<Sequencer>,
    stats: Arc<LiveStats>,
    /// Ops handed to the kernel so far (written and flushed).
    flushed_ops: Arc<AtomicU64>,
    writer: StdMutex<Option<JoinHandle<Result<RecorderSummary, RecorderError>>>>,
}

/// A handle on one history file; cheap to clone and share between tasks.
#[derive(Clone)]
pub struct Recorder {
    shared: Arc<RecorderShared>,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("path", &self.shared.path)
            .finish_non_exhaustive()
    }
}

impl Recorder {
    /// Creates (truncating) `path` and starts the writer thread. Time 0 is now.
    /// Must be called inside a tokio runtime only if ops are then recorded from it (the
    /// recording methods are async); opening itself does not need one.
    pub fn create(path: impl AsRef<Path>) -> Result<Self, RecorderError> {
        let path = path.as_ref().to_path_buf();
        let file = File::create(&path).map_err(|source| RecorderError::Create {
            path: path.clone(),
            source,
        })?;
        let (queue, receiver) = mpsc::channel(QUEUE_CAPACITY);
        let flushed_ops = Arc::new(AtomicU64::new(0));
        let writer_output = WriterOutput {
            path: path.clone(),
            flushed_ops: Arc::clone(&flushed_ops),
        };
        let writer = std::thread::Builder::new()
            .name("history-writer".into())
            .spawn(move || write_loop(receiver, file, writer_output))
            .map_err(RecorderError::Spawn)?;
        let start = Instant::now();
        Ok(Recorder {
            shared: Arc::new(RecorderShared {
                start,
                path,
                sequencer: StdMutex::new(Sequencer {
                    next_index: 0,
                    queue: Some(queue),
                }),
                stats: Arc::new(LiveStats::new(start)),
                flushed_ops,
                writer: StdMutex::new(Some(writer)),
            }),
        })
    }

    /// The history file's path.
    pub fn path(&self) -> &Path {
        &self.shared.path
    }

    /// The run's time origin: `time` 0 of the history.
    pub fn start(&self) -> Instant {
        self.shared.start
    }

    /// The live counters, updated as ops are recorded.
    pub fn stats(&self) -> Arc<LiveStats> {
        Arc::clone(&self.shared.stats)
    }

    /// How many ops have been written and flushed to the kernel: these survive a crash of
    /// this process.
    pub fn flushed_ops(&self) -> u64 {
        self.shared.flushed_ops.load(Ordering::Acquire)
    }

    /// Appends one op, stamping its `index` and `time`; returns the index it got.
    ///
    /// Waits only for room in the queue (backpressure from the writer), never while holding
    /// the ordering lock: a slot is reserved first, then the op is stamped and queued under
    /// a short synchronous lock.
    pub async fn record(&self, record: OpRecord) -> Result<u64, RecorderError> {
        let queue = self
            .lock_sequencer()
            .queue
            .clone()
            .ok_or(RecorderError::Closed)?;
        let slot = queue.reserve().await.map_err(|_| RecorderError::Closed)?;
        let (process, kind) = (record.process, record.kind);
        // Only fail/info carry an error: this clone is off the common (ok) path.
        let error_for_stats = record.error.clone();
        let index = {
            let mut sequencer = self.lock_sequencer();
            if sequencer.queue.is_none() {
                return Err(RecorderError::Closed);
            }
            let index = sequencer.next_index;
            sequencer.next_index += 1;
            // Stamped and queued under one lock: queue order = index order = time order.
            slot.send(Op {
                index,
                time_ns: self.shared.start.elapsed().as_nanos() as u64,
                process,
                kind,
                f: record.f,
                key: record.key,
                value: record.value,
                error: record.error,
            });
            index
        };
        self.count(process, kind, error_for_stats.as_deref());
        Ok(index)
    }

    fn lock_sequencer(&self) -> MutexGuard<'_, Sequencer> {
        self.shared
            .sequencer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn count(&self, process: Process, kind: OpType, error: Option<&str>) {
        match process {
            Process::Nemesis => self.shared.stats.count_nemesis_event(),
            Process::Client(_) => self.shared.stats.count_client_op(kind, error),
        }
    }

    /// Records a fault event: process `"nemesis"`, type `info` (e.g. `start-partition`
    /// with the groups as value, then `stop-partition`).
    pub async fn record_nemesis(&self, f: &str, value: Value) -> Result<u64, RecorderError> {
        self.record(OpRecord {
            process: Process::Nemesis,
            kind: OpType::Info,
            f: f.to_string(),
            key: None,
            value,
            error: None,
        })
        .await
    }

    /// Stops accepting ops, waits until every queued op is written, fsyncs the file and
    /// returns the totals. Later calls (and calls on clones) return [`RecorderError::Closed`].
    pub async fn close(&self) -> Result<RecorderSummary, RecorderError> {
        self.lock_sequencer().queue = None;
        let writer = self
            .shared
            .writer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take()
            .ok_or(RecorderError::Closed)?;
        // The join blocks until the writer drained the queue; keep it off the runtime.
        let (done_tx, done_rx) = oneshot::channel();
        std::thread::Builder::new()
            .name("history-close".into())
            .spawn(move || {
                let joined = writer.join();
                let _receiver_gone_is_fine = done_tx.send(joined);
            })
            .map_err(RecorderError::Spawn)?;
        match done_rx.await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) | Err(_) => Err(RecorderError::WriterPanicked),
        }
    }
}

/// Where the writer thread writes and reports progress.
struct WriterOutput {
    path: PathBuf,
    flushed_ops: Arc<AtomicU64>,
}

/// The writer thread: batch, write, flush, repeat until every sender is gone.
fn write_loop(
    mut receiver: mpsc::Receiver<Op>,
    file: File,
    output: WriterOutput,
) -> Result<RecorderSummary, RecorderError> {
    let write_error = |source| RecorderError::Write {
        path: output.path.clone(),
        source,
    };
    let mut out = BufWriter::with_capacity(WRITE_BUFFER_BYTES, file);
    let mut summary = RecorderSummary::default();
    let mut batch = Vec::with_capacity(MAX_BATCH_OPS);
    while let Some(first) = receiver.blocking_recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH_OPS {
            match receiver.try_recv() {
                Ok(op) => batch.push(op),
                Err(_) => break,
            }
        }
        for op in batch.drain(..) {
            serde_json::to_writer(&mut out, &op).map_err(|source| RecorderError::Serialise {
                index: op.index,
                source,
            })?;
            out.write_all(b"\n").map_err(write_error)?;
            summary.count(&op);
        }
        out.flush().map_err(write_error)?;
        output
            .flushed_ops
            .store(summary.ops_written, Ordering::Release);
    }
    let file = out.into_inner().map_err(|e| write_error(e.into_error()))?;
    file.sync_all().map_err(write_error)?;
    Ok(summary)
}

/// Why a history file could not be read back.
#[derive(Debug, thiserror::Error)]
pub enum ReadHistoryError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}: not a history op: {source}")]
    Parse {
        path: PathBuf,
        line: usize,
        source: serde_json::Error,
    },
}

/// Reads a `history.jsonl` written by a recorder, line by line, skipping blank lines.
///
/// A final line cut short by a crash mid-write is an error naming that line: the caller
/// decides whether to keep the prefix (use [`read_history_prefix`] for that).
pub fn read_history(path: impl AsRef<Path>) -> Result<Vec<Op>, ReadHistoryError> {
    let (ops, torn) = read_history_prefix(path.as_ref())?;
    match torn {
        Some(error) => Err(error),
        None => Ok(ops),
    }
}

/// Reads every complete op, and returns the parse error of the first bad line (if any)
/// instead of failing: after a crash, the ops before it are still a valid history.
pub fn read_history_prefix(
    path: impl AsRef<Path>,
) -> Result<(Vec<Op>, Option<ReadHistoryError>), ReadHistoryError> {
    let path = path.as_ref();
    let io_error = |source| ReadHistoryError::Io {
        path: path.to_path_buf(),
        source,
    };
    let reader = BufReader::new(File::open(path).map_err(io_error)?);
    let mut ops = Vec::new();
    for (line_index, line) in reader.lines().enumerate() {
        let line = line.map_err(io_error)?;
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Op>(&line) {
            Ok(op) => ops.push(op),
            Err(source) => {
                let error = ReadHistoryError::Parse {
                    path: path.to_path_buf(),
                    line: line_index + 1,
                    source,
                };
                return Ok((ops, Some(error)));
            }
        }
    }
    Ok((ops, None))
}
