//! The Elle-style transactional check (issue 13): list-append and rw-register histories
//! checked for isolation anomalies, after Kingsbury & Alvaro, "Elle: Inferring Isolation
//! Anomalies from Experimental Observations" (VLDB 2020).
//!
//! # Pipeline
//!
//! 1. [`history`]: records stream in ([`TxnSink`](history::TxnSink), any reader of
//!    [`crate::format`]: faultline's JSONL or Jepsen's EDN); each `f: txn` op's micro-ops
//!    ([`mops`]: `["append",k,v]`, `["r",k,[..]]`, `["w",k,v]`, `["r",k,v]`) are stored
//!    compactly, process and real-time order recorded (real time through a chain of time
//!    nodes, linear in size), each committed transaction checked on its own
//!    ([`internal`]), list reads compared with their key's longest read. Non-unique
//!    appended or written values are refused with their line.
//! 2. [`list_append`] or [`register`]: version orders, ww/wr/rw dependency edges and the
//!    non-cycle anomalies ([`findings`]).
//! 3. [`graph`]: the edges as a compressed graph; [`cycles`]: components (Tarjan), then
//!    a short cycle per component of each class, classified (G0, G1c, G-single,
//!    G-nonadjacent, G2-item, with -process and -realtime variants), within a budget.
//! 4. [`check`]: the verdict for a requested model ([`anomaly`] holds Elle's
//!    anomaly -> model table, re-derived from Elle's `consistency-model` graphs), the
//!    anomaly types, the weakest models ruled out, and an explanation of each example
//!    (every cycle edge with the key and values behind it), as text and JSON; [`html`]
//!    draws each example (transactions as nodes, edges labelled with why they exist).
//!
//! # Reading of `info` and `fail`
//!
//! Reads are trusted only in `ok` transactions. An `info` transaction's writes count
//! when someone observed them (it then committed); a `fail` transaction is not in the
//! graph, and reading its writes is G1a. Only `ok` transactions are in process order;
//! `info` ones can follow others in real time, never precede them.

pub mod anomaly;
pub mod check;
pub mod cycles;
pub mod findings;
pub mod graph;
pub mod history;
pub mod html;
pub mod internal;
pub mod list_append;
pub mod mops;
pub mod register;

pub use anomaly::{AnomalyKind, CycleClass, Model, Variant};
pub use check::{ElleOptions, ElleResult, analyze, check_file, check_text};

use serde::Serialize;

/// The kind of transactional history: decided by the first micro-op that tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Workload {
    /// `append` and list reads.
    ListAppend,
    /// `w` and scalar reads.
    RwRegister,
}

impl Workload {
    pub fn name(self) -> &'static str {
        match self {
            Workload::ListAppend => "list-append",
            Workload::RwRegister => "rw-register",
        }
    }
}
