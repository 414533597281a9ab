//! The stdio client: a user's adapter program, one process per client worker, spoken to in
//! JSON lines (the protocol, with a complete example exchange: `docs/adapter-protocol.md`).
//!
//! For each operation the worker writes one request line to its adapter's stdin and reads
//! one reply line from its stdout:
//!
//! ```text
//! -> {"f":"write","key":"k3","value":4,"node":"n2","timeout_ms":1000}
//! <- {"type":"ok"}
//! ```
//!
//! The request is the operation as the history has it ([`Invocation`]: `f`, `key` when the
//! op has one, `value` whatever JSON the workload made of it, e.g. a `txn`'s list of
//! micro-ops), plus the node the worker is bound to and the timeout. What the reply means
//! is [`classify_adapter`]'s table (the one classification, `client/classify.rs`).
//!
//! # Processes
//!
//! The client never forks: an [`AdapterSpawner`] does (the controller's is the one process
//! spawner, `chaos/src/supervisor.rs`: own process group, `PR_SET_PDEATHSIG`, stderr
//! appended to `adapters/<worker>.log`). A worker's adapter is started on its first
//! operation and lives until it misbehaves: after a timeout, an exit, a line that is not a
//! reply, or a failed write to its stdin, it is killed (its whole process group) and reaped,
//! and a fresh one is started at once for the worker's next operation, as a Jepsen client
//! is reopened. Its old process cannot answer a later request by mistake (an exchange the
//! driver abandoned half-way also retires its adapter). [`StdioClient::start_workers`]
//! starts the workload's adapters before the first op, so that an interpreter's start-up
//! does not count against an op's timeout.
//!
//! [`StdioClient::shutdown`] kills every adapter and waits for the kills in flight, so that
//! none is left when a run ends; dropping the client kills what is left as well.
//!
//! # What the report learns
//!
//! Every misbehaviour is counted per worker ([`AdapterReport`]: timeouts, exits, garbage
//! lines with the first one kept, failed starts, restarts), for `results.json` and the
//! report: a run whose adapter misbehaved says so, even when the verdict is valid.

use std::collections::BTreeMap;
use std::io;
use std::process::Child;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{ChildStdin, ChildStdout};
use tokio::task::JoinHandle;

use super::classify::{AdapterAnswer, AdapterReplyType, classify_adapter};
use super::{Client, Invocation, Outcome};

/// A reply line longer than this is garbage (and the adapter is restarted).
pub const MAX_REPLY_BYTES: usize = 1 << 20;
/// How much of a garbage line goes into the history's `error` and the report.
pub const GARBAGE_EXCERPT_CHARS: usize = 200;
/// Most workers (adapter processes) one client keeps: the workload's clients plus the
/// final reads' threads stay far below it.
pub const MAX_WORKERS: usize = 100_000;

/// Starts and stops adapter processes (the controller's: `chaos/src/supervisor.rs`).
pub trait AdapterSpawner: Send + Sync + 'static {
    /// Starts worker `worker`'s adapter with stdin and stdout piped (stderr to its log),
    /// in a process group of its own.
    fn spawn(&self, worker: usize) -> io::Result<Child>;
    /// Kills `child`'s whole process group and reaps it (blocking, bounded).
    fn kill(&self, child: &mut Child) -> io::Result<()>;
}

/// Configuration of a [`StdioClient`].
#[derive(Debug, Clone)]
pub struct StdioClientConfig {
    /// The timeout of one exchange; no reply by then is `info` `timeout`.
    pub timeout_ms: u64,
    /// The node each worker is bound to: worker `i` to `nodes[i % len]` (sent as `node`).
    pub nodes: Vec<String>,
}

