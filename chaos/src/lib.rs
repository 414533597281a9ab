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

pub mod app;
pub mod bench;
pub mod campaign;
pub mod cleanup;
pub mod cli;
pub mod cluster;
pub mod cmd_check;
pub mod exit;
pub mod nemesis;
pub mod network;
pub mod progress;
pub mod report;
pub mod runner;
pub mod schedule;
pub mod store;
pub mod supervisor;
