//! Generated kv calls (put, append, get on one string) for the property tests of the
//! kv-append model: an exhaustive linearizability search to judge them by, and the
//! records a checker reads. Shared by append_order.rs and pruning.rs.

use checker::history::{Op, OpType};
use serde_json::{Value, json};

use super::History;

/// One generated kv call: `[inv, ret)` in ticks, `ret` None for `info`.
#[derive(Debug, Clone)]
pub struct KvCall {
    pub inv: u32,
    pub ret: Option<u32>,
    pub action: KvAction,
}

#[derive(Debug, Clone)]
pub enum KvAction {
    Put(String),
    Append(String),
    /// A get and the string it returned.
    Get(String),
}

/// Every order of `calls` that respects real time, each `info` call applied somewhere
/// after its invoke or never; true when one of them explains every get.
pub fn brute_force_linearizable(calls: &[KvCall]) -> bool {
    fn search(calls: &[KvCall], done: &mut Vec<bool>, state: &str) -> bool {
        let horizon = (0..calls.len())
            .filter(|&i| !done[i])
            .filter_map(|i| calls[i].ret)
            .min();
        let Some(horizon) = horizon else {
            return true;
        };
        for i in 0..calls.len() {
            if done[i] || calls[i].inv >= horizon {
                continue;
            }
            let next = match &calls[i].action {
                KvAction::Put(value) => value.clone(),
                KvAction::Append(value) => format!("{state}{value}"),
                KvAction::Get(observed) if observed == state => state.to_string(),
                KvAction::Get(_) => continue,
            };
            done[i] = true;
            let found = search(calls, done, &next);
            done[i] = false;
            if found {
                return true;
            }
        }
        false
    }
    search(calls, &mut vec![false; calls.len()], "")
}

/// The records of `calls` on `key` in time order (each call its own process; completions
/// before invokes at the same tick, so `ret == inv` of another means "before").
pub fn records(calls: &[KvCall], key: Option<&str>) -> Vec<Op> {
    let mut events: Vec<(u32, u8, usize)> = Vec::new();
    for (i, call) in calls.iter().enumerate() {
        events.push((call.inv, 1, i));
        events.push((call.ret.unwrap_or(u32::MAX), 0, i));
    }
    events.sort_unstable();
    let mut history = History::default();
    for (_, is_invoke, i) in events {
        let call = &calls[i];
        let kind = match (is_invoke, call.ret) {
            (1, _) => OpType::Invoke,
            (_, None) => OpType::Info,
            (_, Some(_)) => OpType::Ok,
        };
        let (f, value) = match &call.action {
            KvAction::Put(value) => ("put", json!(value)),
            KvAction::Append(value) => ("append", json!(value)),
            KvAction::Get(observed) if kind == OpType::Ok => ("get", json!(observed)),
            KvAction::Get(_) => ("get", Value::Null),
        };
        history.next(i as u64, kind, f, key, value);
    }
    history.ops
}
