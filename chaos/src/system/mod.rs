//! The system under test as a type: the [`System`] trait and the one registry of systems.
//!
//! A system says everything the controller needs to know about it, and nothing else in the
//! controller knows a system by name:
//!
//! - its nodes, with their roles ([`System::nodes`]), in start order;
//! - each node's command line ([`System::command`]), given the node's own client and peer
//!   addresses, its data directory and the address at which it reaches each other node
//!   ([`NodeEnv`]); a system whose nodes listen for peers on a port of their own says so
//!   ([`System::separate_peer_port`]);
//! - when a node is ready ([`System::ready`]) and, if the system has one, who leads
//!   ([`System::claim_leadership`], for `leader` targets and `chase-leader`);
//! - which workloads ([`System::workloads`]), which client ([`System::client`]), which planted
//!   bugs (its `parse` function refuses the others) and which networks
//!   ([`System::network_refusal`]) it accepts;
//! - how a schedule writes it ([`System::yaml_fields`]), so that `schedule.yaml` reproduces
//!   the run.
//!
//! # Adding a built-in system
//!
//! 1. Write one module here, `system/<name>.rs`, with a type implementing [`System`] and a
//!    `parse(&RawSystem, Location) -> Result<Arc<dyn System>, SystemError>` function that reads
//!    the system's keys of the schedule's `system:` mapping (refusing those it does not take;
//!    a key no system has yet is one more optional field of [`RawSystem`]).
//! 2. Add one line to [`REGISTRY`]: its `kind:` name and its `parse` function.
//!
//! Schedule validation, rendering, the cluster, the nemesis and the runner then take it as
//! they take the others. A new *client* (a protocol the controller has no client for yet)
//! is one more [`ClientSpec`] variant and its arm in the runner.
//!
//! The built-in systems: [`raft`] (the Raft key-value store, `n1..nN`), [`bank`] (the
//! two-phase-commit bank, `c1.., p1.., r1..`), [`etcd`] (a real etcd cluster, `n1..nN`) and
//! [`command`] (the user's own database, started from a command template in the schedule
//! and driven through a stdio adapter, `n1..nN`).

pub mod bank;
pub mod command;
pub mod etcd;
pub mod raft;

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;

use serde::Deserialize;
use serde_saphyr::{Location, Spanned};
use workloads::client::pool::NodePool;

use crate::network::NetworkKind;
use crate::workload::{ReadMode, WorkloadKind};

pub use bank::BankSystemSpec;

/// What a node is in its system: it decides the node's command line and which targets
/// can name it. Each system module defines its roles as constants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeRole(&'static str);

impl NodeRole {
    /// A role named `name` (in schedules, as a target, and in messages).
    pub const fn new(name: &'static str) -> NodeRole {
        NodeRole(name)
    }

    /// The role's name in schedules and messages.
    pub fn name(self) -> &'static str {
        self.0
    }
}

/// A system's `parse` function: reads the `system:` mapping; `here` is the mapping's own
/// location (for a missing key).
pub type ParseSystem = fn(&RawSystem, Location) -> Result<Arc<dyn System>, SystemError>;

/// A system's entry in the registry: its `kind:`, how messages name it, its planted bugs'
/// names and how to read its `system:` mapping.
pub struct SystemEntry {
    pub kind: &'static str,
    /// How messages name the system: "the raft store".
    pub title: &'static str,
    /// Its planted bugs' names, from the bug enum of its own crate (none for a system
    /// faultline does not ship).
    pub bugs: fn() -> Vec<String>,
    pub parse: ParseSystem,
}

/// Every built-in system. Adding one is one line here (see the module docs).
pub const REGISTRY: &[SystemEntry] = &[
    SystemEntry {
        kind: raft::KIND,
        title: "the raft store",
        bugs: raft::bug_names,
        parse: raft::parse,
    },
    SystemEntry {
        kind: bank::KIND,
        title: "the bank",
        bugs: bank::bug_names,
        parse: bank::parse,
    },
    SystemEntry {
        kind: etcd::KIND,
        title: "etcd",
        bugs: Vec::new,
        parse: etcd::parse,
    },
    SystemEntry {
        kind: command::KIND,
        title: "a command system",
        bugs: Vec::new,
        parse: command::parse,
    },
];

/// The registry's kinds, in order.
pub fn kinds() -> impl Iterator<Item = &'static str> {
    REGISTRY.iter().map(|entry| entry.kind)
}

