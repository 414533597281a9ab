//! The driver: runs a generator's operations through a client on concurrent logical threads
//! and records every invoke and completion.
//!
//! [`run_workload`] starts `clients` tokio tasks ("logical threads", Jepsen's processes).
//! Each loops: wait for a slot from the shared [`RateLimiter`], take the next invocation from
//! the shared generator (one deterministic sequence), record the `invoke`, call the client,
//! record the completion (`ok` with the client's value, `fail`/`info` with the invocation's
//! value and the error). After an `info` the thread continues under a fresh process id
//! (`current + clients`, as Jepsen does): the old operation may still be in flight, and a
//! process must never have two operations open at once. The client is told which thread
//! sends each op (thread `i` of `0..clients`, whatever its current process id), so that it
//! can keep per-thread state such as the node the thread is bound to.
//!
//! Nothing waits forever: every client call is raced against a hard timeout of
//! `op_timeout + HARD_TIMEOUT_MARGIN` (the client is expected to time out first; if it does
//! not, the op ends `info` `"timeout"`). When `duration` is over, threads take no new ops and
//! their in-flight ops finish (bounded by the hard timeout). When the shutdown signal fires
//! (`true` on the watch channel, e.g. Ctrl-C), in-flight calls are abandoned at once and
//! recorded `info` `"interrupted"`: they may or may not take effect. A dropped shutdown
//! sender means "never asked to stop", not "stop".
//!
//! [`run_final_reads`] runs the final phase: one read per key, each on its own fresh process
//! (read `i` as logical thread `i`), retried a bounded number of times until it is `ok`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use checker::history::{OpType, Process};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::client::{Client, Invocation, Outcome};
use crate::generator::Generator;
use crate::rate::{RateError, RateLimiter};
use crate::recorder::{OpRecord, Recorder, RecorderError};

/// Added to `op_timeout` for the driver's own timeout around every client call.
pub const HARD_TIMEOUT_MARGIN: Duration = Duration::from_millis(250);
/// The error of an op whose client call outlived the hard timeout.
pub const TIMEOUT_ERROR: &str = "timeout";
/// The error of an op abandoned because the run was shut down.
pub const INTERRUPTED_ERROR: &str = "interrupted";
/// The most logical threads a workload may run.
pub const MAX_CLIENTS: usize = 10_000;

/// How to drive a workload.
#[derive(Debug, Clone, PartialEq)]
pub struct DriverOptions {
    /// Concurrent logical threads.
    pub clients: usize,
    /// Total operations per second over all threads; 0 means unlimited.
    pub rate_per_s: f64,
    /// How long to start new operations.
    pub duration: Duration,
    /// The client's own per-request timeout; the driver adds [`HARD_TIMEOUT_MARGIN`].
    pub op_timeout: Duration,
}

/// Why driving stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    #[error("a workload needs between 1 and {MAX_CLIENTS} clients, got {0}")]
    ClientCount(usize),
    #[error(transparent)]
    Rate(#[from] RateError),
    #[error("recording failed: {0}")]
    Recorder(#[from] RecorderError),
    #[error("a logical thread panicked: {0}")]
    ThreadPanicked(String),
}

/// What a workload phase did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WorkloadSummary {
    /// Operations invoked (each has exactly one completion in the history).
    pub ops_invoked: u64,
    /// A process id above every id used: where a following phase starts its processes.
    pub next_process: u64,
    /// Whether the shutdown signal ended the phase early.
    pub interrupted: bool,
}

