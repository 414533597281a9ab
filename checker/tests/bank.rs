//! The bank check (`checker::bank`): each bad-read kind, valid histories with concurrency
//! and `info`/`fail` transfers, the availability table against hand-computed numbers,
//! option inference, bad input and files; and a property test that simulates a correct
//! bank (must be valid) and then corrupts one read (must be invalid).

use std::collections::BTreeMap;
use std::io::Write;

use checker::bank::{BankOptions, BankResult, check_bank, check_bank_file};
use checker::format::Format;
use checker::history::{Op, OpType, Process};
use checker::verdict::Verdict;
use proptest::prelude::*;
use serde_json::{Value, json};

mod support;

use support::History;

impl History {
    fn push(
        &mut self,
        time_ns: u64,
        process: Process,
        kind: OpType,
        f: &str,
        value: Value,
    ) -> &mut Self {
        self.record(time_ns, process, kind, f, None, value)
    }
    fn at(&mut self, t: u64, p: u64, kind: OpType, f: &str, value: Value) -> &mut Self {
        self.push(t, Process::Client(p), kind, f, value)
    }
    fn nemesis(&mut self, t: u64, f: &str, value: Value) -> &mut Self {
        self.push(t, Process::Nemesis, OpType::Info, f, value)
    }
    /// A transfer invoked at `from_t` and completed with `kind` at `to_t`.
    fn transfer(&mut self, p: u64, from_t: u64, to_t: u64, kind: OpType) -> &mut Self {
        let value = json!({"from": "a", "to": "b", "amount": 1});
        self.at(from_t, p, OpType::Invoke, "transfer", value.clone())
            .at(to_t, p, kind, "transfer", value)
    }
    /// An ok read at `t` that returned `balances`.
    fn read(&mut self, p: u64, t: u64, balances: Value) -> &mut Self {
        self.at(t, p, OpType::Invoke, "read", Value::Null).at(
            t + 1,
            p,
            OpType::Ok,
            "read",
            balances,
        )
    }
}

/// Accounts a, b, c holding 100 in all.
fn options() -> BankOptions {
    let balances: BTreeMap<String, i64> = [("a", 50), ("b", 30), ("c", 20)]
        .map(|(a, b)| (a.to_string(), b))
        .into();
    BankOptions::from_balances(&balances)
}

fn check(history: &History) -> BankResult {
    check_bank(&history.ops, &options()).expect("well-formed history")
}

#[test]
fn options_from_balances_sum_them() {
    let options = options();
    assert_eq!(options.accounts, ["a", "b", "c"]);
    assert_eq!(options.total, 100);
}

#[test]
fn empty_history_is_valid() {
    let result = check_bank(&[], &options()).unwrap();
    assert_eq!(result.verdict, Verdict::Valid);
    assert_eq!(result.history_lines, 0);
    assert!(result.availability.is_empty());
    assert_eq!(result.whole_run.transfers_invoked, 0);
}

#[test]
fn reads_that_sum_to_the_total_are_valid_whatever_the_transfers_did() {
    let mut h = History::default();
    h.read(0, 0, json!({"a": 50, "b": 30, "c": 20}))
        .at(
            10,
            1,
            OpType::Invoke,
            "transfer",
            json!({"from": "a", "to": "b", "amount": 5}),
        )
        .at(11, 2, OpType::Invoke, "read", Value::Null) // concurrent with the transfer
        .at(12, 1, OpType::Ok, "transfer", Value::Null)
        .at(
            13,
            2,
            OpType::Ok,
            "read",
            json!({"a": 45, "b": 35, "c": 20}),
        )
        .transfer(3, 20, 21, OpType::Fail)
        .transfer(4, 22, 23, OpType::Info)
        .at(30, 5, OpType::Invoke, "read", Value::Null)
        .at(31, 5, OpType::Fail, "read", Value::Null)
        .at(32, 6, OpType::Invoke, "read", Value::Null)
        .at(33, 6, OpType::Info, "read", Value::Null)
        .at(
            34,
            7,
            OpType::Invoke,
            "transfer",
            json!({"from": "c", "to": "a", "amount": 3}),
        )
        .read(8, 40, json!({"a": 48, "b": 29, "c": 23}));
    let result = check(&h);
    assert_eq!(result.verdict, Verdict::Valid, "{}", result.to_text());
    assert_eq!(
        (
            result.transfers.ok,
            result.transfers.fail,
            result.transfers.info
        ),
        (1, 1, 2)
    );
    assert_eq!(
        (result.reads.ok, result.reads.fail, result.reads.info),
        (3, 1, 1)
    );
    assert_eq!(result.bad_reads, 0);
    assert!(result.first_bad_read.is_none());
}

