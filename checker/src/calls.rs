//! Whole histories for the bank and set checkers: loading a file with each record's line,
//! pairing every client invoke with its completion into a [`Call`], fault windows from the
//! nemesis records, and [`ShapeError`], the located complaint about a record's shape.
//!
//! The linearizability checker streams records through [`crate::partition`] and never
//! sees times; the bank and set checks need times (availability, stale windows) and look
//! at reads more than once, so they take the history as a slice of [`Op`]s. Pairing rules
//! are the same as the partitioner's: an invoke opens a call for its process, the next
//! completion of that process closes it, and an invoke never completed counts as `info`.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;

use serde::Serialize;
use serde_json::Value;

use crate::format::{self, Format, InputError, truncate};
use crate::history::{Op, OpType, Process};

/// A record whose shape the bank or set check cannot use, located by its position in the
/// slice (0-based) and its `index` field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("op {index} (record {position}): expected {expected}, found {found}")]
pub struct ShapeError {
    /// 0-based position of the record in the history slice.
    pub position: usize,
    /// The record's `index` field.
    pub index: u64,
    pub expected: String,
    pub found: String,
}

impl ShapeError {
    pub fn new(
        position: usize,
        op: &Op,
        expected: impl Into<String>,
        found: impl Into<String>,
    ) -> ShapeError {
        ShapeError {
            position,
            index: op.index,
            expected: expected.into(),
            found: found.into(),
        }
    }

    /// As an [`InputError`] of `file`, whose record at position `i` is on line `lines[i]`
    /// (position + 1 when `lines` does not cover it, as for in-memory histories).
    pub fn in_file(self, file: &str, lines: &[u64]) -> InputError {
        let line = lines
            .get(self.position)
            .copied()
            .unwrap_or(self.position as u64 + 1);
        InputError {
            file: file.to_string(),
            line,
            expected: self.expected,
            found: self.found,
        }
    }
}

/// Short text of a JSON value for error messages.
pub(crate) fn preview(value: &Value) -> String {
    truncate(&value.to_string(), 60)
}

/// How a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Ok,
    Fail,
    /// `info`, or no completion by the end of the history.
    Info,
}

/// Counts of calls by outcome (`info` includes calls never completed).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct OutcomeCounts {
    pub ok: u64,
    pub fail: u64,
    pub info: u64,
}

impl OutcomeCounts {
    pub fn add(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Ok => self.ok += 1,
            Outcome::Fail => self.fail += 1,
            Outcome::Info => self.info += 1,
        }
    }
}

/// One client operation: its invoke and, if the history has it, its completion.
#[derive(Debug, Clone, Copy)]
pub struct Call<'h> {
    pub invoke: &'h Op,
    pub invoke_pos: usize,
    /// The completion record and its position; `None` if the history ends first.
    pub completion: Option<(&'h Op, usize)>,
}

impl<'h> Call<'h> {
    pub fn outcome(&self) -> Outcome {
        match self.completion.map(|(op, _)| op.kind) {
            Some(OpType::Ok) => Outcome::Ok,
            Some(OpType::Fail) => Outcome::Fail,
            _ => Outcome::Info,
        }
    }

    /// The process number (pairing only accepts client records).
    pub fn process(&self) -> u64 {
        match self.invoke.process {
            Process::Client(p) => p,
            Process::Nemesis => u64::MAX,
        }
    }

    pub fn completion_pos(&self) -> Option<usize> {
        self.completion.map(|(_, pos)| pos)
    }

    pub fn completion_time_ns(&self) -> Option<u64> {
        self.completion.map(|(op, _)| op.time_ns)
    }

    /// The completion's value when the history has one and it is not null.
    pub fn completion_value(&self) -> Option<&'h Value> {
        self.completion
            .map(|(op, _)| &op.value)
            .filter(|v| !v.is_null())
    }
}

