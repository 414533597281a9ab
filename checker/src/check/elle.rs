//! The `elle` check: transactions (`f: txn`, list-append or rw-register micro-ops) for
//! isolation anomalies, by [`crate::elle`], judged for each model of
//! [`CheckSettings::elle_models`] (default [`DEFAULT_MODEL`]). Each model is one pass over
//! the file (the models decide which cycle variants are searched); the verdict is the
//! worst of theirs. Its HTML section draws each anomaly ([`crate::elle::html`]).

use std::path::Path;

use serde::Serialize;
use serde_json::Value;

use super::{Check, CheckKind, CheckReport, CheckSettings, HtmlSection};
use crate::elle::{ElleOptions, ElleResult, Model};
use crate::format::InputError;
use crate::history::Op;
use crate::verdict::Verdict;

/// The model judged when none is asked for: what a transactional database usually claims.
pub const DEFAULT_MODEL: Model = Model::StrictSerializable;
/// Anomaly examples named in `faultline run`'s evidence lines.
const EVIDENCE_EXAMPLES_MAX: usize = 3;

/// The `elle` check.
pub struct Elle;

/// Its handle in the registry.
pub const KIND: CheckKind = CheckKind::new(&Elle);

impl Check for Elle {
    fn name(&self) -> &'static str {
        "elle"
    }

    fn about(&self) -> &'static str {
        "transactions (list-append, rw-register) for isolation anomalies, after Elle"
    }

    fn run(
        &self,
        path: &Path,
        settings: &CheckSettings,
    ) -> Result<Box<dyn CheckReport>, InputError> {
        let models = if settings.elle_models.is_empty() {
            vec![DEFAULT_MODEL]
        } else {
            settings.elle_models.clone()
        };
        let mut results = Vec::with_capacity(models.len());
        for model in models {
            let options = ElleOptions {
                model,
                time_limit: settings.time_limit,
                ..ElleOptions::default()
            };
            results.push(crate::elle::check_file(path, settings.format, &options)?);
        }
        Ok(Box::new(ElleReport {
            verdict: Verdict::worst(results.iter().map(|r| r.verdict)),
            results,
        }))
    }
}

/// What the elle check found: one result per model asked for.
#[derive(Debug, Clone, Serialize)]
pub struct ElleReport {
    /// The worst of the results' verdicts.
    pub verdict: Verdict,
    pub results: Vec<ElleResult>,
}

impl ElleReport {
    /// The result with the most anomaly examples (the widest search): the one the
    /// summary's anomalies, the evidence and the drawing come from.
    pub fn widest(&self) -> Option<&ElleResult> {
        self.results
            .iter()
            .max_by_key(|r| (r.anomaly_types.len(), r.anomalies.len()))
    }
}

impl CheckReport for ElleReport {
    fn verdict(&self) -> Verdict {
        self.verdict
    }

    fn summary(&self) -> String {
        let verdicts: Vec<String> = self
            .results
            .iter()
            .map(|r| format!("{} {}", r.model, r.verdict))
            .collect();
        let mut line = verdicts.join(", ");
        if let Some(first) = self.results.first() {
            line.push_str(&format!(
                ": {} transactions ({} ok, {} info, {} fail)",
                first.txns, first.ok, first.info, first.fail
            ));
        }
        if let Some(widest) = self.widest()
            && !widest.anomaly_types.is_empty()
        {
            let types: Vec<String> = widest
                .anomaly_types
                .iter()
                .map(|k| format!("{k} ({})", widest.counts.get(k).copied().unwrap_or(0)))
                .collect();
            let out: Vec<&str> = widest.ruled_out.iter().map(|m| m.name()).collect();
            line.push_str(&format!(
                "; anomalies: {}; ruled out: {} and every stronger model",
                types.join(", "),
                out.join(", ")
            ));
        }
        for result in &self.results {
            for what in &result.not_searched {
                line.push_str(&format!("; not searched ({}): {what}", result.model));
            }
        }
        line
    }

    fn to_text(&self) -> String {
        let texts: Vec<String> = self.results.iter().map(ElleResult::to_text).collect();
        texts.join("\n")
    }

    /// The first few anomaly examples, each on one line: a cycle as its chain of edges,
    /// any other by the first line of its explanation.
    fn evidence(&self) -> String {
        let Some(widest) = self.widest() else {
            return String::new();
        };
        let mut out = String::new();
        for anomaly in widest.anomalies.iter().take(EVIDENCE_EXAMPLES_MAX) {
            let what = match anomaly.cycle.first() {
                Some(first) => {
                    let mut chain = first.from.clone();
                    for edge in &anomaly.cycle {
                        chain.push_str(&format!(" -{}-> {}", edge.kind, edge.to));
                    }
                    let lines: Vec<String> =
                        anomaly.txns.iter().map(|t| t.line.to_string()).collect();
                    format!("{chain} (invoked on lines {})", lines.join(", "))
                }
                None => anomaly.text.lines().next().unwrap_or_default().to_string(),
            };
            out.push_str(&format!("  {}: {what}\n", anomaly.kind));
        }
        let more = widest.anomalies.len().saturating_sub(EVIDENCE_EXAMPLES_MAX);
        if more > 0 {
            out.push_str(&format!("  ({more} more examples in results.json)\n"));
        }
        out
    }

    fn details(&self) -> Value {
        serde_json::to_value(self).expect("an elle report serialises")
    }

    fn html_section(&self, _ops: &[Op]) -> Option<HtmlSection> {
        let widest = self.widest()?;
        (!widest.anomalies.is_empty()).then(|| HtmlSection {
            title: format!("Transactions: anomalies ({})", widest.model),
            body_html: crate::elle::html::fragment(widest),
        })
    }
}