#[test]
fn a_wrong_total_is_invalid_and_located() {
    let mut h = History::default();
    h.read(0, 5, json!({"a": 50, "b": 30, "c": 20}))
        .read(3, 1_000_000_000, json!({"a": 50, "b": 31, "c": 20})) // ops 2, 3
        .read(4, 2_000_000_000, json!({"a": 0, "b": 0, "c": 0}));
    let result = check(&h);
    assert_eq!(result.verdict, Verdict::Invalid);
    assert_eq!(result.bad_reads, 2);
    assert_eq!(result.bad_read_counts.wrong_total, 2);
    let bad = result.first_bad_read.as_ref().unwrap();
    assert_eq!((bad.position, bad.index, bad.process), (3, 3, 3));
    assert_eq!(bad.time_ns, 1_000_000_001);
    assert_eq!((bad.sum, bad.expected_total), (101, 100));
    assert_eq!(bad.balances.get("b"), Some(&Some(31)));
    assert!(bad.negative.is_empty() && bad.unknown.is_empty() && bad.missing.is_empty());
    assert_eq!(result.bad_read_examples.len(), 2);
    let text = result.to_text();
    assert!(text.contains("sums to 101 (expected 100)"), "{text}");
    assert!(text.contains("first bad read: op 3"), "{text}");
}

#[test]
fn a_negative_balance_is_invalid_even_with_the_right_total() {
    let mut h = History::default();
    h.read(0, 0, json!({"a": 110, "b": -10, "c": 0}));
    let result = check(&h);
    assert_eq!(result.verdict, Verdict::Invalid);
    assert_eq!(result.bad_read_counts.negative, 1);
    assert_eq!(result.bad_read_counts.wrong_total, 0);
    assert_eq!(result.first_bad_read.unwrap().negative, ["b"]);
}

#[test]
fn an_unknown_account_is_invalid() {
    let mut h = History::default();
    h.read(0, 0, json!({"a": 50, "b": 30, "c": 10, "z": 10}));
    let result = check(&h);
    assert_eq!(result.verdict, Verdict::Invalid);
    assert_eq!(result.bad_read_counts.unknown_account, 1);
    assert_eq!(result.first_bad_read.as_ref().unwrap().unknown, ["z"]);
    assert!(result.to_text().contains("unknown accounts: z"));
}

#[test]
fn a_missing_account_is_invalid() {
    let mut h = History::default();
    h.read(0, 0, json!({"a": 70, "b": 30}));
    let result = check(&h);
    assert_eq!(result.verdict, Verdict::Invalid);
    assert_eq!(result.bad_read_counts.missing_account, 1);
    assert_eq!(result.first_bad_read.unwrap().missing, ["c"]);
}

#[test]
fn a_null_balance_is_a_bad_read_not_bad_input() {
    let mut h = History::default();
    h.read(0, 0, json!({"a": 80, "b": 20, "c": null}));
    let result = check(&h);
    assert_eq!(result.verdict, Verdict::Invalid);
    assert_eq!(result.bad_read_counts.null_balance, 1);
    // One wording of a bad read (`BadRead::describe`), in the check's text and the run's
    // summary alike: the null balance is named.
    assert!(
        result.to_text().contains(
            "first bad read: op 1 at 0.000 s, process 0: {a=80, b=20, c=null} sums to 100 \
             (expected 100); null balance: c"
        ),
        "{}",
        result.to_text()
    );
    assert_eq!(result.first_bad_read.unwrap().null_balance, ["c"]);
}

#[test]
fn transfers_without_any_ok_read_are_unknown() {
    let mut h = History::default();
    h.transfer(0, 0, 1, OpType::Ok)
        .at(2, 1, OpType::Invoke, "read", Value::Null)
        .at(3, 1, OpType::Info, "read", Value::Null);
    assert_eq!(check(&h).verdict, Verdict::Unknown);
}

