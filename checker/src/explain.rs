//! Explanations of an invalid verdict: the key, the op that cannot be linearized, the
//! longest linearizable prefix the search found and the model state after it, as text and
//! as a bounded timeline (a window of ops around the culprit) for the HTML page; and, in
//! words, the fact that makes the history impossible when there is a simple one.
//!
//! The fact, for register-like models ([`Model::register_access`]): an op R observed the
//! value v (a read returned it, a cas expected it), but some op W that leaves another value
//! had completed before R began, and every op that could leave v had completed before W
//! began. Then in every order that respects real time W comes after all writers of v and
//! before R, so R cannot see v. It is a sufficient condition (so the sentence is always
//! true) but not a necessary one: when no read or cas fits it, the words say what the
//! search found instead.

use rustc_hash::FxHashMap;
use serde::Serialize;

use crate::linearizability::Violation;
use crate::model::{Model, RegisterAccess};
use crate::partition::{Call, KeyHistory, NO_RETURN};

/// How many ops of the prefix the text and JSON list (its end, nearest the culprit).
const PREFIX_TAIL_OPS: usize = 12;
/// How many ops around the culprit the timeline draws, before and after it.
const WINDOW_OPS_BEFORE: usize = 40;
const WINDOW_OPS_AFTER: usize = 20;
/// The widest span of ops the timeline draws when the ops the words name lie far apart.
const WINDOW_OPS_MAX: usize = 160;

/// One op, described for people.
#[derive(Debug, Clone, Serialize)]
pub struct OpSummary {
    pub process: u64,
    /// Model-specific text: `write 3`, `read -> 4`, `cas 1 -> 2`.
    pub op: String,
    pub invoke_line: u32,
    /// `None` when the outcome is unknown (`info`, or no completion).
    pub complete_line: Option<u32>,
}

/// How a timeline bar is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mark {
    /// In the longest linearizable prefix, at this position (0-based).
    Linearized(usize),
    /// The op that cannot be linearized.
    Culprit,
    /// Neither.
    Other,
}

/// One op as a bar over time (positions are record indices in real-time order).
#[derive(Debug, Clone, Serialize)]
pub struct Bar {
    pub summary: OpSummary,
    pub start: u32,
    /// `None` for an op whose outcome is unknown: it stays open to the right.
    pub end: Option<u32>,
    pub mark: Mark,
}

/// The ops of the failing key around the culprit.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Timeline {
    pub bars: Vec<Bar>,
    /// Ops of the key that are not drawn.
    pub omitted: usize,
}

/// Why a history is not linearizable.
#[derive(Debug, Clone, Serialize)]
pub struct Explanation {
    /// The key (empty for an unkeyed history).
    pub key: String,
    /// The op that cannot be linearized after the prefix.
    pub culprit: OpSummary,
    /// Length of the longest linearizable prefix.
    pub prefix_len: usize,
    /// Its last ops, in linearization order.
    pub prefix_tail: Vec<OpSummary>,
    /// The model state after the prefix, as JSON text.
    pub state: String,
    /// One sentence: the fact that makes the history impossible (see the module doc).
    pub in_words: String,
    /// The ops that sentence names, in the order it names them.
    pub named_ops: Vec<OpSummary>,
    #[serde(skip)]
    pub timeline: Timeline,
}

fn summary<M: Model>(history: &KeyHistory<M>, c: u32) -> OpSummary {
    let call = &history.calls[c as usize];
    OpSummary {
        process: call.process,
        op: history.model.describe_op(&call.op),
        invoke_line: call.inv_line,
        complete_line: (!call.is_info()).then_some(call.ret_line),
    }
}

