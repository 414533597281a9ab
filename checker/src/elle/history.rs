//! A transactional history as the Elle check keeps it: one [`Txn`] per invoke, its
//! micro-ops in one flat array of 16-byte [`Mop`]s, keys and values interned, plus the
//! real-time and process orders, built while the file streams through [`TxnSink`].
//!
//! # Records
//!
//! Every client record must have `f: "txn"`; nemesis records are skipped. An invoke opens
//! a transaction for its process, the next completion of that process closes it (an
//! invoke never completed counts as `info`). The micro-ops are the completion's value
//! when it is a list (an `ok` read's values are only there), else the invoke's (Jepsen's
//! `info` and `fail` completions repeat the invoke's value, with `nil` reads). A record
//! with a `key` (a `jepsen.independent` history) puts its micro-ops' keys under it.
//!
//! # Orders
//!
//! Process order links each process's consecutive `ok` transactions. Real-time order
//! (T1 completed `ok` before T2 was invoked, by line order, the history's real-time
//! order) is kept without its quadratic edge set: completions feed a chain of *time
//! nodes*, one per run of completions between two invokes; each time node leads to the
//! next and to every transaction invoked after it. T1 reaches T2 through the chain
//! exactly when T1 completed before T2 was invoked (3 edges per transaction instead of
//! one per pair, or Elle's one per concurrent pair).
//!
//! Reads are only trusted in `ok` transactions: an `info` transaction may never have
//! committed, and what its reads returned (usually `nil`) says nothing. Its writes count
//! when something observed them.

use rustc_hash::FxHashMap;

use super::Workload;
use super::findings::Findings;
use super::list_append::ListState;
use super::mops::{Interner, MopF, ParsedTxn, ReadValue, Val};
use crate::format::{OpSink, OpView, SinkError, ValRef};
use crate::history::{OpType, Process};

/// How a transaction ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Info,
    Fail,
}

/// One transaction.
#[derive(Debug, Clone)]
pub struct Txn {
    pub status: Status,
    pub process: u64,
    pub invoke_line: u64,
    /// 0 when it never completed.
    pub complete_line: u64,
    pub mop_start: u32,
    pub mop_len: u32,
}

/// One micro-op: 16 bytes. For an append or write `val` is the value; for a list read
/// the last element ([`Val::NULL`] when empty) and `len` the length; for a register
/// read the value read.
#[derive(Debug, Clone, Copy)]
pub struct Mop {
    pub val: Val,
    pub key: u32,
    meta: u32,
}

const F_SHIFT: u32 = 30;
/// Set on a list read whose list is not a prefix of its key's longest read: its elements
/// are kept in [`History::odd_lists`].
const ODD_BIT: u32 = 1 << 29;
const LEN_MASK: u32 = ODD_BIT - 1;

impl Mop {
    pub fn new(f: MopF, key: u32, val: Val, len: u32, odd: bool) -> Mop {
        let f_bits = match f {
            MopF::Append => 0,
            MopF::Write => 1,
            MopF::Read => 2,
        };
        assert!(len <= LEN_MASK, "a read of fewer than 2^29 elements");
        Mop {
            val,
            key,
            meta: (f_bits << F_SHIFT) | len | if odd { ODD_BIT } else { 0 },
        }
    }

    pub fn f(self) -> MopF {
        match self.meta >> F_SHIFT {
            0 => MopF::Append,
            1 => MopF::Write,
            _ => MopF::Read,
        }
    }

    pub fn read_len(self) -> u32 {
        self.meta & LEN_MASK
    }

    pub fn is_odd(self) -> bool {
        self.meta & ODD_BIT != 0
    }
}

/// Where a value was appended or written.
#[derive(Debug, Clone, Copy)]
pub struct Write {
    pub txn: u32,
    /// The global index of the micro-op.
    pub mop: u32,
    /// The transaction's last append or write to that key.
    pub final_in_txn: bool,
    /// How the transaction ended (kept here: the inference looks it up per element).
    pub status: Status,
}

/// Edges between transactions and time nodes, recorded while reading. A node id at or
/// above [`TIME_NODE`] is time node `id - TIME_NODE`.
pub const TIME_NODE: u32 = 1 << 31;

