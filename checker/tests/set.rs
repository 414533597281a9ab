//! The set check (`checker::set_check`): hand-made histories for each outcome and each
//! anomaly, keys, bad input, files; and a property test that simulates a correct set
//! (concurrent clients, `info` and `fail` adds, adds that take effect after their `info`)
//! whose histories must be valid, and become invalid when one acknowledged element is
//! deleted from one later read.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;

use checker::calls::ShapeError;
use checker::format::Format;
use checker::history::{Op, OpType, Process};
use checker::set_check::{SetResult, UnexpectedReason, check_set, check_set_file};
use checker::verdict::Verdict;
use proptest::prelude::*;
use serde_json::{Value, json};

mod support;

use support::History;

impl History {
    fn push(&mut self, process: u64, kind: OpType, f: &str, key: Option<&str>, value: Value) {
        self.next(process, kind, f, key, value);
    }
    fn invoke(&mut self, p: u64, f: &str, value: Value) -> &mut Self {
        self.push(p, OpType::Invoke, f, None, value);
        self
    }
    fn done(&mut self, p: u64, kind: OpType, f: &str, value: Value) -> &mut Self {
        self.push(p, kind, f, None, value);
        self
    }
    /// A complete `add v` by `p` with this outcome.
    fn add(&mut self, p: u64, v: i64, kind: OpType) -> &mut Self {
        self.invoke(p, "add", json!(v))
            .done(p, kind, "add", json!(v))
    }
    /// A complete `ok` read by `p` that returned `seen`.
    fn read(&mut self, p: u64, seen: Value) -> &mut Self {
        self.invoke(p, "read", Value::Null)
            .done(p, OpType::Ok, "read", seen)
    }
}

fn check(history: &History) -> SetResult {
    check_set(&history.ops).expect("well-formed history")
}

#[test]
fn empty_history_is_valid() {
    let result = check_set(&[]).unwrap();
    assert_eq!(result.verdict, Verdict::Valid);
    assert_eq!(result.keys, 0);
    assert_eq!(result.counts.elements, 0);
}

#[test]
fn acknowledged_adds_read_later_are_stable() {
    let mut h = History::default();
    h.add(0, 1, OpType::Ok)
        .add(1, 2, OpType::Ok)
        .read(0, json!([2, 1]));
    let result = check(&h);
    assert_eq!(result.verdict, Verdict::Valid, "{}", result.to_text());
    assert_eq!(result.counts.stable, 2);
    assert_eq!(result.counts.adds.ok, 2);
    assert_eq!(result.counts.reads.ok, 1);
}

#[test]
fn a_read_concurrent_with_an_add_may_miss_it() {
    let mut h = History::default();
    h.invoke(1, "read", Value::Null) // read begins
        .invoke(0, "add", json!(7))
        .done(0, OpType::Ok, "add", json!(7))
        .done(1, OpType::Ok, "read", json!([])) // began before the ack: not blamed
        .read(2, json!([7]));
    let result = check(&h);
    assert_eq!(result.verdict, Verdict::Valid, "{}", result.to_text());
    assert_eq!(result.counts.stable, 1);
    assert_eq!(result.counts.lost + result.counts.stale, 0);
}

#[test]
fn a_read_concurrent_with_an_add_may_see_it_before_the_ack() {
    let mut h = History::default();
    h.invoke(0, "add", json!(7))
        .read(1, json!([7]))
        .done(0, OpType::Ok, "add", json!(7));
    let result = check(&h);
    assert_eq!(result.verdict, Verdict::Valid, "{}", result.to_text());
    assert_eq!(result.counts.stable, 1);
    assert_eq!(result.counts.recovered, 0, "an ok add is not recovered");
}

#[test]
fn an_info_add_that_appears_is_recovered() {
    let mut h = History::default();
    h.add(0, 1, OpType::Info)
        .read(1, json!([1]))
        .read(2, json!([1]));
    let result = check(&h);
    assert_eq!(result.verdict, Verdict::Valid, "{}", result.to_text());
    assert_eq!(result.counts.recovered, 1);
    assert_eq!(result.counts.stable, 1);
    assert_eq!(result.counts.adds.info, 1);
}

