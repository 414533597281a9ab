//! Raw schedule -> typed [`Schedule`], refusing every mistake with its position.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_saphyr::{Location, Spanned};

use super::raw::{RawFault, RawFinal, RawPartition, RawSchedule, RawSystem, RawWorkload};
use super::{
    BankSystemSpec, CheckKind, DECISION_STORE_NODES, FaultChoice, FaultKind, FaultSpec, FinalSpec,
    NodeRole, PartitionSpec, Schedule, ScheduleError, SystemKind, SystemSpec, TargetSpec, Timing,
    WorkloadKind, WorkloadSpec, format_duration, parse_duration,
};
use crate::cluster::NetworkKind;

/// Most nodes a schedule may ask for.
pub const MAX_NODES: u64 = 64;
/// Most occurrences one periodic entry may expand to.
pub const MAX_OCCURRENCES: u64 = 10_000;
const MAX_KEYS: u64 = 100_000;
const MAX_CLIENTS: u64 = 1_000;
const MAX_PARTICIPANTS: u64 = 32;
const MAX_COORDINATORS: u64 = 9;
const MAX_ACCOUNTS: u64 = 10_000;
const MAX_INITIAL_BALANCE: u64 = 1_000_000_000;
/// The bank's planted bugs (system-under-test's `BankBug`) and the role that has each.
pub const BANK_BUGS: [(&str, NodeRole); 2] = [
    ("2pc-commit-without-all-votes", NodeRole::Coordinator),
    ("2pc-forget-prepared", NodeRole::Participant),
];

struct Validator<'a> {
    file: &'a str,
}

type Result<T> = std::result::Result<T, ScheduleError>;

/// Quotes a found value for messages.
fn quoted(text: &str) -> String {
    format!("`{text}`")
}

