//! Reading a register workload's `history.jsonl` (raw records) for what the end-to-end
//! tests of planted bugs check by hand, next to the checker's verdict: a read that returned
//! a value already overwritten before it began.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use crate::{InvalidRun, read_history_records};

/// Asserts that some read of `key` in `run`'s `history.jsonl` returned a provably stale
/// value (see [`keys_with_a_stale_read`]), naming the seed and the keys where one did.
pub fn assert_a_stale_read_of(run: &InvalidRun, key: &str) {
    let stale = keys_with_a_stale_read(&read_history_records(&run.dir.join("history.jsonl")));
    assert!(
        stale.contains(key),
        "seed {}: no read of the explained key {key} returned a provably stale value; \
         keys where one did: {stale:?}",
        run.seed
    );
}

/// One completed op on a key: its value and its real-time interval (ns).
struct Done {
    value: Value,
    invoked: u64,
    completed: u64,
}

/// Keys with a read that returned a value already overwritten before the read began: an
/// ok write (or cas) W2 of another value completed before the read was invoked, and the
/// write of the value read completed before W2 was invoked (or the value read is the
/// initial `null` and W2 exists at all). Values are unique per key, so no later op can have
/// written the value read again: no linearization allows that read.
pub fn keys_with_a_stale_read(history: &[Value]) -> HashSet<String> {
    let (writes, reads) = completed_ops(history);
    let mut stale = HashSet::new();
    for (key, key_reads) in &reads {
        let key_writes = writes.get(key).map(Vec::as_slice).unwrap_or_default();
        let written_at = |value: &Value| key_writes.iter().find(|w| &w.value == value);
        let overwritten_before = |read: &Done| {
            let source_completed = match &read.value {
                Value::Null => Some(0),
                value => written_at(value).map(|w| w.completed),
            };
            source_completed.is_some_and(|after| {
                key_writes.iter().any(|w2| {
                    w2.value != read.value && w2.invoked > after && w2.completed < read.invoked
                })
            })
        };
        if key_reads.iter().any(overwritten_before) {
            stale.insert(key.clone());
        }
    }
    stale
}

/// Per key: the ok writes and cas (value written) and the ok reads (value read).
fn completed_ops(history: &[Value]) -> (HashMap<String, Vec<Done>>, HashMap<String, Vec<Done>>) {
    let mut invoked_at: HashMap<String, u64> = HashMap::new();
    let (mut writes, mut reads) = (HashMap::new(), HashMap::new());
    for op in history {
        let process = op["process"].to_string();
        let time = op["time"].as_u64().expect("every op has a time");
        match op["type"].as_str() {
            Some("invoke") => {
                invoked_at.insert(process, time);
            }
            Some("ok") => {
                let (Some(key), Some(invoked)) = (op["key"].as_str(), invoked_at.remove(&process))
                else {
                    continue;
                };
                let (target, value) = match op["f"].as_str() {
                    Some("write") => (&mut writes, op["value"].clone()),
                    Some("cas") => (&mut writes, op["value"][1].clone()),
                    Some("read") => (&mut reads, op["value"].clone()),
                    _ => continue,
                };
                target
                    .entry(key.to_string())
                    .or_insert_with(Vec::new)
                    .push(Done {
                        value,
                        invoked,
                        completed: time,
                    });
            }
            _ => {
                invoked_at.remove(&process);
            }
        }
    }
    (writes, reads)
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::keys_with_a_stale_read;

    #[test]
    fn a_read_of_an_overwritten_value_is_stale_and_a_concurrent_one_is_not() {
        let op = |time: u64, process: u64, kind: &str, f: &str, value: Value| serde_json::json!({"time": time, "process": process, "type": kind, "f": f, "key": "k0", "value": value});
        let mut history = vec![
            op(1, 0, "invoke", "write", 1.into()),
            op(2, 0, "ok", "write", 1.into()),
            op(3, 0, "invoke", "write", 2.into()),
            // A read concurrent with the write of 2 may return 1.
            op(4, 1, "invoke", "read", Value::Null),
            op(5, 0, "ok", "write", 2.into()),
            op(6, 1, "ok", "read", 1.into()),
        ];
        assert!(keys_with_a_stale_read(&history).is_empty());
        // A read that starts after the write of 2 completed may not.
        history.push(op(7, 1, "invoke", "read", Value::Null));
        history.push(op(8, 1, "ok", "read", 1.into()));
        assert!(keys_with_a_stale_read(&history).contains("k0"));
    }
}