#[test]
fn bad_read_examples_are_capped_but_counted() {
    let mut h = History::default();
    for i in 0..20 {
        h.read(i, i * 10, json!({"a": 1, "b": 1, "c": 1}));
    }
    let result = check(&h);
    assert_eq!(result.bad_reads, 20);
    assert_eq!(result.bad_read_examples.len(), 5);
    assert_eq!(
        result.bad_read_examples[0],
        result.first_bad_read.clone().unwrap()
    );
}

#[test]
fn integer_accounts_match_their_text() {
    let options = BankOptions {
        accounts: vec!["0".into(), "1".into()],
        total: 10,
    };
    let mut h = History::default();
    h.at(
        0,
        0,
        OpType::Invoke,
        "transfer",
        json!({"from": 0, "to": 1, "amount": 2}),
    )
    .at(1, 0, OpType::Ok, "transfer", Value::Null)
    .read(1, 2, json!({"0": 3, "1": 7}));
    let result = check_bank(&h.ops, &options).unwrap();
    assert_eq!(result.verdict, Verdict::Valid, "{}", result.to_text());
}

/// Window [100, 800] with ok transfers at 120 and 750, a transfer failing after 270 ns in
/// flight (130..400), an idle stretch (400..500), one ending info (500..600), and one
/// in flight 700..750: the longest gap is 120..750 counting only in-flight time,
/// 270 + 100 + 50 = 420 ns.
#[test]
fn availability_per_fault_window_matches_hand_computation() {
    let mut h = History::default();
    h.transfer(0, 0, 10, OpType::Ok)
        .nemesis(100, "start-partition", json!({"id": 1, "shape": "halves"}))
        .transfer(1, 110, 120, OpType::Ok)
        .transfer(2, 130, 400, OpType::Fail)
        .transfer(3, 500, 600, OpType::Info)
        .transfer(4, 700, 750, OpType::Ok)
        .nemesis(800, "stop-partition", json!({"id": 1}))
        .nemesis(850, "start-kill", json!({"id": 2, "nodes": ["n1"]}))
        .transfer(5, 900, 950, OpType::Ok);
    let result = check(&h);
    assert_eq!(result.availability.len(), 2);

    let partition = &result.availability[0];
    assert_eq!(partition.window.fault, "partition");
    assert_eq!(partition.window.id, Some(1));
    assert_eq!(
        (partition.window.start_ns, partition.window.stop_ns),
        (100, 800)
    );
    assert!(partition.window.stopped);
    assert_eq!(partition.transfers_invoked, 4);
    let t = partition.transfers;
    assert_eq!((t.ok, t.fail, t.info), (2, 1, 1));
    assert_eq!(partition.longest_gap_ns, 420);
    assert_eq!(partition.longest_gap_from_ns, 120);

    let kill = &result.availability[1];
    assert_eq!(kill.window.fault, "kill");
    assert!(!kill.window.stopped, "never stopped: open to the end");
    assert_eq!(kill.window.stop_ns, 950);
    assert_eq!(kill.transfers_invoked, 1);
    assert_eq!(kill.transfers.ok, 1);
    assert_eq!(kill.longest_gap_ns, 50);

    let whole = &result.whole_run;
    assert_eq!((whole.window.start_ns, whole.window.stop_ns), (0, 950));
    assert_eq!(whole.transfers_invoked, 6);
    assert_eq!(
        (
            whole.transfers.ok,
            whole.transfers.fail,
            whole.transfers.info
        ),
        (4, 1, 1)
    );
    assert_eq!(whole.longest_gap_ns, 420);

    let text = result.to_text();
    assert!(text.contains("partition #1"), "{text}");
    assert!(text.contains("(open)"), "{text}");
    assert!(text.contains("whole run"), "{text}");
}

