//! The bank check: every `ok` read of all balances sums to the initial total, no balance
//! is negative, every account read is one of the bank's, and none is missing; plus how
//! long transfers were blocked during each fault window.
//!
//! # Ops
//!
//! - `transfer` with value `{"from": a, "to": b, "amount": n}` on the invoke (the
//!   completion may repeat it or carry nothing). Accounts are strings or integers
//!   (Jepsen's EDN histories number them; `0` and `"0"` are the same account).
//! - `read` with value (on `ok`) `{"a": 10, ...}`: account -> balance, integers. A `null`
//!   balance is a bad read (the store lost the account's value), not bad input.
//! - Nemesis records give the fault windows ([`crate::calls::fault_windows`]). Keys are
//!   ignored: a bank history is one bank.
//!
//! # Verdict
//!
//! `invalid` if any `ok` read is bad: wrong total, a negative or `null` balance, an
//! unknown account, or a missing account (a read that omits an account cannot be summed
//! against the total). `unknown` if transfers completed but no read completed `ok`:
//! nothing was checked. `valid` otherwise (an empty history is valid: nothing claimed).
//! `fail` and `info` reads say nothing about the state and are skipped.
//!
//! # Availability
//!
//! For each fault window, and for the whole run as a reference: transfers invoked in it,
//! and transfer completions in it by outcome (a transfer never completed counts as `info`
//! in the window of its invoke). Its *longest gap* is the longest stretch between two
//! consecutive `ok` transfer completions (the window's edges count as boundaries) during
//! which clients were trying: only the time at which some transfer was in flight
//! (invoked, not yet completed) is counted, so an idle workload is not "blocked".

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;
use serde_json::Value;

use crate::calls::{
    Call, FaultWindow, LoadedHistory, Outcome, OutcomeCounts, ShapeError, fault_windows,
    load_history, pair_calls, preview,
};
use crate::format::{Format, InputError};
use crate::history::Op;
use crate::verdict::Verdict;

/// How many bad reads the result lists in full (the first is always among them).
const BAD_READ_EXAMPLES: usize = 5;

/// The bank's accounts and the total every read must sum to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BankOptions {
    pub accounts: Vec<String>,
    pub total: i64,
}

impl BankOptions {
    /// The accounts of `balances`, and their sum as the total.
    pub fn from_balances(balances: &BTreeMap<String, i64>) -> BankOptions {
        BankOptions {
            accounts: balances.keys().cloned().collect(),
            total: balances
                .values()
                .fold(0i64, |sum, b| sum.saturating_add(*b)),
        }
    }

    /// Options taken from the history itself: the accounts and sum of its first `ok`
    /// read. Weaker than given options (that first read is trusted, and a bank whose every
    /// read is equally wrong passes); `None` when the history has no `ok` read.
    pub fn infer(ops: &[Op]) -> Result<Option<BankOptions>, ShapeError> {
        for call in pair_calls(ops)? {
            if call.invoke.f == "read" && call.outcome() == Outcome::Ok {
                let (balances, _) = read_balances(&call)?;
                let known: BTreeMap<String, i64> = balances
                    .into_iter()
                    .map(|(account, balance)| (account, balance.unwrap_or(0)))
                    .collect();
                return Ok(Some(BankOptions::from_balances(&known)));
            }
        }
        Ok(None)
    }
}

/// How many bad reads had each problem (a read can have several).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct BadReadCounts {
    pub wrong_total: u64,
    pub negative: u64,
    pub null_balance: u64,
    pub unknown_account: u64,
    pub missing_account: u64,
}

/// One `ok` read that breaks the bank's invariants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BadRead {
    /// Position (0-based) and `index` of the read's completion record.
    pub position: usize,
    pub index: u64,
    pub time_ns: u64,
    pub process: u64,
    /// What the read returned (`null` balances as `None`).
    pub balances: BTreeMap<String, Option<i64>>,
    /// Sum of the non-null balances (i128: no overflow on any i64 input).
    pub sum: i128,
    pub expected_total: i64,
    pub negative: Vec<String>,
    pub null_balance: Vec<String>,
    pub unknown: Vec<String>,
    pub missing: Vec<String>,
}

impl BadRead {
    fn wrong_total(&self) -> bool {
        self.sum != i128::from(self.expected_total)
    }

