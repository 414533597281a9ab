//! `faultline plan`: a validated schedule's expanded fault timeline as text, every fault
//! with the targets and window the run would give it for a seed, drawn by the same
//! [`Schedule::plan`] the run uses (so a plan printed for seed N is the run's for seed N).
//! Only `leader` targets stay open: they are shown as "leader (resolved at start)", since
//! who leads is known only when the fault starts.

use std::fmt::Write;

use super::plan::{FaultAction, PlannedFault, PlannedLinks, PlannedPartition, Target};
use super::{Impairment, Schedule, clock_yaml, format_duration};
use crate::network::Link;

impl Schedule {
    /// The timeline `faultline plan` prints (see the module docs). `file` names the
    /// schedule in the header.
    pub fn timeline(&self, file: &str, seed: u64) -> String {
        let mut out = String::new();
        let d = format_duration;
        let _ = writeln!(out, "schedule {} ({file}), seed {seed}", self.name);
        let bug = self
            .system
            .bug
            .as_deref()
            .map(|bug| format!(", bug {bug}"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "system {}: {}{bug}; network {}",
            self.system.kind(),
            self.node_ids().join(" "),
            self.network.name()
        );
        let w = &self.workload;
        let _ = writeln!(
            out,
            "workload {}: {} clients at {}/s, timeout {}; run {}",
            w.kind.name(),
            w.clients,
            w.rate_per_s,
            d(w.timeout),
            d(self.duration)
        );
        let plan = self.plan(seed);
        let _ = writeln!(out, "faults ({}):", plan.len());
        for (id, fault) in plan.iter().enumerate() {
            let _ = writeln!(
                out,
                "  #{id:<3} {:>7} .. {:<7} line {:<4} {}",
                d(fault.start),
                d(fault.end),
                fault.line,
                describe(fault)
            );
        }
        let f = &self.final_phase;
        let mut steps = Vec::new();
        if f.heal {
            steps.push("heal everything".to_string());
        }
        steps.push(format!("quiesce {}", d(f.quiesce)));
        if f.final_reads {
            steps.push("read every key".to_string());
        }
        let checks: Vec<&str> = self.checks.iter().map(|c| c.name()).collect();
        let _ = writeln!(
            out,
            "at {}: {}; checks {}",
            d(self.duration),
            steps.join(", "),
            checks.join(", ")
        );
        out
    }
}

fn target(target: &Target) -> String {
    match target {
        Target::Nodes(nodes) => nodes.join(","),
        Target::Leader => "leader (resolved at start)".to_string(),
    }
}

/// Every link, as `from->to`, space-separated (a plan is read to check exactly what is cut).
fn links(links: &[Link]) -> String {
    let names: Vec<String> = links.iter().map(Link::to_string).collect();
    names.join(" ")
}

/// One planted fault in words: what it does, and to whom.
fn describe(fault: &PlannedFault) -> String {
    match &fault.action {
        FaultAction::Kill(t) => format!(
            "kill {}, restarted at the end{}",
            target(t),
            fault.disk.describe()
        ),
        FaultAction::Pause(t) => format!("pause {}", target(t)),
        FaultAction::Partition(PlannedPartition::Links { shape, links: cut }) => {
            format!("partition {shape}: cut {}", links(cut))
        }
        FaultAction::Partition(PlannedPartition::IsolateLeader) => {
            "partition: isolate the leader (resolved at start)".to_string()
        }
        FaultAction::Partition(PlannedPartition::ChaseLeader { grace }) => format!(
            "partition: chase the leader (resolved at start and at each new leader, grace {})",
            format_duration(*grace)
        ),
        FaultAction::Clock { target: t, fault } => {
            format!("clock {} {}", target(t), clock_yaml(fault))
        }
        FaultAction::Impair {
            impairment,
            links: on,
        } => {
            let what = match impairment {
                Impairment::Delay { latency, jitter } => format!(
                    "delay {} +- {}",
                    format_duration(*latency),
                    format_duration(*jitter)
                ),
                Impairment::Loss { percent } => format!("loss {percent}%"),
            };
            let on = match on {
                PlannedLinks::Links(on) => links(on),
                PlannedLinks::AroundLeader => {
                    "every link of the leader (resolved at start)".to_string()
                }
            };
            format!("{what} on {on}")
        }
    }
}
