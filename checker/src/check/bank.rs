//! The `bank` check: [`crate::bank`]'s invariants (every read sums to the total, no
//! negative balance, no unknown account) and availability per fault window, with
//! [`crate::blocked`]'s wall time without an `ok` transfer per window. Its report is
//! [`BankReport`]; its HTML section the availability table and the first bad read.

use std::path::Path;

use html_escape::encode_text;
use serde::Serialize;
use serde_json::Value;

use super::{Check, CheckKind, CheckReport, CheckSettings, HtmlSection};
use crate::bank::{BankResult, check_bank_loaded};
use crate::blocked::{BlockedWindow, blocked_windows};
use crate::calls::load_history;
use crate::format::InputError;
use crate::history::Op;
use crate::verdict::{Verdict, count};

/// The `bank` check.
pub struct Bank;

/// Its handle in the registry.
pub const KIND: CheckKind = CheckKind::new(&Bank);

impl Check for Bank {
    fn name(&self) -> &'static str {
        "bank"
    }

    fn about(&self) -> &'static str {
        "the bank's invariants: every read sums to the total, no negative or unknown account; availability per fault window"
    }

    fn run(
        &self,
        path: &Path,
        settings: &CheckSettings,
    ) -> Result<Box<dyn CheckReport>, InputError> {
        let history = load_history(path, settings.format)?;
        let result = check_bank_loaded(&history, settings.bank.as_ref())?;
        let blocked = blocked_windows(&history.ops);
        Ok(Box::new(BankReport { result, blocked }))
    }
}

/// What the bank check found: the checker's result and the blocked wall time per window.
#[derive(Debug, Clone, Serialize)]
pub struct BankReport {
    #[serde(flatten)]
    pub result: BankResult,
    /// The wall time without an `ok` transfer per fault window ([`crate::blocked`]).
    pub blocked: Vec<BlockedWindow>,
}

impl CheckReport for BankReport {
    fn verdict(&self) -> Verdict {
        self.result.verdict
    }

    /// Counts, the longest blocked stretch, and for an invalid verdict the first bad read
    /// (which accounts, what they summed to).
    fn summary(&self) -> String {
        let result = &self.result;
        let ms = |ns: u64| ns as f64 / 1e6;
        let longest_gap_ns = result
            .availability
            .iter()
            .map(|row| row.longest_gap_ns)
            .max();
        let longest_blocked_ns = self.blocked.iter().map(|w| w.longest_without_ok_ns).max();
        let mut line = format!(
            "{} ok, {} fail, {} info; {} ok; {}; in fault windows: longest without an ok transfer {:.0} ms, longest gap with transfers in flight {:.0} ms",
            count(result.transfers.ok, "transfer", "transfers"),
            result.transfers.fail,
            result.transfers.info,
            count(result.reads.ok, "read", "reads"),
            count(result.bad_reads, "bad read", "bad reads"),
            ms(longest_blocked_ns.unwrap_or(0)),
            ms(longest_gap_ns.unwrap_or(0)),
        );
        if let Some(read) = &result.first_bad_read {
            line.push_str(&format!("; first bad read: {}", read.describe()));
        }
        line
    }

    fn to_text(&self) -> String {
        self.result.to_text()
    }

    /// One line per fault window: ok transfers, the longest time without one, the time
    /// until the first one.
    fn evidence(&self) -> String {
        let mut out = String::new();
        for window in &self.blocked {
            out.push_str(&format!(
                "  {:<9} #{:<3} {:>7.3}-{:<7.3} s: {:>4} ok transfers, longest without ok {:>6.0} ms, until first ok {}\n",
                window.fault,
                window.id.map_or("-".to_string(), |id| id.to_string()),
                window.start_ns as f64 / 1e9,
                window.stop_ns as f64 / 1e9,
                window.ok_transfers,
                window.longest_without_ok_ns as f64 / 1e6,
                window
                    .until_first_ok_ns
                    .map_or("never".to_string(), |ns| format!("{:.0} ms", ns as f64 / 1e6)),
            ));
        }
        out
    }