#[test]
fn an_info_add_may_take_effect_after_reads_that_missed_it() {
    let mut h = History::default();
    h.add(0, 1, OpType::Info)
        .read(1, json!([]))
        .read(1, json!([1]));
    let result = check(&h);
    assert_eq!(result.verdict, Verdict::Valid, "{}", result.to_text());
    assert_eq!(result.counts.recovered, 1);
}

#[test]
fn an_info_add_never_seen_is_unseen_and_fine() {
    let mut h = History::default();
    h.add(0, 1, OpType::Info)
        .add(1, 2, OpType::Ok)
        .invoke(3, "add", json!(3)) // never completed: info
        .read(2, json!([2]));
    let result = check(&h);
    assert_eq!(result.verdict, Verdict::Valid, "{}", result.to_text());
    assert_eq!(result.counts.unseen, 2);
    assert_eq!(result.counts.adds.info, 2);
    assert_eq!(result.counts.stable, 1);
}

#[test]
fn fail_and_info_reads_constrain_nothing() {
    let mut h = History::default();
    h.add(0, 1, OpType::Ok)
        .invoke(1, "read", Value::Null)
        .done(1, OpType::Fail, "read", Value::Null)
        .invoke(2, "read", Value::Null)
        .done(2, OpType::Info, "read", Value::Null)
        .read(3, json!([1]));
    let result = check(&h);
    assert_eq!(result.verdict, Verdict::Valid, "{}", result.to_text());
    assert_eq!(result.counts.reads.fail, 1);
    assert_eq!(result.counts.reads.info, 1);
}

#[test]
fn an_acknowledged_element_missing_from_the_last_reads_is_lost() {
    let mut h = History::default();
    h.add(0, 1, OpType::Ok)
        .add(0, 2, OpType::Ok)
        .read(1, json!([1, 2])) // ops 4, 5
        .read(1, json!([2])); // ops 6, 7: 1 is gone
    let result = check(&h);
    assert_eq!(result.verdict, Verdict::Invalid);
    assert_eq!(result.counts.lost, 1);
    assert_eq!(result.counts.stable, 1);
    let lost = &result.lost[0];
    assert_eq!(lost.element, "1");
    assert_eq!(lost.known.at.index, 1);
    assert!(!lost.known.by_read);
    assert_eq!(lost.missing_from.invoke.index, 6);
    assert_eq!(lost.missing_from.completion.index, 7);
    assert_eq!(lost.last_seen.map(|r| r.completion.index), Some(5));
    assert_eq!(lost.reads_missing, 1);
    assert!(result.to_text().contains("lost 1"), "{}", result.to_text());
}

#[test]
fn an_acknowledged_element_never_seen_by_later_reads_is_lost() {
    let mut h = History::default();
    h.add(0, 1, OpType::Ok)
        .read(1, json!([]))
        .read(1, json!([]));
    let result = check(&h);
    assert_eq!(result.verdict, Verdict::Invalid);
    assert_eq!(result.counts.lost, 1);
    assert_eq!(result.lost[0].last_seen, None);
    assert_eq!(result.lost[0].reads_missing, 2);
    assert_eq!(
        result.lost[0].missing_from.invoke.index, 4,
        "the latest missing read"
    );
}

#[test]
fn a_recovered_element_that_disappears_is_lost() {
    let mut h = History::default();
    h.add(0, 1, OpType::Info)
        .read(1, json!([1]))
        .read(1, json!([]));
    let result = check(&h);
    assert_eq!(result.verdict, Verdict::Invalid);
    assert_eq!(result.counts.lost, 1);
    assert!(result.lost[0].known.by_read);
}

