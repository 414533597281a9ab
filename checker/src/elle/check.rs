//! The entry points ([`check_file`], [`check_text`], [`analyze`]), the result type and
//! its explanations, in text and JSON.
//!
//! The verdict is for one requested model: `invalid` when an anomaly found rules it out
//! (definite, whatever was not searched), `unknown` when none did but a search that could
//! have found one was not done (budget, time, graph too large, or no committed
//! transaction at all), else `valid`.

use std::collections::BTreeMap;
use std::io::BufReader;
use std::path::Path;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::Workload;
use super::anomaly::{AnomalyKind, Model, Variant, ruled_out_by, weakest_of};
use super::cycles::{self, Budget, Cycle};
use super::findings::{Finding, list_text};
use super::graph::{self, Builder, PASS, PROCESS, REALTIME, RW, WR, WW};
use super::history::{History, Status, TIME_NODE, TxnSink};
use super::list_append::{self, Orders};
use super::mops::{MopF, Val};
use super::register;
use crate::format::{self, Format, InputError};
use crate::verdict::Verdict;

/// What to check and the limits.
#[derive(Debug, Clone, Copy)]
pub struct ElleOptions {
    pub model: Model,
    /// Dependency edges beyond which no cycle search is done (memory).
    pub max_edges: usize,
    /// Edge visits of the cycle search, all searches together.
    pub max_search_steps: u64,
    pub time_limit: Option<Duration>,
}

impl Default for ElleOptions {
    fn default() -> ElleOptions {
        ElleOptions {
            model: Model::StrictSerializable,
            max_edges: 60_000_000,
            max_search_steps: 50_000_000,
            time_limit: None,
        }
    }
}

/// A transaction as named in an explanation.
#[derive(Debug, Clone, Serialize)]
pub struct TxnRef {
    /// `T1`, `T2`, ... in the order of the explanation.
    pub name: String,
    /// The line of its invoke.
    pub line: u64,
    pub process: u64,
    pub status: Status,
    /// Its micro-ops as text, `[[append k7 3] [r k7 [1 2 3]]]`.
    pub ops: String,
}

/// One edge of a cycle and why it exists.
#[derive(Debug, Clone, Serialize)]
pub struct EdgeWhy {
    pub from: String,
    pub to: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub why: String,
}

/// One example of an anomaly, explained.
#[derive(Debug, Clone, Serialize)]
pub struct AnomalyReport {
    #[serde(rename = "type")]
    pub kind: AnomalyKind,
    /// The explanation: for a cycle, one line per edge.
    pub text: String,
    pub txns: Vec<TxnRef>,
    /// For a cycle: its edges in order (the last leads back to the first transaction).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cycle: Vec<EdgeWhy>,
}

/// The result of an Elle check.
#[derive(Debug, Clone, Serialize)]
pub struct ElleResult {
    pub verdict: Verdict,
    pub model: Model,
    pub workload: Option<Workload>,
    pub txns: usize,
    pub ok: usize,
    pub info: usize,
    pub fail: usize,
    /// The anomaly types found (all of them, whatever the model).
    pub anomaly_types: Vec<AnomalyKind>,
    /// How many of each: non-cycle anomalies counted one by one, cycles by component.
    pub counts: BTreeMap<AnomalyKind, u64>,
    /// The weakest models the anomalies found rule out (every stronger one is out too).
    pub ruled_out: Vec<Model>,
    pub anomalies: Vec<AnomalyReport>,
    /// What was not searched, when the verdict could depend on it.
    pub not_searched: Vec<String>,
    pub edges: usize,
    pub search_steps: u64,
    /// Wall time of the phases: reading the file (0 when given a history), inference and
    /// graph building, cycle search.
    pub read_ms: u64,
    pub infer_ms: u64,
    pub search_ms: u64,
}