/// Builds the explanation of a violation found on `history`.
pub fn explain<M: Model>(
    history: &mut KeyHistory<M>,
    violation: &Violation<M::State>,
) -> Explanation {
    let initial = history.model.initial_state();
    let history = &*history;
    let tail_from = violation.prefix.len().saturating_sub(PREFIX_TAIL_OPS);
    let (in_words, named) = match impossible_observation(history, &initial, violation.culprit) {
        Some(fact) => (fact.sentence(history), fact.calls()),
        None => (search_in_words(history, violation), vec![violation.culprit]),
    };
    Explanation {
        key: history.name.to_string(),
        culprit: summary(history, violation.culprit),
        prefix_len: violation.prefix.len(),
        prefix_tail: violation.prefix[tail_from..]
            .iter()
            .map(|&c| summary(history, c))
            .collect(),
        state: history.model.describe_state(&violation.state),
        in_words,
        named_ops: named.iter().map(|&c| summary(history, c)).collect(),
        timeline: timeline(history, violation, &named),
    }
}

/// An op that observed a value it cannot have seen (see the module doc).
struct Impossible<S> {
    /// The read (or cas) and the value it observed.
    observer: u32,
    value: S,
    /// The op that left another value and completed before the observer began; `None`
    /// when nothing ever left the value and it is not the initial one.
    overwrite: Option<u32>,
    /// The last op to complete among those that could leave the value (none: only the
    /// initial value held it).
    last_writer: Option<u32>,
}

/// Finds the culprit, or else the first op by invoke, that observed an impossible value.
fn impossible_observation<M: Model>(
    history: &KeyHistory<M>,
    initial: &M::State,
    culprit: u32,
) -> Option<Impossible<M::State>> {
    let calls = &history.calls;
    let mut accesses: Vec<Option<RegisterAccess<M::State>>> = Vec::with_capacity(calls.len());
    for call in calls {
        let access = history.model.register_access(&call.op);
        if access.is_none() && !history.model.is_pure(&call.op) {
            // An op that changes the state in a way the access cannot say: no claim.
            return None;
        }
        accesses.push(access);
    }
    // Per value: the writer that completed last (an unknown outcome completes "never").
    let mut last_writer: FxHashMap<&M::State, u32> = FxHashMap::default();
    for (c, access) in accesses.iter().enumerate() {
        if let Some(value) = access.as_ref().and_then(|a| a.writes.as_ref()) {
            let entry = last_writer.entry(value).or_insert(c as u32);
            if calls[c].ret >= calls[*entry as usize].ret {
                *entry = c as u32;
            }
        }
    }
    // Completed writers by completion, with the latest-invoked one among each prefix.
    let mut writers: Vec<u32> = (0..calls.len() as u32)
        .filter(|&c| {
            accesses[c as usize]
                .as_ref()
                .is_some_and(|a| a.writes.is_some())
                && !calls[c as usize].is_info()
        })
        .collect();
    writers.sort_unstable_by_key(|&c| calls[c as usize].ret);
    let mut latest_invoked: Vec<u32> = Vec::with_capacity(writers.len());
    for &w in &writers {
        let best = match latest_invoked.last() {
            Some(&b) if calls[b as usize].inv >= calls[w as usize].inv => b,
            _ => w,
        };
        latest_invoked.push(best);
    }
    let check = |r: u32| -> Option<Impossible<M::State>> {
        let call = &calls[r as usize];
        let value = accesses[r as usize].as_ref()?.observes.as_ref()?;
        if call.is_info() {
            return None;
        }
        let last = last_writer.get(value).copied();
        if last.is_none() && value != initial {
            return Some(Impossible {
                observer: r,
                value: value.clone(),
                overwrite: None,
                last_writer: None,
            });
        }
        // The initial value is written before everything.
        let last_ret = last.map(|c| calls[c as usize].ret);
        if last_ret == Some(NO_RETURN) {
            return None;
        }
        let before = writers.partition_point(|&w| calls[w as usize].ret < call.inv);
        let overwrite = *latest_invoked.get(before.checked_sub(1)?)?;
        let overwrite_inv = calls[overwrite as usize].inv;
        last_ret
            .is_none_or(|ret| overwrite_inv > ret)
            .then(|| Impossible {
                observer: r,
                value: value.clone(),
                overwrite: Some(overwrite),
                last_writer: last,
            })
    };
    if let Some(fact) = check(culprit) {
        return Some(fact);
    }
    let mut by_invoke: Vec<u32> = (0..calls.len() as u32).collect();
    by_invoke.sort_unstable_by_key(|&c| calls[c as usize].inv);
    by_invoke.into_iter().find_map(check)
}