#[test]
fn a_transfer_never_completed_is_in_flight_to_the_end() {
    let mut h = History::default();
    h.nemesis(0, "start-pause", json!({"id": 3}))
        .at(
            10,
            0,
            OpType::Invoke,
            "transfer",
            json!({"from": "a", "to": "b", "amount": 1}),
        )
        .nemesis(100, "stop-pause", json!({"id": 3}))
        .read(1, 200, json!({"a": 50, "b": 30, "c": 20}));
    let result = check(&h);
    let pause = &result.availability[0];
    assert_eq!(pause.transfers.info, 1);
    assert_eq!(
        pause.longest_gap_ns, 90,
        "in flight from 10 to the window's end"
    );
    assert_eq!(
        result.whole_run.longest_gap_ns, 191,
        "in flight until the last record"
    );
}

#[test]
fn nemesis_windows_without_ids_pair_by_kind_in_order() {
    let mut h = History::default();
    h.nemesis(0, "start-partition", json!({}))
        .nemesis(5, "start-kill", Value::Null)
        .nemesis(10, "stop-partition", Value::Null)
        .nemesis(20, "stop-kill", Value::Null)
        .push(
            25,
            Process::Nemesis,
            OpType::Invoke,
            "start-pause",
            Value::Null,
        );
    let windows: Vec<(String, u64, u64)> = check(&h)
        .availability
        .iter()
        .map(|a| (a.window.fault.clone(), a.window.start_ns, a.window.stop_ns))
        .collect();
    assert_eq!(
        windows,
        [
            ("partition".to_string(), 0, 10),
            ("kill".to_string(), 5, 20)
        ],
        "invokes do not open windows"
    );
}

#[test]
fn options_can_be_inferred_from_the_first_read() {
    let mut h = History::default();
    h.transfer(0, 0, 1, OpType::Ok)
        .read(1, 2, json!({"x": 4, "y": 6}))
        .read(1, 4, json!({"x": 5, "y": 6}));
    let inferred = BankOptions::infer(&h.ops).unwrap().unwrap();
    assert_eq!(inferred.accounts, ["x", "y"]);
    assert_eq!(inferred.total, 10);
    let result = check_bank(&h.ops, &inferred).unwrap();
    assert_eq!(result.verdict, Verdict::Invalid);
    assert_eq!(BankOptions::infer(&[]).unwrap(), None);
}

#[test]
fn bad_shapes_are_refused_with_their_position() {
    let cases: Vec<(History, usize, &str)> = vec![
        {
            let mut h = History::default();
            h.at(
                0,
                0,
                OpType::Invoke,
                "transfer",
                json!({"from": "a", "amount": 1}),
            );
            (h, 0, "transfer value")
        },
        {
            let mut h = History::default();
            h.at(
                0,
                0,
                OpType::Invoke,
                "transfer",
                json!({"from": "a", "to": "b", "amount": 1.5}),
            );
            (h, 0, "transfer value")
        },
        {
            let mut h = History::default();
            h.read(0, 0, json!([50, 30, 20]));
            (h, 1, "a read value")
        },
        {
            let mut h = History::default();
            h.read(0, 0, json!({"a": "fifty"}));
            (h, 1, "integer balance")
        },
        {
            let mut h = History::default();
            h.read(0, 0, json!({"a": 50, "b": 30, "c": 20})).at(
                5,
                0,
                OpType::Invoke,
                "withdraw",
                json!(1),
            );
            (h, 2, "bank function")
        },
        {
            let mut h = History::default();
            h.at(0, 4, OpType::Ok, "read", json!({}));
            (h, 0, "an invoke")
        },
    ];
    for (h, position, expected) in cases {
        let err = check_bank(&h.ops, &options()).expect_err("must be refused");
        assert_eq!(err.position, position, "{err}");
        assert!(err.expected.contains(expected), "{err}");
    }
}

fn file_with(text: &str) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    file.write_all(text.as_bytes()).expect("write");
    file
}

#[test]
fn files_are_checked_with_given_or_inferred_options() {
    let text = r#"{"index":0,"time":1,"process":0,"type":"invoke","f":"read","value":null}
{"index":1,"time":2,"process":0,"type":"ok","f":"read","value":{"a":50,"b":30,"c":20}}
{"index":2,"time":3,"process":0,"type":"invoke","f":"read","value":null}
{"index":3,"time":4,"process":0,"type":"ok","f":"read","value":{"a":50,"b":30,"c":19}}
"#;
    let file = file_with(text);
    let given = check_bank_file(file.path(), Format::Auto, Some(&options())).unwrap();
    assert_eq!(given.verdict, Verdict::Invalid);
    assert!(!given.options_inferred);
    let inferred = check_bank_file(file.path(), Format::Jsonl, None).unwrap();
    assert_eq!(inferred.verdict, Verdict::Invalid);
    assert!(inferred.options_inferred);
    assert_eq!(inferred.total, 100);
    assert!(inferred.to_text().contains("taken from the first read"));
}

