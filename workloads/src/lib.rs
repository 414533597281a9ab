//! Workloads: clients for each system under test, operation generators, the driver that runs
//! them, and the recorder that appends every op to `history.jsonl` as it happens.
//!
//! A run's workload side, as `faultline run` wires it:
//!
//! 1. [`recorder::Recorder::create`] opens `history.jsonl` (time 0 is then);
//! 2. [`generator::WorkloadSpec::generator`] builds the seeded generator; keep its
//!    [`generator::Generator::final_reads`] for later;
//! 3. [`driver::run_workload`] drives it through a [`client::Client`] for the run's duration
//!    while the nemesis records its faults with [`recorder::Recorder::record_nemesis`] and a
//!    progress display polls [`recorder::Recorder::stats`];
//! 4. after healing and quiescing, [`driver::run_final_reads`] from the workload summary's
//!    `next_process`;
//! 5. [`recorder::Recorder::close`] drains, fsyncs and returns the totals; checkers and
//!    reports re-read the file ([`recorder::read_history`], [`stats::latency_records`]).
//!
//! # Layout
//!
//! - `client.rs`, `client/`: the [`client::Client`] trait, [`client::Invocation`],
//!   [`client::Outcome`] (the one ok / fail / info classification) and the Raft HTTP client,
//!   which binds each logical thread to a node (its own leader guess, starting at node
//!   `thread mod n`), as Jepsen binds workers to nodes.
//! - `client/etcd.rs`: a client for etcd 3.4's v3 KV API through its JSON gateway (register,
//!   set, append, list-append and rw-register txns; linearizable or serializable reads), its
//!   errors classified in `client/classify.rs`. Tested against the real etcd; schedules
//!   reach it through `system: { kind: etcd }` (the controller's `system/etcd.rs`).
//! - `generator.rs`: the `register`, `set` and `append` (kv-append) generators, deterministic
//!   for a seed.
//! - `txn.rs`: the `list-append` and `rw-register` generators (Elle's transactions of
//!   micro-ops over hot-skewed keys, unique values), for the Elle check.
//! - `bank.rs`: the `bank` generator (transfers between random accounts, reads of every
//!   balance); its client is `client/bank.rs`.
//! - `driver.rs`: concurrent logical threads (each op handed to the client with its
//!   thread), fresh process after `info`, hard timeouts, shutdown, final reads.
//! - `rate.rs`: the global rate limiter (interval pacing with a bounded burst).
//! - `recorder.rs`: the ordered, flushed, crash-tolerant history writer and its reader.
//! - `stats.rs`: live atomic counters for progress; latency records derived from a history.
//!
//! # Dependencies
//!
//! `rand` + `rand_chacha` (ChaCha8): a seeded generator whose stream is the same on every
//! machine, so a seed reproduces the op sequence. `tokio` for the tasks, timeouts and the
//! bounded queue to the writer thread.

pub mod bank;
pub mod client;
pub mod driver;
pub mod generator;
pub mod rate;
pub mod recorder;
pub mod stats;
pub mod txn;
