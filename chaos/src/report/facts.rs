//! What the report shows, derived from the history alone: client op spans (invoke to
//! completion), fault windows (nemesis start/stop pairs), counts and per-function latency.
//!
//! The history (`checker::history::Op`) is the one source of truth; nothing here reads any
//! other record of the run. Malformed stretches (a completion without an invoke, a second
//! invoke before the first completed, a stop without a start) are not fatal: the report is
//! written after every run, including broken ones, so they are counted and listed as
//! warnings on the page instead.

use std::collections::{BTreeMap, HashMap};

use checker::calls::pair_fault_windows;
use checker::history::{Op, OpType, Process};
use serde_json::Value;
use workloads::stats::LatencySummary;

/// At most this many history warnings are kept verbatim; the rest are only counted.
const MAX_WARNINGS_KEPT: usize = 20;
/// Fault labels longer than this are cut (with an ellipsis) so that they fit above a window.
const MAX_FAULT_LABEL_CHARS: usize = 48;

/// How a client op ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Outcome {
    Ok,
    Fail,
    Info,
    /// Invoked but never completed before the history ended: drawn as `info` up to the end.
    InFlight,
}

impl Outcome {
    /// The class the charts colour it by: in-flight ops are unknown, like `info`.
    pub(crate) fn drawn_as(self) -> Outcome {
        match self {
            Outcome::InFlight => Outcome::Info,
            other => other,
        }
    }
}

/// One client op from its invoke to its completion (or to the end of the history).
#[derive(Debug, Clone)]
pub(crate) struct OpSpan {
    pub process: u64,
    pub f: String,
    pub invoke_ns: u64,
    pub end_ns: u64,
    pub outcome: Outcome,
    /// The completion's `error` (`cas-mismatch`, `timeout`...), if it named one.
    pub error: Option<String>,
}

impl OpSpan {
    pub(crate) fn latency_ns(&self) -> u64 {
        self.end_ns.saturating_sub(self.invoke_ns)
    }
}

/// One fault instance: from its `start-<fault>` to its `stop-<fault>` nemesis event, as
/// [`checker::calls::pair_fault_windows`] pairs them (the checks use the same windows), with
/// what the page says about it.
#[derive(Debug, Clone)]
pub(crate) struct FaultWindow {
    pub id: Option<u64>,
    pub fault: String,
    /// What the fault hit, from the event's value: `n1|n2,n3` for groups, `n3` for targets.
    pub description: String,
    /// The value's list fields that are too long for a label (`cut: n1->n3, n2->n3`).
    pub details: String,
    pub start_ns: u64,
    pub stop_ns: u64,
    /// No stop event: the window was drawn to the end of the history.
    pub open_at_end: bool,
}

impl FaultWindow {
    /// The short label drawn above the window, e.g. `partition n1|n2,n3`.
    pub(crate) fn label(&self) -> String {
        let full = if self.description.is_empty() {
            self.fault.clone()
        } else {
            format!("{} {}", self.fault, self.description)
        };
        truncate_chars(&full, MAX_FAULT_LABEL_CHARS)
    }
}

/// Completion counts of client ops.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct OutcomeCounts {
    pub ok: u64,
    pub fail: u64,
    pub info: u64,
    pub in_flight: u64,
}

impl OutcomeCounts {
    fn add(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Ok => self.ok += 1,
            Outcome::Fail => self.fail += 1,
            Outcome::Info => self.info += 1,
            Outcome::InFlight => self.in_flight += 1,
        }
    }

    pub(crate) fn invoked(&self) -> u64 {
        self.ok + self.fail + self.info + self.in_flight
    }
}

/// Counts and latency percentiles of one function (`read`, `write`, ...).
#[derive(Debug, Clone)]
pub(crate) struct FunctionStats {
    pub f: String,
    pub counts: OutcomeCounts,
    /// Over `ok` ops, by `workloads::stats::percentile`; `None` when none was ok.
    pub latency_ms_p50: Option<f64>,
    pub latency_ms_p99: Option<f64>,
    pub latency_ms_max: Option<f64>,
}