impl Validator<'_> {
    fn error(&self, location: Location, message: String) -> ScheduleError {
        ScheduleError::Invalid {
            file: self.file.to_string(),
            line: location.line().max(1),
            column: location.column().max(1),
            message,
        }
    }

    fn duration(&self, value: &Spanned<String>, what: &str) -> Result<Duration> {
        parse_duration(&value.value).ok_or_else(|| {
            self.error(
                value.referenced,
                format!(
                    "expected {what} as a duration such as 500ms, 10s, 2m or 1m30s, found {}",
                    quoted(&value.value)
                ),
            )
        })
    }

    fn positive_duration(&self, value: &Spanned<String>, what: &str) -> Result<Duration> {
        let duration = self.duration(value, what)?;
        if duration.is_zero() {
            return Err(self.error(
                value.referenced,
                format!(
                    "expected {what} to be longer than zero, found {}",
                    quoted(&value.value)
                ),
            ));
        }
        Ok(duration)
    }

    fn bounded(&self, value: &Spanned<u64>, what: &str, min: u64, max: u64) -> Result<usize> {
        if value.value < min || value.value > max {
            return Err(self.error(
                value.referenced,
                format!(
                    "expected {what} between {min} and {max}, found {}",
                    value.value
                ),
            ));
        }
        Ok(value.value as usize)
    }

    fn name(&self, name: &Spanned<String>) -> Result<String> {
        let text = &name.value;
        let safe = !text.is_empty()
            && text != "."
            && text != ".."
            && text
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        if !safe {
            return Err(self.error(
                name.referenced,
                format!(
                    "expected a name of letters, digits, `.`, `_` and `-`, found {}",
                    quoted(text)
                ),
            ));
        }
        Ok(text.clone())
    }

    fn system(&self, system: &Spanned<RawSystem>) -> Result<SystemSpec> {
        let raw = &system.value;
        match raw.kind.value.as_str() {
            "raft" => self.raft_system(raw, system.referenced),
            "bank" => self.bank_system(raw),
            other => Err(self.error(
                raw.kind.referenced,
                format!("expected system kind raft or bank, found {}", quoted(other)),
            )),
        }
    }

    fn raft_system(&self, raw: &RawSystem, here: Location) -> Result<SystemSpec> {
        if let Some((key, location)) = bank_keys(raw).first() {
            return Err(self.error(
                *location,
                format!("expected only kind, nodes and bug for a raft system, found `{key}`"),
            ));
        }
        let Some(nodes) = &raw.nodes else {
            return Err(self.error(
                here,
                "expected key `nodes` for a raft system, found none".into(),
            ));
        };
        let nodes = self.bounded(nodes, "a number of nodes", 1, MAX_NODES)?;
        Ok(SystemSpec {
            kind: SystemKind::Raft,
            nodes,
            bug: self.raft_bug(&raw.bug)?,
            bank: None,
        })
    }

    fn bug(&self, bug: &Option<Spanned<String>>) -> Result<Option<String>> {
        match bug {
            Some(bug) if bug.value.trim().is_empty() => Err(self.error(
                bug.referenced,
                "expected a planted bug's name, found an empty string".into(),
            )),
            Some(bug) => Ok(Some(bug.value.clone())),
            None => Ok(None),
        }
    }

    /// A Raft bug, by one of the names the node accepts ([`crate::planted`]).
    fn raft_bug(&self, bug: &Option<Spanned<String>>) -> Result<Option<String>> {
        let name = self.bug(bug)?;
        if let (Some(name), Some(spanned)) = (&name, bug) {
            crate::planted::check(SystemKind::Raft, name)
                .map_err(|message| self.error(spanned.referenced, message))?;
        }
        Ok(name)
    }

    fn bank_system(&self, raw: &RawSystem) -> Result<SystemSpec> {
        if let Some(nodes) = &raw.nodes {
            return Err(self.error(
                nodes.referenced,
                "expected participants, accounts, initial_balance, replicated_coordinator, coordinators or bug for a bank system (its nodes follow from its roles), found `nodes`".into(),
            ));
        }
        let count = |value: &Option<Spanned<u64>>, what: &str, range: (u64, u64), default| {
            value
                .as_ref()
                .map_or(Ok(default), |v| self.bounded(v, what, range.0, range.1))
        };
        let participants = count(
            &raw.participants,
            "a number of participants",
            (1, MAX_PARTICIPANTS),
            3,
        )?;
        // Two accounts at least: a transfer needs two.
        let accounts = count(&raw.accounts, "a number of accounts", (2, MAX_ACCOUNTS), 8)?;
        let initial_balance = count(
            &raw.initial_balance,
            "an initial balance",
            (1, MAX_INITIAL_BALANCE),
            100,
        )? as i64;
        let replicated_coordinator = raw.replicated_coordinator.as_ref().is_some_and(|r| r.value);
        let coordinators = match (&raw.coordinators, replicated_coordinator) {
            (Some(c), false) => {
                return Err(self.error(
                    c.referenced,
                    "expected `coordinators` only with `replicated_coordinator: true` (an unreplicated bank has one coordinator), found `coordinators`".into(),
                ));
            }
            (Some(c), true) => self.bounded(c, "a number of coordinators", 1, MAX_COORDINATORS)?,
            (None, true) => 3,
            (None, false) => 1,
        };
        let bug = self.bug(&raw.bug)?;
        if let (Some(name), Some(spanned)) = (&bug, &raw.bug)
            && !BANK_BUGS.iter().any(|(known, _)| known == name)
        {
            let known: Vec<&str> = BANK_BUGS.iter().map(|(known, _)| *known).collect();
            return Err(self.error(
                spanned.referenced,
                format!(
                    "expected a bank bug ({}), found {}",
                    known.join(", "),
                    quoted(name)
                ),
            ));
        }
        let store = if replicated_coordinator {
            DECISION_STORE_NODES
        } else {
            0
        };
        Ok(SystemSpec {
            kind: SystemKind::Bank,
            nodes: coordinators + participants + store,
            bug,
            bank: Some(BankSystemSpec {
                participants,
                accounts,
                initial_balance,
                replicated_coordinator,
                coordinators,
            }),
        })
    }

    fn workload(&self, workload: &RawWorkload, system: SystemKind) -> Result<WorkloadSpec> {
        let kind = match (workload.kind.value.as_str(), system) {
            ("register", SystemKind::Raft) => WorkloadKind::Register,
            ("set", SystemKind::Raft) => WorkloadKind::Set,
            ("append", SystemKind::Raft) => WorkloadKind::Append,
            ("bank", SystemKind::Bank) => WorkloadKind::Bank,
            (other, SystemKind::Raft) => {
                return Err(self.error(
                    workload.kind.referenced,
                    format!(
                        "expected workload kind register, set or append for a raft system, found {}",
                        quoted(other)
                    ),
                ));
            }
            (other, SystemKind::Bank) => {
                return Err(self.error(
                    workload.kind.referenced,
                    format!(
                        "expected workload kind bank for a bank system, found {}",
                        quoted(other)
                    ),
                ));
            }
        };
        let keys = match (&workload.keys, kind) {
            (Some(keys), WorkloadKind::Bank) => {
                return Err(self.error(
                    keys.referenced,
                    "expected no `keys` in the bank workload (it uses the bank's accounts), found `keys`".into(),
                ));
            }
            (None, WorkloadKind::Bank) => 0,
            (Some(keys), _) => self.bounded(keys, "a number of keys", 1, MAX_KEYS)?,
            (None, _) => 8,
        };
        let clients = match &workload.clients {
            Some(clients) => self.bounded(clients, "a number of clients", 1, MAX_CLIENTS)?,
            None => 10,
        };
        let rate_per_s = match &workload.rate {
            Some(rate) => self.rate(rate)?,
            None => 100.0,
        };
        let timeout = match &workload.timeout {
            Some(timeout) => self.positive_duration(timeout, "the request timeout")?,
            None => Duration::from_secs(1),
        };
        Ok(WorkloadSpec {
            kind,
            keys,
            clients,
            rate_per_s,
            timeout,
        })
    }

    /// `200/s` or `600/m`.
    fn rate(&self, rate: &Spanned<String>) -> Result<f64> {
        let parsed = rate.value.split_once('/').and_then(|(count, unit)| {
            let count: f64 = count.trim().parse().ok()?;
            let per_s = match unit.trim() {
                "s" => count,
                "m" => count / 60.0,
                _ => return None,
            };
            (per_s.is_finite() && per_s > 0.0).then_some(per_s)
        });
        parsed.ok_or_else(|| {
            self.error(
                rate.referenced,
                format!(
                    "expected a rate such as 200/s or 600/m, found {}",
                    quoted(&rate.value)
                ),
            )
        })
    }

    fn network(&self, network: &Option<Spanned<String>>) -> Result<NetworkKind> {
        match network {
            None => Ok(NetworkKind::Proxy),
            Some(network) => match network.value.as_str() {
                "proxy" => Ok(NetworkKind::Proxy),
                "netns" => Ok(NetworkKind::Netns),
                other => Err(self.error(
                    network.referenced,
                    format!("expected network proxy or netns, found {}", quoted(other)),
                )),
            },
        }
    }

    fn final_phase(&self, raw: Option<&RawFinal>) -> Result<FinalSpec> {
        let quiesce = match raw.and_then(|f| f.quiesce.as_ref()) {
            Some(quiesce) => self.duration(quiesce, "the quiesce time")?,
            None => Duration::from_secs(5),
        };
        Ok(FinalSpec {
            heal: raw.and_then(|f| f.heal.as_ref()).is_none_or(|h| h.value),
            quiesce,
            final_reads: raw
                .and_then(|f| f.final_reads.as_ref())
                .is_none_or(|r| r.value),
        })
    }

    fn checks(
        &self,
        checks: &Option<Spanned<Vec<Spanned<String>>>>,
        workload: WorkloadKind,
    ) -> Result<Vec<CheckKind>> {
        let (model_check, model_name) = match workload {
            WorkloadKind::Register | WorkloadKind::Append => {
                (CheckKind::Linearizable, "linearizable")
            }
            WorkloadKind::Set => (CheckKind::Set, "set"),
            WorkloadKind::Bank => (CheckKind::Bank, "bank"),
        };
        let Some(checks) = checks else {
            return Ok(vec![model_check, CheckKind::Latency]);
        };
        let mut seen = Vec::new();
        for check in &checks.value {
            let kind = match check.value.as_str() {
                "linearizable" => CheckKind::Linearizable,
                "latency" => CheckKind::Latency,
                "set" => CheckKind::Set,
                "bank" => CheckKind::Bank,
                other => {
                    return Err(self.error(
                        check.referenced,
                        format!(
                            "expected a check linearizable, set, bank or latency, found {}",
                            quoted(other)
                        ),
                    ));
                }
            };
            if kind != CheckKind::Latency && kind != model_check {
                return Err(self.error(
                    check.referenced,
                    format!(
                        "expected checks that fit the workload ({model_name}, latency), found {}",
                        quoted(&check.value)
                    ),
                ));
            }
            if seen.contains(&kind) {
                return Err(self.error(
                    check.referenced,
                    format!(
                        "expected each check once, found {} twice",
                        quoted(&check.value)
                    ),
                ));
            }
            seen.push(kind);
        }
        if seen.is_empty() {
            return Err(self.error(
                checks.referenced,
                "expected at least one check, found an empty list".into(),
            ));
        }
        Ok(seen)
    }

    fn target(&self, target: &Spanned<String>, system: &SystemSpec) -> Result<TargetSpec> {
        let nodes = system.node_ids();
        let bank = system.bank.is_some();
        Ok(match target.value.as_str() {
            "leader" => {
                self.leader_exists(system, target.referenced, "leader")?;
                TargetSpec::Leader
            }
            "coordinator" if bank => TargetSpec::Role(NodeRole::Coordinator),
            "participant" if bank => TargetSpec::Role(NodeRole::Participant),
            "random" => TargetSpec::Random,
            "minority" => TargetSpec::Minority,
            "majority" => TargetSpec::Majority,
            "all" => TargetSpec::All,
            node if nodes.iter().any(|n| n == node) => TargetSpec::Node(node.to_string()),
            other if bank => {
                return Err(self.error(
                    target.referenced,
                    format!(
                        "expected a node ({}), coordinator, participant,{} random, minority, majority or all, found {}",
                        nodes.join(", "),
                        if system.has_leader() { " leader," } else { "" },
                        quoted(other)
                    ),
                ));
            }
            other => {
                return Err(self.error(
                    target.referenced,
                    format!(
                        "expected a node (n1..n{}), leader, random, minority, majority or all, found {}",
                        nodes.len(),
                        quoted(other)
                    ),
                ));
            }
        })
    }

    /// `leader` needs a system with one: Raft, or a bank with a replicated coordinator.
    fn leader_exists(&self, system: &SystemSpec, location: Location, word: &str) -> Result<()> {
        if system.has_leader() {
            return Ok(());
        }
        Err(self.error(
            location,
            format!("expected `{word}` only where there is a leader (a raft system, or a bank with replicated_coordinator: true), found `{word}` in a bank with one coordinator"),
        ))
    }

    /// How messages name the nodes: `n1..n5` for Raft, the full list for the bank.
    fn node_list(system: &SystemSpec) -> String {
        let nodes = system.node_ids();
        if system.bank.is_some() {
            nodes.join(", ")
        } else {
            format!("n1..n{}", nodes.len())
        }
    }

    fn partition(
        &self,
        partition: &Spanned<RawPartition>,
        system: &SystemSpec,
    ) -> Result<PartitionSpec> {
        let location = partition.referenced;
        let nodes = &system.node_ids();
        match &partition.value {
            RawPartition::Shape(shape) => {
                let min_nodes = match shape.as_str() {
                    "halves" => 2,
                    "majorities-ring" | "bridge" => 3,
                    _ => 1,
                };
                if nodes.len() < min_nodes {
                    return Err(self.error(
                        location,
                        format!(
                            "expected a shape that fits {} nodes, found {} (needs at least {min_nodes})",
                            nodes.len(),
                            quoted(shape)
                        ),
                    ));
                }
                if shape == "leader" || shape == "chase-leader" {
                    self.leader_exists(system, location, shape)?;
                }
                self.shape(shape, location)
            }
            RawPartition::Groups(groups) => {
                let mut seen = BTreeSet::new();
                for node in groups.iter().flatten() {
                    if !nodes.contains(node) {
                        return Err(self.error(
                            location,
                            format!(
                                "expected nodes {} in the groups, found {}",
                                Self::node_list(system),
                                quoted(node)
                            ),
                        ));
                    }
                    if !seen.insert(node.clone()) {
                        return Err(self.error(
                            location,
                            format!(
                                "expected each node in one group only, found {} twice",
                                quoted(node)
                            ),
                        ));
                    }
                }
                if groups.len() < 2 && seen.len() == nodes.len() || groups.iter().any(Vec::is_empty)
                {
                    return Err(self.error(
                        location,
                        "expected at least two non-empty groups (nodes left out form one more group), found a partition that cuts nothing".into(),
                    ));
                }
                self.every_node_grouped(location, nodes, &seen)?;
                Ok(PartitionSpec::Groups(groups.clone()))
            }
        }
    }

    /// Refuses groups that leave nodes out: the network would cut those off from every
    /// group (together, as one more group), which is rarely what the author meant.
    fn every_node_grouped(
        &self,
        location: Location,
        nodes: &[String],
        grouped: &BTreeSet<String>,
    ) -> Result<()> {
        let missing: Vec<String> = nodes
            .iter()
            .filter(|node| !grouped.contains(*node))
            .cloned()
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        let names = missing
            .iter()
            .map(|n| quoted(n))
            .collect::<Vec<_>>()
            .join(", ");
        let advice = if missing.len() == 1 {
            format!(
                "it would be cut off from every group; add it to a group, or give it one of its own, [{}], to cut it off alone",
                missing[0]
            )
        } else {
            format!(
                "they would be cut off from every group, together; add them to the groups, or give them one of their own, [{}], to say so",
                missing.join(", ")
            )
        };
        Err(self.error(
            location,
            format!("expected every node in a group, found {names} in none ({advice})"),
        ))
    }
}

