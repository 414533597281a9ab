//! The driver against an in-process fake client: pairing, fresh processes after `info`, hard
//! timeouts, shutdown, rate limiting, nemesis events and final reads.
//!
//! Timing-sensitive tests run on tokio's paused clock (virtual time: sleeps and timeouts
//! advance it instantly and deterministically), so they assert exact-ish counts without
//! depending on the machine's speed. Real-concurrency tests only assert structure.

mod common;

use std::sync::Arc;
use std::time::Duration;

use checker::history::{OpType, Process};
use common::{Behaviour, FakeClient, assert_well_formed, count};
use serde_json::json;
use tokio::sync::watch;
use workloads::client::Invocation;
use workloads::driver::{
    DriverError, DriverOptions, FinalReadOptions, HARD_TIMEOUT_MARGIN, INTERRUPTED_ERROR,
    TIMEOUT_ERROR, run_final_reads, run_workload,
};
use workloads::generator::{Generator, RegisterConfig, RegisterGenerator};
use workloads::recorder::{Recorder, read_history};

/// Liveness bound for a whole test (not a speed assertion): a hang fails instead of blocking.
const LIVENESS_BOUND: Duration = Duration::from_secs(60);

fn register_generator(seed: u64) -> RegisterGenerator {
    RegisterGenerator::new(&RegisterConfig::default(), seed).unwrap()
}

fn options(clients: usize, rate_per_s: f64, duration_ms: u64, op_timeout_ms: u64) -> DriverOptions {
    DriverOptions {
        clients,
        rate_per_s,
        duration: Duration::from_millis(duration_ms),
        op_timeout: Duration::from_millis(op_timeout_ms),
    }
}

/// Keeps the shutdown sender alive (a dropped sender means "never stop").
fn no_shutdown() -> (watch::Sender<bool>, watch::Receiver<bool>) {
    watch::channel(false)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_concurrency_history_is_well_formed_with_fresh_processes_after_info() {
    let dir = tempfile::tempdir().unwrap();
    let recorder = Recorder::create(dir.path().join("history.jsonl")).unwrap();
    // Every 7th call is unknown, every 5th refused: plenty of each.
    let client = Arc::new(FakeClient::new(|call| match call {
        c if c % 7 == 3 => Behaviour::Unknown,
        c if c % 5 == 1 => Behaviour::Refuse,
        _ => Behaviour::Apply,
    }));
    let clients = 6;
    let (_keep, shutdown) = no_shutdown();
    let opts = options(clients, 0.0, 300, 1_000);
    let run = run_workload(
        Arc::clone(&client),
        register_generator(1),
        &recorder,
        &opts,
        shutdown,
    );
    let summary = tokio::time::timeout(LIVENESS_BOUND, run)
        .await
        .unwrap()
        .unwrap();
    let totals = recorder.close().await.unwrap();
    let history = read_history(recorder.path()).unwrap();

    let invokes = assert_well_formed(&history, clients as u64);
    assert!(
        invokes > 50,
        "a 300 ms unlimited run does many ops, got {invokes}"
    );
    assert_eq!(invokes, summary.ops_invoked);
    assert_eq!(invokes, client.calls(), "one client call per invoke");
    let completions = count(&history, OpType::Ok, None)
        + count(&history, OpType::Fail, None)
        + count(&history, OpType::Info, None);
    assert_eq!(
        completions as u64, invokes,
        "a duration end lets every op complete"
    );
    let infos = count(&history, OpType::Info, Some("fake-unknown")) as u64;
    assert!(infos > 0 && count(&history, OpType::Fail, Some("fake-refused")) > 0);
    // Each info retires a process and its thread continues on a fresh one.
    let mut processes: Vec<u64> = history
        .iter()
        .filter_map(|op| match op.process {
            Process::Client(p) => Some(p),
            Process::Nemesis => None,
        })
        .collect();
    processes.sort_unstable();
    processes.dedup();
    assert!(
        processes.len() as u64 > clients as u64,
        "infos led to fresh processes"
    );
    assert!(processes.len() as u64 <= clients as u64 + infos);
    assert!(summary.next_process > *processes.last().unwrap());
    assert_eq!(totals.ops_written, history.len() as u64);
    assert_eq!(totals.invokes, invokes);
    assert_eq!(totals.infos, infos);
    assert!(!summary.interrupted);
}

/// The client learns which logical thread sends each op: thread `i` of `0..clients`, also
/// after the thread moved to a fresh process (`i + k * clients`) following an `info`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_op_reaches_the_client_as_its_logical_thread() {
    let dir = tempfile::tempdir().unwrap();
    let recorder = Recorder::create(dir.path().join("history.jsonl")).unwrap();
    let client = Arc::new(FakeClient::new(|call| match call {
        c if c % 4 == 1 => Behaviour::Unknown,
        _ => Behaviour::Apply,
    }));
    let clients = 5;
    let (_keep, shutdown) = no_shutdown();
    let opts = options(clients, 0.0, 200, 1_000);
    let run = run_workload(
        Arc::clone(&client),
        register_generator(3),
        &recorder,
        &opts,
        shutdown,
    );
    tokio::time::timeout(LIVENESS_BOUND, run)
        .await
        .unwrap()
        .unwrap();
    recorder.close().await.unwrap();
    let history = read_history(recorder.path()).unwrap();
    // Writes and cas carry values unique per key: they name the call that sent them.
    let sent = client.sent();
    let mut checked = 0;
    let mut fresh_processes_checked = 0;
    for op in history
        .iter()
        .filter(|op| op.kind == OpType::Invoke && op.f != "read")
    {
        let Process::Client(process) = op.process else {
            continue;
        };
        let threads: Vec<usize> = sent
            .iter()
            .filter(|(_, inv)| inv.key == op.key && inv.f == op.f && inv.value == op.value)
            .map(|(thread, _)| *thread)
            .collect();
        assert_eq!(
            threads,
            vec![(process % clients as u64) as usize],
            "{op:?} was sent as the wrong thread"
        );
        checked += 1;
        if process >= clients as u64 {
            fresh_processes_checked += 1;
        }
    }
    assert!(checked > 20, "only {checked} writes checked");
    assert!(
        fresh_processes_checked > 0,
        "no thread moved to a fresh process"
    );
    let mut threads: Vec<usize> = sent.iter().map(|(thread, _)| *thread).collect();
    threads.sort_unstable();
    threads.dedup();
    assert_eq!(threads, (0..clients).collect::<Vec<_>>());
}