/// Everything the page needs, derived once from the history.
#[derive(Debug, Clone, Default)]
pub(crate) struct RunFacts {
    /// Client ops in invoke order.
    pub spans: Vec<OpSpan>,
    /// Fault windows in start order.
    pub faults: Vec<FaultWindow>,
    pub counts: OutcomeCounts,
    pub functions: Vec<FunctionStats>,
    /// The time of the last record: the run's length as far as the history knows.
    pub end_ns: u64,
    pub client_processes: usize,
    /// Of those, the processes of the final reads (see [`final_read_processes`]).
    pub final_read_processes: usize,
    /// Fail and info completions per error (`none` when the completion named none).
    pub fail_by_error: BTreeMap<String, u64>,
    pub info_by_error: BTreeMap<String, u64>,
    pub nemesis_events: usize,
    pub warnings: Vec<String>,
    pub warnings_total: usize,
}

impl RunFacts {
    pub(crate) fn duration_s(&self) -> f64 {
        ns_to_s(self.end_ns)
    }

    fn warn(&mut self, message: String) {
        self.warnings_total += 1;
        if self.warnings.len() < MAX_WARNINGS_KEPT {
            self.warnings.push(message);
        }
    }
}

pub(crate) fn ns_to_s(ns: u64) -> f64 {
    ns as f64 / 1e9
}

pub(crate) fn ns_to_ms(ns: u64) -> f64 {
    ns as f64 / 1e6
}

/// Derives the page's facts from the history, in one pass plus sorting.
pub(crate) fn derive_facts(ops: &[Op]) -> RunFacts {
    let mut facts = RunFacts {
        end_ns: ops.iter().map(|op| op.time_ns).max().unwrap_or(0),
        ..RunFacts::default()
    };
    let mut clients = ClientPairing::default();
    for op in ops {
        match op.process {
            Process::Client(process) => clients.record(process, op, &mut facts),
            Process::Nemesis => facts.nemesis_events += 1,
        }
    }
    clients.finish(facts.end_ns, &mut facts);
    let nemesis = pair_fault_windows(ops);
    for warning in nemesis.warnings {
        facts.warn(warning);
    }
    facts.faults = nemesis
        .windows
        .into_iter()
        .map(|window| {
            let value = &ops[window.start_position].value;
            FaultWindow {
                id: window.id,
                description: describe_fault_value(value),
                details: fault_value_details(value),
                start_ns: window.start_ns,
                stop_ns: window.stop_ns,
                open_at_end: !window.stopped,
                fault: window.fault,
            }
        })
        .collect();
    facts.functions = function_stats(&facts.spans);
    facts
}

/// Pairs each client invoke with the next completion of the same process.
#[derive(Default)]
struct ClientPairing {
    /// Process -> index in `facts.spans` of its op still in flight.
    open: HashMap<u64, usize>,
    seen: std::collections::HashSet<u64>,
}

impl ClientPairing {
    fn record(&mut self, process: u64, op: &Op, facts: &mut RunFacts) {
        self.seen.insert(process);
        if op.kind == OpType::Invoke {
            if let Some(previous) = self.open.remove(&process) {
                facts.warn(format!(
                    "op {}: process {process} invoked again before its previous op completed; \
                     the previous op is drawn as unknown up to this invoke",
                    op.index
                ));
                close_span(&mut facts.spans[previous], op.time_ns, Outcome::Info);
            }
            self.open.insert(process, facts.spans.len());
            facts.spans.push(OpSpan {
                process,
                f: op.f.clone(),
                invoke_ns: op.time_ns,
                end_ns: op.time_ns,
                outcome: Outcome::InFlight,
                error: None,
            });
            return;
        }
        let outcome = match op.kind {
            OpType::Ok => Outcome::Ok,
            OpType::Fail => Outcome::Fail,
            _ => Outcome::Info,
        };
        match self.open.remove(&process) {
            Some(span) => {
                close_span(&mut facts.spans[span], op.time_ns, outcome);
                facts.spans[span].error = op.error.clone();
            }
            None => facts.warn(format!(
                "op {}: a {:?} completion of process {process} with no invoke before it (ignored)",
                op.index, op.kind
            )),
        }
    }