/// What one worker's adapter did wrong, for the report.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AdapterReport {
    pub worker: usize,
    /// Exchanges with no reply within the timeout.
    pub timeouts: u64,
    /// Adapters that exited (or closed their pipes) before replying.
    pub exits: u64,
    /// Reply lines that were not replies.
    pub garbage: u64,
    /// The first such line (at most [`GARBAGE_EXCERPT_CHARS`] characters).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_garbage: Option<String>,
    /// Adapters that could not be started (the text of the first error).
    pub start_failures: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_start_error: Option<String>,
    /// Adapter processes started in all (1 for a worker that never misbehaved).
    pub starts: u64,
}

impl AdapterReport {
    /// Whether this worker's adapter ever misbehaved.
    pub fn misbehaved(&self) -> bool {
        self.timeouts + self.exits + self.garbage + self.start_failures > 0
    }
}

/// One running adapter.
struct Adapter {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    /// A request was written and its reply not read yet: set while an exchange runs, so
    /// that an exchange abandoned half-way (the driver's hard timeout, a shutdown) is
    /// noticed and its adapter, which may still answer it, is replaced.
    busy: bool,
}

/// One worker's slot: its adapter, if one runs.
type Slot = Arc<tokio::sync::Mutex<Option<Adapter>>>;

/// The stdio client; see the module docs.
pub struct StdioClient<S: AdapterSpawner> {
    spawner: Arc<S>,
    config: StdioClientConfig,
    slots: Mutex<BTreeMap<usize, Slot>>,
    reports: Mutex<BTreeMap<usize, AdapterReport>>,
    /// Kills of misbehaving adapters still in progress.
    kills: Mutex<Vec<JoinHandle<()>>>,
}

/// What happened in one exchange, before classification.
enum Exchange {
    Answer(AdapterAnswer),
    /// The adapter must be replaced: it answered this, and is killed.
    Replace(AdapterAnswer),
}

impl<S: AdapterSpawner> StdioClient<S> {
    /// A client whose adapters `spawner` starts. Nothing starts before the first op.
    pub fn new(spawner: Arc<S>, config: StdioClientConfig) -> Self {
        assert!(!config.nodes.is_empty(), "a stdio client needs a node");
        Self {
            spawner,
            config,
            slots: Mutex::new(BTreeMap::new()),
            reports: Mutex::new(BTreeMap::new()),
            kills: Mutex::new(Vec::new()),
        }
    }

    /// The node worker `worker` is bound to.
    pub fn node_of(&self, worker: usize) -> &str {
        &self.config.nodes[worker % self.config.nodes.len()]
    }

    /// Every worker's counts, in worker order.
    pub fn reports(&self) -> Vec<AdapterReport> {
        lock(&self.reports).values().cloned().collect()
    }

    /// The workers whose adapter misbehaved.
    pub fn misbehaviour(&self) -> Vec<AdapterReport> {
        self.reports()
            .into_iter()
            .filter(AdapterReport::misbehaved)
            .collect()
    }

    /// Kills every adapter and waits until each is reaped (also those killed earlier).
    pub async fn shutdown(&self) {
        let slots: Vec<Slot> = lock(&self.slots).values().cloned().collect();
        for slot in slots {
            if let Some(adapter) = slot.lock().await.take() {
                self.kill_in_background(adapter);
            }
        }
        let kills: Vec<JoinHandle<()>> = lock(&self.kills).drain(..).collect();
        for kill in kills {
            kill.await.ok();
        }
    }

    fn slot(&self, worker: usize) -> Slot {
        let mut slots = lock(&self.slots);
        assert!(
            slots.len() < MAX_WORKERS || slots.contains_key(&worker),
            "more than {MAX_WORKERS} adapter workers"
        );
        slots.entry(worker).or_default().clone()
    }

    fn count(&self, worker: usize, update: impl FnOnce(&mut AdapterReport)) {
        let mut reports = lock(&self.reports);
        let report = reports.entry(worker).or_insert_with(|| AdapterReport {
            worker,
            ..AdapterReport::default()
        });
        update(report);
    }

