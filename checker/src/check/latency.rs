//! The `latency` check: p50, p99 and maximum latency of the `ok` client ops
//! ([`crate::latency`], the one percentile function). Reported, never judged: its verdict
//! is always `valid` and its summary says so.

use std::path::Path;

use serde::Serialize;
use serde_json::Value;

use super::{Check, CheckKind, CheckReport, CheckSettings};
use crate::calls::load_history;
use crate::format::InputError;
use crate::history::OpType;
use crate::latency::{LatencySummary, latency_records};
use crate::verdict::Verdict;

/// The `latency` check.
pub struct Latency;

/// Its handle in the registry.
pub const KIND: CheckKind = CheckKind::new(&Latency);

impl Check for Latency {
    fn name(&self) -> &'static str {
        "latency"
    }

    fn about(&self) -> &'static str {
        "latency percentiles of ok ops: reported, never judged"
    }

    fn run(
        &self,
        path: &Path,
        settings: &CheckSettings,
    ) -> Result<Box<dyn CheckReport>, InputError> {
        let history = load_history(path, settings.format)?;
        let ok: Vec<u64> = latency_records(history.ops)
            .into_iter()
            .filter(|r| r.kind == OpType::Ok)
            .map(|r| r.latency_ns)
            .collect();
        let ok_ops = ok.len() as u64;
        let summary = LatencySummary::of(ok);
        Ok(Box::new(LatencyReport {
            ok_ops,
            latency_ms_p50: summary.map_or(0.0, |s| s.p50_ns as f64 / 1e6),
            latency_ms_p99: summary.map_or(0.0, |s| s.p99_ns as f64 / 1e6),
            latency_ms_max: summary.map_or(0.0, |s| s.max_ns as f64 / 1e6),
        }))
    }
}

/// The latency of the `ok` ops (zeros when there was none).
#[derive(Debug, Clone, Serialize)]
pub struct LatencyReport {
    pub ok_ops: u64,
    pub latency_ms_p50: f64,
    pub latency_ms_p99: f64,
    pub latency_ms_max: f64,
}

impl CheckReport for LatencyReport {
    fn verdict(&self) -> Verdict {
        Verdict::Valid
    }

    fn summary(&self) -> String {
        format!(
            "informational: ok-op latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms over {} ops",
            self.latency_ms_p50, self.latency_ms_p99, self.latency_ms_max, self.ok_ops
        )
    }

    fn to_text(&self) -> String {
        format!("{}\n", self.summary())
    }

    fn details(&self) -> Value {
        serde_json::to_value(self).expect("a latency report serialises")
    }
}