    fn finish(self, end_ns: u64, facts: &mut RunFacts) {
        for span in self.open.into_values() {
            facts.spans[span].end_ns = end_ns;
        }
        facts.client_processes = self.seen.len();
        facts.final_read_processes = final_read_processes(&facts.spans);
        for span in &facts.spans {
            facts.counts.add(span.outcome);
            let by_error = match span.outcome {
                Outcome::Fail => &mut facts.fail_by_error,
                Outcome::Info => &mut facts.info_by_error,
                _ => continue,
            };
            let error = span.error.as_deref().unwrap_or("none");
            *by_error.entry(error.to_string()).or_default() += 1;
        }
    }
}

fn close_span(span: &mut OpSpan, end_ns: u64, outcome: Outcome) {
    span.end_ns = end_ns.max(span.invoke_ns);
    span.outcome = outcome;
}

/// Fields named in a fault's label without their key: the partition's groups or shape name,
/// the nodes hit.
const BARE_FIELDS: [&str; 6] = ["shape", "targets", "target", "nodes", "node", "groups"];

/// A short human description of a nemesis event's value: its groups (`n1|n2,n3`), shape
/// (`majorities-ring`), targets or nodes (`n3`), then any other scalar fields
/// (`delay_ms=100`); never its `id`.
pub(crate) fn describe_fault_value(value: &Value) -> String {
    let fields = match value {
        Value::Object(fields) => fields,
        Value::Null => return String::new(),
        Value::String(text) => return text.clone(),
        other => return other.to_string(),
    };
    let mut parts = Vec::new();
    if let Some(groups) = fields.get("groups").and_then(Value::as_array) {
        let groups: Vec<String> = groups.iter().map(join_names).collect();
        parts.push(groups.join("|"));
    }
    for key in ["shape", "targets", "target", "nodes", "node"] {
        if let Some(targets) = fields.get(key) {
            parts.push(join_names(targets));
        }
    }
    for (key, field) in fields {
        if key == "id" || BARE_FIELDS.contains(&key.as_str()) {
            continue;
        }
        match field {
            Value::String(text) => parts.push(format!("{key}={text}")),
            Value::Number(number) => parts.push(format!("{key}={number}")),
            Value::Bool(flag) => parts.push(format!("{key}={flag}")),
            _ => {}
        }
    }
    parts.join(" ")
}