impl ElleResult {
    /// The result as text, one explanation per anomaly example.
    pub fn to_text(&self) -> String {
        let mut s = format!(
            "{} for {}: {} transactions ({} ok, {} info, {} fail), {} dependency edges\n",
            self.verdict.name(),
            self.model,
            self.txns,
            self.ok,
            self.info,
            self.fail,
            self.edges
        );
        if !self.anomaly_types.is_empty() {
            let types: Vec<String> = self
                .anomaly_types
                .iter()
                .map(|k| format!("{k} ({})", self.counts.get(k).copied().unwrap_or(0)))
                .collect();
            s += &format!("anomalies: {}\n", types.join(", "));
            let models: Vec<&str> = self.ruled_out.iter().map(|m| m.name()).collect();
            s += &format!(
                "ruled out (and every stronger model): {}\n",
                models.join(", ")
            );
        }
        s += &format!(
            "time: read {} ms, inference {} ms, cycle search {} ms\n",
            self.read_ms, self.infer_ms, self.search_ms
        );
        for n in &self.not_searched {
            s += &format!("not searched: {n}\n");
        }
        for a in &self.anomalies {
            s += &format!("\n{}:\n", a.kind);
            for t in &a.txns {
                s += &format!(
                    "  {} = line {}, process {}, {:?}: {}\n",
                    t.name, t.line, t.process, t.status, t.ops
                );
            }
            for line in a.text.lines() {
                s += &format!("  {line}\n");
            }
        }
        s
    }
}

/// Checks a history file (`jsonl` or `edn`, or `auto`).
pub fn check_file(
    path: &Path,
    format: Format,
    options: &ElleOptions,
) -> Result<ElleResult, InputError> {
    let started = Instant::now();
    let name = path.display().to_string();
    let mut sink = TxnSink::new();
    format::read_file(path, format, &mut sink)?;
    let history = sink.finish().map_err(|e| e.at(&name, 0))?;
    let read_ms = started.elapsed().as_millis() as u64;
    let mut result = analyze(history, options);
    result.read_ms = read_ms;
    Ok(result)
}

/// Checks a history given as text (format detected as for files).
pub fn check_text(name: &str, text: &str, options: &ElleOptions) -> Result<ElleResult, InputError> {
    let mut reader = BufReader::new(text.as_bytes());
    let detected = format::detect(name, &mut reader)?;
    let mut sink = TxnSink::new();
    match detected {
        Format::Jsonl => format::jsonl::read(name, reader, &mut sink)?,
        Format::Edn => format::edn::read_history(name, reader, &mut sink)?,
        other => {
            return Err(InputError {
                file: name.into(),
                line: 1,
                expected: "a jsonl or edn transactional history".into(),
                found: format!("{other:?}"),
            });
        }
    }
    let history = sink.finish().map_err(|e| e.at(name, 0))?;
    Ok(analyze(history, options))
}

/// The cycle variants the model's verdict depends on.
fn variants_for(model: Model) -> Vec<Variant> {
    let mut out = vec![Variant::Data];
    for variant in [Variant::Process, Variant::Realtime] {
        let matters = super::anomaly::CycleClass::ALL.iter().any(|c| {
            AnomalyKind::Cycle(*c, variant)
                .all_ruled_out()
                .contains(&model)
        });
        if matters {
            out.push(variant);
        }
    }
    out
}

