//! The controller: supervisor, network, nemesis, fault schedules, runner, store and reports.
//!
//! # Layout
//!
//! - [`supervisor`]: the one place that starts node processes; the [`supervisor::NodeControl`]
//!   trait and its local backend (process groups, `PR_SET_PDEATHSIG`, logs, kill/stop/cont).
//! - [`network`]: directed links and partition shapes (pure functions); backends
//!   [`network::proxy`] (TCP proxies, default) and [`network::netns`] (namespaces + nftables).
//! - [`system`]: the system under test as a type: the [`system::System`] trait (nodes and
//!   roles, command lines, client and peer addresses, readiness and leader probes, accepted
//!   workloads, clients, bugs and networks) and the one registry ([`system::REGISTRY`]) of
//!   the built-in systems: the Raft store, the 2PC bank, etcd and `command` (any database
//!   started by a command line, its clients stdio adapters). A new built-in system is one
//!   module in `system/` plus one registry line (see [`system`]).
//! - [`workload`]: workload and check kinds, each owning its names and its model.
//! - [`layout`]: a system plus the programs of faultline's own nodes: command lines.
//! - [`cluster`]: a running cluster (nodes + network + client addresses): the API used by the
//!   runner and the process tests; [`cluster_up`]: what `faultline cluster up` prints.
//! - [`node_control`]: node backends other than the local supervisor: nodes on SSH hosts
//!   ([`node_control::ssh`], with its nftables network in [`network::ssh`]).
//! - [`clock`]: clock faults (libfaketime offset files per node, bumps and strobes).
//! - [`disk`]: disk faults of a kill (`lose_unfsynced` on faultfs mounts, `corrupt`,
//!   `truncate`), below [`cluster`] (which owns the mounts) and above [`supervisor`].
//! - [`schedule`]: fault schedules (YAML) parsed, validated and expanded into a seeded plan.
//! - [`cleanup`]: removal of what a controller killed by SIGKILL left behind; signal helpers.
//! - [`nemesis`]: what each fault does ([`nemesis::start_fault`], [`nemesis::end_fault`])
//!   and the run of a schedule's fault plan on a [`cluster::Cluster`], recording each
//!   fault's start and stop in the history and healing whatever is left at the end.
//! - [`runner`]: one run end to end (store dir, cluster, workload + nemesis, final phase,
//!   checks, `results.json`, `report.html`); [`campaign`]: every (schedule, seed) pair,
//!   resume, summary table, JUnit XML.
//! - [`store`]: the run directories and `latest`; [`report`]: the self-contained HTML page;
//!   [`progress`]: the progress line; [`serve`]: `faultline serve`, the read-only web UI.
//! - [`mod@bench`]: `faultline bench raft`; [`planted`]: the planted bugs' names, checked.
//!
//! Module dependencies point one way: `workload` and `network` at the bottom, `system`
//! above them, `schedule` above `system`, then `layout`, `cluster`, `nemesis`, `runner`,
//! `campaign` (which returns data) and `app` (exit codes) at the top.
//! - The binary's edge: [`cli`] (clap types only), [`app`] (subcommands to exit codes, the
//!   only place that uses anyhow besides [`cmd_check`]), [`exit`] (the exit-code table).
//!
//! # Dependencies
//!
//! tokio (processes' I/O, proxies, timers), nix (signals, process groups,
//! `PR_SET_PDEATHSIG`, `setns`), serde-saphyr for schedules (pure Rust, never panics, reports
//! line and column; serde_yaml is unmaintained), rand + rand_chacha (a seed gives the same
//! faults on every machine), plotters with only its SVG backend (charts without system font
//! libraries), html-escape, quick-junit (the JUnit writer cargo-nextest uses), indicatif
//! (the progress bar), clap, thiserror in the library and anyhow at the binary's edge.

pub mod app;
pub mod bench;
pub mod campaign;
pub mod cleanup;
pub mod cli;
pub mod clock;
pub mod cluster;
pub mod cluster_up;
pub mod cmd_check;
pub mod disk;
pub mod exit;
pub mod layout;
pub mod nemesis;
pub mod network;
pub mod node_control;
pub mod planted;
pub mod progress;
pub mod report;
pub mod runner;
pub mod schedule;
pub mod serve;
pub mod store;
pub mod supervisor;
pub mod system;
pub mod workload;
