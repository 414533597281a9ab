//! The Elle-style transactional check (issue 13): UNFINISHED foundation, not yet wired
//! into `lib.rs` and not a checker yet.
//!
//! Done and unit-tested: [`mops`] (the micro-op parser for a txn value's JSON text,
//! interned keys and values), [`anomaly`] (anomaly types, consistency models, Elle's
//! anomaly -> weakest-models-ruled-out table), [`graph`] (CSR dependency graph with
//! virtual hub and time nodes, iterative Tarjan SCC), [`findings`] (non-cycle anomaly
//! counts and examples). Written but not compiled: `history.rs` (the `OpSink` building
//! transactions, process and real-time orders); it needs `list_append::ListState`,
//! `single::check_txn` and a `Workload` enum here, which do not exist yet. Missing: version
//! order inference, edge building, the shortest-cycle search per SCC and its
//! classification, the result type, the entry point, `faultline check --checker elle`.
pub mod anomaly;
pub mod findings;
pub mod graph;
pub mod mops;