/// The `system:` mapping as written: the union of every system's keys; each system's
/// `parse` refuses the keys it does not take.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSystem {
    pub kind: Spanned<String>,
    /// Raft and etcd.
    #[serde(default)]
    pub nodes: Option<Spanned<u64>>,
    #[serde(default)]
    pub bug: Option<Spanned<String>>,
    /// Bank only, like the next four.
    #[serde(default)]
    pub participants: Option<Spanned<u64>>,
    #[serde(default)]
    pub accounts: Option<Spanned<u64>>,
    #[serde(default)]
    pub initial_balance: Option<Spanned<u64>>,
    #[serde(default)]
    pub replicated_coordinator: Option<Spanned<bool>>,
    #[serde(default)]
    pub coordinators: Option<Spanned<u64>>,
    /// etcd only: the etcd executable (default `etcd` on `PATH`).
    #[serde(default)]
    pub binary: Option<Spanned<String>>,
    /// Command only, like the next three: each node's command line, a template.
    #[serde(default)]
    pub start: Option<Spanned<String>>,
    #[serde(default)]
    pub ready: Option<Spanned<command::RawProbe>>,
    #[serde(default)]
    pub leader: Option<Spanned<command::RawProbe>>,
    #[serde(default)]
    pub env: Option<Spanned<std::collections::BTreeMap<String, String>>>,
}

impl RawSystem {
    /// Every key present besides `kind`, with its location, in the struct's order.
    pub fn present_keys(&self) -> Vec<(&'static str, Location)> {
        let numbers = [
            ("nodes", &self.nodes),
            ("participants", &self.participants),
            ("accounts", &self.accounts),
            ("initial_balance", &self.initial_balance),
            ("coordinators", &self.coordinators),
        ];
        let mut keys: Vec<(&'static str, Location)> = numbers
            .into_iter()
            .filter_map(|(name, value)| value.as_ref().map(|v| (name, v.referenced)))
            .collect();
        if let Some(bug) = &self.bug {
            keys.push(("bug", bug.referenced));
        }
        if let Some(replicated) = &self.replicated_coordinator {
            keys.push(("replicated_coordinator", replicated.referenced));
        }
        if let Some(binary) = &self.binary {
            keys.push(("binary", binary.referenced));
        }
        if let Some(start) = &self.start {
            keys.push(("start", start.referenced));
        }
        if let Some(ready) = &self.ready {
            keys.push(("ready", ready.referenced));
        }
        if let Some(leader) = &self.leader {
            keys.push(("leader", leader.referenced));
        }
        if let Some(env) = &self.env {
            keys.push(("env", env.referenced));
        }
        keys
    }

    /// The first key present that is not one of `allowed`.
    pub fn first_key_not_in(&self, allowed: &[&str]) -> Option<(&'static str, Location)> {
        self.present_keys()
            .into_iter()
            .find(|(key, _)| !allowed.contains(key))
    }
}

/// A mistake in the `system:` mapping, at `location` (the schedule adds the file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SystemError {
    pub location: Location,
    pub message: String,
}

impl SystemError {
    pub fn new(location: Location, message: impl Into<String>) -> SystemError {
        SystemError {
            location,
            message: message.into(),
        }
    }
}

/// The `nodes` key of a system of numbered nodes that takes only the keys `allowed`
/// (`nodes` among them); `system` names it in messages (`a raft`, `an etcd`).
pub fn numbered_nodes<'a>(
    raw: &'a RawSystem,
    here: Location,
    allowed: &[&str],
    system: &str,
) -> Result<&'a Spanned<u64>, SystemError> {
    if let Some((key, location)) = raw.first_key_not_in(allowed) {
        let keys = match allowed {
            [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
            [] => String::new(),
        };
        return Err(SystemError::new(
            location,
            format!("expected only kind, {keys} for {system} system, found `{key}`"),
        ));
    }
    raw.nodes.as_ref().ok_or_else(|| {
        SystemError::new(
            here,
            format!("expected key `nodes` for {system} system, found none"),
        )
    })
}

/// A number of `what` in `min..=max`, or the error pointing at it.
pub fn bounded(value: &Spanned<u64>, what: &str, min: u64, max: u64) -> Result<usize, SystemError> {
    if value.value < min || value.value > max {
        return Err(SystemError::new(
            value.referenced,
            format!(
                "expected {what} between {min} and {max}, found {}",
                value.value
            ),
        ));
    }
    Ok(value.value as usize)
}

