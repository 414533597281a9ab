//! The kv-append implied order (`Model::implied_order`, `checker/src/model/append_order.rs`)
//! against brute force: generated histories of puts, appends and gets whose values are
//! sometimes repeated or concatenations of each other ("a", "b", "ab"), so that splits
//! are ambiguous, values name several calls and puts reset the string. The checker (with
//! the order pinned) and an exhaustive search (without) must agree on every history.

use std::time::Duration;

use checker::{CheckOptions, FailedCasReading, ModelKind, Op, OpType, Verdict, check_history};
use serde_json::{Value, json};

mod support;

use support::History;

/// One generated kv call: `[inv, ret)` in ticks, `ret` None for `info`.
#[derive(Debug, Clone)]
struct Call {
    inv: u32,
    ret: Option<u32>,
    action: Action,
}

#[derive(Debug, Clone)]
enum Action {
    Put(&'static str),
    Append(&'static str),
    /// A get and the string it returned.
    Get(String),
}

/// Values chosen to make splits ambiguous and values shared by several calls.
const VALUES: [&str; 6] = ["a", "b", "ab", "c", "", "ca"];

/// Every order of `calls` that respects real time, each `info` call applied somewhere
/// after its invoke or never; true when one of them explains every get.
fn brute_force_linearizable(calls: &[Call]) -> bool {
    fn search(calls: &[Call], done: &mut Vec<bool>, state: &str) -> bool {
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
                Action::Put(value) => value.to_string(),
                Action::Append(value) => format!("{state}{value}"),
                Action::Get(observed) if observed == state => state.to_string(),
                Action::Get(_) => continue,
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

/// The records of `calls` in time order (each call its own process; completions before
/// invokes at the same tick).
fn records(calls: &[Call]) -> Vec<Op> {
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
            Action::Put(value) => ("put", json!(value)),
            Action::Append(value) => ("append", json!(value)),
            Action::Get(observed) if kind == OpType::Ok => ("get", json!(observed)),
            Action::Get(_) => ("get", Value::Null),
        };
        history.next(i as u64, kind, f, Some("k"), value);
    }
    history.ops
}

fn options() -> CheckOptions {
    CheckOptions {
        initial: None,
        failed_cas: Some(FailedCasReading::Dropped),
        time_limit: Some(Duration::from_secs(60)),
        memo_limit_bytes: 64 << 20,
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(3000))]

    /// Pinning the order never changes a verdict (§ "Why every rule holds" of
    /// append_order.rs): the checker and brute force agree on simulated executions,
    /// sometimes with one get's answer replaced.
    #[test]
    fn the_implied_order_agrees_with_brute_force(
        spans in proptest::collection::vec(
            (0u32..12, 1u32..6, 0u8..12, 0usize..VALUES.len(), 0u8..10, 0u32..100),
            2..8,
        ),
        corrupt in proptest::option::of((0usize..8, "[abc]{0,4}")),
    ) {
        // Simulate: each call takes effect at `inv + point % len`; an info put or append
        // (1 in 3) sometimes never; gets read the state there.
        let mut calls: Vec<Call> = Vec::new();
        let mut effects: Vec<(u32, usize)> = Vec::new();
        for (i, &(inv, len, kind, value, info, point)) in spans.iter().enumerate() {
            let action = match kind {
                0..=1 => Action::Put(VALUES[value]),
                2..=7 => Action::Append(VALUES[value]),
                _ => Action::Get(String::new()),
            };
            let is_info = !matches!(action, Action::Get(_)) && info < 3;
            calls.push(Call { inv, ret: (!is_info).then_some(inv + len), action });
            if !(is_info && info == 0) {
                effects.push((inv * 16 + (point % (len * 16)), i));
            }
        }
        effects.sort_unstable();
        let mut state = String::new();
        for (_, i) in effects {
            match &mut calls[i].action {
                Action::Put(value) => state = value.to_string(),
                Action::Append(value) => state.push_str(value),
                Action::Get(observed) => *observed = state.clone(),
            }
        }
        if let Some((which, text)) = corrupt {
            let gets: Vec<usize> = (0..calls.len())
                .filter(|&i| matches!(calls[i].action, Action::Get(_)))
                .collect();
            if !gets.is_empty() {
                calls[gets[which % gets.len()]].action = Action::Get(text);
            }
        }
        let expected = if brute_force_linearizable(&calls) { Verdict::Valid } else { Verdict::Invalid };
        let result = check_history(records(&calls), Some(ModelKind::KvAppend), &options())
            .expect("well-formed history");
        proptest::prop_assert_eq!(result.verdict, expected, "{:?}", calls);
    }
}

/// Unique tokens, as Porcupine's clients append them: three appends, each seen by a get.
/// The gets pin the order a, b, c; a get that shows c before b makes it invalid.
#[test]
fn gets_of_unique_tokens_pin_the_append_order() {
    let call = |inv, ret, action| Call {
        inv,
        ret: Some(ret),
        action,
    };
    let mut calls = vec![
        call(0, 10, Action::Append("x1 ")),
        call(0, 10, Action::Append("x2 ")),
        call(0, 10, Action::Append("x3 ")),
        call(11, 12, Action::Get("x1 x2 x3 ".into())),
        call(5, 6, Action::Get("x1 ".into())),
    ];
    let verdict = |calls: &[Call]| {
        check_history(records(calls), Some(ModelKind::KvAppend), &options())
            .expect("well-formed history")
            .verdict
    };
    assert_eq!(verdict(&calls), Verdict::Valid);
    assert!(brute_force_linearizable(&calls));
    calls[4].action = Action::Get("x1 x3 ".into());
    assert_eq!(verdict(&calls), Verdict::Invalid);
    assert!(!brute_force_linearizable(&calls));
}
