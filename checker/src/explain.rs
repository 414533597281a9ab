//! Explanations of an invalid verdict: the key, the op that cannot be linearized, the
//! longest linearizable prefix the search found and the model state after it, as text and
//! as a bounded timeline (a window of ops around the culprit) for the HTML page.

use rustc_hash::FxHashMap;
use serde::Serialize;

use crate::linearizability::Violation;
use crate::model::Model;
use crate::partition::KeyHistory;

/// How many ops of the prefix the text and JSON list (its end, nearest the culprit).
const PREFIX_TAIL_OPS: usize = 12;
/// How many ops around the culprit the timeline draws, before and after it.
const WINDOW_OPS_BEFORE: usize = 80;
const WINDOW_OPS_AFTER: usize = 40;

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
pub fn explain<M: Model>(history: &KeyHistory<M>, violation: &Violation<M::State>) -> Explanation {
    let tail_from = violation.prefix.len().saturating_sub(PREFIX_TAIL_OPS);
    Explanation {
        key: history.name.to_string(),
        culprit: summary(history, violation.culprit),
        prefix_len: violation.prefix.len(),
        prefix_tail: violation.prefix[tail_from..]
            .iter()
            .map(|&c| summary(history, c))
            .collect(),
        state: history.model.describe_state(&violation.state),
        timeline: timeline(history, violation),
    }
}

fn timeline<M: Model>(history: &KeyHistory<M>, violation: &Violation<M::State>) -> Timeline {
    let calls = &history.calls;
    let mut by_invoke: Vec<u32> = (0..calls.len() as u32).collect();
    by_invoke.sort_unstable_by_key(|&c| calls[c as usize].inv);
    let rank = by_invoke
        .iter()
        .position(|&c| c == violation.culprit)
        .unwrap_or(0);
    let first = rank.saturating_sub(WINDOW_OPS_BEFORE);
    let last = (rank + WINDOW_OPS_AFTER + 1).min(by_invoke.len());
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
            "{key} is not linearizable\n  cannot linearize: process {} {} ({})\n  longest linearizable prefix: {} ops; model state after it: {}\n",
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