    /// The balances read, as `a0=100, a1=null, ...`.
    pub fn balances_text(&self) -> String {
        let balances: Vec<String> = self
            .balances
            .iter()
            .map(|(account, balance)| match balance {
                Some(balance) => format!("{account}={balance}"),
                None => format!("{account}=null"),
            })
            .collect();
        balances.join(", ")
    }

    /// The accounts with each problem, labelled, in a fixed order (empty lists included).
    pub fn problems(&self) -> [(&'static str, &[String]); 4] {
        [
            ("negative", &self.negative),
            ("null balance", &self.null_balance),
            ("unknown accounts", &self.unknown),
            ("missing accounts", &self.missing),
        ]
    }

    /// The read in one line, as every text that names a bad read words it (the check's
    /// text, the run's summary): `op 7 at 1.250 s, process 3: {a0=100, a1=null} sums to
    /// 100 (expected 200); null balance: a1`.
    pub fn describe(&self) -> String {
        let mut line = format!(
            "op {} at {:.3} s, process {}: {{{}}} sums to {} (expected {})",
            self.index,
            self.time_ns as f64 / 1e9,
            self.process,
            self.balances_text(),
            self.sum,
            self.expected_total
        );
        for (label, accounts) in self.problems() {
            if !accounts.is_empty() {
                line.push_str(&format!("; {label}: {}", accounts.join(", ")));
            }
        }
        line
    }
}

/// Transfers during one fault window (or the whole run).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WindowAvailability {
    pub window: FaultWindow,
    /// Transfers invoked in the window.
    pub transfers_invoked: u64,
    /// Transfer completions in the window by outcome; never-completed transfers invoked
    /// in the window count as `info`.
    pub transfers: OutcomeCounts,
    /// The longest stretch without an `ok` transfer while transfers were in flight.
    pub longest_gap_ns: u64,
    /// Where that stretch began (an `ok` completion or the window's start).
    pub longest_gap_from_ns: u64,
}

/// Everything the bank check found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BankResult {
    pub verdict: Verdict,
    pub accounts: Vec<String>,
    pub total: i64,
    /// True when the accounts and total came from the history's first read.
    pub options_inferred: bool,
    /// Lines (records) of the history, nemesis records included; an op is two of them.
    pub history_lines: u64,
    pub transfers: OutcomeCounts,
    pub reads: OutcomeCounts,
    pub bad_reads: u64,
    pub bad_read_counts: BadReadCounts,
    /// The first bad read (in completion order).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_bad_read: Option<BadRead>,
    /// The first few bad reads, the first one included.
    pub bad_read_examples: Vec<BadRead>,
    /// One row per fault window, in order of start.
    pub availability: Vec<WindowAvailability>,
    /// The same measures over the whole history, for comparison.
    pub whole_run: WindowAvailability,
}

/// Checks a bank history against `options`.
pub fn check_bank(ops: &[Op], options: &BankOptions) -> Result<BankResult, ShapeError> {
    let calls = pair_calls(ops)?;
    let accounts: BTreeSet<&str> = options.accounts.iter().map(String::as_str).collect();
    let mut transfers = OutcomeCounts::default();
    let mut reads = OutcomeCounts::default();
    let mut bad: Vec<BadRead> = Vec::new();
    let mut bad_reads = 0u64;
    let mut bad_read_counts = BadReadCounts::default();
    let mut transfer_calls: Vec<Call<'_>> = Vec::new();
    for call in &calls {
        match call.invoke.f.as_str() {
            "transfer" => {
                check_transfer_shape(call)?;
                transfers.add(call.outcome());
                transfer_calls.push(*call);
            }
            "read" => {
                reads.add(call.outcome());
                if call.outcome() != Outcome::Ok {
                    continue;
                }
                if let Some(read) = judge_read(call, &accounts, options.total)? {
                    bad_reads += 1;
                    count_problems(&read, &mut bad_read_counts);
                    bad.push(read);
                }
            }
            other => {
                return Err(ShapeError::new(
                    call.invoke_pos,
                    call.invoke,
                    "a bank function (transfer or read)",
                    format!("{other:?}"),
                ));
            }
        }
    }
    // Calls are in invoke order; "first" means first completed.
    bad.sort_by_key(|read| read.position);
    bad.truncate(BAD_READ_EXAMPLES);
    let verdict = if bad_reads > 0 {
        Verdict::Invalid
    } else if reads.ok == 0 && transfers.ok > 0 {
        Verdict::Unknown
    } else {
        Verdict::Valid
    };
    let timeline = TransferTimeline::new(&transfer_calls, ops);
    let availability = fault_windows(ops)
        .into_iter()
        .map(|w| timeline.availability(w))
        .collect();
    let whole_run = timeline.availability(FaultWindow {
        fault: "whole run".to_string(),
        id: None,
        start_ns: ops.iter().map(|op| op.time_ns).min().unwrap_or(0),
        stop_ns: timeline.end_ns,
        stopped: true,
        start_position: 0,
    });
    Ok(BankResult {
        verdict,
        accounts: options.accounts.clone(),
        total: options.total,
        options_inferred: false,
        history_lines: ops.len() as u64,
        transfers,
        reads,
        bad_reads,
        bad_read_counts,
        first_bad_read: bad.first().cloned(),
        bad_read_examples: bad,
        availability,
        whole_run,
    })
}