impl Validator<'_> {
    fn shape(&self, shape: &str, location: Location) -> Result<PartitionSpec> {
        Ok(match shape {
            "isolate" => PartitionSpec::Isolate,
            "halves" => PartitionSpec::Halves,
            "majorities-ring" => PartitionSpec::MajoritiesRing,
            "bridge" => PartitionSpec::Bridge,
            "leader" => PartitionSpec::Leader,
            "chase-leader" => PartitionSpec::ChaseLeader {
                grace: Duration::ZERO,
            },
            other => {
                return Err(self.error(
                    location,
                    format!(
                        "expected a partition isolate, halves, majorities-ring, bridge, leader, chase-leader or a list of groups, found {}",
                        quoted(other)
                    ),
                ));
            }
        })
    }
}

/// The key the user wrote for how long a fault lasts: `for`, or `restart_after` for a kill.
fn length_key(fault: &RawFault) -> &'static str {
    if fault.length.is_none() && fault.restart_after.is_some() {
        "`restart_after`"
    } else {
        "`for`"
    }
}

/// The fault entry's keys that say what it does, with their locations.
fn action_keys(fault: &RawFault) -> Vec<(&'static str, Location)> {
    let mut keys = Vec::new();
    if let Some(kill) = &fault.kill {
        keys.push(("kill", kill.referenced));
    }
    if let Some(pause) = &fault.pause {
        keys.push(("pause", pause.referenced));
    }
    if let Some(partition) = &fault.partition {
        keys.push(("partition", partition.referenced));
    }
    if let Some(one_of) = &fault.one_of {
        keys.push(("one_of", one_of.referenced));
    }
    keys
}

