//! The kv-append implied order (`Model::implied_order`, `checker/src/model/append_order.rs`)
//! against brute force: generated histories of puts, appends and gets whose values are
//! sometimes repeated or concatenations of each other ("a", "b", "ab"), so that splits
//! are ambiguous, values name several calls and puts reset the string. The checker (with
//! the order pinned) and an exhaustive search (without) must agree on every history.

use std::time::Duration;

use checker::{
    FailedCasReading, LinearizabilityOptions, ModelKind, Verdict, check_linearizability_history,
};

mod support;

use support::kv::{KvAction as Action, KvCall as Call, brute_force_linearizable, records};

/// Values chosen to make splits ambiguous and values shared by several calls.
const VALUES: [&str; 6] = ["a", "b", "ab", "c", "", "ca"];

fn options() -> LinearizabilityOptions {
    LinearizabilityOptions {
        initial: None,
        failed_cas: Some(FailedCasReading::Dropped),
        nil_read: None,
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
                0..=1 => Action::Put(VALUES[value].to_string()),
                2..=7 => Action::Append(VALUES[value].to_string()),
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
                Action::Put(value) => state = value.clone(),
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
        let result = check_linearizability_history(records(&calls, Some("k")), Some(ModelKind::KvAppend), &options())
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
        call(0, 10, Action::Append("x1 ".into())),
        call(0, 10, Action::Append("x2 ".into())),
        call(0, 10, Action::Append("x3 ".into())),
        call(11, 12, Action::Get("x1 x2 x3 ".into())),
        call(5, 6, Action::Get("x1 ".into())),
    ];
    let verdict = |calls: &[Call]| {
        check_linearizability_history(
            records(calls, Some("k")),
            Some(ModelKind::KvAppend),
            &options(),
        )
        .expect("well-formed history")
        .verdict
    };
    assert_eq!(verdict(&calls), Verdict::Valid);
    assert!(brute_force_linearizable(&calls));
    calls[4].action = Action::Get("x1 x3 ".into());
    assert_eq!(verdict(&calls), Verdict::Invalid);
    assert!(!brute_force_linearizable(&calls));
}
