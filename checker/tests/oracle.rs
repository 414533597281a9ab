//! Property test: on thousands of small random register histories (up to 12 ops, several
//! processes, cas, info and fail ops) the checker agrees with a brute-force oracle that
//! enumerates every linearization. Histories come from simulating a real register (so
//! many are linearizable) and are then sometimes corrupted (so many are not).

use checker::{
    LinearizabilityOptions, ModelKind, Op, OpType, Process, Verdict, check_linearizability_history,
};
use proptest::prelude::*;
use serde_json::{Value, json};

/// splitmix64: a tiny deterministic generator driven by proptest's seed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[derive(Clone, Debug)]
enum Kind {
    Read,
    Write(i64),
    Cas(i64, i64),
}

/// One operation as the oracle sees it.
#[derive(Clone, Debug)]
struct OracleOp {
    kind: Kind,
    /// What a read returned.
    read: Option<Option<i64>>,
    inv: usize,
    /// `None`: unknown outcome.
    ret: Option<usize>,
}

struct InFlight {
    process: u64,
    kind: Kind,
    applied: bool,
    result: Value,
    succeeded: bool,
}

fn value_of(kind: &Kind) -> Value {
    match kind {
        Kind::Read => Value::Null,
        Kind::Write(v) => json!(v),
        Kind::Cas(a, b) => json!([a, b]),
    }
}

fn f_of(kind: &Kind) -> &'static str {
    match kind {
        Kind::Read => "read",
        Kind::Write(_) => "write",
        Kind::Cas(..) => "cas",
    }
}

/// Simulates a register with random linearization points, then maybe corrupts one result.
fn generate(seed: u64) -> Vec<Op> {
    let mut rng = Rng(seed);
    let processes = 2 + rng.below(3);
    let total_ops = 1 + rng.below(12) as usize;
    let mut register: Option<i64> = None;
    let mut next_process: Vec<u64> = (0..processes).collect();
    let mut flying: Vec<Option<InFlight>> = (0..processes).map(|_| None).collect();
    let mut ops = Vec::new();
    let mut started = 0;
    let push = |ops: &mut Vec<Op>, process: u64, kind: OpType, f: &str, value: Value| {
        ops.push(Op {
            index: ops.len() as u64,
            time_ns: ops.len() as u64,
            process: Process::Client(process),
            kind,
            f: f.into(),
            key: None,
            value,
            error: None,
        });
    };
    while started < total_ops || flying.iter().any(Option::is_some) {
        let slot = rng.below(processes) as usize;
        match &mut flying[slot] {
            None if started < total_ops => {
                let kind = match rng.below(3) {
                    0 => Kind::Read,
                    1 => Kind::Write(rng.below(3) as i64),
                    _ => Kind::Cas(rng.below(3) as i64, rng.below(3) as i64),
                };
                push(
                    &mut ops,
                    next_process[slot],
                    OpType::Invoke,
                    f_of(&kind),
                    value_of(&kind),
                );
                flying[slot] = Some(InFlight {
                    process: next_process[slot],
                    kind,
                    applied: false,
                    result: Value::Null,
                    succeeded: false,
                });
                started += 1;
            }
            None => {}
            Some(op) if !op.applied && rng.below(2) == 0 => {
                // The linearization point.
                op.applied = true;
                match op.kind {
                    Kind::Read => op.result = register.map_or(Value::Null, |v| json!(v)),
                    Kind::Write(v) => {
                        register = Some(v);
                        op.result = json!(v);
                        op.succeeded = true
                    }
                    Kind::Cas(a, b) => {
                        op.succeeded = register == Some(a);
                        if op.succeeded {
                            register = Some(b)
                        }
                        op.result = json!([a, b])
                    }
                }
                if matches!(op.kind, Kind::Read) {
                    op.succeeded = true
                }
            }
            Some(_) => {
                let op = flying[slot].take().expect("in flight");
                let f = f_of(&op.kind);
                if rng.below(6) == 0 {
                    // Unknown outcome (applied or not): the process takes a fresh id.
                    push(&mut ops, op.process, OpType::Info, f, value_of(&op.kind));
                    next_process[slot] += processes;
                } else if !op.applied {
                    // Never applied: a definite failure.
                    push(&mut ops, op.process, OpType::Fail, f, value_of(&op.kind));
                } else if op.succeeded {
                    push(&mut ops, op.process, OpType::Ok, f, op.result);
                } else {
                    push(&mut ops, op.process, OpType::Fail, f, op.result);
                }
            }
        }
    }
    corrupt(&mut ops, &mut rng);
    ops
}