impl<S> Impossible<S> {
    fn calls(&self) -> Vec<u32> {
        [Some(self.observer), self.overwrite, self.last_writer]
            .into_iter()
            .flatten()
            .collect()
    }

    fn sentence<M: Model<State = S>>(&self, history: &KeyHistory<M>) -> String {
        let model = &history.model;
        let value = model.describe_state(&self.value);
        let of_key = if history.name.is_empty() {
            String::new()
        } else {
            format!(" of {}", history.name)
        };
        let observer = &history.calls[self.observer as usize];
        let is_read = model.is_pure(&observer.op);
        let (what, verb) = if is_read {
            (
                format!(
                    "read{of_key} by process {} returned {value}",
                    observer.process
                ),
                "read",
            )
        } else {
            (
                format!(
                    "{}{of_key} by process {} succeeded, so it saw {value}",
                    model.describe_op(&observer.op),
                    observer.process
                ),
                "cas",
            )
        };
        let observer_lines = call_lines(observer);
        let Some(overwrite) = self.overwrite else {
            return format!("{what} ({observer_lines}), but no operation ever wrote {value}");
        };
        let overwrite = &history.calls[overwrite as usize];
        let mut sentence = format!(
            "{what} ({observer_lines}), but {} by process {} had completed before that {verb} began ({}), and nothing wrote {value} after it",
            model.describe_op(&overwrite.op),
            overwrite.process,
            call_lines(overwrite),
        );
        match self.last_writer {
            Some(last) => {
                let last = &history.calls[last as usize];
                sentence.push_str(&format!(
                    " (the last op to write {value}, {} by process {}, {}, had completed before {} began)",
                    model.describe_op(&last.op),
                    last.process,
                    call_lines(last),
                    model.describe_op(&overwrite.op),
                ));
            }
            None => sentence.push_str(&format!(" ({value} is the initial value)")),
        }
        sentence
    }
}

fn call_lines<O>(call: &Call<O>) -> String {
    if call.is_info() {
        format!("line {}, outcome unknown", call.inv_line)
    } else {
        format!("lines {}-{}", call.inv_line, call.ret_line)
    }
}

/// What the search found, in words, when no simple fact explains the violation.
fn search_in_words<M: Model>(history: &KeyHistory<M>, violation: &Violation<M::State>) -> String {
    let culprit = &history.calls[violation.culprit as usize];
    let on_key = if history.name.is_empty() {
        String::new()
    } else {
        format!(" on {}", history.name)
    };
    format!(
        "no order of the operations{on_key} explains what they returned: every order the search tried got stuck at {} by process {} ({}), which had to take effect by then; the longest order it found has {} operations and leaves {}, and {} cannot follow it",
        history.model.describe_op(&culprit.op),
        culprit.process,
        call_lines(culprit),
        violation.prefix.len(),
        history.model.describe_state(&violation.state),
        history.model.describe_op(&culprit.op),
    )
}

