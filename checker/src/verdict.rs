//! Verdicts, and the result of the linearizability check, as printed by `faultline check` and stored in
//! `results.json`.

use serde::Serialize;

use crate::explain::Explanation;
use crate::format::Format;
use crate::linearizability::UnknownReason;
use crate::model::ModelKind;

/// The three-valued verdict of DESIGN.md, for every check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Nothing the check looks for was found, and everything was looked at.
    Valid,
    /// Something the check looks for was found (definite, whatever else was not decided).
    Invalid,
    /// Nothing was found, but something could not be decided within the budget.
    Unknown,
}

impl Verdict {
    /// 0 valid, 1 invalid, 2 unknown (DESIGN.md's exit codes).
    pub fn exit_code(self) -> u8 {
        match self {
            Verdict::Valid => 0,
            Verdict::Invalid => 1,
            Verdict::Unknown => 2,
        }
    }

    /// The worst of `verdicts`: invalid if any is, else unknown if any is, else valid
    /// (also for none).
    pub fn worst(verdicts: impl IntoIterator<Item = Verdict>) -> Verdict {
        verdicts
            .into_iter()
            .fold(Verdict::Valid, |worst, v| match (worst, v) {
                (Verdict::Invalid, _) | (_, Verdict::Invalid) => Verdict::Invalid,
                (Verdict::Unknown, _) | (_, Verdict::Unknown) => Verdict::Unknown,
                _ => Verdict::Valid,
            })
    }

    pub fn name(self) -> &'static str {
        match self {
            Verdict::Valid => "valid",
            Verdict::Invalid => "invalid",
            Verdict::Unknown => "unknown",
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Everything a linearizability check found.
#[derive(Debug, Clone, Serialize)]
pub struct LinearizabilityResult {
    pub verdict: Verdict,
    pub model: ModelKind,
    /// The format read (after detection); `None` for in-memory histories.
    pub format: Option<Format>,
    /// Lines (records) read, nemesis records included; an op is an invoke line and,
    /// unless its outcome is unknown, a completion line.
    pub history_lines: u64,
    /// Ops checked: invokes paired with completions, `fail`s and unknown reads dropped.
    pub ops_checked: u64,
    pub keys: usize,
    pub keys_valid: usize,
    pub keys_invalid: usize,
    pub keys_unknown: usize,
    /// From the start of reading to the verdict.
    pub elapsed_ms: f64,
    /// Why the verdict is unknown (time limit or memo budget).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unknown_reason: Option<UnknownReason>,
    /// For an invalid verdict: the key, the culprit, the longest linearizable prefix.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub explanation: Option<Explanation>,
    /// More invalid keys, explained the same way (at most
    /// [`crate::check::EXPLAINED_KEYS_MAX`] explanations in all; `keys_invalid` counts
    /// every invalid key found).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub other_explanations: Vec<Explanation>,
}

impl LinearizabilityResult {
    /// The explained keys in words, one indented line each (nothing for a valid verdict),
    /// and how many invalid keys are left unexplained.
    pub fn in_words(&self) -> String {
        let mut out = String::new();
        let mut explained = 0;
        for explanation in self.explanations() {
            explained += 1;
            out.push_str(&format!("  in words: {}\n", explanation.in_words));
        }
        let more = self.keys_invalid.saturating_sub(explained);
        if more > 0 {
            out.push_str(&format!(
                "  ({more} more invalid {} not explained)\n",
                if more == 1 { "key" } else { "keys" }
            ));
        }
        out
    }

    /// Every explanation: the first invalid key's, then the others.
    pub fn explanations(&self) -> impl Iterator<Item = &Explanation> {
        self.explanation.iter().chain(&self.other_explanations)
    }

    /// The one-line summary `faultline check` prints.
    pub fn summary_line(&self) -> String {
        let reason = self
            .unknown_reason
            .map(|r| format!(" ({r})"))
            .unwrap_or_default();
        format!(
            "{}{reason}: {}, {} checked, {} ({} valid, {} invalid, {} unknown), model {}, {:.1} ms",
            self.verdict,
            count(self.history_lines, "history line", "history lines"),
            count(self.ops_checked, "op", "ops"),
            count(self.keys as u64, "key", "keys"),
            self.keys_valid,
            self.keys_invalid,
            self.keys_unknown,
            self.model,
            self.elapsed_ms
        )
    }
}

/// `1 op`, `2 ops`.
pub fn count(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}