#[test]
fn file_errors_name_the_line() {
    let text = "\n{\"index\":0,\"time\":1,\"process\":0,\"type\":\"invoke\",\"f\":\"read\"}\n\
                {\"index\":1,\"time\":2,\"process\":0,\"type\":\"ok\",\"f\":\"read\",\"value\":7}\n";
    let file = file_with(text);
    let err = check_bank_file(file.path(), Format::Jsonl, Some(&options())).unwrap_err();
    assert_eq!(err.line, 3, "{err}");
    assert!(err.to_string().contains("expected a read value"), "{err}");

    let file = file_with("{\"index\":0,\"time\":1}\n");
    let err = check_bank_file(file.path(), Format::Jsonl, Some(&options())).unwrap_err();
    assert_eq!(err.line, 1);
}

#[test]
fn jepsen_edn_bank_histories_are_read() {
    let text = "{:type :invoke, :f :transfer, :value {:from 0, :to 1, :amount 3}, :process 0, :time 1}\n\
                {:type :ok, :f :transfer, :value {:from 0, :to 1, :amount 3}, :process 0, :time 2}\n\
                {:type :invoke, :f :read, :value nil, :process 1, :time 3}\n\
                {:type :ok, :f :read, :value {0 7, 1 13}, :process 1, :time 4}\n";
    let file = file_with(text);
    let options = BankOptions {
        accounts: vec!["0".into(), "1".into()],
        total: 20,
    };
    let result = check_bank_file(file.path(), Format::Auto, Some(&options)).unwrap();
    assert_eq!(result.verdict, Verdict::Valid, "{}", result.to_text());
    assert_eq!(result.reads.ok, 1);
}

// ---- the simulated correct bank ------------------------------------------------------

