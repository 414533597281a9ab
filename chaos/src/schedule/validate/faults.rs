//! A nemesis entry's fault: its one action key, its targets (nodes, roles, `leader`, ...)
//! and partitions (shapes and groups), and `one_of`.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_saphyr::{Location, Spanned};

use super::super::raw::{RawFault, RawPartition};
use super::super::{FaultChoice, FaultKind, FaultSpec, PartitionSpec, SystemSpec, TargetSpec};
use super::{Result, Validator, quoted};
use crate::network::NetworkKind;
use crate::workload::or_list;

impl Validator<'_> {
    pub(super) fn target(
        &self,
        target: &Spanned<String>,
        system: &SystemSpec,
    ) -> Result<TargetSpec> {
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
    pub(super) fn leader_exists(
        &self,
        system: &SystemSpec,
        location: Location,
        word: &str,
    ) -> Result<()> {
        match system.system().no_leader_message(word) {
            None => Ok(()),
            Some(message) => Err(self.error(location, message)),
        }
    }

    pub(super) fn partition(
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
                self.every_node_grouped(location, nodes, &seen)?;
                Ok(PartitionSpec::Groups(groups.clone()))
            }
            RawPartition::Star(star) => {
                if !nodes.contains(&star.star) {
                    return Err(self.error(
                        location,
                        format!(
                            "expected one of the nodes {} at the star's centre, found {}",
                            system.system().node_list(),
                            quoted(&star.star)
                        ),
                    ));
                }
                if nodes.len() < 3 {
                    return Err(self.error(
                        location,
                        format!(
                            "expected a star over at least 3 nodes, found {} (with fewer it cuts nothing)",
                            nodes.len()
                        ),
                    ));
                }
                Ok(PartitionSpec::Star(star.star.clone()))
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
    pub(super) fn shape(&self, shape: &str, location: Location) -> Result<PartitionSpec> {
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
    if let Some(clock) = &fault.clock {
        keys.push(("clock", clock.referenced));
    }
    if let Some(delay) = &fault.delay {
        keys.push(("delay", delay.referenced));
    }
    if let Some(loss) = &fault.loss {
        keys.push(("loss", loss.referenced));
    }
    if let Some(duplicate) = &fault.duplicate {
        keys.push(("duplicate", duplicate.referenced));
    }
    keys
}

impl Validator<'_> {
    pub(super) fn fault(
        &self,
        entry: &Spanned<RawFault>,
        nodes: &SystemSpec,
        network: NetworkKind,
        run: Duration,
    ) -> Result<FaultSpec> {
        let fault = &entry.value;
        let here = entry.referenced;
        let actions = action_keys(fault);
        match actions.as_slice() {
            [] => {
                return Err(self.error(
                    here,
                    "expected one of the keys kill, pause, partition, one_of, clock, delay or loss, found none".into(),
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
        let choice = match self.clock_or_impairment(fault, nodes, network)? {
            Some(choice) => choice,
            None => self.choice(fault, nodes)?,
        };
        let length = self.length(fault, &choice)?;
        let timing = self.timing(fault, here, length, run)?;
        let disk = self.disk_faults(fault, &choice)?;
        Ok(FaultSpec {
            line: here.line(),
            timing,
            choice,
            length,
            disk,
        })
    }

    pub(super) fn choice(&self, fault: &RawFault, nodes: &SystemSpec) -> Result<FaultChoice> {
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
                "expected `target` only with `one_of`, `clock`, `delay` or `loss` (write `kill: n3`, `pause: random`), found `target`".into(),
            ));
        }
        if let Some(link) = &fault.link {
            return Err(self.error(
                link.referenced,
                "expected `link` only with `delay` or `loss`, found `link`".into(),
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
                        or_list(FaultKind::ONE_OF.iter().map(|k| k.name())),
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
}