impl Validator<'_> {
    fn fault(
        &self,
        entry: &Spanned<RawFault>,
        nodes: &SystemSpec,
        run: Duration,
    ) -> Result<FaultSpec> {
        let fault = &entry.value;
        let here = entry.referenced;
        let actions = action_keys(fault);
        match actions.as_slice() {
            [] => {
                return Err(self.error(
                    here,
                    "expected one of the keys kill, pause, partition or one_of, found none".into(),
                ));
            }
            [_] => {}
            [(first, _), (second, location), ..] => {
                return Err(self.error(
                    *location,
                    format!(
                        "expected one fault kind per entry, found both `{first}` and `{second}`"
                    ),
                ));
            }
        }
        let choice = self.choice(fault, nodes)?;
        let length = self.length(fault, &choice)?;
        let timing = self.timing(fault, here, length, run)?;
        Ok(FaultSpec {
            line: here.line(),
            timing,
            choice,
            length,
        })
    }

    fn choice(&self, fault: &RawFault, nodes: &SystemSpec) -> Result<FaultChoice> {
        if let Some(grace) = &fault.grace
            && !fault
                .partition
                .as_ref()
                .is_some_and(|p| matches!(&p.value, RawPartition::Shape(s) if s == "chase-leader"))
        {
            return Err(self.error(
                grace.referenced,
                "expected `grace` only with `partition: chase-leader`, found `grace`".into(),
            ));
        }
        if fault.one_of.is_none()
            && let Some(target) = &fault.target
        {
            return Err(self.error(
                target.referenced,
                "expected `target` only with `one_of` (write `kill: n3`, `pause: random`), found `target`".into(),
            ));
        }
        if let Some(kill) = &fault.kill {
            return Ok(FaultChoice::Process {
                kind: FaultKind::Kill,
                target: self.target(kill, nodes)?,
            });
        }
        if let Some(pause) = &fault.pause {
            return Ok(FaultChoice::Process {
                kind: FaultKind::Pause,
                target: self.target(pause, nodes)?,
            });
        }
        if let Some(partition) = &fault.partition {
            let spec = match self.partition(partition, nodes)? {
                PartitionSpec::ChaseLeader { .. } => PartitionSpec::ChaseLeader {
                    grace: match &fault.grace {
                        Some(grace) => self.duration(grace, "the grace")?,
                        None => Duration::ZERO,
                    },
                },
                spec => spec,
            };
            return Ok(FaultChoice::Partition(spec));
        }
        let one_of = fault.one_of.as_ref().expect("one action key");
        let mut kinds = Vec::new();
        for kind in &one_of.value {
            let parsed = match kind.value.as_str() {
                "kill" => FaultKind::Kill,
                "pause" => FaultKind::Pause,
                "partition" => FaultKind::Partition,
                other => {
                    return Err(self.error(
                        kind.referenced,
                        format!(
                            "expected a fault kind kill, pause or partition, found {}",
                            quoted(other)
                        ),
                    ));
                }
            };
            if kinds.contains(&parsed) {
                return Err(self.error(
                    kind.referenced,
                    format!(
                        "expected each fault kind once, found {} twice",
                        quoted(&kind.value)
                    ),
                ));
            }
            kinds.push(parsed);
        }
        if kinds.is_empty() {
            return Err(self.error(
                one_of.referenced,
                "expected at least one fault kind in `one_of`, found an empty list".into(),
            ));
        }
        let target = match &fault.target {
            Some(target) => self.target(target, nodes)?,
            None => {
                return Err(self.error(
                    one_of.referenced,
                    "expected `target` with `one_of`, found none".into(),
                ));
            }
        };
        Ok(FaultChoice::OneOf { kinds, target })
    }

    fn length(&self, fault: &RawFault, choice: &FaultChoice) -> Result<Option<Duration>> {
        match (&fault.length, &fault.restart_after) {
            (Some(_), Some(restart)) => Err(self.error(
                restart.referenced,
                "expected either `for` or `restart_after`, found both".into(),
            )),
            (None, Some(restart)) => {
                if !matches!(
                    choice,
                    FaultChoice::Process {
                        kind: FaultKind::Kill,
                        ..
                    }
                ) {
                    return Err(self.error(
                        restart.referenced,
                        "expected `restart_after` only with `kill` (use `for`), found `restart_after`".into(),
                    ));
                }
                Ok(Some(self.positive_duration(restart, "`restart_after`")?))
            }
            (Some(length), None) => Ok(Some(self.positive_duration(length, "`for`")?)),
            (None, None) => Ok(None),
        }
    }

    fn timing(
        &self,
        fault: &RawFault,
        here: Location,
        length: Option<Duration>,
        run: Duration,
    ) -> Result<Timing> {
        let length_location = fault
            .length
            .as_ref()
            .or(fault.restart_after.as_ref())
            .map_or(here, |l| l.referenced);
        match (&fault.at, &fault.every) {
            (Some(_), Some(every)) => Err(self.error(
                every.referenced,
                "expected either `at` or `every`, found both".into(),
            )),
            (None, None) => Err(self.error(
                here,
                "expected key `at` or `every` (when the fault starts), found none".into(),
            )),
            (Some(at), None) => {
                if let Some(key) = fault.from.as_ref().or(fault.until.as_ref()) {
                    return Err(self.error(
                        key.referenced,
                        "expected `from` and `until` only with `every`, found them with `at`"
                            .into(),
                    ));
                }
                let start = self.duration(at, "`at`")?;
                if start >= run {
                    return Err(self.error(
                        at.referenced,
                        format!(
                            "expected `at` within the run (before {}), found {}",
                            format_duration(run),
                            quoted(&at.value)
                        ),
                    ));
                }
                if let Some(length) = length {
                    self.fits(start, (length, length_key(fault)), run, length_location)?;
                }
                Ok(Timing::At(start))
            }
            (None, Some(every)) => self.periodic(fault, every, length, length_location, run),
        }
    }

    fn fits(
        &self,
        start: Duration,
        (length, key): (Duration, &str),
        end: Duration,
        location: Location,
    ) -> Result<()> {
        if start + length > end {
            return Err(self.error(
                location,
                format!(
                    "expected {key} to end within the run ({}), found {} + {} = {}",
                    format_duration(end),
                    format_duration(start),
                    format_duration(length),
                    format_duration(start + length)
                ),
            ));
        }
        Ok(())
    }

    fn periodic(
        &self,
        fault: &RawFault,
        every_raw: &Spanned<String>,
        length: Option<Duration>,
        length_location: Location,
        run: Duration,
    ) -> Result<Timing> {
        let every = self.positive_duration(every_raw, "`every`")?;
        let Some(length) = length else {
            return Err(self.error(
                every_raw.referenced,
                "expected `for` with `every` (how long each fault lasts), found none".into(),
            ));
        };
        if length >= every {
            return Err(self.error(
                length_location,
                format!(
                    "expected {} shorter than `every` ({}), found {}",
                    length_key(fault),
                    format_duration(every),
                    format_duration(length)
                ),
            ));
        }
        let from = match &fault.from {
            Some(from) => {
                let value = self.duration(from, "`from`")?;
                if value >= run {
                    return Err(self.error(
                        from.referenced,
                        format!(
                            "expected `from` within the run (before {}), found {}",
                            format_duration(run),
                            quoted(&from.value)
                        ),
                    ));
                }
                value
            }
            None => Duration::ZERO,
        };
        let until = match &fault.until {
            Some(until) => {
                let value = self.duration(until, "`until`")?;
                if value > run || value <= from {
                    return Err(self.error(
                        until.referenced,
                        format!(
                            "expected `until` after `from` ({}) and within the run ({}), found {}",
                            format_duration(from),
                            format_duration(run),
                            quoted(&until.value)
                        ),
                    ));
                }
                value
            }
            None => run,
        };
        self.fits(from, (length, length_key(fault)), until, length_location)?;
        let occurrences = ((until - from).as_nanos() / every.as_nanos()) as u64;
        if occurrences > MAX_OCCURRENCES {
            return Err(self.error(
                every_raw.referenced,
                format!("expected at most {MAX_OCCURRENCES} occurrences, found {occurrences}"),
            ));
        }
        Ok(Timing::Every { every, from, until })
    }
}

