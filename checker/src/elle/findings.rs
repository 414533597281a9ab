//! Anomalies that are not cycles, as found: a count per type and the first few examples,
//! each with a sentence naming its transactions `T1`, `T2`, ... in the order listed.

use std::collections::BTreeMap;

use serde::Serialize;

use super::anomaly::AnomalyKind;
use super::mops::{Interner, Val};

/// Examples kept of each anomaly type (all are counted).
pub const EXAMPLES_PER_KIND: usize = 8;

/// One example of a non-cycle anomaly.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    #[serde(rename = "type")]
    pub kind: AnomalyKind,
    /// The key concerned, as text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// What happened, naming `T1` for `txns[0]`, `T2` for `txns[1]`, ...
    pub text: String,
    /// Transaction ids (see [`super::history::History::txns`]).
    #[serde(skip)]
    pub txns: Vec<u32>,
}

/// Counts and examples.
#[derive(Debug, Clone, Default)]
pub struct Findings {
    pub counts: BTreeMap<AnomalyKind, u64>,
    pub examples: Vec<Finding>,
}

impl Findings {
    /// Counts one; builds the example only while fewer than the limit are kept.
    pub fn add(&mut self, kind: AnomalyKind, example: impl FnOnce() -> Finding) {
        let count = self.counts.entry(kind).or_insert(0);
        *count += 1;
        if *count as usize <= EXAMPLES_PER_KIND {
            let finding = example();
            debug_assert_eq!(finding.kind, kind);
            self.examples.push(finding);
        }
    }
}

/// A list for text: `[1 2 3]`, or `[1 2 ... 8 9]` (its length said) when long.
pub fn list_text(interner: &Interner, list: &[Val]) -> String {
    const HEAD: usize = 3;
    const TAIL: usize = 4;
    let show = |vs: &[Val]| {
        vs.iter()
            .map(|v| interner.display(*v))
            .collect::<Vec<_>>()
            .join(" ")
    };
    if list.len() <= HEAD + TAIL + 1 {
        format!("[{}]", show(list))
    } else {
        format!(
            "[{} ... {}] ({} elements)",
            show(&list[..HEAD]),
            show(&list[list.len() - TAIL..]),
            list.len()
        )
    }
}