/// The history, built by [`TxnSink`].
#[derive(Debug, Default)]
pub struct History {
    pub txns: Vec<Txn>,
    pub mops: Vec<Mop>,
    pub interner: Interner,
    /// Key id -> the key.
    pub keys: Vec<Val>,
    key_ids: FxHashMap<Val, u32>,
    /// Key ids of small non-negative integer keys, by the integer (`u32::MAX`: none yet):
    /// an array access instead of a hash probe for the usual keys.
    dense_key_ids: Vec<u32>,
    pub workload: Option<Workload>,
    /// Where the workload was decided (line), for the error on a mixed history.
    workload_line: u64,
    pub list: ListState,
    /// Per key: (value, its append or write), sorted by value once read (values are
    /// unique per key: [`TxnSink::finish`] refuses a history where they are not).
    pub writes: Vec<Vec<(Val, Write)>>,
    /// List reads that are not a prefix of their key's longest read, by mop: (txn, list).
    pub odd_lists: FxHashMap<u32, (u32, Vec<Val>)>,
    /// Anomalies found within single transactions while reading.
    pub findings: Findings,
    /// Time node -> time node and time node -> transaction (invoked after it).
    pub time_edges: Vec<(u32, u32)>,
    /// Transaction -> the time node of its completion (`ok` only).
    pub completion_edges: Vec<(u32, u32)>,
    /// Consecutive `ok` transactions of one process.
    pub process_edges: Vec<(u32, u32)>,
    pub time_nodes: u32,
    /// Records read, nemesis records included.
    pub records: u64,
}

impl History {
    pub fn mops_of(&self, txn: u32) -> &[Mop] {
        let t = &self.txns[txn as usize];
        &self.mops[t.mop_start as usize..(t.mop_start + t.mop_len) as usize]
    }

    /// The global index of a transaction's first micro-op.
    pub fn first_mop(&self, txn: u32) -> u32 {
        self.txns[txn as usize].mop_start
    }

    pub fn key_name(&self, key: u32) -> String {
        self.interner.display(self.keys[key as usize])
    }

    /// The append or write of `v` to `key`.
    pub fn write_of(&self, key: u32, v: Val) -> Option<Write> {
        let writes = &self.writes[key as usize];
        writes
            .binary_search_by_key(&v, |(value, _)| *value)
            .ok()
            .map(|i| writes[i].1)
    }

    pub fn status(&self, txn: u32) -> Status {
        self.txns[txn as usize].status
    }

    fn key_id(&mut self, key: Val) -> u32 {
        const DENSE_LIMIT: usize = 1 << 22;
        let dense = key.as_index().filter(|&i| i < DENSE_LIMIT);
        if let Some(i) = dense {
            if let Some(&id) = self.dense_key_ids.get(i)
                && id != u32::MAX
            {
                return id;
            }
        } else if let Some(&id) = self.key_ids.get(&key) {
            return id;
        }
        let id = self.keys.len() as u32;
        self.keys.push(key);
        match dense {
            Some(i) => {
                if self.dense_key_ids.len() <= i {
                    self.dense_key_ids
                        .resize((i + 1).next_power_of_two(), u32::MAX);
                }
                self.dense_key_ids[i] = id;
            }
            None => {
                self.key_ids.insert(key, id);
            }
        }
        self.list.add_key();
        self.writes.push(Vec::new());
        id
    }

    /// Sorts each key's writes by value and refuses a value appended or written twice,
    /// on the line of the later transaction's invoke.
    fn sort_writes(&mut self) -> Result<(), SinkError> {
        for (key, writes) in self.writes.iter_mut().enumerate() {
            writes.sort_unstable_by_key(|(v, w)| (*v, w.mop));
            let Some(pair) = writes.windows(2).find(|p| p[0].0 == p[1].0) else {
                continue;
            };
            let (v, first, second) = (pair[0].0, pair[0].1, pair[1].1);
            let line = |w: Write| self.txns[w.txn as usize].invoke_line;
            let (early, late) = (line(first).min(line(second)), line(first).max(line(second)));
            let verb = if self.workload == Some(Workload::RwRegister) {
                "written"
            } else {
                "appended"
            };
            let key = self.interner.display(self.keys[key]);
            let value = self.interner.display(v);
            return Err(SinkError {
                expected: format!(
                    "values {verb} once per key (the inference needs unique values): {value} was \
                     already {verb} to key {key} by the transaction invoked on line {early}"
                ),
                found: format!("{value} {verb} again"),
                line: Some(late),
            });
        }
        Ok(())
    }

