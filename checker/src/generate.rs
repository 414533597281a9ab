//! Synthetic register histories for benchmarks and tests: a simulated linearizable
//! register per key, with random overlapping intervals, written as JSONL.
//!
//! Each process repeatedly invokes an op on a random key; at a random later moment the op
//! takes effect on the real register (its linearization point), and later still it
//! completes. A fraction of completions are `info` (the op may or may not have taken
//! effect; the process then continues under a fresh id). The result is linearizable by
//! construction; [`plant_stale_read`] makes exactly one read return an old value.

use std::io::Write;

use serde_json::json;

use crate::history::{Op, OpType, Process};

/// Shape of a generated history.
#[derive(Debug, Clone, Copy)]
pub struct GenSpec {
    pub ops: usize,
    pub keys: usize,
    pub processes: usize,
    /// Completions reported as `info`, in per mille.
    pub info_per_mille: u64,
    pub seed: u64,
}

/// splitmix64; enough randomness for shapes, and the same on every machine.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) % n
    }
}

struct Flight {
    process: u64,
    key: usize,
    f: &'static str,
    arg: i64,
    applied: bool,
    result: serde_json::Value,
}

/// Generates a linearizable keyed register history (read, write; values 0..1000).
pub fn register_history(spec: GenSpec) -> Vec<Op> {
    let mut rng = Rng(spec.seed);
    let mut registers: Vec<Option<i64>> = vec![None; spec.keys];
    let mut next_id: Vec<u64> = (0..spec.processes as u64).collect();
    let mut flying: Vec<Option<Flight>> = (0..spec.processes).map(|_| None).collect();
    let mut out = Vec::with_capacity(spec.ops * 2);
    let mut started = 0;
    let record = |out: &mut Vec<Op>, process: u64, kind: OpType, f: &str, key: usize, value| {
        let index = out.len() as u64;
        out.push(Op {
            index,
            time_ns: index * 1000,
            process: Process::Client(process),
            kind,
            f: f.to_string(),
            key: Some(format!("k{key}")),
            value,
            error: None,
        });
    };
    while started < spec.ops || flying.iter().any(Option::is_some) {
        let slot = rng.below(spec.processes as u64) as usize;
        match &mut flying[slot] {
            None if started < spec.ops => {
                let key = rng.below(spec.keys as u64) as usize;
                let (f, arg) = if rng.below(2) == 0 {
                    ("read", 0)
                } else {
                    ("write", rng.below(1000) as i64)
                };
                let value = if f == "read" {
                    serde_json::Value::Null
                } else {
                    json!(arg)
                };
                record(&mut out, next_id[slot], OpType::Invoke, f, key, value);
                flying[slot] = Some(Flight {
                    process: next_id[slot],
                    key,
                    f,
                    arg,
                    applied: false,
                    result: serde_json::Value::Null,
                });
                started += 1;
            }
            None => {}
            Some(flight) if !flight.applied => {
                flight.applied = true;
                if flight.f == "write" {
                    registers[flight.key] = Some(flight.arg);
                    flight.result = json!(flight.arg);
                } else {
                    flight.result =
                        registers[flight.key].map_or(serde_json::Value::Null, |v| json!(v));
                }
            }
            Some(_) => {
                let flight = flying[slot].take().expect("in flight");
                let kind = if rng.below(1000) < spec.info_per_mille {
                    OpType::Info
                } else {
                    OpType::Ok
                };
                let value = if kind == OpType::Info && flight.f == "read" {
                    serde_json::Value::Null
                } else {
                    flight.result
                };
                record(&mut out, flight.process, kind, flight.f, flight.key, value);
                if kind == OpType::Info {
                    next_id[slot] += spec.processes as u64;
                }
            }
        }
    }
    out
}

/// Makes one `ok` read near the middle return the value its key held `depth` writes
/// before; returns its index, or `None` if no such read exists.
pub fn plant_stale_read(ops: &mut [Op], depth: usize) -> Option<usize> {
    use std::collections::HashMap;
    let mut written: HashMap<String, Vec<serde_json::Value>> = HashMap::new();
    for i in 0..ops.len() {
        let op = &ops[i];
        let key = op.key.clone().unwrap_or_default();
        if op.kind == OpType::Ok && op.f == "write" {
            written.entry(key).or_default().push(op.value.clone());
        } else if i > ops.len() / 2 && op.kind == OpType::Ok && op.f == "read" {
            let history = written.get(&key).map(Vec::as_slice).unwrap_or(&[]);
            if history.len() > depth + 1 {
                let stale = history[history.len() - 1 - depth].clone();
                if stale != op.value && !history[history.len() - depth..].contains(&stale) {
                    ops[i].value = stale;
                    return Some(i);
                }
            }
        }
    }
    None
}

/// Writes ops as JSONL to `out`.
pub fn write_jsonl(ops: &[Op], out: impl Write) -> std::io::Result<()> {
    crate::format::jsonl::write(ops, std::io::BufWriter::new(out))
}