/// Resolves when the shutdown signal says stop; never if its sender is gone.
async fn stop_requested(shutdown: &mut watch::Receiver<bool>) {
    if shutdown.wait_for(|stop| *stop).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Who sends an operation: the logical thread and its current process id.
#[derive(Debug, Clone, Copy)]
struct Sender {
    thread: usize,
    process: u64,
}

/// Records the invoke, calls the client under the hard timeout, records the completion.
async fn perform<C: Client>(
    client: &C,
    recorder: &Recorder,
    sender: Sender,
    invocation: &Invocation,
    hard_timeout: Duration,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<Outcome, RecorderError> {
    let process = sender.process;
    recorder
        .record(OpRecord {
            process: Process::Client(process),
            kind: OpType::Invoke,
            f: invocation.f.clone(),
            key: invocation.key.clone(),
            value: invocation.value.clone(),
            error: None,
        })
        .await?;
    let outcome = tokio::select! {
        result = tokio::time::timeout(hard_timeout, client.invoke(sender.thread, invocation)) => {
            result.unwrap_or_else(|_elapsed| Outcome::Info(TIMEOUT_ERROR.to_string()))
        }
        () = stop_requested(shutdown) => Outcome::Info(INTERRUPTED_ERROR.to_string()),
    };
    recorder
        .record(completion(process, invocation, &outcome))
        .await?;
    Ok(outcome)
}

fn completion(process: u64, invocation: &Invocation, outcome: &Outcome) -> OpRecord {
    let (kind, value, error) = match outcome {
        Outcome::Ok(value) => (OpType::Ok, value.clone(), None),
        Outcome::Fail(error) => (OpType::Fail, invocation.value.clone(), Some(error.clone())),
        Outcome::Info(error) => (OpType::Info, invocation.value.clone(), Some(error.clone())),
    };
    OpRecord {
        process: Process::Client(process),
        kind,
        f: invocation.f.clone(),
        key: invocation.key.clone(),
        value,
        error,
    }
}

/// What every logical thread of one [`run_workload`] shares.
struct ThreadContext<C, G> {
    client: Arc<C>,
    generator: Mutex<G>,
    recorder: Recorder,
    rate: RateLimiter,
    clients: u64,
    deadline: Instant,
    hard_timeout: Duration,
}

/// How one logical thread ended.
struct ThreadEnd {
    ops_invoked: u64,
    /// The process id the thread would use next (never used for an op still open).
    current_process: u64,
    interrupted: bool,
}

/// Logical thread `thread`: starts as process `thread`.
async fn logical_thread<C: Client, G: Generator>(
    context: Arc<ThreadContext<C, G>>,
    thread: usize,
    mut shutdown: watch::Receiver<bool>,
) -> Result<ThreadEnd, RecorderError> {
    let mut end = ThreadEnd {
        ops_invoked: 0,
        current_process: thread as u64,
        interrupted: false,
    };
    loop {
        if *shutdown.borrow() {
            end.interrupted = true;
            break;
        }
        tokio::select! {
            () = context.rate.acquire() => {}
            () = tokio::time::sleep_until(context.deadline) => break,
            () = stop_requested(&mut shutdown) => { end.interrupted = true; break }
        }
        if Instant::now() >= context.deadline {
            break;
        }
        let invocation = context
            .generator
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .next_invocation();
        end.ops_invoked += 1;
        let outcome = perform(
            context.client.as_ref(),
            &context.recorder,
            Sender {
                thread,
                process: end.current_process,
            },
            &invocation,
            context.hard_timeout,
            &mut shutdown,
        )
        .await?;
        if matches!(outcome, Outcome::Info(_)) {
            end.current_process += context.clients;
        }
    }
    Ok(end)
}

/// Drives `generator` through `client` with `options.clients` logical threads for
/// `options.duration` (or until `shutdown` turns `true`), recording into `recorder`.
///
/// Processes are numbered from 0: thread `i` starts as process `i`. Call
/// [`Generator::final_reads`] before handing the generator over if the final phase needs it.
pub async fn run_workload<C, G>(
    client: Arc<C>,
    generator: G,
    recorder: &Recorder,
    options: &DriverOptions,
    shutdown: watch::Receiver<bool>,
) -> Result<WorkloadSummary, DriverError>
where
    C: Client + 'static,
    G: Generator + 'static,
{
    if options.clients == 0 || options.clients > MAX_CLIENTS {
        return Err(DriverError::ClientCount(options.clients));
    }
    let context = Arc::new(ThreadContext {
        client,
        generator: Mutex::new(generator),
        recorder: recorder.clone(),
        rate: RateLimiter::new(options.rate_per_s)?,
        clients: options.clients as u64,
        deadline: Instant::now() + options.duration,
        hard_timeout: options.op_timeout + HARD_TIMEOUT_MARGIN,
    });
    let mut threads = JoinSet::new();
    for thread in 0..options.clients {
        threads.spawn(logical_thread(
            Arc::clone(&context),
            thread,
            shutdown.clone(),
        ));
    }
    let mut summary = WorkloadSummary::default();
    while let Some(joined) = threads.join_next().await {
        let end = match joined {
            Ok(Ok(end)) => end,
            Ok(Err(recorder_error)) => {
                threads.abort_all();
                return Err(recorder_error.into());
            }
            Err(join_error) => {
                threads.abort_all();
                return Err(DriverError::ThreadPanicked(join_error.to_string()));
            }
        };
        summary.ops_invoked += end.ops_invoked;
        summary.next_process = summary.next_process.max(end.current_process + 1);
        summary.interrupted |= end.interrupted;
    }
    Ok(summary)
}

/// How to run the final reads.
#[derive(Debug, Clone, PartialEq)]
pub struct FinalReadOptions {
    /// The client's own per-request timeout; the driver adds [`HARD_TIMEOUT_MARGIN`].
    pub op_timeout: Duration,
    /// Tries per read until one is `ok` (at least 1).
    pub attempts: u32,
    /// Pause between tries of one read (a new leader may need an election).
    pub retry_pause: Duration,
}

impl Default for FinalReadOptions {
    fn default() -> Self {
        FinalReadOptions {
            op_timeout: Duration::from_secs(1),
            attempts: 5,
            retry_pause: Duration::from_millis(200),
        }
    }
}

/// What the final phase saw.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FinalReadsSummary {
    /// Keys whose final read ended `ok`.
    pub ok_keys: Vec<String>,
    /// Keys with no `ok` read after every attempt (or when interrupted).
    pub failed_keys: Vec<String>,
    /// A process id above every id used.
    pub next_process: u64,
    pub interrupted: bool,
}

/// How one key's final read ended.
struct FinalReadEnd {
    key: String,
    ok: bool,
    last_process: u64,
    interrupted: bool,
}

async fn final_read(
    client: Arc<impl Client>,
    recorder: Recorder,
    invocation: Invocation,
    first: Sender,
    process_stride: u64,
    options: FinalReadOptions,
    mut shutdown: watch::Receiver<bool>,
) -> Result<FinalReadEnd, RecorderError> {
    let hard_timeout = options.op_timeout + HARD_TIMEOUT_MARGIN;
    let mut end = FinalReadEnd {
        key: invocation.key.clone().unwrap_or_default(),
        ok: false,
        last_process: first.process,
        interrupted: false,
    };
    for attempt in 0..options.attempts.max(1) {
        if attempt > 0 {
            tokio::select! {
                () = tokio::time::sleep(options.retry_pause) => {}
                () = stop_requested(&mut shutdown) => { end.interrupted = true; break }
            }
        }
        let outcome = perform(
            client.as_ref(),
            &recorder,
            Sender {
                process: end.last_process,
                ..first
            },
            &invocation,
            hard_timeout,
            &mut shutdown,
        )
        .await?;
        match outcome {
            Outcome::Ok(_) => {
                end.ok = true;
                break;
            }
            Outcome::Fail(_) => {}
            Outcome::Info(_) => end.last_process += process_stride,
        }
        if *shutdown.borrow() {
            end.interrupted = true;
            break;
        }
    }
    Ok(end)
}

/// Runs every read in `reads` concurrently, read `i` as logical thread `i` and process
/// `first_process + i` (taking `+ reads.len()` after an `info`), retrying each until `ok`
/// or out of attempts.
pub async fn run_final_reads<C: Client + 'static>(
    client: Arc<C>,
    reads: Vec<Invocation>,
    recorder: &Recorder,
    first_process: u64,
    options: &FinalReadOptions,
    shutdown: watch::Receiver<bool>,
) -> Result<FinalReadsSummary, DriverError> {
    let stride = reads.len() as u64;
    let mut tasks = JoinSet::new();
    for (offset, invocation) in reads.into_iter().enumerate() {
        tasks.spawn(final_read(
            Arc::clone(&client),
            recorder.clone(),
            invocation,
            Sender {
                thread: offset,
                process: first_process + offset as u64,
            },
            stride,
            options.clone(),
            shutdown.clone(),
        ));
    }
    let mut summary = FinalReadsSummary {
        next_process: first_process + stride,
        ..FinalReadsSummary::default()
    };
    while let Some(joined) = tasks.join_next().await {
        let end = match joined {
            Ok(Ok(end)) => end,
            Ok(Err(recorder_error)) => {
                tasks.abort_all();
                return Err(recorder_error.into());
            }
            Err(join_error) => {
                tasks.abort_all();
                return Err(DriverError::ThreadPanicked(join_error.to_string()));
            }
        };
        summary.next_process = summary.next_process.max(end.last_process + 1);
        summary.interrupted |= end.interrupted;
        if end.ok {
            summary.ok_keys.push(end.key);
        } else {
            summary.failed_keys.push(end.key);
        }
    }
    summary.ok_keys.sort();
    summary.failed_keys.sort();
    Ok(summary)
}
