//! A synthetic but plausible history for demonstrating and testing the report: client threads
//! issuing register ops at a steady rate against a five-node cluster, with a partition, a
//! kill, a pause, added latency and a partition never healed, each leaving the marks a real
//! run would (timeouts as `info` with a fresh process id, refused ops as `fail`, slow ops).
//!
//! Used by `examples/sample_report.rs`, the report tests and the CI page check; it is not
//! used by real runs. Deterministic for a seed (SplitMix64, no dependency).

use checker::history::{Op, OpType, Process};
use serde_json::{Value, json};

/// Shape of the synthetic run.
#[derive(Debug, Clone, Copy)]
pub struct DemoShape {
    pub seed: u64,
    pub duration_s: f64,
    pub clients: u64,
    pub rate_per_s: f64,
}

/// The client timeout of the synthetic run: ops hit by a fault end as `info` after it.
const TIMEOUT_MS: f64 = 1_000.0;

/// SplitMix64: a tiny, well-distributed generator, enough for made-up latencies.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A fault of the demo run, as fractions of the run's length.
struct DemoFault {
    fault: &'static str,
    start: f64,
    stop: Option<f64>,
    value: Value,
}

/// The directed links a `halves` partition of n1..n5 cuts, as the nemesis records them.
fn halves_cut() -> Vec<String> {
    let (left, right) = (["n1", "n2"], ["n3", "n4", "n5"]);
    let mut cut = Vec::new();
    for a in left {
        for b in right {
            cut.push(format!("{a}->{b}"));
            cut.push(format!("{b}->{a}"));
        }
    }
    cut
}

fn demo_faults() -> Vec<DemoFault> {
    vec![
        DemoFault {
            fault: "partition",
            start: 0.08,
            stop: Some(0.25),
            value: json!({"shape": "halves", "cut": halves_cut()}),
        },
        DemoFault {
            fault: "kill",
            start: 0.33,
            stop: Some(0.37),
            value: json!({"nodes": ["n3"]}),
        },
        DemoFault {
            fault: "pause",
            start: 0.50,
            stop: Some(0.55),
            value: json!({"nodes": ["n2"]}),
        },
        DemoFault {
            fault: "latency",
            start: 0.66,
            stop: Some(0.80),
            value: json!({"nodes": ["n1", "n4"], "delay_ms": 100}),
        },
        DemoFault {
            fault: "partition",
            start: 0.88,
            stop: None,
            value: json!({"groups": [["n5"], ["n1", "n2", "n3", "n4"]]}),
        },
    ]
}

/// One history record before indices are assigned.
struct Event {
    time_ns: u64,
    seq: u64,
    process: Process,
    kind: OpType,
    f: String,
    value: Value,
    error: Option<&'static str>,
}

/// How a client op fares at a moment, given the faults active then.
fn outcome_at(t_frac: f64, rng: &mut SplitMix64) -> (OpType, f64, Option<&'static str>) {
    let base_ms = 1.5 + 6.0 * rng.unit() * rng.unit();
    let roll = rng.unit();
    let in_window = |a: f64, b: f64| t_frac >= a && t_frac < b;
    if in_window(0.08, 0.25) || t_frac >= 0.88 {
        if roll < 0.25 {
            return (OpType::Info, TIMEOUT_MS, Some("timeout"));
        }
        if roll < 0.35 {
            return (OpType::Fail, base_ms, Some("not-leader"));
        }
    }
    if in_window(0.33, 0.37) && roll < 0.3 {
        return (OpType::Fail, 0.3 + rng.unit(), Some("connection-refused"));
    }
    if in_window(0.50, 0.55) && roll < 0.2 {
        return (OpType::Info, TIMEOUT_MS, Some("timeout"));
    }
    if in_window(0.66, 0.80) && roll < 0.6 {
        return (OpType::Ok, base_ms + 100.0 + 30.0 * rng.unit(), None);
    }
    if roll > 0.985 {
        return (OpType::Fail, base_ms, Some("cas-mismatch"));
    }
    (OpType::Ok, base_ms, None)
}

/// The demo history: client ops plus nemesis `start-`/`stop-` events with ids; the ops
/// still in flight when the run ends have no completion.
pub fn demo_history(shape: DemoShape) -> Vec<Op> {
    let mut rng = SplitMix64(shape.seed);
    let duration_ns = (shape.duration_s * 1e9) as u64;
    let mut events = Vec::new();
    let mut seq = 0u64;
    let mut push = |events: &mut Vec<Event>, time_ns, process, kind, f: &str, value, error| {
        seq += 1;
        events.push(Event {
            time_ns,
            seq,
            process,
            kind,
            f: f.to_string(),
            value,
            error,
        });
    };
    for (id, fault) in demo_faults().into_iter().enumerate() {
        let mut start_value = fault.value.clone();
        start_value["id"] = json!(id);
        let start_ns = (fault.start * duration_ns as f64) as u64;
        push(
            &mut events,
            start_ns,
            Process::Nemesis,
            OpType::Info,
            &format!("start-{}", fault.fault),
            start_value,
            None,
        );
        if let Some(stop) = fault.stop {
            let stop_ns = (stop * duration_ns as f64) as u64;
            push(
                &mut events,
                stop_ns,
                Process::Nemesis,
                OpType::Info,
                &format!("stop-{}", fault.fault),
                json!({"id": id}),
                None,
            );
        }
    }
    let mean_gap_ms = 1_000.0 * shape.clients as f64 / shape.rate_per_s.max(0.001);
    for thread in 0..shape.clients {
        let mut process = thread;
        let mut now_ms = rng.unit() * mean_gap_ms;
        while now_ms < shape.duration_s * 1_000.0 {
            let f = ["read", "write", "cas"][(rng.next_u64() % 3) as usize];
            let value = match f {
                "read" => Value::Null,
                "write" => json!(rng.next_u64() % 5),
                _ => json!([rng.next_u64() % 5, rng.next_u64() % 5]),
            };
            let invoke_ns = (now_ms * 1e6) as u64;
            push(
                &mut events,
                invoke_ns,
                Process::Client(process),
                OpType::Invoke,
                f,
                value.clone(),
                None,
            );
            let (kind, latency_ms, error) =
                outcome_at(now_ms / (shape.duration_s * 1_000.0), &mut rng);
            let end_ms = now_ms + latency_ms;
            if end_ms >= shape.duration_s * 1_000.0 {
                break; // still in flight when the run ends
            }
            push(
                &mut events,
                (end_ms * 1e6) as u64,
                Process::Client(process),
                kind,
                f,
                value,
                error,
            );
            if kind == OpType::Info {
                process += shape.clients; // the thread goes on under a fresh id
            }
            now_ms = end_ms + mean_gap_ms * (0.5 + rng.unit());
        }
    }
    into_history(events, duration_ns)
}

fn into_history(mut events: Vec<Event>, duration_ns: u64) -> Vec<Op> {
    events.sort_by_key(|e| (e.time_ns.min(duration_ns), e.seq));
    events
        .into_iter()
        .enumerate()
        .map(|(index, e)| Op {
            index: index as u64,
            time_ns: e.time_ns.min(duration_ns),
            process: e.process,
            kind: e.kind,
            f: e.f,
            key: None,
            value: e.value,
            error: e.error.map(str::to_string),
        })
        .collect()
}
