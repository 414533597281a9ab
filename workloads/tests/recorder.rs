//! The recorder: ordering under concurrency, totals, closing, and a history that survives an
//! abrupt death of the recording process.

use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use checker::history::{OpType, Process};
use serde_json::json;
use workloads::recorder::{OpRecord, Recorder, RecorderError, read_history, read_history_prefix};

fn client_op(process: u64, kind: OpType, value: u64) -> OpRecord {
    OpRecord {
        process: Process::Client(process),
        kind,
        f: "write".into(),
        key: Some(format!("k{}", process % 3)),
        value: json!(value),
        error: (kind == OpType::Info).then(|| "timeout".to_string()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_records_get_increasing_indices_in_line_order() {
    let dir = tempfile::tempdir().unwrap();
    let recorder = Recorder::create(dir.path().join("history.jsonl")).unwrap();
    let mut tasks = Vec::new();
    for process in 0..8u64 {
        let recorder = recorder.clone();
        tasks.push(tokio::spawn(async move {
            for n in 0..500 {
                recorder
                    .record(client_op(process, OpType::Invoke, n))
                    .await
                    .unwrap();
                let kind = if n % 10 == 0 {
                    OpType::Info
                } else {
                    OpType::Ok
                };
                recorder.record(client_op(process, kind, n)).await.unwrap();
            }
        }));
    }
    recorder
        .record_nemesis("kill", json!(["n1"]))
        .await
        .unwrap();
    for task in tasks {
        task.await.unwrap();
    }
    let totals = recorder.close().await.unwrap();
    let history = read_history(recorder.path()).unwrap();
    assert_eq!(history.len(), 8 * 1_000 + 1);
    for (line, op) in history.iter().enumerate() {
        assert_eq!(op.index, line as u64);
    }
    assert!(
        history
            .windows(2)
            .all(|pair| pair[0].time_ns <= pair[1].time_ns)
    );
    // Per process, ops appear in the order that process recorded them.
    for process in 0..8u64 {
        let values: Vec<u64> = history
            .iter()
            .filter(|op| op.process == Process::Client(process) && op.kind == OpType::Invoke)
            .map(|op| op.value.as_u64().unwrap())
            .collect();
        assert_eq!(values, (0..500).collect::<Vec<_>>());
    }
    assert_eq!(totals.ops_written, 8_001);
    assert_eq!(
        (totals.invokes, totals.oks, totals.infos, totals.fails),
        (4_000, 3_600, 400, 0)
    );
    assert_eq!(totals.nemesis_events, 1);
    let stats = recorder.stats().snapshot();
    assert_eq!((stats.invokes, stats.oks, stats.infos), (4_000, 3_600, 400));
    assert_eq!(stats.errors_by_kind.get("timeout"), Some(&400));
    assert_eq!(recorder.flushed_ops(), 8_001);
}

#[tokio::test]
async fn recording_after_close_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let recorder = Recorder::create(dir.path().join("history.jsonl")).unwrap();
    recorder.record_nemesis("start", json!(null)).await.unwrap();
    let other_handle = recorder.clone();
    assert_eq!(recorder.close().await.unwrap().ops_written, 1);
    assert!(matches!(
        other_handle.record_nemesis("stop", json!(null)).await,
        Err(RecorderError::Closed)
    ));
    assert!(matches!(
        other_handle.close().await,
        Err(RecorderError::Closed)
    ));
    assert_eq!(read_history(recorder.path()).unwrap().len(), 1);
}

#[test]
fn creating_in_a_missing_directory_names_the_path() {
    let error = Recorder::create("/nonexistent-faultline-dir/history.jsonl").unwrap_err();
    assert!(
        error
            .to_string()
            .contains("/nonexistent-faultline-dir/history.jsonl"),
        "{error}"
    );
}

const CHILD_ENV: &str = "FAULTLINE_RECORDER_CRASH_CHILD";
const FLUSHED_BEFORE_CRASH: u64 = 2_000;

/// Runs only as the child of `history_survives_an_abort_of_the_recording_process`: records,
/// waits until the first ops are flushed, keeps recording, and aborts mid-stream.
#[test]
fn crash_child_entry_point() {
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return; // Not the child: nothing to do.
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let recorder = Recorder::create(&path).unwrap();
        for n in 0..FLUSHED_BEFORE_CRASH {
            recorder
                .record(client_op(n % 5, OpType::Invoke, n))
                .await
                .unwrap();
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while recorder.flushed_ops() < FLUSHED_BEFORE_CRASH {
            assert!(Instant::now() < deadline, "writer never flushed");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        for n in 0..10_000 {
            recorder
                .record(client_op(n % 5, OpType::Ok, n))
                .await
                .unwrap();
        }
        std::process::abort();
    });
}

/// Kills the child on drop, so a failing test leaves no process behind.
struct ChildGuard(std::process::Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _already_exited_is_fine = self.0.kill();
        let _reaped = self.0.wait();
    }
}

#[test]
fn history_survives_an_abort_of_the_recording_process() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.jsonl");
    let child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "crash_child_entry_point",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, &path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut child = ChildGuard(child);
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "child never exited");
        std::thread::sleep(Duration::from_millis(10));
    };
    assert_eq!(
        status.signal(),
        Some(libc_sigabrt()),
        "the child must die by abort: {status:?}"
    );
    // Everything flushed before the abort is there, in order; only the tail may be torn.
    let (ops, _torn_tail) = read_history_prefix(&path).unwrap();
    assert!(
        ops.len() as u64 >= FLUSHED_BEFORE_CRASH,
        "only {} ops survived",
        ops.len()
    );
    for (line, op) in ops.iter().enumerate() {
        assert_eq!(op.index, line as u64);
    }
    assert!(
        ops[..FLUSHED_BEFORE_CRASH as usize]
            .iter()
            .all(|op| op.kind == OpType::Invoke)
    );
}

/// SIGABRT's number on Linux (avoids a libc dependency for one constant).
fn libc_sigabrt() -> i32 {
    6
}