/// The graph, the inference's orders, and the search, on a loaded history.
pub fn analyze(mut h: History, options: &ElleOptions) -> ElleResult {
    let started = Instant::now();
    let deadline = options.time_limit.map(|t| started + t);
    let mut findings = std::mem::take(&mut h.findings);
    let variants = variants_for(options.model);
    let want_process =
        variants.contains(&Variant::Process) || variants.contains(&Variant::Realtime);
    let want_realtime = variants.contains(&Variant::Realtime);
    let txn_count = h.txns.len() as u32;
    let mut builder = Builder::new(txn_count, if want_realtime { h.time_nodes } else { 0 });
    let inferred = match h.workload {
        Some(Workload::RwRegister) => {
            register::infer(&h, &mut builder, &mut findings);
            Inferred::Register
        }
        _ => Inferred::List(list_append::infer(&h, &mut builder, &mut findings)),
    };
    // Incompatible orders, found while reading.
    let mut odd: Vec<(&u32, &(u32, Vec<Val>))> = h.odd_lists.iter().collect();
    odd.sort_unstable_by_key(|(m, _)| **m);
    for (&mop, (txn, list)) in odd {
        let key = h.mops[mop as usize].key;
        let txn = *txn;
        findings.add(AnomalyKind::IncompatibleOrder, || Finding {
            kind: AnomalyKind::IncompatibleOrder,
            key: Some(h.key_name(key)),
            text: format!(
                "T1 read {} of key {}, and T2 read {}: neither is a prefix of the other",
                list_text(&h.interner, list),
                h.key_name(key),
                list_text(&h.interner, &h.list.longest[key as usize])
            ),
            txns: vec![txn, h.list.longest_by[key as usize]],
        });
    }
    if want_process {
        for &(a, b) in &h.process_edges {
            builder.add(a, b, PROCESS);
        }
    }
    if want_realtime {
        let node = |id: u32| {
            if id >= TIME_NODE {
                txn_count + (id - TIME_NODE)
            } else {
                id
            }
        };
        for &(a, b) in &h.completion_edges {
            builder.add(node(a), node(b), REALTIME);
        }
        for &(a, b) in &h.time_edges {
            builder.add(node(a), node(b), PASS);
        }
    }
    let edges = builder.edge_count();
    let infer_ms = started.elapsed().as_millis() as u64;
    let mut not_searched = Vec::new();
    let mut search = cycles::Search::default();
    if edges > options.max_edges {
        not_searched.push((
            format!(
                "every cycle: {edges} dependency edges, more than the budget of {}",
                options.max_edges
            ),
            variants
                .iter()
                .flat_map(|v| {
                    super::anomaly::CycleClass::ALL
                        .into_iter()
                        .map(move |c| AnomalyKind::Cycle(c, *v))
                })
                .collect(),
        ));
    } else {
        let g = builder.build();
        search = cycles::search(
            &g,
            &variants,
            Budget {
                max_steps: options.max_search_steps,
                deadline,
            },
        );
        not_searched.append(&mut search.not_searched);
    }
    let search_ms = (started.elapsed().as_millis() as u64).saturating_sub(infer_ms);
    let (ok, info, fail) = h
        .txns
        .iter()
        .fold((0, 0, 0), |(o, i, f), t| match t.status {
            Status::Ok => (o + 1, i, f),
            Status::Info => (o, i + 1, f),
            Status::Fail => (o, i, f + 1),
        });
    if ok == 0 {
        not_searched.push((
            "anything: no committed transaction".into(),
            AnomalyKind::all(),
        ));
    }
    let mut counts = findings.counts.clone();
    for (k, c) in &search.counts {
        *counts.entry(*k).or_insert(0) += c;
    }
    let anomaly_types: Vec<AnomalyKind> = counts.keys().copied().collect();
    let all_out = ruled_out_by(
        anomaly_types
            .iter()
            .flat_map(|k| k.rules_out().iter().copied()),
    );
    let ruled_out = weakest_of(&all_out);
    let verdict = if all_out.contains(&options.model) {
        Verdict::Invalid
    } else if not_searched.iter().any(|(_, kinds)| {
        kinds
            .iter()
            .any(|k| k.all_ruled_out().contains(&options.model))
    }) {
        Verdict::Unknown
    } else {
        Verdict::Valid
    };
    let explainer = Explainer {
        h: &h,
        inferred: &inferred,
    };
    let mut anomalies: Vec<AnomalyReport> =
        search.cycles.iter().map(|c| explainer.cycle(c)).collect();
    anomalies.extend(findings.examples.iter().map(|f| explainer.finding(f)));
    ElleResult {
        verdict,
        model: options.model,
        workload: h.workload,
        txns: h.txns.len(),
        ok,
        info,
        fail,
        anomaly_types,
        counts,
        ruled_out,
        anomalies,
        not_searched: not_searched.into_iter().map(|(s, _)| s).collect(),
        edges,
        search_steps: search.steps,
        read_ms: 0,
        infer_ms,
        search_ms,
    }
}