#[test]
fn missing_then_present_again_is_stale() {
    let mut h = History::default();
    h.add(0, 1, OpType::Ok) // known at op 1
        .read(1, json!([])) // ops 2, 3: began after the ack, misses it
        .read(1, json!([1])); // ops 4, 5
    let result = check(&h);
    assert_eq!(result.verdict, Verdict::Invalid);
    assert_eq!(result.counts.stale, 1);
    assert_eq!(result.counts.lost, 0);
    let stale = &result.stale[0];
    assert_eq!(stale.missing_from.invoke.index, 2);
    assert_eq!(stale.present_again_in.invoke.index, 4);
    assert_eq!(stale.stale_for_ns, 1_000_000, "op 2's time minus op 1's");
    assert!(result.to_text().contains("stale 1"));
}

#[test]
fn order_of_reads_is_by_invocation_not_completion() {
    // Read A (invoked first, ops 2 .. 5) sees the element; read B (invoked later, ops 3 ..
    // 4) misses it and completes first. B is the later read: the element is lost.
    let mut h = History::default();
    h.add(0, 1, OpType::Ok)
        .invoke(1, "read", Value::Null)
        .invoke(2, "read", Value::Null)
        .done(2, OpType::Ok, "read", json!([]))
        .done(1, OpType::Ok, "read", json!([1]));
    let result = check(&h);
    assert_eq!(result.verdict, Verdict::Invalid);
    assert_eq!(result.counts.lost, 1, "{}", result.to_text());
}

#[test]
fn a_value_never_added_is_unexpected() {
    let mut h = History::default();
    h.add(0, 1, OpType::Ok).read(1, json!([1, 99]));
    let result = check(&h);
    assert_eq!(result.verdict, Verdict::Invalid);
    assert_eq!(result.counts.unexpected, 1);
    assert_eq!(result.unexpected[0].element, "99");
    assert_eq!(result.unexpected[0].reason, UnexpectedReason::NeverAdded);
    assert_eq!(result.unexpected[0].first_read.completion.index, 3);
}

#[test]
fn a_failed_add_that_appears_is_unexpected() {
    let mut h = History::default();
    h.add(0, 5, OpType::Fail).read(1, json!([5]));
    let result = check(&h);
    assert_eq!(result.verdict, Verdict::Invalid);
    assert_eq!(result.unexpected[0].reason, UnexpectedReason::AddFailed);
}

#[test]
fn a_value_read_before_its_add_was_invoked_is_unexpected() {
    let mut h = History::default();
    h.read(1, json!([5]))
        .add(0, 5, OpType::Ok)
        .read(1, json!([5]));
    let result = check(&h);
    assert_eq!(result.verdict, Verdict::Invalid);
    assert_eq!(
        result.unexpected[0].reason,
        UnexpectedReason::AddedAfterRead
    );
}

#[test]
fn acknowledged_but_never_read_alone_is_unknown() {
    let mut h = History::default();
    h.add(0, 1, OpType::Ok);
    let result = check(&h);
    assert_eq!(result.verdict, Verdict::Unknown);
    assert_eq!(result.counts.never_read, 1);
    assert_eq!(result.never_read[0].acknowledged.index, 1);
}

#[test]
fn never_read_beside_stable_elements_is_valid() {
    let mut h = History::default();
    h.add(0, 1, OpType::Ok)
        .read(1, json!([1]))
        .add(0, 2, OpType::Ok);
    let result = check(&h);
    assert_eq!(result.verdict, Verdict::Valid);
    assert_eq!(result.counts.never_read, 1);
    assert_eq!(result.counts.stable, 1);
}

#[test]
fn keys_are_separate_sets() {
    let mut h = History::default();
    // key a: 1 added and read; key b: 1 added, read, then lost.
    h.push(0, OpType::Invoke, "add", Some("a"), json!(1));
    h.push(0, OpType::Ok, "add", Some("a"), json!(1));
    h.push(1, OpType::Invoke, "add", Some("b"), json!(1));
    h.push(1, OpType::Ok, "add", Some("b"), json!(1));
    h.push(2, OpType::Invoke, "read", Some("a"), Value::Null);
    h.push(2, OpType::Ok, "read", Some("a"), json!([1]));
    h.push(3, OpType::Invoke, "read", Some("b"), Value::Null);
    h.push(3, OpType::Ok, "read", Some("b"), json!([]));
    let result = check(&h);
    assert_eq!(result.verdict, Verdict::Invalid);
    assert_eq!(result.keys, 2);
    assert_eq!(result.keys_invalid, 1);
    assert_eq!(result.counts.stable, 1);
    assert_eq!(result.counts.lost, 1);
    assert_eq!(result.lost[0].key.as_deref(), Some("b"));
    assert!(result.to_text().contains("(key b)"));
}