/// The registry's entry for `kind`.
pub fn entry(kind: &str) -> Option<&'static SystemEntry> {
    REGISTRY.iter().find(|entry| entry.kind == kind)
}

/// Whether `name` is a planted bug of the system `kind` (from the bug enum of the system's
/// own crate); the error is the whole `expected ..., found ...` message, naming every bug
/// of the system, and the system that has `name` if another one does. The one check of a
/// bug's name: the schedule's `bug:` and `--bug NAME` ([`crate::planted`]) both use it.
pub fn check_bug(kind: &str, name: &str) -> Result<(), String> {
    let Some(this) = entry(kind) else {
        return Err(format!("expected a known system kind, found `{kind}`"));
    };
    let known = (this.bugs)();
    if known.iter().any(|known| known == name) {
        return Ok(());
    }
    let elsewhere = REGISTRY
        .iter()
        .filter(|other| other.kind != kind)
        .find(|other| (other.bugs)().iter().any(|known| known == name))
        .map(|other| {
            format!(
                " (a bug of {}; this schedule's system is {})",
                other.title, this.title
            )
        })
        .unwrap_or_default();
    if known.is_empty() {
        let shipped: Vec<&str> = REGISTRY
            .iter()
            .filter(|entry| !(entry.bugs)().is_empty())
            .map(|entry| entry.kind)
            .collect();
        return Err(format!(
            "expected no planted bug for {} (bugs are planted only in the systems faultline ships: {}), found `{name}`{elsewhere}",
            this.title,
            shipped.join(", ")
        ));
    }
    Err(format!(
        "expected a planted bug of {} ({}), found `{name}`{elsewhere}",
        this.title,
        known.join(", ")
    ))
}

/// A schedule's `bug:` for the system `kind`, refused (at its location) when empty or not
/// one of the system's bugs ([`check_bug`]).
pub fn known_bug(bug: &Option<Spanned<String>>, kind: &str) -> Result<Option<String>, SystemError> {
    let Some(bug) = bug else { return Ok(None) };
    if bug.value.trim().is_empty() {
        return Err(SystemError::new(
            bug.referenced,
            "expected a planted bug's name, found an empty string",
        ));
    }
    check_bug(kind, &bug.value).map_err(|message| SystemError::new(bug.referenced, message))?;
    Ok(Some(bug.value.clone()))
}

/// The programs the controller's own systems run: this binary as `faultline node` and
/// `faultline bank`, or the test binaries `raft-node` and `bank-node`. Systems that bring
/// their own binary (etcd) ignore them.
#[derive(Debug, Clone, Default)]
pub struct NodePrograms {
    /// The executable of the Raft store's and the bank's nodes.
    pub program: PathBuf,
    /// Arguments before a Raft node's own, e.g. `["node"]` for `faultline node`.
    pub raft_args_prefix: Vec<String>,
    /// Arguments before a bank node's role, e.g. `["bank"]` for `faultline bank`.
    pub bank_args_prefix: Vec<String>,
    /// Appended to every Raft node's arguments (Raft system and decision store).
    pub raft_extra_args: Vec<String>,
}

/// What a node's command line is built from.
pub struct NodeEnv<'a> {
    pub id: &'a str,
    pub role: NodeRole,
    /// Where the node listens for clients (inside its namespace with `netns`).
    pub client_listen: SocketAddr,
    /// Where the node listens for its peers: its client address unless the system has
    /// [`System::separate_peer_port`].
    pub peer_listen: SocketAddr,
    pub data_dir: &'a Path,
    /// The address at which this node reaches node `other`'s peer port (with the proxy
    /// network, the proxy of the link `id -> other`).
    pub reach: &'a dyn Fn(&str) -> SocketAddr,
    /// Every node's own peer address (what it advertises), the same for every node.
    pub peer_addrs: &'a dyn Fn(&str) -> SocketAddr,
    /// The schedule's planted bug, if any (validated by the system's `parse`).
    pub bug: Option<&'a str>,
    pub programs: &'a NodePrograms,
}

/// A node's program and arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeCommand {
    pub program: PathBuf,
    pub args: Vec<String>,
}

/// A node's claim to lead, from its own status: the highest term wins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaderClaim {
    pub id: String,
    pub term: u64,
}