/// The list fields of a nemesis event's value that the label leaves out, as
/// `key: a, b, c` joined by `; ` (e.g. the directed links a partition cut).
pub(crate) fn fault_value_details(value: &Value) -> String {
    let Value::Object(fields) = value else {
        return String::new();
    };
    fields
        .iter()
        .filter(|(key, _)| !BARE_FIELDS.contains(&key.as_str()))
        .filter_map(|(key, field)| {
            let items = field.as_array()?;
            let names: Vec<String> = items.iter().map(join_names).collect();
            Some(format!("{key}: {}", names.join(", ")))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// `["n1","n2"]` -> `n1,n2`; a lone string or number as is.
fn join_names(value: &Value) -> String {
    match value {
        Value::Array(items) => items
            .iter()
            .map(|item| match item {
                Value::String(text) => text.clone(),
                other => other.to_string(),
            })
            .collect::<Vec<_>>()
            .join(","),
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

pub(crate) fn truncate_chars(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(max_chars.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

fn function_stats(spans: &[OpSpan]) -> Vec<FunctionStats> {
    let mut by_f: BTreeMap<&str, (OutcomeCounts, Vec<u64>)> = BTreeMap::new();
    for span in spans {
        let (counts, latencies) = by_f.entry(span.f.as_str()).or_default();
        counts.add(span.outcome);
        if span.outcome == Outcome::Ok {
            latencies.push(span.latency_ns());
        }
    }
    by_f.into_iter()
        .map(|(f, (counts, latencies))| {
            // The one percentile definition (nearest rank over ok ops), as results.json's.
            let latency = LatencySummary::of(latencies);
            FunctionStats {
                f: f.to_string(),
                counts,
                latency_ms_p50: latency.map(|l| ns_to_ms(l.p50_ns)),
                latency_ms_p99: latency.map(|l| ns_to_ms(l.p99_ns)),
                latency_ms_max: latency.map(|l| ns_to_ms(l.max_ns)),
            }
        })
        .collect()
}

/// The processes of the final reads: the run's last processes to start, all after every
/// op of every other process had ended (the final phase reads once the workload is over
/// and the cluster quiesced), doing nothing but reads. Where several such tails exist, the
/// one after the longest pause is taken; 0 when there is none.
fn final_read_processes(spans: &[OpSpan]) -> usize {
    let mut per_process: BTreeMap<u64, (u64, u64, bool)> = BTreeMap::new();
    for span in spans {
        let entry = per_process
            .entry(span.process)
            .or_insert((span.invoke_ns, span.end_ns, true));
        entry.0 = entry.0.min(span.invoke_ns);
        entry.1 = entry.1.max(span.end_ns);
        entry.2 &= span.f == "read";
    }
    let mut by_start: Vec<(u64, u64, bool)> = per_process.into_values().collect();
    by_start.sort_unstable();
    // Per position: the latest end among the processes that started before it, and
    // whether every process from it on only read.
    let mut ended_by = Vec::with_capacity(by_start.len());
    let mut latest = 0;
    for &(_, end, _) in &by_start {
        ended_by.push(latest);
        latest = latest.max(end);
    }
    let mut reads_only_from = vec![true; by_start.len() + 1];
    for at in (0..by_start.len()).rev() {
        reads_only_from[at] = reads_only_from[at + 1] && by_start[at].2;
    }
    (1..by_start.len())
        .filter(|&at| reads_only_from[at] && ended_by[at] <= by_start[at].0)
        .max_by_key(|&at| (by_start[at].0 - ended_by[at], at))
        .map_or(0, |at| by_start.len() - at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn op(index: u64, time_ns: u64, process: Process, kind: OpType, f: &str, value: Value) -> Op {
        Op {
            index,
            time_ns,
            process,
            kind,
            f: f.to_string(),
            key: None,
            value,
            error: None,
        }
    }

    #[test]
    fn final_reads_and_errors_are_told_apart() {
        use OpType::{Fail, Info, Invoke, Ok};
        let c = Process::Client;
        let mut ops = vec![
            op(0, 10, c(0), Invoke, "cas", json!([1, 2])),
            op(1, 20, c(0), Fail, "cas", json!([1, 2])),
            op(2, 30, c(1), Invoke, "write", json!(3)),
            op(3, 40, c(1), Info, "write", json!(3)),
            op(4, 50, c(3), Invoke, "read", Value::Null),
            op(5, 60, c(3), Ok, "read", json!(3)),
            // After a pause, one final read per key, concurrent.
            op(6, 1_000, c(4), Invoke, "read", Value::Null),
            op(7, 1_001, c(5), Invoke, "read", Value::Null),
            op(8, 1_010, c(4), Ok, "read", json!(3)),
            op(9, 1_020, c(5), Ok, "read", json!(3)),
        ];
        ops[1].error = Some("cas-mismatch".into());
        ops[3].error = Some("timeout".into());
        let facts = derive_facts(&ops);
        assert_eq!(facts.client_processes, 5);
        assert_eq!(facts.final_read_processes, 2);
        assert_eq!(facts.fail_by_error.get("cas-mismatch"), Some(&1));
        assert_eq!(facts.info_by_error.get("timeout"), Some(&1));
        // Without the pause's reads-only tail, no process is taken for a final read.
        let facts = derive_facts(&ops[..6]);
        assert_eq!(
            facts.final_read_processes, 1,
            "process 3 read alone after the others"
        );
        let facts = derive_facts(&ops[..4]);
        assert_eq!(facts.final_read_processes, 0);
    }

    #[test]
    fn pairs_ops_and_faults_and_draws_open_ones_to_the_end() {
        let c = Process::Client;
        let n = Process::Nemesis;
        let ops = vec![
            op(0, 10, c(0), OpType::Invoke, "write", json!(1)),
            op(
                1,
                20,
                n,
                OpType::Info,
                "start-kill",
                json!({"id": 7, "targets": ["n3"]}),
            ),
            op(2, 30, c(0), OpType::Info, "write", json!(1)),
            op(3, 40, c(5), OpType::Invoke, "read", Value::Null),
            op(
                4,
                50,
                n,
                OpType::Info,
                "start-partition",
                json!({"id": 8, "groups": [["n1"], ["n2", "n3"]]}),
            ),
            op(5, 60, n, OpType::Info, "stop-kill", json!({"id": 7})),
            op(6, 90, c(1), OpType::Ok, "read", json!(3)),
        ];
        let facts = derive_facts(&ops);
        assert_eq!(facts.end_ns, 90);
        assert_eq!(facts.spans.len(), 2);
        assert_eq!(facts.spans[0].outcome, Outcome::Info);
        assert_eq!(facts.spans[0].latency_ns(), 20);
        assert_eq!(facts.spans[1].outcome, Outcome::InFlight);
        assert_eq!(facts.spans[1].end_ns, 90);
        assert_eq!(facts.warnings_total, 1, "{:?}", facts.warnings);
        assert_eq!(facts.faults.len(), 2);
        assert_eq!(facts.faults[0].label(), "kill n3");
        assert_eq!(
            (facts.faults[0].start_ns, facts.faults[0].stop_ns),
            (20, 60)
        );
        assert!(!facts.faults[0].open_at_end);
        assert_eq!(facts.faults[1].label(), "partition n1|n2,n3");
        assert_eq!(facts.faults[1].stop_ns, 90);
        assert!(facts.faults[1].open_at_end);
    }

    #[test]
    fn describes_other_fields_but_not_the_id() {
        let value = json!({"id": 3, "targets": "n2", "delay_ms": 100});
        assert_eq!(describe_fault_value(&value), "n2 delay_ms=100");
        assert_eq!(fault_value_details(&value), "");
    }

    #[test]
    fn describes_a_partition_by_shape_and_lists_its_cut_links() {
        let value = json!({"id": 1, "shape": "majorities-ring", "cut": ["n1->n3", "n3->n1"]});
        assert_eq!(describe_fault_value(&value), "majorities-ring");
        assert_eq!(fault_value_details(&value), "cut: n1->n3, n3->n1");
        let kill = json!({"id": 2, "nodes": ["n3"]});
        assert_eq!(describe_fault_value(&kill), "n3");
    }

    #[test]
    fn function_latency_is_over_ok_ops_only() {
        let c = Process::Client;
        let ops = [
            op(0, 0, c(0), OpType::Invoke, "read", Value::Null),
            op(1, 10, c(0), OpType::Ok, "read", json!(1)),
            op(2, 0, c(1), OpType::Invoke, "read", Value::Null),
            op(3, 9_000, c(1), OpType::Info, "read", Value::Null),
            op(4, 20, c(0), OpType::Invoke, "read", Value::Null),
            op(5, 50, c(0), OpType::Ok, "read", json!(1)),
            op(6, 60, c(2), OpType::Invoke, "read", Value::Null),
            op(7, 800, c(2), OpType::Fail, "read", Value::Null),
        ];
        let facts = derive_facts(&ops);
        let read = &facts.functions[0];
        assert_eq!(
            (read.counts.ok, read.counts.fail, read.counts.info),
            (2, 1, 1)
        );
        // Nearest rank over the ok latencies [10, 30]: p50 10, p99 and max 30.
        assert_eq!(read.latency_ms_p50, Some(ns_to_ms(10)));
        assert_eq!(read.latency_ms_p99, Some(ns_to_ms(30)));
        assert_eq!(read.latency_ms_max, Some(ns_to_ms(30)));
    }
}