/// Loads a history file and checks it; with no options, they are inferred from the
/// history's first read ([`BankOptions::infer`]). Errors name the file and line.
pub fn check_bank_file(
    path: &Path,
    format: Format,
    options: Option<&BankOptions>,
) -> Result<BankResult, InputError> {
    check_bank_loaded(&load_history(path, format)?, options)
}

/// [`check_bank_file`] on a history already loaded.
pub fn check_bank_loaded(
    history: &LoadedHistory,
    options: Option<&BankOptions>,
) -> Result<BankResult, InputError> {
    let located = |e: ShapeError| e.in_file(&history.name, &history.lines);
    let (options, inferred) = match options {
        Some(options) => (options.clone(), false),
        None => match BankOptions::infer(&history.ops).map_err(located)? {
            Some(options) => (options, true),
            None => (
                BankOptions {
                    accounts: Vec::new(),
                    total: 0,
                },
                true,
            ),
        },
    };
    let mut result = check_bank(&history.ops, &options).map_err(located)?;
    result.options_inferred = inferred;
    Ok(result)
}

fn count_problems(read: &BadRead, counts: &mut BadReadCounts) {
    counts.wrong_total += u64::from(read.wrong_total());
    counts.negative += u64::from(!read.negative.is_empty());
    counts.null_balance += u64::from(!read.null_balance.is_empty());
    counts.unknown_account += u64::from(!read.unknown.is_empty());
    counts.missing_account += u64::from(!read.missing.is_empty());
}

/// An account name: a string, or an integer written as text.
fn account_name(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) if n.is_i64() || n.is_u64() => Some(n.to_string()),
        _ => None,
    }
}

/// Refuses a transfer whose invoke value is not `{"from", "to", "amount"}`.
fn check_transfer_shape(call: &Call<'_>) -> Result<(), ShapeError> {
    const EXPECTED: &str =
        "a transfer value {\"from\": account, \"to\": account, \"amount\": integer}";
    let value = &call.invoke.value;
    let ok = account_name(&value["from"]).is_some()
        && account_name(&value["to"]).is_some()
        && value["amount"].as_i64().is_some();
    if ok {
        Ok(())
    } else {
        Err(ShapeError::new(
            call.invoke_pos,
            call.invoke,
            EXPECTED,
            preview(value),
        ))
    }
}

type Balances = BTreeMap<String, Option<i64>>;

/// The balances of an `ok` read and the position of the record they are on.
fn read_balances(call: &Call<'_>) -> Result<(Balances, usize), ShapeError> {
    let Some((completion, pos)) = call.completion else {
        return Err(ShapeError::new(
            call.invoke_pos,
            call.invoke,
            "a completed read",
            "none",
        ));
    };
    let Value::Object(map) = &completion.value else {
        return Err(ShapeError::new(
            pos,
            completion,
            "a read value {account: balance, ...}",
            preview(&completion.value),
        ));
    };
    let mut balances = Balances::new();
    for (account, balance) in map {
        let balance = match balance {
            Value::Null => None,
            other => Some(other.as_i64().ok_or_else(|| {
                ShapeError::new(
                    pos,
                    completion,
                    format!("an integer balance for account {account:?}"),
                    preview(other),
                )
            })?),
        };
        balances.insert(account.clone(), balance);
    }
    Ok((balances, pos))
}