/// The ops around the culprit, stretched to the ops the words name when they are near.
fn timeline<M: Model>(
    history: &KeyHistory<M>,
    violation: &Violation<M::State>,
    named: &[u32],
) -> Timeline {
    let calls = &history.calls;
    let mut by_invoke: Vec<u32> = (0..calls.len() as u32).collect();
    by_invoke.sort_unstable_by_key(|&c| calls[c as usize].inv);
    let rank_of = |call: u32| by_invoke.iter().position(|&c| c == call).unwrap_or(0);
    let rank = rank_of(violation.culprit);
    let (mut low, mut high) = (rank, rank);
    for &call in named {
        let r = rank_of(call);
        if r.abs_diff(rank) + WINDOW_OPS_BEFORE + WINDOW_OPS_AFTER <= WINDOW_OPS_MAX {
            low = low.min(r);
            high = high.max(r);
        }
    }
    let first = low.saturating_sub(WINDOW_OPS_BEFORE);
    let last = (high + WINDOW_OPS_AFTER + 1).min(by_invoke.len());
    let order: FxHashMap<u32, usize> = violation
        .prefix
        .iter()
        .enumerate()
        .map(|(i, &c)| (c, i))
        .collect();
    let bars: Vec<Bar> = by_invoke[first..last]
        .iter()
        .map(|&c| {
            let call = &calls[c as usize];
            let mark = if c == violation.culprit {
                Mark::Culprit
            } else if let Some(&i) = order.get(&c) {
                Mark::Linearized(i)
            } else {
                Mark::Other
            };
            Bar {
                summary: summary(history, c),
                start: call.inv,
                end: (!call.is_info()).then_some(call.ret),
                mark,
            }
        })
        .collect();
    Timeline {
        omitted: calls.len() - bars.len(),
        bars,
    }
}

fn lines(op: &OpSummary) -> String {
    match op.complete_line {
        Some(end) => format!("lines {}-{}", op.invoke_line, end),
        None => format!("line {}, outcome unknown", op.invoke_line),
    }
}

