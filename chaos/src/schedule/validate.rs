//! Raw schedule -> typed [`Schedule`], refusing every mistake with its position.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_saphyr::{Location, Spanned};

use super::raw::{RawFault, RawFinal, RawPartition, RawSchedule, RawWorkload};
use super::{
    CheckKind, FaultChoice, FaultKind, FaultSpec, FinalSpec, PartitionSpec, Schedule,
    ScheduleError, SystemSpec, TargetSpec, Timing, WorkloadKind, WorkloadSpec, format_duration,
    parse_duration,
};
use crate::network::NetworkKind;
use crate::system::{RawSystem, SystemError};
use crate::workload::{ReadMode, or_list};

/// Most occurrences one periodic entry may expand to.
pub const MAX_OCCURRENCES: u64 = 10_000;
const MAX_KEYS: u64 = 100_000;
const MAX_CLIENTS: u64 = 1_000;

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
        crate::system::bounded(value, what, min, max).map_err(|e| self.system_error(e))
    }

    fn system_error(&self, error: SystemError) -> ScheduleError {
        self.error(error.location, error.message)
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
        SystemSpec::parse(&system.value, system.referenced).map_err(|e| self.system_error(e))
    }

    fn workload(&self, workload: &RawWorkload, system: &SystemSpec) -> Result<WorkloadSpec> {
        let accepted = system.system().workloads();
        let kind = match WorkloadKind::from_name(&workload.kind.value) {
            Some(kind) if accepted.contains(&kind) => kind,
            _ => {
                let kind_name = system.kind();
                let article = if kind_name.starts_with(['a', 'e', 'i', 'o', 'u']) {
                    "an"
                } else {
                    "a"
                };
                return Err(self.error(
                    workload.kind.referenced,
                    format!(
                        "expected workload kind {} for {article} {kind_name} system, found {}",
                        or_list(accepted.iter().map(|k| k.name())),
                        quoted(&workload.kind.value)
                    ),
                ));
            }
        };
        let read = self.read_mode(workload, system)?;
        let keys = match (&workload.keys, kind.keyed()) {
            (Some(keys), false) => {
                return Err(self.error(
                    keys.referenced,
                    format!("expected no `keys` in the {} workload (it uses the bank's accounts), found `keys`", kind.name()),
                ));
            }
            (None, false) => 0,
            (Some(keys), true) => self.bounded(keys, "a number of keys", 1, MAX_KEYS)?,
            (None, true) => 8,
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
            read,
        })
    }

    /// `read: linearizable | serializable`, for a system that offers the choice (default
    /// linearizable there, `None` elsewhere).
    fn read_mode(&self, workload: &RawWorkload, system: &SystemSpec) -> Result<Option<ReadMode>> {
        let offered = system.system().read_modes();
        match &workload.read {
            None => Ok(offered.then_some(ReadMode::Linearizable)),
            Some(read) if !offered => Err(self.error(
                read.referenced,
                format!(
                    "expected `read` only for a system with a choice of read modes (etcd), found `read` for a {} system",
                    system.kind()
                ),
            )),
            Some(read) => crate::workload::read_mode_from_name(&read.value).map(Some).ok_or_else(|| {
                self.error(
                    read.referenced,
                    format!(
                        "expected a read mode {}, found {}",
                        or_list(crate::workload::READ_MODES.iter().map(|m| crate::workload::read_mode_name(*m))),
                        quoted(&read.value)
                    ),
                )
            }),
        }
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

    fn network(
        &self,
        network: &Option<Spanned<String>>,
        system: &SystemSpec,
    ) -> Result<NetworkKind> {
        let Some(network) = network else {
            return Ok(system.system().default_network());
        };
        let Some(kind) = NetworkKind::from_name(&network.value) else {
            return Err(self.error(
                network.referenced,
                format!(
                    "expected network {}, found {}",
                    or_list(NetworkKind::IN_SCHEDULES.iter().map(|n| n.name())),
                    quoted(&network.value)
                ),
            ));
        };
        match system.system().network_refusal(kind) {
            Some(reason) => Err(self.error(network.referenced, reason)),
            None => Ok(kind),
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
        let model_check = workload.check();
        let model_name = model_check.name();
        let Some(checks) = checks else {
            return Ok(vec![model_check, CheckKind::Latency]);
        };
        let mut seen = Vec::new();
        for check in &checks.value {
            let Some(kind) = CheckKind::from_name(&check.value) else {
                return Err(self.error(
                    check.referenced,
                    format!(
                        "expected a check {}, found {}",
                        or_list(CheckKind::ALL.iter().map(|c| c.name())),
                        quoted(&check.value)
                    ),
                ));
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
        let word = target.value.as_str();
        if word == "leader" {
            self.leader_exists(system, target.referenced, "leader")?;
            return Ok(TargetSpec::Leader);
        }
        let roles = system.system().role_targets();
        if let Some(role) = roles.iter().find(|role| role.name() == word) {
            return Ok(TargetSpec::Role(*role));
        }
        if let Some(spec) = TargetSpec::WORDS.into_iter().find(|t| t.name() == word) {
            return Ok(spec);
        }
        if system.node_ids().iter().any(|n| n == word) {
            return Ok(TargetSpec::Node(word.to_string()));
        }
        let mut words: Vec<String> = roles.iter().map(|r| r.name().to_string()).collect();
        if system.has_leader() {
            words.push("leader".into());
        }
        words.extend(TargetSpec::WORDS.iter().map(|t| t.name().to_string()));
        Err(self.error(
            target.referenced,
            format!(
                "expected a node ({}), {}, found {}",
                system.system().node_list(),
                or_list(words),
                quoted(word)
            ),
        ))
    }

    /// `leader` needs a system with one (not a bank with one coordinator).
    fn leader_exists(&self, system: &SystemSpec, location: Location, word: &str) -> Result<()> {
        match system.system().no_leader_message(word) {
            None => Ok(()),
            Some(message) => Err(self.error(location, message)),
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
                let min_nodes = PartitionSpec::from_shape_name(shape).map_or(1, |s| s.min_nodes());
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
                if PartitionSpec::from_shape_name(shape).is_some_and(|s| s.needs_leader()) {
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
                                system.system().node_list(),
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
                Ok(PartitionSpec::Groups(groups.clone()))
            }
        }
    }
}

impl Validator<'_> {
    fn shape(&self, shape: &str, location: Location) -> Result<PartitionSpec> {
        PartitionSpec::from_shape_name(shape).ok_or_else(|| {
            self.error(
                location,
                format!(
                    "expected a partition {} or a list of groups, found {}",
                    PartitionSpec::shape_names(),
                    quoted(shape)
                ),
            )
        })
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
            let Some(parsed) = FaultKind::from_name(&kind.value) else {
                return Err(self.error(
                    kind.referenced,
                    format!(
                        "expected a fault kind {}, found {}",
                        or_list(FaultKind::ALL.iter().map(|k| k.name())),
                        quoted(&kind.value)
                    ),
                ));
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
                    self.fits(start, length, run, length_location)?;
                }
                Ok(Timing::At(start))
            }
            (None, Some(every)) => self.periodic(fault, every, length, length_location, run),
        }
    }

    fn fits(
        &self,
        start: Duration,
        length: Duration,
        end: Duration,
        location: Location,
    ) -> Result<()> {
        if start + length > end {
            return Err(self.error(
                location,
                format!(
                    "expected `for` to end within the run ({}), found {} + {} = {}",
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
                    "expected `for` shorter than `every` ({}), found {}",
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
        self.fits(from, length, until, length_location)?;
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
    let workload = v.workload(&raw.workload.value, &system)?;
    let network = v.network(&raw.network, &system)?;
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