    fn decide(&mut self, workload: Workload, line: u64) -> Result<(), SinkError> {
        match self.workload {
            None => {
                self.workload = Some(workload);
                self.workload_line = line;
                Ok(())
            }
            Some(w) if w == workload => Ok(()),
            Some(w) => Err(SinkError::new(
                format!(
                    "{} micro-ops only, as from line {} on (one history is one workload)",
                    w.name(),
                    self.workload_line
                ),
                format!("a {} micro-op", workload.name()),
            )),
        }
    }
}

/// A transaction invoked and not yet completed.
#[derive(Debug)]
struct Pending {
    txn: u32,
    value: String,
    key: Option<String>,
}

/// Reads records into a [`History`].
#[derive(Debug, Default)]
pub struct TxnSink {
    pub history: History,
    pending: FxHashMap<u64, Pending>,
    last_ok: FxHashMap<u64, u32>,
    /// The time node collecting completions since the last invoke.
    open_time_node: Option<u32>,
    last_time_node: Option<u32>,
    parsed: ParsedTxn,
}

impl TxnSink {
    pub fn new() -> TxnSink {
        TxnSink::default()
    }

    /// Invokes never completed become `info` transactions.
    pub fn finish(mut self) -> Result<History, SinkError> {
        let mut open: Vec<(u64, Pending)> = self.pending.drain().collect();
        open.sort_by_key(|(_, p)| p.txn);
        for (_, pending) in open {
            let line = self.history.txns[pending.txn as usize].invoke_line;
            self.complete(pending, Status::Info, None, line)
                .map_err(|e| SinkError {
                    line: Some(line),
                    ..e
                })?;
        }
        self.history.sort_writes()?;
        Ok(self.history)
    }

    fn invoke(
        &mut self,
        process: u64,
        value: &ValRef<'_>,
        key: Option<&str>,
        line: u64,
    ) -> Result<(), SinkError> {
        if let Some(p) = self.pending.get(&process) {
            return Err(SinkError::new(
                format!(
                    "a completion of process {process}'s transaction invoked on line {} first",
                    self.history.txns[p.txn as usize].invoke_line
                ),
                "another invoke",
            ));
        }
        let txn = u32::try_from(self.history.txns.len())
            .ok()
            .filter(|&t| t < TIME_NODE)
            .ok_or_else(|| SinkError::new("fewer than 2^31 transactions", "more"))?;
        self.history.txns.push(Txn {
            status: Status::Info,
            process,
            invoke_line: line,
            complete_line: 0,
            mop_start: 0,
            mop_len: 0,
        });
        if let Some(node) = self.open_time_node.take() {
            self.last_time_node = Some(node);
        }
        if let Some(node) = self.last_time_node {
            self.history.time_edges.push((TIME_NODE + node, txn));
        }
        let mut scratch = String::new();
        let text = value_text(value, &mut scratch)?.to_string();
        self.pending.insert(
            process,
            Pending {
                txn,
                value: text,
                key: key.map(str::to_string),
            },
        );
        Ok(())
    }

    fn complete(
        &mut self,
        pending: Pending,
        status: Status,
        value: Option<&ValRef<'_>>,
        line: u64,
    ) -> Result<(), SinkError> {
        let mut scratch = String::new();
        let completion_text = match value {
            Some(v) if !v.is_null() => Some(value_text(v, &mut scratch)?),
            _ => None,
        };
        let text = completion_text.unwrap_or(&pending.value);
        let mut parsed = std::mem::take(&mut self.parsed);
        let result = self.store(
            &mut parsed,
            text,
            pending.txn,
            status,
            line,
            pending.key.as_deref(),
        );
        self.parsed = parsed;
        result?;
        let txn = pending.txn;
        let t = &mut self.history.txns[txn as usize];
        t.status = status;
        t.complete_line = if value.is_some() { line } else { 0 };
        if status == Status::Ok {
            let process = t.process;
            let node = match self.open_time_node {
                Some(node) => node,
                None => {
                    let node = self.history.time_nodes;
                    self.history.time_nodes += 1;
                    if let Some(prev) = self.last_time_node {
                        self.history
                            .time_edges
                            .push((TIME_NODE + prev, TIME_NODE + node));
                    }
                    self.open_time_node = Some(node);
                    node
                }
            };
            self.history.completion_edges.push((txn, TIME_NODE + node));
            if let Some(prev) = self.last_ok.insert(process, txn) {
                self.history.process_edges.push((prev, txn));
            }
        }
        Ok(())
    }