impl Explanation {
    /// A few lines for a terminal.
    pub fn to_text(&self) -> String {
        let key = if self.key.is_empty() {
            "the history (no keys)".to_string()
        } else {
            format!("key {:?}", self.key)
        };
        let mut out = format!(
            "{key} is not linearizable\n  in words: {}\n  cannot linearize: process {} {} ({})\n  longest linearizable prefix: {} ops; model state after it: {}\n",
            self.in_words,
            self.culprit.process,
            self.culprit.op,
            lines(&self.culprit),
            self.prefix_len,
            self.state
        );
        if !self.prefix_tail.is_empty() {
            out.push_str("  end of that prefix, in linearization order:\n");
            let first = self.prefix_len - self.prefix_tail.len();
            for (i, op) in self.prefix_tail.iter().enumerate() {
                out.push_str(&format!(
                    "    #{:<5} process {} {} ({})\n",
                    first + i + 1,
                    op.process,
                    op.op,
                    lines(op)
                ));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use crate::check::{EXPLAINED_KEYS_MAX, LinearizabilityOptions, check_linearizability_history};
    use crate::history::{Op, OpType, Process};
    use crate::model::ModelKind;
    use crate::verdict::{LinearizabilityResult, Verdict};

    /// `(process, type, f, value)` records of key `k0`, in order.
    fn check(records: &[(u64, OpType, &str, Value)]) -> LinearizabilityResult {
        let ops = records
            .iter()
            .enumerate()
            .map(|(i, (p, kind, f, value))| record(i, "k0", *p, *kind, f, value.clone()));
        check_linearizability_history(
            ops,
            Some(ModelKind::CasRegister),
            &LinearizabilityOptions::default(),
        )
        .expect("a well-formed history")
    }

    fn record(index: usize, key: &str, process: u64, kind: OpType, f: &str, value: Value) -> Op {
        Op {
            index: index as u64,
            time_ns: index as u64,
            process: Process::Client(process),
            kind,
            f: f.to_string(),
            key: Some(key.into()),
            value,
            error: None,
        }
    }

    fn words(result: &LinearizabilityResult) -> &str {
        assert_eq!(result.verdict, Verdict::Invalid);
        &result.explanation.as_ref().expect("explained").in_words
    }

    use OpType::{Info, Invoke, Ok};

    #[test]
    fn a_cas_that_expected_an_overwritten_value_is_named_with_the_overwrite() {
        let result = check(&[
            (0, Invoke, "write", json!(1)),
            (0, Ok, "write", json!(1)),
            (1, Invoke, "cas", json!([1, 2])),
            (1, Ok, "cas", json!([1, 2])),
            (2, Invoke, "cas", json!([1, 3])),
            (2, Ok, "cas", json!([1, 3])),
        ]);
        assert_eq!(
            words(&result),
            "cas 1 -> 3 of k0 by process 2 succeeded, so it saw 1 (lines 5-6), but cas 1 -> 2 \
             by process 1 had completed before that cas began (lines 3-4), and nothing wrote 1 \
             after it (the last op to write 1, write 1 by process 0, lines 1-2, had completed \
             before cas 1 -> 2 began)"
        );
        assert_eq!(result.explanation.as_ref().unwrap().named_ops.len(), 3);
    }

    #[test]
    fn a_value_nothing_wrote_is_said_so() {
        let result = check(&[(0, Invoke, "read", Value::Null), (0, Ok, "read", json!(9))]);
        assert_eq!(
            words(&result),
            "read of k0 by process 0 returned 9 (lines 1-2), but no operation ever wrote 9"
        );
    }

    #[test]
    fn a_write_of_unknown_outcome_that_may_still_land_is_no_proof() {
        // The read of 1 after write 2 could be explained by the info write of 1 landing
        // late, if the info write could follow write 2: it began before the read ended.
        // Here it cannot (the read of 2 pins it), so the search finds a violation that no
        // simple sentence states, and the words say what the search found.
        let result = check(&[
            (0, Invoke, "write", json!(1)),
            (1, Invoke, "write", json!(2)),
            (1, Ok, "write", json!(2)),
            (2, Invoke, "read", Value::Null),
            (2, Ok, "read", json!(1)),
            (3, Invoke, "read", Value::Null),
            (3, Ok, "read", json!(2)),
            (0, Info, "write", json!(1)),
        ]);
        let text = words(&result);
        assert!(
            text.starts_with("no order of the operations on k0 explains what they returned"),
            "{text}"
        );
        assert!(!text.contains("nothing wrote"), "{text}");
    }

    #[test]
    fn a_concurrent_write_makes_a_read_possible() {
        let result = check(&[
            (0, Invoke, "write", json!(1)),
            (0, Ok, "write", json!(1)),
            (1, Invoke, "write", json!(2)),
            (2, Invoke, "read", Value::Null),
            (2, Ok, "read", json!(1)),
            (1, Ok, "write", json!(2)),
        ]);
        assert_eq!(result.verdict, Verdict::Valid);
    }

    #[test]
    fn up_to_the_maximum_of_invalid_keys_are_explained_and_the_rest_counted() {
        let keys = EXPLAINED_KEYS_MAX + 3;
        let mut ops = Vec::new();
        for k in 0..keys {
            let key = format!("k{k}");
            let p = 10 * k as u64;
            for (process, kind, f, value) in [
                (p, Invoke, "write", json!(1)),
                (p, Ok, "write", json!(1)),
                (p + 1, Invoke, "write", json!(2)),
                (p + 1, Ok, "write", json!(2)),
                (p + 2, Invoke, "read", Value::Null),
                (p + 2, Ok, "read", json!(1)),
            ] {
                ops.push(record(ops.len(), &key, process, kind, f, value));
            }
        }
        let result = check_linearizability_history(ops, None, &LinearizabilityOptions::default())
            .expect("well formed");
        assert_eq!(result.explanations().count(), EXPLAINED_KEYS_MAX);
        assert!(
            result.keys_invalid >= EXPLAINED_KEYS_MAX,
            "{}",
            result.summary_line()
        );
        assert_eq!(
            result.keys_invalid + result.keys_unknown + result.keys_valid,
            keys
        );
        let explained: Vec<&str> = result.explanations().map(|e| e.key.as_str()).collect();
        let mut sorted = explained.clone();
        sorted.sort_unstable();
        assert_eq!(explained, sorted, "explanations in key order");
        let lines = result.in_words();
        assert_eq!(
            lines.matches("  in words: read of k").count(),
            EXPLAINED_KEYS_MAX
        );
        let more = result.keys_invalid - EXPLAINED_KEYS_MAX;
        if more > 0 {
            assert!(lines.contains("more invalid"), "{lines}");
        }
    }
}
