//! The controller: supervisor, network, nemesis, fault schedules, runner, store and reports.
//!
//! # Layout
//!
//! - [`supervisor`]: the one place that starts node processes; the [`supervisor::NodeControl`]
//!   trait and its local backend (process groups, `PR_SET_PDEATHSIG`, logs, kill/stop/cont).
//! - [`network`]: directed links and partition shapes (pure functions); backends
//!   [`network::proxy`] (TCP proxies, default) and [`network::netns`] (namespaces + nftables).
//! - [`cluster`]: a running cluster (nodes + network + client addresses): the API used by the
//!   runner and the process tests.
//! - [`schedule`]: fault schedules (YAML) parsed, validated and expanded into a seeded plan.
//! - [`cleanup`]: removal of what a controller killed by SIGKILL left behind; signal helpers.

pub mod bench;
pub mod cleanup;
pub mod cluster;
pub mod network;
pub mod schedule;
pub mod supervisor;
pub mod report;
pub mod nemesis;
pub mod progress;
pub mod runner;
pub mod cli;
pub mod exit;
pub mod cmd_check;
pub mod store;
pub mod app;
pub mod campaign;