#[tokio::test(start_paused = true)]
async fn one_thread_sends_the_generator_sequence_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let recorder = Recorder::create(dir.path().join("history.jsonl")).unwrap();
    let client =
        Arc::new(FakeClient::always(Behaviour::Apply).with_delay(Duration::from_millis(1)));
    let (_keep, shutdown) = no_shutdown();
    let summary = run_workload(
        client,
        register_generator(42),
        &recorder,
        &options(1, 0.0, 200, 1_000),
        shutdown,
    )
    .await
    .unwrap();
    recorder.close().await.unwrap();
    let history = read_history(recorder.path()).unwrap();
    let sent: Vec<Invocation> = history
        .iter()
        .filter(|op| op.kind == OpType::Invoke)
        .map(|op| Invocation {
            f: op.f.clone(),
            key: op.key.clone(),
            value: op.value.clone(),
        })
        .collect();
    let mut expected = register_generator(42);
    let expected: Vec<Invocation> = (0..sent.len())
        .map(|_| expected.next_invocation())
        .collect();
    assert_eq!(sent, expected);
    // 200 ms of virtual time at 1 ms per op.
    assert!((150..=201).contains(&summary.ops_invoked), "{summary:?}");
}

#[tokio::test(start_paused = true)]
async fn rate_limit_bounds_the_op_count() {
    let dir = tempfile::tempdir().unwrap();
    let recorder = Recorder::create(dir.path().join("history.jsonl")).unwrap();
    let client = Arc::new(FakeClient::always(Behaviour::Apply));
    let (_keep, shutdown) = no_shutdown();
    // 100 ops/s for 2 s over 8 threads: about 200 ops, however many threads.
    let summary = run_workload(
        client,
        register_generator(3),
        &recorder,
        &options(8, 100.0, 2_000, 1_000),
        shutdown,
    )
    .await
    .unwrap();
    recorder.close().await.unwrap();
    assert!(summary.ops_invoked <= 205, "rate exceeded: {summary:?}");
    assert!(
        summary.ops_invoked >= 150,
        "rate far under target: {summary:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_client_that_never_answers_ends_in_timeout_info() {
    let dir = tempfile::tempdir().unwrap();
    let recorder = Recorder::create(dir.path().join("history.jsonl")).unwrap();
    let client = Arc::new(FakeClient::new(|call| {
        if call % 3 == 0 {
            Behaviour::Hang
        } else {
            Behaviour::Apply
        }
    }));
    let clients = 3;
    let (_keep, shutdown) = no_shutdown();
    let summary = run_workload(
        client,
        register_generator(5),
        &recorder,
        &options(clients, 0.0, 1_000, 100),
        shutdown,
    )
    .await
    .unwrap();
    recorder.close().await.unwrap();
    let history = read_history(recorder.path()).unwrap();
    assert_well_formed(&history, clients as u64);
    let timeouts = count(&history, OpType::Info, Some(TIMEOUT_ERROR));
    assert!(timeouts >= 3, "hung calls became timeouts: {timeouts}");
    // Each timeout took op_timeout + margin of virtual time on one thread.
    let hard_timeout_ns = (Duration::from_millis(100) + HARD_TIMEOUT_MARGIN).as_nanos() as u64;
    for (position, op) in history.iter().enumerate() {
        if op.error.as_deref() == Some(TIMEOUT_ERROR) {
            let invoke = history[..position]
                .iter()
                .rfind(|o| o.process == op.process && o.kind == OpType::Invoke)
                .unwrap();
            assert!(op.time_ns - invoke.time_ns >= hard_timeout_ns);
        }
    }
    assert!(summary.next_process > clients as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_interrupts_hung_calls_promptly() {
    let dir = tempfile::tempdir().unwrap();
    let recorder = Recorder::create(dir.path().join("history.jsonl")).unwrap();
    let client = Arc::new(FakeClient::always(Behaviour::Hang));
    let clients = 4;
    let (stop, shutdown) = watch::channel(false);
    // An hour-long run with hour-long timeouts: only the shutdown can end it.
    let run = tokio::spawn({
        let recorder = recorder.clone();
        async move {
            run_workload(
                client,
                register_generator(9),
                &recorder,
                &options(clients, 0.0, 3_600_000, 3_600_000),
                shutdown,
            )
            .await
        }
    });
    // Wait (bounded) until every thread has an op in flight.
    for _ in 0..1_000 {
        if recorder.stats().snapshot().invokes == clients as u64 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    stop.send(true).unwrap();
    let summary = tokio::time::timeout(LIVENESS_BOUND, run)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    recorder.close().await.unwrap();
    let history = read_history(recorder.path()).unwrap();
    assert_well_formed(&history, clients as u64);
    assert!(summary.interrupted);
    assert_eq!(summary.ops_invoked, clients as u64);
    assert_eq!(
        count(&history, OpType::Info, Some(INTERRUPTED_ERROR)),
        clients
    );
}

#[tokio::test(start_paused = true)]
async fn nemesis_events_land_in_the_same_history_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let recorder = Recorder::create(dir.path().join("history.jsonl")).unwrap();
    let client =
        Arc::new(FakeClient::always(Behaviour::Apply).with_delay(Duration::from_millis(2)));
    let (_keep, shutdown) = no_shutdown();
    let nemesis = {
        let recorder = recorder.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let groups = json!({"groups": [["n1"], ["n2", "n3"]]});
            recorder
                .record_nemesis("start-partition", groups)
                .await
                .unwrap();
            tokio::time::sleep(Duration::from_millis(100)).await;
            recorder
                .record_nemesis("stop-partition", serde_json::Value::Null)
                .await
                .unwrap();
        })
    };
    run_workload(
        client,
        register_generator(11),
        &recorder,
        &options(2, 0.0, 300, 1_000),
        shutdown,
    )
    .await
    .unwrap();
    nemesis.await.unwrap();
    let totals = recorder.close().await.unwrap();
    let history = read_history(recorder.path()).unwrap();
    assert_well_formed(&history, 2);
    let events: Vec<_> = history
        .iter()
        .filter(|op| op.process == Process::Nemesis)
        .collect();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].f, "start-partition");
    assert_eq!(events[0].value["groups"][1][1], "n3");
    assert_eq!(events[1].f, "stop-partition");
    assert!(
        events
            .iter()
            .all(|e| e.kind == OpType::Info && e.key.is_none())
    );
    // Client ops happened on both sides of the fault window.
    assert!(events[0].index > 10 && events[1].index + 10 < history.len() as u64);
    assert_eq!(totals.nemesis_events, 2);
    assert_eq!(recorder.stats().snapshot().nemesis_events, 2);
}