    /// Parses the micro-ops, checks the transaction on its own, stores it.
    fn store(
        &mut self,
        parsed: &mut ParsedTxn,
        text: &str,
        txn: u32,
        status: Status,
        line: u64,
        op_key: Option<&str>,
    ) -> Result<(), SinkError> {
        let h = &mut self.history;
        parsed.parse(text, &mut h.interner)?;
        if let Some(op_key) = op_key {
            let prefix = serde_json::to_string(op_key).expect("a string serialises");
            for mop in &mut parsed.mops {
                let inner = h.interner.json(mop.key);
                mop.key = h.interner.val_of_text(&format!("[{prefix},{inner}]"));
            }
        }
        for mop in &parsed.mops {
            match (mop.f, mop.read) {
                (MopF::Append, _) | (MopF::Read, ReadValue::List(..)) => {
                    h.decide(Workload::ListAppend, line)?
                }
                (MopF::Write, _) | (MopF::Read, ReadValue::Scalar(_)) => {
                    h.decide(Workload::RwRegister, line)?
                }
                (MopF::Read, ReadValue::Null) => {}
            }
        }
        let start = u32::try_from(h.mops.len())
            .map_err(|_| SinkError::new("fewer than 2^32 micro-ops", "more"))?;
        let trusted_reads = status == Status::Ok;
        for (i, mop) in parsed.mops.iter().enumerate() {
            let key = h.key_id(mop.key);
            let index = start + i as u32;
            let stored = match mop.f {
                MopF::Append | MopF::Write => Mop::new(mop.f, key, mop.value, 0, false),
                MopF::Read => match mop.read {
                    ReadValue::Null => Mop::new(MopF::Read, key, Val::NULL, 0, false),
                    ReadValue::Scalar(v) => Mop::new(MopF::Read, key, v, 0, false),
                    ReadValue::List(..) => {
                        let list = parsed.list(mop.read);
                        let last = list.last().copied().unwrap_or(Val::NULL);
                        let len = u32::try_from(list.len()).unwrap_or(u32::MAX);
                        let odd = trusted_reads && !h.list.observe(key, list, txn);
                        if odd {
                            h.odd_lists.insert(index, (txn, list.to_vec()));
                        }
                        Mop::new(MopF::Read, key, last, len.min(LEN_MASK), odd)
                    }
                },
            };
            h.mops.push(stored);
            if matches!(mop.f, MopF::Append | MopF::Write) {
                let final_in_txn = !parsed.mops[i + 1..]
                    .iter()
                    .any(|o| o.key == mop.key && o.f == mop.f);
                let write = Write {
                    txn,
                    mop: index,
                    final_in_txn,
                    status,
                };
                h.writes[key as usize].push((mop.value, write));
            }
        }
        let t = &mut h.txns[txn as usize];
        t.mop_start = start;
        t.mop_len = parsed.mops.len() as u32;
        if trusted_reads {
            super::internal::check_txn(h, txn, parsed);
        }
        Ok(())
    }
}

fn value_text<'s>(value: &'s ValRef<'_>, scratch: &'s mut String) -> Result<&'s str, SinkError> {
    Ok(match value {
        ValRef::Null => "null",
        ValRef::Raw(raw) => raw.get(),
        ValRef::Canonical(text) | ValRef::Array(text) => text,
        ValRef::Json(v) => {
            *scratch = v.to_string();
            scratch.as_str()
        }
    })
}

impl OpSink for TxnSink {
    fn accept(&mut self, op: &OpView<'_>, line: u64) -> Result<(), SinkError> {
        self.history.records += 1;
        let Process::Client(process) = op.process else {
            return Ok(());
        };
        if op.f != "txn" {
            return Err(SinkError::new(
                "f \"txn\" (the elle check reads transactional histories)",
                format!("{:?}", op.f),
            ));
        }
        match op.kind {
            OpType::Invoke => self.invoke(process, &op.value, op.key, line),
            kind => {
                let Some(pending) = self.pending.remove(&process) else {
                    return Err(SinkError::new(
                        format!("an invoke of process {process} before its completion"),
                        "a completion without one",
                    ));
                };
                let status = match kind {
                    OpType::Ok => Status::Ok,
                    OpType::Fail => Status::Fail,
                    _ => Status::Info,
                };
                self.complete(pending, status, Some(&op.value), line)
            }
        }
    }
}