/// Pairs every client invoke with its completion, in invoke order. Nemesis records are
/// skipped. Refuses a completion with no pending invoke on its process, a second invoke
/// on a process that has one pending, and a completion whose `f` or `key` differs from
/// its invoke's.
pub fn pair_calls(ops: &[Op]) -> Result<Vec<Call<'_>>, ShapeError> {
    let mut calls: Vec<Call<'_>> = Vec::new();
    // process -> index into `calls` of its pending call
    let mut pending: BTreeMap<u64, usize> = BTreeMap::new();
    for (pos, op) in ops.iter().enumerate() {
        let Process::Client(process) = op.process else {
            continue;
        };
        if op.kind == OpType::Invoke {
            if let Some(&open) = pending.get(&process) {
                let earlier = calls[open].invoke.index;
                return Err(ShapeError::new(
                    pos,
                    op,
                    format!("a completion of process {process}'s pending op {earlier} first"),
                    format!("another invoke ({})", op.f),
                ));
            }
            pending.insert(process, calls.len());
            calls.push(Call {
                invoke: op,
                invoke_pos: pos,
                completion: None,
            });
            continue;
        }
        let Some(open) = pending.remove(&process) else {
            return Err(ShapeError::new(
                pos,
                op,
                format!("an invoke by process {process} before this completion"),
                format!("a {:?} {} with nothing pending", op.kind, op.f).to_lowercase(),
            ));
        };
        let call = &mut calls[open];
        check_same_call(call.invoke, op, pos)?;
        call.completion = Some((op, pos));
    }
    Ok(calls)
}

fn check_same_call(invoke: &Op, completion: &Op, pos: usize) -> Result<(), ShapeError> {
    if invoke.f != completion.f {
        return Err(ShapeError::new(
            pos,
            completion,
            format!("the f of the invoke ({}, op {})", invoke.f, invoke.index),
            completion.f.clone(),
        ));
    }
    if completion.key.is_some() && completion.key != invoke.key {
        return Err(ShapeError::new(
            pos,
            completion,
            format!(
                "the key of the invoke ({:?}, op {})",
                invoke.key, invoke.index
            ),
            format!("{:?}", completion.key),
        ));
    }
    Ok(())
}

/// A fault: from a nemesis `start-<kind>` record to the matching `stop-<kind>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FaultWindow {
    /// The kind: `partition`, `kill`, `pause`, ...
    pub fault: String,
    /// The `value.id` both records carry; `None` when they carry none.
    pub id: Option<u64>,
    pub start_ns: u64,
    pub stop_ns: u64,
    /// False when the history ended before the fault stopped (`stop_ns` is then the
    /// history's last time).
    pub stopped: bool,
    /// Position of the `start-` record in the history (its value says what the fault hit).
    #[serde(skip)]
    pub start_position: usize,
}

/// The fault windows of a history, and what did not pair.
#[derive(Debug, Clone, Default)]
pub struct FaultPairing {
    /// In order of start (then stop, then id).
    pub windows: Vec<FaultWindow>,
    /// One line per record that did not pair cleanly, naming the record's `index`.
    pub warnings: Vec<String>,
}

/// The fault windows of a history, in order of their start (see [`pair_fault_windows`]).
pub fn fault_windows(ops: &[Op]) -> Vec<FaultWindow> {
    pair_fault_windows(ops).windows
}