    fn details(&self) -> Value {
        serde_json::to_value(self).expect("a bank report serialises")
    }

    /// Its bad reads (if any) and the availability table: the longest time transfers were
    /// blocked in each fault window and over the whole run.
    fn html_section(&self, _ops: &[Op]) -> Option<HtmlSection> {
        let result = &self.result;
        let text = |s: &str| encode_text(s).into_owned();
        let mut body = String::from(
            "<div class=\"lin-check\"><p class=\"lc-caption\">Without ok: the longest wall time in the window with no transfer \
             completing ok; until first ok: from the fault's start to the next ok transfer (even \
             after the window). Longest gap: the checker's measure, counting only time during \
             which transfers were in flight (clients that fail fast against a dead node are not \
             in flight). Every ok read must sum to the initial total with no negative \
             balance.</p>",
        );
        if let Some(read) = &result.first_bad_read {
            body.push_str(&format!(
                "<p class=\"lc-error\">{}. First: op {} at {:.3} s, process {}: {{{}}} sums to {} (expected {}){}</p>",
                count(result.bad_reads, "bad read", "bad reads"),
                read.index,
                read.time_ns as f64 / 1e9,
                read.process,
                text(&read.balances_text()),
                read.sum,
                read.expected_total,
                if read.negative.is_empty() {
                    String::new()
                } else {
                    format!("; negative: {}", text(&read.negative.join(", ")))
                }
            ));
        }
        body.push_str(
            "<table class=\"lc-table\"><tr><th>window</th><th class=\"lc-num\">from s</th><th class=\"lc-num\">to s</th>\
             <th class=\"lc-num\">invoked</th><th class=\"lc-num\">ok</th><th class=\"lc-num\">fail</th>\
             <th class=\"lc-num\">info</th><th class=\"lc-num\">without ok ms</th>\
             <th class=\"lc-num\">until first ok ms</th><th class=\"lc-num\">longest gap ms</th></tr>\n",
        );
        for (index, row) in result
            .availability
            .iter()
            .chain([&result.whole_run])
            .enumerate()
        {
            let w = &row.window;
            // The checker's rows and `blocked` come from the same fault windows, in order.
            let wall = self
                .blocked
                .get(index)
                .filter(|b| b.start_ns == w.start_ns && b.fault == w.fault);
            let without_ok = wall.map_or("–".to_string(), |b| {
                format!("{:.1}", b.longest_without_ok_ns as f64 / 1e6)
            });
            let until_first_ok = wall.map_or("–".to_string(), |b| {
                b.until_first_ok_ns
                    .map_or("never".to_string(), |ns| format!("{:.1}", ns as f64 / 1e6))
            });
            let name = match w.id {
                Some(id) => format!("{} #{id}", w.fault),
                None => w.fault.clone(),
            };
            body.push_str(&format!(
                "<tr><td>{}</td><td class=\"lc-num\">{:.3}</td><td class=\"lc-num\">{:.3}</td>\
                 <td class=\"lc-num\">{}</td><td class=\"lc-num\">{}</td><td class=\"lc-num\">{}</td>\
                 <td class=\"lc-num\">{}</td><td class=\"lc-num\">{without_ok}</td>\
                 <td class=\"lc-num\">{until_first_ok}</td><td class=\"lc-num\">{:.1}</td></tr>\n",
                text(&name),
                w.start_ns as f64 / 1e9,
                w.stop_ns as f64 / 1e9,
                row.transfers_invoked,
                row.transfers.ok,
                row.transfers.fail,
                row.transfers.info,
                row.longest_gap_ns as f64 / 1e6,
            ));
        }
        body.push_str("</table></div>");
        Some(HtmlSection {
            title: "Bank: availability per fault window".into(),
            body_html: body,
        })
    }
}
