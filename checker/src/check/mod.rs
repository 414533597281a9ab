//! Whole-history checks behind one trait, and the one registry of their names.
//!
//! A check ([`Check`]) reads a whole history file and returns a [`CheckReport`]: a
//! three-valued verdict, a one-line summary, its full text (what `faultline check`
//! prints), a few lines of evidence (what `faultline run` prints below the summary), all
//! its findings as JSON (`results.json`'s `details`) and, if it draws one, a section of the
//! HTML report. [`REGISTRY`] lists every check; the schedule's validator and renderer
//! (`checks: [...]`), `faultline check --checker NAME`, the runner (one outcome per check,
//! no field per checker) and the report (each check's own section) go through it and
//! through [`CheckKind`], a check's handle.
//!
//! The checks: [`linearizable`] (Wing-Gong/Lowe per key against the workload's model),
//! [`set_full`] (Jepsen's set-full; also known as `set`), [`bank`] (totals, negative and
//! unknown accounts, availability per fault window), [`elle`] (transactions, Elle's
//! method, for the isolation models asked for) and [`latency`] (reported, never judged).
//!
//! # Adding a check
//!
//! One module here: a unit struct implementing [`Check`], a report type implementing
//! [`CheckReport`], and `pub const KIND: CheckKind = CheckKind::new(&TheCheck);`. Then one
//! line in [`REGISTRY`]. If it takes options, they are a field of [`CheckSettings`], which
//! the callers fill from the schedule or the command line. A workload names the checks
//! that judge its history (the controller's `WorkloadKind::checks`).

pub mod bank;
pub mod elle;
pub mod latency;
pub mod linearizable;
pub mod set_full;

use std::fmt;
use std::path::Path;
use std::time::Duration;

use crate::bank::BankOptions;
use crate::format::{Format, InputError};
use crate::history::Op;
use crate::model::ModelKind;
use crate::verdict::Verdict;

pub use linearizable::{
    EXPLAINED_KEYS_MAX, LinearizabilityOptions, check_linearizability_file,
    check_linearizability_history,
};

/// Every check, in the order messages list them. Adding a check: one line here.
pub const REGISTRY: &[CheckKind] = &[
    linearizable::KIND,
    set_full::KIND,
    bank::KIND,
    elle::KIND,
    latency::KIND,
];

/// Everything a check may be told. Each check reads its own fields and ignores the others.
#[derive(Debug, Clone)]
pub struct CheckSettings {
    /// The history's format (`Auto`: detected).
    pub format: Format,
    /// Every check's time budget; past it a check says `unknown`, never guesses. (It
    /// replaces `linearizability.time_limit`.)
    pub time_limit: Option<Duration>,
    /// `linearizable`: the model (`None`: implied by the functions used) and the search's
    /// options.
    pub model: Option<ModelKind>,
    pub linearizability: LinearizabilityOptions,
    /// `bank`: the accounts and the total (`None`: inferred from the first read).
    pub bank: Option<BankOptions>,
    /// `elle`: the isolation models to judge (empty: [`elle::DEFAULT_MODEL`]).
    pub elle_models: Vec<crate::elle::Model>,
}

impl Default for CheckSettings {
    fn default() -> Self {
        let linearizability = LinearizabilityOptions::default();
        CheckSettings {
            format: Format::Auto,
            time_limit: linearizability.time_limit,
            model: None,
            linearizability,
            bank: None,
            elle_models: Vec::new(),
        }
    }
}

/// A whole-history check (see the module docs).
pub trait Check: Sync {
    /// Its name in schedules, `results.json` and `faultline check --checker`.
    fn name(&self) -> &'static str;
    /// Other names schedules may use for it (read, never written).
    fn aliases(&self) -> &'static [&'static str] {
        &[]
    }
    /// What it checks, in a few words.
    fn about(&self) -> &'static str;
    /// Checks the history file `path`. An error is bad input (file, line, what was
    /// expected), never a verdict.
    fn run(
        &self,
        path: &Path,
        settings: &CheckSettings,
    ) -> Result<Box<dyn CheckReport>, InputError>;
}