    fn kill_in_background(&self, mut adapter: Adapter) {
        let spawner = self.spawner.clone();
        let kill = tokio::task::spawn_blocking(move || {
            if let Err(error) = spawner.kill(&mut adapter.child) {
                // Nothing else can be done here: the report of the run carries the rest.
                eprintln!(
                    "faultline: could not kill adapter pid {}: {error}",
                    adapter.child.id()
                );
            }
        });
        let mut kills = lock(&self.kills);
        kills.retain(|kill| !kill.is_finished());
        kills.push(kill);
    }

    fn start(&self, worker: usize) -> io::Result<Adapter> {
        let mut child = self.spawner.spawn(worker)?;
        let pipes = (|| {
            let stdin = child.stdin.take().ok_or_else(|| missing("stdin"))?;
            let stdout = child.stdout.take().ok_or_else(|| missing("stdout"))?;
            Ok::<_, io::Error>((ChildStdin::from_std(stdin)?, ChildStdout::from_std(stdout)?))
        })();
        match pipes {
            Ok((stdin, stdout)) => Ok(Adapter {
                child,
                stdin,
                stdout: BufReader::new(stdout),
                busy: false,
            }),
            Err(error) => {
                self.spawner.kill(&mut child).ok();
                Err(error)
            }
        }
    }

    async fn exchange(&self, worker: usize, adapter: &mut Adapter, request: &[u8]) -> Exchange {
        let timeout = Duration::from_millis(self.config.timeout_ms);
        let talk = async {
            if adapter.stdin.write_all(request).await.is_err()
                || adapter.stdin.flush().await.is_err()
            {
                return Exchange::Replace(AdapterAnswer::Exited);
            }
            match read_reply_line(&mut adapter.stdout).await {
                Ok(Some(line)) => match parse_reply(&line) {
                    answer @ AdapterAnswer::Reply { .. } => Exchange::Answer(answer),
                    other => Exchange::Replace(other),
                },
                Ok(None) | Err(_) => Exchange::Replace(AdapterAnswer::Exited),
            }
        };
        let exchange = tokio::time::timeout(timeout, talk)
            .await
            .unwrap_or(Exchange::Replace(AdapterAnswer::TimedOut));
        if let Exchange::Replace(answer) = &exchange {
            self.count(worker, |report| match answer {
                AdapterAnswer::TimedOut => report.timeouts += 1,
                AdapterAnswer::Garbage(line) => {
                    report.garbage += 1;
                    report.first_garbage.get_or_insert_with(|| line.clone());
                }
                _ => report.exits += 1,
            });
        }
        exchange
    }
}

