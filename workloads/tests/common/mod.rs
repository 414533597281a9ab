//! Shared helpers for the workload tests: an in-process fake client and history checks.

#![allow(dead_code)] // each test file uses a different subset

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use checker::history::{Op, OpType, Process};
use serde_json::Value;
use workloads::client::{Client, Invocation, Outcome};

/// What the fake does with the n-th call (0-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// Apply to an in-memory register map and answer at once.
    Apply,
    /// Answer `info` "fake-unknown" (the op is applied anyway half the time: unknown!).
    Unknown,
    /// Answer `fail` "fake-refused" without applying.
    Refuse,
    /// Never answer.
    Hang,
}

/// A linearizable in-memory register store with scripted misbehaviour.
pub struct FakeClient {
    calls: AtomicU64,
    script: Box<dyn Fn(u64) -> Behaviour + Send + Sync>,
    delay: Duration,
    registers: Mutex<HashMap<String, Value>>,
    /// Every call's logical thread and invocation, in call order.
    sent: Mutex<Vec<(usize, Invocation)>>,
}

impl FakeClient {
    pub fn new(script: impl Fn(u64) -> Behaviour + Send + Sync + 'static) -> Self {
        FakeClient {
            calls: AtomicU64::new(0),
            script: Box::new(script),
            delay: Duration::ZERO,
            registers: Mutex::new(HashMap::new()),
            sent: Mutex::new(Vec::new()),
        }
    }

    pub fn always(behaviour: Behaviour) -> Self {
        Self::new(move |_| behaviour)
    }

    pub fn with_delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::SeqCst)
    }

    /// Every call's logical thread and invocation, in call order.
    pub fn sent(&self) -> Vec<(usize, Invocation)> {
        self.sent.lock().unwrap().clone()
    }

    fn apply(&self, inv: &Invocation) -> Outcome {
        let key = inv.key.clone().unwrap_or_default();
        let mut registers = self.registers.lock().unwrap();
        match inv.f.as_str() {
            "read" => Outcome::Ok(registers.get(&key).cloned().unwrap_or(Value::Null)),
            "write" => {
                registers.insert(key, inv.value.clone());
                Outcome::Ok(inv.value.clone())
            }
            "cas" => {
                let current = registers.get(&key).cloned().unwrap_or(Value::Null);
                if current == inv.value[0] {
                    registers.insert(key, inv.value[1].clone());
                    Outcome::Ok(inv.value.clone())
                } else {
                    Outcome::Fail("cas-mismatch".into())
                }
            }
            "add" => Outcome::Ok(inv.value.clone()),
            other => Outcome::Fail(format!("unsupported {other}")),
        }
    }
}

impl Client for FakeClient {
    async fn invoke(&self, thread: usize, inv: &Invocation) -> Outcome {
        let call = self.calls.fetch_add(1, Ordering::SeqCst);
        self.sent.lock().unwrap().push((thread, inv.clone()));
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        match (self.script)(call) {
            Behaviour::Apply => self.apply(inv),
            Behaviour::Unknown => {
                if call.is_multiple_of(2) {
                    let _applied_but_unknown = self.apply(inv);
                }
                Outcome::Info("fake-unknown".into())
            }
            Behaviour::Refuse => Outcome::Fail("fake-refused".into()),
            Behaviour::Hang => {
                std::future::pending::<()>().await;
                unreachable!("pending never resolves")
            }
        }
    }
}

/// Checks the structural rules of a recorded history and returns the client processes'
/// invoke count. Panics with a description on the first violation.
pub fn assert_well_formed(history: &[Op], clients: u64) -> u64 {
    let mut open: HashMap<u64, &Op> = HashMap::new();
    let mut retired: HashSet<u64> = HashSet::new();
    let mut invokes = 0;
    for (position, op) in history.iter().enumerate() {
        assert_eq!(
            op.index, position as u64,
            "indices are 0, 1, 2, ... in line order"
        );
        if position > 0 {
            assert!(
                op.time_ns >= history[position - 1].time_ns,
                "time goes back at {op:?}"
            );
        }
        let Process::Client(process) = op.process else {
            assert_eq!(op.kind, OpType::Info, "nemesis events are info: {op:?}");
            continue;
        };
        assert!(
            !retired.contains(&process),
            "process {process} reused after info: {op:?}"
        );
        if op.kind == OpType::Invoke {
            assert!(
                !open.contains_key(&process),
                "two open ops on {process}: {op:?}"
            );
            if process >= clients {
                assert!(
                    retired.contains(&(process - clients)),
                    "process {process} exists but {} never ended info",
                    process - clients
                );
            }
            open.insert(process, op);
            invokes += 1;
            continue;
        }
        let invoke = open
            .remove(&process)
            .unwrap_or_else(|| panic!("completion without invoke: {op:?}"));
        assert_eq!(
            (&invoke.f, &invoke.key),
            (&op.f, &op.key),
            "completion matches its invoke"
        );
        match op.kind {
            OpType::Ok => assert!(op.error.is_none()),
            OpType::Fail => assert!(op.error.is_some() && op.value == invoke.value),
            OpType::Info => {
                assert!(op.error.is_some() && op.value == invoke.value);
                retired.insert(process);
            }
            OpType::Invoke => unreachable!(),
        }
    }
    invokes
}

/// Values of ops of one type and function, by process kind.
pub fn count(history: &[Op], kind: OpType, error: Option<&str>) -> usize {
    history
        .iter()
        .filter(|op| op.kind == kind && op.process != Process::Nemesis)
        .filter(|op| error.is_none() || op.error.as_deref() == error)
        .count()
}