/// A boxed future, for the probes (a trait object cannot have async methods).
pub type Probe<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// The client the runner drives a system's workload through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientSpec {
    /// The Raft store's client, over every node.
    Raft,
    /// The bank's client, over the nodes of `coordinators`, with `accounts` accounts.
    Bank {
        coordinators: NodeRole,
        accounts: usize,
    },
    /// etcd's v3 client (JSON gateway) over every member.
    Etcd { read: ReadMode },
    /// No built-in client: the workload's stdio adapter (`client: { command }`), which the
    /// schedule must then name.
    Stdio,
}

/// What the bank check needs to know of a bank system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BankFacts {
    pub accounts: Vec<String>,
    pub total: i64,
}

/// One system under test: see the module docs.
pub trait System: fmt::Debug + Send + Sync {
    /// The `kind:` of the schedule.
    fn kind(&self) -> &'static str;

    /// Every node id with its role, in a fixed (start) order.
    fn nodes(&self) -> Vec<(String, NodeRole)>;

    /// The keys after `kind` of the schedule's `system:` mapping, as run (no bug: the
    /// schedule adds it), e.g. `nodes: 5`.
    fn yaml_fields(&self) -> String;

    /// How messages name the nodes: `n1..n5`, or the full list.
    fn node_list(&self) -> String {
        let ids: Vec<String> = self.nodes().into_iter().map(|(id, _)| id).collect();
        ids.join(", ")
    }

    /// The workloads it accepts, in the order messages list them.
    fn workloads(&self) -> &'static [WorkloadKind];

    /// Whether the workload's `read:` (linearizable | serializable) applies.
    fn read_modes(&self) -> bool {
        false
    }

    /// Why it cannot run on `network`, if it cannot.
    fn network_refusal(&self, network: NetworkKind) -> Option<String> {
        let _ = network;
        None
    }

    /// The network of a schedule that names none.
    fn default_network(&self) -> NetworkKind {
        NetworkKind::Proxy
    }

    /// The roles a target can name (`kill: coordinator`), in the order messages list them.
    fn role_targets(&self) -> Vec<NodeRole> {
        Vec::new()
    }

    /// Whether it has a leader (`leader` targets and partitions): `None` if it has, else the
    /// whole message refusing `word` (`leader`, `chase-leader`).
    fn no_leader_message(&self, word: &str) -> Option<String> {
        let _ = word;
        None
    }

    /// Whether nodes listen for peers on a port of their own (etcd's 2380).
    fn separate_peer_port(&self) -> bool {
        false
    }

    /// Node `env.id`'s command line.
    fn command(&self, env: &NodeEnv<'_>) -> NodeCommand;

    /// Whether the node behind `pool` (its client address) answers as a ready node does.
    fn ready(&self, pool: Arc<NodePool>, deadline: tokio::time::Instant) -> Probe<bool>;

    /// [`System::ready`] of node `id`, saying why not when it is not (the cluster's
    /// readiness error names the last reason).
    fn ready_or_why(
        &self,
        id: &str,
        pool: Arc<NodePool>,
        deadline: tokio::time::Instant,
    ) -> Probe<Result<(), String>> {
        let _ = id;
        let probe = self.ready(pool, deadline);
        Box::pin(async move {
            if probe.await {
                Ok(())
            } else {
                Err("its readiness probe did not answer".to_string())
            }
        })
    }

    /// The leadership claim of node `id` (role `role`) behind `pool`, if it claims to lead;
    /// `None` for a node that cannot lead or a system without a leader.
    fn claim_leadership(
        &self,
        id: &str,
        role: NodeRole,
        pool: Arc<NodePool>,
        deadline: tokio::time::Instant,
    ) -> Option<Probe<Option<LeaderClaim>>>;

    /// The client for `workload` (accepted by [`System::workloads`]).
    fn client(&self, read: Option<ReadMode>) -> ClientSpec;

    /// What the bank check needs, for a bank.
    fn bank_facts(&self) -> Option<BankFacts> {
        None
    }

    /// One line for logs: `5 nodes`, `bank nodes c1,p1`.
    fn describe(&self) -> String {
        format!("{} nodes", self.nodes().len())
    }
}

/// The system of a schedule: the system itself and the planted bug.
#[derive(Debug, Clone)]
pub struct SystemSpec {
    /// Node processes in all (for the bank: coordinators, participants, decision store).
    pub nodes: usize,
    /// A planted bug, if any (one of the system's own bug names).
    pub bug: Option<String>,
    system: Arc<dyn System>,
}

impl PartialEq for SystemSpec {
    fn eq(&self, other: &Self) -> bool {
        self.nodes == other.nodes
            && self.bug == other.bug
            && self.system.kind() == other.system.kind()
            && self.system.yaml_fields() == other.system.yaml_fields()
    }
}

impl Eq for SystemSpec {}

impl SystemSpec {
    /// A spec of `system` with `bug`.
    pub fn new(system: Arc<dyn System>, bug: Option<String>) -> SystemSpec {
        SystemSpec {
            nodes: system.nodes().len(),
            bug,
            system,
        }
    }