/// A correct bank under concurrent clients driven by `choices`: each op takes effect at
/// one point between its invoke and completion; failed transfers never do; an `info`
/// transfer may have. Balances may go negative only if a transfer allows it; this bank
/// refuses (fails) a transfer that would overdraw.
fn simulate_correct_bank(clients: usize, choices: &[u16]) -> Vec<Op> {
    #[derive(Clone)]
    struct InFlight {
        transfer: Option<(usize, usize, i64)>,
        applied: bool,
        refused: bool,
        observed: Value,
    }
    let accounts = ["a", "b", "c"];
    let mut balances = [50i64, 30, 20];
    let snapshot =
        |balances: &[i64; 3]| json!({"a": balances[0], "b": balances[1], "c": balances[2]});
    let mut history = History::default();
    let mut processes: Vec<u64> = (0..clients as u64).collect();
    let mut next_process = clients as u64;
    let mut in_flight: Vec<Option<InFlight>> = vec![None; clients];
    for (step, &choice) in choices.iter().enumerate() {
        let t = step as u64 * 1000;
        let slot = usize::from(choice) % clients;
        let roll = choice / 8 % 16;
        let p = processes[slot];
        match in_flight[slot].take() {
            None if roll < 9 => {
                let from = usize::from(choice / 128) % 3;
                let to = (from + 1 + usize::from(choice / 512) % 2) % 3;
                let amount = i64::from(choice / 1024 % 40);
                let value = json!({"from": accounts[from], "to": accounts[to], "amount": amount});
                history.at(t, p, OpType::Invoke, "transfer", value);
                in_flight[slot] = Some(InFlight {
                    transfer: Some((from, to, amount)),
                    applied: false,
                    refused: false,
                    observed: Value::Null,
                });
            }
            None => {
                history.at(t, p, OpType::Invoke, "read", Value::Null);
                in_flight[slot] = Some(InFlight {
                    transfer: None,
                    applied: false,
                    refused: false,
                    observed: Value::Null,
                });
            }
            Some(mut op) if !op.applied => {
                op.applied = true;
                match op.transfer {
                    Some((from, to, amount)) if balances[from] >= amount => {
                        balances[from] -= amount;
                        balances[to] += amount;
                    }
                    Some(_) => op.refused = true,
                    None => op.observed = snapshot(&balances),
                }
                in_flight[slot] = Some(op);
            }
            Some(op) => {
                let info = roll >= 13;
                let kind = match (info, op.refused) {
                    (true, _) => OpType::Info,
                    (false, true) => OpType::Fail,
                    (false, false) => OpType::Ok,
                };
                let (f, value) = match op.transfer {
                    Some(_) => ("transfer", Value::Null),
                    None if info => ("read", Value::Null),
                    None => ("read", op.observed),
                };
                history.at(t, p, kind, f, value);
                if info {
                    processes[slot] = next_process;
                    next_process += 1;
                }
            }
        }
    }
    let end = choices.len() as u64 * 1000;
    history.read(next_process, end, snapshot(&balances));
    history.ops
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn simulated_correct_banks_are_valid(
        clients in 1usize..6,
        choices in prop::collection::vec(any::<u16>(), 0..300),
    ) {
        let ops = simulate_correct_bank(clients, &choices);
        let result = check_bank(&ops, &options()).expect("well-formed");
        prop_assert_eq!(result.verdict, Verdict::Valid, "{}", result.to_text());
        prop_assert!(result.reads.ok >= 1);
    }

    #[test]
    fn a_corrupted_read_is_invalid(
        clients in 1usize..6,
        choices in prop::collection::vec(any::<u16>(), 0..300),
        pick in any::<prop::sample::Index>(),
        delta in prop_oneof![-5i64..0, 1i64..5],
    ) {
        let mut ops = simulate_correct_bank(clients, &choices);
        let reads: Vec<usize> = ops
            .iter()
            .enumerate()
            .filter(|(_, op)| op.f == "read" && op.kind == OpType::Ok)
            .map(|(pos, _)| pos)
            .collect();
        let victim = *pick.get(&reads);
        ops[victim].value["b"] = json!(ops[victim].value["b"].as_i64().unwrap() + delta);
        let result = check_bank(&ops, &options()).expect("well-formed");
        prop_assert_eq!(result.verdict, Verdict::Invalid);
        prop_assert_eq!(result.bad_reads, 1);
        prop_assert_eq!(result.first_bad_read.unwrap().position, victim);
    }

    /// Arbitrary records, well-formed or not: an answer or a located error, never a panic.
    #[test]
    fn never_panics_on_arbitrary_records(
        records in prop::collection::vec(arbitrary_record(), 0..40),
    ) {
        let ops: Vec<Op> = records
            .into_iter()
            .enumerate()
            .map(|(i, (process, kind, f, time_ns, value))| Op {
                index: i as u64,
                time_ns,
                process,
                kind,
                f,
                key: None,
                value,
                error: None,
            })
            .collect();
        match check_bank(&ops, &options()) {
            Ok(result) => { let _ = result.to_text(); }
            Err(e) => prop_assert!(e.position < ops.len()),
        }
        let _ = BankOptions::infer(&ops);
    }
}

fn arbitrary_record() -> impl Strategy<Value = (Process, OpType, String, u64, Value)> {
    let process = prop_oneof![(0u64..3).prop_map(Process::Client), Just(Process::Nemesis)];
    let kind = prop_oneof![
        Just(OpType::Invoke),
        Just(OpType::Ok),
        Just(OpType::Fail),
        Just(OpType::Info)
    ];
    let f = prop_oneof![
        Just("transfer".to_string()),
        Just("read".to_string()),
        Just("start-kill".to_string()),
        Just("stop-kill".to_string())
    ];
    // Times out of order on purpose: the check must not assume they are sorted.
    let time = prop_oneof![0u64..100, Just(u64::MAX)];
    let value = prop_oneof![
        Just(Value::Null),
        Just(json!({"from": "a", "to": "b", "amount": 1})),
        Just(json!({"a": i64::MAX, "b": i64::MAX, "c": -1})),
        Just(json!({"a": 50, "b": 30, "c": 20})),
        Just(json!({"id": 1})),
        Just(json!([1, 2])),
    ];
    (process, kind, f, time, value)
}
