//! Expanding a validated schedule into a concrete, time-ordered fault plan.
//!
//! Every random choice is drawn here, in file order then occurrence order, from ChaCha20
//! seeded with the seed on its own stream ([`NEMESIS_STREAM`]; the workload may use others),
//! so a seed gives the same plan on every machine. Only the leader is left open: it is a
//! property of the running cluster, resolved by the runner when the fault starts.

use std::time::Duration;

use rand::seq::{IndexedRandom, SliceRandom};
use rand::{Rng, RngExt, SeedableRng};
use rand_chacha::ChaCha20Rng;

use super::validate::windows;
use super::{
    ClockFault, DiskFaults, FaultChoice, FaultKind, Impairment, LinkSpec, PartitionSpec, Schedule,
    SystemSpec, TargetSpec,
};
use crate::network::{Link, PartitionShape, cut_links, links_between_groups};

/// The ChaCha stream the nemesis draws from.
pub const NEMESIS_STREAM: u64 = 1;

/// Whom a planned kill or pause hits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// These nodes, chosen when the plan was made.
    Nodes(Vec<String>),
    /// Whoever leads when the fault starts.
    Leader,
}

/// A planned partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlannedPartition {
    /// Cut these directed links (`shape` names where they came from, for the history).
    Links { shape: String, links: Vec<Link> },
    /// Isolate whoever leads when the fault starts.
    IsolateLeader,
    /// Isolate whoever leads, and move the cut to every new leader once it has led for
    /// `grace`, while the fault lasts.
    ChaseLeader { grace: Duration },
}

/// The links a planned delay or loss is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlannedLinks {
    /// These directed links, chosen when the plan was made.
    Links(Vec<Link>),
    /// Every link to and from whoever leads when the fault starts.
    AroundLeader,
}

/// What a planned fault does when it starts; its end undoes it (restart, resume, heal,
/// reset the clock, lift the delay or loss).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultAction {
    Kill(Target),
    Pause(Target),
    Partition(PlannedPartition),
    Clock {
        target: Target,
        fault: ClockFault,
    },
    Impair {
        impairment: Impairment,
        links: PlannedLinks,
    },
}

/// One fault of the plan: starts at `start`, healed at `end` (offsets from the run's start).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedFault {
    pub start: Duration,
    pub end: Duration,
    pub action: FaultAction,
    /// The schedule line of the entry it came from.
    pub line: u64,
    /// A kill's disk faults, applied to the killed nodes before they restart.
    pub disk: DiskFaults,
    /// The seed of a `corrupt` fault's bit positions (drawn only when there is one).
    pub disk_seed: u64,
}

/// See the module docs.
pub fn expand(schedule: &Schedule, seed: u64) -> Vec<PlannedFault> {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    rng.set_stream(NEMESIS_STREAM);
    let nodes = schedule.node_ids();
    let mut plan = Vec::new();
    for fault in &schedule.nemesis {
        for (start, end) in windows(fault, schedule.duration) {
            let action = match &fault.choice {
                FaultChoice::Process { kind, target } => {
                    process_action(*kind, resolve_target(target, &schedule.system, &mut rng))
                }
                FaultChoice::Partition(spec) => {
                    FaultAction::Partition(plan_partition(spec, &nodes, &mut rng))
                }
                FaultChoice::OneOf { kinds, target } => {
                    let kind = *kinds.choose(&mut rng).expect("validated: not empty");
                    let target = resolve_target(target, &schedule.system, &mut rng);
                    match kind {
                        FaultKind::Partition => {
                            FaultAction::Partition(isolate_target(&target, &nodes))
                        }
                        _ => process_action(kind, target),
                    }
                }
                FaultChoice::Clock { fault, target } => FaultAction::Clock {
                    target: resolve_target(target, &schedule.system, &mut rng),
                    fault: *fault,
                },
                FaultChoice::Impair { impairment, on } => FaultAction::Impair {
                    impairment: *impairment,
                    links: plan_links(on, &schedule.system, &mut rng),
                },
            };
            let disk_seed = if fault.disk.corrupt.is_some() {
                rng.random()
            } else {
                0
            };
            plan.push(PlannedFault {
                start,
                end,
                action,
                line: fault.line,
                disk: fault.disk.clone(),
                disk_seed,
            });
        }
    }
    plan.sort_by_key(|fault| (fault.start, fault.line));
    plan
}

fn process_action(kind: FaultKind, target: Target) -> FaultAction {
    match kind {
        FaultKind::Kill => FaultAction::Kill(target),
        FaultKind::Pause => FaultAction::Pause(target),
        other => unreachable!("{} is not a process fault", other.name()),
    }
}