#[test]
fn examples_are_capped_but_counts_are_not() {
    let mut h = History::default();
    for v in 0..20 {
        h.add(0, v, OpType::Ok);
    }
    h.read(1, json!([]));
    let result = check(&h);
    assert_eq!(result.counts.lost, 20);
    assert_eq!(result.lost.len(), checker::set_check::EXAMPLES_PER_KIND);
    assert_eq!(
        result.lost[0].element, "0",
        "examples in order of when known"
    );
}

#[test]
fn results_serialize_to_json() {
    let mut h = History::default();
    h.add(0, 1, OpType::Ok).read(1, json!([]));
    let json = serde_json::to_value(check(&h)).unwrap();
    assert_eq!(json["verdict"], "invalid");
    assert_eq!(json["counts"]["lost"], 1);
    assert_eq!(json["lost"][0]["missing_from"]["invoke"]["index"], 2);
}

fn shape_error(history: &History) -> ShapeError {
    check_set(&history.ops).expect_err("bad input must be refused")
}

#[test]
fn a_read_value_that_is_not_a_list_is_refused_with_its_position() {
    let mut h = History::default();
    h.add(0, 1, OpType::Ok).read(1, json!({"a": 1}));
    let err = shape_error(&h);
    assert_eq!(err.position, 3);
    assert_eq!(err.index, 3);
    assert!(err.expected.contains("[...]"), "{err}");
}

#[test]
fn unknown_functions_and_unpaired_records_are_refused() {
    let mut h = History::default();
    h.invoke(0, "write", json!(1))
        .done(0, OpType::Ok, "write", json!(1));
    assert_eq!(shape_error(&h).position, 0);

    let mut h = History::default();
    h.done(0, OpType::Ok, "add", json!(1));
    assert!(shape_error(&h).expected.contains("an invoke"));

    let mut h = History::default();
    h.invoke(0, "add", json!(1)).invoke(0, "add", json!(2));
    assert_eq!(shape_error(&h).position, 1);

    let mut h = History::default();
    h.invoke(0, "add", json!(1))
        .done(0, OpType::Ok, "read", json!([]));
    assert_eq!(shape_error(&h).position, 1);
}

#[test]
fn nemesis_records_are_ignored() {
    let mut h = History::default();
    h.add(0, 1, OpType::Ok);
    h.ops.push(Op {
        index: 2,
        time_ns: 3,
        process: Process::Nemesis,
        kind: OpType::Info,
        f: "start-partition".into(),
        key: None,
        value: json!({"id": 1}),
        error: None,
    });
    h.read(1, json!([1]));
    assert_eq!(check(&h).verdict, Verdict::Valid);
}

fn file_with(text: &str) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    file.write_all(text.as_bytes()).expect("write");
    file
}