enum Inferred {
    List(Orders),
    Register,
}

struct Explainer<'a> {
    h: &'a History,
    inferred: &'a Inferred,
}

impl Explainer<'_> {
    fn txn_ref(&self, txn: u32, name: String) -> TxnRef {
        let t = &self.h.txns[txn as usize];
        let ops: Vec<String> = self
            .h
            .mops_of(txn)
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let key = self.h.key_name(m.key);
                match m.f() {
                    MopF::Append => format!("[append {key} {}]", self.v(m.val)),
                    MopF::Write => format!("[w {key} {}]", self.v(m.val)),
                    MopF::Read => {
                        let value = if t.status != Status::Ok {
                            "?".to_string()
                        } else if self.h.workload == Some(Workload::RwRegister) {
                            self.v(m.val)
                        } else {
                            self.read_list(t.mop_start + i as u32)
                        };
                        format!("[r {key} {value}]")
                    }
                }
            })
            .collect();
        TxnRef {
            name,
            line: t.invoke_line,
            process: t.process,
            status: t.status,
            ops: format!("[{}]", ops.join(" ")),
        }
    }

    fn v(&self, v: Val) -> String {
        if v.is_null() {
            "nil".into()
        } else {
            self.h.interner.display(v)
        }
    }

    /// A list read's value: its prefix of the version order, or its own odd list.
    fn read_list(&self, mop: u32) -> String {
        let m = self.h.mops[mop as usize];
        if let Some((_, list)) = self.h.odd_lists.get(&mop) {
            return list_text(&self.h.interner, list);
        }
        let longest = &self.h.list.longest[m.key as usize];
        list_text(
            &self.h.interner,
            &longest[..(m.read_len() as usize).min(longest.len())],
        )
    }

    fn finding(&self, f: &Finding) -> AnomalyReport {
        AnomalyReport {
            kind: f.kind,
            text: f.text.clone(),
            txns: f
                .txns
                .iter()
                .enumerate()
                .filter(|(_, t)| **t != u32::MAX)
                .map(|(i, &t)| self.txn_ref(t, format!("T{}", i + 1)))
                .collect(),
            cycle: Vec::new(),
        }
    }

    fn cycle(&self, c: &Cycle) -> AnomalyReport {
        let name = |i: usize| format!("T{}", i % c.txns.len() + 1);
        let mut edges = Vec::new();
        for i in 0..c.txns.len() {
            let (a, b) = (c.txns[i], c.txns[(i + 1) % c.txns.len()]);
            let why = self.why(a, b, c.edges[i], &name(i), &name(i + 1));
            edges.push(EdgeWhy {
                from: name(i),
                to: name(i + 1),
                kind: graph::kind_name(c.edges[i]),
                why,
            });
        }
        let text = edges
            .iter()
            .map(|e| format!("{} -{}-> {}: {}", e.from, e.kind, e.to, e.why))
            .collect::<Vec<_>>()
            .join("\n");
        AnomalyReport {
            kind: c.kind,
            text,
            txns: c
                .txns
                .iter()
                .enumerate()
                .map(|(i, &t)| self.txn_ref(t, name(i)))
                .collect(),
            cycle: edges,
        }
    }

    /// Why the edge `a -kind-> b` exists, naming `a` and `b` as `an` and `bn`.
    fn why(&self, a: u32, b: u32, kind: u8, an: &str, bn: &str) -> String {
        let h = self.h;
        match kind {
            PROCESS => Some(format!(
                "{an} and {bn} are consecutive transactions of process {}",
                h.txns[a as usize].process
            )),
            REALTIME => Some(format!(
                "{an} completed (line {}) before {bn} was invoked (line {})",
                h.txns[a as usize].complete_line, h.txns[b as usize].invoke_line
            )),
            _ => match self.inferred {
                Inferred::List(orders) => self.why_list(orders, a, b, kind, an, bn),
                Inferred::Register => self.why_register(a, b, kind, an, bn),
            },
        }
        .unwrap_or_else(|| format!("a {} dependency", graph::kind_name(kind)))
    }

    fn why_list(
        &self,
        orders: &Orders,
        a: u32,
        b: u32,
        kind: u8,
        an: &str,
        bn: &str,
    ) -> Option<String> {
        let h = self.h;
        let appended_by = |key: u32, i: usize, t: u32| {
            orders.appenders[key as usize]
                .get(i)
                .copied()
                .flatten()
                .is_some_and(|w| w.txn == t)
        };
        match kind {
            WW => {
                for m in h.mops_of(a) {
                    if m.f() != MopF::Append {
                        continue;
                    }
                    let longest = &h.list.longest[m.key as usize];
                    let Some(i) = longest.iter().position(|&e| e == m.val) else {
                        continue;
                    };
                    if appended_by(m.key, i + 1, b) {
                        let reader = h.list.longest_by[m.key as usize];
                        let t = &h.txns[reader as usize];
                        return Some(format!(
                            "{bn} appended {} to key {} right after {an}'s {}, as read by the \
                             transaction on line {} (process {})",
                            self.v(longest[i + 1]),
                            h.key_name(m.key),
                            self.v(m.val),
                            t.invoke_line,
                            t.process
                        ));
                    }
                }
                None
            }
            WR => h.mops_of(b).iter().find_map(|m| {
                let n = m.read_len() as usize;
                (m.f() == MopF::Read && !m.is_odd() && n > 0 && appended_by(m.key, n - 1, a)).then(
                    || {
                        let longest = &h.list.longest[m.key as usize];
                        format!(
                            "{bn} read {} of key {}, ending at {}, which {an} appended",
                            list_text(&h.interner, &longest[..n]),
                            h.key_name(m.key),
                            self.v(longest[n - 1])
                        )
                    },
                )
            }),
            RW => h.mops_of(a).iter().find_map(|m| {
                let n = m.read_len() as usize;
                (m.f() == MopF::Read && !m.is_odd() && appended_by(m.key, n, b)).then(|| {
                    let longest = &h.list.longest[m.key as usize];
                    format!(
                        "{an} read {} of key {}, without {}, which {bn} appended next",
                        list_text(&h.interner, &longest[..n]),
                        h.key_name(m.key),
                        self.v(longest[n])
                    )
                })
            }),
            _ => None,
        }
    }

    fn why_register(&self, a: u32, b: u32, kind: u8, an: &str, bn: &str) -> Option<String> {
        let h = self.h;
        let wrote = |t: u32, key: u32, v: Val| {
            h.write_of(key, v)
                .is_some_and(|w| w.txn == t && w.final_in_txn)
        };
        let acc_a = register::accesses_of(h, a);
        let acc_b = register::accesses_of(h, b);
        match kind {
            WR => acc_b.iter().find_map(|(key, x)| {
                let r = x.read?;
                (!r.is_null() && wrote(a, *key, r)).then(|| {
                    format!(
                        "{bn} read {} of key {}, which {an} wrote",
                        self.v(r),
                        h.key_name(*key)
                    )
                })
            }),
            WW => acc_b.iter().find_map(|(key, x)| {
                let (r, w) = (x.read?, x.write?);
                (!r.is_null() && wrote(a, *key, r)).then(|| {
                    format!(
                        "{bn} read {} of key {}, which {an} wrote, and then wrote {}",
                        self.v(r),
                        h.key_name(*key),
                        self.v(w)
                    )
                })
            }),
            RW => acc_a.iter().find_map(|(key, x)| {
                let r = x.read?;
                let (_, y) = acc_b.iter().find(|(k, _)| k == key)?;
                let w = y.write?;
                if r.is_null() {
                    Some(format!(
                        "{an} read nil (the initial state) of key {}; {bn} wrote {}, a later \
                         version",
                        h.key_name(*key),
                        self.v(w)
                    ))
                } else {
                    (y.read == Some(r)).then(|| {
                        format!(
                            "{an} read {} of key {}; {bn} read it too and overwrote it with {}",
                            self.v(r),
                            h.key_name(*key),
                            self.v(w)
                        )
                    })
                }
            }),
            _ => None,
        }
    }
}
