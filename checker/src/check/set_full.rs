//! The `set-full` check (schedules may still say `set`): [`crate::set_check`], after
//! Jepsen's `set-full`: lost, stale and unexpected elements, recovered `info` adds. Its
//! report is the [`SetResult`] itself.

use std::path::Path;

use serde_json::Value;

use super::{Check, CheckKind, CheckReport, CheckSettings};
use crate::format::InputError;
use crate::set_check::{SetResult, check_set_file};
use crate::verdict::Verdict;

/// Example lines (lost, stale, unexpected elements) kept in the one-line summary.
const SUMMARY_EXAMPLES_MAX: usize = 3;

/// The `set-full` check.
pub struct SetFull;

/// Its handle in the registry.
pub const KIND: CheckKind = CheckKind::new(&SetFull);

impl Check for SetFull {
    fn name(&self) -> &'static str {
        "set-full"
    }

    fn aliases(&self) -> &'static [&'static str] {
        &["set"]
    }

    fn about(&self) -> &'static str {
        "Jepsen's set-full: lost, stale and unexpected elements of sets"
    }

    fn run(
        &self,
        path: &Path,
        settings: &CheckSettings,
    ) -> Result<Box<dyn CheckReport>, InputError> {
        Ok(Box::new(check_set_file(path, settings.format)?))
    }
}

impl CheckReport for SetResult {
    fn verdict(&self) -> Verdict {
        self.verdict
    }

    /// The text's counts and its first examples, on one line.
    fn summary(&self) -> String {
        let text = self.to_text();
        let lines: Vec<&str> = text.lines().collect();
        let kept = lines.len().min(2 + SUMMARY_EXAMPLES_MAX);
        let mut summary = lines[..kept].join("; ");
        if lines.len() > kept {
            summary.push_str(&format!("; ({} more)", lines.len() - kept));
        }
        summary
    }

    fn to_text(&self) -> String {
        SetResult::to_text(self)
    }

    fn details(&self) -> Value {
        serde_json::to_value(self).expect("a set result serialises")
    }
}