/// The time windows `[start, end)` of every occurrence of a fault, in order.
pub fn windows(fault: &FaultSpec, run: Duration) -> Vec<(Duration, Duration)> {
    match fault.timing {
        Timing::At(start) => vec![(start, fault.length.map_or(run, |l| start + l))],
        Timing::Every { every, from, until } => {
            let length = fault.length.expect("validated: every has a length");
            let mut out = Vec::new();
            let mut start = from;
            while start + length <= until {
                out.push((start, start + length));
                start += every;
            }
            out
        }
    }
}

/// What a fault holds: nodes (`None`: possibly any) and/or the network.
struct Holds {
    process: bool,
    nodes: Option<BTreeSet<String>>,
    network: bool,
}

fn holds(fault: &FaultSpec) -> Holds {
    let nodes_of = |target: &TargetSpec| match target {
        TargetSpec::Node(node) => Some(BTreeSet::from([node.clone()])),
        _ => None,
    };
    match &fault.choice {
        FaultChoice::Process { target, .. } => Holds {
            process: true,
            nodes: nodes_of(target),
            network: false,
        },
        FaultChoice::Partition(_) => Holds {
            process: false,
            nodes: None,
            network: true,
        },
        FaultChoice::OneOf { kinds, target } => Holds {
            process: kinds.iter().any(|k| *k != FaultKind::Partition),
            nodes: nodes_of(target),
            network: kinds.contains(&FaultKind::Partition),
        },
    }
}