/// What a check found.
pub trait CheckReport: fmt::Debug + Send + Sync {
    fn verdict(&self) -> Verdict;
    /// One line: what was checked and what was found.
    fn summary(&self) -> String;
    /// Everything in text, as `faultline check` prints it (ends with a newline).
    fn to_text(&self) -> String;
    /// The evidence in a few indented lines (each ending with a newline) for `faultline
    /// run`, below the summary line; empty when there is nothing to add.
    fn evidence(&self) -> String {
        String::new()
    }
    /// Everything as JSON: `faultline check --json` and `results.json`'s `details`.
    fn details(&self) -> serde_json::Value;
    /// A section of the HTML report, if the check draws one. `ops` is the history the
    /// page draws (faultline's own JSONL read back), for the times of its lines; it may
    /// be empty. The body is escaped HTML styled by [`crate::html::STYLE`] (`lc-`
    /// classes under `.lin-check`), inserted as is.
    fn html_section(&self, ops: &[Op]) -> Option<HtmlSection> {
        let _ = ops;
        None
    }
}

/// A check's section of the HTML report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HtmlSection {
    pub title: String,
    /// Already escaped HTML, inserted as is.
    pub body_html: String,
}

/// A check's handle: compared, ordered and printed by name.
#[derive(Clone, Copy)]
pub struct CheckKind(&'static dyn Check);

impl CheckKind {
    /// The handle of `check` (each check module's `KIND`).
    pub const fn new(check: &'static dyn Check) -> CheckKind {
        CheckKind(check)
    }

    /// Every check ([`REGISTRY`]).
    pub const ALL: &'static [CheckKind] = REGISTRY;

    pub fn name(self) -> &'static str {
        self.0.name()
    }

    /// The check named `name` (or known by it).
    pub fn from_name(name: &str) -> Option<CheckKind> {
        REGISTRY
            .iter()
            .copied()
            .find(|kind| kind.name() == name || kind.0.aliases().contains(&name))
    }

    pub fn check(self) -> &'static dyn Check {
        self.0
    }

    /// Runs the check on the history file `path`.
    pub fn run(
        self,
        path: &Path,
        settings: &CheckSettings,
    ) -> Result<Box<dyn CheckReport>, InputError> {
        self.0.run(path, settings)
    }

    /// Every check's name, in registry order (for messages and `--help`).
    pub fn names() -> impl Iterator<Item = &'static str> {
        REGISTRY.iter().map(|kind| kind.name())
    }
}

impl PartialEq for CheckKind {
    fn eq(&self, other: &Self) -> bool {
        self.name() == other.name()
    }
}

impl Eq for CheckKind {}

impl PartialOrd for CheckKind {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for CheckKind {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.name().cmp(other.name())
    }
}

impl std::hash::Hash for CheckKind {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name().hash(state);
    }
}

impl fmt::Debug for CheckKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CheckKind({})", self.name())
    }
}

impl fmt::Display for CheckKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A self-contained HTML page for one report: its verdict, its summary and its section
/// (what `faultline check --html` writes). `ops` as for [`CheckReport::html_section`].
pub fn html_page(report: &dyn CheckReport, title: &str, ops: &[Op]) -> String {
    use html_escape::encode_text;
    let mut page = format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{}</title><style>{}</style></head><body>\n<h1>{}: {}</h1>\n<p class=\"lin-check lc-summary\">{}</p>\n",
        encode_text(title),
        crate::html::STYLE,
        encode_text(title),
        report.verdict(),
        encode_text(&report.summary()),
    );
    if let Some(section) = report.html_section(ops) {
        page.push_str(&format!(
            "<h2>{}</h2>\n{}",
            encode_text(&section.title),
            section.body_html
        ));
    }
    page.push_str("</body></html>\n");
    page
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_read_back() {
        let mut seen = std::collections::BTreeSet::new();
        for kind in REGISTRY {
            assert!(seen.insert(kind.name()), "{} twice", kind.name());
            for alias in kind.check().aliases() {
                assert!(seen.insert(alias), "{alias} twice");
                assert_eq!(CheckKind::from_name(alias), Some(*kind));
            }
            assert_eq!(CheckKind::from_name(kind.name()), Some(*kind));
        }
        assert_eq!(CheckKind::from_name("set"), Some(set_full::KIND));
        assert_eq!(CheckKind::from_name("nope"), None);
    }
}