#[test]
fn files_are_checked_and_errors_name_the_line() {
    let good = r#"{"index":0,"time":1,"process":0,"type":"invoke","f":"add","value":1}
{"index":1,"time":2,"process":0,"type":"ok","f":"add","value":1}

{"index":2,"time":3,"process":1,"type":"invoke","f":"read","value":null}
{"index":3,"time":4,"process":1,"type":"ok","f":"read","value":[]}
"#;
    let file = file_with(good);
    let result = check_set_file(file.path(), Format::Auto).unwrap();
    assert_eq!(result.verdict, Verdict::Invalid);
    assert_eq!(result.counts.lost, 1);

    let bad = good.replace(r#""value":[]"#, r#""value":"x""#);
    let file = file_with(&bad);
    let err = check_set_file(file.path(), Format::Jsonl).unwrap_err();
    assert_eq!(err.line, 5, "the blank line counts: {err}");
    assert!(
        err.to_string().contains("expected a set read value"),
        "{err}"
    );
}

#[test]
fn edn_files_are_read() {
    let text = "{:type :invoke, :f :add, :value 1, :process 0, :time 1}\n\
                {:type :ok, :f :add, :value 1, :process 0, :time 2}\n\
                {:type :invoke, :f :read, :value nil, :process 1, :time 3}\n\
                {:type :ok, :f :read, :value #{1}, :process 1, :time 4}\n";
    let file = file_with(text);
    let result = check_set_file(file.path(), Format::Auto).unwrap();
    assert_eq!(result.verdict, Verdict::Valid, "{}", result.to_text());
    assert_eq!(result.counts.stable, 1);
}

// ---- the simulated correct set -------------------------------------------------------

/// A client's operation in flight in the simulation.
#[derive(Debug, Clone)]
struct InFlight {
    /// `Some(v)` for add v, `None` for a read.
    add: Option<i64>,
    /// Whether it has taken effect (for a read: the set it observed).
    applied: bool,
    observed: Vec<i64>,
}

/// A correct set with concurrent clients, driven by `choices`: each op takes effect at
/// one point between its invoke and its completion; a `fail` add never takes effect; an
/// `info` add took effect, or takes effect at some later step, or never.
fn simulate_correct_set(clients: usize, choices: &[u16]) -> Vec<Op> {
    let mut history = History::default();
    let mut set: BTreeSet<i64> = BTreeSet::new();
    let mut processes: Vec<u64> = (0..clients as u64).collect();
    let mut next_process = clients as u64;
    let mut in_flight: Vec<Option<InFlight>> = vec![None; clients];
    let mut ghosts: Vec<i64> = Vec::new(); // info adds that may still take effect
    let mut next_value = 0i64;
    for &choice in choices {
        let slot = usize::from(choice) % clients;
        let roll = choice / 16 % 16;
        let p = processes[slot];
        if roll == 15 && !ghosts.is_empty() {
            // A ghost takes effect now, or is dropped for good.
            let ghost = ghosts.remove(usize::from(choice) % ghosts.len());
            if choice % 2 == 0 {
                set.insert(ghost);
            }
            continue;
        }
        match in_flight[slot].take() {
            None if roll < 8 => {
                history.invoke(p, "add", json!(next_value));
                in_flight[slot] = Some(InFlight {
                    add: Some(next_value),
                    applied: false,
                    observed: Vec::new(),
                });
                next_value += 1;
            }
            None => {
                history.invoke(p, "read", Value::Null);
                in_flight[slot] = Some(InFlight {
                    add: None,
                    applied: false,
                    observed: Vec::new(),
                });
            }
            Some(mut op) if !op.applied && roll < 10 => {
                op.applied = true;
                match op.add {
                    Some(v) => {
                        set.insert(v);
                    }
                    None => op.observed = set.iter().copied().collect(),
                }
                in_flight[slot] = Some(op);
            }
            Some(op) if !op.applied => match op.add {
                Some(v) if roll < 12 => {
                    history.done(p, OpType::Fail, "add", json!(v));
                }
                Some(v) => {
                    if roll < 14 {
                        ghosts.push(v);
                    }
                    history.done(p, OpType::Info, "add", json!(v));
                    processes[slot] = next_process;
                    next_process += 1;
                }
                None => in_flight[slot] = Some(op), // a read must observe first
            },
            Some(op) => {
                let info = roll >= 14;
                let kind = if info { OpType::Info } else { OpType::Ok };
                match op.add {
                    Some(v) => history.done(p, kind, "add", json!(v)),
                    None if info => history.done(p, kind, "read", Value::Null),
                    None => history.done(p, kind, "read", json!(op.observed)),
                };
                if info {
                    processes[slot] = next_process;
                    next_process += 1;
                }
            }
        }
    }
    // Ops still in flight stay unfinished; one last read by a fresh client sees the end.
    let observed: Vec<i64> = set.iter().copied().collect();
    history.read(next_process, json!(observed));
    history.ops
}

/// Element -> position of its add's `ok` completion.
fn acknowledgements(ops: &[Op]) -> BTreeMap<i64, usize> {
    ops.iter()
        .enumerate()
        .filter(|(_, op)| op.f == "add" && op.kind == OpType::Ok)
        .filter_map(|(pos, op)| op.value.as_i64().map(|v| (v, pos)))
        .collect()
}

/// Positions of `ok` read completions with the position of their invoke.
fn ok_reads(ops: &[Op]) -> Vec<(usize, usize)> {
    let mut open: BTreeMap<Process, usize> = BTreeMap::new();
    let mut reads = Vec::new();
    for (pos, op) in ops.iter().enumerate() {
        match op.kind {
            OpType::Invoke => {
                open.insert(op.process, pos);
            }
            kind => {
                let invoked = open.remove(&op.process).expect("paired");
                if op.f == "read" && kind == OpType::Ok {
                    reads.push((invoked, pos));
                }
            }
        }
    }
    reads
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn simulated_correct_sets_are_valid(
        clients in 1usize..6,
        choices in prop::collection::vec(any::<u16>(), 0..400),
    ) {
        let ops = simulate_correct_set(clients, &choices);
        let result = check_set(&ops).expect("well-formed");
        prop_assert_eq!(result.verdict, Verdict::Valid, "{}", result.to_text());
        let c = result.counts;
        prop_assert_eq!(c.lost + c.stale + c.unexpected, 0);
        let accounted = c.stable + c.never_read + c.unseen + c.failed;
        prop_assert_eq!(accounted, c.elements);
    }

    #[test]
    fn deleting_an_acknowledged_element_from_a_later_read_is_caught(
        clients in 1usize..6,
        choices in prop::collection::vec(any::<u16>(), 20..400),
        pick_read in any::<prop::sample::Index>(),
        pick_element in any::<prop::sample::Index>(),
    ) {
        let mut ops = simulate_correct_set(clients, &choices);
        let acks = acknowledgements(&ops);
        let reads = ok_reads(&ops);
        // Reads that began after some element in them was acknowledged.
        let candidates: Vec<(usize, usize, Vec<i64>)> = reads
            .iter()
            .filter_map(|&(invoked, done)| {
                let deletable: Vec<i64> = ops[done].value.as_array()?
                    .iter()
                    .filter_map(Value::as_i64)
                    .filter(|v| acks.get(v).is_some_and(|&ack| ack < invoked))
                    .collect();
                (!deletable.is_empty()).then_some((invoked, done, deletable))
            })
            .collect();
        prop_assume!(!candidates.is_empty());
        let (invoked, done, deletable) = pick_read.get(&candidates).clone();
        let victim = *pick_element.get(&deletable);
        if let Value::Array(items) = &mut ops[done].value {
            items.retain(|v| v.as_i64() != Some(victim));
        }
        let result = check_set(&ops).expect("well-formed");
        prop_assert_eq!(result.verdict, Verdict::Invalid);
        // Every read invoked later contains the element (the set only grows), so it is
        // lost exactly when no ok read was invoked after the one we edited.
        let later_read = reads.iter().any(|&(other, _)| other > invoked);
        if later_read {
            prop_assert_eq!((result.counts.stale, result.counts.lost), (1, 0));
            prop_assert_eq!(&result.stale[0].element, &victim.to_string());
            prop_assert_eq!(result.stale[0].missing_from.completion.position, done);
        } else {
            prop_assert_eq!((result.counts.lost, result.counts.stale), (1, 0));
            prop_assert_eq!(&result.lost[0].element, &victim.to_string());
            prop_assert_eq!(result.lost[0].missing_from.completion.position, done);
        }
    }

    #[test]
    fn deleting_from_the_final_read_is_lost(
        clients in 1usize..6,
        choices in prop::collection::vec(any::<u16>(), 20..400),
        pick_element in any::<prop::sample::Index>(),
    ) {
        let mut ops = simulate_correct_set(clients, &choices);
        let acks = acknowledgements(&ops);
        let last = ops.len() - 1;
        let final_invoke = last - 1;
        let deletable: Vec<i64> = acks
            .iter()
            .filter(|&(_, &ack)| ack < final_invoke)
            .map(|(&v, _)| v)
            .collect();
        prop_assume!(!deletable.is_empty());
        let victim = *pick_element.get(&deletable);
        if let Value::Array(items) = &mut ops[last].value {
            items.retain(|v| v.as_i64() != Some(victim));
        }
        let result = check_set(&ops).expect("well-formed");
        prop_assert_eq!(result.verdict, Verdict::Invalid);
        prop_assert_eq!(result.counts.lost, 1);
        prop_assert_eq!(&result.lost[0].element, &victim.to_string());
    }

    /// Arbitrary records, well-formed or not: an answer or a located error, never a panic.
    #[test]
    fn never_panics_on_arbitrary_records(records in prop::collection::vec(arbitrary_record(), 0..40)) {
        let ops: Vec<Op> = records
            .into_iter()
            .enumerate()
            .map(|(i, (process, kind, f, key, value))| Op {
                index: i as u64,
                time_ns: i as u64,
                process,
                kind,
                f,
                key,
                value,
                error: None,
            })
            .collect();
        match check_set(&ops) {
            Ok(result) => { let _ = result.to_text(); }
            Err(e) => prop_assert!(e.position < ops.len()),
        }
    }
}

fn arbitrary_record() -> impl Strategy<Value = (Process, OpType, String, Option<String>, Value)> {
    let process = prop_oneof![(0u64..3).prop_map(Process::Client), Just(Process::Nemesis)];
    let kind = prop_oneof![
        Just(OpType::Invoke),
        Just(OpType::Ok),
        Just(OpType::Fail),
        Just(OpType::Info)
    ];
    let f = prop_oneof![
        Just("add".to_string()),
        Just("read".to_string()),
        Just("start-kill".to_string())
    ];
    let key = prop_oneof![Just(None), Just(Some("k".to_string()))];
    let value = prop_oneof![
        Just(Value::Null),
        (0i64..4).prop_map(|v| json!(v)),
        prop::collection::vec(0i64..4, 0..4).prop_map(|v| json!(v)),
        Just(json!({"id": 1})),
        Just(json!("s")),
    ];
    (process, kind, f, key, value)
}

/// The simulation covers what it claims to: over fixed pseudo-random runs it produces
/// recovered, unseen and failed adds, info and unfinished ops, and reads concurrent with
/// adds that miss them (so the properties above are not vacuous).
#[test]
fn the_simulation_covers_info_fail_and_concurrency() {
    let mut totals = checker::set_check::SetCounts::default();
    let mut concurrent_misses = 0;
    let mut state = 0x2545_f491_4f6c_dd1du64;
    for run in 0..50 {
        let choices: Vec<u16> = (0..300)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (state >> 48) as u16
            })
            .collect();
        let ops = simulate_correct_set(1 + run % 5, &choices);
        let result = check_set(&ops).unwrap();
        assert_eq!(result.verdict, Verdict::Valid, "{}", result.to_text());
        let c = result.counts;
        for (mine, theirs) in [(&mut totals.adds, c.adds), (&mut totals.reads, c.reads)] {
            mine.ok += theirs.ok;
            mine.fail += theirs.fail;
            mine.info += theirs.info;
        }
        totals.recovered += c.recovered;
        totals.unseen += c.unseen;
        totals.failed += c.failed;
        totals.stable += c.stable;
        // An ok read that misses an element acknowledged while it was in flight.
        let acks = acknowledgements(&ops);
        for (invoked, done) in ok_reads(&ops) {
            let seen = ops[done].value.as_array().unwrap();
            concurrent_misses += acks
                .iter()
                .filter(|&(v, &ack)| invoked < ack && ack < done && !seen.contains(&json!(v)))
                .count();
        }
    }
    assert!(totals.recovered > 0, "{totals:?}");
    assert!(totals.unseen > 0, "{totals:?}");
    assert!(totals.failed > 0, "{totals:?}");
    assert!(totals.adds.info > 0 && totals.reads.info > 0, "{totals:?}");
    assert!(totals.stable > 100, "{totals:?}");
    assert!(concurrent_misses > 0);
}