/// The first time both sorted, internally disjoint window lists overlap.
fn first_overlap(
    a: &[(Duration, Duration)],
    b: &[(Duration, Duration)],
) -> Option<((Duration, Duration), (Duration, Duration))> {
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        if a[i].0 < b[j].1 && b[j].0 < a[i].1 {
            return Some((a[i], b[j]));
        }
        if a[i].1 <= b[j].1 {
            i += 1;
        } else {
            j += 1;
        }
    }
    None
}

impl Validator<'_> {
    fn check_overlaps(&self, entries: &[(Location, FaultSpec)], run: Duration) -> Result<()> {
        let all_windows: Vec<_> = entries.iter().map(|(_, f)| windows(f, run)).collect();
        for later in 0..entries.len() {
            for earlier in 0..later {
                let (a, b) = (holds(&entries[earlier].1), holds(&entries[later].1));
                let held = if a.network && b.network {
                    Some("the network".to_string())
                } else if a.process && b.process {
                    match (&a.nodes, &b.nodes) {
                        (Some(x), Some(y)) => x.intersection(y).next().map(|n| format!("node {n}")),
                        (Some(x), None) | (None, Some(x)) => {
                            Some(format!("node {}", x.iter().next().expect("one node")))
                        }
                        (None, None) => Some("a node chosen at fault time".to_string()),
                    }
                } else {
                    None
                };
                let Some(held) = held else { continue };
                if let Some((window, _)) = first_overlap(&all_windows[earlier], &all_windows[later])
                {
                    return Err(self.error(
                        entries[later].0,
                        format!(
                            "expected faults not to overlap, found {held} already held by the fault at line {} from {} to {}",
                            entries[earlier].1.line,
                            format_duration(window.0),
                            format_duration(window.1)
                        ),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Validates a raw schedule.
pub fn validate(raw: RawSchedule, file: &str) -> Result<Schedule> {
    let v = Validator { file };
    let name = v.name(&raw.name)?;
    let system = v.system(&raw.system)?;
    let duration = v.positive_duration(&raw.duration, "the run's duration")?;
    let workload = v.workload(&raw.workload.value, system.kind)?;
    let network = v.network(&raw.network)?;
    let mut entries = Vec::new();
    for entry in &raw.nemesis {
        entries.push((entry.referenced, v.fault(entry, &system, duration)?));
    }
    v.check_overlaps(&entries, duration)?;
    let final_phase = v.final_phase(raw.final_phase.as_ref().map(|f| &f.value))?;
    let checks = v.checks(&raw.checks, workload.kind)?;
    Ok(Schedule {
        name,
        seed: raw.seed.map(|s| s.value),
        system,
        duration,
        workload,
        network,
        nemesis: entries.into_iter().map(|(_, f)| f).collect(),
        final_phase,
        checks,
    })
}

/// The bank-only keys present in a raw system, with their locations.
fn bank_keys(raw: &RawSystem) -> Vec<(&'static str, Location)> {
    let numbers = [
        ("participants", &raw.participants),
        ("accounts", &raw.accounts),
        ("initial_balance", &raw.initial_balance),
        ("coordinators", &raw.coordinators),
    ];
    let mut keys: Vec<(&'static str, Location)> = numbers
        .into_iter()
        .filter_map(|(name, value)| value.as_ref().map(|v| (name, v.referenced)))
        .collect();
    if let Some(replicated) = &raw.replicated_coordinator {
        keys.push(("replicated_coordinator", replicated.referenced));
    }
    keys
}