/// The read as a [`BadRead`] if it breaks an invariant, `None` if it is good.
fn judge_read(
    call: &Call<'_>,
    accounts: &BTreeSet<&str>,
    total: i64,
) -> Result<Option<BadRead>, ShapeError> {
    let (balances, pos) = read_balances(call)?;
    let sum: i128 = balances.values().flatten().map(|b| i128::from(*b)).sum();
    let pick = |keep: &dyn Fn(&str, Option<i64>) -> bool| -> Vec<String> {
        balances
            .iter()
            .filter(|(account, balance)| keep(account, **balance))
            .map(|(account, _)| account.clone())
            .collect()
    };
    let negative = pick(&|_, b| b.is_some_and(|b| b < 0));
    let null_balance = pick(&|_, b| b.is_none());
    let unknown = pick(&|a, _| !accounts.contains(a));
    let missing: Vec<String> = accounts
        .iter()
        .filter(|a| !balances.contains_key(**a))
        .map(|a| a.to_string())
        .collect();
    let (completion, _) = call.completion.unwrap_or((call.invoke, pos));
    let read = BadRead {
        position: pos,
        index: completion.index,
        time_ns: completion.time_ns,
        process: call.process(),
        balances,
        sum,
        expected_total: total,
        negative,
        null_balance,
        unknown,
        missing,
    };
    let good = !read.wrong_total()
        && read.negative.is_empty()
        && read.null_balance.is_empty()
        && read.unknown.is_empty()
        && read.missing.is_empty();
    Ok((!good).then_some(read))
}

/// Transfer times, sorted, for the availability measures.
struct TransferTimeline {
    /// Invoke times of all transfers.
    invokes_ns: Vec<u64>,
    /// Completion times by outcome; never-completed transfers are in `info` at their
    /// invoke time.
    ok_ns: Vec<u64>,
    fail_ns: Vec<u64>,
    info_ns: Vec<u64>,
    /// Disjoint, sorted intervals during which at least one transfer was in flight.
    in_flight: Vec<(u64, u64)>,
    /// The history's last time.
    end_ns: u64,
}

impl TransferTimeline {
    fn new(transfers: &[Call<'_>], ops: &[Op]) -> TransferTimeline {
        let end_ns = ops.iter().map(|op| op.time_ns).max().unwrap_or(0);
        let mut timeline = TransferTimeline {
            invokes_ns: Vec::new(),
            ok_ns: Vec::new(),
            fail_ns: Vec::new(),
            info_ns: Vec::new(),
            in_flight: Vec::new(),
            end_ns,
        };
        let mut spans = Vec::with_capacity(transfers.len());
        for call in transfers {
            let start = call.invoke.time_ns;
            timeline.invokes_ns.push(start);
            let end = call.completion_time_ns().unwrap_or(end_ns).max(start);
            spans.push((start, end));
            let at = call.completion_time_ns().unwrap_or(start);
            match call.outcome() {
                Outcome::Ok => timeline.ok_ns.push(at),
                Outcome::Fail => timeline.fail_ns.push(at),
                Outcome::Info => timeline.info_ns.push(at),
            }
        }
        for list in [
            &mut timeline.invokes_ns,
            &mut timeline.ok_ns,
            &mut timeline.fail_ns,
            &mut timeline.info_ns,
        ] {
            list.sort_unstable();
        }
        timeline.in_flight = merge_spans(spans);
        timeline
    }

    fn availability(&self, window: FaultWindow) -> WindowAvailability {
        let (start, stop) = (window.start_ns, window.stop_ns.max(window.start_ns));
        let within = |list: &[u64]| count_within(list, start, stop);
        let oks = slice_within(&self.ok_ns, start, stop);
        let mut boundaries = Vec::with_capacity(oks.len() + 2);
        boundaries.push(start);
        boundaries.extend_from_slice(oks);
        boundaries.push(stop);
        let (mut longest_gap_ns, mut longest_gap_from_ns) = (0, start);
        for pair in boundaries.windows(2) {
            let busy = self.in_flight_ns(pair[0], pair[1]);
            if busy > longest_gap_ns {
                (longest_gap_ns, longest_gap_from_ns) = (busy, pair[0]);
            }
        }
        WindowAvailability {
            transfers_invoked: within(&self.invokes_ns),
            transfers: OutcomeCounts {
                ok: oks.len() as u64,
                fail: within(&self.fail_ns),
                info: within(&self.info_ns),
            },
            longest_gap_ns,
            longest_gap_from_ns,
            window,
        }
    }

    /// Time within `[from, to]` during which some transfer was in flight.
    fn in_flight_ns(&self, from: u64, to: u64) -> u64 {
        let first = self.in_flight.partition_point(|&(_, end)| end <= from);
        self.in_flight[first..]
            .iter()
            .take_while(|&&(begin, _)| begin < to)
            .map(|&(begin, end)| end.min(to).saturating_sub(begin.max(from)))
            .sum()
    }
}

/// The union of `spans` as sorted disjoint intervals.
fn merge_spans(mut spans: Vec<(u64, u64)>) -> Vec<(u64, u64)> {
    spans.sort_unstable();
    let mut merged: Vec<(u64, u64)> = Vec::with_capacity(spans.len());
    for (start, end) in spans {
        match merged.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => merged.push((start, end)),
        }
    }
    merged
}