#[tokio::test(start_paused = true)]
async fn final_reads_retry_until_ok_on_fresh_processes() {
    let dir = tempfile::tempdir().unwrap();
    let recorder = Recorder::create(dir.path().join("history.jsonl")).unwrap();
    // Calls 0..3 misbehave (one of each kind), later ones answer.
    let client = Arc::new(FakeClient::new(|call| match call {
        0 => Behaviour::Unknown,
        1 => Behaviour::Refuse,
        2 => Behaviour::Hang,
        _ => Behaviour::Apply,
    }));
    let reads = register_generator(0).final_reads();
    assert_eq!(reads.len(), 8);
    let (_keep, shutdown) = no_shutdown();
    let opts = FinalReadOptions {
        op_timeout: Duration::from_millis(50),
        attempts: 3,
        retry_pause: Duration::from_millis(10),
    };
    let first_process = 100;
    let summary = run_final_reads(
        Arc::clone(&client),
        reads.clone(),
        &recorder,
        first_process,
        &opts,
        shutdown,
    )
    .await
    .unwrap();
    // Read `i` is logical thread `i`, on every attempt.
    for (thread, inv) in client.sent() {
        assert_eq!(
            inv, reads[thread],
            "thread {thread} sent another key's read"
        );
    }
    recorder.close().await.unwrap();
    let history = read_history(recorder.path()).unwrap();
    assert_eq!(summary.ok_keys.len(), 8, "{summary:?}");
    assert!(summary.failed_keys.is_empty());
    assert_eq!(
        count(&history, OpType::Invoke, None),
        8 + 3,
        "three reads needed a retry"
    );
    assert_eq!(count(&history, OpType::Ok, None), 8);
    // Processes 100..108, plus a fresh one (+8) for each of the two infos.
    let mut processes: Vec<u64> = history
        .iter()
        .map(|op| match op.process {
            Process::Client(p) => p,
            Process::Nemesis => panic!("no nemesis here"),
        })
        .collect();
    processes.sort_unstable();
    processes.dedup();
    assert_eq!(processes.len(), 10);
    assert!(processes.iter().all(|p| *p >= first_process));
    assert!(summary.next_process > *processes.last().unwrap());
    // Structure, counting processes from the first final read process.
    let shifted: Vec<_> = history
        .iter()
        .cloned()
        .map(|mut op| {
            op.process = match op.process {
                Process::Client(p) => Process::Client(p - first_process),
                other => other,
            };
            op
        })
        .collect();
    assert_well_formed(&shifted, 8);
}

#[tokio::test]
async fn zero_clients_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let recorder = Recorder::create(dir.path().join("history.jsonl")).unwrap();
    let (_keep, shutdown) = no_shutdown();
    let result = run_workload(
        Arc::new(FakeClient::always(Behaviour::Apply)),
        register_generator(0),
        &recorder,
        &options(0, 0.0, 10, 10),
        shutdown,
    )
    .await;
    assert!(matches!(result, Err(DriverError::ClientCount(0))));
    let bad_rate = run_workload(
        Arc::new(FakeClient::always(Behaviour::Apply)),
        register_generator(0),
        &recorder,
        &options(1, f64::NAN, 10, 10),
        watch::channel(false).1,
    )
    .await;
    assert!(matches!(bad_rate, Err(DriverError::Rate(_))));
}