/// Pairs nemesis `start-<fault>` and `stop-<fault>` records into windows: the one pairing
/// that the checks and the run report share.
///
/// Only `info` records open and close windows (Jepsen writes an invoke and an info for
/// each nemesis step; the info says it happened). Start and stop pair by `value.id`;
/// records without an id pair first-in first-out by fault name. A start whose id is still
/// open closes the earlier window there (warned); a stop with nothing to stop is ignored
/// (warned); a window never stopped ends at the history's last time.
pub fn pair_fault_windows(ops: &[Op]) -> FaultPairing {
    let end_ns = ops.iter().map(|op| op.time_ns).max().unwrap_or(0);
    let mut open_by_id: BTreeMap<u64, FaultWindow> = BTreeMap::new();
    let mut open_without_id: Vec<FaultWindow> = Vec::new();
    let mut pairing = FaultPairing::default();
    for (position, op) in ops.iter().enumerate() {
        if op.process != Process::Nemesis || op.kind != OpType::Info {
            continue;
        }
        let id = op.value.get("id").and_then(Value::as_u64);
        if let Some(fault) = op.f.strip_prefix("start-") {
            let window = FaultWindow {
                fault: fault.to_string(),
                id,
                start_ns: op.time_ns,
                stop_ns: op.time_ns,
                stopped: false,
                start_position: position,
            };
            let Some(id) = id else {
                open_without_id.push(window);
                continue;
            };
            if let Some(replaced) = open_by_id.insert(id, window) {
                pairing.warnings.push(format!(
                    "op {}: fault id {id} started again before it stopped",
                    op.index
                ));
                pairing.windows.push(FaultWindow {
                    stop_ns: op.time_ns,
                    ..replaced
                });
            }
        } else if let Some(fault) = op.f.strip_prefix("stop-") {
            let matching = match id {
                Some(id) => open_by_id.remove(&id),
                None => open_without_id
                    .iter()
                    .position(|w| w.fault == fault)
                    .map(|at| open_without_id.remove(at)),
            };
            match matching {
                Some(window) => pairing.windows.push(FaultWindow {
                    stop_ns: op.time_ns.max(window.start_ns),
                    stopped: true,
                    ..window
                }),
                None => pairing.warnings.push(format!(
                    "op {}: stop-{fault} (id {}) with no matching start (ignored)",
                    op.index,
                    id.map_or_else(|| "none".to_string(), |id| id.to_string())
                )),
            }
        }
    }
    for window in open_by_id.into_values().chain(open_without_id) {
        pairing.windows.push(FaultWindow {
            stop_ns: end_ns.max(window.start_ns),
            ..window
        });
    }
    pairing
        .windows
        .sort_by_key(|w| (w.start_ns, w.stop_ns, w.id));
    pairing
}

/// A history loaded whole, with the line of each record (for errors).
#[derive(Debug, Clone)]
pub struct LoadedHistory {
    /// The file's name as given, for errors.
    pub name: String,
    pub format: Format,
    pub ops: Vec<Op>,
    /// `lines[i]` is the 1-based line of `ops[i]`.
    pub lines: Vec<u64>,
}

/// Loads a `history.jsonl` or a Jepsen history (EDN, or its JSON array) whole (the bank and set checks need
/// every read and every time). Porcupine's formats hold neither bank nor set histories
/// and are refused.
pub fn load_history(path: &Path, format: Format) -> Result<LoadedHistory, InputError> {
    let name = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|e| format::io_error(&name, 0, &e))?;
    let mut reader = BufReader::new(file);
    let format = match format {
        Format::Auto => format::detect(&name, &mut reader)?,
        other => other,
    };
    let (ops, lines) = match format {
        Format::Jsonl => read_jsonl(&name, reader)?,
        Format::Edn => {
            let text = format::read_text(&name, reader)?;
            format::edn::parse_ops(&name, &text)?.into_iter().unzip()
        }
        Format::JepsenJson => {
            let text = format::read_text(&name, reader)?;
            format::jepsen_json::parse_ops(&name, &text)?
                .into_iter()
                .unzip()
        }
        other => {
            return Err(InputError {
                file: name,
                line: 0,
                expected:
                    "a jsonl, edn or jepsen-json history (the bank and set checks read these)"
                        .to_string(),
                found: format!("{other:?}"),
            });
        }
    };
    Ok(LoadedHistory {
        name,
        format,
        ops,
        lines,
    })
}

fn read_jsonl(name: &str, mut reader: impl BufRead) -> Result<(Vec<Op>, Vec<u64>), InputError> {
    let mut ops = Vec::new();
    let mut lines = Vec::new();
    let mut text = String::new();
    let mut line_no = 0u64;
    loop {
        text.clear();
        let read = reader
            .read_line(&mut text)
            .map_err(|e| format::io_error(name, line_no + 1, &e))?;
        if read == 0 {
            return Ok((ops, lines));
        }
        line_no += 1;
        if text.trim().is_empty() {
            continue;
        }
        let op: Op = serde_json::from_str(&text).map_err(|e| InputError {
            file: name.to_string(),
            line: line_no,
            expected: "a JSON op object".to_string(),
            found: format!("{} ({e})", truncate(text.trim(), 60)),
        })?;
        ops.push(op);
        lines.push(line_no);
    }
}