/// The elements of sorted `list` within `[start, stop]`.
fn slice_within(list: &[u64], start: u64, stop: u64) -> &[u64] {
    let from = list.partition_point(|&t| t < start);
    let to = list.partition_point(|&t| t <= stop);
    &list[from..to.max(from)]
}

fn count_within(list: &[u64], start: u64, stop: u64) -> u64 {
    slice_within(list, start, stop).len() as u64
}

impl BankResult {
    /// The result as text for a terminal: the verdict, counts, the first bad read, and
    /// the availability table.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let inferred = if self.options_inferred {
            " (accounts and total taken from the first read)"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "bank: {}: {} history lines; transfers {} ok, {} fail, {} info; reads {} ok, {} fail, {} info; \
             {} accounts, total {}{inferred}",
            self.verdict,
            self.history_lines,
            self.transfers.ok,
            self.transfers.fail,
            self.transfers.info,
            self.reads.ok,
            self.reads.fail,
            self.reads.info,
            self.accounts.len(),
            self.total,
        );
        self.write_bad_reads(&mut out);
        self.write_availability(&mut out);
        out
    }

    fn write_bad_reads(&self, out: &mut String) {
        if self.bad_reads == 0 {
            return;
        }
        let c = &self.bad_read_counts;
        let _ = writeln!(
            out,
            "{}: {} wrong total, {} negative, {} null balance, {} unknown account, \
             {} missing account",
            crate::verdict::count(self.bad_reads, "bad read", "bad reads"),
            c.wrong_total,
            c.negative,
            c.null_balance,
            c.unknown_account,
            c.missing_account
        );
        let Some(read) = &self.first_bad_read else {
            return;
        };
        let _ = writeln!(out, "first bad read: {}", read.describe());
    }

    fn write_availability(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "availability (longest gap = longest time with transfers in flight and none ok):"
        );
        let _ = writeln!(
            out,
            "  {:<20} {:>10} {:>10} {:>8} {:>6} {:>6} {:>6} {:>12}",
            "window", "from s", "to s", "invoked", "ok", "fail", "info", "gap ms"
        );
        for row in self.availability.iter().chain([&self.whole_run]) {
            let w = &row.window;
            let name = match w.id {
                Some(id) => format!("{} #{id}", w.fault),
                None => w.fault.clone(),
            };
            let open = if w.stopped { "" } else { " (open)" };
            let _ = writeln!(
                out,
                "  {:<20} {:>10.3} {:>10.3} {:>8} {:>6} {:>6} {:>6} {:>12.1}{open}",
                name,
                w.start_ns as f64 / 1e9,
                w.stop_ns as f64 / 1e9,
                row.transfers_invoked,
                row.transfers.ok,
                row.transfers.fail,
                row.transfers.info,
                row.longest_gap_ns as f64 / 1e6,
            );
        }
    }
}
