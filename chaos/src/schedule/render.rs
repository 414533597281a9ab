//! Writing a validated schedule back as YAML: `schedule.yaml` in a run's directory is the
//! schedule as run, with the seed and every default filled in, so that the file alone
//! reproduces the run (`faultline run store/.../schedule.yaml`).

use std::fmt::Write;

use super::{
    CheckKind, FaultChoice, FaultKind, FaultSpec, PartitionSpec, Schedule, SystemKind, TargetSpec,
    Timing, WorkloadKind, format_duration,
};
use crate::cluster::NetworkKind;

impl Schedule {
    /// The schedule as YAML with `seed` and all defaults filled in. Parsing the result
    /// gives back this schedule with `seed: Some(seed)` (tested).
    pub fn to_yaml(&self, seed: u64) -> String {
        let mut out = String::new();
        let d = format_duration;
        let _ = writeln!(out, "name: {}", self.name);
        let _ = writeln!(out, "seed: {seed}");
        let bug = match &self.system.bug {
            Some(bug) => format!(", bug: {bug}"),
            None => String::new(),
        };
        match (self.system.kind, &self.system.bank) {
            (SystemKind::Bank, Some(bank)) => {
                let replicated = if bank.replicated_coordinator {
                    format!(
                        ", replicated_coordinator: true, coordinators: {}",
                        bank.coordinators
                    )
                } else {
                    String::new()
                };
                let _ = writeln!(
                    out,
                    "system: {{ kind: bank, participants: {}, accounts: {}, initial_balance: {}{replicated}{bug} }}",
                    bank.participants, bank.accounts, bank.initial_balance
                );
            }
            _ => {
                let _ = writeln!(
                    out,
                    "system: {{ kind: raft, nodes: {}{bug} }}",
                    self.system.nodes
                );
            }
        }
        let _ = writeln!(out, "duration: {}", d(self.duration));
        let w = &self.workload;
        let (workload, keys) = match w.kind {
            WorkloadKind::Register => ("register", format!(" keys: {},", w.keys)),
            WorkloadKind::Set => ("set", format!(" keys: {},", w.keys)),
            WorkloadKind::Append => ("append", format!(" keys: {},", w.keys)),
            WorkloadKind::Bank => ("bank", String::new()),
        };
        let _ = writeln!(
            out,
            "workload: {{ kind: {workload},{keys} clients: {}, rate: {}/s, timeout: {} }}",
            w.clients,
            w.rate_per_s,
            d(w.timeout)
        );
        let network = match self.network {
            NetworkKind::Proxy | NetworkKind::Direct => "proxy",
            NetworkKind::Netns => "netns",
        };
        let _ = writeln!(out, "network: {network}");
        if self.nemesis.is_empty() {
            out.push_str("nemesis: []\n");
        } else {
            out.push_str("nemesis:\n");
            for fault in &self.nemesis {
                out.push_str(&fault_yaml(fault));
            }
        }
        let f = &self.final_phase;
        let _ = writeln!(
            out,
            "final: {{ heal: {}, quiesce: {}, final_reads: {} }}",
            f.heal,
            d(f.quiesce),
            f.final_reads
        );
        let checks: Vec<&str> = self.checks.iter().map(|c| check_name(*c)).collect();
        let _ = writeln!(out, "checks: [{}]", checks.join(", "));
        out
    }
}

fn fault_yaml(fault: &FaultSpec) -> String {
    let mut lines = Vec::new();
    match fault.timing {
        Timing::At(at) => lines.push(format!("at: {}", format_duration(at))),
        Timing::Every { every, from, until } => {
            lines.push(format!("every: {}", format_duration(every)));
            lines.push(format!("from: {}", format_duration(from)));
            lines.push(format!("until: {}", format_duration(until)));
        }
    }
    match &fault.choice {
        FaultChoice::Process { kind, target } => {
            lines.push(format!("{}: {}", kind_name(*kind), target_name(target)));
        }
        FaultChoice::Partition(spec) => lines.push(format!("partition: {}", partition_name(spec))),
        FaultChoice::OneOf { kinds, target } => {
            let kinds: Vec<&str> = kinds.iter().map(|k| kind_name(*k)).collect();
            lines.push(format!("one_of: [{}]", kinds.join(", ")));
            lines.push(format!("target: {}", target_name(target)));
        }
    }
    if let Some(length) = fault.length {
        lines.push(format!("for: {}", format_duration(length)));
    }
    if let FaultChoice::Partition(PartitionSpec::ChaseLeader { grace }) = &fault.choice {
        lines.push(format!("grace: {}", format_duration(*grace)));
    }
    let mut out = String::new();
    for (i, line) in lines.iter().enumerate() {
        let _ = writeln!(out, "  {} {line}", if i == 0 { "-" } else { " " });
    }
    out
}

fn kind_name(kind: FaultKind) -> &'static str {
    match kind {
        FaultKind::Kill => "kill",
        FaultKind::Pause => "pause",
        FaultKind::Partition => "partition",
    }
}

fn target_name(target: &TargetSpec) -> String {
    match target {
        TargetSpec::Node(node) => node.clone(),
        TargetSpec::Role(role) => role.name().into(),
        TargetSpec::Leader => "leader".into(),
        TargetSpec::Random => "random".into(),
        TargetSpec::Minority => "minority".into(),
        TargetSpec::Majority => "majority".into(),
        TargetSpec::All => "all".into(),
    }
}

fn partition_name(spec: &PartitionSpec) -> String {
    match spec {
        PartitionSpec::Isolate => "isolate".into(),
        PartitionSpec::Halves => "halves".into(),
        PartitionSpec::MajoritiesRing => "majorities-ring".into(),
        PartitionSpec::Bridge => "bridge".into(),
        PartitionSpec::Leader => "leader".into(),
        PartitionSpec::ChaseLeader { .. } => "chase-leader".into(),
        PartitionSpec::Groups(groups) => {
            let groups: Vec<String> = groups
                .iter()
                .map(|g| format!("[{}]", g.join(", ")))
                .collect();
            format!("[{}]", groups.join(", "))
        }
    }
}

fn check_name(check: CheckKind) -> &'static str {
    match check {
        CheckKind::Linearizable => "linearizable",
        CheckKind::Latency => "latency",
        CheckKind::Set => "set",
        CheckKind::Bank => "bank",
    }
}

#[cfg(test)]
mod tests {
    use super::super::{default_schedule, parse_schedule};

    #[test]
    fn the_yaml_as_run_parses_back_to_the_same_schedule() {
        let schedule = default_schedule();
        let text = schedule.to_yaml(42);
        let again = parse_schedule(&text, "as-run.yaml").unwrap_or_else(|e| panic!("{e}\n{text}"));
        let mut expected = schedule.clone();
        expected.seed = Some(42);
        // Entry lines differ between the two texts; everything else must match.
        let strip = |mut s: super::super::Schedule| {
            for fault in &mut s.nemesis {
                fault.line = 0;
            }
            s
        };
        assert_eq!(strip(again), strip(expected));
    }
}