fn random_subset<R: Rng + ?Sized>(nodes: &[String], count: usize, rng: &mut R) -> Vec<String> {
    let mut shuffled = nodes.to_vec();
    shuffled.shuffle(rng);
    shuffled.truncate(count);
    shuffled.sort();
    shuffled
}

fn resolve_target<R: Rng + ?Sized>(
    target: &TargetSpec,
    system: &SystemSpec,
    rng: &mut R,
) -> Target {
    let nodes = &system.node_ids();
    let count = nodes.len();
    match target {
        TargetSpec::Node(node) => Target::Nodes(vec![node.clone()]),
        TargetSpec::Role(role) => Target::Nodes(random_subset(&system.ids_of_role(*role), 1, rng)),
        TargetSpec::Leader => Target::Leader,
        TargetSpec::Random => Target::Nodes(random_subset(nodes, 1, rng)),
        TargetSpec::Minority => Target::Nodes(random_subset(nodes, ((count - 1) / 2).max(1), rng)),
        TargetSpec::Majority => Target::Nodes(random_subset(nodes, count / 2 + 1, rng)),
        TargetSpec::All => Target::Nodes(nodes.to_vec()),
    }
}

/// Every directed link with an end in `nodes`, in order.
pub fn links_around(all: &[String], nodes: &[String]) -> Vec<Link> {
    let mut links = Vec::new();
    for from in all {
        for to in all {
            if from != to && (nodes.contains(from) || nodes.contains(to)) {
                links.push(Link::new(from.clone(), to.clone()));
            }
        }
    }
    links
}

fn plan_links<R: Rng + ?Sized>(on: &LinkSpec, system: &SystemSpec, rng: &mut R) -> PlannedLinks {
    let all = system.node_ids();
    match on {
        LinkSpec::Every => PlannedLinks::Links(links_around(&all, &all)),
        LinkSpec::One(link) => PlannedLinks::Links(vec![link.clone()]),
        LinkSpec::Around(target) => match resolve_target(target, system, rng) {
            Target::Leader => PlannedLinks::AroundLeader,
            Target::Nodes(nodes) => PlannedLinks::Links(links_around(&all, &nodes)),
        },
    }
}

/// The partition of a `one_of` entry: its target against the rest (each node alone for all).
fn isolate_target(target: &Target, nodes: &[String]) -> PlannedPartition {
    match target {
        Target::Leader => PlannedPartition::IsolateLeader,
        Target::Nodes(isolated) => {
            let groups: Vec<Vec<String>> = if isolated.len() == nodes.len() {
                nodes.iter().map(|n| vec![n.clone()]).collect()
            } else {
                vec![isolated.clone()]
            };
            PlannedPartition::Links {
                shape: format!("isolate {}", isolated.join(",")),
                links: links_between_groups(nodes, &groups)
                    .expect("targets are validated nodes")
                    .into_iter()
                    .collect(),
            }
        }
    }
}

fn plan_partition<R: Rng + ?Sized>(
    spec: &PartitionSpec,
    nodes: &[String],
    rng: &mut R,
) -> PlannedPartition {
    let (name, shape) = match spec {
        PartitionSpec::Leader => return PlannedPartition::IsolateLeader,
        PartitionSpec::ChaseLeader { grace } => {
            return PlannedPartition::ChaseLeader { grace: *grace };
        }
        PartitionSpec::Isolate => ("isolate", PartitionShape::Isolate(None)),
        PartitionSpec::Halves => ("halves", PartitionShape::Halves),
        PartitionSpec::MajoritiesRing => ("majorities-ring", PartitionShape::MajoritiesRing),
        PartitionSpec::Bridge => ("bridge", PartitionShape::Bridge),
        PartitionSpec::Groups(groups) => ("groups", PartitionShape::Groups(groups.clone())),
        PartitionSpec::Star(centre) => {
            // Every other node in a group of its own, among the others only: all links
            // between two of them are cut, none to or from the centre.
            let others: Vec<String> = nodes.iter().filter(|n| *n != centre).cloned().collect();
            let alone: Vec<Vec<String>> = others.iter().map(|n| vec![n.clone()]).collect();
            let links = links_between_groups(&others, &alone).expect("star nodes are validated");
            return PlannedPartition::Links {
                shape: format!("star {centre}"),
                links: links.into_iter().collect(),
            };
        }
    };
    let links =
        cut_links(&shape, nodes, None, rng).expect("shapes are validated against the cluster size");
    PlannedPartition::Links {
        shape: name.to_string(),
        links: links.into_iter().collect(),
    }
}