    /// Reads the `system:` mapping with the registry's entry for its `kind`.
    pub fn parse(raw: &RawSystem, here: Location) -> Result<SystemSpec, SystemError> {
        let Some(entry) = entry(&raw.kind.value) else {
            return Err(SystemError::new(
                raw.kind.referenced,
                format!(
                    "expected system kind {}, found `{}`",
                    crate::workload::or_list(kinds()),
                    raw.kind.value
                ),
            ));
        };
        let system = (entry.parse)(raw, here)?;
        let bug = raw.bug.as_ref().map(|b| b.value.clone());
        Ok(SystemSpec::new(system, bug))
    }

    /// The system itself.
    pub fn system(&self) -> &dyn System {
        self.system.as_ref()
    }

    /// Its `kind:`.
    pub fn kind(&self) -> &'static str {
        self.system.kind()
    }

    /// Every node id with its role, in start order.
    pub fn nodes_with_roles(&self) -> Vec<(String, NodeRole)> {
        self.system.nodes()
    }

    /// The node ids, in the order of [`SystemSpec::nodes_with_roles`].
    pub fn node_ids(&self) -> Vec<String> {
        self.nodes_with_roles()
            .into_iter()
            .map(|(id, _)| id)
            .collect()
    }

    /// The ids of the nodes of one role.
    pub fn ids_of_role(&self, role: NodeRole) -> Vec<String> {
        self.nodes_with_roles()
            .into_iter()
            .filter(|(_, r)| *r == role)
            .map(|(id, _)| id)
            .collect()
    }

    /// Whether the system has a leader (`leader` targets and partitions).
    pub fn has_leader(&self) -> bool {
        self.system.no_leader_message("leader").is_none()
    }

    /// The schedule's `system:` line: `{ kind: K, FIELDS[, bug: B] }`.
    pub fn to_yaml(&self) -> String {
        let bug = match &self.bug {
            Some(bug) => format!(", bug: {bug}"),
            None => String::new(),
        };
        format!(
            "{{ kind: {}, {}{bug} }}",
            self.system.kind(),
            self.system.yaml_fields()
        )
    }
}

/// Node ids `{prefix}1..{prefix}{count}`, all of `role`.
pub fn numbered(
    prefix: &'static str,
    count: usize,
    role: NodeRole,
) -> impl Iterator<Item = (String, NodeRole)> {
    (1..=count).map(move |i| (format!("{prefix}{i}"), role))
}

/// `id=ADDR,...` for the nodes of `role` in `nodes` other than `me`, as `reach` gives them.
pub fn named_addrs(
    nodes: &[(String, NodeRole)],
    role: NodeRole,
    me: &str,
    reach: &dyn Fn(&str) -> SocketAddr,
) -> String {
    nodes
        .iter()
        .filter(|(id, r)| *r == role && id != me)
        .map(|(id, _)| format!("{id}={}", reach(id)))
        .collect::<Vec<_>>()
        .join(",")
}

/// Whether `GET /status` answers 200 (the faultline systems' readiness: every node of
/// theirs answers it, each with its own body).
pub fn answers_status(pool: Arc<NodePool>, deadline: tokio::time::Instant) -> Probe<bool> {
    Box::pin(async move { workloads::client::status::answers_status(&pool, deadline).await })
}

/// The Raft nodes' leadership claim, from `GET /status`.
pub fn raft_status_claim(
    pool: Arc<NodePool>,
    deadline: tokio::time::Instant,
) -> Probe<Option<LeaderClaim>> {
    Box::pin(async move {
        let status = workloads::client::fetch_status(&pool, deadline)
            .await
            .ok()?;
        (status.role == "leader").then_some(LeaderClaim {
            id: status.id,
            term: status.term,
        })
    })
}