fn missing(pipe: &str) -> io::Error {
    io::Error::other(format!("the adapter's {pipe} is not piped"))
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The request line of `inv` for an adapter bound to `node` (ends with `\n`).
pub fn request_line(inv: &Invocation, node: &str, timeout_ms: u64) -> Vec<u8> {
    let mut request = serde_json::Map::new();
    request.insert("f".into(), Value::String(inv.f.clone()));
    if let Some(key) = &inv.key {
        request.insert("key".into(), Value::String(key.clone()));
    }
    request.insert("value".into(), inv.value.clone());
    request.insert("node".into(), Value::String(node.to_string()));
    request.insert("timeout_ms".into(), Value::from(timeout_ms));
    let mut line = serde_json::to_vec(&Value::Object(request)).expect("JSON serialises");
    line.push(b'\n');
    line
}

/// One line from the adapter: `None` at the end of its output. A line longer than
/// [`MAX_REPLY_BYTES`] comes back cut there (and is then garbage).
async fn read_reply_line(stdout: &mut BufReader<ChildStdout>) -> io::Result<Option<String>> {
    let mut line = Vec::new();
    loop {
        let buffer = stdout.fill_buf().await?;
        if buffer.is_empty() {
            return Ok((!line.is_empty()).then(|| String::from_utf8_lossy(&line).into_owned()));
        }
        let (take, done) = match buffer.iter().position(|b| *b == b'\n') {
            Some(end) => (end + 1, true),
            None => (buffer.len(), false),
        };
        let room = MAX_REPLY_BYTES.saturating_sub(line.len());
        line.extend_from_slice(&buffer[..take.min(room)]);
        stdout.consume(take);
        if done || line.len() >= MAX_REPLY_BYTES {
            let text = String::from_utf8_lossy(&line);
            return Ok(Some(text.trim_end_matches(['\n', '\r']).to_string()));
        }
    }
}

/// What a reply line says: a [`AdapterAnswer::Reply`] or [`AdapterAnswer::Garbage`].
pub fn parse_reply(line: &str) -> AdapterAnswer {
    let garbage = || AdapterAnswer::Garbage(line.chars().take(GARBAGE_EXCERPT_CHARS).collect());
    let Ok(Value::Object(reply)) = serde_json::from_str::<Value>(line) else {
        return garbage();
    };
    let kind = match reply.get("type").and_then(Value::as_str) {
        Some("ok") => AdapterReplyType::Ok,
        Some("fail") => AdapterReplyType::Fail,
        Some("info") => AdapterReplyType::Info,
        _ => return garbage(),
    };
    let error = match reply.get("error") {
        None | Some(Value::Null) => None,
        Some(Value::String(error)) => Some(error.chars().take(GARBAGE_EXCERPT_CHARS).collect()),
        Some(other) => Some(
            other
                .to_string()
                .chars()
                .take(GARBAGE_EXCERPT_CHARS)
                .collect(),
        ),
    };
    AdapterAnswer::Reply {
        kind,
        value: reply.get("value").cloned(),
        error,
    }
}

impl<S: AdapterSpawner> StdioClient<S> {
    /// Starts the adapters of workers `0..workers` now, so that their start-up (an
    /// interpreter loading, a driver connecting) does not count against their first ops.
    pub async fn start_workers(&self, workers: usize) {
        for worker in 0..workers {
            let slot = self.slot(worker);
            let mut guard = slot.lock().await;
            self.ensure_started(worker, &mut guard);
        }
    }

    /// Starts the worker's adapter if none runs; the error text if it cannot be started.
    fn ensure_started(&self, worker: usize, slot: &mut Option<Adapter>) -> Option<String> {
        if slot.is_some() {
            return None;
        }
        self.count(worker, |report| report.starts += 1);
        match self.start(worker) {
            Ok(adapter) => {
                *slot = Some(adapter);
                None
            }
            Err(error) => {
                let text = error.to_string();
                self.count(worker, |report| {
                    report.start_failures += 1;
                    report.first_start_error.get_or_insert(text.clone());
                });
                Some(text)
            }
        }
    }

    /// Kills the worker's adapter and starts its successor at once, so that the
    /// successor starts up while the worker waits for its next op.
    fn replace(&self, worker: usize, slot: &mut Option<Adapter>) {
        if let Some(adapter) = slot.take() {
            self.kill_in_background(adapter);
        }
        // A failed start is counted; the next op tries again.
        self.ensure_started(worker, slot);
    }
}

impl<S: AdapterSpawner> Client for StdioClient<S> {
    async fn invoke(&self, thread: usize, inv: &Invocation) -> Outcome {
        let slot = self.slot(thread);
        let mut guard = slot.lock().await;
        if guard.as_ref().is_some_and(|adapter| adapter.busy) {
            // The last exchange was abandoned (the driver's hard timeout): its reply may
            // still come, so this adapter cannot be trusted with another request.
            self.count(thread, |report| report.timeouts += 1);
            self.replace(thread, &mut guard);
        }
        if let Some(text) = self.ensure_started(thread, &mut guard) {
            return classify_adapter(inv, &AdapterAnswer::NotStarted(text));
        }
        let adapter = guard.as_mut().expect("started above");
        let request = request_line(inv, self.node_of(thread), self.config.timeout_ms);
        match self.exchange(thread, adapter, &request).await {
            Exchange::Answer(answer) => classify_adapter(inv, &answer),
            Exchange::Replace(answer) => {
                self.replace(thread, &mut guard);
                classify_adapter(inv, &answer)
            }
        }
    }
}

impl<S: AdapterSpawner> Drop for StdioClient<S> {
    fn drop(&mut self) {
        let slots = std::mem::take(&mut *lock(&self.slots));
        for slot in slots.into_values() {
            // No op is in flight once the client is dropped: every slot is free.
            if let Ok(mut guard) = slot.try_lock()
                && let Some(mut adapter) = guard.take()
            {
                self.spawner.kill(&mut adapter.child).ok();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_request_carries_any_op_value_and_the_node() {
        let inv = Invocation::cas("k1", json!(1), json!(2));
        let line = request_line(&inv, "n2", 500);
        assert_eq!(
            String::from_utf8(line).unwrap(),
            "{\"f\":\"cas\",\"key\":\"k1\",\"value\":[1,2],\"node\":\"n2\",\"timeout_ms\":500}\n"
        );
        // A transaction (issue 13): no key, a list of micro-ops as the value.
        let txn = Invocation {
            f: "txn".into(),
            key: None,
            value: json!([["append", "x", 1], ["r", "y", null]]),
        };
        let line: Value = serde_json::from_slice(&request_line(&txn, "n1", 1000)).unwrap();
        assert_eq!(
            line,
            json!({"f":"txn","value":[["append","x",1],["r","y",null]],"node":"n1","timeout_ms":1000})
        );
    }

    #[test]
    fn replies_parse_into_the_three_types_and_anything_else_is_garbage() {
        assert_eq!(
            parse_reply(r#"{"type":"ok","value":3}"#),
            AdapterAnswer::Reply {
                kind: AdapterReplyType::Ok,
                value: Some(json!(3)),
                error: None
            }
        );
        assert_eq!(
            parse_reply(r#"{"type":"fail","error":"cas-mismatch"}"#),
            AdapterAnswer::Reply {
                kind: AdapterReplyType::Fail,
                value: None,
                error: Some("cas-mismatch".into())
            }
        );
        for line in [
            "hello",
            "[1,2]",
            r#"{"type":"maybe"}"#,
            r#"{"value":1}"#,
            "",
        ] {
            assert_eq!(
                parse_reply(line),
                AdapterAnswer::Garbage(line.into()),
                "{line}"
            );
        }
        let long = "x".repeat(1000);
        match parse_reply(&long) {
            AdapterAnswer::Garbage(excerpt) => assert_eq!(excerpt.len(), GARBAGE_EXCERPT_CHARS),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn classification_follows_the_table() {
        let write = Invocation::write("k", json!(4));
        let read = Invocation::read("k");
        let ok = |value| AdapterAnswer::Reply {
            kind: AdapterReplyType::Ok,
            value,
            error: None,
        };
        assert_eq!(classify_adapter(&write, &ok(None)), Outcome::Ok(json!(4)));
        assert_eq!(classify_adapter(&read, &ok(None)), Outcome::Ok(Value::Null));
        assert_eq!(
            classify_adapter(&read, &ok(Some(json!(7)))),
            Outcome::Ok(json!(7))
        );
        assert_eq!(
            classify_adapter(&write, &AdapterAnswer::TimedOut),
            Outcome::Info("timeout".into())
        );
        // A read had no effect: unknown becomes fail.
        assert_eq!(
            classify_adapter(&read, &AdapterAnswer::Exited),
            Outcome::Fail("adapter-exited".into())
        );
        assert_eq!(
            classify_adapter(&write, &AdapterAnswer::Garbage("oops".into())),
            Outcome::Info("adapter-garbage: oops".into())
        );
        assert_eq!(
            classify_adapter(&write, &AdapterAnswer::NotStarted("ENOENT".into())),
            Outcome::Fail("adapter-not-started".into())
        );
        let info = AdapterAnswer::Reply {
            kind: AdapterReplyType::Info,
            value: None,
            error: None,
        };
        assert_eq!(
            classify_adapter(&write, &info),
            Outcome::Info("adapter-info".into())
        );
    }
}