/// Half the time, change one ok result: a read's value, or a failed cas reported ok.
fn corrupt(ops: &mut [Op], rng: &mut Rng) {
    if rng.below(2) == 0 {
        return;
    }
    let candidates: Vec<usize> = (0..ops.len())
        .filter(|&i| {
            (ops[i].kind == OpType::Ok && ops[i].f == "read")
                || (ops[i].kind == OpType::Fail && ops[i].f == "cas")
        })
        .collect();
    if candidates.is_empty() {
        return;
    }
    let i = candidates[rng.below(candidates.len() as u64) as usize];
    if ops[i].f == "read" {
        let v = rng.below(4);
        ops[i].value = if v == 3 { Value::Null } else { json!(v) };
    } else {
        ops[i].kind = OpType::Ok;
    }
}

/// Pairs records into oracle ops; `fail`s are dropped (Jepsen's reading), `info` reads too.
fn oracle_ops(history: &[Op]) -> Vec<OracleOp> {
    let mut open: Vec<(Process, usize)> = Vec::new();
    let mut out = Vec::new();
    for (pos, op) in history.iter().enumerate() {
        if op.kind == OpType::Invoke {
            open.push((op.process, pos));
            continue;
        }
        let at = open
            .iter()
            .position(|(p, _)| *p == op.process)
            .expect("paired");
        let (_, inv) = open.remove(at);
        let invoke = &history[inv];
        let kind = match invoke.f.as_str() {
            "read" => Kind::Read,
            "write" => Kind::Write(invoke.value.as_i64().expect("int")),
            _ => Kind::Cas(
                invoke.value[0].as_i64().expect("int"),
                invoke.value[1].as_i64().expect("int"),
            ),
        };
        match op.kind {
            OpType::Fail => {}
            OpType::Info if matches!(kind, Kind::Read) => {}
            OpType::Info => out.push(OracleOp {
                kind,
                read: None,
                inv,
                ret: None,
            }),
            _ => {
                let read = matches!(kind, Kind::Read).then(|| op.value.as_i64());
                out.push(OracleOp {
                    kind,
                    read,
                    inv,
                    ret: Some(pos),
                });
            }
        }
    }
    for (_, inv) in open {
        let invoke = &history[inv];
        match invoke.f.as_str() {
            "write" => out.push(OracleOp {
                kind: Kind::Write(invoke.value.as_i64().expect("int")),
                read: None,
                inv,
                ret: None,
            }),
            "cas" => out.push(OracleOp {
                kind: Kind::Cas(
                    invoke.value[0].as_i64().expect("int"),
                    invoke.value[1].as_i64().expect("int"),
                ),
                read: None,
                inv,
                ret: None,
            }),
            _ => {}
        }
    }
    out
}

/// Tries every order that respects real time; unknown-outcome ops may also be left out.
fn linearizable(ops: &[OracleOp], done: &mut Vec<bool>, state: Option<i64>) -> bool {
    if ops
        .iter()
        .zip(done.iter())
        .all(|(op, d)| *d || op.ret.is_none())
    {
        return true;
    }
    for i in 0..ops.len() {
        if done[i] {
            continue;
        }
        // i may go next only if no other pending definite op returned before i was invoked.
        let blocked = (0..ops.len())
            .any(|j| !done[j] && j != i && ops[j].ret.is_some_and(|r| r < ops[i].inv));
        if blocked {
            continue;
        }
        let next = match (&ops[i].kind, ops[i].ret) {
            (Kind::Read, _) => (ops[i].read == Some(state)).then_some(state),
            (Kind::Write(v), _) => Some(Some(*v)),
            (Kind::Cas(a, b), Some(_)) => (state == Some(*a)).then_some(Some(*b)),
            (Kind::Cas(a, b), None) => Some(if state == Some(*a) { Some(*b) } else { state }),
        };
        if let Some(next) = next {
            done[i] = true;
            let found = linearizable(ops, done, next);
            done[i] = false;
            if found {
                return true;
            }
        }
    }
    false
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    #[test]
    fn checker_agrees_with_brute_force(seed in any::<u64>()) {
        let history = generate(seed);
        let ops = oracle_ops(&history);
        let expected = linearizable(&ops, &mut vec![false; ops.len()], None);
        let result = check_linearizability_history(history.clone(), Some(ModelKind::CasRegister), &LinearizabilityOptions::default())
            .expect("generated histories are well-formed");
        let got = result.verdict;
        prop_assert_ne!(got, Verdict::Unknown);
        prop_assert_eq!(got == Verdict::Valid, expected, "history: {:#?}", history);
    }
}

/// Both verdicts must be common among generated histories (counted on a fixed sample of
/// the same generator), or the property above proves little.
#[test]
fn generator_yields_both_verdicts_often() {
    let (mut valid, mut invalid) = (0, 0);
    for seed in 0..2000u64 {
        let history = generate(seed.wrapping_mul(0x2545_F491_4F6C_DD1D));
        let ops = oracle_ops(&history);
        if linearizable(&ops, &mut vec![false; ops.len()], None) {
            valid += 1
        } else {
            invalid += 1
        }
    }
    assert!(
        valid > 400 && invalid > 400,
        "valid {valid}, invalid {invalid} of 2000"
    );
}
